"""Reading networks: JSON files, RETURNN config files (safe evaluation, or trusted execution), dicts.

A config is loaded the way ``rnn.py CONFIG ++task search`` loads it: RETURNN's ``config`` object is
there while the file runs, command-line overrides (``task=search`` and the user's ``--set key=value``)
apply before and after it, and the network is ``get_network(epoch)`` when the config defines one (the
epoch given, else the config's last, ``num_epochs``), else ``network`` (with a ``pretrain`` config: its
final network). Safe mode (the default, :mod:`~searchgraph.loading.safe`) interprets the file without
running any of it; trusted mode (:mod:`~searchgraph.loading.trusted`) runs it with RETURNN's own loader
in a sandboxed subprocess. Either way the result carries a :class:`~searchgraph.loading.report.LoadReport`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .netspec import NetSpec
from .report import LoadNote, LoadReport

__all__ = ["evaluate_config", "load", "netspec_from_settings"]

#: Top-level settings that are part of a NetSpec.
_KNOWN = ("network", "extern_data", "num_outputs", "num_inputs", "target", "search_output_layer",
          "behavior_version")
_SYNTAX_HINT = "fix the syntax: RETURNN cannot load this file either"
_FAILED_HINT = "the config itself fails here: RETURNN fails the same way when it loads it"


def load(source: str | os.PathLike[str] | dict[str, Any] | NetSpec, *, trust: bool = False,
         epoch: int | None = None, overrides: dict[str, str] | None = None) -> NetSpec:
    """Load a network from a path (JSON or RETURNN config) or a dict.

    Parameters
    ----------
    source : a path to a ``.json`` file (a bare net dict, or ``{"network": ..., "extern_data": ...}``),
        a RETURNN config file (any other name), a dict of either shape, or a NetSpec (returned as is).
    trust : execute a config file the way RETURNN does (sandboxed subprocess) instead of evaluating it
        safely from its syntax tree.
    epoch : the epoch passed to a config's ``get_network(epoch=...)`` (default: its ``load_epoch``, else
        ``num_epochs``, else 5).
    overrides : command-line settings, as ``rnn.py CONFIG ++key value`` gives them (strings);
        ``task`` is ``"search"`` unless overridden.

    Raises
    ------
    ConfigError : the file cannot be read, parsed or evaluated, or holds no network.
    """
    if isinstance(source, NetSpec):
        return source
    if isinstance(source, dict):
        spec = netspec_from_settings(source, "<dict>")
        spec.report = LoadReport(source="<dict>", mode="dict")
        return spec
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"no such file: {path}", hint="check the path")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a config", hint="name a .json or config file")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    kind = config_format(path, text)
    if kind == "json":
        spec = _load_json(text, str(path))
        spec.report = LoadReport(source=str(path), mode="json")
        return spec
    if kind == "lines":
        spec = netspec_from_settings(_line_settings(text, str(path)), str(path))
        spec.report = LoadReport(source=str(path), mode="lines")
        return spec
    all_overrides = {"task": "search", **(overrides or {})}
    if trust:
        from .trusted import exec_trusted

        settings, report = exec_trusted(path, epoch=epoch, overrides=all_overrides)
    else:
        settings, report = evaluate_config(text, str(path), epoch=epoch, overrides=all_overrides)
    spec = netspec_from_settings(settings, str(path))
    spec.report = report
    return spec


def evaluate_config(text: str, filename: str, *, epoch: int | None = None,
                    overrides: dict[str, str] | None = None) -> tuple[dict[str, Any], LoadReport]:
    """Safe mode: the config's settings (plain data) and what loading it did, nothing of it executed.

    Raises ConfigError (with ``file:line``) for syntax errors, the config's own errors, resource limits,
    and opaque values the network's structure depends on.
    """
    from . import values
    from .environment import Environment
    from .normalize import TRUST_HINT, normalize_settings
    from .safe import ConfigRaised, Function, Interpreter

    overrides = {"task": "search", **(overrides or {})}
    report = LoadReport(source=filename, mode="safe", overrides=dict(overrides))
    try:
        with warnings.catch_warnings():  # the config's own style warnings (invalid escapes) are not ours
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename)
    except SyntaxError as exc:
        raise ConfigError(f"syntax error: {exc.msg}", where=f"{filename}:{exc.lineno}",
                          hint=_SYNTAX_HINT) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ConfigError(f"cannot parse the config: {exc}", where=filename, hint=_SYNTAX_HINT) from None
    _check_loop_jumps(tree.body, filename, in_loop=False)
    interp = Interpreter(filename, lambda i: Environment(filename, report, i.where, overrides), overrides)
    try:
        interp.run_module(tree)
        for key, value in overrides.items():  # RETURNN applies the command line again after the file
            interp.config.add_line(key, value)
        settings = interp.globals
        get_network = settings.get("get_network")
        if get_network is not None:
            epoch = _search_epoch(epoch, settings)
            report.epoch = epoch
            report.network_from = f"get_network(epoch={epoch})"
            interp.lineno = 0
            if isinstance(get_network, values.Opaque):
                raise ConfigError(f"get_network is not known in safe mode: {get_network.what}",
                                  where=get_network.where or filename, hint=TRUST_HINT)
            if not isinstance(get_network, Function):
                raise ConfigError("get_network is not a function", where=filename,
                                  hint="define get_network(epoch, **kwargs) returning the net dict")
            settings = {**settings, "network": interp.call_as_config(get_network, {"epoch": epoch})}
        elif isinstance(settings.get("pretrain"), dict) or settings.get("pretrain") in ("default",):
            report.network_from = "network (the final network of the pretrain config)"
    except ConfigRaised as exc:
        error = exc.error
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        where = f"{filename}:{exc.lineno}" if exc.lineno else filename
        error = ConfigError(message, where=where, hint=_failed_hint(interp.config.unset_reads))
        error.unset_settings = list(interp.config.unset_reads)  # type: ignore[attr-defined]
        raise error from None
    except values.SafeEvalError as exc:
        where = f"{filename}:{exc.lineno}" if exc.lineno else filename
        hint = TRUST_HINT if isinstance(exc, values.Refused) else _FAILED_HINT
        raise ConfigError(exc.message, where=where, hint=hint) from None
    except RecursionError:
        raise ConfigError("nested too deeply for safe mode", where=interp.where(), hint=TRUST_HINT) from None
    public = {name: value for name, value in settings.items()
              if not name.startswith("_") and name != "config" and not _is_code(value)}
    values.check_tree_size(*public.values())
    for name in sorted(settings):
        value = settings[name]
        if isinstance(value, values.Opaque) and not isinstance(value, values.StandIn) \
                and value.what.startswith(("import ", "from ")):
            note = LoadNote(f"not imported in safe mode: {value.what}", value.where)
            if note not in report.notes:
                report.notes.append(note)
    return normalize_settings(public, interp.uncertain, filename), report


def _failed_hint(unset: list[str]) -> str:
    """The hint for the config's own error; names the settings it expected from the command line."""
    if not unset:
        return _FAILED_HINT
    keys = ", ".join(unset[:6]) + (", ..." if len(unset) > 6 else "")
    first = unset[0]
    return (f"{_FAILED_HINT}, unless given the settings it reads from the command line (unset here: {keys});"
            f" pass them as RETURNN's ++{first} VALUE would, with --set {first}=VALUE")


