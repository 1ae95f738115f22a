"""Translation plans against the plans RETURNN was seen to insert (spec §4.5, §9.2, §9.4)."""

from __future__ import annotations

from typing import Any

from searchgraph import analyze
from searchgraph.plan import NetworkPlan, plan_for, plan_network

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
