"""A twenty-sixth set of edit operators (issue 15, eighth session), written and seeded before it was ever
run, after fresh23 was opened: held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``dot-attention``: a hand-written dot attention in a decoder loop: a loop layer (or its previous
  frame) projected as query, a ``dot`` with a root projection of an encoder layer (``base:``, no
  beam), ``softmax_over_spatial`` and ``generic_attention`` over the encoder, read by a loop layer
  that reads no labels;
* ``root-alignment``: a root output layer ``dot``-s a projection of an encoder layer with a projection
  of a searching decoder's output (or a root reader of it) over the features, keeping both time axes
  (an encoder-by-decoder alignment matrix after the search);
* ``split-gate``: the readers of a loop layer read a gated linear unit of it: a projection to twice
  its size, ``split`` in two, the first half (``L/0``) times the sigmoid of the second (``L/1``, or
  the previous frame's ``prev:L/1``);
* ``flatten-decoder``: a searching decoder's output (or a root reader of it) is flattened over batch
  and time (``flatten_batch``), marked an output, or split back (``split_batch_time`` on it) for the
  decoder's readers;
* ``decoder-positions``: a root output layer of the positions of a decoder's output frames
  (``range_in_axis`` over its time axis, or over its batch axis), or the decoder's root readers read
  its output masked by its own lengths (``seq_len_mask``).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _interpose,
    _layers,
    _readers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH24_SEED = 20261217
N_FRESH24 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes with a float feature output (a query, a state to gate)
_FLOAT = ("linear", "rnn_cell", "activation", "combine", "layer_norm", "generic_attention", "dot_attention",
          "concat", "eval", "dropout", "self_attention")
#: root layer classes that are no encoder frames
_NOT_ENCODER = ("rec", "choice", "decide", "decide_keep_beam", "reduce", "length", "constant", "variable",
                "data", "range_in_axis", "loss", "subnetwork")


def _float_layers(unit: dict[str, Any]) -> list[str]:
    """Loop layers (not ``end``) with a float feature output; a ``rec`` with a string unit counts."""
    out = []
    for k in _layers(unit):
        cls = unit[k].get("class")
        if k != "end" and (cls in _FLOAT or cls == "rec" and isinstance(unit[k].get("unit"), str)):
            out.append(k)
    return out


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers ``rec`` reads (transitively) that hold encoder frames (no beam, no rec unit dict)."""
    beamed = _beamed_roots(net)
    out = []
    for k in sorted(_root_ancestors(net, rec)):
        cls = net[k].get("class")
        if k in beamed or cls in _NOT_ENCODER and not (cls == "rec" and isinstance(net[k].get("unit"), str)):
            continue
        out.append(k)
    return out


