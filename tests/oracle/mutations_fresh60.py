"""A sixty-second set of edit operators (issue 15, fourteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Code motion between scopes, as a user does while refactoring a decoder: layers (or whole chains of them)
moved between a searching decoder's loop, the root, subnetworks of either, and the part of the network
after the loop, with the references fixed as a user fixes them (or, now and then, as a careless user
forgets to); the moved layers keep their names (none a variant of an earlier operator; no rule was written
for any of them):

* ``hoist-invariant``: a loop-invariant layer of a decoder loop (it reads only root layers through
  ``base:`` and other invariant loop layers, no ``prev:``, no ``:i``, no ``data:``, no choice, no cell) is
  hoisted to the root together with every invariant loop layer it reads (its whole invariant chain), the
  chain's references made root references; the loop's readers read it through ``base:``, or the loop
  keeps a ``copy`` under the old name reading ``base:`` of the hoisted layer, or (careless, 0.15) the
  readers of the top layer keep reading the bare name, as if it were still in the loop; root readers of
  ``REC/X`` read the root layer; or, for a loop iterating over an input (its ``from`` one layer or data
  key) whose frame (``data:source``) only one loop layer reads, that per-frame layer is hoisted to the
  root over the loop's input and the loop iterates over it instead (the loop keeps a ``copy`` of its
  frame under the old name, or its readers read ``data:source``);
* ``sink-chain``: a root layer the decoder loop reads through ``base:`` is sunk into the loop and computed
  per frame, alone or with the root layers only it (and the chain) reads (its exclusive ancestor chain):
  root references become ``base:`` ones, the loop reads the local layers; other root readers of the top
  layer read it by its loop path ``REC/X`` (its value stacked over the decoder frames) or (careless, 0.15)
  keep the bare name; other loops read ``base:REC/X``;
* ``dup-scopes``: a layer computed in both scopes: a root layer the loop reads through ``base:`` is also
  computed in the loop under its name (all, or some, of the loop's readers read the loop's copy, the
  root keeps it); or a loop layer (no cell, no choice, no ``:i`` / ``data:`` input) is recomputed after
  the loop at the root as an output layer over the decoder's accumulated layers (``X`` and ``prev:X``
  become ``REC/X``, the choice the decoder ``REC`` itself, ``base:Y`` the root ``Y``), or (careless,
  0.15) over the bare loop names;
* ``post-loop-move``: a computation after the loop moves into it or out of it: a root reader of a
  searching decoder (a ``linear``, ``copy``, ``activation``, ``softmax``, ``combine``, ``eval``, ``cast``,
  ``compare`` or ``decide`` over ``REC`` or ``REC/X``) becomes an extra layer of the loop over the frame's
  choice (or ``X``), its other inputs read through ``base:``, marked ``is_output_layer`` (0.7) or not;
  its root readers read ``REC/R`` (or, careless 0.15, the bare name); a root output layer that moved in
  is replaced by a root ``copy`` of ``REC/R`` under its name, marked an output; or a loop layer no frame
  layer reads (a side output) moves after the loop, over ``REC/X`` (``REC`` for the choice);
* ``into-block``: a chain of two to four layers (each reading the one before) is grouped into one
  ``subnetwork`` named after its last layer (which becomes the subnetwork's ``output``), in a decoder
  loop (references out of the block: ``base:X``, ``base:prev:X``, ``base:base:Y``, ``base:data:K``) or at
  the root (``base:Y``, ``base:data``); readers of an inner layer read it by its path (``BLOCK/M``,
  ``base:BLOCK/M`` from a loop, ``REC/BLOCK/M`` from the root), or (careless, 0.15) keep the bare name.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _deps,
    _fresh,
    _head,
    _inner_nets,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH60_SEED = 20270122
N_FRESH60 = 80

Result = "tuple[Case, str] | None"

#: Layer classes that hold state across frames, choose, or nest networks: never moved between scopes.
STATEFUL = ("choice", "rec", "rnn_cell", "cum_concat", "self_attention", "subnetwork", "masked_computation",
            "decide", "choice_get_beam_scores", "get_last_hidden_state", "window", "cumsum", "unmask")
CARELESS = 0.15


def _split(ref: str) -> tuple[str, str]:
    """``X/rest`` -> (``X``, ``/rest``)."""
    head, sep, rest = ref.partition("/")
    return head, sep + rest


def _map_all(layers: dict[str, Any], fn: Callable[[str], str], skip: tuple[str, ...] = ()) -> None:
    for k in _layers(layers):
        if k not in skip:
            _map_refs(layers[k], fn)


def _nested_reads(layers: dict[str, Any]) -> set[str]:
    """Layers of ``layers`` read from inside a nested (sub)network of one of them (``base:X`` there)."""
    out: set[str] = set()
    for k in _layers(layers):
        direct = set(_refs(layers[k]))
        for d in _deps(layers[k]):
            if d not in direct:
                out.add(_split(d)[0])
    return out


def _pinned(net: dict[str, Any]) -> set[str]:
    """Root layers named inside an eval string (``max_seq_len``) or two levels down."""
    text = json.dumps(net)
    return {k for k in _layers(net) if f"'base:{k}'" in text or f"base:base:{k}" in text
            or f"'{k}'" in text}


def _invariant(unit: dict[str, Any]) -> set[str]:
    """Loop layers whose value is the same in every frame (see ``hoist-invariant``)."""
    nested = _nested_reads(unit)
    cands = {k for k in _layers(unit) if k not in ("output", "end") and k not in nested
             and unit[k].get("class") not in STATEFUL and not _inner_nets(unit[k])}
    changed = True
    inv: set[str] = set()
    while changed:
        changed = False
        for k in sorted(cands - inv):
            ok = True
            for r in _refs(unit[k]):
                if r.startswith("base:") and not r.startswith("base:prev:"):
                    continue
                if r in ("zeros", "ones") and r not in unit:
                    continue
                if _head(r) in inv and r == _head(r):
                    continue
                ok = False
                break
            if ok:
                inv.add(k)
                changed = True
    return inv


def op_hoist_invariant(case: Case, rng: random.Random) -> Result:
    """Hoist a loop-invariant loop layer (with its invariant chain) to the root."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        inv = _invariant(unit)
        for k in sorted(inv):
            if _readers(unit, k) and any(r.startswith("base:") for r in _refs(unit[k])):
                sites.append((rec, k))
    frame_sites = []
    for rec in _recs(net):
        src = net[rec].get("from")
        unit = net[rec]["unit"]
        if isinstance(src, list) and len(src) == 1:
            src = src[0]
        if not isinstance(src, str) or not (src in net or src == "data" or src.startswith("data:")):
            continue
        users = [k for k in _layers(unit) if any(r in ("data:source", "data") for r in _refs(unit[k]))]
        for k in users:
            d = unit[k]
            if (len(users) == 1 and k not in ("output", "end") and d.get("class") not in STATEFUL
                    and not _inner_nets(d) and k not in _nested_reads(unit)
                    and all(r in ("data:source", "data") or (r.startswith("base:") and "prev:" not in r)
                            for r in _refs(d))):
                frame_sites.append((rec, k))
    if frame_sites and (not sites or rng.random() < 0.5):
        rec, k = rng.choice(frame_sites)
        unit = net[rec]["unit"]
        src = net[rec]["from"]
        src = src[0] if isinstance(src, list) else src
        name = _fresh(net, k)
        desc = unit[k]
        _map_refs(desc, lambda ref: src if ref in ("data:source", "data") else
                  ref.removeprefix("base:"))
        desc.pop("initial_output", None)
        net[name] = desc
        net[rec]["from"] = name
        if rng.random() < 0.5:
            unit[k] = {"class": "copy", "from": "data:source"}
            how = f"the loop keeps {rec}/{k} as a copy of its frame (data:source)"
        else:
            del unit[k]
            _map_all(unit, lambda ref: "data:source" if ref == k else ref)
            how = "its loop readers read the frame (data:source)"
        return new, (f"hoist the per-frame {rec}/{k} (over the loop's input frame) to the root as {name!r} "
                     f"over {src!r}; the loop {rec} iterates over {name!r}, {how}")
    if not sites:
        return None
    rec, top = rng.choice(sites)
    unit = net[rec]["unit"]
    chain = {top}
    stack = [top]
    while stack:
        for r in _refs(unit[stack.pop()]):
            h = _head(r)
            if h in unit and h not in chain:
                chain.add(h)
                stack.append(h)
    order = sorted(chain)
    taken = set(net)
    names: dict[str, str] = {}
    for k in order:
        names[k] = _fresh(taken, k)
        taken.add(names[k])
    kind = rng.choices(["base", "copy", "bare"], [0.55, 0.3, CARELESS])[0]
    readers = [k for k in _readers(unit, top) if k not in chain]
    for k in order:
        desc = unit.pop(k)

        def outward(ref: str) -> str:
            if ref.startswith("base:"):
                return ref[len("base:"):]
            h, rest = _split(ref)
            return names[h] + rest if h in names and ":" not in ref else ref

        _map_refs(desc, outward)
        desc.pop("initial_output", None)
        net[names[k]] = desc

    def inward(ref: str) -> str:
        plain = ref.removeprefix("prev:")
        h, rest = _split(plain)
        return f"base:{names[h]}{rest}" if h in names and ":" not in plain else ref

    how = "its loop readers read it through base:"
    if kind == "copy":
        unit[top] = {"class": "copy", "from": f"base:{names[top]}"}
        _map_all(unit, inward, skip=(top,))
        how = f"the loop keeps a copy {rec}/{top} of base:{names[top]}"
    elif kind == "bare":
        _map_all(unit, inward, skip=tuple(readers))
        for k in readers:
            _map_refs(unit[k], lambda ref: ref if ref != top else names[top])
            _map_refs(unit[k], lambda ref: inward(ref) if _split(ref)[0] != names[top] else ref)
        how = f"its loop readers ({', '.join(readers)}) still read the bare name {names[top]!r}"
    else:
        _map_all(unit, inward)
    for k in _layers(net):
        if k != rec:
            _map_refs(net[k], lambda ref: names[ref.split("/", 1)[1]]
                      if ref.startswith(f"{rec}/") and ref.split("/", 1)[1] in names else ref)
    chain_txt = "" if len(order) == 1 else f" with its invariant chain ({', '.join(k for k in order if k != top)})"
    return new, f"hoist the loop-invariant {rec}/{top}{chain_txt} to the root as {names[top]!r}; {how}"


