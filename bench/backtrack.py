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
results to the host (ours: ``.numpy()`` of every output of the result, beam indices and scores
included). Our backtracking also computes the lengths from the end flags (work RETURNN does inside
the search loop) and the beam indices, so the comparison is conservative.

The subprocess stays up and the timing runs in ``--rounds`` rounds, each timing every contender
(RETURNN's and ours alike) for ``repeats / rounds`` calls in turn, after ``--warmup`` untimed calls
(the other contenders ran in between), so a machine whose load drifts (a shared CPU) weighs on all
of them alike. Both sides use ``--threads`` intra/inter-op threads.

Printed: median, quartiles and best wall time per call over ``--repeats`` runs (after warm-up), and
the speed-up against RETURNN's resolve (median / median), all from the same run.
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

from searchgraph.search.backtrack import BacktrackResult, backtrack
from searchgraph.search.trace import SearchTrace


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
          choices: list[str], beam_indices: list[np.ndarray] | None = None) -> None:
    """``sequences`` ``[batch, K_latest, T]`` per choice, ``lengths`` (and ``beam_indices`` ``[T, batch,
    K_latest]`` per choice, if given) equal the NumPy reference."""
    for c, seq in zip(choices, sequences):
        if not np.array_equal(seq, want.sequences[c]):
            raise SystemExit(f"{name}: sequences of {c} differ from the NumPy reference")
    if not np.array_equal(lengths, want.lengths):
        raise SystemExit(f"{name}: lengths differ from the NumPy reference")
    for c, idx in zip(choices, beam_indices or []):
        if not np.array_equal(idx, want.beam_indices[c]):
            raise SystemExit(f"{name}: beam indices of {c} differ from the NumPy reference")


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


def worker(trace_path: str, threads: int) -> None:
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    trace = SearchTrace.load(trace_path)
    want = backtrack(trace)
    beams = [trace.beam_sizes[c] for c in trace.choices]
    t_max, batch = trace.frames, trace.batch
    from searchgraph.tf.backtrack import backtrack_tensors

    seq_len_end = end_beam_lengths(trace).reshape(-1)
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
            calls = {"returnn": lambda: session.run((resolved, returnn_len)),
                     "session": lambda: session.run(ours_fetch)}
            reply({"ready": True, "tf": tf.__version__})
            for line in sys.stdin:  # "<name> <n> <warmup>": time n calls of name after warmup ones; EOF: done
                name, n, warmup = line.split()
                reply({"times": timed(calls[name], int(n), warmup=int(warmup))})


def reply(message: dict[str, Any]) -> None:
    """One JSON line to the parent (marked: TF or RETURNN may print to stdout too)."""
    sys.stdout.write(_MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


_MARK = "@@bench-backtrack@@ "


# ----------------------------------------------------------------------------------------------------
# Parent: the same trace in NumPy, TF eager and tf.function


def fetch(result: Any) -> list[np.ndarray]:
    """Every output of our TF result on the host (what ``Session.run`` hands RETURNN's side)."""
    import tensorflow as tf

    return [t.numpy() for t in tf.nest.flatten(result)]


def start_worker(path: Path, threads: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, __file__, "--worker", str(path), "--threads", str(threads)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, read_reply(proc)["tf"]


def read_reply(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    raise SystemExit(f"the RETURNN worker ended (exit code {proc.wait()}) before answering")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--beams", default="12,12", help="beam size per choice, oldest first")
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per contender")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds the calls are spread over")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before each contender's turn")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="TF intra/inter-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", metavar="TRACE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU figures unless the caller says otherwise
    if args.worker:
        worker(args.worker, args.threads)
        return 0
    beams = [int(b) for b in args.beams.split(",")]
    trace = make_trace(args.frames, args.batch, beams, args.seed)
    want = backtrack(trace)
    rounds = max(1, min(args.rounds, args.repeats))
    per_round = [args.repeats // rounds + (r < args.repeats % rounds) for r in range(rounds)]
    print(f"trace: T={trace.frames}, batch {trace.batch}, beams {beams}, end flags on {trace.end_choice}; "
          f"{args.repeats} timed runs each in {rounds} interleaved rounds, {args.threads} TF threads, CPU")

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from searchgraph.tf.backtrack import backtrack as tf_backtrack
    from searchgraph.tf.backtrack import backtrack_function

    inputs = tf.nest.map_structure(tf.constant, trace.tensor_inputs())
    fn = backtrack_function(trace)
    xla_scan = backtrack_function(trace, jit_compile=True)  # the default with XLA: method "scan"
    xla_doubling = backtrack_function(trace, jit_compile=True, method="doubling")
    ours: dict[str, Callable[[], Any]] = {
        "function": lambda: fn(inputs),
        "xla_scan": lambda: xla_scan(inputs),
        "xla_scan_tf_function": lambda: xla_scan.function(inputs),  # the same graph, tf.function's own call
        "xla_doubling": lambda: xla_doubling(inputs),
        "eager": lambda: tf_backtrack(inputs, end_index=trace.end_index),
    }
    for name, call in ours.items():
        res = call()
        check(name, [s.numpy() for s in res.sequences], res.lengths.numpy(), want, trace.choices,
              [i.numpy() for i in res.beam_indices])
    contenders: dict[str, Callable[[int, int], list[float]]] = {
        name: (lambda n, warmup, call=call: timed(lambda: fetch(call()), n, warmup))
        for name, call in ours.items()}
    contenders["numpy"] = lambda n, warmup: timed(lambda: backtrack(trace), n, warmup)

    with tempfile.TemporaryDirectory(prefix="bench-backtrack-") as tmp:
        proc, tf_version = start_worker(trace.save(Path(tmp, "trace.npz")), args.threads)
        assert proc.stdin is not None

        def remote(name: str) -> Callable[[int, int], list[float]]:
            def run(n: int, warmup: int) -> list[float]:
                proc.stdin.write(f"{name} {n} {warmup}\n")
                proc.stdin.flush()
                return read_reply(proc)["times"]
            return run

        contenders = {"returnn": remote("returnn"), "session": remote("session"), **contenders}
        times: dict[str, list[float]] = {name: [] for name in contenders}
        try:
            for n in per_round:  # every contender in turn, round after round, each turn warmed up alike
                for name, run in contenders.items():
                    times[name].extend(run(n, args.warmup))
        finally:
            proc.stdin.close()
            proc.wait()

    labels = {"returnn": "RETURNN's resolve (TF1 Session, graph mode)",
              "session": "ours: backtrack_tensors in a TF1 Session",
              "function": "ours: backtrack_function (no XLA)",
              "xla_scan": "ours: backtrack_function + XLA (scan)",
              "xla_scan_tf_function": "  same, called through tf.function",
              "xla_doubling": "ours: backtrack_function + XLA, doubling",
              "eager": "ours: TF eager",
              "numpy": "ours: NumPy reference"}
    base = statistics.median(times["returnn"])
    print(f"TensorFlow {tf_version}\n")
    print(f"{'':46}{'median ms':>10}{'p25-p75 ms':>14}{'best ms':>9}{'speed-up':>10}")
    for key, label in labels.items():
        t = np.array(times[key]) * 1e3
        med = float(np.median(t))
        quartiles = f"{np.percentile(t, 25):.2f}-{np.percentile(t, 75):.2f}"
        print(f"{label:46}{med:10.2f}{quartiles:>14}{t.min():9.2f}{base * 1e3 / med:9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
