"""A ninety-third set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: score shaping before the choice. What users insert between a searching decoder's output distribution
and its ``choice`` layer to change what the beam search ranks, written with the layer classes users use
(``eval``, ``combine``, ``switch``, ``gather``, ``slice``, ``copy`` concatenation, ``expand_dims``,
``squeeze``, ``reduce``, ``compare``, ``range_in_axis`` / ``range``, ``variable``, ``top_k``,
``activation``, ``softmax_over_spatial`` with ``log_space`` / ``energy_factor``), with the axes and dims
users get right and the ones they get wrong. The target in RETURNN is ``ChoiceLayer.__init__`` (its
search-branch checks ``not source.output.sparse``, ``sources[0].output.dim == self.output.dim``,
``sources[0].output.shape == (dim,)``, the beam of its source against the base search choice) and
``ChoiceLayer._get_scores`` (``input_type`` ``prob`` / ``log_prob`` / ``logits``: what the beam adds up),
read in the installed ``returnn/tf/layers/rec.py``; the set-ups: the recognition options of
rwth-i6/i6_experiments ``users/zeyer/experiments/exp2023_04_25_rf/beam_search.py`` (``length_reward``,
``length_normalization_exponent``) and ``users/zeyer/decoding/prior_rescoring.py`` (a label prior read from a
file, ``log_prob`` or ``prob``), RETURNN's ``TopKLayer`` docstring (``basic.py``: "similar to ReduceLayer with
max and argmax", indices as a sub-layer) and ``SoftmaxOverSpatialLayer``'s ``energy_factor`` ("like a
temperature for the softmax"). Every edit is inside a searching loop, on the path from the scores of a label
choice to the choice (none a variant of an earlier operator; no rule was written for any of them):

* ``logit-divide``: a decoding temperature. The choice's scores are divided by T (0.5 .. 2): log-scores
  (``safe_log`` of probabilities first) divided by an ``eval`` and renormalised by an ``activation``
  ``log_softmax`` or not, the choice switched to ``log_prob`` (or, as users forget, left ``prob`` on log-space
  values); probabilities raised to ``1/T`` (maybe renormalised by an ``eval``); logits recomputed by a
  ``linear`` with the score layer's inputs and the choice given ``input_type: "logits"`` (or mislabelled
  ``log_prob``); a ``softmax_over_spatial`` over ``F`` of the logits with ``energy_factor`` 1/T and
  ``log_space`` (or without ``axis``, which defaults to the time axis a frame lacks); a learned per-hypothesis
  temperature (a ``linear`` ``softplus`` of the state with one unit, ``squeeze``d on ``F``, or not) by a
  ``combine`` ``truediv``; or a root temperature read through ``base:``: a scalar ``variable`` or one per
  sequence (the mean over ``T`` of a ``linear`` of the encoder, a batch axis and no beam). Targets
  ``ChoiceLayer._get_scores`` (``input_type``) and the choice's source shape check.
* ``unigram-adjust``: label-prior correction, as in ``prior_rescoring.py`` but inside the search: a prior over
  the vocabulary made at the root (a ``variable`` of shape ``[V]``, in log or prob space; one per sequence from
  the encoder: a ``linear`` ``softmax`` to ``V`` and a ``reduce`` ``mean`` over ``T``, a batch axis; the same
  without the ``reduce``, a prior with a time axis; a CTC-style prior that still counts the blank, a vector
  of size ``V+1``) is read through ``base:`` and subtracted from the log-scores with a scale (``eval``), the
  prior's log maybe forgotten; or the probabilities divided by it (``combine`` ``truediv``); or the two
  distributions mixed with a learned gate (a ``linear`` ``sigmoid`` of the state with one unit, squeezed or
  not, an ``eval`` ``g * p + (1 - g) * prior``). Targets the beam tiling of root tensors read by a beamed
  frame (``base:`` with a batch axis and no beam), and the choice's source shape check.
* ``label-ban``: a vocabulary restriction. A bool mask over the labels makes the choice's scores ``-1e30``
  (or 0 for probabilities, or ``-1e30`` on probabilities by mistake) where a label is forbidden, by a
  ``switch`` or a ``combine`` add of a cast bias: the mask from a ``range_in_axis`` of the scores on ``F`` and a
  ``compare`` (one label, or all labels from K on); from ``prev:CHOICE`` compared with that range (no immediate
  repetition, hard, or a soft repetition penalty by ``eval``); from a root ``range`` of ``V`` labels (a new dim
  tag, read through ``base:``); per sequence from the encoder (``linear`` to ``V``, ``reduce`` ``max`` over
  ``T`` or, wrongly, no reduce: a mask with a time axis); from the reference transcription (the labels of
  the target key at the root, a bag of words, as for oracle-vocabulary decoding; or, in the frame, only the
  step's reference label ``data:KEY`` allowed: forced decoding), which search does not have; or, where the
  network has a second searching loop, from that first pass's labels (its beamed output, or a ``decide`` of
  it: a second pass restricted to the first pass's vocabulary). Targets ``SwitchLayer`` / ``CombineLayer``
  broadcasting of an unbeamed (or differently beamed) mask onto beamed scores
  (``SearchChoices.translate_to_common_search_beam``), the ``prev:`` choice inside the score path, and the
  target's availability in search.
* ``label-column``: one label column of the scores edited and the scores put back together: the EOS column
  scaled (an end-of-sentence penalty / reward, as ``length_reward`` in ``beam_search.py``) or every other
  column rewarded (a length reward per label), maybe growing with the step ``:i``; the column cut out by
  ``slice`` on ``F`` or by a ``gather`` of the EOS label (then ``expand_dims`` on ``F``, or, as users forget,
  not), and concatenated back by a ``copy`` of the parts in order (or with the EOS column moved to the end).
  Targets the choice's ``dim`` check against a concatenated feature dim and the beam of the parts.
* ``kbest-cut``: top-k restriction before the choice: a ``top_k`` on ``F`` (k 2, 3, the beam, half the
  vocabulary, or k from a root ``constant`` read through ``base:``), its K-th value (``reduce`` ``min``
  over ``except_batch``, or, wrongly, over ``T``), a ``compare`` ``greater_equal`` of the scores with it and a
  ``switch`` to ``-1e30`` / 0; or a ``reduce`` ``max`` over ``F`` and a margin (beam-threshold pruning per
  frame); or the mistakes: the choice over the ``top_k`` values (``K`` entries, not the vocabulary) or over its
  ``indices`` sub-layer (sparse). Targets the ``ChoiceLayer`` search checks (sparse source, source dim, shape)
  and ``TopKLayer`` in a beamed frame.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _searching_recs,
    _sources,
    _target_dim,
    _target_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH91_SEED = 20270153
N_FRESH91 = 80

Result = "tuple[Case, str] | None"
NEG = -1e30


# ----------------------------------------------------------------------------------------------------
# Sites


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _site_list(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, bool, int]]:
    """(rec, choice, score layer, scores are probabilities, vocabulary size) of the label choices of searching
    loops with one plain loop source and ``input_type`` prob / log_prob."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            desc = unit[choice]
            if desc.get("search", True) is False or desc.get("input_type", "prob") not in ("prob", "log_prob"):
                continue
            srcs = _sources(desc)
            if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
                continue
            dim = _target_dim(case, _data_target(desc))
            if not isinstance(dim, int):
                n_out = unit[srcs[0]].get("n_out")
                dim = n_out if isinstance(n_out, int) else None
            if not isinstance(dim, int) or dim < 3:
                continue
            out.append((rec, choice, srcs[0], desc.get("input_type", "prob") == "prob", dim))
    return out


