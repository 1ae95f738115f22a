"""A sixty-eighth set of edit operators (issue 15, fifteenth session), written and seeded before it was ever run,
by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

RETURNN layer classes that no base network and no earlier set uses, placed on the beam path: the built-in
attention classes (``concat_attention``, ``gauss_window_attention``), the element-wise gates (``gating`` of
two sources, ``elemwise_prod``), RETURNN's optimal-completion-distillation layers (``edit_distance_table``,
``optimal_completions``) and post-processing of decoded labels at the root (``batch_softmax``,
``transposed_conv``, ``combine_dims``); none a variant of an earlier operator, no rule written for any of
them:

* ``builtin-attention``: a searching decoder gets a second context from a built-in attention class, added as a
  source of a dense loop layer the choice depends on (a ``linear`` / ``rnn_cell`` / LSTM ``rec`` / ``softmax``
  without an encoder time axis): a ``concat_attention`` whose query is a new loop ``linear`` (size K) of a
  decoder state or label embedding (this frame's, or ``prev:`` of it), over an encoder layer
  (``base:encoder``-like, or ``base:data`` where the input is dense) with ``base_ctx`` a new root ``linear``
  of it (size K); or a ``gauss_window_attention`` (``window_size`` 3/5/10, ``std`` 1 or 2) at a location
  accumulated over the frames (an ``eval`` adding ``prev:`` of itself and a ``softplus`` ``linear`` step of
  the state, ``initial_output`` 0), the attention reading the location or ``prev:`` of it; or, with two
  searching decoders, a deliberation: ``concat_attention`` over a new root embedding (``linear``) of the other
  decoder's labels, read from the other decoder itself (beamed) or from a ``decide`` of it;
* ``gate-fusion``: element-wise gates on the beam path: a ``gating`` (``activation`` tanh / identity / relu,
  ``gate_activation`` sigmoid) of two same-sized new ``linear`` projections, of the decoder state and the
  label (this frame's, or ``prev:`` of the label or of its embedding), read by a dense loop layer before the
  choice as an extra source, or replacing one of its sources; an ``elemwise_prod`` (``axes`` ``F``, a learned
  per-feature scale) between a dense loop layer (state, embedding of the label, readout) and its readers; or
  at the root, an ``elemwise_prod`` / ``gating`` (over a new ``linear`` of twice the size) on a new ``linear``
  embedding of the decoder's labels (beamed, or a ``decide`` of them), marked an output or read by a new
  ``decide``;
* ``ocd-table``: RETURNN's optimal completion distillation recipe in a searching decoder: an
  ``edit_distance_table`` from the choice (as the docs say; or from ``prev:`` of the choice) with ``target``
  the choice's reference (``layer:base:data:KEY`` as the docs write it), an output layer, maybe followed by
  ``optimal_completions`` from ``prev:`` of the table (or the table of this frame) with the same target, its
  soft targets an ``eval`` softmax of the cast counts (``out_type`` float32) marked an output; sometimes with
  ``blank_idx`` 0 on both, or ``debug``;
* ``label-postproc``: after the loop, the decoded labels are post-processed at the root, on a new root
  embedding (``linear``) of the decoder's output (beamed) or of a ``decide`` of it (an existing one, or a new
  one): a ``batch_softmax`` over all frames and features of the embedding; a ``transposed_conv``
  (``filter_size`` [3], ``strides`` [2] or [3]) upsampling it; or a ``combine_dims`` (``axes`` the two split
  dims as ``dim:N``) of a ``split_dims`` of it; the result an output, or (over the beamed output) read by a
  new ``decide`` output.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _frame_ancestors,
    _layers,
    _map_refs,
    _readers,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH66_SEED = 20270128
N_FRESH66 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes that learn their input size from their sources (a list of them is concatenated)
_LEARNS = ("linear", "rnn_cell", "softmax")
#: loop layer classes whose output is one vector per sequence and frame
_VEC_ORIGIN = ("rnn_cell", "generic_attention", "dot_attention", "choice")
#: classes that keep a (single) source's axes
_PASS = ("linear", "activation", "reduce_out", "layer_norm", "dropout", "merge_dims", "copy", "softmax",
         "combine", "eval", "rec")


def _is_vec(unit: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether loop layer ``name`` is (batch, features) per frame: no encoder time axis in it."""
    desc = unit.get(name)
    if not isinstance(desc, dict) or name in seen:
        return True
    cls = desc.get("class")
    if cls in _VEC_ORIGIN:
        return True
    if cls not in _PASS:
        return False
    srcs = _sources(desc)
    if not srcs:
        return False
    for ref in srcs:
        if ref.startswith("base:") or ref.startswith("data"):
            return False
        head = ref[len("prev:"):] if ref.startswith("prev:") else ref
        if ":" in head or "/" in head:
            return False
        if not _is_vec(unit, head, seen | {name}):
            return False
    return True


