"""``--returnn`` on the shared corpus (collected only where ``../shared/corpus`` exists).

Every corpus case of the live sample (``SEARCHGRAPH_CORPUS_LIVE``): the verification findings of RETURNN's answer (the oracle runner's, cached: the
corpus ``*.oracle.json`` files have no ``error_layer``) name RETURNN's exception (SG301: its type, on its
layer) and list no static/RETURNN difference (SG302). The cases whose custom class this RETURNN does not
know (``KNOWN_GAPS``' custom-class entries) pass too: the missing class is SG305 on its layer, an
environment fact that explains RETURNN's error, not an SG302. A seeded
sample (``SEARCHGRAPH_VERIFY_SAMPLE``, default 8; ``all``) goes through the package's verification
worker (build and one search run): its construction must equal the oracle runner's.
"""

from __future__ import annotations

from typing import Any

import pytest

from searchgraph.search.returnn_verify import verify_cases

from .oracle import KNOWN_GAPS, live_corpus_cases, require_returnn, run_oracle
from .verify_support import as_answer, check_verdict, compare_worker, findings_against, sample

pytestmark = pytest.mark.returnn
_CORPUS = live_corpus_cases()  # RETURNN's answers come from the live sample's builds
_RECORDED = {cid: oracle for cid, _, oracle in _CORPUS}
#: The cases whose class RETURNN lacks: its rec template fails on a target lookup (a search error)
#: where searchgraph only warns (SG204 / SG207); verification names the class (SG305) instead of SG302.
_MISSING_CLASS = {cid for cid, why in KNOWN_GAPS.items() if "custom layer class" in why}


def _params() -> list[Any]:
    return [pytest.param(cid, case, id=cid) for cid, case, _ in _CORPUS]
#: Construction failures that depend on the machine (native-op compilation with g++), not on RETURNN.
_ENV_DEPENDENT_ERRORS = ("CalledProcessError",)


@pytest.mark.parametrize(("cid", "case"), _params())
def test_verification_agrees_with_returnn(cid: str, case: dict[str, Any],
                                          returnn_results: dict[str, dict[str, Any]]) -> None:
    answer = as_answer(returnn_results[cid])
    findings = findings_against(cid, case, answer)
    check_verdict(findings, answer)
    missing = {f.layer for f in findings if f.code == "SG305"}
    assert missing == set(answer["unknown_classes"])  # also curated/rexp-2020-st-cascade's fork classes
    if cid in _MISSING_CLASS:
        assert missing and "SG305" in next(f for f in findings if f.code == "SG301").reason


def test_worker_builds_as_recorded() -> None:
    require_returnn()
    chosen = [(cid, case) for cid, case in sample([(cid, case) for cid, case, _ in _CORPUS])
              if not (_RECORDED[cid].get("error") or "").startswith(_ENV_DEPENDENT_ERRORS)]
    oracles = run_oracle([{**case, "id": cid} for cid, case in chosen])
    answers = verify_cases([case for _, case in chosen])
    wrong = {cid: diff for (cid, _), answer in zip(chosen, answers)
             if (diff := compare_worker(answer, oracles[cid]))}
    assert wrong == {}
    run_failures = {cid: answer["error"] for (cid, _), answer in zip(chosen, answers)
                    if answer.get("stage") == "run" and answer.get("error")}
    assert run_failures == {}  # RETURNN runs every corpus network it builds, on random input
