"""Custom layer classes declared as data: a TOML or JSON file, or ``[tool.searchgraph]`` in pyproject.toml.

The same as :func:`~searchgraph.graph.layers.register_layer_class`, without Python::

    [tool.searchgraph.layer-classes.my_att]     # in pyproject.toml; in a --layer-classes FILE.toml
    layer_options = ["keys", "values"]          # also [layer-classes.my_att] or just [my_att]
    beam = "keep"                               # how the class treats beams (below)
    default_from = ["data"]                     # optional; [] for no default 'from'

``layer_options``: the options that name layers, a list (each holds one name) or a table
``{option = "str" | "list" | "dict_values" | "nested"}``. ``beam``: ``keep`` (the default: the output
is on the combination of its inputs' beams, as RETURNN's generic layers), or a role of the built-in
table (``choice``, ``decide``, ``decide_keep_beam``, ``split_batch_beam``, ...). A JSON file has the
same structure. A ``.py`` file given with ``--layer-classes`` is not read here: it is run by the
RETURNN worker of ``--returnn`` (its ``LayerBase`` subclasses are registered with RETURNN); so are the
files pyproject.toml lists as ``[tool.searchgraph] layer-class-files = ["my_layers.py"]`` (relative to
pyproject.toml's folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SearchgraphError
from .layers import BEAM_ROLES, register_layer_class

__all__ = ["BEAM_ALIASES", "declare_layer_classes", "find_pyproject", "load_layer_class_file",
           "pyproject_layer_class_files", "pyproject_layer_classes"]

#: Words for ``beam`` besides the roles of :data:`~searchgraph.graph.layers.BEAM_ROLES`.
BEAM_ALIASES = {"keep": "generic", "combine": "generic"}
_SHAPES = ("str", "list", "dict_values", "nested", "layer_dict")


def _toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise SearchgraphError("reading TOML needs Python 3.11 or the tomli package", where=str(path),
                                   hint="pip install tomli, or write the declarations as JSON") from None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SearchgraphError(f"cannot read the layer classes: {exc}", where=str(path)) from None


def _table(data: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data.get("tool"), Mapping):
        return data["tool"].get("searchgraph", {}).get("layer-classes", {})
    if isinstance(data.get("layer-classes"), Mapping):
        return data["layer-classes"]
    return data


def declare_layer_classes(table: Mapping[str, Any], *, where: str = "<declarations>") -> list[str]:
    """Register every class of ``table`` (name -> declaration); the names, in order."""
    names = []
    for name, decl in table.items():
        here = f"{where}: layer class {name!r}"
        if not isinstance(decl, Mapping):
            raise SearchgraphError("a declaration is a table of settings", where=here)
        unknown = set(decl) - {"layer_options", "beam", "default_from"}
        if unknown:
            raise SearchgraphError(f"unknown settings {sorted(unknown)}", where=here,
                                   hint="the settings are layer_options, beam and default_from")
        opts = decl.get("layer_options", [])
        refs = {o: "str" for o in opts} if isinstance(opts, list) else dict(opts)
        bad = {o: s for o, s in refs.items() if s not in _SHAPES}
        if bad or not all(isinstance(o, str) for o in refs):
            raise SearchgraphError(f"layer_options: unknown shapes {bad}", where=here,
                                   hint=f"a list of option names, or option = one of {list(_SHAPES)}")
        beam = decl.get("beam", "keep")
        role = BEAM_ALIASES.get(beam, beam)
        if role not in BEAM_ROLES:
            raise SearchgraphError(f"beam = {beam!r} is no beam role", where=here,
                                   hint=f"one of {sorted(set(BEAM_ALIASES) | set(BEAM_ROLES))}")
        default_from = decl.get("default_from", ["data"])
        register_layer_class(name, refs, beam_role=role,
                             default_from=tuple(default_from) if default_from is not None else None)
        names.append(name)
    return names


def load_layer_class_file(path: str | os.PathLike[str]) -> list[str]:
    """Register the classes declared in a ``.toml`` or ``.json`` file; ``[]`` for a ``.py`` file
    (that one is for RETURNN: ``--returnn`` runs it)."""
    p = Path(path)
    if not p.is_file():
        raise SearchgraphError("no such file", where=str(p))
    if p.suffix == ".py":
        return []
    if p.suffix == ".toml":
        data = _toml(p)
    elif p.suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SearchgraphError(f"cannot read the layer classes: {exc}", where=str(p)) from None
    else:
        raise SearchgraphError("layer classes are declared in a .toml, .json or .py file", where=str(p))
    if not isinstance(data, Mapping):
        raise SearchgraphError("the file holds no table of layer classes", where=str(p))
    return declare_layer_classes(_table(data), where=str(p))


def find_pyproject(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (a file's folder or a folder)."""
    here = Path(start).resolve()
    here = here if here.is_dir() else here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def pyproject_layer_classes(start: str | os.PathLike[str]) -> tuple[Path | None, list[str]]:
    """Register the ``[tool.searchgraph.layer-classes]`` of the nearest pyproject.toml above ``start``."""
    path = find_pyproject(start)
    if path is None:
        return None, []
    table = _toml(path).get("tool", {}).get("searchgraph", {}).get("layer-classes", {})
    return path, declare_layer_classes(table, where=str(path)) if table else []


def pyproject_layer_class_files(start: str | os.PathLike[str]) -> list[str]:
    """The Python files of RETURNN layer classes the nearest pyproject.toml above ``start`` lists
    (``[tool.searchgraph] layer-class-files``), as absolute paths."""
    path = find_pyproject(start)
    if path is None:
        return []
    files = _toml(path).get("tool", {}).get("searchgraph", {}).get("layer-class-files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise SearchgraphError("layer-class-files is a list of paths", where=str(path))
    return [str((path.parent / f).resolve()) for f in files]
