"""A seventy-ninth set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Frame-synchronous search: decoders that loop over the encoder's time axis (the rec's ``from`` an encoder layer,
one choice per input frame, no ``end`` layer or an ``end`` from the frame index), as in CTC / transducer-like
greedy or beam search, grafted onto the bases' encoders (a frame-wise root layer the base's decoder reads, or
the input data), with the correct forms and the mistakes users make (none a variant of an earlier operator; no
rule was written for any of them). The grafted decoder (``frame_dec``): ``am`` a ``copy`` of ``data:source``, a
label embedding of ``prev:output``, a label-history state ``pred``, a ``joint`` ``tanh`` ``linear`` of both,
scores over the label vocabulary (``softmax``, or a ``log_softmax`` ``linear`` with ``input_type: log_prob``),
a ``choice`` ``output`` on the label key (blank = label 0 or the last label):

* ``frame-sync-graft``: the frame-synchronous decoder grafted onto an encoder layer, its label history
  updated on every frame (``linear`` of the previous label's embedding and ``prev:pred``), or only on non-blank
  labels (a ``switch`` on ``prev:emit``, ``emit`` a ``compare`` ``not_equal`` of ``output`` with the blank and
  ``initial_output`` True, keeping ``prev:pred`` on blank frames; or the switch conditioned on this frame's
  ``emit`` and the joint reading ``prev:pred``); its length the input's (no ``end``), an ``end`` from the
  frame index (``compare`` ``:i`` ``greater_equal`` a root ``length`` of the encoder minus one), or by mistake
  an ``end`` on the blank label as for a label-synchronous decoder, or a ``max_seq_len`` on top; maybe the
  label key as the rec's ``target``; it replaces the base's searching decoder for the decoder's root readers,
  or is exported through a root ``decide``, a ``decide_keep_beam``, or is itself an output layer;
* ``collapse-repeats``: CTC post-processing after a frame-synchronous loop (an existing one, else one is
  grafted): at the root, the labels (the beamed rec, its ``decide`` or its ``decide_keep_beam``) are compared
  with themselves shifted one frame right (``shift_axis`` ``amount`` 1, ``pad``, ``adjust_size_info`` False)
  and with the blank, the two masks ``combine``-d with ``logical_and``; the result feeds the number of emitted
  labels (``cast`` to int32, ``reduce`` ``sum`` over ``T``), an ``eval`` that zeroes the dropped frames
  (``tf.where``), or a ``masked_computation`` (``copy`` unit) that keeps the emitted labels; or the "new label"
  flag is computed inside the loop (``compare`` of ``output`` with ``prev:output``, ``logical_and`` with the
  non-blank flag, an output layer of the loop) and read at the root by its path ``REC/keep`` together with the
  decoder's labels, its ``decide`` (mixing beamed and decided) or its ``decide_keep_beam``;
* ``frames-then-labels``: the label sequence of a frame-synchronous pass fed into a second, label-synchronous
  searching decoder: a root embedding (``linear``) of the first pass's labels (the beamed rec, its ``decide``
  or its ``decide_keep_beam``), a new rec (no ``from``, target the label key, ``end`` on label 0,
  ``max_seq_len`` from the encoder or from the embedding) with an additive attention over that embedding
  (``combine`` of a root key projection read as ``base:`` and a query of ``prev:s``, ``softmax_over_spatial``,
  ``generic_attention``), maybe also the pooled encoder, its ``decide`` an output layer; or the base's own
  label-synchronous decoder gets the attended first-pass labels as an extra source of a dense loop layer;
* ``blank-penalty``: a decoding knob on the frame-synchronous choice's scores: a fixed penalty on the blank's
  log-score (an ``eval`` with ``tf.one_hot`` of the blank; on probabilities it takes ``safe_log`` first and
  the choice becomes ``input_type: log_prob``, or by mistake keeps its input type), a penalty only after a
  blank frame (a ``compare`` of ``prev:output`` as a second ``eval`` source), a penalty scale from a root
  ``constant`` read as ``base:``, or the penalty on the final hypotheses at the root (their
  ``choice_get_beam_scores`` minus the scaled number of blank frames, counted from the beamed labels or from
  their ``decide``), an output layer; half of the time also ``length_normalization: False`` on the choice.
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
    _recs,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _target_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH77_SEED = 20270139
N_FRESH77 = 80

Result = "tuple[Case, str] | None"

#: Root layer classes that keep the encoder's frames (a frame-synchronous loop can iterate over them).
_FRAMEWISE = ("linear", "copy", "layer_norm", "dropout", "conv", "pool", "combine", "activation", "eval",
              "softmax", "self_attention", "batch_norm", "norm", "positional_encoding", "merge_dims", "split_dims")
#: Of those, the classes whose output may have more than one axis besides batch and time (not iterated over).
_NOT_ENCODER = ("conv", "pool", "split_dims", "self_attention")


def _is_framewise(net: dict[str, Any], name: str, seen: set[str] | None = None) -> bool:
    """A root layer computed frame by frame from the input data (no reduction, loop, choice or decision
    on the way)."""
    seen = set() if seen is None else seen
    if name in seen:
        return True
    seen.add(name)
    desc = net.get(name)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls == "rec":
        if not isinstance(desc.get("unit"), str):
            return False
    elif cls not in _FRAMEWISE:
        return False
    if desc.get("out_type") or desc.get("class") == "merge_dims" and desc.get("axes") != "static":
        return False
    srcs = _sources(desc) if "from" in desc else ["data"]
    if not srcs:
        return False
    for src in srcs:
        if src == "data" or src.startswith("data:"):
            continue
        if ":" in src or "/" in src or not _is_framewise(net, src, seen):
            return False
    return True


def _input_keys(case: Case) -> list[str]:
    ext = case.get("extern_data") or case.get("num_outputs") or {}
    return ["data"] if "data" in ext else []


def _label_key(case: Case, net: dict[str, Any]) -> tuple[str, int] | None:
    """The label key of the base's searching decoder (a choice's data target), else a sparse target key."""
    keys: list[str] = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            t = unit[c].get("target")
            if isinstance(t, str) and not t.startswith("layer:") and unit[c].get("input_type") != "regression":
                keys.append(t.removeprefix("data:"))
    keys += [k for k in _target_keys(case) if k in _sparse_keys(case)]
    for key in keys:
        dim = _target_dim(case, key)
        if isinstance(dim, int) and dim >= 3:
            return key, dim
    return None


def _encoders(case: Case, net: dict[str, Any]) -> list[str]:
    """Frame-wise root layers a searching decoder reads (else any frame-wise root layer), else the input."""
    near: set[str] = set()
    for rec in _searching_recs(net):
        near |= _root_ancestors(net, rec)
    ok = [k for k in _layers(net) if net[k].get("class") not in _NOT_ENCODER and _is_framewise(net, k)]
    cands = [k for k in ok if k in near] or ok
    return cands or _input_keys(case)


def _frame_recs(net: dict[str, Any]) -> list[str]:
    """Searching rec layers that iterate over a given sequence (a non-empty ``from``)."""
    return [r for r in _searching_recs(net) if _sources(net[r])]


def _frame_choice(unit: dict[str, Any]) -> str | None:
    cs = [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
          and isinstance(unit[c].get("target"), str)]
    return "output" if "output" in cs else (cs[0] if cs else None)


def _build(case: Case, net: dict[str, Any], rng: random.Random, *, plain: bool = False) -> tuple[str, str, int, int, str] | None:
    """Graft a frame-synchronous decoder onto an encoder of the base: (rec name, label key, vocabulary size,
    blank label, description). ``plain``: the correct form (no end, history on every frame or on non-blank)."""
    found = _label_key(case, net)
    encs = _encoders(case, net)
    if found is None or not encs:
        return None
    key, dim = found
    enc = "encoder" if "encoder" in encs and rng.random() < 0.5 else rng.choice(encs)
    blank = rng.choice([0, dim - 1])
    emb_n = rng.choice([4, 8])
    hid = rng.choice([6, 8])
    unit: dict[str, Any] = {
        "am": {"class": "copy", "from": "data:source"},
        "prev_emb": {"class": "linear", "activation": None, "with_bias": False, "from": "prev:output",
                     "n_out": emb_n},
    }
    history = rng.choice(["every", "prev-emit", "this-emit"])
    if history == "every":
        unit["pred"] = {"class": "linear", "activation": "tanh", "from": ["prev_emb", "prev:pred"], "n_out": hid}
        hist = "label history updated every frame"
    else:
        unit["pred_new"] = {"class": "linear", "activation": "tanh", "from": ["prev_emb", "prev:pred"],
                            "n_out": hid}
        if history == "prev-emit":
            unit["emit"] = {"class": "compare", "kind": "not_equal", "from": "output", "value": blank,
                            "initial_output": True}
            unit["pred"] = {"class": "switch", "condition": "prev:emit", "true_from": "pred_new",
                            "false_from": "prev:pred"}
            hist = "label history switched on prev:emit (non-blank)"
        else:
            unit["cur_emb"] = {"class": "linear", "activation": None, "with_bias": False, "from": "output",
                               "n_out": emb_n}
            unit["pred_new"]["from"] = ["cur_emb", "prev:pred"]
            del unit["prev_emb"]
            unit["emit"] = {"class": "compare", "kind": "not_equal", "from": "output", "value": blank}
            unit["pred"] = {"class": "switch", "condition": "emit", "true_from": "pred_new",
                            "false_from": "prev:pred"}
            hist = "label history switched on this frame's emit, the joint reading prev:pred"
    joint_state = "prev:pred" if history == "this-emit" else "pred"
    unit["joint"] = {"class": "linear", "activation": "tanh", "from": ["am", joint_state], "n_out": hid}
    log_space = rng.random() < 0.4
    if log_space:
        unit["scores"] = {"class": "linear", "activation": "log_softmax", "from": "joint", "n_out": dim}
    else:
        unit["scores"] = {"class": "softmax", "from": "joint", "n_out": dim}
    unit["output"] = {"class": "choice", "from": "scores", "target": key, "beam_size": rng.choice([1, 3, 4, 8]),
                      "initial_output": 0}
    if log_space:
        unit["output"]["input_type"] = "log_prob"
    rec: dict[str, Any] = {"class": "rec", "from": enc, "unit": unit}
    end = "no end"
    extra_root: dict[str, dict[str, Any]] = {}
    if not plain:
        kind = rng.choices(["none", "frame", "label", "max"], [0.45, 0.2, 0.2, 0.15])[0]
        if kind == "frame":
            src = enc if enc != "data" else "data:data"
            extra_root["enc_len"] = {"class": "length", "from": src}
            extra_root["enc_last"] = {"class": "eval", "from": "enc_len", "eval": "source(0) - 1"}
            end = "end: :i >= base:enc_last"
        elif kind == "label":
            unit["end"] = {"class": "compare", "from": "output", "value": blank}
            end = f"end on the blank label {blank} (label-synchronous habit)"
        elif kind == "max":
            rec["max_seq_len"] = f"max_len_from('base:{enc}')" if enc != "data" else 100
            end = f"max_seq_len {rec['max_seq_len']!r}"
        if rng.random() < 0.4:
            rec["target"] = key
            end += f", rec target {key!r}"
    if "enc_len" in extra_root:
        names = {}
        for k, v in extra_root.items():
            names[k] = _fresh(net, k)
            net[names[k]] = v
        net[names["enc_last"]]["from"] = names["enc_len"]
        unit["end"] = {"class": "compare", "kind": "greater_equal", "from": [":i", f"base:{names['enc_last']}"]}
    name = _fresh(net, "frame_dec")
    net[name] = rec
    return name, key, dim, blank, f"{name} over {enc} ({hist}, blank {blank}, {end})"


def _frame_site(case: Case, net: dict[str, Any], rng: random.Random) -> tuple[str, str, int, int, str] | None:
    """An existing frame-synchronous decoder (choice ``output`` on a label key), else a grafted one."""
    sites = []
    for rec in _frame_recs(net):
        unit = net[rec]["unit"]
        c = _frame_choice(unit)
        if c is None:
            continue
        key = unit[c]["target"].removeprefix("data:")
        dim = _target_dim(case, key)
        if isinstance(dim, int) and dim >= 3:
            sites.append((rec, key, dim))
    if sites and rng.random() < 0.5:
        rec, key, dim = rng.choice(sites)
        return rec, key, dim, 0, f"the frame-synchronous decoder {rec}"
    return _build(case, net, rng, plain=rng.random() < 0.6)


def op_frame_sync_graft(case: Case, rng: random.Random) -> Result:
    """A frame-synchronous decoder grafted onto an encoder, replacing or beside the base's decoder."""
    new, net = _copy(case)
    old_recs = _searching_recs(net)
    built = _build(case, net, rng)
    if built is None:
        return None
    name, _key, _dim, _blank, desc = built
    readers = {r: [k for k in _readers(net, r) if k != name] for r in old_recs}
    replace = [r for r in old_recs if readers[r]]
    how = rng.choices(["replace", "decide", "keep_beam", "output"], [0.35, 0.3, 0.15, 0.2])[0]
    if how == "replace" and replace:
        old = rng.choice(replace)
        _redirect(net, readers[old], old, name)
        net[old].pop("is_output_layer", None)
        return new, f"graft {desc}; the root readers of {old} ({', '.join(readers[old])}) read it instead"
    if how == "keep_beam":
        out = _fresh(net, f"{name}_beam")
        net[out] = {"class": "decide_keep_beam", "from": name, "is_output_layer": True}
        return new, f"graft {desc}; {out} (decide_keep_beam of it) an output layer"
    if how == "output":
        net[name]["is_output_layer"] = True
        return new, f"graft {desc}, an output layer itself"
    out = _fresh(net, f"{name}_decision")
    net[out] = {"class": "decide", "from": name, "is_output_layer": True}
    return new, f"graft {desc}; {out} (decide of it) an output layer"


