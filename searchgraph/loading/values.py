"""Value-level pieces of :mod:`searchgraph.safeeval`: placeholders, size guards, whitelists.

Everything here works on plain values that the evaluator built itself (builtin types only); the
only callables ever called are the whitelisted builtins and methods below, so no config code runs.
"""

from __future__ import annotations

import _string
import ast
import builtins
import itertools
import math
import operator
import re
import string
from collections.abc import Callable, Collection, Mapping, Sized
from typing import Any

__all__ = [
    "MAX_DEPTH", "MAX_FORMAT_WIDTH", "MAX_INT_BITS", "MAX_ITERATIONS", "MAX_SECONDS", "MAX_SIZE",
    "SAFE_BUILTINS", "Failed", "LimitExceeded", "Opaque", "OpaqueOperand", "Refused", "SafeEvalError", "StandIn",
    "binary_op", "call_builtin", "call_method", "check_tree_size", "compare_op", "format_value",
    "has_method", "is_safe_callable", "refused", "unary_op",
]

#: Largest sequence (elements or characters) a single operation may build.
MAX_SIZE = 10_000_000
#: Largest integer (in bits) that multiplication, ``**`` and ``<<`` may build.
MAX_INT_BITS = 100_000
#: Most loop and comprehension iterations one config may run in total.
MAX_ITERATIONS = 1_000_000
#: Deepest nesting of calls of the config's own functions.
MAX_DEPTH = 150
#: Wall-clock budget of one evaluation, checked per statement and per iteration.
MAX_SECONDS = 30.0
#: Largest width or precision in a format spec (``"%999999999d"`` would allocate a gigabyte).
MAX_FORMAT_WIDTH = 100_000


