"""`LayerGraph` (``searchgraph.layergraph``) answers like the networkx.DiGraph it converts to.

The analysis runs on a LayerGraph to spare ``searchgraph beams`` networkx's import; every stage also
accepts a networkx DiGraph. These tests hold the two to the same answers, on hand-made graphs and on
every network of the shared corpus.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import networkx as nx
import pytest

from searchgraph import analyze, build_graph, load
from searchgraph.graph import build_layer_graph
from searchgraph.layergraph import LayerGraph, as_networkx, shortest_path

from .conftest import corpus_dir

_CORPUS = corpus_dir()
_CASES = sorted(p for p in _CORPUS.glob("*/*.json") if not p.name.endswith(".oracle.json")) \
    if _CORPUS else []


def _same_api(lg: LayerGraph, g: nx.DiGraph) -> None:
    assert isinstance(g, nx.DiGraph)
    assert lg.graph == g.graph
    assert list(lg) == list(g) and len(lg) == len(g) == lg.number_of_nodes()
    assert list(lg.nodes(data=True)) == list(g.nodes(data=True))
    assert list(lg.nodes(data="class")) == list(g.nodes(data="class"))
    assert list(lg.edges) == list(g.edges) and len(lg.edges) == len(g.edges)
    assert list(lg.edges(data=True)) == list(g.edges(data=True))
    assert lg.number_of_edges() == g.number_of_edges()
    for node in g:
        assert node in lg and lg.has_node(node) and lg.nodes[node] == g.nodes[node]
        assert lg.nodes.get(node) == g.nodes.get(node)
        assert list(lg.predecessors(node)) == list(g.predecessors(node))
        assert list(lg.successors(node)) == list(g.successors(node))
        assert list(lg.in_edges(node, data=True)) == list(g.in_edges(node, data=True))
        assert list(lg.out_edges(node)) == list(g.out_edges(node))
        assert dict(lg[node]) == dict(g[node]) and dict(lg.pred[node]) == dict(g.pred[node])
    for u, v in g.edges:
        assert lg.has_edge(u, v) and (u, v) in lg.edges and lg.edges[u, v] == g.edges[u, v]
    assert not lg.has_edge("no such", "layer") and ("no such", "layer") not in lg.edges
    assert "no such" not in lg and lg.nodes.get("no such") is None
    assert list(lg.in_edges()) == list(g.in_edges()) and list(lg.out_edges()) == list(g.out_edges())


def test_building_and_reading_match_networkx() -> None:
    lg, g = LayerGraph(source="s"), nx.DiGraph(source="s")
    rng = random.Random(0)
    for _ in range(300):
        u, v = f"n{rng.randrange(40)}", f"n{rng.randrange(40)}"
        attrs = {"kind": rng.choice(["from", "prev", "base"]), "w": rng.random()}
        if rng.random() < 0.2:
            lg.add_node(u, depth=rng.randrange(3))
            g.add_node(u, **lg.nodes[u])
        else:
            lg.add_edge(u, v, **attrs)
            g.add_edge(u, v, **attrs)
    _same_api(lg, g)
    _same_api(lg, lg.to_networkx())
    assert as_networkx(g) is g


def test_edge_data_is_shared_between_both_directions() -> None:
    lg = LayerGraph()
    lg.add_edge("a", "b", kind="from")
    lg.edges["a", "b"]["kind"] = "prev"
    assert lg.pred["b"]["a"]["kind"] == "prev"


def test_shortest_path_is_a_shortest_directed_path() -> None:
    rng = random.Random(1)
    g = nx.gnp_random_graph(60, 0.05, seed=2, directed=True)
    lg = LayerGraph()
    for n in g:
        lg.add_node(str(n))
    for u, v in g.edges:
        lg.add_edge(str(u), str(v))
    for _ in range(200):
        s, t = rng.randrange(60), rng.randrange(60)
        path = shortest_path(lg, str(s), str(t))
        if not nx.has_path(g, s, t):
            assert path is None
            continue
        assert path is not None and path[0] == str(s) and path[-1] == str(t)
        assert len(path) - 1 == nx.shortest_path_length(g, s, t)
        assert all(lg.has_edge(a, b) for a, b in itertools.pairwise(path))


@pytest.mark.skipif(not _CASES, reason="no corpus")
@pytest.mark.parametrize("case", _CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_graphs_and_analyses_agree(case: Path) -> None:
    """The corpus network's LayerGraph reads like ``build_graph``'s DiGraph, and analysing either
    gives the same answer on every layer."""
    spec = load(case)
    lg = build_layer_graph(spec, strict=False)
    g = build_graph(spec, strict=False)
    _same_api(lg, g)
    ours, theirs = analyze(spec), analyze(spec, graph=g)
    assert ours.to_json() == theirs.to_json()
    assert {n: f.code for n, f in ours.failures.items()} == \
        {n: f.code for n, f in theirs.failures.items()}
    assert isinstance(ours.graph, nx.DiGraph) and ours.graph is ours.graph
    assert list(ours.graph.edges(data=True)) == list(g.edges(data=True))
