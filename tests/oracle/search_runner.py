"""RETURNN's own beam search on a "table model", run in a subprocess (imports TensorFlow and RETURNN).

``python tests/oracle/search_runner.py SPECS.json OUT_DIR`` builds the table model of each spec (a
list of dicts with an ``id``) as a RETURNN network, loads the tables of :func:`tables` into its
parameters, runs the search once on the CPU and writes RETURNN's n-best output to
``OUT_DIR/<id>.npz``: per choice ``seq_<j>`` ``[T, batch*beam]`` (time-major, the latest choice's
beam), ``lengths`` ``[batch*beam]``, ``scores`` ``[batch, beam]``.

The table model (``SPEC``: ``vocabs``, ``beams``, ``frames``, ``batch``, ``seed``, optional
``length_normalization``, ``include_eos``, ``end_penalty``, ``threads`` (default 1), ``timing_runs``: also time that many
``session.run`` calls after two warm-up runs, written as ``seconds``): choice ``j`` of a frame scores label ``y`` as

    log_softmax(W_j[prev + V_prev * min(t, frames - 1)] + x_j[b])[y]

(with ``state``: H, choice 0 also adds ``s @ Wsv`` for a recurrent ``s = tanh([prev:s, W_0[...]] @ Ws)``)
with ``prev`` the label of the choice before it (the previous frame's last choice for ``j = 0``,
label 0 at the start), ``W_j`` a fixed random table and ``x_j`` a per-batch-entry random offset (an
outside input). The end is the last choice's label 0. :func:`tables` is pure NumPy, shared with the
test that runs the same model through ``searchgraph.tf.search``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def tables(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """``W_j`` ``[frames * V_prev, V_j]`` and ``x_j`` ``[batch, V_j]`` for every choice (float32)."""
    rnd = np.random.RandomState(spec["seed"])
    vocabs, frames, batch = spec["vocabs"], spec["frames"], spec["batch"]
    out = {}
    for j, v in enumerate(vocabs):
        v_prev = vocabs[j - 1]
        w = rnd.normal(size=(frames * v_prev, v)) * 2.0
        w[:, 0] -= spec.get("end_penalty", 1.0)  # label 0 ends: less likely, longer hypotheses
        out[f"W{j}"] = w.astype(np.float32)
        out[f"x{j}"] = rnd.normal(size=(batch, v)).astype(np.float32)
    h = spec.get("state", 0)
    if h:  # s = tanh([prev:s, w0] @ Ws); choice 0 also gets s @ Wsv
        out["Ws"] = (rnd.normal(size=(h + vocabs[0], h)) / np.sqrt(h + vocabs[0])).astype(np.float32)
        out["Wsv"] = (rnd.normal(size=(h, vocabs[0])) * 2.0 / np.sqrt(h)).astype(np.float32)
    return out


def network(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The RETURNN net dict and extern_data of the table model."""
    vocabs, beams, frames = spec["vocabs"], spec["beams"], spec["frames"]
    n = len(vocabs)
    unit: dict[str, Any] = {}
    for j, v in enumerate(vocabs):
        v_prev = vocabs[j - 1]
        prev = f"prev:c{n - 1}" if j == 0 else f"c{j - 1}"
        unit[f"idx{j}"] = {
            "class": "eval", "from": [prev],
            "eval": f"source(0) + {v_prev} * tf.minimum(self.network.get_rec_step_index(), {frames - 1})",
            "out_type": {"dim": frames * v_prev, "sparse": True, "dtype": "int32"}}
        unit[f"w{j}"] = {"class": "linear", "activation": None, "with_bias": False, "from": f"idx{j}",
                         "n_out": v}
        unit[f"sum{j}"] = {"class": "combine", "kind": "add", "from": [f"w{j}", f"base:x{j}"]}
        if j == 0 and spec.get("state"):
            unit["s"] = {"class": "linear", "activation": "tanh", "with_bias": False, "from": ["prev:s", "w0"],
                         "n_out": spec["state"]}
            unit["sv"] = {"class": "linear", "activation": None, "with_bias": False, "from": "s", "n_out": v}
            unit["sum0"]["from"].append("sv")
        unit[f"logp{j}"] = {"class": "activation", "activation": "log_softmax", "from": f"sum{j}"}
        unit[f"c{j}"] = {"class": "choice", "from": f"logp{j}", "input_type": "log_prob",
                         "beam_size": beams[j], "target": f"classes{j}", "initial_output": 0,
                         "length_normalization": spec.get("length_normalization", True)}
        unit[f"c{j}_out"] = {"class": "copy", "from": f"c{j}", "is_output_layer": True}
    unit["end"] = {"class": "compare", "from": f"c{n - 1}", "value": 0, "kind": "equal"}
    unit["output"] = {"class": "copy", "from": f"c{n - 1}"}
    net: dict[str, Any] = {f"x{j}": {"class": "copy", "from": f"data:xin{j}"} for j in range(n)}
    net["output"] = {"class": "rec", "from": [], "unit": unit, "max_seq_len": frames,
                     "include_eos": spec.get("include_eos", False), "target": f"classes{n - 1}"}
    extern = {f"xin{j}": {"shape": (v,), "time_dim_axis": None, "available_for_inference": True}
              for j, v in enumerate(vocabs)}
    extern["data"] = {"shape": (None, 1)}
    for j, v in enumerate(vocabs):
        extern[f"classes{j}"] = {"dim": v, "sparse": True, "shape": (None,)}
    return net, extern


