"""A hundred-and-twelfth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: the choice layer's own scoring options and what users put into them in searching decoders (none a
variant of an earlier operator; no rule was written for any of them): ``random_sample_scale`` (sampling instead
of search) with ``base_beam_score_scale`` and a temperature (``prob_scale``, or a temperature layer fed as
``input_type: "logits"``), ``add_to_beam_scores`` and ``search`` switched per choice, ``length_normalization`` /
``length_normalization_exponent`` moved between the choice and the final ``decide``, and score-producing layers
in front of the choice (a log of the softmax, a scaled label prior subtracted, a log-sum-exp renormalisation)
with the ``input_type`` they are declared as (``"log_prob"``, ``"logits"``, or the old ``"prob"`` left standing).
Not ``beam_size`` / ``keep_beams``, not ``cheating`` / prefix forcing, not ``source_beam_sizes`` / several sources,
not ``scheduled_sampling``; ``custom_score_combine`` is left out, as a callable does not survive the JSON net
(the corpus' placeholder callables are dropped by the oracle's runner). Sources: ``ChoiceLayer.__init__`` (the
search branch: ``length_normalization`` needs ``network.have_rec_step_info()``, ``optional_add`` of
``prob_scale`` / ``base_beam_score_scale`` / ``random_sample_scale`` Gumbel scores, ``_get_scores`` per
``input_type``; the no-search ``add_to_beam_scores`` branch with its ``assert not random_sample_scale`` /
``assert not length_normalization``), ``ChoiceLayer.transform_config_dict`` (``from`` emptied when neither
``search`` nor ``add_to_beam_scores``), ``BaseChoiceLayer.cls_get_search_beam_size`` (a non-searching choice
that adds to the beam scores still owns search choices), ``ChoiceLayer.get_out_data_from_opts``,
``ChoiceLayer.post_process_final_rec_vars_outputs`` and ``DecideLayer.decide(length_normalization=...)`` in the
installed ``returnn/tf/layers/rec.py``, and ``beam_search`` / ``filter_ended_scores`` in
``returnn/tf/util/basic.py``; the RWTH set-ups that set these options: rwth-i6/i6_experiments
``users/gaudino/models/asr/decoder/ctc_decoder.py`` (``CTCDecoder``: ``safe_log`` of the posteriors, a scaled
``ctc_log_prior`` subtracted with ``combine`` ``sub``, the ``reduce`` ``logsumexp`` renormalisation of
``add_norm_layer``, the ``choice`` with ``input_type`` ``"logits" if self.logits else "log_prob"`` and
``length_normalization`` as a flag), the i6_experiments recognition set-ups that sweep
``length_normalization_exponent`` (0.0 "for disabled", 0.5, 1.0, 2.0), and the RETURNN test bases
(``choice-no-length-normalization``, ``choice-search-false-no-lennorm``) that spell the options out.

* ``gumbel-sample``: decoding by sampling instead of search, as the ``random_sample_scale`` docstring suggests
  ("if >0, will add Gumbel scores. you might want to set base_beam_score_scale=0"): a label choice (in a
  searching loop, now and then a root choice) gets ``random_sample_scale`` 0.5 / 1 / 2 and maybe
  ``base_beam_score_scale`` 0 (or 1 spelled out) and ``length_normalization: False``; or first a temperature:
  ``prob_scale`` 1/T, or a temperature layer in front of the choice (an ``eval`` ``log(p) / T`` of a probability
  source, ``source(0) / T`` of a log-prob source) that the choice reads with ``input_type: "logits"``; or the
  way a user who thinks sampling needs the search off writes it: ``search: False`` with the Gumbel scale (and
  maybe ``length_normalization: False``). Targets: the ``random_sample_scale`` / ``base_beam_score_scale`` /
  ``prob_scale`` terms of ``ChoiceLayer.__init__``'s search branch, ``_get_scores`` for ``"logits"``, and the
  ``add_to_beam_scores`` branch's ``assert not random_sample_scale`` / ``assert not length_normalization``
  where the choice does not search but its source carries a beam.
* ``beam-score-accounting``: what a choice adds to the hypothesis score, set per choice as
  ``BaseChoiceLayer``'s docstring describes it ("Without search, we can still add the scores of the
  ground-truth labels to the beam"): a choice of a searching loop (in loops with several choices mostly a later
  one) gets ``search: False`` with ``add_to_beam_scores: True`` spelled out (scores of the reference label, maybe
  weighted by ``prob_scale``, maybe ``length_normalization: False``), ``add_to_beam_scores: False`` on a
  searching choice (the user wants its scores out of the hypothesis score; maybe ``search: True`` spelled out),
  ``search: False`` with ``add_to_beam_scores: False`` (the reference label fed through, the choice's scores
  dropped from its ``from``), or only local scores ranked (``base_beam_score_scale`` 0 or 0.5, maybe a
  ``prob_scale``). Targets: ``ChoiceLayer.transform_config_dict`` (``d["from"] = []``),
  ``BaseChoiceLayer.cls_get_search_beam_size`` / ``_TemplateLayer._has_search_choices`` (a non-searching choice
  that adds scores owns search choices with its own ``beam_size``), the ``add_to_beam_scores`` branch of
  ``ChoiceLayer.__init__`` (``get_search_choices(base_search_choice=self)``, ``assert not length_normalization``)
  and ``get_out_data_from_opts`` (the beam of a non-searching choice is its source's).
* ``norm-at-decision``: length normalisation moved, as users tune it between the search and the final choice of
  the best hypothesis: the choices of a searching loop get ``length_normalization: False`` (sometimes with a
  ``length_normalization_exponent`` left standing) and the root ``decide`` of that loop gets
  ``length_normalization: True`` (a new ``decide`` output layer over the loop where none was there); or one
  choice's ``length_normalization_exponent`` is swept (0.0, 0.5, 0.6, 0.8, 1.2, 2.0), with
  ``length_normalization`` spelled out ``True`` or ``False``; or a root choice (after the loop) gets its length
  normalisation back. Targets: the ``length_normalization`` block of ``ChoiceLayer.__init__``
  (``assert self.network.have_rec_step_info()``, ``get_prev_end_flag(target_search_choices=...)``),
  ``post_process_final_rec_vars_outputs`` and ``DecideLayer.decide`` (``src.output.get_sequence_lengths()``
  reshaped to batch times beam).
* ``prior-corrected-choice``: hybrid-style label-prior correction in front of a searching choice, as
  ``CTCDecoder`` writes it: the log posterior (``activation`` ``safe_log`` of a probability source, the source
  itself for log-probs) minus a scaled log prior (``eval`` ``source(0) * s``, s 0.1 to 1.0; ``combine`` ``sub``),
  maybe renormalised (``reduce`` ``logsumexp`` over ``F`` and ``combine`` ``sub``), read by the choice as
  ``input_type`` ``"log_prob"`` or ``"logits"``, or with the old ``"prob"`` left standing; the prior a trainable
  root ``variable`` (read through ``base:``), a batch prior from the encoder side (a root ``softmax`` over a
  layer the decoder reads, ``reduce`` ``mean`` over ``B`` and ``T``, ``safe_log``), a running average of the
  hypothesis' own posteriors in the loop (``prev:``; only over a score layer with its ``n_out`` spelled out), or,
  where the network has another searching decoder over the same labels that does not read this one, that
  decoder's averaged output distribution (a first-pass prior: its score layer an output layer of its loop,
  ``reduce`` ``mean`` over ``T`` of ``REC/LAYER`` at the root, ``decide``-d first six times in ten, else read
  with the other decoder's beam). Targets:
  ``ChoiceLayer._get_scores`` per ``input_type``, the choice's source checks (``sources[0].output.shape ==
  (dim,)``), and for the first-pass prior the beams met in the second loop (``base:`` of a root layer with the
  first decoder's beam next to the second loop's own).
"""

