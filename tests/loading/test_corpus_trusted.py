"""Trusted loading of the 60 raw configs behind the corpus: each must give the network RETURNN's own
loading gave (``../shared/corpus/<case>``): the same layers (nested ``subnetwork``/``unit`` dicts), the
same class per layer and the same references (``from`` and layer names inside options).

Collected only where the corpus is (``tests/conftest.py``); the raw configs are ``../shared/corpus-raw``
(``SEARCHGRAPH_CORPUS_RAW`` overrides). The 60 subprocesses run two at a time.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from searchgraph.errors import ConfigError
from searchgraph.loading.report import LoadReport
from searchgraph.loading.trusted import NO_RETURNN_ENV, exec_trusted
from tests.conftest import need
from tests.oracle.oracle import corpus_dir, corpus_raw_dir


def _raw_dir() -> Path:
    """``SEARCHGRAPH_CORPUS_RAW``, else ``corpus-raw`` beside the corpus (``../shared/corpus-raw``)."""
    if os.environ.get("SEARCHGRAPH_CORPUS_RAW"):
        return Path(os.environ["SEARCHGRAPH_CORPUS_RAW"])
    return corpus_raw_dir() or Path(__file__).resolve().parents[2].parent / "shared" / "corpus-raw"


RAW = _raw_dir()
#: The folder the manifest's ``case`` paths (``corpus/curated/x.json``) are relative to.
SHARED = (corpus_dir() or RAW.parent / "corpus").parent

#: Configs written for sisyphus read required settings from the command line (``float(config.value(
#: "ext_norm_mean_value", None))``): RETURNN cannot load them without; given here as a user would.
COMMAND_LINE = {
    "rexp-2019-synth-tts-clean100.config": {"ext_norm_mean_value": "0.0", "ext_norm_std_dev_value": "1.0"},
    "rexp-2020-lmint-lstm-lm-local.config": {"ext_model": "/nonexistent/model"},
}
#: Configs whose network comes from a module that is not published beside them: no loader can give the
#: network without it. The test checks that the error says so instead.
UNPUBLISHED = {"rexp-2023-chunked-aed-ls-global.config": "networks"}
WORKERS = 2
EMULATED = "emulated (RETURNN not installed)"


# -- comparing networks -------------------------------------------------------------------------------


def normalize(value: Any) -> Any:
    """Tuples as lists; dims and callables reduced to their presence."""
    if isinstance(value, dict):
        if "__dim__" in value:
            return "<dim>"
        if "__callable__" in value:
            return "<callable>"
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def layers(net: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every layer by path: ``output``, ``output/unit/s``, ``sub/subnetwork/x``."""
    found: dict[str, dict[str, Any]] = {}
    if not isinstance(net, dict):
        return found
    for name, layer in net.items():
        if not isinstance(layer, dict):
            continue
        path = f"{prefix}{name}"
        found[path] = layer
        for key in ("subnetwork", "unit"):
            if isinstance(layer.get(key), dict):
                found.update(layers(layer[key], f"{path}/{key}/"))
    return found


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def references(layer: dict[str, Any], names: set[str]) -> list[tuple[str, str]]:
    """``(option, name)`` for ``from`` and every string inside an option that names a layer."""
    refs = [("from", s) for s in strings(normalize(layer.get("from", [])))]
    for key, value in layer.items():
        if key in ("from", "class", "subnetwork", "unit"):
            continue
        for text in strings(normalize(value)):
            head, colon, rest = text.partition(":")
            bare = rest if colon and head in ("prev", "base", "data") else text
            if text.startswith("data") or bare in names:
                refs.append((key, text))
    return sorted(refs)