def _state(unit: dict[str, Any], scores: str) -> str:
    """A dense loop layer the scores are computed from (the readout), else the scores themselves."""
    for src in _sources(unit[scores]):
        if src in unit and isinstance(unit[src], dict) and unit[src].get("class") not in ("choice", "compare"):
            return src
    return scores


def _encoder(net: dict[str, Any], rec: str) -> str:
    """A root layer the decoder reads through ``base:`` (the encoder), else ``data``."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc) + [v for k, v in desc.items() if k in ("base", "keys", "values")
                                       and isinstance(v, str)]:
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    if name in net and isinstance(net[name], dict) and net[name].get("class") not in (
                            "rec", "decide", "choice"):
                        found.append(name)
    out = []
    for name in found:
        # a summary (``reduce`` over time) of the encoder: take what it summarises
        seen = set()
        while net[name].get("class") == "reduce" and name not in seen:
            seen.add(name)
            srcs = [s for s in _sources(net[name]) if s in net and isinstance(net[s], dict)]
            if not srcs:
                break
            name = srcs[0]
        if net[name].get("class") != "reduce":
            out.append(name)
    return min(out) if out else "data"


def _other_decoders(net: dict[str, Any], rec: str) -> list[str]:
    """Searching loops other than ``rec`` that do not read ``rec`` (a first pass)."""
    out = []
    for other in _searching_recs(net):
        if other == rec:
            continue
        reads = [s for d in net[other]["unit"].values() if isinstance(d, dict) for s in _sources(d)]
        if not any(s == f"base:{rec}" or s.startswith(f"base:{rec}/") for s in reads):
            out.append(other)
    return out


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _log_of(unit: dict[str, Any], scores: str, is_prob: bool) -> tuple[str, str]:
    """The log-scores of a choice (a new ``safe_log`` activation of probabilities); (name, how)."""
    if not is_prob:
        return scores, f"{scores} (log-probs)"
    name = _fresh(unit, f"{scores}_log")
    unit[name] = {"class": "activation", "activation": "safe_log", "from": scores}
    return name, f"{name} = safe_log({scores})"


def _feed(unit: dict[str, Any], choice: str, src: str, input_type: str) -> str:
    """Let the choice read ``src`` with ``input_type``; the description of the change."""
    desc = unit[choice]
    old = desc.get("input_type", "prob")
    desc["from"] = src
    if input_type == "prob":
        desc.pop("input_type", None)
    else:
        desc["input_type"] = input_type
    if old == input_type:
        return f"{choice} chooses over {src} (input_type {input_type})"
    return f"{choice} chooses over {src} (input_type {old} -> {input_type})"


# ----------------------------------------------------------------------------------------------------
# logit-divide


def op_logit_divide(case: Case, rng: random.Random) -> Result:
    """A decoding temperature between the scores and the choice."""
    new, net = _copy(case)
    sites = _site_list(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    temp = rng.choice([0.5, 0.7, 1.5, 2.0])
    form = rng.choices(["log-div", "pow", "logits", "spatial", "learned", "root"],
                       [0.22, 0.13, 0.17, 0.16, 0.17, 0.15])[0]
    if form == "pow" and not is_prob:
        form = "log-div"
    where = f"{rec}: "
    if form == "log-div":
        logp, how = _log_of(unit, scores, is_prob)
        div = _fresh(unit, f"{scores}_div_t")
        unit[div] = {"class": "eval", "from": logp, "eval": f"source(0) / {temp}"}
        how += f", {div} = {logp} / {temp}"
        out = div
        if rng.random() < 0.6:
            norm = _fresh(unit, f"{scores}_t_norm")
            unit[norm] = {"class": "activation", "activation": "log_softmax", "from": div}
            how += f", {norm} = log_softmax({div})"
            out = norm
        kind = "log_prob" if not is_prob or rng.random() < 0.8 else "prob"
        return new, where + how + "; " + _feed(unit, choice, out, kind)
    if form == "pow":
        powd = _fresh(unit, f"{scores}_pow_t")
        unit[powd] = {"class": "eval", "from": scores, "eval": f"tf.pow(source(0), {round(1.0 / temp, 4)})"}
        how = f"{powd} = {scores} ** (1/{temp})"
        out = powd
        if rng.random() < 0.5:
            norm = _fresh(unit, f"{scores}_t_norm")
            unit[norm] = {"class": "eval", "from": powd,
                          "eval": "source(0) / tf.reduce_sum(source(0), axis=-1, keepdims=True)"}
            how += f", {norm} = {powd} / sum over labels"
            out = norm
        return new, where + how + "; " + _feed(unit, choice, out, "prob")
    if form in ("logits", "spatial"):
        desc = unit[scores]
        srcs = desc.get("from")
        if desc.get("class") in ("softmax", "linear") and srcs:
            logits = _fresh(unit, f"{scores}_logits")
            unit[logits] = {"class": "linear", "activation": None, "from": srcs, "n_out": dim}
            how = f"{logits} = linear({srcs}) to {dim} without softmax"
        else:
            logits, how = _log_of(unit, scores, is_prob)
        if form == "logits":
            div = _fresh(unit, f"{logits}_div_t")
            unit[div] = {"class": "eval", "from": logits, "eval": f"source(0) * {round(1.0 / temp, 4)}"}
            how += f", {div} = {logits} / {temp}"
            kind = "logits" if rng.random() < 0.8 else "log_prob"
            return new, where + how + "; " + _feed(unit, choice, div, kind)
        sm = _fresh(unit, f"{scores}_t_softmax")
        log_space = rng.random() < 0.65
        unit[sm] = {"class": "softmax_over_spatial", "from": logits, "energy_factor": round(1.0 / temp, 4)}
        if rng.random() < 0.88:
            unit[sm]["axis"] = "F"
            axis = "axis F"
        else:
            axis = "no axis (the default time axis)"
        if log_space:
            unit[sm]["log_space"] = True
        how += f", {sm} = softmax_over_spatial({logits}, {axis}, energy_factor 1/{temp}, log_space {log_space})"
        kind = "log_prob" if log_space else "prob"
        if rng.random() < 0.15:
            kind = "prob" if log_space else "log_prob"
        return new, where + how + "; " + _feed(unit, choice, sm, kind)
    logp, how = _log_of(unit, scores, is_prob)
    if form == "learned":
        state = _state(unit, scores)
        tl = _fresh(unit, "temperature")
        unit[tl] = {"class": "linear", "activation": "softplus", "from": state, "n_out": 1}
        how += f", {tl} = softplus(linear({state})) with one unit"
        tref = tl
        if rng.random() < 0.75:
            sq = _fresh(unit, f"{tl}_sq")
            unit[sq] = {"class": "squeeze", "axis": "F", "from": tl}
            how += f", {sq} = squeeze({tl}, F)"
            tref = sq
        else:
            how += " (not squeezed)"
    else:
        enc = _encoder(net, rec)
        if rng.random() < 0.5:
            tl = _fresh(net, "decode_temperature")
            net[tl] = {"class": "variable", "shape": [], "init": temp, "trainable": False}
            how += f", root {tl} = scalar variable (init {temp})"
        else:
            lin = _fresh(net, "frame_temperature")
            net[lin] = {"class": "linear", "activation": "softplus", "from": enc, "n_out": 1}
            mean = _fresh(net, "seq_temperature")
            net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": lin}
            tl = _fresh(net, f"{mean}_sq")
            net[tl] = {"class": "squeeze", "axis": "F", "from": mean}
            how += f", root {tl} = squeeze(mean over T of softplus(linear({enc}))) (one per sequence)"
        tref = f"base:{tl}"
    div = _fresh(unit, f"{scores}_div_t")
    unit[div] = {"class": "combine", "kind": "truediv", "from": [logp, tref]}
    how += f", {div} = {logp} / {tref}"
    out = div
    if rng.random() < 0.7:
        norm = _fresh(unit, f"{scores}_t_norm")
        unit[norm] = {"class": "activation", "activation": "log_softmax", "from": div}
        how += f", {norm} = log_softmax({div})"
        out = norm
    return new, where + how + "; " + _feed(unit, choice, out, "log_prob")


# ----------------------------------------------------------------------------------------------------
# unigram-adjust


def _root_prior(net: dict[str, Any], rec: str, dim: int, rng: random.Random) -> tuple[str, bool, str]:
    """A prior over the vocabulary at the root: (name, in log space, how)."""
    kind = rng.choices(["var-log", "var-prob", "enc", "enc-time", "blank"], [0.28, 0.2, 0.3, 0.1, 0.12])[0]
    if kind in ("var-log", "var-prob", "blank"):
        size = dim + 1 if kind == "blank" else dim
        log_space = kind != "var-prob" and (kind == "var-log" or rng.random() < 0.5)
        init = round(-math.log(size), 4) if log_space else round(1.0 / size, 4)
        name = _fresh(net, "label_log_prior" if log_space else "label_prior")
        net[name] = {"class": "variable", "shape": [size], "init": init, "trainable": False}
        extra = " (a CTC prior that still counts the blank)" if kind == "blank" else ""
        return name, log_space, f"root {name} = variable of shape [{size}]{extra}, {'log' if log_space else 'prob'}"
    enc = _encoder(net, rec)
    soft = _fresh(net, f"{enc}_label_post")
    net[soft] = {"class": "linear", "activation": "softmax", "from": enc, "n_out": dim}
    if kind == "enc-time":
        return soft, False, f"root {soft} = softmax(linear({enc})) to {dim} (prob, keeps the time axis)"
    name = _fresh(net, "seq_label_prior")
    net[name] = {"class": "reduce", "mode": "mean", "axes": "T", "from": soft}
    return name, False, f"root {name} = mean over T of {soft} = softmax(linear({enc})) (prob, one per sequence)"


def op_unigram_adjust(case: Case, rng: random.Random) -> Result:
    """A label prior at the root corrects (or is mixed into) the choice's scores."""
    new, net = _copy(case)
    sites = _site_list(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    prior, prior_log, how = _root_prior(net, rec, dim, rng)
    how = f"{rec}: {how}"
    ref = f"base:{prior}"
    scale = rng.choice([0.2, 0.3, 0.5, 1.0])
    form = rng.choices(["subtract", "divide", "gate"], [0.5, 0.2, 0.3])[0]
    if form == "subtract":
        logp, h = _log_of(unit, scores, is_prob)
        how += f", {h}"
        if prior_log:
            expr, note = f"source(0) - {scale} * source(1)", ""
        elif rng.random() < 0.75:
            expr, note = f"source(0) - {scale} * tf.math.log(source(1) + 1e-10)", ""
        else:
            expr, note = f"source(0) - {scale} * source(1)", " (the prob-space prior's log forgotten)"
        out = _fresh(unit, f"{scores}_prior_corr")
        unit[out] = {"class": "eval", "from": [logp, ref], "eval": expr}
        how += f", {out} = eval {expr!r} of [{logp}, {ref}]{note}"
        return new, how + "; " + _feed(unit, choice, out, "log_prob")
    probs = scores
    if not is_prob:
        probs = _fresh(unit, f"{scores}_exp")
        unit[probs] = {"class": "activation", "activation": "exp", "from": scores}
        how += f", {probs} = exp({scores})"
    pref = ref
    if prior_log:
        pexp = _fresh(unit, f"{prior}_exp")
        unit[pexp] = {"class": "activation", "activation": "exp", "from": ref}
        how += f", {pexp} = exp({ref})"
        pref = pexp
    if form == "divide":
        out = _fresh(unit, f"{scores}_prior_div")
        if scale == 1.0:
            unit[out] = {"class": "combine", "kind": "truediv", "from": [probs, pref]}
            how += f", {out} = {probs} / {pref}"
        else:
            unit[out] = {"class": "eval", "from": [probs, pref], "eval": f"source(0) / tf.pow(source(1), {scale})"}
            how += f", {out} = {probs} / {pref} ** {scale}"
        return new, how + "; " + _feed(unit, choice, out, "prob")
    state = _state(unit, scores)
    gate = _fresh(unit, "prior_gate")
    unit[gate] = {"class": "linear", "activation": "sigmoid", "from": state, "n_out": 1}
    how += f", {gate} = sigmoid(linear({state})) with one unit"
    gref = gate
    if rng.random() < 0.7:
        sq = _fresh(unit, f"{gate}_sq")
        unit[sq] = {"class": "squeeze", "axis": "F", "from": gate}
        how += f", {sq} = squeeze({gate}, F)"
        gref = sq
    else:
        how += " (not squeezed)"
    out = _fresh(unit, f"{scores}_mixed")
    unit[out] = {"class": "eval", "from": [gref, probs, pref],
                 "eval": "source(0) * source(1) + (1. - source(0)) * source(2)"}
    how += f", {out} = {gref} * {probs} + (1 - {gref}) * {pref}"
    return new, how + "; " + _feed(unit, choice, out, "prob")


# ----------------------------------------------------------------------------------------------------
# label-ban


def op_label_ban(case: Case, rng: random.Random) -> Result:
    """A mask over the vocabulary forbids labels before the choice."""
    new, net = _copy(case)
    sites = _site_list(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    keys = [k for k in _target_keys(case) if _target_dim(case, k) == dim]
    others = _other_decoders(net, rec)
    kind = rng.choices(["range", "repeat", "root-range", "encoder", "reference", "forced", "first-pass"],
                       [0.25, 0.23, 0.12, 0.16, 0.09 if keys else 0.0, 0.07 if keys else 0.0,
                        0.25 if others else 0.0])[0]
    how = f"{rec}: "
    banned = True  # whether the mask says "forbidden" (else "allowed")
    if kind == "forced":
        key = _data_target(unit[choice]) if _data_target(unit[choice]) in keys else rng.choice(keys)
        rng_name = _fresh(unit, "label_ids")
        unit[rng_name] = {"class": "range_in_axis", "from": scores, "axis": "F"}
        mask = _fresh(unit, "label_is_ref")
        unit[mask] = {"class": "compare", "kind": "equal", "from": [rng_name, f"data:{key}"]}
        banned = False
        how += (f"{rng_name} = range_in_axis({scores}, F), {mask} = {rng_name} == data:{key} (only the "
                f"reference label of the step allowed: forced decoding)")
    elif kind in ("range", "repeat"):
        rng_name = _fresh(unit, "label_ids")
        unit[rng_name] = {"class": "range_in_axis", "from": scores, "axis": "F"}
        mask = _fresh(unit, "label_banned")
        if kind == "range":
            if rng.random() < 0.5:
                label = rng.randrange(1, dim)
                unit[mask] = {"class": "compare", "kind": "equal", "from": rng_name, "value": label}
                how += f"{rng_name} = range_in_axis({scores}, F), {mask} = {rng_name} == {label}"
            else:
                first = rng.randrange(dim // 2, dim)
                unit[mask] = {"class": "compare", "kind": "greater_equal", "from": rng_name, "value": first}
                how += f"{rng_name} = range_in_axis({scores}, F), {mask} = {rng_name} >= {first}"
        else:
            unit[mask] = {"class": "compare", "kind": "equal", "from": [rng_name, f"prev:{choice}"]}
            how += f"{rng_name} = range_in_axis({scores}, F), {mask} = {rng_name} == prev:{choice}"
            if rng.random() < 0.4:
                logp, h = _log_of(unit, scores, is_prob)
                pen = rng.choice([1.0, 2.0, 5.0])
                out = _fresh(unit, f"{scores}_rep_pen")
                unit[out] = {"class": "eval", "from": [logp, mask],
                             "eval": f"source(0) - {pen} * tf.cast(source(1), tf.float32)"}
                how += f", {h}, {out} = {logp} - {pen} * {mask} (a soft repetition penalty)"
                return new, how + "; " + _feed(unit, choice, out, "log_prob")
    elif kind == "root-range":
        ids = _fresh(net, "vocab_ids")
        net[ids] = {"class": "range", "limit": dim}
        mask = _fresh(net, "vocab_banned")
        first = rng.randrange(dim // 2, dim)
        net[mask] = {"class": "compare", "kind": "greater_equal", "from": ids, "value": first}
        how += f"root {ids} = range({dim}), {mask} = {ids} >= {first}"
        mask = f"base:{mask}"
    else:
        if kind == "encoder":
            src = _encoder(net, rec)
            lin = _fresh(net, f"{src}_vocab_logits")
            net[lin] = {"class": "linear", "activation": None, "from": src, "n_out": dim}
            what = f"linear({src}) to {dim}"
        elif kind == "reference":
            key = rng.choice(keys)
            src = f"data:{key}"
            lin = _fresh(net, f"{key}_bag")
            net[lin] = {"class": "linear", "activation": "relu", "from": src, "n_out": dim}
            what = f"linear({src}) to {dim} (the reference's labels)"
        else:
            other = rng.choice(others)
            decided = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [other]]
            if rng.random() < 0.5:
                src, via = other, "its beamed labels"
            elif decided:
                src, via = decided[0], f"its decided labels ({decided[0]})"
            else:
                src = _fresh(net, f"{other}_decided")
                net[src] = {"class": "decide", "from": other}
                via = f"its decided labels (new decide {src})"
            lin = _fresh(net, f"{other}_bag")
            net[lin] = {"class": "linear", "activation": "relu", "from": src, "n_out": dim}
            what = f"linear({src}) to {dim} (the first pass {other}: {via})"
        mask = _fresh(net, "vocab_allowed")
        banned = False
        if rng.random() < 0.8:
            red = _fresh(net, f"{lin}_max")
            net[red] = {"class": "reduce", "mode": "max", "axes": "T", "from": lin}
            net[mask] = {"class": "compare", "kind": "greater", "from": red, "value": 0.0}
            how += f"root {lin} = {what}, {red} = max over T, {mask} = {red} > 0 (one mask per sequence)"
        else:
            net[mask] = {"class": "compare", "kind": "greater", "from": lin, "value": 0.0}
            how += f"root {lin} = {what}, {mask} = {lin} > 0 (a mask that keeps the time axis)"
        mask = f"base:{mask}"
    low: float = NEG
    if is_prob and rng.random() < 0.8:
        low = 0.0
    out = _fresh(unit, f"{scores}_banned")
    if rng.random() < 0.7:
        true_from, false_from = (low, scores) if banned else (scores, low)
        unit[out] = {"class": "switch", "condition": mask, "true_from": true_from, "false_from": false_from}
        how += f"; {out} = switch({mask}, {true_from}, {false_from})"
    else:
        bias = _fresh(unit, "ban_bias")
        expr = "tf.cast(source(0), tf.float32) * -1e30" if banned else "(1. - tf.cast(source(0), tf.float32)) * -1e30"
        unit[bias] = {"class": "eval", "from": mask, "eval": expr, "out_type": {"dtype": "float32"}}
        unit[out] = {"class": "combine", "kind": "add", "from": [scores, bias]}
        how += f"; {bias} = -1e30 where banned ({mask}), {out} = {scores} + {bias}"
        low = NEG
    kind_in = "prob" if is_prob else "log_prob"
    if is_prob and low == NEG:
        how += " (-1e30 on probabilities)"
    return new, how + "; " + _feed(unit, choice, out, kind_in)


# ----------------------------------------------------------------------------------------------------
# label-column


def _slice(unit: dict[str, Any], src: str, start: int, end: int | None, base: str) -> str:
    name = _fresh(unit, base)
    unit[name] = {"class": "slice", "from": src, "axis": "F", "slice_start": start}
    if end is not None:
        unit[name]["slice_end"] = end
    return name


def op_label_column(case: Case, rng: random.Random) -> Result:
    """One label column (EOS) of the scores edited (or all but it) and the scores concatenated back."""
    new, net = _copy(case)
    sites = _site_list(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    if not 0 <= eos < dim:
        return None
    what = rng.choices(["eos", "rest", "eos-step"], [0.45, 0.35, 0.2])[0]
    factor = rng.choice([0.5, 0.8, 1.5, 2.0])
    reward = rng.choice([0.1, 0.2, 0.5])
    if what == "rest":
        expr = f"source(0) * {round(math.exp(reward), 4)}" if is_prob else f"source(0) + {reward}"
        note = f"length reward {reward} on every label but {eos}"
    elif is_prob:
        expr, note = f"source(0) * {factor}", f"EOS column {eos} times {factor}"
    else:
        expr, note = f"source(0) + {round(math.log(factor), 4)}", f"EOS column {eos} plus log {factor}"
    how = f"{rec}: "
    cut = rng.choices(["slice", "gather"], [0.6, 0.4])[0] if what != "rest" else "slice"
    if cut == "slice":
        col = _slice(unit, scores, eos, eos + 1, f"{scores}_eos_col")
        how += f"{col} = {scores}[F {eos}:{eos + 1}]"
    else:
        g = _fresh(unit, f"{scores}_eos")
        unit[g] = {"class": "gather", "from": scores, "axis": "F", "position": eos}
        how += f"{g} = gather({scores}, F, {eos})"
        if rng.random() < 0.8:
            col = _fresh(unit, f"{scores}_eos_col")
            unit[col] = {"class": "expand_dims", "from": g, "axis": "F"}
            how += f", {col} = expand_dims({g}, F)"
        else:
            col = g
            how += " (no expand_dims)"
    parts_before = _slice(unit, scores, 0, eos, f"{scores}_head") if eos > 0 else None
    parts_after = _slice(unit, scores, eos + 1, None, f"{scores}_tail") if eos < dim - 1 else None
    if what == "rest":
        rest = [p for p in (parts_before, parts_after) if p]
        new_rest = []
        for p in rest:
            q = _fresh(unit, f"{p}_rew")
            unit[q] = {"class": "eval", "from": p, "eval": expr}
            new_rest.append(q)
        mapping = dict(zip(rest, new_rest, strict=True))
        parts_before = mapping.get(parts_before, parts_before) if parts_before else None
        parts_after = mapping.get(parts_after, parts_after) if parts_after else None
        how += f", {' and '.join(new_rest)} = {expr} of {' and '.join(rest)}"
    else:
        edited = _fresh(unit, f"{scores}_eos_scaled")
        if what == "eos-step":
            step = rng.choice([0.05, 0.1])
            grow = f"{step} * tf.cast(source(1), tf.float32)"
            step_expr = f"{expr} * (1. + {grow})" if is_prob else f"{expr} + {grow}"
            unit[edited] = {"class": "eval", "from": [col, ":i"], "eval": step_expr}
            note += f", growing by {step} per step :i"
        else:
            unit[edited] = {"class": "eval", "from": col, "eval": expr}
        how += f", {edited} = {note}"
        col = edited
    order = [p for p in (parts_before, col, parts_after) if p]
    if what != "rest" and parts_after and rng.random() < 0.15:
        order = [p for p in (parts_before, parts_after) if p] + [col]
        how += " (EOS column put last)"
    out = _fresh(unit, f"{scores}_rejoined")
    unit[out] = {"class": "copy", "from": order}
    how += f"; {out} = concat of {order}"
    return new, how + "; " + _feed(unit, choice, out, "prob" if is_prob else "log_prob")


# ----------------------------------------------------------------------------------------------------
# kbest-cut


def op_kbest_cut(case: Case, rng: random.Random) -> Result:
    """Only the best k labels (or those within a margin of the best) survive before the choice."""
    new, net = _copy(case)
    sites = _site_list(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    beam = unit[choice].get("beam_size")
    ks = sorted({k for k in (2, 3, beam if isinstance(beam, int) else 4, dim // 2) if 1 <= k < dim})
    if not ks:
        return None
    k = rng.choice(ks)
    form = rng.choices(["topk", "margin", "values", "indices"], [0.55, 0.25, 0.1, 0.1])[0]
    how = f"{rec}: "
    low: float = 0.0 if is_prob and rng.random() < 0.8 else NEG
    tk = _fresh(unit, f"{scores}_topk")
    if form in ("topk", "values", "indices"):
        unit[tk] = {"class": "top_k", "from": scores, "axis": "F", "k": k}
        if form == "topk" and rng.random() < 0.15:
            kc = _fresh(net, "kbest_k")
            net[kc] = {"class": "constant", "value": k}
            unit[tk]["k"] = f"base:{kc}"
            how += f"root {kc} = constant {k}, {tk} = top_k({scores}, F, k=base:{kc})"
        else:
            how += f"{tk} = top_k({scores}, F, k={k})"
        if form == "values":
            return new, how + "; " + _feed(unit, choice, tk, unit[choice].get("input_type", "prob"))
        if form == "indices":
            return new, how + "; " + _feed(unit, choice, f"{tk}/indices", unit[choice].get("input_type", "prob"))
        kth = _fresh(unit, f"{scores}_kth")
        axes = "except_batch" if rng.random() < 0.92 else "T"
        unit[kth] = {"class": "reduce", "mode": "min", "axes": axes, "from": tk}
        how += f", {kth} = min of {tk} over {axes}"
        thr = kth
    else:
        margin = rng.choice([2.0, 5.0, 10.0]) if not is_prob else rng.choice([0.01, 0.05])
        best = _fresh(unit, f"{scores}_best")
        unit[best] = {"class": "reduce", "mode": "max", "axes": "F", "from": scores}
        thr = _fresh(unit, f"{scores}_thr")
        if is_prob:
            unit[thr] = {"class": "eval", "from": best, "eval": f"source(0) * {margin}"}
            how += f"{best} = max of {scores} over F, {thr} = {best} * {margin}"
        else:
            unit[thr] = {"class": "eval", "from": best, "eval": f"source(0) - {margin}"}
            how += f"{best} = max of {scores} over F, {thr} = {best} - {margin}"
    keep = _fresh(unit, f"{scores}_keep")
    unit[keep] = {"class": "compare", "kind": "greater_equal", "from": [scores, thr]}
    out = _fresh(unit, f"{scores}_cut")
    unit[out] = {"class": "switch", "condition": keep, "true_from": scores, "false_from": low}
    how += f", {keep} = {scores} >= {thr}, {out} = switch({keep}, {scores}, {low})"
    return new, how + "; " + _feed(unit, choice, out, "prob" if is_prob else "log_prob")


FRESH91_OPERATORS: tuple[Op, ...] = (
    Op("logit-divide", op_logit_divide, 1),
    Op("unigram-adjust", op_unigram_adjust, 1),
    Op("label-ban", op_label_ban, 1.2),
    Op("label-column", op_label_column, 1),
    Op("kbest-cut", op_kbest_cut, 1),
)
