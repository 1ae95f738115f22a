"""A hundred-and-nineteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Joint CTC / attention decoding, label-synchronous, put onto the bases' searching decoders: a CTC
output layer on the encoder (a ``softmax`` over the labels plus blank at the root, ``target`` with
``loss: "ctc"`` giving the extra blank dim, or ``n_out`` V+1 spelled out; an existing root CTC softmax of
the base is reused) whose scores are combined with the attention decoder's label scores inside the
searching loop, with a weight between the two, written with RETURNN layers as users approximate the CTC
prefix score of ESPnet's joint decoding (Watanabe et al. 2017; ``CTCPrefixScore``) without a custom op;
a CTC-greedy first pass at the root feeding the searching loop; the CTC score of the chosen labels kept
per hypothesis for joint n-best scores; the blank dim handled (sliced off, renormalised with the blank
``gather``-ed out, or kept) and the mistakes users make on the way (none a variant of an earlier operator;
no rule was written for any of them). Sources: the joint CTC / attention decoding of rwth-i6/i6_experiments
(``users/zeineldeen`` ``add_joint_ctc_att_subnet``: ``ctc_log_scores_slice`` / ``ctc_log_scores_renorm`` /
``blank_prob`` ``gather`` / ``1_minus_blank``, ``att_scale`` / ``ctc_scale``, the ``bpe_labels_w_blank``
target; ``users/gaudino`` ``CTCDecoder`` with ``add_att_dec`` / ``att_scale`` / ``ctc_scale``), the CTC
softmax of the rwth-i6/returnn-experiments ASR set-ups (``"ctc": {"class": "softmax", "loss": "ctc",
"target": ...}``), RETURNN's ``CtcLoss.get_auto_output_layer_dim`` (blank = last index), ``GatherLayer``,
``ReduceLayer`` (``argmax`` gives sparse positions), ``CumsumLayer``, ``DotLayer``, ``SliceLayer``,
``PadLayer`` in the installed ``returnn/tf/layers/basic.py`` and ``ChoiceLayer`` / ``DecideLayer`` /
``SoftmaxOverSpatialLayer`` / ``choice_get_beam_scores`` in ``returnn/tf/layers/rec.py``:

* ``ctc-att-peak-fusion``: the CTC posteriors at the attention peak fused into the choice's scores: the
  attention weights of the frame (or of ``prev:``) summed over heads (``reduce`` ``sum`` on ``F``), their
  ``argmax`` over ``T`` as position, ``gather`` of the root CTC softmax (``base:ctc``) on ``T`` there (no
  attention in the loop: the label index ``:i`` as position, maybe ``clip_to_valid``); the blank sliced off
  (``slice`` 0..V), sliced off at the wrong end (1..V+1, blank-first as in ESPnet / PyTorch), renormalised
  (labels divided by 1 - the ``gather``-ed blank), or kept: the attention scores ``pad``-ded by a blank
  column with the choice's target unchanged, or the choice's target a new extern key with the blank (V+1,
  as ``bpe_labels_w_blank``); the two scores combined log-linearly (``eval`` ``(1-w) * att + w * ctc``,
  the choice's ``input_type`` ``log_prob``, or left at ``prob`` by mistake), in probability space, or with a
  trainable scalar weight (a root ``variable`` read through ``base:``); the CTC layer read without ``base:``
  now and then, or copied into the loop from ``base:ENCODER``. Targets: ``GatherLayer`` with a beamed
  position on an un-beamed root input (``SearchBeam.get_combined_beam``, the rec cell's ``base:`` tiling),
  ``ChoiceLayer.__init__``'s checks on its source (``shape == (dim,)``), rec template construction.
* ``ctc-fwd-prefix``: a running CTC forward variable over the encoder frames carried through ``prev:``: the
  frame-wise CTC probability of the previous (or the current) label (``gather`` of ``base:ctc`` on ``F`` at
  ``prev:CHOICE`` / ``CHOICE``), multiplied with ``prev:ctc_fwd`` and summed up along ``T`` (an ``eval``
  with ``tf.math.cumsum`` or a ``cumsum`` layer), ``initial_output`` the root blank-only path (``cumsum`` of
  the log blank posteriors, ``exp``) through ``base:``, or 0 / none / the root layer without ``base:``; the
  candidates' prefix scores a ``dot`` of the forward variable (this frame's, or ``prev:`` of it where it
  read the current choice) with ``base:ctc`` reduced over ``T`` (``red1`` / ``red2`` ``T`` with ``var1``
  ``None`` / ``var2`` ``F`` as older configs write it, or ``reduce`` with ``auto`` var axes), blank sliced
  off and the logs combined with the attention scores before the choice, or (one in five) the blank kept as
  in ``ctc-att-peak-fusion``; or the forward variable not carried at all (no ``prev:``). Targets:
  the prev-frame template of a loop layer with a ``base:`` ``initial_output`` (``get_rec_initial_output``),
  ``CumsumLayer`` inside the loop, ``DotLayer`` of a beamed and an un-beamed source, ``ChoiceLayer``.
* ``ctc-greedy-first-pass``: a CTC first pass at the root feeding the searching decoder: greedy (``reduce``
  ``argmax`` over ``F``), the same with a ``decide`` on it, or a root ``choice`` over the CTC posteriors
  (target a new extern key with the blank, or the decoder's target; beam 1 or more; with or without a
  ``decide`` after it); the decoder reads it as an embedding averaged over ``T`` (an extra ``base:`` source
  of a dense loop layer), attends over the embedded first pass with its own attention weights
  (``generic_attention`` with ``base:``, its context read through ``prev:`` where the reader feeds the
  attention weights), or ends when it has emitted as many labels as the first pass has
  non-blank frames (``end`` ``logical_or`` with ``:i >= base:ctc_len``). Targets: ``ChoiceLayer`` outside a
  loop (``search_choices.src_layer``), ``DecideLayer`` on an un-beamed layer, a beamed root layer read by
  another searching loop (``SearchChoices.translate_to_common_search_beam``, "Cannot combine beams").
* ``ctc-hyp-score``: the CTC score of each chosen label (``gather`` of ``base:ctc`` on ``F`` at ``CHOICE``,
  or ``prev:CHOICE``, its best frame by ``reduce`` ``max`` over ``T``, ``safe_log``) accumulated over the
  frames (``combine`` ``add`` with ``prev:``, or a ``cumsum`` over the loop's own time), exported for joint
  n-best scoring: read at the root through ``REC/LAYER`` by a ``decide`` (an output layer), summed over the
  output frames and added to the hypotheses' beam scores (``choice_get_beam_scores`` of the decoder) as a
  joint score (an output layer), or with the CTC part ``decide``-d first (one beam against none); the loop
  layers read from the root are marked ``is_output_layer``. Targets: the rec layer's sub-layer access from
  outside the loop, ``CumsumLayer``'s rec state under beam reordering, ``DecideLayer``,
  ``SearchChoices.translate_to_common_search_beam`` for ``CombineLayer`` of beamed and decided root layers,
  ``GatherLayer`` with the current choice as position.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH117_SEED = 20270179
N_FRESH117 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# Helpers


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(case: Case, unit: dict[str, Any]) -> list[str]:
    """Choices of a unit over the labels of a sparse data key with a known vocabulary size."""
    out = []
    for c in _unit_choices(unit):
        desc = unit[c]
        if desc.get("input_type") == "regression" or desc.get("search") is False:
            continue
        target = _data_target(desc)
        if target is not None and isinstance(_target_dim(case, target), int):
            out.append(c)
    return out


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a choice scores, its input_type) for a one-source prob / log_prob choice."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _sites(case: Case, net: dict[str, Any], *, need_scores: bool) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(case, unit):
            if not need_scores or _scores(unit, c) is not None:
                out.append((rec, c))
    return out


def _root_name(net: dict[str, Any], ref: str) -> str | None:
    if ref.startswith("base:"):
        name = ref[len("base:"):].split("/", 1)[0]
        if name in net and isinstance(net[name], dict):
            return name
    return None


def _encoder(net: dict[str, Any], rec: str) -> str:
    """The root layer with a time axis the decoder attends to (the encoder), else ``data``."""
    enc = net.get("encoder")
    if isinstance(enc, dict) and enc.get("class") != "reduce" and not isinstance(enc.get("unit"), dict):
        return "encoder"
    unit = net[rec]["unit"]
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") in ("generic_attention", "dot_attention"):
            base = desc.get("base") or desc.get("values")
            name = _root_name(net, base) if isinstance(base, str) else None
            if name and net[name].get("class") not in ("split_dims", "reduce"):
                return name
    for k in _layers(unit):
        for s in _sources(unit[k]):
            name = _root_name(net, s)
            if name and net[name].get("class") in ("linear", "copy", "activation", "layer_norm") \
                    and "ctx" not in name:
                return name
    return "data"


def _existing_ctc(net: dict[str, Any], target: str, dim: int) -> str | None:
    """A root CTC softmax over ``target`` already there (``loss: "ctc"``, or a ``ctc*`` one with ``n_out`` V+1)."""
    for k in _layers(net):
        desc = net[k]
        if desc.get("class") != "softmax":
            continue
        if desc.get("loss") == "ctc" and _data_target(desc) == target:
            return k
        if k.startswith("ctc") and desc.get("n_out") == dim + 1 and "target" not in desc:
            return k
    return None


def _ensure_ctc(net: dict[str, Any], rec: str, target: str, dim: int, rng: random.Random) -> tuple[str, str]:
    """A root CTC softmax over ``target``'s labels plus blank (blank = index ``dim``): (name, how)."""
    old = _existing_ctc(net, target, dim)
    if old is not None:
        return old, f"the base's root CTC softmax {old!r}"
    enc = _encoder(net, rec)
    name = _fresh(net, "ctc")
    if rng.random() < 0.6:
        net[name] = {"class": "softmax", "from": enc, "target": target, "loss": "ctc",
                     "loss_opts": {"beam_width": 1, "ctc_opts": {"ignore_longer_outputs_than_inputs": True}}}
        how = f"root {name} = softmax({enc!r}, target {target!r}, loss ctc: {dim}+1 with blank)"
    else:
        net[name] = {"class": "softmax", "from": enc, "n_out": dim + 1}
        how = f"root {name} = softmax({enc!r}, n_out {dim + 1}: labels + blank)"
    return name, how


