"""The layer graph (``searchgraph.graph``) on small hand-written networks.

One test class per public function (``build_graph`` split by topic), expectations from how RETURNN
reads a net dict (spec §1: roots §1.1, the reference grammar §1.2, option references §1.3).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import pytest

from searchgraph import ConfigError, NetworkError, build_graph, load, register_layer_class
from searchgraph.graph import constructed_layers, graph_to_json, unit_layers, without_prev
from searchgraph.graph.layers import unregister_layer_class

EXTERN = {"data": {"dim": 5}, "classes": {"dim": 6, "sparse": True}}

#: encoder + attention decoder: prev:, base:, option refs, a choice, a loss inside the loop
DECODER: dict[str, Any] = {
    "encoder": {"class": "linear", "from": "data", "n_out": 8},
    "output": {"class": "rec", "from": [], "target": "classes", "max_seq_len": 10, "unit": {
        "s": {"class": "linear", "from": ["prev:s", "prev:output", "base:encoder"], "n_out": 8},
        "att": {"class": "dot_attention", "from": "s", "base": "base:encoder",
                "base_ctx": "base:encoder"},
        "prob": {"class": "softmax", "from": ["s", "att"], "target": "classes", "loss": "ce"},
        "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
                   "initial_output": 0},
        "end": {"class": "compare", "from": "output", "value": 0},
    }},
    "decision": {"class": "decide", "from": "output", "loss": "edit_distance", "target": "classes"},
}


def graph(net: dict[str, Any], *, strict: bool = True, **settings: Any) -> nx.DiGraph:
    """The graph of a bare net dict, or of ``{"network": net, **settings}`` when settings are given."""
    return build_graph(load({"network": net, **settings} if settings else net), strict=strict)


def kind(g: nx.DiGraph, src: str, dst: str) -> str:
    assert g.has_edge(src, dst), f"no edge {src} -> {dst}; in-edges of {dst}: {list(g.predecessors(dst))}"
    return g.edges[src, dst]["kind"]


def preds(g: nx.DiGraph, node: str) -> set[str]:
    return set(g.predecessors(node))


def rec(unit: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return {"class": "rec", "from": [], "max_seq_len": 5, **opts, "unit": unit}


def error(net: Any, **kw: Any) -> NetworkError:
    with pytest.raises(NetworkError) as info:
        graph(net, **kw)
    return info.value


# ---------------------------------------------------------------------------------------------------
class TestBuildGraphReferences:
    """Every form of the reference grammar (spec §1.2)."""

    def test_from_string_and_list(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"},
                   "b": {"class": "linear", "from": ["a", "data"]},
                   "output": {"class": "copy", "from": "b"}})
        assert preds(g, "a") == {"data:data"}
        assert preds(g, "b") == {"a", "data:data"}
        assert preds(g, "output") == {"b"}
        assert {kind(g, u, v) for u, v in g.edges} == {"from"}

    def test_data_is_the_default_input_node(self) -> None:
        g = graph({"output": {"class": "copy", "from": "data"}})
        assert set(g) == {"data:data", "output"}
        assert g.nodes["data:data"]["node_kind"] == "data"
        assert g.nodes["data:data"]["class"] == "data"

    def test_data_key(self) -> None:
        g = graph({"output": {"class": "copy", "from": ["data:classes", "data:data"]}}, extern_data=EXTERN)
        assert preds(g, "output") == {"data:classes", "data:data"}
        assert kind(g, "data:classes", "output") == "from"

    def test_data_key_read_twice_is_one_node(self) -> None:
        g = graph({"a": {"class": "copy", "from": "data:classes"},
                   "output": {"class": "copy", "from": ["a", "data:classes"]}}, extern_data=EXTERN)
        assert [n for n in g if g.nodes[n]["node_kind"] == "data"] == ["data:classes"]

    def test_prev_in_rec(self) -> None:
        g = graph(DECODER)
        assert kind(g, "output/output", "output/s") == "prev"
        assert kind(g, "output/s", "output/s") == "prev"  # prev:s on s itself: a self-loop
        assert g.edges["output/s", "output/s"]["ref"] == "prev:s"

    def test_masked_computation_unit_option_read_from_the_holders_network(self) -> None:
        # the unit's inner gather reads its position as ``base:pos`` (a layer option, not a source)
        net = {"pos": {"class": "reinterpret_data", "from": "data:classes", "set_sparse": False},
               "mask": {"class": "compare", "from": "data:classes", "kind": "not_equal", "value": 0},
               "mc": {"class": "masked_computation", "from": [], "mask": "mask", "unit": {
                   "class": "subnetwork", "from": [], "subnetwork": {
                       "g": {"class": "gather", "from": "base:data:data", "axis": "T",
                             "position": "base:pos"},
                       "output": {"class": "copy", "from": "g"}}}},
               "output": {"class": "copy", "from": "mc"}}
        g = graph(net, extern_data=EXTERN)
        assert "pos" in preds(g, "mc")
        assert "data:data" in preds(g, "mc")

    def test_base_from_rec(self) -> None:
        g = graph(DECODER)
        assert kind(g, "encoder", "output/s") == "base"
        assert g.edges["encoder", "output/s"]["ref"] == "base:encoder"

    def test_base_base_from_rec_inside_subnetwork(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": {"class": "subnetwork", "from": "enc", "subnetwork": {
                       "dec": rec({"x": {"class": "linear", "from": ["prev:x", "base:base:enc"]},
                                   "output": {"class": "copy", "from": "x"}}),
                       "output": {"class": "copy", "from": "dec"}}}})
        assert kind(g, "enc", "output/dec/x") == "base"
        assert g.nodes["output/dec/x"]["depth"] == 2

    def test_base_base_in_nested_recs(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": rec({
                       "h": {"class": "linear", "from": "prev:output"},
                       "inner": rec({"y": {"class": "linear", "from": ["base:h", "base:base:enc"]},
                                     "output": {"class": "copy", "from": "y"}}),
                       "output": {"class": "choice", "from": "inner", "target": "classes"}})})
        assert kind(g, "output/h", "output/inner/y") == "base"
        assert kind(g, "enc", "output/inner/y") == "base"

    def test_slash_names_a_layer_inside_a_subnetwork(self) -> None:
        g = graph({"sub": {"class": "subnetwork", "from": "data", "subnetwork": {
                       "inner": {"class": "linear", "from": "data"},
                       "output": {"class": "copy", "from": "inner"}}},
                   "output": {"class": "copy", "from": ["sub/inner", "sub"]}})
        assert kind(g, "sub/inner", "output") == "sub"
        assert kind(g, "sub", "output") == "from"
        assert g.nodes["sub/inner"]["node_kind"] == "layer"  # the real layer, not a sub-layer stub

    def test_split_sub_layer(self) -> None:
        g = graph({"spl": {"class": "split", "from": "data", "size_splits": [2, 3]},
                   "output": {"class": "copy", "from": ["spl/0", "spl/1"]}})
        for part in ("spl/0", "spl/1"):
            assert g.nodes[part]["node_kind"] == "sub"
            assert g.nodes[part]["class"] == "split/sub"
            assert kind(g, "spl", part) == "sub"
            assert kind(g, part, "output") == "sub"
        assert preds(g, "output") == {"spl/0", "spl/1"}

    def test_rec_sub_layer_from_outside(self) -> None:
        net = {**DECODER, "att_out": {"class": "copy", "from": "output/att", "is_output_layer": True}}
        g = graph(net)
        assert kind(g, "output/att", "att_out") == "sub"

    def test_missing_from_is_data_in_behavior_version_0(self) -> None:
        g = graph({"output": {"class": "linear", "n_out": 3}})
        assert preds(g, "output") == {"data:data"}
        assert g.edges["data:data", "output"]["ref"] == "data"

    @pytest.mark.parametrize("cls", ["constant", "source", "range", "variable"])
    def test_classes_whose_from_defaults_to_nothing(self, cls: str) -> None:
        g = graph({"output": {"class": cls, "value": 1}})
        assert set(g) == {"output"}

    def test_rec_positional_encoding_defaults_to_the_step(self) -> None:
        g = graph({"output": rec({"output": {"class": "positional_encoding", "n_out": 4}})})
        assert preds(g, "output/output") == {"output/:i"}

    def test_none_in_from_is_dropped(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"},
                   "output": {"class": "copy", "from": ["a", "none"]}})
        assert preds(g, "output") == {"a"}
        assert "none" not in g

    def test_from_empty_list(self) -> None:
        g = graph({"output": {"class": "copy", "from": []}})
        assert list(g) == ["output"]

    def test_hash_keys_are_not_layers(self) -> None:
        g = graph({"#trainable": True, "#config": {"class": "linear"}, "##x": {"class": "copy"},
                   "output": {"class": "copy", "from": "data"}})
        assert set(g) == {"output", "data:data"}

    def test_only_on_search_is_a_node_attribute(self) -> None:
        g = graph({"a": {"class": "copy", "from": "data", "only_on_search": True, "is_output_layer": True},
                   "output": {"class": "copy", "from": "data"}})
        assert g.nodes["a"]["only_on_search"] is True
        assert g.nodes["output"]["only_on_search"] is False

    def test_step_index(self) -> None:
        g = graph({"output": rec({"output": {"class": "range_in_axis", "from": ":i", "axis": "T"}})})
        assert g.nodes["output/:i"]["node_kind"] == "step"
        assert g.nodes["output/:i"]["class"] == ":i"
        assert g.nodes["output/:i"]["unit"] == "output"
        assert kind(g, "output/:i", "output/output") == "from"

    def test_extra_search_net(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data", "n_out": 4},
                   "extra.search:enc": {"class": "linear", "from": "data", "n_out": 3},
                   "lm": {"class": "copy", "from": "enc"},
                   "output": {"class": "copy", "from": "extra.search:lm"}})
        assert g.nodes["extra.search:lm"]["extra"] == "extra.search"
        assert g.nodes["extra.search:lm"]["class"] == "copy"
        # inside the extra net, `enc` is the overriding dict key extra.search:enc
        assert preds(g, "extra.search:lm") == {"extra.search:enc"}
        assert g.nodes["extra.search:enc"]["options"]["n_out"] == 3
        assert preds(g, "output") == {"extra.search:lm"}
        assert g.nodes["lm"]["extra"] is None

    def test_max_len_from_base_layer(self) -> None:
        net = {"encoder": {"class": "linear", "from": "data"},
               "output": rec({"output": {"class": "choice", "from": "prev:output", "target": "classes"}},
                             max_seq_len="max_len_from('base:encoder') * 2")}
        g = graph(net)
        edge = g.edges["encoder", "output"]
        assert (edge["kind"], edge["option"], edge["dep"]) == ("option:max_seq_len", "max_seq_len", False)

    def test_data_source_in_rec_is_the_rec_layers_from(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": {"class": "rec", "from": "enc", "unit": {
                       "output": {"class": "linear", "from": "data:source"}}}})
        assert kind(g, "enc", "output/output") == "data"
        assert kind(g, "enc", "output") == "from"

    @pytest.mark.parametrize("ref", ["data", "data:data"])
    def test_data_in_rec_is_the_parent_extern_data(self, ref: str) -> None:
        # the unit's default input is extern `data` (per frame), not the rec layer's `from`
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": {"class": "rec", "from": "enc", "unit": {
                       "output": {"class": "linear", "from": ref}}}})
        assert preds(g, "output/output") == {"data:data"}

    def test_data_in_subnetwork_is_its_from(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": {"class": "subnetwork", "from": "enc", "subnetwork": {
                       "output": {"class": "linear", "from": "data"}}}})
        assert preds(g, "output/output") == {"enc"}
        assert kind(g, "enc", "output/output") == "data"

    def test_data_key_in_subnetwork_is_extern_data(self) -> None:
        g = graph({"output": {"class": "subnetwork", "from": "data", "subnetwork": {
            "output": {"class": "linear", "from": "data:classes"}}}}, extern_data=EXTERN)
        assert preds(g, "output/output") == {"data:classes"}

    def test_data_data_in_subnetwork_is_its_from(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"}, "b": {"class": "linear", "from": "data"},
                   "output": {"class": "subnetwork", "from": ["a", "b"], "subnetwork": {
                       "output": {"class": "linear", "from": "data:data"}}}})
        assert preds(g, "output/output") == {"a", "b"}

    @pytest.mark.parametrize(("ref", "expected"), [
        ("data:0", {"a"}), ("data:1", {"b"}), ("data:b", {"b"}), ("data", {"a"}), ("data:data", {"a"}),
        ("data:classes", {"data:classes"})])
    def test_subnetwork_without_concat_sources_names_each_source(self, ref: str, expected: set[str]) -> None:
        # RETURNN's Subnetwork.get_data: data:I / data:NAME pick one source, data the first; other keys
        # are the parent's extern data
        g = graph({"a": {"class": "linear", "from": "data"}, "b": {"class": "linear", "from": "data"},
                   "output": {"class": "subnetwork", "from": ["a", "b"], "concat_sources": False, "subnetwork": {
                       "output": {"class": "linear", "from": ref}}}}, extern_data=EXTERN)
        assert preds(g, "output/output") == expected


# ---------------------------------------------------------------------------------------------------
class TestBuildGraphEdges:
    """Edge kinds (``from``, ``option:<name>``, ``prev``, ``base``, ``sub``, ``data``), ``dep``, ``search``."""

    def test_generic_attention_weights_and_base(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "w": {"class": "softmax_over_spatial", "from": "enc"},
                   "output": {"class": "generic_attention", "weights": "w", "base": "enc"}})
        assert kind(g, "w", "output") == "option:weights"
        assert kind(g, "enc", "output") == "option:base"
        assert g.edges["w", "output"]["option"] == "weights"
        assert preds(g, "output") == {"w", "enc"}  # no default `from` for generic_attention

    def test_gather_position(self) -> None:
        g = graph({"pos": {"class": "reduce", "mode": "argmax", "axis": "T", "from": "data"},
                   "output": {"class": "gather", "from": "data", "position": "pos", "axis": "T"},
                   "g0": {"class": "gather", "from": "data", "position": 0, "axis": "T",
                          "is_output_layer": True}})
        assert kind(g, "pos", "output") == "option:position"
        assert preds(g, "g0") == {"data:data"}  # an int position is not a layer

    def test_choice_explicit_search_source(self) -> None:
        g = graph({"output": rec({
            "lm": {"class": "choice", "from": "prev:output", "target": "classes"},
            "output": {"class": "choice", "from": "prev:output", "target": "classes",
                       "explicit_search_source": "lm"}})})
        assert kind(g, "output/lm", "output/output") == "option:explicit_search_source"
        assert g.edges["output/lm", "output/output"]["dep"] is True

    def test_choice_explicit_search_sources_list(self) -> None:
        g = graph({"output": rec({
            "a": {"class": "choice", "from": "prev:output", "target": "classes"},
            "b": {"class": "choice", "from": "prev:output", "target": "classes"},
            "output": {"class": "choice", "from": "prev:output", "target": "classes",
                       "explicit_search_sources": ["a", "b"]}})})
        assert kind(g, "output/a", "output/output") == "option:explicit_search_sources"
        assert kind(g, "output/b", "output/output") == "option:explicit_search_sources"

    def test_initial_output_layer_name(self) -> None:
        g = graph({"output": rec({
            "init": {"class": "constant", "value": 1},
            "output": {"class": "linear", "from": "prev:output", "initial_output": "init"}})})
        edge = g.edges["output/init", "output/output"]
        assert (edge["kind"], edge["dep"]) == ("option:initial_output", False)

    def test_initial_output_base_layer_is_a_base_edge(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": rec({"output": {"class": "linear", "from": "prev:output",
                                             "initial_output": "base:enc"}})})
        edge = g.edges["enc", "output/output"]
        assert (edge["kind"], edge["option"]) == ("base", "initial_output")

    @pytest.mark.parametrize("keyword", ["zeros", "ones", "var", "apply(0)", "keep_over_epoch"])
    def test_initial_output_keywords_are_not_layers(self, keyword: str) -> None:
        g = graph({"output": rec({"output": {"class": "linear", "from": "prev:output",
                                             "initial_output": keyword}})})
        assert preds(g, "output/output") == {"output/output"}

    def test_reuse_params(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"},
                   "b": {"class": "linear", "from": "data", "reuse_params": "a"},
                   "c": {"class": "linear", "from": "data",
                         "reuse_params": {"map": {"W": {"reuse_layer": "b"}, "b": None}}},
                   "output": {"class": "copy", "from": "c"}})
        for src, dst in (("a", "b"), ("b", "c")):
            edge = g.edges[src, dst]
            assert (edge["kind"], edge["dep"]) == ("option:reuse_params", False)

    def test_reuse_params_map_names_and_layer_output(self) -> None:
        # ``ReuseParams.from_config_dict``: a map entry may be a layer name, or a dict whose
        # ``layer_output`` is a layer taken as the parameter itself (built right away)
        g = graph({"w": {"class": "variable", "shape": [5, 3]},
                   "shared": {"class": "linear", "from": "data", "n_out": 3},
                   "c": {"class": "linear", "from": "data", "n_out": 3,
                         "reuse_params": {"map": {"W": {"layer_output": "w"}, "b": "shared"}}},
                   "output": {"class": "copy", "from": "c"}})
        for src in ("w", "shared"):
            edge = g.edges[src, "c"]
            assert (edge["kind"], edge["dep"]) == ("option:reuse_params", False)

    def test_target_layer_prefix(self) -> None:
        g = graph({"t": {"class": "linear", "from": "data"},
                   "output": {"class": "softmax", "from": "data", "target": "layer:t", "loss": "ce"}})
        edge = g.edges["t", "output"]
        assert (edge["kind"], edge["dep"], edge["search"]) == ("option:target", True, True)

    def test_plain_data_target_is_not_followed_in_search(self) -> None:
        g = graph({"output": {"class": "softmax", "from": "data", "target": "classes", "loss": "ce"}},
                  extern_data=EXTERN)
        edge = g.edges["data:classes", "output"]
        assert (edge["kind"], edge["search"]) == ("option:target", False)
        assert edge["ref"] == "data:classes"

    def test_target_naming_a_layer(self) -> None:
        # RETURNN first tries get_layer(target): a layer of that name wins over the data key
        g = graph({"classes": {"class": "linear", "from": "data"},
                   "output": {"class": "softmax", "from": "data", "target": "classes"}}, extern_data=EXTERN)
        assert g.edges["classes", "output"]["search"] is True
        assert "data:classes" not in g

    def test_kind_per_form(self) -> None:
        g = graph(DECODER)
        assert kind(g, "encoder", "output/att") == "base"
        assert kind(g, "output/s", "output/att") == "from"
        assert kind(g, "output/output", "output") == "sub"  # the unit's output is the rec's value
        assert kind(g, "data:data", "encoder") == "from"

    def test_a_pair_linked_twice_keeps_both_kinds(self) -> None:
        g = graph({"enc": {"class": "linear", "from": "data"},
                   "output": {"class": "dot_attention", "from": "enc", "base": "enc", "base_ctx": "enc"}})
        edge = g.edges["enc", "output"]
        assert edge["kind"] == "from"
        assert edge["kinds"] == ["from", "option:base", "option:base_ctx"]
        assert edge["options"] == ["from", "base", "base_ctx"]

    def test_dep_and_search_defaults(self) -> None:
        g = graph(DECODER)
        for u, v, data in g.edges(data=True):
            if u != "data:classes" and data["option"] != "max_seq_len":
                assert data["dep"] is True and data["search"] is True, (u, v)

    def test_inputs_list_what_the_layer_reads(self) -> None:
        g = graph(DECODER)
        assert g.nodes["output/s"]["inputs"] == [("output/s", "from", "prev", True),
                                                 ("output/output", "from", "prev", True),
                                                 ("encoder", "from", "base", True)]


# ---------------------------------------------------------------------------------------------------
class TestBuildGraphNodes:
    """Node attributes and nesting."""

    NESTED: ClassVar[dict[str, Any]] = {
        "enc": {"class": "linear", "from": "data"},
        "output": rec({
            "sub": {"class": "subnetwork", "from": "prev:output", "subnetwork": {
                "inner": rec({"deep": {"class": "linear", "from": ["prev:deep", "base:base:base:enc",
                                                                  "base:base:prev:output"]},
                              "output": {"class": "copy", "from": "deep"}}),
                "output": {"class": "copy", "from": "inner"}}},
            "output": {"class": "choice", "from": "sub", "target": "classes"}}),
    }

    def test_three_units_deep(self) -> None:
        g = graph(self.NESTED)
        attrs = {n: (d["unit"], d["unit_kind"], d["depth"], d["local"]) for n, d in g.nodes(data=True)
                 if d["node_kind"] == "layer"}
        assert attrs == {
            "enc": (None, None, 0, "enc"),
            "output": (None, None, 0, "output"),
            "output/sub": ("output", "rec", 1, "sub"),
            "output/output": ("output", "rec", 1, "output"),
            "output/sub/inner": ("output/sub", "subnet", 2, "inner"),
            "output/sub/output": ("output/sub", "subnet", 2, "output"),
            "output/sub/inner/deep": ("output/sub/inner", "rec", 3, "deep"),
            "output/sub/inner/output": ("output/sub/inner", "rec", 3, "output"),
        }

    def test_three_units_deep_references(self) -> None:
        g = graph(self.NESTED)
        assert kind(g, "enc", "output/sub/inner/deep") == "base"
        assert kind(g, "output/output", "output/sub/inner/deep") == "prev"  # base:base:prev:output
        assert kind(g, "output/sub/inner/deep", "output/sub/inner/deep") == "prev"
        assert kind(g, "output/sub/inner/output", "output/sub/inner") == "sub"
        assert kind(g, "output/sub/output", "output/sub") == "sub"
        assert kind(g, "output/output", "output/sub") == "prev"

    def test_layer_attributes(self) -> None:
        g = graph(DECODER)
        node = g.nodes["output/prob"]
        assert node["class"] == "softmax"
        assert node["node_kind"] == "layer"
        assert node["known"] is True
        assert node["extra"] is None
        assert node["options"]["loss"] == "ce"
        assert "unit" not in g.nodes["output"]["options"]  # nested units are not options
        assert g.nodes["output"]["options"]["max_seq_len"] == 10

    def test_source_is_recorded(self, tmp_path: Path) -> None:
        path = tmp_path / "net.json"
        path.write_text(json.dumps({"output": {"class": "copy", "from": "data"}}))
        assert build_graph(load(path)).graph["source"] == str(path)
        assert graph({"output": {"class": "copy", "from": "data"}}).graph["source"] == "<dict>"

    def test_unknown_class_gets_a_warning(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"},
                   "output": {"class": "my_fancy_layer", "from": "a", "keys": "a"}})
        assert g.nodes["output"]["known"] is False
        assert preds(g, "output") == {"a"}  # only `from` is followed
        assert any("output" in w and "my_fancy_layer" in w for w in g.graph["warnings"])

    def test_register_layer_class_makes_its_options_edges(self) -> None:
        register_layer_class("my_att_test", {"keys": "str", "extras": "list"}, default_from=())
        try:
            g = graph({"k": {"class": "linear", "from": "data"},
                       "e1": {"class": "linear", "from": "data"},
                       "e2": {"class": "linear", "from": "data"},
                       "output": {"class": "my_att_test", "keys": "k", "extras": ["e1", "e2"]}})
        finally:
            unregister_layer_class("my_att_test")
        assert kind(g, "k", "output") == "option:keys"
        assert kind(g, "e1", "output") == "option:extras"
        assert preds(g, "output") == {"k", "e1", "e2"}  # default_from=() : no data edge
        assert g.nodes["output"]["known"] is True
        assert g.graph["warnings"] == []

    def test_one_node_per_layer_however_often_referenced(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"},
                   "b": {"class": "copy", "from": ["a", "a"]},
                   "output": {"class": "copy", "from": ["a", "b"]}})
        assert sorted(g) == ["a", "b", "data:data", "output"]
        assert g.number_of_edges() == 4


# ---------------------------------------------------------------------------------------------------
class TestBuildGraphErrors:
    """Bad input: NetworkError / ConfigError with where, message and hint."""

    def test_unknown_reference_names_it_and_close_matches(self) -> None:
        net = {**DECODER, "output": rec({
            "s": {"class": "linear", "from": ["prev:s", "base:encodr"]},
            "output": {"class": "choice", "from": "s", "target": "classes"}})}
        exc = error(net)
        assert exc.where == "output/s"
        assert "'base:encodr'" in exc.message
        assert exc.hint == "did you mean 'base:encoder'?"

    def test_unknown_reference_without_close_matches(self) -> None:
        exc = error({"output": {"class": "copy", "from": "zzzzzz"}})
        assert exc.where == "output"
        assert exc.message == "unknown reference 'zzzzzz': no such layer"
        assert "prefix" in exc.hint
        assert str(exc).startswith("output: unknown reference 'zzzzzz'")

    def test_unknown_prev_reference(self) -> None:
        exc = error({"output": rec({"output": {"class": "choice", "from": "prev:outptu",
                                               "target": "classes"}})})
        assert (exc.where, exc.hint) == ("output/output", "did you mean 'prev:output'?")

    def test_unknown_layer_inside_a_subnetwork(self) -> None:
        exc = error({"sub": {"class": "subnetwork", "from": "data", "subnetwork": {
                        "inner": {"class": "copy", "from": "data"},
                        "output": {"class": "copy", "from": "inner"}}},
                     "output": {"class": "copy", "from": "sub/iner"}})
        assert exc.where == "output"
        assert "'sub/iner'" in exc.message
        assert exc.hint == "did you mean 'sub/inner'?"

    def test_unknown_layer_inside_a_rec_unit(self) -> None:
        exc = error({**DECODER, "x": {"class": "copy", "from": "output/prb", "is_output_layer": True}})
        assert exc.where == "x"
        assert "output/prob" in exc.hint

    def test_bare_data_key_is_not_a_layer(self) -> None:
        # RETURNN raises LayerNotFound for `from: "classes"`; data is read as data:classes
        exc = error({"output": {"class": "copy", "from": "classes"}}, extern_data=EXTERN)
        assert "'classes'" in exc.message
        assert exc.hint == "did you mean 'data:classes'?"

    def test_step_outside_a_rec(self) -> None:
        exc = error({"output": {"class": "copy", "from": ":i"}})
        assert "':i'" in exc.message and "rec" in exc.message

    def test_base_at_the_root(self) -> None:
        exc = error({"a": {"class": "copy", "from": "data"}, "output": {"class": "copy", "from": "base:a"}})
        assert exc.where == "output"
        assert "no enclosing network" in exc.message

    def test_prev_outside_a_rec_warns(self) -> None:
        g = graph({"a": {"class": "copy", "from": "data"}, "output": {"class": "copy", "from": "prev:a"}})
        assert kind(g, "a", "output") == "prev"
        assert any("'prev:a' outside a rec loop" in w for w in g.graph["warnings"])

    def test_unknown_reference_in_a_layer_never_constructed_only_warns(self) -> None:
        g = graph({"output": {"class": "copy", "from": "data"},
                   "unused": {"class": "copy", "from": "nothere"}})
        assert "unused" in g
        assert any(w.startswith("unused: unknown reference 'nothere'") for w in g.graph["warnings"])
        assert g.graph["missing"] == []

    def test_cycle_lists_the_layers_in_order(self) -> None:
        net = {"output": {"class": "copy", "from": "b"},
               "a": {"class": "copy", "from": "output"},
               "b": {"class": "copy", "from": "a"}}
        exc = error(net)
        assert exc.message.startswith("dependency cycle: ")
        cycle = exc.message[len("dependency cycle: "):].split(" -> ")
        assert cycle[0] == cycle[-1] == exc.where
        assert sorted(cycle[:-1]) == ["a", "b", "output"]
        for src, dst in itertools.pairwise(cycle):  # each step: dst reads src
            srcs = net[dst]["from"]
            assert src in (srcs if isinstance(srcs, list) else [srcs])
        assert "prev:" in exc.hint

    def test_self_reference_without_prev_is_a_cycle(self) -> None:
        # inside a rec unit RETURNN's lazy templates get past a cycle (its real construction then
        # fails: the checks' SG126), so the graph keeps it as a finding, not an error
        g = graph({"output": rec({"output": {"class": "copy", "from": "output"}})})
        assert g.graph["cycles"] == [["output/output"]]
        exc = error({"output": {"class": "copy", "from": "output"}})
        assert exc.where == "output"
        assert exc.message == "dependency cycle: output -> output"

    def test_cycle_through_prev_is_fine(self) -> None:
        g = graph({"output": rec({"a": {"class": "linear", "from": "prev:b"},
                                  "b": {"class": "linear", "from": "a"},
                                  "output": {"class": "copy", "from": "b"}})})
        assert kind(g, "output/b", "output/a") == "prev"

    @pytest.mark.parametrize("path, net", [
        ("output", {"output": {"from": "data"}}),
        ("output/s", {"output": rec({"s": {"from": "prev:s"}, "output": {"class": "copy", "from": "s"}})}),
    ])
    def test_missing_class(self, path: str, net: dict[str, Any]) -> None:
        exc = error(net)
        assert (exc.where, exc.message) == (path, "layer has no 'class'")
        assert "'class'" in exc.hint

    def test_class_not_a_string(self) -> None:
        exc = error({"output": {"class": ["linear"], "from": "data"}})
        assert exc.message == "'class' must be a string, got list"

    @pytest.mark.parametrize("path, net", [
        ("output", {"output": "linear"}),
        ("output/s", {"output": rec({"s": ["linear"], "output": {"class": "copy", "from": "s"}})}),
    ])
    def test_layer_not_a_dict(self, path: str, net: dict[str, Any]) -> None:
        exc = error(net)
        assert exc.where == path
        assert exc.message.startswith("layer definition must be a dict")

    @pytest.mark.parametrize("settings", [{"network": [1, 2]}, {"network": "output"}, {"network": {}}])
    def test_not_a_network(self, settings: dict[str, Any]) -> None:
        with pytest.raises(ConfigError) as info:
            load(settings)
        assert info.value.where == "<dict>"
        assert info.value.hint

    def test_unreadable_json(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text('{"output": {"class": "copy",\n  "from": "data",,\n}}\n')
        with pytest.raises(ConfigError) as info:
            load(path)
        assert info.value.where == f"{path}:2:18"  # line 2, the second comma
        assert info.value.message.startswith("invalid JSON")

    def test_json_not_an_object(self, tmp_path: Path) -> None:
        path = tmp_path / "list.json"
        path.write_text("[1, 2]")
        with pytest.raises(ConfigError, match="expected a JSON object"):
            load(path)

    def test_errors_are_searchgraph_errors(self) -> None:
        from searchgraph import SearchgraphError

        assert issubclass(NetworkError, SearchgraphError) and issubclass(ConfigError, SearchgraphError)


class TestBuildGraphNonStrict:
    """``strict=False``: unknown references become ``missing`` nodes."""

    NET: ClassVar[dict[str, Any]] = {"a": {"class": "linear", "from": "data"},
                           "output": {"class": "copy", "from": ["a", "nothere", "base:x"]}}

    def test_missing_nodes(self) -> None:
        g = graph(self.NET, strict=False)
        assert g.graph["missing"] == [("output", "nothere"), ("output", "base:x")]
        missing = [n for n in g if g.nodes[n]["node_kind"] == "missing"]
        assert missing == ["output:missing:nothere", "output:missing:base:x"]
        assert g.nodes["output:missing:nothere"]["local"] == "nothere"
        assert kind(g, "output:missing:nothere", "output") == "from"
        assert ("output:missing:nothere", "from", "missing", True) in g.nodes["output"]["inputs"]

    def test_strict_raises_on_the_same_network(self) -> None:
        assert "'nothere'" in error(self.NET).message

    def test_valid_network_has_no_missing(self) -> None:
        assert graph(DECODER, strict=False).graph["missing"] == []
        assert nx.utils.graphs_equal(graph(DECODER, strict=False), graph(DECODER))


# ---------------------------------------------------------------------------------------------------
class TestConstructedLayers:
    """Roots and reachability (spec §1.1)."""

    ROOTS: ClassVar[dict[str, Any]] = {
        "a": {"class": "linear", "from": "data"},
        "with_loss": {"class": "softmax", "from": "a", "loss": "ce", "target": "classes"},
        "shown": {"class": "copy", "from": "data", "is_output_layer": True},
        "registered": {"class": "copy", "from": "data", "register_as_extern_data": "reg"},
        "unreached": {"class": "copy", "from": "data"},
        "unreached_dep": {"class": "copy", "from": "data"},
        "unreached2": {"class": "copy", "from": "unreached_dep"},
        "searching": {"class": "copy", "from": "data", "only_on_search": True, "is_output_layer": True},
        "output": {"class": "copy", "from": "data"},
    }

    def test_roots_and_what_they_reach(self) -> None:
        g = graph(self.ROOTS, extern_data=EXTERN)
        built = constructed_layers(g)
        assert {n for n in built if g.nodes[n]["node_kind"] == "layer"} == {
            "a", "with_loss", "shown", "registered", "searching", "output"}
        assert "data:data" in built

    def test_only_on_search_only_in_search(self) -> None:
        g = graph(self.ROOTS, extern_data=EXTERN)
        assert "searching" in constructed_layers(g, search=True)
        assert "searching" not in constructed_layers(g, search=False)

    def test_data_targets_only_outside_search(self) -> None:
        g = graph(self.ROOTS, extern_data=EXTERN)
        assert "data:classes" not in constructed_layers(g, search=True)
        assert "data:classes" in constructed_layers(g, search=False)

    def test_no_roots_nothing_built(self) -> None:
        g = graph({"a": {"class": "linear", "from": "data"}})
        assert constructed_layers(g) == set()

    def test_extra_net_output_is_a_root(self) -> None:
        g = graph({"extra.search:output": {"class": "copy", "from": "data"},
                   "x": {"class": "copy", "from": "data"}})
        assert constructed_layers(g) == {"extra.search:output", "data:data"}

    def test_rec_unit_roots(self) -> None:
        net = {"output": rec({
            "s": {"class": "linear", "from": "prev:output"},
            "shown": {"class": "copy", "from": "s", "is_output_layer": True},
            "last": {"class": "copy", "from": "s", "need_last": True},
            "aux_loss": {"class": "softmax", "from": "s", "loss": "ce", "target": "classes"},
            "unused": {"class": "copy", "from": "s"},
            "end": {"class": "compare", "from": "output", "value": 0},
            "output": {"class": "choice", "from": "s", "target": "classes"}})}
        g = graph(net)
        expected = {"output", "output/s", "output/shown", "output/last", "output/end", "output/output"}
        assert constructed_layers(g) == expected
        # losses inside a loop are built only when the network evaluates them
        assert constructed_layers(g, eval_flag=True) == expected | {"output/aux_loss"}

    def test_subnetwork_output_is_reached_through_the_subnetwork(self) -> None:
        g = graph({"sub": {"class": "subnetwork", "from": "data", "subnetwork": {
                       "x": {"class": "copy", "from": "data"},
                       "unused": {"class": "copy", "from": "data"},
                       "output": {"class": "copy", "from": "x"}}},
                   "output": {"class": "copy", "from": "sub"}})
        assert constructed_layers(g) == {"output", "sub", "sub/output", "sub/x", "data:data"}

    def test_a_unit_that_is_not_reached_builds_nothing(self) -> None:
        g = graph({"dec": rec({"output": {"class": "choice", "from": "prev:output", "target": "classes"}}),
                   "output": {"class": "copy", "from": "data"}})
        assert constructed_layers(g) == {"output", "data:data"}

    def test_decoder(self) -> None:
        g = graph(DECODER)
        assert constructed_layers(g) == {"encoder", "data:data", "output", "output/s", "output/att",
                                         "output/prob", "output/output", "output/end", "decision"}


class TestWithoutPrev:
    def test_acyclic_for_a_decoder(self) -> None:
        g = graph(DECODER)
        assert not nx.is_directed_acyclic_graph(g)  # prev:s on s is a self-loop
        view = without_prev(g)
        assert nx.is_directed_acyclic_graph(view)
        assert set(view) == set(g)
        assert set(g.edges) - set(view.edges) == {("output/s", "output/s"), ("output/output", "output/s")}

    def test_a_prev_cycle_across_layers_is_cut(self) -> None:
        g = graph({"output": rec({"a": {"class": "linear", "from": "prev:b"},
                                  "b": {"class": "linear", "from": "a"},
                                  "output": {"class": "copy", "from": "b"}})})
        assert not nx.is_directed_acyclic_graph(g)
        assert list(nx.topological_sort(without_prev(g))) == ["output/a", "output/b", "output/output",
                                                             "output"]

    def test_no_prev_edges_is_the_same_graph(self) -> None:
        g = graph({"output": {"class": "copy", "from": "data"}})
        assert set(without_prev(g).edges) == set(g.edges)

    def test_is_a_view(self) -> None:
        g = graph(DECODER)
        view = without_prev(g)
        g.add_edge("encoder", "decision", kind="from", kinds=["from"])
        assert view.has_edge("encoder", "decision")


class TestUnitLayers:
    def test_root_layers_in_order(self) -> None:
        g = graph(DECODER)
        assert unit_layers(g, None) == ["encoder", "output", "decision"]

    def test_unit_layers_in_order(self) -> None:
        g = graph(DECODER)
        assert unit_layers(g, "output") == ["output/s", "output/att", "output/prob", "output/output",
                                            "output/end"]

    def test_step_node_is_in_its_unit(self) -> None:
        g = graph({"output": rec({"output": {"class": "range_in_axis", "from": ":i", "axis": "T"}})})
        assert unit_layers(g, "output") == ["output/output", "output/:i"]

    def test_not_a_unit(self) -> None:
        g = graph(DECODER)
        assert unit_layers(g, "encoder") == []
        assert unit_layers(g, "no such layer") == []


class TestGraphToJson:
    def test_serialisable_and_round_trips(self) -> None:
        net = {**DECODER, "f": {"class": "eval", "from": "encoder", "eval": "source(0)",
                                "out_type": {"shape": (None, 3)}, "is_output_layer": True,
                                "fn": {"__callable__": "x"}, "obj": object()}}
        g = graph(net)
        data = json.loads(json.dumps(graph_to_json(g)))
        h = nx.node_link_graph(data, edges="links")
        assert h.is_directed()
        assert set(h) == set(g)
        assert set(h.edges) == set(g.edges)
        for u, v, edge in g.edges(data=True):
            assert h.edges[u, v]["kind"] == edge["kind"]
            assert h.edges[u, v]["dep"] == edge["dep"]
        assert h.nodes["f"]["options"]["out_type"] == {"shape": [None, 3]}
        assert h.nodes["f"]["options"]["obj"].startswith("<object object")
        assert h.graph["source"] == "<dict>"

    def test_does_not_change_the_graph(self) -> None:
        g = graph({"output": {"class": "copy", "from": "data", "dims": (1, 2)}})
        graph_to_json(g)
        assert g.nodes["output"]["options"]["dims"] == (1, 2)
