"""Real RETURNN searches, captured with :func:`searchgraph.search.returnn.capture_search` and backtracked by us.

For every network in ``capture_cases/`` (run through ``capture_runner.py``, i.e. with the oracle
runner's network preparation) and for the bundled ``examples/attention_decoder.config`` (through the
package's own worker), RETURNN runs its beam search once on the CPU with seeded random weights. Our
NumPy and TF backtracking of the recorded per-frame values must give RETURNN's own final sequences
and lengths exactly, and its final scores to float tolerance. Captures are cached in
``.oracle-cache/capture/`` under a hash of the request, the capture and runner sources and the
versions, so reruns take seconds; a fresh clone (CI) runs RETURNN for real, two captures at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from searchgraph.interfaces.console_trace import check_against_returnn, final_scores
from searchgraph.search.backtrack import backtrack
from searchgraph.search.returnn import CaptureError, ReturnnFinal, capture_search, instrument
from searchgraph.search.trace import SearchTrace
from tests.conftest import need

from .oracle import CACHE_DIR, ROOT, default_jobs, require_returnn

pytestmark = pytest.mark.returnn

CASES_DIR = Path(__file__).with_name("capture_cases")
RUNNER = Path(__file__).with_name("capture_runner.py")
CAPTURE_CACHE = CACHE_DIR / "capture"
EXAMPLE_ID = "example/attention_decoder"
EXAMPLE = ROOT / "examples" / "attention_decoder.config"
# capture_runner.py imports the oracle runner's network preparation (searchgraph/search/returnn_build.py,
# aliased as runner.py): its source is part of the key.
_PREPARATION = ROOT / "searchgraph" / "search" / "returnn_build.py"
RUNNER_SALT = hashlib.sha256(_PREPARATION.read_bytes()).hexdigest()[:16]


def load_cases() -> dict[str, dict[str, Any]]:
    """Case id -> case (``network``, ``extern_data``, ``capture`` settings, ``description``)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(CASES_DIR.glob("*.json"))}


CASES = load_cases()
IDS = [*CASES, EXAMPLE_ID]


def _capture(cid: str) -> tuple[SearchTrace, ReturnnFinal]:
    if cid == EXAMPLE_ID:
        return capture_search(EXAMPLE, seed=0, batch=2, max_len=5, cache_dir=CAPTURE_CACHE)
    case = CASES[cid]
    net = {k: case[k] for k in ("network", "extern_data") if k in case}
    return capture_search(net, runner=RUNNER, cache_dir=CAPTURE_CACHE, cache_salt=RUNNER_SALT,
                          **case["capture"])


@pytest.fixture(scope="module")
def captures() -> dict[str, tuple[SearchTrace, ReturnnFinal] | BaseException]:
    """Every capture (or the exception it raised), run a few at a time (``default_jobs``)."""
    require_returnn()
    jobs = int(os.environ.get("SEARCHGRAPH_ORACLE_JOBS", "0")) or default_jobs()

    def run(cid: str) -> tuple[SearchTrace, ReturnnFinal] | BaseException:
        try:
            return _capture(cid)
        except Exception as exc:  # noqa: BLE001 - reported by the test of that case
            return exc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(IDS, pool.map(run, IDS)))


def get(captures: dict[str, Any], cid: str) -> tuple[SearchTrace, ReturnnFinal]:
    got = captures[cid]
    if isinstance(got, BaseException):
        detail = f"\n{got.log[-3000:]}" if isinstance(got, CaptureError) else ""
        pytest.fail(f"capture of {cid} failed: {got}{detail}")
    return got


@pytest.mark.parametrize("cid", IDS)
def test_numpy_backtrack_equals_returnn(captures, cid: str, tmp_path: Path) -> None:
    trace, final = get(captures, cid)
    result = backtrack(trace)
    assert result.lengths.tolist() == final.lengths.tolist()
    for c in trace.choices:
        assert result.trimmed()[c].tolist() == final.sequences[c].tolist(), c
    np.testing.assert_allclose(final_scores(trace, result), final.scores, rtol=1e-5, atol=1e-5)
    # The same holds for the trace after a save/load round trip (what `searchgraph trace` reads).
    back = SearchTrace.load(trace.save(tmp_path / "trace.npz"))
    check = check_against_returnn(back)
    assert (check.sequences, check.lengths, check.scores) == (True, True, True)


@pytest.mark.parametrize("cid", IDS)
def test_tf_backtrack_equals_returnn(captures, cid: str) -> None:
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError:  # pragma: no cover - exercised only where TF is missing
        need(False, "TensorFlow is not installed")
    from searchgraph.tf.backtrack import backtrack as tf_backtrack
    from searchgraph.tf.backtrack import backtrack_function

    trace, final = get(captures, cid)
    t_out = int(final.lengths.max())
    for got in (tf_backtrack(trace), backtrack_function(trace)(trace.tensor_inputs())):
        assert got.lengths.numpy().tolist() == final.lengths.tolist()
        for c, seq in got.by_choice(trace.choices).items():
            assert seq.numpy()[..., :t_out].tolist() == final.sequences[c].tolist(), c
        np.testing.assert_array_equal(got.scores.numpy(), trace.scores[trace.latest_choice][-1])