def _w_blank_key(case: Case, new: Case, target: str, dim: int) -> str | None:
    """Add an extern-data key like ``target`` with one more label (the blank), as ``bpe_labels_w_blank``."""
    ext = new.get("extern_data")
    num = new.get("num_outputs")
    if isinstance(ext, dict) and isinstance(ext.get(target), dict) and isinstance(ext[target].get("dim"), int):
        key = _fresh(set(ext) | set(num or {}), f"{target}_w_blank")
        entry = {k: v for k, v in ext[target].items() if k not in ("dim", "sparse_dim", "dims", "shape")}
        entry.update(dim=dim + 1, sparse=True)
        if "shape" in ext[target]:
            entry["shape"] = ext[target]["shape"]
        ext[key] = entry
        return key
    if isinstance(num, dict) and isinstance(num.get(target), list) and not ext:
        key = _fresh(set(num), f"{target}_w_blank")
        num[key] = [dim + 1, 1]
        return key
    return None


def _replace_refs(unit: dict[str, Any], old: str, new: str, skip: set[str]) -> None:
    for k in _layers(unit):
        if k in skip:
            continue
        desc = unit[k]
        value = desc.get("from")
        if value == old:
            desc["from"] = new
        elif isinstance(value, list):
            desc["from"] = [new if v == old else v for v in value]


