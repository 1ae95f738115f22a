"""RETURNN's ``Config`` reading API, for both loaders: safe mode's model and trusted mode's emulation.

Only the standard library: the trusted worker loads this file by path in a subprocess that may not have
searchgraph installed. The semantics are RETURNN's (``returnn/config.py``): ``typed_dict`` holds the
config file's globals (typed values), ``dict`` the strings from the command line (``++key value``), and a
command-line value for a typed setting keeps that setting's type.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["OLD_MODULE_NAMES", "ConfigSettings", "to_bool"]

#: Old top-level RETURNN module names (``import TFUtil``, ``from Pretrain import ...``), which RETURNN's
#: ``__old_mod_loader__`` resolves to the new ones.
OLD_MODULE_NAMES = frozenset({
    "rnn", "better_exchook", "BundleFile", "CachedDataset", "CachedDataset2", "Config", "Dataset",
    "DebugHelpers", "Debug", "EngineBase", "EngineBatch", "Fsa", "GeneratingDataset", "HDFDataset",
    "HyperParamTuning", "LearningRateControl", "LmDataset", "Log", "MetaDataset", "NativeOp",
    "NormalizationData", "NumpyDumpDataset", "Pretrain", "RawWavDataset", "SprintCache", "SprintControl",
    "SprintDataset", "SprintErrorSignals", "SprintExternInterface", "SprintInterface", "StereoDataset",
    "TaskSystem", "TFCompat", "TFDataPipeline", "TFDistributed", "TFEngine", "TFHorovod", "TFKenLM",
    "TFNativeOp", "TFNetwork", "TFNetworkLayer", "TFNetworkRecLayer", "TFNetworkSegModLayer",
    "TFNetworkSigProcLayer", "TFSprint", "TFUpdater", "TFUtil", "Util",
})


def to_bool(value: Any) -> bool:
    """RETURNN's ``to_bool``: numbers, ``true/yes/on``, ``false/no/off``."""
    try:
        return bool(int(value))
    except (TypeError, ValueError):
        pass
    text = str(value).lower()
    if text in ("true", "yes", "on"):
        return True
    if text in ("false", "no", "off"):
        return False
    raise ValueError(f"cannot read {value!r} as a bool")


