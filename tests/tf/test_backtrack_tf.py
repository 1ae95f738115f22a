"""``searchgraph.tf.backtrack``: the TF backtracking gives exactly the NumPy reference's result.

Eagerly, inside a :func:`tf.function` with unknown ``T`` and batch (one trace for all shapes), and
the TF1 way in a ``tf.Graph``/``Session`` (as RETURNN runs). RETURNN itself is not imported here
(importing ``returnn.tf`` switches the process to graph mode; see ``test_beams_tf.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgraph.search.backtrack import backtrack as np_backtrack
from tests.conftest import need
from tests.test_backtrack import C1, C2, LAB1, LAB2, SRC1, SRC2, make, random_trace, traces

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - exercised only where TF is missing
    tf = None

pytestmark = pytest.mark.tf

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    need(tf is not None, "TensorFlow is not installed")
    assert tf.executing_eagerly(), "eager execution is off in this process (returnn.tf imported unguarded?)"


def _tf():
    from searchgraph.tf import backtrack
    from searchgraph.tf.backtrack import backtrack_function, backtrack_tensors

    return backtrack, backtrack_function, backtrack_tensors


def assert_same(tf_res, trace) -> None:
    """``tf_res`` (a TFBacktrackResult of tensors or arrays) equals the NumPy reference exactly."""
    want = np_backtrack(trace)
    for c, got in zip(trace.choices, tf_res.sequences):
        got = np.asarray(got)
        assert got.shape == want.sequences[c].shape and got.dtype == want.sequences[c].dtype
        np.testing.assert_array_equal(got, want.sequences[c], err_msg=c)
    for c, got in zip(trace.choices, tf_res.beam_indices):
        np.testing.assert_array_equal(np.asarray(got), want.beam_indices[c], err_msg=c)
    lengths = np.asarray(tf_res.lengths)
    assert lengths.dtype == np.int32
    np.testing.assert_array_equal(lengths, want.lengths)
    scores = np.asarray(tf_res.scores)
    assert scores.dtype == want.scores.dtype and scores.tobytes() == want.scores.tobytes()



def _draw_trace(data: Any, functions: dict[Any, Any], *, max_frames: int, max_batch: int) -> tuple[Any, Any]:
    """A random trace for one of ``functions``' configurations ``(beam sizes, end choice, include_eos)``."""
    config = data.draw(st.sampled_from(list(functions)))
    sizes, end, eos = config
    tr = random_trace(data.draw(st.integers(0, 2**32 - 1)), n_choices=len(sizes), beam_sizes=list(sizes),
                      frames=data.draw(st.integers(1, max_frames)), batch=data.draw(st.integers(1, max_batch)),
                      end=end, include_eos=eos, first_beam_one=data.draw(st.booleans()))
    return config, tr

class TestEager:
    @EXAMPLES
    @given(tr=traces(max_choices=3, max_frames=12, max_batch=8))
    def test_random_traces_equal_numpy(self, tr) -> None:
        backtrack, _, _ = _tf()
        assert_same(backtrack(tr), tr)
        assert_same(backtrack(tr, method="scan"), tr)

    def test_two_choices_by_hand(self) -> None:
        backtrack, _, _ = _tf()
        end = np.array([[[False, False, True]], [[False, True, False]]])
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], end=end, end_choice=C1)
        res = backtrack(tr)
        assert res.by_choice(tr.choices)[C2].numpy().tolist() == [[[21, 40], [21, 41], [24, 42], [23, 43],
                                                                   [23, 44]]]
        assert res.lengths.numpy().tolist() == [[1, 1, 2, 0, 0]]
        assert_same(res, tr)

    def test_mapping_input_and_errors(self) -> None:
        backtrack, _, backtrack_tensors = _tf()
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2])
        assert_same(backtrack(tr.tensor_inputs()), tr)
        with pytest.raises(ValueError, match="unknown keys"):
            backtrack({**tr.tensor_inputs(), "lengths": 1})
        with pytest.raises(ValueError, match="given together"):
            backtrack(tr.tensor_inputs(), end_index=0)
        with pytest.raises(ValueError, match="come from the SearchTrace"):
            backtrack(tr, include_eos=True)
        with pytest.raises(TypeError, match="SearchTrace or a mapping"):
            backtrack([1, 2])
        with pytest.raises(ValueError, match="at least one choice"):
            backtrack_tensors([], [], tf.zeros([1, 1, 1]))
        with pytest.raises(TypeError, match="integer"):
            backtrack_tensors([tf.zeros([1, 1, 1])], [tf.zeros([1, 1, 1], tf.int32)], tf.zeros([1, 1, 1]))


