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

from searchgraph.checks import rule_codes
from searchgraph.checks.diagnose import WARNING_CODES, diagnose
from searchgraph.interfaces.cli import main

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
    "reject-cond-beamed-branch-in-rec": ("SG127", "output/c"),
    "reject-choice-over-a-cond-of-the-previous-label": ("SG163", "output/output"),
    "reject-end-over-a-cond-of-the-label": ("SG164", "output/end"),
    "reject-cheating-choice-keeping-its-beams": ("SG103", "output/output"),
    "reject-choice-with-zero-prob-scale": ("SG103", "output/output"),
    "reject-choice-over-a-state-reading-a-kept-dim-mean": ("SG118", "output/label"),
    "reject-choice-out-dim-beside-num-outputs": ("SG155", "output/output"),
    "reject-choice-over-a-state-of-variables-and-constants": ("SG118", "output/output"),
    "reject-rec-sublayer-not-output": ("SG115", "output/s"),
    "reject-rec-output-on-prev-beam": ("SG123", "output"),
    "reject-target-data-in-loop": ("SG116", "output/output"),
    "reject-independent-choices-meet-downstream": ("SG101", "output/both"),
    "reject-hard-attention-decoder-with-scheduled-sampling-on-the-frame-index": ("SG162", "output/s"),
    "reject-second-decoder-sharing-params-of-output-layers-of-the-first": ("SG165", "output_shared/lin1b"),
    "reject-second-decoder-sharing-a-tied-embedding-with-the-first": ("SG162", "output_shared/s"),
    "reject-hard-attention-decoder-with-scheduled-sampling-by-a-train-flag-coin": ("SG165", "output/output_prob"),
    "reject-joint-choice-with-a-beam-size-per-source-too-many": ("SG118", "output/output"),
    "reject-cheating-choice-chosen-from-a-cheating-choice-of-the-frame": ("SG103", "output/choice2"),
    "reject-root-choice-over-a-loop-output-on-an-earlier-choice-of-the-frame": ("SG166", "output_rank"),
    "reject-decide-keep-beam-over-two-sources": ("SG167", "output/s_raw"),
    "reject-decoder-softmax-with-loss-options-but-no-loss": ("SG139", "output/prob"),
    "reject-cond-on-a-beamless-condition-read-by-a-second-cond": ("SG137", "output/cond2"),
    "reject-beam-scores-of-the-previous-label-moved-out-after-the-loop": ("SG121", "output/output_beam_scores"),
    "reject-attention-over-a-second-source-without-data-in-search": ("SG133", "output/att2"),
    "reject-joint-ctc-attention-scores-keeping-the-blank": ("SG118", "output/output"),
    "reject-loop-layer-reading-data-over-a-subsampled-loop-input": ("SG118", "output/output"),
    "reject-mixture-of-expert-heads-plus-a-routed-expert-state": ("SG118", "output/output"),
    "reject-choice-over-frames-stacked-by-a-window": ("SG118", "output/output"),
    "reject-shortlist-choice-decided-with-the-full-vocabulary-target": ("SG130", "decision"),
    "reject-class-factored-labels-without-out-type-decided-with-the-target": ("SG130", "decision"),
    "reject-second-decoder-initialised-from-the-first-decoders-beam": ("SG101", "output_2"),
    "reject-pointer-generator-extended-vocabulary-over-the-old-target": ("SG118", "output/output"),
    "reject-second-decoder-reusing-params-of-loop-layers-not-marked-as-output": ("SG115", "output/embed"),
    "reject-choice-over-scores-with-a-prior-variable-of-another-size": ("SG118", "output/output"),
    "reject-member-side-choice-read-as-previous-frame": ("SG101", "output/model1_lin2b"),
    "reject-target-name-as-layer-in-loop": ("SG117", None),
    "reject-second-decoder-choice-off-own-prev": ("SG124", "dec2/output"),
    "reject-output-cum-concat-weights": ("SG125", "output"),
    "decide-in-subnet-in-loop": ("SG120", "output"),
    "reject-target-cycle-in-unit": ("SG126", "output/output"),
    "reject-slice-nd-size-from-choice": ("SG127", "output/seg"),
    "reject-prev-slice-nd-dim-unknown": ("SG128", "output"),
    "moveout-prev-loop-layer": ("SG108", "output/aux"),
    "moveout-chain-beamed-moved-out": ("SG108", "output/aux2"),
    "decide-in-loop-output-layer": ("SG120", "output"),
    "reject-second-decoder-reads-prev-beamed-rec": ("SG101", "output_2/s"),
    "reject-choice-dense-target": ("SG118", "output/output"),
    "reject-choice-initial-apply0": ("SG129", "output"),
    "reject-decide-target-other-dim": ("SG130", "decision"),
    "reject-split-batch-beam-with-a-target": ("SG130", "den_split"),
    "reject-choice-initial-from-sequence": ("SG131", "output"),
    "reject-unavailable-beamed-input-in-loop": ("SG133", "output/output_old"),
    "reject-rec-output-prev-beam-translated": ("SG134", "output"),
    "reject-end-not-one-flag": ("SG136", "output"),
    "reject-rec-output-no-search-choices": ("SG137", "len_ratio"),
    "reject-choice-in-loop-subnetwork": ("SG134", "output/s"),
    "reject-choice-chain-through-subnetwork": ("SG138", "output/output"),
    "reject-greedy-gather-template-no-batch": ("SG139", "output/prob"),
    "reject-masked-two-sources-in-loop": ("SG139", "output/aux"),
    "reject-decide-loop-output-without-batch": ("SG140", "decision"),
    "reject-time-major-accumulated-output": ("SG141", "output"),
    "reject-prev-of-time-major-layer-read-after-loop": ("SG141", "output/weight_feedback_last"),
    "reject-time-major-output-over-conv-encoder": ("SG141", "output"),
    "reject-end-over-input-without-max-seq-len": ("SG105", "output"),
    "reject-split-part-of-sequence-into-choice": ("SG118", "output/output"),
    "reject-concat-changes-choice-scores-dim": ("SG118", "output/choice"),
    "reject-broadcast-features-into-choice": ("SG118", "output/output"),
    "reject-beamless-loop-output-accumulated-first": ("SG142", "output"),
    "reject-end-by-encoder-length": ("SG143", "output"),
    "reject-decide-length-norm-over-beam-scores": ("SG145", "best_score"),
    "reject-decide-loss-over-subnetwork-of-other-dim": ("SG130", "post_decision"),
    "reject-two-score-sources-pruned-below-beam": ("SG118", "output/output"),
    "reject-choice-target-layer-whole-sequence": ("SG118", "output/output"),
    "reject-eval-broadcasts-choice-scores": ("SG118", "output/output"),
    "reject-non-search-choice-scores-broadcast": ("SG118", "output/choice2"),
    "reject-non-search-choice-scores-prev-prob": ("SG118", "output/choice2"),
    "reject-loop-state-reduced-over-batch": ("SG146", "output"),
    "reject-decide-over-split-decoder-time": ("SG147", "out_windows_decided"),
    "reject-choice-as-masked-computation-unit": ("SG148", "output/label_emitted"),
    "reject-initial-output-without-batch-axis": ("SG131", "output"),
    "reject-hdf-dump-of-beamed-scores": ("SG149", "prob_dump"),
    "reject-decide-relabelled-labels-against-target": ("SG130", "decision"),
    "reject-split-lengths-of-decoder-without-data": ("SG132", "hyp_lens"),
    "reject-beam-scores-of-decoder-without-data": ("SG132", "hyp_scores"),
    "reject-half-precision-log-prob-scores": ("SG118", "output/output"),
    "reject-prev-frames-of-two-choices-after-the-first-is-built": ("SG150", "output/mix"),
    "reject-subnetwork-inner-layer-read-from-outside": ("SG115", "output/s_feat/proj"),
    "reject-time-major-split-part-read-after-loop": ("SG141", "output/weight_feedback_extra"),
    "reject-searching-loop-over-static-axis": ("SG151", "output"),
    "reject-positional-encoding-offset-from-previous-choice": ("SG127", "output/bias_pos"),
    "reject-initial-output-from-a-layer-of-the-frame": ("SG131", "output"),
    "reject-initial-output-from-a-template-of-the-unit": ("SG131", "output"),
    "reject-internal-select-search-sources": ("SG144", "output/s_selected"),
    "reject-choice-on-decided-scores-in-loop": ("SG139", "output/label"),
    "reject-conv-on-unavailable-text": ("SG132", "embed_conv0"),
    "reject-dot-on-unavailable-in-loop": ("SG132", "output/aux_energy"),
    "reject-decide-over-labels-resized-by-a-fraction": ("SG152", "decision"),
    "reject-end-by-frame-index-with-extra-deps-on-the-choice": ("SG153", "output/output"),
    "reject-constant-end-with-extra-deps-without-length-normalization": ("SG153", "output/output"),
    "reject-previous-history-length-on-previous-choice": ("SG154", "output"),
    "reject-choice-out-dim-of-another-vocabulary": ("SG155", "output/output"),
    "reject-reference-comparison-moved-out-after-the-loop": ("SG108", "output/output_correct"),
    "reject-choice-over-scores-without-data": ("SG132", "output/output"),
    "reject-teacher-forcing-switch-on-the-train-flag": ("SG133", "output/s"),
    "reject-need-last-on-the-state-before-the-choice": ("SG156", "output"),
    "reject-need-last-in-a-loop-over-its-input": ("SG156", "output"),
    "reject-decide-over-the-last-frame-of-the-choice": ("SG157", "label_last_decided"),
    "reject-last-frame-of-a-layer-without-need-last": ("SG158", "s_last"),
    "reject-regression-decoder-combined-with-its-decision": ("SG159", "post_output"),
    "reject-masked-state-of-the-first-choice-masked-by-the-second": ("SG160", "output/held"),
    "reject-self-attention-state-over-a-decide-keep-beam-copy": ("SG160", "output/output_prob"),
    "reject-lstm-cell-over-a-decide-keep-beam-copy": ("SG160", "output/output_prob"),
    "reject-choice-initial-output-from-a-dense-constant": ("SG131", "output"),
    "reject-decide-with-target-over-end-flags": ("SG130", "decision"),
    "reject-choice-over-scores-with-an-appended-blank": ("SG118", "output/output"),
    "reject-choice-over-ctc-scores-of-the-whole-encoder": ("SG118", "output/output"),
    "reject-choice-over-scaled-scores-with-an-appended-blank": ("SG118", "output/output"),
    "reject-choice-over-a-window-of-the-scores": ("SG118", "output/output"),
    "reject-choice-over-scores-padded-along-the-labels": ("SG118", "output/output"),
    "reject-choice-over-one-label-score": ("SG118", "output/output"),
    "reject-choice-starting-from-the-whole-target-sequence": ("SG131", "output"),
    "reject-scores-with-an-axis-from-a-previous-expand-dims": ("SG118", "output/output"),
    "reject-hard-attention-cell-reading-two-choices-previous-frames": ("SG101", "output/s"),
    "reject-nested-loop-ending-on-the-outer-previous-choice": ("SG161", "output/segment"),
    "reject-root-reads-a-history-over-the-loop-input-projection": ("SG125", "output"),
    "reject-root-reads-a-split-part-that-no-loop-layer-reads": ("SG115", "output/embed_split/1"),
    "reject-cell-state-over-the-previous-attention-of-a-later-position-choice": ("SG101", "output"),
    "reject-printed-scores-with-a-positional-encoding-over-attention-energies": ("SG118", "output/output"),
    "reject-unstacked-encoder-frames-in-a-loop-that-ends-by-itself": ("SG139", "output/frame"),
    "reject-choice-on-unstacked-input-frames-of-a-loop-with-its-own-end": ("SG139", "output/output"),
    "reject-hand-written-lstm-state-between-two-choices": ("SG162", "output/s_input"),
    "reject-cell-state-from-unbuilt-previous-templates-of-two-choices": ("SG101", "output"),
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
    covered = {code for code, _ in EXPECTED_CODES.values()} | {code for code, _, _ in INLINE_CASES.values()}
    assert set(rule_codes()) <= covered | {"SG104", "SG109"}


