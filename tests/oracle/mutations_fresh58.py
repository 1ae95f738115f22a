"""A sixtieth set of edit operators (issue 15, fourteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

RETURNN layer classes that no base network and no earlier set uses (``rand_int``, ``rec_last_output``,
``get_rec_accumulated``, ``sparse_softmax_cross_entropy_with_logits``, ``search_sorted``,
``range_from_length``), placed where a search beam flows: on the labels of a choice, on the scores of a
decoder frame, on the beamed loop values and at the root on the decoder's beamed output (none a variant of
an earlier operator; no rule was written for any of them):

* ``sampling-noise``: randomness in decoding with ``rand_int``: either exploration on the label path (the
  readers of ``prev:CHOICE`` read a ``switch`` between ``prev:CHOICE`` and a random label, a ``rand_int``
  of shape ``[batch]`` or ``[]`` below the vocabulary size made sparse by ``reinterpret_data``, on a
  condition that is a ``compare`` ``less`` of a second ``rand_int`` (0..99) with a rate), or a random
  sampling temperature on the scores (the choice's ``softmax`` split into a ``linear`` of logits, a
  ``combine`` ``truediv`` by a float ``rand_int`` of shape ``[batch]`` or ``[]`` between 0.5 and 1.5,
  and an ``activation`` ``softmax`` the choice reads);
* ``rec-sublayer-access``: a root layer takes a loop layer of a searching decoder out by class: a
  ``rec_last_output`` (``rec_layer`` the decoder, ``sub_layer_name`` the loop layer, which gets
  ``need_last: True`` most of the time, as the docs ask) or a ``get_rec_accumulated`` (``from`` the
  decoder, ``sub_layer`` the loop layer, which is marked ``is_output_layer`` most of the time); the root
  layer is an output layer, or a ``decide`` over it is;
* ``manual-xent``: the cross entropy of a label computed by hand in the loop with
  ``sparse_softmax_cross_entropy_with_logits``: logits a new ``linear`` over the sources of the choice's
  ``softmax`` (or the softmax itself, as users do by mistake), targets this frame's label (``CHOICE``),
  the reference ``data:KEY``, or the previous frame's (``prev:CHOICE`` against ``prev:`` of the logits);
  the layer sometimes also lists both inputs in ``from``; the result an output layer, or summed over the
  frames (``combine`` add with ``prev:`` of the sum) as an output, either maybe ``only_on_eval`` as the fix,
  or read after the loop by a root ``reduce`` sum over the decoder's time (an output; the loop layer
  marked an output most of the time);
* ``sorted-position``: index lookups on beamed values: in the loop, the encoder position where the
  attention's cumulative weight (``cumsum`` over the weights of a ``softmax_over_spatial``) passes a
  threshold, by ``search_sorted`` (side left or right) with the threshold a learned ``linear`` (sigmoid,
  one feature) of the decoder state or a ``constant`` 0.5 ``with_batch_dim``; the position an output
  layer, or taken out of the loop by a root ``copy`` of ``REC/POS`` (the loop layer marked an output
  most of the time); at the root (any searching
  decoder), ``range_from_length`` over the ``length`` of the beamed decoder output (or of a ``decide``
  of it) as an output layer, maybe compared (``less``) with the length to a mask marked an output.
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
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH58_SEED = 20270120
N_FRESH58 = 80

Result = "tuple[Case, str] | None"

#: RETURNN's global batch dim, as the corpus networks write it.
BATCH_DIM: dict[str, Any] = {"__dim__": {"description": "global batch", "dimension": None,
                                         "is_batch_dim": True, "kind": "batch"}}


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"]


def _vocab(case: Case, unit: dict[str, Any], choice: str) -> int | None:
    """The number of labels a choice chooses from: its target's vocabulary, else its source's ``n_out``."""
    dim = _target_dim(case, _data_target(unit[choice]))
    if dim is not None:
        return dim
    for src in _sources(unit[choice]):
        desc = unit.get(src)
        if isinstance(desc, dict):
            if isinstance(desc.get("n_out"), int):
                return desc["n_out"]
            dim = _target_dim(case, _data_target(desc))
            if dim is not None:
                return dim
    return None


def _softmax_source(case: Case, unit: dict[str, Any], choice: str) -> tuple[str, int] | None:
    """The choice's only source when it is a loop ``softmax`` over loop / ``base:`` layers, and its size."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit:
        return None
    desc = unit[srcs[0]]
    if desc.get("class") != "softmax" or not _sources(desc):
        return None
    size = desc["n_out"] if isinstance(desc.get("n_out"), int) else _target_dim(case, _data_target(desc))
    if size is None:
        return None
    return srcs[0], size


