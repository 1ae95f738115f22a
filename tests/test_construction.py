"""The analysis' read API (:class:`searchgraph.analysis.Construction`): what the checks may ask.

On the attention decoder (``cases/choice-beam12-attention``): structure, placement, the real and
the template pass's beams, how inputs arrive, the loop's latest choice, and shared derived models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchgraph.analysis import Construction, construct
from searchgraph.checks import predict_failures
from searchgraph.checks.shapes import Shapes
from searchgraph.graph import build_layer_graph
from searchgraph.loading import netspec_from_settings

CASE = json.loads((Path(__file__).parent / "oracle" / "cases" / "choice-beam12-attention.json").read_text())


def _construct(mode: str = "search", network: dict | None = None) -> Construction:
    spec = netspec_from_settings({**CASE, "network": network or CASE["network"]}, "attention")
    return construct(spec, build_layer_graph(spec, strict=False), mode, mode == "train")


@pytest.fixture(scope="module")
def c() -> Construction:
    return _construct()


class TestStructure:
    def test_order_and_units(self, c: Construction) -> None:
        assert c.search and c.mode == "search" and not c.eval_flag
        assert c.order.index("encoder") < c.order.index("enc_ctx") < c.order.index("output/energy_in")
        assert c.children("output")[:2] == ["output/embed", "output/s"]
        assert c.members("output") == set(c.children("output"))
        assert c.rec_of("output/s") == "output" and c.rec_of("encoder") is None
        assert c.recs_of("output/s") == frozenset({"output"})

    def test_inputs_and_edges(self, c: Construction) -> None:
        assert ("enc_ctx", "from", "base") in c.inputs("output/energy_in")
        assert c.sources("output/energy_in") == [("enc_ctx", "base"), ("output/s_tr", "from")]
        assert "output/energy_in" in c.users("enc_ctx")
        assert c.edge("enc_ctx", "output/energy_in")["kind"] == "base"
        assert c.is_search_choice("output/output") and not c.is_search_choice("output/prob")
        assert not c.known_length("output")


class TestPlacementAndBeams:
    def test_placement(self, c: Construction) -> None:
        assert c.placement("output/output") == "loop" and c.placement("encoder") == "net"
        assert c.placement("no such layer") is None
        assert c.outside("decision", "output") and not c.outside("output/prob", "output")

    def test_beams_and_choices(self, c: Construction) -> None:
        beam = c.beam("output/output")
        assert beam is not None and beam.name == "output/output" and beam.size == 12
        assert c.beam("encoder") is None and c.chosen("output/prob").name == "output/prev:output"
        assert c.searching_loops() == ["output"] and c.latest("output").name == "output/output"
        # inside the loop prev:output arrives on the previous frame's beam; outside, backtracked
        assert c.input_beam("output/output", "prev", "output/embed").name == "output/prev:output"
        assert c.input_beam("output", "from", "decision").name == "output/output"
        assert c.input_beam("enc_ctx", "base", "output/energy_in") is None

    def test_template_pass(self, c: Construction) -> None:
        assert c.has_templates and c.rec_output_beam("output").name == "output/output"
        assert set(c.rec_output_beams()) == {"output"}
        assert c.template_beam("output/output").name == "output/output"
        train = _construct("train")
        assert not train.has_templates and train.template_beam("output/output") is None

    def test_clean_network_has_no_errors(self, c: Construction) -> None:
        assert c.combine_errors() == {} and predict_failures(c) == {}
        assert c.unavailable == set() and c.unbuilt == frozenset()


def test_derived_models_are_made_once(c: Construction) -> None:
    shapes = c.derived(Shapes)
    assert c.derived(Shapes) is shapes
    assert shapes.dim("output/prob") == shapes.target_dim("output/output")
    assert shapes.sparse("output/output") is True and shapes.sparse("output/prob") is False


def test_combine_errors_carry_both_traces() -> None:
    net = json.loads(json.dumps(CASE["network"]))
    unit = net["output"]["unit"]
    unit["choice_b"] = {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
                        "initial_output": 0}
    unit["both"] = {"class": "combine", "kind": "add", "from": ["output", "choice_b"],
                    "is_output_layer": True}
    c = _construct(network=net)
    assert "output/both" in c.combine_errors()
    assert sorted(t[0] for t in c.combine_traces("output/both")) == ["output/choice_b", "output/output"]
    failure = predict_failures(c)["output/both"]
    assert failure.code == "SG101" and failure.traces == c.combine_traces("output/both")
