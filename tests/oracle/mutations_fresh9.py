"""An eleventh set of edit operators (issue 15, fourth session), written and seeded after the template
replay (``searchgraph/analysis/template_order.py``) landed and before it was ever run: held out,
looked at as counts only. Edits a user makes to a working decoder, most of which still build:

* ``rename-odd``: a loop layer gets a name with characters real configs use (``att.w-2``), every
  reference to it (``prev:`` ones included) follows;
* ``residual-concat``: a loop layer's readers (not a choice) read it concatenated with another loop
  layer of the frame (a ``copy`` of both);
* ``eval-first``: a loop ``combine`` of several sources becomes an ``eval`` of its first source
  (the others added zero times);
* ``frame-at-step``: a loop layer also reads the encoder frame at the loop's step (``gather`` at
  ``:i``);
* ``decided-reencode``: an output layer re-encodes the decided labels (a linear layer over a
  ``decide`` of the decoder);
* ``aux-output``: a second softmax over a loop state, with the choice's target and a loss, marked
  as an output layer.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH9_SEED = 20261220
N_FRESH9 = 80

Result = "tuple[Case, str] | None"

_STATE = ("linear", "rnn_cell", "combine", "activation", "dot_attention", "generic_attention", "copy")


def op_rename_odd(case: Case, rng: random.Random) -> Result:
    """A loop layer renamed to a name with a dot and a dash; references follow."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"]) if k not in ("output", "end")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    odd = _fresh(unit, f"{name}.w-2")
    unit[odd] = unit.pop(name)
    for k in _layers(unit):
        _map_refs(unit[k], lambda r: {name: odd, f"prev:{name}": f"prev:{odd}"}.get(r, r))
    for k in _layers(net):
        _map_refs(net[k], lambda r: f"{rec}/{odd}" if r == f"{rec}/{name}" else r)
    return new, f"{rec}/{name} renamed {odd}"


def op_residual_concat(case: Case, rng: random.Random) -> Result:
    """A loop layer's non-choice readers read it concatenated with another frame layer."""
    new, net = _copy(case)
    sites = []
    for r in _recs(net):
        unit = net[r]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") not in _STATE:
                continue
            users = [u for u in _readers(unit, k) if unit[u].get("class") in ("linear", "rnn_cell")]
            # computed before it in the frame: no dependency loop
            others = sorted(o for o in _frame_ancestors(unit, k) if o in unit and unit[o].get("class") in _STATE)
            if users and others:
                sites.append((r, k, users, others))
    if not sites:
        return None
    rec, name, users, others = rng.choice(sites)
    unit = net[rec]["unit"]
    other = rng.choice(others)
    cat = _fresh(unit, f"{name}_res")
    unit[cat] = {"class": "copy", "from": [name, other]}
    _redirect(unit, users, name, cat)
    return new, f"{rec}: {', '.join(users)} read {name} concatenated with {other} ({cat})"


def op_eval_first(case: Case, rng: random.Random) -> Result:
    """A loop layer with several sources becomes an eval of its first one."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") == "combine"
             and len(_sources(net[r]["unit"][k])) > 1 and not net[r]["unit"][k].get("target")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[rec]["unit"][name]
    keep = {k: v for k, v in desc.items() if k in ("from", "initial_output", "is_output_layer")}
    # RETURNN's eval asserts that every source is used: the others count zero times
    code = "source(0)" + "".join(f" + 0.0 * source({i})" for i in range(1, len(_sources(desc))))
    net[rec]["unit"][name] = {"class": "eval", "eval": code, **keep}
    return new, f"{rec}/{name} becomes eval source(0) of {desc['from']}"


def op_frame_at_step(case: Case, rng: random.Random) -> Result:
    """A loop layer also reads the encoder frame at the loop's step."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    encs = [k for k in _layers(net) if net[k].get("class") in ("linear", "rec", "conv", "copy", "activation")
            and k not in recs and not net[k].get("target") and not isinstance(net[k].get("unit"), dict)]
    sites = [(r, k) for r in recs for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") in ("linear", "rnn_cell") and _sources(net[r]["unit"][k])]
    if not encs or not sites:
        return None
    rec, user = rng.choice(sites)
    enc = rng.choice(encs)
    unit = net[rec]["unit"]
    frame = _fresh(unit, "enc_frame")
    unit[frame] = {"class": "gather", "from": f"base:{enc}", "axis": "T", "position": ":i"}
    unit[user]["from"] = _sources(unit[user]) + [frame]
    return new, f"{rec}/{user} also reads {enc} at the step (:i)"


def op_decided_reencode(case: Case, rng: random.Random) -> Result:
    """An output layer re-encodes the decided labels of a decoder."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    dec = _fresh(net, f"{rec}_decided")
    enc = _fresh(set(net) | {dec}, f"{rec}_reencoded")
    net[dec] = {"class": "decide", "from": rec}
    net[enc] = {"class": "linear", "activation": "tanh", "n_out": 5, "from": dec, "is_output_layer": True}
    return new, f"add {enc}: a linear layer over decide({rec})"


def op_aux_output(case: Case, rng: random.Random) -> Result:
    """A second softmax over a loop state with the choice's target and a loss, an output layer."""
    new, net = _copy(case)
    sites = [(r, c, k) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if isinstance(net[r]["unit"][c].get("target"), str)
             for k in _layers(net[r]["unit"]) if net[r]["unit"][k].get("class") in ("linear", "rnn_cell")
             and not net[r]["unit"][k].get("target")]
    if not sites:
        return None
    rec, choice, state = rng.choice(sites)
    unit = net[rec]["unit"]
    aux = _fresh(unit, "aux_prob")
    unit[aux] = {"class": "softmax", "from": state, "target": unit[choice]["target"], "loss": "ce",
                 "is_output_layer": True}
    return new, f"add {rec}/{aux}: a softmax over {state} on {choice}'s target, an output layer"


FRESH9_OPERATORS: tuple[Op, ...] = (
    Op("rename-odd", op_rename_odd, 1),
    Op("residual-concat", op_residual_concat, 1),
    Op("eval-first", op_eval_first, 1),
    Op("frame-at-step", op_frame_at_step, 1),
    Op("decided-reencode", op_decided_reencode, 1),
    Op("aux-output", op_aux_output, 1),
)
