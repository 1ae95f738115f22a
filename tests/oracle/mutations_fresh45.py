"""A forty-seventh set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Options of the searching ``rec`` layer itself and of its unit as a whole, the way a user sets them on a
decoder that is then used for search (none a variant of an earlier operator; no rule was written for any
of them):

* ``size-target``: a searching rec layer gets ``size_target`` (its own target, the target of one of its
  choices, another data key, or ``data``): its loop axis becomes that key's time axis, as for decoding
  exactly as many labels as the reference has; where nothing reads the ``end`` layer it is dropped half of
  the time (a forced-length decoder);
* ``target-list``: a searching rec layer's ``target`` becomes a list: its target as a one-element list,
  its target followed (or preceded) by another sparse key or a choice's target, a multi-target list
  reversed or cut to its first key, or, where the rec had no target, the targets of its choices;
* ``loop-knobs``: one or two run-time knobs of the rec layer that a user copies from a training config:
  ``back_prop`` (``False``, or ``True`` where it was ``False``), ``unroll: True``,
  ``use_global_rec_step_offset: True``, or ``cheating`` on the rec layer (``True`` or ``"exclusive"``;
  the rec layer ignores it, only a choice cheats);
* ``rec-initial``: the initial value given at the rec level instead of on the loop layers:
  ``initial_output`` on the searching rec layer (``0``, ``"zeros"``, a root encoder layer it reads, or
  another beamed root layer that does not read it), or ``initial_state`` on it (``0``, ``"zeros"`` or a
  root encoder layer, the way one starts an LSTM ``rec`` from the encoder);
* ``loop-axis``: the rec layer names the axis it loops over: a new dynamic spatial dim (``axis``, a
  ``Dim`` of its own) or a static one of a few frames, or, for a loop over a given sequence (``from``),
  the source's time axis spelled out as ``"T"``.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _data_keys,
    _layers,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH45_SEED = 20270107
N_FRESH45 = 80

Result = "tuple[Case, str] | None"


def _choice_targets(unit: dict[str, Any]) -> list[str]:
    """The data keys the choices of a loop unit take as ``target`` (sorted, no ``layer:`` targets)."""
    out: set[str] = set()
    for c in _unit_choices(unit):
        tgt = unit[c].get("target")
        for t in tgt if isinstance(tgt, list) else [tgt]:
            if isinstance(t, str) and not t.startswith("layer:"):
                out.add(t)
    return sorted(out)


def _rec_target_keys(desc: dict[str, Any]) -> list[str]:
    tgt = desc.get("target")
    return [t for t in (tgt if isinstance(tgt, list) else [tgt]) if isinstance(t, str)]


def _end_unread(unit: dict[str, Any]) -> bool:
    """Whether the unit has an ``end`` layer nothing else in the unit reads."""
    if "end" not in unit:
        return False
    for k in _layers(unit):
        if k != "end" and any(r in ("end", "prev:end") or r.startswith("end/") for r in _refs(unit[k])):
            return False
    return True


def _encoder_roots(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers the rec layer reads (transitively), not beamed, not rec / choice / decide layers."""
    beamed = _beamed_roots(net)
    return [k for k in sorted(_root_ancestors(net, rec)) if k not in beamed
            and net[k].get("class") not in ("rec", "choice", "decide", "decide_keep_beam")]


def op_size_target(case: Case, rng: random.Random) -> Result:
    """A searching rec layer gets ``size_target``; maybe its unread ``end`` layer is dropped."""
    new, net = _copy(case)
    keys = _data_keys(case)
    sites = [r for r in _searching_recs(net) if not net[r].get("size_target")]
    if not sites or not keys:
        return None
    rec = rng.choice(sites)
    desc, unit = net[rec], net[rec]["unit"]
    own = [k for k in dict.fromkeys(_rec_target_keys(desc) + _choice_targets(unit)) if k in keys]
    others = [k for k in keys if k not in own]
    pool = own if own and (not others or rng.random() < 0.65) else others
    if not pool:
        return None
    key = rng.choice(pool)
    desc["size_target"] = key
    what = f"{rec}: size_target {key!r}"
    if _end_unread(unit) and rng.random() < 0.5:
        del unit["end"]
        what += f" ({rec}/end dropped: the loop runs for the length of {key!r})"
    return new, what