def _att_log(unit: dict[str, Any], scores: str, kind: str) -> tuple[str, str]:
    """The attention decoder's label log-scores (a ``safe_log`` of probabilities)."""
    if kind == "log_prob":
        return scores, scores
    name = _fresh(unit, f"{scores}_log")
    unit[name] = {"class": "activation", "activation": "safe_log", "from": scores}
    return name, f"{name} = safe_log({scores})"


def _joint(net: dict[str, Any], unit: dict[str, Any], choice: str, scores: str, kind: str, ctc_lab: str,
           ctc_is_log: bool, rng: random.Random) -> str:
    """Combine the attention scores with the CTC label scores and let ``choice`` choose over them."""
    w = rng.choice([0.3, 0.5, 0.7])
    joint = _fresh(unit, "joint_scores")
    mode = rng.choices(["loglinear", "loglinear-prob", "interp", "var"], [0.5, 0.15, 0.2, 0.15])[0]
    ctc_log = ctc_lab
    parts = []
    if not ctc_is_log and mode != "interp":
        ctc_log = _fresh(unit, f"{ctc_lab}_log")
        unit[ctc_log] = {"class": "activation", "activation": "safe_log", "from": ctc_lab}
        parts.append(f"{ctc_log} = safe_log({ctc_lab})")
    if mode == "interp":
        if kind == "prob":
            att_p = scores
        else:
            att_p = _fresh(unit, f"{scores}_exp")
            unit[att_p] = {"class": "activation", "activation": "exp", "from": scores}
            parts.append(f"{att_p} = exp({scores})")
        ctc_p = ctc_lab
        if ctc_is_log:
            ctc_p = _fresh(unit, f"{ctc_lab}_exp")
            unit[ctc_p] = {"class": "activation", "activation": "exp", "from": ctc_lab}
            parts.append(f"{ctc_p} = exp({ctc_lab})")
        unit[joint] = {"class": "eval", "from": [att_p, ctc_p],
                       "eval": f"{1 - w:.1f} * source(0) + {w} * source(1)"}
        unit[choice]["from"] = joint
        unit[choice]["input_type"] = "prob"
        parts.append(f"{joint} = {1 - w:.1f} * {att_p} + {w} * {ctc_p} (probabilities), input_type prob")
        return "; ".join(parts)
    att, how_att = _att_log(unit, scores, kind)
    if att != scores:
        parts.append(how_att)
    if mode == "var":
        var = _fresh(net, "ctc_weight")
        net[var] = {"class": "variable", "shape": [], "add_batch_axis": False, "init": 0.0}
        unit[joint] = {"class": "eval", "from": [att, ctc_log, f"base:{var}"],
                       "eval": "(1. - tf.sigmoid(source(2))) * source(0) + tf.sigmoid(source(2)) * source(1)"}
        parts.append(f"{joint} = (1 - sigmoid(w)) * {att} + sigmoid(w) * {ctc_log}, w the trainable root "
                     f"scalar {var} read through base:")
    else:
        unit[joint] = {"class": "eval", "from": [att, ctc_log],
                       "eval": f"{1 - w:.1f} * source(0) + {w} * source(1)"}
        parts.append(f"{joint} = {1 - w:.1f} * {att} + {w} * {ctc_log}")
    unit[choice]["from"] = joint
    if mode == "loglinear-prob":
        unit[choice]["input_type"] = "prob"
        parts.append("input_type left prob (log-scores taken as probabilities)")
    else:
        unit[choice]["input_type"] = "log_prob"
        parts.append("input_type log_prob")
    return "; ".join(parts)