def op_sink_chain(case: Case, rng: random.Random) -> Result:
    """Sink a root layer the loop reads (maybe with its exclusive ancestors) into the loop."""
    new, net = _copy(case)
    pinned = _pinned(net)
    nested = _nested_reads(net)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        after = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
        read = {_split(r[len("base:"):])[0] for k in _layers(unit) for r in _refs(unit[k])
                if r.startswith("base:") and not r.startswith("base:data")}
        for x in sorted(read):
            if (x in net and x != rec and x not in after and x not in pinned and x not in nested
                    and net[x].get("class") not in STATEFUL and not _inner_nets(net[x])):
                sites.append((rec, x))
    if not sites:
        return None
    rec, top = rng.choice(sites)
    unit = net[rec]["unit"]
    after = {k for k in _layers(net) if rec in _root_ancestors(net, k)}

    def root_readers(name: str) -> list[str]:
        return [k for k in _layers(net) if k != name and k != rec
                and any(_split(r)[0] == name and ":" not in r for r in _refs(net[k]))]

    chain = [top]
    if rng.random() < 0.6:
        grew = True
        while grew:
            grew = False
            for c in list(chain):
                for r in _refs(net[c]):
                    a = _head(r)
                    if (a in net and a not in chain and a != rec and a not in after and a not in pinned
                            and a not in nested and net[a].get("class") not in STATEFUL
                            and not _inner_nets(net[a])
                            and all(k in chain for k in root_readers(a))
                            and not any(r2 == f"base:{a}" or r2.startswith(f"base:{a}/")
                                        for o in _recs(net) if o != rec
                                        for d in net[o]["unit"].values() if isinstance(d, dict)
                                        for r2 in _refs(d))):
                        chain.append(a)
                        grew = True
    outside = [k for k in root_readers(top) if k not in chain]
    taken = set(unit)
    names: dict[str, str] = {}
    for c in sorted(chain):
        names[c] = _fresh(taken, c)
        taken.add(names[c])
    for c in sorted(chain):
        desc = net.pop(c)

        def to_loop(ref: str) -> str:
            h, rest = _split(ref)
            if ":" in ref:
                return f"base:{ref}" if ref.startswith("data:") else ref
            if h in names:
                return names[h] + rest
            if h in net or h == "data":
                return f"base:{ref}"
            return ref

        _map_refs(desc, to_loop)
        unit[names[c]] = desc

    def local(ref: str) -> str:
        if ref.startswith("base:"):
            h, rest = _split(ref[len("base:"):])
            if h in names and ":" not in h:
                return names[h] + rest
        return ref

    _map_all(unit, local, skip=tuple(names.values()))
    for o in _recs(net):
        if o != rec:
            _map_all(net[o]["unit"], lambda ref: f"base:{rec}/{names[top]}" if ref == f"base:{top}" else ref)
    how = ""
    if outside:
        if rng.random() < CARELESS:
            how = f"; its root readers ({', '.join(outside)}) still read the bare name {top!r}"
        else:
            for k in outside:
                _map_refs(net[k], lambda ref: f"{rec}/{names[top]}" if ref == top else ref)
            how = f"; its root readers ({', '.join(outside)}) read {rec}/{names[top]}"
    chain_txt = "" if len(chain) == 1 else f" with the root layers only it reads ({', '.join(chain[1:])})"
    return new, f"sink root layer {top!r}{chain_txt} into the loop {rec}, computed per frame{how}"