from __future__ import annotations

import math
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH110_SEED = 20270172
N_FRESH110 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# Helpers


def _where(rec: str | None, name: str) -> str:
    return name if rec is None else f"{rec}/{name}"


def _is_label_choice(desc: dict[str, Any]) -> bool:
    return desc.get("class") == "choice" and desc.get("input_type", "prob") != "regression"


def _label_sites(net: dict[str, Any], *, root: bool) -> list[tuple[str | None, str]]:
    """(rec or None, choice) of the label (non-regression) choices of the searching loops, and of the root
    with ``root``."""
    out: list[tuple[str | None, str]] = []
    if root:
        out += [(None, k) for k in _layers(net) if _is_label_choice(net[k])]
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        out += [(rec, c) for c in _unit_choices(unit) if _is_label_choice(unit[c])]
    return out


def _scope(net: dict[str, Any], rec: str | None) -> dict[str, Any]:
    return net if rec is None else net[rec]["unit"]


def _single_src(layers: dict[str, Any], choice: str) -> str | None:
    """The choice's one source when it is a (non-choice) layer of the same scope, else None."""
    srcs = _sources(layers[choice])
    if len(srcs) != 1 or srcs[0] not in layers or not isinstance(layers[srcs[0]], dict):
        return None
    if layers[srcs[0]].get("class") == "choice":
        return None
    return srcs[0]


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, list) and len(target) == 1:
        target = target[0]
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _later_choices(unit: dict[str, Any]) -> list[str]:
    """Label choices of a loop that read another choice of the same frame (the later ones of a chain)."""
    choices = set(_unit_choices(unit))
    return [c for c in _unit_choices(unit) if _is_label_choice(unit[c]) and _frame_ancestors(unit, c) & (choices - {c})]