def _choice_deps(unit: dict[str, Any], choice: str) -> set[str]:
    return _frame_ancestors(unit, choice)


def _learning_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers the choice depends on (in the frame) that learn their input size, without an
    encoder time axis."""
    out = []
    for k in sorted(_choice_deps(unit, choice)):
        desc = unit[k]
        cls = desc.get("class")
        learns = cls in _LEARNS or (cls == "rec" and isinstance(desc.get("unit"), str))
        sparse = [r for r in _sources(desc) if r.removeprefix("prev:") in _unit_choices(unit) or "data" in r]
        if learns and k != choice and _is_vec(unit, k) and _sources(desc) and not sparse:
            out.append(k)
    return out


def _states(unit: dict[str, Any], choice: str) -> list[str]:
    """Decoder states and label embeddings: recurrent cells / LSTMs of the loop and linears of a label."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        cls = desc.get("class")
        if k in ("end", choice) or cls == "choice":
            continue
        if cls == "rnn_cell" or (cls == "rec" and isinstance(desc.get("unit"), str)):
            out.append(k)
        elif cls == "linear" and _sources(desc) and all(
                s.removeprefix("prev:") in _unit_choices(unit) for s in _sources(desc)):
            out.append(k)
    return out


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"]


def _encoder(case: Case, net: dict[str, Any]) -> str | None:
    """An encoder layer with a time axis to attend over (a root ``reduce`` has none), else dense ``data``."""
    for k in ("encoder", "encoder_seq", "enc0", "lstm_out"):
        if isinstance(net.get(k), dict) and net[k].get("class") not in ("reduce", "rec", "decide", "choice"):
            return k
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict) and not ext.get("sparse") and not ext.get("sparse_dim"):
        return "data"
    num = (case.get("num_outputs") or {}).get("data")
    if isinstance(num, list) and num[1:] == [2]:
        return "data"
    return None


def _decide_of(net: dict[str, Any], rec: str) -> str | None:
    for k in _layers(net):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    return None


def _sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        out.extend((rec, c) for c in _label_choices(unit))
    return out


# ----------------------------------------------------------------------------------------------------