def op_dup_scopes(case: Case, rng: random.Random) -> Result:
    """Compute a layer in both scopes: a root layer also in the loop, or a loop layer also after it."""
    new, net = _copy(case)
    pinned = _pinned(net)
    down, up = [], []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        after = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
        read = {r[len("base:"):] for k in _layers(unit) for r in _refs(unit[k])
                if r.startswith("base:") and not r.startswith("base:data")}
        for x in sorted(read):
            if (x in net and x != rec and x not in after and x not in pinned
                    and net[x].get("class") not in STATEFUL and not _inner_nets(net[x])):
                down.append((rec, x))
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        choices = set(_unit_choices(unit))
        for k in _layers(unit):
            desc = unit[k]
            refs = _refs(desc)
            if (k == "end" or desc.get("class") in STATEFUL or _inner_nets(desc)
                    or any(r.startswith((":", "data", "base:prev:")) or r == "data" for r in refs)):
                continue
            if not any(_head(r) in unit or r.startswith("prev:") for r in refs):
                continue
            up.append((rec, k, choices))
    pool = []
    if down:
        pool.append("down")
    if up:
        pool.append("up")
    if not pool:
        return None
    if rng.choice(pool) == "down":
        rec, x = rng.choice(down)
        unit = net[rec]["unit"]
        name = _fresh(unit, x)
        desc = json.loads(json.dumps(net[x]))

        def to_loop(ref: str) -> str:
            h, _ = _split(ref)
            if ref.startswith("data:"):
                return f"base:{ref}"
            if ":" not in ref and (h in net or h == "data"):
                return f"base:{ref}"
            return ref

        _map_refs(desc, to_loop)
        desc.pop("is_output_layer", None)
        unit[name] = desc
        readers = [k for k in _readers(unit, f"base:{x}", f"base:{x}") if k != name]
        if len(readers) > 1 and rng.random() < 0.4:
            readers = sorted(rng.sample(readers, len(readers) - 1))
        for k in readers:
            _map_refs(unit[k], lambda ref: name if ref == f"base:{x}" else ref)
        return new, (f"root layer {x!r} also computed in the loop {rec} as {rec}/{name}; "
                     f"{', '.join(readers)} read the loop's copy, the root keeps its own")
    rec, k, choices = rng.choice(up)
    unit = net[rec]["unit"]
    name = _fresh(net, k)
    desc = json.loads(json.dumps(unit[k]))
    careless = rng.random() < CARELESS

    def outward(ref: str) -> str:
        if ref.startswith("base:"):
            return ref[len("base:"):]
        plain = ref.removeprefix("prev:")
        h, rest = _split(plain)
        if ":" in plain or h not in unit:
            return ref
        if careless:
            return plain
        if h in choices and h == "output":
            return rec + rest
        return f"{rec}/{plain}"

    _map_refs(desc, outward)
    desc.pop("initial_output", None)
    desc["is_output_layer"] = True
    net[name] = desc
    how = " over the bare loop names" if careless else f" over the decoder's accumulated layers ({rec}/...)"
    return new, f"loop layer {rec}/{k} also recomputed after the loop as root output layer {name!r}{how}"


