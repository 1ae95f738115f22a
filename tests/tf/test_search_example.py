"""``examples/attention_search.py`` runs as the README shows, and its n-best lists are right.

Each hypothesis the search returns is re-scored by forced decoding: the decoder's own step
functions run along that label sequence alone (batch 1, no beam), and the log-probabilities are
combined by RETURNN's length normalisation rule. That must give the score the search reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "attention_search.py"
pytestmark = pytest.mark.tf

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - CI installs TensorFlow
    tf = None


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    need(tf is not None, "TensorFlow is not installed")


def _example():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import attention_search
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    return attention_search


def test_runs_from_the_command_line() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--beam", "3", "--batch", "2", "--plan"],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "frame end: output/s  select via output/output" in out
    assert "enc  tile ×3" in out
    for b in range(2):
        block = out.split(f"sentence {b}:")[1].split("sentence")[0]
        ranks = re.findall(r"^\s+(\d)\.\s+(-?\d+\.\d+)", block, re.MULTILINE)
        assert [int(r) for r, _ in ranks] == [1, 2, 3]
        scores = [float(s) for _, s in ranks]
        assert scores == sorted(scores, reverse=True)


def test_nbest_scores_match_forced_decoding() -> None:
    ex = _example()
    from searchgraph.tf.search import BeamSearch

    step = ex.decoder_step(3)
    batch, max_len = 3, 10
    search = BeamSearch(step, inputs=["enc"], max_len=max_len)
    enc = np.random.default_rng(4).normal(size=(batch, ex.ENC_TIME, ex.HIDDEN)).astype(np.float32)
    result = search({"enc": enc})
    frames = int(result.frames)
    lengths = np.asarray(result.lengths)
    norm = lengths.max() + 1
    assert (lengths < frames).any() and (lengths > 0).any()  # ended and unfinished / non-empty ones
    for b in range(batch):
        for labels, score in result.nbest(b):
            s = tf.zeros([1, ex.HIDDEN])
            ctx = tf.zeros([1, ex.HIDDEN])
            y = tf.zeros([1], tf.int32)
            total = 0.0
            path = labels + ([0] if len(labels) < frames else [])  # the end label is scored too
            for lab in path:
                s = step["s"]["fn"](y, s, ctx)
                ctx = step["ctx"]["fn"](s, enc[b:b + 1])
                total += float(step["logp"]["fn"](s, ctx)[0, lab])
                y = tf.constant([lab])
            if len(labels) < frames:  # ended: scaled by (t+1)/t for every later frame
                total *= frames / (len(labels) + 1)
            np.testing.assert_allclose(score, total / norm, rtol=2e-5)
