"""A thirteenth set of edit operators (issue 15, fourth session), written and seeded before the eleventh
set (``mutations_fresh9.py``) was opened for development: held out from then on, looked at as counts
only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``eval-out-type``: a loop layer's readers read an ``eval`` of it with an explicit ``out_type``;
* ``prev-through-copy``: the readers of ``prev:X`` read a copy of it instead (``X_prev``);
* ``rec-target-none``: a searching rec layer loses its ``target`` option;
* ``choice-logits``: a loop choice scores logits: its softmax source becomes a linear layer and the
  choice gets ``input_type: "logits"``.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH11_SEED = 20261224
N_FRESH11 = 80

Result = "tuple[Case, str] | None"


def op_eval_out_type(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read an eval of it with an explicit out_type."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") in ("linear", "rnn_cell")
             and isinstance(net[r]["unit"][k].get("n_out"), int) and _readers(net[r]["unit"], k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    users = _readers(unit, name)
    ev = _fresh(unit, f"{name}_eval")
    unit[ev] = {"class": "eval", "from": name, "eval": "tf.identity(source(0))",
                "out_type": {"dim": unit[name]["n_out"], "shape": (unit[name]["n_out"],)}}
    _redirect(unit, users, name, ev)
    return new, f"{rec}/{name}'s readers ({', '.join(users)}) read an eval of it with an out_type"


def op_prev_through_copy(case: Case, rng: random.Random) -> Result:
    """The readers of prev:X read a copy of it."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if _readers(net[r]["unit"], k, f"prev:{k}")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    users = [u for u in _readers(unit, name, f"prev:{name}") if u != name]
    if not users:
        return None
    cp = _fresh(unit, f"{name}_prev")
    unit[cp] = {"class": "copy", "from": f"prev:{name}"}
    _redirect(unit, users, f"prev:{name}", cp)
    return new, f"{rec}: {', '.join(users)} read {cp} (a copy of prev:{name})"


def op_rec_target_none(case: Case, rng: random.Random) -> Result:
    """A searching rec layer loses its target option."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if "target" in net[r]]
    if not recs:
        return None
    rec = rng.choice(recs)
    old = net[rec].pop("target")
    return new, f"{rec}: target {old!r} removed"


def op_choice_logits(case: Case, rng: random.Random) -> Result:
    """A loop choice scores logits of a linear layer."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _sources(net[r]["unit"][c]) and _sources(net[r]["unit"][c])[0] in net[r]["unit"]
             and net[r]["unit"][_sources(net[r]["unit"][c])[0]].get("class") == "softmax"
             and net[r]["unit"][c].get("input_type", "prob") == "prob"]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    src = _sources(unit[choice])[0]
    desc = unit[src]
    desc["class"] = "linear"
    desc["activation"] = None
    unit[choice]["input_type"] = "logits"
    return new, f"{rec}/{choice} scores logits ({src}: softmax -> linear)"


FRESH11_OPERATORS: tuple[Op, ...] = (
    Op("eval-out-type", op_eval_out_type, 1),
    Op("prev-through-copy", op_prev_through_copy, 1),
    Op("rec-target-none", op_rec_target_none, 1),
    Op("choice-logits", op_choice_logits, 1),
)
