"""A forty-eighth set of edit operators (issue 15, twelfth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Shape and indexing layers a user puts on beamed tensors, inside the searching loop (on attention energies
and weights, on the choice's scores) and after it (on the decoded labels): slicing, gathering, masking and
position ranges (none a variant of an earlier operator; no rule was written for any of them):

* ``reverse-labels``: the root readers of a searching decoder (its ``decide`` included), or the readers of
  a ``decide`` of it, read its output cut along the time axis by a ``slice``: reversed (``slice_step``
  -1, as for a right-to-left rescoring model), without its first frame (``slice_start`` 1), without its
  last frame (``slice_end`` -1, the end label) or every second frame (``slice_step`` 2); where nothing
  reads the place, the slice is a new output layer or is decided by a new output ``decide``;
* ``last-frame``: a new root output layer holds the last frame of each hypothesis of a searching decoder:
  a ``gather`` over the time axis (maybe ``clip_to_valid``) or a ``slice_nd`` of size 1, at a position
  one less than a ``length`` (an ``eval``); the frames are taken from the beamed decoder or from a
  ``decide`` of it, the length from either of them (not always the same one);
* ``range-in-loop``: inside a decoder loop, the positions along an axis of a beamed loop layer
  (``range_in_axis``, ``cast`` to float) bias it for its readers (an ``eval``): the encoder frames of an
  attention's energies (a prior for early frames, a diagonal prior against the frame index ``:i``, or the
  position relative to a ``length`` over that axis, of the energies or of the encoder layer they are
  computed from, read through ``base:``), or, where the loop has no attention, the label axis of a
  choice's scores (a prior by label index);
* ``seq-mask``: a ``seq_len_mask`` on a beamed tensor: inside the loop on an attention's energies
  (``mask_value`` -1e9) or weights (0), maybe with a ``start`` at the frame index ``:i``, for their
  readers; or after the loop on a searching decoder's output for its root readers (or as a new output
  layer), the lengths taken from the decoder itself or from a ``decide`` of it (``seq_len_source``);
* ``prev-label-prob``: inside a decoder loop, the probability the previous frame gave to the label it
  chose (a ``gather`` over the feature axis of ``prev:`` of the choice's scores at ``prev:`` of the
  choice), or to label 0 (a constant ``position``), is fed back: made a feature axis (``expand_dims``) and
  read by a dense loop layer as an extra source, or scaling a dense loop layer for its readers (``eval``).
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
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH46_SEED = 20270108
N_FRESH46 = 80

Result = "tuple[Case, str] | None"

#: dense loop layer classes a user feeds an extra value into or scales
_DENSE = ("linear", "softmax", "rnn_cell", "activation", "combine")


# ----------------------------------------------------------------------------------------------------
# Helpers


def _decides_of(net: dict[str, Any], rec: str) -> list[str]:
    """Root ``decide`` layers reading the decoder ``rec`` directly."""
    return [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]


def _a_decide(net: dict[str, Any], rec: str) -> tuple[str, bool]:
    """An existing ``decide`` of ``rec`` (the first), or a new one: (name, whether it is new)."""
    decides = _decides_of(net, rec)
    if decides:
        return decides[0], False
    name = _fresh(net, f"{rec}_decided")
    net[name] = {"class": "decide", "from": rec}
    return name, True


def _attention_sites(unit: dict[str, Any]) -> list[tuple[str, str]]:
    """(energies, weights) of the attentions of a loop unit: the sources of a ``softmax_over_spatial``
    that are loop layers, and the weights themselves."""
    out = []
    for w in _layers(unit):
        if unit[w].get("class") != "softmax_over_spatial":
            continue
        out += [(e, w) for e in _sources(unit[w]) if e in unit]
    return out


def _score_sites(unit: dict[str, Any]) -> list[tuple[str, str]]:
    """(choice, its scores) of the label choices of a loop unit whose scores are a loop softmax."""
    out = []
    for c in _unit_choices(unit):
        if unit[c].get("input_type") == "regression" or unit[c].get("target") is None:
            continue
        srcs = _sources(unit[c])
        if len(srcs) != 1 or srcs[0] not in unit:
            continue
        scores = unit[srcs[0]]
        if scores.get("class") == "softmax" or scores.get("activation") in ("softmax", "log_softmax"):
            out.append((c, srcs[0]))
    return out


def _log_scores(unit: dict[str, Any], choice: str, scores: str) -> bool:
    return unit[scores].get("activation") == "log_softmax" or unit[choice].get("input_type") == "log_prob"


# ----------------------------------------------------------------------------------------------------
# Operators


_SLICES: tuple[tuple[str, dict[str, int]], ...] = (
    ("reversed", {"slice_step": -1}),
    ("without its first frame", {"slice_start": 1}),
    ("without its last frame", {"slice_end": -1}),
    ("every second frame", {"slice_step": 2}),
)


def op_reverse_labels(case: Case, rng: random.Random) -> Result:
    """The decoded labels read cut along the time axis (``slice``) by their root readers, or a new
    output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    how, opts = rng.choices(_SLICES, [3, 1, 1, 1])[0]
    decides = _decides_of(net, rec)
    src = rec
    if decides and rng.random() < 0.25:
        src = decides[0]
    readers = _readers(net, src)
    name = _fresh(net, f"{src}_{'reversed' if opts.get('slice_step') == -1 else 'sliced'}")
    net[name] = {"class": "slice", "from": src, "axis": "T", **opts}
    if readers and rng.random() < 0.75:
        _redirect(net, readers, src, name)
        return new, f"root readers {', '.join(readers)} of {src} read {name}: {src} {how} (slice {opts})"
    if src == rec and rng.random() < 0.5:
        dec = _fresh(net, f"{name}_decided")
        net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
        return new, f"new output {dec}: decide over {name}, {src} {how} (slice {opts})"
    net[name]["is_output_layer"] = True
    return new, f"new output {name}: {src} {how} (slice {opts})"


