"""The wide mutation generator (``mutations_wide.py``) judged by RETURNN, development and held-out
operators apart: searchgraph must never crash, make no false alarm beyond the precision target, and
agree on every per-layer field of every development mutant RETURNN builds. The recall floors are
what the model reached (``docs/findings.md``, "Wide mutants"); the reports print every disagreement."""

from __future__ import annotations

import pytest

from .mutations import Mutant, Outcome, evaluate, report, score
from .mutations_wide import generate_wide, wide_base_cases
from .oracle import analyze_case, disagreements, require_returnn, run_oracle

pytestmark = pytest.mark.returnn

TARGET = 0.95
#: recall reached on each set; raise these as the model improves
RECALL_FLOOR = {"dev": 0.88, "held-out": 0.85}


@pytest.fixture(scope="module", params=["dev", "held-out"])
def wide(request: pytest.FixtureRequest) -> tuple[str, list[Mutant], dict, list[Outcome]]:
    require_returnn()
    which = request.param
    mutants = generate_wide(wide_base_cases(), which)
    results = run_oracle([case for _, case, _ in mutants])
    return which, mutants, results, evaluate(mutants, results)


def test_wide_report(wide: tuple[str, list[Mutant], dict, list[Outcome]],
                     capsys: pytest.CaptureFixture[str]) -> None:
    which, _, _, outcomes = wide
    with capsys.disabled():
        print(f"\n\n=== wide mutants, {which} operators ===\n" + report(outcomes) + "\n")
    assert not [o for o in outcomes if o.cell in ("crash", "runner")]


def test_wide_precision_and_recall(wide: tuple[str, list[Mutant], dict, list[Outcome]]) -> None:
    which, _, _, outcomes = wide
    s = score(outcomes)
    assert s.precision >= TARGET, (which, s.counts)
    assert s.recall >= RECALL_FLOOR[which], (which, s.counts)


def test_wide_provenance(wide: tuple[str, list[Mutant], dict, list[Outcome]]) -> None:
    which, mutants, results, _ = wide
    bad = {}
    for mid, case, _ in mutants:
        if results[mid].get("ok"):
            dis = disagreements(analyze_case(case), results[mid].get("layers") or {})
            if dis:
                bad[mid] = dis[:3]
    assert not bad, (which, bad)
