"""A twenty-third set of edit operators (issue 15, seventh session), written and seeded before it was ever
run, after fresh19 and fresh20 were opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``shadow-data``: a loop layer is renamed ``data`` (a layer of that name hides the extern data
  ``data`` for its readers in the unit);
* ``deep-root-subnet``: a searching decoder moves two root subnetworks deep (``dec_outer/dec_inner/output``;
  its ``base:`` references become ``base:base:base:X``, its readers read the outer subnetwork);
* ``end-or-length``: a loop also ends at an encoder layer's length (``end`` or-ed with ``:i`` compared
  to ``base:`` of a root ``length`` layer);
* ``output-cast``: the unit's ``output`` becomes its old value cast to float (a copy of the choice,
  ``cast``).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _encoder_sites,
    _fresh,
    _head,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH21_SEED = 20261214
N_FRESH21 = 80

Result = "tuple[Case, str] | None"


def op_shadow_data(case: Case, rng: random.Random) -> Result:
    """A loop layer is renamed ``data``."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        if "data" in unit:
            continue
        sites += [(rec, k) for k in _layers(unit) if k not in ("end", "output")
                  and unit[k].get("class") not in ("choice", "rec", "subnetwork")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    prev_readers = _readers(unit, name, f"prev:{name}")
    unit["data"] = unit.pop(name)
    _redirect(unit, readers, name, "data")
    for k in prev_readers:
        _map_refs(unit[k], lambda r: "prev:data" if r == f"prev:{name}" else r)
    _map_refs(unit["data"], lambda r: "prev:data" if r == f"prev:{name}" else r)
    return new, f"{rec}/{name} renamed {rec}/data"


def _based(desc: dict[str, Any], names: set[str], depth: int) -> dict[str, Any]:
    """``desc`` as seen from ``depth`` networks deeper: its references to ``names`` (and ``data``) get
    that many ``base:`` prefixes."""
    out = copy.deepcopy(desc)

    def fn(ref: str) -> str:
        if ref.startswith(("base:", "data:")) or ref == "data" or _head(ref) in names:
            return "base:" * depth + ref
        return ref

    _map_refs(out, fn)
    unit = out.get("unit")
    if isinstance(unit, dict):
        for inner in unit.values():
            if isinstance(inner, dict):
                _map_refs(inner, lambda r: "base:" * depth + r if r.startswith("base:") else r)
    return out


def op_deep_root_subnet(case: Case, rng: random.Random) -> Result:
    """A searching decoder moves two root subnetworks deep."""
    new, net = _copy(case)
    sites = _searching_recs(net)
    if not sites:
        return None
    rec = rng.choice(sites)
    desc = net[rec]
    keep = {k: v for k, v in desc.items() if k in ("is_output_layer", "loss", "loss_opts")}
    inner = {k: v for k, v in desc.items() if k not in keep}
    moved = _based(inner, set(_layers(net)) - {rec}, 2)
    if isinstance(moved.get("max_seq_len"), str):
        moved["max_seq_len"] = moved["max_seq_len"].replace("'base:", "'base:base:base:")
    outer, middle = _fresh(net, f"{rec}_outer"), f"{rec}_inner"
    del net[rec]
    net[outer] = {"class": "subnetwork", "from": [], **keep,
                  "subnetwork": {middle: {"class": "subnetwork", "from": [],
                                          "subnetwork": {"output": moved}},
                                 "output": {"class": "copy", "from": middle}}}
    readers = [k for k in _layers(net) if k != outer]
    for k in readers:
        _map_refs(net[k], lambda r: outer if r == rec else (f"{outer}/{middle}/output/{r.split('/', 1)[1]}"
                                                           if r.startswith(f"{rec}/") else r))
    return new, f"{rec} moved two subnetworks deep ({outer}/{middle}/output)"


def op_end_or_length(case: Case, rng: random.Random) -> Result:
    """A loop also ends at an encoder layer's length."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        if "end" not in net[rec]["unit"]:
            continue
        sites += [(rec, k) for k in _encoder_sites(net, rec, ("rec", "choice", "decide", "reduce", "data"))]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    unit = net[rec]["unit"]
    length = _fresh(net, f"{enc}_len")
    net[length] = {"class": "length", "from": enc}
    by_label, by_length = _fresh(unit, "end_by_label"), _fresh(unit, "end_by_length")
    unit[by_label] = unit.pop("end")
    unit[by_length] = {"class": "compare", "kind": "greater_equal", "from": [":i", f"base:{length}"]}
    unit["end"] = {"class": "combine", "kind": "logical_or", "from": [by_label, by_length]}
    return new, f"{rec}/end: the old end or the frame index at the length of {enc}"


def op_output_cast(case: Case, rng: random.Random) -> Result:
    """The unit's output becomes its old value cast to float."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if "output" in net[r]["unit"]]
    if not sites:
        return None
    rec = rng.choice(sites)
    unit = net[rec]["unit"]
    old = _fresh(unit, "output_value")
    readers = _readers(unit, "output")
    prev_readers = _readers(unit, "output", "prev:output")
    unit[old] = unit.pop("output")
    _redirect(unit, readers, "output", old)
    for k in prev_readers:
        _map_refs(unit[k], lambda r: f"prev:{old}" if r == "prev:output" else r)
    _map_refs(unit[old], lambda r: f"prev:{old}" if r == "prev:output" else r)
    unit["output"] = {"class": "cast", "dtype": "float32", "from": old}
    return new, f"{rec}/output: {old} (the old output) cast to float"


FRESH21_OPERATORS: tuple[Op, ...] = (
    Op("shadow-data", op_shadow_data, 1),
    Op("deep-root-subnet", op_deep_root_subnet, 1),
    Op("end-or-length", op_end_or_length, 1),
    Op("output-cast", op_output_cast, 1),
)