def _keep_blank(case: Case, new: Case, net: dict[str, Any], rec: str, choice: str, scores: str, kind: str,
                ctc_post: str, rng: random.Random) -> str:
    """The blank not removed: the attention scores padded by a blank column, the choice over labels + blank,
    its target unchanged or a new extern key with the blank (as ``bpe_labels_w_blank``)."""
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    dim = _target_dim(case, target)
    parts = []
    att, how_att = _att_log(unit, scores, kind)
    if att != scores:
        parts.append(how_att)
    ctc_log = _fresh(unit, f"{ctc_post}_log")
    unit[ctc_log] = {"class": "activation", "activation": "safe_log", "from": ctc_post}
    key = _w_blank_key(case, new, target, dim) if rng.random() < 0.5 else None
    padded = _fresh(unit, f"{att}_with_blank")
    unit[padded] = {"class": "pad", "axes": "F", "padding": [0, 1], "value": -1e30 if key is None else -10.0,
                    "from": att}
    w = rng.choice([0.3, 0.5])
    joint = _fresh(unit, "joint_scores")
    unit[joint] = {"class": "eval", "from": [padded, ctc_log], "eval": f"{1 - w:.1f} * source(0) + {w} * source(1)"}
    unit[choice]["from"] = joint
    unit[choice]["input_type"] = "log_prob"
    parts.append(f"blank kept: {padded} = pad({att}, F, (0, 1)); {joint} = {1 - w:.1f} * {padded} + {w} * "
                 f"safe_log({ctc_post}) over {dim}+1 labels")
    if key is not None:
        unit[choice]["target"] = key
        if net[rec].get("target") == target:
            net[rec]["target"] = key
        parts.append(f"{choice} (and the rec) target -> new extern key {key!r} (dim {dim + 1})")
    else:
        parts.append(f"{choice} keeps target {target!r} (dim {dim})")
    return "; ".join(parts)


