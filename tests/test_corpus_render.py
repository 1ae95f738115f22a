"""Every network of the shared corpus through the diagram builder and ``dot`` (the corpus: see
``tests/conftest.py``)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import searchgraph
from searchgraph.analysis.plan import plan_network
from searchgraph.render import network_dot, render_bytes
from searchgraph.render.network import ERROR

from .conftest import corpus_dir, need
from .dot_support import Dot

ANALYZE_LIMIT_S = 120
_CORPUS = sorted(p for p in (corpus_dir() or Path("/nonexistent")).glob("*/*.json")
                 if not p.name.endswith(".oracle.json"))


@pytest.mark.usefixtures("needs_dot")
@pytest.mark.parametrize("path", _CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_network_renders_to_svg(path: Path) -> None:
    def too_slow(*_: object) -> None:
        raise TimeoutError(f"analysing {path.name} took over {ANALYZE_LIMIT_S} s (the analysis, not the diagram)")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(ANALYZE_LIMIT_S)  # a hang in the analysis fails this test instead of stalling the run
    try:
        analysis = searchgraph.analyze(searchgraph.load(path))
        plans = plan_network(analysis)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    source = network_dot(analysis, plans=plans)
    svg = render_bytes(source, "svg").decode()
    dot = Dot.parse(source)
    assert set(analysis.layers) <= set(dot.nodes)
    for name in analysis.layers:
        assert f'<g id="{dot.nodes[name]["id"]}" class="node">' in svg, name
    for name in analysis.errors:
        assert dot.nodes[name]["color"] == ERROR


def test_corpus_is_there() -> None:
    need(bool(_CORPUS), "the shared corpus (../shared/corpus) is not there")