def test_clean_networks_have_no_errors() -> None:
    for name in ("choice-beam12-attention", "multi-choice-3-chained", "decide-keep-beam-scores",
                 "data-not-available-carried"):
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


def test_decide_without_a_beam_is_a_warning() -> None:
    """SG206: a decide on a layer the search never reaches copies it; the decoder's own is fine."""
    assert not [f for f in diagnose(ATTENTION) if f.code == "SG206"]
    case = _root(copy.deepcopy(ATTENTION),
                 enc_decided={"class": "decide", "from": "encoder", "is_output_layer": True})
    found = [f for f in diagnose(case) if f.code == "SG206"]
    assert [(f.layer, f.severity) for f in found] == [("enc_decided", "warning")]
    assert "encoder" in found[0].reason and found[0].fix and found[0].title == WARNING_CODES["SG206"]
    twice = _root(copy.deepcopy(ATTENTION),
                  out_decided={"class": "decide", "from": "output"},
                  again={"class": "decide", "from": "out_decided", "is_output_layer": True})
    assert [f.layer for f in diagnose(twice) if f.code == "SG206"] == ["again"]


def test_warning_codes_are_documented() -> None:
    from searchgraph.checks.verify import VERIFY_CODES

    assert set(WARNING_CODES) == {"SG201", "SG202", "SG203", "SG204", "SG205", "SG206", "SG207"}
    table = (Path(__file__).parents[1] / "docs" / "findings.md").read_text()
    documented = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| SG")}
    assert documented == set(WARNING_CODES) | set(rule_codes()) | set(VERIFY_CODES)


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


