"""A sixty-fourth set of edit operators (issue 15, fourteenth session, second part), written and seeded before
it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only
when first measured.

Decoder features from published RWTH set-ups that the bases lack, transplanted into a searching decoder of
a base (names and sizes adapted), with the variants a user copies over and the mistakes made on the way
(none a variant of an earlier operator; no rule was written for any of them):

* ``coverage-term``: the search-time coverage term of ``RNNDecoder`` (``coverage_scale`` /
  ``coverage_threshold``) in rwth-i6/i6_experiments ``users/zeineldeen/models/asr/decoder/rnn_decoder.py``:
  the attention weights of the loop (a ``softmax_over_spatial``) are accumulated (an ``eval`` of
  ``prev:W`` plus ``W`` as in that file, a real running sum ``prev:ACC`` plus ``W`` with ``initial_output``
  0, or an accumulation the loop already has), ``merge_dims`` over all but the batch, ``compare`` greater
  than a threshold, ``cast`` to float and summed (``reduce`` ``sum`` over the last axis, ``keep_dims``
  True); the choice reads its scores times that count to the power of the scale (``eval``; the log count
  scaled and added where the choice takes ``log_prob``), maybe with ``length_normalization`` off as in
  that file, or with the count marked an output layer to look at it;
* ``ref-constrained``: the reference-constrained search of the same ``RNNDecoder`` (``search_type``
  ``"end-of-chunk"``, a realignment by search): a label position carried over the frames (an ``eval``
  that counts the frame's labels, not counting label EOS, or all of them, ``initial_output`` 0, read as
  ``prev:``), the reference label at that position (``gather`` from ``base:data:KEY`` over ``T``,
  ``clip_to_valid``), the label indices (``range_in_axis`` over the ``sparse_dim`` of the reference, or
  over the features of the scores) ``compare``-d equal to it, ``logical_or`` with the EOS label (always,
  or once the position reached the reference's ``length``), and the choice reads a ``switch`` that keeps
  its scores where allowed and puts 1e-20 elsewhere; the choice keeps its target, or gets ``target: None``
  and ``search: True`` with the rec's ``target`` None as in that file; the fix a user applies for
  recognition, the reference key made ``available_for_inference``, now and then;
* ``eos-threshold``: the relative EOS threshold of ``fusion_eval4`` in rwth-i6/returnn-experiments
  ``2020-lm-integration/lstm_lm_local.config``: an ``eval`` over the choice's scores (log of them, or
  already log-scores) that keeps label EOS only where its log-score reaches ``gamma`` times the best
  log-score of the other labels (-1e30 elsewhere); the choice reads it with ``input_type: "log_prob"`` (or
  back in probability space through ``tf.exp``, or, as a user forgets, as probabilities), maybe with
  ``length_normalization`` off as tuned there;
* ``lm-like-state``: the LM-like component of ``RNNDecoder`` (``add_lstm_lm``, after arXiv:2001.07263) in
  ``users/zeineldeen/models/asr/decoder/rnn_decoder.py``: an LSTM inside the loop over the label
  embedding the decoder state reads (a ``rec`` with unit ``nativelstm2`` as there, or an ``rnn_cell``
  ``LSTMBlock``), projected (``linear`` without bias), and the decoder state reads that projection in place
  of the embedding, either concatenated with its other inputs or added (``combine`` add, as there) to a
  projection of them of the same size.
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
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH62_SEED = 20270124
N_FRESH62 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _score_source(unit: dict[str, Any], choice: str) -> str | None:
    """The one loop layer a (non-regression) choice takes its scores from, else None."""
    desc = unit[choice]
    if desc.get("input_type") == "regression":
        return None
    srcs = _sources(desc)
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    return srcs[0]


def _log_scores(desc: dict[str, Any]) -> bool:
    return desc.get("input_type") == "log_prob"


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label that ends the loop: the ``value`` of an ``end`` compare on the choice, else 0."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and isinstance(end.get("value"), int) \
            and choice in _sources(end):
        return end["value"]
    return 0


def _score_sites(net: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rec, choice, the loop layer of its scores) of every searching decoder."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            src = _score_source(unit, c)
            if src is not None:
                out.append((rec, c, src))
    return out


def op_coverage_term(case: Case, rng: random.Random) -> Result:
    """The choice's scores times the count of encoder frames covered by the accumulated attention."""
    new, net = _copy(case)
    sites = []
    for rec, choice, src in _score_sites(net):
        unit = net[rec]["unit"]
        for w in _layers(unit):
            if unit[w].get("class") == "softmax_over_spatial":
                sites.append((rec, choice, src, w))
    if not sites:
        return None
    rec, choice, src, w = rng.choice(sites)
    unit = net[rec]["unit"]
    existing = [k for k in _layers(unit) if k != w and unit[k].get("class") in ("eval", "combine")
                and f"prev:{k}" in _sources(unit[k]) and w in _sources(unit[k])]
    kinds = ["pair", "running"] + (["existing"] if existing else [])
    kind = rng.choice(kinds)
    if kind == "existing":
        acc = existing[0]
        how = f"the loop's accumulation {acc}"
    elif kind == "pair":
        acc = _fresh(unit, "accum_w")
        unit[acc] = {"class": "eval", "from": [f"prev:{w}", w], "eval": "source(0) + source(1)"}
        how = f"{acc} = prev:{w} + {w}"
    else:
        acc = _fresh(unit, "accum_w")
        unit[acc] = {"class": "eval", "from": [f"prev:{acc}", w], "eval": "source(0) + source(1)",
                     "initial_output": 0}
        how = f"{acc} = prev:{acc} + {w} (initial_output 0)"
    merged = _fresh(unit, "merge_accum_w")
    unit[merged] = {"class": "merge_dims", "from": acc, "axes": "except_batch"}
    threshold = rng.choice([0.5, 1.0, 1.5])
    mask = _fresh(unit, "coverage_mask")
    unit[mask] = {"class": "compare", "from": merged, "kind": "greater", "value": threshold}
    as_float = _fresh(unit, "float_coverage_mask")
    unit[as_float] = {"class": "cast", "from": mask, "dtype": "float32"}
    count = _fresh(unit, "accum_coverage")
    unit[count] = {"class": "reduce", "from": as_float, "mode": "sum", "axes": -1, "keep_dims": True}
    scale = rng.choice([0.1, 0.2, 0.5])
    scored = _fresh(unit, f"{src}_coverage")
    if _log_scores(unit[choice]):
        unit[scored] = {"class": "eval", "from": [src, count], "eval": f"source(0) + {scale} * safe_log(source(1))"}
    else:
        unit[scored] = {"class": "eval", "from": [src, count], "eval": f"source(0) * (source(1) ** {scale})"}
    unit[choice]["from"] = [scored] if isinstance(unit[choice].get("from"), list) else scored
    extra = ""
    r = rng.random()
    if r < 0.3:
        unit[choice]["length_normalization"] = False
        extra = ", length_normalization off"
    elif r < 0.5:
        unit[count]["is_output_layer"] = True
        extra = f", {count} an output layer"
    return new, (f"{rec}/{choice} reads {scored}: its scores {src} with a coverage term (scale {scale}) from "
                 f"{how}, frames over {threshold} counted in {count}{extra}")


