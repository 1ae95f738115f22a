"""A twenty-second set of edit operators (issue 15, seventh session), written and seeded with fresh19 before
either was ever run: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``end-by-length``: a loop ends at the length of an encoder layer it reads (``compare`` of the frame
  index ``:i`` with ``base:`` of a root ``length`` layer), not by a label;
* ``double-decide``: a root ``decide`` over a decision that is already decided;
* ``prefix-decoder``: the root readers of a searching decoder read its output with one frame
  prepended (``prefix_in_time``);
* ``select-sources``: the readers of a loop layer read it re-selected by a choice's search choices
  (``select_search_sources``).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _encoder_sites,
    _fresh,
    _interpose,
    _layers,
    _read_decoder,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH20_SEED = 20261213
N_FRESH20 = 80

Result = "tuple[Case, str] | None"


def op_end_by_length(case: Case, rng: random.Random) -> Result:
    """A loop ends at the length of an encoder layer it reads."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        if "end" not in net[rec]["unit"]:
            continue
        sites += [(rec, k) for k in _encoder_sites(net, rec, ("rec", "choice", "decide", "reduce", "data"))]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    length = _fresh(net, f"{enc}_length")
    net[length] = {"class": "length", "from": enc}
    net[rec]["unit"]["end"] = {"class": "compare", "kind": "greater_equal", "from": [":i", f"base:{length}"]}
    return new, f"{rec}/end: the frame index reaches the length of {enc}"


def op_double_decide(case: Case, rng: random.Random) -> Result:
    """A root decide over a decision."""
    new, net = _copy(case)
    sites = [k for k in _layers(net) if net[k].get("class") == "decide"]
    if not sites:
        return None
    name = rng.choice(sites)
    again = _fresh(net, f"{name}_again")
    net[again] = {"class": "decide", "from": name, "is_output_layer": True}
    return new, f"{again}: a decide over the decision {name}"


def op_prefix_decoder(case: Case, rng: random.Random) -> Result:
    """Root readers of a searching decoder read its output with one frame prepended."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, readers = found
    prefixed = _interpose(net, readers, rec, f"{rec}_prefixed",
                          {"class": "prefix_in_time", "from": rec, "prefix": 0, "repeat": 1})
    return new, f"{', '.join(readers)} read {prefixed}: {rec} with one frame prepended"


def op_select_sources(case: Case, rng: random.Random) -> Result:
    """Readers of a loop layer read it re-selected by a choice's search choices."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        layers = [k for k in _layers(unit) if k != "end" and unit[k].get("class") not in ("choice", "rec", "subnetwork")
                  and _readers(unit, k)]
        sites += [(rec, k, c) for k in layers for c in _unit_choices(unit) if c not in _sources(unit[k])]
    if not sites:
        return None
    rec, name, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    selected = _fresh(unit, f"{name}_selected")
    unit[selected] = {"class": "select_search_sources", "from": name, "search_choices": choice}
    _redirect(unit, readers, name, selected)
    return new, f"{', '.join(readers)} read {rec}/{selected}: {name} re-selected by the choices of {choice}"


FRESH20_OPERATORS: tuple[Op, ...] = (
    Op("end-by-length", op_end_by_length, 1),
    Op("double-decide", op_double_decide, 1),
    Op("prefix-decoder", op_prefix_decoder, 1),
    Op("select-sources", op_select_sources, 1),
)