def _root(case: dict[str, Any], **layers: Any) -> dict[str, Any]:
    case["network"].update(layers)
    return case


# Small hand-written networks for the rules found with the mutation test (each checked once with
# RETURNN: it raises there, from the layer named here). Built on the attention decoder above.
INLINE_CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # an encoder sequence read into the loop reaches the choice: ChoiceLayer asserts shape == (dim,)
    "sequence-into-choice": ("SG118", "output/output", _with(
        enc_emb={"class": "linear", "activation": None, "from": "base:encoder", "n_out": 3},
        prob={"class": "softmax", "from": ["readout", "enc_emb"], "target": "classes"})),
    # the scores have 5 entries, the target vocabulary 7: ChoiceLayer asserts dim == output.dim
    "scores-dim-not-target-dim": ("SG118", "output/output", _with(
        prob={"class": "softmax", "from": "readout", "n_out": 5})),
    # a part of a split of the scores: the first one has 5 entries, not the target's 7; the second,
    # of the right size, is the split op's second output, whose log safe_log cannot take
    "split-part-into-choice": ("SG118", "output/output", _with(
        prob2={"class": "softmax", "from": "readout", "n_out": 12},
        halves={"class": "split", "axis": "F", "from": "prob2", "size_splits": [5, 7]},
        output={"class": "choice", "target": "classes", "beam_size": 12, "from": ["halves/0"],
                "initial_output": 0})),
    "second-split-part-into-choice": ("SG118", "output/output", _with(
        prob2={"class": "softmax", "from": "readout", "n_out": 12},
        halves={"class": "split", "axis": "F", "from": "prob2", "size_splits": [5, 7]},
        output={"class": "choice", "target": "classes", "beam_size": 12, "from": ["halves/1"],
                "initial_output": 0})),
    # log-probabilities concatenated with the readout (activation concatenates its sources): 7 + 6
    # entries, not the target's 7
    "concatenated-scores-into-choice": ("SG118", "output/output", _with(
        logp={"class": "activation", "activation": "log", "from": ["prob", "readout"]},
        output={"class": "choice", "target": "classes", "beam_size": 12, "from": "logp",
                "input_type": "log_prob", "initial_output": 0})),
    # labels (sparse) as the choice's input: ChoiceLayer asserts not source.output.sparse
    "labels-into-choice": ("SG118", "output/output", _with(
        labels={"class": "copy", "from": "prev:output"},
        output={"class": "choice", "target": "classes", "beam_size": 12, "from": ["labels"],
                "initial_output": 0})),
    # a second, independent choice of the frame marked as output: _get_search_choice_seq asserts
    "second-choice-as-output": ("SG119", "output", _with(
        output_b={"class": "choice", "target": "classes", "beam_size": 4, "from": "prob",
                  "initial_output": 0, "is_output_layer": True})),
    # decide inside the loop: BaseChoiceLayer.get_rec_initial_extra_outputs needs beam_size
    "decide-in-loop": ("SG120", "output", _with(
        out_decided={"class": "decide", "from": "output"},
        end={"class": "compare", "from": "out_decided", "value": 0})),
    # a second decoder searching on the first one's decided labels only: its choice also depends
    # on its own previous frame (PR #1213), and the decided labels cannot be selected into it
    "choice-on-decided-labels-only": ("SG106", "dec2/output", _root(
        copy.deepcopy(ATTENTION),
        out_decided={"class": "decide", "from": "output"},
        dec2={"class": "rec", "from": [], "max_seq_len": "max_len_from('base:encoder')",
              "is_output_layer": True, "unit": {
            "emb": {"class": "linear", "activation": None, "from": "base:out_decided", "n_out": 3},
            "prob": {"class": "softmax", "from": "emb", "target": "classes"},
            "output": {"class": "choice", "target": "classes", "beam_size": 4, "from": "base:out_decided",
                       "initial_output": 0},
            "end": {"class": "compare", "from": "output", "value": 0}}})),
    # search: False without a target: ChoiceLayer.get_out_data_from_opts needs the search then
    "search-false-without-target": ("SG103", "output/output", _with(
        output={"class": "choice", "target": None, "beam_size": 12, "from": "prob", "initial_output": 0,
                "search": False, "length_normalization": False})),
    # a root decide of a decide_keep_beam loop output: its raw beam scores live in the loop body
    "decide-raw-loop-output": ("SG122", "s_decided", _root(
        _with(s_raw={"class": "decide_keep_beam", "from": "s", "is_output_layer": True}),
        s_decided={"class": "decide", "from": "output/s_raw", "is_output_layer": True})),
    # beam scores of a decided layer: it has no search choices any more
    "beam-scores-after-decide": ("SG121", "all_scores", _root(
        copy.deepcopy(ATTENTION),
        out_decided={"class": "decide", "from": "output"},
        all_scores={"class": "choice_get_beam_scores", "from": "out_decided", "is_output_layer": True})),
}


@pytest.mark.parametrize("name", INLINE_CASES)
def test_inline_error_codes(name: str) -> None:
    code, layer, case = INLINE_CASES[name]
    errors = [f for f in diagnose(case) if f.severity == "error"]
    assert (code, layer) in {(f.code, f.layer) for f in errors}, [(f.code, f.layer) for f in errors]
    hit = next(f for f in errors if f.code == code)
    assert hit.reason and hit.fix and hit.returnn_message and hit.title == rule_codes()[code]


def test_inline_rules_stay_quiet_on_the_valid_decoder() -> None:
    """The shape model sees the attention decoder's sequences reduced by generic_attention, the
    frame's one choice chain, and the root decide: no error."""
    assert [f for f in diagnose(ATTENTION) if f.severity == "error"] == []
    # reading the encoder only through attention in the loop is fine
    fine = _with(att2={"class": "generic_attention", "weights": "att_weights", "base": "base:enc_ctx"},
                 readout={"class": "linear", "activation": "tanh", "from": ["s", "prev:embed", "att", "att2"],
                          "n_out": 6})
    assert [f for f in diagnose(fine) if f.severity == "error"] == []
