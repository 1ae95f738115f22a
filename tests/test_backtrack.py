"""SearchTrace and the NumPy backtracking reference (RETURNN's ``_opt_search_resolve``, spec §4.6, §6.4).

The expected values come from hand-worked traces and from independent references written here with
plain Python loops: a per-hypothesis pointer chase for the sequences, and for the lengths the
closed form "first frame where the end flag is set along the hypothesis' own path" (RETURNN carries
and ORs the flag frame by frame; the two agree because the flag is monotone along a path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgraph.search.backtrack import backtrack, finalize_scores, gather_tree, seq_lengths
from searchgraph.search.trace import SearchTrace, TraceFileError
from tests.conftest import ROOT

EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# -- independent references (plain Python) -------------------------------------------------------

def ref_gather_tree(labels, parents):
    t_max, batch, beam = np.shape(labels)
    out = [[[0] * t_max for _ in range(beam)] for _ in range(batch)]  # [batch][beam][T]
    for b in range(batch):
        for k in range(beam):
            cur = k
            for t in range(t_max - 1, -1, -1):
                out[b][k][t] = int(labels[t][b][cur])
                cur = int(parents[t][b][cur])
    return out


def ref_paths(trace: SearchTrace) -> dict[str, list]:
    """Per choice, ``[b][k][t]`` = the index in that choice's beam at frame t of final hyp k."""
    k_last = trace.beam_sizes[trace.latest_choice]
    paths = {c: [[[0] * trace.frames for _ in range(k_last)] for _ in range(trace.batch)]
             for c in trace.choices}
    for b in range(trace.batch):
        for k in range(k_last):
            cur = k
            for t in range(trace.frames - 1, -1, -1):
                for c in reversed(trace.choices):
                    paths[c][b][k][t] = cur
                    cur = int(trace.src_beams[c][t, b, cur])
    return paths


def ref_sequences(trace: SearchTrace) -> dict[str, list]:
    paths = ref_paths(trace)
    return {c: [[[int(trace.labels[c][t, b, paths[c][b][k][t]]) for t in range(trace.frames)]
                 for k in range(len(paths[c][b]))] for b in range(trace.batch)] for c in trace.choices}


def ref_lengths(trace: SearchTrace) -> list:
    k_last = trace.beam_sizes[trace.latest_choice]
    if trace.end_flags is None:
        return [[trace.frames] * k_last for _ in range(trace.batch)]
    path = ref_paths(trace)[trace.end_choice]
    out = []
    for b in range(trace.batch):
        row = []
        for k in range(k_last):
            first = next((t for t in range(trace.frames) if trace.end_flags[t, b, path[b][k][t]]), None)
            if first is None:
                row.append(trace.frames)
            else:
                row.append(min(first + 1, trace.frames) if trace.include_eos else first)
        out.append(row)
    return out


# -- random traces (also used by tests/tf/test_backtrack_tf.py) ------------------------------------

def random_trace(seed: int, *, n_choices: int, beam_sizes: list[int], frames: int, batch: int,
                 end: int | None, include_eos: bool, first_beam_one: bool, labels: int = 50,
                 end_prob: float = 0.2) -> SearchTrace:
    """A random but well-formed trace; ``end`` is the end choice's index (None: no end layer)."""
    rng = np.random.default_rng(seed)
    choices = [f"output/c{j}" for j in range(n_choices)]
    sizes = dict(zip(choices, beam_sizes))
    lab, src, sco = {}, {}, {}
    for j, c in enumerate(choices):
        k = sizes[c]
        base = sizes[choices[j - 1]]
        s = rng.integers(0, base, (frames, batch, k))
        if j == 0 and first_beam_one:
            s[0] = 0
        lab[c] = rng.integers(0, labels, (frames, batch, k))
        src[c] = s
        sco[c] = -np.abs(rng.standard_normal((frames, batch, k))).cumsum(axis=0).astype(np.float32)
    end_flags = None
    if end is not None:
        end_flags = rng.random((frames, batch, sizes[choices[end]])) < end_prob
    return SearchTrace.from_arrays("output", choices, lab, src, sco, end_flags=end_flags,
                                   end_choice=None if end is None else choices[end], include_eos=include_eos)


@st.composite
def traces(draw, max_choices: int = 3, max_frames: int = 8, max_batch: int = 4):
    n = draw(st.integers(1, max_choices))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    end = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    return random_trace(draw(st.integers(0, 2**32 - 1)), n_choices=n, beam_sizes=sizes,
                        frames=draw(st.integers(1, max_frames)), batch=draw(st.integers(1, max_batch)),
                        end=end, include_eos=draw(st.booleans()), first_beam_one=draw(st.booleans()),
                        end_prob=draw(st.sampled_from([0.0, 0.15, 0.5])))


