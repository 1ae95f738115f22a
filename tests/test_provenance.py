"""Provenance on small networks, against RETURNN behaviour the spec marks [verified] (§2–§6, §9).

The full differential tests against live RETURNN are in ``tests/oracle/``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from searchgraph import analyze
from tests.test_plan import REGRESSION, REGRESSION_DATA, regression_with_aux

DECODER: dict[str, Any] = {
    "encoder": {"class": "linear", "from": "data", "n_out": 8, "activation": "tanh"},
    "output": {"class": "rec", "from": [], "max_seq_len": 10, "target": "classes", "unit": {
        "embed": {"class": "linear", "from": "prev:output", "n_out": 6},
        "att": {"class": "dot_attention", "from": "embed", "base": "base:encoder",
                "base_ctx": "base:encoder"},
        "prob": {"class": "softmax", "from": ["embed", "att"], "target": "classes", "loss": "ce"},
        "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
                   "initial_output": 0},
        "end": {"class": "compare", "from": "output", "value": 0},
        "copy_out": {"class": "copy", "from": "output", "is_output_layer": True},
    }},
    "decision": {"class": "decide", "from": "output", "loss": "edit_distance", "target": "classes"},
}


def net(**changes: Any) -> dict[str, Any]:
    """The decoder with unit layers replaced (None deletes)."""
    d = copy.deepcopy(DECODER)
    for name, desc in changes.items():
        if desc is None:
            d["output"]["unit"].pop(name)
        else:
            d["output"]["unit"][name] = desc
    return d


class TestAttentionDecoder:
    a = analyze(DECODER)

    def test_layers_after_prev_output_are_on_the_prev_beam(self) -> None:
        for name in ("output/embed", "output/att", "output/prob"):
            assert self.a.layers[name].beam.name == "output/prev:output"
            assert self.a.layers[name].choice == "output/prev:output"

    def test_choice_and_end_carry_the_choice_beam(self) -> None:
        for name in ("output/output", "output/end"):
            assert self.a.layers[name].beam.chain == ["output/output", "output/prev:output"]
            assert self.a.layers[name].beam.size == 4

    def test_rec_layer_carries_the_backtracked_beam(self) -> None:
        assert self.a.layers["output"].beam.name == "output/output"
        assert self.a.layers["output"].choice == "output/output"

    def test_decide_removes_the_beam(self) -> None:
        lb = self.a.layers["decision"]
        assert lb.beam is None and lb.choice is None

    def test_encoder_has_no_beam(self) -> None:
        assert self.a.layers["encoder"].beam is None

    def test_placements(self) -> None:
        place = {n: lb.placement for n, lb in self.a.layers.items()}
        assert place["output/copy_out"] == "output"  # a read-out of the choice, used by nothing
        assert place["output/output"] == "loop"  # choices never move
        assert place["output/end"] == "loop"
        assert place["encoder"] == "net"

    def test_no_errors(self) -> None:
        assert self.a.errors == {}

    def test_json_fields(self) -> None:
        assert self.a.to_json()["layers"]["output/prob"] == {
            "beam": "output/prev:output", "beam_size": 4, "beam_chain": ["output/prev:output"],
            "choice": "output/prev:output", "placement": "loop", "error": None}


def test_train_mode_has_no_beams() -> None:
    a = analyze(DECODER, mode="train")
    assert all(lb.beam is None for lb in a.layers.values())


def test_chained_choices_with_different_beam_sizes() -> None:
    """spec §4.5: choice1 (K=3) feeds choice2 (K=5), which feeds prev:choice2 -> choice1."""
    d = net(output={"class": "copy", "from": "choice2"},
            prob1={"class": "softmax", "from": "prev:choice2", "n_out": 5, "target": "classes"},
            choice1={"class": "choice", "from": "prob1", "beam_size": 3, "target": "classes"},
            prob2={"class": "softmax", "from": "choice1", "n_out": 5, "target": "classes"},
            choice2={"class": "choice", "from": "prob2", "beam_size": 5, "target": "classes",
                     "initial_output": 0},
            end={"class": "compare", "from": "choice2", "value": 0},
            embed=None, att=None, prob=None, copy_out=None)
    a = analyze(d)
    assert a.layers["output/choice1"].beam.chain == ["output/choice1", "output/prev:choice2"]
    assert a.layers["output/choice2"].beam.chain == [
        "output/choice2", "output/choice1", "output/prev:choice2"]
    assert a.layers["output/choice2"].beam.size == 5
    assert a.layers["output/prob2"].beam.name == "output/choice1"
    assert a.latest_choice == {"output": "output/choice2"}


def test_independent_choices_in_one_frame_cannot_be_combined() -> None:
    d = net(other_prob={"class": "softmax", "from": "prev:other", "n_out": 5, "target": "classes"},
            other={"class": "choice", "from": "other_prob", "beam_size": 3, "target": "classes",
                   "initial_output": 0},
            both={"class": "combine", "kind": "add", "from": ["output", "other"],
                  "is_output_layer": True})
    a = analyze(d)
    assert "Cannot combine beams" in a.layers["output/both"].error


def test_two_root_decoders_are_not_comparable_until_decided() -> None:
    d = copy.deepcopy(DECODER)
    d["output2"] = copy.deepcopy(d["output"])
    d["both"] = {"class": "combine", "kind": "add", "from": ["output", "output2"], "loss": "ce"}
    assert "Cannot compare search choices" in analyze(d).layers["both"].error
    d["decision2"] = {"class": "decide", "from": "output2"}
    d["both"]["from"] = ["decision", "decision2"]
    assert analyze(d).errors == {}


def test_decided_combined_with_beamed_has_no_common_search_base() -> None:
    d = copy.deepcopy(DECODER)
    d["mix"] = {"class": "combine", "kind": "add", "from": ["decision", "output"], "loss": "ce"}
    assert "No common search base" in analyze(d).layers["mix"].error


@pytest.mark.parametrize("ref", ["prev:prev:output"])
def test_prev_prev_is_an_error(ref: str) -> None:
    a = analyze(net(embed={"class": "linear", "from": ref, "n_out": 6}))
    assert "Multiple 'prev:'" in a.layers["output/embed"].error


def test_target_read_as_layer_inside_the_loop_is_not_found_in_search() -> None:
    a = analyze(net(embed={"class": "linear", "from": ["prev:output", "classes"], "n_out": 6}))
    assert a.layers["output/embed"].error.startswith("LayerNotFound")


def test_loop_without_end_or_max_len() -> None:
    d = net()
    d["output"].pop("max_seq_len")
    assert "specify max_seq_len" in analyze(d).layers["output"].error
    d = net(end=None)
    d["output"].pop("max_seq_len")
    assert "'end' layer" in analyze(d).layers["output"].error


def test_choice_without_beamed_source_depends_on_its_prev_frame() -> None:
    """PR #1213: a searching choice whose sources carry no beam chains to its own previous frame."""
    d = {"output": {"class": "rec", "from": "data", "unit": {
        "prob": {"class": "softmax", "from": "data:source", "n_out": 5},
        "output": {"class": "choice", "from": "prob", "beam_size": 3, "target": "classes",
                   "initial_output": 0}}}}
    a = analyze(d)
    assert a.layers["output/output"].beam.chain == ["output/output", "output/prev:output"]
    assert a.layers["output/prob"].beam is None


