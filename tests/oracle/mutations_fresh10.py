"""A twelfth set of edit operators (issue 15, fourth session), written and seeded before the eleventh
set (``mutations_fresh9.py``) was opened for development: held out from then on, looked at as counts
only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``end-from-scores``: the loop's ``end`` compares the argmax of the choice's scores with 0 instead
  of the choice itself;
* ``cell-as-rec``: a loop ``rnn_cell`` becomes a ``rec`` layer with the same string unit (a cell
  inside the loop);
* ``initial-var``: a loop state with a previous frame read gets ``initial_output: "var"`` (a trained
  initial value);
* ``norm-in-loop``: a loop layer's readers read a ``layer_norm`` of it;
* ``window-at-root``: the readers of a searching rec layer read a window over its output, reduced
  (a layer over the beamed sequence at the root).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _read_decoder,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH10_SEED = 20261222
N_FRESH10 = 80

Result = "tuple[Case, str] | None"


def op_end_from_scores(case: Case, rng: random.Random) -> Result:
    """``end`` compares the argmax of the choice's scores with 0."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if "end" in net[r]["unit"] and _sources(net[r]["unit"][c])
             and _sources(net[r]["unit"][c])[0] in net[r]["unit"]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    best = _fresh(unit, "best_label")
    unit[best] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": scores}
    unit["end"] = {"class": "compare", "from": best, "value": 0}
    return new, f"{rec}/end compares argmax({scores}) with 0 ({best}), not {choice}"


def op_cell_as_rec(case: Case, rng: random.Random) -> Result:
    """A loop rnn_cell becomes a rec layer with the same string unit."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") == "rnn_cell" and isinstance(net[r]["unit"][k].get("unit"), str)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[rec]["unit"][name]
    desc["class"] = "rec"
    return new, f"{rec}/{name}: rnn_cell -> rec (unit {desc['unit']!r})"


def op_initial_var(case: Case, rng: random.Random) -> Result:
    """A loop state read as prev: gets a trained initial value."""
    new, net = _copy(case)
    sites = []
    for r in _recs(net):
        unit = net[r]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") in ("linear", "combine", "activation", "generic_attention", "dot_attention") \
                    and _readers(unit, k, f"prev:{k}") and not unit[k].get("target"):
                sites.append((r, k))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    old = net[rec]["unit"][name].get("initial_output", "zeros")
    net[rec]["unit"][name]["initial_output"] = "var"
    return new, f"{rec}/{name}: initial_output {old!r} -> 'var'"


def op_norm_in_loop(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read a layer_norm of it."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") in ("linear", "rnn_cell", "combine", "dot_attention",
                                                    "generic_attention", "activation")
             and _readers(net[r]["unit"], k) and k != "end"]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    users = _readers(unit, name)
    norm = _fresh(unit, f"{name}_norm")
    unit[norm] = {"class": "layer_norm", "from": name}
    _redirect(unit, users, name, norm)
    return new, f"{rec}/{name}'s readers ({', '.join(users)}) read a layer_norm of it"


def op_window_at_root(case: Case, rng: random.Random) -> Result:
    """The readers of a searching rec layer read a window over its output, reduced."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, users = found
    emb = _fresh(net, f"{rec}_emb")
    win = _fresh(set(net) | {emb}, f"{rec}_win")
    red = _fresh(set(net) | {emb, win}, f"{rec}_ctx")
    net[emb] = {"class": "linear", "activation": None, "n_out": 4, "from": rec}
    net[win] = {"class": "window", "window_size": 3, "from": emb}
    net[red] = {"class": "reduce", "mode": "mean", "axis": "spatial:-1", "from": win}
    readers_kept = [u for u in users if net[u].get("class") != "decide"]
    if not readers_kept:
        net[red]["is_output_layer"] = True
        return new, f"add {red}: a window over {rec}'s output, averaged (an output layer)"
    _redirect(net, readers_kept, rec, red)
    return new, f"{rec}'s readers ({', '.join(readers_kept)}) read a window over it, averaged ({red})"


FRESH10_OPERATORS: tuple[Op, ...] = (
    Op("end-from-scores", op_end_from_scores, 1),
    Op("cell-as-rec", op_cell_as_rec, 1),
    Op("initial-var", op_initial_var, 1),
    Op("norm-in-loop", op_norm_in_loop, 1),
    Op("window-at-root", op_window_at_root, 1),
)
