"""A twenty-seventh set of edit operators (issue 15, eighth session), written and seeded before it was ever
run, after fresh23 was opened: held out, looked at as counts only when first measured.

Edits a user makes to the search configuration and the loop's structure when moving a trained model to
decoding (none a variant of an earlier one; no rule was written for any of them):

* ``score-scales``: a loop choice combines its scores differently (``prob_scale``,
  ``base_beam_score_scale`` of zero, sampling with ``random_sample_scale`` and no base score, or
  ``add_to_beam_scores`` switched off);
* ``factored-choice``: a loop choice chooses over two score sources at once (``from`` of two layers,
  ``target`` a list of the same key twice, maybe ``source_beam_sizes``): its scores and a second head (a
  copy of the scores layer without its loss) or its scores twice; the frame's readers of the choice may
  read its first sub-output (``CHOICE/out_0``);
* ``max-len-via``: a searching loop's length limit comes from a scalar root layer (``max_seq_len_via``:
  the longest sequence of an encoder layer or of ``data``, maybe doubled) instead of ``max_seq_len``;
* ``decide-options``: a root ``decide`` gets ``length_normalization`` flipped, or its edit-distance loss
  on the target added (where it had none) or dropped (where it had one);
* ``end-label``: a loop's ``end`` compares its choice with another label (the last one of the
  vocabulary, or 1) or with ``kind: "greater_equal"``.
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
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH25_SEED = 20261218
N_FRESH25 = 80

Result = "tuple[Case, str] | None"

#: Options of a layer dict that belong to training (a loss and what it reads).
LOSS_KEYS = ("loss", "loss_opts", "loss_scale", "target", "is_output_layer", "initial_output")


def _loop_choices(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, choice) of every choice in a searching loop that searches (no ``search: False``)."""
    return [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
            if net[r]["unit"][c].get("search", True) is not False]


def op_score_scales(case: Case, rng: random.Random) -> Result:
    """A loop choice combines its scores with the beam's scores differently."""
    new, net = _copy(case)
    sites = _loop_choices(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    desc = net[rec]["unit"][choice]
    edits: list[dict[str, Any]] = [
        {"prob_scale": rng.choice([0.5, 2.0])},
        {"base_beam_score_scale": 0.0},
        {"random_sample_scale": 1.0, "base_beam_score_scale": 0.0},
        {"add_to_beam_scores": False},
    ]
    edit = rng.choice(edits)
    if all(desc.get(k) == v for k, v in edit.items()):
        return None
    desc.update(edit)
    opts = ", ".join(f"{k} = {v!r}" for k, v in edit.items())
    return new, f"{rec}/{choice}: {opts}"


def op_factored_choice(case: Case, rng: random.Random) -> Result:
    """A loop choice chooses over two score sources with a list of targets."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _loop_choices(net):
        unit = net[rec]["unit"]
        desc = unit[choice]
        srcs = _sources(desc)
        if (len(srcs) == 1 and ":" not in srcs[0] and _head(srcs[0]) in unit
                and isinstance(desc.get("target"), str) and _target_dim(case, desc["target"])):
            sites.append((rec, choice))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[choice]
    scores, target = _sources(desc)[0], desc["target"]
    dim = _target_dim(case, target)
    head_desc = unit.get(scores)
    if isinstance(head_desc, dict) and _sources(head_desc) and rng.random() < 0.6:
        second = _fresh(unit, f"{scores}_head2")
        unit[second] = {k: copy.deepcopy(v) for k, v in head_desc.items() if k not in LOSS_KEYS}
        if "n_out" not in unit[second] and "out_dim" not in unit[second]:
            unit[second]["n_out"] = dim
        what = f"{scores} and a second head {second}"
    else:
        second = scores
        what = f"{scores} twice"
    desc["from"] = [scores, second]
    desc["target"] = [target, target]
    if rng.random() < 0.4:
        beam = desc.get("beam_size") if isinstance(desc.get("beam_size"), int) else 4
        desc["source_beam_sizes"] = [beam, rng.choice([1, 2, beam])]
        what += f", source_beam_sizes {desc['source_beam_sizes']}"
    readers = [k for k in _readers(unit, choice) if k != "end" and unit[k].get("class") != "choice"]
    if readers and rng.random() < 0.5:
        _redirect(unit, readers, choice, f"{choice}/out_0")
        what += f"; {', '.join(readers)} read {choice}/out_0"
    return new, f"{rec}/{choice} chooses over {what} (target [{target!r}, {target!r}])"


def op_max_len_via(case: Case, rng: random.Random) -> Result:
    """A searching loop's length limit comes from a scalar root layer (``max_seq_len_via``)."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if "max_seq_len_via" not in net[r]]
    if not recs:
        return None
    rec = rng.choice(recs)
    skip = ("choice", "decide", "reduce", "length", "variable", "constant", "subnetwork", "decide_keep_beam")
    encs = [k for k in _encoder_sites(net, rec, skip)
            if not (net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict))]
    enc = rng.choice(["data", *encs])
    lens = _fresh(net, f"{enc}_seq_len")
    net[lens] = {"class": "length", "from": enc}
    longest = _fresh(net, f"{rec}_max_len")
    net[longest] = {"class": "reduce", "mode": "max", "axis": "B", "from": lens}
    via = longest
    what = f"the longest sequence of {enc} ({lens}, {longest})"
    if rng.random() < 0.5:
        via = _fresh(net, f"{rec}_max_len_x2")
        net[via] = {"class": "eval", "from": longest, "eval": "source(0) * 2"}
        what = f"twice {what}"
    old = net[rec].pop("max_seq_len", None)
    net[rec]["max_seq_len_via"] = via
    was = "no max_seq_len before" if old is None else f"max_seq_len {old!r} dropped"
    return new, f"{rec}: max_seq_len_via {via}, {what} ({was})"


