"""A seventy-third set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Layer classes that no base network and no earlier set uses, put where users put them around a searching
decoder: ``unflatten_batch``, ``scatter_nd``, ``range`` and ``accumulate_mean`` (none a variant of an
earlier operator; no rule was written for any of them):

* ``packed-head``: a per-frame head computed on packed frames at the root: ``flatten_batch`` (batch-major,
  or time-major now and then) of a layer, a ``linear`` (no activation, ``tanh`` or ``relu``) over the
  packed frames, and ``unflatten_batch`` back; of the searching rec layer itself (its output is the
  choice's labels), of a ``decide`` of it (an existing one, or a new one: the fix), or of a float loop
  layer read as ``REC/LAYER`` (maybe marked ``is_output_layer`` in the loop), the unflattened head an
  output layer; or of an encoder layer the loop reads (the head keeps its ``n_out``), whose root readers
  and ``base:`` readers in the loop then read the unflattened head (the loop's ``max_len_from`` maybe
  too);
* ``frame-scatter``: the decoder's per-label vectors are written back onto the input frames at the root
  with a ``scatter_nd``: ``position`` is a ``range_in_axis`` over the decoder's time axis (``T`` of the
  scattered layer, of the rec's ``REC/CHOICE``, or of the ``decide``), maybe multiplied by a frame rate
  factor 2 or 3 in an ``eval``; the scattered values are a ``linear`` embedding of the rec's labels (of
  the rec, or of a ``decide`` of it: the fix), or a float loop layer read as ``REC/LAYER`` (maybe marked
  ``is_output_layer`` in the loop); the output length is taken from ``output_dim_via_time_from`` an
  encoder root layer the loop reads (or ``data``), with ``filter_invalid_indices`` half of the time; the
  scatter is an output layer, or is ``reduce``-d (sum) over the frames as one;
* ``onehot-range``: a label embedding done by hand: a ``range`` layer (``limit`` the vocabulary size, or
  one more for an extra symbol), in the loop or at the root read as ``base:``, is ``compare``-d
  (``equal``) with ``prev:CHOICE`` (then a ``linear`` embedding of the previous label reads the ``cast``
  one-hot instead of ``prev:CHOICE``, or reads a new ``linear`` of it) or with ``CHOICE`` (a one-hot of
  this frame's label, cast and marked an output layer); or, at the root, with the decoded sequence (the
  rec, or a ``decide`` of it) and ``reduce``-d (sum) over time to a bag of labels as an output layer;
* ``label-prior``: a label prior as for hybrid decoding, with ``accumulate_mean`` (``exp_average`` 0.001
  or 0.01, ``is_prob_distribution`` maybe): at the root over the loop's output distribution read as
  ``REC/PROB`` (maybe marked ``is_output_layer`` in the loop), the prior an output layer; or over a new
  root ``softmax`` over an encoder layer the loop reads (``n_out`` the vocabulary size), the loop's
  choice then scoring with the prior divided out (an ``eval`` of ``safe_log`` of its distribution minus
  0.2, 0.3 or 0.5 times ``safe_log`` of ``base:PRIOR``, ``input_type`` ``log_prob``).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH71_SEED = 20270133
N_FRESH71 = 80

Result = "tuple[Case, str] | None"

_FLOAT_CLASSES = ("linear", "softmax", "activation", "combine", "dot", "reduce", "generic_attention",
                  "dot_attention", "concat", "rec", "rnn_cell", "self_attention", "copy")


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(rec, choice, target key, vocabulary size) of every label choice (not a regression) of a searching
    rec layer whose target is a data key of known size."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("input_type") == "regression":
                continue
            key = _data_target(unit[c])
            dim = _target_dim(case, key)
            if key is not None and dim is not None:
                out.append((rec, c, key, dim))
    return out


def _outputs_labels(unit: dict[str, Any], choice: str) -> bool:
    """Whether the loop's ``output`` is the choice or a plain copy of it (the rec's output is its labels)."""
    if choice == "output":
        return True
    out = unit.get("output")
    return isinstance(out, dict) and out.get("class") == "copy" and _sources(out) == [choice]


def _decide_of(net: dict[str, Any], rec: str) -> str | None:
    """An existing root ``decide`` layer of ``rec``."""
    for k in _layers(net):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    return None


def _decided(net: dict[str, Any], rec: str) -> tuple[str, str]:
    """(a ``decide`` of ``rec``, how it came): an existing one, else a new one."""
    old = _decide_of(net, rec)
    if old is not None:
        return old, f"the existing decide {old}"
    dec = _fresh(net, f"{rec}_decided")
    net[dec] = {"class": "decide", "from": rec}
    return dec, f"a new decide {dec}"


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers the rec reads (transitively) that are time-keeping encoder layers (no reduce, no rec
    with a dict unit, no choice)."""
    out = []
    for k in sorted(_root_ancestors(net, rec)):
        desc = net[k]
        if desc.get("class") in ("linear", "activation", "copy", "dropout", "layer_norm", "conv", "combine",
                                 "concat", "self_attention", "eval", "subnetwork") \
                or (desc.get("class") == "rec" and isinstance(desc.get("unit"), str)):
            out.append(k)
    return out


