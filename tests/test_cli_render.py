"""``searchgraph render`` and ``searchgraph diagnose --render``: files, formats, options, refusing to
overwrite, exit codes and clean messages for bad input (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from searchgraph.render.dot import parse_meta

from .cli_support import one_line, run
from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "attention_decoder.config"
CASES = ROOT / "tests" / "oracle" / "cases"
REJECT = CASES / "reject-independent-choices-in-frame.json"

pytestmark = pytest.mark.usefixtures("needs_dot")


@pytest.fixture(autouse=True)
def _plain(plain_console: None) -> None:
    """Every test here: a fixed-width, colourless console (``plain_console`` in conftest)."""


class TestRender:
    @pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                               (".html", b"<!DOCTYPE html>"), (".gv", b"digraph searchgraph {"),
                                               (".dot", b"digraph searchgraph {")])
    def test_format_from_suffix(self, capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str,
                                magic: bytes) -> None:
        out_file = tmp_path / f"net{suffix}"
        code, out, err = run(capsys, "render", str(EXAMPLE), "-o", str(out_file))
        assert (code, err) == (0, "")
        assert one_line(out) == f"wrote {out_file}: 26 layers, 2 beams"
        assert out_file.read_bytes().startswith(magic)

    def test_options_reach_the_diagram(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "net.gv"
        code, _, err = run(capsys, "render", str(EXAMPLE), "-o", str(out_file), "--rankdir", "LR",
                           "--focus", "output/att", "--hide-beamless", "--show-options")
        assert (code, err) == (0, "")
        source = out_file.read_text()
        assert "rankdir=LR" in source and "beam_size=12" in source
        assert '"encoder" [' not in source  # beamless: hidden
        assert '"output/readout" [' in source and 'fillcolor="#f4f4f4"' in source  # off the path: grey
        names = {n["name"] for n in parse_meta(source)["nodes"].values()}
        assert "output/att" in names

    def test_collapse(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "net.gv"
        assert run(capsys, "render", str(EXAMPLE), "-o", str(out_file), "--collapse", "0")[0] == 0
        source = out_file.read_text()
        assert '"output/s"' not in source and 'shape="box3d"' in source

    def test_train_mode(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "net.gv"
        assert run(capsys, "render", str(EXAMPLE), "-o", str(out_file), "--mode", "train")[0] == 0
        assert '"data:classes" [' in out_file.read_text()

    def test_errors_exit_1_and_are_red(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "net.gv"
        code, out, err = run(capsys, "render", str(REJECT), "-o", str(out_file))
        assert (code, err) == (1, "")
        assert one_line(out).endswith("2 layers with errors (red)")
        assert 'color="#d62728", fontcolor="#d62728"' in out_file.read_text()

    def test_refuses_to_overwrite(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "net.svg"
        out_file.write_text("mine")
        code, out, err = run(capsys, "render", str(EXAMPLE), "-o", str(out_file))
        assert (code, out) == (2, "")
        assert one_line(err) == f"error: {out_file}: the file exists hint: pass --force to replace it"
        assert out_file.read_text() == "mine"
        assert run(capsys, "render", str(EXAMPLE), "-o", str(out_file), "--force")[0] == 0
        assert out_file.read_bytes().startswith(b"<?xml")
        assert [p.name for p in tmp_path.iterdir()] == ["net.svg"]

    @pytest.mark.parametrize("args, message", [
        (["-o", "{tmp}/net.jpg"], ("error: {tmp}/net.jpg: cannot tell the diagram format from the suffix '.jpg' "
                                   "hint: name the file .svg, .png, .pdf, .html, .gv or .dot")),
        (["-o", "{tmp}/no/net.svg"], "error: {tmp}/no/net.svg: the folder does not exist hint: create it first"),
        (["-o", "{tmp}/net.svg", "--focus", "output/nope"],
         "error: output/nope: no layer 'output/nope' is constructed in search mode hint: did you mean"),
        (["-o", "{tmp}/net.svg", "--collapse", "-1"], "error: collapse depth must be 0 or more, got -1"),
    ])
    def test_bad_input(self, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str],
                       message: str) -> None:
        code, out, err = run(capsys, "render", str(EXAMPLE), *[a.format(tmp=tmp_path) for a in args])
        assert (code, out) == (2, "")
        assert one_line(err).startswith(message.format(tmp=tmp_path))
        assert "Traceback" not in err
        assert not list(tmp_path.glob("*.svg"))

    def test_bad_config(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        config = tmp_path / "bad.json"
        config.write_text(json.dumps({"network": {"output": {"class": "copy", "from": "nowhere"}}}))
        code, _, err = run(capsys, "render", str(config), "-o", str(tmp_path / "net.svg"))
        assert code in (1, 2) and "Traceback" not in err

    def test_as_a_process_no_tensorflow(self, tmp_path: Path) -> None:
        out_file = tmp_path / "net.html"
        code = ("import sys; from searchgraph.interfaces.cli import main; rc = main(sys.argv[1:]); "
                "assert 'tensorflow' not in sys.modules, 'render imported TensorFlow'; sys.exit(rc)")
        proc = subprocess.run([sys.executable, "-c", code, "render", str(EXAMPLE), "-o", str(out_file)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert out_file.read_text().startswith("<!DOCTYPE html>")


class TestDiagnoseRender:
    def test_culprits_are_marked(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "diag.gv"
        code, out, err = run(capsys, "diagnose", str(REJECT), "--render", str(out_file))
        assert (code, err) == (1, "")
        assert one_line(out).endswith(f"wrote {out_file} (2 layers with findings marked)")
        source = out_file.read_text()
        for layer in ("output/s", "output/choiceB"):
            line = next(ln for ln in source.splitlines() if ln.strip().startswith(f'"{layer}" ['))
            assert "peripheries=2" in line and "penwidth=3.0" in line
        line = next(ln for ln in source.splitlines() if ln.strip().startswith('"output/embA" ['))
        assert "peripheries" not in line

    def test_clean_network(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "diag.svg"
        code, out, _ = run(capsys, "diagnose", str(EXAMPLE), "--render", str(out_file))
        assert code == 0 and one_line(out).endswith(f"wrote {out_file}")
        assert "peripheries=2" not in out_file.read_text()

    def test_json_stays_clean(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "diag.svg"
        code, out, err = run(capsys, "diagnose", str(REJECT), "--json", "--render", str(out_file))
        assert code == 1
        assert {f["layer"] for f in json.loads(out)["findings"]} >= {"output/s", "output/choiceB"}
        assert f"wrote {out_file}" in one_line(err)

    def test_refuses_to_overwrite_before_any_work(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_file = tmp_path / "diag.svg"
        out_file.write_text("mine")
        code, out, err = run(capsys, "diagnose", str(REJECT), "--render", str(out_file))
        assert (code, out) == (2, "")
        assert one_line(err) == f"error: {out_file}: the file exists hint: pass --force to replace it"
        assert out_file.read_text() == "mine"
        code, _, _ = run(capsys, "diagnose", str(REJECT), "--render", str(out_file), "--force")
        assert code == 1 and out_file.read_bytes().startswith(b"<?xml")