POST_CLASSES = ("linear", "copy", "activation", "softmax", "combine", "eval", "cast", "compare", "decide")


def op_post_loop_move(case: Case, rng: random.Random) -> Result:
    """Move a root computation on a decoder's output into its loop, or a loop side output after it."""
    new, net = _copy(case)
    ins, outs = [], []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(net):
            if k == rec or net[k].get("class") not in POST_CLASSES or _inner_nets(net[k]):
                continue
            refs = _refs(net[k])
            if any(r == rec or r.startswith(f"{rec}/") for r in refs) and all(
                    ":" not in r or r.startswith("data:") for r in refs):
                if all(r == rec or not r.startswith(f"{rec}/") or r.split("/", 1)[1] in unit for r in refs):
                    ins.append((rec, k))
        read_in_frame = {_split(r.removeprefix("prev:"))[0]
                         for d in unit.values() if isinstance(d, dict) for r in _deps(d)}
        for k in _layers(unit):
            desc = unit[k]
            if (k in ("output", "end") or k in read_in_frame or desc.get("class") in STATEFUL
                    or _inner_nets(desc)
                    or any(r.startswith((":", "data", "base:prev:")) or r == "data" for r in _refs(desc))):
                continue
            outs.append((rec, k))
    pool = (["in"] if ins else []) + (["out"] if outs else [])
    if not pool:
        return None
    if rng.choice(pool) == "in":
        rec, r_name = rng.choice(ins)
        unit = net[rec]["unit"]
        name = _fresh(unit, r_name)
        readers = [k for k in _layers(net) if k != r_name and any(
            _split(r)[0] == r_name and ":" not in r for r in _refs(net[k]))]
        desc = net.pop(r_name)
        was_output = bool(desc.pop("is_output_layer", False))

        def to_loop(ref: str) -> str:
            if ref == rec:
                return "output"
            if ref.startswith(f"{rec}/"):
                return ref.split("/", 1)[1]
            h, _ = _split(ref)
            if ref.startswith("data:") or (":" not in ref and (h in net or h == "data")):
                return f"base:{ref}"
            return ref

        _map_refs(desc, to_loop)
        marked = rng.random() < 0.7
        if marked:
            desc["is_output_layer"] = True
        unit[name] = desc
        bits = ["marked is_output_layer" if marked else "not marked an output"]
        if readers:
            if rng.random() < CARELESS:
                bits.append(f"its root readers ({', '.join(readers)}) still read the bare name {r_name!r}")
            else:
                for k in readers:
                    _map_refs(net[k], lambda ref: f"{rec}/{name}" + _split(ref)[1]
                              if _split(ref)[0] == r_name and ":" not in ref else ref)
                bits.append(f"its root readers ({', '.join(readers)}) read {rec}/{name}")
        if was_output:
            net[r_name] = {"class": "copy", "from": f"{rec}/{name}", "is_output_layer": True}
            bits.append(f"root output {r_name!r} is now a copy of {rec}/{name}")
        return new, (f"root layer {r_name!r} (after the loop) moved into the loop {rec} over the frame's "
                     f"values as {rec}/{name}; " + "; ".join(bits))
    rec, k = rng.choice(outs)
    unit = net[rec]["unit"]
    choices = set(_unit_choices(unit))
    name = _fresh(net, k)
    desc = unit.pop(k)

    def outward(ref: str) -> str:
        if ref.startswith("base:"):
            return ref[len("base:"):]
        plain = ref.removeprefix("prev:")
        h, rest = _split(plain)
        if ":" in plain or h not in unit:
            return ref
        if h in choices and h == "output":
            return rec + rest
        return f"{rec}/{plain}"

    _map_refs(desc, outward)
    desc.pop("initial_output", None)
    for o in _layers(net):
        if o != rec:
            _map_refs(net[o], lambda ref: name if ref == f"{rec}/{k}" else ref)
    return new, f"loop side output {rec}/{k} moved after the loop to root layer {name!r} over {rec}"


