"""A ninetieth set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Decoders from rwth-i6/i6_experiments user directories that no earlier set used (``users/gaudino``,
``users/schmitt``, ``users/berger``; not the ``users/zeineldeen`` ``RNNDecoder`` options of fresh67): three
search-time decoder sub-structures of their RETURNN network dicts, grafted onto the bases' searching decoders as
the configs write them (layer classes, options, ``prev:`` wiring; names and sizes adapted to the base), with the
variants users copy over and the mistakes made on the way (none a variant of an earlier operator; no rule was
written for any of them):

* ``ctc-att-joint``: joint CTC / attention scores computed in the loop, from ``add_joint_ctc_att_subnet`` of
  ``users/gaudino/experiments/conformer_att_2023/librispeech_960/search_helpers.py`` (commit 0470ab68): a root
  ``ctc`` softmax over the encoder with one more (blank) label, its frame read in the loop (``gather`` at ``:i``
  of ``base:ctc``, the label-synchronous adaptation; or, as in the source, the rec's ``from`` set to ``ctc`` and
  the frame read as ``data:source``, the ``end`` and ``max_seq_len`` dropped), ``safe_log``, the blank sliced
  off, renormalised (``reduce`` ``logsumexp``, ``combine`` ``sub``), both scores scaled (``eval``) and added;
  half of the time the full "p_comb_sigma_prime" chain: blank prob (``gather`` at the blank index), the
  previous label's CTC score (``gather`` at ``prev:CHOICE``), a not-blank mask (``compare`` of ``prev:CHOICE``,
  or the source's TODO form ``prev:`` of a this-frame mask, with or without ``initial_output: True``), a
  ``switch`` to 0, the "1 - ..." term, a repeat mask (``reinterpret_data`` of ``prev:CHOICE`` against a
  ``range`` over the vocabulary) and a ``switch`` between the CTC and the combined scores; the choice takes
  the result as ``log_prob`` (mostly ``length_normalization: False``). Variants: ``remove_eos`` (the attention
  EOS probability zeroed by an ``eval`` of ``tf.tensor_scatter_nd_update``, maybe renormalised); the blank
  column concatenated back (``concat`` with the expanded blank score) while the target has no blank (the
  ``bpe_labels`` / ``bpe_labels_w_blank`` mix-up); the CTC part computed at the root over the whole sequence and
  read by the frame ``gather`` at ``:i``, or through ``base:`` without it.
* ``len-model-gather``: a transducer-style length (emit / blank) model of the segmental set-ups in
  ``users/schmitt/experiments/config/pipelines/global_vs_segmental_2022_23/dependencies/returnn/network_builder/
  network_builder.py`` (commit 6ace81ed: ``get_length_model_unit_dict`` and the ``rec_layer_name == "output"``
  branch of ``add_length_model_pos_probs``): ``emit_prob0`` (``linear`` to 1), ``emit_log_prob``
  (``log_sigmoid``), ``blank_log_prob`` (``eval`` ``log_sigmoid(-x)``), either in the searching loop on a length
  state of its own (an LSTM ``rnn_cell`` over the previous label's embedding, maybe the frame's dense state)
  or in a separate non-searching root rec over the encoder (``length_model_probs``: ``back_prop: False``,
  ``include_eos``, ``is_output_layer``, its log-probs output layers of the unit, sometimes forgotten; sometimes
  ``target`` / ``size_target: None`` copied along) whose frames the loop reads by ``gather`` at ``:i`` from
  ``base:length_model_probs/...``. The choice's scores become ``copy`` of the blank score and the label scores
  plus the emit score (the EOS label in the blank's place), or, a quarter of the time, the source's transducer
  layout (labels plus emit, then blank: one label more than the target has); ``length_normalization: False``.
* ``ctx1-output-choice``: the context-1 transducer recognition decoder of ``add_context_1_decoder_recog`` in
  ``users/berger/network/helpers/label_context.py`` (commit 655d46e5): a feed-forward prediction net on the
  previous label only (``context_embedding``, ``linear`` of ``prev:output_choice`` without bias, ``initial_output:
  None``; ``dec_ff`` ``linear`` tanh; ``decoder`` ``copy``), a joint ``combine`` (``add``, or a ``copy``
  concatenation) of an acoustic side (the encoder frame ``gather``-ed at ``:i``, or the base's dense state) and
  the decoder, ``joint_ff``, and a ``log_softmax`` output; where the base's choice is the unit's ``output``, half of
  the time as in the source: the unit's ``output`` becomes that dense log-prob layer and the choice moves to
  ``output_choice`` (its readers, ``prev:`` included, follow; the ``end`` now and then left on the dense
  ``output``), otherwise a new dense layer feeds the choice; the choice takes ``input_type: log_prob``, sometimes ``beam_size: 1`` and the source's
  ``initial_output`` = the number of labels (an index outside the vocabulary), and the rec sometimes keeps the
  source's ``cheating: False``.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _map_refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH88_SEED = 20270150
N_FRESH88 = 80

Result = "tuple[Case, str] | None"

DENSE_CLASSES = ("linear", "rnn_cell", "combine", "activation", "copy", "generic_attention", "dot_attention",
                 "reduce_out", "rec")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, bool] | None:
    """(the loop layer a choice scores, whether it holds probabilities) for a one-source prob / log_prob choice."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind == "prob"