def op_collapse_repeats(case: Case, rng: random.Random) -> Result:
    """CTC post-processing (repeats and blanks removed) of a frame-synchronous decoder's labels."""
    new, net = _copy(case)
    site = _frame_site(case, net, rng)
    if site is None:
        return None
    rec, _key, _dim, blank, desc = site
    src_kind = rng.choices(["beamed", "decide", "keep_beam"], [0.35, 0.45, 0.2])[0]
    if src_kind == "beamed":
        labels = rec
    else:
        labels = _fresh(net, f"{rec}_{'decision' if src_kind == 'decide' else 'kept'}")
        net[labels] = {"class": "decide" if src_kind == "decide" else "decide_keep_beam", "from": rec}
    if rng.random() < 0.3:
        # the flag in the loop, read at the root by its path
        unit = net[rec]["unit"]
        choice = _frame_choice(unit) or "output"
        new_lab = _fresh(unit, "new_label")
        unit[new_lab] = {"class": "compare", "kind": "not_equal", "from": [choice, f"prev:{choice}"]}
        nb = _fresh(unit, "non_blank")
        unit[nb] = {"class": "compare", "kind": "not_equal", "from": choice, "value": blank}
        keep = _fresh(unit, "keep")
        unit[keep] = {"class": "combine", "kind": "logical_and", "from": [new_lab, nb], "is_output_layer": True}
        mask = f"{rec}/{keep}"
        where = f"in the loop ({rec}/{keep}, an output layer), read by path"
    else:
        shifted = _fresh(net, f"{rec}_shifted")
        net[shifted] = {"class": "shift_axis", "from": labels, "axis": "T", "amount": 1, "pad": True,
                        "adjust_size_info": False}
        if rng.random() < 0.5:
            net[shifted]["pad_value"] = blank
        new_lab = _fresh(net, f"{rec}_new_label")
        net[new_lab] = {"class": "compare", "kind": "not_equal", "from": [labels, shifted]}
        nb = _fresh(net, f"{rec}_non_blank")
        net[nb] = {"class": "compare", "kind": "not_equal", "from": labels, "value": blank}
        mask = _fresh(net, f"{rec}_keep")
        net[mask] = {"class": "combine", "kind": "logical_and", "from": [new_lab, nb]}
        where = f"at the root (compare with shift_axis of {labels})"
    use = rng.choice(["count", "eval", "masked"])
    if use == "count":
        as_int = _fresh(net, f"{rec}_keep_int")
        net[as_int] = {"class": "cast", "from": mask, "dtype": "int32"}
        count = _fresh(net, f"{rec}_num_labels")
        net[count] = {"class": "reduce", "mode": "sum", "axes": "T", "from": as_int, "is_output_layer": True}
        what = f"{count}: number of emitted labels (reduce sum), an output layer"
    elif use == "eval":
        out = _fresh(net, f"{rec}_collapsed")
        net[out] = {"class": "eval", "from": [labels, mask],
                    "eval": "tf.where(source(1), source(0), tf.zeros_like(source(0)))", "is_output_layer": True}
        what = f"{out}: eval tf.where zeroing the dropped frames, an output layer"
    else:
        out = _fresh(net, f"{rec}_collapsed")
        net[out] = {"class": "masked_computation", "mask": mask, "from": labels,
                    "unit": {"class": "copy", "from": "data"}, "is_output_layer": True}
        what = f"{out}: masked_computation (copy) keeping the emitted labels, an output layer"
    return new, f"{desc}; collapse repeats and blank {blank} of {labels} ({src_kind}), mask {where}; {what}"


