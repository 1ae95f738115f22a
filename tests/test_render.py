"""Diagrams: structure of the DOT (nodes, edges, clusters, colours, shapes), determinism, options,
the lattice, output formats and file writing, golden files (every corpus network through ``dot``:
``test_corpus_render.py``).

Golden files: ``SEARCHGRAPH_REGEN_GOLDEN=1 pytest tests/test_render.py`` rewrites ``tests/golden/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import searchgraph
from searchgraph.analysis.plan import plan_network
from searchgraph.errors import SearchgraphError
from searchgraph.interfaces.notebook import repr_svg
from searchgraph.render import (
    FORMATS,
    OutputExistsError,
    RenderError,
    beam_path,
    lattice_dot,
    network_dot,
    render_bytes,
    write,
    write_lattice,
    write_network,
)
from searchgraph.render.dot import parse_meta, quote
from searchgraph.render.network import BIG, ERROR, FILLS, GREY_FILL, MARK, TRANSLATED
from searchgraph.search.trace import SearchTrace

from .conftest import ROOT
from .dot_support import Dot

EXAMPLE = ROOT / "examples" / "attention_decoder.config"
TRACE = ROOT / "examples" / "attention_decoder.trace.npz"
CASES = ROOT / "tests" / "oracle" / "cases"
GOLDEN = ROOT / "tests" / "golden"
REGEN = os.environ.get("SEARCHGRAPH_REGEN_GOLDEN", "") not in ("", "0")

def _analysis(path: Path | str, mode: str = "search") -> searchgraph.Analysis:
    return searchgraph.analyze(searchgraph.load(path), mode=mode)


@pytest.fixture(scope="module")
def example() -> searchgraph.Analysis:
    return _analysis(EXAMPLE)


@pytest.fixture(scope="module")
def example_dot(example: searchgraph.Analysis) -> Dot:
    return Dot.parse(network_dot(example, plans=plan_network(example)))


# -- network diagram: structure ---------------------------------------------------------------------

class TestNetworkStructure:
    def test_every_layer_and_the_data_it_reads(self, example: searchgraph.Analysis, example_dot: Dot) -> None:
        layers = set(example.layers)
        assert layers <= set(example_dot.nodes)
        assert set(example_dot.nodes) - layers == {"data:data", "legend"}  # classes: a target, unread in search
        assert example_dot.nodes["data:data"]["shape"] == "cds"

    def test_clusters_nest_units_and_placements(self, example_dot: Dot) -> None:
        assert example_dot.clusters["cluster:output"] == []
        assert example_dot.clusters["cluster:output#loop"] == ["cluster:output"]
        assert example_dot.where["output/s"] == ["cluster:output", "cluster:output#loop"]
        assert example_dot.where["output"] == ["cluster:output"]
        assert example_dot.where["encoder"] == [] and example_dot.where["decision"] == []

    def test_moved_out_layers_are_apart_from_the_loop(self) -> None:
        for case, placement, layer in (("moveout-output-copies", "output", "output/out_copy"),
                                       ("moveout-input-projections", "input", "output/enc_ctx_in")):
            analysis = _analysis(CASES / f"{case}.json")
            assert analysis.layers[layer].placement == placement
            dot = Dot.parse(network_dot(analysis))
            assert dot.where[layer] == ["cluster:output", f"cluster:output#{placement}"]
            assert dot.where["output/s"] == ["cluster:output", "cluster:output#loop"]
            source = network_dot(analysis)
            assert re.search(rf'subgraph "cluster:output#{placement}" {{\n\s*label="moved out: '
                             rf'{"after" if placement == "output" else "before"} the loop"', source)

    def test_subnetworks_nest(self) -> None:
        dot = Dot.parse(network_dot(_analysis(CASES / "subnetwork-root-and-rec.json")))
        assert dot.where["enc_sub/l1"] == ["cluster:enc_sub"]
        assert dot.where["output/emb_sub/e"] == ["cluster:output", "cluster:output#loop", "cluster:output/emb_sub"]
        assert dot.nodes["enc_sub"]["shape"] == "component"

    def test_fill_by_beam_and_shapes(self, example: searchgraph.Analysis, example_dot: Dot) -> None:
        fill = FILLS[0]  # the only current-frame beam: output/output
        assert example_dot.nodes["output/output"]["fillcolor"] == fill
        assert example_dot.nodes["output/output"]["shape"] == "hexagon"
        assert example_dot.nodes["decision"]["shape"] == "octagon"
        assert example_dot.nodes["output"]["shape"] == "component"
        assert example_dot.nodes["output/s"]["fillcolor"] == fill  # prev:output: same colour, dashed
        assert "dashed" in example_dot.nodes["output/s"]["style"]
        assert "dashed" not in example_dot.nodes["output/target_embed"]["style"]
        for name, lb in example.layers.items():
            if lb.beam is None:
                assert example_dot.nodes[name]["fillcolor"] == "#ffffff", name
        assert example_dot.nodes["output/s"]["label"] == "s\nrnn_cell ×12"

    def test_legend_lists_the_beams(self, example_dot: Dot) -> None:
        label = example_dot.nodes["legend"]["label"]
        assert f'BGCOLOR="{FILLS[0]}"' in label and "output/output ×12" in label

    def test_edge_styles_by_kind(self, example_dot: Dot) -> None:
        prev = example_dot.edges[("output/target_embed", "output/s")]
        assert prev["style"] == "dotted" and prev["constraint"] == "false"
        assert example_dot.edges[("encoder", "output/att0")]["style"] == "dashed"  # base:encoder
        assert example_dot.edges[("output/att_weights", "output/att0")]["label"] == "weights"
        assert "style" not in example_dot.edges[("output/energy", "output/att_weights")]
        assert all(a != b for a, b in example_dot.edges)

    def test_translation_edges_carry_their_plan(self, example_dot: Dot) -> None:
        tiled = example_dot.edges[("enc_ctx", "output/energy_in")]
        assert tiled["label"] == "tile ×12" and tiled["color"] == TRANSLATED
        analysis = _analysis(CASES / "multi-choice-2-chained.json")
        dot = Dot.parse(network_dot(analysis, plans=plan_network(analysis)))
        assert dot.edges[("output/lin1", "output/lin2b")]["label"] == "select via output/choice1"
        assert "label" not in Dot.parse(network_dot(analysis)).edges[("output/lin1", "output/lin2b")]

    def test_error_layers_are_red_with_the_message(self) -> None:
        analysis = _analysis(CASES / "reject-independent-choices-in-frame.json")
        dot = Dot.parse(network_dot(analysis, plans=plan_network(analysis)))
        node = dot.nodes["output/s"]
        assert node["color"] == ERROR and node["fontcolor"] == ERROR
        assert "Cannot combine beams" in node["tooltip"] and "fix: " in node["tooltip"]
        assert dot.nodes["output/embA"]["color"] != ERROR

    def test_names_are_quoted(self) -> None:
        assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


class TestNetworkOptions:
    def test_byte_identical(self, example: searchgraph.Analysis) -> None:
        first = network_dot(example, plans=plan_network(example))
        again = _analysis(EXAMPLE)
        assert network_dot(again, plans=plan_network(again)) == first

    def test_byte_identical_across_processes(self) -> None:
        code = ("import searchgraph, sys; from searchgraph.analysis.plan import plan_network; "
                "from searchgraph.render import network_dot; a = searchgraph.analyze(sys.argv[1]); "
                "sys.stdout.write(network_dot(a, plans=plan_network(a), focus='output/att'))")
        outs = [subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], capture_output=True, text=True,
                               check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
                for seed in ("1", "2")]
        assert outs[0] == outs[1] and outs[0].startswith("digraph")

    def test_focus_greys_all_but_the_beam_path(self, example: searchgraph.Analysis) -> None:
        path = beam_path(example, "output/att")
        assert path[-1] == "output/att" or "output/att" in path
        assert {"output/output", "output/target_embed", "output/s", "output/att0"} <= set(path)
        assert not {"output/readout", "output/end", "encoder", "decision"} & set(path)
        dot = Dot.parse(network_dot(example, focus="output/att"))
        for name in example.layers:
            assert (dot.nodes[name]["fillcolor"] == GREY_FILL) == (name not in path), name
        assert dot.nodes["output/att"]["penwidth"] == "3.0"
        assert dot.edges[("output/att0", "output/att")]["color"] != "#d0d0d0"
        assert dot.edges[("encoder", "output/att0")]["color"] == "#d0d0d0"

    def test_beam_path_of_a_beamless_layer_is_itself(self, example: searchgraph.Analysis) -> None:
        assert beam_path(example, "encoder") == ["encoder"]

    def test_collapse(self, example: searchgraph.Analysis) -> None:
        dot = Dot.parse(network_dot(example, collapse_depth=0))
        assert not [n for n in dot.nodes if n.startswith("output/")]
        assert dot.nodes["output"]["shape"] == "box3d" and "layers collapsed" in dot.nodes["output"]["label"]
        assert ("encoder", "output") in dot.edges and ("output", "decision") in dot.edges
        assert not dot.clusters.keys() - {"cluster:legend"}
        assert network_dot(example, collapse_depth=1) == network_dot(example)
        # a focus or mark inside a collapsed unit lands on the unit
        dot = Dot.parse(network_dot(example, collapse_depth=0, focus="output/att", mark=["output/s"]))
        assert dot.nodes["output"]["peripheries"] == "2" and dot.nodes["output"]["fillcolor"] != GREY_FILL
        assert dot.nodes["encoder"]["fillcolor"] == GREY_FILL

    def test_hide_beamless(self, example: searchgraph.Analysis) -> None:
        dot = Dot.parse(network_dot(example, hide_beamless=True))
        shown = set(dot.nodes) - {"legend"}
        assert shown == {n for n, lb in example.layers.items() if lb.beam is not None}
        assert "encoder" not in shown and "data:data" not in shown

    def test_show_options_and_mark(self, example: searchgraph.Analysis) -> None:
        dot = Dot.parse(network_dot(example, show_options=True, mark=["output/s"]))
        assert "beam_size=12" in dot.nodes["output/output"]["label"]
        assert "target='classes'" in dot.nodes["output/output"]["label"]
        assert dot.nodes["output/s"]["peripheries"] == "2" and dot.nodes["output/s"]["color"] == MARK
        assert "peripheries" not in dot.nodes["output/att"]

    def test_rankdir(self, example: searchgraph.Analysis) -> None:
        assert "graph [rankdir=LR," in network_dot(example, rankdir="LR")

    @pytest.mark.parametrize("kwargs, where", [({"rankdir": "XX"}, None), ({"focus": "output/nope"}, "output/nope"),
                                               ({"mark": ["nope"]}, "nope"), ({"collapse_depth": -1}, None)])
    def test_bad_options(self, example: searchgraph.Analysis, kwargs: dict, where: str | None) -> None:
        with pytest.raises(RenderError) as exc:
            network_dot(example, **kwargs)
        assert exc.value.where == where and exc.value.hint
        assert isinstance(exc.value, SearchgraphError)

    def test_train_mode(self) -> None:
        dot = Dot.parse(network_dot(_analysis(EXAMPLE, mode="train")))
        assert "data:classes" in dot.nodes  # training reads the target

    def test_big_graphs_place_edge_labels_after_the_layout(self) -> None:
        net = {f"x{i}": {"class": "copy", "from": f"x{i - 1}" if i else "data", "is_output_layer": True}
               for i in range(BIG + 2)}
        net["output"] = {"class": "generic_attention", "weights": "x1", "base": "x0"}
        dot = Dot.parse(network_dot(searchgraph.analyze({"network": net})))
        assert dot.edges[("x1", "output")]["xlabel"] == "weights" and "label" not in dot.edges[("x1", "output")]

    def test_metadata_for_the_html_page(self, example: searchgraph.Analysis) -> None:
        source = network_dot(example)
        dot, meta = Dot.parse(source), parse_meta(source)
        ids = {attrs["id"]: name for name, attrs in dot.nodes.items() if name != "legend"}
        assert {v["name"] for v in meta["nodes"].values()} == set(ids.values())
        att = next(k for k, v in meta["nodes"].items() if v["name"] == "output/att")
        assert {ids[i] for i in meta["nodes"][att]["path"]} == set(beam_path(example, "output/att"))
        assert [ids[i] for i in meta["nodes"][att]["inputs"]] == ["output/att0"]
        edge_ids = {(a["id"]) for a in dot.edges.values()}
        assert set(meta["edges"]) == edge_ids


# -- lattice ----------------------------------------------------------------------------------------

def _small_trace() -> SearchTrace:
    """Two choices per frame (a: K=3, b: K=3), three frames, one batch entry; b carries the end flags."""
    lab = np.array([[[1, 2, 3]], [[4, 5, 6]], [[7, 8, 9]]])
    src_a = np.array([[[0, 0, 0]], [[0, 0, 1]], [[2, 0, 1]]])
    src_b = np.array([[[1, 0, 2]], [[0, 2, 1]], [[1, 1, 0]]])
    end = np.array([[[0, 0, 0]], [[0, 1, 0]], [[0, 1, 1]]]).astype(bool)
    return SearchTrace.from_arrays("out", ["out/a", "out/b"], {"out/a": lab, "out/b": lab + 10},
                                   {"out/a": src_a, "out/b": src_b}, {"out/a": -lab * 1.0, "out/b": -(lab + 10.0)},
                                   end_flags=end, end_choice="out/b")


class TestLattice:
    def test_nodes_edges_and_bands(self) -> None:
        dot = Dot.parse(lattice_dot(_small_trace()))
        hyps = [n for n in dot.nodes if ":t" in n]
        assert len(hyps) == 3 * 2 * 3 and "b0:start:0" in dot.nodes
        assert dot.nodes["b0:t1:out/a:2"]["label"] == "6\n-6.00"
        # parents: a's src_beams index the previous frame's b, b's index this frame's a
        assert ("b0:t0:out/b:1", "b0:t1:out/a:2") in dot.edges
        assert ("b0:t1:out/a:1", "b0:t1:out/b:2") in dot.edges
        assert ("b0:start:0", "b0:t0:out/a:1") in dot.edges
        assert len(dot.edges) == len(hyps)
        assert dot.where["b0:t2:out/b:0"] == ["cluster:b0", "cluster:b0:t2", "cluster:b0:t2:out/b"]

    def test_final_paths_and_ended(self) -> None:
        from searchgraph.search.backtrack import backtrack

        trace = _small_trace()
        result = backtrack(trace)
        dot = Dot.parse(lattice_dot(trace, result))
        best = [f"b0:t{t}:{c}:{int(result.beam_indices[c][t, 0, 0])}" for t in range(3) for c in trace.choices]
        for name in best:
            assert dot.nodes[name]["color"] == "#d62728" and dot.nodes[name]["penwidth"] == "2.0"
        assert dot.nodes["b0:t2:out/b:0"]["label"].endswith(f"#1 len {int(result.lengths[0, 0])}")
        assert dot.nodes["b0:t1:out/b:1"]["peripheries"] == "2"  # end flag
        assert "peripheries" not in dot.nodes["b0:t1:out/b:0"]
        on_path = {f"b0:t{t}:{c}:{int(result.beam_indices[c][t, 0, k])}"
                   for t in range(3) for c in trace.choices for k in range(3)}
        for name in (n for n in dot.nodes if ":t" in n):
            assert (dot.nodes[name]["color"] == "#b0b0b0") == (name not in on_path), name

    def test_one_choice_has_no_choice_bands(self) -> None:
        trace = SearchTrace.load(TRACE)
        source = lattice_dot(trace)
        dot = Dot.parse(source)
        hyps = [n for n in dot.nodes if ":t" in n]
        assert len(hyps) == trace.frames * trace.batch * trace.beam_sizes[trace.latest_choice]
        assert not [c for c in dot.clusters if c.count(":") > 2]
        best = [n for n in hyps if dot.nodes[n]["color"] == "#d62728"]
        assert len(best) == trace.frames * trace.batch  # one best path per batch entry
        assert source == lattice_dot(SearchTrace.load(TRACE))
        meta = parse_meta(source)
        assert len(meta["nodes"]) == len(dot.nodes)


    @pytest.mark.usefixtures("needs_dot")
    def test_three_choices_render(self) -> None:
        rng = np.random.default_rng(0)
        t_max, batch, k = 10, 2, 4
        choices = ["o/a", "o/b", "o/c"]
        trace = SearchTrace.from_arrays(
            "o", choices, {c: rng.integers(0, 50, (t_max, batch, k)) for c in choices},
            {c: rng.integers(0, k, (t_max, batch, k)) for c in choices},
            {c: -np.sort(rng.random((t_max, batch, k)) * 10, axis=2) for c in choices},
            end_flags=rng.random((t_max, batch, k)) > 0.8, end_choice="o/b")
        source = lattice_dot(trace)
        svg = render_bytes(source, "svg").decode()
        dot = Dot.parse(source)
        assert len([n for n in dot.nodes if ":t" in n]) == t_max * batch * k * 3
        assert len(re.findall(r'class="node"', svg)) == len(dot.nodes)
        assert len([c for c in dot.clusters if c.count(":") == 3]) == batch * t_max * 3  # one band per choice


# -- formats and files ------------------------------------------------------------------------------

class TestOutput:
    def test_dot_format_needs_no_dot(self, example: searchgraph.Analysis, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        source = network_dot(example)
        assert render_bytes(source, "dot") == source.encode()
        with pytest.raises(RenderError, match="dot program is not installed") as exc:
            render_bytes(source, "svg")
        assert "apt-get install graphviz" in exc.value.hint

    def test_unknown_format(self) -> None:
        with pytest.raises(RenderError, match="unknown diagram format"):
            render_bytes("digraph {}", "jpeg")
        assert FORMATS == ("dot", "svg", "png", "pdf", "html")

    @pytest.mark.usefixtures("needs_dot")
    def test_formats(self, example: searchgraph.Analysis) -> None:
        source = network_dot(example, plans=plan_network(example))
        svg = render_bytes(source, "svg").decode()
        assert '<g id="n0" class="node">' in svg and "tile ×12" in svg
        assert render_bytes(source, "png").startswith(b"\x89PNG")
        assert render_bytes(source, "pdf").startswith(b"%PDF")
        page = render_bytes(source, "html").decode()
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<!DOCTYPE svg" not in page
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=|url\(|@import", page)
        assert parse_meta(source) == __import__("json").loads(
            re.search(r'<script id="sg-meta" type="application/json">(.*?)</script>', page).group(1))

    @pytest.mark.usefixtures("needs_dot")
    def test_dot_errors_are_render_errors(self) -> None:
        with pytest.raises(RenderError, match="dot failed"):
            render_bytes("digraph { a -> }", "svg")

    @pytest.mark.usefixtures("needs_dot")
    def test_write_refuses_to_overwrite(self, example: searchgraph.Analysis, tmp_path: Path) -> None:
        out = tmp_path / "net.svg"
        assert write_network(example, out) == out and out.read_bytes().startswith(b"<?xml")
        out.write_text("mine")
        with pytest.raises(OutputExistsError) as exc:
            write_network(example, out)
        assert isinstance(exc.value, FileExistsError) and exc.value.where == str(out)
        assert out.read_text() == "mine"
        write_network(example, out, force=True, rankdir="LR")
        assert out.read_bytes().startswith(b"<?xml")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["net.svg"]  # no temporary files left

    def test_write_network_plans_by_default(self, example: searchgraph.Analysis, tmp_path: Path) -> None:
        out = write_network(example, tmp_path / "net.gv")
        assert out.read_text() == network_dot(example, plans=plan_network(example))
        assert 'label="tile ×12"' in out.read_text()

    def test_write_format_from_suffix(self, example: searchgraph.Analysis, tmp_path: Path) -> None:
        out = write(network_dot(example), tmp_path / "net.gv")
        assert out.read_text().startswith("digraph searchgraph {")
        with pytest.raises(RenderError, match="suffix '.jpg'"):
            write("digraph {}", tmp_path / "x.jpg")
        write("digraph {}", tmp_path / "x.jpg", fmt="dot")
        with pytest.raises(RenderError, match="folder does not exist"):
            write("digraph {}", tmp_path / "no" / "x.gv")

    @pytest.mark.usefixtures("needs_dot")
    def test_write_lattice(self, tmp_path: Path) -> None:
        out = write_lattice(_small_trace(), tmp_path / "lattice.html")
        assert "search lattice of out" in out.read_text()
        with pytest.raises(FileExistsError):
            write_lattice(_small_trace(), out)

    @pytest.mark.usefixtures("needs_dot")
    def test_repr_svg(self, example: searchgraph.Analysis) -> None:
        assert repr_svg(example).startswith("<svg")
        assert repr_svg(_small_trace()).startswith("<svg")
        assert example._repr_svg_() == repr_svg(example)  # what Jupyter shows
        assert _small_trace()._repr_svg_() == repr_svg(_small_trace())
        with pytest.raises(TypeError):
            repr_svg(42)

    def test_public_api(self) -> None:
        from searchgraph import render

        assert set(render.__all__) == {
            "FORMATS", "OutputExistsError", "RenderError", "beam_path", "format_for", "lattice_dot",
            "network_dot", "render_bytes", "write", "write_lattice", "write_network"}


# -- golden files -----------------------------------------------------------------------------------

def _golden_sources() -> dict[str, str]:
    example = _analysis(EXAMPLE)
    plans = plan_network(example)
    out = {
        "attention_decoder.gv": network_dot(example, plans=plans),
        "attention_decoder.focus-att.gv": network_dot(example, plans=plans, focus="output/att", rankdir="LR"),
        "attention_decoder.collapsed.gv": network_dot(example, plans=plans, collapse_depth=0),
        "attention_decoder.diagnose.gv": network_dot(example, plans=plans, hide_beamless=True,
                                                     show_options=True, mark=["output/s"]),
        "small_two_choices.lattice.gv": lattice_dot(_small_trace()),
    }
    if TRACE.exists():
        out["attention_decoder.lattice.gv"] = lattice_dot(SearchTrace.load(TRACE))
    # the DOT names the config as it was given (here absolute): golden files hold it relative to the checkout
    root = str(EXAMPLE.parents[1]) + os.sep
    return {name: source.replace(root, "") for name, source in out.items()}


@pytest.mark.parametrize("name", sorted(_golden_sources()))
def test_golden(name: str) -> None:
    source = _golden_sources()[name]
    path = GOLDEN / name
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with SEARCHGRAPH_REGEN_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8"), \
        f"{name} differs from its golden file; if the change is intended, run with SEARCHGRAPH_REGEN_GOLDEN=1"
