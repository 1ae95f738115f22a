"""A seventieth set of edit operators (issue 15, fifteenth session, second part), written and seeded before it was
ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Compound random rewiring of the data flow, as a user does while experimenting: each mutant applies 2 to 4 small
typed edits in a row, each drawn at random, over all scopes (the root, every loop unit, every ``subnetwork``, at the
root or in a loop), so that the layers it touches are ones no hand-written operator targets. The edits keep the
net a plausible network: a rough static typing of every layer (labels or dense features, and which time axis it
carries: an input's, a decoder's accumulated frames, none) decides what may read what; labels only reach a layer
that learns its input size through a new ``linear`` projection, a dense value only another layer that learns its
input size (``linear``, ``softmax``, ``rnn_cell``, an LSTM ``rec``), never one whose parameters are shared
(``reuse_params``), never a new same-frame dependency cycle. The edits:

- *add*: an existing layer becomes an extra source of another (this frame's value, ``prev:X`` in a loop, ``base:X``
  from a loop or a subnetwork to the scope around it, a root layer's time-less value or a ``reduce`` mean over
  the time axis of a timed root layer, or a root layer reading ``REC/X``, a loop layer's accumulated output,
  where the reader runs over the decoder's frames), directly or through a new ``linear`` projection (always
  for labels; ``prev:`` of labels only where they have an ``initial_output``);
- *swap*: a source is replaced by another layer of the same kind of value and the same time axis (labels by
  labels, e.g. the previous choice by another label stream or a target key; dense by dense);
- *flip*: in a loop, a ``prev:X`` reference becomes ``X`` (when ``X`` does not depend on the reader in the
  frame) or a plain ``X`` becomes ``prev:X`` (for labels only where ``X`` has an ``initial_output``);
- *relocate*: a loop layer that reads no loop value (only ``base:`` ones) moves to the root (loop readers then
  read ``base:X``, root readers of ``REC/X`` the root layer); or a root layer only one loop reads (through
  ``base:``, not named in an eval string such as ``max_seq_len``) moves into that loop (its inputs read
  through ``base:``);
- *wrap*: a layer, or two chained layers (the first read only by the second), becomes a ``subnetwork`` at the
  last layer's place, its ``output`` the last inner layer, outer references made ``base:`` ones (``prev:X``,
  ``:i``, ``data`` included); ``is_output_layer``, ``initial_output`` and a loss (with its target) stay on the
  subnetwork layer, the inner layer gets the target's vocabulary size as ``n_out``; not where the first layer
  is read from elsewhere or named in an eval string;
- *dup*: a layer is duplicated under a new name and some (or all) of its readers read the copy.

Operators (each names every edit it made in its description, in order):

* ``mix-add-input``: first an *add*, then 1 to 3 edits drawn from the whole pool;
* ``mix-swap-input``: first a *swap*, then 1 to 3 edits drawn from the pool;
* ``mix-prev-toggle``: first a *flip*, then 1 to 3 edits drawn from the pool;
* ``mix-relocate``: first a *relocate* (move out of or into a loop), then 1 to 3 edits drawn from the pool;
* ``mix-regroup``: first a *wrap* or a *dup*, then 1 to 3 edits drawn from the pool.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _frame_ancestors,
    _fresh,
    _get,
    _head,
    _layers,
    _map_refs,
    _put,
    _refs,
    _root_ancestors,
    _slots,
    _sources,
    _target_dim,
    has_cycle,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH68_SEED = 20270130
N_FRESH68 = 80

Result = "tuple[Case, str] | None"
Info = "tuple[str, str | None] | None"  # (kind "labels" / "dense", time id or None) or None: unknown

#: classes that learn their input size from their sources (a list of them is concatenated)
_LEARNS = ("linear", "softmax", "rnn_cell")
#: classes that keep their (single) source's kind and axes
_SAME = ("copy", "decide", "dropout", "activation", "layer_norm")
#: reference options an edit may rewrite (not sizes, not initial outputs)
_FLOW_KEYS = ("from", "true_from", "false_from", "condition", "base", "weights", "keys", "values")
#: classes never moved, wrapped or duplicated (nested units, choices, the loop's end)
_FIXED = ("choice", "rec", "subnetwork", "masked_computation", "cond", "decide_keep_beam", "variable")


@dataclass(eq=False)
class Scope:
    """A layer dict: the root, a rec unit (``loop``) or a subnetwork (``sub``), with where it sits."""

    layers: dict[str, Any]
    kind: str  # "root" | "loop" | "sub"
    parent: Scope | None
    owner: str | None  # its rec / subnetwork layer in the parent
    path: str  # "" for the root, "REC/" or "REC/SUB/" ...


def _scopes_all(net: dict[str, Any]) -> list[Scope]:
    root = Scope(net, "root", None, None, "")
    out = [root]

    def visit(scope: Scope, depth: int) -> None:
        if depth > 3:
            return
        for k in _layers(scope.layers):
            desc = scope.layers[k]
            if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict) and scope.kind == "root":
                sub = Scope(desc["unit"], "loop", scope, k, f"{scope.path}{k}/")
            elif desc.get("class") == "subnetwork" and isinstance(desc.get("subnetwork"), dict):
                sub = Scope(desc["subnetwork"], "sub", scope, k, f"{scope.path}{k}/")
            else:
                continue
            out.append(sub)
            visit(sub, depth + 1)

    visit(root, 0)
    return out


def _scope_of(scopes: list[Scope], parent: Scope, owner: str) -> Scope | None:
    for s in scopes:
        if s.parent is parent and s.owner == owner:
            return s
    return None


class Types:
    """A rough static typing of every layer of a net: labels or dense, and its time axis."""

    def __init__(self, case: Case, net: dict[str, Any]) -> None:
        self.case = case
        self.net = net
        self.scopes = _scopes_all(net)
        self.memo: dict[tuple[int, str], Any] = {}
        self.busy: set[tuple[int, str]] = set()

    def extern(self, key: str) -> Info:
        ext = (self.case.get("extern_data") or {}).get(key)
        if isinstance(ext, dict):
            sparse = bool(ext.get("sparse") or ext.get("sparse_dim"))
            dims = ext.get("dims")
            if isinstance(dims, list):
                spatial = [d.get("__dim__", {}) for d in dims if isinstance(d, dict)
                           and d.get("__dim__", {}).get("kind") == "spatial"]
                if len(spatial) > 1:
                    return None
                time = str(spatial[0].get("description")) if spatial else None
                return ("labels" if sparse else "dense", time)
            shape = ext.get("shape")
            if isinstance(shape, list):
                n_time = len(shape) - (0 if sparse else 1)
                if n_time > 1:
                    return None
                return ("labels" if sparse else "dense", f"data:{key}" if n_time == 1 else None)
            if ext.get("time_dim_axis", 1) is None:
                return ("labels" if sparse else "dense", None)
            return ("labels" if sparse else "dense", f"data:{key}")
        num = (self.case.get("num_outputs") or {}).get(key)
        if isinstance(num, list) and len(num) == 2:
            return ("labels" if num[1] == 1 else "dense", f"data:{key}")
        if isinstance(num, int) and key == "data":
            return ("dense", "data:data")
        return None

    def resolve(self, scope: Scope, ref: str) -> Info:
        if not isinstance(ref, str):
            return None
        if ref.startswith("base:"):
            return self.resolve(scope.parent, ref[len("base:"):]) if scope.parent else None
        if ref.startswith("prev:"):
            name = ref[len("prev:"):]
            if scope.kind != "loop" or name not in scope.layers:
                return None
            info = self.info(scope, name)
            return info if info and info[1] is None else None
        if ref == "data" or ref.startswith("data:"):
            return self.extern(ref[len("data:"):] if ":" in ref else "data") if scope.kind == "root" else None
        if ":" in ref:
            return None
        if "/" in ref:
            outer, _, inner = ref.partition("/")
            if scope.kind != "root" or outer not in scope.layers or "/" in inner:
                return None
            desc = scope.layers[outer]
            loop = _scope_of(self.scopes, scope, outer)
            if loop is None or loop.kind != "loop" or inner not in loop.layers:
                return None
            got = self.info(loop, inner)
            rec = self.info(scope, outer)
            if not got or got[1] is not None or not rec or desc.get("class") != "rec":
                return None
            return (got[0], rec[1])
        if ref in scope.layers:
            return self.info(scope, ref)
        return None

    def info(self, scope: Scope, name: str) -> Info:
        key = (id(scope.layers), name)
        if key in self.memo:
            return self.memo[key]
        if key in self.busy:
            return None
        self.busy.add(key)
        try:
            got = self._info(scope, name)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):  # a malformed layer: unknown
            got = None
        self.busy.discard(key)
        self.memo[key] = got
        return got

    def _common(self, srcs: list[Info], allow_bcast: bool = False) -> tuple[bool, str | None]:
        if not srcs or any(s is None for s in srcs):
            return False, None
        times = {s[1] for s in srcs}
        if len(times) == 1:
            return True, next(iter(times))
        if allow_bcast and len(times) == 2 and None in times:
            return True, next(t for t in times if t is not None)
        return False, None

    def _info(self, scope: Scope, name: str) -> Info:
        desc = scope.layers.get(name)
        if not isinstance(desc, dict):
            return None
        cls = desc.get("class")
        value = desc.get("from", "data" if scope.kind == "root" else None)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return None
        refs = _sources(desc) if "from" in desc else ([value] if isinstance(value, str) else [])
        srcs = [self.resolve(scope, r) for r in refs]
        if cls == "choice":
            if desc.get("input_type") == "regression":
                kind = "dense"
            else:
                kind = "labels"
            if scope.kind == "loop":
                return (kind, None)
            ok, time = self._common(srcs)
            return (kind, time) if ok and scope.kind == "root" else None
        if cls in _LEARNS or (cls == "rec" and isinstance(desc.get("unit"), str)):
            ok, time = self._common(srcs)
            return ("dense", time) if ok else None
        if cls in _SAME:
            if len(srcs) == 1 and srcs[0] is not None:
                return srcs[0]
            ok, time = self._common(srcs)
            if ok and all(s[0] == "dense" for s in srcs) and cls == "copy":
                return ("dense", time)
            return None
        if cls == "combine":
            ok, time = self._common(srcs, allow_bcast=True)
            return ("dense", time) if ok and all(s[0] == "dense" for s in srcs) else None
        if cls == "reduce":
            axes = desc.get("axes", desc.get("axis"))
            if len(srcs) == 1 and srcs[0] and srcs[0][0] == "dense" and srcs[0][1] is not None \
                    and axes in ("T", "t", "time", "stag:time"):
                return ("dense", None)
            return None
        if cls in ("pool", "conv") and len(srcs) == 1 and srcs[0] and srcs[0][0] == "dense" and srcs[0][1]:
            strides = desc.get("strides", desc.get("pool_size") if cls == "pool" else 1)
            if strides in (1, [1]) and desc.get("padding", "VALID").lower() == "same":
                return ("dense", srcs[0][1])
            return ("dense", f"{cls}:{scope.path}{name}")
        if cls == "eval" and len(srcs) == 1 and srcs[0] and srcs[0][0] == "dense" and "out_type" not in desc:
            return srcs[0]
        if cls in ("generic_attention", "dot_attention") and scope.kind == "loop":
            return ("dense", None)
        if cls == "rec" and isinstance(desc.get("unit"), dict) and scope.kind == "root":
            loop = _scope_of(self.scopes, scope, name)
            if loop is None or "output" not in loop.layers:
                return None
            out = self.info(loop, "output")
            if not out or out[1] is not None:
                return None
            if refs:
                ok, time = self._common(srcs)
                return (out[0], time) if ok and time is not None else None
            return (out[0], f"rec:{scope.path}{name}")
        if cls == "subnetwork":
            sub = _scope_of(self.scopes, scope, name)
            if sub is None or "output" not in sub.layers:
                return None
            return self.info(sub, "output")
        return None


# ----------------------------------------------------------------------------------------------------
# helpers


def _shared_names(net: dict[str, Any]) -> set[str]:
    """Names that appear in any ``reuse_params`` option (anywhere), and the layers that have one."""
    out: set[str] = set()

    def strings(value: Any) -> None:
        if isinstance(value, str):
            out.add(value.split("/")[-1].split(":")[-1])
        elif isinstance(value, list):
            for v in value:
                strings(v)
        elif isinstance(value, dict):
            for v in value.values():
                strings(v)

    def visit(layers: dict[str, Any], depth: int) -> None:
        if depth > 4:
            return
        for k, desc in layers.items():
            if not isinstance(desc, dict):
                continue
            if "reuse_params" in desc:
                out.add(k)
                strings(desc["reuse_params"])
            for sub in ("unit", "subnetwork"):
                if isinstance(desc.get(sub), dict):
                    visit(desc[sub], depth + 1)

    visit(net, 0)
    return out


def _depends_on(scope: Scope, net: dict[str, Any], x: str, y: str) -> bool:
    """Whether layer ``x`` of the scope reads ``y`` of the same scope (in the frame, transitively)."""
    if x == y:
        return True
    if scope.kind == "root":
        return y in _root_ancestors(net, x)
    return y in _frame_ancestors(scope.layers, x)


def _learner(types: Types, scope: Scope, name: str, shared: set[str]) -> bool:
    desc = scope.layers.get(name)
    if not isinstance(desc, dict) or name == "end" or name in shared or "from" not in desc:
        return False
    cls = desc.get("class")
    if not (cls in _LEARNS or (cls == "rec" and isinstance(desc.get("unit"), str))):
        return False
    value = desc["from"]
    if isinstance(value, list) and (not value or not all(isinstance(v, str) for v in value)):
        return False
    info = types.info(scope, name)
    if not info or info[0] != "dense":
        return False
    srcs = [types.resolve(scope, r) for r in _sources(desc)]
    return all(s is not None and s[0] == "dense" for s in srcs)


def _candidates(types: Types, scope: Scope, reader: str, time: str | None,
                kinds: tuple[str, ...]) -> list[tuple[str, tuple[str, str | None], str]]:
    """References the ``reader`` layer of ``scope`` could read (value of one of ``kinds``, with the given
    time axis, no cycle): (ref, info, how) with how "frame", "prev", "base", "pool" (a root ``reduce``
    needed) or "acc" (a loop layer's accumulated output)."""
    net = types.net
    out: list[tuple[str, tuple[str, str | None], str]] = []
    for x in _layers(scope.layers):
        if x == reader or x == "end":
            continue
        info = types.info(scope, x)
        if not info or info[0] not in kinds:
            continue
        if info[1] == time and not _depends_on(scope, net, x, reader):
            out.append((x, info, "frame"))
        if scope.kind == "loop" and info[1] is None and time is None and _prev_ok(scope, x, info):
            out.append((f"prev:{x}", info, "prev"))
    if scope.kind == "root":
        for key in sorted(set(types.case.get("extern_data") or {}) | set(types.case.get("num_outputs") or {})):
            info = types.extern(key)
            if info and info[0] in kinds and info[1] == time:
                out.append(("data" if key == "data" else f"data:{key}", info, "frame"))
        for rec in _layers(net):
            loop = _scope_of(types.scopes, scope, rec)
            if loop is None or loop.kind != "loop":
                continue
            rinfo = types.info(scope, rec)
            if not rinfo or rinfo[1] != time or time is None:
                continue
            if rec == reader or reader in _root_ancestors(net, rec):
                continue
            for inner in _layers(loop.layers):
                if inner in ("end", "output"):
                    continue
                info = types.info(loop, inner)
                if info and info[0] in kinds and info[1] is None:
                    out.append((f"{rec}/{inner}", (info[0], time), "acc"))
    elif scope.parent is not None and scope.owner is not None:
        parent = scope.parent
        for x in _layers(parent.layers):
            if x == scope.owner or x == "end" or _depends_on(parent, net, x, scope.owner):
                continue
            if parent.kind == "loop" and scope.kind == "sub":
                # a subnetwork in a loop: this frame's layers of the loop (previous frames not offered)
                pass
            info = types.info(parent, x)
            if not info or info[0] not in kinds:
                continue
            if info[1] == time:
                out.append((f"base:{x}", info, "base"))
            elif scope.kind == "loop" and time is None and info[0] == "dense" and parent.kind == "root":
                out.append((f"base:{x}", info, "pool"))
    return [c for c in out if c[0] not in _sources(scope.layers[reader])]


def _prev_ok(scope: Scope, name: str, info: Info) -> bool:
    """``prev:`` of labels needs an explicit ``initial_output`` (RETURNN's rule for sparse data)."""
    return bool(info) and (info[0] != "labels" or "initial_output" in scope.layers[name])


def _where(scope: Scope, name: str) -> str:
    return f"{scope.path}{name}" if scope.path else name


# ----------------------------------------------------------------------------------------------------
# the edits: each works in place on ``net`` (of ``case``), returns a description or None


def edit_add(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """An existing layer becomes an extra source of a layer that learns its input size."""
    types = Types(case, net)
    shared = _shared_names(net)
    sites = [(s, k) for s in types.scopes for k in _layers(s.layers) if _learner(types, s, k, shared)]
    sites = [(s, k, c) for s, k in sites
             if (c := _candidates(types, s, k, types.info(s, k)[1], ("labels", "dense")))]
    if not sites:
        return None
    scope, reader, cands = rng.choice(sites)
    ref, info, how = rng.choice(cands)
    layers = scope.layers
    extra = ""
    if how == "pool":
        root = types.scopes[0].layers
        name = ref[len("base:"):]
        pooled = _fresh(root, f"{name}_time_mean")
        root[pooled] = {"class": "reduce", "mode": "mean", "axes": "T", "from": name}
        ref = f"base:{pooled}"
        extra = f" (a new root reduce {pooled}: mean of {name} over its time axis)"
    if info[0] == "labels" or rng.random() < 0.3:
        proj = _fresh(layers, f"{ref.replace(':', '_').replace('/', '_')}_proj")
        size = rng.choice([8, 16, 32])
        layers[proj] = {"class": "linear", "activation": rng.choice([None, "tanh"]), "from": ref, "n_out": size}
        _add_source(layers[reader], proj)
        return (f"add {ref!r}{extra} through a new linear {_where(scope, proj)} (n_out {size}) as a source "
                f"of {_where(scope, reader)}")
    _add_source(layers[reader], ref)
    return f"add {ref!r}{extra} as a source of {_where(scope, reader)}"


_LABEL_READERS = ("linear", "copy", "compare", "cast", "softmax", "rnn_cell")


def edit_swap(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """A source is replaced by another layer of the same kind of value and time axis."""
    types = Types(case, net)
    shared = _shared_names(net)
    sites = []
    for scope in types.scopes:
        for k in _layers(scope.layers):
            desc = scope.layers[k]
            if k in shared or desc.get("class") in ("choice",) or k == "end":
                continue
            for slot in _slots(desc, ("from",)):
                info = types.resolve(scope, _get(desc, slot))
                if not info:
                    continue
                if info[0] == "dense" and _learner(types, scope, k, shared) or info[0] == "labels" and desc.get("class") in _LABEL_READERS:
                    sites.append((scope, k, slot, info))
    sites = [(s, k, slot, info, c) for s, k, slot, info in sites
             if (c := [x for x in _candidates(types, s, k, info[1], (info[0],))
                       if x[2] != "pool" and x[0] != _get(s.layers[k], slot)])]
    if not sites:
        return None
    scope, reader, slot, info, cands = rng.choice(sites)
    old = _get(scope.layers[reader], slot)
    ref = rng.choice(cands)[0]
    _put(scope.layers[reader], slot, ref)
    return f"replace source {old!r} of {_where(scope, reader)} by {ref!r} ({info[0]})"


def edit_flip(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """In a loop, ``prev:X`` becomes ``X`` (no cycle) or ``X`` becomes ``prev:X``."""
    types = Types(case, net)
    sites = []
    for scope in types.scopes:
        if scope.kind != "loop":
            continue
        unit = scope.layers
        for k in _layers(unit):
            for slot in _slots(unit[k], _FLOW_KEYS):
                ref = _get(unit[k], slot)
                if ref.startswith("prev:"):
                    x = ref[len("prev:"):]
                    if x in unit and x != k and k not in _frame_ancestors(unit, x) | {x}:
                        sites.append((scope, k, slot, x))
                elif ref in unit and ref != k and (
                        "initial_output" in unit[ref] or (types.info(scope, ref) or ("?",))[0] == "dense"):
                    sites.append((scope, k, slot, f"prev:{ref}"))
    if not sites:
        return None
    scope, reader, slot, new_ref = rng.choice(sites)
    old = _get(scope.layers[reader], slot)
    _put(scope.layers[reader], slot, new_ref)
    return f"{_where(scope, reader)} reads {new_ref!r} instead of {old!r}"


def _nested_refs(desc: dict[str, Any]) -> list[str]:
    """References made from inside the nested subnetworks of a layer (as written there)."""
    out: list[str] = []
    sub = desc.get("subnetwork")
    if isinstance(sub, dict):
        for inner in sub.values():
            if isinstance(inner, dict):
                out += _refs(inner) + _nested_refs(inner)
    return out


def _move_out(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    types = Types(case, net)
    sites = []
    for scope in types.scopes:
        if scope.kind != "loop" or scope.parent is not types.scopes[0]:
            continue
        unit = scope.layers
        nested = [r for k in _layers(unit) for r in _nested_refs(unit[k])]
        for k in _layers(unit):
            desc = unit[k]
            refs = _refs({key: v for key, v in desc.items() if key != "initial_output"})
            if k in ("output", "end") or desc.get("class") in _FIXED or desc.get("class", "").startswith("choice"):
                continue
            if not refs or not all(r.startswith("base:") and not r.startswith("base:base:") for r in refs):
                continue
            if f"base:{k}" in nested or f"base:prev:{k}" in nested:
                continue
            sites.append((scope, k))
    if not sites:
        return None
    scope, name = rng.choice(sites)
    rec = scope.owner
    unit = scope.layers
    desc = unit.pop(name)
    root_name = _fresh(net, name)
    _map_refs(desc, lambda r: r.removeprefix("base:"))
    desc.pop("initial_output", None)
    for other in unit.values():
        if isinstance(other, dict):
            _map_refs(other, lambda r: f"base:{root_name}" if r in (name, f"prev:{name}") else r)
    for k in _layers(net):
        if k != rec:
            _map_refs(net[k], lambda r: root_name if r == f"{rec}/{name}" else r)
    net[root_name] = desc
    return f"move {rec}/{name} (reads no loop value) out of the loop to the root as {root_name!r}"


def _all_refs(net: dict[str, Any]) -> list[tuple[int, str]]:
    """(depth, reference) of every reference in the net, nested units and subnetworks included."""
    out: list[tuple[int, str]] = []

    def visit(layers: dict[str, Any], depth: int) -> None:
        for desc in layers.values():
            if not isinstance(desc, dict):
                continue
            out.extend((depth, r) for r in _refs(desc))
            for sub in ("unit", "subnetwork"):
                if isinstance(desc.get(sub), dict):
                    visit(desc[sub], depth + 1)

    visit(net, 0)
    return out


def _pinned(net: dict[str, Any], name: str) -> bool:
    """Whether ``name`` is read from where the reference rewrites do not reach (an eval string such as a
    loop's ``max_seq_len``)."""
    text = json.dumps(net)
    return any(f in text for f in (f"'{name}'", f"'base:{name}'", f"base:base:{name}", f"'base:base:{name}'"))


def _move_in(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    types = Types(case, net)
    sites = []
    refs = _all_refs(net)
    for scope in types.scopes:
        if scope.kind != "loop" or scope.parent is not types.scopes[0]:
            continue
        rec = scope.owner
        unit = scope.layers
        direct = {r[len("base:"):] for k in _layers(unit) for r in _refs(unit[k]) if r.startswith("base:")}
        for name in sorted(direct):
            desc = net.get(name)
            if not isinstance(desc, dict) or name in unit or name == rec or desc.get("class") in _FIXED:
                continue
            if desc.get("class", "").startswith("choice") or desc.get("is_output_layer") or "loss" in desc:
                continue
            if rec in _root_ancestors(net, name) or _pinned(net, name):
                continue
            # read nowhere else: only as base:NAME directly in this loop's unit
            users = [(d, r) for d, r in refs if r == name or r.startswith((f"{name}/", f"base:{name}",
                                                                           f"base:base:{name}"))
                     or r == f"base:{name}" or r.endswith(f":{name}")]
            unit_uses = sum(1 for k in _layers(unit) for r in _refs(unit[k]) if r == f"base:{name}")
            if len(users) != unit_uses:
                continue
            sites.append((scope, name))
    if not sites:
        return None
    scope, name = rng.choice(sites)
    unit = scope.layers
    if name in unit:
        return None
    desc = net.pop(name)

    def to_base(ref: str) -> str:
        if ref == "data" or ref.startswith("data:") or _head(ref) in net:
            return f"base:{ref}"
        return ref

    _map_refs(desc, to_base)
    for inner in unit.values():
        if isinstance(inner, dict):
            _map_refs(inner, lambda r: name if r == f"base:{name}" else r)
    unit[name] = desc
    return f"move root layer {name!r} (read only by the loop {scope.owner}) into that loop"


def edit_relocate(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """Move a loop layer reading no loop value to the root, or a root layer only a loop reads into it."""
    first, second = (_move_out, _move_in) if rng.random() < 0.5 else (_move_in, _move_out)
    return first(case, net, rng) or second(case, net, rng)


def _to_outer(ref: str, scope: Scope, local: set[str]) -> str:
    """A reference of ``scope`` seen from inside a new subnetwork of it (``local``: the subnetwork's layers)."""
    if ref in local:
        return ref
    if ref.startswith(("base:", "prev:", ":")):
        return f"base:{ref}"
    if ref == "data" or ref.startswith("data:"):
        return f"base:{ref}"
    if _head(ref) is not None and _head(ref) in scope.layers:
        return f"base:{ref}"
    return ref


def _reads_of(scope: Scope, name: str, net: dict[str, Any]) -> list[str]:
    """Every reference anywhere in the net to ``name`` of ``scope`` (roughly, by its written forms)."""
    forms = {name, f"prev:{name}"} if scope.kind != "root" else {name}
    if scope.kind == "loop":
        forms |= {f"base:{name}", f"base:prev:{name}"}
    out = []
    for _, r in _all_refs(net):
        if r in forms or r.startswith(f"{name}/") or r.endswith((f"/{name}", f":{name}")):
            out.append(r)
    return out


def edit_wrap(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """A layer, or two chained layers, become a ``subnetwork`` at the last one's place."""
    types = Types(case, net)
    sites = []
    for scope in types.scopes:
        layers = scope.layers
        for b in _layers(layers):
            desc = layers[b]
            if b == "end" or desc.get("class") in _FIXED or desc.get("class", "").startswith("choice"):
                continue
            if not _refs(desc):
                continue
            sites.append((scope, None, b))
            for a in sorted({_head(r) for r in _sources(desc)} - {None}):
                if a == b or a not in layers or a == "end":
                    continue
                adesc = layers[a]
                if adesc.get("class") in _FIXED or adesc.get("class", "").startswith("choice"):
                    continue
                if adesc.get("is_output_layer") or "loss" in adesc:
                    continue
                readers = [k for k in _layers(layers) if k != a and any(
                    r == a or r == f"prev:{a}" or _head(r) == a for r in _refs(layers[k]))]
                if readers != [b] or any(r != a for r in _refs(desc) if _head(r) == a):
                    continue
                # only b reads a, and nothing from elsewhere (REC/a, base:a in nested nets)
                if len(_reads_of(scope, a, net)) != sum(1 for r in _refs(desc) if r == a) or _pinned(net, a):
                    continue
                sites.append((scope, a, b))
    if not sites:
        return None
    scope, a, b = rng.choice(sites)
    layers = scope.layers
    outer_keys = ("is_output_layer", "initial_output", "loss", "loss_opts", "loss_scale", "target")
    local = {a} if a else set()
    inner_b = {k: v for k, v in layers[b].items() if k not in outer_keys}
    target = layers[b].get("target")
    if isinstance(target, str) and "n_out" not in inner_b and "out_type" not in inner_b:
        dim = _target_dim(case, target.removeprefix("data:"))
        if dim is None:
            inner_b["target"] = target
        else:
            inner_b["n_out"] = dim
    _map_refs(inner_b, lambda r: _to_outer(r, scope, local))
    sub: dict[str, Any] = {}
    if a:
        inner_a = {k: v for k, v in layers.pop(a).items() if k not in outer_keys}
        _map_refs(inner_a, lambda r: _to_outer(r, scope, set()))
        sub[a] = inner_a
    sub["output"] = inner_b
    outer: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": sub}
    for key in outer_keys:
        if key in layers[b] and (key != "target" or "loss" in layers[b]):
            outer[key] = layers[b][key]
    layers[b] = outer
    what = f"{_where(scope, a)} -> {_where(scope, b)}" if a else _where(scope, b)
    return f"wrap {what} into a subnetwork at {_where(scope, b)} (its output the last inner layer)"


def edit_dup(case: Case, net: dict[str, Any], rng: random.Random) -> str | None:
    """A layer is duplicated under a new name; some of its readers read the copy."""
    types = Types(case, net)
    sites = []
    for scope in types.scopes:
        layers = scope.layers
        for x in _layers(layers):
            desc = layers[x]
            if x in ("end",) or desc.get("class") in ("choice", "rec", "variable", "decide_keep_beam"):
                continue
            if desc.get("class", "").startswith("choice"):
                continue
            forms = [x, f"prev:{x}"] if scope.kind == "loop" else [x]
            readers = [(k, f) for k in _layers(layers) if k != x for f in forms
                       if f in _refs(layers[k])]
            if readers:
                sites.append((scope, x, readers))
    if not sites:
        return None
    scope, x, readers = rng.choice(sites)
    layers = scope.layers
    twin = _fresh(layers, f"{x}_copy")
    desc = copy.deepcopy(layers[x])
    for key in ("is_output_layer", "loss", "loss_opts", "loss_scale"):
        desc.pop(key, None)
    layers[twin] = desc
    n = rng.randint(1, len(readers))
    chosen = sorted(rng.sample(readers, n))
    for k, form in chosen:
        new_form = twin if form == x else f"prev:{twin}"
        _map_refs(layers[k], lambda r, form=form, new_form=new_form: new_form if r == form else r)
    names = ", ".join(f"{_where(scope, k)} ({form})" for k, form in chosen)
    return (f"duplicate {_where(scope, x)} as {_where(scope, twin)}; "
            f"{len(chosen)} of {len(readers)} reader(s) read the copy: {names}")


Edit = Callable[[Case, dict[str, Any], random.Random], "str | None"]

#: the pool the later edits of every mutant are drawn from, with their weights
POOL: tuple[tuple[Edit, float], ...] = (
    (edit_add, 3.0),
    (edit_swap, 3.0),
    (edit_flip, 2.0),
    (edit_relocate, 1.5),
    (edit_wrap, 1.5),
    (edit_dup, 1.5),
)


def _try(edit: Edit, case: Case, rng: random.Random, seen: set[str]) -> str | None:
    """Apply ``edit`` to ``case``'s network in place, undone when it does not apply, makes a cycle or
    gives back a network seen before (an edit undoing an earlier one)."""
    saved = copy.deepcopy(case["network"])
    try:
        desc = edit(case, case["network"], rng)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        desc = None
    key = json.dumps(case["network"], sort_keys=True)
    if desc is None or key in seen or has_cycle(case["network"]):
        case["network"] = saved
        return None
    seen.add(key)
    return desc


def _compound(case: Case, rng: random.Random, first: list[Edit]) -> Result:
    new, _ = _copy(case)
    total = rng.choice([2, 2, 3, 3, 4])
    first_edit = rng.choice(first)
    seen = {json.dumps(new["network"], sort_keys=True)}
    desc = _try(first_edit, new, rng, seen)
    if desc is None:
        return None
    done = [desc]
    edits, weights = zip(*POOL)
    tries = 0
    while len(done) < total and tries < 12:
        tries += 1
        edit = rng.choices(edits, weights)[0]
        got = _try(edit, new, rng, seen)
        if got is not None:
            done.append(got)
    if len(done) < 2:
        return None
    text = "; ".join(f"({i + 1}) {d}" for i, d in enumerate(done))
    return new, f"{len(done)} edits: {text}"


def op_mix_add_input(case: Case, rng: random.Random) -> Result:
    """First an extra source, then 1 to 3 edits from the pool."""
    return _compound(case, rng, [edit_add])


def op_mix_swap_input(case: Case, rng: random.Random) -> Result:
    """First a same-kind source replacement, then 1 to 3 edits from the pool."""
    return _compound(case, rng, [edit_swap])


def op_mix_prev_toggle(case: Case, rng: random.Random) -> Result:
    """First a ``prev:X`` <-> ``X`` flip in a loop, then 1 to 3 edits from the pool."""
    return _compound(case, rng, [edit_flip])


def op_mix_relocate(case: Case, rng: random.Random) -> Result:
    """First a move out of or into a loop, then 1 to 3 edits from the pool."""
    return _compound(case, rng, [edit_relocate])


def op_mix_regroup(case: Case, rng: random.Random) -> Result:
    """First a subnetwork wrap or a duplicate, then 1 to 3 edits from the pool."""
    return _compound(case, rng, [edit_wrap, edit_dup])


FRESH68_OPERATORS: tuple[Op, ...] = (
    Op("mix-add-input", op_mix_add_input, 2),
    Op("mix-swap-input", op_mix_swap_input, 1.2),
    Op("mix-prev-toggle", op_mix_prev_toggle, 1),
    Op("mix-relocate", op_mix_relocate, 1),
    Op("mix-regroup", op_mix_regroup, 1),
)
