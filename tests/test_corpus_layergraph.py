"""Every network of the shared corpus: its `LayerGraph` reads like the networkx.DiGraph
``build_graph`` gives, and analysing either gives the same answer (the corpus: see ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from searchgraph import analyze, build_graph, load
from searchgraph.graph import build_layer_graph

from .conftest import corpus_dir
from .graph_support import assert_same_api

_CORPUS = corpus_dir()
_CASES = sorted(p for p in _CORPUS.glob("*/*.json") if not p.name.endswith(".oracle.json")) \
    if _CORPUS else []


@pytest.mark.parametrize("case", _CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_graphs_and_analyses_agree(case: Path) -> None:
    """The corpus network's LayerGraph reads like ``build_graph``'s DiGraph, and analysing either
    gives the same answer on every layer."""
    spec = load(case)
    lg = build_layer_graph(spec, strict=False)
    g = build_graph(spec, strict=False)
    assert_same_api(lg, g)
    ours, theirs = analyze(spec), analyze(spec, graph=g)
    assert ours.to_json() == theirs.to_json()
    assert {n: f.code for n, f in ours.failures.items()} == \
        {n: f.code for n, f in theirs.failures.items()}
    assert isinstance(ours.graph, nx.DiGraph) and ours.graph is ours.graph
    assert list(ours.graph.edges(data=True)) == list(g.edges(data=True))
