"""The largest corpus network to SVG, whole process: ``searchgraph render NET -o net.svg`` in a subprocess.

Side by side with two baselines on the same network, each a whole process too: ``searchgraph beams``
(load + analysis, no diagram) and Graphviz's ``dot -Tsvg`` alone on the DOT that ``render`` drew.
Prints each run's wall time (median of ``--repeat``), the ratio of ``render`` to each baseline, and
RETURNN's own construction time for that network from the corpus oracle (TF import excluded), for
scale. "Largest" is the most layers in the network dict (all units counted).

Run: ``.venv/bin/python bench/render.py [--network PATH] [--repeat 3] [--format svg] [--timeout 600]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SEARCHGRAPH_CORPUS", ROOT.parent / "shared" / "corpus"))


def count_layers(net: Any) -> int:
    """Layers in a network dict, the layers of rec units and subnetworks included."""
    if not isinstance(net, dict):
        return 0
    total = 0
    for value in net.values():
        if isinstance(value, dict) and "class" in value:
            total += 1
            for key in ("unit", "subnetwork"):
                total += count_layers(value.get(key))
    return total


def largest(corpus: Path) -> Path:
    files = sorted(p for p in corpus.glob("*/*.json") if not p.name.endswith(".oracle.json"))
    if not files:
        raise SystemExit(f"no corpus networks under {corpus} (set SEARCHGRAPH_CORPUS)")
    return max(files, key=lambda p: (count_layers(json.loads(p.read_text()).get("network", {})), p.name))


def timed(cmd: list[str], timeout: float) -> tuple[float, int, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, -1, f"timed out after {timeout:.0f} s"
    return time.perf_counter() - start, proc.returncode, (proc.stderr or proc.stdout).strip()


def median_run(name: str, cmd: list[str], repeat: int, timeout: float, ok: tuple[int, ...] = (0, 1)) -> float | None:
    times = []
    for _ in range(repeat):
        wall, code, message = timed(cmd, timeout)
        if code not in ok:
            print(f"  {name}: failed (exit {code}): {message.splitlines()[-1] if message else ''}")
            return None
        times.append(wall)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", type=Path, help="a corpus JSON or config (default: the largest corpus network)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", default="svg", choices=("svg", "png", "pdf", "html", "gv"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    args = parser.parse_args()
    net = args.network or largest(CORPUS)
    exe = [sys.executable, "-m", "searchgraph"]
    layers = count_layers(json.loads(net.read_text()).get("network", {})) if net.suffix == ".json" else None
    oracle = net.with_name(net.stem + ".oracle.json")
    returnn_s = json.loads(oracle.read_text()).get("construct_s") if oracle.exists() else None
    print(f"network: {net}" + (f" ({layers} layers)" if layers else ""))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"net.{args.format}"
        gv = Path(tmp) / "net.gv"
        render = median_run("render", [*exe, "render", str(net), "-o", str(out), "--force"], args.repeat, args.timeout)
        beams = median_run("beams", [*exe, "beams", str(net), "--json"], args.repeat, args.timeout)
        dot_alone = None
        if render is not None and shutil.which("dot") and \
                timed([*exe, "render", str(net), "-o", str(gv), "--force"], args.timeout)[1] in (0, 1):
            dot_alone = median_run("dot", ["dot", "-Tsvg", str(gv), "-o", str(Path(tmp) / "dot.svg")],
                                   args.repeat, args.timeout, ok=(0,))
        size = out.stat().st_size if out.exists() else 0
    print(f"{'run (whole process, median of ' + str(args.repeat) + ')':<44}{'wall s':>9}{'render ÷ it':>13}")

    def row(name: str, value: float | None) -> None:
        if value is None:
            print(f"{name:<44}{'—':>9}{'—':>13}")
            return
        ratio = f"{render / value:.2f}" if render is not None and value else "—"
        print(f"{name:<44}{value:>9.2f}{ratio:>13}")

    row(f"searchgraph render -o net.{args.format}", render)
    row("baseline: searchgraph beams --json", beams)
    row("baseline: dot -Tsvg on render's DOT", dot_alone)
    if returnn_s is not None:
        print(f"{'for scale: RETURNN construct_s (oracle)':<44}{returnn_s:>9.2f}")
    if size:
        print(f"output: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
