"""A seventh set of edit operators (issue 15, third session), written and seeded before the sixth set
(``mutations_fresh4.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``wrap-choice``: a loop choice moves into a ``subnetwork`` of the unit (the subnetwork's ``output``
  is the choice, the loop layer keeps its name, so ``prev:`` readers read the subnetwork);
* ``rename-key``: an extern-data key other than ``data`` gets a new name everywhere (``data:key``,
  ``target``, ``num_outputs``);
* ``window-in-loop``: a loop layer's readers read a left window over its last frames, averaged
  (a layer with its own state in the loop);
* ``cumsum-in-loop``: a loop layer's readers read its running sum (state in the loop);
* ``switch``: a loop layer becomes a ``switch`` on a comparison of the previous choice (or ``:i``),
  between the layer and zeros of its shape;
* ``no-move-out``: a loop's ``optimize_move_layers_out`` is switched off (or on, where it was off).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _redirect,
    _sources,
    _unit_choices,
    _walk,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH5_SEED = 20261212
N_FRESH5 = 80

Result = "tuple[Case, str] | None"


def _to_inner(ref: str, local: set[str]) -> str:
    """A reference of the unit as seen from a subnetwork inside it."""
    if ref.startswith(("base:", "prev:", "data:")) or ref == "data" or ref.split("/")[0] in local:
        return "base:" + ref
    return ref


def op_wrap_choice(case: Case, rng: random.Random) -> Result:
    """Move a loop choice into a subnetwork of the unit; the subnetwork takes the choice's name."""
    new, net = _copy(case)
    sites = [(r, c) for r in _recs(net) for c in _unit_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = dict(unit[name])
    local = set(_layers(unit))
    inner = {k: v for k, v in desc.items() if k not in ("initial_output", "is_output_layer")}
    _map_refs(inner, lambda r: _to_inner(r, local))
    outer: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": {"output": inner}}
    for key in ("initial_output", "is_output_layer"):
        if key in desc:
            outer[key] = desc[key]
    unit[name] = outer
    return new, f"{rec}/{name} (a choice) moves into a subnetwork of the same name"


def op_rename_key(case: Case, rng: random.Random) -> Result:
    """Give an extern-data key other than ``data`` a new name everywhere it is named."""
    new, net = _copy(case)
    keys = sorted(k for k in (new.get("extern_data") or {}) if k != "data")
    keys += sorted(k for k in (new.get("num_outputs") or {}) if k != "data" and k not in keys)
    if not keys:
        return None
    old = rng.choice(keys)
    fresh = _fresh(set(keys) | {"data"}, rng.choice(["bpe", "labels", "targets", "orth"]))

    def ref(r: str) -> str:
        for pre in ("data:", "base:data:", "base:base:data:"):
            if r == pre + old:
                return pre + fresh
        return r

    def visit(layers: dict[str, Any]) -> None:
        for k in _layers(layers):
            d = layers[k]
            _map_refs(d, ref)
            if d.get("target") == old:
                d["target"] = fresh
            elif isinstance(d.get("target"), list):
                d["target"] = [fresh if t == old else t for t in d["target"]]
            for key in ("max_seq_len", "size_target"):
                if isinstance(d.get(key), str):
                    d[key] = d[key].replace(f"'{old}'", f"'{fresh}'").replace(f"data:{old}", f"data:{fresh}")
                    if d[key] == old:
                        d[key] = fresh
            if isinstance(d.get("unit"), dict):
                visit(d["unit"])
            if isinstance(d.get("subnetwork"), dict):
                visit(d["subnetwork"])

    visit(net)
    for field in ("extern_data", "num_outputs"):
        if old in (new.get(field) or {}):
            value = new[field].pop(old)
            if isinstance(value, dict) and value.get("name") == old:
                value = {**value, "name": fresh}
            new[field][fresh] = _walk(value, lambda s: s.replace(f"extern_data:{old}", f"extern_data:{fresh}"))
    if "config" in new:
        new["config"] = _walk(new["config"], lambda s: fresh if s == old else s)
    return new, f"extern data '{old}' renamed '{fresh}'"


def _float_loop_layers(unit: dict[str, Any]) -> list[str]:
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in (
        "linear", "softmax", "rec", "combine", "activation", "copy", "eval", "dot", "reduce", "attention",
        "self_attention", "generic_attention", "concat", "elemwise_prod", "subnetwork")
        and not unit[k].get("target") and _readers(unit, k)]


