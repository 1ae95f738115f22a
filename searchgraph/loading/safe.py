"""Safe mode: a RETURNN config evaluated from its syntax tree, nothing of it executed.

:class:`Interpreter` walks the module's statements and interprets Python over plain values: literals,
operators, displays, comprehensions, ``if``/``for``/``while``/``try``/``with``, the config's own
functions, lambdas and classes (called from their syntax tree, with depth and step limits), ``eval`` of
strings, ``locals()``/``globals()``, whitelisted builtins and methods, and the models of
:mod:`~searchgraph.loading.environment` (``config``, ``os``, ``sys``, ``math``, ``numpy``, RETURNN's dim
tags). The only callables ever run are those whitelisted ones and the models: no config code, no import.

What safe mode cannot know becomes an :class:`~searchgraph.loading.values.Opaque`: an import, the output
of a refused side effect, an unsupported construct. Opaque values flow through operations; a branch or
loop whose condition is opaque is not taken, and what it would have bound becomes opaque too (the
objects it would have changed are remembered). Only where the network's structure depends on an
opaque value does loading fail (:mod:`~searchgraph.loading.normalize`).
"""

from __future__ import annotations

import ast
import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import values as ops
from .environment import (
    NUMPY_ARRAY_ATTRIBUTES,
    NUMPY_ARRAY_METHODS,
    ConfigModel,
    DimValue,
    Environment,
    ModuleModel,
    SafeFunction,
    dim_arithmetic,
)
from .safe_builtins import FRAME_BUILTINS, PLAIN_BUILTINS, SPECIAL_BUILTINS
from .safe_objects import (
    MISSING,
    MUTATING_METHODS,
    NOOP,
    BoundMethod,
    BreakSignal,
    ConfigRaised,
    ContinueSignal,
    Decorated,
    Frame,
    Function,
    Instance,
    PlainMethod,
    ReturnSignal,
    Super,
    UserClass,
    UserException,
    bound_names,
    is_numpy,
    is_plain_path,
    source_text,
    walk_own,
)
from .values import Opaque, OpaqueOperand

__all__ = ["ConfigRaised", "Function", "Instance", "Interpreter", "UserClass"]

_PY_ERRORS = (ArithmeticError, LookupError, NameError, TypeError, ValueError, AttributeError, AssertionError,
              RuntimeError, MemoryError, OSError, StopIteration, NotImplementedError)
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
_EXCEPTIONS = {name: getattr(builtins, name) for name in dir(builtins)
               if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
               and name not in ("SystemExit", "KeyboardInterrupt", "GeneratorExit")}


