"""``searchgraph.tf.search`` finds the same n-best lists, lengths and scores as RETURNN's own search.

The model is a "table model" (``search_runner.py``): each choice's log-probabilities come from a
fixed random table indexed by the previous label and the frame, plus a per-batch-entry offset from
outside the loop. RETURNN runs it as a net dict in a subprocess on the CPU (results cached in
``.oracle-cache/search/`` under a hash of the spec, the runner's source and the versions); the same
model runs here as a step graph. One, two and three choices per frame, several beam sizes, with
and without length normalisation, with and without ``include_eos``, and with a recurrent float
state (``prev:s``, re-selected through every choice of the frame at its end).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.oracle.oracle import CACHE_DIR, require_returnn, returnn_version, tensorflow_version
from tests.oracle.search_runner import tables

pytestmark = [pytest.mark.returnn, pytest.mark.tf]

RUNNER = Path(__file__).with_name("search_runner.py")
ROOT = Path(__file__).resolve().parents[2]

SPECS: list[dict[str, Any]] = [
    {"id": "one_k3", "vocabs": [5], "beams": [3], "frames": 6, "batch": 3, "seed": 11},
    {"id": "one_k8_noln", "vocabs": [4], "beams": [8], "frames": 5, "batch": 2, "seed": 12,
     "length_normalization": False},
    {"id": "one_k4_eos", "vocabs": [6], "beams": [4], "frames": 7, "batch": 3, "seed": 13, "include_eos": True},
    {"id": "one_k12_wide", "vocabs": [3], "beams": [12], "frames": 4, "batch": 2, "seed": 14},
    {"id": "two_k3_k5", "vocabs": [4, 5], "beams": [3, 5], "frames": 5, "batch": 3, "seed": 21},
    {"id": "two_k4_k2", "vocabs": [3, 6], "beams": [4, 2], "frames": 6, "batch": 2, "seed": 22},
    {"id": "three_k2_k3_k4", "vocabs": [4, 3, 5], "beams": [2, 3, 4], "frames": 5, "batch": 3, "seed": 31},
    {"id": "three_k5_k1_k3", "vocabs": [3, 4, 3], "beams": [5, 1, 3], "frames": 4, "batch": 2, "seed": 32,
     "include_eos": True},
    {"id": "state_one_k4", "vocabs": [6], "beams": [4], "frames": 6, "batch": 3, "seed": 41, "state": 5},
    {"id": "state_two_k3_k4", "vocabs": [4, 5], "beams": [3, 4], "frames": 5, "batch": 2, "seed": 42, "state": 3},
    {"id": "state_three_k2_k3_k2", "vocabs": [3, 4, 3], "beams": [2, 3, 2], "frames": 5, "batch": 2, "seed": 43,
     "state": 4},
]


def _key(spec: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    h.update(RUNNER.read_bytes())
    h.update(f"returnn={returnn_version()} tf={tensorflow_version()} py={sys.version_info[:2]}".encode())
    return h.hexdigest()[:32]


def returnn_results(specs: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """RETURNN's results per spec id, from the cache or one subprocess for all missing ones."""
    cache = CACHE_DIR / "search"
    missing = [s for s in specs if not (cache / f"{_key(s)}.npz").exists()]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            spec_file = Path(tmp) / "specs.json"
            spec_file.write_text(json.dumps(missing))
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3",
                   "PYTHONPATH": str(ROOT)}
            proc = subprocess.run([sys.executable, str(RUNNER), str(spec_file), tmp], check=False, env=env,
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"RETURNN search runner failed:\n{proc.stderr[-3000:]}")
            for s in missing:
                os.replace(Path(tmp) / f"{s['id']}.npz", cache / f"{_key(s)}.npz")
    out = {}
    for s in specs:
        with np.load(cache / f"{_key(s)}.npz") as data:
            out[s["id"]] = {k: data[k] for k in data.files}
    return out


@pytest.fixture(scope="module")
def oracle() -> dict[str, dict[str, np.ndarray]]:
    require_returnn()
    return returnn_results(SPECS)


