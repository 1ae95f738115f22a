"""The planned beam search equals exhaustive search when the beam holds every hypothesis.

The reference enumerates every label sequence of a tiny vocabulary and scores it with RETURNN's
rules (``returnn-search-semantics.md`` §2.4, §4.6, §6): log-probabilities add up; after the end
label a hypothesis continues with label 0 at an unchanged score, scaled by ``(t+1)/t`` per frame
and length-normalising choice; the final scores are divided by the longest length + 1. With a
beam that holds all hypotheses, the search's n-best list is exactly that enumeration, sorted.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.conftest import need

try:
    import tensorflow as tf

    from searchgraph.search.stepgraph import StepGraphError, compile_step
    from searchgraph.tf.search import BeamSearch
except ImportError:  # pragma: no cover - CI installs TensorFlow
    tf = None

pytestmark = pytest.mark.tf


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    need(tf is not None, "TensorFlow is not installed")


def _tables(seed: int, frames: int, rows: int, vocab: int, batch: int) -> np.ndarray:
    """Random log-probabilities ``[batch, frames, rows, vocab]`` (rows: the conditioning label)."""
    rng = np.random.default_rng(seed)
    return np.log(rng.dirichlet(np.ones(vocab), size=(batch, frames, rows))).astype(np.float32)


def _lookup(table: tf.Tensor, frames: int):
    """``fn(labels, i, table) -> [batch*beam, vocab]``: ``table[b, min(i, T-1), label]``; the
    plan has already tiled the outside table into the labels' beam."""
    def fn(labels: tf.Tensor, i: tf.Tensor, tab: tf.Tensor) -> tf.Tensor:
        return tf.gather(tab[:, tf.minimum(i, frames - 1)], labels, batch_dims=1)
    return fn


def _reference(frame_scores, n_choices: int, vocabs: list[int], frames: int, ln: bool,
               include_eos: bool = False) -> list[tuple[tuple, float, int]]:
    """Every hypothesis with its RETURNN score and length, best first.

    ``frame_scores(t, prev_labels, choice_index, label) -> log-prob``; the end is the last
    choice's label 0.
    """
    hyps = [((), 0.0, False, 0)]  # labels (flat, frame by frame), score, ended, length
    for t in range(frames):
        for c in range(n_choices):
            nxt = []
            for labels, score, ended, length in hyps:
                if ended:
                    s = score * ((t + 1) / t) if ln else score
                    nxt.append((labels + (0,), s, True, length))
                    continue
                for y in range(vocabs[c]):
                    nxt.append((labels + (y,), score + float(frame_scores(t, labels, c, y)), False, length))
            hyps = nxt
        done = []
        for labels, score, ended, length in hyps:
            if ended:
                done.append((labels, score, True, length))
                continue
            end_now = labels[-1] == 0
            done.append((labels, score, end_now, length + (1 if include_eos or not end_now else 0)))
        hyps = done
    max_len = max(h[3] for h in hyps)
    norm = (max_len + (0 if include_eos else 1)) if ln else 1
    out = [(h[0], h[1] / norm, h[3]) for h in hyps]
    return sorted(out, key=lambda h: -h[1])


def _check(result, ref, batch_index: int, n_choices: int, choices: list[str]) -> None:
    n = len(ref)
    seqs = [np.asarray(result.sequences[c])[batch_index] for c in choices]  # [K, T] each
    got = []
    for k in range(n):
        flat = tuple(int(seqs[c][k, t]) for t in range(seqs[0].shape[1]) for c in range(n_choices))
        got.append(flat)
    assert got == [h[0] for h in ref]
    np.testing.assert_allclose(np.asarray(result.scores)[batch_index, :n], [h[1] for h in ref], rtol=1e-5)
    assert np.asarray(result.lengths)[batch_index, :n].tolist() == [h[2] for h in ref]