def _ctc_ref(net: dict[str, Any], unit: dict[str, Any], ctc: str, dim: int, rng: random.Random,
             p_plain: float = 0.08, p_inloop: float = 0.12) -> tuple[str, str]:
    """How the loop reads the root CTC layer: ``base:ctc`` mostly, now and then without ``base:`` or a
    copy of the CTC softmax inside the loop."""
    r = rng.random()
    if r < p_plain:
        return ctc, f"reading {ctc!r} without base:"
    if r < p_plain + p_inloop:
        desc = net[ctc]
        src = desc.get("from")
        src = src[0] if isinstance(src, list) and src else src
        if not isinstance(src, str) or ":" in src:
            return f"base:{ctc}", ""
        name = _fresh(unit, f"{ctc}_in_loop")
        inner = {k: v for k, v in desc.items() if k not in ("loss", "loss_opts", "is_output_layer")}
        inner["from"] = f"base:{src}"
        if "n_out" not in inner:
            inner.pop("target", None)
            inner["n_out"] = dim + 1
        unit[name] = inner
        return name, f"the CTC softmax copied into the loop as {name} from base:{src}"
    return f"base:{ctc}", ""


# ----------------------------------------------------------------------------------------------------
# ctc-att-peak-fusion


def op_ctc_att_peak_fusion(case: Case, rng: random.Random) -> Result:
    """The CTC posteriors at the attention peak, blank handled, fused into the choice's scores."""
    new, net = _copy(case)
    sites = _sites(case, net, need_scores=True)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    dim = _target_dim(case, target)
    scores, kind = _scores(unit, choice)
    ctc, how_ctc = _ensure_ctc(net, rec, target, dim, rng)
    ref, how_ref = _ctc_ref(net, unit, ctc, dim, rng)
    parts = [how_ctc] + ([how_ref] if how_ref else [])
    atts = [k for k in _layers(unit) if unit[k].get("class") == "softmax_over_spatial"]
    if atts:
        att = rng.choice(atts)
        src = att if rng.random() < 0.6 else f"prev:{att}"
        w_sum = _fresh(unit, "att_w_sum")
        unit[w_sum] = {"class": "reduce", "mode": "sum", "axis": "F", "from": src}
        peak = _fresh(unit, "att_peak")
        unit[peak] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": w_sum}
        parts.append(f"{peak} = argmax_T(sum_F {src})")
        gather = {"class": "gather", "from": ref, "position": peak, "axis": "T"}
    else:
        peak = ":i"
        gather = {"class": "gather", "from": ref, "position": ":i", "axis": "T"}
        if rng.random() < 0.5:
            gather["clip_to_valid"] = True
        parts.append("position :i (label index as frame)" + (", clip_to_valid" if "clip_to_valid" in gather else ""))
    post = _fresh(unit, "ctc_at_peak")
    unit[post] = gather
    parts.append(f"{post} = gather({ref}, T at {peak})")
    blank = rng.choices(["slice", "slice-first", "renorm", "keep"], [0.35, 0.15, 0.25, 0.25])[0]
    if blank == "keep":
        parts.append(_keep_blank(case, new, net, rec, choice, scores, kind, post, rng))
        return new, f"{rec}: " + "; ".join(parts)
    lab = _fresh(unit, "ctc_labels")
    if blank == "slice":
        unit[lab] = {"class": "slice", "axis": "F", "slice_start": 0, "slice_end": dim, "from": post}
        parts.append(f"{lab} = {post}[..., :{dim}] (blank {dim} sliced off)")
    elif blank == "slice-first":
        unit[lab] = {"class": "slice", "axis": "F", "slice_start": 1, "slice_end": dim + 1, "from": post}
        parts.append(f"{lab} = {post}[..., 1:{dim + 1}] (blank assumed first)")
    else:
        raw = _fresh(unit, "ctc_labels_raw")
        unit[raw] = {"class": "slice", "axis": "F", "slice_start": 0, "slice_end": dim, "from": post}
        bl = _fresh(unit, "ctc_blank_prob")
        unit[bl] = {"class": "gather", "from": post, "position": dim, "axis": "F"}
        one_minus = _fresh(unit, "ctc_one_minus_blank")
        unit[one_minus] = {"class": "eval", "from": bl, "eval": "1. - source(0)"}
        unit[lab] = {"class": "combine", "kind": "truediv", "from": [raw, one_minus]}
        parts.append(f"{lab} = {raw} / (1 - {bl}) ({bl} = gather({post}, F at {dim}))")
    parts.append(_joint(net, unit, choice, scores, kind, lab, False, rng))
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# ctc-fwd-prefix