def table_step(spec: dict[str, Any], tabs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The table model of ``search_runner.network`` as a step graph."""
    import tensorflow as tf

    vocabs, frames = spec["vocabs"], spec["frames"]
    n = len(vocabs)
    step: dict[str, Any] = {}
    for j, v in enumerate(vocabs):
        v_prev, w = vocabs[j - 1], tf.constant(tabs[f"W{j}"])
        prev = f"prev:c{n - 1}" if j == 0 else f"c{j - 1}"

        def logp(y: Any, i: Any, x: Any, w: Any = w, v_prev: int = v_prev) -> Any:
            idx = y + v_prev * tf.minimum(i, frames - 1)
            return tf.nn.log_softmax(tf.gather(w, idx) + x)

        if j == 0 and spec.get("state"):
            ws, wsv = tf.constant(tabs["Ws"]), tf.constant(tabs["Wsv"])

            def row(y: Any, i: Any, w: Any = w, v_prev: int = v_prev) -> Any:
                return tf.gather(w, y + v_prev * tf.minimum(i, frames - 1))

            def logp_state(w0: Any, x: Any, s: Any, wsv: Any = wsv) -> Any:
                return tf.nn.log_softmax(w0 + x + tf.matmul(s, wsv))

            def cell(s: Any, w0: Any, ws: Any = ws) -> Any:
                return tf.tanh(tf.matmul(tf.concat([s, w0], axis=-1), ws))

            step["w0"] = {"fn": row, "from": [prev, ":i"]}
            step["s"] = {"fn": cell, "from": ["prev:s", "w0"], "initial": np.zeros(spec["state"], np.float32)}
            step["logp0"] = {"fn": logp_state, "from": ["w0", "base:x0", "s"]}
        else:
            step[f"logp{j}"] = {"fn": logp, "from": [prev, ":i", f"base:x{j}"]}
        step[f"c{j}"] = {"class": "choice", "from": f"logp{j}", "beam_size": spec["beams"][j],
                         "input_type": "log_prob", "length_normalization": spec.get("length_normalization", True)}
    step["end"] = {"fn": lambda y: tf.equal(y, 0), "from": [f"c{n - 1}"]}
    return step


def run_ours(spec: dict[str, Any]) -> Any:
    from searchgraph.tf.search import BeamSearch

    tabs = tables(spec)
    n = len(spec["vocabs"])
    search = BeamSearch(table_step(spec, tabs), inputs=[f"x{j}" for j in range(n)], max_len=spec["frames"],
                        include_eos=spec.get("include_eos", False))
    return search({f"x{j}": tabs[f"x{j}"] for j in range(n)})


@pytest.mark.parametrize("spec", SPECS, ids=[s["id"] for s in SPECS])
def test_same_nbest_as_returnn(spec: dict[str, Any], oracle: dict[str, dict[str, np.ndarray]]) -> None:
    ref = oracle[spec["id"]]
    ours = run_ours(spec)
    n, batch, k = len(spec["vocabs"]), spec["batch"], spec["beams"][-1]
    lengths = np.asarray(ours.lengths)
    np.testing.assert_array_equal(lengths, ref["lengths"].reshape(batch, k))
    np.testing.assert_allclose(np.asarray(ours.scores), ref["scores"], rtol=1e-6, atol=0)
    for j in range(n):
        theirs = ref[f"seq_{j}"].T.reshape(batch, k, -1)  # [T, B*K] -> [B, K, T]
        mine = np.asarray(ours.sequences[f"c{j}"])
        t = theirs.shape[-1]
        assert mine.shape[-1] >= t
        # RETURNN's resolved output stops at max(seq_len); compare every label within the lengths
        span = lengths + (0 if spec.get("include_eos") else 1)
        for b in range(batch):
            for h in range(k):
                m = min(int(span[b, h]), t)
                assert mine[b, h, :m].tolist() == theirs[b, h, :m].tolist(), (j, b, h)


def test_scores_are_bit_exact(oracle: dict[str, dict[str, np.ndarray]]) -> None:
    """Same TF ops in the same order: the single-choice scores agree to the last bit."""
    import tensorflow as tf

    spec = SPECS[0]
    with tf.device("/CPU:0"):  # RETURNN ran on the CPU: same kernels
        ours = run_ours(spec)
    np.testing.assert_array_equal(np.asarray(ours.scores), oracle[spec["id"]]["scores"])