class TestTFFunction:
    @pytest.mark.parametrize("config", [
        {"n_choices": 1, "beam_sizes": [4], "end": 0, "include_eos": False},
        {"n_choices": 2, "beam_sizes": [3, 5], "end": 0, "include_eos": True},
        {"n_choices": 3, "beam_sizes": [2, 1, 3], "end": 1, "include_eos": False},
        {"n_choices": 2, "beam_sizes": [3, 2], "end": None, "include_eos": False},
    ])
    @pytest.mark.parametrize("method", ["doubling", "scan"])
    def test_one_trace_for_all_shapes(self, config, method) -> None:
        _, backtrack_function, _ = _tf()
        rng = np.random.default_rng(len(config["beam_sizes"]))
        shapes = [(1, 1), (12, 8), (5, 3), (1, 8), (12, 1), (7, 2)]
        fn = None
        for i, (frames, batch) in enumerate(shapes):
            tr = random_trace(int(rng.integers(2**31)), frames=frames, batch=batch, first_beam_one=i % 2 == 0,
                              end_prob=0.3, **config)
            fn = fn or backtrack_function(tr, method=method)
            res = fn(tr.tensor_inputs())
            assert_same(tf.nest.map_structure(lambda t: t.numpy(), res), tr)
        assert fn.experimental_get_tracing_count() == 1
        graph = fn.get_concrete_function().graph
        assert all(s.shape.as_list()[:2] == [None, None] for s in graph.inputs[:2])

    @pytest.mark.parametrize("method", ["scan", "doubling"])
    @pytest.mark.parametrize("config", [
        {"n_choices": 2, "beam_sizes": [3, 5], "end": 0, "include_eos": False},
        {"n_choices": 3, "beam_sizes": [2, 1, 3], "end": 1, "include_eos": True},
        {"n_choices": 2, "beam_sizes": [3, 2], "end": None, "include_eos": False},
    ])
    def test_xla_compiled(self, method, config) -> None:
        """``jit_compile=True`` (fixed loop-variable shapes for XLA), both methods, several shapes: the
        scan's blocks of ``_BLOCK`` frames, none (``T < _BLOCK``), exactly one, and blocks plus a rest."""
        _, backtrack_function, _ = _tf()
        from searchgraph.tf.backtrack import _BLOCK

        rng = np.random.default_rng(3)
        fn = None
        for frames, batch in [(1, 1), (_BLOCK - 1, 3), (_BLOCK, 2), (2 * _BLOCK + 1, 2)]:
            tr = random_trace(int(rng.integers(2**31)), frames=frames, batch=batch, first_beam_one=True,
                              end_prob=0.3, **config)
            fn = fn or backtrack_function(tr, jit_compile=True, method=method)
            assert_same(tf.nest.map_structure(lambda t: t.numpy(), fn(tr.tensor_inputs())), tr)
            tensors = tf.nest.map_structure(tf.constant, tr.tensor_inputs())
            assert_same(tf.nest.map_structure(lambda t: t.numpy(), fn(tensors)), tr)  # the lean call
        assert fn.experimental_get_tracing_count() == 1

    @settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_random_traces_xla_scan(self, data) -> None:
        """The XLA scan (the default with ``jit_compile=True``) on random traces, up to 3 blocks."""
        _, backtrack_function, _ = _tf()
        config, tr = _draw_trace(data, _XLA_FUNCTIONS, max_frames=20, max_batch=4)
        if _XLA_FUNCTIONS[config] is None:
            _XLA_FUNCTIONS[config] = backtrack_function(tr, jit_compile=True)
        tensors = tf.nest.map_structure(tf.constant, tr.tensor_inputs())
        assert_same(tf.nest.map_structure(lambda t: t.numpy(), _XLA_FUNCTIONS[config](tensors)), tr)

    def test_lean_call_and_fallbacks(self) -> None:
        """Eager tensors matching the signature take the direct concrete-function call (same graph, same
        result); anything else goes through the tf.function with its conversions and errors."""
        _, backtrack_function, _ = _tf()
        from searchgraph.tf.backtrack import BacktrackFunction, TFBacktrackResult

        tr = random_trace(11, n_choices=2, beam_sizes=[3, 5], frames=10, batch=3, end=0, include_eos=False,
                          first_beam_one=True, end_prob=0.3)
        tensors = tf.nest.map_structure(tf.constant, tr.tensor_inputs())
        fn = backtrack_function(tr, jit_compile=True)
        assert isinstance(fn, BacktrackFunction)
        assert_same(tf.nest.map_structure(lambda t: t.numpy(), fn(tr.tensor_inputs())), tr)  # via tf.function
        assert fn._concrete is None
        lean = fn(tensors)
        assert fn._concrete is not None  # took the lean call
        assert isinstance(lean, TFBacktrackResult)
        assert_same(tf.nest.map_structure(lambda t: t.numpy(), lean), tr)
        assert_same(tf.nest.map_structure(lambda t: t.numpy(), fn.function(tensors)), tr)
        assert fn.experimental_get_tracing_count() == 1
        bad = {"int64 labels": {**tensors, "labels": tuple(tf.cast(x, tf.int64) for x in tensors["labels"])},
               "a list": {**tensors, "labels": list(tensors["labels"])},
               "wrong beam": {**tensors, "scores": tf.zeros([10, 3, 4])},
               "extra key": {**tensors, "lengths": tensors["scores"]},
               "missing key": {k: v for k, v in tensors.items() if k != "end_flags"}}
        for what, inputs in bad.items():
            assert fn._flat_eager_inputs(inputs) is None, what
            with pytest.raises(TypeError, match="Binding inputs to tf.function failed"):
                fn(inputs)

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_random_traces_in_tf_function(self, data) -> None:
        _, backtrack_function, _ = _tf()
        config, tr = _draw_trace(data, _FUNCTIONS, max_frames=12, max_batch=8)
        if _FUNCTIONS[config] is None:
            _FUNCTIONS[config] = backtrack_function(tr)
        res = _FUNCTIONS[config](tr.tensor_inputs())
        assert_same(tf.nest.map_structure(lambda t: t.numpy(), res), tr)
        assert _FUNCTIONS[config].experimental_get_tracing_count() == 1


