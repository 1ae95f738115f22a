"""Print the mutation test's confusion matrix: searchgraph's error predictions vs RETURNN's, on
seeded mutants of small real search networks (``tests/oracle/mutations.py``).

RETURNN runs in subprocesses with the oracle's disk cache (``.oracle-cache/``), so reruns are quick.

    .venv/bin/python bench/mutation_report.py [--n 360] [--seed 20240611] [--only OP] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.oracle.mutations import N_MUTANTS, SEED, evaluate, generate, report
from tests.oracle.mutations_wide import wide_base_cases
from tests.oracle.oracle import run_oracle


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=N_MUTANTS, help="number of mutants")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--only", help="keep the mutants whose first operator is this one")
    ap.add_argument("--json", type=Path, help="also write every outcome (with the mutant network) here")
    args = ap.parse_args(argv)
    mutants = generate(wide_base_cases(), args.n, args.seed)
    if args.only:
        mutants = [m for m in mutants if m[1]["ops"][0] == args.only]
    results = run_oracle([case for _, case, _ in mutants])
    outcomes = evaluate(mutants, results)
    print(report(outcomes))
    if args.json:
        cases = {mid: case for mid, case, _ in mutants}
        rows = [{**asdict(o), "cell": o.cell, "network": cases[o.mid]["network"],
                 "error_full": results[o.mid].get("error_full")} for o in outcomes]
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
