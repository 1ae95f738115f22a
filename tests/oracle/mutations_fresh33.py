"""A thirty-fifth set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Layers that make a batch axis of their own instead of taking it from their ``from`` (``constant`` with
``with_batch_dim``, ``variable`` with ``add_batch_axis``, ``random`` with the batch dim in its shape,
``range_in_axis`` / ``length`` over the batch axis, ``length`` of an encoder, ``get_last_hidden_state`` of
an encoder), met with the beamed tensors of a searching decoder inside its loop and at the root (none a
variant of an earlier operator; no rule was written for any of them):

* ``batch-bias-in-loop``: the readers of a float layer of a decoder loop (a state, an attention, the
  scores a choice reads) read it plus a tensor with a batch axis of its own (``combine`` add, or an
  ``eval`` of both): a ``constant`` with ``with_batch_dim`` (of the layer's size or one value per
  sequence), a ``variable`` with ``add_batch_axis`` or a ``random`` normal over the batch dim (and the
  layer's size), made in the loop itself or at the root and read through ``base:``;
* ``batch-initial-state``: a loop layer the next frame reads (``prev:``; or a loop ``linear`` made to
  read its own previous frame as an extra source) starts from a root layer with a batch axis of its own: ``initial_output`` (or, for an ``rnn_cell``, ``initial_state``, per ``c`` / ``h``
  for an LSTM) names a ``constant`` with ``with_batch_dim``, a ``variable`` with ``add_batch_axis``, a
  ``random`` over the batch dim, or a projection of the ``get_last_hidden_state`` of an encoder ``rec``
  (where the network has one; else of a ``reduce`` mean of an encoder layer);
* ``batch-index-in-loop``: inside a decoder loop, the positions along the batch axis (``range_in_axis``
  with ``axis: "B"``) or the size of the batch axis (``length`` with ``axis: "B"``) of a loop layer (its
  hypotheses) or of an encoder layer (``base:``, its sequences), ``cast`` to float, scaled into the values
  of a float loop layer for its readers (``eval``);
* ``length-feature``: the length of an encoder layer's (or the input data's) time axis (``length``, one
  value per sequence), ``cast`` to float and log-scaled (``eval``) at the root or inside the loop, added to
  (or scaling) a float layer of the decoder loop for that layer's readers;
* ``root-batch-mix``: a new root output layer mixes an embedding of a searching decoder's output (read
  beamed, or through a ``decide`` of it) with a root tensor with a batch axis of its own (a ``constant``
  with ``with_batch_dim``, a ``variable`` with ``add_batch_axis``, a ``random`` over the batch dim, the
  encoder's ``length`` or its ``range_in_axis`` over ``B``) by ``combine`` add or ``eval``; where it reads
  the beamed decoder, a ``decide`` of the mix may be the output instead.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _data_keys,
    _encoder_sites,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _target_dim,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH33_SEED = 20261226
N_FRESH33 = 80

Result = "tuple[Case, str] | None"

#: RETURNN's global batch dim, as the corpus networks write it.
BATCH_DIM: dict[str, Any] = {"__dim__": {"description": "global batch", "dimension": None,
                                         "is_batch_dim": True, "kind": "batch"}}

#: float-valued loop layer classes a user would add a bias / mask to
_FLOAT = ("linear", "softmax", "activation", "rnn_cell", "combine", "generic_attention", "dot_attention",
          "reduce_out", "merge_dims", "self_attention")
#: root layer classes that keep the encoder's time axis
_TIMED = ("linear", "rec", "copy", "pool", "conv", "dropout", "combine", "activation", "layer_norm",
          "softmax", "eval")


def _size(case: Case, desc: dict[str, Any]) -> int | None:
    """The feature size of a layer dict (``n_out``, else its target's vocabulary size)."""
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    if desc.get("class") in ("softmax", "linear"):
        return _target_dim(case, desc.get("target"))
    return None


def _float_states(unit: dict[str, Any]) -> list[str]:
    """Float loop layers read by other loop layers in the same frame."""
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _FLOAT and _readers(unit, k)]