def test_sub_layer_of_split_follows_its_layer() -> None:
    d = net(split={"class": "split", "from": "embed", "size_splits": [3, 3]},
            prob={"class": "softmax", "from": ["split/0", "att"], "target": "classes"})
    a = analyze(d)
    assert a.layers["output/split"].beam.name == "output/prev:output"
    assert a.layers["output/split"].placement == "loop"



EXTERN = {"data": {"dim": 5, "sparse": False}, "classes": {"dim": 7, "sparse": True}}


def small(**changes: Any) -> dict[str, Any]:
    """A decoder RETURNN builds in search mode (checked live), with unit layers replaced."""
    d: dict[str, Any] = {
        "encoder": {"class": "linear", "activation": "tanh", "from": "data", "n_out": 6},
        "enc_mean": {"class": "reduce", "mode": "mean", "axis": "T", "from": "encoder"},
        "output": {"class": "rec", "from": [], "target": "classes",
                   "max_seq_len": "max_len_from('base:encoder')", "unit": {
                       "embed": {"class": "linear", "activation": None, "from": "prev:output", "n_out": 4},
                       "s": {"class": "linear", "activation": "tanh", "from": ["embed", "base:enc_mean"],
                             "n_out": 6},
                       "prob": {"class": "softmax", "from": "s", "target": "classes"},
                       "output": {"class": "choice", "target": "classes", "beam_size": 3, "from": "prob",
                                  "initial_output": 0},
                       "end": {"class": "compare", "from": "output", "value": 0}}},
        "decision": {"class": "decide", "from": "output", "is_output_layer": True},
    }
    d["output"]["unit"].update(changes)
    return {"network": d, "extern_data": EXTERN}


