"""Trusted mode: configs run as ``rnn.py CONFIG ++task search`` runs them, in a sandboxed subprocess.

The configs are ours (``configs/trusted/``). With RETURNN installed its own loader runs them; the same
files also run with the emulated loader (``SEARCHGRAPH_TRUSTED_NO_RETURNN=1``), which must agree.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from searchgraph.errors import ConfigError
from searchgraph.loading import _trusted_worker as worker
from searchgraph.loading.report import LoadReport
from searchgraph.loading.trusted import NO_RETURNN_ENV, exec_trusted
from tests.conftest import need

CONFIGS = Path(__file__).parent / "configs" / "trusted"
HAVE_RETURNN = importlib.util.find_spec("returnn") is not None
SAME_HINT = "RETURNN fails the same way when it loads this file"
EMULATED = "emulated (RETURNN not installed)"


@pytest.fixture(params=["returnn", "emulated"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test with this fixture runs with RETURNN's own loader and with the emulated one."""
    if request.param == "returnn":
        need(HAVE_RETURNN, "RETURNN is not installed")
        monkeypatch.delenv(NO_RETURNN_ENV, raising=False)
    else:
        monkeypatch.setenv(NO_RETURNN_ENV, "1")
    return request.param


def load(name: str, **kwargs: Any) -> tuple[dict[str, Any], LoadReport]:
    return exec_trusted(CONFIGS / f"{name}.config", **kwargs)


def at(name: str, line: int) -> str:
    return f"{CONFIGS / f'{name}.config'}:{line}"


def whats(notes: list[Any]) -> str:
    return "\n".join(str(n) for n in notes)


# -- loading as RETURNN does --------------------------------------------------------------------------


def test_config_object_and_command_line(mode: str) -> None:
    settings, report = load("settings", overrides={"beam_size": "4", "dim": "128", "label": "a,b",
                                                   "threshold": "-0.5"})
    assert report.mode == "trusted" and report.source == str(CONFIGS / "settings.config")
    assert report.loader == EMULATED if mode == "emulated" else report.loader.startswith("returnn 1.")
    assert report.overrides == {"task": "search", "beam_size": "4", "dim": "128", "label": "a,b",
                                "threshold": "-0.5"}
    assert settings["task"] == settings["task_before"] == "search"
    # ++beam_size is there before the file runs (as a string), and wins after it (as the file's type)
    assert settings["beam_before"] is True and settings["beam_now"] == 12 and settings["beam_size"] == 4
    assert settings["dim"] == 128 and settings["network"]["enc"]["n_out"] == 128
    assert settings["label"] == "a,b" and settings["threshold"] == -0.5
    assert settings["learning_rates"] == [0.5, 1.0, 1.5]
    assert settings["own_lines"] == len((CONFIGS / "settings.config").read_text().splitlines())
    assert settings["file_name"] == "settings.config" and settings["module_name"] == "__returnn_config__"


def test_settings_are_plain_data(mode: str) -> None:
    settings, _ = load("settings")
    assert settings["beam_before"] is False and settings["beam_size"] == 12 and settings["dim"] == 64
    for left_out in ("os", "numpy", "make_layer", "Builder", "_private", "config", "__file__"):
        assert left_out not in settings
    assert settings["shapes"] == {"data": [None, 40], "3": "int key"}
    assert settings["network"]["output"]["from"] == ["enc"]
    loss_opts = settings["network"]["output"]["loss_opts"]
    assert loss_opts == {"label_smoothing_fn": {"__callable__": "make_layer"}}
    json.dumps(settings)


def test_get_network_takes_the_last_epoch_or_the_given_one(mode: str) -> None:
    settings, report = load("get_network")
    assert report.epoch == 40 and report.network_from == "get_network(epoch=40)"
    assert list(settings["network"]) == ["l0", "l1", "l2", "l3", "output"]
    assert "num_epochs" in whats(report.notes)
    settings, report = load("get_network", epoch=3)
    assert report.epoch == 3 and list(settings["network"]) == ["l0", "l1", "output"]
    _, report = load("get_network", overrides={"load_epoch": "7"})
    assert report.epoch == 7 and "load_epoch" in whats(report.notes)