def op_ctc_fwd_prefix(case: Case, rng: random.Random) -> Result:
    """A CTC forward variable over the encoder frames carried through ``prev:``, its prefix scores joined
    with the attention scores."""
    new, net = _copy(case)
    sites = _sites(case, net, need_scores=True)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    dim = _target_dim(case, target)
    scores, kind = _scores(unit, choice)
    ctc, how_ctc = _ensure_ctc(net, rec, target, dim, rng)
    parts = [how_ctc]
    # root: the blank-only path as the initial forward variable
    blank = _fresh(net, f"{ctc}_blank")
    net[blank] = {"class": "gather", "from": ctc, "position": dim, "axis": "F"}
    blank_log = _fresh(net, f"{ctc}_blank_log")
    net[blank_log] = {"class": "activation", "activation": "safe_log", "from": blank}
    blank_cum = _fresh(net, f"{ctc}_blank_cum")
    net[blank_cum] = {"class": "cumsum", "axis": "T", "from": blank_log}
    init = _fresh(net, "ctc_fwd_init")
    net[init] = {"class": "activation", "activation": "exp", "from": blank_cum}
    parts.append(f"root {init} = exp(cumsum_T(safe_log({ctc}[..., {dim}])))")
    order = "after" if rng.random() < 0.35 else "before"
    lab_src = choice if order == "after" else f"prev:{choice}"
    lab = _fresh(unit, "ctc_label_frames")
    unit[lab] = {"class": "gather", "from": f"base:{ctc}", "position": lab_src, "axis": "F"}
    fwd = _fresh(unit, "ctc_fwd")
    carry = rng.random() >= 0.12
    prev_fwd = f"prev:{fwd}" if carry else f"base:{init}"
    if rng.random() < 0.6:
        unit[fwd] = {"class": "eval", "from": [prev_fwd, lab], "eval": "tf.math.cumsum(source(0) * source(1), axis=-1)"}
        state = fwd
        how_fwd = f"{fwd} = eval cumsum_T({prev_fwd} * {lab})"
    else:
        step = _fresh(unit, "ctc_fwd_step")
        unit[step] = {"class": "combine", "kind": "mul", "from": [prev_fwd, lab]}
        cum = _fresh(unit, "ctc_fwd_cum")
        unit[cum] = {"class": "cumsum", "axis": "T", "from": step}
        unit[fwd] = {"class": "copy", "from": cum}
        state = fwd
        how_fwd = f"{fwd} = copy({cum} = cumsum_T({step} = {prev_fwd} * {lab}))"
    parts.append(f"{lab} = gather(base:{ctc}, F at {lab_src}); {how_fwd}")
    if carry:
        init_form = rng.choices(["base", "zero", "none", "plain"], [0.6, 0.15, 0.15, 0.1])[0]
        if init_form == "base":
            unit[state]["initial_output"] = f"base:{init}"
        elif init_form == "zero":
            unit[state]["initial_output"] = 0
        elif init_form == "plain":
            unit[state]["initial_output"] = init
        parts.append({"base": f"initial_output base:{init}", "zero": "initial_output 0",
                      "none": "no initial_output", "plain": f"initial_output {init!r} (no base:)"}[init_form])
    else:
        parts.append(f"not carried: {fwd} restarts from base:{init} every frame")
    fwd_read = f"prev:{fwd}" if order == "after" and carry else fwd
    prefix = _fresh(unit, "ctc_prefix")
    if rng.random() < 0.5:
        unit[prefix] = {"class": "dot", "from": [fwd_read, f"base:{ctc}"], "red1": "T", "red2": "T",
                        "var1": None, "var2": "F"}
    else:
        unit[prefix] = {"class": "dot", "from": [fwd_read, f"base:{ctc}"], "reduce": "T", "var1": "auto",
                        "var2": "auto"}
    if rng.random() < 0.2:
        parts.append(f"{prefix} = dot({fwd_read}, base:{ctc}, reduce T)")
        parts.append(_keep_blank(case, new, net, rec, choice, scores, kind, prefix, rng))
        return new, f"{rec}: " + "; ".join(parts)
    lab_scores = _fresh(unit, "ctc_prefix_labels")
    unit[lab_scores] = {"class": "slice", "axis": "F", "slice_start": 0, "slice_end": dim, "from": prefix}
    parts.append(f"{prefix} = dot({fwd_read}, base:{ctc}, reduce T); {lab_scores} = {prefix}[..., :{dim}]")
    parts.append(_joint(net, unit, choice, scores, kind, lab_scores, False, rng))
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# ctc-greedy-first-pass