def op_ref_constrained(case: Case, rng: random.Random) -> Result:
    """Search constrained to the reference labels, by a label position carried over the frames."""
    new, net = _copy(case)
    sites = []
    for rec, choice, src in _score_sites(net):
        key = _data_target(net[rec]["unit"][choice])
        if key is not None:
            sites.append((rec, choice, src, key))
    if not sites:
        return None
    rec, choice, src, key = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    ref = f"base:data:{key}"
    new_pos = _fresh(unit, "new_label_pos")
    if rng.random() < 0.6:
        code = f"tf.where(tf.equal(source(0), {eos}), source(1), source(1) + 1)"
        counted = f"labels but {eos}"
    else:
        code = "source(1) + 0 * source(0) + 1"
        counted = "all labels"
    unit[new_pos] = {"class": "eval", "from": [choice, f"prev:{new_pos}"], "eval": code,
                     "out_type": {"dtype": "int32", "sparse": False, "dim": None}, "initial_output": 0}
    pos = _fresh(unit, "label_pos")
    unit[pos] = {"class": "copy", "from": f"prev:{new_pos}"}
    gold = _fresh(unit, "ground_truth_label")
    unit[gold] = {"class": "gather", "from": ref, "axis": "T", "position": pos, "clip_to_valid": True}
    idx = _fresh(unit, "_label_indices")
    if rng.random() < 0.6:
        unit[idx] = {"class": "range_in_axis", "from": ref, "axis": "sparse_dim"}
    else:
        unit[idx] = {"class": "range_in_axis", "from": src, "axis": "F"}
    is_gold = _fresh(unit, "_label_indices_eq_true_label")
    unit[is_gold] = {"class": "compare", "from": [idx, gold], "kind": "equal"}
    is_eos = _fresh(unit, "_label_indices_eq_eos")
    unit[is_eos] = {"class": "compare", "from": idx, "kind": "equal", "value": eos}
    eos_how = "always"
    if rng.random() < 0.4:
        ref_len = _fresh(unit, "ground_truth_label_seq_len")
        unit[ref_len] = {"class": "length", "from": ref, "axis": "T"}
        reached = _fresh(unit, "label_pos_reached_end")
        unit[reached] = {"class": "compare", "from": [pos, ref_len], "kind": "greater_equal"}
        eos_ok = _fresh(unit, "_label_indices_eq_eos_")
        unit[eos_ok] = {"class": "switch", "condition": reached, "true_from": is_eos, "false_from": False}
        is_eos = eos_ok
        eos_how = "once the position reached the reference length"
    allow = _fresh(unit, "eos_label_mask")
    unit[allow] = {"class": "combine", "kind": "logical_or", "from": [is_gold, is_eos]}
    floor = -1e30 if _log_scores(unit[choice]) else 1e-20
    filtered = _fresh(unit, f"{src}_filter_ref")
    unit[filtered] = {"class": "switch", "condition": allow, "true_from": src, "false_from": floor}
    unit[choice]["from"] = [filtered] if isinstance(unit[choice].get("from"), list) else filtered
    mode = rng.choice(["keep", "keep", "search"])
    how = "the choice keeps its target"
    if mode == "search":
        unit[choice]["target"] = None
        unit[choice]["search"] = True
        net[rec]["target"] = None
        how = "the choice gets target None and search True, the rec target None"
    ext = new.get("extern_data") or {}
    if isinstance(ext.get(key), dict) and ext[key].get("available_for_inference") is False and rng.random() < 0.35:
        ext[key]["available_for_inference"] = True
        how += f"; {key!r} made available for inference"
    return new, (f"{rec}/{choice} searches constrained to the reference {ref}: {pos} counts {counted}, "
                 f"{choice} reads {filtered} (its scores {src} where equal to {gold} or EOS {eos} {eos_how}); "
                 f"{how}")