def _eos(unit: dict[str, Any], choice: str) -> int:
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A root layer (not a rec) the decoder reads through ``base:``; None when it reads none."""
    found = []
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        refs: list[str] = []
        _map_refs(dict(desc), lambda r, refs=refs: refs.append(r) or r)
        for s in refs:
            if isinstance(s, str) and s.startswith("base:") and not s.startswith("base:data"):
                name = s[len("base:"):].split("/", 1)[0]
                if name in net and isinstance(net[name], dict) and net[name].get("class") not in (
                        "rec", "reduce", "decide", "choice"):
                    found.append(name)
    return min(found) if found else None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, bool, int]]:
    """(rec, choice, its score layer, scores are probs, vocabulary size) of searching label choices."""
    out = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            sc = _scores(unit, c)
            dim = _target_dim(case, _data_target(unit[c]))
            if sc is not None and isinstance(dim, int) and dim > 2:
                out.append((r, c, sc[0], sc[1], dim))
    return out


def _log_of(unit: dict[str, Any], scores: str, is_prob: bool, name: str) -> str:
    if not is_prob:
        return scores
    logp = _fresh(unit, name)
    unit[logp] = {"class": "activation", "activation": "safe_log", "from": scores}
    return logp


def _dense_state(unit: dict[str, Any], scores: str, choice: str) -> str | None:
    """A dense loop layer the scores read (directly or one step up), not the choice's own frame."""
    direct = [k for k in _sources(unit[scores]) if k in unit]
    cands = [k for k in direct + sorted(_frame_ancestors(unit, scores) - set(direct))
             if k != scores and isinstance(unit.get(k), dict) and unit[k].get("class") in DENSE_CLASSES
             and choice not in _frame_ancestors(unit, k) and k != choice
             and f"prev:{choice}" not in _sources(unit[k])]
    return cands[0] if cands else None


# ----------------------------------------------------------------------------------------------------
# ctc-att-joint


