"""A twenty-fifth set of edit operators (issue 15, seventh session), written and seeded before it was ever
run, after fresh22 was opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``choice-over-variable``: a loop choice's scores get a learned bias without batch axis added
  (``variable`` of the target's size, then ``combine``), or are that bias alone;
* ``end-on-prev-choice``: a loop ends when the previous frame's label was the end label (``end`` reads
  only ``prev:`` of its choice);
* ``choice-from-root``: a loop choice scores over a root softmax of the mean of an encoder layer
  (``base:``), the same for every frame;
* ``concat-prev-scores``: a loop choice scores over its scores concatenated with the previous frame's
  along the feature axis.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _encoder_sites,
    _fresh,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH23_SEED = 20261216
N_FRESH23 = 80

Result = "tuple[Case, str] | None"


def _choice_sites(case: Case, net: dict) -> list[tuple[str, str, int]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            dim = _target_dim(case, unit[c].get("target"))
            if dim and len(_sources(unit[c])) == 1 and ":" not in _sources(unit[c])[0]:
                out.append((rec, c, dim))
    return out


def op_choice_over_variable(case: Case, rng: random.Random) -> Result:
    """A loop choice's scores get a bias without batch axis added, or are that bias alone."""
    new, net = _copy(case)
    sites = _choice_sites(case, net)
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    bias = _fresh(unit, f"{choice}_bias")
    unit[bias] = {"class": "variable", "shape": [dim], "add_batch_axis": False}
    if rng.random() < 0.5:
        biased = _fresh(unit, f"{scores}_biased")
        unit[biased] = {"class": "combine", "kind": "add", "from": [scores, bias]}
        unit[choice]["from"] = biased
        return new, f"{rec}/{choice} scores over {biased}: {scores} plus a learned bias"
    unit[choice]["from"] = bias
    return new, f"{rec}/{choice} scores over {bias}, a learned bias without batch axis"


def op_end_on_prev_choice(case: Case, rng: random.Random) -> Result:
    """A loop ends when the previous frame's label was the end label."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if "end" in net[r]["unit"] and net[r]["unit"][c].get("initial_output") is not None]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    net[rec]["unit"]["end"] = {"class": "compare", "from": f"prev:{choice}", "value": 0}
    return new, f"{rec}/end: the previous frame's {choice} was label 0"


def op_choice_from_root(case: Case, rng: random.Random) -> Result:
    """A loop choice scores over a root softmax of an encoder layer's mean."""
    new, net = _copy(case)
    sites = []
    for rec, choice, dim in _choice_sites(case, net):
        sites += [(rec, choice, dim, k)
                  for k in _encoder_sites(net, rec, ("rec", "choice", "decide", "reduce", "data", "length"))]
    if not sites:
        return None
    rec, choice, dim, enc = rng.choice(sites)
    mean, prob = _fresh(net, f"{enc}_avg"), _fresh(net, f"{rec}_{choice}_root_prob")
    net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
    net[prob] = {"class": "softmax", "from": mean, "n_out": dim}
    net[rec]["unit"][choice]["from"] = f"base:{prob}"
    return new, f"{rec}/{choice} scores over {prob}, a softmax of the mean of {enc}"


def op_concat_prev_scores(case: Case, rng: random.Random) -> Result:
    """A loop choice scores over its scores concatenated with the previous frame's."""
    new, net = _copy(case)
    sites = _choice_sites(case, net)
    if not sites:
        return None
    rec, choice, _ = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    cat = _fresh(unit, f"{scores}_with_prev")
    unit[cat] = {"class": "concat", "from": [[scores, "F"], [f"prev:{scores}", "F"]]}
    unit[choice]["from"] = cat
    return new, f"{rec}/{choice} scores over {cat}: {scores} and its previous frame"


FRESH23_OPERATORS: tuple[Op, ...] = (
    Op("choice-over-variable", op_choice_over_variable, 1),
    Op("end-on-prev-choice", op_end_on_prev_choice, 1),
    Op("choice-from-root", op_choice_from_root, 1),
    Op("concat-prev-scores", op_concat_prev_scores, 1),
)
