"""An eighth set of edit operators (issue 15, third session), written and seeded when the seventh set
(``mutations_fresh5.py``) had been opened for development: held out from then on, looked at as counts
only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``with-prev``: a loop layer's readers read the sum of its value and its previous frame's
  (``prev:X``, with an ``initial_output`` of zeros);
* ``prev-to-cur``: a ``prev:X`` reference of a loop layer becomes ``X`` (this frame's value), where
  that makes no dependency loop;
* ``explicit-source``: a loop choice gets ``explicit_search_sources``: another layer of its loop;
* ``root-gather``: a root layer gathers a decoder's output frames at a position computed from the
  encoder (an argmax over its features, clipped), read by an output layer;
* ``twin-output``: a second output layer of the loop, a copy of the choice's scores combined with
  the previous frame's choice embedding, marked ``is_output_layer``.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH6_SEED = 20261214
N_FRESH6 = 80

Result = "tuple[Case, str] | None"

_FLOAT = ("linear", "softmax", "combine", "activation", "eval", "dot", "attention", "self_attention",
          "generic_attention", "elemwise_prod", "rnn_cell")


def op_with_prev(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read its value plus its previous frame's."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") in _FLOAT and not net[r]["unit"][k].get("target")
             and _readers(net[r]["unit"], k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    unit[name].setdefault("initial_output", "zeros")
    mixed = _fresh(unit, f"{name}_with_prev")
    unit[mixed] = {"class": "combine", "kind": "add", "from": [name, f"prev:{name}"]}
    _redirect(unit, readers, name, mixed)
    return new, f"{rec}/{name}'s readers ({', '.join(readers)}) read it plus its previous frame"


def op_prev_to_cur(case: Case, rng: random.Random) -> Result:
    """A ``prev:X`` reference in a loop becomes ``X``."""
    new, net = _copy(case)
    sites = []
    for r in _recs(net):
        unit = net[r]["unit"]
        for k in _layers(unit):
            refs: list[str] = []
            _map_refs(dict(unit[k]), lambda x, refs=refs: refs.append(x) or x)
            sites += [(r, k, x) for x in refs if x.startswith("prev:") and x[5:] in unit and x[5:] != k]
    if not sites:
        return None
    rec, name, ref = rng.choice(sites)
    _map_refs(net[rec]["unit"][name], lambda x: x[5:] if x == ref else x)
    return new, f"{rec}/{name} reads {ref[5:]} instead of {ref}"


def op_explicit_source(case: Case, rng: random.Random) -> Result:
    """A loop choice also names another loop layer in ``explicit_search_sources``."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    pool = [k for k in _layers(unit) if k not in (choice, "end") and k not in _sources(unit[choice])]
    pool += [f"prev:{c}" for c in _unit_choices(unit)]
    if not pool:
        return None
    extra = rng.choice(pool)
    unit[choice]["explicit_search_sources"] = [extra]
    return new, f"{rec}/{choice} gets explicit_search_sources [{extra}]"


def op_root_gather(case: Case, rng: random.Random) -> Result:
    """A root layer gathers a decoder's frames at a position from the encoder."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    roots = [k for k in _layers(net) if net[k].get("class") in ("linear", "rec", "conv", "activation", "copy")
             and k not in recs and not net[k].get("target")]
    if not recs or not roots:
        return None
    rec, enc = rng.choice(recs), rng.choice(roots)
    pos = _fresh(net, "dec_pos")
    picked = _fresh(set(net) | {pos}, "dec_picked")
    net[pos] = {"class": "eval", "from": enc, "out_type": {"dtype": "int32", "shape": ()},
                "eval": "tf.zeros_like(tf.cast(tf.reduce_sum(source(0), axis=-1), tf.int32))"}
    net[picked] = {"class": "gather", "from": rec, "axis": "T", "position": pos, "is_output_layer": True}
    return new, f"add {picked}: {rec}'s frames gathered at a position from {enc}"


def op_twin_output(case: Case, rng: random.Random) -> Result:
    """A second output layer of the loop: the choice's scores plus the previous choice's embedding."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _sources(net[r]["unit"][c]) and not _sources(net[r]["unit"][c])[0].startswith(("prev:", "base:"))]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    emb = _fresh(unit, "twin_emb")
    twin = _fresh(set(unit) | {emb}, "twin_out")
    unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{choice}", "n_out": 4}
    unit[twin] = {"class": "linear", "activation": "tanh", "from": [scores, emb], "n_out": 4,
                  "is_output_layer": True}
    return new, f"add {rec}/{twin}: over {scores} and the previous {choice}, an output layer"


FRESH6_OPERATORS: tuple[Op, ...] = (
    Op("with-prev", op_with_prev, 1),
    Op("prev-to-cur", op_prev_to_cur, 1),
    Op("explicit-source", op_explicit_source, 1),
    Op("root-gather", op_root_gather, 1),
    Op("twin-output", op_twin_output, 1),
)
