"""Every network of the shared corpus loads and graphs, and its graph holds every layer RETURNN built.

The corpus (``../shared/corpus``, see its README) holds real search networks with RETURNN's answers
(``*.oracle.json``). Networks RETURNN could not build must still load and graph with
``strict=False``; the ones it built must also graph strictly (no unknown reference, no cycle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from searchgraph import build_graph, load

from .conftest import corpus_dir, need

_CORPUS = corpus_dir()
_CASES = sorted(p for p in _CORPUS.glob("*/*.json") if not p.name.endswith(".oracle.json")) \
    if _CORPUS else []


def _oracle(case: Path) -> dict[str, Any]:
    return json.loads(case.with_name(case.name[: -len(".json")] + ".oracle.json").read_text())


def _ids(case: Path) -> str:
    return f"{case.parent.name}/{case.stem}"


def test_corpus_present() -> None:
    need(bool(_CASES), "the shared corpus (../shared/corpus) is not present")
    assert all(c.with_name(c.stem + ".oracle.json").exists() for c in _CASES)


@pytest.mark.parametrize("case", _CASES, ids=_ids)
def test_graph_holds_every_layer_returnn_built(case: Path) -> None:
    spec = load(case)
    g = build_graph(spec, strict=False)
    oracle = _oracle(case)
    absent = sorted(set(oracle.get("layers") or {}) - set(g))
    assert absent == []
    for name in oracle.get("layers") or {}:
        assert g.nodes[name]["node_kind"] in ("layer", "sub", "step"), name


@pytest.mark.parametrize("case", [c for c in _CASES if _oracle(c)["ok"]], ids=_ids)
def test_built_networks_graph_strictly(case: Path) -> None:
    g = build_graph(load(case))
    assert g.graph["missing"] == []
