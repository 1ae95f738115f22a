"""Translation plans against the ``SelectSearchSourcesLayer``s RETURNN really inserts, on the shared
corpus' live sample (``SEARCHGRAPH_CORPUS_LIVE``, ``all`` for every network) of the networks RETURNN built
when they were recorded (their oracle files; the live run must build them too). See
``test_plan_oracle.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .agreement import check_plans, plan_params
from .oracle import live_corpus_cases

pytestmark = pytest.mark.returnn


@pytest.mark.parametrize(("cid", "case"), plan_params(
    [(cid, case) for cid, case, oracle in live_corpus_cases() if oracle["ok"]]))
def test_plans_are_what_returnn_inserts(cid: str, case: dict[str, Any],
                                        returnn_results: dict[str, dict[str, Any]]) -> None:
    check_plans(cid, case, returnn_results[cid])
