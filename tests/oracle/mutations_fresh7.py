"""A ninth set of edit operators (issue 15, third session), written and seeded before the eighth set
(``mutations_fresh6.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``reorder-unit``: a rec unit's layers in another order (RETURNN's construction follows the dict
  in places);
* ``end-in-subnet``: the loop's ``end`` layer moves into a ``subnetwork`` of the unit;
* ``copy-choice``: the frame's choice is copied, and the layers reading ``prev:`` of the choice read
  ``prev:`` of the copy;
* ``layer-target``: a loop layer with a data ``target`` takes the loop's choice as target instead
  (``target: "layer:CHOICE"``);
* ``cheating``: a loop choice gets ``cheating: True`` (it takes the target as its best hypothesis);
* ``dropout-wrap``: a layer's readers read a ``dropout`` of it (a no-op in search).
"""

from __future__ import annotations

import random

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
    _scopes,
    _searching_recs,
    _unit_choices,
    _where,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH7_SEED = 20261216
N_FRESH7 = 80

Result = "tuple[Case, str] | None"


def op_reorder_unit(case: Case, rng: random.Random) -> Result:
    """A rec unit's layer dict in another order."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if len(net[r]["unit"]) > 2]
    if not recs:
        return None
    rec = rng.choice(recs)
    items = list(net[rec]["unit"].items())
    rng.shuffle(items)
    net[rec]["unit"] = dict(items)
    return new, f"{rec}'s unit in the order {', '.join(k for k, _ in items)}"


def op_end_in_subnet(case: Case, rng: random.Random) -> Result:
    """The loop's ``end`` moves into a subnetwork of the unit."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if "end" in net[r]["unit"]]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    inner = dict(unit["end"])
    local = set(_layers(unit))

    def outer(ref: str) -> str:
        if ref.startswith(("base:", "prev:", "data:")) or ref == "data" or ref.split("/")[0] in local:
            return "base:" + ref
        return ref

    _map_refs(inner, outer)
    unit["end"] = {"class": "subnetwork", "from": [], "subnetwork": {"output": inner}}
    return new, f"{rec}/end moves into a subnetwork"


def op_copy_choice(case: Case, rng: random.Random) -> Result:
    """Readers of ``prev:CHOICE`` read ``prev:`` of a copy of the choice instead."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _readers(net[r]["unit"], c, f"prev:{c}")]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    users = _readers(unit, choice, f"prev:{choice}")
    cp = _fresh(unit, f"{choice}_copy")
    unit[cp] = {"class": "copy", "from": choice}
    if "initial_output" in unit[choice]:
        unit[cp]["initial_output"] = unit[choice]["initial_output"]
    _redirect(unit, users, f"prev:{choice}", f"prev:{cp}")
    return new, f"{rec}: {', '.join(users)} read prev:{cp} (a copy of {choice}) instead of prev:{choice}"


def op_layer_target(case: Case, rng: random.Random) -> Result:
    """A loop layer's data target becomes the loop's choice (``layer:CHOICE``)."""
    new, net = _copy(case)
    sites = [(r, k, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             for k in _layers(net[r]["unit"])
             if k != c and isinstance(net[r]["unit"][k].get("target"), str)
             and not net[r]["unit"][k]["target"].startswith("layer:")
             and net[r]["unit"][k].get("class") != "choice"]
    if not sites:
        return None
    rec, name, choice = rng.choice(sites)
    old = net[rec]["unit"][name]["target"]
    net[rec]["unit"][name]["target"] = f"layer:{choice}"
    return new, f"{rec}/{name}: target {old} -> layer:{choice}"


def op_cheating(case: Case, rng: random.Random) -> Result:
    """A loop choice gets ``cheating: True``."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if not net[r]["unit"][c].get("cheating")]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    net[rec]["unit"][choice]["cheating"] = True
    return new, f"{rec}/{choice}: cheating True"


def op_dropout_wrap(case: Case, rng: random.Random) -> Result:
    """A layer's readers read a dropout of it."""
    new, net = _copy(case)
    sites = [(rec, layers, k) for rec, layers in _scopes(net) for k in _layers(layers)
             if layers[k].get("class") not in ("choice", "rec", "decide") and k != "end"
             and _readers(layers, k)]
    if not sites:
        return None
    rec, layers, name = rng.choice(sites)
    users = _readers(layers, name)
    drop = _fresh(layers, f"{name}_drop")
    layers[drop] = {"class": "dropout", "from": name, "dropout": 0.1}
    _redirect(layers, users, name, drop)
    return new, f"{_where(rec, name)}'s readers ({', '.join(users)}) read a dropout of it"


FRESH7_OPERATORS: tuple[Op, ...] = (
    Op("reorder-unit", op_reorder_unit, 1),
    Op("end-in-subnet", op_end_in_subnet, 1),
    Op("copy-choice", op_copy_choice, 1),
    Op("layer-target", op_layer_target, 1),
    Op("cheating", op_cheating, 1),
    Op("dropout-wrap", op_dropout_wrap, 1),
)