def op_dot_attention(case: Case, rng: random.Random) -> Result:
    """A hand-written dot attention over an encoder layer in a decoder loop, read by a loop layer."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        labels = set(_unit_choices(unit))
        users = [k for k in _layers(unit) if _sources(unit[k]) and (
            unit[k].get("class") in ("linear", "softmax", "rnn_cell")
            or unit[k].get("class") == "rec" and isinstance(unit[k].get("unit"), str))
            and not any(s.removeprefix("prev:") in labels or s.startswith("data:") for s in _sources(unit[k]))]
        queries = _float_layers(unit)
        encs = _encoders(net, rec)
        sites += [(rec, e, u, q) for e in encs for u in users for q in queries]
    if not sites:
        return None
    rec, enc, user, query = rng.choice(sites)
    unit = net[rec]["unit"]
    dim = rng.choice([8, 16])
    use_prev = query == user or user in _frame_ancestors(unit, query) or rng.random() < 0.5
    q_src = f"prev:{query}" if use_prev else query
    key = _fresh(net, f"{enc}_att_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": dim}
    q, energy = _fresh(unit, "att_query"), _fresh(unit, "att_energy")
    unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": q_src, "n_out": dim}
    unit[energy] = {"class": "dot", "from": [f"base:{key}", q], "red1": "F", "red2": "F", "var1": "T",
                    "var2": None, "add_var2_if_empty": False}
    weights = _fresh(unit, "att_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    if rng.random() < 0.5:
        unit[weights]["energy_factor"] = dim ** -0.5
    value = rng.choice([enc, key])
    ctx = _fresh(unit, "att_ctx")
    unit[ctx] = {"class": "generic_attention", "weights": weights, "base": f"base:{value}"}
    _add_source(unit[user], ctx)
    return new, (f"{rec}/{ctx}: dot attention of {q_src} on {key} (over {enc}), values {value}, "
                 f"read by {rec}/{user}")


def op_root_alignment(case: Case, rng: random.Random) -> Result:
    """A root output layer dots an encoder projection with a decoder-output projection, both time axes kept."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        srcs = [rec] + [k for k in _readers(net, rec) if net[k].get("class") not in ("rec", "subnetwork")]
        sites += [(rec, s, e) for s in srcs for e in _encoders(net, rec)]
    if not sites:
        return None
    rec, src, enc = rng.choice(sites)
    dim = rng.choice([8, 16])
    dec_key, enc_key = _fresh(net, f"{src}_align_emb"), _fresh(net, f"{enc}_align_key")
    net[dec_key] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": dim}
    net[enc_key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": dim}
    pair = [enc_key, dec_key] if rng.random() < 0.5 else [dec_key, enc_key]
    align = _fresh(net, f"{rec}_alignment")
    net[align] = {"class": "dot", "from": pair, "red1": "F", "red2": "F", "var1": "T", "var2": "T",
                  "is_output_layer": True}
    return new, f"{align}: dot of {pair[0]} and {pair[1]} ({src} against {enc}) over the features"


def op_split_gate(case: Case, rng: random.Random) -> Result:
    """The readers of a loop layer read a gated linear unit of it (``split`` into two halves)."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _float_layers(net[r]["unit"])
             if isinstance(net[r]["unit"][k].get("n_out"), int) and _readers(net[r]["unit"], k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    n_out = unit[name]["n_out"]
    proj, split = _fresh(unit, f"{name}_glu_in"), _fresh(unit, f"{name}_glu_split")
    unit[proj] = {"class": "linear", "activation": None, "from": name, "n_out": 2 * n_out}
    unit[split] = {"class": "split", "from": proj, "axis": "F", "num_splits": 2}
    half = f"prev:{split}/1" if rng.random() < 0.35 else f"{split}/1"
    gate = _fresh(unit, f"{name}_glu_gate")
    unit[gate] = {"class": "activation", "activation": "sigmoid", "from": half}
    glu = _interpose(unit, readers, name, f"{name}_glu",
                     {"class": "combine", "kind": "mul", "from": [f"{split}/0", gate]})
    return new, f"{rec}/{glu}: {split}/0 gated by sigmoid of {half}, read by {', '.join(readers)} in {rec}"


def op_flatten_decoder(case: Case, rng: random.Random) -> Result:
    """A decoder's output (or a root reader of it) flattened over batch and time, as output or split back."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        sites += [(rec, s) for s in [rec] + [k for k in _readers(net, rec)
                                             if net[k].get("class") not in ("rec", "subnetwork")]]
    if not sites:
        return None
    rec, src = rng.choice(sites)
    flat = _fresh(net, f"{src}_flat")
    net[flat] = {"class": "flatten_batch", "from": src, "axis": "T"}
    if rng.random() < 0.3:
        net[flat]["batch_major"] = False
    readers = [k for k in _readers(net, src) if k != flat]
    if rng.random() < 0.5:
        net[flat]["is_output_layer"] = True
        return new, f"{flat}: {src} flattened over batch and time (an output layer)"
    back = {"class": "split_batch_time", "from": flat, "base": src}
    if readers and rng.random() < 0.7:
        unflat = _interpose(net, readers, src, f"{src}_unflat", back)
        return new, f"{unflat}: {src} flattened ({flat}) and split back, read by {', '.join(readers)}"
    unflat = _fresh(net, f"{src}_unflat")
    net[unflat] = {**back, "is_output_layer": True}
    return new, f"{unflat}: {src} flattened ({flat}) and split back (an output layer)"


def op_decoder_positions(case: Case, rng: random.Random) -> Result:
    """A root output layer of a decoder's frame (or batch) positions, or its readers read it length-masked."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    readers = _readers(net, rec)
    what = rng.choices(["time", "batch", "mask"], [3, 1, 3 if readers else 1])[0]
    if what == "mask":
        masked = {"class": "seq_len_mask", "from": rec, "axis": "T", "mask_value": 0}
        if readers:
            name = _interpose(net, readers, rec, f"{rec}_masked", masked)
            return new, f"{name}: {rec} masked by its lengths, read by {', '.join(readers)}"
        name = _fresh(net, f"{rec}_masked")
        net[name] = {**masked, "is_output_layer": True}
        return new, f"{name}: {rec} masked by its lengths (an output layer)"
    axis = "T" if what == "time" else "B"
    name = _fresh(net, f"{rec}_positions" if what == "time" else f"{rec}_batch_idx")
    net[name] = {"class": "range_in_axis", "from": rec, "axis": axis, "is_output_layer": True}
    if what == "time" and rng.random() < 0.4:
        net[name]["sparse"] = True
    return new, f"{name}: range over the {what} axis of {rec} (an output layer)"


FRESH24_OPERATORS: tuple[Op, ...] = (
    Op("dot-attention", op_dot_attention, 1),
    Op("root-alignment", op_root_alignment, 1),
    Op("split-gate", op_split_gate, 1),
    Op("flatten-decoder", op_flatten_decoder, 1),
    Op("decoder-positions", op_decoder_positions, 1),
)
