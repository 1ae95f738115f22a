"""What a RETURNN config sees around it, modelled for safe mode without running anything.

RETURNN executes a config with its :class:`returnn.config.Config` object as ``config`` (whose
``typed_dict`` *is* the module's globals), after and before applying the command line (``++task
search``). Configs also reach for ``os``, ``sys``, ``math``, ``numpy``, ``subprocess`` and RETURNN's
dim-tag constructors. This module gives safe mode a model of each:

- :class:`ConfigModel` mirrors ``Config.has/value/int/bool/float/typed_value/list/...`` over the
  evaluator's globals and the command-line overrides, with RETURNN's precedence;
- pure functions (``os.path.join``, ``math.*``, ``numpy.linspace``) are the real ones;
- side effects (sub-processes, file writes, copies, removals) are refused, listed in the report, and
  give a :class:`~searchgraph.loading.values.StandIn`;
- a path the config asks about (``os.path.exists``) that is not on this machine is reported present,
  with a stand-in note, as the corpus extraction did (configs assert cluster paths exist);
- ``Dim(...)``, ``DimensionTag(...)``, ``SpatialDim``, ``FeatureDim``, ``batch_dim``: :class:`DimValue`
  placeholders that normalise to ``{"__dim__": {...}}``;
- any other import is an :class:`~searchgraph.loading.values.Opaque` value.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .report import LoadNote, LoadReport
from .returnn_config import OLD_MODULE_NAMES as OLD_MODULES
from .returnn_config import ConfigSettings
from .values import Opaque, StandIn

__all__ = ["ConfigModel", "DimValue", "Environment", "ModuleModel", "SafeFunction", "dim_arithmetic", "parse_overrides"]

#: numpy functions a config may call in safe mode (pure, on numbers and small arrays).
NUMPY_FUNCTIONS = frozenset({
    "linspace", "logspace", "geomspace", "arange", "array", "asarray", "zeros", "ones", "full", "eye",
    "log", "log2", "log10", "exp", "sqrt", "power", "ceil", "floor", "round", "abs", "sum", "prod", "mean",
    "max", "min", "maximum", "minimum", "clip", "concatenate", "cumsum", "cumprod", "repeat", "tile",
    "int32", "int64", "float32", "float64", "sin", "cos", "tanh", "argmax", "argmin", "sign", "isclose",
})
NUMPY_CONSTANTS = ("pi", "e", "inf", "nan", "newaxis")
#: Methods and attributes of numpy arrays and scalars safe mode uses.
NUMPY_ARRAY_METHODS = frozenset({"tolist", "item", "astype", "reshape", "sum", "mean", "max", "min",
                                 "round", "copy", "flatten", "cumsum", "prod"})
NUMPY_ARRAY_ATTRIBUTES = frozenset({"shape", "dtype", "size", "ndim", "T"})


class SafeFunction:
    """A Python callable of ours that safe mode may call with plain values (a model's function)."""

    __slots__ = ("func", "name", "opaque_ok")

    def __init__(self, func: Callable[..., Any], name: str, *, opaque_ok: bool = False) -> None:
        self.func = func
        self.name = name
        self.opaque_ok = opaque_ok  # whether it takes Opaque arguments itself (stores them)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<function {self.name}>"


class ModuleModel:
    """A module as safe mode sees it: named attributes; anything else is an Opaque."""

    def __init__(self, name: str, attrs: dict[str, Any], *, fallback: Callable[[str], Any] | None = None,
                 ) -> None:
        self.name = name
        self.attrs = attrs
        self.fallback = fallback

    def get(self, attr: str) -> Any:
        if attr in self.attrs:
            return self.attrs[attr]
        if self.fallback is not None:
            return self.fallback(attr)
        return Opaque(f"{self.name}.{attr} (not modelled in safe mode)")

    def __repr__(self) -> str:
        return f"<module {self.name} (safe model)>"


class DimValue:
    """A RETURNN dim tag made by the config (``Dim``, ``DimensionTag``, ``SpatialDim``, ``batch_dim``, ...)."""

    __slots__ = ("description", "dimension", "kind")

    def __init__(self, kind: str = "spatial", description: Any = None, dimension: Any = None) -> None:
        self.kind = kind
        self.description = description
        self.dimension = dimension

    def to_json(self) -> dict[str, Any]:
        dimension = self.dimension if isinstance(self.dimension, int) or self.dimension is None else None
        return {"__dim__": {"description": self.description if isinstance(self.description, str) else None,
                            "dimension": dimension, "kind": self.kind}}

    def __repr__(self) -> str:
        return f"Dim({self.description!r}, {self.dimension!r}, kind={self.kind!r})"

    #: Attributes a config may read.
    ATTRIBUTES = frozenset({"description", "dimension", "kind", "name", "size"})

    def attribute(self, name: str) -> Any:
        if name in ("description", "name"):
            return self.description
        if name in ("dimension", "size"):
            return self.dimension
        return self.kind


def dim_arithmetic(op: Any, a: Any, b: Any) -> Any:
    """``dim * 2``, ``2 * dim``, ``dim + other``, ``dim // 2``: a derived dim, as RETURNN's Dim arithmetic."""
    import ast
    import operator

    symbols = {ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
               ast.FloorDiv: ("//", operator.floordiv), ast.Div: ("/", operator.truediv)}
    if type(op) not in symbols:
        return Opaque(f"dim arithmetic with {type(op).__name__} (not modelled in safe mode)")
    symbol, compute = symbols[type(op)]
    sizes = [v.dimension if isinstance(v, DimValue) else v for v in (a, b)]
    names = [v.description if isinstance(v, DimValue) else repr(v) for v in (a, b)]
    dim = a if isinstance(a, DimValue) else b
    dimension = None
    if all(isinstance(x, int) and not isinstance(x, bool) for x in sizes):
        try:
            dimension = compute(*sizes)
        except ArithmeticError:
            dimension = None
        dimension = int(dimension) if isinstance(dimension, float) and dimension.is_integer() else dimension
    return DimValue(dim.kind, f"{names[0]}{symbol}{names[1]}", dimension)


def _dim_constructor(default_kind: str, name: str) -> SafeFunction:
    def make(*args: Any, **kwargs: Any) -> DimValue:
        kind = kwargs.get("kind", default_kind)
        kind = kind if isinstance(kind, str) else getattr(kind, "name", default_kind)
        if name in ("Dim", "DimensionTag") and not isinstance(kind, str):
            kind = "spatial"
        description = kwargs.get("description")
        dimension = kwargs.get("dimension", kwargs.get("dim"))
        positional = list(args)
        if name == "Dim" and positional and not isinstance(positional[0], str):  # Dim(dimension, name)
            dimension = positional.pop(0)
            if positional:
                description = positional.pop(0)
        elif name == "DimensionTag" and positional:  # DimensionTag(kind, description, dimension)
            first = positional.pop(0)
            if isinstance(first, str) and first in ("spatial", "feature", "batch", "time"):
                kind = first
                if positional:
                    description = positional.pop(0)
            else:
                description = first
            if positional:
                dimension = positional.pop(0)
        elif positional:  # SpatialDim(description, dimension), FeatureDim(description, dimension)
            description = positional.pop(0)
            if positional:
                dimension = positional.pop(0)
        description = kwargs.get("name", description)
        return DimValue(kind, description, dimension)

    return SafeFunction(make, name, opaque_ok=True)


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """Command-line overrides as RETURNN takes them: ``key=value`` or ``++key value`` pairs."""
    result: dict[str, str] = {}
    items = list(items)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("++"):
            if i + 1 >= len(items):
                raise ValueError(f"{item!r} needs a value (++key value)")
            value = items[i + 1]
            result[item[2:]] = value[1:] if value.startswith("+-") else value
            i += 2
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        result[key.strip()] = value
        i += 1
    return result


class ConfigModel(ConfigSettings):
    """RETURNN's ``config`` object for safe mode: ``typed_dict`` is the config's globals, ``dict`` holds the
    command line's strings, read with RETURNN's precedence (:class:`ConfigSettings`)."""

    def __init__(self, typed_dict: dict[str, Any], overrides: dict[str, str]) -> None:
        super().__init__(typed_dict)
        for key, value in overrides.items():
            self.add_line(key, value)

    def __repr__(self) -> str:
        return "<RETURNN config (safe model)>"

    #: The methods a config may call, and the attributes it may read.
    METHODS = frozenset({"has", "is_typed", "set", "update", "value", "typed_value", "opt_typed_value", "int",
                         "bool", "bool_or_other", "is_true", "is_of_type", "get_of_type", "float", "list",
                         "int_list", "float_list", "int_pair", "add_line"})
    ATTRIBUTES = frozenset({"typed_dict", "dict"})


class Environment:
    """The modules and globals of one safe load, and the report its side effects are written to.

    ``where`` is a callable giving the current ``file:line`` (the evaluator's position).
    """

    def __init__(self, filename: str, report: LoadReport, where: Callable[[], str],
                 overrides: dict[str, str]) -> None:
        self.filename = filename
        self.report = report
        self.where = where
        self.overrides = overrides
        self._modules: dict[str, Any] = {}
        #: the interpreter's call of any callable (set by it): ``call(func, args, kwargs)``
        self.call: Callable[[Any, list[Any], dict[str, Any]], Any] | None = None

    # -- report --------------------------------------------------------------------------------

    def stand_in(self, what: str) -> StandIn:
        where = self.where()
        note = LoadNote(what, where)
        if note not in self.report.stand_ins:
            self.report.stand_ins.append(note)
        return StandIn(what, where)

    def refuse(self, what: str) -> StandIn:
        where = self.where()
        self.report.refused.append(LoadNote(what, where))
        return StandIn(f"not done in safe mode: {what}", where)

    def note(self, what: str) -> None:
        note = LoadNote(what, self.where())
        if note not in self.report.notes:
            self.report.notes.append(note)

    # -- modules -------------------------------------------------------------------------------

    def module(self, name: str) -> Any:
        """The value ``import name`` binds to ``name`` (the top package for dotted names is the caller's)."""
        if name not in self._modules:
            self._modules[name] = self._make_module(name)
        return self._modules[name]

    def import_from(self, module: str, name: str) -> Any:
        """The value ``from module import name`` binds."""
        if name in _DIM_NAMES and (module.startswith("returnn") or module in OLD_MODULES):
            return _DIM_NAMES[name]()
        model = self.module(module)
        if isinstance(model, StandIn):
            return model
        if isinstance(model, ModuleModel):
            value = model.get(name)
            if isinstance(value, Opaque):
                return Opaque(f"from {module} import {name}", self.where())
            return value
        return Opaque(f"from {module} import {name}", self.where())

    def _make_module(self, name: str) -> Any:
        maker = _MODULES.get(name)
        if maker is not None:
            return maker(self)
        top = name.lstrip(".").split(".")[0]
        if top and not name.startswith(".") and top not in OLD_MODULES and not self._findable(top):
            return self.stand_in(f"module {top} (not on this machine)")
        return Opaque(f"import {name}", self.where())

    def _findable(self, top: str) -> bool:
        """Whether ``import top`` would find a module, on the config's own ``sys.path`` (nothing is imported)."""
        import importlib.machinery

        if top in sys.builtin_module_names or top in sys.modules:
            return True
        path = self.module("sys").attrs["path"]
        base = os.path.dirname(self.filename) or "."
        entries = [os.path.join(base, e) if isinstance(e, str) and not os.path.isabs(e) else e for e in path]
        try:
            return importlib.machinery.PathFinder.find_spec(top, [e for e in entries if isinstance(e, str)]) \
                is not None
        except (ImportError, ValueError, OSError):
            return True

    # -- paths ---------------------------------------------------------------------------------

    def path_query(self, func: Callable[[str], bool], name: str) -> SafeFunction:
        def query(path: Any) -> Any:
            if isinstance(path, Opaque):
                return path
            text = os.fspath(path)
            if os.path.lexists(text):
                return func(text)
            self.stand_in(f"{text} is not on this machine; os.path.{name} reports it present")
            return True

        return SafeFunction(query, f"os.path.{name}")

    def refusing(self, what: str) -> SafeFunction:
        def refuse(*args: Any, **kwargs: Any) -> StandIn:
            shown = ", ".join(_short(a) for a in args)
            return self.refuse(f"{what}({shown})")

        return SafeFunction(refuse, what, opaque_ok=True)

    def open_file(self, file: Any, mode: Any = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, Opaque):
            return file
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return self.refuse(f"open({_short(file)}, {mode!r}) for writing")
        return self.stand_in(f"contents of {os.fspath(file)} (files are not read in safe mode)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _os_module(env: Environment) -> ModuleModel:
    path = env.module("os.path")
    attrs: dict[str, Any] = {
        "path": path, "environ": dict(os.environ), "sep": os.sep, "pathsep": os.pathsep, "linesep": os.linesep,
        "name": os.name, "curdir": os.curdir, "pardir": os.pardir,
        "getcwd": SafeFunction(os.getcwd, "os.getcwd"),
        "getenv": SafeFunction(lambda key, default=None: os.environ.get(key, default), "os.getenv"),
        "cpu_count": SafeFunction(os.cpu_count, "os.cpu_count"),
        "listdir": SafeFunction(lambda *a: env.stand_in("a directory listing (not read in safe mode)"),
                                "os.listdir", opaque_ok=True),
    }
    for name in ("system", "popen", "makedirs", "mkdir", "remove", "unlink", "rmdir", "removedirs", "rename",
                 "replace", "symlink", "link", "chmod", "chown", "chdir", "kill", "execv", "execvp", "execl",
                 "spawnl", "spawnv", "fork", "truncate", "utime", "putenv", "unsetenv"):
        attrs[name] = env.refusing(f"os.{name}")
    return ModuleModel("os", attrs)


def _os_path_module(env: Environment) -> ModuleModel:
    pure = ("join", "dirname", "basename", "split", "splitext", "normpath", "abspath", "isabs", "relpath",
            "expanduser", "expandvars", "commonprefix", "realpath")
    attrs: dict[str, Any] = {name: SafeFunction(getattr(os.path, name), f"os.path.{name}") for name in pure}
    attrs["sep"] = os.sep
    for name in ("exists", "isfile", "isdir", "lexists", "islink"):
        attrs[name] = env.path_query(getattr(os.path, name), name)
    attrs["getsize"] = SafeFunction(lambda p: env.stand_in(f"size of {p}"), "os.path.getsize", opaque_ok=True)
    attrs["getmtime"] = SafeFunction(lambda p: env.stand_in(f"mtime of {p}"), "os.path.getmtime", opaque_ok=True)
    return ModuleModel("os.path", attrs)


def _sys_module(env: Environment) -> ModuleModel:
    argv = ["rnn.py", env.filename]
    for key, value in env.overrides.items():
        argv += [f"++{key}", value]
    return ModuleModel("sys", {
        "argv": argv, "path": list(sys.path), "version_info": sys.version_info, "version": sys.version,
        "platform": sys.platform, "maxsize": sys.maxsize, "byteorder": sys.byteorder,
        "modules": {}, "exit": env.refusing("sys.exit"), "setrecursionlimit": env.refusing("sys.setrecursionlimit"),
    })


def _math_module(env: Environment) -> ModuleModel:
    attrs = {name: getattr(math, name) for name in dir(math) if not name.startswith("_")}
    attrs = {name: SafeFunction(v, f"math.{name}") if callable(v) else v for name, v in attrs.items()}
    return ModuleModel("math", attrs)


def _numpy_module(env: Environment) -> ModuleModel:
    def lookup(attr: str) -> Any:
        import numpy

        if attr in NUMPY_FUNCTIONS:
            return SafeFunction(getattr(numpy, attr), f"numpy.{attr}")
        if attr in NUMPY_CONSTANTS:
            return getattr(numpy, attr)
        if attr == "random":
            return Opaque("numpy.random (random numbers are not drawn in safe mode)", env.where())
        return Opaque(f"numpy.{attr} (not modelled in safe mode)", env.where())

    return ModuleModel("numpy", {}, fallback=lookup)


def _subprocess_module(env: Environment) -> ModuleModel:
    import subprocess

    attrs: dict[str, Any] = {name: env.refusing(f"subprocess.{name}") for name in (
        "check_output", "call", "check_call", "run", "Popen", "getoutput", "getstatusoutput")}
    attrs.update(CalledProcessError=subprocess.CalledProcessError, PIPE=-1, STDOUT=-2, DEVNULL=-3)
    return ModuleModel("subprocess", attrs)


def _shutil_module(env: Environment) -> ModuleModel:
    names = ("copy", "copy2", "copyfile", "copytree", "move", "rmtree", "copymode", "copystat", "chown",
             "make_archive", "unpack_archive")
    attrs: dict[str, Any] = {name: env.refusing(f"shutil.{name}") for name in names}
    attrs["which"] = SafeFunction(lambda *a, **k: None, "shutil.which")
    return ModuleModel("shutil", attrs)


def plain_copy(value: Any, deep: bool, memo: dict[int, Any] | None = None) -> Any:
    """``copy.copy`` / ``copy.deepcopy`` of plain containers; any other object is shared, not copied."""
    if not deep:
        return type(value)(value) if isinstance(value, (dict, list, set)) else value
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        result: Any = {}
        memo[id(value)] = result
        result.update((k, plain_copy(v, deep, memo)) for k, v in value.items())
        return result
    if isinstance(value, list):
        result = []
        memo[id(value)] = result
        result.extend(plain_copy(v, deep, memo) for v in value)
        return result
    if isinstance(value, tuple):
        return tuple(plain_copy(v, deep, memo) for v in value)
    if isinstance(value, set):
        return set(value)
    return value


def _copy_module(env: Environment) -> ModuleModel:
    return ModuleModel("copy", {
        "copy": SafeFunction(lambda v: plain_copy(v, False), "copy.copy", opaque_ok=True),
        "deepcopy": SafeFunction(lambda v, memo=None: plain_copy(v, True), "copy.deepcopy", opaque_ok=True),
    })


def _collections_module(env: Environment) -> ModuleModel:
    import collections

    def default_dict(factory: Any = None, *args: Any) -> Any:
        if factory is None or env.call is None:
            return collections.defaultdict(None, *args)
        call = env.call
        return collections.defaultdict(lambda: call(factory, [], {}), *args)

    return ModuleModel("collections", {
        "OrderedDict": SafeFunction(lambda *a, **k: dict(*a, **k), "collections.OrderedDict", opaque_ok=True),
        "defaultdict": SafeFunction(default_dict, "collections.defaultdict", opaque_ok=True),
        "namedtuple": SafeFunction(lambda *a, **k: Opaque("a namedtuple class (not modelled in safe mode)"),
                                   "collections.namedtuple", opaque_ok=True),
    })


def _functools_module(env: Environment) -> ModuleModel:
    def partial(func: Any, *bound: Any, **bound_kw: Any) -> Any:
        call = env.call
        if call is None:
            return Opaque("functools.partial")
        return SafeFunction(lambda *a, **k: call(func, [*bound, *a], {**bound_kw, **k}),
                            f"partial({getattr(func, 'name', func)!s})", opaque_ok=True)

    return ModuleModel("functools", {"partial": SafeFunction(partial, "functools.partial", opaque_ok=True)})


def _returnn_dims(env: Environment) -> ModuleModel:
    return ModuleModel("returnn.tf.util.data", {name: make() for name, make in _DIM_NAMES.items()})


_DIM_NAMES: dict[str, Callable[[], Any]] = {
    "Dim": lambda: _dim_constructor("spatial", "Dim"),
    "DimensionTag": lambda: _dim_constructor("spatial", "DimensionTag"),
    "SpatialDim": lambda: _dim_constructor("spatial", "SpatialDim"),
    "FeatureDim": lambda: _dim_constructor("feature", "FeatureDim"),
    "batch_dim": lambda: DimValue("batch", "batch", None),
    "single_step_dim": lambda: DimValue("spatial", "single-step", 1),
}
_MODULES: dict[str, Callable[[Environment], Any]] = {
    "os": _os_module, "os.path": _os_path_module, "sys": _sys_module, "math": _math_module,
    "numpy": _numpy_module, "subprocess": _subprocess_module, "shutil": _shutil_module, "copy": _copy_module,
    "collections": _collections_module, "functools": _functools_module,
    "returnn.tf.util.data": _returnn_dims, "returnn.tensor": _returnn_dims,
}