class Interpreter:
    """Evaluates one config's module body; ``globals`` is its namespace (RETURNN's ``typed_dict``)."""

    def __init__(self, filename: str, env_factory: Callable[[Interpreter], Environment],
                 overrides: dict[str, str]) -> None:
        self.filename = filename
        self.lineno = 0
        self.globals: dict[str, Any] = {}
        self.env = env_factory(self)
        self.env.call = lambda func, args, kwargs: self.call(func, args, kwargs, ast.Pass())
        self.config = ConfigModel(self.globals, overrides)
        self.globals.update({"config": self.config, "__file__": filename, "__name__": "__returnn_config__"})
        self.iterations = 0
        self.depth = 0
        self.deadline = time.monotonic() + ops.MAX_SECONDS
        #: objects a branch safe mode could not decide may have changed: id -> (object, reason)
        self.uncertain: dict[int, tuple[Any, Opaque]] = {}
        self.star_imports: list[Opaque] = []
        self.module_frame = Frame(self.globals, [], self.globals)
        self._stmt = {cls: getattr(self, name) for name in dir(self) if name.startswith("_s_")
                      for cls in [getattr(ast, name[3:], None)] if cls is not None}
        self._expr = {cls: getattr(self, name) for name in dir(self) if name.startswith("_e_")
                      for cls in [getattr(ast, name[3:], None)] if cls is not None}

    # -- entry points ------------------------------------------------------------------------------

    def where(self) -> str:
        return f"{self.filename}:{self.lineno}" if self.lineno else self.filename

    def run_module(self, tree: ast.Module) -> None:
        """Run the module body; the config's own uncaught exception becomes :class:`ConfigRaised`."""
        self.run_as_config(lambda: self.block(tree.body, self.module_frame))

    def call_as_config(self, func: Function, kwargs: dict[str, Any]) -> Any:
        """Call one of the config's functions (``get_network``) the way RETURNN's engine does."""
        return self.run_as_config(lambda: self.call_function(func, [], kwargs))

    def run_as_config(self, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except (ReturnSignal, BreakSignal, ContinueSignal):  # pragma: no cover - ruled out by the parser
            raise ops.Failed("'return'/'break' outside a function or loop", self.lineno) from None
        except ops.SafeEvalError:
            raise
        except (Exception, RecursionError) as exc:  # noqa: BLE001 - the config's own error, reported
            raise ConfigRaised(exc, getattr(exc, "sg_line", self.lineno)) from None

    def tick(self) -> None:
        self.iterations += 1
        if self.iterations > ops.MAX_ITERATIONS:
            raise ops.LimitExceeded(f"too many loop iterations for safe mode (limit {ops.MAX_ITERATIONS})",
                                    self.lineno)
        if not self.iterations & 1023 and time.monotonic() > self.deadline:
            raise ops.LimitExceeded(f"evaluation takes too long for safe mode (limit {ops.MAX_SECONDS}s)",
                                    self.lineno)

    def opaque(self, what: str) -> Opaque:
        return Opaque(what, self.where())

    # -- statements ----------------------------------------------------------------------------

    def block(self, body: list[ast.stmt], frame: Frame) -> None:
        stmt = self._stmt
        for node in body:
            self.lineno = node.lineno
            if time.monotonic() > self.deadline:
                raise ops.LimitExceeded(f"evaluation takes too long for safe mode (limit {ops.MAX_SECONDS}s)",
                                        node.lineno)
            handler = stmt.get(type(node))
            if handler is None:
                self.skip(node, [node], self.opaque(f"unsupported construct in safe mode: "
                                                    f"'{type(node).__name__}' statement"), frame)
                continue
            try:
                handler(node, frame)
            except Exception as exc:
                _mark_line(exc, node.lineno)
                raise

    def skip(self, node: ast.AST, body: list[ast.stmt], reason: Opaque, frame: Frame) -> None:
        """Leave ``body`` unevaluated: what it binds becomes opaque, what it changes is uncertain."""
        names, changed = bound_names(body)
        why = Opaque(f"line {getattr(node, 'lineno', '?')} could not be decided in safe mode: {reason.what}",
                     reason.where or self.where())
        for name in names:
            self.bind(frame, name, why)
        for target in changed:
            path = target
            while not is_plain_path(path):  # the longest part whose evaluation has no effect
                path = path.value  # type: ignore[attr-defined]
            try:
                value = self.expr(path, frame)
            except Exception:  # noqa: BLE001, S112 - a path that does not resolve changes nothing we hold
                continue
            if not isinstance(value, (Opaque, str, int, float, bool, type(None))):
                self.uncertain[id(value)] = (value, why)
        self.env.note(f"not evaluated: {why.what}")
        if frame.func is not None and any(isinstance(n, ast.Return) for n in walk_own(body)):
            raise ReturnSignal(why)  # the function may have returned there: its result is not known

    def _s_Expr(self, node: ast.Expr, frame: Frame) -> None:
        self.expr(node.value, frame)

    def _s_Pass(self, node: ast.Pass, frame: Frame) -> None:
        pass

    def _s_Break(self, node: ast.Break, frame: Frame) -> None:
        raise BreakSignal

    def _s_Continue(self, node: ast.Continue, frame: Frame) -> None:
        raise ContinueSignal

    def _s_Return(self, node: ast.Return, frame: Frame) -> None:
        raise ReturnSignal(self.expr(node.value, frame) if node.value is not None else None)

    def _s_Global(self, node: ast.Global, frame: Frame) -> None:
        frame.declared_global.update(node.names)

    def _s_Nonlocal(self, node: ast.Nonlocal, frame: Frame) -> None:
        frame.declared_nonlocal.update(node.names)

    def _s_Assign(self, node: ast.Assign, frame: Frame) -> None:
        value = self.expr(node.value, frame)
        for target in node.targets:
            self.assign(target, value, frame)

    def _s_AnnAssign(self, node: ast.AnnAssign, frame: Frame) -> None:
        if node.value is not None:
            self.assign(node.target, self.expr(node.value, frame), frame)

    def _s_AugAssign(self, node: ast.AugAssign, frame: Frame) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self.lookup(frame, target.id)
            self.bind(frame, target.id, self.binop(node.op, current, self.expr(node.value, frame), inplace=True))
        elif isinstance(target, ast.Subscript):
            container = self.expr(target.value, frame)
            key = self.expr(target.slice, frame)
            if isinstance(container, Opaque):
                return
            current = self.subscript(container, key)
            self.store_item(container, key, self.binop(node.op, current, self.expr(node.value, frame),
                                                        inplace=True))
        elif isinstance(target, ast.Attribute):
            obj = self.expr(target.value, frame)
            current = self.attribute(obj, target.attr, target)
            self.set_attribute(obj, target.attr, self.binop(node.op, current, self.expr(node.value, frame),
                                                           inplace=True), target)

    def _s_Delete(self, node: ast.Delete, frame: Frame) -> None:
        for target in node.targets:
            self.delete(target, frame)

    def _s_Import(self, node: ast.Import, frame: Frame) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(frame, alias.asname, self.env.module(alias.name))
            else:
                top = alias.name.split(".")[0]
                self.bind(frame, top, self.env.module(top))

    def _s_ImportFrom(self, node: ast.ImportFrom, frame: Frame) -> None:
        module = "." * node.level + (node.module or "")
        if module == "__future__":
            return
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append(self.opaque(f"from {module} import *"))
                continue
            self.bind(frame, alias.asname or alias.name, self.env.import_from(module, alias.name))

    def _s_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef, frame: Frame) -> None:
        args = node.args
        defaults = [self.expr(d, frame) for d in args.defaults]
        kw_defaults = [self.expr(d, frame) if d is not None else MISSING for d in args.kw_defaults]
        scopes = [*frame.enclosing, frame.locals] if frame.func is not None else list(frame.enclosing)
        value: Any = Function(self, node, scopes, defaults, kw_defaults)
        if isinstance(node, ast.AsyncFunctionDef):
            value = self.opaque(f"async def {node.name}")
        for decorator in reversed(node.decorator_list):
            value = self.decorate(self.expr(decorator, frame), value, decorator)
        self.bind(frame, node.name, value)

    _s_AsyncFunctionDef = _s_FunctionDef

    def decorate(self, decorator: Any, value: Any, node: ast.expr) -> Any:
        if decorator is staticmethod:
            return Decorated("static", value)
        if decorator is classmethod:
            return Decorated("class", value)
        if decorator is property:
            return Decorated("property", value)
        if isinstance(decorator, Opaque):
            return Opaque(f"decorated by {source_text(node)} ({decorator.what})", decorator.where)
        return self.call(decorator, [value], {}, node)

    def _s_ClassDef(self, node: ast.ClassDef, frame: Frame) -> None:
        bases = [self.expr(b, frame) for b in node.bases]
        namespace: dict[str, Any] = {"__module__": "__returnn_config__", "__qualname__": node.name}
        scopes = [*frame.enclosing, frame.locals] if frame.func is not None else list(frame.enclosing)
        body_frame = Frame(namespace, scopes, frame.globals_, is_class=True)
        self.block(node.body, body_frame)
        value: Any = UserClass(node.name, [b for b in bases if b is not object], namespace)
        for item in namespace.values():
            func = item.func if isinstance(item, Decorated) else item
            if isinstance(func, Function):
                func.owner = value
                func.qualname = f"{node.name}.{func.name}"
        for decorator in reversed(node.decorator_list):
            value = self.decorate(self.expr(decorator, frame), value, decorator)
        self.bind(frame, node.name, value)

    def _s_If(self, node: ast.If, frame: Frame) -> None:
        test = self.expr(node.test, frame)
        if isinstance(test, Opaque):
            self.skip(node, [*node.body, *node.orelse], test, frame)
            return
        self.block(node.body if self.truth(test) else node.orelse, frame)

    def _s_For(self, node: ast.For, frame: Frame) -> None:
        iterable = self.expr(node.iter, frame)
        if isinstance(iterable, Opaque):
            self.skip(node, [node], iterable, frame)
            return
        for item in self.iterate(iterable):
            self.tick()
            self.assign(node.target, item, frame)
            try:
                self.block(node.body, frame)
            except BreakSignal:
                break
            except ContinueSignal:
                continue
        else:
            self.block(node.orelse, frame)

    def _s_While(self, node: ast.While, frame: Frame) -> None:
        while True:
            self.tick()
            test = self.expr(node.test, frame)
            if isinstance(test, Opaque):
                self.skip(node, [node], test, frame)
                return
            if not self.truth(test):
                break
            try:
                self.block(node.body, frame)
            except BreakSignal:
                return
            except ContinueSignal:
                continue
        self.block(node.orelse, frame)

    def _s_Assert(self, node: ast.Assert, frame: Frame) -> None:
        test = self.expr(node.test, frame)
        if isinstance(test, Opaque) or self.truth(test):
            return
        message = self.expr(node.msg, frame) if node.msg is not None else None
        raise AssertionError(message) if message is not None else AssertionError()

    def _s_Raise(self, node: ast.Raise, frame: Frame) -> None:
        if node.exc is None:
            raise RuntimeError("No active exception to reraise")
        exc = self.expr(node.exc, frame)
        if isinstance(exc, Opaque):
            raise ops.Failed(f"the config raises {exc.what}", node.lineno)
        if isinstance(exc, type) and issubclass(exc, BaseException):
            exc = exc()
        if isinstance(exc, UserClass):
            exc = self.instantiate(exc, [], {}, node)
        if isinstance(exc, Instance):
            raise UserException(exc)
        if isinstance(exc, BaseException) and not isinstance(exc, (SystemExit, KeyboardInterrupt)):
            raise exc
        raise TypeError("exceptions must derive from BaseException")

    def _s_Try(self, node: ast.Try, frame: Frame) -> None:
        try:
            try:
                self.block(node.body, frame)
            except ops.SafeEvalError:
                raise
            except Exception as exc:  # the config's own error, maybe handled by the config
                for handler in node.handlers:
                    if self.handler_matches(handler, exc, frame):
                        if handler.name:
                            self.bind(frame, handler.name, exc.instance if isinstance(exc, UserException)
                                      else exc)
                        self.block(handler.body, frame)
                        break
                else:
                    raise
            else:
                self.block(node.orelse, frame)
        finally:
            self.block(node.finalbody, frame)

    _s_TryStar = _s_Try

    def handler_matches(self, handler: ast.ExceptHandler, exc: BaseException, frame: Frame) -> bool:
        if handler.type is None:
            return True
        kinds = self.expr(handler.type, frame)
        for kind in kinds if isinstance(kinds, tuple) else (kinds,):
            if isinstance(kind, type) and isinstance(exc, kind):
                return True
            if isinstance(kind, UserClass) and isinstance(exc, UserException) \
                    and exc.instance.cls.is_subclass_of(kind):
                return True
        return False

    def _s_With(self, node: ast.With, frame: Frame) -> None:
        for item in node.items:
            context = self.expr(item.context_expr, frame)
            if item.optional_vars is not None:
                value = context if isinstance(context, Opaque) else self.opaque(
                    f"'with {source_text(item.context_expr)}' (context managers are not entered in safe mode)")
                self.assign(item.optional_vars, value, frame)
        self.block(node.body, frame)

    # -- names -----------------------------------------------------------------------------------

    def bind(self, frame: Frame, name: str, value: Any) -> None:
        if name in frame.declared_global:
            frame.globals_[name] = value
        elif name in frame.declared_nonlocal:
            for scope in reversed(frame.enclosing):
                if name in scope:
                    scope[name] = value
                    return
            frame.locals[name] = value
        else:
            frame.locals[name] = value

    def lookup_opt(self, frame: Frame, name: str) -> tuple[bool, Any]:
        if name in frame.locals and name not in frame.declared_global:
            return True, frame.locals[name]
        for scope in reversed(frame.enclosing):
            if name in scope:
                return True, scope[name]
        if name in frame.globals_:
            return True, frame.globals_[name]
        return False, None

    def lookup(self, frame: Frame, name: str) -> Any:
        found, value = self.lookup_opt(frame, name)
        if found:
            return value
        special = SPECIAL_BUILTINS.get(name)
        if special is not None:
            return special
        if name in ops.SAFE_BUILTINS:
            return ops.SAFE_BUILTINS[name]
        if name in _EXCEPTIONS:
            return _EXCEPTIONS[name]
        if name in PLAIN_BUILTINS:
            return PLAIN_BUILTINS[name]
        if self.star_imports:
            star = self.star_imports[-1]
            return Opaque(f"{name} (maybe from {star.what})", star.where)
        if hasattr(builtins, name):
            return self.opaque(f"builtin '{name}' (not available in safe mode)")
        raise NameError(f"name '{name}' is not defined")

    def assign(self, target: ast.expr, value: Any, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            self.bind(frame, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, Opaque):
                for element in target.elts:
                    self.assign(element.value if isinstance(element, ast.Starred) else element, value, frame)
                return
            self.unpack(target.elts, value, frame)
        elif isinstance(target, ast.Subscript):
            container = self.expr(target.value, frame)
            key = self.expr(target.slice, frame)
            if not isinstance(container, Opaque):
                self.store_item(container, key, value)
        elif isinstance(target, ast.Attribute):
            self.set_attribute(self.expr(target.value, frame), target.attr, value, target)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, frame)
        else:
            raise ops.refused(f"assignment to '{source_text(target)}'")

    def unpack(self, targets: list[ast.expr], value: Any, frame: Frame) -> None:
        items = list(self.iterate(value))
        stars = [i for i, t in enumerate(targets) if isinstance(t, ast.Starred)]
        if not stars:
            if len(items) > len(targets):
                raise ValueError(f"too many values to unpack (expected {len(targets)})")
            if len(items) < len(targets):
                raise ValueError(f"not enough values to unpack (expected {len(targets)}, got {len(items)})")
            for target, item in zip(targets, items):
                self.assign(target, item, frame)
            return
        star, after = stars[0], len(targets) - stars[0] - 1
        if len(items) < len(targets) - 1:
            raise ValueError(f"not enough values to unpack (expected at least {len(targets) - 1}, "
                             f"got {len(items)})")
        for target, item in zip(targets[:star], items[:star]):
            self.assign(target, item, frame)
        self.assign(targets[star], items[star:len(items) - after], frame)
        for target, item in zip(targets[star + 1:], items[len(items) - after:]):
            self.assign(target, item, frame)

    def delete(self, target: ast.expr, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            scope = frame.globals_ if target.id in frame.declared_global else frame.locals
            if target.id not in scope:
                raise NameError(f"name '{target.id}' is not defined")
            del scope[target.id]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.delete(element, frame)
        elif isinstance(target, ast.Subscript):
            container = self.expr(target.value, frame)
            key = self.expr(target.slice, frame)
            if not isinstance(container, Opaque):
                self.check_plain_container(container)
                del container[key]
        elif isinstance(target, ast.Attribute):
            obj = self.expr(target.value, frame)
            if isinstance(obj, Instance):
                del obj.attrs[target.attr]
            elif not isinstance(obj, Opaque):
                raise ops.refused(f"deletion of '{source_text(target)}'")

    # -- expressions -----------------------------------------------------------------------------

    def expr(self, node: ast.expr, frame: Frame) -> Any:
        handler = self._expr.get(type(node))
        if handler is None:
            return self.opaque(f"unsupported construct in safe mode: '{source_text(node)}'")
        try:
            return handler(node, frame)
        except OpaqueOperand as exc:
            return exc.value
        except Exception as exc:
            _mark_line(exc, node.lineno)
            raise

    def truth(self, value: Any) -> bool:
        if isinstance(value, (Function, UserClass, Instance, ModuleModel, SafeFunction)):
            return True
        return bool(value)

    def iterate(self, value: Any) -> Iterator[Any]:
        if isinstance(value, Opaque):
            raise OpaqueOperand(value)
        if isinstance(value, (Mapping, Iterator, list, tuple, str, set, frozenset, range, bytes)) \
                or is_numpy(value):
            return iter(value)
        if isinstance(value, (Instance, UserClass, Function, ModuleModel)):
            raise TypeError(f"'{type(value).__name__}' object is not iterable (in safe mode)")
        return iter(value)

    def binop(self, op: ast.operator, a: Any, b: Any, *, inplace: bool = False) -> Any:
        for value in (a, b):
            if isinstance(value, Opaque):
                return value
        if isinstance(a, DimValue) or isinstance(b, DimValue):
            return dim_arithmetic(op, a, b)
        for value in (a, b):
            if isinstance(value, (Instance, UserClass, Function, ModuleModel, SafeFunction, BoundMethod)):
                return self.opaque(f"operator on {value!r} (not evaluated in safe mode)")
        return ops.binary_op(op, a, b, inplace=inplace)

    def _e_Constant(self, node: ast.Constant, frame: Frame) -> Any:
        return node.value

    def _e_Name(self, node: ast.Name, frame: Frame) -> Any:
        return self.lookup(frame, node.id)

    def _e_UnaryOp(self, node: ast.UnaryOp, frame: Frame) -> Any:
        value = self.expr(node.operand, frame)
        if isinstance(value, Opaque):
            return value
        if isinstance(node.op, ast.Not):
            return not self.truth(value)
        return ops.unary_op(node.op, value)

    def _e_BinOp(self, node: ast.BinOp, frame: Frame) -> Any:
        return self.binop(node.op, self.expr(node.left, frame), self.expr(node.right, frame))

    def _e_BoolOp(self, node: ast.BoolOp, frame: Frame) -> Any:
        value = None
        is_and = isinstance(node.op, ast.And)
        for operand in node.values:
            value = self.expr(operand, frame)
            if isinstance(value, Opaque):
                return value
            if self.truth(value) != is_and:
                return value
        return value

    def _e_Compare(self, node: ast.Compare, frame: Frame) -> Any:
        left = self.expr(node.left, frame)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators):
            right = self.expr(comparator, frame)
            if isinstance(op, (ast.Is, ast.IsNot)):
                result = (left is right) == isinstance(op, ast.Is)
            else:
                for value in (left, right):
                    if isinstance(value, Opaque):
                        return value
                if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (list, tuple, set, frozenset)) \
                        and any(isinstance(item, Opaque) for item in right):
                    return next(item for item in right if isinstance(item, Opaque))
                result = ops.compare_op(op, left, right)
            if not result:
                return result
            left = right
        return result

    def _e_IfExp(self, node: ast.IfExp, frame: Frame) -> Any:
        test = self.expr(node.test, frame)
        if isinstance(test, Opaque):
            return test
        return self.expr(node.body if self.truth(test) else node.orelse, frame)

    def _e_Dict(self, node: ast.Dict, frame: Frame) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                mapping = self.expr(value, frame)
                if isinstance(mapping, Opaque):
                    raise OpaqueOperand(mapping)
                if not isinstance(mapping, Mapping):
                    raise TypeError(f"'{type(mapping).__name__}' object is not a mapping")
                result.update(mapping)
            else:
                k = self.expr(key, frame)
                if isinstance(k, Opaque):
                    raise OpaqueOperand(k)
                result[k] = self.expr(value, frame)
        return result

    def elements(self, nodes: list[ast.expr], frame: Frame) -> list[Any]:
        result: list[Any] = []
        for element in nodes:
            if isinstance(element, ast.Starred):
                result.extend(self.iterate(self.expr(element.value, frame)))
            else:
                result.append(self.expr(element, frame))
        return result

    def _e_List(self, node: ast.List, frame: Frame) -> list[Any]:
        return self.elements(node.elts, frame)

    def _e_Tuple(self, node: ast.Tuple, frame: Frame) -> tuple[Any, ...]:
        return tuple(self.elements(node.elts, frame))

    def _e_Set(self, node: ast.Set, frame: Frame) -> set[Any]:
        items = self.elements(node.elts, frame)
        for item in items:
            if isinstance(item, Opaque):
                raise OpaqueOperand(item)
        return set(items)

    def comprehension(self, generators: list[ast.comprehension], frame: Frame,
                      produce: Callable[[Frame], None]) -> None:
        first = self.iterate(self.expr(generators[0].iter, frame))
        scope: dict[str, Any] = {}
        inner = Frame(scope, [*frame.enclosing, frame.locals] if not frame.is_class else list(frame.enclosing),
                       frame.globals_, frame.func)
        if frame.func is None and not frame.is_class:  # module level: the enclosing scope is the globals
            inner.enclosing = []
        self._loop(generators, 0, first, inner, produce)

    def _loop(self, generators: list[ast.comprehension], index: int, items: Iterator[Any], frame: Frame,
              produce: Callable[[Frame], None]) -> None:
        gen = generators[index]
        for item in items:
            self.tick()
            self.assign(gen.target, item, frame)
            ok = True
            for condition in gen.ifs:
                test = self.expr(condition, frame)
                if isinstance(test, Opaque):
                    raise OpaqueOperand(test)
                if not self.truth(test):
                    ok = False
                    break
            if ok:
                if index + 1 == len(generators):
                    produce(frame)
                else:
                    inner = self.iterate(self.expr(generators[index + 1].iter, frame))
                    self._loop(generators, index + 1, inner, frame, produce)

    def _e_ListComp(self, node: ast.ListComp, frame: Frame) -> list[Any]:
        result: list[Any] = []
        self.comprehension(node.generators, frame, lambda f: result.append(self.expr(node.elt, f)))
        return result

    def _e_GeneratorExp(self, node: ast.GeneratorExp, frame: Frame) -> Iterator[Any]:
        return iter(self._e_ListComp(node, frame))  # type: ignore[arg-type]

    def _e_SetComp(self, node: ast.SetComp, frame: Frame) -> set[Any]:
        result: set[Any] = set()
        self.comprehension(node.generators, frame, lambda f: result.add(self.expr(node.elt, f)))
        return result

    def _e_DictComp(self, node: ast.DictComp, frame: Frame) -> dict[Any, Any]:
        result: dict[Any, Any] = {}

        def produce(f: Frame) -> None:
            key = self.expr(node.key, f)
            if isinstance(key, Opaque):
                raise OpaqueOperand(key)
            result[key] = self.expr(node.value, f)

        self.comprehension(node.generators, frame, produce)
        return result

    def _e_JoinedStr(self, node: ast.JoinedStr, frame: Frame) -> Any:
        parts = []
        for part in node.values:
            value = self.expr(part, frame)
            if isinstance(value, Opaque):
                return value
            parts.append(str(value))
        return "".join(parts)

    def _e_FormattedValue(self, node: ast.FormattedValue, frame: Frame) -> Any:
        value = self.expr(node.value, frame)
        if isinstance(value, Opaque):
            return value
        if node.conversion != -1:
            ops.check_tree_size(value)
            value = _CONVERSIONS[node.conversion](value)
        spec = self.expr(node.format_spec, frame) if node.format_spec is not None else ""
        return ops.format_value(value, spec)

    def _e_Subscript(self, node: ast.Subscript, frame: Frame) -> Any:
        return self.subscript(self.expr(node.value, frame), self.expr(node.slice, frame))

    def subscript(self, container: Any, key: Any) -> Any:
        if isinstance(container, Opaque):
            return container
        if isinstance(key, Opaque) and not isinstance(container, Mapping):
            return key
        if isinstance(container, Instance):
            found, method = container.cls.lookup("__getitem__")
            if found:
                return self.call(self.bind_member(method, container, container.cls, ast.Pass()), [key], {},
                                 ast.Pass())
        if isinstance(container, (Instance, UserClass, Function, ModuleModel, DimValue)):
            return self.opaque(f"subscript of {container!r} (not evaluated in safe mode)")
        return container[key]

    def store_item(self, container: Any, key: Any, value: Any) -> None:
        if isinstance(key, Opaque):
            self.uncertain[id(container)] = (container, key)
            return
        self.check_plain_container(container)
        container[key] = value

    def check_plain_container(self, container: Any) -> None:
        if not isinstance(container, (dict, list)) and not is_numpy(container):
            raise TypeError(f"'{type(container).__name__}' object does not support item assignment")

    def _e_Slice(self, node: ast.Slice, frame: Frame) -> slice:
        parts = (node.lower, node.upper, node.step)
        return slice(*(self.expr(part, frame) if part is not None else None for part in parts))

    def _e_Lambda(self, node: ast.Lambda, frame: Frame) -> Function:
        args = node.args
        defaults = [self.expr(d, frame) for d in args.defaults]
        kw_defaults = [self.expr(d, frame) if d is not None else MISSING for d in args.kw_defaults]
        scopes = [*frame.enclosing, frame.locals] if frame.func is not None else list(frame.enclosing)
        return Function(self, node, scopes, defaults, kw_defaults)

    def _e_NamedExpr(self, node: ast.NamedExpr, frame: Frame) -> Any:
        value = self.expr(node.value, frame)
        self.bind(frame, node.target.id, value)
        return value

    def _e_Starred(self, node: ast.Starred, frame: Frame) -> Any:
        return self.opaque("starred expression in this position")

    # -- attributes ----------------------------------------------------------------------------

    def _e_Attribute(self, node: ast.Attribute, frame: Frame) -> Any:
        return self.attribute(self.expr(node.value, frame), node.attr, node)

    def attribute(self, obj: Any, name: str, node: ast.AST) -> Any:
        if isinstance(obj, Opaque):
            return obj
        if name.startswith("__") and name not in ("__name__", "__dict__", "__class__", "__qualname__") \
                and not isinstance(obj, (Instance, UserClass, Super)):
            return self.opaque(f"attribute '{name}' (not evaluated in safe mode)")
        if isinstance(obj, Instance):
            if name == "__dict__":
                return obj.attrs
            if name == "__class__":
                return obj.cls
            if name in obj.attrs:
                return obj.attrs[name]
            found, raw = obj.cls.lookup(name)
            if found:
                return self.bind_member(raw, obj, obj.cls, node)
            raise AttributeError(f"'{obj.cls.name}' object has no attribute '{name}'")
        if isinstance(obj, UserClass):
            if name == "__name__":
                return obj.name
            found, raw = obj.lookup(name)
            if found:
                return self.bind_member(raw, None, obj, node)
            raise AttributeError(f"type object '{obj.name}' has no attribute '{name}'")
        if isinstance(obj, Super):
            klass = obj.cls
            owner = obj.obj.cls if isinstance(obj.obj, Instance) else obj.obj
            index = next((i for i, k in enumerate(owner.mro) if k is klass), len(owner.mro) - 1) + 1
            found, raw = owner.lookup(name, index)
            if found:
                return self.bind_member(raw, obj.obj if isinstance(obj.obj, Instance) else None, owner, node)
            if name == "__init__":
                return NOOP
            raise AttributeError(f"'super' object has no attribute '{name}'")
        if isinstance(obj, ModuleModel):
            value = obj.get(name)
            return Opaque(value.what, value.where or self.where()) if isinstance(value, Opaque) else value
        if isinstance(obj, ConfigModel):
            if name in ConfigModel.METHODS:
                return SafeFunction(getattr(obj, name), f"config.{name}")
            if name in ConfigModel.ATTRIBUTES:
                return getattr(obj, name)
            return self.opaque(f"config.{name} (not modelled in safe mode)")
        if isinstance(obj, Function):
            if name in ("__name__", "__qualname__"):
                return obj.name
            return self.opaque(f"attribute '{name}' of {obj!r}")
        if isinstance(obj, SafeFunction):
            return self.opaque(f"attribute '{name}' of {obj!r}")
        if isinstance(obj, DimValue):
            return obj.attribute(name) if name in DimValue.ATTRIBUTES else self.opaque(
                f"attribute '{name}' of {obj!r} (not modelled in safe mode)")
        if name == "__class__":
            return type(obj)
        if ops.has_method(obj, name):
            return PlainMethod(obj, name)
        if is_numpy(obj):
            if name in NUMPY_ARRAY_METHODS:
                return PlainMethod(obj, name)
            if name in NUMPY_ARRAY_ATTRIBUTES:
                return getattr(obj, name)
        if isinstance(obj, (int, float, complex)) and name in ("real", "imag", "numerator", "denominator"):
            return getattr(obj, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return self.opaque(f"attribute '{name}' of {obj.__name__}")
        if isinstance(obj, BaseException) and name == "args":
            return obj.args
        if hasattr(obj, name):
            return self.opaque(f"attribute access '{source_text(node)}' (not evaluated in safe mode)")
        raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")

    def bind_member(self, raw: Any, obj: Instance | None, cls: UserClass, node: ast.AST) -> Any:
        if isinstance(raw, Decorated):
            if raw.kind == "static":
                return raw.func
            if raw.kind == "class":
                return BoundMethod(raw.func, cls) if isinstance(raw.func, Function) else raw.func
            if obj is None:
                return raw
            return self.call(raw.func, [obj], {}, node)
        if isinstance(raw, Function) and obj is not None:
            return BoundMethod(raw, obj)
        return raw

    def set_attribute(self, obj: Any, name: str, value: Any, node: ast.AST) -> None:
        if isinstance(obj, Opaque):
            return
        if isinstance(obj, Instance):
            found, raw = obj.cls.lookup(name)
            if found and isinstance(raw, Decorated) and raw.kind == "property":
                raise ops.refused(f"assignment to the property '{source_text(node)}'")
            obj.attrs[name] = value
        elif isinstance(obj, UserClass):
            obj.namespace[name] = value
        elif isinstance(obj, Function):
            return  # function attributes carry nothing a network needs
        else:
            raise ops.refused(f"assignment to '{source_text(node)}'")

    # -- calls -----------------------------------------------------------------------------------

    def _e_Call(self, node: ast.Call, frame: Frame) -> Any:
        func = node.func
        if isinstance(func, ast.Name) and func.id in FRAME_BUILTINS and not self.lookup_opt(frame, func.id)[0]:
            return FRAME_BUILTINS[func.id](self, node, frame)
        callee = self.expr(func, frame)
        args, kwargs = self.arguments(node, frame)
        return self.call(callee, args, kwargs, node)

    def arguments(self, node: ast.Call, frame: Frame) -> tuple[list[Any], dict[str, Any]]:
        args = self.elements(node.args, frame)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is not None:
                items: Any = [(keyword.arg, self.expr(keyword.value, frame))]
            else:
                mapping = self.expr(keyword.value, frame)
                if isinstance(mapping, Opaque):
                    raise OpaqueOperand(mapping)
                if not isinstance(mapping, Mapping):
                    raise TypeError(f"argument after ** must be a mapping, not {type(mapping).__name__}")
                items = mapping.items()
            for name, value in items:
                if not isinstance(name, str):
                    raise TypeError("keywords must be strings")
                if name in kwargs:
                    raise TypeError(f"got multiple values for keyword argument '{name}'")
                kwargs[name] = value
        return args, kwargs

    def call(self, callee: Any, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> Any:
        if isinstance(callee, Opaque):
            return Opaque(f"result of {source_text(node.func) if isinstance(node, ast.Call) else 'a call'}"
                          f" ({callee.what})", callee.where or self.where())
        if isinstance(callee, Function):
            return self.call_function(callee, args, kwargs)
        if isinstance(callee, BoundMethod):
            return self.call_function(callee.func, [callee.obj, *args], kwargs)
        if isinstance(callee, UserClass):
            return self.instantiate(callee, args, kwargs, node)
        if isinstance(callee, Instance):
            found, method = callee.cls.lookup("__call__")
            if not found:
                raise TypeError(f"'{callee.cls.name}' object is not callable")
            return self.call(self.bind_member(method, callee, callee.cls, node), args, kwargs, node)
        if isinstance(callee, PlainMethod):
            return self.call_plain_method(callee, args, kwargs)
        if isinstance(callee, SafeFunction):
            if not callee.opaque_ok:
                for value in (*args, *kwargs.values()):
                    if isinstance(value, Opaque):
                        return value
            return callee.func(*args, **kwargs)
        if isinstance(callee, Decorated):
            return self.call(callee.func, args, kwargs, node)
        if ops.is_safe_callable(callee):
            for value in args:
                if isinstance(value, Opaque):
                    return value
            if callee is dict:
                return dict(*args, **kwargs)
            for value in kwargs.values():
                if isinstance(value, Opaque):
                    return value
            return ops.call_builtin(callee, args, kwargs)
        if isinstance(callee, type) and issubclass(callee, BaseException):
            return callee(*args)
        if callee in PLAIN_BUILTINS.values():
            for value in (*args, *kwargs.values()):
                if isinstance(value, Opaque):
                    return value
            return callee(*args, **kwargs)
        if callable(callee):
            return self.opaque(f"call of {callee!r} (not evaluated in safe mode)")
        raise TypeError(f"'{type(callee).__name__}' object is not callable")

    def call_plain_method(self, method: PlainMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        obj, name = method.obj, method.name
        if is_numpy(obj):
            for value in (*args, *kwargs.values()):
                if isinstance(value, Opaque):
                    return value
            return getattr(obj, name)(*args, **kwargs)
        if not (isinstance(obj, (dict, list, set)) and name in MUTATING_METHODS) or name == "pop":
            for value in args:
                if isinstance(value, Opaque) and not (isinstance(obj, dict) and name in ("get", "setdefault")
                                                      and value is not args[0]):
                    return value
        if isinstance(obj, dict) and name == "update" and args and isinstance(args[0], Opaque):
            self.uncertain[id(obj)] = (obj, args[0])
            return None
        for value in args[:1]:
            if isinstance(value, Opaque) and isinstance(obj, (dict, set)):
                return value
        return ops.call_method(obj, name, args, kwargs)

    def instantiate(self, cls: UserClass, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> Any:
        if any(isinstance(base, type) and base is not object and not issubclass(base, BaseException)
               for base in cls.mro[1:]):
            return self.opaque(f"an instance of {cls.name} (subclass of a builtin type)")
        instance = Instance(cls)
        found, init = cls.lookup("__init__")
        if found and not isinstance(init, Opaque):
            self.call(self.bind_member(init, instance, cls, node), args, kwargs, node)
        return instance

    def call_function(self, func: Function, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if func.is_generator:
            return self.opaque(f"generator {func.qualname}() (not evaluated in safe mode)")
        self.depth += 1
        if self.depth > ops.MAX_DEPTH:
            self.depth = 0
            raise ops.LimitExceeded(f"calls nested too deeply for safe mode (limit {ops.MAX_DEPTH})",
                                    self.lineno)
        self.tick()
        saved_line = self.lineno
        try:
            local = self.bind_arguments(func, args, kwargs)
            frame = Frame(local, func.scopes, self.globals, func)
            node = func.node
            if isinstance(node, ast.Lambda):
                return self.expr(node.body, frame)
            try:
                self.block(node.body, frame)
            except ReturnSignal as ret:
                return ret.value
            return None
        finally:
            self.depth -= 1
            self.lineno = saved_line

    def bind_arguments(self, func: Function, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        spec = func.node.args
        positional = [*spec.posonlyargs, *spec.args]
        local: dict[str, Any] = {}
        kwargs = dict(kwargs)
        for i, param in enumerate(positional):
            if i < len(args):
                local[param.arg] = args[i]
        extra = args[len(positional):]
        if spec.vararg is not None:
            local[spec.vararg.arg] = tuple(extra)
        elif extra:
            raise TypeError(f"{func.qualname}() takes {len(positional)} positional arguments but "
                            f"{len(args)} were given")
        posonly = {p.arg for p in spec.posonlyargs}
        for param in [*positional, *spec.kwonlyargs]:
            if param.arg in kwargs and param.arg not in posonly:
                if param.arg in local:
                    raise TypeError(f"{func.qualname}() got multiple values for argument '{param.arg}'")
                local[param.arg] = kwargs.pop(param.arg)
        if spec.kwarg is None and kwargs:
            raise TypeError(f"{func.qualname}() got an unexpected keyword argument '{next(iter(kwargs))}'")
        first_default = len(positional) - len(func.defaults)
        for i, param in enumerate(positional):
            if param.arg not in local:
                if i >= first_default:
                    local[param.arg] = func.defaults[i - first_default]
                else:
                    raise TypeError(f"{func.qualname}() missing required argument: '{param.arg}'")
        for param, default in zip(spec.kwonlyargs, func.kw_defaults):
            if param.arg not in local:
                if default is MISSING:
                    raise TypeError(f"{func.qualname}() missing required keyword argument: '{param.arg}'")
                local[param.arg] = default
        if spec.kwarg is not None:
            local[spec.kwarg.arg] = kwargs
        elif kwargs:
            raise TypeError(f"{func.qualname}() got an unexpected keyword argument '{next(iter(kwargs))}'")
        return local

    # -- eval / exec of strings ------------------------------------------------------------------

    def eval_string(self, text: Any, frame: Frame, mode: str) -> Any:
        if isinstance(text, Opaque):
            return text
        if not isinstance(text, str):
            raise TypeError(f"{mode}() arg 1 must be a string")
        try:
            tree = ast.parse(text.strip() if mode == "eval" else text, f"<{mode} at {self.where()}>", mode)
        except SyntaxError as exc:
            raise SyntaxError(f"{exc.msg} (in the string given to {mode}())") from None
        saved = self.lineno
        try:
            if mode == "eval":
                return self.expr(tree.body, frame)  # type: ignore[attr-defined]
            self.block(tree.body, frame)  # type: ignore[attr-defined]
            return None
        finally:
            self.lineno = saved


def _mark_line(exc: Exception, lineno: int) -> None:
    """Note the innermost line an error passed through (the config's line for its own errors)."""
    if isinstance(exc, ops.SafeEvalError):
        if exc.lineno is None:
            exc.lineno = lineno
    elif not hasattr(exc, "sg_line"):
        try:
            exc.sg_line = lineno  # type: ignore[attr-defined]
        except AttributeError:
            pass