def op_sampling_noise(case: Case, rng: random.Random) -> Result:
    """Randomness in decoding by ``rand_int``: random labels on the label path, or a random temperature."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            readers = [k for k in _readers(unit, c, f"prev:{c}") if unit[k].get("class") != "choice"]
            if readers and _vocab(case, unit, c):
                sites.append((rec, c, "explore"))
            if _softmax_source(case, unit, c):
                sites.append((rec, c, "temperature"))
    if not sites:
        return None
    rec, choice, kind = rng.choice(sites)
    unit = net[rec]["unit"]
    per_seq = rng.random() < 0.6
    shape: list[Any] = [BATCH_DIM] if per_seq else []
    shape_how = "[batch]" if per_seq else "[] (one for all sequences)"
    if kind == "explore":
        dim = _vocab(case, unit, choice)
        readers = [k for k in _readers(unit, choice, f"prev:{choice}") if unit[k].get("class") != "choice"]
        raw = _fresh(unit, f"random_{choice}_raw")
        unit[raw] = {"class": "rand_int", "shape": list(shape), "maxval": dim, "dtype": "int32"}
        label = _fresh(unit, f"random_{choice}")
        unit[label] = {"class": "reinterpret_data", "from": raw, "set_sparse": True, "set_sparse_dim": dim}
        coin = _fresh(unit, "explore_coin")
        unit[coin] = {"class": "rand_int", "shape": list(shape), "maxval": 100, "dtype": "int32"}
        rate = rng.choice([5, 10, 25])
        flag = _fresh(unit, "explore")
        unit[flag] = {"class": "compare", "kind": "less", "from": coin, "value": rate}
        mixed = _fresh(unit, f"prev_{choice}_explored")
        if rng.random() < 0.5:
            unit[mixed] = {"class": "switch", "condition": flag, "true_from": label, "false_from": f"prev:{choice}"}
        else:
            # the same written the other way round (condition negated)
            keep = _fresh(unit, "keep_label")
            unit[keep] = {"class": "compare", "kind": "greater_equal", "from": coin, "value": rate}
            del unit[flag]
            flag = keep
            unit[mixed] = {"class": "switch", "condition": flag, "true_from": f"prev:{choice}", "false_from": label}
        _redirect(unit, readers, f"prev:{choice}", mixed)
        return new, (f"{rec}: {', '.join(readers)} read {mixed}, a switch on {flag} (rand_int {shape_how} 0..99 vs "
                     f"{rate}) between prev:{choice} and {label} (rand_int {shape_how} below {dim}, made sparse)")
    sm, size = _softmax_source(case, unit, choice)  # type: ignore[misc]
    old = unit[sm]
    logits = _fresh(unit, f"{sm}_logits")
    unit[logits] = {"class": "linear", "activation": None, "from": old["from"], "n_out": size}
    temp = _fresh(unit, "sample_temperature")
    unit[temp] = {"class": "rand_int", "shape": list(shape), "minval": 0.5, "maxval": 1.5, "dtype": "float32"}
    scaled = _fresh(unit, f"{sm}_logits_scaled")
    unit[scaled] = {"class": "combine", "kind": "truediv", "from": [logits, temp]}
    keep = {k: v for k, v in old.items() if k in ("target", "loss", "loss_opts", "is_output_layer", "loss_scale")}
    unit[sm] = {"class": "activation", "activation": "softmax", "from": scaled, **keep}
    return new, (f"{rec}/{sm} (the scores of {choice}) becomes softmax({logits} / {temp}), {temp} a float "
                 f"rand_int {shape_how} in [0.5, 1.5)")


def op_rec_sublayer_access(case: Case, rng: random.Random) -> Result:
    """A root layer takes a loop layer out by ``rec_last_output`` or ``get_rec_accumulated``."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _layers(net[r]["unit"])
             if k != "end" and net[r]["unit"][k].get("class") not in ("rec", "subnetwork", "masked_computation")]
    if not sites:
        return None
    rec, sub = rng.choice(sites)
    unit = net[rec]["unit"]
    if rng.random() < 0.5:
        name = _fresh(net, f"{rec}_{sub}_last")
        net[name] = {"class": "rec_last_output", "rec_layer": rec, "sub_layer_name": sub}
        how = f"rec_last_output of {rec}/{sub}"
        if rng.random() < 0.7:
            unit[sub]["need_last"] = True
            how += f" ({sub} with need_last)"
    else:
        name = _fresh(net, f"{rec}_{sub}_acc")
        net[name] = {"class": "get_rec_accumulated", "from": rec, "sub_layer": sub}
        how = f"get_rec_accumulated of {rec}/{sub}"
        if rng.random() < 0.7:
            unit[sub]["is_output_layer"] = True
            how += f" ({sub} marked is_output_layer)"
    if rng.random() < 0.35:
        dec = _fresh(net, f"{name}_decided")
        net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
        return new, f"root {name}: {how}; root {dec}, a decide over it, an output layer"
    net[name]["is_output_layer"] = True
    return new, f"root {name}: {how}, an output layer"


