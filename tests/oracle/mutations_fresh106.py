"""A hundred-and-eighth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Repetition control and label-history penalties in searching decoders: no-repeat n-gram blocking (masking
labels that would repeat an n-gram of the hypothesis so far), repetition penalties (counting earlier occurrences of
each label in the hypothesis history, accumulated with ``cum_concat`` of the chosen labels or a running count
carried through ``prev:``), coverage penalties from accumulated attention weights, and end-of-sequence penalties
that depend on the history, all applied to the scores before the choice (or as a second score layer). Sources:
the RETURNN layers users build histories with, read in the installed ``returnn/tf/layers/rec.py`` and
``basic.py`` (``CumConcatLayer``: batch-major ``[B, t+1, ...]`` inside the loop, its ``"state"`` rec var, its
``out_spatial_dim`` shared by several histories as returnn_common's self-attention shares it for keys and values;
``ReduceLayer``, ``CompareLayer``, ``RangeInAxisLayer`` with ``axis: "sparse_dim"``, ``CastLayer``,
``ScatterNdLayer``, ``CombineLayer`` / ``EvalLayer`` with ``source(i, auto_convert=False)``, ``SwitchLayer``,
``ChoiceGetBeamScoresLayer``), RETURNN's ``test_CumConcatLayer_search`` (``tests/test_TFNetworkRecLayer.py``:
``cum_concat`` with an ``out_spatial_dim`` in a searching loop, reduced by that dim) and public decoding set-ups
written as RETURNN layers: fairseq's ``no_repeat_ngram_size`` / ``NGramRepeatBlock``, the CTRL repetition penalty
(Keskar et al. 2019, Hugging Face ``repetition_penalty``), frequency / presence penalties, the GNMT coverage
penalty (Wu et al. 2016) and OpenNMT-py's ``PenaltyBuilder`` (``coverage_wu`` / ``coverage_summary``, applied per
step as a difference). One-hot vectors of a label are written in one of two ways users write them: an ``eval`` of
``tf.one_hot(source(1, auto_convert=False), V, dtype=source(0).dtype)`` over ``[SCORES, LABEL]`` (the scores give
the template), or ``cast`` of a ``compare`` ``equal`` of ``range_in_axis`` (``axis: "sparse_dim"`` of the label)
with the label (``allow_broadcast_all_sources``). Most histories come in a "pre-choice" form (the history of
``prev:CHOICE``, the penalty read in the same frame) and a "post-choice" form (the history of this frame's
``CHOICE``, the penalty read through ``prev:`` in the next frame); now and then the history is the teacher-forced
target (``data:TARGET``) copied from a training set-up (unlikelihood training, Welleck et al. 2019, takes its
negative candidates from the ground-truth prefix). None a variant of an earlier operator; no rule was written for
any of them:

* ``no-repeat-ngram``: fairseq-style n-gram blocking (n 1, 2 or 3) before a label choice: the one-hot labels of
  the stream accumulated by ``cum_concat`` (``out_spatial_dim`` a new dim), the n-1 context labels of every
  earlier frame kept by more ``cum_concat`` layers (the same dim) of lagged ``copy`` layers (``prev:LAST``,
  ``initial_output`` 0), compared (``compare`` ``equal``, ``combine`` ``logical_and``) with the hypothesis' last
  n-1 labels, the matching frames' labels picked by ``combine`` ``mul`` and ``reduce`` ``max`` / ``sum`` over the
  history dim (for n 1: every label of the history); the banned labels get probability 0 / log-score -1e30
  (``eval`` with ``tf.where``) in the layer the choice reads, or a -1e9 log-penalty layer is added to the
  log-scores as a second score layer (``combine`` ``add``, the choice switched to ``log_prob``). Targets:
  ``CumConcatLayer`` inside a searching loop (its ``"state"`` rec var re-selected by the choice's source beams, its
  dim's size per beam), ``prev:`` of layers after the choice, ``SearchChoices.translate_to_common_search_beam`` in
  ``compare`` / ``combine`` over frames of different choices, and the ``ChoiceLayer`` checks on its new source.
* ``history-repeat-penalty``: a repetition penalty from the label history of the hypothesis: the count of every
  label so far, ``reduce`` ``sum`` (or ``max``) over a ``cum_concat`` of one-hot labels, or ``scatter_nd`` of
  weights (``cast`` of the history ``!=`` EOS) at the positions of a ``cum_concat`` of ``prev:`` of a copy of the
  choice (``position_axis`` the history dim, ``out_spatial_dim`` a vocabulary dim, duplicates summed); applied as
  the CTRL penalty (probabilities of seen labels divided by theta, log-scores multiplied by theta), as frequency /
  presence penalties (``- a * count - b * min(count, 1)``), or as a second log-score layer added before the
  choice. Where another searching decoder over the same vocabulary runs before (two-pass / deliberation set-ups),
  half the time the history is that first pass instead: its output (the ``decide`` of it where the base has one,
  else the beamed rec layer itself) turned one-hot at the root, summed over ``T``, read through ``base:``.
  Targets: ``ScatterNdLayer`` / ``ReduceLayer`` over the ``cum_concat`` dim in search, beam re-selection of the
  history between frames, and a loop layer reading a root layer that carries another decoder's beam.
* ``repeat-count-carry``: the same counts carried as a loop state instead of a history: ``count = prev:count +
  one_hot(label)`` (``combine`` ``add``, or an ``eval`` ``gamma * source(0) + source(1)`` of a decayed count;
  ``initial_output`` 0), penalising (frequency penalty, a hard ban of labels seen K times, or a second score
  layer); now and then the count is marked an output layer and read after the loop at the root (``decide`` of
  ``REC/count``, or a ``reduce`` ``max`` over ``T`` and ``F`` of the beamed accumulated counts). Targets: ``prev:``
  state re-selection in ``_SubnetworkRecCell``, a state that reads this frame's choice, and at the root the
  accumulated beamed loop output (``DecideLayer``, search-choice resolution of a root layer reading a loop
  sub-layer).
* ``coverage-penalty``: the GNMT / OpenNMT coverage penalty from the attention weights of a decoder that attends to
  its encoder (a ``softmax_over_spatial`` fed in the same frame by a ``base:`` layer): the coverage (``combine``
  ``add`` of ``prev:cov`` and the weights, or the decoder's own accumulated weights where it has them), its term
  (``log(min(cov, 1))`` as in ``coverage_wu`` or ``max(cov, 1) - 1`` as in ``coverage_summary``) summed over all
  but the batch axis; applied on the EOS label only (the GNMT end-of-hypothesis penalty), on all labels every
  frame, as the per-step difference ``cp - prev:cp`` (OpenNMT), or as a second score layer; or (a fifth of the
  time) after the loop: the weights marked an output layer of the loop, the coverage summed over the decoder
  frames at the root and added to the beam scores (``choice_get_beam_scores``) for n-best rescoring. Targets: a
  ``prev:`` state from the attention path, ``ReduceLayer`` with masked encoder time, and at the root the beam
  scores combined with a beamed loop output.
* ``eos-history-penalty``: the end-of-sequence score made dependent on the history: EOS boosted when the last two
  labels repeat (``compare`` of ``prev:CHOICE`` with a lagged copy, or of ``CHOICE`` with ``prev:CHOICE`` read
  through ``prev:``) or when the last bigram occurred before in the hypothesis (two lagged ``cum_concat``
  histories of the same dim compared, ``reduce`` ``max`` over the history dim), or EOS suppressed while the
  hypothesis has fewer than k distinct labels (``reduce`` ``max`` over a ``cum_concat`` of one-hot labels,
  ``reduce`` ``sum`` over ``F``, ``compare`` ``less``); written as an ``eval`` on the scores, as a ``switch``
  between the scores and an EOS-adjusted copy (``condition`` a history layer or its ``prev:``), or as a second
  score layer (an EOS-only log-score vector, an ``eval`` over ``[SCORES, CONDITION]``). Targets: ``SwitchLayer`` /
  ``EvalLayer`` over layers of different frames' beams (``select_if_needed`` of the non-``from`` options), the
  ``ChoiceLayer`` source checks, and the ``prev:`` resolution of post-choice layers.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH106_SEED = 20270168
N_FRESH106 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# shared helpers


@dataclass(frozen=True)
class _Site:
    """A label choice of a searching loop and the scores it reads."""

    rec: str
    choice: str
    scores: str  # the one reference the choice reads (a loop layer, ``prev:X``, ``data:X``)
    kind: str  # "prob" or "log_prob"
    dim: int
    target: str
    eos: int


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _sites(case: Case, net: dict[str, Any]) -> list[_Site]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            desc = unit[choice]
            kind = desc.get("input_type", "prob")
            if kind not in ("prob", "log_prob") or desc.get("search", True) is False:
                continue
            target = _data_target(desc)
            srcs = desc.get("from")
            if isinstance(srcs, list):
                srcs = srcs[0] if len(srcs) == 1 else None
            if target is None or not isinstance(srcs, str):
                continue
            dim = _target_dim(case, target)
            if not isinstance(dim, int) or dim < 2:
                continue
            out.append(_Site(rec, choice, srcs, kind, dim, target, _eos(unit, choice)))
    return out


def _safe(ref: str) -> str:
    return ref.replace("prev:", "prev_").replace("data:", "data_").replace("base:", "").replace("/", "_")


def _stream(site: _Site, post: bool, rng: random.Random, teacher_p: float) -> tuple[str, str]:
    """The label stream the history is built of: this frame's choice (post), the previous one (pre), or, now
    and then in the pre form, the teacher-forced target of a training set-up."""
    if post:
        return site.choice, f"this frame's {site.choice} (post-choice)"
    if rng.random() < teacher_p:
        return f"data:{site.target}", f"data:{site.target} (teacher-forced history left from training)"
    return f"prev:{site.choice}", f"prev:{site.choice} (pre-choice)"


def _hist_dim(description: str) -> dict[str, Any]:
    return {"__dim__": {"description": description, "dimension": None, "kind": "spatial"}}


def _onehot(unit: dict[str, Any], site: _Site, src: str, base: str, rng: random.Random) -> tuple[str, str]:
    """A one-hot float vector over the vocabulary of the label ``src``: an ``eval`` of ``tf.one_hot`` that takes
    its template from the choice's scores, or ``compare`` of a ``range_in_axis`` over the label's
    ``sparse_dim`` with the label, ``cast`` to float."""
    name = _fresh(unit, base)
    if rng.random() < 0.5:
        unit[name] = {"class": "eval", "from": [site.scores, src],
                      "eval": f"tf.one_hot(source(1, auto_convert=False), {site.dim}, dtype=source(0).dtype)"}
        return name, f"{name} = tf.one_hot({src}) (eval, template {site.scores})"
    rng_name = _fresh(unit, f"{base}_range")
    unit[rng_name] = {"class": "range_in_axis", "from": src, "axis": "sparse_dim"}
    eq = _fresh(unit, f"{base}_eq")
    unit[eq] = {"class": "compare", "kind": "equal", "from": [rng_name, src], "allow_broadcast_all_sources": True}
    unit[name] = {"class": "cast", "from": eq, "dtype": "float32"}
    return name, f"{name} = cast({rng_name} == {src}), {rng_name} = range_in_axis({src}, sparse_dim)"


def _cum(unit: dict[str, Any], src: str, base: str, dim: dict[str, Any]) -> str:
    name = _fresh(unit, base)
    unit[name] = {"class": "cum_concat", "from": src, "out_spatial_dim": copy.deepcopy(dim)}
    return name


def _penalize(unit: dict[str, Any], site: _Site, srcs: list[str], prob_expr: str, logp_expr: str,
              base: str) -> str:
    """An ``eval`` over ``[scores, *srcs]`` that the choice reads instead of its scores."""
    name = _fresh(unit, base)
    unit[name] = {"class": "eval", "from": [site.scores, *srcs],
                  "eval": prob_expr if site.kind == "prob" else logp_expr}
    unit[site.choice]["from"] = name
    return name


def _second_score(unit: dict[str, Any], site: _Site, pen: str, base: str) -> str:
    """The choice reads ``log(scores) + pen`` (a second, log-domain score layer) with ``input_type`` log_prob."""
    if site.kind == "prob":
        logp = _fresh(unit, f"{_safe(site.scores)}_log")
        unit[logp] = {"class": "activation", "activation": "safe_log", "from": site.scores}
        unit[site.choice]["input_type"] = "log_prob"
        how = f"{logp} = safe_log({site.scores}), "
    else:
        logp = site.scores
        how = ""
    comb = _fresh(unit, base)
    unit[comb] = {"class": "combine", "kind": "add", "from": [logp, pen]}
    unit[site.choice]["from"] = comb
    return f"{how}{site.choice} reads {comb} = {logp} + {pen} (log_prob)"


def _lags(unit: dict[str, Any], stream: str, n: int, prefix: str) -> list[str]:
    """Lagged copies of the stream: LAST1 = copy(stream), LAST2 = copy(prev:LAST1), ...; ``n`` of them."""
    out = []
    src = stream
    for k in range(1, n + 1):
        name = _fresh(unit, f"{prefix}_last{k}")
        unit[name] = {"class": "copy", "from": src, "initial_output": 0}
        out.append(name)
        src = f"prev:{name}"
    return out


# ----------------------------------------------------------------------------------------------------
# no-repeat-ngram


def op_no_repeat_ngram(case: Case, rng: random.Random) -> Result:
    """fairseq-style n-gram blocking written with ``cum_concat`` histories before a label choice."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    site = rng.choice(sites)
    unit = net[site.rec]["unit"]
    n = rng.choices([1, 2, 3], [0.25, 0.5, 0.25])[0]
    post = rng.random() < (0.6 if n == 1 else 0.35)
    stream, how_stream = _stream(site, post, rng, 0.15)
    hist_name = _fresh(unit, "ngram_hist")
    dim = _hist_dim(f"{hist_name}-time")
    onehot, how_1hot = _onehot(unit, site, stream, "ngram_label_1hot", rng)
    hist = _cum(unit, onehot, hist_name, dim)
    if n == 1:
        banned = _fresh(unit, "ngram_banned")
        unit[banned] = {"class": "reduce", "mode": "max", "from": hist, "axis": copy.deepcopy(dim)}
        how = f"{banned} = every label of {hist}"
    else:
        lags = _lags(unit, stream, n - 1, "ngram")
        # C_k[j] = s_{j-k}, compared with the k-th last label of the hypothesis (stream, prev:LAST1, ...)
        matches = []
        for k in range(1, n):
            ctx = _cum(unit, f"prev:{lags[k - 1]}", f"ngram_ctx{k}", dim)
            cur = stream if k == 1 else f"prev:{lags[k - 2]}"
            m = _fresh(unit, f"ngram_match{k}")
            unit[m] = {"class": "compare", "kind": "equal", "from": [ctx, cur]}
            matches.append(m)
        if len(matches) > 1:
            match = _fresh(unit, "ngram_match")
            unit[match] = {"class": "combine", "kind": "logical_and", "from": matches}
        else:
            match = matches[0]
        match_f = _fresh(unit, "ngram_match_float")
        unit[match_f] = {"class": "cast", "from": match, "dtype": "float32"}
        sel = _fresh(unit, "ngram_next")
        unit[sel] = {"class": "combine", "kind": "mul", "from": [hist, match_f]}
        banned = _fresh(unit, "ngram_banned")
        mode = rng.choice(["max", "sum"])
        unit[banned] = {"class": "reduce", "mode": mode, "from": sel, "axis": copy.deepcopy(dim)}
        how = (f"{banned} = {mode} over {hist} where the {n - 1} context label(s) "
               f"({', '.join(matches)}) repeat")
    ref = f"prev:{banned}" if post else banned
    if rng.random() < 0.7:
        name = _penalize(unit, site, [ref],
                         "tf.where(tf.greater(source(1), 0.), tf.zeros_like(source(0)), source(0))",
                         "tf.where(tf.greater(source(1), 0.), -1e30 * tf.ones_like(source(0)), source(0))",
                         f"{_safe(site.scores)}_no_repeat")
        apply = f"{site.choice} reads {name} = {site.scores} with the labels of {ref} masked ({site.kind})"
    else:
        pen = _fresh(unit, "ngram_penalty")
        unit[pen] = {"class": "eval", "from": ref, "eval": "-1e9 * tf.minimum(source(0), 1.)"}
        apply = _second_score(unit, site, pen, f"{_safe(site.scores)}_blocked")
    return new, (f"{site.rec}: no-repeat {n}-gram blocking on {site.choice} from the history of {how_stream}: "
                 f"{how_1hot}, {hist} = cum_concat({onehot}), {how}; {apply}")


