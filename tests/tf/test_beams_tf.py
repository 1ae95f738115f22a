"""``searchgraph.tf``: beam re-selection, chain composition and tiling, bit-exact against RETURNN.

RETURNN's references (``returnn.tf.util.basic.select_src_beams`` / ``tile_transposed`` and
``Data.copy_extend_with_beam``) run in this process. Importing ``returnn.tf`` normally switches the
whole process to graph mode (``returnn/tf/compat.py`` calls ``disable_eager_execution``,
``disable_v2_tensorshape`` and ``disable_control_flow_v2``), which cannot be undone and would
break every eager test after it; the ``returnn_tf`` fixture imports it with those three calls
suppressed. RETURNN's functions themselves run unchanged, and do work on eager tensors then; one
test also runs both sides the TF1 way, in a ``tf.Graph`` with a ``tf.compat.v1.Session``.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, need

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - exercised only where TF is missing
    tf = None

pytestmark = pytest.mark.tf

DTYPES = ["float32", "float16", "int32", "bool"]
EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    need(tf is not None, "TensorFlow is not installed")
    assert tf.executing_eagerly(), (
        "eager execution is off in this process: something imported returnn.tf without the guard "
        "of the returnn_tf fixture (RETURNN disables eager mode process-wide on import)")


@pytest.fixture(scope="module")
def returnn_tf() -> SimpleNamespace:
    """RETURNN's TF helpers, imported without RETURNN's process-wide switch to graph mode."""
    need(tf is not None, "TensorFlow is not installed")
    need(importlib.util.find_spec("returnn") is not None, "RETURNN is not installed")
    v1 = tf.compat.v1

    def noop() -> None:
        return None

    with mock.patch.object(v1, "disable_eager_execution", noop), \
            mock.patch.object(v1, "disable_v2_tensorshape", noop), \
            mock.patch.object(v1, "disable_control_flow_v2", noop):
        from returnn.tf.util import basic
        from returnn.tf.util.data import BatchInfo, Data, Dim, SearchBeam, batch_dim
    assert tf.executing_eagerly()
    return SimpleNamespace(basic=basic, Data=Data, Dim=Dim, SearchBeam=SearchBeam, batch_dim=batch_dim,
                           BatchInfo=BatchInfo)


def _ours():
    from searchgraph.tf import compose_src_beams, select_src_beams, tile_to_beam

    return select_src_beams, compose_src_beams, tile_to_beam


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        return rng.integers(-1000, 1000, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def random_chain(rng: np.random.Generator, batch: int, beams: list[int]) -> list[np.ndarray]:
    """``beams[0]`` is the beam x starts in; one ``[batch, beams[i]]`` map per later beam."""
    return [rng.integers(0, beams[i - 1], (batch, beams[i])).astype(np.int32) for i in range(1, len(beams))]


def assert_bit_equal(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    if got.dtype == object:  # tf.string: bytes objects, compared by value
        assert got.tolist() == want.tolist()
    else:
        assert got.tobytes() == want.tobytes()


def returnn_stepwise(returnn_tf, x, chain):
    for src_beams in chain:
        x = returnn_tf.basic.select_src_beams(tf.convert_to_tensor(x), tf.convert_to_tensor(src_beams))
    return x.numpy()


case = st.fixed_dictionaries({
    "dtype": st.sampled_from(DTYPES),
    "trailing": st.lists(st.integers(1, 4), min_size=0, max_size=3),  # rank 1-4
    "batch": st.integers(1, 64),
    "beams": st.lists(st.integers(1, 16), min_size=2, max_size=5),  # chain length 1-4
    "seed": st.integers(0, 2**32 - 1),
})


class TestSelectSrcBeams:
    @EXAMPLES
    @given(c=case)
    def test_single_step_matches_returnn(self, returnn_tf, c) -> None:
        select, _, _ = _ours()
        rng = np.random.default_rng(c["seed"])
        (src_beams,) = random_chain(rng, c["batch"], c["beams"][:2])
        x = random_array(rng, (c["batch"] * c["beams"][0], *c["trailing"]), c["dtype"])
        assert_bit_equal(select(x, src_beams).numpy(), returnn_stepwise(returnn_tf, x, [src_beams]))

    @EXAMPLES
    @given(c=case)
    def test_fused_chain_matches_returnn_stepwise(self, returnn_tf, c) -> None:
        select, compose, _ = _ours()
        rng = np.random.default_rng(c["seed"])
        chain = random_chain(rng, c["batch"], c["beams"])
        x = random_array(rng, (c["batch"] * c["beams"][0], *c["trailing"]), c["dtype"])
        want = returnn_stepwise(returnn_tf, x, chain)
        assert_bit_equal(select(x, compose(chain)).numpy(), want)
        stepwise = x
        for src_beams in chain:
            stepwise = select(stepwise, src_beams)
        assert_bit_equal(np.asarray(stepwise), want)

    @pytest.mark.parametrize("dtype", [*DTYPES, "float64", "int64", "string"])
    def test_all_dtypes_match_returnn(self, returnn_tf, dtype) -> None:
        select, _, _ = _ours()
        rng = np.random.default_rng(3)
        src_beams = rng.integers(0, 4, (5, 7)).astype(np.int32)
        if dtype == "string":
            x = np.array([[f"s{i}-{j}" for j in range(2)] for i in range(20)]).astype(object)
            x = tf.constant(x, tf.string)
        else:
            x = random_array(rng, (20, 3, 2), dtype)
        assert_bit_equal(select(x, src_beams).numpy(), returnn_stepwise(returnn_tf, x, [src_beams]))

    @pytest.mark.parametrize("x_shape, beam, what", [
        ((0, 3), 4, "batch 0"),
        ((0,), 4, "batch 0, rank 1"),
        ((0, 2, 5), 0, "batch 0, beam 0"),
        ((12, 0), 5, "zero-size trailing dim"),
        ((12, 3, 0), 5, "zero-size last dim"),
        ((0, 3), 5, "no rows but batch 4: RETURNN gives zeros"),
    ])
    @pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
    def test_empty_matches_returnn(self, returnn_tf, x_shape, beam, what, dtype) -> None:
        select, compose, _ = _ours()
        batch = 0 if what.startswith("batch 0") else 4
        src_beam = max(x_shape[0] // max(batch, 1), 1)
        rng = np.random.default_rng(0)
        chain = [rng.integers(0, src_beam, (batch, beam)).astype(np.int32),
                 rng.integers(0, max(beam, 1), (batch, 3)).astype(np.int32)]
        x = random_array(rng, x_shape, dtype)
        assert_bit_equal(select(x, chain[0]).numpy(), returnn_stepwise(returnn_tf, x, chain[:1]))
        if beam:
            assert_bit_equal(select(x, compose(chain)).numpy(), returnn_stepwise(returnn_tf, x, chain))
        f = tf.function(select, input_signature=[tf.TensorSpec(None, dtype), tf.TensorSpec([None, None], tf.int32)])
        assert_bit_equal(f(x, chain[0]).numpy(), returnn_stepwise(returnn_tf, x, chain[:1]))

    def test_int64_src_beams(self, returnn_tf) -> None:
        select, compose, _ = _ours()
        rng = np.random.default_rng(1)
        chain32 = random_chain(rng, 6, [3, 5, 2, 4])
        chain = [chain32[0].astype(np.int64), chain32[1], chain32[2].astype(np.int64)]  # mixed
        x = random_array(rng, (18, 7), "float32")
        want = returnn_stepwise(returnn_tf, x, chain32)
        assert compose(chain).dtype == tf.int64
        assert_bit_equal(select(x, compose(chain)).numpy(), want)
        assert_bit_equal(select(x, tf.constant(chain[0])).numpy(), returnn_stepwise(returnn_tf, x, chain32[:1]))

    def test_in_tf_function_with_unknown_shapes(self, returnn_tf) -> None:
        select, compose, tile = _ours()
        any2 = tf.TensorSpec([None, None], tf.int32)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32), any2, any2, any2])
        def fused(x, a, b, c):
            return select(x, compose([a, b, c]))

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32), tf.TensorSpec(None, tf.int64)])
        def unknown_rank(x, s):
            return select(x, s)

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32), tf.TensorSpec([], tf.int32)])
        def tiled(x, k):
            return tile(x, k)

        rng = np.random.default_rng(2)
        for batch, beams in [(3, [2, 4, 1, 5]), (1, [1, 1, 1, 1]), (7, [16, 3, 9, 2])]:
            chain = random_chain(rng, batch, beams)
            x = random_array(rng, (batch * beams[0], 4, 3), "float32")
            assert_bit_equal(fused(x, *chain).numpy(), returnn_stepwise(returnn_tf, x, chain))
            assert_bit_equal(unknown_rank(x, chain[0].astype(np.int64)).numpy(),
                             returnn_stepwise(returnn_tf, x, chain[:1]))
            assert_bit_equal(tiled(x, 3).numpy(), returnn_tf.basic.tile_transposed(tf.constant(x), 0, 3).numpy())
        assert fused.experimental_get_tracing_count() == 1

    def test_graph_mode_session_matches_returnn(self, returnn_tf) -> None:
        """Both sides the TF1 way RETURNN runs them: placeholders, a tf.Graph and a Session."""
        select, compose, tile = _ours()
        rng = np.random.default_rng(4)
        chain = random_chain(rng, 5, [4, 6, 3])
        x = random_array(rng, (20, 2, 3), "float32")
        v1 = tf.compat.v1
        with tf.Graph().as_default() as graph:
            xp = v1.placeholder(tf.float32, [None, None, None])
            ps = [v1.placeholder(tf.int32, [None, None]) for _ in chain]
            theirs = xp
            for p in ps:
                theirs = returnn_tf.basic.select_src_beams(theirs, p)
            ours = select(xp, compose(ps))
            tiles = tile(xp, 3), returnn_tf.basic.tile_transposed(xp, 0, 3)
            with v1.Session(graph=graph) as session:
                feed = {xp: x, **dict(zip(ps, chain))}
                got, want, tile_ours, tile_theirs = session.run([ours, theirs, *tiles], feed)
                assert_bit_equal(got, want)
                assert_bit_equal(tile_ours, tile_theirs)
                got, want = session.run([ours, theirs], {**feed, xp: np.zeros((0, 2, 3), np.float32)})
                assert_bit_equal(got, want)  # RETURNN's zeros for "no rows"

    def test_static_shape_is_kept(self) -> None:
        select, _, tile = _ours()

        @tf.function(input_signature=[tf.TensorSpec([None, 5, 7], tf.float32), tf.TensorSpec([3, 4], tf.int32)])
        def f(x, s):
            y = select(x, s)
            assert y.shape.as_list() == [12, 5, 7]
            assert tile(x, 2).shape.as_list() == [None, 5, 7]
            return y

        f.get_concrete_function()
        assert select(tf.zeros([6, 2]), tf.zeros([3, 4], tf.int32)).shape == (12, 2)

    def test_bad_inputs(self) -> None:
        select, compose, tile = _ours()
        with pytest.raises(ValueError, match="not a multiple"):
            select(tf.zeros([7, 2]), tf.zeros([2, 3], tf.int32))
        with pytest.raises(ValueError, match="not a multiple"):
            select(tf.zeros([2, 2]), tf.zeros([0, 3], tf.int32))
        with pytest.raises(TypeError, match="int32 or int64"):
            select(tf.zeros([4, 2]), tf.zeros([2, 3], tf.float32))
        with pytest.raises(ValueError, match="batch, beam"):
            select(tf.zeros([4, 2]), tf.zeros([6], tf.int32))
        with pytest.raises(ValueError, match="rank >= 1"):
            select(tf.constant(1.0), tf.zeros([1, 1], tf.int32))
        with pytest.raises(ValueError, match="at least one"):
            compose([])
        with pytest.raises(ValueError, match=">= 0"):
            tile(tf.zeros([2]), -1)

    def test_validate_catches_out_of_range_values(self) -> None:
        select, _, _ = _ours()
        x = tf.reshape(tf.range(8.0), [4, 2])  # batch 2, src_beam 2
        assert select(x, tf.constant([[0, 1], [1, 1]]), validate=True).shape == (4, 2)
        # Without validation, [[2]] silently reads entry 1's first row (documented); with it, it raises.
        assert_bit_equal(select(x, tf.constant([[2], [0]])).numpy(), np.array([[4, 5], [4, 5]], np.float32))
        for bad in ([[2], [0]], [[0], [-1]]):
            with pytest.raises(tf.errors.InvalidArgumentError, match="select_src_beams"):
                select(x, tf.constant(bad), validate=True)
        f = tf.function(lambda x, s: select(x, s, validate=True),
                        input_signature=[tf.TensorSpec(None, tf.float32), tf.TensorSpec(None, tf.int32)])
        with pytest.raises(tf.errors.InvalidArgumentError, match="batch \\* src_beam"):
            f(tf.zeros([5, 2]), tf.zeros([2, 1], tf.int32))

    def test_runs_on_each_device_where_the_tensor_lives(self) -> None:
        select, compose, tile = _ours()
        for device in tf.config.list_logical_devices():
            if device.device_type not in ("CPU", "GPU"):
                continue
            with tf.device(device.name):
                x = tf.reshape(tf.range(24.0), [6, 4])
                chain = [tf.constant([[1, 0, 1], [2, 2, 0]]), tf.constant([[2, 0], [1, 1]])]
            y = select(x, compose(chain))
            assert y.device == x.device
            assert tile(x, 2).device == x.device
            assert_bit_equal(y.numpy(), x.numpy()[[1, 1, 5, 5]])


class TestComposeSrcBeams:
    def test_single_element_chain_is_returned_unchanged(self) -> None:
        _, compose, _ = _ours()
        s = tf.constant([[1, 0, 2]])
        assert compose([s]) is s

    def test_worked_example(self) -> None:
        _, compose, _ = _ours()
        # §4.4: for [c1 (K0->K1), c2 (K1->K2)], i2 = c1[b, c2[b, k]].
        c1 = tf.constant([[1, 0, 1], [2, 2, 0]])
        c2 = tf.constant([[2, 2, 0, 1], [0, 1, 2, 2]])
        assert compose([c1, c2]).numpy().tolist() == [[1, 1, 1, 0], [2, 2, 0, 0]]

    @EXAMPLES
    @given(c=case)
    def test_composition_is_associative(self, c) -> None:
        _, compose, _ = _ours()
        chain = random_chain(np.random.default_rng(c["seed"]), c["batch"], c["beams"])
        whole = compose(chain).numpy()
        for split in range(1, len(chain)):
            assert_bit_equal(compose([compose(chain[:split]), compose(chain[split:])]).numpy(), whole)

    def test_empty_batch(self) -> None:
        _, compose, _ = _ours()
        chain = [tf.zeros([0, 3], tf.int32), tf.zeros([0, 5], tf.int32)]
        assert compose(chain).shape == (0, 5)


class TestTileToBeam:
    @EXAMPLES
    @given(dtype=st.sampled_from(DTYPES), batch=st.integers(0, 64), beam=st.integers(1, 16),
           trailing=st.lists(st.integers(0, 4), max_size=3), seed=st.integers(0, 2**32 - 1))
    def test_matches_returnn_tile_transposed(self, returnn_tf, dtype, batch, beam, trailing, seed) -> None:
        _, _, tile = _ours()
        x = random_array(np.random.default_rng(seed), (batch, *trailing), dtype)
        want = returnn_tf.basic.tile_transposed(tf.constant(x), 0, beam).numpy()
        assert_bit_equal(tile(x, beam).numpy(), want)
        assert_bit_equal(tile(x, tf.constant(beam)).numpy(), want)
        assert_bit_equal(want, np.repeat(x, beam, axis=0))  # [a, b] -> [a, a, a, b, b, b]

    def test_matches_returnn_copy_extend_with_beam(self, returnn_tf) -> None:
        _, _, tile = _ours()
        x = tf.constant(random_array(np.random.default_rng(5), (3, 4, 2), "float32"))
        data = returnn_tf.Data("x", dim_tags=[returnn_tf.batch_dim, returnn_tf.Dim(4, name="time"),
                                              returnn_tf.Dim(2, name="feat")], placeholder=x)
        data.batch = returnn_tf.BatchInfo.make_global_batch_info(tf.constant(3))
        extended = data.copy_extend_with_beam(returnn_tf.SearchBeam(beam_size=5, name="test/beam"))
        assert_bit_equal(tile(x, 5).numpy(), extended.placeholder.numpy())

    def test_beam_1_and_0(self) -> None:
        _, _, tile = _ours()
        x = tf.constant([[1, 2], [3, 4]])
        assert_bit_equal(tile(x, 1).numpy(), x.numpy())
        assert tile(x, 0).shape == (0, 2)

    def test_string(self) -> None:
        _, _, tile = _ours()
        assert tile(tf.constant(["a", "b"]), 2).numpy().tolist() == [b"a", b"a", b"b", b"b"]


def test_only_searchgraph_tf_imports_tensorflow() -> None:
    """Every other searchgraph module imports without TensorFlow (checked in a fresh process)."""
    import searchgraph

    names = [m.name for m in pkgutil.walk_packages(searchgraph.__path__, "searchgraph.")
             if not (m.name == "searchgraph.tf" or m.name.startswith("searchgraph.tf."))]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'returnn'))\n"
            "assert not bad, bad[:5]\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
