"""``--returnn`` on the wide mutants (collected only where ``../shared/corpus`` exists: the frozen
bases hold corpus networks). For every mutant of the opened sets the verification findings of
RETURNN's answer (the oracle runner's, cached) name RETURNN's exception (SG301: its type, on its
layer) or nothing when RETURNN builds, and list a static/RETURNN difference (SG302) exactly where the
static analysis missed a search failure RETURNN raises (a false negative of the mutation tests) or
differs on a built mutant's per-layer fields. A seeded sample goes through the package's verification
worker (build and one search run): its construction must equal the oracle runner's.
"""

from __future__ import annotations

from typing import Any

import pytest

from searchgraph.errors import SearchgraphError
from searchgraph.search.returnn_verify import verify_cases

from .mutations import Mutant, evaluate
from .mutations_wide import generate_wide, wide_base_cases
from .oracle import analyze_case, disagreements, require_returnn, run_oracle
from .verify_support import as_answer, compare_worker, findings_against, sample

pytestmark = pytest.mark.returnn

#: the opened sets (the held-out one stays out of any per-mutant report)
SETS = ("dev", "held-out", "fresh", "fresh2", "fresh3")
#: the seeded prefix ``test_corpus_wide_small_mutations.py`` builds too (the bench report runs every set whole)
N_MUTANTS = 6


@pytest.fixture(scope="module")
def mutants() -> tuple[list[Mutant], dict[str, dict[str, Any]]]:
    require_returnn()
    out: list[Mutant] = []
    for which in SETS:
        out += generate_wide(wide_base_cases(), which, N_MUTANTS)
    return out, run_oracle([case for _, case, _ in out])


def test_verdicts_and_differences(mutants: tuple[list[Mutant], dict[str, dict[str, Any]]]) -> None:
    cases, results = mutants
    cells = {o.mid: o.cell for o in evaluate(cases, results)}
    wrong = {}
    for mid, case, _ in cases:
        answer = as_answer(results[mid])
        try:
            findings = findings_against(mid, case, answer)
        except SearchgraphError:  # searchgraph rejects the network itself (a cycle at the root):
            if answer["ok"]:      # RETURNN must reject it too
                wrong[mid] = ("builds", None, [], cells[mid], False)
            continue
        raised = [f for f in findings if f.code == "SG301"]
        if answer.get("error"):
            verdict = ([f.layer for f in raised] == [answer.get("error_layer") or "(network)"]
                       and raised[0].returnn_message.startswith(f"{answer['error_type']}:"))
        else:
            verdict = raised == []
        differ = cells[mid] == "FN" or bool(answer["ok"] and disagreements(analyze_case(case), answer["layers"]))
        listed = any(f.code == "SG302" for f in findings)
        if not verdict or listed != differ:
            wrong[mid] = (answer.get("error_type"), answer.get("error_layer"), [f.layer for f in raised],
                          cells[mid], listed)
    assert wrong == {}
    assert sum(cell == "FN" for cell in cells.values()) < 0.05 * len(cells)


def test_worker_builds_mutants_as_recorded(mutants: tuple[list[Mutant], dict[str, dict[str, Any]]]) -> None:
    cases, results = mutants
    chosen = sample([(mid, case) for mid, case, _ in cases], seed=41)[:6]
    answers = verify_cases([case for _, case in chosen])
    wrong = {mid: diff for (mid, _), answer in zip(chosen, answers)
             if (diff := compare_worker(answer, results[mid]))}
    assert wrong == {}