def op_eos_threshold(case: Case, rng: random.Random) -> Result:
    """Label EOS kept only where its log-score reaches gamma times the best of the other labels."""
    new, net = _copy(case)
    sites = _score_sites(net)
    if not sites:
        return None
    rec, choice, src = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    gamma = rng.choice([1.5, 2.0, 3.0])
    log_in = _log_scores(unit[choice])
    lp = "source(0)" if log_in else "safe_log(source(0))"
    others = f"tf.concat([{lp}[..., :{eos}], {lp}[..., {eos + 1}:]], axis=-1)" if eos else f"{lp}[..., 1:]"
    code = (f"tf.where(tf.logical_and(tf.equal(tf.range(tf.shape({lp})[-1]), {eos}), "
            f"{lp} < {gamma} * tf.reduce_max({others}, axis=-1, keepdims=True)), "
            f"tf.fill(tf.shape({lp}), -1e30), {lp})")
    out = rng.choice(["log_prob", "log_prob", "exp", "forgot"])
    if log_in:
        out = "log_prob"
    if out == "exp":
        code = f"tf.exp({code})"
    name = _fresh(unit, f"{src}_eos_threshold")
    unit[name] = {"class": "eval", "from": src, "eval": code}
    desc = unit[choice]
    desc["from"] = [name] if isinstance(desc.get("from"), list) else name
    if out == "log_prob":
        desc["input_type"] = "log_prob"
        how = "with input_type log_prob"
    elif out == "exp":
        desc.pop("input_type", None)
        how = "back in probability space (tf.exp)"
    else:
        desc.pop("input_type", None)
        how = "as probabilities (input_type forgotten)"
    extra = ""
    if rng.random() < 0.3:
        desc["length_normalization"] = False
        extra = ", length_normalization off"
    return new, (f"{rec}/{choice} reads {name}: label {eos} of {src} kept only where its log-score reaches "
                 f"{gamma} x the best other label, {how}{extra}")