def _float_loop_layers(unit: dict[str, Any], exclude: set[str]) -> list[str]:
    """Loop layers that (most likely) carry float vectors: linear, softmax, ... (not the choice, not end)."""
    return [k for k in _layers(unit) if k not in exclude and k != "end"
            and unit[k].get("class") in _FLOAT_CLASSES and not unit[k].get("target")
            and unit[k].get("class") != "copy"]


def op_packed_head(case: Case, rng: random.Random) -> Result:
    """A per-frame head on packed frames: ``flatten_batch`` -> ``linear`` -> ``unflatten_batch``."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, _key, _dim = rng.choice(sites)
    unit = net[rec]["unit"]
    floats = _float_loop_layers(unit, {choice})
    encs = [e for e in _encoders(net, rec) if not net[e].get("is_output_layer")]
    kinds = ["rec", "decide"] if _outputs_labels(unit, choice) else []
    kinds += ["loop"] * bool(floats) + ["encoder", "encoder"] * bool(encs)
    if not kinds:
        return None
    kind = rng.choice(kinds)
    act = rng.choice([None, "tanh", "relu"])
    size = rng.choice([4, 8])
    if kind == "encoder":
        src = rng.choice(encs)
        where = f"encoder layer {src}"
    elif kind == "rec":
        src, where = rec, f"the searching rec {rec}"
    elif kind == "decide":
        src, where = _decided(net, rec)
    else:
        layer = rng.choice(floats)
        src, where = f"{rec}/{layer}", f"{rec}/{layer} (a loop layer read from outside)"
        if rng.random() < 0.5:
            unit[layer]["is_output_layer"] = True
            where += ", marked an output layer in the loop"
    base = src.replace("/", "_")
    flat = _fresh(net, f"{base}_packed")
    net[flat] = {"class": "flatten_batch", "from": src}
    if rng.random() < 0.3:
        net[flat]["batch_major"] = False
    head = _fresh(net, f"{base}_packed_head")
    if kind == "encoder":
        n_out = net[src].get("n_out") if isinstance(net[src].get("n_out"), int) else size
        net[head] = {"class": "linear", "activation": act, "from": flat, "n_out": n_out}
    else:
        n_out = size
        net[head] = {"class": "linear", "activation": act, "from": flat, "n_out": n_out}
    back = _fresh(net, f"{base}_unpacked")
    net[back] = {"class": "unflatten_batch", "from": head}
    how = (f"{flat} (flatten_batch{', time-major' if net[flat].get('batch_major') is False else ''} of "
           f"{where}) -> {head} (linear {act} n_out {n_out}) -> {back} (unflatten_batch)")
    if kind != "encoder":
        net[back]["is_output_layer"] = True
        return new, f"root {how}, an output layer"
    readers = [k for k in _readers(net, src) if k not in (flat, rec)]
    _redirect(net, readers, src, back)
    loop_readers = _readers(unit, f"base:{src}")
    _redirect(unit, loop_readers, f"base:{src}", f"base:{back}")
    moved = ""
    mx = net[rec].get("max_seq_len")
    if isinstance(mx, str) and f"'base:{src}'" in mx and rng.random() < 0.5:
        net[rec]["max_seq_len"] = mx.replace(f"'base:{src}'", f"'base:{back}'")
        moved = ", max_seq_len from it too"
    if not readers and not loop_readers:
        net[back]["is_output_layer"] = True
        return new, f"root {how}, an output layer"
    who = ", ".join(readers + [f"{rec}/{k}" for k in loop_readers])
    return new, f"root {how}; {who} read it instead of {src}{moved}"


def op_frame_scatter(case: Case, rng: random.Random) -> Result:
    """The decoder's per-label vectors scattered onto the input frames with a root ``scatter_nd``."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, _key, _dim = rng.choice(sites)
    unit = net[rec]["unit"]
    floats = _float_loop_layers(unit, {choice})
    kinds = []
    if _outputs_labels(unit, choice):
        kinds += ["rec", "decide"]
    if floats:
        kinds += ["loop", "loop"]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    size = rng.choice([4, 6])
    if kind == "rec":
        emb = _fresh(net, f"{rec}_label_embed")
        net[emb] = {"class": "linear", "activation": None, "from": rec, "n_out": size}
        values, what = emb, f"{emb} (linear n_out {size} of the searching rec {rec})"
        time_src = rec
    elif kind == "decide":
        dec, how = _decided(net, rec)
        emb = _fresh(net, f"{rec}_label_embed")
        net[emb] = {"class": "linear", "activation": None, "from": dec, "n_out": size}
        values, what = emb, f"{emb} (linear n_out {size} of {how})"
        time_src = dec
    else:
        layer = rng.choice(floats)
        values, what = f"{rec}/{layer}", f"{rec}/{layer} (a loop layer read from outside)"
        time_src = values
        if rng.random() < 0.5:
            unit[layer]["is_output_layer"] = True
            what += ", marked an output layer in the loop"
    if kind != "loop" and rng.random() < 0.3:
        time_src = f"{rec}/{choice}" if kind == "rec" else time_src
    pos = _fresh(net, f"{rec}_label_pos")
    net[pos] = {"class": "range_in_axis", "from": time_src, "axis": "T"}
    pos_how = f"range_in_axis T of {time_src}"
    factor = rng.choice([1, 2, 3])
    if factor > 1:
        scaled = _fresh(net, f"{pos}_frames")
        net[scaled] = {"class": "eval", "from": pos, "eval": f"source(0) * {factor}"}
        pos, pos_how = scaled, f"{pos_how}, times {factor} in an eval"
    encs = _encoders(net, rec)
    frames = rng.choice(encs) if encs and rng.random() < 0.7 else "data"
    name = _fresh(net, f"{rec}_on_frames")
    net[name] = {"class": "scatter_nd", "from": values, "position": pos, "position_axis": "T",
                 "output_dim_via_time_from": frames}
    extra = ""
    if rng.random() < 0.5:
        net[name]["filter_invalid_indices"] = True
        extra = ", filter_invalid_indices"
    if rng.random() < 0.6:
        net[name]["is_output_layer"] = True
        tail = "an output layer"
    else:
        red = _fresh(net, f"{name}_sum")
        net[red] = {"class": "reduce", "mode": "sum", "axes": "T", "from": name, "is_output_layer": True}
        tail = f"summed over the frames in {red} (an output layer)"
    return new, (f"root {name}: scatter_nd of {what} at position {pos} ({pos_how}), frames from "
                 f"{frames}{extra}; {tail}")


