"""Loaded values in the corpus's plain form, and the check that the network's structure is known.

Whatever loaded a config (safe evaluation, RETURNN's loader in a subprocess), its network reaches the
later stages as plain data: callables as ``{"__callable__": name}``, dim tags as ``{"__dim__": {...}}``
(the form ``../shared/corpus`` uses), numpy values as numbers and lists, and an opaque value in an option
that carries no structure as ``{"__opaque__": "what (file:line)"}``. An opaque value where the structure
depends on it (the network, a layer, its ``class``, ``from``, ``unit`` or ``subnetwork``) is an error
naming the layer path and where the value came from.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .environment import DimValue, ModuleModel, SafeFunction
from .values import Opaque

__all__ = ["TRUST_HINT", "normalize_settings"]

TRUST_HINT = "re-run with --trust to execute the config as RETURNN does (only for files you trust)"
#: Layer options whose values are the network's structure.
STRUCTURAL = ("class", "from", "unit", "subnetwork")


def normalize_settings(settings: dict[str, Any], uncertain: dict[int, tuple[Any, Opaque]],
                       source: str) -> dict[str, Any]:
    """Plain settings; raises ConfigError where the network's structure is not known."""
    if "network" in settings:
        _check_network(settings["network"], "", uncertain, source)
    memo: dict[int, tuple[Any, Any]] = {}
    return {name: plain(value, memo) for name, value in settings.items()}


_ATOMS = (str, int, float, bool, type(None), complex, bytes, range)


def plain(value: Any, memo: dict[int, tuple[Any, Any]] | None = None) -> Any:
    """``value`` with every non-plain object replaced by its corpus-style placeholder.

    Shared containers stay shared (a layer dict used twice is one dict), and cycles stay cycles. The memo
    holds each converted object with its result, so that no id is reused while it is in use.
    """
    if isinstance(value, _ATOMS) or value is Ellipsis:
        return value
    memo = {} if memo is None else memo
    key = id(value)
    if key in memo:
        return memo[key][1]
    if isinstance(value, dict):
        result: Any = {}
        memo[key] = (value, result)
        for k, v in value.items():
            result[_key(k)] = plain(v, memo)
        return result
    if isinstance(value, list):
        result = []
        memo[key] = (value, result)
        result.extend(plain(v, memo) for v in value)
        return result
    if isinstance(value, tuple):
        return tuple(plain(v, memo) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(plain(v, memo) for v in value)
    if isinstance(value, DimValue):
        return value.to_json()
    if isinstance(value, Opaque):
        return {"__opaque__": str(value)}
    if type(value).__module__ == "numpy":
        result = plain(value.tolist())  # a fresh list: not memoised, its id is free again afterwards
        memo[key] = (value, result)
        return result
    name = _callable_name(value)
    if name is not None:
        return {"__callable__": name}
    from .safe_objects import Instance

    return {"__object__": value.cls.name if isinstance(value, Instance) else type(value).__name__}


def _key(key: Any) -> Any:
    return key if isinstance(key, (str, int, float, bool, type(None), tuple)) else str(key)


def _callable_name(value: Any) -> str | None:
    from .safe_objects import BoundMethod, Function, UserClass

    if isinstance(value, Function):
        return value.qualname
    if isinstance(value, BoundMethod):
        return value.func.qualname
    if isinstance(value, (UserClass, SafeFunction)):
        return value.name
    if isinstance(value, ModuleModel):
        return None
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
    return None


def _fail(what: str, path: str, opaque: Opaque | None, source: str) -> ConfigError:
    where = opaque.where if opaque is not None and opaque.where else source
    because = f": {opaque.what}" if opaque is not None else ""
    hint = TRUST_HINT
    if opaque is not None and "not on this machine" in opaque.what:
        hint = ("it depends on something that is not on this machine (searchgraph load lists the stand-ins): "
                "put it where the config looks for it; RETURNN, and --trust, need it too")
    return ConfigError(f"{path or 'network'}: {what} is not known in safe mode{because}", where=where,
                       hint=hint)


def _check_network(net: Any, prefix: str, uncertain: dict[int, tuple[Any, Opaque]], source: str) -> None:
    label = prefix.rstrip("/") or "network"
    if isinstance(net, Opaque):
        raise _fail("the network", label, net, source)
    if id(net) in uncertain:
        raise _fail("the network (a branch that may change it could not be decided)", label,
                    uncertain[id(net)][1], source)
    if not isinstance(net, dict):
        return  # the graph stage reports a network that is not a dict
    for name, layer in net.items():
        path = f"{prefix}{name}"
        if isinstance(layer, Opaque):
            raise _fail("the layer's definition", path, layer, source)
        if not isinstance(layer, dict):
            continue
        if id(layer) in uncertain:
            raise _fail("the layer (a branch that may change it could not be decided)", path,
                        uncertain[id(layer)][1], source)
        for option in STRUCTURAL:
            if option not in layer:
                continue
            value = layer[option]
            if option in ("unit", "subnetwork") and isinstance(value, dict):
                _check_network(value, f"{path}/", uncertain, source)
                continue
            opaque = _find_opaque(value)
            if opaque is not None:
                raise _fail(f"its '{option}'", path, opaque, source)


def _find_opaque(value: Any, depth: int = 0) -> Opaque | None:
    if isinstance(value, Opaque):
        return value
    if depth < 20 and isinstance(value, (list, tuple)):
        for item in value:
            found = _find_opaque(item, depth + 1)
            if found is not None:
                return found
    return None