@dataclass
class Comparison:
    """Differences between two networks, per layer path."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    classes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    refs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        """Same layers, classes and references (other option values are counted apart)."""
        return not (self.missing or self.extra or self.classes or self.refs)

    def __str__(self) -> str:
        parts = [f"missing layers {self.missing[:8]}" if self.missing else "",
                 f"extra layers {self.extra[:8]}" if self.extra else ""]
        parts += [f"{p}: class {a!r} != {b!r}" for p, (a, b) in list(self.classes.items())[:8]]
        parts += [f"{p}: refs {a} != {b}" for p, (a, b) in list(self.refs.items())[:8]]
        return "; ".join(p for p in parts if p)


def compare(got: Any, want: Any) -> Comparison:
    mine, theirs = layers(normalize(got)), layers(normalize(want))
    names = {p.rsplit("/", 1)[-1] for p in list(mine) + list(theirs)}
    result = Comparison(missing=sorted(set(theirs) - set(mine)), extra=sorted(set(mine) - set(theirs)))
    for path in sorted(set(mine) & set(theirs)):
        a, b = mine[path], theirs[path]
        if a.get("class") != b.get("class"):
            result.classes[path] = (a.get("class"), b.get("class"))
        if references(a, names) != references(b, names):
            result.refs[path] = (references(a, names), references(b, names))
        keys = sorted(k for k in set(a) | set(b) if k not in ("subnetwork", "unit") and a.get(k) != b.get(k))
        if keys:
            result.options[path] = keys
    return result


def test_compare_finds_each_kind_of_difference() -> None:
    want = {"a": {"class": "linear", "from": "data"},
            "out": {"class": "rec", "from": "a", "unit": {"s": {"class": "copy", "from": "prev:s"}}}}
    assert compare(want, want).equal
    assert compare({**want, "a": {"class": "linear", "from": ["data"]}}, want).equal
    got = {"a": {"class": "copy", "from": "data"},
           "out": {"class": "rec", "from": "b", "unit": {"t": {"class": "copy", "from": "prev:s"}}}}
    diff = compare(got, want)
    assert diff.classes == {"a": ("copy", "linear")} and "out" in diff.refs
    assert diff.missing == ["out/unit/s"] and diff.extra == ["out/unit/t"]
    renamed = compare({"x": {"class": "eval", "from": "data", "eval": {"__callable__": "f"}}},
                      {"x": {"class": "eval", "from": "data", "eval": {"__callable__": "g"}}})
    assert renamed.equal and not renamed.options
    resized = compare({"x": {"class": "linear", "from": "data", "n_out": 3}},
                      {"x": {"class": "linear", "from": "data", "n_out": 4}})
    assert resized.equal and resized.options == {"x": ["n_out"]}


# -- the corpus ---------------------------------------------------------------------------------------


def _manifest() -> list[dict[str, str]]:
    need((RAW / "manifest.tsv").is_file(), f"no raw configs at {RAW}")
    with open(RAW / "manifest.tsv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


@dataclass
class Loaded:
    row: dict[str, str]
    settings: dict[str, Any] | None
    report: LoadReport | None
    error: ConfigError | None
    seconds: float


def _load_all() -> dict[str, Loaded]:
    def one(row: dict[str, str]) -> Loaded:
        start = time.monotonic()
        try:
            settings, report = exec_trusted(RAW / row["raw"], overrides=COMMAND_LINE.get(row["raw"]))
            return Loaded(row, settings, report, None, time.monotonic() - start)
        except ConfigError as exc:
            return Loaded(row, None, getattr(exc, "report", None), exc, time.monotonic() - start)

    with ThreadPoolExecutor(WORKERS) as pool:
        return {item.row["raw"]: item for item in pool.map(one, _manifest())}


@pytest.fixture(scope="module")
def loaded() -> dict[str, Loaded]:
    """All 60 with RETURNN's own loader."""
    need(importlib.util.find_spec("returnn") is not None, "RETURNN is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(NO_RETURNN_ENV, raising=False)
        return _load_all()


@pytest.fixture(scope="module")
def emulated() -> dict[str, Loaded]:
    """All 60 with the emulated loader (no TensorFlow import, so quick)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(NO_RETURNN_ENV, "1")
        return _load_all()


def test_manifest_has_the_60_files() -> None:
    rows = _manifest()
    assert len(rows) == 60 and all((RAW / r["raw"]).is_file() for r in rows)


def test_all_load_and_match_the_corpus(loaded: dict[str, Loaded]) -> None:
    _check_all(loaded)


def test_the_emulated_loader_gives_the_same_networks(emulated: dict[str, Loaded]) -> None:
    assert all(item.report.loader == EMULATED for item in emulated.values() if item.report)
    _check_all(emulated)


def _check_all(loaded: dict[str, Loaded]) -> None:
    failed, differ = [], []
    for raw, item in loaded.items():
        if raw in UNPUBLISHED:
            continue
        if item.error is not None:
            failed.append(f"{raw}: {item.error}")
            continue
        want = _case(item.row)
        diff = compare(item.settings["network"], want["network"])
        if not diff.equal:
            differ.append(f"{raw}: {diff}")
    assert not failed, "\n".join(failed)
    assert not differ, "\n".join(differ)


def _case(row: dict[str, str]) -> dict[str, Any]:
    import json

    return json.loads((SHARED / row["case"]).read_text(encoding="utf-8"))


def test_epochs_are_the_manifests(loaded: dict[str, Loaded]) -> None:
    """get_network is called with the epoch the corpus used: the config's num_epochs."""
    for raw, item in loaded.items():
        if item.report is None or raw in UNPUBLISHED:
            continue
        expected = int(item.row["epoch"]) if item.row["epoch"] else None
        assert item.report.epoch == expected, raw
        if expected is not None:
            assert item.report.network_from == f"get_network(epoch={expected})"


def test_pretrain_configs_give_the_final_network(loaded: dict[str, Loaded]) -> None:
    for raw, item in loaded.items():
        if item.report is None or item.error is not None:
            continue
        says_pretrain = any("pretrain=" in note for note in _case(item.row).get("notes", []))
        assert ("pretrain's final network" in item.report.network_from) == says_pretrain, raw


def test_unpublished_modules_are_named(loaded: dict[str, Loaded]) -> None:
    for raw, module in UNPUBLISHED.items():
        item = loaded[raw]
        assert item.error is not None, raw
        assert f"module {module!r} is not installed" in (item.error.hint or ""), item.error
        assert "RETURNN fails the same way" not in (item.error.hint or "")


def test_without_their_command_line_returnn_fails_the_same_way() -> None:
    need(importlib.util.find_spec("returnn") is not None, "RETURNN is not installed")
    _manifest()
    for raw in COMMAND_LINE:
        with pytest.raises(ConfigError) as info:
            exec_trusted(RAW / raw)
        assert info.value.hint == "RETURNN fails the same way when it loads this file"
        assert info.value.where and info.value.where.startswith(str(RAW / raw) + ":")


def _imports_tensorflow_at_load(path: Path) -> bool:
    """Whether the file's top level (outside functions) imports TensorFlow: ``import tensorflow``,
    ``returnn.tf...``, or a name from an old TF module of RETURNN's (``from TFUtil import x``); a bare
    ``import TFUtil`` is RETURNN's lazy module and imports nothing yet."""
    tf_modules = ("tensorflow", "returnn.tf", "TFUtil", "TFNetworkLayer", "TFNetworkRecLayer", "TFCompat",
                  "TFEngine", "TFNetwork", "TFNativeOp", "TFUpdater")

    def is_tf(name: str, lazy_ok: bool) -> bool:
        hit = any(name == m or name.startswith(m + ".") for m in tf_modules)
        return hit and not (lazy_ok and name.startswith("TF") and "." not in name)

    def walk(body: list[ast.stmt]) -> bool:
        for node in body:
            if isinstance(node, ast.Import) and any(is_tf(a.name, lazy_ok=True) for a in node.names):
                return True
            if isinstance(node, ast.ImportFrom) and node.module and is_tf(node.module, lazy_ok=False):
                return True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            for name in ("body", "orelse", "finalbody", "handlers"):
                if walk([n for n in getattr(node, name, []) if isinstance(n, ast.stmt)]):
                    return True
        return False

    with warnings.catch_warnings():  # old files have invalid escapes in strings
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    return walk(tree.body)


def test_tensorflow_only_where_the_config_asks_for_it(loaded: dict[str, Loaded]) -> None:
    """TensorFlow is imported exactly for the files whose top level imports it (RETURNN's lazy loader
    keeps ``import TFUtil`` and ``from Pretrain import WrapEpochValue`` from importing it)."""
    for raw, item in loaded.items():
        if item.report is None:
            continue
        imported = any("TensorFlow was imported" in n.what for n in item.report.notes)
        assert imported == _imports_tensorflow_at_load(RAW / raw), raw


def test_nothing_was_written_or_run(loaded: dict[str, Loaded]) -> None:
    """The configs' side effects (copies, checks with hostname/cf) are refused and reported."""
    refused = {raw: item.report.refused for raw, item in loaded.items() if item.report}
    copies = refused["rexp-2020-lmint-lstm-lm-local.config"]
    assert not any("copyfile" in n.what for n in copies) or all("not done" in n.what for n in copies)
    hostnames = [n for notes in refused.values() for n in notes if "hostname" in n.what]
    assert hostnames and all("not run" in n.what for n in hostnames)
