"""Our own config files, each written to exercise the idioms real RETURNN configs use (tests/loading/configs/).

Safe mode must read each one without running any of it; where RETURNN is installed, the same file loaded
with ``--trust`` (RETURNN's own loader in a sandboxed subprocess) must give the same network: that is the
differential check. The settings that come from the command line must act the way RETURNN's do.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from searchgraph.loading import load

from ..conftest import need
from .network_shape import differences

IDIOMS = Path(__file__).parent / "configs" / "idioms"
FILES = sorted(IDIOMS.glob("*.config"))
CASES = [(f, {}) for f in FILES] + [
    (IDIOMS / "config_object.config", {"use_lm": "1", "beam_size": "5"}),
    (IDIOMS / "config_object.config", {"task": "train"}),
]


def _ids(case: tuple[Path, dict[str, str]]) -> str:
    path, overrides = case
    return path.stem + "".join(f"-{k}={v}" for k, v in overrides.items())


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_safe_mode_equals_returnns_own_loader(case: tuple[Path, dict[str, str]]) -> None:
    path, overrides = case
    need(importlib.util.find_spec("returnn") is not None, "RETURNN is not installed")
    safe = load(path, overrides=overrides)
    trusted = load(path, trust=True, overrides=overrides)
    assert trusted.report is not None and trusted.report.mode == "trusted"
    assert differences(safe, trusted) == []
    assert (safe.report.epoch, safe.report.network_from) == (trusted.report.epoch, trusted.report.network_from)


def test_command_line_settings_act_as_in_returnn() -> None:
    path = IDIOMS / "config_object.config"
    plain = load(path)
    unit = plain.network["output"]["unit"]
    assert unit["output"]["beam_size"] == 12 and "lm" not in unit
    assert plain.network["decision"]["only_on_search"] is True  # task is "search" while the file runs
    changed = load(path, overrides={"use_lm": "1", "beam_size": "5"})
    unit = changed.network["output"]["unit"]
    assert unit["output"]["beam_size"] == 5 and unit["prob"]["from"] == ["s", "lm"]
    assert changed.report.overrides == {"task": "search", "use_lm": "1", "beam_size": "5"}
    train = load(path, overrides={"task": "train"})
    assert "extra_train_only" in train.network["output"]["unit"]


def test_builders_functions_classes_and_refused_side_effects() -> None:
    spec = load(IDIOMS / "builders.config")
    assert [k for k in spec.network if k.startswith("enc_")] == ["enc_00", "enc_01", "enc_02"]
    assert spec.network["enc_01"] == {"class": "linear", "activation": "relu", "n_out": 64, "from": "enc_00",
                                      "dropout": 0.1}
    assert spec.network["scaled"]["eval"] == {"__callable__": "<lambda>"}
    assert spec.num_outputs == {"classes": [10, 1], "data": [8, 2]}
    report = spec.report
    assert [n.what for n in report.refused] == ["subprocess.check_output(['hostname'])"]
    assert [n.what for n in report.stand_ins] == ["module not_a_real_module_xyz (not on this machine)"]
    assert "batch_size" in spec.settings and "__opaque__" in spec.settings["batch_size"]


@pytest.mark.parametrize(("epoch", "layers"), [(None, 4), (1, 1), (25, 3)])
def test_get_network_takes_the_epoch_else_the_last(epoch: int | None, layers: int) -> None:
    spec = load(IDIOMS / "get_network.config", epoch=epoch)
    assert sum(k.startswith("enc") for k in spec.network) == layers
    assert spec.report.epoch == (epoch or 40)
    assert spec.report.network_from == f"get_network(epoch={epoch or 40})"
    assert spec.extern_data["data"]["dim_tags"][0] == {"__dim__": {"description": "batch", "dimension": None,
                                                                   "kind": "batch"}}
    assert spec.extern_data["data"]["dim_tags"][2]["__dim__"]["dimension"] == 8