def test_sequence_reaching_the_choice_is_an_error_in_search_only() -> None:
    """ChoiceLayer asserts its first source's shape is (dim,): the encoder sequence read through
    ``base:`` and kept by linear / softmax reaches it with an extra time axis."""
    d = small(prob={"class": "softmax", "from": ["s", "base:encoder"], "target": "classes"})
    assert "extra time axis" in analyze(d).errors["output/output"]
    assert analyze(d, mode="train").errors == {}
    # the mean over time is no sequence any more
    assert analyze(small()).errors == {}


def test_choice_scores_dim_must_match_the_target() -> None:
    d = small(prob={"class": "softmax", "from": "s", "n_out": 5})
    assert "feature dim 5" in analyze(d).errors["output/output"]


def test_decide_inside_the_loop_fails_on_the_rec_layer() -> None:
    d = small(out_decided={"class": "decide", "from": "output"},
              end={"class": "compare", "from": "out_decided", "value": 0})
    assert "beam_size" in analyze(d).errors["output"]


class TestRegressionChoice:
    """A regression choice (``input_type: "regression"``, beam 1) makes no beam of its own: it keeps
    its source's, with search choices of its own (RETURNN rec.py ChoiceLayer, regression branch)."""

    a = analyze({"network": REGRESSION, **REGRESSION_DATA})

    def test_choice_keeps_its_sources_beam_with_choices_of_its_own(self) -> None:
        lb = self.a.layers["output/choice"]
        assert (lb.beam.name, lb.choice) == ("output/prev:choice", "output/choice")
        assert lb.chosen.chain == ["output/choice", "output/prev:choice"]

    def test_rec_layer_finds_the_latest_choice_after_backtracking(self) -> None:
        lb = self.a.layers["output"]
        assert (lb.beam.name, lb.choice, lb.available) == ("output/prev:choice", "output/choice", True)

    def test_inputs_carry_their_search_choices_apart_from_their_beams(self) -> None:
        inputs = {i.name: i for i in self.a.layers["after"].inputs}
        assert inputs["rchoice"].beam.name == inputs["dec_mean"].beam.name == "output/prev:choice"
        assert inputs["rchoice"].choice.chain == ["rchoice", "output/choice", "output/prev:choice"]
        assert inputs["dec_mean"].choice.name == "output/choice"

    def test_root_regression_choice_needs_no_length_normalisation_off(self) -> None:
        assert self.a.errors == {}


