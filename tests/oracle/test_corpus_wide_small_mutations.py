"""The wide mutation generator (``mutations_wide.py``) judged by RETURNN, on the frozen small bases
(``wide_bases.txt``: our own cases and the small corpus networks, so collected only where
``../shared/corpus`` exists: without it the sample would be another one):
searchgraph must never crash, make no false alarm beyond the precision target, and agree on every
per-layer field of every mutant RETURNN builds. Sets: ``dev`` (development operators), ``held-out``
(the first held-out operators, opened for development in the second session), ``fresh``,
``fresh2`` ... ``fresh10``, ``fresh12`` ... ``fresh121`` (the next held-out sets, each opened once
measured: ``mutations_fresh.py`` ... ``mutations_fresh10.py``, ``mutations_fresh12.py`` ... ``mutations_fresh121.py``) and ``fresh11`` (held out:
``mutations_fresh11.py``; its report prints counts only). The recall floors are what the model reached; the reports print every
disagreement of the opened sets."""

from __future__ import annotations

import pytest

from .mutations import Mutant, Outcome, evaluate, report, score
from .mutations_wide import (
    MIN_POSITIVES,
    SETS,
    assert_provenance,
    counts_only,
    generate_wide,
    wide_base_cases,
)
from .oracle import require_returnn, run_oracle

pytestmark = pytest.mark.returnn

TARGET = 0.95
#: mutants per set: a seeded sample for CI's time (``bench/wide_mutation_report.py --n 300`` runs every set
#: whole), and the recall each set reached; raise these as the model improves
#: (4 each, for CI's time with 123 sets: a prefix of the samples CI built before, ``generate_wide`` keeps prefixes)
N_MUTANTS = {name: 4 for name in SETS if name != "classic"}
RECALL_FLOOR = {"dev": 0.95, "held-out": 0.98, "fresh": 0.93, "fresh2": 0.95, "fresh3": 0.95, "fresh4": 0.9,
                "fresh5": 0.98, "fresh6": 0.98, "fresh7": 0.95, "fresh8": 0.99, "fresh9": 0.95, "fresh10": 0.95,
                "fresh11": 0.95, "fresh12": 0.99, "fresh13": 0.99, "fresh14": 0.99, "fresh15": 0.95, "fresh16": 0.95,
                "fresh17": 0.99, "fresh18": 0.95, "fresh19": 0.99, "fresh20": 0.98, "fresh21": 0.95, "fresh22": 0.95, "fresh23": 0.95,
                "fresh24": 0.95, "fresh25": 0.95, "fresh26": 0.9, "fresh27": 0.9,
                "fresh28": 0.9, "fresh29": 0.95, "fresh30": 0.9, "fresh31": 0.9, "fresh32": 0.95, "fresh33": 0.95,
                "fresh34": 0.95, "fresh35": 0.95, "fresh36": 0.95, "fresh37": 0.95, "fresh38": 0.95,
                "fresh39": 0.95, "fresh40": 0.95, "fresh41": 0.9, "fresh42": 0.95, "fresh43": 0.0,
                "fresh44": 0.9, "fresh45": 0.95, "fresh46": 0.95, "fresh47": 0.95, "fresh48": 0.95,
                "fresh49": 0.95, "fresh50": 0.95, "fresh51": 0.95,
                "fresh52": 0.95, "fresh53": 0.95, "fresh54": 0.95,
                "fresh55": 0.95, "fresh56": 0.95, "fresh57": 0.95,
                "fresh58": 0.95, "fresh59": 0.95, "fresh60": 0.95,
                "fresh61": 0.95, "fresh62": 0.95, "fresh63": 0.95,
                "fresh64": 0.95, "fresh65": 0.95, "fresh66": 0.95,
                "fresh67": 0.95, "fresh68": 0.95, "fresh69": 0.95,
                "fresh70": 0.95, "fresh71": 0.95, "fresh72": 0.95, "fresh73": 0.95,
                "fresh74": 0.95, "fresh75": 0.95, "fresh76": 0.9, "fresh77": 0.95,
                "fresh78": 0.95, "fresh79": 0.95, "fresh80": 0.95, "fresh81": 0.95,
                "fresh82": 0.95, "fresh83": 0.95, "fresh84": 0.95, "fresh85": 0.95,
                "fresh86": 0.95, "fresh87": 0.95, "fresh88": 0.95, "fresh89": 0.95,
                "fresh90": 0.95, "fresh91": 0.95, "fresh92": 0.95, "fresh93": 0.95,
                "fresh94": 0.95, "fresh95": 0.95, "fresh96": 0.95, "fresh97": 0.95,
                "fresh98": 0.95, "fresh99": 0.95, "fresh100": 0.95, "fresh101": 0.95,
                "fresh102": 0.95, "fresh103": 0.95, "fresh104": 0.95, "fresh105": 0.95,
                "fresh106": 0.95, "fresh107": 0.95, "fresh108": 0.95, "fresh109": 0.95, "fresh110": 0.95, "fresh111": 0.95, "fresh112": 0.95, "fresh113": 0.95, "fresh114": 0.95, "fresh115": 0.95, "fresh116": 0.95, "fresh117": 0.95, "fresh118": 0.95, "fresh119": 0.95, "fresh120": 0.95, "fresh121": 0.95}