def _search_epoch(epoch: int | None, settings: dict[str, Any]) -> int:
    """The epoch RETURNN's search of the final model uses: the one given, else the config's ``load_epoch``,
    else its ``num_epochs`` (RETURNN's default: 5)."""
    if epoch is not None:
        return epoch
    for key in ("load_epoch", "num_epochs"):
        value = settings.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 5


def _is_code(value: Any) -> bool:
    """Modules, functions and classes of the config are not settings (``network`` is kept whatever it is)."""
    from .environment import ConfigModel, ModuleModel, SafeFunction
    from .safe_objects import BoundMethod, Function, UserClass
    from .values import Opaque, is_safe_callable

    if isinstance(value, Opaque):  # an imported module is not a setting; a name imported from one may be
        return value.what.startswith("import ")
    return isinstance(value, (Function, BoundMethod, UserClass, ModuleModel, SafeFunction, ConfigModel, type)) \
        or is_safe_callable(value)


def _check_loop_jumps(body: list[Any], filename: str, *, in_loop: bool) -> None:
    """Reject ``break``/``continue`` outside a loop, as Python's compiler does (ast.parse does not)."""
    for node in body:
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            word = "break" if isinstance(node, ast.Break) else "continue"
            raise ConfigError(f"syntax error: '{word}' outside loop", where=f"{filename}:{node.lineno}",
                              hint=_SYNTAX_HINT)
        inner = in_loop
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            _check_loop_jumps(node.body, filename, in_loop=True)
            _check_loop_jumps(node.orelse, filename, in_loop=in_loop)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = False
        for field, value in ast.iter_fields(node):
            if field in ("body", "orelse", "finalbody", "handlers", "cases"):
                _check_loop_jumps(value, filename, in_loop=inner)