def op_ctc_att_joint(case: Case, rng: random.Random) -> Result:
    """Joint CTC / attention scores in the loop (gaudino's ``add_joint_ctc_att_subnet``), grafted on a choice."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = _encoder(net, rec) or "data"
    blank = dim
    att_scale = rng.choice([0.7, 0.8, 1.0])
    ctc_scale = rng.choice([0.3, 0.5, 1.0])
    notes = [f"{rec}/{choice}: joint CTC/att scores, att {att_scale}, ctc {ctc_scale}"]

    ctc = _fresh(net, "ctc")
    net[ctc] = {"class": "softmax", "from": enc, "n_out": dim + 1}
    notes.append(f"root {ctc} = softmax({enc}, {dim + 1}, blank {blank})")

    placement = rng.choices(["gather", "time-sync", "root", "root-nogather"], [0.55, 0.15, 0.15, 0.15])[0]
    if placement == "time-sync" and any(r in ("end", "data", "data:source") or r.startswith("data:")
                                        for k in _layers(unit) for r in _sources(unit[k])):
        placement = "gather"
    if placement in ("root", "root-nogather"):
        # the CTC part at the root, over the whole sequence
        r_log = _fresh(net, "ctc_log_scores")
        net[r_log] = {"class": "activation", "activation": "safe_log", "from": ctc}
        r_slice = _fresh(net, "ctc_log_scores_slice")
        net[r_slice] = {"class": "slice", "from": r_log, "axis": "f", "slice_start": 0, "slice_end": dim}
        r_norm = _fresh(net, "ctc_log_scores_norm")
        net[r_norm] = {"class": "reduce", "mode": "logsumexp", "from": r_slice, "axis": "f"}
        r_renorm = _fresh(net, "ctc_log_scores_renorm")
        net[r_renorm] = {"class": "combine", "kind": "sub", "from": [r_slice, r_norm]}
        if placement == "root":
            ctc_frame = _fresh(unit, "ctc_log_scores_renorm")
            unit[ctc_frame] = {"class": "gather", "from": f"base:{r_renorm}", "position": ":i", "axis": "t"}
            frame_log = _fresh(unit, "ctc_log_scores")
            unit[frame_log] = {"class": "gather", "from": f"base:{r_log}", "position": ":i", "axis": "t"}
            notes.append(f"CTC log / slice / renorm at the root, read by gather at :i ({ctc_frame}, {frame_log})")
        else:
            ctc_frame = f"base:{r_renorm}"
            frame_log = f"base:{r_log}"
            notes.append("CTC log / slice / renorm at the root, read through base: without a frame gather")
        renorm = ctc_frame
        ctc_log = frame_log
        slice_ = None
        frame_prob = None
    else:
        if placement == "gather":
            frame = _fresh(unit, "ctc_frame")
            unit[frame] = {"class": "gather", "from": f"base:{ctc}", "position": ":i", "axis": "t"}
            notes.append(f"{frame} = gather(base:{ctc} at :i)")
        else:
            net[rec]["from"] = ctc
            frame = "data:source"
            unit.pop("end", None)
            net[rec].pop("max_seq_len", None)
            notes.append(f"rec from {ctc} (time-sync as in the source), frame data:source, no end / max_seq_len")
        frame_prob = frame
        ctc_log = _fresh(unit, "ctc_log_scores")
        unit[ctc_log] = {"class": "activation", "activation": "safe_log", "from": frame}
        slice_ = _fresh(unit, "ctc_log_scores_slice")
        unit[slice_] = {"class": "slice", "from": ctc_log, "axis": "f", "slice_start": 0, "slice_end": dim}
        norm = _fresh(unit, "ctc_log_scores_norm")
        unit[norm] = {"class": "reduce", "mode": "logsumexp", "from": slice_, "axis": "f"}
        renorm = _fresh(unit, "ctc_log_scores_renorm")
        unit[renorm] = {"class": "combine", "kind": "sub", "from": [slice_, norm]}

    att_src = scores
    no_eos = is_prob and rng.random() < 0.2
    if no_eos:
        wo_eos = _fresh(unit, "att_scores_wo_eos")
        unit[wo_eos] = {
            "class": "eval", "from": scores,
            "eval": ("tf.tensor_scatter_nd_update(source(0), tf.stack([tf.range(tf.shape(source(0))[0]), "
                     "tf.zeros([tf.shape(source(0))[0]], tf.int32)], axis=1), tf.zeros([tf.shape(source(0))[0]]))")}
        att_src = wo_eos
        notes.append(f"remove_eos: {wo_eos} zeroes label 0 of {scores}")
    att_log = _log_of(unit, att_src, is_prob, "att_log_scores")
    if no_eos and rng.random() < 0.5:
        lnorm = _fresh(unit, "att_log_scores_norm")
        unit[lnorm] = {"class": "reduce", "mode": "logsumexp", "from": att_log, "axis": "f"}
        att_renorm = _fresh(unit, "att_log_scores_renorm")
        unit[att_renorm] = {"class": "combine", "kind": "sub", "from": [att_log, lnorm]}
        att_log = att_renorm
        notes.append("renormalised after remove_eos")
    s_att = _fresh(unit, "scaled_att_log_scores")
    unit[s_att] = {"class": "eval", "from": att_log, "eval": f"{att_scale} * source(0)"}
    s_ctc = _fresh(unit, "scaled_ctc_log_scores")
    unit[s_ctc] = {"class": "eval", "from": renorm, "eval": f"{ctc_scale} * source(0)"}
    comb = _fresh(unit, "combined_att_ctc_scores")
    unit[comb] = {"class": "combine", "kind": "add", "from": [s_att, s_ctc]}
    final = comb

    if rng.random() < 0.5:
        # comb_score_version 1: p_comb_sigma_prime
        blank_prob = _fresh(unit, "blank_prob")
        if frame_prob is not None:
            unit[blank_prob] = {"class": "gather", "from": frame_prob, "position": blank, "axis": "f"}
        else:
            unit[blank_prob] = {"class": "activation", "activation": "safe_exp",
                                "from": _gather_blank(unit, ctc_log, blank)}
        s_blank = _fresh(unit, "scaled_blank_prob")
        unit[s_blank] = {"class": "eval", "from": blank_prob, "eval": f"source(0) ** {ctc_scale}"}
        one = _fresh(unit, "one")
        unit[one] = {"class": "constant", "value": 1.0}
        prev_ctc = _fresh(unit, "prev_ctc_log_scores")
        unit[prev_ctc] = {"class": "gather", "from": ctc_log, "position": f"prev:{choice}", "axis": "f"}
        s_prev = _fresh(unit, "scaled_prev_ctc_log_scores")
        unit[s_prev] = {"class": "eval", "from": prev_ctc, "eval": f"{ctc_scale} * source(0)"}
        s_prev_p = _fresh(unit, "scaled_prev_ctc_scores")
        unit[s_prev_p] = {"class": "activation", "activation": "safe_exp", "from": s_prev}
        mask_kind = rng.choices(["prev", "cur-init", "cur-noinit"], [0.6, 0.2, 0.2])[0]
        if mask_kind == "prev":
            nb = _fresh(unit, "is_prev_out_not_blank_mask")
            unit[nb] = {"class": "compare", "kind": "not_equal", "from": f"prev:{choice}", "value": blank}
            cond = nb
            notes.append(f"{nb} = prev:{choice} != {blank}")
        else:
            nb = _fresh(unit, "is_curr_out_not_blank_mask")
            unit[nb] = {"class": "compare", "kind": "not_equal", "from": choice, "value": blank}
            if mask_kind == "cur-init":
                unit[nb]["initial_output"] = True
            cond = f"prev:{nb}"
            notes.append(f"{nb} = {choice} != {blank} read as prev:{nb}"
                         + (" (initial_output True)" if mask_kind == "cur-init" else " (no initial_output)"))
        rep = _fresh(unit, "repeat_prob_term")
        unit[rep] = {"class": "switch", "condition": cond, "true_from": s_prev_p, "false_from": 0.0}
        om_ = _fresh(unit, "1_minus_term_")
        unit[om_] = {"class": "combine", "kind": "sub", "from": [one, s_blank]}
        om = _fresh(unit, "1_minus_term")
        unit[om] = {"class": "combine", "kind": "sub", "from": [om_, rep]}
        om_log = _fresh(unit, "1_minus_term_log")
        unit[om_log] = {"class": "activation", "activation": "safe_log", "from": om}
        prime = _fresh(unit, "p_comb_sigma_prime_label")
        unit[prime] = {"class": "combine", "kind": "add", "from": [om_log, comb]}
        rng_l = _fresh(unit, "vocab_range")
        unit[rng_l] = {"class": "range", "limit": dim}
        prev_re = _fresh(unit, "prev_output_reinterpret")
        unit[prev_re] = {"class": "reinterpret_data", "from": f"prev:{choice}", "set_sparse": True,
                         "set_sparse_dim": dim}
        rep_mask = _fresh(unit, "prev_repeat_mask")
        unit[rep_mask] = {"class": "compare", "kind": "equal", "from": [prev_re, rng_l]}
        ctc_lab = slice_ if slice_ is not None else renorm
        s_slice = _fresh(unit, "scaled_ctc_log_scores_slice")
        unit[s_slice] = {"class": "eval", "from": ctc_lab, "eval": f"{ctc_scale} * source(0)"}
        label_score = _fresh(unit, "scaled_label_score")
        unit[label_score] = {"class": "switch", "condition": rep_mask, "true_from": s_slice, "false_from": prime}
        final = label_score
        notes.append(f"p_comb_sigma_prime chain ({prev_ctc} at prev:{choice}, {rep_mask} vs {rng_l}, "
                     f"{label_score} = switch)")
        if rng.random() < 0.2:
            b_log = _gather_blank(unit, ctc_log, blank)
            s_blog = _fresh(unit, "scaled_blank_log_prob")
            unit[s_blog] = {"class": "eval", "from": b_log, "eval": f"{ctc_scale} * source(0)"}
            s_blog_e = _fresh(unit, "scaled_blank_log_prob_expand")
            unit[s_blog_e] = {"class": "expand_dims", "from": s_blog, "axis": "f"}
            cat = _fresh(unit, "p_comb_sigma_prime")
            unit[cat] = {"class": "concat", "from": [[label_score, "f"], [s_blog_e, "f"]]}
            final = cat
            notes.append(f"{cat} concatenates the blank back ({dim + 1} labels, the target has {dim})")

    desc = unit[choice]
    desc["from"] = final
    desc["input_type"] = "log_prob"
    if rng.random() < 0.75:
        desc["length_normalization"] = False
        notes.append("length_normalization False")
    notes.append(f"{choice} chooses over {final} (log_prob)")
    return new, "; ".join(notes)


def _gather_blank(unit: dict[str, Any], log_scores: str, blank: int) -> str:
    """A ``gather`` of the blank column of the (frame's) CTC log-scores (made once)."""
    for k in _layers(unit):
        d = unit[k]
        if d.get("class") == "gather" and d.get("from") == log_scores and d.get("position") == blank:
            return k
    name = _fresh(unit, "blank_log_prob")
    unit[name] = {"class": "gather", "from": log_scores, "position": blank, "axis": "f"}
    return name


# ----------------------------------------------------------------------------------------------------
# len-model-gather


def op_len_model_gather(case: Case, rng: random.Random) -> Result:
    """A segmental set-up's emit / blank length model combined into a choice's scores (schmitt's builder)."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    notes = [f"{rec}/{choice}: length model"]
    enc = _encoder(net, rec)
    form = "root" if enc is not None and rng.random() < 0.5 else "loop"
    if form == "loop":
        emb = _fresh(unit, "prev_out_embed")
        unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{choice}", "n_out": 4}
        srcs = [emb]
        state = _dense_state(unit, scores, choice)
        if state is not None and rng.random() < 0.5:
            srcs.append(state)
        elif enc is not None and rng.random() < 0.6:
            am = _fresh(unit, "am")
            unit[am] = {"class": "gather", "from": f"base:{enc}", "position": ":i", "axis": "t"}
            srcs.insert(0, am)
        s = _fresh(unit, "len_s")
        unit[s] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": srcs, "n_out": 6}
        e0 = _fresh(unit, "emit_prob0")
        unit[e0] = {"class": "linear", "activation": None, "from": s, "n_out": 1}
        if rng.random() < 0.6:
            unit[e0]["is_output_layer"] = True
        emit = _fresh(unit, "emit_log_prob")
        unit[emit] = {"class": "activation", "activation": "log_sigmoid", "from": e0}
        blank = _fresh(unit, "blank_log_prob")
        unit[blank] = {"class": "eval", "eval": "tf.math.log_sigmoid(-source(0))", "from": e0}
        notes.append(f"in the loop: {s} = LSTM({', '.join(srcs)}), {e0} -> {emit} / {blank}")
    else:
        lm = _fresh(net, "length_model_probs")
        sub_out = rng.random() < 0.9
        inner: dict[str, Any] = {
            "am": {"class": "copy", "from": "data:source"},
            "blank_log_prob": {"class": "eval", "eval": "tf.math.log_sigmoid(-source(0))", "from": "emit_prob0"},
            "emit_log_prob": {"class": "activation", "activation": "log_sigmoid", "from": "emit_prob0"},
            "emit_prob0": {"class": "linear", "activation": None, "from": "s", "n_out": 1},
            "output": {"class": "copy", "from": "am"},
        }
        if rng.random() < 0.5:
            inner["s"] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": ["am"], "n_out": 6}
            how_s = "LSTM cell over am"
        else:
            inner["s"] = {"class": "linear", "activation": "tanh", "from": ["am", "prev:s"], "n_out": 6}
            how_s = "tanh linear of am and prev:s"
        if sub_out:
            inner["blank_log_prob"]["is_output_layer"] = True
            inner["emit_log_prob"]["is_output_layer"] = True
        net[lm] = {"class": "rec", "from": enc, "back_prop": False, "include_eos": True,
                   "max_seq_len": f"max_len_from('base:{enc}')", "is_output_layer": True, "unit": inner}
        extra = ""
        if rng.random() < 0.3:
            net[lm]["target"] = _data_target(unit[choice])
            net[lm]["size_target"] = None
            extra = ", target / size_target None copied along"
        blank = _fresh(unit, "blank_log_prob")
        unit[blank] = {"class": "gather", "from": f"base:{lm}/blank_log_prob", "position": ":i", "axis": "t"}
        emit = _fresh(unit, "emit_log_prob")
        unit[emit] = {"class": "gather", "from": f"base:{lm}/emit_log_prob", "position": ":i", "axis": "t"}
        notes.append(f"root rec {lm} over {enc} ({how_s}{extra}; its log-probs "
                     + ("output layers of the unit" if sub_out else "not marked as output layers")
                     + f"), read by gather at :i ({blank}, {emit})")
    label_log = _log_of(unit, scores, is_prob, "label_log_prob")
    layout = rng.choices(["eos-first", "transducer"], [0.75, 0.25])[0]
    if layout == "eos-first" and eos not in (0, dim - 1):
        layout = "transducer"
    out = _fresh(unit, "output_log_prob")
    if layout == "transducer":
        le = _fresh(unit, "label_emit_log_prob")
        unit[le] = {"class": "combine", "kind": "add", "from": [label_log, emit]}
        unit[out] = {"class": "copy", "from": [le, blank]}
        notes.append(f"{out} = copy([{le} = {label_log} + {emit}, {blank}]): {dim + 1} labels, target {dim}")
    else:
        sl = _fresh(unit, "label_log_prob_wo_eos")
        if eos == 0:
            unit[sl] = {"class": "slice", "from": label_log, "axis": "f", "slice_start": 1}
        else:
            unit[sl] = {"class": "slice", "from": label_log, "axis": "f", "slice_start": 0, "slice_end": dim - 1}
        le = _fresh(unit, "label_emit_log_prob")
        unit[le] = {"class": "combine", "kind": "add", "from": [sl, emit]}
        unit[out] = {"class": "copy", "from": [blank, le] if eos == 0 else [le, blank]}
        notes.append(f"{out} = the blank score in EOS {eos}'s place, the other labels + {emit}")
    desc = unit[choice]
    desc["from"] = out
    desc["input_type"] = "log_prob"
    if rng.random() < 0.8:
        desc["length_normalization"] = False
    notes.append(f"{choice} chooses over {out}")
    return new, "; ".join(notes)


# ----------------------------------------------------------------------------------------------------
# ctx1-output-choice


def op_ctx1_output_choice(case: Case, rng: random.Random) -> Result:
    """Berger's context-1 recognition decoder: a feed-forward prediction net on the previous label, a joint,
    and the choice as a side layer ``output_choice`` of a dense ``output``."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, is_prob, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    notes = [f"{rec}/{choice}: context-1 decoder"]
    enc = _encoder(net, rec)
    state = _dense_state(unit, scores, choice)
    renamed = choice == "output" and rng.random() < 0.5
    new_choice = choice
    end_left = False
    if renamed:
        new_choice = _fresh(unit, "output_choice")
        forget_end = rng.random() < 0.2
        for k in _layers(unit):
            if k == "end" and forget_end:
                end_left = "output" in _sources(unit[k])
                if end_left:
                    continue
            _map_refs(unit[k], lambda r, nc=new_choice: nc if r == "output" else f"prev:{nc}"
                      if r == "prev:output" else r)
        unit[new_choice] = unit.pop("output")
    hid = rng.choice([6, 8])
    emb = _fresh(unit, "context_embedding")
    unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{new_choice}", "n_out": 4,
                 "with_bias": False, "initial_output": None}
    ff = _fresh(unit, "dec_ff_1")
    unit[ff] = {"class": "linear", "activation": "tanh", "from": emb, "n_out": hid}
    dec = _fresh(unit, "decoder")
    unit[dec] = {"class": "copy", "from": ff}
    if enc is not None and (state is None or rng.random() < 0.65):
        am = _fresh(unit, "am")
        unit[am] = {"class": "gather", "from": f"base:{enc}", "position": ":i", "axis": "t"}
        how_am = f"{am} = gather(base:{enc} at :i)"
    elif state is not None:
        am = state
        how_am = f"the base's {state}"
    else:
        return None
    joint = _fresh(unit, "joint_input")
    if rng.random() < 0.6:
        am_p = _fresh(unit, "am_proj")
        unit[am_p] = {"class": "linear", "activation": None, "from": am, "n_out": hid}
        unit[joint] = {"class": "combine", "kind": "add", "from": [am_p, dec]}
        how_j = f"add({am_p}, {dec})"
    else:
        unit[joint] = {"class": "copy", "from": [am, dec]}
        how_j = f"concat({am}, {dec})"
    jff = _fresh(unit, "joint_ff_1")
    unit[jff] = {"class": "linear", "activation": "tanh", "from": joint, "n_out": hid}
    dense = "output" if renamed else _fresh(unit, f"{choice}_joint_output")
    unit[dense] = {"class": "linear", "activation": "log_softmax", "from": jff, "n_out": dim}
    desc = unit[new_choice]
    desc["from"] = dense
    desc["input_type"] = "log_prob"
    notes.append(f"{emb} = linear(prev:{new_choice}, no bias, initial_output None), {ff}, {dec}; am {how_am}; "
                 f"{joint} = {how_j}; {jff}; {dense} = log_softmax linear ({dim})")
    if renamed:
        notes.append(f"the choice moved to {new_choice} (readers follow), the unit's output is the dense {dense}"
                     + ("; end left on the dense output" if end_left else ""))
    if rng.random() < 0.4:
        desc["initial_output"] = dim
        notes.append(f"{new_choice} initial_output {dim} (outside the vocabulary)")
    if rng.random() < 0.4:
        desc["beam_size"] = 1
        notes.append(f"{new_choice} beam_size 1")
    if rng.random() < 0.3:
        net[rec]["cheating"] = False
        notes.append(f"{rec} cheating False")
    return new, "; ".join(notes)


FRESH88_OPERATORS: tuple[Op, ...] = (
    Op("ctc-att-joint", op_ctc_att_joint, 1.2),
    Op("len-model-gather", op_len_model_gather, 1),
    Op("ctx1-output-choice", op_ctx1_output_choice, 1),
)
