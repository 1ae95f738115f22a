"""``--returnn`` on our own oracle cases (``cases/*.json``).

Every case: the verification findings of RETURNN's recorded answer (the oracle, cached) list RETURNN's
exception as SG301 on RETURNN's layer with RETURNN's type, and no static/RETURNN difference (SG302).
A seeded sample (``SEARCHGRAPH_VERIFY_SAMPLE``, default 8; ``all``) goes through the package's
verification worker itself (build and one search run): its construction must equal the oracle's.
"""

from __future__ import annotations

from typing import Any

import pytest

from searchgraph.search.returnn_verify import verify_cases

from .agreement import params
from .oracle import own_cases, require_returnn, run_oracle
from .verify_support import as_answer, check_verdict, compare_worker, findings_against, sample

pytestmark = pytest.mark.returnn
_OWN = own_cases()


@pytest.mark.parametrize(("cid", "case"), params(_OWN))
def test_verification_agrees_with_returnn(cid: str, case: dict[str, Any],
                                          returnn_results: dict[str, dict[str, Any]]) -> None:
    answer = as_answer(returnn_results[cid])
    check_verdict(findings_against(cid, case, answer), answer)


def test_worker_builds_as_the_oracle_does() -> None:
    require_returnn()
    chosen = sample(_OWN)
    oracles = run_oracle([{**case, "id": cid} for cid, case in chosen])
    answers = verify_cases([case for _, case in chosen])
    wrong = {cid: diff for (cid, case), answer in zip(chosen, answers)
             if (diff := compare_worker(answer, oracles[cid]))}
    assert wrong == {}
    for (cid, case), answer in zip(chosen, answers):
        if answer.get("stage") == "run" and not answer.get("error"):
            check_verdict(findings_against(cid, case, answer), answer)
