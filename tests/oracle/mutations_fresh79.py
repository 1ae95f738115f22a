"""An eighty-first set of edit operators (issue 15, seventeenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

A compositional rewrite fuzzer: each mutant applies a random sequence of 1 to 4 rewrites, drawn from a menu, to
random layers anywhere in the network (the root, a rec unit, a ``subnetwork`` at the root or in a loop, nested
ones), each rewrite on the previous one's result, so that the combinations are ones nobody wrote by hand. Sites
are drawn over every scope, loop and subnetwork layers three times as often as root layers (never the layers of
extra nets, ``extra.search:X``). References are resolved to absolute layer paths (``base:`` climbs one scope,
``prev:`` is kept, ``REC/X`` / ``SUB/X`` enter a scope), and every rewrite that moves or renames a layer rewrites every reference to it from every scope (made
relative again from the reader's scope: ``base:``, ``base:prev:``, ``REC/X``); names that occur in strings the
rewriter does not parse (eval strings such as ``max_seq_len``, ``layer:`` targets, ``reuse_params``, rnn states,
the units of ``masked_computation``, the config) are never renamed or moved. The menu:

- *identity* (meaning kept): a layer's readers (all of them, or one; readers of ``prev:X`` read ``prev:W`` and
  ``W`` gets ``X``'s ``initial_output``) read an identity ``W`` of it: a ``copy``, an ``eval`` of
  ``source(0)`` / ``tf.identity(source(0))``, a ``reinterpret_data`` without options; for a dense float layer
  also an ``activation`` ``identity``, an ``eval`` ``source(0) * 1.0`` / ``source(0) + 0.0``, a ``combine``
  ``add`` with a zero ``constant`` (in the scope or at the root, read as ``base:``) or ``mul`` with a one, or a
  ``split_dims`` of the features (``[2, -1]``, ``[-1, 2]``, ``[-1, 1]``) then ``merge_dims`` of the ``static``
  axes (or of ``["static:0", "static:1"]`` with ``keep_order``), the last only where every reader is a
  ``linear`` / ``softmax`` / ``rnn_cell``; or (where the layer has no readers, or half of the time for a layer of a loop) the identity takes the
  layer's name and the layer moves to ``X_core``, its sub-layer paths following (a loop's ``output`` becomes
  an identity of the choice ``output_core``, a decoder ``REC`` one of the rec ``REC_core``);
- *wrap* (meaning kept): a layer (not a choice, a rec, a cell or another stateful layer, nor one whose
  sub-layers ``X/0`` are read), or it and the one layer
  before it that only it reads, becomes a ``subnetwork`` under its name whose ``output`` is the layer, every
  outer reference one ``base:`` deeper (``base:prev:X``, ``base:data:K``, ``base:base:Y``), or with the
  subnetwork's ``from`` the layer's single source read as ``data``; ``is_output_layer``, ``initial_output``
  and a loss (with its ``target``) stay on the subnetwork (an inner ``softmax`` / ``linear`` gets ``n_out``
  from the target);
- *hoist* (meaning kept): a layer of a loop or a subnetwork that reads only the scope around it (all
  references ``base:``) moves to that scope under its name (or a fresh one); its readers read it through
  ``base:``, or the scope keeps a ``copy`` of ``base:`` of it under the old name (always where it is read by
  ``prev:`` or is an output layer);
- *sink* (meaning kept): a layer that only one loop or subnetwork reads (through ``base:``, from its layers or
  deeper) moves into it, its references one ``base:`` deeper;
- *rename* (meaning kept): a layer (not ``output``, ``end``, ``data``) gets a new name (``X_0``, ``my_X``,
  ``X_layer``, ``SCOPE_X``) and every reference to it follows, ``prev:``, ``base:`` and paths included;
- *flip* (changes the search): in a loop, a same-frame reference ``X`` becomes ``prev:X`` (a choice without
  ``initial_output`` gets 0; in a subnetwork of the loop ``base:X`` becomes ``base:prev:X``), or a ``prev:X``
  becomes ``X`` where ``X`` does not depend on the reader in the frame;
- *cross* (changes the search): a layer moves across the loop boundary: a loop layer no frame layer reads (a
  side output, every reference of it to a layer that is there) moves after the loop as a root output layer over ``REC/Y`` (``REC`` for the choice, ``prev:Y``
  read as ``REC/Y``, ``base:Z`` as ``Z``); or a root reader of the decoder (over ``REC`` / ``REC/Y``) moves into
  the loop (``REC`` becomes ``output``, root inputs ``base:``), its root readers reading ``REC/N``;
- *reader* (changes the search): a layer gets a second reader from another scope: a new root output layer over a
  loop or subnetwork layer by its path (a ``copy``, or a ``decide`` of it); a ``linear`` of a subnetwork in a loop
  also reads a dense loop layer (``base:X`` / ``base:prev:X``); or a loop ``linear`` / ``softmax`` / ``rnn_cell``
  also reads a root encoder layer independent of the decoder (a time-less one as ``base:Y``, a timed one through a
  ``reduce`` mean over ``T`` at the root or in the loop); the new source only goes to a layer whose sources
  are all dense float layers (no labels).

A loop layer that a rewrite makes readable from outside its loop (``REC/X`` from the root) is marked
``is_output_layer``, as RETURNN asks (the description says so).

Operators (each names every rewrite it made in its description, in order):

* ``fuzz-identity``: 1 to 4 *identity* rewrites at random sites;
* ``fuzz-regroup``: first a *wrap*, *hoist* or *sink*, then 0 to 3 rewrites drawn from *identity*, *wrap*,
  *hoist*, *sink*;
* ``fuzz-rename``: first a *rename*, then 0 to 3 rewrites drawn from every meaning-keeping kind (*rename*
  again included);
* ``fuzz-search-edit``: 1 to 4 rewrites of which one (at a random position) is a *flip*, *cross* or *reader*,
  the others meaning-keeping;
* ``fuzz-same-site``: 2 to 4 rewrites stacked on one site, each on the layer the one before made or kept
  (an identity of a wrapped, renamed, hoisted layer...), drawn from *identity*, *wrap*, *rename*, *hoist*,
  *sink* and, one time in five, a *flip* or *reader* as the last.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from .mutations import (
    REF_KEYS,
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _map_refs,
    _refs,
    _root_ancestors,
    _target_dim,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH79_SEED = 20270141
N_FRESH79 = 80

Result = "tuple[Case, str] | None"
Path = tuple[str, ...]
Site = tuple[Path, str]
#: A rewrite: (case, net, rng, site or None) -> (description, the site it leaves for the next rewrite) or None.
Rewrite = Callable[[Case, dict[str, Any], random.Random, "Site | None"], "tuple[str, Site] | None"]

SPECIAL = ("output", "end", "data")
#: Classes whose output is a dense float tensor (a feature axis the identity arithmetic keeps).
DENSE = ("linear", "softmax", "activation", "rnn_cell", "layer_norm", "generic_attention", "dot_attention",
         "self_attention", "reduce_out", "conv", "pool")
#: Classes that keep state over a loop's frames, or hold search / scopes: never wrapped or moved.
STATEFUL = ("choice", "rec", "subnetwork", "masked_computation", "cond", "rnn_cell", "self_attention",
            "cum_concat", "window", "cumsum", "unmask", "decide", "decide_keep_beam", "choice_get_beam_scores",
            "choice_get_src_beams", "split_batch_beam", "positional_encoding", "variable", "get_last_hidden_state")
#: Layers that learn their input size (an extra source is fine).
LEARN = ("linear", "softmax", "rnn_cell")
OUTER_KEYS = ("is_output_layer", "initial_output", "loss", "loss_opts", "loss_scale", "target")


# ----------------------------------------------------------------------------------------------------
# Scopes and references


def _scopes(net: dict[str, Any]) -> list[tuple[Path, str, dict[str, Any]]]:
    """(path, kind, layer dicts) of the root (path ``()``), every rec unit (``(REC,)``) and every
    ``subnetwork`` (``(..., SUB)``), nested ones included; kind ``root`` / ``loop`` / ``sub``."""
    out: list[tuple[Path, str, dict[str, Any]]] = [((), "root", net)]

    def walk(path: Path, layers: dict[str, Any]) -> None:
        for k in _layers(layers):
            desc = layers[k]
            if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
                out.append(((*path, k), "loop", desc["unit"]))
                walk((*path, k), desc["unit"])
            elif desc.get("class") == "subnetwork" and isinstance(desc.get("subnetwork"), dict):
                out.append(((*path, k), "sub", desc["subnetwork"]))
                walk((*path, k), desc["subnetwork"])

    walk((), net)
    return out


def _scope(net: dict[str, Any], path: Path) -> tuple[str, dict[str, Any]] | None:
    for p, kind, layers in _scopes(net):
        if p == path:
            return kind, layers
    return None


def _in_loop(net: dict[str, Any], path: Path) -> bool:
    """Whether the scope at ``path`` is a loop unit or inside one."""
    return any(kind == "loop" and path[: len(p)] == p for p, kind, _ in _scopes(net))


def _resolve(ref: str, path: Path) -> tuple[Path, bool, int] | None:
    """(absolute layer path, prev, number of ``base:``) a reference made in the scope ``path`` names;
    None for data, ``:i`` and references out of the root."""
    nb = 0
    scope = list(path)
    while ref.startswith("base:"):
        if not scope:
            return None
        ref = ref[len("base:"):]
        scope.pop()
        nb += 1
    prev = ref.startswith("prev:")
    if prev:
        ref = ref[len("prev:"):]
    if not ref or ref.startswith(":") or ref == "data" or ref.startswith("data:") or ":" in ref:
        return None
    return (*scope, *ref.split("/")), prev, nb


def _make_ref(reader: Path, target: Path, prev: bool) -> str:
    """The reference from the scope ``reader`` to the layer at ``target`` (fewest ``base:``)."""
    nb = 0
    while True:
        base = reader[: len(reader) - nb]
        if len(base) < len(target) and target[: len(base)] == base:
            break
        nb += 1
    return "base:" * nb + ("prev:" if prev else "") + "/".join(target[len(base):])


def _all_refs(net: dict[str, Any]) -> list[tuple[Path, str, str]]:
    """(scope path, layer, reference) of every reference of the network."""
    out = []
    for path, _, layers in _scopes(net):
        for k in _layers(layers):
            out.extend((path, k, r) for r in _refs(layers[k]))
    return out


def _readers(net: dict[str, Any], target: Path, prev: bool | None = None) -> list[tuple[Path, str]]:
    """(scope, layer) that reference exactly ``target`` (this frame's value, ``prev:`` of it, or both)."""
    out = []
    for path, k, r in _all_refs(net):
        res = _resolve(r, path)
        if res and res[0] == target and (prev is None or res[1] == prev) and (path, k) not in out:
            out.append((path, k))
    return out


def _retarget(net: dict[str, Any], old: Path, new: Path, *, only: set[tuple[Path, str]] | None = None,
              prev: bool | None = None, subpaths: bool = True, exact: bool = True) -> None:
    """Every reference to ``old`` (or into it, with ``subpaths``) now names ``new``, relative to its
    reader's scope; only in the layers ``only`` and with the ``prev`` flag given, when given."""
    for path, _, layers in _scopes(net):
        for k in _layers(layers):
            if only is not None and (path, k) not in only:
                continue

            def fn(ref: str, path: Path = path) -> str:
                res = _resolve(ref, path)
                if res is None:
                    return ref
                target, is_prev, nb = res
                if prev is not None and is_prev != prev:
                    return ref
                if target == old and exact:
                    return _make_ref(path, new, is_prev)
                if subpaths and target[: len(old)] == old and len(target) > len(old):
                    if len(path) - nb >= len(old):  # a reference from inside the scope itself
                        return ref
                    return _make_ref(path, (*new, *target[len(old):]), is_prev)
                return ref

            _map_refs(layers[k], fn)


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)


