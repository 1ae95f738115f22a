"""The time ``--returnn`` adds, per corpus case, next to RETURNN's own construction time.

``--returnn`` runs the verification worker (``searchgraph/search/returnn_verify.py``) in a subprocess:
start Python, import TensorFlow and RETURNN, load the config, build the network in search mode with
every layer's output wrapped for the batch-dim check, run one search on random input, then turn the
answer into findings here. Measured:

* ``startup``: a fresh worker's process start and imports (once: a worker on the first case alone,
  its wall time minus the worker's own time for the case);
* per case, in one worker: ``construct`` (RETURNN's construction with our instrumentation), ``run``
  (one search), ``worker`` (load + construct + run), ``findings`` (the analysis and the verification
  findings, in this process);
* ``added`` = startup + worker + findings: what one ``diagnose --returnn`` call costs on top of plain
  ``diagnose``;
* ``returnn construct``: RETURNN's construction time recorded in the corpus (``*.oracle.json``
  ``construct_s``, plain RETURNN, no instrumentation).

    .venv/bin/python bench/verify.py [--only SUBSTR] [--sample N] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchgraph.checks.verify import verify_findings
from searchgraph.search.returnn_verify import verify_cases
from tests.oracle.oracle import analyze_case, corpus_cases


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   max {max(values):6.2f} s" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="only corpus cases whose id contains this")
    parser.add_argument("--sample", type=int, help="a seeded sample of this many cases")
    parser.add_argument("--json", metavar="OUT", help="write the per-case figures as JSON")
    args = parser.parse_args()
    cases = [c for c in corpus_cases() if not args.only or args.only in c[0]]
    if not cases:
        print("no corpus (../shared/corpus)", file=sys.stderr)
        return 2
    if args.sample and args.sample < len(cases):
        cases = sorted(random.Random(15).sample(cases, args.sample), key=lambda c: c[0])
    start = time.monotonic()
    (first,) = verify_cases([cases[0][1]])
    startup = time.monotonic() - start - first["worker_s"]
    answers = verify_cases([case for _, case, _ in cases])
    rows = []
    for (cid, case, oracle), answer in zip(cases, answers):
        t = time.monotonic()
        findings = verify_findings(analyze_case({**case, "id": cid}), answer)
        findings_s = time.monotonic() - t
        rows.append({"id": cid, "stage": answer.get("stage"), "ok": answer.get("ok"),
                     "error": answer.get("error"), "construct_s": answer.get("construct_s"),
                     "run_s": answer.get("run_s"), "worker_s": answer["worker_s"], "findings_s": findings_s,
                     "added_s": startup + answer["worker_s"] + findings_s,
                     "returnn_construct_s": oracle.get("construct_s"),
                     "codes": sorted({f.code for f in findings})})
    print(f"{'case':58} {'added':>7} {'worker':>7} {'constr':>7} {'run':>6} {'RETURNN':>8}  findings")
    def s(r: dict, key: str) -> str:
        return f"{r[key]:.2f}" if r[key] is not None else "-"

    for r in rows:
        print(f"{r['id'][:58]:58} {s(r, 'added_s'):>7} {s(r, 'worker_s'):>7} {s(r, 'construct_s'):>7} "
              f"{s(r, 'run_s'):>6} {s(r, 'returnn_construct_s'):>8}  {','.join(r['codes']) or '-'}")
    print(f"\n{len(rows)} corpus cases; worker start-up (Python, TensorFlow, RETURNN imports): "
          f"{startup:.2f} s")
    print(f"time --returnn adds (start-up + worker + findings): {_stats([r['added_s'] for r in rows])}")
    print(f"  of it, construction with instrumentation:        "
          f"{_stats([r['construct_s'] for r in rows if r['construct_s'] is not None])}")
    print(f"  of it, the search run:                           "
          f"{_stats([r['run_s'] for r in rows if r['run_s'] is not None])}")
    print(f"RETURNN's own construction (corpus construct_s):   "
          f"{_stats([r['returnn_construct_s'] for r in rows if r['returnn_construct_s'] is not None])}")
    print(f"built: {sum(r['stage'] == 'run' for r in rows)}, search ran without error: "
          f"{sum(bool(r['ok']) for r in rows)}, SG302 (static/RETURNN differ): "
          f"{sum('SG302' in r['codes'] for r in rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"startup_s": startup, "cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