def _embedding_refs(unit: dict[str, Any], choice: str) -> set[str]:
    """References by which loop layers read an embedding of the previous label: ``E`` for a ``linear``
    over ``prev:CHOICE``, ``prev:E`` for a ``linear`` over ``CHOICE``."""
    out = set()
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear":
            continue
        if _sources(desc) == [f"prev:{choice}"]:
            out.add(k)
        elif _sources(desc) == [choice]:
            out.add(f"prev:{k}")
    return out


def op_lm_like_state(case: Case, rng: random.Random) -> Result:
    """An LSTM over the label embedding inside the loop feeds the decoder state in place of the embedding."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            embs = _embedding_refs(unit, c)
            for s in _layers(unit):
                if unit[s].get("class") not in ("rnn_cell", "rec") or not isinstance(unit[s].get("n_out"), int):
                    continue
                srcs = _sources(unit[s])
                hits = sorted(e for e in srcs if e in embs)
                if hits and len(srcs) > 1 and isinstance(unit[s].get("from"), list):
                    sites.append((rec, s, hits[0]))
    if not sites:
        return None
    rec, s, emb = rng.choice(sorted(set(sites)))
    unit = net[rec]["unit"]
    dim = rng.choice([8, 16, 32])
    lm = _fresh(unit, "lm_like_s")
    if rng.random() < 0.6:
        unit[lm] = {"class": "rec", "unit": "nativelstm2", "from": emb, "n_out": dim}
        kind = "rec nativelstm2"
    else:
        unit[lm] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": emb, "n_out": dim}
        kind = "rnn_cell LSTMBlock"
    proj = _fresh(unit, "lm_like_s_proj")
    unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": lm, "n_out": dim}
    others = [x for x in unit[s]["from"] if x != emb]
    if rng.random() < 0.5:
        unit[s]["from"] = [proj if x == emb else x for x in unit[s]["from"]]
        how = f"{s} reads {proj} in place of {emb}, with {others}"
    else:
        ctx = _fresh(unit, "ctx_proj")
        unit[ctx] = {"class": "linear", "activation": None, "with_bias": False, "from": others, "n_out": dim}
        added = _fresh(unit, "add_embed_ctx")
        unit[added] = {"class": "combine", "kind": "add", "from": [proj, ctx], "n_out": dim}
        unit[s]["from"] = [added]
        how = f"{s} reads {added} = {proj} + {ctx} (a projection of {others})"
    return new, f"{rec}: an LM-like LSTM {lm} ({kind}, {dim}) over {emb}, projected in {proj}; {how}"


FRESH62_OPERATORS: tuple[Op, ...] = (
    Op("coverage-term", op_coverage_term, 3),
    Op("ref-constrained", op_ref_constrained, 2.5),
    Op("eos-threshold", op_eos_threshold, 2),
    Op("lm-like-state", op_lm_like_state, 2.5),
)
