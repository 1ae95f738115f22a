"""Translation plans against the plans RETURNN was seen to insert (spec §4.5, §9.2, §9.4)."""

from __future__ import annotations

import copy
from typing import Any

from searchgraph import analyze
from searchgraph.analysis.plan import NetworkPlan, plan_for, plan_network

MULTI: dict[str, Any] = {
    "encoder": {"class": "linear", "from": "data", "n_out": 4},
    "output": {"class": "rec", "from": [], "max_seq_len": 7, "unit": {
        "lin1": {"class": "linear", "from": "prev:choice2", "n_out": 4},
        "lin1a": {"class": "linear", "from": "prev:choice1", "n_out": 4},
        "comb1": {"class": "combine", "kind": "add", "from": ["lin1", "lin1a"]},
        "acc": {"class": "combine", "kind": "add", "from": ["prev:acc", "lin1"]},
        "prob1": {"class": "softmax", "from": ["comb1", "acc"], "n_out": 6},
        "choice1": {"class": "choice", "from": "prob1", "beam_size": 3, "target": "classes",
                    "initial_output": 0},
        "lin2": {"class": "linear", "from": "choice1", "n_out": 4},
        "lin2a": {"class": "linear", "from": "prev:choice2", "n_out": 4},
        "lin2_state": {"class": "combine", "kind": "add", "from": ["prev:lin2", "lin2a"]},
        "comb2": {"class": "combine", "kind": "add", "from": ["lin2", "lin2a"]},
        "att": {"class": "dot_attention", "from": "comb2", "base": "base:encoder",
                "base_ctx": "base:encoder"},
        "prob2": {"class": "softmax", "from": ["comb2", "att", "lin2_state"], "n_out": 6},
        "choice2": {"class": "choice", "from": "prob2", "beam_size": 5, "target": "classes",
                    "initial_output": 0},
        "end": {"class": "compare", "from": "choice2", "value": 0},
        "output": {"class": "copy", "from": "choice2"},
    }},
}


def _inputs(plan, name):
    return {p.input: p for p in plan.inputs if p.input == name}[name]


class TestMultiChoicePlans:
    a = analyze(MULTI)

    def test_older_prev_choice_selected_into_newer_prev_choice(self) -> None:
        plan = plan_for(self.a, "output/comb1")
        assert plan.choice == "output/prev:choice2"
        lin1a = _inputs(plan, "output/lin1a")
        assert lin1a.action == "select"
        assert [s.choice for s in lin1a.steps] == ["output/prev:choice2"]
        assert (lin1a.steps[0].size_before, lin1a.steps[0].size_after) == (3, 5)
        assert _inputs(plan, "output/lin1").action == "keep"

    def test_prev_frame_input_selected_into_current_choice(self) -> None:
        plan = plan_for(self.a, "output/comb2")
        assert plan.choice == "output/choice1"
        assert [s.choice for s in _inputs(plan, "output/lin2a").steps] == ["output/choice1"]

    def test_own_prev_value_goes_through_two_choices(self) -> None:
        """prev:lin2 (prev:choice1) -> choice1: [prev:choice2, choice1] (rec_previous_layer)."""
        plan = plan_for(self.a, "output/lin2")
        prev = _inputs(plan, "output/prev:lin2")
        assert prev.option == "rec_previous_layer"
        assert [s.choice for s in prev.steps] == ["output/prev:choice2", "output/choice1"]
        assert [(s.size_before, s.size_after) for s in prev.steps] == [(3, 5), (5, 3)]

    def test_beamless_outer_layer_is_tiled(self) -> None:
        enc = [p for p in plan_for(self.a, "output/att").inputs if p.input == "encoder"]
        assert enc and all(p.action == "tile" and p.size == 3 and p.beam == "output/choice1"
                           for p in enc)

    def test_single_input_layers_are_never_translated(self) -> None:
        assert all(p.action == "keep" for p in plan_for(self.a, "output/lin1").inputs)

    def test_frame_end_reselects_prev_values_into_the_latest_choice(self) -> None:
        frames = {f.layer: f.plan for f in plan_network(self.a).frames}
        assert "output/lin1" not in frames  # not read as prev:
        assert [s.choice for s in frames["output/acc"].steps] == [
            "output/choice1", "output/choice2"]

    def test_describe(self) -> None:
        enc = next(p for p in plan_for(self.a, "output/att").inputs if p.input == "encoder")
        assert enc.describe() == "encoder  tile ×3 → output/choice1"

    def test_json_round_trip(self) -> None:
        plan = plan_network(self.a)
        again = NetworkPlan.from_json(plan.to_json())
        assert again.to_json() == plan.to_json()
        assert again.layers["output/lin2"].inputs == plan.layers["output/lin2"].inputs


def test_decided_and_beamed_inputs_have_no_common_base() -> None:
    net = {**MULTI, "decision": {"class": "decide", "from": "output"},
           "mix": {"class": "combine", "kind": "add", "from": ["decision", "output"], "loss": "ce"}}
    plan = plan_for(analyze(net), "mix")
    assert any(p.error and "No common search base" in p.error for p in plan.inputs)