def _chain(layers: dict[str, Any], last: str, n: int, ok: Callable[[str], bool],
           rng: random.Random) -> list[str]:
    """``last`` and up to ``n - 1`` layers before it, each a plain source of the next."""
    chain = [last]
    while len(chain) < n:
        srcs = [s for s in _sources(layers[chain[-1]]) if s in layers and s not in chain and ok(s)]
        if not srcs:
            break
        chain.append(rng.choice(sorted(srcs)))
    return chain[::-1]


def op_into_block(case: Case, rng: random.Random) -> Result:
    """Group a chain of layers into a subnetwork named after its last layer, in a loop or at the root."""
    new, net = _copy(case)
    scope_pool = []
    for rec in _recs(net):
        scope_pool.append(rec)
    scope_pool.append(None)
    rng.shuffle(scope_pool)
    for rec in scope_pool:
        if rec is None:
            layers = net
            after = {k for r in _recs(net) for k in _layers(net) if r in _root_ancestors(net, k)} | set(_recs(net))
            bad = after | _pinned(net) | _nested_reads(net)
        else:
            layers = net[rec]["unit"]
            bad = {"output", "end"} | _nested_reads(layers)
            bad |= {_split(r[len("prev:"):])[0] for d in layers.values() if isinstance(d, dict)
                    for r in _refs(d) if r.startswith("prev:")}

        def ok(k: str, layers: dict[str, Any] = layers, bad: set[str] = bad, rec: str | None = rec) -> bool:
            d = layers[k]
            return (k not in bad and k != "data" and d.get("class") not in STATEFUL and not _inner_nets(d)
                    and not any(r.startswith(":") or ":i" in r for r in _refs(d)))

        lasts = []
        for k in _layers(layers):
            d = layers[k]
            if k in ("output", "end", "data") or d.get("class") in STATEFUL or _inner_nets(d):
                continue
            if rec is None and k in bad:
                continue
            if rec is not None and k in _nested_reads(layers):
                continue
            if any(r.startswith(":") for r in _refs(d)):
                continue
            if any(s in layers and ok(s) for s in _sources(d)):
                lasts.append(k)
        if not lasts:
            continue
        last = rng.choice(lasts)
        chain = _chain(layers, last, rng.choice([2, 2, 3, 4]), ok, rng)
        members = set(chain)
        inner = {m: ("output" if m == last else m) for m in chain}
        block: dict[str, Any] = {}
        for m in chain:
            desc = layers.pop(m)

            def into(ref: str) -> str:
                h, rest = _split(ref)
                if ":" not in ref and h in members:
                    return inner[h] + rest
                return f"base:{ref}"

            _map_refs(desc, lambda ref: into(ref) if not (ref in ("zeros", "ones") and ref not in layers)
                      else ref)
            if m != last:
                desc.pop("is_output_layer", None)
            block[inner[m]] = desc
        layers[last] = {"class": "subnetwork", "from": [], "subnetwork": block}
        careless = rng.random() < CARELESS
        inner_names = [m for m in chain if m != last]

        def path(ref: str) -> str:
            h, rest = _split(ref)
            return f"{last}/{h}{rest}" if ":" not in ref and h in inner_names else ref

        if not careless:
            _map_all(layers, path, skip=(last,))
        where = "the root" if rec is None else f"the loop {rec}"
        if rec is None:
            for r in _recs(net):
                if not careless:
                    _map_all(net[r]["unit"], lambda ref: "base:" + path(ref[len("base:"):])
                             if ref.startswith("base:") else ref)
        else:
            for o in _layers(net):
                if o != rec:
                    _map_refs(net[o], lambda ref: f"{rec}/{path(ref.split('/', 1)[1])}"
                              if ref.startswith(f"{rec}/") and not careless else ref)
        how = ("; readers of the inner layers keep their bare names" if careless
               else "; readers of the inner layers read them by path")
        return new, (f"group {', '.join(chain)} of {where} into a subnetwork {last!r} (its output the old "
                     f"{last}){how if inner_names else ''}")
    return None


FRESH60_OPERATORS: tuple[Op, ...] = (
    Op("hoist-invariant", op_hoist_invariant, 2),
    Op("sink-chain", op_sink_chain, 1),
    Op("dup-scopes", op_dup_scopes, 0.8),
    Op("post-loop-move", op_post_loop_move, 1),
    Op("into-block", op_into_block, 1),
)