def _timed_roots(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Root layers the loop reads that keep a time axis (plus ``data`` where the case has it)."""
    out = [k for k in _encoder_sites(net, rec, ()) if net[k].get("class") in _TIMED
           and not (net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict))]
    if "data" in _data_keys(case):
        out.append("data")
    return out


def _own_batch(kind: str, size: int | None, rng: random.Random) -> tuple[dict[str, Any], str]:
    """A layer dict that makes a batch axis of its own (of ``size`` features, or one value per sequence)."""
    shape = [size] if size else []
    if kind == "constant":
        value = rng.choice([0.0, 0.5, 1.0])
        desc: dict[str, Any] = {"class": "constant", "value": value, "with_batch_dim": True}
        if shape:
            desc["shape"] = shape
        return desc, f"constant {value} with_batch_dim{' ' + str(shape) if shape else ''}"
    if kind == "variable":
        desc = {"class": "variable", "shape": shape, "add_batch_axis": True}
        if rng.random() < 0.5:
            desc["init"] = 0.1
        return desc, f"variable {shape} add_batch_axis"
    stddev = rng.choice([0.01, 0.1])
    desc = {"class": "random", "shape": [BATCH_DIM, *shape], "distribution": "normal", "mean": 0.0,
            "stddev": stddev}
    return desc, f"random normal(0, {stddev}) over [batch{', ' + str(size) if size else ''}]"


def op_batch_bias_in_loop(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read it plus a constant / variable / random with a batch axis of its own."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _float_states(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    size = _size(case, unit[name])
    size = size if size and rng.random() < 0.7 else None
    kind = rng.choice(["constant", "variable", "random"])
    desc, what = _own_batch(kind, size, rng)
    if rng.random() < 0.5:
        bias = _fresh(unit, f"{name}_batch_{kind}")
        unit[bias] = desc
        ref, where = bias, f"{rec}/{bias}"
    else:
        bias = _fresh(net, f"{name}_batch_{kind}")
        net[bias] = desc
        ref, where = f"base:{bias}", bias
    readers = _readers(unit, name)
    mix = _fresh(unit, f"{name}_plus_{kind}")
    if rng.random() < 0.5:
        unit[mix] = {"class": "combine", "kind": "add", "from": [name, ref]}
        how = "combine add"
    else:
        scale = rng.choice([1.0, 0.1])
        unit[mix] = {"class": "eval", "from": [name, ref], "eval": f"source(0) + {scale} * source(1)"}
        how = f"eval source(0) + {scale} * source(1)"
    _redirect(unit, readers, name, mix)
    return new, f"{rec}: {', '.join(readers)} read {rec}/{mix} = {how} of {name} and {where} ({what})"


def _encoder_recs(net: dict[str, Any]) -> list[str]:
    """Root ``rec`` layers with a string unit and an int ``n_out`` (encoder LSTMs and the like)."""
    return [k for k in _layers(net) if net[k].get("class") == "rec" and isinstance(net[k].get("unit"), str)
            and isinstance(net[k].get("n_out"), int)]


def op_batch_initial_state(case: Case, rng: random.Random) -> Result:
    """A loop layer read through ``prev:`` starts from a root layer with a batch axis of its own."""
    new, net = _copy(case)
    sites, loops = [], []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            if k == "end" or desc.get("class") not in _FLOAT or not _size(case, desc):
                continue
            if _readers(unit, k, f"prev:{k}"):
                sites.append((rec, k))
            elif desc.get("class") == "linear" and isinstance(desc.get("n_out"), int) and _readers(unit, k):
                loops.append((rec, k))
    if not sites and not loops:
        return None
    made = ""
    if loops and (not sites or rng.random() < 0.4):
        rec, name = rng.choice(loops)
        _add_source(net[rec]["unit"][name], f"prev:{name}")
        made = f"; {rec}/{name} now also reads prev:{name}"
    else:
        rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    size = _size(case, unit[name])
    kinds = ["constant", "variable", "random", "last-hidden"]
    kind = rng.choice(kinds)
    if kind == "last-hidden":
        encs = _encoder_recs(net)
        init = _fresh(net, f"{name}_init_from_encoder")
        if encs:
            enc = rng.choice(encs)
            last = _fresh(net, f"{enc}_last_state")
            net[last] = {"class": "get_last_hidden_state", "from": enc, "n_out": 2 * net[enc]["n_out"]}
            what = f"tanh projection of {last} (get_last_hidden_state of {enc})"
        else:
            timed = [k for k in _timed_roots(case, net, rec) if k != "data"] or ["data"]
            enc = rng.choice(timed)
            last = _fresh(net, f"{enc}_mean")
            net[last] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
            what = f"tanh projection of {last} (mean of {enc} over time)"
        net[init] = {"class": "linear", "activation": "tanh", "from": last, "n_out": size}
    else:
        desc, what = _own_batch(kind, size, rng)
        init = _fresh(net, f"{name}_init_{kind}")
        net[init] = desc
    ref = f"base:{init}"
    desc = unit[name]
    if desc.get("class") == "rnn_cell":
        old = desc.get("initial_state")
        cell = str(desc.get("unit", "")).lower()
        desc["initial_state"] = {"c": ref, "h": ref} if "lstm" in cell else ref
        opt = "initial_state"
    else:
        old = desc.get("initial_output")
        desc["initial_output"] = ref
        opt = "initial_output"
    was = f", was {old!r}" if old is not None else ""
    return new, f"{rec}/{name} {opt} from {init} ({what}{was}){made}"


def op_batch_index_in_loop(case: Case, rng: random.Random) -> Result:
    """Inside a loop, positions (or the size) of the batch axis of a loop or encoder layer, added into a
    float loop layer for its readers."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _float_states(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    encs = _timed_roots(case, net, rec)
    others = [k for k in _float_states(unit) if k != name]
    pick = rng.random()
    if encs and pick < 0.4:
        src = f"base:{rng.choice(encs)}"
    elif others and pick < 0.6:
        src = rng.choice(others)
    else:
        src = name
    mode = rng.choice(["range_in_axis", "range_in_axis", "length"])
    base = f"{name}_batch_pos" if mode == "range_in_axis" else f"{name}_batch_size"
    idx = _fresh(unit, base)
    unit[idx] = {"class": mode, "from": src, "axis": "B"}
    idxf = _fresh(unit, f"{idx}_float")
    unit[idxf] = {"class": "cast", "from": idx, "dtype": "float32"}
    readers = _readers(unit, name)
    mix = _fresh(unit, f"{name}_with_{base[len(name) + 1:]}")
    if mode == "range_in_axis":
        expr = f"source(0) + {rng.choice([0.001, 0.01])} * source(1)"
    else:
        expr = rng.choice(["source(0) + 0.01 * source(1)", "source(0) / source(1)"])
    unit[mix] = {"class": "eval", "from": [name, idxf], "eval": expr}
    _redirect(unit, readers, name, mix)
    return new, (f"{rec}: {', '.join(readers)} read {rec}/{mix} = {expr} of {name} and {idxf} "
                 f"({mode} axis B of {src})")


def op_length_feature(case: Case, rng: random.Random) -> Result:
    """The encoder's (or the data's) sequence lengths, log-scaled, added to (or scaling) a float loop layer."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _float_states(net[r]["unit"])
             if _timed_roots(case, net, r)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(_timed_roots(case, net, rec))
    expr_len = "tf.math.log(source(0) + 1.0)"
    if rng.random() < 0.5:
        length = _fresh(net, f"{enc}_length")
        net[length] = {"class": "length", "from": enc}
        lenc = _fresh(net, f"{length}_float")
        net[lenc] = {"class": "cast", "from": length, "dtype": "float32"}
        lenf = _fresh(net, f"{length}_log")
        net[lenf] = {"class": "eval", "from": lenc, "eval": expr_len}
        ref, where = f"base:{lenf}", f"root {length}, {lenf}"
    else:
        length = _fresh(unit, f"{enc}_length")
        unit[length] = {"class": "length", "from": f"base:{enc}"}
        lenc = _fresh(unit, f"{length}_float")
        unit[lenc] = {"class": "cast", "from": length, "dtype": "float32"}
        lenf = _fresh(unit, f"{length}_log")
        unit[lenf] = {"class": "eval", "from": lenc, "eval": expr_len}
        ref, where = lenf, f"{rec}/{length} of base:{enc}, {rec}/{lenf}"
    readers = _readers(unit, name)
    mix = _fresh(unit, f"{name}_with_length")
    if rng.random() < 0.5:
        unit[mix] = {"class": "combine", "kind": "add", "from": [name, ref]}
        how = "plus"
    else:
        unit[mix] = {"class": "eval", "from": [name, ref], "eval": "source(0) * (1.0 + 0.1 * source(1))"}
        how = "scaled by"
    _redirect(unit, readers, name, mix)
    return new, f"{rec}: {', '.join(readers)} read {rec}/{mix}: {name} {how} the log length of {enc} ({where})"


def op_root_batch_mix(case: Case, rng: random.Random) -> Result:
    """A root output layer mixing an embedding of a decoder's output (beamed or decided) with a root tensor
    with a batch axis of its own."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    decides = [k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") == rec]
    how = rng.choice(["beamed", "decided"])
    if how == "beamed":
        src, via = rec, f"{rec} (beamed)"
    elif decides and rng.random() < 0.5:
        src = rng.choice(decides)
        via = f"{src} (decide of {rec})"
    else:
        src = _fresh(net, f"{rec}_decided")
        net[src] = {"class": "decide", "from": rec}
        via = f"new {src} (decide of {rec})"
    size = rng.choice([4, 8])
    emb = _fresh(net, f"{rec}_mix_embed")
    net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": size}
    kind = rng.choice(["constant", "variable", "random", "length", "range"])
    encs = _timed_roots(case, net, rec)
    if kind in ("length", "range") and not encs:
        kind = "constant"
    if kind in ("length", "range"):
        enc = rng.choice(encs)
        raw = _fresh(net, f"{enc}_{'length' if kind == 'length' else 'batch_pos'}")
        net[raw] = ({"class": "length", "from": enc} if kind == "length"
                    else {"class": "range_in_axis", "from": enc, "axis": "B"})
        other = _fresh(net, f"{raw}_float")
        net[other] = {"class": "cast", "from": raw, "dtype": "float32"}
        what = f"{'length' if kind == 'length' else 'range_in_axis B'} of {enc}, cast to float"
    else:
        desc, what = _own_batch(kind, size if rng.random() < 0.7 else None, rng)
        other = _fresh(net, f"{rec}_mix_{kind}")
        net[other] = desc
    mix = _fresh(net, f"{rec}_mix")
    if rng.random() < 0.5:
        net[mix] = {"class": "combine", "kind": "add", "from": [emb, other]}
        op = "combine add"
    else:
        net[mix] = {"class": "eval", "from": [emb, other], "eval": "source(0) + 0.1 * source(1)"}
        op = "eval source(0) + 0.1 * source(1)"
    out = mix
    if how == "beamed" and rng.random() < 0.4:
        out = _fresh(net, f"{mix}_decided")
        net[out] = {"class": "decide", "from": mix}
    net[out]["is_output_layer"] = True
    tail = f", decided by output {out}" if out != mix else " (an output)"
    return new, f"root {mix} = {op} of {emb} (linear of {via}) and {other} ({what}){tail}"


FRESH33_OPERATORS: tuple[Op, ...] = (
    Op("batch-bias-in-loop", op_batch_bias_in_loop, 1),
    Op("batch-initial-state", op_batch_initial_state, 1.2),
    Op("batch-index-in-loop", op_batch_index_in_loop, 1.2),
    Op("length-feature", op_length_feature, 0.9),
    Op("root-batch-mix", op_root_batch_mix, 1),
)