def op_ctc_greedy_first_pass(case: Case, rng: random.Random) -> Result:
    """A CTC first pass at the root (greedy or a root choice) read by the searching decoder."""
    new, net = _copy(case)
    sites = _sites(case, net, need_scores=False)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    dim = _target_dim(case, target)
    ctc, how_ctc = _ensure_ctc(net, rec, target, dim, rng)
    parts = [how_ctc]
    form = rng.choices(["argmax", "argmax-decide", "choice", "choice-decide"], [0.35, 0.2, 0.2, 0.25])[0]
    first = _fresh(net, "ctc_greedy")
    if form.startswith("argmax"):
        net[first] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": ctc}
        parts.append(f"root {first} = argmax_F({ctc})")
    else:
        key = _w_blank_key(case, new, target, dim) if rng.random() < 0.7 else None
        beam = rng.choice([1, 1, 4])
        net[first] = {"class": "choice", "from": ctc, "target": key or target, "beam_size": beam,
                      "input_type": "prob"}
        parts.append(f"root {first} = choice over {ctc} (beam {beam}, target {key or target!r}"
                     + (f", new extern key dim {dim + 1})" if key else f", dim {dim})"))
    if form.endswith("decide"):
        dec = _fresh(net, f"{first}_decided")
        net[dec] = {"class": "decide", "from": first}
        first_ref = dec
        parts.append(f"root {dec} = decide({first})")
    else:
        first_ref = first
    use = rng.choices(["summary", "attend", "length"], [0.45, 0.3, 0.25])[0]
    atts = [k for k in _layers(unit) if unit[k].get("class") == "softmax_over_spatial"]
    if use == "attend" and not atts:
        use = "summary"
    if use == "length":
        nb = _fresh(net, f"{first}_nonblank")
        net[nb] = {"class": "compare", "kind": "not_equal", "from": first_ref, "value": dim}
        nbf = _fresh(net, f"{first}_nonblank_float")
        net[nbf] = {"class": "cast", "dtype": "float32", "from": nb}
        ln = _fresh(net, "ctc_len")
        net[ln] = {"class": "reduce", "mode": "sum", "axis": "T", "from": nbf}
        reached = _fresh(unit, "ctc_len_reached")
        step = _fresh(unit, "step_float")
        unit[step] = {"class": "cast", "dtype": "float32", "from": ":i"}
        unit[reached] = {"class": "compare", "kind": "greater_equal", "from": [step, f"base:{ln}"]}
        end = unit.get("end")
        if isinstance(end, dict):
            old = _fresh(unit, "end_label")
            unit[old] = unit.pop("end")
            _replace_refs(unit, "end", old, {old})
            unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, reached]}
            parts.append(f"root {ln} = sum_T({first_ref} != {dim}); end = logical_or({old}, :i >= base:{ln})")
        else:
            unit["end"] = {"class": "copy", "from": reached}
            parts.append(f"root {ln} = sum_T({first_ref} != {dim}); end = :i >= base:{ln}")
        return new, f"{rec}: " + "; ".join(parts)
    emb = _fresh(net, f"{first}_emb")
    net[emb] = {"class": "linear", "activation": None, "with_bias": False, "n_out": 4, "from": first_ref}
    parts.append(f"root {emb} = embedding of {first_ref}")
    sparse_refs = {c for c in _unit_choices(unit)} | {f"prev:{c}" for c in _unit_choices(unit)}
    dense = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "rnn_cell", "softmax")
             and k != "end" and _sources(unit[k])
             and not any(s in sparse_refs or s.startswith("data:") or s == "base:data"
                         or (s.startswith("base:") and "ctc" in s) for s in _sources(unit[k]))]
    pref = [k for k in dense if any(s.startswith("prev:") for s in _sources(unit[k]))]
    if not dense:
        return None
    user = rng.choice(pref or dense)
    if use == "summary":
        summ = _fresh(net, f"{first}_summary")
        net[summ] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
        _add_source(unit[user], f"base:{summ}")
        parts.append(f"root {summ} = mean_T({emb}); base:{summ} an extra source of {rec}/{user}")
    else:
        att = rng.choice(atts)
        name = _fresh(unit, "ctc_hyp_att")
        unit[name] = {"class": "generic_attention", "weights": att, "base": f"base:{emb}"}
        flat = _fresh(unit, "ctc_hyp_ctx")
        unit[flat] = {"class": "merge_dims", "axes": "except_batch", "from": name}
        user = rng.choice(dense)
        ref = f"prev:{flat}" if user in _frame_ancestors(unit, att) else flat
        _add_source(unit[user], ref)
        parts.append(f"{rec}/{name} = generic_attention({att}, base:{emb}); {ref} an extra source of {rec}/{user}")
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# ctc-hyp-score


