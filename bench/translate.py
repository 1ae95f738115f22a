"""Fused beam translation vs RETURNN's step-by-step selection, per chain length.

A translation plan of k hops (spec §4.3) is applied by RETURNN as k calls of
``returnn.tf.util.basic.select_src_beams``, each moving the whole payload. searchgraph's fused
version composes the k tiny ``[batch, beam]`` maps first (:func:`searchgraph.tf.compose_src_beams`)
and moves the payload once (:func:`searchgraph.tf.select_src_beams`, one flat ``tf.gather``).
Both are compiled with ``tf.function`` and timed in this one run (median of ``--runs`` after
``--warmup`` calls); the results are checked to be bit-identical first. On a GPU it also reports
the fused selection's bandwidth as a fraction of a device copy of the same bytes.

    .venv/bin/python bench/translate.py [--batch 16] [--beam 12] [--time 50] [--dim 512]
                                       [--chains 1,2,3,4] [--runs 30] [--warmup 5]
                                       [--maps random|permutation]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import tensorflow as tf

from searchgraph.tf import compose_src_beams, select_src_beams


def returnn_select_src_beams():
    """RETURNN's ``select_src_beams``, imported without its process-wide switch to graph mode
    (``returnn.tf.compat`` calls ``disable_eager_execution`` on import); the function itself is
    unchanged and runs here inside ``tf.function`` like ours."""
    v1 = tf.compat.v1

    def noop() -> None:
        return None

    with mock.patch.object(v1, "disable_eager_execution", noop), \
            mock.patch.object(v1, "disable_v2_tensorshape", noop), \
            mock.patch.object(v1, "disable_control_flow_v2", noop):
        from returnn.tf.util.basic import select_src_beams as returnn_select
    return returnn_select


def sync() -> None:
    tf.test.experimental.sync_devices()


def median_seconds(fn, args, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn(*args)
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--beam", type=int, default=12)
    ap.add_argument("--time", type=int, default=50)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--chains", default="1,2,3,4", help="comma-separated chain lengths")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--maps", choices=["random", "permutation"], default="random",
                    help="src_beams rows: uniform random (hypotheses merge, as in search) or permutations "
                         "(every row of the payload is read once per hop)")
    args = ap.parse_args()

    returnn_select = returnn_select_src_beams()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    rng = np.random.default_rng(args.seed)
    rows = args.batch * args.beam
    x = tf.constant(rng.standard_normal((rows, args.time, args.dim), dtype=np.float32))
    payload_bytes = x.shape.num_elements() * x.dtype.size

    @tf.function
    def fused(x, chain):
        return select_src_beams(x, compose_src_beams(chain))

    @tf.function
    def sequential(x, chain):
        for src_beams in chain:
            x = returnn_select(x, src_beams)
        return x

    @tf.function
    def device_copy(x, one):
        return x * one  # reads and writes the same bytes as the selection; `one` is not foldable

    print(f"TensorFlow {tf.__version__}; device: {'GPU ' + tf.test.gpu_device_name() if gpu else 'CPU'} "
          f"({os.cpu_count()} CPUs); payload [batch*beam={args.batch}*{args.beam}, T={args.time}, "
          f"{args.dim}] float32 = {payload_bytes / 2**20:.1f} MiB; {args.maps} maps; median of {args.runs} after "
          f"{args.warmup} warm-up, tf.function for both")
    copy_s = median_seconds(device_copy, (x, tf.constant(1.0)), args.runs, args.warmup)
    copy_gbs = 2 * payload_bytes / copy_s / 1e9
    print(f"device copy (x * 1): {copy_s * 1e3:.3f} ms, {copy_gbs:.1f} GB/s (read + write)")
    header = f"{'chain':>5} {'RETURNN seq ms':>15} {'fused ms':>9} {'speed-up':>9} {'fused GB/s':>11} {'of copy':>8}"
    print(header)
    print("-" * len(header))
    for k in (int(c) for c in args.chains.split(",")):
        if args.maps == "random":
            maps = [rng.integers(0, args.beam, (args.batch, args.beam)) for _ in range(k)]
        else:
            maps = [np.argsort(rng.random((args.batch, args.beam)), axis=1) for _ in range(k)]
        chain = tuple(tf.constant(m.astype(np.int32)) for m in maps)
        got, want = fused(x, chain), sequential(x, chain)
        assert np.array_equal(got.numpy(), want.numpy()), f"fused != sequential for chain {k}"
        seq_s = median_seconds(sequential, (x, chain), args.runs, args.warmup)
        fused_s = median_seconds(fused, (x, chain), args.runs, args.warmup)
        fused_gbs = 2 * payload_bytes / fused_s / 1e9
        print(f"{k:>5} {seq_s * 1e3:>15.3f} {fused_s * 1e3:>9.3f} {seq_s / fused_s:>8.2f}x "
              f"{fused_gbs:>11.1f} {fused_gbs / copy_gbs:>7.0%}")
    if not gpu:
        print("(no GPU: the copy-bandwidth target applies to GPU runs; the CPU figures are for reference)")


if __name__ == "__main__":
    main()
