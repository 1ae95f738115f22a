"""Reading networks: JSON files, RETURNN config files (safe AST mode or trusted exec), dicts.

Safe mode (the default) never runs the config's code: :mod:`searchgraph.safeeval` evaluates the
module's top-level statements from the AST, a small and explicit subset of Python. Trusted mode
executes the file the way RETURNN does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .netspec import NetSpec

__all__ = ["load", "netspec_from_settings"]

#: Top-level settings that are part of a NetSpec.
_KNOWN = ("network", "extern_data", "num_outputs", "num_inputs", "target", "search_output_layer",
          "behavior_version")


def load(source: str | os.PathLike[str] | dict[str, Any] | NetSpec, *, trust: bool = False,
         epoch: int | None = None) -> NetSpec:
    """Load a network from a path (JSON or RETURNN config) or a dict.

    Parameters
    ----------
    source : a path to a ``.json`` file (a bare net dict, or ``{"network": ..., "extern_data": ...}``),
        a RETURNN config file (any other name), a dict of either shape, or a NetSpec (returned as is).
    trust : execute a config file as Python (as RETURNN does) instead of the safe AST evaluation.
    epoch : with ``trust``, the epoch passed to a config's ``get_network(epoch=...)``.

    Raises
    ------
    ConfigError : the file cannot be read, parsed or evaluated, or holds no network.
    """
    if isinstance(source, NetSpec):
        return source
    if isinstance(source, dict):
        return netspec_from_settings(source, "<dict>")
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"no such file: {path}", hint="check the path")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a config", hint="name a .json or config file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if _looks_like_json(path, text):
        return _load_json(text, str(path))
    from . import safe as safeeval

    if trust:
        settings = safeeval.exec_trusted(path, epoch=epoch)
    else:
        settings = safeeval.evaluate_config(text, str(path))
        if "get_network" in settings:  # RETURNN uses it even when `network` is set too
            raise ConfigError(
                "the network comes from get_network(), which safe mode cannot call",
                where=str(path), hint="re-run with --trust (and --epoch N) to execute the config")
    return netspec_from_settings(settings, str(path))


def _looks_like_json(path: Path, text: str) -> bool:
    return path.suffix.lower() == ".json" or (path.suffix == "" and text.lstrip().startswith("{"))


def _load_json(text: str, where: str) -> NetSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", where=f"{where}:{exc.lineno}:{exc.colno}",
                          hint="check the file is valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a JSON object, got {type(data).__name__}", where=where,
                          hint="a network is a dict of layer name -> layer dict")
    return netspec_from_settings(data, where)


def netspec_from_settings(settings: dict[str, Any], source: str) -> NetSpec:
    """Build a NetSpec from config settings, or from a bare net dict."""
    if "network" in settings:
        network = settings["network"]
        rest = settings
    else:
        network, rest = settings, {}
    if not isinstance(network, dict):
        raise ConfigError(f"'network' must be a dict of layers, got {type(network).__name__}",
                          where=source, hint="set network = {'output': {'class': ...}, ...}")
    if not network:
        raise ConfigError("the network is empty", where=source, hint="define at least one layer")
    bv = rest.get("behavior_version") or 0
    return NetSpec(
        network=network,
        extern_data=rest.get("extern_data"),
        num_outputs=rest.get("num_outputs"),
        num_inputs=rest.get("num_inputs"),
        target=rest.get("target"),
        search_output_layer=rest.get("search_output_layer"),
        behavior_version=int(bv) if isinstance(bv, (int, float)) else 0,
        source=source,
        settings={k: v for k, v in rest.items() if k not in _KNOWN and _is_plain(v)},
    )


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))