def _pinned(case: Case, net: dict[str, Any]) -> set[str]:
    """Names that occur in strings the rewrites do not parse (never renamed or moved)."""
    texts: list[str] = []
    for _, _, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            for key, value in desc.items():
                if key in REF_KEYS or key == "class":
                    continue
                if key in ("unit", "subnetwork") and desc.get("class") in ("rec", "subnetwork") \
                        and isinstance(value, dict):
                    continue
                _strings(value, texts)
    for key in ("config", "flags"):
        _strings(case.get(key), texts)
    names = {k for _, _, layers in _scopes(net) for k in _layers(layers)}
    tokens = {tok for t in texts for tok in re.findall(r"\w+", t)}
    pinned = set()
    for name in names:
        if re.fullmatch(r"\w+", name):
            if name in tokens:
                pinned.add(name)
        elif any(name in t for t in texts):
            pinned.add(name)
    return pinned


def _sites(net: dict[str, Any], ok: Callable[[Path, str, dict[str, Any], str], bool]) -> list[tuple[Site, float]]:
    out = []
    for path, kind, layers in _scopes(net):
        for k in _layers(layers):
            if ":" not in k and ok(path, kind, layers, k):  # not the layers of extra nets (``extra.search:X``)
                out.append(((path, k), 1.0 if kind == "root" else 3.0))
    return out