def op_builtin_attention(case: Case, rng: random.Random) -> Result:
    """A second context in the loop by ``concat_attention`` or ``gauss_window_attention``."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _sites(net):
        unit = net[rec]["unit"]
        if _learning_readers(unit, choice) and _states(unit, choice):
            sites.append((rec, choice))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    reader = rng.choice(_learning_readers(unit, choice))
    others = [r for r in _searching_recs(net) if r != rec]
    enc = _encoder(case, net)
    kinds = (["concat", "concat", "gauss"] if enc else []) + (["deliberation", "deliberation"] if others else [])
    if not kinds:
        return None
    kind = rng.choice(kinds)
    states = [s for s in _states(unit, choice) if s != reader and reader not in _frame_ancestors(unit, s)]
    if not states:
        states = []
    use_prev = rng.random() < 0.4 or not states
    state_pool = states if states else _states(unit, choice)
    state = rng.choice(state_pool)
    state_ref = f"prev:{state}" if use_prev else state
    size = rng.choice([8, 16, 32])
    if kind == "gauss":
        step = _fresh(unit, "loc_step")
        unit[step] = {"class": "linear", "activation": "softplus", "from": state_ref, "n_out": 1}
        loc = _fresh(unit, "loc")
        unit[loc] = {"class": "eval", "eval": "source(0) + source(1)", "from": [f"prev:{loc}", step],
                     "out_type": {"dim": 1, "shape": [1]}, "initial_output": 0}
        att_from = f"prev:{loc}" if rng.random() < 0.3 else loc
        win = rng.choice([3, 5, 10])
        std = rng.choice([1.0, 2.0])
        att = _fresh(unit, "gauss_att")
        unit[att] = {"class": "gauss_window_attention", "from": att_from, "base": f"base:{enc}",
                     "window_size": win, "std": std}
        how = (f"gauss_window_attention {att} (window {win}, std {std}) over base:{enc} at {att_from} "
               f"(accumulated softplus steps of {state_ref})")
    else:
        if kind == "concat":
            base = enc
            ctx = _fresh(net, f"{enc}_att_ctx")
            net[ctx] = {"class": "linear", "activation": None, "from": enc, "n_out": size}
            what = f"over base:{enc}"
        else:
            other = rng.choice(others)
            dec = _decide_of(net, other)
            src = other
            if dec and rng.random() < 0.5:
                src = dec
            elif rng.random() < 0.5 and not dec:
                dec = _fresh(net, f"{other}_decided")
                net[dec] = {"class": "decide", "from": other}
                src = dec
            base = _fresh(net, f"{other}_hyp_embed")
            net[base] = {"class": "linear", "activation": None, "from": src, "n_out": size,
                         "with_bias": False}
            ctx = _fresh(net, f"{other}_hyp_ctx")
            net[ctx] = {"class": "linear", "activation": None, "from": base, "n_out": size}
            what = f"over an embedding of {src} ({'decided' if src != other else 'beamed'}, deliberation)"
        query = _fresh(unit, "att_query")
        unit[query] = {"class": "linear", "activation": None, "from": state_ref, "n_out": size,
                       "with_bias": False}
        att = _fresh(unit, "concat_att")
        unit[att] = {"class": "concat_attention", "from": query, "base": f"base:{base}",
                     "base_ctx": f"base:{ctx}"}
        how = f"concat_attention {att} {what}, query a linear of {state_ref}"
    _add_source(unit[reader], att)
    return new, f"{rec}: {how}, read by {reader}"


def op_gate_fusion(case: Case, rng: random.Random) -> Result:
    """``gating`` of two projections, or ``elemwise_prod``, on the beam path (loop or root)."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _sites(net):
        unit = net[rec]["unit"]
        if _learning_readers(unit, choice) and _states(unit, choice):
            sites.append((rec, choice, "gating"))
        if [k for k in _layers(unit) if _prod_ok(unit, k, choice)]:
            sites.append((rec, choice, "prod"))
        sites.append((rec, choice, "root"))
    if not sites:
        return None
    rec, choice, kind = rng.choice(sites)
    unit = net[rec]["unit"]
    if kind == "gating":
        reader = rng.choice(_learning_readers(unit, choice))
        states = [s for s in _states(unit, choice) if reader not in _frame_ancestors(unit, s) and s != reader]
        a = rng.choice(states) if states else None
        a_ref = a if a and rng.random() < 0.6 else f"prev:{rng.choice(_states(unit, choice))}"
        b_ref = rng.choice([f"prev:{choice}", f"prev:{choice}", choice])
        if b_ref == choice and reader in _frame_ancestors(unit, choice) | {choice}:
            b_ref = f"prev:{choice}"
        if b_ref == f"prev:{choice}" and "initial_output" not in unit[choice]:
            embeds = [e for e in _states(unit, choice) if _sources(unit[e]) == [choice]]
            if not embeds:
                return None
            b_ref = f"prev:{embeds[0]}"
        size = rng.choice([8, 16, 32])
        pa = _fresh(unit, "gate_in_a")
        unit[pa] = {"class": "linear", "activation": None, "from": a_ref, "n_out": size}
        pb = _fresh(unit, "gate_in_b")
        unit[pb] = {"class": "linear", "activation": None, "from": b_ref, "n_out": size}
        act = rng.choice(["tanh", "identity", "relu"])
        gate = _fresh(unit, "fusion_gate")
        unit[gate] = {"class": "gating", "from": [pa, pb], "activation": act, "gate_activation": "sigmoid"}
        srcs = _sources(unit[reader])
        if rng.random() < 0.3 and len(srcs) > 1:
            i = rng.randrange(len(srcs))
            old = srcs[i]
            unit[reader]["from"] = [gate if j == i else s for j, s in enumerate(srcs)]
            where = f"replacing {old} in {reader}"
        else:
            _add_source(unit[reader], gate)
            where = f"an extra source of {reader}"
        return new, f"{rec}: gating {gate} ({act}) of linears of {a_ref} and {b_ref}, {where}"
    if kind == "prod":
        target = rng.choice([k for k in _layers(unit) if _prod_ok(unit, k, choice)])
        readers = _readers(unit, target) + _readers(unit, target, f"prev:{target}")
        prod = _fresh(unit, f"{target}_scaled")
        unit[prod] = {"class": "elemwise_prod", "from": target, "axes": "F"}
        for k in sorted(set(readers)):
            if k == prod:
                continue
            _map_refs(unit[k], lambda r: prod if r == target else (f"prev:{prod}" if r == f"prev:{target}" else r))
        return new, f"{rec}: elemwise_prod {prod} (axes F) between {target} and its readers"
    # root: an embedding of the decoded labels, scaled or gated
    dec = _decide_of(net, rec)
    src = rec
    if dec and rng.random() < 0.5:
        src = dec
    size = rng.choice([8, 16])
    emb = _fresh(net, f"{rec}_label_embed")
    which = rng.choice(["elemwise_prod", "gating"])
    if which == "elemwise_prod":
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": size}
        out = _fresh(net, f"{rec}_label_scaled")
        net[out] = {"class": "elemwise_prod", "from": emb, "axes": "F"}
    else:
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": 2 * size}
        out = _fresh(net, f"{rec}_label_gated")
        net[out] = {"class": "gating", "from": emb, "activation": "tanh"}
    if src == rec and rng.random() < 0.5:
        final = _fresh(net, f"{out}_decided")
        net[final] = {"class": "decide", "from": out, "is_output_layer": True}
        how = f"read by a new decide {final}"
    else:
        net[out]["is_output_layer"] = True
        how = "an output"
    return new, f"root: {which} {out} on a linear embedding of {src}, {how}"