#: (beam sizes, end index, include_eos) -> tf.function, shared by the hypothesis examples
_FUNCTIONS: dict = {((5,), 0, False): None, ((3, 5), 1, True): None, ((3, 5), 0, False): None,
                    ((2, 4, 3), 0, True): None, ((4, 2), None, False): None}
#: the same for the XLA-compiled functions (method "scan")
_XLA_FUNCTIONS: dict = {((3, 5), 1, True): None, ((2, 4, 3), 0, False): None, ((4, 2), None, False): None}


@pytest.mark.parametrize("method", ["doubling", "scan"])
def test_graph_mode_session(method) -> None:
    """Built in a TF1 graph and run with a Session, as inside RETURNN (placeholders, unknown T/batch)."""
    _, _, backtrack_tensors = _tf()
    tr = random_trace(7, n_choices=2, beam_sizes=[3, 5], frames=11, batch=4, end=0, include_eos=False,
                      first_beam_one=True, end_prob=0.3)
    inputs = tr.tensor_inputs()
    with tf.Graph().as_default():
        ph = tf.nest.map_structure(
            lambda a: tf.compat.v1.placeholder(tf.as_dtype(a.dtype), [None, None, a.shape[2]]), inputs)
        out = backtrack_tensors(ph["labels"], ph["src_beams"], ph["scores"], ph["end_flags"],
                                end_index=tr.end_index, include_eos=tr.include_eos, method=method)
        feed = dict(zip(tf.nest.flatten(ph), tf.nest.flatten(inputs)))
        with tf.compat.v1.Session() as session:
            res = session.run(out, feed_dict=feed)
    assert_same(res, tr)
    assert tf.executing_eagerly()


def test_bundled_trace_backtracks_to_returnns_result() -> None:
    """``examples/attention_decoder.trace.npz`` (a real RETURNN search): eager and tf.function."""
    from searchgraph.search.trace import SearchTrace
    from tests.conftest import ROOT

    backtrack, backtrack_function, _ = _tf()
    tr = SearchTrace.load(ROOT / "examples" / "attention_decoder.trace.npz")
    recorded = np.asarray(tr.meta["returnn_sequences"]["output/output"])
    for res in (backtrack(tr), backtrack_function(tr)(tr.tensor_inputs())):
        np.testing.assert_array_equal(res.lengths.numpy(), tr.final_lengths)
        np.testing.assert_array_equal(res.sequences[0].numpy()[..., : recorded.shape[-1]], recorded)
        assert_same(res, tr)
