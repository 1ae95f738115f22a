"""A thirtieth set of edit operators (issue 15, ninth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs, after fresh27 was opened: held out,
looked at as counts only when first measured.

Transducer-style and segmental decoding inside a searching decoder loop: a label choice that may emit a
blank (label 0, or the last label of the vocabulary), and the parts of the loop that only move on when a
real label is emitted (none a variant of an earlier one; no rule was written for any of them):

* ``nonblank-lm``: a slow, label-synchronous part of the loop: a ``masked_computation`` (a ``subnetwork``
  of an embedding and an LSTM ``rec`` cell, or the cell over an existing label embedding) over the
  previous label, masked by the previous label not being the blank (``prev:`` of a ``compare`` on the
  choice with ``initial_output: True``, or a ``compare`` on ``prev:`` of the choice), or over this
  frame's label masked by this frame's label not being the blank (then read as ``prev:``); read back
  through an ``unmask`` (or directly) as an extra source of a layer the choice's scores depend on;
* ``emit-position``: an encoder position counter advanced by an emitted label (or by a blank): a
  ``compare`` of the choice (or ``prev:`` of it) with the blank, ``cast`` to int32, ``combine`` add with
  ``prev:`` of the counter (``initial_output`` 0); the encoder frame at the position is picked by a
  ``gather`` (``position``, maybe ``clip_to_valid``), a ``slice_nd`` (``start`` and ``size``, reduced
  over the sliced axis) or a ``gather`` over a root ``window`` of the encoder (merged), and fed to a
  layer the choice's scores depend on;
* ``blank-factor``: the choice's scores are factorised into an emit / blank probability and a label
  distribution: a linear logit of the scores' input, ``log_sigmoid`` of it for emitting and of its
  negative for the blank, added to the log-softmax of the labels (a new linear layer, or a ``slice`` of
  the log of the old scores without the blank's entry) and concatenated with the blank's entry first or
  last (``copy`` of two sources or ``concat``); the choice takes ``input_type: log_prob``;
* ``masked-emit``: a choice over the loop's output labels that is only emitted under a mask: either the
  label kept over blank frames (a ``masked_computation`` with a ``copy`` unit over the choice, masked by
  the label not being the blank, maybe read through an ``unmask``) which the readers of ``prev:`` of the
  choice read instead, or a second choice over the same scores inside a ``masked_computation`` masked by
  the previous label not being the blank, marked an output (maybe fed back through ``prev:``);
* ``strip-blanks``: the root readers of a transducer decoder read its labels with the blanks removed: a
  root ``masked_computation`` (``copy`` unit) over the decoder, masked by an emit flag of the loop read by
  its path (``REC/emit``, marked an output) or by a root ``compare`` of the decoder's labels, maybe
  ``reinterpret_data`` after it; where the decoder has no root reader, a ``decide`` over it is an output.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
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
FRESH28_SEED = 20261221
N_FRESH28 = 80

Result = "tuple[Case, str] | None"

#: loop layers that take one more input as more features (a new source is concatenated)
_FEED = ("linear", "softmax", "rnn_cell")
#: root layer classes that keep the encoder's time axis (frame by frame)
_ENCODER = ("linear", "copy", "rec", "activation", "layer_norm", "dropout", "combine")
#: root layer classes that lose a time axis (or are not an encoder)
_NO_TIME = ("reduce", "length", "choice", "decide", "decide_keep_beam", "constant", "variable", "gather",
            "slice_nd", "squeeze", "range_in_axis", "top_k", "reduce_out", "subnetwork", "window")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of one target (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str)]


def _blank(case: Case, unit: dict[str, Any], choice: str, rng: random.Random) -> int:
    """The blank label: label 0 or the last label of the choice's vocabulary."""
    dim = _target_dim(case, unit[choice].get("target"))
    return rng.choice([0, dim - 1]) if dim and dim > 2 else 0