def _prod_ok(unit: dict[str, Any], name: str, choice: str) -> bool:
    desc = unit.get(name)
    if not isinstance(desc, dict) or name in ("end",) or desc.get("class") in ("choice", "softmax"):
        return False
    if desc.get("class") not in ("linear", "rnn_cell", "reduce_out", "rec"):
        return False
    if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
        return False
    return _is_vec(unit, name) and bool(_readers(unit, name) or _readers(unit, name, f"prev:{name}"))


def op_ocd_table(case: Case, rng: random.Random) -> Result:
    """``edit_distance_table`` (+ ``optimal_completions``) in a searching decoder."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _sites(net):
        unit = net[rec]["unit"]
        target = unit[choice].get("target")
        if isinstance(target, str) and not target.startswith("layer:"):
            sites.append((rec, choice, target.removeprefix("data:")))
    if not sites:
        return None
    rec, choice, key = rng.choice(sites)
    unit = net[rec]["unit"]
    target = f"layer:base:data:{key}"
    src = choice if rng.random() < 0.75 or "initial_output" not in unit[choice] else f"prev:{choice}"
    blank = rng.random() < 0.15
    table = _fresh(unit, "edit_dist_table")
    unit[table] = {"class": "edit_distance_table", "from": src, "target": target}
    if blank:
        unit[table]["blank_idx"] = 0
    if rng.random() < 0.1:
        unit[table]["debug"] = True
    how = f"edit_distance_table {table} from {src}, target {target!r}" + (" blank_idx 0" if blank else "")
    if rng.random() < 0.6:
        opt = _fresh(unit, "opt_completions")
        opt_src = f"prev:{table}" if rng.random() < 0.75 else table
        unit[opt] = {"class": "optimal_completions", "from": opt_src, "target": target}
        if blank:
            unit[opt]["blank_idx"] = 0
        soft = _fresh(unit, "opt_completion_soft_targets")
        unit[soft] = {"class": "eval", "eval": "tf.nn.softmax(tf.cast(source(0), tf.float32))", "from": opt,
                      "out_type": {"dtype": "float32"}, "is_output_layer": True}
        how += f"; optimal_completions {opt} from {opt_src}, soft targets {soft} an output"
        if rng.random() < 0.5:
            unit[table]["is_output_layer"] = True
    else:
        unit[table]["is_output_layer"] = True
        how += ", an output"
    return new, f"{rec}: {how}"


def op_label_postproc(case: Case, rng: random.Random) -> Result:
    """Post-processing of the decoded labels at the root: ``batch_softmax``, ``transposed_conv``, ``combine_dims``."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if _label_choices(net[r]["unit"])]
    if not recs:
        return None
    rec = rng.choice(recs)
    dec = _decide_of(net, rec)
    src = rec
    if dec and rng.random() < 0.5:
        src = dec
    elif not dec and rng.random() < 0.3:
        dec = _fresh(net, f"{rec}_decided")
        net[dec] = {"class": "decide", "from": rec}
        src = dec
    kind = rng.choice(["batch_softmax", "tconv", "tconv", "combine_dims"])
    if True:
        size = rng.choice([8, 16])
        emb = _fresh(net, f"{rec}_label_embed")
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": size}
        if kind == "batch_softmax":
            out = _fresh(net, f"{rec}_label_dist")
            net[out] = {"class": "batch_softmax", "from": emb}
            how = f"batch_softmax {out} over a linear embedding of {src}"
        elif kind == "tconv":
            stride = rng.choice([2, 3])
            out = _fresh(net, f"{rec}_upsampled")
            net[out] = {"class": "transposed_conv", "from": emb, "filter_size": [3], "strides": [stride],
                        "n_out": size, "activation": None}
            how = f"transposed_conv {out} (stride {stride}) over a linear embedding of {src}"
        else:
            split = _fresh(net, f"{rec}_label_split")
            net[split] = {"class": "split_dims", "from": emb, "axis": "F", "dims": [2, size // 2]}
            out = _fresh(net, f"{rec}_label_merged")
            net[out] = {"class": "combine_dims", "from": split, "axes": ["dim:2", f"dim:{size // 2}"]}
            how = f"combine_dims {out} of a split_dims of a linear embedding of {src}"
    if src == rec and rng.random() < 0.5:
        final = _fresh(net, f"{out}_decided")
        net[final] = {"class": "decide", "from": out, "is_output_layer": True}
        return new, f"root: {how}, read by a new decide {final}"
    net[out]["is_output_layer"] = True
    return new, f"root: {how}, an output"


FRESH66_OPERATORS: tuple[Op, ...] = (
    Op("builtin-attention", op_builtin_attention, 1.2),
    Op("gate-fusion", op_gate_fusion, 1),
    Op("ocd-table", op_ocd_table, 1),
    Op("label-postproc", op_label_postproc, 1),
)