@pytest.mark.parametrize("ln", [True, False])
def test_single_choice_equals_exhaustive(ln: bool) -> None:
    vocab, frames, batch = 3, 3, 2
    tab = _tables(1, frames, vocab, vocab, batch)
    step = {"logp": {"fn": _lookup(tab, frames), "from": ["prev:output", ":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 15, "length_normalization": ln},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    result = BeamSearch(step, inputs=["table"], max_len=frames)({"table": tab})
    assert int(result.frames) == frames
    for b in range(batch):
        def score(t, labels, c, y, b=b):
            return tab[b, t, labels[-1] if labels else 0, y]
        ref = _reference(score, 1, [vocab], frames, ln)
        assert len(ref) == 15
        _check(result, ref, b, 1, ["output"])


def test_two_choices_equal_exhaustive() -> None:
    v1, v2, frames, batch = 2, 3, 2, 2
    t1 = _tables(2, frames, v2, v1, batch)  # c1 conditioned on prev:c2
    t2 = _tables(3, frames, v1, v2, batch)  # c2 conditioned on c1
    step = {"p1": {"fn": _lookup(t1, frames), "from": ["prev:c2", ":i", "base:t1"]},
            "c1": {"class": "choice", "from": "p1", "beam_size": 16},
            "p2": {"fn": _lookup(t2, frames), "from": ["c1", ":i", "base:t2"]},
            "c2": {"class": "choice", "from": "p2", "beam_size": 26},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["c2"]}}
    search = BeamSearch(step, inputs=["t1", "t2"], max_len=frames)
    assert search.program.choice_names == ["c1", "c2"]
    result = search({"t1": t1, "t2": t2})
    for b in range(batch):
        def score(t, labels, c, y, b=b):
            if c == 0:
                return t1[b, t, labels[-1] if labels else 0, y]
            return t2[b, t, labels[-1], y]
        ref = _reference(score, 2, [v1, v2], frames, True)
        _check(result, ref, b, 2, ["c1", "c2"])


def test_recurrent_state_and_outside_input_equal_exhaustive() -> None:
    """A float ``prev:`` state, an encoder tensor tiled into the beam, the state re-selected per frame."""
    vocab, frames, batch, dim = 3, 3, 2, 4
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(vocab, dim)).astype(np.float32)
    w = rng.normal(size=(dim, vocab)).astype(np.float32)
    enc = rng.normal(size=(batch, dim)).astype(np.float32)

    step = {"s": {"fn": lambda y, s, e: tf.tanh(0.5 * s + tf.gather(emb, y) + e),
                  "from": ["prev:output", "prev:s", "base:enc"], "initial": np.zeros(dim, np.float32)},
            "logp": {"fn": lambda s: tf.nn.log_softmax(tf.matmul(s, w)), "from": ["s"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 15},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    result = BeamSearch(step, inputs=["enc"], max_len=frames)({"enc": enc})

    def logp(b: int, labels: tuple) -> np.ndarray:
        s, y = np.zeros(dim, np.float64), 0
        for lab in labels:
            s = np.tanh(0.5 * s + emb[y] + enc[b])
            y = lab
        s = np.tanh(0.5 * s + emb[y] + enc[b])
        z = s @ w
        return z - np.log(np.exp(z).sum())

    for b in range(batch):
        ref = _reference(lambda t, labels, c, y, b=b: logp(b, labels)[y], 1, [vocab], frames, True)
        _check(result, ref, b, 1, ["output"])


def test_smaller_beam_is_a_prefix_of_the_best() -> None:
    """With beam 1 and no end, the search is greedy: each frame the best label of its row."""
    vocab, frames, batch = 4, 5, 3
    tab = _tables(7, frames, vocab, vocab, batch)
    step = {"logp": {"fn": _lookup(tab, frames), "from": ["prev:output", ":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 1, "length_normalization": False}}
    result = BeamSearch(step, inputs=["table"], max_len=frames)({"table": tab})
    for b in range(batch):
        y, total, seq = 0, 0.0, []
        for t in range(frames):
            y = int(np.argmax(tab[b, t, y]))
            total += float(tab[b, t, seq[-1] if seq else 0, y])
            seq.append(y)
        assert np.asarray(result.sequences["output"])[b, 0].tolist() == seq
        assert np.asarray(result.lengths)[b, 0] == frames
        np.testing.assert_allclose(float(result.scores[b, 0]), total, rtol=1e-6)


def test_stops_when_all_ended_and_does_not_retrace_per_batch() -> None:
    vocab, frames, batch = 3, 6, 2
    tab = np.full((batch, frames, vocab, vocab), np.log(1e-3), np.float32)
    tab[..., 0] = np.log(0.998)  # label 0 (the end) wins at once
    step = {"logp": {"fn": _lookup(tab, frames), "from": ["prev:output", ":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 1},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    search = BeamSearch(step, inputs=["table"], max_len=frames)
    result = search({"table": tab})
    assert int(result.frames) == 1
    assert np.asarray(result.lengths).tolist() == [[0], [0]]
    for b in (1, 3, 4):  # one relaxed retrace, then none per batch size
        search({"table": np.concatenate([tab, tab])[:b]})
    assert search._fn.experimental_get_tracing_count() <= 2


@pytest.mark.parametrize("step, where", [
    ({"output": {"class": "choice", "from": "nope", "beam_size": 2}}, "output/output"),
    ({"x": {"fn": len, "from": ["prev:y"]}, "y": {"fn": len, "from": ["x"]},
      "output": {"class": "choice", "from": "x", "beam_size": 2}}, "output/y"),
    ({"x": {"fn": len, "from": ["y"]}, "y": {"fn": len, "from": ["x"]},
      "output": {"class": "choice", "from": "x", "beam_size": 2}}, "output/"),
    ({"x": {"fn": len, "from": ["base:enc2"]}, "output": {"class": "choice", "from": "x", "beam_size": 2}},
     "output/x"),
    ({"output": {"class": "choice", "from": "output", "beam_size": 0}}, "output/output"),
    ({"x": {"fn": len}}, "output/x"),
])
def test_bad_step_graphs_name_the_node(step: dict, where: str) -> None:
    with pytest.raises(StepGraphError) as info:
        compile_step(step, ["enc"])
    assert info.value.where is not None and info.value.where.startswith(where)
    assert info.value.hint


def test_independent_choices_are_rejected() -> None:
    f = lambda *a: a[0]
    step = {"a": {"fn": f, "from": ["prev:c1"]}, "c1": {"class": "choice", "from": "a", "beam_size": 2},
            "b": {"fn": f, "from": ["prev:c2"]}, "c2": {"class": "choice", "from": "b", "beam_size": 2},
            "both": {"fn": f, "from": ["c1", "c2"]}}
    with pytest.raises(StepGraphError, match="RETURNN would reject|chain"):
        compile_step(step)


def test_inputs_are_checked() -> None:
    step = {"logp": {"fn": lambda e: e, "from": ["base:enc"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 2}}
    search = BeamSearch(step, inputs=["enc"], max_len=2)
    with pytest.raises(StepGraphError, match="missing"):
        search({})
    with pytest.raises(StepGraphError, match="max_len"):
        search({"enc": np.zeros((1, 3), np.float32)}, max_len=0)


def test_exhaustive_reference_counts() -> None:
    """The reference itself: 1 + 2 + 4 + 8 hypotheses of vocabulary 3 over 3 frames, end 0."""
    ref = _reference(lambda t, labels, c, y: -1.0 - y - t, 1, [3], 3, False)
    assert len(ref) == 15
    assert {h[0] for h in ref} >= {(0, 0, 0), (1, 0, 0), (1, 2, 1)}
    assert not any(a == 0 and b != 0 for (a, b, _c), _, _ in ref)
    assert sum(1 for _ in itertools.islice(ref, 3)) == 3


def test_frame_independent_scores_extend_the_previous_beam() -> None:
    """Scores that depend on no earlier label (CTC-like): RETURNN still chains the choice to its
    previous frame (``prev:output`` re-added); the beam search is exhaustive search all the same."""
    vocab, frames, batch = 3, 3, 2
    tab = _tables(9, frames, 1, vocab, batch)[:, :, 0]  # [B, T, V]
    step = {"logp": {"fn": lambda i, t: t[:, tf.minimum(i, frames - 1)], "from": [":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 27, "length_normalization": False}}
    search = BeamSearch(step, inputs=["table"], max_len=frames)
    assert search.program.choices[0].base == "output/prev:output"
    assert search.program.nodes["output"].plans["output/logp"].action == "tile"
    result = search({"table": tab})
    for b in range(batch):
        seqs = sorted(itertools.product(range(vocab), repeat=frames),
                      key=lambda s, b=b: -sum(float(tab[b, t, y]) for t, y in enumerate(s)))
        got = [tuple(row) for row in np.asarray(result.sequences["output"])[b].tolist()]
        assert got == seqs
        np.testing.assert_allclose(np.asarray(result.scores)[b],
                                   [sum(float(tab[b, t, y]) for t, y in enumerate(s)) for s in seqs], rtol=1e-5)


@pytest.mark.parametrize("input_type", ["prob", "logits"])
def test_input_types_give_the_log_prob_search(input_type: str) -> None:
    vocab, frames, batch = 5, 4, 2
    tab = _tables(10, frames, vocab, vocab, batch)
    convert = {"prob": np.exp, "logits": lambda x: x + 3.0}[input_type]  # logits: any shift
    results = {}
    for kind, table in (("log_prob", tab), (input_type, convert(tab).astype(np.float32))):
        step = {"logp": {"fn": _lookup(table, frames), "from": ["prev:output", ":i", "base:table"]},
                "output": {"class": "choice", "from": "logp", "beam_size": 3, "input_type": kind},
                "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
        results[kind] = BeamSearch(step, inputs=["table"], max_len=frames)({"table": table})
    a, b = results["log_prob"], results[input_type]
    np.testing.assert_array_equal(np.asarray(a.sequences["output"]), np.asarray(b.sequences["output"]))
    np.testing.assert_array_equal(np.asarray(a.lengths), np.asarray(b.lengths))
    np.testing.assert_allclose(np.asarray(a.scores), np.asarray(b.scores), rtol=1e-5)


def test_xla_compiled_loop_gives_the_same_search() -> None:
    vocab, frames, batch = 6, 5, 3
    tab = _tables(12, frames, vocab, vocab, batch)
    step = {"logp": {"fn": _lookup(tab, frames), "from": ["prev:output", ":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 4},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    plain = BeamSearch(step, inputs=["table"], max_len=frames)({"table": tab})
    xla = BeamSearch(step, inputs=["table"], max_len=frames, jit_compile=True)({"table": tab})
    assert int(plain.frames) == int(xla.frames)
    np.testing.assert_array_equal(np.asarray(plain.sequences["output"]), np.asarray(xla.sequences["output"]))
    np.testing.assert_array_equal(np.asarray(plain.lengths), np.asarray(xla.lengths))
    np.testing.assert_allclose(np.asarray(plain.scores), np.asarray(xla.scores), rtol=1e-5)


def test_errors_in_user_functions_name_the_node() -> None:
    step = {"logp": {"fn": lambda y, e: tf.matmul(e, e), "from": ["prev:output", "base:enc"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 2}}
    with pytest.raises(StepGraphError) as info:
        BeamSearch(step, inputs=["enc"], max_len=3)({"enc": np.zeros((2, 3), np.float32)})
    assert info.value.where == "output/logp"
    assert "prev:output" in info.value.hint and "base:enc" in info.value.hint
    bad_rows = {"logp": {"fn": lambda e, y: e[:1], "from": ["base:enc", "prev:output"]},
                "output": {"class": "choice", "from": "logp", "beam_size": 2}}
    with pytest.raises(StepGraphError, match="'logp' have shape") as info:
        BeamSearch(bad_rows, inputs=["enc"], max_len=3)({"enc": np.zeros((2, 3), np.float32)})
    assert info.value.where == "output/output"
    def half(e: tf.Tensor, y: tf.Tensor) -> tf.Tensor:  # rows known only when it runs
        return (e + tf.cast(y, tf.float32)[:, None])[: tf.shape(e)[0] // 2]

    dynamic = {"logp": {"fn": half, "from": ["base:enc", "prev:output"]},
               "output": {"class": "choice", "from": "logp", "beam_size": 2}}
    with pytest.raises(tf.errors.InvalidArgumentError, match="output/logp: fn must return"):
        BeamSearch(dynamic, inputs=["enc"], max_len=3)({"enc": np.zeros((2, 3), np.float32)})


def test_beam_search_function_is_the_class() -> None:
    from searchgraph.tf import beam_search

    vocab, frames, batch = 4, 4, 2
    tab = _tables(13, frames, vocab, vocab, batch)
    step = {"logp": {"fn": _lookup(tab, frames), "from": ["prev:output", ":i", "base:table"]},
            "output": {"class": "choice", "from": "logp", "beam_size": 3},
            "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    a = beam_search(step, {"table": tab}, max_len=frames)
    b = BeamSearch(step, inputs=["table"], max_len=frames)({"table": tab})
    np.testing.assert_array_equal(np.asarray(a.sequences["output"]), np.asarray(b.sequences["output"]))
    np.testing.assert_array_equal(np.asarray(a.scores), np.asarray(b.scores))
    assert a.nbest(1)[0][1] == float(np.asarray(b.scores)[1, 0])


def test_step_graph_analysis_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys; from searchgraph.search.stepgraph import compile_step; "
            "p = compile_step({'o': {'class': 'choice', 'from': 'l', 'beam_size': 2}, "
            "'l': {'fn': abs, 'from': ['prev:o']}}); "
            "assert p.choice_names == ['o'] and 'tensorflow' not in sys.modules, sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