def _pick(rng: random.Random, sites: list[tuple[Site, float]]) -> Site | None:
    if not sites:
        return None
    return rng.choices([s for s, _ in sites], [w for _, w in sites])[0]


def _where(path: Path, name: str) -> str:
    return "/".join((*path, name))


def _dense(desc: dict[str, Any]) -> bool:
    cls = desc.get("class")
    if cls == "rec":
        return isinstance(desc.get("unit"), str)
    return cls in DENSE


def _size(case: Case, desc: dict[str, Any]) -> int | None:
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    if desc.get("class") == "softmax":
        return _target_dim(case, desc.get("target"))
    return None


def _own_refs_ok(desc: dict[str, Any]) -> bool:
    """No ``:i`` references (they do not move between scopes)."""
    return not any(r.startswith(":") or ":i" in r for r in _refs(desc))


# ----------------------------------------------------------------------------------------------------
# Meaning-keeping rewrites


def _identity_descs(case: Case, desc: dict[str, Any], src: str, rng: random.Random, net: dict[str, Any],
                    path: Path, reshape: bool) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The layers (name stem, desc) of one identity of ``src``, the last one the identity; ``"<0>"`` in a
    ``from`` names the layer before it in the list."""
    kinds = ["copy", "eval", "reinterpret"]
    if _dense(desc):
        kinds += ["activation", "scale", "zero", "zero"]
        if reshape and _size(case, desc) is not None:
            kinds.append("split-merge")
    kind = rng.choice(kinds)
    if kind == "copy":
        return [("copy", {"class": "copy", "from": src})], "copy"
    if kind == "eval":
        code = rng.choice(["source(0)", "tf.identity(source(0))"])
        return [("id", {"class": "eval", "from": src, "eval": code})], f"eval {code!r}"
    if kind == "reinterpret":
        return [("same", {"class": "reinterpret_data", "from": src})], "reinterpret_data without options"
    if kind == "activation":
        return [("act", {"class": "activation", "activation": "identity", "from": src})], "activation identity"
    if kind == "scale":
        code = rng.choice(["source(0) * 1.0", "source(0) + 0.0"])
        return [("id", {"class": "eval", "from": src, "eval": code})], f"eval {code!r}"
    if kind == "zero":
        mul = rng.random() < 0.3
        value = 1.0 if mul else 0.0
        stem = "one" if mul else "zero"
        how = "mul" if mul else "add"
        if len(path) == 1 and rng.random() < 0.4:
            cname = _fresh(net, stem)
            net[cname] = {"class": "constant", "value": value}
            return [(f"plus_{stem}", {"class": "combine", "kind": how, "from": [src, f"base:{cname}"]})], \
                f"combine {how} with root constant {cname} = {value}"
        return [(stem, {"class": "constant", "value": value}),
                (f"plus_{stem}", {"class": "combine", "kind": how, "from": [src, "<0>"]})], \
            f"combine {how} with a constant {value}"
    n = _size(case, desc) or 1
    dims = rng.choice([[2, -1], [-1, 2]] if n % 2 == 0 else [[-1, 1]])
    merge: dict[str, Any] = {"class": "merge_dims", "axes": "static", "from": "<0>"}
    if rng.random() < 0.5:
        merge["axes"] = ["static:0", "static:1"]
        merge["keep_order"] = True
    return [("split", {"class": "split_dims", "axis": "F", "dims": dims, "from": src}),
            ("merged", merge)], f"split_dims {dims} then merge_dims {merge['axes']}"


def _add_chain(layers: dict[str, Any], name: str, parts: list[tuple[str, dict[str, Any]]]) -> str:
    """Add the identity's layers (fresh names ``NAME_stem``) to ``layers``; the last one's name."""
    prev_name = None
    for stem, d in parts:
        d = dict(d)
        if "from" in d:
            d["from"] = [prev_name if f == "<0>" else f for f in _as_list(d["from"])]
            if len(d["from"]) == 1:
                d["from"] = d["from"][0]
        prev_name = _fresh(layers, f"{name}_{stem}")
        layers[prev_name] = d
    assert prev_name is not None
    return prev_name


def rw_identity(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)

    def ok(path: Path, kind: str, layers: dict[str, Any], k: str) -> bool:
        return not k.startswith("#") and layers[k].get("class") is not None

    site = site or _pick(rng, _sites(net, ok))
    if site is None:
        return None
    path, name = site
    found = _scope(net, path)
    if found is None or name not in found[1]:
        return None
    kind, layers = found
    desc = layers[name]
    target = (*path, name)
    plain = [r for r in _readers(net, target, prev=False) if r != (path, name)]
    prev_readers = _readers(net, target, prev=True) if kind == "loop" else []
    # a split_dims / merge_dims round trip gives a new feature dim: only for readers that learn their input
    reshape = all(_layer(net, r).get("class") in LEARN for r in plain + prev_readers)
    under = name != "data" and name not in pinned and (
        not plain and not prev_readers or kind == "loop" and rng.random() < 0.5)
    if not under and not plain and not prev_readers:
        return None
    if under:
        core = _fresh(layers, f"{name}_core")
        parts, what = _identity_descs(case, desc, core, rng, net, path, reshape)
        _retarget(net, target, (*path, core), exact=False)  # sub-layers (``REC/X``, ``SPLIT/0``) follow
        layers[core] = layers.pop(name)
        ident = _add_chain(layers, name, parts)
        last = layers.pop(ident)
        for key in ("is_output_layer", "initial_output"):
            if key in layers[core]:
                last[key] = layers[core][key]
        if layers[core].get("class") != "choice":
            layers[core].pop("is_output_layer", None)
        layers[name] = last
        return (f"{_where(path, name)} moved to {_where(path, core)}, {_where(path, name)} now its identity "
                f"({what})"), (path, name)
    parts, what = _identity_descs(case, desc, name, rng, net, path, reshape)
    ident = _add_chain(layers, name, parts)
    if "initial_output" in desc:
        layers[ident]["initial_output"] = desc["initial_output"]
    groups = []
    if plain:
        groups.append((False, plain))
    if prev_readers:
        groups.append((True, prev_readers))
    is_prev, readers = rng.choice(groups)
    if len(readers) > 1 and rng.random() < 0.4:
        readers = [rng.choice(readers)]
    _retarget(net, target, (*path, ident), only=set(readers), prev=is_prev, subpaths=False)
    who = ", ".join(_where(*r) for r in readers)
    return (f"{who} read {'prev:' if is_prev else ''}{_where(path, ident)}, an identity of "
            f"{_where(path, name)} ({what})"), (path, ident)


def _layer(net: dict[str, Any], site: Site) -> dict[str, Any]:
    found = _scope(net, site[0])
    return found[1][site[1]] if found is not None else {}


def _subpath_read(net: dict[str, Any], target: Path) -> bool:
    """Whether something reads a sub-layer of ``target`` (``X/0`` of a split)."""
    for path, _, r in _all_refs(net):
        res = _resolve(r, path)
        if res and len(res[0]) > len(target) and res[0][: len(target)] == target:
            return True
    return False


def _dense_sources(net: dict[str, Any], path: Path, desc: dict[str, Any]) -> bool:
    """Whether every ``from`` of a layer is a layer with dense float output (a new source concatenates)."""
    for r in _as_list(desc.get("from")):
        res = _resolve(r, path) if isinstance(r, str) else None
        if res is None:
            return False
        found = _scope(net, res[0][:-1])
        if found is None or res[0][-1] not in found[1] or not _dense(found[1][res[0][-1]]):
            return False
    return True


def _exists(net: dict[str, Any], ref: str, path: Path) -> bool:
    """Whether a reference names a layer that is there (data and ``:i`` count as there)."""
    res = _resolve(ref, path)
    if res is None:
        return True
    found = _scope(net, res[0][:-1])
    return found is not None and res[0][-1] in found[1]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def rw_wrap(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)

    def ok(path: Path, kind: str, layers: dict[str, Any], k: str) -> bool:
        d = layers[k]
        return (not k.startswith("#") and d.get("class") not in STATEFUL and d.get("class") is not None
                and k not in pinned and "reuse_params" not in d and _own_refs_ok(d)
                and not isinstance(d.get("unit"), dict) and not _subpath_read(net, (*path, k)))

    site = site or _pick(rng, _sites(net, ok))
    if site is None:
        return None
    path, name = site
    found = _scope(net, path)
    if found is None or name not in found[1] or not ok(path, found[0], found[1], name):
        return None
    kind, layers = found
    desc = layers[name]
    inner = {k: v for k, v in desc.items() if k not in OUTER_KEYS}
    outer: dict[str, Any] = {"class": "subnetwork", "from": []}
    for key in ("is_output_layer", "initial_output"):
        if key in desc:
            outer[key] = desc[key]
    if "loss" in desc:
        for key in ("loss", "loss_opts", "loss_scale", "target"):
            if key in desc:
                outer[key] = desc[key]
    if "target" in desc:
        if desc.get("class") in ("softmax", "linear"):
            if "n_out" not in inner:
                dim = _target_dim(case, desc["target"])
                if dim is None:
                    return None
                inner["n_out"] = dim
        elif "loss" not in desc:
            inner["target"] = desc["target"]
    # the layer before it, when it is its only plain source and only it reads that one
    pre = None
    srcs = [r for r in _as_list(desc.get("from")) if isinstance(r, str)]
    if len(srcs) == 1 and srcs[0] in layers and rng.random() < 0.3:
        p = srcs[0]
        pd = layers[p]
        if (p not in SPECIAL and p not in pinned and pd.get("class") not in STATEFUL and _own_refs_ok(pd)
                and "reuse_params" not in pd and not any(k in pd for k in OUTER_KEYS)
                and _readers(net, (*path, p)) == [(path, name)] and not _readers(net, (*path, p), prev=True)):
            pre = p
    sub: dict[str, Any] = {}
    how = "outer references one base: deeper"
    if pre is not None:
        pdesc = dict(layers[pre])
        _map_refs(pdesc, lambda r: "base:" + r)
        inner_map = {pre: pre}
        _map_refs(inner, lambda r: inner_map.get(r, "base:" + r))
        sub[pre] = pdesc
        del layers[pre]
        how = f"with {_where(path, pre)} inside, " + how
    elif len(srcs) == 1 and not srcs[0].startswith("prev:") and rng.random() < 0.4:
        src0 = srcs[0]
        outer["from"] = src0
        _map_refs(inner, lambda r: "data" if r == src0 else "base:" + r)
        how = f"the subnetwork's from {src0!r} read as data"
    else:
        _map_refs(inner, lambda r: "base:" + r)
    sub["output"] = inner
    outer["subnetwork"] = sub
    layers[name] = outer
    return f"{_where(path, name)} wrapped in a subnetwork ({how})", (path, name)


def rw_hoist(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)

    def ok(path: Path, kind: str, layers: dict[str, Any], k: str) -> bool:
        d = layers[k]
        refs = _refs(d)
        return (kind != "root" and k not in SPECIAL and k not in pinned and not k.startswith("#")
                and d.get("class") not in STATEFUL and d.get("class") is not None and "reuse_params" not in d
                and bool(refs) and all(r.startswith("base:") for r in refs) and _own_refs_ok(d)
                and not (len(path) == 1 and any(r.startswith("base:prev:") for r in refs)))

    site = site or _pick(rng, _sites(net, ok))
    if site is None:
        return None
    path, name = site
    found = _scope(net, path)
    if found is None or name not in found[1] or not ok(path, found[0], found[1], name):
        return None
    kind, layers = found
    parent = path[:-1]
    pfound = _scope(net, parent)
    if pfound is None:
        return None
    players = pfound[1]
    target = (*path, name)
    desc = layers[name]
    new_name = name if name not in players and rng.random() < 0.6 else _fresh(players, f"{path[-1]}_{name}")
    keep_copy = bool(_readers(net, target, prev=True)) or desc.get("is_output_layer") or rng.random() < 0.3
    moved = {k: v for k, v in desc.items() if k not in ("initial_output", "is_output_layer")}
    _map_refs(moved, lambda r: r[len("base:"):])
    players[new_name] = moved
    if keep_copy:
        stay = {"class": "copy", "from": f"base:{new_name}"}
        for key in ("initial_output", "is_output_layer"):
            if key in desc:
                stay[key] = desc[key]
        layers[name] = stay
        how = f"{_where(path, name)} kept as a copy of base:{new_name}"
    else:
        del layers[name]
        _retarget(net, target, (*parent, new_name))
        how = "its readers read it through base:"
    return f"{_where(path, name)} hoisted to {_where(parent, new_name)} ({how})", (parent, new_name)


def rw_sink(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)
    scopes = {p: (kind, layers) for p, kind, layers in _scopes(net)}

    def child(path: Path, k: str) -> Path | None:
        readers = _readers(net, (*path, k))
        if not readers or any(len(r[0]) <= len(path) or r[0][: len(path)] != path for r in readers):
            return None
        heads = {r[0][: len(path) + 1] for r in readers}
        if len(heads) != 1:
            return None
        head = heads.pop()
        return head if head in scopes else None

    def ok(path: Path, kind: str, layers: dict[str, Any], k: str) -> bool:
        d = layers[k]
        return (k not in SPECIAL and k not in pinned and not k.startswith("#")
                and d.get("class") not in STATEFUL and d.get("class") is not None and "reuse_params" not in d
                and not any(key in d for key in ("loss", "is_output_layer")) and _own_refs_ok(d)
                and child(path, k) is not None)

    site = site or _pick(rng, _sites(net, ok))
    if site is None:
        return None
    path, name = site
    if path not in scopes or name not in scopes[path][1] or not ok(path, *scopes[path], name):
        return None
    layers = scopes[path][1]
    cpath = child(path, name)
    assert cpath is not None
    ckind, clayers = scopes[cpath]
    desc = layers[name]
    # it must not read the scope it moves into
    for r in _refs(desc):
        res = _resolve(r, path)
        if res and res[0][: len(cpath)] == cpath:
            return None
    new_name = _fresh(clayers, name)
    moved = dict(desc)
    _map_refs(moved, lambda r: "base:" + r)
    del layers[name]
    clayers[new_name] = moved
    _retarget(net, (*path, name), (*cpath, new_name))
    return (f"{_where(path, name)} sunk into {'the loop' if ckind == 'loop' else 'the subnetwork'} "
            f"{'/'.join(cpath)} as {_where(cpath, new_name)}"), (cpath, new_name)


def rw_rename(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)

    def ok(path: Path, kind: str, layers: dict[str, Any], k: str) -> bool:
        return k not in SPECIAL and k not in pinned and not k.startswith("#") and layers[k].get("class") is not None

    site = site or _pick(rng, _sites(net, ok))
    if site is None:
        return None
    path, name = site
    found = _scope(net, path)
    if found is None or name not in found[1] or not ok(path, *found, name):
        return None
    layers = found[1]
    stems = [f"{name}_0", f"my_{name}", f"{name}_layer"]
    if path:
        stems.append(f"{path[-1]}_{name}")
    new_name = _fresh(layers, rng.choice(stems))
    _retarget(net, (*path, name), (*path, new_name))
    layers[new_name] = layers.pop(name)
    return f"rename {_where(path, name)} -> {new_name}", (path, new_name)


# ----------------------------------------------------------------------------------------------------
# Rewrites that change the search


def rw_flip(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    loops = {p: layers for p, kind, layers in _scopes(net) if kind == "loop"}
    cands = []
    for path, _, layers in _scopes(net):
        loop = next((p for p in sorted(loops, key=len, reverse=True) if path[: len(p)] == p), None)
        if loop is None:
            continue
        for k in _layers(layers):
            for r in _refs(layers[k]):
                res = _resolve(r, path)
                if res is None or res[0][:-1] != loop or len(res[0]) != len(loop) + 1:
                    continue
                x = res[0][-1]
                if x not in loops[loop] or (path, k) == (loop, x):
                    continue
                if site is not None and (loop, x) != site and (path, k) != site:
                    continue
                if res[1]:
                    # prev:X -> X: X must not depend on the reader in the frame
                    reader_head = (path + (k,))[len(loop)]
                    if reader_head == x or reader_head in _frame_ancestors(loops[loop], x) or x == "end":
                        continue
                cands.append((path, k, r, loop, x, res[1]))
    if not cands:
        return None
    path, k, r, loop, x, was_prev = rng.choice(cands)
    unit = loops[loop]
    new_ref = _make_ref(path, (*loop, x), not was_prev)
    layers = _scope(net, path)[1]  # type: ignore[index]
    _map_refs(layers[k], lambda ref: new_ref if ref == r else ref)
    extra = ""
    if not was_prev and unit[x].get("class") == "choice" and "initial_output" not in unit[x]:
        unit[x]["initial_output"] = 0
        extra = f" ({_where(loop, x)} gets initial_output 0)"
    return f"{_where(path, k)}: {r!r} -> {new_ref!r}{extra}", (loop, x)


def rw_cross(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    pinned = _pinned(case, net)
    recs = [k for k in _layers(net) if net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict)]
    outs = []  # (rec, X): loop layers no frame layer reads
    ins = []  # root readers of a decoder
    for rec in recs:
        unit = net[rec]["unit"]
        for x in _layers(unit):
            d = unit[x]
            if x in SPECIAL or x in pinned or d.get("class") in STATEFUL or d.get("class") is None:
                continue
            readers = _readers(net, (rec, x))
            if any(p[: 1] == (rec,) for p, _ in readers) or not _own_refs_ok(d):
                continue
            if any(r.startswith("data:") or r == "data" for r in _refs(d)):
                continue
            if not all(_exists(net, r, (rec,)) for r in _refs(d)):  # an unused layer may read nothing real
                continue
            outs.append((rec, x))
        for y in _layers(net):
            d = net[y]
            if y in SPECIAL or y in pinned or d.get("class") in STATEFUL or d.get("class") in ("reduce",) \
                    or d.get("class") is None or "reuse_params" in d:
                continue
            heads = [_resolve(r, ()) for r in _refs(d)]
            if any(h and h[0][:1] == (rec,) for h in heads) and _own_refs_ok(d):
                ins.append((rec, y))
    if site is not None:
        outs = [s for s in outs if ((s[0],), s[1]) == site]
        ins = [s for s in ins if ((), s[1]) == site]
    pool = [("out", s) for s in outs] + [("in", s) for s in ins]
    if not pool:
        return None
    how, (rec, x) = rng.choice(pool)
    unit = net[rec]["unit"]
    if how == "out":
        desc = dict(unit.pop(x))
        desc.pop("initial_output", None)

        def outward(r: str) -> str:
            res = _resolve(r, (rec,))
            if res is None:
                return r
            target, _, _ = res
            if target == (rec, "output"):
                return rec
            return _make_ref((), target, False)

        _map_refs(desc, outward)
        new_name = _fresh(net, x if x not in net else f"{rec}_{x}")
        desc["is_output_layer"] = True
        net[new_name] = desc
        _retarget(net, (rec, x), (new_name,))
        return f"{rec}/{x} (a side output) moved after the loop to root output layer {new_name}", ((), new_name)
    desc = dict(net.pop(x))

    def inward(r: str) -> str:
        res = _resolve(r, ())
        if res is None:
            return "base:" + r if r == "data" or r.startswith("data:") else r
        target, prev, _ = res
        if target == (rec,):
            return "output"
        return _make_ref((rec,), target, prev)

    _map_refs(desc, inward)
    new_name = _fresh(unit, x)
    unit[new_name] = desc
    _retarget(net, (x,), (rec, new_name))
    return f"root {x} (a reader of the decoder {rec}) moved into the loop as {rec}/{new_name}", ((rec,), new_name)


def rw_reader(case: Case, net: dict[str, Any], rng: random.Random, site: Site | None) -> tuple[str, Site] | None:
    scopes = _scopes(net)
    kinds = []
    inner_sites = [(p, k) for p, kind, layers in scopes if kind != "root" for k in _layers(layers)
                   if layers[k].get("class") is not None and not k.startswith("#")]
    if site is not None:
        inner_sites = [s for s in inner_sites if s == site]
    if inner_sites:
        kinds.append("root-output")
    subs_in_loop = []
    for p, kind, layers in scopes:
        if kind != "sub" or not _in_loop(net, p):
            continue
        parent = p[:-1]
        pk, players = _scope(net, parent)  # type: ignore[misc]
        for k in _layers(layers):
            if layers[k].get("class") != "linear" or not _dense_sources(net, p, layers[k]):
                continue
            for x in _layers(players):
                if x == p[-1] or p[-1] in _frame_ancestors(players, x) or not _dense(players[x]):
                    continue
                if site is not None and (parent, x) != site:
                    continue
                subs_in_loop.append((p, k, parent, x))
    if subs_in_loop:
        kinds.append("sub-reads-loop")
    loop_reads_root = []
    for rec in [k for k in _layers(net) if net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict)]:
        unit = net[rec]["unit"]
        before = _root_ancestors(net, rec)
        encs = [y for y in _layers(net) if y != rec and rec not in _root_ancestors(net, y)
                and (_dense(net[y]) or net[y].get("class") == "reduce" and y in before)]
        users = [u for u in _layers(unit) if unit[u].get("class") in LEARN and u != "output"
                 and _dense_sources(net, (rec,), unit[u])]
        for y in encs:
            if site is not None and ((), y) != site:
                continue
            loop_reads_root.extend((rec, u, y) for u in users)
    if loop_reads_root:
        kinds.append("loop-reads-root")
    if not kinds:
        return None
    kind = rng.choice(kinds)
    if kind == "root-output":
        path, x = rng.choice(inner_sites)
        ref = _make_ref((), (*path, x), False)
        loop = _in_loop(net, path)
        if loop and rng.random() < 0.35 and any(
                isinstance(v, dict) and v.get("class") == "choice"
                for v in (net[path[0]].get("unit") or {}).values()):
            name = _fresh(net, f"{'_'.join(path)}_{x}_decided")
            net[name] = {"class": "decide", "from": ref, "is_output_layer": True}
            what = "a decide"
        else:
            name = _fresh(net, f"{'_'.join(path)}_{x}_out")
            net[name] = {"class": "copy", "from": ref, "is_output_layer": True}
            what = "a copy"
        return f"new root output layer {name}: {what} of {ref!r}", ((), name)
    if kind == "sub-reads-loop":
        p, k, parent, x = rng.choice(subs_in_loop)
        layers = _scope(net, p)[1]  # type: ignore[index]
        prev = _scope(net, parent)[0] == "loop" and rng.random() < 0.4  # type: ignore[index]
        ref = _make_ref(p, (*parent, x), prev)
        layers[k]["from"] = [*_as_list(layers[k].get("from")), ref]
        return f"{_where(p, k)} also reads {ref!r}", (parent, x)
    rec, u, y = rng.choice(loop_reads_root)
    unit = net[rec]["unit"]
    if net[y].get("class") == "reduce":
        ref = f"base:{y}"
        how = f"base:{y}"
    elif rng.random() < 0.5:
        red = _fresh(net, f"{y}_mean")
        net[red] = {"class": "reduce", "mode": "mean", "axes": "T", "from": y}
        ref = f"base:{red}"
        how = f"base:{red} (a root reduce mean over T of {y})"
    else:
        red = _fresh(unit, f"{y}_mean")
        unit[red] = {"class": "reduce", "mode": "mean", "axes": "T", "from": f"base:{y}"}
        ref = red
        how = f"{rec}/{red} (a loop reduce mean over T of base:{y})"
    unit[u]["from"] = [*_as_list(unit[u].get("from")), ref]
    return f"{rec}/{u} also reads {how}", ((), y)


# ----------------------------------------------------------------------------------------------------
# Operators


KEEP: tuple[tuple[str, Rewrite, float], ...] = (
    ("identity", rw_identity, 3.0),
    ("wrap", rw_wrap, 1.5),
    ("hoist", rw_hoist, 1.0),
    ("sink", rw_sink, 1.0),
    ("rename", rw_rename, 1.5),
)
CHANGE: tuple[tuple[str, Rewrite, float], ...] = (
    ("flip", rw_flip, 1.0),
    ("cross", rw_cross, 1.0),
    ("reader", rw_reader, 1.0),
)
TRIES = 12


def _outside_reads(net: dict[str, Any]) -> set[Path]:
    """Loop layers (absolute paths) read from outside their loop (``REC/X`` from the root, ``base:REC/X``)."""
    loops = [p for p, kind, _ in _scopes(net) if kind == "loop"]
    out = set()
    for path, _, r in _all_refs(net):
        res = _resolve(r, path)
        if res is None:
            continue
        target = res[0]
        for loop in loops:
            if len(target) > len(loop) and target[: len(loop)] == loop and path[: len(loop)] != loop:
                out.add(target[: len(loop) + 1])
    return out


def _step(case: Case, net: dict[str, Any], rng: random.Random, menu: tuple[tuple[str, Rewrite, float], ...],
          site: Site | None = None) -> tuple[str, Site] | None:
    """One rewrite drawn from ``menu`` (drawn again, a bounded number of times, when it finds no site)."""
    for _ in range(TRIES):
        name, fn, _ = rng.choices(menu, [w for _, _, w in menu])[0]
        before = json.dumps(net, sort_keys=True)
        try_net = json.loads(before)
        res = fn(case, try_net, rng, site)
        if res is None or json.dumps(try_net, sort_keys=True) == before:
            continue
        # a loop layer newly read from outside the loop is marked an output layer, as RETURNN wants
        marked = []
        for target in sorted(_outside_reads(try_net) - _outside_reads(json.loads(before))):
            found = _scope(try_net, target[:-1])
            if found is None or target[-1] not in found[1] or target[-1] == "output":
                continue
            if not found[1][target[-1]].get("is_output_layer"):
                found[1][target[-1]]["is_output_layer"] = True
                marked.append("/".join(target))
        net.clear()
        net.update(try_net)
        extra = f" ({', '.join(marked)} marked is_output_layer)" if marked else ""
        return f"[{name}] {res[0]}{extra}", res[1]
    return None


def _fuzz(case: Case, rng: random.Random, plan: list[tuple[tuple[tuple[str, Rewrite, float], ...], bool]]) -> Result:
    """Apply the plan: (menu, whether this step must succeed) in order, each on the result of the last."""
    new, net = _copy(case)
    work = dict(new)
    done = []
    for menu, must in plan:
        res = _step(work, net, rng, menu)
        if res is None:
            if must:
                return None
            continue
        done.append(res[0])
    if not done:
        return None
    return new, "; then ".join(done)


def op_fuzz_identity(case: Case, rng: random.Random) -> Result:
    """1 to 4 identity rewrites."""
    n = rng.randint(1, 4)
    return _fuzz(case, rng, [(KEEP[:1], i == 0) for i in range(n)])


def op_fuzz_regroup(case: Case, rng: random.Random) -> Result:
    """A wrap / hoist / sink, then 0 to 3 of identity, wrap, hoist, sink."""
    n = rng.randint(0, 3)
    menu = tuple(m for m in KEEP if m[0] != "rename")
    return _fuzz(case, rng, [(KEEP[1:4], True)] + [(menu, False)] * n)


def op_fuzz_rename(case: Case, rng: random.Random) -> Result:
    """A rename, then 0 to 3 meaning-keeping rewrites."""
    n = rng.randint(0, 3)
    return _fuzz(case, rng, [(KEEP[4:5], True)] + [(KEEP, False)] * n)


def op_fuzz_search_edit(case: Case, rng: random.Random) -> Result:
    """1 to 4 rewrites, one of them (at a random position) changing the search."""
    n = rng.randint(1, 4)
    at = rng.randrange(n)
    return _fuzz(case, rng, [(CHANGE, True) if i == at else (KEEP, False) for i in range(n)])


def op_fuzz_same_site(case: Case, rng: random.Random) -> Result:
    """2 to 4 rewrites stacked on one site."""
    new, net = _copy(case)
    work = dict(new)
    n = rng.randint(2, 4)
    last_change = rng.random() < 0.2
    menu = tuple(m for m in KEEP)
    done: list[str] = []
    site: Site | None = None
    for i in range(n):
        m = tuple(c for c in CHANGE if c[0] != "cross") if last_change and i == n - 1 else menu
        res = _step(work, net, rng, m, site)
        if res is None:
            if i == 0:
                return None
            break
        done.append(res[0])
        site = res[1]
    if len(done) < 2:
        return None
    return new, "; then ".join(done) + " (stacked on one site)"


FRESH79_OPERATORS: tuple[Op, ...] = (
    Op("fuzz-identity", op_fuzz_identity, 1),
    Op("fuzz-regroup", op_fuzz_regroup, 1),
    Op("fuzz-rename", op_fuzz_rename, 1),
    Op("fuzz-search-edit", op_fuzz_search_edit, 1.2),
    Op("fuzz-same-site", op_fuzz_same_site, 1),
)