def _attention(unit: dict[str, Any]) -> set[str]:
    """Layers of an attention (over the encoder's time axis) in a loop unit."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") in ("softmax_over_spatial", "dot"):
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _sparse(unit: dict[str, Any], ref: str, depth: int = 0) -> bool:
    """Whether a loop reference (roughly) gives labels: a choice, its previous frame, a copy of one, a
    data key."""
    if ref.startswith(("data:", "base:data:")):
        return True
    name = ref.removeprefix("prev:")
    desc = unit.get(name)
    if not isinstance(desc, dict) or depth > 20:
        return False
    if desc.get("class") == "choice":
        return desc.get("input_type") != "regression"
    if desc.get("class") in ("copy", "reinterpret_data", "masked_computation", "unmask"):
        return any(_sparse(unit, s, depth + 1) for s in _sources(desc))
    return False


def _feeds(unit: dict[str, Any], choice: str) -> list[str]:
    """Loop layers the choice's scores depend on in the frame that can take one more (dense) source."""
    att = _attention(unit)
    out = []
    for k in sorted(_frame_ancestors(unit, choice)):
        desc = unit[k]
        cls = desc.get("class")
        if k in att or k == "end" or not _sources(desc) or any(_sparse(unit, s) for s in _sources(desc)):
            continue
        if cls in _FEED or (cls == "rec" and isinstance(desc.get("unit"), str)):
            out.append(k)
    return out


def _time_layers(net: dict[str, Any]) -> set[str]:
    """Root layers with the encoder's time axis (roughly: no reducing layer on the way from ``data``)."""
    memo: dict[str, bool] = {}

    def timed(name: str, depth: int = 0) -> bool:
        if name == "data" or name.startswith("data:"):
            return True
        if name not in net or depth > 200:
            return False
        if name in memo:
            return memo[name]
        memo[name] = False
        desc = net[name]
        cls = desc.get("class")
        srcs = _sources(desc) if "from" in desc else ["data"]
        ok = cls not in _NO_TIME and not (cls == "rec" and not isinstance(desc.get("unit"), str)) and bool(srcs)
        ok = ok and all(timed(s, depth + 1) for s in srcs)
        memo[name] = ok
        return ok

    return {k for k in _layers(net) if timed(k)}


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Encoder layers a loop can pick frames of: root layers with the time axis the loop reads (``base:``,
    or in its ``max_seq_len``), of an encoder's kind, not beamed."""
    text = repr(net[rec].get("max_seq_len", ""))
    read = set()
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            read |= {r[len("base:"):] for r in _all_refs(desc) if r.startswith("base:")}
    timed, beamed = _time_layers(net), _beamed_roots(net)
    return [k for k in _layers(net) if (k in read or f"base:{k}'" in text) and k in timed
            and net[k].get("class") in _ENCODER and k not in beamed and not net[k].get("target")
            and not net[k].get("loss")]


def _all_refs(desc: dict[str, Any]) -> list[str]:
    out = []
    for key in ("from", "base", "weights", "keys", "values"):
        value = desc.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
    return out


def _emit_flag(unit: dict[str, Any], choice: str, blank: int, rng: random.Random) -> tuple[str, str, str]:
    """A mask that the previous label was not the blank: (mask reference, new layer, how it reads)."""
    if rng.random() < 0.6:
        emit = _fresh(unit, f"{choice}_emit")
        unit[emit] = {"class": "compare", "from": choice, "kind": "not_equal", "value": blank,
                      "initial_output": True}
        return f"prev:{emit}", emit, f"prev:{emit} ({choice} != {blank})"
    emit = _fresh(unit, f"prev_{choice}_emit")
    unit[emit] = {"class": "compare", "from": f"prev:{choice}", "kind": "not_equal", "value": blank}
    return emit, emit, f"{emit} (prev:{choice} != {blank})"