def test_pretrain_gives_the_final_network(mode: str) -> None:
    settings, report = load("pretrain")
    assert report.network_from == "network (pretrain's final network)" and report.epoch is None
    assert list(settings["network"]) == ["l0", "l1", "l2", "output"]
    assert settings["network"]["output"]["from"] == "l2"
    # two construction steps and the final net, each twice: the final net is epoch 6's
    assert settings["network"]["output"]["dropout"] == pytest.approx(0.6)


def test_old_module_names_without_tensorflow() -> None:
    need(HAVE_RETURNN, "RETURNN is not installed")
    settings, report = load("old_modules")
    assert settings["wrapped_in"] == "returnn.pretrain" and settings["duration"] == "1:02:05"
    assert settings["tf_imported"] is False
    assert not report.stand_ins and not report.refused
    assert "TensorFlow was imported" not in whats(report.notes)


def test_old_module_names_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_RETURNN_ENV, "1")
    settings, report = load("old_modules")
    assert report.loader == EMULATED and settings["tf_imported"] is False
    assert "duration" not in settings  # Util.hms is a stand-in without RETURNN
    stood_in = whats(report.stand_ins)
    assert all(f"RETURNN module {name!r}: emulated" in stood_in for name in ("Pretrain", "TFUtil", "Util"))


def test_dims(mode: str) -> None:
    settings, report = load("dims")
    batch = {"__dim__": {"description": "global batch", "dimension": None, "kind": "batch",
                         "is_batch_dim": True}}
    time_dim = {"__dim__": {"description": "time", "dimension": None, "kind": "spatial"}}
    feature = {"__dim__": {"description": "feature", "dimension": 40, "kind": "feature"}}
    assert settings["extern_data"]["data"]["dim_tags"] == [batch, time_dim, feature]
    assert sorted(settings["network"]["output"]["out_shape"], key=json.dumps) == \
        sorted([batch, time_dim], key=json.dumps)
    if mode == "returnn":  # current RETURNN needs a dimension: loaded as older RETURNN did
        assert [n.where for n in report.notes if "without a dimension" in n.what] == [at("dims", 5)]


def test_plain_config_loads_fast() -> None:
    need(HAVE_RETURNN, "RETURNN is not installed")
    start = time.monotonic()
    load("settings")
    assert time.monotonic() - start < 2.0


def test_the_emulation_agrees_with_returnn(monkeypatch: pytest.MonkeyPatch) -> None:
    need(HAVE_RETURNN, "RETURNN is not installed")
    cases = [("settings", {"overrides": {"beam_size": "4", "label": "x,y"}}), ("get_network", {}),
             ("get_network", {"epoch": 5}), ("pretrain", {}), ("missing_pieces", {})]
    for name, kwargs in cases:
        monkeypatch.delenv(NO_RETURNN_ENV, raising=False)
        real, real_report = load(name, **kwargs)
        monkeypatch.setenv(NO_RETURNN_ENV, "1")
        emulated, emulated_report = load(name, **kwargs)
        assert emulated == real, name
        assert (emulated_report.epoch, emulated_report.network_from) == \
            (real_report.epoch, real_report.network_from)


# -- stand-ins ----------------------------------------------------------------------------------------


def test_missing_modules_and_files_get_stand_ins(mode: str) -> None:
    settings, report = load("missing_pieces")
    assert list(settings["network"]) == ["enc", "output"]
    assert settings["network"]["output"]["loss_fn"]["__object__"] == "stand-in"
    assert settings["num_vocab"] == 0 and settings["is_hmm_class"] is True
    assert settings["corpus"] == "/nonexistent/searchgraph-test/train.corpus.gz"
    notes = {n.where: n.what for n in report.stand_ins}
    assert "module 'hmm_layers_not_installed' is not installed" in notes[at("missing_pieces", 5)]
    assert "module 'rnnt_impl_not_installed' is not installed" in notes[at("missing_pieces", 6)]
    assert "vocab.txt' is not on this machine" in notes[at("missing_pieces", 13)]
    assert "numpy.loadtxt gives a stand-in" in notes[at("missing_pieces", 14)]
    present = [n.what for n in report.stand_ins if n.where == at("missing_pieces", 16)]
    assert len(present) == 2 and all("reported present" in w for w in present)
    assert not report.refused


