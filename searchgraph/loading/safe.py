"""Reading RETURNN config files: safe evaluation from the AST, or trusted execution.

Safe mode (:func:`evaluate_config`) interprets a small, explicit subset of Python over plain
values: literals, names, operators, displays, comprehensions, whitelisted builtins and methods,
top-level ``if`` and ``for``. It never executes, compiles or imports anything from the config;
whatever it does not support stops with a ConfigError naming the construct and its line.
Trusted mode (:func:`exec_trusted`) runs the file as RETURNN does, for files the user trusts.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import inspect
import time
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import values as ops
from .values import ImportedName, Placeholder, Unevaluated
from ..errors import ConfigError

__all__ = ["TRUST_HINT", "ImportedName", "Placeholder", "Unevaluated", "evaluate_config", "exec_trusted"]

TRUST_HINT = "re-run with --trust to execute the config as RETURNN does (only for files you trust)"
_FAILED_HINT = "the config itself fails here: Python raises the same error when RETURNN loads it"
_SYNTAX_HINT = "fix the syntax: RETURNN cannot load this file either"
#: Python exceptions of supported operations that become a ConfigError (the config's own error).
_PY_ERRORS = (ArithmeticError, LookupError, NameError, TypeError, ValueError, AttributeError,
              RuntimeError, MemoryError)
_FEATURE = type(__future__.annotations)
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
_LABELS = {
    "While": "'while' loop", "AsyncFor": "'async for' loop", "With": "'with' statement",
    "AsyncWith": "'async with' statement", "Try": "'try' statement", "TryStar": "'try' statement",
    "Raise": "'raise' statement", "Return": "'return' statement", "Global": "'global' statement",
    "Nonlocal": "'nonlocal' statement", "Match": "'match' statement", "NamedExpr": "':=' expression",
    "Await": "'await' expression", "Yield": "'yield' expression", "YieldFrom": "'yield from' expression",
    "Starred": "starred expression in this position",
}


class _LoopJump(Exception):
    """``break`` (``is_break``) or ``continue`` inside a top-level ``for`` loop."""

    def __init__(self, is_break: bool) -> None:
        super().__init__("break" if is_break else "continue")
        self.is_break = is_break


def evaluate_config(text: str, filename: str) -> dict[str, Any]:
    """Evaluate a RETURNN config (Python source) from its AST without running any of its code.

    Returns the top-level names bound to values (defs and classes as :class:`Unevaluated`); modules,
    builtins, iterators and ``_private`` names are left out.
    Raises ConfigError (with ``file:line``) for syntax errors, unsupported constructs and errors.
    """
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as exc:
        raise ConfigError(f"syntax error: {exc.msg}", where=f"{filename}:{exc.lineno}",
                          hint=_SYNTAX_HINT) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ConfigError(f"cannot parse the config: {exc}", where=filename, hint=_SYNTAX_HINT) from None
    _check_loop_jumps(tree.body, filename, in_loop=False)
    evaluator = _Evaluator(filename)
    try:
        evaluator.run(tree.body)
        result = evaluator.result()
    except ops.SafeEvalError as exc:
        where = f"{filename}:{exc.lineno}" if exc.lineno else filename
        hint = TRUST_HINT if isinstance(exc, ops.Refused) else _FAILED_HINT
        raise ConfigError(exc.message, where=where, hint=hint) from None
    return result


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


def _source(node: ast.AST) -> str:
    """The expression as written, shortened, for messages."""
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "RecursionError: nested too deeply"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Evaluator:
    """Interprets module-level statements over plain values (one instance per config)."""

    def __init__(self, filename: str) -> None:
        self.globals: dict[str, Any] = {
            "__file__": filename, "__name__": "__returnn_config__",
            "config": ImportedName("RETURNN's config object"),
        }
        self.scopes: list[dict[str, Any]] = []
        self.iterations = 0
        self.deadline = time.monotonic() + ops.MAX_SECONDS

    def result(self) -> dict[str, Any]:
        """The settings: every public top-level name bound to a value or an Unevaluated def."""
        settings = {name: value for name, value in self.globals.items()
                    if not name.startswith("_") and not isinstance(value, (ImportedName, Iterator))
                    and not ops.is_safe_callable(value)}
        ops.check_tree_size(*settings.values())
        return settings

    def tick(self) -> None:
        """Count one loop iteration and check the budgets."""
        self.iterations += 1
        if self.iterations > ops.MAX_ITERATIONS:
            raise ops.LimitExceeded(f"too many loop iterations for safe mode (limit {ops.MAX_ITERATIONS})")
        if time.monotonic() > self.deadline:
            raise ops.LimitExceeded(f"evaluation takes too long for safe mode (limit {ops.MAX_SECONDS}s)")

    # -- statements ------------------------------------------------------------------------------

    def run(self, body: list[ast.stmt]) -> None:
        for node in body:
            self.stmt(node)

    def stmt(self, node: ast.stmt) -> None:
        handler = getattr(self, f"_s_{type(node).__name__}", None)
        if handler is None:
            raise ops.refused(_LABELS.get(type(node).__name__, f"'{type(node).__name__}' statement"),
                              node.lineno)
        if time.monotonic() > self.deadline:
            raise ops.LimitExceeded(f"evaluation takes too long for safe mode (limit {ops.MAX_SECONDS}s)",
                                    node.lineno)
        try:
            handler(node)
        except ops.SafeEvalError as exc:
            exc.lineno = exc.lineno or node.lineno
            raise
        except _PY_ERRORS as exc:
            raise ops.Failed(_describe(exc), node.lineno) from None

    def _s_Expr(self, node: ast.Expr) -> None:
        self.expr(node.value)

    def _s_Pass(self, node: ast.Pass) -> None:
        pass

    def _s_Break(self, node: ast.Break) -> None:
        raise _LoopJump(is_break=True)

    def _s_Continue(self, node: ast.Continue) -> None:
        raise _LoopJump(is_break=False)

    def _s_Assign(self, node: ast.Assign) -> None:
        value = self.expr(node.value)
        for target in node.targets:
            self.assign(target, value)

    def _s_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:  # the annotation itself is not evaluated
            self.assign(node.target, self.expr(node.value))

    def _s_AugAssign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self.lookup(target.id)
            value = self.expr(node.value)
            self.bind(target.id, self.binop(node.op, current, value, inplace=True))
        elif isinstance(target, ast.Subscript):
            container = self.usable(target.value)
            key = self.expr(target.slice)
            current = container[key]
            value = self.expr(node.value)
            container[key] = self.binop(node.op, current, value, inplace=True)
        else:
            raise ops.refused(f"assignment to '{_source(target)}'")

    def _s_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.delete(target)

    def _s_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, ImportedName(f"import {alias.name} as {alias.asname}"))
            else:
                self.bind(alias.name.split(".")[0], ImportedName(f"import {alias.name}"))

    def _s_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        if module == "__future__":
            return
        for alias in node.names:
            if alias.name == "*":
                raise ops.refused(f"'from {module} import *'")
            self.bind(alias.asname or alias.name, ImportedName(f"from {module} import {alias.name}"))

    def _s_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.bind(node.name, Unevaluated(f"def {node.name}"))

    _s_AsyncFunctionDef = _s_FunctionDef

    def _s_ClassDef(self, node: ast.ClassDef) -> None:
        self.bind(node.name, Unevaluated(f"class {node.name}"))

    def _s_If(self, node: ast.If) -> None:
        self.run(node.body if self.truth(node.test) else node.orelse)

    def _s_For(self, node: ast.For) -> None:
        for item in self.iterate(node.iter):
            self.tick()
            self.assign(node.target, item)
            try:
                self.run(node.body)
            except _LoopJump as jump:
                if jump.is_break:
                    break
        else:
            self.run(node.orelse)

    def _s_Assert(self, node: ast.Assert) -> None:
        if not self.truth(node.test):
            message = ops.format_value(self.expr(node.msg), "") if node.msg else ""
            raise ops.Failed(f"AssertionError: {message}" if message else "AssertionError")

    # -- binding ---------------------------------------------------------------------------------

    def bind(self, name: str, value: Any) -> None:
        (self.scopes[-1] if self.scopes else self.globals)[name] = value

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in self.globals:
            return self.globals[name]
        if name in ops.SAFE_BUILTINS:
            return ops.SAFE_BUILTINS[name]
        if hasattr(builtins, name):
            raise ops.refused(f"use of builtin '{name}'")
        raise NameError(f"name '{name}' is not defined")

    def is_bound(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes) or name in self.globals

    def assign(self, target: ast.expr, value: Any) -> None:
        """Bind ``value`` to an assignment target: a name, an unpacking, or a subscript."""
        if isinstance(target, ast.Name):
            self.bind(target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target.elts, value)
        elif isinstance(target, ast.Subscript):
            container = self.usable(target.value)
            container[self.expr(target.slice)] = value
        else:
            raise ops.refused(f"assignment to '{_source(target)}'")

    def unpack(self, targets: list[ast.expr], value: Any) -> None:
        items = list(self.iterate_value(value))
        stars = [i for i, t in enumerate(targets) if isinstance(t, ast.Starred)]
        if not stars:
            if len(items) > len(targets):
                raise ValueError(f"too many values to unpack (expected {len(targets)})")
            if len(items) < len(targets):
                raise ValueError(f"not enough values to unpack (expected {len(targets)}, got {len(items)})")
            for target, item in zip(targets, items):
                self.assign(target, item)
            return
        star, after = stars[0], len(targets) - stars[0] - 1
        if len(items) < len(targets) - 1:
            raise ValueError(f"not enough values to unpack (expected at least {len(targets) - 1}, "
                             f"got {len(items)})")
        for target, item in zip(targets[:star], items[:star]):
            self.assign(target, item)
        self.assign(targets[star].value, items[star:len(items) - after])  # type: ignore[attr-defined]
        for target, item in zip(targets[star + 1:], items[len(items) - after:]):
            self.assign(target, item)

    def delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            scope = self.scopes[-1] if self.scopes else self.globals
            if target.id not in scope:
                raise NameError(f"name '{target.id}' is not defined")
            del scope[target.id]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.delete(element)
        elif isinstance(target, ast.Subscript):
            container = self.usable(target.value)
            del container[self.expr(target.slice)]
        else:
            raise ops.refused(f"deletion of '{_source(target)}'")

    # -- expressions -----------------------------------------------------------------------------

    def expr(self, node: ast.expr) -> Any:
        handler = getattr(self, f"_e_{type(node).__name__}", None)
        if handler is None:
            raise ops.refused(_LABELS.get(type(node).__name__, f"'{type(node).__name__}' expression"),
                              node.lineno)
        try:
            return handler(node)
        except ops.SafeEvalError as exc:
            exc.lineno = exc.lineno or node.lineno
            raise
        except _PY_ERRORS as exc:
            raise ops.Failed(_describe(exc), node.lineno) from None

    def usable(self, node: ast.expr) -> Any:
        """Evaluate ``node``; refuse when it is a placeholder (a module, a def)."""
        value = self.expr(node)
        if isinstance(value, Placeholder):
            raise value.refusal(_source(node))
        return value

    def truth(self, node: ast.expr) -> bool:
        return bool(self.usable(node))

    def iterate(self, node: ast.expr) -> Iterator[Any]:
        value = self.expr(node)
        if isinstance(value, Placeholder):
            raise value.refusal(_source(node))
        return iter(value)

    def iterate_value(self, value: Any) -> Iterator[Any]:
        if isinstance(value, Placeholder):
            raise value.refusal()
        return iter(value)

    def binop(self, op: ast.operator, a: Any, b: Any, *, inplace: bool = False) -> Any:
        for value in (a, b):
            if isinstance(value, Placeholder):
                raise value.refusal()
        return ops.binary_op(op, a, b, inplace=inplace)

    def _e_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _e_Name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def _e_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return ops.unary_op(node.op, self.usable(node.operand))

    def _e_BinOp(self, node: ast.BinOp) -> Any:
        return self.binop(node.op, self.usable(node.left), self.usable(node.right))

    def _e_BoolOp(self, node: ast.BoolOp) -> Any:
        value = None
        for operand in node.values:
            value = self.usable(operand)
            if bool(value) != isinstance(node.op, ast.And):
                return value
        return value

    def _e_Compare(self, node: ast.Compare) -> Any:
        left, result = self.expr(node.left), True
        for op, comparator in zip(node.ops, node.comparators):
            right = self.expr(comparator)
            if not isinstance(op, (ast.Is, ast.IsNot)):
                for value, part in ((left, node.left), (right, comparator)):
                    if isinstance(value, Placeholder):
                        raise value.refusal(_source(part))
            result = ops.compare_op(op, left, right)
            if not result:
                return result
            left = right
        return result

    def _e_IfExp(self, node: ast.IfExp) -> Any:
        return self.expr(node.body if self.truth(node.test) else node.orelse)

    def _e_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                mapping = self.usable(value)
                if not isinstance(mapping, Mapping):
                    raise TypeError(f"'{type(mapping).__name__}' object is not a mapping")
                result.update(mapping)
            else:
                k = self.expr(key)
                result[k] = self.expr(value)
        return result

    def elements(self, nodes: list[ast.expr]) -> list[Any]:
        """The values of a display or call's positional arguments, ``*iterable`` expanded."""
        result: list[Any] = []
        for element in nodes:
            if isinstance(element, ast.Starred):
                result.extend(self.iterate(element.value))
            else:
                result.append(self.expr(element))
        return result

    def _e_List(self, node: ast.List) -> list[Any]:
        return self.elements(node.elts)

    def _e_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.elements(node.elts))

    def _e_Set(self, node: ast.Set) -> set[Any]:
        return set(self.elements(node.elts))

    def comprehension(self, generators: list[ast.comprehension], produce: Callable[[], None]) -> None:
        """Run a comprehension's loops in their own scope, calling ``produce`` per element."""
        if any(gen.is_async for gen in generators):
            raise ops.refused("async comprehension")
        first = self.iterate(generators[0].iter)  # evaluated in the enclosing scope, as in Python
        self.scopes.append({})
        try:
            self._loop(generators, 0, first, produce)
        finally:
            self.scopes.pop()

    def _loop(self, generators: list[ast.comprehension], index: int, items: Iterator[Any],
              produce: Callable[[], None]) -> None:
        gen = generators[index]
        for item in items:
            self.tick()
            self.assign(gen.target, item)
            if all(self.truth(condition) for condition in gen.ifs):
                if index + 1 == len(generators):
                    produce()
                else:
                    inner = self.iterate(generators[index + 1].iter)
                    self._loop(generators, index + 1, inner, produce)

    def _e_ListComp(self, node: ast.ListComp) -> list[Any]:
        result: list[Any] = []
        self.comprehension(node.generators, lambda: result.append(self.expr(node.elt)))
        return result

    def _e_GeneratorExp(self, node: ast.GeneratorExp) -> Iterator[Any]:
        result: list[Any] = []
        self.comprehension(node.generators, lambda: result.append(self.expr(node.elt)))
        return iter(result)

    def _e_SetComp(self, node: ast.SetComp) -> set[Any]:
        result: set[Any] = set()
        self.comprehension(node.generators, lambda: result.add(self.expr(node.elt)))
        return result

    def _e_DictComp(self, node: ast.DictComp) -> dict[Any, Any]:
        result: dict[Any, Any] = {}

        def produce() -> None:
            key = self.expr(node.key)
            result[key] = self.expr(node.value)

        self.comprehension(node.generators, produce)
        return result

    def _e_JoinedStr(self, node: ast.JoinedStr) -> str:
        return "".join(str(self.expr(part)) for part in node.values)

    def _e_FormattedValue(self, node: ast.FormattedValue) -> str:
        value = self.usable(node.value)
        if node.conversion != -1:
            ops.check_tree_size(value)
            value = _CONVERSIONS[node.conversion](value)
        spec = self.expr(node.format_spec) if node.format_spec is not None else ""
        return ops.format_value(value, spec)

    def _e_Subscript(self, node: ast.Subscript) -> Any:
        container = self.usable(node.value)
        return container[self.expr(node.slice)]

    def _e_Slice(self, node: ast.Slice) -> slice:
        parts = (node.lower, node.upper, node.step)
        return slice(*(self.expr(part) if part is not None else None for part in parts))

    def _e_Attribute(self, node: ast.Attribute) -> Any:
        self.usable(node.value)
        raise ops.refused(f"attribute access '{_source(node)}'")

    def _e_Lambda(self, node: ast.Lambda) -> Unevaluated:
        return Unevaluated("lambda")

    def _e_Call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute):
            obj = self.usable(func.value)
            if not ops.has_method(obj, func.attr):
                raise ops.refused(f"call of '{_source(func)}' (method '{func.attr}' of "
                                  f"{type(obj).__name__} is not supported)")
            args, kwargs = self.arguments(node)
            return ops.call_method(obj, func.attr, args, kwargs)
        if isinstance(func, ast.Name) and not self.is_bound(func.id) and func.id not in ops.SAFE_BUILTINS:
            raise ops.refused(f"call of '{func.id}'")
        callee = self.expr(func)
        if isinstance(callee, Placeholder):
            raise callee.refusal(_source(func), call=True)
        if not ops.is_safe_callable(callee):
            if callable(callee):
                raise ops.refused(f"call of '{_source(func)}'")
            raise TypeError(f"'{type(callee).__name__}' object is not callable")
        args, kwargs = self.arguments(node)
        return ops.call_builtin(callee, args, kwargs)

    def arguments(self, node: ast.Call) -> tuple[list[Any], dict[str, Any]]:
        """A call's positional and keyword arguments, with ``*`` and ``**`` expanded."""
        args = self.elements(node.args)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is not None:
                items: Any = [(keyword.arg, self.expr(keyword.value))]
            else:
                mapping = self.usable(keyword.value)
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


