"""A forty-third set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, held out: looked at as counts only when first measured.

Multi-output layers and references to sub-layers by path: ``split`` parts (``L/0``, ``L/1``) in and out of
a decoder loop, a loop layer read from the root by its path, and a ``subnetwork`` of the loop whose inner
layer is read by a two-level path (none a variant of an earlier one; no rule was written for any of them):

* ``widen-split``: a dense loop ``linear`` is widened by a few units and ``split`` (``size_splits``) into
  its old size and the extra units (either order); its readers in the frame read the part of the old size
  (``P/0`` or ``P/1``), ``prev:`` readers keep reading it through a ``copy`` of that part under the old
  name; the extra part is read by another loop layer as an extra source, or copied into an output layer of
  the loop that a root layer reads by its path (``REC/L_extra``: ``decide``, ``copy`` or time ``reduce``), or
  the split itself is marked an output of the loop and read from the root (``REC/P``); the old name stays
  a ``copy`` of the part where something still names it (not for the layers of an attention, nor for a
  layer whose parameters another layer shares);
* ``concat-split``: two dense loop layers of a frame, or the previous frame of one (``prev:X``), none
  of an attention and neither needed by the other's readers, are concatenated (``copy`` of both) and
  ``split`` back with ``size_splits``; the readers of each read its part (``C/0``, ``C/1``) instead,
  maybe with the concatenation marked an output of the loop read at the root by its path;
* ``root-split``: a root layer with an ``n_out`` (an encoder layer a decoder reads through ``base:``, or a
  root reader of a decoder) is widened and ``split`` at the root (``size_splits``); its root readers read
  the part of the old size (``X_parts/i``), loop readers read ``base:X_parts/i``; the extra part becomes a
  root output layer, or a loop reader also reads it through ``base:``; the old name stays a ``copy`` of the
  part where something still names it;
* ``loop-subnet-path``: a ``subnetwork`` in a searching decoder loop over a dense loop layer (or its
  previous frame): an inner ``linear`` (``proj``) and an ``output`` over it; the inner layer (or the whole
  subnetwork, or both) is marked ``is_output_layer``, a root layer reads the inner layer by its two-level
  path (``REC/SUB/proj``: ``decide``, ``copy`` output or time ``reduce`` output), and maybe a loop layer
  reads ``SUB/proj`` (or the subnetwork) as an extra source.
"""

from __future__ import annotations

import random
import re
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _recs,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _walk,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH41_SEED = 20270103
N_FRESH41 = 80

Result = "tuple[Case, str] | None"

#: loop classes with an ``n_out`` of their own that a user would split or concatenate
_SIZED = ("linear", "rnn_cell")
#: loop classes that take an extra source without trouble
_TAKES_SOURCES = ("linear", "softmax", "rnn_cell")


