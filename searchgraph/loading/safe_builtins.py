"""Safe mode's builtins that need the interpreter: ``locals()``, ``eval``, ``super()``, ``getattr``,
``isinstance``, ``map``, ... (each takes the interpreter, the call's node and the current frame)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from typing import Any

from . import values as ops
from .environment import ModuleModel, SafeFunction
from .safe_objects import BoundMethod, Frame, Function, Instance, PlainMethod, Super, UserClass
from .values import Opaque, OpaqueOperand

#: The interpreter of :mod:`.safe` (not imported here: it imports this module).
Interpreter = Any

__all__ = ["FRAME_BUILTINS", "PLAIN_BUILTINS", "SPECIAL_BUILTINS", "UNWRAPPED"]


def _b_locals(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    return frame.locals


def _b_globals(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    return frame.globals_


def _b_vars(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    if not node.args:
        return frame.locals
    obj = interp.expr(node.args[0], frame)
    if isinstance(obj, Instance):
        return obj.attrs
    if isinstance(obj, UserClass):
        return obj.namespace
    return interp.opaque(f"vars() of {obj!r}")


def _b_eval(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _kwargs = interp.arguments(node, frame)
    if len(args) > 1:
        return interp.opaque("eval() with its own namespaces (not evaluated in safe mode)")
    return interp.eval_string(args[0] if args else None, frame, "eval")


def _b_exec(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _kwargs = interp.arguments(node, frame)
    if len(args) > 1:
        target = args[1]
        if isinstance(target, dict):
            return interp.eval_string(args[0], Frame(target, [], target), "exec")
        return interp.opaque("exec() with its own namespaces (not evaluated in safe mode)")
    return interp.eval_string(args[0] if args else None, frame, "exec")


def _b_print(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    interp.arguments(node, frame)  # evaluated for their errors, printed nowhere
    return None


def _b_open(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, kwargs = interp.arguments(node, frame)
    return interp.env.open_file(*args, **kwargs)


def _b_super(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    if len(args) == 2 and isinstance(args[0], UserClass):
        return Super(args[0], args[1])
    func = frame.func
    if func is None or func.owner is None or not func.node.args.args:
        raise RuntimeError("super(): no arguments")
    first = frame.locals.get(func.node.args.args[0].arg)
    return Super(func.owner, first)


def _b_getattr(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    if len(args) not in (2, 3):
        raise TypeError("getattr expected 2 or 3 arguments")
    if isinstance(args[1], Opaque):
        return args[1]
    try:
        return interp.attribute(args[0], args[1], node)
    except AttributeError:
        if len(args) == 3:
            return args[2]
        raise


def _b_hasattr(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    try:
        value = interp.attribute(args[0], args[1], node)
    except AttributeError:
        return False
    return value if isinstance(value, Opaque) and isinstance(args[0], Opaque) else True


def _b_setattr(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    interp.set_attribute(args[0], args[1], args[2], node)
    return None


def _b_isinstance(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    obj, kinds = args
    if isinstance(obj, Opaque):
        return obj
    result: Any = False
    for kind in kinds if isinstance(kinds, tuple) else (kinds,):
        kind = UNWRAPPED.get(id(kind), kind)
        if isinstance(kind, Opaque):
            result = kind
        elif isinstance(kind, UserClass):
            if isinstance(obj, Instance) and obj.cls.is_subclass_of(kind):
                return True
        elif isinstance(kind, type):
            if not isinstance(obj, (Instance, UserClass, Function)) and isinstance(obj, kind):
                return True
        else:
            raise TypeError("isinstance() arg 2 must be a type or tuple of types")
    return result


def _b_issubclass(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    cls, kinds = args
    for kind in kinds if isinstance(kinds, tuple) else (kinds,):
        if isinstance(cls, UserClass) and cls.is_subclass_of(kind):
            return True
        if isinstance(cls, type) and isinstance(kind, type) and issubclass(cls, kind):
            return True
    return False


def _b_type(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    if len(args) != 1:
        return interp.opaque("type() with three arguments (not evaluated in safe mode)")
    obj = args[0]
    if isinstance(obj, Opaque):
        return obj
    if isinstance(obj, Instance):
        return obj.cls
    if isinstance(obj, (UserClass, Function, ModuleModel, SafeFunction)):
        return interp.opaque(f"type of {obj!r}")
    return type(obj)


def _b_callable(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    obj = args[0]
    if isinstance(obj, Opaque):
        return obj
    if isinstance(obj, Instance):
        return obj.cls.lookup("__call__")[0]
    return isinstance(obj, (Function, BoundMethod, UserClass, SafeFunction, PlainMethod)) or callable(obj)


def _b_map(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    func, iterables = args[0], [list(interp.iterate(a)) for a in args[1:]]
    return iter([interp.call(func, list(items), {}, node) for items in zip(*iterables)])


def _b_filter(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    func, items = args[0], list(interp.iterate(args[1]))
    if func is None:
        return iter([x for x in items if interp.truth(x)])
    kept = []
    for item in items:
        test = interp.call(func, [item], {}, node)
        if isinstance(test, Opaque):
            raise OpaqueOperand(test)
        if interp.truth(test):
            kept.append(item)
    return iter(kept)


def _b_iter(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    return interp.iterate(args[0])


def _b_next(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    if isinstance(args[0], Opaque):
        return args[0]
    if not isinstance(args[0], Iterator):
        raise TypeError(f"'{type(args[0]).__name__}' object is not an iterator")
    return next(args[0], *args[1:])


def _b_import(interp: Interpreter, node: ast.Call, frame: Frame) -> Any:
    args, _ = interp.arguments(node, frame)
    return interp.env.module(args[0]) if args and isinstance(args[0], str) else interp.opaque("__import__()")


FRAME_BUILTINS: dict[str, Callable[[Interpreter, ast.Call, Frame], Any]] = {
    "locals": _b_locals, "globals": _b_globals, "vars": _b_vars, "eval": _b_eval, "exec": _b_exec,
    "print": _b_print, "open": _b_open, "super": _b_super, "getattr": _b_getattr, "hasattr": _b_hasattr,
    "setattr": _b_setattr, "isinstance": _b_isinstance, "issubclass": _b_issubclass, "type": _b_type,
    "callable": _b_callable, "map": _b_map, "filter": _b_filter, "iter": _b_iter, "next": _b_next,
    "__import__": _b_import,
}
#: Builtins that are names for values (decorators, base classes, ``object``).
SPECIAL_BUILTINS: dict[str, Any] = {"staticmethod": staticmethod, "classmethod": classmethod, "property": property,
                                     "object": object, "NotImplemented": NotImplemented, "Ellipsis": Ellipsis,
                                     "__debug__": True}
#: Further pure builtins, called with plain values.
PLAIN_BUILTINS: dict[str, Callable[..., Any]] = {
    "ord": ord, "chr": chr, "hex": hex, "oct": oct, "bin": bin, "pow": pow, "hash": hash, "format": format,
    "ascii": ascii, "complex": complex, "bytes": bytes, "slice": slice,
}
UNWRAPPED = {id(ops.SAFE_BUILTINS["set"]): set, id(ops.SAFE_BUILTINS["frozenset"]): frozenset,
              id(ops.SAFE_BUILTINS["str"]): str}
