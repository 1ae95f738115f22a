"""A nineteenth set of edit operators (issue 15, seventh session), written and seeded before it was ever run,
after fresh14 to fresh16 were opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``shared-embedding``: a root output layer re-embeds what a searching decoder produced (its output, or
  the decision over it) with the parameters of the decoder's own label embedding (``reuse_params``
  naming the loop layer, a layer reference inside an option);
* ``collocate``: a loop layer is collocated with another loop layer (``collocate_with``);
* ``state-from-root``: a recurrent cell of a loop starts from a root layer (``initial_state``: a
  projection of the mean over an encoder layer the loop reads);
* ``step-index``: the readers of a loop layer read it plus the frame index (``:i``, cast to float).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _head,
    _layers,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH17_SEED = 20261210
N_FRESH17 = 80

Result = "tuple[Case, str] | None"


def _embeddings(unit: dict[str, Any]) -> list[str]:
    """Loop ``linear`` layers over a choice's labels (this frame's or the previous one's)."""
    choices = set(_unit_choices(unit))
    out = []
    for k in _layers(unit):
        desc = unit[k]
        srcs = _sources(desc)
        if desc.get("class") == "linear" and isinstance(desc.get("n_out"), int) and len(srcs) == 1:
            ref = srcs[0].removeprefix("prev:")
            if ref in choices or ref == "output":
                out.append(k)
    return out


def op_shared_embedding(case: Case, rng: random.Random) -> Result:
    """A root output layer re-embeds the decoder's output with the decoder's embedding parameters."""
    new, net = _copy(case)
    sites = [(r, e) for r in _searching_recs(net) for e in _embeddings(net[r]["unit"])]
    if not sites:
        return None
    rec, emb = rng.choice(sites)
    deciders = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    source = rng.choice([rec, *deciders])
    desc = net[rec]["unit"][emb]
    name = _fresh(net, f"{source}_embed")
    net[name] = {"class": "linear", "from": source, "n_out": desc["n_out"], "reuse_params": f"{rec}/{emb}",
                 "is_output_layer": True}
    for key in ("activation", "with_bias"):
        if key in desc:
            net[name][key] = desc[key]
    return new, f"{name}: {source} embedded with the parameters of {rec}/{emb}"


def op_collocate(case: Case, rng: random.Random) -> Result:
    """A loop layer is collocated with another loop layer."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        names = [k for k in _layers(unit) if unit[k].get("class") not in ("rec", "subnetwork")]
        sites += [(rec, a, b) for a in names if a != "end" for b in names if b != a]
    if not sites:
        return None
    rec, name, other = rng.choice(sites)
    net[rec]["unit"][name]["collocate_with"] = [other]
    return new, f"{rec}/{name} collocated with {rec}/{other}"


def op_state_from_root(case: Case, rng: random.Random) -> Result:
    """A loop's recurrent cell starts from a projection of the mean over an encoder layer it reads."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        cells = [k for k in _layers(unit) if unit[k].get("class") in ("rnn_cell", "rec")
                 and isinstance(unit[k].get("n_out"), int) and isinstance(unit[k].get("unit"), str)
                 and "lstm" in unit[k]["unit"].lower()]
        bases = sorted({ref[len("base:"):] for k in _layers(unit) for ref in _sources(unit[k])
                        if ref.startswith("base:") and _head(ref[len("base:"):]) in net
                        and net[_head(ref[len("base:"):])].get("class") not in ("rec", "choice", "decide")})
        sites += [(rec, c, b) for c in cells for b in bases]
    if not sites:
        return None
    rec, cell, base = rng.choice(sites)
    mean, proj = _fresh(net, f"{base}_mean"), _fresh(net, f"{rec}_{cell}_init")
    net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": base}
    net[proj] = {"class": "linear", "activation": "tanh", "n_out": net[rec]["unit"][cell]["n_out"], "from": mean}
    net[rec]["unit"][cell]["initial_state"] = f"base:{proj}"
    return new, f"{rec}/{cell} starts from {proj}, a projection of the mean over {base}"


def op_step_index(case: Case, rng: random.Random) -> Result:
    """Readers of a loop layer read it plus the frame index."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        sites += [(rec, k) for k in _layers(unit) if k != "end"
                  and unit[k].get("class") not in ("choice", "rec", "subnetwork")
                  and isinstance(unit[k].get("n_out"), int) and _readers(unit, k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    step, plus = _fresh(unit, "step_float"), _fresh(unit, f"{name}_plus_step")
    unit[step] = {"class": "cast", "dtype": "float32", "from": ":i"}
    unit[plus] = {"class": "combine", "kind": "add", "from": [name, step]}
    _redirect(unit, readers, name, plus)
    return new, f"{', '.join(readers)} read {rec}/{plus}: {name} plus the frame index"


FRESH17_OPERATORS: tuple[Op, ...] = (
    Op("shared-embedding", op_shared_embedding, 1),
    Op("collocate", op_collocate, 1),
    Op("state-from-root", op_state_from_root, 1),
    Op("step-index", op_step_index, 1),
)
