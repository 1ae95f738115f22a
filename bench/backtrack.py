"""Backtracking speed: ours (NumPy; TF eager, tf.function with/without XLA, TF1 Session) vs RETURNN's resolve, one trace.

Usage::

    .venv/bin/python bench/backtrack.py                 # T=200, batch 32, two choices of beam 12, CPU
    .venv/bin/python bench/backtrack.py --frames 50 --repeats 50 --threads 2

All contenders get the same trace (a random, well-formed two-choice trace with end flags on the
first choice, seeded) and every result is checked against the NumPy reference before timing.

RETURNN's side is its own backtracking as it runs after the rec loop: per accumulated output layer,
``_SubnetworkRecCell._opt_search_resolve`` builds a backward ``tf.while_loop`` over the frames
that reads each choice's ``src_beams`` from the loop's TensorArray (``read``), follows them with
``nd_indices`` + ``gather_nd`` latest choice first, gathers the layer's frame (reshape, gather_nd,
reshape) and writes it to a new TensorArray, which is stacked afterwards; ``seq_len`` is re-selected
with ``select_src_beams`` through the choices newer than the end layer's. That code needs a whole
rec layer around it, so the bench rebuilds exactly this op sequence (RETURNN's ``nd_indices`` and
``select_src_beams`` themselves, graph mode, a TF1 ``Session``, in a subprocess as every RETURNN
run of searchgraph) and resolves both choices' labels, as RETURNN does for two accumulated outputs.
The trace arrays sit in variables on the device, so no feeding is timed; every run fetches its
results to the host. Our ``backtrack_tensors`` also computes the lengths from the end flags (work
RETURNN does inside the search loop), so the comparison is conservative.

Printed: median and best wall time per call over ``--repeats`` runs (after warm-up), and the
speed-up against RETURNN's resolve (median / median).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from searchgraph.backtrack import BacktrackResult, backtrack
from searchgraph.trace import SearchTrace


def make_trace(frames: int, batch: int, beams: list[int], seed: int) -> SearchTrace:
    """A random well-formed trace: frame 0 extends one hypothesis, end flags on the first choice."""
    rng = np.random.default_rng(seed)
    choices = [f"output/choice{i + 1}" for i in range(len(beams))]
    labels, src, scores = {}, {}, {}
    for j, (c, k) in enumerate(zip(choices, beams)):
        base = beams[j - 1]
        s = rng.integers(0, base, (frames, batch, k))
        if j == 0:
            s[0] = 0
        src[c] = s
        labels[c] = rng.integers(0, 1000, (frames, batch, k))
        scores[c] = -np.abs(rng.standard_normal((frames, batch, k))).cumsum(axis=0).astype(np.float32)
    end = rng.random((frames, batch, beams[0])) < 2.0 / frames
    return SearchTrace.from_arrays("output", choices, labels, src, scores, end_flags=end, end_choice=choices[0])


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def check(name: str, sequences: list[np.ndarray], lengths: np.ndarray, want: BacktrackResult,
          choices: list[str]) -> None:
    """``sequences`` ``[batch, K_latest, T]`` per choice and ``lengths`` equal the NumPy reference."""
    for c, seq in zip(choices, sequences):
        if not np.array_equal(seq, want.sequences[c]):
            raise SystemExit(f"{name}: sequences of {c} differ from the NumPy reference")
    if not np.array_equal(lengths, want.lengths):
        raise SystemExit(f"{name}: lengths differ from the NumPy reference")


# ----------------------------------------------------------------------------------------------------
# Subprocess: RETURNN's resolve and ours, both in a TF1 graph and Session


def returnn_resolve(src_tas: list[Any], label_tas: list[Any], beams: list[int], seq_len: Any, end_index: int,
                    batch_dim: Any) -> tuple[list[Any], Any]:
    """RETURNN's post-loop resolve of every choice's accumulated labels (``_opt_search_resolve``'s ops).

    ``src_tas`` / ``label_tas``: TensorArrays of ``[batch, K_c]`` per frame (RETURNN's
    ``final_acc_tas_dict["choice_*"]`` and ``output_*``), oldest choice first; ``seq_len``:
    ``[batch * K_end]`` in the end choice's beam. Returns the stacked resolved labels
    ``[T, batch * K_latest]`` per choice and ``seq_len`` in the latest beam.
    """
    import tensorflow as tf
    from returnn.tf.util.basic import expand_dims_unbroadcast, nd_indices, select_src_beams

    in_frame = list(range(len(beams)))[::-1]  # RETURNN's choice_seq_in_frame: latest first
    max_seq_len = src_tas[0].size()
    for j in in_frame[: in_frame.index(end_index)][::-1]:  # choices newer than the end layer's
        seq_len = select_src_beams(seq_len, src_tas[j].read(max_seq_len - 1))
    k_latest = beams[-1]
    resolved = []
    for layer in range(len(beams)):  # one resolve loop per accumulated output layer, as RETURNN
        acc_ta = label_tas[layer]
        initial = expand_dims_unbroadcast(tf.range(0, k_latest), axis=0, dim=batch_dim)  # (batch, beam_out)
        new_ta = tf.TensorArray(tf.int32, size=max_seq_len, element_shape=tf.TensorShape([None]),
                                infer_shape=True)

        def transform(i: Any, idxs_exp: Any, ta: Any, acc_ta: Any = acc_ta, k: int = beams[layer]) -> Any:
            out = tf.reshape(acc_ta.read(i), [batch_dim, k])  # split_batch_beam
            out = tf.gather_nd(out, idxs_exp)  # (batch, beam_out)
            return ta.write(i, tf.reshape(out, [batch_dim * tf.shape(idxs_exp)[1]]))  # merge_batch_beam

        def body(i: Any, choice_beams: Any, ta: Any, layer: int = layer, transform: Any = transform) -> Any:
            for j in in_frame:
                idxs_exp = nd_indices(choice_beams)  # (batch, beam_out, 2)
                src = tf.gather_nd(src_tas[j].read(i), idxs_exp)  # (batch, beam_out)
                if j == layer:
                    ta = transform(i, idxs_exp, ta)
                choice_beams = src
            return i - 1, choice_beams, ta

        _, _, new_ta = tf.while_loop(lambda i, *_: tf.greater_equal(i, 0), body,
                                     (max_seq_len - 1, initial, new_ta))  # no gradients in a Session.run
        resolved.append(new_ta.stack())
    return resolved, seq_len


def end_beam_lengths(trace: SearchTrace) -> np.ndarray:
    """RETURNN's ``seq_len`` after the loop: counted during the search, in the end choice's beam of the
    last frame (before the resolve re-selects it into the latest beam). Not timed."""
    e = trace.end_index
    assert e is not None and trace.end_flags is not None
    k_last = trace.beam_sizes[trace.latest_choice]
    length, ended = np.zeros((trace.batch, k_last), np.int32), np.zeros((trace.batch, k_last), bool)
    for t in range(trace.frames):
        for j, c in enumerate(trace.choices):
            if t == trace.frames - 1 and j > e:
                break
            src = trace.src_beams[c][t]
            length, ended = np.take_along_axis(length, src, 1), np.take_along_axis(ended, src, 1)
            if j == e:
                now = trace.end_flags[t] | ended
                length = length + np.where(ended if trace.include_eos else now, 0, 1).astype(np.int32)
                ended = now
    return length


def worker(trace_path: str, out_path: str, repeats: int, threads: int) -> None:
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    trace = SearchTrace.load(trace_path)
    want = backtrack(trace)
    beams = [trace.beam_sizes[c] for c in trace.choices]
    t_max, batch = trace.frames, trace.batch
    from searchgraph.tf.backtrack import backtrack_tensors

    seq_len_end = end_beam_lengths(trace).reshape(-1)
    results: dict[str, Any] = {}
    graph = tf.Graph()
    with graph.as_default():
        def var(a: np.ndarray) -> Any:
            return tf.compat.v1.Variable(a, trainable=False, use_resource=True)

        labels = [var(trace.labels[c]) for c in trace.choices]
        srcs = [var(trace.src_beams[c]) for c in trace.choices]
        scores = var(trace.scores[trace.latest_choice])
        end = var(trace.end_flags)
        seq_len = var(seq_len_end)
        batch_dim = tf.shape(srcs[0])[1]

        def ta_of(x: Any) -> Any:  # the loop's accumulator: [batch * K] per frame, like RETURNN's
            flat = tf.reshape(x.read_value(), [t_max, -1])
            return tf.TensorArray(flat.dtype, size=t_max, element_shape=tf.TensorShape([None])).unstack(flat)

        src_tas = [tf.TensorArray(tf.int32, size=t_max).unstack(s.read_value()) for s in srcs]
        resolved, returnn_len = returnn_resolve(src_tas, [ta_of(x) for x in labels], beams, seq_len.read_value(),
                                                trace.end_index, batch_dim)
        ours = backtrack_tensors([x.read_value() for x in labels], [x.read_value() for x in srcs],
                                 scores.read_value(), end.read_value(), end_index=trace.end_index,
                                 include_eos=trace.include_eos)
        ours_fetch = (list(ours.sequences), ours.lengths, ours.scores, list(ours.beam_indices))
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                          inter_op_parallelism_threads=threads)
        with tf.compat.v1.Session(graph=graph, config=config) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            got_r, len_r = session.run((resolved, returnn_len))
            seqs = [np.moveaxis(x.reshape(t_max, batch, beams[-1]), 0, 2) for x in got_r]
            check("RETURNN's resolve", seqs, len_r.reshape(batch, beams[-1]), want, trace.choices)
            got_o = session.run(ours_fetch)
            check("ours (Session)", got_o[0], got_o[1], want, trace.choices)
            for _ in range(2):  # alternate, so drifting machine load hits both alike
                results.setdefault("returnn", []).extend(
                    timed(lambda: session.run((resolved, returnn_len)), repeats // 2))
                results.setdefault("session", []).extend(timed(lambda: session.run(ours_fetch), repeats // 2))
    Path(out_path).write_text(json.dumps({**results, "tf": tf.__version__}))


# ----------------------------------------------------------------------------------------------------
# Parent: the same trace in NumPy, TF eager and tf.function


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--beams", default="12,12", help="beam size per choice, oldest first")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="TF intra/inter-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=2, metavar=("TRACE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU figures unless the caller says otherwise
    if args.worker:
        worker(args.worker[0], args.worker[1], args.repeats, args.threads)
        return 0
    beams = [int(b) for b in args.beams.split(",")]
    trace = make_trace(args.frames, args.batch, beams, args.seed)
    want = backtrack(trace)
    print(f"trace: T={trace.frames}, batch {trace.batch}, beams {beams}, end flags on {trace.end_choice}; "
          f"{args.repeats} timed runs each, {args.threads} TF threads, CPU")
    with tempfile.TemporaryDirectory(prefix="bench-backtrack-") as tmp:
        path = trace.save(Path(tmp, "trace.npz"))
        out = Path(tmp, "out.json")
        proc = subprocess.run([sys.executable, __file__, "--worker", str(path), str(out),
                               "--repeats", str(args.repeats), "--threads", str(args.threads)],
                              check=False, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            print((proc.stdout + proc.stderr)[-3000:], file=sys.stderr)
            return 1
        times: dict[str, list[float]] = json.loads(out.read_text())
        tf_version = times.pop("tf")

    times["numpy"] = timed(lambda: backtrack(trace), args.repeats)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from searchgraph.tf.backtrack import backtrack as tf_backtrack
    from searchgraph.tf.backtrack import backtrack_function

    inputs = tf.nest.map_structure(tf.constant, trace.tensor_inputs())
    fn = backtrack_function(trace)
    xla_scan = backtrack_function(trace, jit_compile=True, method="scan")
    xla_doubling = backtrack_function(trace, jit_compile=True, method="doubling")
    for name, call in (("eager", lambda: tf_backtrack(inputs, end_index=trace.end_index)),
                       ("function", lambda: fn(inputs)),
                       ("xla_scan", lambda: xla_scan(inputs)),
                       ("xla_doubling", lambda: xla_doubling(inputs))):
        res = call()
        check(name, [s.numpy() for s in res.sequences], res.lengths.numpy(), want, trace.choices)
        times[name] = timed(lambda call=call: tf.nest.map_structure(lambda t: t.numpy(), call()), args.repeats)

    labels = {"returnn": "RETURNN's resolve (TF1 Session, graph mode)",
              "session": "ours: backtrack_tensors in a TF1 Session",
              "function": "ours: tf.function (backtrack_function)",
              "xla_scan": "ours: tf.function + XLA, scan",
              "xla_doubling": "ours: tf.function + XLA, doubling",
              "eager": "ours: TF eager",
              "numpy": "ours: NumPy reference"}
    base = statistics.median(times["returnn"])
    print(f"TensorFlow {tf_version}\n")
    print(f"{'':46}{'median ms':>10}{'best ms':>10}{'speed-up':>10}")
    for key, label in labels.items():
        med = statistics.median(times[key])
        print(f"{label:46}{med * 1e3:10.2f}{min(times[key]) * 1e3:10.2f}{base / med:9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
