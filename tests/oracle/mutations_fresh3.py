"""A fifth set of edit operators (issue 15, second session), written and seeded when the fourth set
(``mutations_fresh2.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``rescore-loop``: a new rec layer that iterates over a searching decoder's output (a rescoring or
  alignment pass over the hypotheses), marked an output;
* ``two-pass``: a second searching decoder whose loop iterates over the first decoder's output;
* ``only-flags``: ``only_on_search`` / ``only_on_eval`` on a layer (root or loop);
* ``wrap-rec``: a whole rec layer moved into a root ``subnetwork`` (its readers read the subnetwork);
* ``all-beams``: every choice of the network gets the same new beam size;
* ``cum-concat``: a ``cum_concat`` of a loop layer, reduced over its new axis, fed to a loop layer or
  marked an output.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _recs,
    _searching_recs,
    _sources,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH3_SEED = 20261209
N_FRESH3 = 80

Result = "tuple[Case, str] | None"



def op_rescore_loop(case: Case, rng: random.Random) -> Result:
    """A rec layer over a searching decoder's output: a linear state over each label, an output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    name = _fresh(net, f"{rec}_rescore")
    unit: dict[str, Any] = {
        "emb": {"class": "linear", "activation": None, "from": "data:source", "n_out": 4},
        "state": {"class": "linear", "activation": "tanh", "from": ["emb", "prev:state"], "n_out": 4},
        "output": {"class": "copy", "from": "state"},
    }
    if rng.random() < 0.5:
        roots = [k for k in _layers(net) if net[k].get("class") not in ("rec", "choice", "decide")]
        if roots:
            unit["state"]["from"].append(f"base:{rng.choice(roots)}")
    net[name] = {"class": "rec", "from": rec, "unit": unit, "is_output_layer": True}
    return new, f"add {name}, a loop over {rec}'s output"


def op_two_pass(case: Case, rng: random.Random) -> Result:
    """A copy of a searching decoder whose loop iterates over the first decoder's output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    name = _fresh(net, f"{rec}_pass2")
    desc = copy.deepcopy(net[rec])
    desc["from"] = rec
    desc.pop("max_seq_len", None)
    unit = desc["unit"]
    if "end" in unit and rng.random() < 0.5:
        del unit["end"]
    desc["is_output_layer"] = True
    net[name] = desc
    return new, f"add {name}: a copy of {rec} looping over {rec}'s output"


def op_only_flags(case: Case, rng: random.Random) -> Result:
    """Set ``only_on_search`` or ``only_on_eval`` on a layer."""
    new, net = _copy(case)
    scopes = [(None, net)] + [(r, net[r]["unit"]) for r in _recs(net)]
    sites = [(rec, layers, k) for rec, layers in scopes for k in _layers(layers)]
    if not sites:
        return None
    rec, layers, name = rng.choice(sites)
    flag = rng.choice(["only_on_search", "only_on_eval"])
    if layers[name].get(flag):
        return None
    layers[name][flag] = True
    return new, f"{rec + '/' if rec else ''}{name}: {flag}"


def op_wrap_rec(case: Case, rng: random.Random) -> Result:
    """Move a rec layer into a root subnetwork of the same name (its inputs via ``base:``)."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    desc = net[rec]
    inner = {k: v for k, v in desc.items() if k not in ("is_output_layer",)}
    srcs = _sources(desc)
    inner["from"] = ["data"] if srcs else []

    def outer(ref: str) -> str:
        return ref if ref.startswith("base:base:") else ("base:" + ref if ref.startswith("base:") else ref)

    for k in _layers(inner["unit"]):
        _map_refs(inner["unit"][k], outer)
    wrapped: dict[str, Any] = {"class": "subnetwork", "from": srcs, "subnetwork": {"output": inner}}
    if "is_output_layer" in desc:
        wrapped["is_output_layer"] = desc["is_output_layer"]
    net[rec] = wrapped
    return new, f"wrap the rec layer {rec} in a subnetwork"


def op_all_beams(case: Case, rng: random.Random) -> Result:
    """Give every choice of the network one new beam size."""
    new, net = _copy(case)
    scopes = [net] + [net[r]["unit"] for r in _recs(net)]
    choices = [(layers, k) for layers in scopes for k in _layers(layers) if layers[k].get("class") == "choice"]
    if len(choices) < 1:
        return None
    size = rng.choice([1, 2, 4, 6, 10])
    for layers, k in choices:
        layers[k]["beam_size"] = size
    return new, f"every choice ({len(choices)}) gets beam_size {size}"


def op_cum_concat(case: Case, rng: random.Random) -> Result:
    """``cum_concat`` of a loop layer, reduced over its new axis, read in the frame or an output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    names = [k for k in _layers(unit) if k != "end" and unit[k].get("class") in ("linear", "rnn_cell", "copy")]
    if not names:
        return None
    src = rng.choice(names)
    hist = _fresh(unit, f"{src}_hist")
    dim = {"__dim__": {"description": f"{hist}-time", "kind": "spatial", "dimension": None}}
    unit[hist] = {"class": "cum_concat", "from": src, "out_spatial_dim": dim}
    red = _fresh(unit, f"{src}_hist_max")
    unit[red] = {"class": "reduce", "mode": "max", "axis": dim, "from": hist}
    users = [k for k in _layers(unit) if k not in (src, hist, red, "end")
             and unit[k].get("class") in ("linear", "softmax") and _sources(unit[k])]
    if users and rng.random() < 0.6:
        user = rng.choice(users)
        _add_source(unit[user], f"prev:{red}")
        unit[red]["initial_output"] = 0
        return new, f"add {rec}/{hist} = cum_concat({src}) and its max, read by {rec}/{user} as prev:"
    unit[red]["is_output_layer"] = True
    return new, f"add {rec}/{hist} = cum_concat({src}) and its max as an output layer"


FRESH3_OPERATORS: tuple[Op, ...] = (
    Op("rescore-loop", op_rescore_loop, 1),
    Op("two-pass", op_two_pass, 1),
    Op("only-flags", op_only_flags, 1.5),
    Op("wrap-rec", op_wrap_rec, 1),
    Op("all-beams", op_all_beams, 1),
    Op("cum-concat", op_cum_concat, 1.5),
)