def op_ctc_hyp_score(case: Case, rng: random.Random) -> Result:
    """The CTC score of the chosen labels accumulated over the frames, exported for joint n-best scores."""
    new, net = _copy(case)
    sites = _sites(case, net, need_scores=False)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    dim = _target_dim(case, target)
    ctc, how_ctc = _ensure_ctc(net, rec, target, dim, rng)
    parts = [how_ctc]
    pos = choice if rng.random() < 0.75 else f"prev:{choice}"
    frames = _fresh(unit, "ctc_chosen_frames")
    unit[frames] = {"class": "gather", "from": f"base:{ctc}", "position": pos, "axis": "F"}
    best = _fresh(unit, "ctc_chosen_best")
    unit[best] = {"class": "reduce", "mode": "max", "axis": "T", "from": frames}
    lab = _fresh(unit, "ctc_chosen_score")
    unit[lab] = {"class": "activation", "activation": "safe_log", "from": best}
    acc = _fresh(unit, "ctc_hyp_score")
    if rng.random() < 0.6:
        unit[acc] = {"class": "combine", "kind": "add", "from": [f"prev:{acc}", lab], "initial_output": 0}
        how_acc = f"{acc} = prev:{acc} + {lab}"
    else:
        unit[acc] = {"class": "cumsum", "from": lab}
        how_acc = f"{acc} = cumsum over the loop's frames of {lab}"
    parts.append(f"{lab} = safe_log(max_T gather(base:{ctc}, F at {pos})); {how_acc}")
    export = rng.choices(["decide", "joint", "joint-decided"], [0.35, 0.35, 0.3])[0]
    unit[acc]["is_output_layer"] = True
    unit[lab]["is_output_layer"] = True
    if export == "decide":
        out = _fresh(net, f"{rec}_ctc_score")
        net[out] = {"class": "decide", "from": f"{rec}/{acc}", "is_output_layer": True}
        parts.append(f"root {out} = decide({rec}/{acc}), an output layer")
        return new, f"{rec}: " + "; ".join(parts)
    beam_scores = _fresh(net, f"{rec}_beam_scores")
    net[beam_scores] = {"class": "choice_get_beam_scores", "from": rec}
    total = _fresh(net, f"{rec}_ctc_total")
    net[total] = {"class": "reduce", "mode": "sum", "axis": "T", "from": f"{rec}/{lab}"}
    w = rng.choice([0.3, 0.5])
    joint = _fresh(net, f"{rec}_joint_score")
    if export == "joint":
        net[joint] = {"class": "eval", "from": [beam_scores, total], "eval": f"source(0) + {w} * source(1)",
                      "is_output_layer": True}
        parts.append(f"root {total} = sum_T {rec}/{lab}; {joint} = {beam_scores} (choice_get_beam_scores) + "
                     f"{w} * {total}, an output layer")
    else:
        dec = _fresh(net, f"{total}_decided")
        net[dec] = {"class": "decide", "from": total}
        net[joint] = {"class": "combine", "kind": "add", "from": [beam_scores, dec], "is_output_layer": True}
        parts.append(f"root {total} = sum_T {rec}/{lab}; {dec} = decide({total}); {joint} = {beam_scores} + {dec}, "
                     "an output layer")
    return new, f"{rec}: " + "; ".join(parts)


FRESH117_OPERATORS: tuple[Op, ...] = (
    Op("ctc-att-peak-fusion", op_ctc_att_peak_fusion, 1.2),
    Op("ctc-fwd-prefix", op_ctc_fwd_prefix, 1),
    Op("ctc-greedy-first-pass", op_ctc_greedy_first_pass, 1),
    Op("ctc-hyp-score", op_ctc_hyp_score, 0.8),
)