def op_frames_then_labels(case: Case, rng: random.Random) -> Result:
    """A second, label-synchronous searching decoder attends to the first (frame-synchronous) pass's labels."""
    new, net = _copy(case)
    old_recs = [r for r in _searching_recs(net) if not _sources(net[r])]
    site = _frame_site(case, net, rng)
    if site is None:
        return None
    rec, key, dim, _blank, desc = site
    src_kind = rng.choices(["beamed", "decide", "keep_beam"], [0.35, 0.45, 0.2])[0]
    if src_kind == "beamed":
        labels = rec
    else:
        labels = _fresh(net, f"{rec}_{'decision' if src_kind == 'decide' else 'kept'}")
        net[labels] = {"class": "decide" if src_kind == "decide" else "decide_keep_beam", "from": rec}
    n = rng.choice([6, 8])
    hyp_emb = _fresh(net, "hyp_embed")
    net[hyp_emb] = {"class": "linear", "activation": None, "with_bias": False, "from": labels, "n_out": n}
    hyp_key = _fresh(net, "hyp_key")
    net[hyp_key] = {"class": "linear", "activation": None, "with_bias": False, "from": hyp_emb, "n_out": n}
    enc = net[rec].get("from")
    enc = enc if isinstance(enc, str) else (enc[0] if isinstance(enc, list) and enc else None)

    def attention(unit: dict[str, Any], query_src: str) -> str:
        unit["att_query"] = {"class": "linear", "activation": None, "with_bias": False, "from": query_src,
                             "n_out": n}
        unit["att_energy_in"] = {"class": "combine", "kind": "add", "from": [f"base:{hyp_key}", "att_query"]}
        unit["att_energy_tanh"] = {"class": "activation", "activation": "tanh", "from": "att_energy_in"}
        unit["att_energy"] = {"class": "linear", "activation": None, "with_bias": False,
                              "from": "att_energy_tanh", "n_out": 1}
        unit["att_weights"] = {"class": "softmax_over_spatial", "from": "att_energy"}
        unit["att"] = {"class": "generic_attention", "base": f"base:{hyp_emb}", "weights": "att_weights"}
        return "att"

    if old_recs and rng.random() < 0.3:
        # the base's own label-synchronous decoder reads the attended first-pass labels
        dec = rng.choice(old_recs)
        unit = net[dec]["unit"]
        if any(k.startswith("att_") or k == "att" for k in unit):
            return None
        dense = [k for k in _layers(unit) if unit[k].get("class") == "linear" and _sources(unit[k])
                 and isinstance(unit[k].get("n_out"), int) and any(s.startswith("prev:") for s in _sources(unit[k]))]
        if not dense:
            return None
        user = rng.choice(dense)
        states = [s for s in _sources(unit[user]) if s.startswith("prev:")]
        att = attention(unit, states[0])
        unit[user]["from"] = _sources(unit[user]) + [att]
        return new, (f"{desc}; {hyp_emb}: embedding of {labels} ({src_kind}); {dec}/{user} (of the base's decoder) "
                     f"also reads {dec}/{att}, an attention over it")
    unit: dict[str, Any] = {
        "embed": {"class": "linear", "activation": None, "with_bias": False, "from": "prev:output", "n_out": n},
        "s": {"class": "linear", "activation": "tanh", "from": ["embed", "prev:s", "prev:att"], "n_out": n},
    }
    attention(unit, "s")
    readout = ["s", "att"]
    if enc and enc != "data" and rng.random() < 0.4:
        pooled = _fresh(net, f"{enc}_mean")
        net[pooled] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
        readout.append(f"base:{pooled}")
    unit["prob"] = {"class": "softmax", "from": readout, "target": key}
    unit["output"] = {"class": "choice", "from": "prob", "target": key, "beam_size": rng.choice([2, 4, 6]),
                      "initial_output": 0}
    unit["end"] = {"class": "compare", "from": "output", "value": 0}
    max_from = rng.choice([enc, hyp_emb]) if enc and enc != "data" else hyp_emb
    dec = _fresh(net, "label_dec")
    net[dec] = {"class": "rec", "from": [], "target": key, "max_seq_len": f"max_len_from('base:{max_from}')",
                "unit": unit}
    out = _fresh(net, f"{dec}_decision")
    net[out] = {"class": "decide", "from": dec, "is_output_layer": True}
    return new, (f"{desc}; {hyp_emb}: embedding of {labels} ({src_kind}); second decoder {dec} (label-synchronous, "
                 f"attention over {hyp_emb}, max_seq_len from {max_from}), {out} its decide, an output layer")


