"""A trained model's beam search, captured from its checkpoint on real input, against RETURNN's own.

A tiny attention encoder-decoder (``configs/copy_attention.config``: it learns to reverse label
sequences; a vocabulary file of BPE-like labels) is trained with RETURNN for three short epochs on
the CPU; the checkpoint and ``rnn.py CONFIG ++task search``'s ``search_output_file`` are cached in
``.oracle-cache/real-capture/``
under a hash of the config, the vocabulary and the RETURNN / TensorFlow versions. The capture of the
same dataset sequences must give RETURNN's n-best labels exactly and its scores to 1e-5, and the
recorded attention of every best hypothesis must equal RETURNN's forced decoding of it.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from searchgraph.interfaces.cli import main
from searchgraph.interfaces.console_trace import check_against_returnn, final_scores
from searchgraph.loading import load
from searchgraph.search.backtrack import backtrack
from searchgraph.search.records import attention_matrix
from searchgraph.search.returnn import CaptureError, capture_search, instrument
from searchgraph.search.trace import SearchTrace
from searchgraph.search.vocab import TraceVocab, target_vocab
from tests.oracle.oracle import CACHE_DIR, require_returnn

HERE = Path(__file__).parent
CONFIG = HERE / "configs" / "copy_attention.config"
VOCAB = HERE / "configs" / "copy_vocab.txt"
FORCED = HERE / "forced_runner.py"
SEQS = list(range(6))  # every sequence of the config's search_data: one batch, as rnn.py searches it
ATT = "output/att_weights"
EPOCHS = 3  # the config's num_epochs: rnn.py's search loads the last one, and so does --checkpoint


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


def _returnn(args: list[str], cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "returnn", str(CONFIG), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


@pytest.fixture(scope="module")
def trained() -> Path:
    """A folder with ``model.003`` (RETURNN's last checkpoint) and ``search.py`` (its search output)."""
    require_returnn()
    from importlib.metadata import version

    key = hashlib.sha256(CONFIG.read_bytes() + VOCAB.read_bytes() + FORCED.read_bytes()
                         + f"{version('returnn')} {sys.version_info[:2]}".encode()).hexdigest()[:16]
    folder = CACHE_DIR / "real-capture" / key
    if (folder / "search.py").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        _returnn(["++model", str(tmp / "model")], tmp)
        _returnn(["++model", str(tmp / "model"), "++task", "search",
                  "++search_output_file", str(tmp / "search.py"), "++search_output_file_format", "py",
                  "++search_do_eval", "0"], tmp)
        # the checkpoint's path is inside it (TF's "checkpoint" file): keep the folder's final name
        for name in ("checkpoint",):
            (tmp / name).unlink(missing_ok=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _spec(folder: Path):
    return load(CONFIG, trust=True, overrides={"model": str(folder / "model")})


@pytest.fixture(scope="module")
def captured(trained: Path):
    return capture_search(_spec(trained), checkpoint="config", record="auto", dataset="search_data",
                          seqs=SEQS, cache_dir=CACHE_DIR / "real-capture" / "captures")


def test_nbest_equals_returnn_search_output(trained: Path, captured) -> None:
    trace, final = captured
    # RETURNN writes repr()s: np.float32(-0.7) with NumPy 2
    text = re.sub(r"np\.float(?:32|64)\(([^()]*)\)", r"\1", (trained / "search.py").read_text())
    reference = ast.literal_eval(text)
    result = backtrack(trace)
    assert check_against_returnn(trace, result).ok
    vocab = target_vocab(trace.meta)
    assert vocab is not None and vocab.labels[:3] == ("<eos>", "ab@@", "c")
    scores = final_scores(trace, result)
    latest = trace.latest_choice
    assert sorted(trace.meta["seq_tags"]) == sorted(reference) and len(reference) == len(SEQS)
    for b, tag in enumerate(trace.meta["seq_tags"]):
        ref = reference[tag]
        assert len(ref) == trace.beam_sizes[latest]
        for k, (ref_score, ref_text) in enumerate(ref):
            seq = result.sequences[latest][b, k, : result.lengths[b, k]]
            assert vocab.returnn_text(seq) == ref_text, (tag, k)
            assert abs(float(scores[b, k]) - ref_score) <= 1e-5, (tag, k, scores[b, k], ref_score)
            np.testing.assert_array_equal(final.sequences[latest][b, k, : final.lengths[b, k]], seq)


def test_attention_of_best_hypotheses_equals_forced_decoding(trained: Path, captured, tmp_path: Path
                                                            ) -> None:
    trace, final = captured
    assert list(trace.records) == [ATT]
    result = backtrack(trace)
    best = np.argmax(final_scores(trace, result), axis=1)
    lengths = np.maximum(1, result.lengths[np.arange(trace.batch), best])
    classes = np.zeros((trace.batch, int(lengths.max())), np.int32)
    for b in range(trace.batch):
        classes[b, : lengths[b]] = result.sequences[trace.latest_choice][b, best[b], : lengths[b]]
    data, data_len = final.inputs["data"]
    np.savez(tmp_path / "in.npz", data=data, data_len=data_len, classes=classes, classes_len=lengths)
    proc = subprocess.run([sys.executable, str(FORCED), str(CONFIG), str(trained / f"model.{EPOCHS:03d}"),
                           ATT, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], env=_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    forced = np.load(tmp_path / "out.npz")["values"]  # [B, T_out, 1, T_in]
    for b in range(trace.batch):
        ours = attention_matrix(trace, result, ATT, b, int(best[b]))
        theirs = forced[b, : lengths[b], 0, : data_len[b]]
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        assert not np.allclose(ours, ours[:, :1])  # not flat: a real test of where it attended


def test_cli_shows_tokens_text_and_attention(trained: Path, tmp_path: Path, capsys, plain_console
                                            ) -> None:
    picture, page = tmp_path / "att.png", tmp_path / "page.html"
    dot = shutil.which("dot") is not None  # the lattice page with tokens and the heat maps
    code = main(["trace", "--capture", str(CONFIG), "--trust", "++model", str(trained / "model"), "--checkpoint",
                 "--input", "ab@@ c de@@ f", "--input", "h ij", "--no-frames", "--attention", str(picture)]
                + (["-o", str(page)] if dot else []))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "checkpoint" in out and "text" in out and "att_weights of the best hypothesis" in out
    assert "ab@@ c de@@ f" in out  # the input's tokens head the attention table
    assert "f de@@ c ab@@" in out and "f dec ab" in out  # the trained model reverses: tokens and text
    assert "n-best of batch entry 1" in out and "ij h" in out  # two inputs: a batch of two
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if dot:
        text = page.read_text()
        assert text.count("data:image/png;base64,") == 2 and "de@@" in text  # a heat map per entry
    assert main(["trace", "--capture", str(CONFIG), "--trust", "--checkpoint", str(trained / "model.001"),
                 "--input", "1 2 3", "--no-frames", "--attention", str(picture)]) == 2  # exists: no --force


def test_many_sequences_resume_from_the_saved_trace(trained: Path, tmp_path: Path) -> None:
    from searchgraph.search.capture_set import capture_sequences

    save, seen = tmp_path / "run.npz", []
    first = capture_sequences(_spec(trained), "search_data", [0, 1], batch=2, checkpoint="config",
                              record="auto", save=save, progress=seen.append)
    assert [p.done for p in seen] == [2] and seen[-1].left == 0 and first.meta["seqs"] == [0, 1]
    seen.clear()
    trace = capture_sequences(_spec(trained), "search_data", SEQS, batch=2, checkpoint="config",
                              record="auto", save=save, progress=seen.append)
    assert [(p.done, p.total, p.resumed) for p in seen] == [(2, 4, 2), (4, 4, 2)]  # 0-1 not searched again
    saved = SearchTrace.load(save)
    assert trace.meta["seqs"] == SEQS and saved.meta["seqs"] == SEQS
    np.testing.assert_array_equal(saved.records[ATT], trace.records[ATT])
    assert check_against_returnn(saved).ok
    assert check_against_returnn(trace).ok  # padded batches, each with its own score divisor
    result = backtrack(trace)
    for b in range(2):  # the first run's batch are in the merged trace as they were
        ours, theirs = backtrack(first), result
        k = ours.lengths[b, 0]
        np.testing.assert_array_equal(ours.sequences[first.latest_choice][b, 0, :k],
                                      theirs.sequences[trace.latest_choice][b, 0, :k])
    np.testing.assert_allclose(final_scores(trace, result)[:2], final_scores(first, backtrack(first)))
    with pytest.raises(CaptureError, match="another capture"):
        capture_sequences(_spec(trained), "train", [0], batch=1, checkpoint="config", save=save)


def test_bpe_joining() -> None:
    vocab = TraceVocab(labels=("<eos>", "ab@@", "c", "de@@", "f"), kind="Vocabulary")
    assert vocab.returnn_text([1, 2, 3, 4]) == "ab@@ c de@@ f"
    assert vocab.join([1, 2, 3, 4]) == "abc def"
    assert vocab.join([1, 3]) == "abde"
    assert TraceVocab(labels=("\u2581a", "b", "\u2581c"), kind="SentencePieces").join([0, 1, 2]) == "ab c"


def test_missing_load_on_init_is_dropped_with_a_note() -> None:
    net = {"lm": {"class": "subnetwork", "from": "data", "load_on_init": "/nonexistent/lm/model.050",
                  "subnetwork": {"output": {"class": "linear", "from": "data", "n_out": 4}}},
           "output": {"class": "rec", "from": [], "target": "classes", "max_seq_len": 5, "unit": {
               "output": {"class": "choice", "from": "prob", "target": "classes", "beam_size": 2},
               "end": {"class": "compare", "from": "output", "value": 0},
               "prob": {"class": "softmax", "from": "prev:output", "target": "classes"}}}}
    spec, layout = instrument({"network": net, "extern_data": {
        "data": {"dim": 3}, "classes": {"dim": 5, "sparse": True}}})
    assert "load_on_init" not in spec.network["lm"] and net["lm"]["load_on_init"]  # a copy was changed
    assert len(layout.notes) == 1 and "lm: load_on_init '/nonexistent/lm/model.050'" in layout.notes[0]



