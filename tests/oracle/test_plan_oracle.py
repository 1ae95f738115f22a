"""Translation plans against the ``SelectSearchSourcesLayer``s RETURNN really inserts.

The runner records every translation RETURNN makes while building a network in search mode:
per consuming layer and input, tiling or selection through a chain of choices (oldest first), and
at the end of each loop frame the re-selection of values carried to the next frame
(``maybe_transform``). searchgraph's plans must list exactly the same ones. Cases: our own networks
that RETURNN builds (their ``expect``; the live run must build them too); the shared corpus':
``test_corpus_plan_oracle.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .agreement import check_plans, plan_params
from .oracle import own_cases

pytestmark = pytest.mark.returnn


@pytest.mark.parametrize(("cid", "case"), plan_params(
    [(cid, case) for cid, case in own_cases() if case.get("expect", {}).get("ok")]))
def test_plans_are_what_returnn_inserts(cid: str, case: dict[str, Any],
                                        returnn_results: dict[str, dict[str, Any]]) -> None:
    check_plans(cid, case, returnn_results[cid])