def op_blank_penalty(case: Case, rng: random.Random) -> Result:
    """A blank penalty on a frame-synchronous choice's scores (in the loop, or on the final hypotheses)."""
    new, net = _copy(case)
    site = _frame_site(case, net, rng)
    if site is None:
        return None
    rec, _key, dim, blank, desc = site
    unit = net[rec]["unit"]
    choice = _frame_choice(unit)
    if choice is None:
        return None
    cdesc = unit[choice]
    srcs = _sources(cdesc)
    if len(srcs) != 1 or ":" in srcs[0] or srcs[0] not in unit:
        return None
    scores = srcs[0]
    pen = rng.choice([0.5, 1.0, 2.5])
    extra = ""
    if rng.random() < 0.5:
        cdesc["length_normalization"] = False
        extra = "; length_normalization False on the choice"
    mode = rng.choices(["fixed", "after-blank", "root-scale", "final"], [0.35, 0.2, 0.2, 0.25])[0]
    if mode == "final":
        beam_scores = _fresh(net, f"{rec}_beam_scores")
        net[beam_scores] = {"class": "choice_get_beam_scores", "from": rec}
        labels = rec
        if rng.random() < 0.4:
            labels = _fresh(net, f"{rec}_decision")
            net[labels] = {"class": "decide", "from": rec}
        is_blank = _fresh(net, f"{rec}_is_blank")
        net[is_blank] = {"class": "compare", "kind": "equal", "from": labels, "value": blank}
        as_float = _fresh(net, f"{rec}_is_blank_float")
        net[as_float] = {"class": "cast", "from": is_blank, "dtype": "float32"}
        num = _fresh(net, f"{rec}_num_blank")
        net[num] = {"class": "reduce", "mode": "sum", "axes": "T", "from": as_float}
        total = _fresh(net, f"{rec}_penalized_scores")
        net[total] = {"class": "eval", "from": [beam_scores, num], "eval": f"source(0) - {pen} * source(1)",
                      "is_output_layer": True}
        return new, (f"{desc}; {total}: choice_get_beam_scores of {rec} minus {pen} x the blank frames counted "
                     f"from {labels}, an output layer{extra}")
    in_type = cdesc.get("input_type", "prob")
    pen_name = _fresh(unit, f"{scores}_blank_penalty")
    onehot = f"tf.one_hot({blank}, {dim})"
    if in_type == "log_prob":
        first = "source(0)"
        fix = ""
    else:
        first = "safe_log(source(0))"
        if rng.random() < 0.75:
            cdesc["input_type"] = "log_prob"
            fix = ", the choice made input_type log_prob"
        else:
            fix = ", the choice keeps input_type prob"
    if mode == "fixed":
        unit[pen_name] = {"class": "eval", "from": scores, "eval": f"{first} - {pen} * {onehot}"}
        how = f"minus {pen} on the blank's log-score"
    elif mode == "after-blank":
        was = _fresh(unit, "prev_was_blank")
        unit[was] = {"class": "compare", "kind": "equal", "from": f"prev:{choice}", "value": blank}
        unit[pen_name] = {"class": "eval", "from": [scores, was],
                          "eval": f"{first} - {pen} * tf.expand_dims(tf.cast(source(1), tf.float32), -1) * {onehot}"}
        how = f"minus {pen} on the blank's log-score after a blank frame ({was}: prev:{choice} == {blank})"
    else:
        const = _fresh(net, "blank_penalty_scale")
        net[const] = {"class": "constant", "value": pen}
        unit[pen_name] = {"class": "eval", "from": [scores, f"base:{const}"],
                          "eval": f"{first} - source(1) * {onehot}"}
        how = f"minus base:{const} (a root constant {pen}) on the blank's log-score"
    cdesc["from"] = pen_name
    return new, f"{desc}; {rec}/{choice} reads {rec}/{pen_name}: {how}{fix}{extra}"


FRESH77_OPERATORS: tuple[Op, ...] = (
    Op("frame-sync-graft", op_frame_sync_graft, 1),
    Op("collapse-repeats", op_collapse_repeats, 1),
    Op("frames-then-labels", op_frames_then_labels, 1),
    Op("blank-penalty", op_blank_penalty, 1),
)
