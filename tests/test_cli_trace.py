"""``searchgraph trace``: the view of a trace file, --capture / --save, bad files, refusing to overwrite.

The exact-output test uses a hand-made trace whose backtracking was worked out by hand (see
``hand_trace``); the ``--capture`` tests run RETURNN on a three-layer decoder (a few seconds each).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from searchgraph.search.trace import SearchTrace

from .cli_support import one_line, run
from .conftest import ROOT

A, B = "output/a", "output/b"
BUNDLED = ROOT / "examples" / "attention_decoder.trace.npz"

#: A three-layer decoder (K=3, vocab 6) for --capture.
DECODER: dict[str, Any] = {"network": {
    "output": {"class": "rec", "from": [], "max_seq_len": 6, "target": "classes", "unit": {
        "prob": {"class": "softmax", "from": "prev:output", "target": "classes"},
        "output": {"class": "choice", "from": "prob", "beam_size": 3, "target": "classes",
                   "initial_output": 0, "length_normalization": False},
        "end": {"class": "compare", "from": "output", "value": 0}}}},
    "extern_data": {"data": {"dim": 5}, "classes": {"dim": 6, "sparse": True}}}


@pytest.fixture(autouse=True)
def _plain(plain_console: None) -> None:
    """Every test here: a fixed-width, colourless console (``plain_console`` in conftest)."""


def hand_trace(**changes: Any) -> SearchTrace:
    """Two choices per frame, a (K=2) then b (K=3), T=3, end layer on b, no include_eos.

    By hand: final hypothesis 0 of b runs b[0]@2 <- a[1]@2 <- b[1]@1 <- a[0]@1 <- b[2]@0 <- a[1]@0,
    so a = 2 3 6, b = 12 14 16; hypotheses 1 and 2 share a[0]@2 and the rest: a = 2 3 5, b = 12 14 17
    / 12 14 18. End flags along the paths: set at frame 2 for hypotheses 1 and 2 only, so the lengths
    are 3, 2, 2 and RETURNN's scores are the last ones divided by max(length) + 1 = 4.
    """
    kw: dict[str, Any] = {
        "labels": {A: [[[1, 2]], [[3, 4]], [[5, 6]]], B: [[[10, 11, 12]], [[13, 14, 15]], [[16, 17, 18]]]},
        "src_beams": {A: [[[0, 0]], [[2, 0]], [[1, 1]]], B: [[[1, 0, 1]], [[0, 0, 1]], [[1, 0, 0]]]},
        "scores": {A: np.zeros((3, 1, 2)), B: [[[0.0, 0, 0]], [[0.0, 0, 0]], [[-1.0, -2.0, -3.0]]]},
        "end_flags": np.array([[[0, 0, 0]], [[0, 0, 0]], [[0, 1, 1]]], bool), "end_choice": B,
        "final_lengths": [[3, 2, 2]], "final_scores": [[-0.25, -0.5, -0.75]],
        "meta": {"seed": 7, "returnn_sequences": {A: [[[2, 3, 6], [2, 3, 5], [2, 3, 5]]],
                                                  B: [[[12, 14, 16], [12, 14, 17], [12, 14, 18]]]}},
    }
    kw.update(changes)
    return SearchTrace.from_arrays("output", [A, B], kw.pop("labels"), kw.pop("src_beams"), kw.pop("scores"),
                                   **kw)


HAND_VIEW = """\
search trace output: 3 frames, batch 1, choices a ×2, b ×3
ends: end layer in b's beam
recorded from seed 7
backtracking vs RETURNN's own n-best: sequences ✓  lengths ✓  scores ✓  

n-best of batch entry 0
hyp    score  len  a      b       
  0  -0.2500    3  2 3 6  12 14 16
  1  -0.5000    2  2 3    12 14   
  2  -0.7500    2  2 3    12 14   

