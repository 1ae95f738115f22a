"""Frames per second: searchgraph's planned search vs a hand-written TF beam search vs RETURNN.

One run, one table model (``tests/oracle/search_runner.py``: log-probabilities from a fixed random
table indexed by the previous label and the frame, plus a per-batch-entry offset), one choice per
frame, an end label that is rare enough for every loop to run ``--frames`` frames:

* **searchgraph**: :class:`searchgraph.tf.search.BeamSearch` on the model as a step graph;
* **hand-written**: a straightforward ``tf.function`` / ``tf.while_loop`` beam search for exactly
  this model (top-k over beam x vocab, state gathered by hand, ended hypotheses kept, length
  normalisation, a reverse ``tf.scan`` to backtrack) -- what one writes without a library;
* **RETURNN**: its own search on the same model as a net dict (``search_runner.py``, in a
  subprocess, ``session.run`` timed there).

All three are checked to give the same n-best lists first. They are timed interleaved (one search of
each in turn, ``--runs`` rounds after warm-up, medians), so that load on a shared machine hits all
alike, with the same number of CPU threads (``--threads``); RETURNN runs in a subprocess that
builds its graph once and times ``session.run`` per request. GPU when one is visible for ours (the
RETURNN reference stays on the CPU, as in the tests).
Prints frames/s and the ratios against the hand-written loop and RETURNN.

    .venv/bin/python bench/search.py [--vocab 1000] [--beam 12] [--batch 16] [--frames 40]
                                     [--runs 10] [--threads 1] [--no-returnn] [--jit]
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import tensorflow as tf

from searchgraph.tf.search import BeamSearch
from tests.oracle.search_runner import tables
from tests.oracle.test_search_oracle import table_step


def handwritten(w: np.ndarray, vocab: int, beam: int, frames: int):
    """A plain TF beam search for the single-choice table model (RETURNN's rules, by hand)."""
    w = tf.constant(w)

    @tf.function(autograph=False)
    def search(x: tf.Tensor, max_len: tf.Tensor):
        batch = tf.shape(x)[0]
        x_beam = tf.repeat(x, beam, axis=0)  # [B*K, V]
        neg = tf.fill([batch, beam - 1], -np.inf)
        scores = tf.concat([tf.zeros([batch, 1]), neg], axis=1)  # only hypothesis 0 at the start
        y = tf.zeros([batch * beam], tf.int32)
        ended = tf.zeros([batch * beam], tf.bool)
        keep0 = tf.one_hot(0, vocab, on_value=0.0, off_value=-1.0e30)
        offsets = tf.range(batch)[:, None] * beam

        def body(t, y, ended, scores, labels_ta, src_ta, end_ta):
            logp = tf.nn.log_softmax(tf.gather(w, y + vocab * tf.minimum(t, frames - 1)) + x_beam)
            logp = tf.where(ended[:, None], keep0[None, :], logp)
            tf_ = tf.cast(t, tf.float32)
            factor = tf.where(tf.reshape(ended, [batch, beam]) & (t > 0), (tf_ + 1.0) / tf.maximum(tf_, 1.0), 1.0)
            total = tf.reshape(scores * factor, [batch, beam, 1]) + tf.reshape(logp, [batch, beam, vocab])
            scores, idx = tf.nn.top_k(tf.reshape(total, [batch, beam * vocab]), k=beam)
            src, lab = idx // vocab, idx % vocab
            flat = tf.reshape(src + offsets, [-1])
            ended = tf.gather(ended, flat) | tf.equal(tf.reshape(lab, [-1]), 0)
            return (t + 1, tf.reshape(lab, [-1]), ended, scores, labels_ta.write(t, lab), src_ta.write(t, src),
                    end_ta.write(t, tf.reshape(ended, [batch, beam])))

        def cond(t, y, ended, *_):
            return (t < max_len) & ~tf.reduce_all(ended)

        tas = [tf.TensorArray(tf.int32, size=0, dynamic_size=True) for _ in range(2)]
        tas.append(tf.TensorArray(tf.bool, size=0, dynamic_size=True))
        t, y, ended, scores, lab_ta, src_ta, end_ta = tf.while_loop(
            cond, body, (tf.constant(0), y, ended, scores, *tas))
        labels, srcs, ends = lab_ta.stack(), src_ta.stack(), end_ta.stack()  # [T, B, K]

        def back(carry, elems):
            lab, src, end = elems
            return (tf.gather(src, carry, batch_dims=1),
                    tf.gather(lab, carry, batch_dims=1), tf.gather(end, carry, batch_dims=1))

        ident = tf.tile(tf.range(beam)[None], [batch, 1])
        _, seqs, ends_path = tf.scan(lambda c, e: back(c[0], e), (labels, srcs, ends),
                                     initializer=(ident, ident, tf.zeros([batch, beam], tf.bool)), reverse=True)
        lengths = t - tf.reduce_sum(tf.cast(tf.math.cumsum(tf.cast(ends_path, tf.int32), axis=0) > 0, tf.int32),
                                    axis=0)
        scores = scores / tf.cast(tf.reduce_max(lengths) + 1, tf.float32)
        return tf.transpose(seqs, [1, 2, 0]), lengths, scores, t

    return search


class ReturnnServer:
    """RETURNN's search of the same model in a subprocess (``search_runner.py --serve``): built
    once, then timed one search per request, so its runs interleave with ours."""

    def __init__(self, spec: dict, tmp: str):
        path = Path(tmp) / "specs.json"
        path.write_text(json.dumps([spec]))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
        runner = ROOT / "tests" / "oracle" / "search_runner.py"
        self.proc = subprocess.Popen([sys.executable, str(runner), "--serve", str(path), tmp], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        for line in self.proc.stdout:  # RETURNN prints its own log lines first
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError("the RETURNN runner ended before it was ready; run "
                               f"{runner} {path} {tmp} to see why")
        with np.load(Path(tmp) / f"{spec['id']}.npz") as data:
            self.results = {k: data[k] for k in data.files}

    def run_once(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(timers: dict, runs: int) -> dict[str, float]:
    """Median seconds per implementation; one run of each in turn (load changes hit all alike)."""
    for fn in timers.values():  # warm-up
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(runs):
        for name, fn in timers.items():
            times[name].append(fn())
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--beam", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-returnn", action="store_true")
    ap.add_argument("--jit", action="store_true", help="also time the XLA-compiled loop (jit_compile=True)")
    args = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    spec = {"id": "bench", "vocabs": [args.vocab], "beams": [args.beam], "frames": args.frames,
            "batch": args.batch, "seed": 7, "end_penalty": 8.0, "threads": args.threads}
    tabs = tables(spec)
    x = tf.constant(tabs["x0"])
    ours = BeamSearch(table_step(spec, tabs), inputs=["x0"], max_len=args.frames)
    hand = handwritten(tabs["W0"], args.vocab, args.beam, args.frames)
    limit = tf.constant(args.frames)

    r_ours = ours({"x0": x})
    seqs, lengths, scores, t_hand = hand(x, limit)
    frames = int(r_ours.frames)
    same_hand = bool(np.array_equal(np.asarray(r_ours.sequences["c0"]), seqs.numpy())
                     and np.array_equal(np.asarray(r_ours.lengths), lengths.numpy()))
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'} ({args.threads} thread(s)); "
          f"batch {args.batch}, beam {args.beam}, vocab {args.vocab}, {frames} frames")
    print(f"same n-best as the hand-written loop: {same_hand} "
          f"(max score diff {float(np.max(np.abs(np.asarray(r_ours.scores) - scores.numpy()))):.2e})")

    timers = {"searchgraph BeamSearch": lambda: timed(lambda: ours({"x0": x}).scores.numpy()),
              "hand-written tf.while_loop": lambda: timed(lambda: hand(x, limit)[2].numpy())}
    if args.jit:
        ours_xla = BeamSearch(table_step(spec, tabs), inputs=["x0"], max_len=args.frames, jit_compile=True)
        same_xla = bool(np.array_equal(np.asarray(ours_xla({"x0": x}).sequences["c0"]),
                                       np.asarray(r_ours.sequences["c0"])))
        print(f"XLA-compiled loop gives the same n-best: {same_xla}")
        timers["searchgraph BeamSearch, XLA"] = lambda: timed(lambda: ours_xla({"x0": x}).scores.numpy())
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_returnn:
            server = ReturnnServer(spec, tmp)
            ref = server.results
            same_r = bool(np.array_equal(np.asarray(r_ours.lengths), ref["lengths"].reshape(-1, args.beam))
                          and np.array_equal(np.asarray(r_ours.sequences["c0"])[..., :ref["seq_0"].shape[0]],
                                             ref["seq_0"].T.reshape(args.batch, args.beam, -1)))
            print(f"same n-best as RETURNN: {same_r}; max score diff "
                  f"{float(np.max(np.abs(np.asarray(r_ours.scores) - ref['scores']))):.2e}")
            timers["RETURNN search (session.run)"] = server.run_once
        try:
            medians = interleaved(timers, args.runs)
        finally:
            if server is not None:
                server.close()
    rows = list(medians.items())
    t_ours, t_hand = medians["searchgraph BeamSearch"], medians["hand-written tf.while_loop"]
    t_returnn = medians.get("RETURNN search (session.run)")
    print(f"\n{'':32} {'ms/search':>10} {'frames/s':>10}")
    for name, sec in rows:
        print(f"{name:32} {sec * 1e3:10.2f} {frames / sec:10.1f}")
    print(f"\nsearchgraph vs hand-written: {t_hand / t_ours:.2f}x the frames/s")
    if t_returnn is not None:
        print(f"searchgraph vs RETURNN:      {t_returnn / t_ours:.2f}x the frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