# ----------------------------------------------------------------------------------------------------
# history-repeat-penalty


def _penalty_exprs(form: str, rng: random.Random) -> tuple[str, str, str]:
    """(prob expression, log_prob expression, description) of a penalty of ``source(0)`` by counts ``source(1)``."""
    if form == "ctrl":
        theta = rng.choice([1.2, 1.5, 2.0])
        return (f"tf.where(tf.greater(source(1), 0.), source(0) / {theta}, source(0))",
                f"tf.where(tf.greater(source(1), 0.), source(0) * {theta}, source(0))",
                f"CTRL penalty theta {theta}")
    a = rng.choice([0.1, 0.5, 1.0])
    b = rng.choice([0.0, 0.5])
    return (f"source(0) * tf.exp(-{a} * source(1) - {b} * tf.minimum(source(1), 1.))",
            f"source(0) - {a} * source(1) - {b} * tf.minimum(source(1), 1.)",
            f"frequency penalty {a}, presence penalty {b}")


def _first_passes(case: Case, net: dict[str, Any], site: _Site) -> list[str]:
    """Other searching decoders at the root over the same vocabulary that do not read ``site.rec``."""
    out = []
    for other in _searching_recs(net):
        if other == site.rec or site.rec in _root_ancestors(net, other) | {other}:
            continue
        unit = net[other]["unit"]
        dims = {_target_dim(case, _data_target(unit[c])) for c in _unit_choices(unit)}
        if dims == {site.dim}:
            out.append(other)
    return out