# ----------------------------------------------------------------------------------------------------
# gumbel-sample


def op_gumbel_sample(case: Case, rng: random.Random) -> Result:
    """Sampling instead of search: Gumbel scores on a choice, with a temperature or the search switched off."""
    new, net = _copy(case)
    sites = _label_sites(net, root=True)
    if not sites:
        return None
    loop_sites = [s for s in sites if s[0] is not None]
    if loop_sites and rng.random() < 0.9:
        sites = loop_sites
    rec, choice = rng.choice(sites)
    layers = _scope(net, rec)
    desc = layers[choice]
    where = _where(rec, choice)
    form = rng.choices(["gumbel", "temperature", "no-search"], [0.45, 0.3, 0.25])[0]
    if rec is None and form == "no-search":
        form = "gumbel"
    parts: list[str] = []
    if form == "temperature":
        temp = rng.choice([0.5, 0.7, 1.5, 2.0])
        src = _single_src(layers, choice)
        kind = desc.get("input_type", "prob")
        if src is not None and kind in ("prob", "log_prob", "logits") and rng.random() < 0.6:
            name = _fresh(layers, f"{src}_temp")
            if kind == "prob":
                expr = f"tf.math.log(tf.maximum(source(0), 1e-30)) / {temp}"
            else:
                expr = f"source(0) / {temp}"
            layers[name] = {"class": "eval", "from": src, "eval": expr}
            desc["from"] = name
            desc["input_type"] = "logits"
            parts.append(f"temperature layer {_where(rec, name)} = eval {expr!r} of {src} read as input_type "
                         f"'logits' (was {kind!r})")
        else:
            scale = round(1.0 / temp, 3)
            desc["prob_scale"] = scale
            parts.append(f"prob_scale {scale} (temperature {temp})")
    if form == "no-search":
        desc["search"] = False
        parts.append("search: False")
    sample = rng.choice([1.0, 1.0, 0.5, 2.0])
    desc["random_sample_scale"] = sample
    parts.append(f"random_sample_scale {sample}")
    base = rng.choice([0.0, 0.0, 1.0, None])
    if base is not None:
        desc["base_beam_score_scale"] = base
        parts.append(f"base_beam_score_scale {base}")
    if rng.random() < (0.5 if form == "no-search" else 0.35) and desc.get("length_normalization", True) is not False:
        desc["length_normalization"] = False
        parts.append("length_normalization: False")
    return new, f"sample with {where} ({form}): " + ", ".join(parts)


# ----------------------------------------------------------------------------------------------------
# beam-score-accounting