def make(choices, labels, src, *, end=None, end_choice=None, include_eos=False, **kw) -> SearchTrace:
    labels = {c: np.asarray(v) for c, v in zip(choices, labels)}
    return SearchTrace.from_arrays(
        "output", choices, labels, dict(zip(choices, src)), {c: labels[c] * -0.5 for c in choices},
        end_flags=end, end_choice=end_choice, include_eos=include_eos, **kw)


def seqs(result, choice, b=0):
    return result.sequences[choice][b].tolist()


# -- single choice --------------------------------------------------------------------------------

class TestSingleChoice:
    @EXAMPLES
    @given(t=st.integers(1, 10), batch=st.integers(1, 5), beam=st.integers(1, 6),
           seed=st.integers(0, 2**32 - 1))
    def test_gather_tree_matches_reference(self, t, batch, beam, seed) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 100, (t, batch, beam))
        parents = rng.integers(0, beam, (t, batch, beam))
        got = gather_tree(labels, parents)
        assert got.transpose(1, 2, 0).tolist() == ref_gather_tree(labels, parents)

    @EXAMPLES
    @given(tr=traces(max_choices=1))
    def test_backtrack_matches_reference(self, tr) -> None:
        res = backtrack(tr)
        c = tr.choices[0]
        assert res.sequences[c].tolist() == ref_sequences(tr)[c]
        tree = gather_tree(tr.labels[c], tr.src_beams[c])
        assert res.sequences[c].transpose(2, 0, 1).tolist() == tree.tolist()
        assert res.lengths.tolist() == ref_lengths(tr)
        assert res.lengths.dtype == np.int32
        np.testing.assert_array_equal(res.scores, tr.scores[c][-1])

    def test_gather_tree_shape_error(self) -> None:
        with pytest.raises(ValueError, match=r"\[T, batch, beam\]"):
            gather_tree(np.zeros((2, 1, 3)), np.zeros((2, 1, 2)))

    def test_lengths_include_eos(self) -> None:
        z = np.zeros((4, 1, 2), int)
        end = np.zeros((4, 1, 2), bool)
        end[1, 0, 0] = True  # hyp 0 ends at frame 1; hyp 1 never ends; src_beams identity
        src = np.broadcast_to(np.arange(2), (4, 1, 2))
        assert seq_lengths(make(["o"], [z], [src], end=end, end_choice="o")).tolist() == [[1, 4]]
        eos = make(["o"], [z], [src], end=end, end_choice="o", include_eos=True)
        assert seq_lengths(eos).tolist() == [[2, 4]]

    def test_no_end_layer_means_full_length(self) -> None:
        z = np.zeros((3, 2, 2), int)
        assert backtrack(make(["o"], [z], [z])).lengths.tolist() == [[3, 3], [3, 3]]


# -- several choices per frame --------------------------------------------------------------------

C1, C2, C3 = "output/choice1", "output/choice2", "output/choice3"
# choice1 (K=3) -> choice2 (K=5); frame 0: choice1 picks from an incoming beam of size 1.
LAB1 = [[[10, 11, 12]], [[30, 31, 32]]]
SRC1 = [[[0, 0, 0]], [[4, 1, 3]]]                   # frame 1: into choice2's beam of frame 0
LAB2 = [[[20, 21, 22, 23, 24]], [[40, 41, 42, 43, 44]]]
SRC2 = [[[2, 0, 1, 2, 0]], [[1, 1, 0, 2, 2]]]        # into choice1's beam of the same frame


