"""A fifteenth set of edit operators (issue 15, fifth session), written and seeded after fresh12 was opened and
before it was ever run: held out, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``drop-max-seq-len``: a searching rec layer loses its ``max_seq_len``;
* ``choice-search-false``: a loop choice gets ``search: False``;
* ``beam-size``: a choice's beam size is drawn anew (1 to 16);
* ``embed-from-scores``: the readers of a loop choice's labels read its scores instead;
* ``unit-output-decided``: the unit's ``output`` becomes a ``decide`` of what it was (its readers in
  the loop read the layer it copied, if any).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH13_SEED = 20261206
N_FRESH13 = 80

Result = "tuple[Case, str] | None"


def op_drop_max_seq_len(case: Case, rng: random.Random) -> Result:
    """A searching rec layer loses its max_seq_len."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if "max_seq_len" in net[r]]
    if not recs:
        return None
    rec = rng.choice(recs)
    old = net[rec].pop("max_seq_len")
    return new, f"{rec}: max_seq_len {old!r} removed"


def op_choice_search_false(case: Case, rng: random.Random) -> Result:
    """A loop choice does not search."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if net[r]["unit"][c].get("search", True) is not False]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    net[rec]["unit"][choice]["search"] = False
    return new, f"{rec}/{choice}: search False"


def op_beam_size(case: Case, rng: random.Random) -> Result:
    """A choice's beam size drawn anew."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    size = rng.randint(1, 16)
    net[rec]["unit"][choice]["beam_size"] = size
    return new, f"{rec}/{choice}: beam_size {size}"


def op_embed_from_scores(case: Case, rng: random.Random) -> Result:
    """The readers of a loop choice's labels read its scores."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if len(_sources(net[r]["unit"][c])) == 1 and _sources(net[r]["unit"][c])[0] in net[r]["unit"]
             and [u for u in _readers(net[r]["unit"], c) if u != "end"]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    users = [u for u in _readers(unit, choice) if u != "end"]
    src = _sources(unit[choice])[0]
    _redirect(unit, users, choice, src)
    return new, f"{rec}: {', '.join(users)} read {src} (the scores) instead of {choice}"


def op_unit_output_decided(case: Case, rng: random.Random) -> Result:
    """The unit's output becomes a decide of what it was."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if "output" in net[r]["unit"]]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    inner = _fresh(unit, "output_undecided")
    unit[inner] = unit.pop("output")
    users = _readers(unit, "output")
    _redirect(unit, users, "output", inner)
    prev_users = _readers(unit, "output", "prev:output")
    _redirect(unit, prev_users, "prev:output", f"prev:{inner}")
    unit["output"] = {"class": "decide", "from": inner}
    return new, f"{rec}/output is a decide of {inner} (the old output)"


FRESH13_OPERATORS: tuple[Op, ...] = (
    Op("drop-max-seq-len", op_drop_max_seq_len, 1),
    Op("choice-search-false", op_choice_search_false, 1),
    Op("beam-size", op_beam_size, 1),
    Op("embed-from-scores", op_embed_from_scores, 1),
    Op("unit-output-decided", op_unit_output_decided, 1),
)