def op_last_frame(case: Case, rng: random.Random) -> Result:
    """A root output layer with the last frame of each hypothesis: ``gather`` / ``slice_nd`` at one less
    than a ``length``."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    frames_from, len_from = rng.choice([("beam", "beam"), ("beam", "decide"), ("decide", "decide"),
                                        ("decide", "beam")])
    dec = ""
    if "decide" in (frames_from, len_from):
        dec, _ = _a_decide(net, rec)
    src = rec if frames_from == "beam" else dec
    len_src = rec if len_from == "beam" else dec
    length = _fresh(net, f"{len_src}_length")
    net[length] = {"class": "length", "from": len_src}
    last = _fresh(net, f"{len_src}_last_pos")
    net[last] = {"class": "eval", "from": length, "eval": "source(0) - 1"}
    if rng.random() < 0.7:
        out = _fresh(net, f"{src}_last_frame")
        net[out] = {"class": "gather", "from": src, "axis": "T", "position": last, "is_output_layer": True}
        how = "gather"
        if rng.random() < 0.4:
            net[out]["clip_to_valid"] = True
            how = "gather (clip_to_valid)"
    else:
        out = _fresh(net, f"{src}_last_slice")
        net[out] = {"class": "slice_nd", "from": src, "start": last, "size": 1, "is_output_layer": True}
        how = "slice_nd (size 1)"
    return new, f"new output {out}: {how} of {src} over T at {last} (length of {len_src} minus 1)"


def op_range_in_loop(case: Case, rng: random.Random) -> Result:
    """Positions along an axis of a beamed loop layer (``range_in_axis``) bias it for its readers."""
    new, net = _copy(case)
    att = [(r, e, w) for r in _searching_recs(net) for e, w in _attention_sites(net[r]["unit"])]
    scores = [(r, c, s) for r in _searching_recs(net) for c, s in _score_sites(net[r]["unit"])]
    if att:
        rec, energy, _ = rng.choice(att)
        unit = net[rec]["unit"]
        readers = _readers(unit, energy)
        pos = _fresh(unit, f"{energy}_pos")
        unit[pos] = {"class": "range_in_axis", "from": energy, "axis": "T"}
        posf = _fresh(unit, f"{pos}_float")
        unit[posf] = {"class": "cast", "from": pos, "dtype": "float32"}
        biased = _fresh(unit, f"{energy}_biased")
        kind = rng.choice(["early", "diagonal", "relative"])
        if kind == "early":
            unit[biased] = {"class": "eval", "from": [energy, posf], "eval": "source(0) - 0.05 * source(1)"}
            extra = ""
        elif kind == "diagonal":
            step = _fresh(unit, "step_float")
            unit[step] = {"class": "cast", "from": ":i", "dtype": "float32"}
            unit[biased] = {"class": "eval", "from": [energy, posf, step],
                            "eval": "source(0) - 0.1 * tf.abs(source(1) - source(2))"}
            extra = f" against {step} (:i)"
        else:
            encs = sorted({r for k in {energy} | _frame_ancestors(unit, energy) for r in _sources(unit[k])
                           if r.startswith("base:") and not r.startswith("base:data")})
            if encs and rng.random() < 0.5:
                length = _fresh(unit, f"{encs[0][len('base:'):].replace('/', '_')}_len")
                unit[length] = {"class": "length", "from": encs[0], "axis": "T"}
            else:
                length = _fresh(unit, f"{energy}_len")
                unit[length] = {"class": "length", "from": energy, "axis": "T"}
            lenf = _fresh(unit, f"{length}_float")
            unit[lenf] = {"class": "cast", "from": length, "dtype": "float32"}
            unit[biased] = {"class": "eval", "from": [energy, posf, lenf],
                            "eval": "source(0) - source(1) / tf.maximum(source(2), 1.0)"}
            extra = f" relative to {length} (length over T of {unit[length]['from']})"
        _redirect(unit, readers, energy, biased)
        return new, (f"{rec}: {', '.join(readers)} read {biased}: {energy} biased by {kind} positions "
                     f"{pos} (range_in_axis T){extra}")
    if not scores:
        return None
    rec, choice, sc = rng.choice(scores)
    unit = net[rec]["unit"]
    readers = _readers(unit, sc)
    pos = _fresh(unit, f"{sc}_label_pos")
    unit[pos] = {"class": "range_in_axis", "from": sc, "axis": "F"}
    posf = _fresh(unit, f"{pos}_float")
    unit[posf] = {"class": "cast", "from": pos, "dtype": "float32"}
    biased = _fresh(unit, f"{sc}_label_prior")
    scale = rng.choice([0.001, 0.01])
    if _log_scores(unit, choice, sc):
        unit[biased] = {"class": "eval", "from": [sc, posf], "eval": f"source(0) - {scale} * source(1)"}
    else:
        unit[biased] = {"class": "eval", "from": [sc, posf], "eval": f"source(0) * tf.exp(-{scale} * source(1))"}
    _redirect(unit, readers, sc, biased)
    return new, (f"{rec}: {', '.join(readers)} read {biased}: {sc} with a label-index prior "
                 f"({pos}, range_in_axis F, scale {scale})")


def op_seq_mask(case: Case, rng: random.Random) -> Result:
    """A ``seq_len_mask`` on an attention's energies or weights in the loop, or on a decoder's output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    att = [(r, e, w) for r in recs for e, w in _attention_sites(net[r]["unit"])]
    if att and rng.random() < 0.7:
        rec, energy, weights = rng.choice(att)
        unit = net[rec]["unit"]
        on_weights = rng.random() < 0.4
        target = weights if on_weights else energy
        readers = _readers(unit, target)
        if not readers:
            return None
        masked = _fresh(unit, f"{target}_masked")
        unit[masked] = {"class": "seq_len_mask", "from": target, "axis": "T",
                        "mask_value": 0.0 if on_weights else -1e9}
        extra = ""
        if rng.random() < 0.4:
            unit[masked]["start"] = ":i"
            extra = ", start at :i"
        _redirect(unit, readers, target, masked)
        return new, (f"{rec}: {', '.join(readers)} read {masked}: seq_len_mask of {target} over T "
                     f"(mask_value {unit[masked]['mask_value']}{extra})")
    if not recs:
        return None
    rec = rng.choice(recs)
    readers = [k for k in _readers(net, rec) if net[k].get("class") != "decide"]
    masked = _fresh(net, f"{rec}_masked")
    net[masked] = {"class": "seq_len_mask", "from": rec, "axis": "T", "mask_value": 0}
    lens = "its own lengths"
    if rng.random() < 0.6:
        dec, _ = _a_decide(net, rec)
        net[masked]["seq_len_source"] = dec
        lens = f"the lengths of {dec}"
    if readers and rng.random() < 0.7:
        _redirect(net, readers, rec, masked)
        return new, f"root readers {', '.join(readers)} of {rec} read {masked}: seq_len_mask by {lens}"
    net[masked]["is_output_layer"] = True
    return new, f"new output {masked}: seq_len_mask of {rec} by {lens}"