def exec_trusted(path: Path, epoch: int | None = None) -> dict[str, Any]:
    """Execute a config file as RETURNN does and return its plain-data settings.

    ``network`` comes from the config's ``get_network(epoch=epoch or 1)`` when it defines one (as
    RETURNN's engine does), else from its ``network``. Modules,
    functions, classes and ``_private`` names are dropped; ``network`` is kept whatever it holds.
    Exceptions of the config become a ConfigError naming the file and line.
    """
    path = Path(path)
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        code = compile(text if text.endswith("\n") else text + "\n", filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ConfigError(f"syntax error: {exc.msg}", where=f"{filename}:{exc.lineno}",
                          hint=_SYNTAX_HINT) from None
    except ValueError as exc:
        raise ConfigError(f"cannot parse the config: {exc}", where=filename, hint=_SYNTAX_HINT) from None
    namespace: dict[str, Any] = {"__file__": filename, "__name__": "__returnn_config__"}
    try:
        exec(code, namespace)  # noqa: S102 - trusted mode runs the config, as RETURNN does
        if callable(namespace.get("get_network")):  # RETURNN's engine prefers it over `network`
            namespace["network"] = _call_get_network(namespace["get_network"], epoch or 1)
    except (Exception, SystemExit) as exc:
        raise _trusted_error(exc, filename) from exc
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and (name == "network" or not _is_code(value))}


def _call_get_network(get_network: Callable[..., Any], epoch: int) -> Any:
    """``get_network(epoch=epoch)`` as RETURNN calls it, or positionally if only that binds."""
    try:
        signature = inspect.signature(get_network)
    except (TypeError, ValueError):
        return get_network(epoch=epoch)
    for args, kwargs in (((), {"epoch": epoch}), ((epoch,), {})):
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            continue
        return get_network(*args, **kwargs)
    return get_network(epoch=epoch)


def _is_code(value: Any) -> bool:
    """Modules, functions, classes and ``from __future__`` features: not settings."""
    return isinstance(value, (types.ModuleType, _FEATURE)) or callable(value)


def _trusted_error(exc: BaseException, filename: str) -> ConfigError:
    """The ConfigError for an exception of a trusted config, at its deepest line in the file."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == filename]
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        lines.append(exc.lineno)
    where = f"{filename}:{lines[-1]}" if lines and lines[-1] else filename
    return ConfigError(f"the config raised {_describe(exc)}", where=where,
                       hint="fix the config: RETURNN fails the same way when it loads it")
