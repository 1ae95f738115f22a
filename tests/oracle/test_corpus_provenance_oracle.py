"""searchgraph's provenance against RETURNN, run live, on the shared corpus' live sample
(``SEARCHGRAPH_CORPUS_LIVE``, ``all`` for every network; see ``tests/conftest.py``); our own networks:
``test_provenance_oracle.py``; every corpus network against its recorded answer: ``test_corpus_provenance.py``."""

from __future__ import annotations

from typing import Any

import pytest

from .agreement import check_agreement, params
from .oracle import live_corpus_cases

pytestmark = pytest.mark.returnn


@pytest.mark.parametrize(("cid", "case"), params([(cid, case) for cid, case, _ in live_corpus_cases()]))
def test_agrees_with_returnn(cid: str, case: dict[str, Any],
                             returnn_results: dict[str, dict[str, Any]]) -> None:
    check_agreement(cid, case, returnn_results[cid], own_case=False)