def _float_site(net: dict[str, Any], rng: random.Random) -> tuple[str, str, dict[str, Any], list[str]] | None:
    """A float-valued loop layer that other loop layers read: (rec, name, unit, readers)."""
    sites = [(r, k) for r in _recs(net) for k in _float_loop_layers(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    return rec, name, unit, _readers(unit, name)


def op_window_in_loop(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read the mean over a left window of its last frames."""
    new, net = _copy(case)
    site = _float_site(net, rng)
    if site is None:
        return None
    rec, name, unit, readers = site
    size = rng.choice([2, 3, 5])
    win = _fresh(unit, f"{name}_win")
    avg = _fresh(set(unit) | {win}, f"{name}_win_avg")
    unit[win] = {"class": "window", "from": name, "window_size": size, "window_right": 0}
    unit[avg] = {"class": "reduce", "mode": "mean", "from": win, "axis": f"dim:{size}"}
    _redirect(unit, readers, name, avg)
    return new, f"{rec}/{name}'s readers ({', '.join(readers)}) read a window of {size} frames over it, averaged"


def op_cumsum_in_loop(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read its running sum over the frames."""
    new, net = _copy(case)
    site = _float_site(net, rng)
    if site is None:
        return None
    rec, name, unit, readers = site
    cum = _fresh(unit, f"{name}_cumsum")
    unit[cum] = {"class": "cumsum", "from": name}
    _redirect(unit, readers, name, cum)
    return new, f"{rec}/{name}'s readers ({', '.join(readers)}) read its running sum"


def op_switch(case: Case, rng: random.Random) -> Result:
    """A loop layer becomes a switch between itself and zeros of its shape, on the previous choice or
    the frame index."""
    new, net = _copy(case)
    site = _float_site(net, rng)
    if site is None:
        return None
    rec, name, unit, _ = site
    choices = _unit_choices(unit)
    what = rng.choice([f"prev:{c}" for c in choices] + [":i"])
    inner = _fresh(unit, f"{name}_value")
    zero = _fresh(set(unit) | {inner}, f"{name}_zero")
    cond = _fresh(set(unit) | {inner, zero}, f"{name}_cond")
    desc = unit.pop(name)
    keep = {k: desc.pop(k) for k in ("initial_output", "is_output_layer") if k in desc}
    unit[inner] = desc
    unit[zero] = {"class": "eval", "from": inner, "eval": "source(0) * 0."}
    unit[cond] = {"class": "compare", "from": what, "value": 0, "kind": "greater" if what == ":i" else "not_equal"}
    unit[name] = {"class": "switch", "condition": cond, "true_from": inner, "false_from": zero, **keep}
    return new, f"{rec}/{name} becomes a switch on {what} between itself and zeros"


def op_no_move_out(case: Case, rng: random.Random) -> Result:
    """Switch a loop's ``optimize_move_layers_out`` off (or on where it is off)."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if _sources(net[r]) or net[r].get("max_seq_len") or "end" in net[r]["unit"]]
    if not recs:
        return None
    rec = rng.choice(recs)
    old = net[rec].get("optimize_move_layers_out", True)
    net[rec]["optimize_move_layers_out"] = not old
    return new, f"{rec}: optimize_move_layers_out {old} -> {not old}"


FRESH5_OPERATORS: tuple[Op, ...] = (
    Op("wrap-choice", op_wrap_choice, 1.5),
    Op("rename-key", op_rename_key, 1),
    Op("window-in-loop", op_window_in_loop, 1),
    Op("cumsum-in-loop", op_cumsum_in_loop, 1),
    Op("switch", op_switch, 1.5),
    Op("no-move-out", op_no_move_out, 1.5),
)