def op_manual_xent(case: Case, rng: random.Random) -> Result:
    """A hand-made cross entropy of a label in the loop (``sparse_softmax_cross_entropy_with_logits``)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _softmax_source(case, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    sm, size = _softmax_source(case, unit, choice)  # type: ignore[misc]
    if rng.random() < 0.75:
        logits = _fresh(unit, f"{sm}_logits")
        unit[logits] = {"class": "linear", "activation": None, "from": unit[sm]["from"], "n_out": size}
        logits_how = f"{logits} (a linear over {sm}'s sources)"
    else:
        logits = sm
        logits_how = f"{sm} (the probabilities)"
    key = _data_target(unit[choice])
    kinds = ["choice", "prev"] + (["reference"] if key and _target_dim(case, key) else [])
    kind = rng.choice(kinds)
    if kind == "choice":
        lg, tg = logits, choice
    elif kind == "prev":
        lg, tg = f"prev:{logits}", f"prev:{choice}"
    else:
        lg, tg = logits, f"data:{key}"
    xent = _fresh(unit, f"{choice}_xent")
    unit[xent] = {"class": "sparse_softmax_cross_entropy_with_logits", "logits": lg, "targets": tg}
    how = f"{rec}/{xent}: cross entropy of {tg} under {lg} ({logits_how})"
    if rng.random() < 0.4:
        # the layer's inputs also listed as its sources, as users do for the loop's dependency order
        unit[xent]["from"] = [lg, tg]
        how += ", both also its sources"
    mode = rng.choices(["frame", "sum", "root"], [0.35, 0.3, 0.35])[0]
    eval_only = rng.random() < 0.3
    fix = ", only_on_eval" if eval_only else ""
    if mode == "frame":
        unit[xent]["is_output_layer"] = True
        if eval_only:
            unit[xent]["only_on_eval"] = True
        return new, f"{how}, an output layer{fix}"
    if mode == "sum":
        total = _fresh(unit, f"{choice}_xent_sum")
        unit[total] = {"class": "combine", "kind": "add", "from": [xent, f"prev:{total}"], "initial_output": 0,
                       "is_output_layer": True}
        if eval_only:
            unit[total]["only_on_eval"] = True
        return new, f"{how}, summed over the frames in {rec}/{total}, an output layer{fix}"
    unit[xent]["is_output_layer"] = rng.random() < 0.7
    root = _fresh(net, f"{rec}_{choice}_xent_total")
    net[root] = {"class": "reduce", "mode": "sum", "axes": "T", "from": f"{rec}/{xent}", "is_output_layer": True}
    marked = "marked an output" if unit[xent]["is_output_layer"] else "not marked an output"
    return new, f"{how} ({marked}); root {root}: its sum over the decoder's time, an output layer"


def op_sorted_position(case: Case, rng: random.Random) -> Result:
    """``search_sorted`` over the attention's cumulative weights in the loop, or ``range_from_length`` over the
    beamed decoder's length at the root."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    att_sites = []
    for rec in recs:
        unit = net[rec]["unit"]
        states = [s for c in _label_choices(unit) if (ss := _softmax_source(case, unit, c))
                  for s in _sources(unit[ss[0]])]
        for k in _layers(unit):
            if unit[k].get("class") == "softmax_over_spatial" and states:
                att_sites.append((rec, k, states[0]))
    if att_sites and rng.random() < 0.6:
        rec, weights, state = rng.choice(att_sites)
        unit = net[rec]["unit"]
        cum = _fresh(unit, f"{weights}_cum")
        unit[cum] = {"class": "cumsum", "from": weights, "axis": "T"}
        thr = _fresh(unit, "att_threshold")
        if rng.random() < 0.5:
            unit[thr] = {"class": "linear", "activation": "sigmoid", "from": state, "n_out": 1}
            thr_how = f"a sigmoid linear of {state}"
        else:
            unit[thr] = {"class": "constant", "value": 0.5, "shape": [1], "with_batch_dim": True}
            thr_how = "a constant 0.5 with batch dim"
        side = rng.choice(["left", "right"])
        pos = _fresh(unit, "att_position")
        unit[pos] = {"class": "search_sorted", "sorted_sequence": cum, "values": thr, "axis": "T", "side": side}
        how = f"{rec}/{pos}: search_sorted ({side}) of {thr} ({thr_how}) in {cum} (cumsum of {weights})"
        if rng.random() < 0.5:
            unit[pos]["is_output_layer"] = True
            return new, f"{how}, an output layer"
        marked = rng.random() < 0.6
        if marked:
            unit[pos]["is_output_layer"] = True
        root = _fresh(net, f"{rec}_att_positions")
        net[root] = {"class": "copy", "from": f"{rec}/{pos}", "is_output_layer": True}
        marked_how = "marked an output" if marked else "not marked an output"
        return new, f"{how} ({marked_how}); root {root}: a copy of {rec}/{pos}, an output layer"
    rec = rng.choice(recs)
    src, src_how = rec, rec
    if rng.random() < 0.4:
        src = _fresh(net, f"{rec}_decided")
        net[src] = {"class": "decide", "from": rec}
        src_how = f"{src} (a decide of {rec})"
    length = _fresh(net, f"{rec}_len")
    net[length] = {"class": "length", "from": src}
    positions = _fresh(net, f"{rec}_positions")
    net[positions] = {"class": "range_from_length", "from": length}
    how = f"root {positions}: range_from_length over {length} (length of {src_how})"
    if rng.random() < 0.5:
        net[positions]["is_output_layer"] = True
        return new, f"{how}, an output layer"
    mask = _fresh(net, f"{rec}_position_mask")
    net[mask] = {"class": "compare", "kind": "less", "from": [positions, length], "is_output_layer": True}
    return new, f"{how}; root {mask}: {positions} < {length}, an output layer"


FRESH58_OPERATORS: tuple[Op, ...] = (
    Op("sampling-noise", op_sampling_noise, 1),
    Op("rec-sublayer-access", op_rec_sublayer_access, 1),
    Op("manual-xent", op_manual_xent, 1),
    Op("sorted-position", op_sorted_position, 1),
)