def op_beam_score_accounting(case: Case, rng: random.Random) -> Result:
    """``search`` / ``add_to_beam_scores`` / ``base_beam_score_scale`` set per choice of a searching loop."""
    new, net = _copy(case)
    sites = _label_sites(net, root=False)
    if not sites:
        return None
    later = [(r, c) for r in sorted({r for r, _ in sites if r is not None})
             for c in _later_choices(net[r]["unit"])]
    if later and rng.random() < 0.7:
        sites = later
    rec, choice = rng.choice(sites)
    unit = _scope(net, rec)
    desc = unit[choice]
    where = _where(rec, choice)
    form = rng.choices(["score-only", "no-accumulate", "label-feed", "local-scores"], [0.35, 0.25, 0.2, 0.2])[0]
    parts: list[str] = []
    if form == "score-only":
        desc["search"] = False
        desc["add_to_beam_scores"] = True
        parts.append("search: False, add_to_beam_scores: True (the reference label's scores added)")
        if rng.random() < 0.3:
            scale = rng.choice([0.3, 0.5, 2.0])
            desc["prob_scale"] = scale
            parts.append(f"prob_scale {scale}")
        if rng.random() < 0.5 and desc.get("length_normalization", True) is not False:
            desc["length_normalization"] = False
            parts.append("length_normalization: False")
    elif form == "no-accumulate":
        desc["add_to_beam_scores"] = False
        parts.append("add_to_beam_scores: False")
        if rng.random() < 0.3:
            desc["search"] = True
            parts.append("search: True")
        if rng.random() < 0.3:
            desc["length_normalization"] = False
            parts.append("length_normalization: False")
    elif form == "label-feed":
        desc["search"] = False
        desc["add_to_beam_scores"] = False
        parts.append("search: False, add_to_beam_scores: False (the reference label fed through)")
    else:
        base = rng.choice([0.0, 0.0, 0.5])
        desc["base_beam_score_scale"] = base
        parts.append(f"base_beam_score_scale {base}")
        if rng.random() < 0.4:
            scale = rng.choice([0.5, 0.8, 1.5])
            desc["prob_scale"] = scale
            parts.append(f"prob_scale {scale}")
    n = len(_unit_choices(unit))
    return new, f"{where} ({form}, one of {n} choice(s) in the loop): " + ", ".join(parts)


# ----------------------------------------------------------------------------------------------------
# norm-at-decision


def _decides_of(net: dict[str, Any], rec: str) -> list[str]:
    out = []
    for k in _layers(net):
        if net[k].get("class") != "decide":
            continue
        if any(s == rec or s.startswith(f"{rec}/") for s in _sources(net[k])):
            out.append(k)
    return out


