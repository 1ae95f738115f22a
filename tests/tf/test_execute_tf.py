"""Executing translation plans on tensors equals applying RETURNN's steps one by one.

The reference is plain NumPy: tiling repeats each batch row, selection gathers
``x[b, src_beams[b, k]]`` once per choice, oldest first (spec §4.3–§4.4).
"""

from __future__ import annotations

import numpy as np
import pytest

from searchgraph import analyze
from searchgraph.analysis.plan import InputPlan, plan_for, plan_network
from tests.conftest import need
from tests.test_plan import MULTI

try:
    import tensorflow as tf

    from searchgraph.tf import execute_plan
except ImportError:  # pragma: no cover - CI installs TensorFlow
    tf = None

pytestmark = pytest.mark.tf
BATCH = 4


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    need(tf is not None, "TensorFlow is not installed")


def _reference(x: np.ndarray, item: InputPlan, src_beams: dict[str, np.ndarray]) -> np.ndarray:
    if item.action == "keep":
        return x
    if item.action == "tile":
        return np.repeat(x, item.size, axis=0)
    for step in item.steps:  # RETURNN: one select_src_beams per choice, oldest first
        sb = src_beams[step.choice]
        per_batch = x.reshape((BATCH, step.size_before) + x.shape[1:])
        x = per_batch[np.arange(BATCH)[:, None], sb].reshape((BATCH * step.size_after,) + x.shape[1:])
    return x


def _random_src_beams(rng: np.random.Generator, analysis) -> dict[str, np.ndarray]:
    """A src_beams array for every choice (and its prev: frame), into the beam it was chosen from."""
    out = {}
    plan = plan_network(analysis)
    steps = [s for lp in plan.layers.values() for i in lp.inputs for s in i.steps] + \
        [s for f in plan.frames for s in f.plan.steps]
    for step in steps:
        out.setdefault(step.choice, rng.integers(0, step.size_before, (BATCH, step.size_after),
                                                 dtype=np.int32))
    return out


def _size_before(item: InputPlan, analysis) -> int:
    if item.action == "select":
        return item.steps[0].size_before
    if item.action == "tile":
        return 1
    lb = analysis.layers.get(item.input)
    return lb.beam.size if lb is not None and lb.beam is not None else (item.size or 1)


@pytest.mark.parametrize("layer", ["output/comb1", "output/comb2", "output/lin2", "output/att",
                                   "output/prob2"])
def test_layer_plans_match_stepwise_reference(layer: str) -> None:
    rng = np.random.default_rng(0)
    analysis = analyze(MULTI)
    plan = plan_for(analysis, layer)
    src_beams = _random_src_beams(rng, analysis)
    tensors = {i.input: rng.normal(size=(BATCH * _size_before(i, analysis), 3, 2)).astype(np.float32)
               for i in plan.inputs}
    got = execute_plan(plan, {k: tf.constant(v) for k, v in tensors.items()},
                       {k: tf.constant(v) for k, v in src_beams.items()})
    for item in plan.inputs:
        want = _reference(tensors[item.input], item, src_beams)
        np.testing.assert_array_equal(got[item.input].numpy(), want)
        assert got[item.input].shape[0] == BATCH * plan.size


def _compiled(frame, beams):
    def run(x):
        return execute_plan(frame, {frame.layer: x}, beams)

    return tf.function(run, input_signature=[tf.TensorSpec([None, 5], tf.int32)])


def test_frame_plans_and_tf_function() -> None:
    rng = np.random.default_rng(1)
    analysis = analyze(MULTI)
    frames = plan_network(analysis).frames
    assert frames
    src_beams = _random_src_beams(rng, analysis)
    beams = {k: tf.constant(v) for k, v in src_beams.items()}
    for frame in frames:
        x = rng.integers(0, 100, size=(BATCH * frame.plan.steps[0].size_before, 5)).astype(np.int32)
        run = _compiled(frame, beams)
        got = run(tf.constant(x))[frame.layer]
        np.testing.assert_array_equal(got.numpy(), _reference(x, frame.plan, src_beams))


def test_missing_inputs_are_reported() -> None:
    analysis = analyze(MULTI)
    plan = plan_for(analysis, "output/lin2")
    with pytest.raises(KeyError, match="no tensor given"):
        execute_plan(plan, {}, {})
    prev = next(i for i in plan.inputs if i.action == "select")
    with pytest.raises(KeyError, match="no src_beams given"):
        execute_plan(prev, {prev.input: tf.zeros([BATCH * 3, 2])}, {})
