"""The ``searchgraph`` command line: output at a fixed width, exit codes, messages, no traceback.

Exit codes: 0 fine, 1 the network has errors RETURNN would raise, 2 unusable input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from .cli_support import EXTERN, TWO_CHOICES, one_line, run, write
from .conftest import ROOT

#: A 3-layer decoder. RETURNN (1.20261022, search_flag=True) reports: output/prob on
#: output/prev:output (K=4); the choice and `end` on output/output, chosen from output/prev:output;
#: the rec layer itself on output/output; all unit layers stay in the loop.
DECODER: dict[str, Any] = {"network": {
    "output": {"class": "rec", "from": [], "max_seq_len": 10, "target": "classes", "unit": {
        "prob": {"class": "softmax", "from": "prev:output", "target": "classes"},
        "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
                   "initial_output": 0},
        "end": {"class": "compare", "from": "output", "value": 0}}}},
    "extern_data": EXTERN}

BEAM_KEYS = {"beam", "beam_size", "beam_chain", "choice", "placement", "error"}


@pytest.fixture(autouse=True)
def _plain(plain_console: None) -> None:
    """Every test here: a fixed-width, colourless console (``plain_console`` in conftest)."""


def with_unit(**layers: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(DECODER))
    data["network"]["output"]["unit"].update(layers)
    return data


# ---------------------------------------------------------------------------------------------------
class TestGraphCommand:
    def test_tree(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = write(tmp_path, DECODER)
        code, out, err = run(capsys, "graph", path)
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == f"network {path}"
        assert lines[1:] == [
            "└── output  [rec]  ← option:target ← data:classes, sub:output ← output/output",
            "    ├── prob  [softmax]  ← prev:output ← output/output",
            "    ├── output  [choice]  ← output/prob",
            "    └── end  [compare]  ← output/output",
        ]

    def test_tree_prints_warnings(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = write(tmp_path, {"output": {"class": "my_layer", "from": "data"}}, "custom.json")
        code, out, _ = run(capsys, "graph", path)
        assert code == 0
        assert "warning: output: unknown layer class 'my_layer'" in one_line(out)

    def test_json_is_node_link_data(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "graph", write(tmp_path, DECODER), "--json")
        assert code == 0
        data = json.loads(out)
        assert data["directed"] is True
        g = nx.node_link_graph(data, edges="links")
        assert set(g) == {"output", "output/prob", "output/output", "output/end", "data:classes"}
        assert g.edges["output/output", "output/prob"]["kind"] == "prev"
        assert g.edges["output/output", "output"]["kind"] == "sub"


class TestBeamsCommand:
    def test_table_at_width_100(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, err = run(capsys, "beams", write(tmp_path, DECODER))
        assert (code, err) == (0, "")
        # columns: widest cell + 2 spaces between; 60 wide; title and caption centred in it
        expected = "\n".join([
            f"{'':13}Beams (search mode): decoder.json{'':14}",
            "layer          class    place  beam                K  choice",
            "output         rec             output/output       4  = beam",
            "output/prob    softmax  loop   output/prev:output  4  = beam",
            "output/output  choice   loop   output/output       4  = beam",
            "output/end     compare  loop   output/output       4  = beam",
            f"{'':16}4 layers, 2 beams, 0 errors{'':17}",
        ]) + "\n"
        assert out == expected

    def test_json_per_layer(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "beams", write(tmp_path, DECODER), "--json")
        assert code == 0
        layers = json.loads(out)["layers"]
        assert set(layers) == {"output", "output/prob", "output/output", "output/end"}
        for record in layers.values():
            assert set(record) == BEAM_KEYS
        chosen = ["output/output", "output/prev:output"]
        assert layers["output/prob"] == {"beam": "output/prev:output", "beam_size": 4,
                                         "beam_chain": ["output/prev:output"],
                                         "choice": "output/prev:output", "placement": "loop",
                                         "error": None}
        assert layers["output/end"] == {"beam": "output/output", "beam_size": 4, "beam_chain": chosen,
                                        "choice": "output/output", "placement": "loop", "error": None}
        assert layers["output"]["placement"] == "net"
        assert layers["output"]["beam_chain"] == chosen

    def test_layer_detail(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "beams", write(tmp_path, DECODER), "--layer", "output/end")
        assert code == 0
        assert out.splitlines() == [
            "output/end  (compare, loop)",
            "├── beam: output/output ×4",
            "│   └── chosen from output/prev:output",
            "├── search choice: output/output",
            "└── path from the choice",
            "    └── output/output",
            "        └── output/end",
        ]

    def test_layer_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "beams", write(tmp_path, DECODER), "--layer", "output/prob", "--json")
        assert code == 0
        layers = json.loads(out)["layers"]
        assert list(layers) == ["output/prob"]
        assert layers["output/prob"]["beam"] == "output/prev:output"

    def test_unknown_layer(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, err = run(capsys, "beams", write(tmp_path, DECODER), "--layer", "output/ende")
        assert (code, out) == (2, "")
        assert err.splitlines() == [
            "error: output/ende: no layer 'output/ende' is constructed in search mode",
            "hint: did you mean output/end, output, output/prob?",
        ]

    def test_train_mode(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "beams", write(tmp_path, DECODER), "--mode", "train", "--json")
        assert code == 0
        # without search, the choice takes the target: no beams anywhere
        assert {r["beam"] for r in json.loads(out)["layers"].values()} == {None}

    def test_errors_exit_1(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = write(tmp_path, TWO_CHOICES, "two.json")
        code, out, err = run(capsys, "beams", path)
        assert (code, err) == (1, "")
        assert "Cannot combine beams" in out
        assert "1 error" in out
        code, out, _ = run(capsys, "beams", path, "--json")
        assert code == 1
        errors = {n: r["error"] for n, r in json.loads(out)["layers"].items() if r["error"]}
        assert list(errors) == ["output/both"]
        assert "Cannot combine beams" in errors["output/both"]


class TestBadInput:
    """Exit 2 and a one-paragraph message: ``error: WHERE: WHAT`` then ``hint: ...``."""

    @pytest.fixture(autouse=True)
    def wide(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "400")  # temporary paths are long: keep each message on one line

    @pytest.mark.parametrize("command", ["graph", "beams", "plan"])
    def test_missing_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
        path = tmp_path / "nothere.json"
        code, out, err = run(capsys, command, str(path))
        assert (code, out) == (2, "")
        assert err.splitlines() == [f"error: no such file: {path}", "hint: check the path"]

    def test_invalid_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text('{\n "output": {"class": "copy" "from": "data"}\n}\n')
        code, out, err = run(capsys, "beams", str(path))
        assert (code, out) == (2, "")
        lines = err.splitlines()
        assert lines[0].startswith(f"error: {path}:2:")
        assert "invalid JSON" in lines[0]
        assert lines[1] == "hint: check the file is valid JSON"

    @staticmethod
    def misspelt(tmp_path: Path) -> str:
        net = with_unit(s={"class": "linear", "from": ["prev:s", "base:encodr"]},
                        prob={"class": "softmax", "from": ["prev:output", "s"], "target": "classes"})
        net["network"]["encoder"] = {"class": "linear", "from": "data", "n_out": 4}
        return write(tmp_path, net)

    def test_unknown_reference(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, err = run(capsys, "graph", self.misspelt(tmp_path))
        assert (code, out) == (2, "")
        assert err.splitlines() == ["error: output/s: unknown reference 'base:encodr': no such layer",
                                    "hint: did you mean 'base:encoder'?"]

    def test_unknown_reference_is_a_layer_error_for_beams(self, capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
        # provenance analyses broken networks too: the bad reference is RETURNN's LayerNotFound on
        # the layer (exit 1), not unusable input
        code, out, err = run(capsys, "beams", self.misspelt(tmp_path), "--json")
        assert (code, err) == (1, "")
        errors = {n: r["error"] for n, r in json.loads(out)["layers"].items() if r["error"]}
        assert list(errors) == ["output/s"]
        assert errors["output/s"] == "LayerNotFound: layer 'encodr' not found (searched from output/s)"

    def test_cycle(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        # a cycle inside a rec unit: RETURNN templates it (lazily), then its real construction
        # raises; a finding on the layer (exit 1), not unusable input
        net = with_unit(prob={"class": "softmax", "from": "end", "target": "classes"})
        code, out, err = run(capsys, "beams", write(tmp_path, net), "--json")
        assert (code, err) == (1, "")
        errors = {n: r["error"] for n, r in json.loads(out)["layers"].items() if r["error"]}
        assert errors == {"output/output": "NetworkConstructionDependencyLoopException: There is a "
                          "dependency loop on layer 'output' (output/prob -> output/output -> "
                          "output/end -> output/prob)."}

    def test_missing_class(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        net = with_unit(end={"from": "output"})
        code, out, err = run(capsys, "beams", write(tmp_path, net))
        assert (code, out) == (2, "")
        assert err.splitlines() == ["error: output/end: layer has no 'class'",
                                    "hint: add e.g. 'class': 'linear'"]

    def test_internal_errors_are_reported_not_raised(self, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        import searchgraph.graph

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(searchgraph.graph, "build_layer_graph", broken)
        code, _, err = run(capsys, "graph", write(tmp_path, DECODER))
        assert code == 3
        assert "internal error: RuntimeError: boom" in err
        assert "SEARCHGRAPH_DEBUG=1" in err


# ---------------------------------------------------------------------------------------------------
def _subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    env.pop("SEARCHGRAPH_DEBUG", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=False)


class TestSubprocess:
    """The real command: exit codes and never a traceback."""

    @pytest.mark.parametrize("command, data, name, expected", [
        ("beams", DECODER, "ok.json", 0),
        ("graph", DECODER, "ok.json", 0),
        ("beams", TWO_CHOICES, "two.json", 1),
        ("beams", None, "missing.json", 2),
        ("beams", "{not json", "bad.json", 2),
        ("graph", {"output": {"class": "copy", "from": "nothere"}}, "unknown.json", 2),
        ("beams", {"output": {"class": "copy", "from": "nothere"}}, "unknown.json", 1),
        ("beams", {"output": {"class": "copy", "from": "output"}}, "cycle.json", 2),
    ])
    def test_exit_codes(self, tmp_path: Path, command: str, data: Any, name: str, expected: int) -> None:
        path = tmp_path / name
        if isinstance(data, str):
            path.write_text(data)
        elif data is not None:
            path.write_text(json.dumps(data))
        proc = _subprocess("-m", "searchgraph", command, str(path))
        assert proc.returncode == expected, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert ("error:" in proc.stderr) == (expected == 2)

    def test_beams_does_not_import_tensorflow(self, tmp_path: Path) -> None:
        """``beams --json`` stays light: no TensorFlow, and neither networkx nor rich (a quarter of a
        second of imports together) when nothing is drawn or printed through rich."""
        path = write(tmp_path, DECODER)
        code = ("import sys, contextlib, io\n"
                "from searchgraph.interfaces.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    assert main(['beams', {path!r}, '--json']) == 0\n"
                "heavy = [m for m in ('tensorflow', 'networkx', 'rich') if m in sys.modules]\n"
                "assert not heavy, f'imported {heavy}'\n"
                "print('clean')\n")
        proc = _subprocess("-c", code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "clean"


ATTENTION_NET: dict[str, Any] = {"network": {
        "encoder": {"class": "linear", "from": "data", "n_out": 4},
        "output": {"class": "rec", "from": [], "max_seq_len": 5, "target": "classes", "unit": {
            "embed": {"class": "linear", "from": "prev:output", "n_out": 3},
            "att": {"class": "dot_attention", "from": "embed", "base": "base:encoder",
                    "base_ctx": "base:encoder"},
            "prob": {"class": "softmax", "from": ["embed", "att"], "target": "classes"},
            "output": {"class": "choice", "from": "prob", "beam_size": 12, "target": "classes",
                       "initial_output": 0},
            "end": {"class": "compare", "from": "output", "value": 0}}}},
        "extern_data": EXTERN}


class TestPlanCommand:
    ATTENTION = ATTENTION_NET

    def test_tree_shows_tiling(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, out, _ = run(capsys, "plan", write(tmp_path, self.ATTENTION))
        assert code == 0
        assert "output/att  → output/prev:output" in out
        assert "← encoder  tile ×12 → output/prev:output" in out
        assert "end of frame" not in out  # nothing computed on prev:output is read as prev: here

    def test_json_round_trips(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        from searchgraph.analysis.plan import NetworkPlan

        code, out, _ = run(capsys, "plan", write(tmp_path, self.ATTENTION), "--json")
        data = json.loads(out)
        assert code == 0 and NetworkPlan.from_json(data).to_json() == data
        att = data["layers"]["output/att"]
        assert att["choice"] == "output/prev:output" and att["size"] == 12
        assert [i["action"] for i in att["inputs"]] == ["keep", "tile", "tile"]

    def test_single_layer_lists_kept_inputs(self, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
        code, out, _ = run(capsys, "plan", write(tmp_path, self.ATTENTION), "--layer", "output/end")
        assert code == 0
        assert "← output/output  keep" in out
        assert "← output/prev:end select via output/output: output/prev:output → output/output" \
            in one_line(out)

    def test_unknown_layer(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, _, err = run(capsys, "plan", write(tmp_path, self.ATTENTION), "--layer", "output/at")
        assert code == 2 and "output/att" in err


def test_doctor_reports_the_environment(capsys: pytest.CaptureFixture[str], needs_dot: None) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert {"python", "networkx", "tensorflow", "returnn", "dot", "gpu"} <= set(lines)
    assert "/dot" in lines["dot"]


def test_demo_shows_graph_beams_and_plans(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, needs_dot: None) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys)
    assert code == 0
    assert "attention_decoder.config" in out
    assert "output/att0" in out and "output/prev:output" in out  # the beam table
    assert "tile ×12" in out  # the plans
    out_dir = tmp_path / "searchgraph-demo"
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [".searchgraph-demo", "attention_decoder.html", "attention_decoder.lattice.html",
                     "attention_decoder.lattice.svg", "attention_decoder.svg"]
    svg = (out_dir / "attention_decoder.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "output/att0" in svg
    assert "<script" in (out_dir / "attention_decoder.html").read_text()
    assert "lattice" in (out_dir / "attention_decoder.lattice.svg").read_text()
    for path in names[1:]:
        assert str(Path("searchgraph-demo") / path) in out.replace("\n", "")  # it says where they are
    code, _, _ = run(capsys, "demo")  # its own folder: replaced on the next run
    assert code == 0


def test_demo_leaves_a_foreign_folder_alone(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            needs_dot: None) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "attention_decoder.svg").write_text("my own file")
    code, _, err = run(capsys, "demo", "-o", str(mine))
    assert code == 2 and "was not made by the demo" in " ".join(err.split()) and "--force" in err
    assert (mine / "attention_decoder.svg").read_text() == "my own file"
    code, _, _ = run(capsys, "demo", "-o", str(mine), "--force")
    assert code == 0 and "<svg" in (mine / "attention_decoder.svg").read_text()