def _int_n_out(desc: dict[str, Any]) -> int | None:
    n = desc.get("n_out")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _plain_dense(unit: dict[str, Any], classes: tuple[str, ...] = _SIZED) -> list[str]:
    """Loop layers of ``classes`` with an int ``n_out``, no target / loss, read by another loop layer."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k in ("output", "end") or desc.get("class") not in classes or not _int_n_out(desc):
            continue
        if desc.get("target") or desc.get("loss") or desc.get("is_output_layer"):
            continue
        if _readers(unit, k):
            out.append(k)
    return out


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    """Attention weights (``softmax_over_spatial``) of a loop unit and what they depend on in the frame
    (layers that may run over the encoder's time axis)."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _root_path_reader(net: dict[str, Any], rec: str, path: str, rng: random.Random) -> tuple[str, str]:
    """A new root output layer reading ``REC/path``: a decide, a copy or a time reduce."""
    kind = rng.choice(["decide", "copy", "reduce"])
    name = _fresh(net, f"{rec}_{path.replace('/', '_')}_{kind}")
    ref = f"{rec}/{path}"
    if kind == "decide":
        net[name] = {"class": "decide", "from": ref, "is_output_layer": True}
    elif kind == "copy":
        net[name] = {"class": "copy", "from": ref, "is_output_layer": True}
    else:
        net[name] = {"class": "reduce", "mode": rng.choice(["mean", "max"]), "axis": "T", "from": ref,
                     "is_output_layer": True}
    return name, kind


def _strings(value: Any) -> list[str]:
    out: list[str] = []
    _walk(value, lambda s: out.append(s) or s)
    return out


def _still_named(net: dict[str, Any], name: str) -> bool:
    """Whether some string of the network (``max_seq_len``, an ``eval``, a ``reuse_params``, a reference
    left alone) still names root layer ``name``."""
    pat = re.compile(rf"(^|[^\w/]){re.escape(name)}($|[^\w])")
    return any(pat.search(s) for k in _layers(net) if k != name for s in _strings(net[k]))


def op_widen_split(case: Case, rng: random.Random) -> Result:
    """A dense loop linear widened and split into its old size and the extra units."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        shared = {s.split(":")[-1] for k in _layers(unit) for s in _strings(unit[k].get("reuse_params"))}
        sites += [(rec, k) for k in _plain_dense(unit, ("linear",)) if k not in shared]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    n = unit[name]["n_out"]
    extra = rng.choice([1, 2, 3, 4])
    first = rng.random() < 0.6
    wide, parts = _fresh(unit, f"{name}_wide"), _fresh(unit, f"{name}_parts")
    desc = dict(unit.pop(name))
    init = desc.pop("initial_output", None)
    desc["n_out"] = n + extra
    unit[wide] = desc
    unit[parts] = {"class": "split", "axis": "F", "from": wide,
                   "size_splits": [n, extra] if first else [extra, n]}
    keep, rest = (f"{parts}/0", f"{parts}/1") if first else (f"{parts}/1", f"{parts}/0")
    readers = _readers(unit, name)
    _redirect(unit, readers, name, keep)
    prev_readers = _readers(unit, name, f"prev:{name}") + ([wide] if f"prev:{name}" in _strings(desc) else [])
    outside = any(f"{rec}/{name}" in _strings(net[k]) for k in _layers(net) if k != rec)
    outside = outside or _still_named(unit, name)
    what = f"{rec}/{name} widened to {n + extra} ({wide}), split by {parts} into {n} ({keep}) and {extra} ({rest})"
    if prev_readers or outside or init is not None:
        unit[name] = {"class": "copy", "from": keep}
        if init is not None:
            unit[name]["initial_output"] = init
        what += f"; {name} a copy of {keep}"
    what += f"; {', '.join(readers)} read {keep}"
    wide_anc, att = _frame_ancestors(unit, wide), _attention_layers(unit)
    others = [k for k in _layers(unit) if unit[k].get("class") in _TAKES_SOURCES
              and k not in (wide, parts, name) and k not in wide_anc and k not in att]
    if name in att:
        others = []
    mode = rng.choice(["source", "export", "export-split"] if others else ["export", "export-split"])
    if mode == "source":
        reader = rng.choice(others)
        _add_source(unit[reader], rest)
        return new, f"{what}; {rec}/{reader} also reads {rest}"
    if mode == "export":
        out = _fresh(unit, f"{name}_extra")
        unit[out] = {"class": "copy", "from": rest, "is_output_layer": True}
        root, kind = _root_path_reader(net, rec, out, rng)
        return new, f"{what}; {rest} copied into the loop output {out}, read at the root by {root} ({kind})"
    unit[parts]["is_output_layer"] = True
    root, kind = _root_path_reader(net, rec, parts, rng)
    return new, f"{what}; {parts} an output of the loop, read at the root by {root} ({kind} of {rec}/{parts})"


def _concat_items(unit: dict[str, Any]) -> list[tuple[str, int, list[str], set[str]]]:
    """(reference, size, its readers, what it depends on in the frame, itself included) of the dense loop
    layers and of their previous frames (read as ``prev:X``) that a user could concatenate."""
    att = _attention_layers(unit)
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k in ("output", "end") or k in att or desc.get("class") not in _SIZED or not _int_n_out(desc):
            continue
        if desc.get("target") or desc.get("loss") or desc.get("is_output_layer"):
            continue
        if readers := _readers(unit, k):
            out.append((k, desc["n_out"], readers, _frame_ancestors(unit, k) | {k}))
        if readers := [r for r in _readers(unit, k, f"prev:{k}") if r not in att]:
            out.append((f"prev:{k}", desc["n_out"], readers, set()))
    return out


def op_concat_split(case: Case, rng: random.Random) -> Result:
    """Two loop layers (or previous frames of loop layers) concatenated and split back, their readers
    reading the parts."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        items = _concat_items(net[rec]["unit"])
        for i, (a, _, readers_a, anc_a) in enumerate(items):
            for b, _, readers_b, anc_b in items[i + 1:]:
                if a.split(":")[-1] == b.split(":")[-1]:
                    continue
                if any(r in anc_b for r in readers_a) or any(r in anc_a for r in readers_b):
                    continue
                sites.append((rec, a, b))
    if not sites:
        return None
    rec, a, b = rng.choice(sites)
    unit = net[rec]["unit"]
    if rng.random() < 0.5:
        a, b = b, a
    ha, hb = a.split(":")[-1], b.split(":")[-1]
    na = f"prev_{ha}" if a.startswith("prev:") else ha
    nb = f"prev_{hb}" if b.startswith("prev:") else hb
    cat, parts = _fresh(unit, f"{na}_{nb}_concat"), _fresh(unit, f"{na}_{nb}_parts")
    readers_a, readers_b = _readers(unit, ha, a), _readers(unit, hb, b)
    unit[cat] = {"class": "copy", "from": [a, b]}
    unit[parts] = {"class": "split", "from": cat, "size_splits": [unit[ha]["n_out"], unit[hb]["n_out"]]}
    if rng.random() < 0.5:
        unit[parts]["axis"] = "F"
    _redirect(unit, readers_a, a, f"{parts}/0")
    _redirect(unit, readers_b, b, f"{parts}/1")
    what = (f"{rec}/{cat} concatenates {a} and {b}, split back by {parts}; {', '.join(readers_a)} read "
            f"{parts}/0, {', '.join(readers_b)} read {parts}/1")
    if rng.random() < 0.3:
        unit[cat]["is_output_layer"] = True
        root, kind = _root_path_reader(net, rec, cat, rng)
        what += f"; {cat} an output of the loop, read at the root by {root} ({kind})"
    return new, what


def op_root_split(case: Case, rng: random.Random) -> Result:
    """A root layer widened and split at the root; its readers read the part of its old size."""
    new, net = _copy(case)
    recs = _recs(net)
    feeding: set[str] = set()
    for rec in recs:
        feeding |= _root_ancestors(net, rec)
    beamed = _beamed_roots(net)
    sites = []
    for k in _layers(net):
        desc = net[k]
        cls = desc.get("class")
        if k == "output" or not _int_n_out(desc) or desc.get("loss") or desc.get("target"):
            continue
        if desc.get("is_output_layer") or not (cls == "linear" or cls == "rec" and isinstance(desc.get("unit"), str)):
            continue
        loop_readers = [(r, u) for r in recs for u in _readers(net[r]["unit"], "", f"base:{k}")]
        if (k in feeding and loop_readers) or (k in beamed and _readers(net, k)):
            sites.append((k, loop_readers))
    if not sites:
        return None
    name, loop_readers = rng.choice(sites)
    n = net[name]["n_out"]
    extra = rng.choice([1, 2, 3, 5])
    first = rng.random() < 0.6
    wide, parts = _fresh(net, f"{name}_wide"), _fresh(net, f"{name}_parts")
    desc = dict(net.pop(name))
    desc["n_out"] = n + extra
    net[wide] = desc
    net[parts] = {"class": "split", "axis": "F", "from": wide, "size_splits": [n, extra] if first else [extra, n]}
    keep, rest = (f"{parts}/0", f"{parts}/1") if first else (f"{parts}/1", f"{parts}/0")
    readers = [r for r in _readers(net, name) if r not in (wide, parts)]
    _redirect(net, readers, name, keep)
    for rec, user in loop_readers:
        _redirect(net[rec]["unit"], [user], f"base:{name}", f"base:{keep}")
    where = readers + [f"{r}/{u}" for r, u in loop_readers]
    what = (f"{name} widened to {n + extra} ({wide}), split at the root by {parts} into {n} ({keep}) and "
            f"{extra} ({rest}); {', '.join(where)} read {keep}")
    if _still_named(net, name):
        net[name] = {"class": "copy", "from": keep}
        what += f"; {name} a copy of {keep}"
    takers = [(r, u) for r, u in loop_readers if net[r]["unit"][u].get("class") in _TAKES_SOURCES]
    if takers and rng.random() < 0.5:
        rec, user = rng.choice(takers)
        _add_source(net[rec]["unit"][user], f"base:{rest}")
        return new, f"{what}; {rec}/{user} also reads base:{rest}"
    out = _fresh(net, f"{name}_extra")
    net[out] = {"class": rng.choice(["copy", "activation"]), "from": rest, "is_output_layer": True}
    if net[out]["class"] == "activation":
        net[out]["activation"] = "tanh"
    return new, f"{what}; {rest} read by the root output layer {out}"


def op_loop_subnet_path(case: Case, rng: random.Random) -> Result:
    """A subnetwork in a searching loop whose inner layer a root layer reads by a two-level path."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            if k == "end" or desc.get("class") in ("choice", "subnetwork", "compare", "softmax_over_spatial"):
                continue
            if desc.get("class") in ("linear", "rnn_cell", "combine", "activation", "generic_attention", "copy",
                                     "dot_attention", "eval") and _readers(unit, k):
                sites.append((rec, k))
    if not sites:
        return None
    rec, state = rng.choice(sites)
    unit = net[rec]["unit"]
    src = f"prev:{state}" if rng.random() < 0.3 else state
    sub = _fresh(unit, f"{state}_feat")
    size = rng.choice([2, 3, 4, 5])
    inner: dict[str, Any] = {"class": "linear", "activation": rng.choice(["tanh", None, "relu"]), "from": "data",
                             "n_out": size}
    if rng.random() < 0.5:
        output = {"class": "copy", "from": "proj"}
    else:
        output = {"class": "linear", "activation": None, "from": "proj", "n_out": size}
    unit[sub] = {"class": "subnetwork", "from": src, "subnetwork": {"proj": inner, "output": output}}
    mark = rng.choices(["inner", "subnet", "both"], [0.5, 0.2, 0.3])[0]
    if mark in ("inner", "both"):
        inner["is_output_layer"] = True
    if mark in ("subnet", "both"):
        unit[sub]["is_output_layer"] = True
    root, kind = _root_path_reader(net, rec, f"{sub}/proj", rng)
    what = (f"{rec}/{sub}: a subnetwork over {src} (proj, output), {mark} marked an output; {root} reads "
            f"{rec}/{sub}/proj at the root ({kind})")
    anc = _frame_ancestors(unit, state) if src == state else set()
    takers = [k for k in _layers(unit) if k not in (sub, state) and k not in anc
              and unit[k].get("class") in _TAKES_SOURCES]
    if takers and rng.random() < 0.5:
        user = rng.choice(takers)
        ref = rng.choice([f"{sub}/proj", sub])
        _add_source(unit[user], ref)
        what += f"; {rec}/{user} also reads {ref}"
    return new, what


FRESH41_OPERATORS: tuple[Op, ...] = (
    Op("widen-split", op_widen_split, 1),
    Op("concat-split", op_concat_split, 1),
    Op("root-split", op_root_split, 1),
    Op("loop-subnet-path", op_loop_subnet_path, 1),
)
