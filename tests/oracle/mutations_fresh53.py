"""A fifty-fifth set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Compositions: each operator applies a sequence of two or three EARLIER operators (of ``mutations.OPERATORS``
and the sets ``mutations_fresh.py`` to ``mutations_fresh51.py``, a fixed pool) to one base, each on the
previous one's result, the operators drawn with ``rng`` from different earlier modules, so that edits of
different areas meet in one network. No new edit is written here; what is new is how the edits interact.
A step that finds no site (or leaves the network as it was, or makes a dependency cycle) is drawn again,
a bounded number of times; the operator gives None when a step never finds one. The description names the
composed operators and their modules (``wrap-cond [fresh2], then decide [classic]: ...``):

* ``three-areas``: three operators drawn from three different earlier modules (a module drawn uniformly,
  an operator of it by its weight), applied one after the other;
* ``loop-then-reader``: an edit that adds a layer to a searching decoder's loop, then an edit of another
  module whose description names a layer the first one added (the second edit reads, wraps, moves,
  renames or marks what the first edit made; the root reading it is preferred when a draw gives one);
* ``same-twice``: one earlier operator applied twice, the second time at another site (its description
  differs, and the layers it changes are not only those the first time changed or added): the same user
  edit made in two places of one network;
* ``encoder-then-decoder``: an edit that changes only root layers outside the searching decoders, one of
  them a layer the decoder reads (the encoder), then an edit of another module that changes a searching
  decoder (its unit or its options);
* ``then-rename``: any earlier edit, then a rename- or retarget-style generic operator of another module
  (``target``, ``rename-key``, ``rename-odd``, ``layer-target``, ``target-list``, ``target-for-dim``):
  the names and targets the first edit relied on change under it.
"""

from __future__ import annotations

import importlib
import json
import random
import re
from typing import Any

