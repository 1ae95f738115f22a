"""``--returnn`` (verification with the installed RETURNN) and custom layer classes declared as data.

The declaration tests need no RETURNN. The ``returnn``-marked tests build and run the configs in
``tests/configs/`` with RETURNN (a subprocess each): a custom layer whose template drops the beam (the
search fails at run time), one that invents a beam (RETURNN fails while building), a correct one (no
finding), a class that lives in a ``--layer-classes`` Python file, and networks with a class this
RETURNN does not have at all (SG305).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import searchgraph
from searchgraph.checks import diagnose
from searchgraph.checks.verify import beam_text, verify_findings
from searchgraph.errors import SearchgraphError
from searchgraph.graph.declarations import load_layer_class_file, pyproject_layer_classes
from searchgraph.graph.layers import get_layer_class, unregister_layer_class
from searchgraph.interfaces.cli import main

from .oracle.oracle import analyze_case, require_returnn

CONFIGS = Path(__file__).with_name("configs")
DROPS = CONFIGS / "custom_layer_drops_beam.config"
BEAM = "Beam{'output/prev:output'}(3)"


@pytest.fixture(autouse=True)
def _forget_declarations() -> Any:
    yield
    for name in ("sg_scale", "sg_half", "my_att"):
        unregister_layer_class(name)


def _codes(findings: list[Any], code: str) -> list[Any]:
    return [f for f in findings if f["code"] == code]


# ----------------------------------------------------------------------------------------------------
# Declarations and SG207 (no RETURNN)


def test_unknown_class_on_a_beam_path_is_a_finding() -> None:
    found = [f for f in diagnose(searchgraph.load(DROPS)) if f.code == "SG207"]
    assert [f.layer for f in found] == ["output/scaled"]
    assert "'sg_scale'" in found[0].reason and "output/prev:output" in found[0].reason
    assert "--returnn" in found[0].fix


def test_toml_declaration_registers_the_class(tmp_path: Path) -> None:
    decl = tmp_path / "classes.toml"
    decl.write_text('[layer-classes.sg_scale]\nbeam = "keep"\n\n'
                    '[layer-classes.my_att]\nlayer_options = ["keys"]\nbeam = "generic"\n')
    assert load_layer_class_file(decl) == ["sg_scale", "my_att"]
    assert get_layer_class("sg_scale").known and get_layer_class("sg_scale").beam_role == "generic"
    assert [r.name for r in get_layer_class("my_att").refs] == ["keys"]
    codes = {f.code for f in diagnose(searchgraph.load(DROPS))}
    assert "SG207" not in codes and "SG204" not in codes


def test_json_and_pyproject_declarations(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"my_att": {"layer_options": {"keys": "list"},
                                                            "beam": "choice"}}))
    assert load_layer_class_file(tmp_path / "c.json") == ["my_att"]
    assert get_layer_class("my_att").beam_role == "choice"
    (tmp_path / "pyproject.toml").write_text('[tool.searchgraph.layer-classes.sg_scale]\nbeam = "keep"\n')
    sub = tmp_path / "configs"
    sub.mkdir()
    path, names = pyproject_layer_classes(sub / "x.config")
    assert path == tmp_path / "pyproject.toml" and names == ["sg_scale"]


@pytest.mark.parametrize(("text", "why"), [('[layer-classes.x]\nbeam = "sideways"\n', "no beam role"),
                                           ('[layer-classes.x]\nlayer_options = {a = "tree"}\n', "shapes"),
                                           ('[layer-classes.x]\nbem = "keep"\n', "unknown settings")])
def test_bad_declarations_are_errors(tmp_path: Path, text: str, why: str) -> None:
    decl = tmp_path / "bad.toml"
    decl.write_text(text)
    with pytest.raises(SearchgraphError, match=why):
        load_layer_class_file(decl)


def test_cli_layer_classes_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decl = tmp_path / "classes.toml"
    decl.write_text('[sg_scale]\nbeam = "keep"\n')
    assert main(["diagnose", str(DROPS), "--json"]) == 0
    assert _codes(json.loads(capsys.readouterr().out)["findings"], "SG207")
    assert main(["diagnose", str(DROPS), "--json", "--layer-classes", str(decl)]) == 0
    assert not _codes(json.loads(capsys.readouterr().out)["findings"], "SG207")
    decl.write_text('[sg_scale]\nbeam = "sideways"\n')
    assert main(["diagnose", str(DROPS), "--layer-classes", str(decl)]) == 2


def test_custom_beam_finding_names_both_beams() -> None:
    """SG304's three kinds from a RETURNN answer (the worker's format)."""
    analysis = searchgraph.analyze(searchgraph.load(DROPS))
    given = {"name": "output/prev:output", "beam_size": 3}
    kinds = {}
    for declared in (None, {"name": "x", "beam_size": 12}, {"name": "output/prev:output", "beam_size": 4}):
        answer = {"stage": "run", "ok": True, "custom": {"output/scaled": {
            "class": "sg_scale", "python_class": "ScaleLayer", "input_beams": {"state": given},
            "combined_input_beam": given, "declared_beam": declared}}}
        (found,) = [f for f in verify_findings(analysis, answer) if f.code == "SG304"]
        assert beam_text(given) in found.reason and beam_text(declared) in found.reason
        kinds[found.title] = found.layer
    assert kinds == {"custom layer's template drops the beam": "output/scaled",
                     "custom layer's template invents a beam": "output/scaled",
                     "custom layer's template mis-sizes the beam": "output/scaled"}
    same = {"stage": "run", "ok": True, "custom": {"output/scaled": {"combined_input_beam": given,
                                                                     "declared_beam": given}}}
    assert verify_findings(analysis, same) == []


def test_returnn_missing_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A Python without TensorFlow / RETURNN: a SearchgraphError (exit 2 in the CLI), no traceback."""
    from searchgraph.search.returnn_verify import VerifyError, verify_returnn

    bare = Path("/usr/bin/python3")
    if not bare.exists():
        pytest.skip("no system Python to stand for one without RETURNN")
    with pytest.raises(VerifyError, match="needs RETURNN and TensorFlow"):
        verify_returnn(DROPS, python=str(bare))