def op_prev_label_prob(case: Case, rng: random.Random) -> Result:
    """The previous frame's probability of its label (``gather`` over F of ``prev:`` scores) fed back."""
    new, net = _copy(case)
    sites = [(r, c, s) for r in _searching_recs(net) for c, s in _score_sites(net[r]["unit"])]
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    by_label = rng.random() < 0.7
    prob = _fresh(unit, f"prev_{choice}_prob" if by_label else f"prev_{scores}_at_0")
    unit[prob] = {"class": "gather", "from": f"prev:{scores}", "axis": "F",
                  "position": f"prev:{choice}" if by_label else 0}
    what = f"prev:{scores} at prev:{choice}" if by_label else f"prev:{scores} at label 0"
    labels = {choice, f"prev:{choice}"}
    dense = [k for k in _layers(unit) if k not in (prob, choice, "end") and unit[k].get("class") in _DENSE
             and not labels & set(_sources(unit[k])) and _sources(unit[k])]
    if not dense:
        return None
    if rng.random() < 0.5:
        feeds = [k for k in dense if unit[k].get("class") in ("linear", "softmax", "rnn_cell")]
        if feeds:
            feed = rng.choice(feeds)
            feat = _fresh(unit, f"{prob}_feat")
            unit[feat] = {"class": "expand_dims", "from": prob, "axis": "F"}
            _add_source(unit[feed], feat)
            return new, f"{rec}/{feed} also reads {feat}: expand_dims F of {prob} ({what}, gather F)"
    state = rng.choice([k for k in dense if _readers(unit, k)] or dense)
    readers = _readers(unit, state)
    if not readers:
        return None
    scaled = _fresh(unit, f"{state}_by_{prob}")
    unit[scaled] = {"class": "eval", "from": [state, prob], "eval": "source(0) * (0.5 + source(1))"}
    _redirect(unit, readers, state, scaled)
    return new, f"{rec}: {', '.join(readers)} read {scaled}: {state} scaled by {prob} ({what}, gather F)"


FRESH46_OPERATORS: tuple[Op, ...] = (
    Op("reverse-labels", op_reverse_labels, 1),
    Op("last-frame", op_last_frame, 1),
    Op("range-in-loop", op_range_in_loop, 1),
    Op("seq-mask", op_seq_mask, 1),
    Op("prev-label-prob", op_prev_label_prob, 1),
)