def test_an_error_a_stand_in_may_cause_is_not_blamed_on_the_config(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("stand_in_fails")
    error = info.value
    assert error.where == at("stand_in_fails", 5)
    assert error.message == "the config raised AssertionError: vocabulary too small"
    assert "sizes_not_installed" in error.hint and SAME_HINT not in error.hint
    assert error.report.stand_ins  # type: ignore[attr-defined]


def test_a_stand_in_used_where_a_real_object_is_needed(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("stand_in_misused")
    assert info.value.where == at("stand_in_misused", 5)
    assert info.value.message == "the config raised AttributeError: __name__"
    assert info.value.hint.startswith("a stand-in for something missing on this machine cannot be used")
    assert "layers_not_installed" in info.value.hint


def test_errors_passing_through_the_sandbox_are_the_configs(mode: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load("unreadable", overrides={"data_dir": str(tmp_path)})
    assert info.value.where == at("unreadable", 4) and info.value.hint == SAME_HINT
    assert info.value.message.startswith("the config raised IsADirectoryError")


# -- no side effects ----------------------------------------------------------------------------------


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep_me.txt").write_text("keep")
    (victim / "source.txt").write_text("source")
    return victim


def test_writes_removals_and_processes_do_not_happen(mode: str, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    settings, report = load("side_effects", overrides={"victim_dir": str(victim)})
    assert sorted(p.name for p in victim.iterdir()) == ["keep_me.txt", "source.txt"]
    assert (victim / "keep_me.txt").read_text() == "keep"
    assert list(settings["network"]) == ["output"]
    # the config went on with what it got: a host name that matches nothing, refusals it handles
    assert settings["on_cluster"] is False and settings["host_parts"]["__object__"] == "stand-in"
    assert settings["low_level"] == "refused" and settings["network_access"] == "refused"
    refused = {n.where: n.what for n in report.refused}
    expected = {11: "open(", 13: "open(", 14: "os.remove(", 15: "shutil.copyfile(", 16: "os.makedirs(",
                17: "subprocess.call(", 18: "os.system(", 19: "subprocess.Popen(",
                21: "subprocess.check_output(['hostname'])", 25: "writing ", 30: "network access"}
    for line, start in expected.items():
        assert refused.get(at("side_effects", line), "").startswith(start), (line, whats(report.refused))
    assert "throw-away file" in refused[at("side_effects", 11)]


def test_a_refusal_the_config_needs_is_named(mode: str, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    with pytest.raises(ConfigError) as info:
        load("needs_write", overrides={"victim_dir": str(victim)})
    assert info.value.where == at("needs_write", 5)
    assert "sandbox refused" in info.value.hint and SAME_HINT not in info.value.hint
    assert not (victim / "needed.txt").exists()


# -- errors -------------------------------------------------------------------------------------------


def test_the_configs_own_error(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("raises")
    # the innermost line in the file, counted in the file (RETURNN strips the blank lines before #!)
    assert info.value.where == at("raises", 12)
    assert info.value.message == "the config raised KeyError: 'l3'" and info.value.hint == SAME_HINT


def test_refusals_inside_libraries_do_not_excuse_the_configs_error(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("library_refusal")
    assert info.value.where == at("library_refusal", 7) and info.value.hint == SAME_HINT
    refused = info.value.report.refused  # type: ignore[attr-defined]
    assert any("asked by" in n.what and "platform.py" in n.what for n in refused), whats(refused)


def test_syntax_error(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("syntax_error")
    assert info.value.where == at("syntax_error", 2) and info.value.hint == SAME_HINT
    assert info.value.message.startswith("the config raised SyntaxError: '{' was never closed")


def test_exit_crash_and_timeout(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        load("exits")
    assert info.value.message == "the config called sys.exit(2)" and info.value.where == at("exits", 7)
    with pytest.raises(ConfigError) as info:
        load("exits", overrides={"how": "kill"})
    assert "exited with status 3 without an answer" in info.value.message
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load("exits", overrides={"how": "sleep"}, timeout=2)
    assert "longer than 2 s" in info.value.message and time.monotonic() - start < 10


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        exec_trusted(tmp_path / "missing.config")
    with pytest.raises(ConfigError, match="bad override name"):
        load("settings", overrides={"two words": "1"})
    with pytest.raises(ConfigError, match="bad epoch"):
        load("get_network", epoch=0)
    with pytest.raises(ConfigError, match="cannot start"):
        load("settings", python=str(tmp_path / "no-python"))


def test_python_is_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_RETURNN_ENV, "1")
    _, report = load("get_network", python=sys.executable)
    assert report.loader == EMULATED and report.epoch == 40


# -- the worker's parts -------------------------------------------------------------------------------


def test_stand_in_behaviour() -> None:
    s = worker.StandIn("output of ['hostname']")
    assert (s.strip().decode("utf8") in ["cluster-cn-211"]) is False
    assert s != "x" and (s == "x") is False and not (s < 1) and not (s > 1)
    assert list(s) == [] and len(s) == 0 and int(s) == 0 and [1, 2][s] == 1
    assert "hostname" in str(s) and "hostname" in f"{s}" and "hostname" in repr(s)
    assert isinstance(s + 1, worker.StandIn) and isinstance("a" + s, worker.StandIn)
    with s as inner:
        assert inner is s

    class Sub(worker.StandIn("hmm.HMMFactorization", "import")):  # type: ignore[misc]
        pass

    assert isinstance(Sub, type) and isinstance(Sub(1, x=2).anything, worker.StandIn)


def test_to_json() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    def f() -> None:
        pass

    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert worker.to_json({"t": (1, 2.5, None), "s": {3, 1}, 4: f, "o": Thing(), "c": cyclic}) == {
        "t": [1, 2.5, None], "s": [1, 3], "4": {"__callable__": "test_to_json.<locals>.f"},
        "o": {"__object__": "Thing", "repr": "Thing()"}, "c": [1, {"__object__": "list", "repr": "<cycle>"}]}
    np = pytest.importorskip("numpy")
    assert worker.to_json({"a": np.arange(3), "x": np.float32(0.5)}) == {"a": [0, 1, 2], "x": 0.5}
    assert worker.to_json(worker.Dim(None, kind="spatial", description="time")) == \
        {"__dim__": {"description": "time", "dimension": None, "kind": "spatial"}}


def test_emulated_config_reads_settings_as_returnns_does() -> None:
    need(HAVE_RETURNN, "RETURNN is not installed")
    from returnn.config import Config

    answers = []
    for config in (Config(), worker.EmulatedConfig()):
        config.parse_cmd_args(["++a", "3", "++b", "x,y", "++t", "+-0.5", "++flag", "true", "++n", "5"])
        config.update({"n": 1, "typed": [1, 2], "s": "text", "none": None})
        config.parse_cmd_args(["++n", "7", "++s", "other"])
        answers.append([
            config.has("a"), config.has("zz"), config.value("b", None), config.list("b"), config.int("a", 0),
            config.float("t", 0.0), config.bool("flag", False), config.bool_or_other("b", None),
            config.int("n", 0), config.value("s", None), config.typed_value("typed"),
            config.int_list("typed"),
            config.value("typed", None), config.value("none", "default"), config.opt_typed_value("b"),
            config.is_typed("a"), config.is_typed("n"), config.int_pair("typed"), config.is_true("flag"),
        ])
    assert answers[0] == answers[1]