frames of batch entry 0: src→label per hypothesis
t  a[0]  [1]  b[0]   [1]   [2]
0   0→1  0→2  1→10  0→11  1→12
1   2→3  0→4  0→13  0→14  1→15
2   1→5  1→6  1→16  0→17  0→18
src→label: hypothesis k extends hypothesis src of the previous choice's beam (the first choice: of 
the latest choice's beam one frame back); bold green: the best final hypothesis' path; dim: its end 
flag is set
"""


class TestView:
    def test_hand_made_trace(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = hand_trace().save(tmp_path / "hand.npz")
        code, out, err = run(capsys, "trace", str(path))
        assert (code, err) == (0, "")
        assert [ln.rstrip() for ln in out.splitlines()] == [ln.rstrip() for ln in HAND_VIEW.splitlines()]

    def test_disagreement_with_returnn_exits_1(self, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
        path = hand_trace(final_lengths=[[3, 3, 2]]).save(tmp_path / "hand.npz")
        code, out, _ = run(capsys, "trace", str(path), "--no-frames")
        assert code == 1
        assert "sequences ✓  lengths ✗  scores ✓" in out
        assert "frames of batch entry" not in out

    def test_bundled_trace(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = run(capsys, "trace", str(BUNDLED), "--entry", "1", "--no-frames")
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == "search trace output: 18 frames, batch 2, choices output ×12"
        assert "sequences ✓  lengths ✓  scores ✓" in out
        assert "n-best of batch entry 1" in out and "n-best of batch entry 0" not in out
        assert sum(ln.strip().split(" ", 1)[0].isdigit() for ln in lines[5:]) == 12  # 12 hypotheses

    def test_entry_out_of_range(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = run(capsys, "trace", str(BUNDLED), "--entry", "2")
        assert (code, out) == (2, "")
        assert "--entry 2 is out of range: the trace has batch entries 0..1" in one_line(err)


class TestBadInput:
    @pytest.mark.parametrize("content, message", [
        (None, "no such file"),
        (b"hello, not a trace", "not a trace file (not an .npz archive)"),
        (b"PK\x03\x04 truncated", "damaged trace file"),
    ])
    def test_unreadable_files(self, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None,
                              message: str) -> None:
        path = tmp_path / "x.npz"
        if content is not None:
            path.write_bytes(content)
        code, out, err = run(capsys, "trace", str(path))
        assert (code, out) == (2, "")
        assert one_line(err).startswith(f"error: {path}: {message}")
        assert "Traceback" not in err and "hint:" in err

    def test_other_npz_and_damaged_arrays(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        code, _, err = run(capsys, "trace", str(tmp_path / "other.npz"))
        assert code == 2 and "not a SearchTrace file (no meta_json)" in one_line(err)
        arrays = dict(np.load(hand_trace().save(tmp_path / "t.npz")))
        arrays["src_beams_1"] = arrays["src_beams_1"] + 5
        np.savez(tmp_path / "bad.npz", **arrays)
        code, _, err = run(capsys, "trace", str(tmp_path / "bad.npz"))
        assert code == 2
        assert ("damaged trace file: src_beams['output/b'] at [t, b, k] = (0, 0, 0) is 6, "
                "out of range [0, 2)") in one_line(err)

    def test_neither_or_both_sources(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        assert run(capsys, "trace")[0] == 2
        code, _, err = run(capsys, "trace", str(BUNDLED), "--capture", "x.config")
        assert code == 2 and "give either a trace file or --capture CONFIG" in err
        code, _, err = run(capsys, "trace", str(BUNDLED), "--save", str(tmp_path / "o.npz"))
        assert code == 2 and "--save needs --capture" in err

    @pytest.mark.parametrize("flag", ["--save", "-o"])
    def test_refuses_to_overwrite(self, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  flag: str) -> None:
        """Checked before anything runs (so RETURNN is not needed here); the file stays as it was."""
        target = tmp_path / "mine.npz"
        target.write_bytes(b"precious")
        config = tmp_path / "decoder.json"
        config.write_text(json.dumps(DECODER))
        code, out, err = run(capsys, "trace", "--capture", str(config), flag, str(target))
        assert (code, out) == (2, "")
        assert one_line(err) == f"error: {target}: the file exists hint: pass --force to replace it"
        assert target.read_bytes() == b"precious"

    def test_missing_returnn(self, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
        import searchgraph.search.returnn

        monkeypatch.setattr(searchgraph.search.returnn, "returnn_available", lambda: False)
        config = tmp_path / "decoder.json"
        config.write_text(json.dumps(DECODER))
        code, out, err = run(capsys, "trace", "--capture", str(config))
        assert (code, out) == (2, "")
        assert one_line(err).startswith("error: RETURNN and TensorFlow are needed to capture a search "
                                        "hint: pip install")

    def test_lattice_output(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """-o draws the lattice with searchgraph.render.write_lattice, or says cleanly that it cannot."""
        out_file = tmp_path / "lattice.svg"
        code, out, err = run(capsys, "trace", str(BUNDLED), "--no-frames", "-o", str(out_file))
        if importlib.util.find_spec("searchgraph.render") is None:
            assert (code, out) == (2, "")
            assert one_line(err).startswith(f"error: {out_file}: lattice diagrams are not available")
        else:
            assert code == 0, err
            assert out_file.exists() and f"wrote {out_file}" in one_line(out)


@pytest.mark.returnn
class TestCapture:
    @pytest.fixture(autouse=True)
    def _returnn(self) -> None:
        from tests.oracle.oracle import require_returnn

        require_returnn()

    def test_capture_save_load_round_trip(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        config = tmp_path / "decoder.json"
        config.write_text(json.dumps(DECODER))
        saved = tmp_path / "run.npz"
        code, out, err = run(capsys, "trace", "--capture", str(config), "--seed", "3", "--batch", "3",
                             "--weight-scale", "2", "--save", str(saved))
        assert (code, err) == (0, "")
        assert out.splitlines()[0] == "search trace output: 6 frames, batch 3, choices output ×3"
        assert "sequences ✓  lengths ✓  scores ✓" in out
        assert out.rstrip().endswith(f"saved {saved}")
        trace = SearchTrace.load(saved)
        assert (trace.meta["seed"], trace.meta["batch"], trace.meta["weight_scale"]) == (3, 3, 2.0)
        # Viewing the saved file shows exactly what the capture showed.
        code, again, _ = run(capsys, "trace", str(saved))
        assert code == 0
        assert again == out[: out.rindex("saved ")]
        # --force replaces it (with another search).
        code, _, err = run(capsys, "trace", "--capture", str(config), "--seed", "4", "--save", str(saved),
                           "--force", "--no-frames")
        assert (code, err) == (0, "")
        assert SearchTrace.load(saved).meta["seed"] == 4
        assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder.json", "run.npz"]  # no temp files

    def test_returnn_error_is_clean(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        bad = json.loads(json.dumps(DECODER))
        bad["network"]["output"]["unit"]["prob"]["eval_typo"] = 1  # an option RETURNN does not know
        config = tmp_path / "bad.json"
        config.write_text(json.dumps(bad))
        code, out, err = run(capsys, "trace", "--capture", str(config))
        assert (code, out) == (2, "")
        assert one_line(err).startswith("error: output/prob: RETURNN failed: TypeError:")
        assert "eval_typo" in err and "Traceback" not in err