def op_onehot_range(case: Case, rng: random.Random) -> Result:
    """A one-hot of the labels by hand: a ``range`` over the vocabulary ``compare``-d with the labels."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, _key, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    prev_readers = [k for k in _readers(unit, choice, f"prev:{choice}")
                    if unit[k].get("class") == "linear" and k != "end"]
    modes = ["frame"]
    if prev_readers:
        modes += ["prev", "prev", "prev"]
    if _outputs_labels(unit, choice):
        modes += ["root", "root"]
    mode = rng.choice(modes)
    limit = dim if rng.random() < 0.75 else dim + 1
    if mode == "root":
        vocab = _fresh(net, f"{rec}_vocab")
        net[vocab] = {"class": "range", "limit": limit}
        if rng.random() < 0.5:
            labels, how = rec, f"the searching rec {rec}"
        else:
            labels, how = _decided(net, rec)
        hot = _fresh(net, f"{rec}_onehot")
        net[hot] = {"class": "compare", "kind": "equal", "from": [labels, vocab]}
        hot_f = _fresh(net, f"{hot}_float")
        net[hot_f] = {"class": "cast", "dtype": "float32", "from": hot}
        bag = _fresh(net, f"{rec}_bag_of_labels")
        net[bag] = {"class": "reduce", "mode": "sum", "axes": "T", "from": hot_f, "is_output_layer": True}
        return new, (f"root {bag}: sum over time of {hot_f} (cast of {hot}: {how} == range {vocab}, "
                     f"limit {limit}), an output layer")
    if rng.random() < 0.5:
        vocab = _fresh(unit, "vocab_range")
        unit[vocab] = {"class": "range", "limit": limit}
        vocab_ref, where = vocab, f"{rec}/{vocab}"
    else:
        vocab = _fresh(net, f"{rec}_vocab")
        net[vocab] = {"class": "range", "limit": limit}
        vocab_ref, where = f"base:{vocab}", f"root {vocab} (read as base:)"
    label = f"prev:{choice}" if mode == "prev" else choice
    hot = _fresh(unit, f"{'prev_' if mode == 'prev' else ''}{choice}_onehot")
    unit[hot] = {"class": "compare", "kind": "equal", "from": [label, vocab_ref]}
    hot_f = _fresh(unit, f"{hot}_float")
    unit[hot_f] = {"class": "cast", "dtype": "float32", "from": hot}
    head = f"{rec}/{hot}: {label} == range {where} (limit {limit}), cast in {rec}/{hot_f}"
    if mode == "frame":
        unit[hot_f]["is_output_layer"] = True
        return new, f"{head}, an output layer"
    user = rng.choice(prev_readers)
    desc = unit[user]
    if _sources(desc) == [f"prev:{choice}"] or rng.random() < 0.5:
        # the embedding itself now multiplies the one-hot
        _redirect(unit, [user], f"prev:{choice}", hot_f)
        return new, f"{head}; {rec}/{user} reads {hot_f} instead of prev:{choice}"
    emb = _fresh(unit, f"{hot}_embed")
    n_out = desc.get("n_out") if isinstance(desc.get("n_out"), int) else 4
    unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": hot_f, "n_out": n_out}
    _redirect(unit, [user], f"prev:{choice}", emb)
    return new, f"{head}; {rec}/{user} reads {emb} (linear n_out {n_out} of it) instead of prev:{choice}"


def op_label_prior(case: Case, rng: random.Random) -> Result:
    """A label prior with ``accumulate_mean``, as an output or divided out of the choice's scores."""
    new, net = _copy(case)
    sites = []
    for rec, choice, key, dim in _label_sites(case, net):
        unit = net[rec]["unit"]
        srcs = _sources(unit[choice])
        prob = srcs[0] if len(srcs) == 1 and srcs[0] in unit else None
        if prob is not None and unit[prob].get("class") in ("softmax", "linear", "activation") \
                and unit[choice].get("input_type") in (None, "prob"):
            sites.append((rec, choice, key, dim, prob))
    if not sites:
        return None
    rec, choice, _key, dim, prob = rng.choice(sites)
    unit = net[rec]["unit"]
    alpha = rng.choice([0.001, 0.01])
    encs = _encoders(net, rec)
    modes = ["root-output", "root-output"] + ["root-divide", "root-divide"] * bool(encs)
    mode = rng.choice(modes)
    opts: dict[str, Any] = {"class": "accumulate_mean", "exp_average": alpha}
    if rng.random() < 0.5:
        opts["is_prob_distribution"] = True
    if mode == "root-output":
        marked = ""
        if rng.random() < 0.5:
            unit[prob]["is_output_layer"] = True
            marked = f" ({prob} marked an output layer in the loop)"
        prior = _fresh(net, f"{rec}_label_prior")
        net[prior] = {**opts, "from": f"{rec}/{prob}", "is_output_layer": True}
        return new, (f"root {prior}: accumulate_mean (exp_average {alpha}) of {rec}/{prob}{marked} over batch "
                     f"and time, an output layer")
    enc = rng.choice(encs)
    aux = _fresh(net, f"{enc}_label_prob")
    net[aux] = {"class": "softmax", "from": enc, "n_out": dim}
    prior = _fresh(net, f"{aux}_prior")
    net[prior] = {**opts, "from": aux}
    scale = rng.choice([0.2, 0.3, 0.5])
    corrected = _fresh(unit, f"{prob}_prior_corrected")
    unit[corrected] = {"class": "eval", "from": [prob, f"base:{prior}"],
                       "eval": f"safe_log(source(0)) - {scale} * safe_log(source(1))"}
    unit[choice]["from"] = corrected
    unit[choice]["input_type"] = "log_prob"
    return new, (f"{rec}/{choice} scores {rec}/{corrected} (log of {prob} minus {scale} x log of the prior "
                 f"root {prior}: accumulate_mean (exp_average {alpha}) of {aux}, a softmax n_out {dim} over "
                 f"{enc}), input_type log_prob")


FRESH71_OPERATORS: tuple[Op, ...] = (
    Op("packed-head", op_packed_head, 1),
    Op("frame-scatter", op_frame_scatter, 1),
    Op("onehot-range", op_onehot_range, 1),
    Op("label-prior", op_label_prior, 1),
)
