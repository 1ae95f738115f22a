"""The oracle runner itself: what it records (translations, failures), the corpus README's network
changes, how it spreads cases over processes, its self-check. Whether it reproduces RETURNN's
recorded answers for the shared corpus: ``test_corpus_runner.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from . import runner
from .oracle import RUNNER, require_returnn, run_oracle, split_cases

pytestmark = pytest.mark.returnn

# A minimal attention decoder: encoder outside the loop, read through ``base:`` inside it.
ATTENTION_CASE: dict[str, Any] = {
    "id": "inline/attention-decoder",
    "extern_data": {
        "data": {"dim": 5, "sparse": True},
        "classes": {"dim": 7, "sparse": True, "available_for_inference": False},
    },
    "network": {
        "embed": {"class": "linear", "activation": None, "from": "data:data", "n_out": 6},
        "encoder": {"class": "rec", "unit": "nativelstm2", "from": "embed", "n_out": 6},
        "enc_ctx": {"class": "linear", "activation": None, "from": "encoder", "n_out": 6},
        "output": {
            "class": "rec",
            "from": [],
            "target": "classes",
            "max_seq_len": "max_len_from('base:encoder') * 2",
            "unit": {
                "target_embed": {"class": "linear", "activation": None, "from": "output", "n_out": 4,
                                 "initial_output": 0},
                "s": {"class": "rnn_cell", "unit": "standardlstm", "from": ["prev:target_embed", "prev:att"],
                      "n_out": 6},
                "s_ctx": {"class": "linear", "activation": None, "from": "s", "n_out": 6},
                "energy_in": {"class": "combine", "kind": "add", "from": ["base:enc_ctx", "s_ctx"]},
                "energy_tanh": {"class": "activation", "activation": "tanh", "from": "energy_in"},
                "energy": {"class": "linear", "activation": None, "with_bias": False, "from": "energy_tanh",
                           "n_out": 1},
                "att_weights": {"class": "softmax_over_spatial", "from": "energy"},
                "att": {"class": "generic_attention", "weights": "att_weights", "base": "base:encoder",
                        "auto_squeeze": True},
                "output_prob": {"class": "softmax", "from": ["s", "att"], "target": "classes", "loss": "ce"},
                "output": {"class": "choice", "from": "output_prob", "target": "classes", "beam_size": 4,
                           "initial_output": 0},
                "end": {"class": "compare", "from": "output", "value": 0},
            },
        },
        "decision": {"class": "decide", "from": "output", "loss": "edit_distance", "target": "classes"},
    },
}


_SMALL_EXTERN = {"data": {"dim": 3}, "classes": {"dim": 4, "sparse": True, "available_for_inference": False}}
_SMALL_UNIT: dict[str, Any] = {
    "s": {"class": "linear", "from": ["prev:s", "base:nonexistent"], "n_out": 3},
    "prob": {"class": "softmax", "from": "s", "target": "classes"},
    "output": {"class": "choice", "from": "prob", "target": "classes", "beam_size": 2, "initial_output": 0},
    "end": {"class": "compare", "from": "output", "value": 0},
}
# ``base:`` lookup of a missing layer from inside the loop: not a search error, blamed on ``output/s``.
MISSING_BASE_CASE: dict[str, Any] = {
    "id": "inline/missing-base-layer",
    "extern_data": _SMALL_EXTERN,
    "network": {"output": {"class": "rec", "from": [], "max_seq_len": 5, "unit": _SMALL_UNIT}},
}
# No target length in search and no ``max_seq_len``: RETURNN asks for one (a search error).
NO_MAX_SEQ_LEN_CASE: dict[str, Any] = {
    "id": "inline/no-max-seq-len",
    "extern_data": _SMALL_EXTERN,
    "network": {"output": {"class": "rec", "from": [], "target": "classes",
                           "unit": {**_SMALL_UNIT, "s": {"class": "linear", "from": "prev:s", "n_out": 3}}}},
}


@pytest.fixture(scope="module")
def inline_results() -> dict[str, dict[str, Any]]:
    require_returnn()
    return run_oracle([ATTENTION_CASE, MISSING_BASE_CASE, NO_MAX_SEQ_LEN_CASE])


def test_translations_recorded_for_attention_decoder(inline_results: dict[str, dict[str, Any]]) -> None:
    """Spec §4.5 / §9.2: beamless ``base:`` encoder layers are tiled into ``output/prev:output``
    at each in-loop consumer; §9.4: frame-end translations re-select into ``output/output``."""
    res = inline_results[ATTENTION_CASE["id"]]
    assert res["ok"], res["error_full"]
    tiles = {(t["layer"], t["source"]) for t in res["translations"] if t["action"] == "tile"}
    assert ("output/att", "encoder") in tiles
    assert ("output/energy_in", "enc_ctx") in tiles
    for t in res["translations"]:
        if t["action"] == "tile":
            assert t["from_choice"] is None and t["to_choice"] == "output/prev:output" and t["chain"] == []
        if t["action"] == "select":
            assert t["from_choice"] == "output/prev:output"
            assert t["to_choice"] == "output/output" and t["chain"] == ["output/output"]
    # the end flag: prev:end (beam of the previous frame) re-selected into the choice's beam
    assert any(t["source"] == "output/prev:end" and t["action"] == "select" for t in res["translations"])
    layers = res["layers"]
    assert layers["encoder"]["beam"] is None and layers["encoder"]["choice"] is None
    assert layers["output/att"]["beam"] == "output/prev:output"
    assert layers["output/att"]["choice"] == "output/prev:output"
    assert layers["output/output"]["beam_chain"] == ["output/output", "output/prev:output"]
    assert layers["output/end"]["choice"] == "output/output"
    assert layers["output"]["beam"] == "output/output"
    assert layers["decision"]["beam"] is None


def test_failure_reports(inline_results: dict[str, dict[str, Any]]) -> None:
    missing = inline_results[MISSING_BASE_CASE["id"]]
    assert not missing["ok"] and missing["error"].startswith("LayerNotFound: layer 'nonexistent'")
    assert missing["search_error"] is False
    assert missing["error_layer"] == "output/s"
    no_len = inline_results[NO_MAX_SEQ_LEN_CASE["id"]]
    assert not no_len["ok"] and "specify max_seq_len" in no_len["error"]
    assert no_len["search_error"] is True
    assert no_len["error_layer"] == "output"


def test_prepare_network_applies_corpus_changes() -> None:
    """The corpus README's modifications, also inside rec units; pure Python."""
    net = {
        "enc": {"class": "rec", "unit": "NativeLSTM2", "from": "data", "load_on_init": "x.ckpt"},
        "out": {
            "class": "rec",
            "from": [],
            "unit": {
                "lstm": {"class": "rnn_cell", "unit": "zoneoutlstm", "from": "prev:x"},
                "e1": {"class": "eval", "eval": {"__callable__": "f"}, "out_type": {"shape": [None, 1]}},
                "e2": {"class": "eval", "eval": "self.network.get_config().typed_value('f')(source(0))"},
                "c": {"class": "choice", "custom_score_combine": {"__callable__": "g"}, "from": "e1"},
                "keep": {"class": "rec", "unit": "standardlstm", "from": "x"},
            },
        },
    }
    got = runner.prepare_network(net)
    assert got["enc"] == {"class": "rec", "unit": "standardlstm", "from": "data"}
    unit = got["out"]["unit"]
    assert unit["lstm"]["unit"] == "standardlstm"
    assert unit["e1"] == {"class": "eval", "eval": "source(0)"}
    assert unit["e2"]["eval"] == "source(0)"
    assert unit["c"] == {"class": "choice", "from": "e1"}
    assert unit["keep"]["unit"] == "standardlstm"
    assert net["enc"]["unit"] == "NativeLSTM2"  # input untouched


def test_split_cases_spreads_big_cases() -> None:
    cases = [{"id": str(i), "network": {"x" * (1000 * i): 1}} for i in range(1, 7)]
    groups = split_cases(cases, 2)
    assert len(groups) == 2
    assert {"6", "5"} & {c["id"] for c in groups[0]} and {"6", "5"} & {c["id"] for c in groups[1]}
    assert sorted(c["id"] for g in groups for c in g) == [str(i) for i in range(1, 7)]


def test_self_check_reports_versions() -> None:
    require_returnn()
    assert RUNNER.is_file()
    # by module name (by path, its folder's returnn.py would shadow RETURNN); the tests' alias by path
    for command in (["-m", "searchgraph.search.returnn_build"], [str(Path(__file__).with_name("runner.py"))]):
        out = subprocess.run([sys.executable, *command, "--self-check"], capture_output=True, text=True,
                             check=True, timeout=300, cwd=str(RUNNER.parents[2]))
        info = json.loads(out.stdout.strip().splitlines()[-1])
        assert info["returnn"] and info["tensorflow"]
