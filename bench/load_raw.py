"""Loading real config files: safe mode vs RETURNN's own loader, side by side.

For each raw config of ``../shared/corpus-raw`` (or the files given): the whole-process time of
``searchgraph beams --json FILE`` in safe mode (best of N; loading, graph and analysis, TensorFlow not
imported) next to the whole-process time of loading the same file with RETURNN's own loader
(``searchgraph load --trust``: RETURNN's ``init_config`` in a subprocess, best of N), and their ratio.
The issue's target: ``beams`` on the largest raw file under 0.5 s in safe mode.

    .venv/bin/python bench/load_raw.py              # every raw config, best of 3
    .venv/bin/python bench/load_raw.py --largest 5  # the five largest files
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

RAW = Path(__file__).resolve().parents[1].parent / "shared" / "corpus-raw"


def _best(args: list[str], repeat: int) -> tuple[float, int, str]:
    best, code, out = float("inf"), 0, ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        code, out = proc.returncode, proc.stdout + proc.stderr
    return best, code, out


def _tf_imported(path: Path) -> bool:
    code = ("import sys; from searchgraph.interfaces.cli import main; import io, contextlib\n"
            f"with contextlib.redirect_stdout(io.StringIO()): main(['beams', '--json', {str(path)!r}])\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip().endswith("True")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--largest", type=int, default=0, help="only the N largest files")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = args.files or sorted(p for p in RAW.iterdir() if p.suffix in (".config", ".py"))
    if args.largest:
        files = sorted(files, key=lambda p: -p.stat().st_size)[:args.largest]
    py = sys.executable
    print(f"{'file':58} {'KiB':>5} {'safe beams':>10} {'RETURNN load':>12} {'ratio':>6}  exit  TF")
    ratios, safe_times = [], []
    for path in files:
        safe, code, _ = _best([py, "-m", "searchgraph", "beams", "--json", str(path)], args.repeat)
        trusted, tcode, _ = _best([py, "-m", "searchgraph", "load", "--trust", "--json", str(path)], args.repeat)
        tf = _tf_imported(path)
        safe_times.append(safe)
        if tcode == 0:
            ratios.append(trusted / safe)
        ratio = f"{trusted / safe:5.1f}x" if tcode == 0 else "  n/a"
        print(f"{path.name[:58]:58} {path.stat().st_size / 1024:5.0f} {safe:9.3f}s {trusted:11.3f}s {ratio:>6}"
              f"  {code}/{tcode}  {'yes' if tf else 'no'}")
    if safe_times:
        print(f"\nsafe `beams` whole process: median {statistics.median(safe_times):.3f}s, "
              f"max {max(safe_times):.3f}s (target < 0.5s)")
    if ratios:
        print(f"RETURNN's loader / safe beams: median {statistics.median(ratios):.1f}x over {len(ratios)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