#: sets still held out: their reports show counts only
HELD_OUT = ("fresh11",)


@pytest.fixture(scope="module")
def prefetched() -> None:
    """RETURNN's answers for every set's sample in one batch (two runner processes for the whole
    module, not two per set: on a cold clone each runner start imports TensorFlow and RETURNN)."""
    require_returnn()
    run_oracle([case for which in N_MUTANTS for _, case, _ in generate_wide(wide_base_cases(), which,
                                                                          N_MUTANTS[which])])


@pytest.fixture(scope="module", params=list(N_MUTANTS))
def wide(request: pytest.FixtureRequest, prefetched: None) -> tuple[str, list[Mutant], dict, list[Outcome]]:
    require_returnn()
    which = request.param
    mutants = generate_wide(wide_base_cases(), which, N_MUTANTS[which])
    results = run_oracle([case for _, case, _ in mutants])
    return which, mutants, results, evaluate(mutants, results)


def test_wide_report(wide: tuple[str, list[Mutant], dict, list[Outcome]],
                     capsys: pytest.CaptureFixture[str]) -> None:
    which, _, _, outcomes = wide
    text = counts_only(report(outcomes)) if which in HELD_OUT else report(outcomes)
    with capsys.disabled():
        print(f"\n\n=== wide mutants, {which} operators ===\n" + text + "\n")
    assert not [o for o in outcomes if o.cell in ("crash", "runner")]


def test_wide_precision_and_recall(wide: tuple[str, list[Mutant], dict, list[Outcome]]) -> None:
    which, _, _, outcomes = wide
    s = score(outcomes)
    assert s.precision >= TARGET, (which, s.counts)
    if s.positives >= MIN_POSITIVES:
        assert s.recall >= RECALL_FLOOR[which], (which, s.counts)


#: held-out sets: how many built mutants disagreed when the set was measured (counts only)
HELD_OUT_PROVENANCE_GAPS = {"fresh11": 0}


#: opened sets: mutants whose per-layer fields are a known gap (strict: the test fails once they agree)
KNOWN_PROVENANCE_GAPS: frozenset[str] = frozenset()


def test_wide_provenance(wide: tuple[str, list[Mutant], dict, list[Outcome]]) -> None:
    which, mutants, results, _ = wide
    assert_provenance(which, mutants, results, held_out=HELD_OUT, held_out_gaps=HELD_OUT_PROVENANCE_GAPS,
                      known=KNOWN_PROVENANCE_GAPS)