class ConfigSettings:
    """``typed_dict`` (the config's globals) and ``dict`` (command-line strings), read as RETURNN reads them.

    ``unset_reads`` lists the keys read while unset with a default of None: settings the config expects
    from the command line, named in the hint when the config then fails.
    """

    def __init__(self, typed_dict: dict[str, Any] | None = None) -> None:
        self.typed_dict: dict[str, Any] = {} if typed_dict is None else typed_dict
        self.dict: dict[str, list[str]] = {}
        self.unset_reads: list[str] = []

    def parse_typed(self, text: str) -> Any:
        """A command-line value for a typed, non-string setting (RETURNN evaluates it; here: a literal)."""
        return ast.literal_eval(text)

    def add_line(self, key: str, value: str) -> None:
        """A setting given as text: a typed setting keeps its type; others are strings, split at commas."""
        if key in self.typed_dict:
            if not isinstance(self.typed_dict[key], str):
                try:
                    value = self.parse_typed(value)
                except (SyntaxError, ValueError):
                    pass
            self.typed_dict[key] = value
            return
        self.dict[key] = value.split(",") if value.find(",") > 0 else [value]

    def _unset(self, key: str, default: Any) -> Any:
        if default is None and key not in self.unset_reads:
            self.unset_reads.append(key)
        return default

    def has(self, key: str) -> bool:
        return key in self.typed_dict or key in self.dict

    def is_typed(self, key: str) -> bool:
        return key in self.typed_dict

    def is_true(self, key: str, default: bool = False) -> bool:
        return bool(self.typed_dict[key]) if key in self.typed_dict else self.bool(key, default)

    def is_of_type(self, key: str, types_: Any) -> bool:
        return key in self.typed_dict and isinstance(self.typed_dict[key], types_)

    def get_of_type(self, key: str, types_: Any, default: Any = None) -> Any:
        return self.typed_dict[key] if self.is_of_type(key, types_) else default

    def set(self, key: str, value: Any) -> None:
        self.typed_dict[key] = value

    def update(self, items: dict[str, Any]) -> None:
        for key, value in items.items():
            self.set(key, value)

    def value(self, key: str, default: Any, index: int | None = None, list_join_str: str = ",") -> Any:
        if key in self.typed_dict:
            value = self.typed_dict[key]
            if index is not None:
                return str(value[index])
            if isinstance(value, (list, tuple)):
                return list_join_str.join(str(v) for v in value)
            return default if value is None else str(value)
        if key in self.dict:
            return self.dict[key][index] if index is not None else list_join_str.join(self.dict[key])
        return self._unset(key, default)

    def typed_value(self, key: str, default: Any = None, index: int | None = None) -> Any:
        if key not in self.typed_dict:
            self._unset(key, default)
        value = self.typed_dict.get(key, default)
        if index is not None:
            if isinstance(value, (list, tuple)):
                return value[index]
            assert index == 0
        return value

    def opt_typed_value(self, key: str, default: Any = None) -> Any:
        return self.typed_dict[key] if key in self.typed_dict else self.value(key, default)

    def int(self, key: str, default: Any, index: int = 0) -> Any:
        if key in self.typed_dict:
            value = self.typed_value(key, default, index)
            assert value is None or isinstance(value, int)
            return value
        return int(self.value(key, default, index)) if key in self.dict else self._unset(key, default)

    def bool(self, key: str, default: Any, index: int = 0) -> Any:
        if key in self.typed_dict:
            value = self.typed_value(key, default, index)
            value = bool(value) if isinstance(value, int) else value
            assert value is None or isinstance(value, bool)
            return value
        if key not in self.dict:
            return self._unset(key, default)
        text = str(self.value(key, None, index))
        return to_bool(text) if text else default

    def bool_or_other(self, key: str, default: Any = None, index: int = 0) -> Any:
        if key in self.typed_dict:
            return self.typed_value(key, default, index)
        if key not in self.dict:
            return self._unset(key, default)
        text = str(self.value(key, None, index))
        if not text:
            return default
        try:
            return to_bool(text)
        except ValueError:
            return text

    def float(self, key: str, default: Any, index: int = 0) -> Any:
        if key in self.typed_dict:
            value = self.typed_value(key, default, index)
        else:
            value = self.value(key, default, index)
        if isinstance(value, str):
            value = float(value)
        assert value is None or isinstance(value, (int, float))
        return value

    def list(self, key: str, default: Any = None) -> Any:
        default = [] if default is None else default
        if key in self.typed_dict:
            value = self.typed_value(key, default)
            if value is None:
                return default
            return list(value) if isinstance(value, (list, tuple)) else [value]
        return self.dict.get(key, default)

    def int_list(self, key: str, default: Any = None) -> Any:
        values = self.list(key, default)
        if key in self.typed_dict:
            assert all(isinstance(v, int) for v in values)
            return values
        return [int(v) for v in values]

    def float_list(self, key: str, default: Any = None) -> Any:
        values = self.list(key, default)
        if key in self.typed_dict:
            assert all(isinstance(v, (int, float)) for v in values)
            return values
        return [float(v) for v in values]

    def int_pair(self, key: str, default: Any = None) -> Any:
        default = (0, 0) if default is None else default
        if not self.has(key):
            return default
        if key in self.typed_dict:
            value = self.typed_value(key, default)
            value = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
            assert len(value) == 2 and all(isinstance(v, int) for v in value)
            return value
        text = self.value(key, "")
        first, _, second = text.partition(":")
        return int(first), int(second or first)
