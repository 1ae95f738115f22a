"""searchgraph's provenance against RETURNN, run live (``runner.py`` in subprocesses, cached).

Cases: our own networks in ``cases/`` (RETURNN's search tests re-expressed, each feature of beam
search, networks RETURNN rejects); the shared corpus' networks: ``test_corpus_provenance_oracle.py``.
RETURNN builds each in search mode on the CPU; the networks get the corpus README's modifications (``prepare_network``)
on both sides. For every layer RETURNN builds: beam, beam size and beam chain must agree, and the
search choice and placement too. For a network RETURNN rejects for a search reason, searchgraph must
predict an error on the failing layer.
"""

from __future__ import annotations

from typing import Any

import pytest

from .agreement import check_agreement, params
from .oracle import own_cases

pytestmark = pytest.mark.returnn


@pytest.mark.parametrize(("cid", "case"), params(own_cases()))
def test_agrees_with_returnn(cid: str, case: dict[str, Any],
                             returnn_results: dict[str, dict[str, Any]]) -> None:
    check_agreement(cid, case, returnn_results[cid], own_case=True)


def test_own_cases_cover_enough_networks() -> None:
    cases = dict(own_cases())
    assert len(cases) >= 40
    rejected = [c for c in cases.values() if not c.get("expect", {}).get("ok", True)]
    assert len(rejected) >= 8