class TestMultiChoice:
    def test_two_choices_by_hand(self) -> None:
        res = backtrack(make([C1, C2], [LAB1, LAB2], [SRC1, SRC2]))
        # k=2: choice2@1 #2 (42) <- choice1@1 #0 (30) <- choice2@0 #4 (24) <- choice1@0 #0 (10)
        assert seqs(res, C1) == [[10, 31], [10, 31], [10, 30], [12, 32], [12, 32]]
        assert seqs(res, C2) == [[21, 40], [21, 41], [24, 42], [23, 43], [23, 44]]
        assert res.beam_indices[C1][:, 0].tolist() == [[0, 0, 0, 2, 2], [1, 1, 0, 2, 2]]
        assert res.scores.tolist() == [[-20.0, -20.5, -21.0, -21.5, -22.0]]
        assert res.lengths.tolist() == [[2] * 5]

    def test_three_choices_by_hand(self) -> None:
        # choice1 K=2, choice2 K=1, choice3 K=3; frame 0 incoming beam 1.
        res = backtrack(make([C1, C2, C3],
                             [[[[1, 2]], [[11, 12]]], [[[5]], [[15]]], [[[7, 8, 9]], [[17, 18, 19]]]],
                             [[[[0, 0]], [[2, 0]]], [[[1]], [[0]]], [[[0, 0, 0]], [[0, 0, 0]]]]))
        # every hyp: choice3@1 k <- choice2@1 #0 <- choice1@1 #0
        #            <- choice3@0 #2 <- choice2@0 #0 <- choice1@0 #1
        assert seqs(res, C1) == [[2, 11]] * 3
        assert seqs(res, C2) == [[5, 15]] * 3
        assert seqs(res, C3) == [[9, 17], [9, 18], [9, 19]]

    def test_incoming_beam_of_full_size_at_frame_0(self) -> None:
        # Frame-0 src_beams may index a full (tiled) incoming beam: they must not matter.
        src1 = [[[4, 2, 1]], SRC1[1]]
        res = backtrack(make([C1, C2], [LAB1, LAB2], [src1, SRC2]))
        assert seqs(res, C2) == [[21, 40], [21, 41], [24, 42], [23, 43], [23, 44]]
        assert seqs(res, C1)[3] == [12, 32]

    @pytest.mark.parametrize("or_ed", [False, True])
    def test_lengths_with_end_on_the_earlier_choice(self, or_ed) -> None:
        end = np.array([[[False, False, True]], [[False, True, False]]])
        if or_ed:  # as RETURNN records it: choice1@1 #2 extends choice1@0 #2, which had ended
            end[1, 0, 2] = True
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], end=end, end_choice=C1)
        # final hyps pass choice1 #(0,1), #(0,1), #(0,0), #(2,2), #(2,2)
        assert backtrack(tr).lengths.tolist() == [[1, 1, 2, 0, 0]]
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], end=end, end_choice=C1, include_eos=True)
        assert backtrack(tr).lengths.tolist() == [[2, 2, 2, 1, 1]]
        assert ref_lengths(tr) == [[2, 2, 2, 1, 1]]

    def test_lengths_with_end_on_the_latest_choice(self) -> None:
        end = np.zeros((2, 1, 5), bool)
        end[0, 0, 4] = True                    # choice2@0 #4 is on the path of final hyp 2 only
        end[1, 0, 3] = True
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], end=end, end_choice=C2)
        assert backtrack(tr).lengths.tolist() == [[2, 2, 0, 1, 2]]

    @EXAMPLES
    @given(tr=traces())
    def test_random_traces_match_reference(self, tr) -> None:
        res = backtrack(tr)
        ref = ref_sequences(tr)
        for c in tr.choices:
            assert res.sequences[c].tolist() == ref[c]
        assert res.lengths.tolist() == ref_lengths(tr)
        assert seq_lengths(tr).tolist() == res.lengths.tolist()  # RETURNN's frame-by-frame rule
        assert res.max_length == max(max(r) for r in ref_lengths(tr))
        assert all(s.shape[-1] == res.max_length for s in res.trimmed().values())

    def test_resolve_values_and_prev_frame(self) -> None:
        res = backtrack(make([C1, C2], [LAB1, LAB2], [SRC1, SRC2]))
        lab1 = np.asarray(LAB1)
        np.testing.assert_array_equal(res.resolve(lab1, C1)[:, 0].T, np.asarray(seqs(res, C1)))
        # A layer on prev:choice1: frame t lives in choice1's beam of t-1; frame 0 takes hyp 0.
        prev = res.resolve(lab1[..., None], C1, prev_frame=True)[..., 0]
        assert prev[:, 0].T.tolist() == [[10, 30], [10, 30], [10, 30], [10, 32], [10, 32]]
        with pytest.raises(ValueError, match="values must be"):
            res.resolve(lab1[:1], C1)

    def test_finalize_scores_divides_by_global_max_length(self) -> None:
        scores = np.array([[-4.0, -8.0], [-2.0, -6.0]], np.float32)
        lengths = np.array([[1, 3], [2, 2]])
        np.testing.assert_allclose(finalize_scores(scores, lengths, include_eos=False), scores / 4)
        np.testing.assert_allclose(finalize_scores(scores, lengths, include_eos=True), scores / 3)
        assert finalize_scores(scores, lengths, include_eos=True).dtype == np.float32


# -- SearchTrace -----------------------------------------------------------------------------------

