"""The objects of safe mode's interpreter: the config's functions, classes and instances, call frames,
and the signals for ``return``/``break``/``continue`` (:mod:`~searchgraph.loading.safe`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from .environment import SafeFunction
from .values import Opaque

#: The interpreter of :mod:`.safe` (not imported here: it imports this module).
Interpreter = Any

__all__ = [
    "MISSING", "MUTATING_METHODS", "NOOP", "BoundMethod", "BreakSignal", "ConfigRaised", "ContinueSignal", "Decorated", "Frame",
    "Function", "Instance", "Missing", "PlainMethod", "ReturnSignal", "Super", "UserClass", "UserException",
    "bound_names", "is_numpy", "is_plain_path", "source_text", "walk_own",
]

#: Methods that change their object in place.
MUTATING_METHODS = frozenset({"update", "append", "extend", "insert", "pop", "popitem", "setdefault", "clear",
                               "remove", "add", "discard", "sort", "reverse"})


class ConfigRaised(Exception):
    """The config itself raised ``error`` at ``lineno`` (RETURNN fails the same way when it loads it)."""

    def __init__(self, error: BaseException, lineno: int | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.lineno = lineno


class ReturnSignal(BaseException):
    def __init__(self, value: Any) -> None:
        self.value = value


class BreakSignal(BaseException):
    pass


class ContinueSignal(BaseException):
    pass


class UserException(Exception):
    """An instance of a config-defined exception class, raised by the config."""

    def __init__(self, instance: Instance) -> None:
        super().__init__(instance.cls.name)
        self.instance = instance


class Function:
    """A ``def`` or ``lambda`` of the config, called by interpreting its body."""

    def __init__(self, interp: Interpreter, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
                 scopes: list[dict[str, Any]], defaults: list[Any], kw_defaults: list[Any]) -> None:
        self.interp = interp
        self.node = node
        self.name = getattr(node, "name", "<lambda>")
        self.scopes = scopes  # enclosing function scopes, innermost last (late binding, as in Python)
        self.defaults = defaults
        self.kw_defaults = kw_defaults
        self.owner: UserClass | None = None
        self.qualname = self.name
        self.is_generator = not isinstance(node, ast.Lambda) and any(
            isinstance(n, (ast.Yield, ast.YieldFrom)) for n in walk_own(node.body))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # lets whitelisted builtins (sorted, map) call it
        return self.interp.call_function(self, list(args), kwargs)

    def __repr__(self) -> str:
        return f"<function {self.qualname}>"


class BoundMethod:
    __slots__ = ("func", "obj")

    def __init__(self, func: Function, obj: Any) -> None:
        self.func = func
        self.obj = obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func.interp.call_function(self.func, [self.obj, *args], kwargs)

    def __repr__(self) -> str:
        return f"<bound method {self.func.qualname}>"


class Decorated:
    """``staticmethod`` / ``classmethod`` / ``property`` around a Function, in a class body."""

    __slots__ = ("func", "kind")

    def __init__(self, kind: str, func: Any) -> None:
        self.kind = kind
        self.func = func


class UserClass:
    """A ``class`` of the config: its namespace and bases (other user classes, builtins or Opaque)."""

    def __init__(self, name: str, bases: list[Any], namespace: dict[str, Any]) -> None:
        self.name = name
        self.bases = bases
        self.namespace = namespace
        self.mro = self._linearize()

    def _linearize(self) -> list[Any]:
        order: list[Any] = [self]
        for base in self.bases:
            for klass in base.mro if isinstance(base, UserClass) else [base]:
                if not any(klass is seen for seen in order):
                    order.append(klass)
        return order

    def lookup(self, name: str, start: int = 0) -> tuple[bool, Any]:
        """(found, raw value) along the MRO; an Opaque base makes every later name Opaque."""
        for klass in self.mro[start:]:
            if isinstance(klass, UserClass):
                if name in klass.namespace:
                    return True, klass.namespace[name]
            elif isinstance(klass, Opaque):
                return True, Opaque(f"{name} of {klass.what}", klass.where)
        return False, None

    def is_subclass_of(self, other: Any) -> bool:
        return any(klass is other or (isinstance(klass, type) and isinstance(other, type)
                                      and issubclass(klass, other)) for klass in self.mro)

    def __repr__(self) -> str:
        return f"<class {self.name}>"


class Instance:
    """An instance of a config-defined class."""

    def __init__(self, cls: UserClass) -> None:
        self.cls = cls
        self.attrs: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<{self.cls.name} object>"


class Super:
    __slots__ = ("cls", "obj")

    def __init__(self, cls: UserClass, obj: Any) -> None:
        self.cls = cls
        self.obj = obj


class PlainMethod:
    """``obj.name`` for a whitelisted method of a plain value, called later."""

    __slots__ = ("name", "obj")

    def __init__(self, obj: Any, name: str) -> None:
        self.obj = obj
        self.name = name


class Frame:
    """One function call (or the module, or a class body): its names and how they resolve."""

    __slots__ = ("declared_global", "declared_nonlocal", "enclosing", "func", "globals_", "is_class", "locals")

    def __init__(self, local: dict[str, Any], enclosing: list[dict[str, Any]], globals_: dict[str, Any],
                 func: Function | None = None, is_class: bool = False) -> None:
        self.locals = local
        self.enclosing = enclosing
        self.globals_ = globals_
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.func = func
        self.is_class = is_class


def walk_own(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of ``body`` not inside a nested def, class or lambda."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield child


def is_plain_path(node: ast.expr) -> bool:
    """``a``, ``a["k"]``, ``a.b["k"][0]``: evaluating it has no effect."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Constant, ast.Name)):
            return False
        node = node.value
    return isinstance(node, ast.Name)


def bound_names(body: list[ast.stmt]) -> tuple[set[str], list[ast.expr]]:
    """(names a block binds, expressions for the objects it changes in place)."""
    names: set[str] = set()
    changed: list[ast.expr] = []
    for node in walk_own(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.append(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in MUTATING_METHODS:
            changed.append(node.func.value)
    return names, changed


class Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()
NOOP = SafeFunction(lambda *a, **k: None, "object.__init__", opaque_ok=True)


def is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy"



def source_text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."
