"""A fourteenth set of edit operators (issue 15, fifth session), written and seeded before it was ever run,
after the layout model (SG141) landed: held out, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``root-reads-loop``: a new root output layer reads a layer inside a decoder loop by its path
  (``rec/layer``), so RETURNN accumulates that layer over the loop;
* ``swap-sources``: a loop layer with several sources gets them in reverse order;
* ``end-second-choice``: the loop's ``end`` compares the labels of a second choice over the same scores;
* ``prev-extra-source``: a loop linear layer also reads the previous frame of another loop layer;
* ``keep-beam-root``: the readers of a decoder read a ``decide_keep_beam`` of it.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _layers,
    _read_decoder,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH12_SEED = 20261205
N_FRESH12 = 80

Result = "tuple[Case, str] | None"


def op_root_reads_loop(case: Case, rng: random.Random) -> Result:
    """A root output layer reads a loop layer by its path."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _layers(net[r]["unit"])
             if k not in ("output", "end") and net[r]["unit"][k].get("class") not in ("choice", "rec", "subnetwork")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    aux = _fresh(net, f"{rec}_{name}_out")
    net[aux] = {"class": "copy", "from": f"{rec}/{name}", "is_output_layer": True}
    return new, f"root {aux} (an output layer) reads {rec}/{name}"


def op_swap_sources(case: Case, rng: random.Random) -> Result:
    """A loop layer's sources in reverse order."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if isinstance(net[r]["unit"][k].get("from"), list) and len(set(_sources(net[r]["unit"][k]))) > 1
             and len(_sources(net[r]["unit"][k])) == len(net[r]["unit"][k]["from"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[rec]["unit"][name]
    desc["from"] = list(reversed(desc["from"]))
    return new, f"{rec}/{name}: sources reversed ({', '.join(desc['from'])})"


def op_end_second_choice(case: Case, rng: random.Random) -> Result:
    """The loop's end compares a second choice's labels, over the same scores."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if "end" in net[r]["unit"] and net[r]["unit"][c].get("target") and _sources(net[r]["unit"][c])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    second = _fresh(unit, f"{choice}_alt")
    unit[second] = {"class": "choice", "from": _sources(unit[choice]), "target": unit[choice]["target"],
                    "beam_size": 4, "initial_output": 0}
    unit["end"] = {"class": "compare", "from": second, "value": 0}
    return new, f"{rec}/end compares {second}, a second choice over {', '.join(_sources(unit[choice]))}"


def op_prev_extra_source(case: Case, rng: random.Random) -> Result:
    """A loop linear layer also reads the previous frame of another loop layer."""
    new, net = _copy(case)
    sites = [(r, k, o) for r in _recs(net) for k in _layers(net[r]["unit"]) for o in _layers(net[r]["unit"])
             if k != o and net[r]["unit"][k].get("class") == "linear"
             and net[r]["unit"][o].get("class") in ("linear", "rnn_cell", "activation", "softmax")]
    if not sites:
        return None
    rec, name, other = rng.choice(sites)
    _add_source(net[rec]["unit"][name], f"prev:{other}")
    return new, f"{rec}/{name} also reads prev:{other}"


def op_keep_beam_root(case: Case, rng: random.Random) -> Result:
    """The readers of a decoder read a decide_keep_beam of it."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, users = found
    kept = _fresh(net, f"{rec}_kept")
    net[kept] = {"class": "decide_keep_beam", "from": rec}
    _redirect(net, users, rec, kept)
    return new, f"{', '.join(users)} read {kept} (decide_keep_beam of {rec})"


FRESH12_OPERATORS: tuple[Op, ...] = (
    Op("root-reads-loop", op_root_reads_loop, 1),
    Op("swap-sources", op_swap_sources, 1),
    Op("end-second-choice", op_end_second_choice, 1),
    Op("prev-extra-source", op_prev_extra_source, 1),
    Op("keep-beam-root", op_keep_beam_root, 1),
)
