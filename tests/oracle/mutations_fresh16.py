"""An eighteenth set of edit operators (issue 15, sixth session), written and seeded before it was ever run,
after fresh14 and fresh15 were opened and the model changed for them: held out, looked at as counts only
when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``reshape-in-loop``: the readers of a loop layer read it split and merged again (``split_dims`` of the
  feature axis into two, then ``merge_dims`` of the static axes);
* ``float-labels``: the readers of a loop choice's labels read them as floats (``cast``) through a
  ``reinterpret_data`` that drops the sparse flag;
* ``extra-search-copy``: a root output layer gets a search-only twin (``extra.search:NAME``) reading the
  same layers;
* ``concat-state``: the readers of a loop layer read it concatenated with another loop layer along the
  feature axis (``concat`` with explicit axes).
"""

from __future__ import annotations

import copy
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
FRESH16_SEED = 20261209
N_FRESH16 = 80

Result = "tuple[Case, str] | None"


def _dense(unit: dict) -> list[str]:
    """Loop layers with an even feature size of their own (``n_out``)."""
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") not in ("choice", "rec", "subnetwork")
            and isinstance(unit[k].get("n_out"), int) and unit[k]["n_out"] % 2 == 0 and unit[k]["n_out"] > 1]


def op_reshape_in_loop(case: Case, rng: random.Random) -> Result:
    """Readers of a loop layer read it split in two and merged again."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _dense(net[r]["unit"]) if _readers(net[r]["unit"], k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    split, merged = _fresh(unit, f"{name}_split"), _fresh(unit, f"{name}_merged")
    unit[split] = {"class": "split_dims", "axis": "F", "dims": [2, -1], "from": name}
    unit[merged] = {"class": "merge_dims", "axes": "static", "from": split}
    _redirect(unit, readers, name, merged)
    return new, f"{', '.join(readers)} read {rec}/{merged}: {name} split in two and merged again"


def op_float_labels(case: Case, rng: random.Random) -> Result:
    """Readers of a loop choice's labels read them as floats."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if [u for u in _readers(net[r]["unit"], c) if u != "end"]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = [u for u in _readers(unit, choice) if u != "end"]
    dense, floats = _fresh(unit, f"{choice}_dense"), _fresh(unit, f"{choice}_float")
    unit[dense] = {"class": "reinterpret_data", "set_sparse": False, "from": choice}
    unit[floats] = {"class": "cast", "dtype": "float32", "from": dense}
    _redirect(unit, readers, choice, floats)
    return new, f"{', '.join(readers)} read {rec}/{floats}, the labels of {choice} as floats"


def op_extra_search_copy(case: Case, rng: random.Random) -> Result:
    """A root output layer gets a search-only twin in ``extra.search``."""
    new, net = _copy(case)
    names = [k for k in _layers(net) if ":" not in k and net[k].get("class") not in ("rec", "subnetwork")
             and (net[k].get("is_output_layer") or net[k].get("class") == "decide")]
    if not names:
        return None
    name = rng.choice(names)
    twin = f"extra.search:{name}"
    if twin in net:
        return None
    net[twin] = copy.deepcopy(net[name])
    net[twin]["is_output_layer"] = True
    return new, f"{twin}: a search-only twin of {name}"


def op_concat_state(case: Case, rng: random.Random) -> Result:
    """Readers of a loop layer read it concatenated with another loop layer on the feature axis."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        dense = [k for k in _layers(unit) if k != "end" and unit[k].get("class") not in ("choice", "rec", "subnetwork")
                 and isinstance(unit[k].get("n_out"), int)]
        sites += [(rec, a, b) for a in dense if _readers(unit, a) for b in dense if b != a]
    if not sites:
        return None
    rec, name, other = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    cat = _fresh(unit, f"{name}_cat")
    unit[cat] = {"class": "concat", "from": [[name, "F"], [other, "F"]]}
    _redirect(unit, readers, name, cat)
    return new, f"{', '.join(readers)} read {rec}/{cat}: {name} concatenated with {other}"


FRESH16_OPERATORS: tuple[Op, ...] = (
    Op("reshape-in-loop", op_reshape_in_loop, 1),
    Op("float-labels", op_float_labels, 1),
    Op("extra-search-copy", op_extra_search_copy, 1),
    Op("concat-state", op_concat_state, 1),
)