from .mutations import (
    OPERATORS,
    Case,
    Op,
    _copy,
    _root_ancestors,
    _searching_recs,
    has_cycle,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH53_SEED = 20270115
N_FRESH53 = 80

Result = "tuple[Case, str] | None"

#: The earlier modules composed here (a fixed pool: later sets do not join it).
_FRESH_SUFFIXES = ("", *(str(i) for i in range(2, 52)))


def _pool() -> list[tuple[str, tuple[Op, ...]]]:
    out: list[tuple[str, tuple[Op, ...]]] = [("classic", OPERATORS)]
    for suffix in _FRESH_SUFFIXES:
        mod = importlib.import_module(f"{__package__}.mutations_fresh{suffix}")
        out.append((f"fresh{suffix}", getattr(mod, f"FRESH{suffix}_OPERATORS")))
    return out


_POOL = _pool()
_MODULES = [m for m, _ in _POOL]
_OPS = dict(_POOL)

#: Rename- and retarget-style generic operators (module, operator name) for ``then-rename``.
_RENAMERS = (("classic", "target"), ("fresh5", "rename-key"), ("fresh9", "rename-odd"),
             ("fresh7", "layer-target"), ("fresh45", "target-list"), ("fresh48", "target-for-dim"))

#: How often a step is drawn again when it finds no site.
_TRIES = 10

Step = "tuple[Case, str, str, Op] | None"


def _key(case: Case) -> str:
    return json.dumps(case["network"], sort_keys=True)


def _run(case: Case, op: Op, rng: random.Random) -> tuple[Case, str] | None:
    """One earlier operator on ``case``; None when it finds no site, leaves the network as it was or
    makes a cycle."""
    try:
        res = op.fn(case, rng)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # an edit on an edited net
        return None
    if res is None:
        return None
    new, desc = res
    if _key(new) == _key(case) or has_cycle(new["network"]):
        return None
    return new, desc


def _draw_op(module: str, rng: random.Random) -> Op:
    ops = _OPS[module]
    return rng.choices(ops, [op.weight for op in ops])[0]


def _step(case: Case, rng: random.Random, exclude: set[str], accept: Any = None) -> Step:
    """An operator of a module not in ``exclude`` that applies to ``case`` (and that ``accept(new,
    desc)`` takes, when given), drawn at most ``_TRIES`` times: (new case, description, module, op)."""
    modules = [m for m in _MODULES if m not in exclude]
    for _ in range(_TRIES):
        module = rng.choice(modules)
        op = _draw_op(module, rng)
        res = _run(case, op, rng)
        if res is None:
            continue
        new, desc = res
        if accept is not None and not accept(new, desc):
            continue
        return new, desc, module, op
    return None


def _search(case: Case, rng: random.Random, exclude: set[str], accept: Any, limit: int = 0) -> Step:
    """Like ``_step``, for an ``accept`` few operators meet: the operators of the modules not in
    ``exclude`` in an order shuffled with ``rng``, the first that applies and is accepted (at most
    ``limit`` of them tried, all when 0)."""
    cands = [(m, op) for m in _MODULES if m not in exclude for op in _OPS[m]]
    rng.shuffle(cands)
    for module, op in cands[:limit or len(cands)]:
        res = _run(case, op, rng)
        if res is not None and accept(*res):
            return res[0], res[1], module, op
    return None


def _describe(steps: list[tuple[str, str, str]]) -> str:
    """``steps``: (module, operator name, description)."""
    head = ", then ".join(f"{name} [{module}]" for module, name, _ in steps)
    return f"{head}: " + "; then ".join(desc for _, _, desc in steps)


def _flat(net: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Every layer of the root (a rec without its unit) and of the root recs' units, as JSON."""
    out: dict[tuple[str, str], str] = {}
    for name, desc in net.items():
        if not isinstance(desc, dict):
            continue
        if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
            out[("", name)] = json.dumps({k: v for k, v in desc.items() if k != "unit"}, sort_keys=True)
            for inner, idesc in desc["unit"].items():
                out[(name, inner)] = json.dumps(idesc, sort_keys=True)
        else:
            out[("", name)] = json.dumps(desc, sort_keys=True)
    return out


def _changed(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str]]:
    """(scope, layer) pairs added, removed or changed (scope "" the root, else the rec's name)."""
    a, b = _flat(old), _flat(new)
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def _names(desc: str, names: set[str]) -> list[str]:
    """The layer ``names`` that ``desc`` names (as a whole name, not part of a longer one)."""
    return sorted(n for n in names if re.search(rf"(?<![\w.\-]){re.escape(n)}(?![\w.\-])", desc))


def op_three_areas(case: Case, rng: random.Random) -> Result:
    """Three earlier operators from three different modules, one after the other."""
    cur, used, steps = case, set(), []
    for _ in range(3):
        got = _step(cur, rng, used)
        if got is None:
            return None
        cur, desc, module, op = got
        used.add(module)
        steps.append((module, op.name, desc))
    new, _ = _copy(cur)
    return new, _describe(steps)


def op_loop_then_reader(case: Case, rng: random.Random) -> Result:
    """An edit that adds a loop layer, then one of another module whose description names it."""
    base = case["network"]

    def adds_loop_layer(new: Case, desc: str) -> bool:
        return bool(_added_loop(base, new["network"]))

    first = _step(case, rng, set(), adds_loop_layer)
    if first is None:
        return None
    mid, desc1, mod1, op1 = first
    added = _added_loop(base, mid["network"])
    names = {n for _, n in added}

    def reads_added(new: Case, desc: str) -> bool:
        return bool(_names(desc, names))

    found: list[tuple[Case, str, str, Op]] = []
    for _ in range(2):
        got = _search(mid, rng, {mod1}, reads_added, 60)
        if got is None:
            break
        found.append(got)
        if any(scope == "" for scope, _ in _changed(mid["network"], got[0]["network"])):
            break
    if not found:
        return None
    at_root = [f for f in found if any(s == "" for s, _ in _changed(mid["network"], f[0]["network"]))]
    end, desc2, mod2, op2 = (at_root or found)[0]
    new, _ = _copy(end)
    made = ", ".join(f"{rec}/{n}" for rec, n in sorted(added) if n in _names(desc2, names))
    return new, _describe([(mod1, op1.name, desc1), (mod2, op2.name, desc2)]) + f" (reads {made})"


def _added_loop(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, layer) of the layers that are new in a searching rec's unit of ``new``."""
    out = []
    for rec in _searching_recs(new):
        before = old.get(rec, {}).get("unit") if isinstance(old.get(rec), dict) else None
        before = before if isinstance(before, dict) else {}
        out += [(rec, n) for n in sorted(new[rec]["unit"]) if n not in before
                and isinstance(new[rec]["unit"][n], dict)]
    return out


def op_same_twice(case: Case, rng: random.Random) -> Result:
    """One earlier operator applied twice, at two different sites."""
    for _ in range(_TRIES):
        module = rng.choice(_MODULES)
        op = _draw_op(module, rng)
        first = _run(case, op, rng)
        if first is None:
            continue
        mid, desc1 = first
        touched = _changed(case["network"], mid["network"])
        for _ in range(4):
            second = _run(mid, op, rng)
            if second is None or second[1] == desc1:
                continue
            before = _flat(mid["network"])
            sites = {k for k in _changed(mid["network"], second[0]["network"]) if k in before}
            if sites and sites <= touched:  # the first edit's site (or what it made) again
                continue
            new, _ = _copy(second[0])
            return new, _describe([(module, op.name, desc1), (module, op.name, second[1])])
    return None


def _encoder(net: dict[str, Any]) -> set[str]:
    """Root layers a searching decoder reads (transitively)."""
    out: set[str] = set()
    for rec in _searching_recs(net):
        out |= _root_ancestors(net, rec)
    return out


def op_encoder_then_decoder(case: Case, rng: random.Random) -> Result:
    """An edit of the encoder only, then one of another module that changes a searching decoder."""
    base = case["network"]
    recs = set(_searching_recs(base))
    enc = _encoder(base)
    if not recs or not enc:
        return None

    def encoder_only(new: Case, desc: str) -> bool:
        changed = _changed(base, new["network"])
        if any(scope in recs or (scope == "" and name in recs) for scope, name in changed):
            return False
        return any(scope == "" and name in enc for scope, name in changed)

    first = _search(case, rng, set(), encoder_only)
    if first is None:
        return None
    mid, desc1, mod1, op1 = first
    recs2 = set(_searching_recs(mid["network"]))

    def decoder(new: Case, desc: str) -> bool:
        return any(scope in recs2 or (scope == "" and name in recs2)
                   for scope, name in _changed(mid["network"], new["network"]))

    second = _step(mid, rng, {mod1}, decoder)
    if second is None:
        return None
    end, desc2, mod2, op2 = second
    new, _ = _copy(end)
    return new, _describe([(mod1, op1.name, desc1), (mod2, op2.name, desc2)])


def op_then_rename(case: Case, rng: random.Random) -> Result:
    """Any earlier edit, then a rename- / retarget-style operator of another module."""
    first = _step(case, rng, set())
    if first is None:
        return None
    mid, desc1, mod1, op1 = first
    renamers = [(m, n) for m, n in _RENAMERS if m != mod1]
    for _ in range(_TRIES):
        module, name = rng.choice(renamers)
        op = next(o for o in _OPS[module] if o.name == name)
        second = _run(mid, op, rng)
        if second is None:
            continue
        end, desc2 = second
        new, _ = _copy(end)
        return new, _describe([(mod1, op1.name, desc1), (module, op.name, desc2)])
    return None


FRESH53_OPERATORS: tuple[Op, ...] = (
    Op("three-areas", op_three_areas, 1),
    Op("loop-then-reader", op_loop_then_reader, 1),
    Op("same-twice", op_same_twice, 1),
    Op("encoder-then-decoder", op_encoder_then_decoder, 1),
    Op("then-rename", op_then_rename, 1),
)