# ----------------------------------------------------------------------------------------------------
# With RETURNN


def _diagnose_returnn(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    require_returnn()
    code = main(["diagnose", "--returnn", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.returnn
def test_template_drops_beam_run_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _diagnose_returnn(capsys, str(DROPS))
    assert code == 1
    returnn, findings = data["returnn"], data["findings"]
    assert returnn["stage"] == "run" and returnn["error_type"] == "InvalidArgumentError"
    (raised,) = _codes(findings, "SG301")
    assert raised["layer"] == "output/mixed"  # the combine that gets the two batch sizes
    assert "Incompatible shapes" in raised["returnn_message"]
    assert "output/scaled" in raised["reason"] and "SG303" in raised["reason"]
    (batch,) = _codes(findings, "SG303")
    assert batch["layer"] == "output/scaled"
    assert "batch dim 6" in batch["reason"] and "declares batch dim 2" in batch["reason"]  # batch 2, beam 3
    assert BEAM in batch["reason"]
    (custom,) = _codes(findings, "SG304")
    assert custom["layer"] == "output/scaled" and custom["title"].endswith("drops the beam")
    assert f"its inputs carry {BEAM}" in custom["reason"] and "declares no beam" in custom["reason"]
    differ = _codes(findings, "SG302")
    assert [f["layer"] for f in differ] == ["output/scaled"]  # RETURNN: no beam; we: the input's
    assert "RETURNN None" in differ[0]["reason"]


@pytest.mark.returnn
def test_template_invents_beam_construction_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _diagnose_returnn(capsys, str(CONFIGS / "custom_layer_invents_beam.config"))
    assert code == 1
    assert data["returnn"]["stage"] == "construct"
    (raised,) = _codes(data["findings"], "SG301")
    assert raised["layer"] == "output/mixed" and "buggy search choices" in raised["returnn_message"]
    assert "output/scaled" in raised["reason"] and "SG304" in raised["fix"]
    (custom,) = _codes(data["findings"], "SG304")
    assert custom["layer"] == "output/scaled" and custom["title"].endswith("invents a beam")
    assert "Beam{'scaled/invented'}(12)" in custom["reason"] and BEAM in custom["reason"]


@pytest.mark.returnn
def test_correct_custom_layer_has_no_finding(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _diagnose_returnn(capsys, str(CONFIGS / "custom_layer_keeps_beam.config"))
    assert code == 0
    assert data["returnn"]["ok"] and data["returnn"]["custom"]["output/scaled"]["declared_beam"]
    assert not [f for f in data["findings"] if f["code"].startswith("SG3")]


@pytest.mark.returnn
def test_layer_class_from_python_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(CONFIGS / "custom_layer_from_file.config")
    code, data = _diagnose_returnn(capsys, config, "--layer-classes", str(CONFIGS / "sg_layers.py"))
    assert code == 1
    assert {f["code"] for f in data["findings"] if f["layer"] == "output/scaled"} >= {"SG303", "SG304"}
    assert data["returnn"]["custom"]["output/scaled"]["class"] == "sg_half"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.searchgraph]\nlayer-class-files = ["layers/sg.py"]\n')
    (project / "layers").mkdir()
    (project / "layers" / "sg.py").write_text((CONFIGS / "sg_layers.py").read_text())
    (project / "x.config").write_text(Path(config).read_text())
    code, data = _diagnose_returnn(capsys, str(project / "x.config"))  # the file named in pyproject.toml
    assert code == 1 and data["returnn"]["custom"]["output/scaled"]["class"] == "sg_half"
    code, data = _diagnose_returnn(capsys, config)  # without the file RETURNN does not know the class
    assert code == 1 and data["returnn"]["stage"] == "construct"
    (raised,) = _codes(data["findings"], "SG301")
    assert "sg_half" in raised["returnn_message"]


@pytest.mark.returnn
def test_beams_and_render_take_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_returnn()
    config = str(CONFIGS / "custom_layer_invents_beam.config")
    assert main(["beams", "--returnn", config]) == 1
    out = capsys.readouterr().out
    assert "SG304" in out and "RETURNN (search mode" in out
    assert main(["render", "--returnn", config, "-o", str(tmp_path / "n.gv")]) == 1
    assert "SG301" in capsys.readouterr().out and (tmp_path / "n.gv").exists()


def _decoder_case(prob: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
    """A small attention-free decoder (a corpus-style case) whose unit's ``prob`` / ``state`` are given."""
    return {"extern_data": {"data": {"dim": 4}, "classes": {"dim": 6, "sparse": True,
                                                          "available_for_inference": False}},
            "network": {
                "encoder": {"class": "linear", "activation": "tanh", "n_out": 4, "from": "data"},
                "enc_sum": {"class": "reduce", "mode": "mean", "axis": "T", "from": "encoder"},
                "output": {"class": "rec", "from": [], "max_seq_len": 5, "target": "classes", "unit": {
                    "embed": {"class": "linear", "activation": None, "n_out": 4, "from": "prev:output"},
                    "state": state or {"class": "combine", "kind": "add", "from": ["embed", "base:enc_sum"]},
                    "prob": prob,
                    "output": {"class": "choice", "target": "classes", "beam_size": 3, "from": "prob",
                               "initial_output": 0},
                    "end": {"class": "compare", "from": "output", "value": 0}}},
                "decision": {"class": "decide", "from": "output"}},
            "config": {"behavior_version": 12}}


@pytest.mark.returnn
def test_class_returnn_lacks_is_sg305_not_a_difference() -> None:
    """A made-up class on the decoder path (as a class of a RETURNN fork): RETURNN cannot make the unit's
    templates and raises elsewhere; verification names the missing class (SG305), keeps RETURNN's
    exception (SG301, pointing at SG305) and lists no static/RETURNN difference (SG302)."""
    from searchgraph.search.returnn_verify import verify_cases

    require_returnn()
    forked = _decoder_case({"class": "sg_fork_only_softmax", "from": "state", "target": "classes",
                            "top_k": 5})
    nested = _decoder_case({"class": "softmax", "from": "state", "target": "classes", "loss": "ce"},
                           {"class": "subnetwork", "from": "embed", "subnetwork": {
                               "mix": {"class": "sg_fork_only_mix", "from": ["data", "base:base:enc_sum"]},
                               "output": {"class": "copy", "from": "mix"}}})
    answers = verify_cases([forked, nested])
    for case, answer, missing in zip((forked, nested), answers,
                                     ({"output/prob": "sg_fork_only_softmax"},
                                      {"output/state/mix": "sg_fork_only_mix"})):
        assert answer["stage"] == "construct" and answer["error"], answer
        assert answer["unknown_classes"] == missing
        findings = verify_findings(analyze_case(case), answer)
        assert [f.code for f in findings if f.code == "SG302"] == []
        (raised,) = [f for f in findings if f.code == "SG301"]
        assert raised.layer == (answer["error_layer"] or "(network)")
        assert raised.returnn_message == answer["error"]
        assert raised.returnn_message.startswith(f"{answer['error_type']}:")
        assert "SG305" in raised.reason and "SG305" in raised.fix
        (lacks,) = [f for f in findings if f.code == "SG305"]
        assert lacks.severity == "error" and lacks.layer == next(iter(missing))
        assert repr(missing[lacks.layer]) in lacks.reason and "--layer-classes" in lacks.fix
        assert f"RETURNN's {answer['error_type']} on {raised.layer}" in lacks.reason \
            or raised.layer == lacks.layer
    # the corpus' pattern: the choice's template falls back on its target, which search does not provide
    assert answers[0]["error_type"] == "LayerNotFound" and answers[0]["error_layer"] == "output/output"