def config_format(path: Path, text: str) -> str:
    """``"python"``, ``"json"`` or ``"lines"``, as RETURNN's ``Config.load_file`` tells them apart: Python
    when the file starts with ``#!`` or is a ``.py``, JSON when it starts with ``{``, else ``key value``
    lines; except that a file that is valid Python is read as Python (RETURNN would need ``#!rnn.py``)."""
    content = text.strip()
    if path.suffix.lower() == ".json":
        return "json"
    if content.startswith("#!") or path.name.endswith(".py"):
        return "python"
    if content.startswith("{"):
        return "json"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError):
        # a broken Python config (top-level assignments) is reported as Python, with its syntax error
        return "python" if re.search(r"^[A-Za-z_]\w*\s*=", text, re.MULTILINE) else "lines"
    return "python"


def _line_settings(text: str, where: str) -> dict[str, Any]:
    """RETURNN's old line-based format: ``key value`` per line, ``#`` comments; a ``network`` value is JSON."""
    settings: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ConfigError(f"unable to parse config line: {line!r}", where=f"{where}:{number}",
                              hint="RETURNN reads a file that is not Python (no '#!' first line) or JSON as "
                                   "'key value' lines")
        key, value = parts
        settings[key] = value.split(",") if value.find(",") > 0 else value
    if isinstance(settings.get("network"), str) and settings["network"].startswith("{"):
        try:
            settings["network"] = json.loads(settings["network"])
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the network is not valid JSON: {exc.msg}", where=where) from None
    return settings


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
        num_outputs=_num_outputs(rest.get("num_outputs"), rest.get("target")),
        num_inputs=rest.get("num_inputs"),
        target=rest.get("target"),
        search_output_layer=rest.get("search_output_layer"),
        behavior_version=int(bv) if isinstance(bv, (int, float)) else 0,
        source=source,
        settings={k: v for k, v in rest.items() if k not in _KNOWN and _is_plain(v)},
    )


def _num_outputs(value: Any, target: Any) -> Any:
    """``num_outputs`` as a dict: RETURNN reads a plain number as the target's sparse dim
    (``{target: [n, 1]}``, ``_num_inputs_outputs_from_config``)."""
    if value is None or isinstance(value, dict):
        return value
    key = target if isinstance(target, str) else "classes"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return {key: [value, 1]}
    if isinstance(value, (list, tuple)):
        return {key: list(value)}
    raise ConfigError(f"num_outputs must be a dict or a number, got {type(value).__name__}",
                      hint="num_outputs = {'classes': [dim, 1], 'data': [dim, 2]}")


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))