def op_norm_at_decision(case: Case, rng: random.Random) -> Result:
    """Length normalisation moved between the choices of a loop and the root ``decide``, or its exponent swept."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if any(_is_label_choice(net[r]["unit"][c])
                                                     for c in _unit_choices(net[r]["unit"]))]
    roots = [k for k in _layers(net) if _is_label_choice(net[k])
             and net[k].get("length_normalization", True) is False]
    forms = (["move", "exponent", "root-choice"], [0.5, 0.35, 0.15 if roots else 0.0])
    if not recs:
        if not roots:
            return None
        form = "root-choice"
    else:
        form = rng.choices(*forms)[0]
    if form == "root-choice":
        name = rng.choice(roots)
        desc = net[name]
        desc.pop("length_normalization", None)
        how = f"root choice {name}: length_normalization back to its default (True)"
        if rng.random() < 0.5:
            desc["length_normalization"] = True
            how = f"root choice {name}: length_normalization: True"
        if rng.random() < 0.4:
            exp = rng.choice([0.5, 1.0, 2.0])
            desc["length_normalization_exponent"] = exp
            how += f", length_normalization_exponent {exp}"
        return new, how
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    choices = [c for c in _unit_choices(unit) if _is_label_choice(unit[c])]
    if form == "exponent":
        choice = rng.choice(choices)
        desc = unit[choice]
        exp = rng.choice([0.0, 0.5, 0.6, 0.8, 1.2, 2.0])
        desc["length_normalization_exponent"] = exp
        how = f"{rec}/{choice}: length_normalization_exponent {exp}"
        r = rng.random()
        if r < 0.25:
            desc["length_normalization"] = False
            how += ", length_normalization: False"
        elif r < 0.5:
            desc["length_normalization"] = True
            how += ", length_normalization: True"
        return new, how
    left = None
    for c in choices:
        unit[c]["length_normalization"] = False
    if rng.random() < 0.3:
        left = rng.choice([0.6, 1.0, 2.0])
        unit[rng.choice(choices)]["length_normalization_exponent"] = left
    decides = _decides_of(net, rec)
    if decides and rng.random() < 0.8:
        for d in decides:
            net[d]["length_normalization"] = True
        where = f"the root decide(s) {', '.join(decides)}"
    else:
        dec = _fresh(net, f"{rec}_best")
        net[dec] = {"class": "decide", "from": rec, "length_normalization": True, "is_output_layer": True}
        where = f"a new root decide {dec} over {rec} (an output layer)"
    how = f"{rec}: length_normalization: False on {', '.join(choices)}"
    if left is not None:
        how += f" (a length_normalization_exponent {left} left standing)"
    return new, how + f"; length_normalization: True on {where}"


# ----------------------------------------------------------------------------------------------------
# prior-corrected-choice


def _prior_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    """(rec, choice, score layer, input_type, vocabulary size) of one-source prob / log-prob loop choices."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            if not _is_label_choice(desc):
                continue
            kind = desc.get("input_type", "prob")
            src = _single_src(unit, c)
            dim = _target_dim(case, _data_target(desc))
            if src is None or kind not in ("prob", "log_prob") or not isinstance(dim, int):
                continue
            out.append((rec, c, src, kind, dim))
    return out


def _encoder_side(net: dict[str, Any], rec: str) -> str:
    """A root layer the decoder reads through ``base:`` that carries no beam and is a frame-wise layer, else data."""
    beamed = _beamed_roots(net)
    found = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        for s in _sources(desc):
            if not s.startswith("base:"):
                continue
            name = s[len("base:"):].split("/", 1)[0]
            layer = net.get(name)
            if not isinstance(layer, dict) or name in beamed:
                continue
            if layer.get("class") in ("linear", "copy", "softmax", "activation", "layer_norm", "dropout") or (
                    layer.get("class") == "rec" and isinstance(layer.get("unit"), str)):
                found.add(name)
    return min(found) if found else "data"


