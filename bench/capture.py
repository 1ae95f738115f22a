"""A capture of many sequences next to RETURNN's own search of them (a trained model, CPU).

Usage::

    .venv/bin/python bench/capture.py                  # 100 sequences
    .venv/bin/python bench/capture.py --seqs 200 --batch 20

The model is ``tests/search/configs/copy_attention.config`` (a small attention encoder-decoder that
reverses label sequences), trained once with RETURNN (cached in ``.oracle-cache/bench-capture/``).
``rnn.py CONFIG ++task search`` searches the sequences of its ``search_data`` (writing its
``search_output_file``); ``capture_sequences`` records the same sequences from the same checkpoint,
in batches of ``--batch`` in one RETURNN subprocess (a batch is the capture's unit of progress and
resumption: the trace file is rewritten after each), with the attention weights. Both are timed end to end as a user runs them (process
start, TensorFlow import, graph construction, checkpoint loading, search), and the best hypotheses
are compared. Printed: both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "tests" / "search" / "configs" / "copy_attention.config"


def _returnn(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "returnn", str(CONFIG), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit((proc.stdout + proc.stderr)[-3000:])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqs", type=int, default=100, help="sequences to search (default 100)")
    parser.add_argument("--batch", type=int, default=20, help="sequences per capture batch (default 20)")
    args = parser.parse_args()
    from searchgraph.interfaces.console_trace import check_against_returnn
    from searchgraph.loading import load
    from searchgraph.search.backtrack import backtrack
    from searchgraph.search.capture_set import capture_sequences
    from searchgraph.search.vocab import target_vocab

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               SEARCHGRAPH_SEARCH_SEQS=str(args.seqs))
    os.environ["SEARCHGRAPH_SEARCH_SEQS"] = str(args.seqs)
    key = hashlib.sha256(CONFIG.read_bytes()).hexdigest()[:16]
    folder = ROOT / ".oracle-cache" / "bench-capture" / key
    if not (folder / "model.003.index").exists():
        folder.mkdir(parents=True, exist_ok=True)
        print("training the model (once) ...", file=sys.stderr)
        _returnn(["++model", str(folder / "model")], folder, env)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "search.py")
        t_returnn = _returnn(["++model", str(folder / "model"), "++task", "search", "++search_output_file",
                              str(out), "++search_output_file_format", "py", "++search_do_eval", "0"],
                             Path(tmp), env)
        reference = ast.literal_eval(re.sub(r"np\.float(?:32|64)\(([^()]*)\)", r"\1", out.read_text()))
        spec = load(CONFIG, trust=True, overrides={"model": str(folder / "model")})
        start = time.perf_counter()
        trace = capture_sequences(spec, "search_data", range(args.seqs), batch=args.batch, checkpoint="config",
                                  record="auto", save=Path(tmp, "run.npz"))
        t_capture = time.perf_counter() - start
    result = backtrack(trace)
    vocab = target_vocab(trace.meta)
    same_best = 0
    for b, tag in enumerate(trace.meta["seq_tags"]):
        best = vocab.returnn_text(result.sequences[trace.latest_choice][b, 0, : result.lengths[b, 0]])
        same_best += best == reference[tag][0][1]
    print(f"{args.seqs} sequences, beam {trace.beam_sizes[trace.latest_choice]}, CPU")
    print(f"  RETURNN rnn.py ++task search:        {t_returnn:7.2f} s")
    print(f"  searchgraph capture (batches of {args.batch:3d}): {t_capture:7.2f} s "
          f"(one RETURNN process, {-(-args.seqs // args.batch)} batches, attention recorded, "
          "saved after each batch)")
    print(f"  ratio capture / RETURNN:             {t_capture / t_returnn:7.2f}")
    print(f"  backtracking vs RETURNN's recorded n-best: {'ok' if check_against_returnn(trace, result).ok else 'DIFFERS'}"
          f"; best hypothesis as rnn.py's: {same_best}/{args.seqs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