class SafeEvalError(Exception):
    """Stops safe evaluation; the evaluator fills in the line and turns it into a ConfigError."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


class Refused(SafeEvalError):
    """A construct safe mode does not evaluate (trusted mode would run it)."""


class LimitExceeded(Refused):
    """A value or a run too large for safe mode (a resource bomb, or a very unusual config)."""


class Failed(SafeEvalError):
    """An error inside a supported construct; Python raises the same one when it runs the config."""


def refused(what: str, lineno: int | None = None) -> Refused:
    """The error for an unsupported construct, worded the same way everywhere."""
    return Refused(f"unsupported construct in safe mode: {what}", lineno)


class Opaque:
    """A value safe mode does not know: an import it did not make, the output of a refused side effect,
    the result of an unsupported construct, or anything computed from one of those.

    Storing an Opaque (in a variable, a list, a layer option) is fine; any operation on it gives another
    Opaque with the same origin. Where the network's structure depends on one (a layer's class, a
    reference, a unit), loading stops with an error naming ``what`` and ``where`` (``file:line``).
    """

    __slots__ = ("what", "where")

    def __init__(self, what: str, where: str = "") -> None:
        self.what = what
        self.where = where

    def __repr__(self) -> str:
        return f"<opaque: {self}>"

    def __str__(self) -> str:
        return f"{self.what} ({self.where})" if self.where else self.what


class OpaqueOperand(Exception):
    """Raised by a value-level operation that met an Opaque operand; the evaluator turns the whole
    expression into that Opaque."""

    def __init__(self, value: Opaque) -> None:
        super().__init__(str(value))
        self.value = value


class StandIn(Opaque):
    """An Opaque that stands in for something missing or refused (a file, a module, a process's output),
    listed in the load report."""

    __slots__ = ()


def check_size(n: int, what: str) -> None:
    """Refuse building a sequence of more than MAX_SIZE elements."""
    if n > MAX_SIZE:
        raise LimitExceeded(f"value too large for safe mode: {what} of {n} elements (limit {MAX_SIZE})")


def check_bits(bits: int) -> None:
    """Refuse building an integer of more than MAX_INT_BITS bits."""
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"value too large for safe mode: an integer of about {bits} bits "
                            f"(limit {MAX_INT_BITS})")


def check_tree_size(*values: Any) -> None:
    """Refuse printing or comparing a structure whose expanded size exceeds MAX_SIZE.

    Containers may share parts (``x = [x, x]`` in a loop), so the expansion can be exponential in
    memory used; sizes are memoised per object, and a cycle counts once (repr prints ``[...]``).
    """
    memo: dict[int, int] = {}

    def size(value: Any) -> int:
        if isinstance(value, (str, bytes, bytearray, range)) or not isinstance(value, Collection):
            return 1
        key = id(value)
        if key in memo:
            return memo[key]
        memo[key] = 1
        children = [*value.keys(), *value.values()] if isinstance(value, Mapping) else value
        total = 1 + sum(size(child) for child in children)
        if total > MAX_SIZE:
            raise LimitExceeded(f"value too large for safe mode: a structure of more than {MAX_SIZE} "
                                "elements when expanded")
        memo[key] = total
        return total

    for value in values:
        size(value)


def check_format_spec(spec: str) -> None:
    """Refuse widths and precisions over MAX_FORMAT_WIDTH in a format spec."""
    for digits in re.findall(r"\d+", spec):
        if len(digits) > 9 or int(digits) > MAX_FORMAT_WIDTH:
            raise LimitExceeded(f"value too large for safe mode: format width {digits[:12]} "
                                f"(limit {MAX_FORMAT_WIDTH})")


_PERCENT = re.compile(r"%(?:%|(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?)")


def _check_percent_format(fmt: str | bytes) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    for match in _PERCENT.finditer(text):
        if "*" in match.groups():
            raise refused("'*' width in % formatting")
        check_format_spec(" ".join(g for g in match.groups() if g))


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _guard_add(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, Sized):
        check_size(len(a) + len(b), "concatenation")


def _guard_mul(a: Any, b: Any) -> None:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, _SEQUENCES) and isinstance(n, int):
            check_size(len(seq) * n, "repetition")
    if isinstance(a, int) and isinstance(b, int):
        check_bits(a.bit_length() + b.bit_length())


def _guard_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        check_bits(int(math.log2(abs(a)) * b) + 1)


def _guard_lshift(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        check_bits(a.bit_length() + b)


def _guard_mod(a: Any, b: Any) -> None:
    if isinstance(a, (str, bytes)):
        _check_percent_format(a)
        check_tree_size(b)


_BINOPS: dict[type[ast.operator], tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    ast.Add: (operator.add, operator.iadd), ast.Sub: (operator.sub, operator.isub),
    ast.Mult: (operator.mul, operator.imul), ast.MatMult: (operator.matmul, operator.imatmul),
    ast.Div: (operator.truediv, operator.itruediv), ast.FloorDiv: (operator.floordiv, operator.ifloordiv),
    ast.Mod: (operator.mod, operator.imod), ast.Pow: (operator.pow, operator.ipow),
    ast.LShift: (operator.lshift, operator.ilshift), ast.RShift: (operator.rshift, operator.irshift),
    ast.BitOr: (operator.or_, operator.ior), ast.BitXor: (operator.xor, operator.ixor),
    ast.BitAnd: (operator.and_, operator.iand),
}
_GUARDS: dict[type[ast.operator], Callable[[Any, Any], None]] = {
    ast.Add: _guard_add, ast.Mult: _guard_mul, ast.Pow: _guard_pow, ast.LShift: _guard_lshift,
    ast.Mod: _guard_mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def binary_op(op: ast.operator, a: Any, b: Any, *, inplace: bool = False) -> Any:
    """``a <op> b`` (or ``a <op>= b``) exactly as Python computes it, after the size guards."""
    guard = _GUARDS.get(type(op))
    if guard is not None:
        guard(a, b)
    return _BINOPS[type(op)][inplace](a, b)


def unary_op(op: ast.unaryop, value: Any) -> Any:
    """``not``, ``-``, ``+``, ``~`` on a plain value."""
    return _UNARY[type(op)](value)


def compare_op(op: ast.cmpop, a: Any, b: Any) -> Any:
    """One comparison of a chain; refuses comparing structures too large to expand."""
    if not isinstance(op, (ast.Is, ast.IsNot)):
        check_tree_size(a, b)
    return _COMPARE[type(op)](a, b)


def format_value(value: Any, spec: str) -> str:
    """``format(value, spec)`` with the width guard; placeholders cannot be formatted."""
    if isinstance(value, Opaque):
        raise OpaqueOperand(value)
    check_format_spec(spec)
    check_tree_size(value)
    return format(value, spec)


def _check_field_name(field_name: str) -> None:
    """Refuse ``{0.attr}`` in a format field (``{0[key]}`` is a plain subscript and fine)."""
    _first, rest = _string.formatter_field_name_split(field_name)
    for is_attr, name in rest:
        if is_attr:
            raise refused(f"attribute access '.{name}' in a format field")


class _SafeFormatter(string.Formatter):
    """``str.format`` without attribute access in fields, and with the size guards."""

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int) and key >= len(args):  # str.format's own message
            raise IndexError(f"Replacement index {key} out of range for positional args tuple")
        return super().get_value(key, args, kwargs)

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        _check_field_name(field_name)
        return super().get_field(field_name, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion and isinstance(value, Opaque):
            raise OpaqueOperand(value)
        check_tree_size(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        return format_value(value, format_spec)


def _str_format(fmt: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """``fmt.format(...)``: Python's own, after checking fields and widths; nested specs are expanded
    (and checked) by the safe formatter since their widths come from the arguments."""
    nested = False
    for _literal, field, spec, _conversion in _string.formatter_parser(fmt):
        if field is not None:
            _check_field_name(field)
            nested = nested or "{" in spec
            check_format_spec(spec)
    for value in (*args, *kwargs.values()):
        if isinstance(value, Opaque):
            raise OpaqueOperand(value)
    check_tree_size(*args, *kwargs.values())
    if nested:
        return _SafeFormatter().vformat(fmt, args, kwargs)
    return fmt.format(*args, **kwargs)


def _range(*args: int) -> range:
    result = range(*args)
    try:
        n = len(result)
    except OverflowError:
        n = MAX_SIZE + 1
    check_size(n, "range")
    return result


def _sum(iterable: Any, /, start: Any = 0) -> Any:
    items = list(iterable)
    numbers = (int, float, complex)
    if isinstance(start, (str, bytes, bytearray)) or all(isinstance(x, numbers) for x in (start, *items)):
        return builtins.sum(items, start)  # floats keep Python's own summation; str start raises
    if isinstance(start, (list, tuple)) and all(type(x) is type(start) for x in items):
        check_size(len(start) + builtins.sum(len(x) for x in items), "sum of sequences")
        return type(start)(itertools.chain(start, *items))  # Python's result, without quadratic copies
    total = start
    for item in items:
        _guard_add(total, item)
        total = total + item
    return total


def _round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(number, int) and isinstance(ndigits, int) and ndigits < -2 * MAX_INT_BITS:
        return 0  # |number| < 2**MAX_INT_BITS < 10**-ndigits / 2, so Python's result is 0
    return builtins.round(number, ndigits)


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a builtin that prints, hashes or compares its arguments with the tree-size guard."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_tree_size(*args)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


#: The builtins a config may call in safe mode, by name.
SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "dict": dict, "list": list, "tuple": tuple, "set": _checked(set), "frozenset": _checked(frozenset),
    "range": _range, "min": _checked(min), "max": _checked(max), "len": len, "int": int,
    "float": float, "str": _checked(str), "repr": _checked(repr), "bool": bool, "abs": abs,
    "round": _round, "sum": _sum, "sorted": _checked(sorted), "reversed": reversed,
    "enumerate": enumerate, "zip": zip, "any": any, "all": all, "divmod": divmod,
}
_SAFE_IDS = frozenset(id(func) for func in SAFE_BUILTINS.values())


def is_safe_callable(value: Any) -> bool:
    """Whether ``value`` is one of SAFE_BUILTINS (bound to another name, or passed around)."""
    return id(value) in _SAFE_IDS  # the builtins live as long as the module, so ids are unique


def call_builtin(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call a whitelisted builtin; a placeholder as a positional argument is refused."""
    for arg in args:
        if isinstance(arg, Opaque):
            raise OpaqueOperand(arg)
    return func(*args, **kwargs)


_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({
        "format", "join", "replace", "split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper",
        "startswith", "endswith", "count", "find", "rfind", "index", "partition", "rpartition",
        "splitlines", "isdigit", "isalpha", "title", "capitalize", "encode"}),
    bytes: frozenset({"decode", "split", "strip", "startswith", "endswith"}),
    dict: frozenset({"update", "copy", "get", "items", "keys", "values", "pop", "popitem", "setdefault",
                     "clear"}),
    list: frozenset({"append", "extend", "pop", "copy", "insert", "remove", "index", "count", "reverse",
                     "sort", "clear"}),
    tuple: frozenset({"count", "index"}),
    set: frozenset({"add", "update", "union", "intersection", "difference", "symmetric_difference",
                    "discard", "remove", "pop", "copy", "issubset", "issuperset", "clear"}),
    frozenset: frozenset({"union", "intersection", "difference", "issubset", "issuperset", "copy"}),
}


def has_method(obj: Any, name: str) -> bool:
    """Whether ``obj.name(...)`` is a whitelisted (pure, or mutating only ``obj``) method call."""
    return name in _METHODS.get(type(obj), ())


def call_method(obj: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call a whitelisted method, guarding the ones that can build huge results."""
    if isinstance(obj, str) and name == "format":
        return _str_format(obj, args, kwargs)
    if isinstance(obj, str) and name == "join" and len(args) == 1 and not kwargs:
        items = list(args[0])
        total = sum(len(x) for x in items if isinstance(x, str)) + len(obj) * max(len(items) - 1, 0)
        check_size(total, "str.join result")
        args = [items]
    elif isinstance(obj, str) and name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            count = obj.count(old) if old else len(obj) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            check_size(len(obj) + count * (len(new) - len(old)), "str.replace result")
    elif isinstance(obj, list) and name == "extend" and args and isinstance(args[0], Sized):
        check_size(len(obj) + len(args[0]), "list.extend result")
    return getattr(obj, name)(*args, **kwargs)
