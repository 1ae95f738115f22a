"""Mutants of real search networks: searchgraph's error predictions against RETURNN's.

``mutations.generate`` changes small networks RETURNN builds (our own cases and the fast corpus
cases: the mutants depend on the corpus, so this is a corpus test) the ways users do; RETURNN builds
every mutant in search mode on the CPU (``run_oracle``, cached) and either builds it or raises; its exception counts as search-related or not
(``runner.search_related_reason``: by the traceback site, see ``docs/findings.md``). Positive:
RETURNN fails with a search error. searchgraph predicts an error when its analysis names one.
Precision and recall must be at least 0.95; a RETURNN failure for another reason with an error
predicted by searchgraph is "unknown" (a search error may hide behind the first failure) and left
out of both. The confusion matrix and every disagreement are printed.
"""

from __future__ import annotations

import pytest

from .mutations import N_MUTANTS, SEED, Mutant, Outcome, evaluate, generate, report, score
from .mutations_wide import wide_base_cases
from .oracle import require_returnn, run_oracle

pytestmark = pytest.mark.returnn

MIN_MUTANTS = 300
MIN_SEARCH_FAILURES = 60
TARGET = 0.95


@pytest.fixture(scope="module")
def mutants() -> list[Mutant]:
    # the base networks frozen in wide_bases.txt: own cases added later would redraw the sample
    return generate(wide_base_cases(), N_MUTANTS, SEED)


@pytest.fixture(scope="module")
def outcomes(mutants: list[Mutant]) -> list[Outcome]:
    require_returnn()
    results = run_oracle([case for _, case, _ in mutants])
    return evaluate(mutants, results)


def test_generator_is_deterministic(mutants: list[Mutant]) -> None:
    again = generate(wide_base_cases(), N_MUTANTS, SEED)
    assert [(m, c["network"]) for m, c, _ in again] == [(m, c["network"]) for m, c, _ in mutants]
    assert len(mutants) >= MIN_MUTANTS


def test_report(outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]) -> None:
    """Print the confusion matrix and the disagreements; searchgraph must never crash, nor the runner."""
    with capsys.disabled():
        print("\n\n=== mutants: searchgraph vs RETURNN (search mode) ===\n" + report(outcomes) + "\n")
    crashes = [o for o in outcomes if o.cell == "crash"]
    assert not crashes, f"searchgraph crashed on {len(crashes)} mutants: {crashes[0].mid}: {crashes[0].crash}"
    runner = [o for o in outcomes if o.cell == "runner"]
    assert not runner, f"the RETURNN runner crashed on {len(runner)} mutants: {runner[0].mid}: {runner[0].error}"


def test_enough_search_failures(outcomes: list[Outcome]) -> None:
    assert len(outcomes) >= MIN_MUTANTS
    s = score(outcomes)
    assert s.positives >= MIN_SEARCH_FAILURES, f"only {s.positives} search-related failures"


def test_precision_and_recall(outcomes: list[Outcome]) -> None:
    s = score(outcomes)
    assert s.precision >= TARGET and s.recall >= TARGET, (
        f"precision {s.precision:.3f}, recall {s.recall:.3f} (TP {s.counts['TP']}, FP {s.counts['FP']}, "
        f"FN {s.counts['FN']}); the disagreements are listed in test_report's output")


def test_search_failures_are_classified_by_where_returnn_raised(outcomes: list[Outcome]) -> None:
    """A search-related failure is named by its traceback site (``frame:...``) or a missing
    target / data key (``not-found:...``), never by words in the message; shape asserts whose
    message merely prints a beamed tensor count as other failures."""
    for o in outcomes:
        if o.returnn == "search":
            assert o.reason and o.reason.startswith(("frame:", "not-found:")), (o.mid, o.reason)
    others = [o for o in outcomes if o.returnn == "other"]
    assert any("Beam{" in (o.error or "") for o in others)  # e.g. a combine of mismatched shapes


def test_inline_rule_cases_fail_in_returnn() -> None:
    """The hand-written networks of ``tests/test_diagnose.py``'s ``INLINE_CASES``: RETURNN fails
    on each with a search-related error at the layer searchgraph names."""
    require_returnn()
    from ..test_diagnose import INLINE_CASES

    cases = [{**{k: c[k] for k in ("network", "extern_data") if k in c}, "id": name}
             for name, (_, _, c) in INLINE_CASES.items()]
    results = run_oracle(cases)
    for name, (code, layer, _) in INLINE_CASES.items():
        res = results[name]
        assert not res["ok"] and res.get("search_related"), (name, code, res.get("error"))
        assert res.get("error_layer") == layer, (name, code, res.get("error_layer"), res.get("error"))