def op_nonblank_lm(case: Case, rng: random.Random) -> Result:
    """A label-synchronous LM part of the loop, updated only on non-blank labels (``masked_computation``,
    read back through ``unmask``), fed to a layer the choice's scores depend on."""
    new, net = _copy(case)
    sites = [(r, c, f) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             for f in _feeds(net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice, user = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = _blank(case, unit, choice, rng)
    current = rng.random() < 0.25
    if current:
        emit = _fresh(unit, f"{choice}_emit")
        unit[emit] = {"class": "compare", "from": choice, "kind": "not_equal", "value": blank}
        mask, how, src = emit, f"{emit} ({choice} != {blank})", choice
    else:
        mask, _, how = _emit_flag(unit, choice, blank, rng)
        src = f"prev:{choice}"
    embs = [k for k in _layers(unit) if unit[k].get("class") == "linear" and _sources(unit[k]) == [src]
            and k != user]
    cell = rng.choice(["nativelstm2", "standardlstm"])
    n_out = rng.choice([4, 8])
    if embs and rng.random() < 0.4:
        src = rng.choice(embs)
        inner = {"class": "rec", "unit": cell, "from": "data", "n_out": n_out}
    else:
        inner = {"class": "subnetwork", "from": "data", "subnetwork": {
            "input_embed": {"class": "linear", "activation": None, "with_bias": False, "from": "data",
                            "n_out": rng.choice([4, 6])},
            "lstm": {"class": "rec", "unit": cell, "from": "input_embed", "n_out": n_out},
            "output": {"class": "copy", "from": "lstm"}}}
    masked = _fresh(unit, "lm_masked")
    unit[masked] = {"class": "masked_computation", "mask": mask, "from": src, "unit": inner}
    read = masked
    if rng.random() < 0.7:
        read = _fresh(unit, "lm")
        unit[read] = {"class": "unmask", "from": masked, "mask": mask}
    ref = f"prev:{read}" if current else read
    _add_source(unit[user], ref)
    return new, (f"{rec}/{user} also reads {ref}: {rec}/{masked} ({inner['class']} with {cell}) over {src}, "
                 f"masked by {how}")


def op_emit_position(case: Case, rng: random.Random) -> Result:
    """An encoder position counter advanced by emitted labels (or blanks), the encoder frame at it fed to a
    layer the choice's scores depend on."""
    new, net = _copy(case)
    sites = [(r, c, f, e) for r in _searching_recs(net) for e in _encoders(net, r)
             for c in _label_choices(net[r]["unit"]) for f in _feeds(net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice, user, enc = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = _blank(case, unit, choice, rng)
    src = rng.choice([choice, f"prev:{choice}"])
    kind = rng.choice(["not_equal", "equal"])
    step = _fresh(unit, f"{choice}_{'is_label' if kind == 'not_equal' else 'is_blank'}")
    unit[step] = {"class": "compare", "from": src, "kind": kind, "value": blank}
    step_i = _fresh(unit, f"{step}_int")
    unit[step_i] = {"class": "cast", "from": step, "dtype": "int32"}
    pos = _fresh(unit, "enc_pos")
    unit[pos] = {"class": "combine", "kind": "add", "from": [f"prev:{pos}", step_i], "initial_output": 0}
    at = pos if src.startswith("prev:") else f"prev:{pos}"
    pick = rng.choice(["gather", "slice_nd", "window"])
    if pick == "gather":
        frame = _fresh(unit, f"{enc}_at_pos")
        unit[frame] = {"class": "gather", "from": f"base:{enc}", "position": at, "axis": "T"}
        if rng.random() < 0.6:
            unit[frame]["clip_to_valid"] = True
        what = f"gather of {enc} at {at}"
    elif pick == "slice_nd":
        size = rng.choice([2, 3])
        sl = _fresh(unit, f"{enc}_segment")
        unit[sl] = {"class": "slice_nd", "from": f"base:{enc}", "start": at, "size": size}
        frame = _fresh(unit, f"{sl}_{'max' if size == 2 else 'mean'}")
        unit[frame] = {"class": "reduce", "mode": "max" if size == 2 else "mean", "axis": f"stag:sliced-time:{sl}",
                       "from": sl}
        what = f"slice_nd of {enc} from {at}, size {size}, reduced"
    else:
        size = rng.choice([3, 5])
        win = _fresh(net, f"{enc}_win")
        net[win] = {"class": "window", "from": enc, "window_size": size}
        got = _fresh(unit, f"{win}_at_pos")
        unit[got] = {"class": "gather", "from": f"base:{win}", "position": at, "axis": "T", "clip_to_valid": True}
        frame = _fresh(unit, f"{got}_merged")
        unit[frame] = {"class": "merge_dims", "from": got, "axes": "except_batch"}
        what = f"gather of the root window {win} (size {size}) of {enc} at {at}, merged"
    _add_source(unit[user], frame)
    return new, (f"{rec}/{user} also reads {frame}, a {what}; {rec}/{pos} counts {src} "
                 f"{'!=' if kind == 'not_equal' else '=='} {blank}")


def op_blank_factor(case: Case, rng: random.Random) -> Result:
    """The choice's scores factorised into emit / blank log-probabilities and a label log-softmax."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            srcs = _sources(unit[c])
            if len(srcs) != 1 or srcs[0] not in unit:
                continue
            scores = unit[srcs[0]]
            dim = _target_dim(case, unit[c]["target"])
            if (scores.get("class") == "softmax" or scores.get("activation") in ("softmax", "log_softmax")) \
                    and dim and dim > 2 and _sources(scores):
                sites.append((rec, c, srcs[0], dim))
    if not sites:
        return None
    rec, choice, scores, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = rng.choice([0, dim - 1])
    feats = _sources(unit[scores])
    feat = feats[0] if len(feats) == 1 else feats
    logit = _fresh(unit, "emit_logit")
    unit[logit] = {"class": "linear", "activation": None, "from": feat, "n_out": 1}
    emit = _fresh(unit, "emit_log_prob")
    unit[emit] = {"class": "activation", "activation": "log_sigmoid", "from": logit}
    blank_lp = _fresh(unit, "blank_log_prob")
    unit[blank_lp] = {"class": "eval", "from": logit, "eval": "-tf.nn.softplus(source(0))"}
    label = _fresh(unit, "label_log_prob")
    if rng.random() < 0.6:
        unit[label] = {"class": "linear", "activation": "log_softmax", "from": feat, "n_out": dim - 1}
        how = f"a new log-softmax {label} over {feat}"
    else:
        log_scores = scores
        if unit[scores].get("activation") != "log_softmax":
            log_scores = _fresh(unit, f"{scores}_log")
            unit[log_scores] = {"class": "activation", "activation": "safe_log", "from": scores}
        unit[label] = {"class": "slice", "from": log_scores, "axis": "F"}
        if blank == 0:
            unit[label]["slice_start"] = 1
        else:
            unit[label]["slice_end"] = dim - 1
        how = f"{label}, the log of {scores} without entry {blank}"
    label_emit = _fresh(unit, "label_emit_log_prob")
    unit[label_emit] = {"class": "combine", "kind": "add", "from": [label, emit]}
    parts = [blank_lp, label_emit] if blank == 0 else [label_emit, blank_lp]
    out = _fresh(unit, f"{choice}_log_prob")
    if rng.random() < 0.5:
        unit[out] = {"class": "copy", "from": parts}
    else:
        unit[out] = {"class": "concat", "from": [[p, "F"] for p in parts]}
    unit[choice]["from"] = out
    unit[choice]["input_type"] = "log_prob"
    return new, (f"{rec}/{choice} scores over {out}: blank {blank} from {blank_lp}, labels {label_emit} = "
                 f"{how} + {emit} ({unit[out]['class']})")


def op_masked_emit(case: Case, rng: random.Random) -> Result:
    """A label only emitted under a mask: the last non-blank label held by a ``masked_computation`` that the
    readers of the previous label read, or a second choice inside a ``masked_computation``."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = _blank(case, unit, choice, rng)
    readers = [k for k in _readers(unit, choice, f"prev:{choice}") if unit[k].get("class") != "choice"
               and f"prev:{choice}" in _sources(unit[k])]
    scores = _sources(unit[choice])
    if readers and (rng.random() < 0.5 or len(scores) != 1 or scores[0] not in unit):
        emit = _fresh(unit, f"{choice}_emit")
        unit[emit] = {"class": "compare", "from": choice, "kind": "not_equal", "value": blank}
        held = _fresh(unit, f"{choice}_non_blank")
        init = unit[choice].get("initial_output", 0)
        unit[held] = {"class": "masked_computation", "mask": emit, "from": choice,
                      "unit": {"class": "copy", "from": "data", "initial_output": init}}
        read = held
        if rng.random() < 0.4:
            read = _fresh(unit, f"{held}_unmasked")
            unit[read] = {"class": "unmask", "from": held, "mask": emit, "initial_output": init}
        _redirect(unit, readers, f"prev:{choice}", f"prev:{read}")
        return new, (f"{rec}: {', '.join(readers)} read prev:{read}, the last label of {choice} that was not "
                     f"{blank} ({held} masked by {emit})")
    if len(scores) != 1 or scores[0] not in unit:
        return None
    mask, _, how = _emit_flag(unit, choice, blank, rng)
    second = _fresh(unit, f"{choice}_emitted")
    inner = {"class": "choice", "from": "data", "target": unit[choice]["target"],
             "beam_size": rng.choice([1, 2, 4]), "initial_output": 0}
    if unit[choice].get("input_type"):
        inner["input_type"] = unit[choice]["input_type"]
    unit[second] = {"class": "masked_computation", "mask": mask, "from": scores[0], "unit": inner,
                    "is_output_layer": True}
    fed = ""
    feeds = [k for k in _feeds(unit, choice) if unit[k].get("class") == "linear"]
    if feeds and rng.random() < 0.5:
        user = rng.choice(feeds)
        emb = _fresh(unit, f"{second}_embed")
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{second}",
                     "n_out": 4}
        _add_source(unit[user], emb)
        fed = f", fed back into {user} through {emb}"
    return new, (f"{rec}/{second}: a choice (beam {inner['beam_size']}) over {scores[0]} inside a "
                 f"masked_computation masked by {how}, an output{fed}")


def op_strip_blanks(case: Case, rng: random.Random) -> Result:
    """The root readers of a decoder read its labels with the blanks removed (a root
    ``masked_computation``), or a ``decide`` over those is an output."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        out = unit.get("output", {})
        if out.get("class") == "choice" and "output" in _label_choices(unit):
            sites.append((rec, "output"))
        elif out.get("class") == "copy" and _sources(out) and _sources(out)[0] in _label_choices(unit):
            sites.append((rec, _sources(out)[0]))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = _blank(case, unit, choice, rng)
    if rng.random() < 0.6:
        emit = _fresh(unit, "output_emit")
        unit[emit] = {"class": "compare", "from": choice, "kind": "not_equal", "value": blank,
                      "is_output_layer": True}
        mask = f"{rec}/{emit}"
    else:
        mask = _fresh(net, f"{rec}_emit")
        net[mask] = {"class": "compare", "from": rec, "kind": "not_equal", "value": blank}
    readers = _readers(net, rec)
    src, first = rec, ""
    if rng.random() < 0.3:
        decs = [k for k in readers if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
        if decs:
            src = decs[0]
            readers = _readers(net, src)
        else:
            src = _fresh(net, f"{rec}_decided")
            net[src] = {"class": "decide", "from": rec}
            readers = []
        first = f" (decided first: {src})"
    stripped = _fresh(net, f"{rec}_wo_b0")
    net[stripped] = {"class": "masked_computation", "mask": mask, "from": src, "unit": {"class": "copy"}}
    read = stripped
    dim = _target_dim(case, unit[choice].get("target"))
    if dim and rng.random() < 0.4:
        read = _fresh(net, f"{rec}_wo_b")
        net[read] = {"class": "reinterpret_data", "from": stripped, "set_sparse_dim": dim}
    if readers and rng.random() < 0.8:
        _redirect(net, readers, src, read)
        return new, f"{', '.join(readers)} read {read}: {src} without label {blank} (masked by {mask}){first}"
    if src != rec:
        net[read]["is_output_layer"] = True
        return new, f"{read}, an output: {src} without label {blank} (masked by {mask}){first}"
    dec = _fresh(net, f"{read}_decision")
    net[dec] = {"class": "decide", "from": read, "is_output_layer": True}
    return new, f"{dec} decides {read}: {rec} without label {blank} (masked by {mask})"


FRESH28_OPERATORS: tuple[Op, ...] = (
    Op("nonblank-lm", op_nonblank_lm, 1),
    Op("emit-position", op_emit_position, 1.3),
    Op("blank-factor", op_blank_factor, 1),
    Op("masked-emit", op_masked_emit, 1),
    Op("strip-blanks", op_strip_blanks, 1),
)
