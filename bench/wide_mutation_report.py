"""The wide mutation generator's confusion matrices, development and held-out operators apart
(``tests/oracle/mutations_wide.py``), with provenance agreement on the mutants RETURNN builds.

    .venv/bin/python bench/wide_mutation_report.py [--set dev|held-out|fresh|all] [--n 80] [--json OUT]
        [--summary]

``--summary`` prints the confusion matrix and per-operator counts only, no mutant: the way a held-out
set is looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.oracle.mutations import evaluate, report
from tests.oracle.mutations_wide import (
    MAX_REAL_S,
    N_WIDE,
    SETS,
    counts_only,
    generate_wide,
    provenance_failures,
    real_base_cases,
    wide_base_cases,
)
from tests.oracle.oracle import run_oracle


def provenance(mutants: list, results: dict) -> tuple[int, int, list[str]]:
    """(built mutants, those whose every per-layer field agrees, the disagreements)."""
    built = sum(1 for mid, _, _ in mutants if results[mid].get("ok"))
    failures = provenance_failures(mutants, results)
    return built, built - len(failures), [f"  {mid}: {d}" for mid, dis in failures.items() for d in dis[:5]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="all", choices=[*SETS, "all"],
                    help="one operator set, or all (every set but classic)")
    ap.add_argument("--n", type=int, default=N_WIDE)
    ap.add_argument("--seed", type=int, help="default: the set's own seed")
    ap.add_argument("--summary", action="store_true", help="counts only, no mutant named")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--bases", default="wide", choices=["wide", "corpus"],
                    help="wide: the frozen small bases (wide_bases.txt); corpus: every corpus network "
                         f"RETURNN builds in under {MAX_REAL_S:g} s (real attention decoders, transformers)")
    args = ap.parse_args(argv)
    bases = wide_base_cases() if args.bases == "wide" else real_base_cases()
    rows = []
    for which in ([name for name in SETS if name != "classic"]
                  if args.set == "all"
                  else [args.set]):
        mutants = generate_wide(bases, which, args.n, args.seed)
        results = run_oracle([case for _, case, _ in mutants])
        outcomes = evaluate(mutants, results)
        text = report(outcomes)
        built, agree, lines = provenance(mutants, results)
        if args.summary:
            text, lines = counts_only(text), []
        print(f"\n===== {which} operators =====\n" + text)
        print(f"\nprovenance: {agree}/{built} built mutants agree on every field")
        print("\n".join(lines))
        rows += [{**asdict(o), "set": which, "cell": o.cell} for o in outcomes]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