class TestDataNotAvailable:
    """Layers whose output needs data that inference lacks are ``DataNotAvailableLayer``s in search
    (RETURNN network.py L1313): no dependencies, so no search choices."""

    def test_extern_data_availability(self) -> None:
        from searchgraph.analysis.availability import extern_available
        from searchgraph.loading import netspec_from_settings

        def avail(extern_data: dict[str, Any], **settings: Any) -> dict[str, bool]:
            spec = netspec_from_settings({"network": {"x": {"class": "copy"}},
                                          "extern_data": extern_data, **settings}, "<test>")
            return extern_available(spec)

        # explicit flags win; otherwise only the default input is available
        assert avail({"data": {"dim": 2}, "classes": {"dim": 3, "sparse": True}}) == {
            "data": True, "classes": False}
        assert avail({"data": {"dim": 2, "available_for_inference": False},
                      "feat": {"dim": 3, "available_for_inference": True}}) == {
            "data": False, "feat": True}
        # none available: all but the default target become available
        assert avail({"data": {"dim": 2, "available_for_inference": False},
                      "classes": {"dim": 3, "sparse": True}}) == {"data": True, "classes": False}
        assert avail({"data": {"dim": 2, "available_for_inference": False},
                      "feat": {"dim": 3}}, target="feat") == {"data": True, "feat": False}

    def test_unavailable_layers_have_no_search_choices(self) -> None:
        a = analyze(regression_with_aux(False))
        assert [n for n in ("encoder", "aux_enc", "output") if not a.layers[n].available] == [
            "aux_enc", "output"]
        rec = a.layers["output"]
        assert (rec.beam.name, rec.choice) == ("output/prev:choice", None)  # the template's beam
        assert all(lb.available for lb in analyze(regression_with_aux(False), eval_flag=True)
                   .layers.values())



def _own_case(name: str) -> Any:
    """An own oracle case (RETURNN-judged: ``tests/oracle/cases``), analysed."""
    import json
    from pathlib import Path

    from tests.oracle.oracle import analyze_case

    return analyze_case(json.loads((Path(__file__).parent / "oracle" / "cases" / f"{name}.json").read_text()))


class TestNestedAndWrappedLayersInTheLoop:
    """Layers of the unit inside a nested rec or a subnetwork, placed and resolved as RETURNN does
    (the own oracle cases hold RETURNN's answers; these are what a fix must keep)."""

    def test_nested_loop_over_the_encoder_moves_in_front_of_the_loop(self) -> None:
        a = _own_case("nested-loop-over-encoder-in-decoder")
        # the nested loop's own input frames are not the decoder's: both move in front of the loop
        for name in ("output/inner_loop", "output/inner_loop_mean"):
            assert a.layers[name].placement == "input" and a.layers[name].beam is None
            # no search choice among their deps: the lookup falls back to the decoder's choice
            assert a.layers[name].choice == "output/output"
        # moved out of the nested loop, itself moved out of the decoder's: the fallback goes up twice
        assert a.layers["output/inner_loop/output"].placement == "output"
        assert a.layers["output/inner_loop/output"].choice == "output/output"
        assert a.layers["output/inner_loop/h"].choice is None

    def test_loop_input_read_through_a_subnetwork_path_stays_per_frame(self) -> None:
        a = _own_case("rec-unstack-in-subnetwork-read-by-path")
        assert a.layers["loop/rec_unstack/inner"].placement == "input"
        assert a.layers["loop/log_prob"].placement == "loop" and a.layers["loop/log_prob"].choice is None

    def test_inner_layer_with_search_choices_reads_the_frame_not_the_backtracked_output(self) -> None:
        a = _own_case("src-beams-in-subnetwork-moved-out")
        outer = a.layers["output/_choice1_src_beams"]
        assert outer.placement == "output" and outer.beam.name == "output/choice2"  # backtracked
        inner = a.layers["output/_choice1_src_beams/inner"]
        assert inner.placement == "loop" and inner.beam.name == "output/choice1" and inner.beam.size == 3
        assert a.layers["output/_choice1_src_beams_raw"].beam.size == 3