#: A TTS-like decoder: the loop's only choice is a regression choice (beam 1, ``src_beams`` zeros),
#: which keeps its source's beam ``output/prev:choice`` but has search choices of its own.
REGRESSION: dict[str, Any] = {
    "encoder": {"class": "linear", "activation": "tanh", "from": "data", "n_out": 6},
    "enc_mean": {"class": "reduce", "mode": "mean", "axis": "T", "from": "encoder"},
    "output": {"class": "rec", "from": [], "target": "feat", "max_seq_len": 10, "unit": {
        "feedback": {"class": "linear", "activation": "tanh", "from": ["prev:choice", "prev:mix"],
                     "n_out": 4},
        "s": {"class": "linear", "activation": "tanh", "from": ["feedback", "prev:s", "base:enc_mean"],
              "n_out": 6},
        "output": {"class": "linear", "from": "s", "n_out": 3},
        "choice": {"class": "choice", "from": "output", "input_type": "regression", "beam_size": 1,
                   "target": "feat"},
        "mix": {"class": "combine", "kind": "add", "from": ["prev:choice", "output"]},
        "stop": {"class": "linear", "activation": "sigmoid", "from": "s", "n_out": 1},
        "end_compare": {"class": "compare", "from": "stop", "kind": "greater", "value": 0.5},
        "end": {"class": "squeeze", "axis": "F", "from": "end_compare"}}},
    "dec_mean": {"class": "reduce", "mode": "mean", "axis": "T", "from": "output"},
    "reg": {"class": "linear", "from": ["dec_mean", "enc_mean"], "n_out": 3},
    "rchoice": {"class": "choice", "from": "reg", "input_type": "regression", "beam_size": 1,
                "target": "feat", "is_output_layer": True},
    "after": {"class": "linear", "from": ["rchoice", "dec_mean"], "n_out": 2, "is_output_layer": True},
}
REGRESSION_DATA = {"extern_data": {"data": {"dim": 5}, "feat": {"dim": 3, "available_for_inference": False}}}


class TestRegressionChoicePlans:
    """Plans follow search choices: a regression choice selects (through zeros) like any choice
    (verified against RETURNN: tests/oracle/cases/choice-regression-*.json)."""

    a = analyze({"network": REGRESSION, **REGRESSION_DATA})

    def test_frame_end_reselects_through_the_regression_choice(self) -> None:
        frames = {f.layer: f.plan for f in plan_network(self.a).frames}
        # carried to the next frame (prev:s, prev:mix) or the end flag; all on output/prev:choice
        assert {n for n, p in frames.items() if p.action == "select"} == {
            "output/s", "output/mix", "output/end"}
        step = frames["output/s"].steps[0]
        assert [s.choice for s in frames["output/s"].steps] == ["output/choice"]
        assert (step.beam_before, step.size_before, step.size_after) == ("output/prev:choice", 1, 1)

    def test_beamless_input_is_tiled_into_the_prev_choice(self) -> None:
        plan = plan_for(self.a, "output/s")
        assert plan.choice == "output/prev:choice"
        assert [(p.input, p.action, p.size) for p in plan.translated] == [("enc_mean", "tile", 1)]

    def test_root_regression_choice_is_newer_than_the_decoder_choice(self) -> None:
        plan = plan_for(self.a, "after")
        assert plan.choice == "rchoice"
        mean = _inputs(plan, "dec_mean")
        assert mean.action == "select" and [s.choice for s in mean.steps] == ["rchoice"]
        assert _inputs(plan, "rchoice").action == "keep"
        assert [(p.input, p.action, p.beam) for p in plan_for(self.a, "reg").translated] == [
            ("enc_mean", "tile", "output/choice")]


def regression_with_aux(available: bool) -> dict[str, Any]:
    """The regression decoder whose unit output also attends to an encoder over data ``aux``."""
    net = {name: copy.deepcopy(REGRESSION[name]) for name in ("encoder", "enc_mean", "output")}
    net["aux_enc"] = {"class": "linear", "activation": "tanh", "from": "data:aux", "n_out": 6}
    unit = net["output"]["unit"]
    unit["c"] = {"class": "dot_attention", "from": "s", "base": "base:aux_enc", "base_ctx": "base:aux_enc"}
    unit["output"]["from"] = ["s", "c"]
    data = {**REGRESSION_DATA["extern_data"], "aux": {"dim": 2, "available_for_inference": available}}
    return {"network": net, "extern_data": data}


def test_loop_of_a_rec_layer_without_data_is_never_built() -> None:
    """Without ``aux`` in inference the rec layer is a DataNotAvailableLayer: its loop never runs,
    nothing in it is translated or re-selected (RETURNN network.py L1313; checked against RETURNN)."""
    a = analyze(regression_with_aux(False))
    assert not a.layers["output"].available and a.layers["output"].choice is None
    plan = plan_network(a)
    assert not [f for f in plan.frames if f.rec == "output"]
    assert not [p for n, lp in plan.layers.items() if n.startswith("output/") for p in lp.translated]
    # with the data available the loop is built: the encoder is tiled into the attention
    built = plan_network(analyze(regression_with_aux(True)))
    assert {(p.input, p.action) for p in built.layers["output/c"].translated} == {("aux_enc", "tile")}
    assert {f.layer for f in built.frames if f.plan.action == "select"} == {
        "output/s", "output/mix", "output/end"}