def run(spec: dict[str, Any], on_ready: Callable[[dict[str, np.ndarray], Callable[[], float]], None] | None = None
        ) -> dict[str, np.ndarray]:
    """Build and run RETURNN's search; the arrays described in the module docstring.

    ``on_ready(results, run_once)``, if given, is called with the session still open;
    ``run_once()`` runs the search again and returns its wall time in seconds.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from returnn.config import Config
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    BehaviorVersion._behavior_version = None
    net_dict, extern = network(spec)
    tabs = tables(spec)
    n = len(spec["vocabs"])
    graph = tf.Graph()
    with graph.as_default():
        config = Config()
        config.update({"extern_data": extern})
        ext = ExternData()
        ext.init_from_config(config, auto_create_placeholders=True)
        net = TFNetwork(config=config, extern_data=ext, search_flag=True, train_flag=False, eval_flag=False)
        net.construct_from_dict(net_dict)
        rec = net.get_layer("output")
        fetches: dict[str, Any] = {f"seq_{j}": net.get_layer(f"output/c{j}_out").output
                                   .copy_as_time_batch_major().placeholder for j in range(n)}
        fetches["lengths"] = rec.output.get_sequence_lengths()
        fetches["scores"] = rec.get_search_choices().beam_scores
        feed = {}
        for j in range(n):
            feed[ext.data[f"xin{j}"].placeholder] = tabs[f"x{j}"]
        batch = spec["batch"]
        feed[ext.data["data"].placeholder] = np.zeros((batch, 1, 1), np.float32)
        feed[ext.data["data"].get_sequence_lengths()] = np.ones((batch,), np.int32)
        with tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=spec.get("threads", 1),
                inter_op_parallelism_threads=spec.get("threads", 1))) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            params = {p.name: p for p in net.get_params_list()}
            loads = {f"/w{j}/W": f"W{j}" for j in range(n)}
            if spec.get("state"):
                loads.update({"/s/W": "Ws", "/sv/W": "Wsv"})
            for suffix, key in loads.items():
                (name,) = [k for k in params if suffix in k]
                params[name].load(tabs[key], session=session)
            values = session.run(fetches, feed_dict=feed)
            seconds = []
            for i in range(spec.get("timing_runs", 0) + (2 if spec.get("timing_runs") else 0)):
                start = time.perf_counter()
                session.run(fetches, feed_dict=feed)
                if i >= 2:  # two warm-up runs
                    seconds.append(time.perf_counter() - start)
            if on_ready is not None:
                def run_once() -> float:
                    start = time.perf_counter()
                    session.run(fetches, feed_dict=feed)
                    return time.perf_counter() - start
                on_ready({k: np.asarray(v) for k, v in values.items()}, run_once)
    BehaviorVersion._behavior_version = None
    out = {k: np.asarray(v) for k, v in values.items()}
    if seconds:
        out["seconds"] = np.asarray(seconds)
    return out


def _save(arrays: dict[str, np.ndarray], path: str) -> None:
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def serve(spec: dict[str, Any], out_dir: str) -> None:
    """Build once, write the results, then answer ``run`` lines on stdin with the seconds of one
    search (``quit`` or end of input stops): for benchmarks that interleave implementations."""
    def loop(values: dict[str, np.ndarray], run_once: Callable[[], float]) -> None:
        _save(values, os.path.join(out_dir, f"{spec['id']}.npz"))
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            print(json.dumps(run_once()), flush=True)

    run(spec, on_ready=loop)


def main(argv: list[str]) -> int:
    """CLI entry point: ``SPECS.json OUT_DIR``, or ``--serve SPECS.json OUT_DIR`` (first spec)."""
    if len(argv) == 4 and argv[1] == "--serve":
        with open(argv[2]) as f:
            serve(json.load(f)[0], argv[3])
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        specs = json.load(f)
    for spec in specs:
        _save(run(spec), os.path.join(argv[2], f"{spec['id']}.npz"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