def op_prior_corrected_choice(case: Case, rng: random.Random) -> Result:
    """A scaled label prior subtracted from the log posterior in front of a searching choice."""
    new, net = _copy(case)
    sites = _prior_sites(case, net)
    if not sites:
        return None
    rec, choice, src, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    first_pass = []
    for other in _searching_recs(net):
        if other == rec or rec in _root_ancestors(net, other) | {other}:
            continue
        for orec, oc, osrc, okind, odim in _prior_sites(case, net):
            if orec == other and odim == dim:
                first_pass.append((orec, oc, osrc, okind))
    # the running average carries a ``prev:`` of its own: only over a score layer whose size is spelled out
    sized = isinstance(unit[src].get("n_out"), int)
    weights = [0.3, 0.3, 0.15 if sized else 0.0, 0.45 if first_pass else 0.0]
    form = rng.choices(["variable", "encoder", "running", "first-pass"], weights)[0]
    parts: list[str] = []
    # the log posterior
    if kind == "prob":
        log_post = _fresh(unit, f"{src}_log")
        unit[log_post] = {"class": "activation", "activation": "safe_log", "from": src}
        parts.append(f"{log_post} = safe_log({src})")
    else:
        log_post = src
    # the log prior
    if form == "variable":
        prior = _fresh(net, f"{choice}_log_prior")
        net[prior] = {"class": "variable", "from": [], "shape": [dim], "add_batch_axis": False,
                      "init": round(-math.log(dim), 4)}
        prior_ref = f"base:{prior}"
        parts.append(f"root {prior} a trainable variable [{dim}] (init -log {dim})")
    elif form == "encoder":
        enc = _encoder_side(net, rec)
        post = _fresh(net, f"{choice}_enc_posterior")
        net[post] = {"class": "linear", "activation": "softmax", "from": enc, "n_out": dim}
        avg = _fresh(net, f"{choice}_batch_prior")
        net[avg] = {"class": "reduce", "mode": "mean", "axes": ["B", "T"], "from": post}
        prior = _fresh(net, f"{choice}_log_prior")
        net[prior] = {"class": "activation", "activation": "safe_log", "from": avg}
        prior_ref = f"base:{prior}"
        parts.append(f"root {prior} = safe_log(mean over B, T of softmax over {enc})")
    elif form == "running":
        if kind == "prob":
            prob = src
        else:
            prob = _fresh(unit, f"{src}_exp")
            unit[prob] = {"class": "activation", "activation": "exp", "from": src}
        avg = _fresh(unit, f"{choice}_post_avg")
        unit[avg] = {"class": "eval", "from": [f"prev:{avg}", prob], "eval": "0.9 * source(0) + 0.1 * source(1)",
                     "initial_output": 0}
        prior = _fresh(unit, f"{choice}_log_prior")
        unit[prior] = {"class": "activation", "activation": "safe_log", "from": avg}
        prior_ref = prior
        parts.append(f"{prior} = safe_log of {avg}, a running average (prev:) of the hypothesis' posteriors")
    else:
        orec, ochoice, osrc, okind = rng.choice(sorted(first_pass))
        net[orec]["unit"][osrc]["is_output_layer"] = True
        avg = _fresh(net, f"{orec}_{osrc}_avg")
        net[avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": f"{orec}/{osrc}"}
        read = avg
        how = f"mean over T of {orec}/{osrc}"
        if rng.random() < 0.6:
            dec = _fresh(net, f"{avg}_decided")
            net[dec] = {"class": "decide", "from": avg}
            read = dec
            how = f"decide of the {how}"
        prior = _fresh(net, f"{orec}_log_prior")
        if okind == "prob":
            net[prior] = {"class": "activation", "activation": "safe_log", "from": read}
            how = f"safe_log({how})"
        else:
            net[prior] = {"class": "copy", "from": read}
        prior_ref = f"base:{prior}"
        parts.append(f"root {prior} = {how} (the other decoder's output distribution, {orec}/{osrc} made an "
                     f"output layer of {orec})")
    scale = rng.choice([0.1, 0.2, 0.3, 0.5, 1.0])
    scaled = _fresh(unit, f"{choice}_prior_scaled")
    unit[scaled] = {"class": "eval", "from": prior_ref, "eval": f"source(0) * {scale}"}
    corrected = _fresh(unit, f"{choice}_prior_corrected")
    unit[corrected] = {"class": "combine", "kind": "sub", "from": [log_post, scaled]}
    parts.append(f"{corrected} = {log_post} - {scale} * {prior_ref}")
    feed = corrected
    renorm = rng.random() < 0.35
    if renorm:
        lse = _fresh(unit, f"{corrected}_norm")
        unit[lse] = {"class": "reduce", "mode": "logsumexp", "from": corrected, "axis": "f"}
        feed = _fresh(unit, f"{corrected}_renorm")
        unit[feed] = {"class": "combine", "kind": "sub", "from": [corrected, lse]}
        parts.append(f"renormalised ({feed} = {corrected} - logsumexp)")
        input_type = "log_prob"
    else:
        input_type = rng.choices(["log_prob", "logits", kind], [0.4, 0.35, 0.25])[0]
    unit[choice]["from"] = feed
    if input_type == "prob":
        parts.append("input_type 'prob' left standing")
    else:
        unit[choice]["input_type"] = input_type
        parts.append(f"input_type {input_type!r} (was {kind!r})")
    return new, f"{rec}/{choice} ({form} prior): " + "; ".join(parts)


FRESH110_OPERATORS: tuple[Op, ...] = (
    Op("gumbel-sample", op_gumbel_sample, 1),
    Op("beam-score-accounting", op_beam_score_accounting, 1.2),
    Op("norm-at-decision", op_norm_at_decision, 0.7),
    Op("prior-corrected-choice", op_prior_corrected_choice, 1),
)