def op_target_list(case: Case, rng: random.Random) -> Result:
    """A searching rec layer's ``target`` becomes a list."""
    new, net = _copy(case)
    sites = _searching_recs(net)
    if not sites:
        return None
    rec = rng.choice(sites)
    desc, unit = net[rec], net[rec]["unit"]
    old = desc.get("target")
    chosen = _choice_targets(unit)
    keys = sorted(set(_sparse_keys(case)) | set(chosen))
    if isinstance(old, list) and len(old) > 1:
        value = rng.choice([list(reversed(old)), old[:1]])
    elif isinstance(old, list) and old and isinstance(old[0], str):
        others = [k for k in keys if k != old[0]]
        if not others:
            return None
        value = [old[0], rng.choice(others)]
    elif isinstance(old, str):
        others = [k for k in keys if k != old]
        forms = ["single"] + (["append", "append", "prepend", "prepend"] if others else [])
        form = rng.choice(forms)
        if form == "single":
            value = [old]
        elif form == "append":
            value = [old, rng.choice(others)]
        else:
            value = [rng.choice(others), old]
    else:
        if not chosen:
            return None
        value = list(chosen)
    if value == old:
        return None
    desc["target"] = value
    return new, f"{rec}: target {old!r} -> {value!r}"


def op_loop_knobs(case: Case, rng: random.Random) -> Result:
    """One or two run-time knobs of a searching rec layer: back_prop, unroll, global step offset,
    cheating (ignored by the rec layer)."""
    new, net = _copy(case)
    sites = _searching_recs(net)
    if not sites:
        return None
    rec = rng.choice(sites)
    desc = net[rec]
    knobs: list[tuple[str, Any]] = []
    knobs.append(("back_prop", desc.get("back_prop") is False))
    if not desc.get("unroll"):
        knobs.append(("unroll", True))
    if not desc.get("use_global_rec_step_offset"):
        knobs.append(("use_global_rec_step_offset", True))
    knobs.append(("cheating", rng.choice([c for c in (True, "exclusive") if c != desc.get("cheating")])))
    picked = rng.sample(knobs, rng.choice([1, 1, 2]))
    picked.sort(key=lambda kv: kv[0])
    for key, value in picked:
        desc[key] = value
    return new, f"{rec}: " + ", ".join(f"{k}: {v!r}" for k, v in picked)


def op_rec_initial(case: Case, rng: random.Random) -> Result:
    """``initial_output`` or ``initial_state`` given on the searching rec layer itself."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if "initial_output" not in net[r] and "initial_state" not in net[r]]
    if not sites:
        return None
    rec = rng.choice(sites)
    desc = net[rec]
    enc = _encoder_roots(net, rec)
    after = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
    beamed = [k for k in sorted(_beamed_roots(net)) if k != rec and k not in after]
    if rng.random() < 0.8:
        key = "initial_output"
        values: list[Any] = [0, "zeros"] + ([rng.choice(enc)] if enc else [])
        values += [rng.choice(beamed)] if beamed else []
    else:
        key = "initial_state"
        values = [0, "zeros"] + ([rng.choice(enc)] * 2 if enc else [])
    value = rng.choice(values)
    desc[key] = value
    kind = ("a beamed root layer" if value in beamed else "a root encoder layer" if value in enc
            else "a constant")
    return new, f"{rec}: {key} {value!r} ({kind}) on the rec layer"


def op_loop_axis(case: Case, rng: random.Random) -> Result:
    """A searching rec layer names the axis it loops over (``axis``)."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if net[r].get("axis") is None]
    if not sites:
        return None
    rec = rng.choice(sites)
    desc = net[rec]
    dyn = {"__dim__": {"description": f"{rec}-loop-time", "kind": "spatial", "dimension": None}}
    if _sources(desc):
        desc["axis"] = "T"
        return new, f"{rec}: axis 'T' (the time axis of its source {_sources(desc)})"
    if rng.random() < 0.7:
        desc["axis"] = dyn
        return new, f"{rec}: axis a new dynamic dim {rec}-loop-time"
    steps = rng.choice([2, 3, 5])
    desc["axis"] = {"__dim__": {"description": f"{rec}-steps", "kind": "spatial", "dimension": steps}}
    return new, f"{rec}: axis a static dim {rec}-steps of {steps} frames"


FRESH45_OPERATORS: tuple[Op, ...] = (
    Op("size-target", op_size_target, 1),
    Op("target-list", op_target_list, 1),
    Op("loop-knobs", op_loop_knobs, 1),
    Op("rec-initial", op_rec_initial, 1),
    Op("loop-axis", op_loop_axis, 1),
)