def _first_pass_counts(net: dict[str, Any], site: _Site, other: str, rng: random.Random) -> tuple[str, str]:
    """Root layers counting the labels of a first-pass decoder's output (decided or beamed): the count layer."""
    decided = [k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") in (other, [other])]
    src = rng.choice(decided) if decided and rng.random() < 0.5 else other
    rng_name = _fresh(net, f"{other}_vocab_range")
    net[rng_name] = {"class": "range_in_axis", "from": src, "axis": "sparse_dim"}
    eq = _fresh(net, f"{other}_label_eq")
    net[eq] = {"class": "compare", "kind": "equal", "from": [rng_name, src], "allow_broadcast_all_sources": True}
    onehot = _fresh(net, f"{other}_label_1hot")
    net[onehot] = {"class": "cast", "from": eq, "dtype": "float32"}
    count = _fresh(net, f"{other}_label_count")
    net[count] = {"class": "reduce", "mode": "sum", "from": onehot, "axis": "T"}
    what = "decided" if src != other else "beamed, not decided"
    return count, (f"root {count} = sum over T of one-hot labels of {src} (the first pass {other}, {what}), "
                   f"read as base:{count}")


def op_history_repeat_penalty(case: Case, rng: random.Random) -> Result:
    """A repetition penalty from label counts over the hypothesis' ``cum_concat`` history (or a first pass)."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    site = rng.choice(sites)
    unit = net[site.rec]["unit"]
    others = _first_passes(new, net, site)
    if others and rng.random() < 0.5:
        count, how = _first_pass_counts(net, site, rng.choice(others), rng)
        prob_expr, logp_expr, what = _penalty_exprs(rng.choice(["ctrl", "freq"]), rng)
        name = _penalize(unit, site, [f"base:{count}"], prob_expr, logp_expr, f"{_safe(site.scores)}_rep")
        return new, (f"{site.rec}: repetition penalty on {site.choice} against a first pass: {how}; "
                     f"{site.choice} reads {name} = {site.scores} with the {what} by base:{count} ({site.kind})")
    scatter = rng.random() < 0.4
    post = not scatter and rng.random() < 0.4
    if scatter:
        stream, how_stream = site.choice, f"{site.choice} (kept by a copy, its history read through prev:)"
    else:
        stream, how_stream = _stream(site, post, rng, 0.15)
    hist_name = _fresh(unit, "rep_hist")
    dim = _hist_dim(f"{hist_name}-time")
    count = _fresh(unit, "rep_count")
    if not scatter:
        onehot, how_1hot = _onehot(unit, site, stream, "rep_label_1hot", rng)
        hist = _cum(unit, onehot, hist_name, dim)
        mode = rng.choices(["sum", "max"], [0.7, 0.3])[0]
        unit[count] = {"class": "reduce", "mode": mode, "from": hist, "axis": copy.deepcopy(dim)}
        how = f"{how_1hot}, {hist} = cum_concat({onehot}), {count} = reduce {mode} over {hist}"
    else:
        # the labels before this frame: a copy of the choice, its history of prev: values (the initial 0 left
        # out by the weight), so that the scores read the count in the same frame
        label = _fresh(unit, "rep_label")
        unit[label] = {"class": "copy", "from": stream, "initial_output": 0}
        hist = _cum(unit, f"prev:{label}", hist_name, dim)
        valid = _fresh(unit, "rep_valid")
        unit[valid] = {"class": "compare", "kind": "not_equal", "from": hist, "value": site.eos}
        ones = _fresh(unit, "rep_weight")
        unit[ones] = {"class": "cast", "from": valid, "dtype": "float32"}
        vocab = {"__dim__": {"description": f"{count}-vocab", "dimension": site.dim, "kind": "feature"}}
        unit[count] = {"class": "scatter_nd", "from": ones, "position": hist, "position_axis": copy.deepcopy(dim),
                       "out_spatial_dim": vocab}
        how = (f"{hist} = cum_concat(prev:{label}), {label} = copy({stream}), {count} = scatter_nd of {ones} "
               f"({hist} != EOS {site.eos}, as float) at the positions {hist} into a vocabulary dim")
    ref = f"prev:{count}" if post else count
    form = rng.choices(["ctrl", "freq", "second"], [0.35, 0.35, 0.3])[0]
    if form == "second":
        a = rng.choice([0.2, 0.5, 1.0])
        pen = _fresh(unit, "rep_penalty")
        unit[pen] = {"class": "eval", "from": ref, "eval": f"-{a} * source(0)"}
        apply = f"{pen} = -{a} * {ref}; " + _second_score(unit, site, pen, f"{_safe(site.scores)}_rep")
    else:
        prob_expr, logp_expr, what = _penalty_exprs(form, rng)
        name = _penalize(unit, site, [ref], prob_expr, logp_expr, f"{_safe(site.scores)}_rep")
        apply = f"{site.choice} reads {name} = {site.scores} with the {what} by {ref} ({site.kind})"
    return new, f"{site.rec}: repetition penalty on {site.choice} from the history of {how_stream}: {how}; {apply}"


# ----------------------------------------------------------------------------------------------------
# repeat-count-carry


def op_repeat_count_carry(case: Case, rng: random.Random) -> Result:
    """Label counts carried through ``prev:`` as a loop state and penalised before the choice."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    site = rng.choice(sites)
    rec = site.rec
    unit = net[rec]["unit"]
    post = rng.random() < 0.45
    stream, how_stream = _stream(site, post, rng, 0.08)
    count = _fresh(unit, "label_count")
    gamma = rng.choice([None, None, 0.9, 0.5])
    onehot, how_1hot = _onehot(unit, site, stream, "count_label_1hot", rng)
    if gamma is None:
        unit[count] = {"class": "combine", "kind": "add", "from": [f"prev:{count}", onehot], "initial_output": 0}
        how = f"{how_1hot}, {count} = prev:{count} + {onehot}"
    else:
        unit[count] = {"class": "eval", "from": [f"prev:{count}", onehot],
                       "eval": f"{gamma} * source(0) + source(1)", "initial_output": 0}
        how = f"{how_1hot}, {count} = {gamma} * prev:{count} + {onehot}"
    ref = f"prev:{count}" if post else count
    form = rng.choices(["freq", "ban", "second"], [0.4, 0.3, 0.3])[0]
    if form == "freq":
        prob_expr, logp_expr, what = _penalty_exprs("freq", rng)
        name = _penalize(unit, site, [ref], prob_expr, logp_expr, f"{_safe(site.scores)}_counted")
        apply = f"{site.choice} reads {name} = {site.scores} with the {what} by {ref}"
    elif form == "ban":
        k = rng.choice([2, 3])
        name = _penalize(unit, site, [ref],
                         f"tf.where(tf.greater_equal(source(1), {float(k)}), tf.zeros_like(source(0)), source(0))",
                         f"tf.where(tf.greater_equal(source(1), {float(k)}), -1e30 * tf.ones_like(source(0)), "
                         "source(0))",
                         f"{_safe(site.scores)}_max_occ")
        apply = f"{site.choice} reads {name} = {site.scores} with the labels seen {k} times in {ref} banned"
    else:
        a = rng.choice([0.2, 0.5])
        pen = _fresh(unit, "count_penalty")
        unit[pen] = {"class": "eval", "from": ref, "eval": f"-{a} * source(0)"}
        apply = f"{pen} = -{a} * {ref}; " + _second_score(unit, site, pen, f"{_safe(site.scores)}_counted")
    desc = f"{rec}: running label count on {site.choice} from {how_stream}: {how} (initial 0); {apply}"
    if rng.random() < 0.3:
        unit[count]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_{count}")
        if rng.random() < 0.5:
            net[out] = {"class": "decide", "from": f"{rec}/{count}", "is_output_layer": True}
            desc += f"; {count} an output layer, root {out} = decide({rec}/{count})"
        else:
            net[out] = {"class": "reduce", "mode": "max", "from": f"{rec}/{count}", "axes": ["T", "F"],
                        "is_output_layer": True}
            desc += f"; {count} an output layer, root {out} = reduce max over T and F of {rec}/{count}"
    return new, desc


# ----------------------------------------------------------------------------------------------------
# coverage-penalty


def _attention_weights(unit: dict[str, Any]) -> list[str]:
    """``softmax_over_spatial`` loop layers whose inputs in the same frame reach a ``base:`` layer (attention on
    the encoder, not self-attention over the decoder's own history)."""
    out = []
    for name in _layers(unit):
        if unit[name].get("class") != "softmax_over_spatial":
            continue
        seen: set[str] = set()
        stack = [name]
        found = False
        while stack and not found:
            desc = unit.get(stack.pop())
            if not isinstance(desc, dict):
                continue
            for key in ("from", "base", "keys", "values", "weights"):
                value = desc.get(key)
                if isinstance(value, str):
                    refs = [value]
                elif isinstance(value, list):
                    refs = [v for v in value if isinstance(v, str)]
                else:
                    refs = []
                for ref in refs:
                    if ref.startswith("base:"):
                        found = True
                    if ":" in ref:  # prev: (another frame), data:, :i
                        continue
                    head = ref.split("/", 1)[0]
                    if head in unit and head not in seen:
                        seen.add(head)
                        stack.append(head)
        if found:
            out.append(name)
    return out


def _accumulated(unit: dict[str, Any], att: str) -> list[str]:
    """Loop layers that add ``att`` onto their own previous value (the decoder's accumulated weights)."""
    return [k for k in _layers(unit) if f"prev:{k}" in _sources(unit[k]) and att in _sources(unit[k])]


def op_coverage_penalty(case: Case, rng: random.Random) -> Result:
    """The GNMT / OpenNMT coverage penalty of the attention weights, on the scores before the choice or after
    the loop on the beam scores."""
    new, net = _copy(case)
    sites = [(s, a) for s in _sites(new, net) for a in _attention_weights(net[s.rec]["unit"])]
    if not sites:
        return None
    site, att = rng.choice(sites)
    rec = site.rec
    unit = net[rec]["unit"]
    kind = rng.choices(["wu", "summary"], [0.65, 0.35])[0]
    beta = rng.choice([0.1, 0.2, 0.4])
    term_expr = ("tf.math.log(tf.minimum(source(0), 1.) + 1e-10)" if kind == "wu"
                 else "tf.maximum(source(0), 1.) - 1.")
    sign = "" if kind == "wu" else "-"
    where = rng.choices(["eos", "step", "delta", "second", "root"], [0.25, 0.15, 0.2, 0.2, 0.2])[0]
    if where == "root":
        unit[att]["is_output_layer"] = True
        cov = _fresh(net, f"{rec}_coverage")
        net[cov] = {"class": "reduce", "mode": "sum", "from": f"{rec}/{att}", "axis": "T"}
        term = _fresh(net, f"{rec}_coverage_term")
        net[term] = {"class": "eval", "from": cov, "eval": term_expr}
        cp = _fresh(net, f"{rec}_coverage_penalty")
        net[cp] = {"class": "reduce", "mode": "sum", "from": term, "axes": "except_batch"}
        scores = _fresh(net, f"{rec}_beam_scores")
        net[scores] = {"class": "choice_get_beam_scores", "from": rec}
        out = _fresh(net, f"{rec}_rescored")
        net[out] = {"class": "eval", "from": [scores, cp], "eval": f"source(0) + {sign}{beta} * source(1)",
                    "is_output_layer": True}
        return new, (f"{rec}: {kind} coverage penalty after the loop: {att} an output layer, root {cov} = sum over "
                     f"the decoder frames of {rec}/{att}, {cp} = sum of {term}; {out} = {scores} "
                     f"(choice_get_beam_scores of {rec}) + {sign}{beta} * {cp} (n-best rescoring)")
    accs = _accumulated(unit, att)
    if accs and rng.random() < 0.4:
        cov = rng.choice(accs)
        how = f"the decoder's own accumulated weights {cov}"
    else:
        cov = _fresh(unit, "coverage")
        unit[cov] = {"class": "combine", "kind": "add", "from": [f"prev:{cov}", att], "initial_output": 0}
        how = f"{cov} = prev:{cov} + {att}"
    term = _fresh(unit, "coverage_term")
    unit[term] = {"class": "eval", "from": cov, "eval": term_expr}
    cp = _fresh(unit, "coverage_penalty")
    unit[cp] = {"class": "reduce", "mode": "sum", "from": term, "axes": "except_batch"}
    how += f", {cp} = sum of {term} ({kind})"
    if where == "eos":
        v, e = site.dim, site.eos
        name = _penalize(unit, site, [cp],
                         f"source(0) * tf.exp({sign}{beta} * source(1) * tf.one_hot({e}, {v}))",
                         f"source(0) + {sign}{beta} * source(1) * tf.one_hot({e}, {v})",
                         f"{_safe(site.scores)}_cov_eos")
        apply = f"{site.choice} reads {name} = {site.scores} with {sign}{beta} * {cp} on EOS {e} only"
    elif where == "step":
        name = _penalize(unit, site, [cp], f"source(0) * tf.exp({sign}{beta} * source(1))",
                         f"source(0) + {sign}{beta} * source(1)", f"{_safe(site.scores)}_cov")
        apply = f"{site.choice} reads {name} = {site.scores} + {sign}{beta} * {cp} on every label"
    elif where == "delta":
        name = _penalize(unit, site, [cp, f"prev:{cp}"],
                         f"source(0) * tf.exp({sign}{beta} * (source(1) - source(2)))",
                         f"source(0) + {sign}{beta} * (source(1) - source(2))", f"{_safe(site.scores)}_cov")
        apply = f"{site.choice} reads {name} = {site.scores} + {sign}{beta} * ({cp} - prev:{cp}) (per-step delta)"
    else:
        pen = _fresh(unit, "coverage_score")
        unit[pen] = {"class": "eval", "from": cp, "eval": f"{sign}{beta} * source(0)"}
        apply = f"{pen} = {sign}{beta} * {cp}; " + _second_score(unit, site, pen, f"{_safe(site.scores)}_cov")
    return new, f"{rec}: coverage penalty on {site.choice} from {att}: {how}; {apply}"


# ----------------------------------------------------------------------------------------------------
# eos-history-penalty


def op_eos_history_penalty(case: Case, rng: random.Random) -> Result:
    """The EOS score made dependent on the hypothesis' label history."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    site = rng.choice(sites)
    unit = net[site.rec]["unit"]
    v, e = site.dim, site.eos
    trigger = rng.choices(["repeat-tail", "bigram-loop", "distinct-min"], [0.4, 0.3, 0.3])[0]
    # the bigram histories hold labels of earlier frames only (prev: copies): the pre-choice form
    post = trigger != "bigram-loop" and rng.random() < 0.35
    if trigger == "repeat-tail":
        if post:
            cond = _fresh(unit, "eos_repeat")
            unit[cond] = {"class": "compare", "kind": "equal", "from": [site.choice, f"prev:{site.choice}"]}
            how = f"{cond} = ({site.choice} == prev:{site.choice}), read as prev:{cond}"
        else:
            (last,) = _lags(unit, f"prev:{site.choice}", 1, "eos")
            cond = _fresh(unit, "eos_repeat")
            unit[cond] = {"class": "compare", "kind": "equal", "from": [f"prev:{site.choice}", f"prev:{last}"]}
            how = f"{cond} = (prev:{site.choice} == prev:{last}), {last} = copy(prev:{site.choice})"
    elif trigger == "bigram-loop":
        stream, how_stream = _stream(site, post, rng, 0.1)
        last1, last2 = _lags(unit, stream, 2, "eos")
        hist_name = _fresh(unit, "eos_pair_hist")
        dim = _hist_dim(f"{hist_name}-time")
        h1 = _cum(unit, f"prev:{last2}", hist_name, dim)
        h0 = _cum(unit, f"prev:{last1}", f"{hist_name}_next", dim)
        m1 = _fresh(unit, "eos_pair_match")
        unit[m1] = {"class": "compare", "kind": "equal", "from": [h1, f"prev:{last1}"]}
        m0 = _fresh(unit, "eos_pair_match")
        unit[m0] = {"class": "compare", "kind": "equal", "from": [h0, stream]}
        both = _fresh(unit, "eos_pair_seen")
        unit[both] = {"class": "combine", "kind": "logical_and", "from": [m1, m0]}
        both_f = _fresh(unit, "eos_pair_seen_float")
        unit[both_f] = {"class": "cast", "from": both, "dtype": "float32"}
        anyf = _fresh(unit, "eos_loop_score")
        unit[anyf] = {"class": "reduce", "mode": "max", "from": both_f, "axis": copy.deepcopy(dim)}
        cond = _fresh(unit, "eos_looping")
        unit[cond] = {"class": "compare", "kind": "greater", "from": anyf, "value": 0.5}
        how = (f"{cond}: the last bigram of {how_stream} occurred before ({h1}, {h0} cum_concat of "
               f"prev:{last2} / prev:{last1}, compared, reduce max over the history)")
    else:
        stream, how_stream = _stream(site, post, rng, 0.1)
        hist_name = _fresh(unit, "eos_label_hist")
        dim = _hist_dim(f"{hist_name}-time")
        onehot, _ = _onehot(unit, site, stream, "eos_label_1hot", rng)
        hist = _cum(unit, onehot, hist_name, dim)
        seen = _fresh(unit, "eos_seen_labels")
        unit[seen] = {"class": "reduce", "mode": "max", "from": hist, "axis": copy.deepcopy(dim)}
        distinct = _fresh(unit, "eos_n_distinct")
        unit[distinct] = {"class": "reduce", "mode": "sum", "from": seen, "axis": "F"}
        k = rng.choice([2, 3, 4])
        cond = _fresh(unit, "eos_too_few_labels")
        unit[cond] = {"class": "compare", "kind": "less", "from": distinct, "value": float(k)}
        how = f"{cond} = fewer than {k} distinct labels in the history of {how_stream} ({hist}, {seen}, {distinct})"
    ref = f"prev:{cond}" if post else cond
    gamma = rng.choice([1.0, 2.0, 5.0])
    if trigger == "distinct-min":
        gamma = -rng.choice([10.0, 1e4])
    form = rng.choices(["eval", "switch", "second"], [0.4, 0.35, 0.25])[0]
    if form == "eval":
        name = _penalize(unit, site, [ref],
                         f"source(0) * tf.exp({gamma} * tf.cast(source(1), tf.float32) * tf.one_hot({e}, {v}))",
                         f"source(0) + {gamma} * tf.cast(source(1), tf.float32) * tf.one_hot({e}, {v})",
                         f"{_safe(site.scores)}_eos_hist")
        apply = f"{site.choice} reads {name} = {site.scores} + {gamma} on EOS {e} where {ref}"
    elif form == "switch":
        adj = _fresh(unit, f"{_safe(site.scores)}_eos_adjusted")
        expr = (f"source(0) * tf.exp({gamma} * tf.one_hot({e}, {v}))" if site.kind == "prob"
                else f"source(0) + {gamma} * tf.one_hot({e}, {v})")
        unit[adj] = {"class": "eval", "from": site.scores, "eval": expr}
        sw = _fresh(unit, f"{_safe(site.scores)}_eos_hist")
        unit[sw] = {"class": "switch", "condition": ref, "true_from": adj, "false_from": site.scores}
        unit[site.choice]["from"] = sw
        apply = f"{site.choice} reads {sw} = switch({ref}, {adj} (EOS {e} {gamma:+}), {site.scores})"
    else:
        pen = _fresh(unit, "eos_history_score")
        unit[pen] = {"class": "eval", "from": [site.scores, ref],
                     "eval": f"{gamma} * tf.cast(source(1), source(0).dtype) * tf.one_hot({e}, {v}, dtype=source(0).dtype)"}
        apply = f"{pen} = {gamma} on EOS {e} where {ref}; " + _second_score(unit, site, pen,
                                                                            f"{_safe(site.scores)}_eos_hist")
    return new, f"{site.rec}: history-dependent EOS score on {site.choice}: {how}; {apply}"


FRESH106_OPERATORS: tuple[Op, ...] = (
    Op("no-repeat-ngram", op_no_repeat_ngram, 1.2),
    Op("history-repeat-penalty", op_history_repeat_penalty, 1),
    Op("repeat-count-carry", op_repeat_count_carry, 1),
    Op("coverage-penalty", op_coverage_penalty, 5),
    Op("eos-history-penalty", op_eos_history_penalty, 1),
)
