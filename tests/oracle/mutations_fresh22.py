"""A twenty-fourth set of edit operators (issue 15, seventh session), written and seeded before it was ever
run, after fresh21 was opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``include-eos``: a searching decoder keeps its end-of-sequence frame (``include_eos`` on the rec);
* ``reduce-batch``: a root output layer reduces a decoder reader's output over the batch axis
  (``reduce`` with ``axis: "B"``), the hypotheses of the beam included;
* ``lennorm-exponent``: a choice normalizes its scores by the length to a power
  (``length_normalization_exponent``);
* ``keep-beams``: a loop choice keeps every incoming hypothesis (``keep_beams``: the new beam takes
  the best continuation of each, beam size times the incoming beam);
* ``time-major-decoder``: the root readers of a searching decoder read it time-major
  (``reinterpret_data`` with ``enforce_time_major``).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _interpose,
    _layers,
    _read_decoder,
    _readers,
    _searching_recs,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH22_SEED = 20261215
N_FRESH22 = 80

Result = "tuple[Case, str] | None"


def op_include_eos(case: Case, rng: random.Random) -> Result:
    """A searching decoder keeps its end-of-sequence frame."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if "include_eos" not in net[r]]
    if not sites:
        return None
    rec = rng.choice(sites)
    net[rec]["include_eos"] = True
    return new, f"{rec} includes the end-of-sequence frame"


def op_reduce_batch(case: Case, rng: random.Random) -> Result:
    """A root output layer reduces a decoder reader's output over the batch axis."""
    new, net = _copy(case)
    sites = [k for r in _searching_recs(net) for k in _readers(net, r)
             if net[k].get("class") not in ("rec", "choice", "subnetwork")]
    if not sites:
        return None
    name = rng.choice(sorted(set(sites)))
    red = _fresh(net, f"{name}_over_batch")
    net[red] = {"class": "reduce", "mode": "sum", "axis": "B", "from": name, "is_output_layer": True}
    return new, f"{red}: {name} summed over the batch axis"


def op_lennorm_exponent(case: Case, rng: random.Random) -> Result:
    """A choice normalizes its scores by the length to a power."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])]
    sites += [(None, k) for k in _layers(net) if net[k].get("class") == "choice"]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    desc = net[choice] if rec is None else net[rec]["unit"][choice]
    desc["length_normalization_exponent"] = rng.choice([0.5, 2.0])
    where = choice if rec is None else f"{rec}/{choice}"
    return new, f"{where}: length normalization to the power {desc['length_normalization_exponent']}"


def op_keep_beams(case: Case, rng: random.Random) -> Result:
    """A loop choice keeps every incoming hypothesis."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if not net[r]["unit"][c].get("keep_beams")]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    net[rec]["unit"][choice]["keep_beams"] = True
    return new, f"{rec}/{choice} keeps its incoming hypotheses (keep_beams)"


def op_time_major_decoder(case: Case, rng: random.Random) -> Result:
    """Root readers of a searching decoder read it time-major."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, readers = found
    tm = _interpose(net, readers, rec, f"{rec}_time_major",
                    {"class": "reinterpret_data", "enforce_time_major": True, "from": rec})
    return new, f"{', '.join(readers)} read {tm}: {rec} time-major"


FRESH22_OPERATORS: tuple[Op, ...] = (
    Op("include-eos", op_include_eos, 1),
    Op("reduce-batch", op_reduce_batch, 1),
    Op("lennorm-exponent", op_lennorm_exponent, 1),
    Op("keep-beams", op_keep_beams, 1),
    Op("time-major-decoder", op_time_major_decoder, 1),
)
