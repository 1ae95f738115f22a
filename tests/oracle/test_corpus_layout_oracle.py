"""The layout model against RETURNN's own layouts on the shared corpus (collected only where
``../shared/corpus`` exists): a seeded sample (``SEARCHGRAPH_LAYOUT_SAMPLE``, default 6; ``all``: every
network, as reported in docs/findings.md). Our own cases: ``test_layout_oracle.py``."""

from __future__ import annotations

from typing import Any

import pytest

from .layout_support import all_layouts, compare
from .oracle import corpus_cases, require_returnn, seeded_sample

pytestmark = pytest.mark.returnn


def _chosen() -> list[tuple[str, dict[str, Any]]]:
    return seeded_sample([(cid, case) for cid, case, _ in corpus_cases()], "SEARCHGRAPH_LAYOUT_SAMPLE", 6, 11)


CASES = _chosen()


@pytest.fixture(scope="module")
def layouts() -> dict[str, dict[str, Any]]:
    require_returnn()
    return all_layouts(CASES)


@pytest.mark.parametrize(("cid", "case"), [pytest.param(cid, case, id=cid) for cid, case in CASES])
def test_layouts_agree_with_returnn(cid: str, case: dict[str, Any], layouts: dict[str, dict[str, Any]]) -> None:
    _, wrong = compare(cid, case, layouts[cid])
    assert wrong == []


def test_the_sample_is_answered(layouts: dict[str, dict[str, Any]]) -> None:
    """Not vacuous: over the sample the model is sure of many layouts."""
    assert sum(compare(cid, case, layouts[cid])[0] for cid, case in CASES) >= 50
