"""A fourth set of edit operators (issue 15, second session), written and seeded when the third set
(``mutations_fresh.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``wrap-cond``: a loop layer becomes a ``cond`` on a comparison of the frame's choice (or its
  previous value, or ``:i``), the layer itself one branch, a copy of one of its sources the other;
* ``move-end``: the loop's ``end`` compares another loop layer (or the previous choice);
* ``drop-source``: a layer with several sources loses one;
* ``greedy``: a loop choice becomes a greedy ``reduce`` argmax of its scores (no beam there);
* ``extern-flags``: an extern-data key's ``available_for_inference`` flips;
* ``swap-sources``: a layer's sources come in reverse order;
* ``max-len-from``: the loop's ``max_seq_len`` is taken from another root layer.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _head,
    _layers,
    _recs,
    _scopes,
    _sources,
    _unit_choices,
    _where,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH2_SEED = 20261208
N_FRESH2 = 80

Result = "tuple[Case, str] | None"




def op_wrap_cond(case: Case, rng: random.Random) -> Result:
    """Make a loop layer a ``cond`` whose branches are the layer and a copy of its first source."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if k != "end" and net[r]["unit"][k].get("class") not in ("choice", "rec", "cond")
             and _sources(net[r]["unit"][k])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    choices = _unit_choices(unit)
    cond = _fresh(unit, f"{name}_cond")
    what = rng.choice([f"prev:{c}" for c in choices] + choices + [":i"]) if choices else ":i"
    unit[cond] = {"class": "compare", "from": what, "value": 0, "kind": "equal" if what == ":i" else "not_equal"}
    desc = unit[name]
    keep = {k: v for k, v in desc.items() if k not in ("is_output_layer", "initial_output", "loss", "target")}
    other = {"class": "copy", "from": _sources(desc)[0]}
    branches = [keep, other] if rng.random() < 0.5 else [other, keep]
    outer: dict[str, Any] = {"class": "cond", "condition": cond, "true_layer": branches[0],
                             "false_layer": branches[1]}
    for key in ("is_output_layer", "initial_output"):
        if key in desc:
            outer[key] = desc[key]
    unit[name] = outer
    return new, f"{rec}/{name} becomes a cond on {what} (the layer or a copy of {other['from']})"


def op_move_end(case: Case, rng: random.Random) -> Result:
    """Let the loop's ``end`` compare another loop layer, or the previous choice."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if "end" in net[r]["unit"]]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    pool = [k for k in _layers(unit) if k != "end"] + [f"prev:{c}" for c in _unit_choices(unit)]
    src = rng.choice(pool)
    if src in _sources(unit["end"]):
        return None
    unit["end"] = {"class": "compare", "from": src, "value": 0}
    return new, f"{rec}/end compares {src}"


def op_drop_source(case: Case, rng: random.Random) -> Result:
    """Drop one source of a layer that has several."""
    new, net = _copy(case)
    sites = [(rec, layers, k) for rec, layers in _scopes(net) for k in _layers(layers)
             if isinstance(layers[k].get("from"), list) and len(layers[k]["from"]) >= 2]
    if not sites:
        return None
    rec, layers, name = rng.choice(sites)
    dropped = layers[name]["from"].pop(rng.randrange(len(layers[name]["from"])))
    return new, f"{_where(rec, name)} no longer reads {dropped}"


def op_greedy(case: Case, rng: random.Random) -> Result:
    """Replace a loop choice by the argmax of its scores (greedy, no beam in that loop)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _recs(net) for c in _unit_choices(net[r]["unit"])
             if net[r]["unit"][c].get("input_type") != "regression" and _sources(net[r]["unit"][c])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[rec]["unit"][name]
    greedy = {"class": "reduce", "mode": "argmax", "axis": "F", "from": _sources(desc)[0]}
    for key in ("initial_output", "is_output_layer"):
        if key in desc:
            greedy[key] = desc[key]
    net[rec]["unit"][name] = greedy
    return new, f"{rec}/{name} becomes argmax({_sources(desc)[0]})"


def op_extern_flags(case: Case, rng: random.Random) -> Result:
    """Flip ``available_for_inference`` of an extern-data key."""
    new, net = _copy(case)
    ext = new.get("extern_data")
    if not isinstance(ext, dict) or not ext:
        return None
    key = rng.choice(sorted(k for k, v in ext.items() if isinstance(v, dict)) or [None])
    if key is None:
        return None
    old = ext[key].get("available_for_inference")
    ext[key] = copy.deepcopy(ext[key])
    ext[key]["available_for_inference"] = not old if old is not None else key != "data"
    # the generator tells mutants apart by their network: a top-level '#' key is a comment to RETURNN
    net["#extern_data"] = f"{key}: available_for_inference={ext[key]['available_for_inference']}"
    return new, f"extern data {key!r}: available_for_inference {old!r} -> {ext[key]['available_for_inference']!r}"


def op_swap_sources(case: Case, rng: random.Random) -> Result:
    """Reverse the order of a layer's sources."""
    new, net = _copy(case)
    sites = [(rec, layers, k) for rec, layers in _scopes(net) for k in _layers(layers)
             if isinstance(layers[k].get("from"), list) and len(set(map(str, layers[k]["from"]))) >= 2]
    if not sites:
        return None
    rec, layers, name = rng.choice(sites)
    layers[name]["from"] = list(reversed(layers[name]["from"]))
    return new, f"{_where(rec, name)} reads {layers[name]['from']}"


def op_max_len_from(case: Case, rng: random.Random) -> Result:
    """Take a searching loop's ``max_seq_len`` from another root layer (``max_len_from``)."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if _unit_choices(net[r]["unit"])]
    roots = [k for k in _layers(net) if net[k].get("class") not in ("rec",)]
    if not recs or not roots:
        return None
    rec, root = rng.choice(recs), rng.choice(roots)
    if _head(root) is None:
        return None
    value = f"max_len_from('base:{root}')" + rng.choice(["", " * 2"])
    if net[rec].get("max_seq_len") == value:
        return None
    net[rec]["max_seq_len"] = value
    return new, f"{rec}: max_seq_len = {value}"


FRESH2_OPERATORS: tuple[Op, ...] = (
    Op("wrap-cond", op_wrap_cond, 1.5),
    Op("move-end", op_move_end, 1),
    Op("drop-source", op_drop_source, 1.5),
    Op("greedy", op_greedy, 1),
    Op("extern-flags", op_extern_flags, 1),
    Op("swap-sources", op_swap_sources, 1.5),
    Op("max-len-from", op_max_len_from, 1),
)
