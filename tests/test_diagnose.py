"""diagnose: stable codes, the failing layer, RETURNN's message, a reason and a fix per finding.

Which networks RETURNN rejects, and where, is checked live in ``tests/oracle``; here: that each kind
of failure gets its code and explanation, and the warnings.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from searchgraph.cli import main
from searchgraph.diagnose import WARNING_CODES, diagnose
from searchgraph.failures import rule_codes

CASES = Path(__file__).parent / "oracle" / "cases"

EXPECTED_CODES = {
    "reject-prev-prev": ("SG102", "output/embed2"),
    "reject-choice-no-target": ("SG103", "output/output"),
    "reject-end-no-max-seq-len": ("SG105", "output"),
    "reject-decided-plus-beamed": ("SG106", None),
    "reject-end-independent-beam": ("SG107", "output/output"),
    "reject-moveout-two-beamed-inputs": ("SG108", None),
    "reject-base-beamed-decoder": ("SG110", None),
    "reject-choice-root-no-base": ("SG111", "choice"),
    "reject-choice-search-false-beamless": ("SG112", "output/output"),
    "reject-hash-key-str-in-rec-unit": ("SG113", "output"),
    "reject-cond-beamed-branch-in-rec": ("SG114", "output/c"),
    "reject-rec-sublayer-not-output": ("SG115", "output/s"),
    "reject-target-data-in-loop": ("SG116", "output/output"),
    "reject-independent-choices-meet-downstream": ("SG101", "output/both"),
    "reject-target-name-as-layer-in-loop": ("SG117", None),
}


def _case(name: str) -> dict[str, Any]:
    return json.loads((CASES / f"{name}.json").read_text())


@pytest.mark.parametrize(("case", "expected"), EXPECTED_CODES.items())
def test_error_codes(case: str, expected: tuple[str, str | None]) -> None:
    code, layer = expected
    errors = [f for f in diagnose(_case(case)) if f.severity == "error"]
    hits = [f for f in errors if f.code == code]
    assert hits, f"{case}: expected {code}, got {[(f.code, f.layer) for f in errors]}"
    if layer is not None:
        assert layer in {f.layer for f in hits}
    for f in hits:
        assert f.reason and f.fix and f.returnn_message and f.title == rule_codes().get(f.code, f.title)


def test_every_rule_has_a_case() -> None:
    assert set(rule_codes()) <= {code for code, _ in EXPECTED_CODES.values()} | {"SG104", "SG109"}


def test_clean_networks_have_no_errors() -> None:
    for name in ("choice-beam12-attention", "multi-choice-3-chained", "decide-keep-beam-scores"):
        assert [f for f in diagnose(_case(name)) if f.severity == "error"] == []


def test_traces_show_where_two_choices_part() -> None:
    both = next(f for f in diagnose(_case("reject-independent-choices-meet-downstream"))
                if f.code == "SG101")
    assert sorted(t[0] for t in both.traces) == ["output/choiceB", "output/output"]


ATTENTION = _case("choice-beam12-attention")


def _with(**layers: Any) -> dict[str, Any]:
    case = copy.deepcopy(ATTENTION)
    case["network"]["output"]["unit"].update(layers)
    return case


def test_eval_reaching_past_its_sources_is_a_warning() -> None:
    plain = _with(mix={"class": "eval", "from": ["embed", "base:enc_mean"], "eval": "source(0)"},
                  prob={"class": "softmax", "from": ["readout", "mix"], "target": "classes"})
    plain["network"]["enc_mean"] = {"class": "reduce", "mode": "mean", "axis": "T", "from": "encoder"}
    assert not [f for f in diagnose(plain) if f.code == "SG201"]  # sources are translated: fine
    code = "source(0) + self.network.get_layer('base:enc_mean').output.placeholder"
    case = _with(mix={"class": "eval", "from": ["embed", "base:enc_mean"], "eval": code},
                 prob={"class": "softmax", "from": ["readout", "mix"], "target": "classes"})
    case["network"]["enc_mean"] = {"class": "reduce", "mode": "mean", "axis": "T", "from": "encoder"}
    found = [f for f in diagnose(case) if f.code == "SG201"]
    assert [f.layer for f in found] == ["output/mix"] and found[0].severity == "warning"


def test_custom_class_is_reported() -> None:
    case = _with(custom={"class": "my_custom_layer", "from": ["prev:custom", "prev:output"],
                         "is_output_layer": True})
    codes = {f.code for f in diagnose(case) if f.layer == "output/custom"}
    assert {"SG202", "SG204"} <= codes


def test_search_output_with_beam_is_a_warning() -> None:
    case = copy.deepcopy(ATTENTION)
    case["search_output_layer"] = "output"
    assert any(f.code == "SG203" and f.layer == "output" for f in diagnose(case))


def test_compare_modes_lists_train_only_and_moved_layers() -> None:
    findings = [f for f in diagnose(ATTENTION, compare_modes=True) if f.code == "SG205"]
    assert findings and all(f.severity == "info" for f in findings)
    assert any("output/end" == f.layer for f in findings)  # no end layer needed in training


def test_warning_codes_are_documented() -> None:
    assert set(WARNING_CODES) == {"SG201", "SG202", "SG203", "SG204", "SG205"}


class TestCli:
    def test_exit_codes_and_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        assert main(["diagnose", str(CASES / "choice-beam12-attention.json")]) == 0
        capsys.readouterr()
        assert main(["diagnose", str(CASES / "reject-prev-prev.json"), "--json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert {"code", "severity", "layer", "title", "reason", "fix", "returnn_message",
                "traces"} == set(data["findings"][0])
        assert main(["diagnose", str(tmp_path / "missing.json")]) == 2

    def test_panels(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "100")
        main(["diagnose", str(CASES / "reject-independent-choices-meet-downstream.json")])
        out = capsys.readouterr().out
        assert "SG101 error: search choices cannot be compared" in out
        assert "output/choiceB" in out and "fix:" in out
