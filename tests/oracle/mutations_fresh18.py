"""A twentieth set of edit operators (issue 15, seventh session), written and seeded with fresh17 before
either was ever run: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``top-k-output``: a loop gets an output layer with the indices of the two best entries of a choice's
  input (``top_k``, read through its ``indices`` sub-layer);
* ``deep-subnet``: a loop layer moves two subnetworks deep (its references become ``base:base:X``);
* ``size-from-decoder``: a root output layer takes an encoder layer with the time axis of a decoder's
  output (``reinterpret_data`` with ``size_base``, a layer reference inside an option);
* ``pad-decoder``: the root readers of a searching decoder read its output padded by one frame on each
  side of the time axis (``pad``).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _encoder_sites,
    _fresh,
    _head,
    _interpose,
    _layers,
    _map_refs,
    _read_decoder,
    _recs,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH18_SEED = 20261211
N_FRESH18 = 80

Result = "tuple[Case, str] | None"


def op_top_k_output(case: Case, rng: random.Random) -> Result:
    """A loop output layer holds the indices of the two best entries of a choice's input."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if len(_sources(net[r]["unit"][c])) == 1 and ":" not in _sources(net[r]["unit"][c])[0]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    top, idx = _fresh(unit, f"{scores}_top2"), _fresh(unit, f"{scores}_top2_indices")
    unit[top] = {"class": "top_k", "axis": "F", "k": 2, "from": scores}
    unit[idx] = {"class": "copy", "from": f"{top}/indices", "is_output_layer": True}
    return new, f"{rec}/{idx}: the indices of the two best entries of {scores}"


def op_deep_subnet(case: Case, rng: random.Random) -> Result:
    """A loop layer moves two subnetworks deep."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        sites += [(rec, k) for k in _layers(unit) if k not in ("end", "output")
                  and unit[k].get("class") not in ("choice", "rec", "subnetwork", "decide")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    inner = {k: v for k, v in unit[name].items() if k not in ("is_output_layer", "loss", "loss_opts", "target")}

    def based(ref: str) -> str:
        if ref.startswith(("base:", "prev:", "data:")) or ref == "data" or ref == ":i" or _head(ref) in unit:
            return "base:base:" + ref
        return ref

    _map_refs(inner, based)
    keep = {k: v for k, v in unit[name].items() if k in ("is_output_layer", "loss", "loss_opts", "target")}
    unit[name] = {"class": "subnetwork", "from": [], **keep,
                  "subnetwork": {"deep": {"class": "subnetwork", "from": [],
                                          "subnetwork": {"output": inner}},
                                 "output": {"class": "copy", "from": "deep"}}}
    return new, f"{rec}/{name} moved two subnetworks deep ({rec}/{name}/deep/output)"


def op_size_from_decoder(case: Case, rng: random.Random) -> Result:
    """A root output layer takes an encoder layer with a decoder output's time axis."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        sites += [(rec, k) for k in _encoder_sites(net, rec, ("rec", "choice", "decide", "data"))]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    name = _fresh(net, f"{enc}_as_{rec}")
    net[name] = {"class": "reinterpret_data", "from": enc, "size_base": rec, "is_output_layer": True}
    return new, f"{name}: {enc} with the time axis of {rec}"


def op_pad_decoder(case: Case, rng: random.Random) -> Result:
    """Root readers of a searching decoder read its output padded on the time axis."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, readers = found
    padded = _interpose(net, readers, rec, f"{rec}_padded", {"class": "pad", "axes": "T", "padding": [1, 1],
                                                             "from": rec})
    return new, f"{', '.join(readers)} read {padded}: {rec} padded by one frame on each side"


FRESH18_OPERATORS: tuple[Op, ...] = (
    Op("top-k-output", op_top_k_output, 1),
    Op("deep-subnet", op_deep_subnet, 1),
    Op("size-from-decoder", op_size_from_decoder, 1),
    Op("pad-decoder", op_pad_decoder, 1),
)