def two_choice_trace(**kw) -> SearchTrace:
    end = np.array([[[False, False, True]], [[False, True, True]]])
    return make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], end=end, end_choice=C1, include_eos=True,
                final_lengths=[[2, 2, 2, 1, 1]], final_scores=[[-1.0, -2, -3, -4, -5]],
                meta={"network": {"output": {"class": "rec"}}, "note": "hand-made"}, **kw)


class TestSearchTrace:
    def test_properties_and_repr(self) -> None:
        tr = two_choice_trace()
        assert (tr.frames, tr.batch, tr.latest_choice, tr.end_index) == (2, 1, C2, 0)
        assert tr.beam_sizes == {C1: 3, C2: 5}
        assert tr.labels[C1].dtype == np.int32 and tr.end_flags.dtype == np.bool_
        assert repr(tr) == ("SearchTrace(rec='output', choices=['output/choice1', 'output/choice2'], "
                            "beam_sizes={'output/choice1': 3, 'output/choice2': 5}, frames=2, batch=1)")
        inputs = tr.tensor_inputs()
        assert len(inputs["labels"]) == 2 and inputs["scores"].shape == (2, 1, 5) and "end_flags" in inputs

    @pytest.mark.parametrize("with_end", [True, False])
    def test_save_load_round_trip(self, tmp_path, with_end) -> None:
        tr = two_choice_trace() if with_end else make([C1, C2], [LAB1, LAB2], [SRC1, SRC2])
        path = tr.save(tmp_path / "trace.npz")
        back = SearchTrace.load(path)
        assert (back.rec, back.choices, back.beam_sizes, back.end_choice, back.include_eos, back.meta) == \
            (tr.rec, tr.choices, tr.beam_sizes, tr.end_choice, tr.include_eos, tr.meta)
        for name in ("labels", "src_beams", "scores"):
            for c in tr.choices:
                a, b = getattr(tr, name)[c], getattr(back, name)[c]
                assert a.dtype == b.dtype and np.array_equal(a, b)
        for name in ("end_flags", "final_lengths", "final_scores"):
            a, b = getattr(tr, name), getattr(back, name)
            assert (a is None and b is None) or (a.dtype == b.dtype and np.array_equal(a, b))
        assert backtrack(back).lengths.tolist() == backtrack(tr).lengths.tolist()
        assert [p.name for p in tmp_path.iterdir()] == ["trace.npz"]  # no temp files left

    def test_save_refuses_overwrite(self, tmp_path) -> None:
        path = tmp_path / "t.npz"
        path.write_bytes(b"precious")
        tr = two_choice_trace()
        with pytest.raises(FileExistsError, match="overwrite=True"):
            tr.save(path)
        assert path.read_bytes() == b"precious"
        assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]
        tr.save(path, overwrite=True)
        assert SearchTrace.load(path).choices == tr.choices

    def test_save_rejects_non_json_meta(self, tmp_path) -> None:
        tr = make([C1, C2], [LAB1, LAB2], [SRC1, SRC2], meta={"x": object()})
        with pytest.raises(TypeError, match="JSON"):
            tr.save(tmp_path / "t.npz")
        assert not any(tmp_path.iterdir())

    def test_load_rejects_other_npz(self, tmp_path) -> None:
        np.savez(tmp_path / "x.npz", a=np.zeros(2))
        with pytest.raises(ValueError, match="not a SearchTrace"):
            SearchTrace.load(tmp_path / "x.npz")

    @pytest.mark.parametrize("change, match", [
        ({"src": [SRC1, [[[2, 0, 1, 2, 0]], [[1, 1, 0, 2, 3]]]]},
         r"src_beams\['output/choice2'\] at \[t, b, k\] = \(1, 0, 4\) is 3"),
        ({"src": [[[[0, 0, 0]], [[5, 1, 3]]], SRC2]}, r"previous frame's beam of 'output/choice2'"),
        ({"src": [[[[0, 0, -1]], SRC1[1]], SRC2]}, "out of range"),
        ({"labels": [LAB1, [[[20, 21, 22, 23, 24]]]]}, r"expected \[T, batch, K\]"),
        ({"labels": [np.asarray(LAB1, float), LAB2]}, "integer array"),
        ({"end": np.zeros((2, 1, 5), bool), "end_choice": C1}, "end_flags has shape"),
        ({"end": np.zeros((2, 1, 3), bool)}, "given together"),
        ({"end": np.zeros((2, 1, 3), bool), "end_choice": "output/other"}, "not one of the choices"),
        ({"end": np.full((2, 1, 3), 0.5), "end_choice": C1}, "boolean"),
        ({"final_lengths": [2, 2, 2, 2, 2]}, r"final_lengths has shape \(5,\)"),
        ({"labels": [np.zeros((0, 1, 3), int), np.zeros((0, 1, 5), int)],
              "src": [np.zeros((0, 1, 3), int), np.zeros((0, 1, 5), int)]}, "at least one frame"),
    ])
    def test_validation_errors(self, change, match) -> None:
        kw = {"labels": [LAB1, LAB2], "src": [SRC1, SRC2]}
        kw.update(change)
        labels, src = kw.pop("labels"), kw.pop("src")
        with pytest.raises(ValueError, match=match):
            make([C1, C2], labels, src, **kw)

    def test_validation_of_names(self) -> None:
        z = np.zeros((1, 1, 2), int)
        with pytest.raises(ValueError, match="labels has no array"):
            SearchTrace.from_arrays("output", ["a"], {}, {"a": z}, {"a": z})
        with pytest.raises(ValueError, match="src_beams must have exactly the choices"):
            SearchTrace.from_arrays("output", ["a"], {"a": z}, {"b": z}, {"a": z})
        with pytest.raises(ValueError, match="duplicate"):
            SearchTrace.from_arrays("output", ["a", "a"], {"a": z}, {"a": z}, {"a": z})
        with pytest.raises(ValueError, match=r"expected \[T, batch, K\] = \(1, 1, 3\)"):
            SearchTrace.from_arrays("output", ["a"], {"a": z}, {"a": z}, {"a": z}, beam_sizes={"a": 3})


