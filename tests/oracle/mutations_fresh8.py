"""A tenth set of edit operators (issue 15, fourth session), written and seeded before the ninth set
(``mutations_fresh7.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``choice-reads-prev``: a loop choice reads the previous frame of its scores (``prev:X``) instead of
  this frame's;
* ``slice-at-choice``: a loop layer also reads a ``slice_nd`` of an encoder layer starting at the
  previous frame's choice (two frames, max-reduced);
* ``parallel-decoders``: a searching rec layer is duplicated, and a root output layer adds both
  decoders' time-averaged output embeddings;
* ``root-choice``: a choice at the root, before the loop (no target: over a softmax of the averaged
  encoder), whose embedding a loop layer reads through ``base:``;
* ``lstm-after``: the readers of a searching rec layer read an LSTM (a rec layer with a string unit)
  over its output;
* ``loop-over-beamed``: the readers of a searching rec layer read a second, non-searching rec layer
  that loops over the first one's output (a dict unit reading ``data:source``, its output frame by frame).
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _fresh,
    _layers,
    _read_decoder,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH8_SEED = 20261218
N_FRESH8 = 80

Result = "tuple[Case, str] | None"

_FLOAT = ("linear", "softmax", "combine", "activation", "eval", "dot", "attention", "self_attention",
          "generic_attention", "elemwise_prod", "rnn_cell", "copy")
_ENCODER = ("linear", "rec", "conv", "activation", "copy", "combine", "dropout", "layer_norm")


def _encoders(net: dict) -> list[str]:
    """Root layers of an encoder's kind that no searching loop feeds."""
    beamed, recs = _beamed_roots(net), set(_searching_recs(net))
    return [k for k in _layers(net) if net[k].get("class") in _ENCODER and k not in beamed and k not in recs
            and not net[k].get("target") and not (net[k].get("class") == "rec" and "unit" in net[k]
                                                   and isinstance(net[k]["unit"], dict))]


def _float_loop_layers(unit: dict) -> list[str]:
    return [k for k in _layers(unit) if unit[k].get("class") in _FLOAT and k not in ("end",)
            and not unit[k].get("target") and _sources(unit[k])]


def op_choice_reads_prev(case: Case, rng: random.Random) -> Result:
    """A loop choice reads ``prev:`` of its scores."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _sources(net[r]["unit"][c])
             and _sources(net[r]["unit"][c])[0] in net[r]["unit"]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    unit[choice]["from"] = [f"prev:{scores}"] + _sources(unit[choice])[1:]
    return new, f"{rec}/{choice} reads prev:{scores} instead of {scores}"


def op_slice_at_choice(case: Case, rng: random.Random) -> Result:
    """A loop layer also reads two encoder frames starting at the previous choice."""
    new, net = _copy(case)
    encs = _encoders(net)
    sites = [(r, c, k) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             for k in _float_loop_layers(net[r]["unit"]) if k != c]
    if not encs or not sites:
        return None
    rec, choice, user = rng.choice(sites)
    enc = rng.choice(encs)
    unit = net[rec]["unit"]
    sl = _fresh(unit, "enc_slice")
    red = _fresh(set(unit) | {sl}, "enc_slice_max")
    unit[sl] = {"class": "slice_nd", "from": f"base:{enc}", "start": f"prev:{choice}", "size": 2}
    unit[red] = {"class": "reduce", "mode": "max", "axis": "spatial:-1", "from": sl}
    unit[user]["from"] = _sources(unit[user]) + [red]
    return new, f"{rec}/{user} also reads {enc} sliced at prev:{choice} ({sl}, {red})"


def op_parallel_decoders(case: Case, rng: random.Random) -> Result:
    """A searching rec layer duplicated; a root output layer adds both decoders' averaged outputs."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    twin = _fresh(net, f"{rec}_twin")
    net[twin] = {k: v for k, v in net[rec].items() if k not in ("is_output_layer", "loss")}
    avg = []
    for src in (rec, twin):
        emb = _fresh(set(net) | {twin}, f"{src}_emb")
        net[emb] = {"class": "linear", "activation": None, "n_out": 4, "from": src}
        avg.append(_fresh(set(net) | {twin}, f"{src}_avg"))
        net[avg[-1]] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
    both = _fresh(set(net) | {twin}, "decoders_sum")
    net[both] = {"class": "combine", "kind": "add", "from": avg, "is_output_layer": True}
    return new, f"{twin} duplicates {rec}; {both} adds both averaged over time"


def op_root_choice(case: Case, rng: random.Random) -> Result:
    """A root choice over a softmax of the averaged encoder; a loop layer reads its embedding."""
    new, net = _copy(case)
    encs = _encoders(net)
    sites = [(r, k) for r in _searching_recs(net) for k in _float_loop_layers(net[r]["unit"])]
    if not encs or not sites:
        return None
    rec, user = rng.choice(sites)
    enc = rng.choice(encs)
    names = set(net)
    pooled = _fresh(names, "enc_pooled")
    prob = _fresh(names | {pooled}, "topic_prob")
    pick = _fresh(names | {pooled, prob}, "topic")
    net[pooled] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
    net[prob] = {"class": "linear", "activation": "softmax", "n_out": 5, "from": pooled}
    net[pick] = {"class": "choice", "target": None, "beam_size": rng.choice([2, 3]), "from": prob}
    unit = net[rec]["unit"]
    emb = _fresh(unit, "topic_emb")
    unit[emb] = {"class": "linear", "activation": None, "n_out": 4, "from": f"base:{pick}"}
    unit[user]["from"] = _sources(unit[user]) + [emb]
    return new, f"root choice {pick} over {enc}; {rec}/{user} reads its embedding {emb}"


def op_lstm_after(case: Case, rng: random.Random) -> Result:
    """The readers of a searching rec layer read an LSTM over its output."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, users = found
    lstm = _fresh(net, f"{rec}_lstm")
    net[lstm] = {"class": "rec", "unit": "lstm", "n_out": 6, "from": rec}
    _redirect(net, users, rec, lstm)
    return new, f"{rec}'s readers ({', '.join(users)}) read an LSTM {lstm} over it"


def op_loop_over_beamed(case: Case, rng: random.Random) -> Result:
    """The readers of a searching rec layer read a second loop over its output."""
    new, net = _copy(case)
    found = _read_decoder(net, rng)
    if found is None:
        return None
    rec, users = found
    loop = _fresh(net, f"{rec}_post")
    net[loop] = {"class": "rec", "from": rec, "unit": {
        "in": {"class": "linear", "activation": None, "n_out": 6, "from": "data:source"},
        "output": {"class": "linear", "activation": "tanh", "n_out": 6, "from": ["in", "prev:output"]},
    }}
    _redirect(net, users, rec, loop)
    return new, f"{rec}'s readers ({', '.join(users)}) read {loop}, a loop over it"


FRESH8_OPERATORS: tuple[Op, ...] = (
    Op("choice-reads-prev", op_choice_reads_prev, 1),
    Op("slice-at-choice", op_slice_at_choice, 1),
    Op("parallel-decoders", op_parallel_decoders, 1),
    Op("root-choice", op_root_choice, 1),
    Op("lstm-after", op_lstm_after, 1),
    Op("loop-over-beamed", op_loop_over_beamed, 1),
)
