"""Batch sharding through ``tf.distribute.MirroredStrategy`` gives the single-device results.

Logical devices must be configured before TensorFlow initialises, so the check runs in a fresh
subprocess: this file, run as a script, splits the CPU into two logical devices, searches table
models (one and two choices per frame, with an end and length normalisation) once on one device
and once sharded over both, and prints the comparison as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.tf

CASES: list[dict[str, Any]] = [
    {"id": "one", "vocabs": [5], "beams": [4], "frames": 7, "batch": 5, "seed": 3},
    {"id": "two", "vocabs": [4, 3], "beams": [3, 4], "frames": 6, "batch": 4, "seed": 4},
    {"id": "one_noln", "vocabs": [4], "beams": [3], "frames": 6, "batch": 3, "seed": 5,
     "length_normalization": False},
    {"id": "early_end", "vocabs": [6], "beams": [2], "frames": 9, "batch": 4, "seed": 6, "end_penalty": -3.0},
]


def _worker() -> dict[str, Any]:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, str(ROOT))
    from searchgraph.tf.search import BeamSearch
    from tests.oracle.search_runner import tables
    from tests.oracle.test_search_oracle import table_step

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    report: dict[str, Any] = {"devices": devices, "cases": {}}
    for spec in CASES:
        tabs = tables(spec)
        n = len(spec["vocabs"])
        search = BeamSearch(table_step(spec, tabs), inputs=[f"x{j}" for j in range(n)], max_len=spec["frames"])
        inputs = {f"x{j}": tabs[f"x{j}"] for j in range(n)}
        with tf.device(devices[0]):
            single = search(inputs).numpy()
        result = search.distributed(strategy, inputs)
        sharded = result.numpy()
        report["cases"][spec["id"]] = {
            "sequences_equal": all(np.array_equal(single["sequences"][c], sharded["sequences"][c][..., :single[
                "sequences"][c].shape[-1]]) and not sharded["sequences"][c][..., single["sequences"][c].shape[-1]:].any()
                for c in single["sequences"]),
            "lengths_equal": bool(np.array_equal(single["lengths"], sharded["lengths"])),
            "scores_equal": bool(np.array_equal(single["scores"], sharded["scores"])),
            "scores_max_diff": float(np.max(np.abs(single["scores"] - sharded["scores"]))),
            "frames": [single["frames"], sharded["frames"]],
            "shard_frames": result.shard_frames,
            "lengths": single["lengths"].tolist(),
        }
    return report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    try:
        import tensorflow  # noqa: F401
    except ImportError:  # pragma: no cover - CI installs TensorFlow
        need(False, "TensorFlow is not installed")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_logical_devices(report: dict[str, Any]) -> None:
    assert len(report["devices"]) == 2


@pytest.mark.parametrize("case", [c["id"] for c in CASES])
def test_sharded_equals_single_device(report: dict[str, Any], case: str) -> None:
    got = report["cases"][case]
    assert got["sequences_equal"]
    assert got["lengths_equal"]
    # TF's CPU kernels may round the last bit differently for another batch size (log_softmax)
    np.testing.assert_allclose(got["scores_max_diff"], 0.0, atol=1e-6)
    assert got["frames"][0] == got["frames"][1]


def test_a_shard_stops_early_and_is_extended(report: dict[str, Any]) -> None:
    """In ``early_end`` one replica ends frames before the other; the merge extends it exactly."""
    got = report["cases"]["early_end"]
    assert min(got["shard_frames"]) < max(got["shard_frames"]) == got["frames"][0]
    assert got["sequences_equal"] and got["lengths_equal"]


if __name__ == "__main__":
    print(json.dumps(_worker()))
