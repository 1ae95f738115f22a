"""A seventeenth set of edit operators (issue 15, sixth session), written and seeded before it was ever run,
after fresh14 was opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``unit-output-subnet``: the unit's ``output`` becomes a ``subnetwork`` whose inner ``output`` copies
  what ``output`` was (renamed; its readers in the loop, ``prev:`` included, follow the rename);
* ``prev-in-subnet``: a loop layer's ``prev:X`` source is read through a subnetwork of the unit (its
  inner layer reads ``base:prev:X``);
* ``output-reads-prev``: a new output layer of the unit reads only the previous frame of a loop layer;
* ``ensemble-choice``: a loop choice scores the average of its softmax and a second softmax over
  another loop layer (a model ensemble).
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
FRESH15_SEED = 20261208
N_FRESH15 = 80

Result = "tuple[Case, str] | None"


def _plain(unit: dict, exclude: tuple[str, ...] = ("end",)) -> list[str]:
    return [k for k in _layers(unit) if k not in exclude and unit[k].get("class") not in ("rec", "subnetwork")]


def op_unit_output_subnet(case: Case, rng: random.Random) -> Result:
    """The unit's output becomes a subnetwork copying what it was."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if "output" in net[r]["unit"]
            and net[r]["unit"]["output"].get("class") not in ("subnetwork", "rec")]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    inner = _fresh(unit, "output_inner")
    unit[inner] = unit.pop("output")
    _redirect(unit, _readers(unit, "output"), "output", inner)
    _redirect(unit, _readers(unit, "output", "prev:output"), "prev:output", f"prev:{inner}")
    unit["output"] = {"class": "subnetwork", "from": [], "subnetwork": {
        "output": {"class": "copy", "from": f"base:{inner}"}}}
    return new, f"{rec}/output is a subnetwork copying {inner} (the old output)"


def op_prev_in_subnet(case: Case, rng: random.Random) -> Result:
    """A loop layer reads a ``prev:X`` source through a subnetwork."""
    new, net = _copy(case)
    sites = [(r, k, s) for r in _recs(net) for k in _plain(net[r]["unit"])
             for s in _sources(net[r]["unit"][k]) if s.startswith("prev:") and s[5:] in net[r]["unit"]]
    if not sites:
        return None
    rec, name, src = rng.choice(sites)
    unit = net[rec]["unit"]
    sub = _fresh(unit, f"{src[5:]}_prev_sub")
    unit[sub] = {"class": "subnetwork", "from": [], "subnetwork": {
        "output": {"class": "copy", "from": f"base:{src}"}}}
    _redirect(unit, [name], src, sub)
    return new, f"{rec}/{name} reads {src} through the subnetwork {sub}"


def op_output_reads_prev(case: Case, rng: random.Random) -> Result:
    """A new output layer of the unit reads only the previous frame of a loop layer."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _plain(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    out = _fresh(unit, f"{name}_last")
    unit[out] = {"class": "copy", "from": f"prev:{name}", "is_output_layer": True}
    return new, f"{rec}/{out}: an output layer copying prev:{name}"


def op_ensemble_choice(case: Case, rng: random.Random) -> Result:
    """A loop choice scores the average of its softmax and a second softmax over another loop layer."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            srcs = _sources(unit[choice])
            if len(srcs) != 1 or srcs[0] not in unit or unit[srcs[0]].get("class") != "softmax":
                continue
            others = [k for k in _plain(unit, ("end", choice, srcs[0])) if unit[k].get("class") != "choice"
                      and isinstance(unit[k].get("n_out"), int)]
            sites += [(rec, choice, srcs[0], o) for o in others]
    if not sites:
        return None
    rec, choice, prob, other = rng.choice(sites)
    unit = net[rec]["unit"]
    prob2, avg = _fresh(unit, f"{prob}_ens"), _fresh(unit, f"{prob}_avg")
    unit[prob2] = {"class": "softmax", "from": other}
    target = unit[prob].get("target") or unit[choice].get("target")
    if isinstance(target, str):
        unit[prob2]["target"] = target
    if "n_out" in unit[prob]:
        unit[prob2]["n_out"] = unit[prob]["n_out"]
    unit[avg] = {"class": "combine", "kind": "average", "from": [prob, prob2]}
    unit[choice]["from"] = avg
    return new, f"{rec}/{choice} scores the average of {prob} and {prob2} (a softmax over {other})"


FRESH15_OPERATORS: tuple[Op, ...] = (
    Op("unit-output-subnet", op_unit_output_subnet, 1),
    Op("prev-in-subnet", op_prev_in_subnet, 1),
    Op("output-reads-prev", op_output_reads_prev, 1),
    Op("ensemble-choice", op_ensemble_choice, 1),
)