class TestBundledTrace:
    """``examples/attention_decoder.trace.npz``: a real RETURNN search of the bundled example, recorded
    with ``searchgraph trace --capture examples/attention_decoder.config --save ...``."""

    def test_backtracks_to_returnns_recorded_result(self) -> None:
        tr = SearchTrace.load(ROOT / "examples" / "attention_decoder.trace.npz")
        assert tr.choices == ["output/output"] and tr.beam_sizes == {"output/output": 12}
        assert tr.meta["source"] == "examples/attention_decoder.config" and tr.meta["seed"] == 0
        res = backtrack(tr)
        recorded = np.asarray(tr.meta["returnn_sequences"]["output/output"])
        assert recorded.shape == (tr.batch, 12, res.max_length)
        np.testing.assert_array_equal(res.trimmed()["output/output"], recorded)
        np.testing.assert_array_equal(res.lengths, tr.final_lengths)
        np.testing.assert_allclose(finalize_scores(res.scores, res.lengths, tr.include_eos), tr.final_scores,
                                   rtol=1e-6)
        # RETURNN's n-best is sorted best first.
        assert (np.diff(tr.final_scores, axis=1) <= 0).all()


class TestLoadErrors:
    def test_not_an_npz(self, tmp_path) -> None:
        (tmp_path / "t.npz").write_text("plain text")
        with pytest.raises(TraceFileError, match=r"not a trace file \(not an .npz archive\)") as info:
            SearchTrace.load(tmp_path / "t.npz")
        assert info.value.where == str(tmp_path / "t.npz") and isinstance(info.value, ValueError)

    def test_missing_file_is_file_not_found(self, tmp_path) -> None:
        with pytest.raises(FileNotFoundError):
            SearchTrace.load(tmp_path / "missing.npz")

    def test_missing_array_and_metadata(self, tmp_path) -> None:
        arrays = dict(np.load(two_choice_trace().save(tmp_path / "t.npz")))
        np.savez(tmp_path / "a.npz", **{k: v for k, v in arrays.items() if k != "scores_1"})
        with pytest.raises(TraceFileError, match="no array scores_1"):
            SearchTrace.load(tmp_path / "a.npz")
        meta = json.loads(str(arrays["meta_json"]))
        del meta["rec"]
        np.savez(tmp_path / "m.npz", **{**arrays, "meta_json": np.array(json.dumps(meta))})
        with pytest.raises(TraceFileError, match="its metadata has no 'rec'"):
            SearchTrace.load(tmp_path / "m.npz")
        np.savez(tmp_path / "v.npz", **{**arrays, "meta_json": np.array(json.dumps({**meta, "version": 99}))})
        with pytest.raises(TraceFileError, match="unsupported trace format '.*' version 99"):
            SearchTrace.load(tmp_path / "v.npz")


def test_numpy_side_does_not_import_tensorflow() -> None:
    code = ("import sys, searchgraph.search.backtrack, searchgraph.search.trace, searchgraph.interfaces.console_trace, "
            "searchgraph.search.returnn; sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], check=False, env=env, cwd=ROOT).returncode == 0
