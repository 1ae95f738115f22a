"""A twenty-first set of edit operators (issue 15, seventh session), written and seeded before it was ever
run, after fresh17 and fresh18 were opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``prev-end-mask``: the readers of a loop layer read it zeroed once the hypothesis has ended
  (``switch`` on ``prev:end``);
* ``register-extern``: a root layer over a searching decoder (its decision, or the rec layer itself)
  is registered as extern data (``register_as_extern_data``) and an output layer reads it back as
  ``data:KEY``;
* ``conv-over-loop``: a root output layer convolves a loop layer's frames over the output time axis
  (``conv`` over ``REC/LAYER``);
* ``end-on-repeat``: a loop ends when its choice repeats the previous frame's label (``compare`` of
  the choice with ``prev:`` of it).
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
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH19_SEED = 20261212
N_FRESH19 = 80

Result = "tuple[Case, str] | None"


def op_prev_end_mask(case: Case, rng: random.Random) -> Result:
    """Readers of a loop layer read it zeroed after the hypothesis ended."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        if "end" not in unit:
            continue
        sites += [(rec, k) for k in _layers(unit) if k != "end"
                  and unit[k].get("class") not in ("choice", "rec", "subnetwork")
                  and isinstance(unit[k].get("n_out"), int) and _readers(unit, k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    masked = _fresh(unit, f"{name}_until_end")
    unit[masked] = {"class": "switch", "condition": "prev:end", "true_from": 0.0, "false_from": name}
    _redirect(unit, readers, name, masked)
    return new, f"{', '.join(readers)} read {rec}/{masked}: {name} zeroed after the end"


def op_register_extern(case: Case, rng: random.Random) -> Result:
    """A root layer over a searching decoder is registered as extern data and read back."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        sites.append(rec)
        sites += [k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") in (rec, [rec])]
    sites = [s for s in sites if "register_as_extern_data" not in net[s]]
    if not sites:
        return None
    name = rng.choice(sites)
    keys = set(case.get("extern_data") or {}) | set(case.get("num_outputs") or {})
    key = _fresh(keys, f"{name}_registered")
    net[name]["register_as_extern_data"] = key
    reader = _fresh(net, f"{key}_read")
    net[reader] = {"class": "copy", "from": f"data:{key}", "is_output_layer": True}
    return new, f"{name} registered as extern data {key!r}, read back by {reader}"


def op_conv_over_loop(case: Case, rng: random.Random) -> Result:
    """A root output layer convolves a loop layer's frames over the output time axis."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        sites += [(rec, k) for k in _layers(unit) if k not in ("end", "output")
                  and unit[k].get("class") not in ("choice", "rec", "subnetwork", "decide")
                  and isinstance(unit[k].get("n_out"), int)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    conv = _fresh(net, f"{rec}_{name}_conv")
    net[conv] = {"class": "conv", "from": f"{rec}/{name}", "filter_size": [3], "padding": "same", "n_out": 4,
                 "activation": "relu", "is_output_layer": True}
    return new, f"{conv}: a convolution over the frames of {rec}/{name}"


def op_end_on_repeat(case: Case, rng: random.Random) -> Result:
    """A loop ends when its choice repeats the previous frame's label."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if "end" in net[r]["unit"]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    unit["end"] = {"class": "compare", "kind": "equal", "from": [choice, f"prev:{choice}"]}
    return new, f"{rec}/end: {choice} repeats its previous label"


FRESH19_OPERATORS: tuple[Op, ...] = (
    Op("prev-end-mask", op_prev_end_mask, 1),
    Op("register-extern", op_register_extern, 1),
    Op("conv-over-loop", op_conv_over_loop, 1),
    Op("end-on-repeat", op_end_on_repeat, 1),
)