def test_cases_cover_the_issue(captures) -> None:
    """At least 10 networks: 1, 2 and 3 choices per frame with different beam sizes, the end layer on an
    earlier and on a prev: choice, known length, include_eos, batch > 1 with different lengths."""
    traces = {cid: get(captures, cid)[0] for cid in IDS}
    assert len(traces) >= 10
    n_choices = {len(t.choices) for t in traces.values()}
    assert {1, 2, 3} <= n_choices
    assert any(len(set(t.beam_sizes.values())) == 3 for t in traces.values())
    assert any(t.end_choice != t.latest_choice for t in traces.values())
    assert any("/prev:" in (t.meta["end_layer_choice"] or "") for t in traces.values())
    assert any(t.meta["end_flags_synthesized"] for t in traces.values())
    assert any(t.include_eos for t in traces.values())
    varied = [cid for cid, t in traces.items()
              if t.batch > 1 and len(np.unique(t.final_lengths)) > 2 and t.final_lengths.min() < t.frames]
    assert len(varied) >= 3, varied
    assert any(t.final_lengths.min() == 0 for t in traces.values())  # hypotheses ending at frame 0
    assert traces[EXAMPLE_ID].beam_sizes == {"output/output": 12}


def test_given_inputs(captures) -> None:
    """``inputs=`` is fed as given (array and lengths); the capture still backtracks to RETURNN's result."""
    case = CASES["known-length-frames"]
    data = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    trace, final = capture_search({k: case[k] for k in ("network", "extern_data")},
                                  inputs={"data": (data, [4, 2])}, runner=RUNNER, cache_dir=CAPTURE_CACHE,
                                  cache_salt=RUNNER_SALT, seed=1)
    np.testing.assert_array_equal(final.inputs["data"][0], data)
    assert trace.meta["input_lengths"]["data"] == [4, 2]
    assert final.lengths.tolist() == [[4, 4, 4], [2, 2, 2]]  # the loop runs over the input frames
    assert check_against_returnn(trace).ok


def test_returnn_failure_is_a_clean_capture_error() -> None:
    require_returnn()
    net = {"network": {"output": {"class": "rec", "from": [], "max_seq_len": 5, "target": "classes", "unit": {
        "prob": {"class": "softmax", "from": "prev:output", "target": "classes"},
        "bad": {"class": "eval", "from": "prob", "eval": "source(0) +* 2"},
        "output": {"class": "choice", "from": "bad", "beam_size": 3, "target": "classes",
                   "initial_output": 0},
        "end": {"class": "compare", "from": "output", "value": 0}}}},
        "extern_data": {"data": {"dim": 5}, "classes": {"dim": 6, "sparse": True}}}
    with pytest.raises(CaptureError) as info:
        capture_search(net, runner=RUNNER)
    assert info.value.where == "output/bad"
    assert info.value.message.startswith("RETURNN failed: SyntaxError")
    assert "Traceback" not in str(info.value) and "SyntaxError: invalid syntax" in info.value.log


class TestInstrument:
    """The instrumentation alone (no RETURNN needed)."""

    def test_layout_of_chained_choices(self) -> None:
        case = CASES["end-on-prev-choice"]
        spec, layout = instrument({k: case[k] for k in ("network", "extern_data")})
        assert layout.choices == ["output/choice1", "output/choice2"]
        assert (layout.end_layer_choice, layout.end_choice) == ("output/prev:choice2", "output/choice2")
        unit = spec.network["output"]["unit"]
        assert unit["end__sg_flags"]["extra_deps"] == ["choice2"]
        assert unit["choice1__sg_src_beams"] == {"class": "choice_get_src_beams", "from": "choice1",
                                                 "collocate_with": ["choice1"], "is_output_layer": True}
        assert "choice1__sg_labels" not in case["network"]["output"]["unit"]  # the input is not changed

    def test_no_loop_with_choices(self) -> None:
        net = {"network": {"out": {"class": "linear", "from": "data", "n_out": 3}},
               "extern_data": {"data": {"dim": 4}}}
        with pytest.raises(CaptureError, match="no rec loop with a search choice"):
            instrument(net)

    def test_unknown_rec_layer(self) -> None:
        case = CASES["k1"]
        with pytest.raises(CaptureError) as info:
            instrument({k: case[k] for k in ("network", "extern_data")}, rec="decoder")
        assert info.value.where == "decoder" and "output" in (info.value.hint or "")

    def test_objects_in_the_network_are_refused(self) -> None:
        from searchgraph.search.returnn import _to_json

        assert _to_json({"a": (1, [2, (3,)])}, "") == {"a": {"__sg_tuple__": [1, [2, {"__sg_tuple__": [3]}]]}}
        with pytest.raises(CaptureError) as info:
            _to_json({"output": {"unit": {"x": {"eval": len}}}}, "")
        assert info.value.where == "output/unit/x/eval"
