"""searchgraph's analysis time vs RETURNN's search-mode construction time, per corpus case.

Both are measured in this one run: RETURNN builds every corpus network with
``TFNetwork(search_flag=True, train_flag=False)`` in a subprocess (``tests/oracle/runner.py``,
TF import excluded from its timing), and searchgraph analyses the same networks (best of 20 --
the machine may be shared --, load and graph included). Also times ``searchgraph beams --json`` on the largest config as a whole
process, and checks that it does not import TensorFlow.

    .venv/bin/python bench/analyze_vs_returnn.py [--corpus DIR] [--only SUBSTR] [--no-returnn]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchgraph import analyze, load


def returnn_times(cases: list[Path]) -> dict[str, dict]:
    """Run RETURNN on all cases in one subprocess; id -> result (with construct_s)."""
    payload = []
    for case in cases:
        data = json.loads(case.read_text())
        data["id"] = case.stem
        payload.append(data)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp, "in.json"), Path(tmp, "out.json")
        inp.write_text(json.dumps(payload))
        subprocess.run([sys.executable, str(ROOT / "tests/oracle/runner.py"), str(inp), str(out)],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.loads(out.read_text()) if out.exists() else {}


def our_time(case: Path, repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        analyze(load(case))
        best = min(best, time.perf_counter() - t0)
    return best


def whole_process(case: Path) -> tuple[float, bool]:
    """Wall time of ``searchgraph beams CASE --json`` (best of 3), and whether TF got imported."""
    code = (f"import sys; sys.argv=['searchgraph','beams',{str(case)!r},'--json'];"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    from searchgraph.interfaces.cli import main; main(sys.argv[1:])\n"
            "print('tensorflow' in sys.modules)")
    best, tf_loaded = float("inf"), False
    for _ in range(3):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        best = min(best, time.perf_counter() - t0)
        tf_loaded = res.stdout.strip().endswith("True")
    return best, tf_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--only", default="")
    parser.add_argument("--no-returnn", action="store_true", help="use construct_s from the oracle files")
    args = parser.parse_args()
    cases = sorted(p for p in Path(args.corpus).glob("*/*.json")
                   if not p.name.endswith(".oracle.json") and args.only in p.name)
    oracle = {c.stem: json.loads(c.with_name(c.stem + ".oracle.json").read_text()) for c in cases}
    cases = [c for c in cases if oracle[c.stem]["ok"]]
    if args.no_returnn:
        live = {c.stem: {"construct_s": oracle[c.stem]["construct_s"], "ok": True} for c in cases}
        source = "oracle files"
    else:
        live = returnn_times(cases)
        source = "live RETURNN run"
    rows = []
    for case in cases:
        theirs = live.get(case.stem, {})
        if not theirs.get("ok"):
            continue
        ours = our_time(case)
        rows.append((case.stem, theirs["construct_s"], ours, theirs["construct_s"] / ours))
    print(f"RETURNN construction ({source}, TF import excluded) vs searchgraph analyze (best of 20)")
    print(f"{'case':<60} {'RETURNN s':>10} {'ours ms':>9} {'ratio':>9}")
    for name, theirs_s, ours_s, ratio in sorted(rows, key=lambda r: r[1]):
        print(f"{name[:60]:<60} {theirs_s:10.2f} {ours_s * 1000:9.2f} {ratio:9.0f}x")
    if rows:
        ratios = [r[3] for r in rows]
        print(f"\n{len(rows)} cases; median ratio {statistics.median(ratios):.0f}x, "
              f"min {min(ratios):.0f}x (target: >= 1000x at the median)")
        largest = max(cases, key=lambda c: len(oracle[c.stem]["layers"]))
        secs, tf_loaded = whole_process(largest)
        print(f"`searchgraph beams --json` on the largest config ({largest.stem}, "
              f"{len(oracle[largest.stem]['layers'])} layers): {secs:.3f} s whole process "
              f"(target < 0.5 s); TensorFlow imported: {tf_loaded}")


if __name__ == "__main__":
    main()