def op_decide_options(case: Case, rng: random.Random) -> Result:
    """A root decide gets ``length_normalization`` flipped, or its edit-distance loss added or dropped."""
    new, net = _copy(case)
    decides = [k for k in _layers(net) if net[k].get("class") == "decide"]
    if not decides:
        return None
    name = rng.choice(decides)
    desc = net[name]
    if rng.random() < 0.5:
        desc["length_normalization"] = not desc.get("length_normalization", False)
        return new, f"{name}: length_normalization = {desc['length_normalization']}"
    if "loss" in desc:
        for key in ("loss", "loss_opts", "loss_scale", "target"):
            desc.pop(key, None)
        return new, f"{name}: its loss and target dropped"
    targets = [net[s].get("target") for s in _sources(desc) if s in net and s in _recs(net)]
    targets = [t for t in targets if isinstance(t, str)]
    if not targets:
        for rec in _searching_recs(net):
            unit = net[rec]["unit"]
            targets += [unit[c]["target"] for c in _unit_choices(unit) if isinstance(unit[c].get("target"), str)]
    if not targets:
        return None
    target = targets[0]
    desc.update(loss="edit_distance", target=target)
    return new, f"{name}: loss edit_distance on target {target!r}"


def op_end_label(case: Case, rng: random.Random) -> Result:
    """A loop's ``end`` compares its choice with another label, or with ``greater_equal``."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        end = unit.get("end")
        if not isinstance(end, dict) or end.get("class") != "compare" or not isinstance(end.get("value"), int):
            continue
        for choice in _unit_choices(unit):
            if choice in _sources(end):
                dim = _target_dim(case, unit[choice].get("target"))
                if dim:
                    sites.append((rec, choice, dim))
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    end = net[rec]["unit"]["end"]
    edits: list[dict[str, Any]] = [{"value": dim - 1}, {"value": 1}, {"kind": "greater_equal"}]
    edit = rng.choice(edits)
    if all(end.get(k) == v for k, v in edit.items()):
        return None
    end.update(edit)
    opts = ", ".join(f"{k} = {v!r}" for k, v in edit.items())
    return new, f"{rec}/end compares {choice} with {opts}"


FRESH25_OPERATORS: tuple[Op, ...] = (
    Op("score-scales", op_score_scales, 1),
    Op("factored-choice", op_factored_choice, 1),
    Op("max-len-via", op_max_len_via, 1),
    Op("decide-options", op_decide_options, 1),
    Op("end-label", op_end_label, 1),
)
