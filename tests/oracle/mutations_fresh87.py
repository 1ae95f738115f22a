"""An eighty-ninth set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

RETURNN layer classes whose own code handles the beam (read in the installed ``returnn/tf/layers/basic.py``,
``rec.py`` and ``base.py``): the ``loss`` layer (``LossLayer``) and ``gather_nd`` (``GatherNdLayer``), which
no earlier operator writes, and ``repeat`` (``RepeatLayer``) with a ``repetitions`` layer from the loop, each
placed where users place it on a searching decoder's beam path, in the forms real configs write (the RNN-T /
hard-attention configs of rwth-i6/returnn-experiments, ``rexp-2020-rnnt-*`` and
``2021-latent-monotonic-attention``, keep ``"output_ce": {"class": "loss", "from": "output_prob", "target_":
"layer:output", "loss_": "ce"}`` and ``"am0": {"class": "gather_nd", "from": "base:encoder", "position":
"prev:t"}`` in their decoders; ``repeat`` is RETURNN's length regulator for durations, ``RepeatLayer``'s
docstring) and in forms that break (none a variant of an earlier operator; no rule was written for any of
them).

* ``loss-layer``: a ``loss`` layer (``loss_`` ``ce``) over a label choice's scores layer, as a per-label
  confidence / frame-error feature: in the loop against this frame's choice (``target_`` ``layer:CHOICE``,
  maybe ``loss_opts_`` label smoothing as in the RNN-T config; ``input_type`` ``logits`` for a ``log_prob``
  choice), as an output layer of the loop, maybe its ``/error`` sub-layer copied out, maybe summed over the
  frames at the root through ``REC/X``; or its previous value (the loss, or with ``use_error`` the frame
  error) fed back into a dense loop layer on the scores' path (``expand_dims`` of ``prev:X``, an extra
  source); against the previous frame's label (``layer:prev:CHOICE``); against the reference (``target_``
  left out, so RETURNN takes the default target of the extern data, or the choice's data key spelled out);
  or at the root on the loop's accumulated scores
  (``REC/SCORES``, made an output layer of the loop) against the decoder's labels, a ``decide`` of them or the
  reference. Targets: ``LossLayer.get_out_data_from_opts`` (the output beam is ``SearchBeam.get_combined_beam``
  of the source's and the ``target_`` layer's, ``available_for_inference`` from the target),
  ``LossLayer.transform_config_dict`` (``get_default_target`` of the extern data, ``layer:`` targets through
  ``get_layer``, ``prev:`` included), ``Loss.init``'s beam handling (``target.copy_extend_with_beam`` or
  ``assert not target.beam``), the sub-layers ``loss`` / ``error``, and at the network level
  ``SearchChoices.translate_to_common_search_beam`` over the non-``from`` option ``target_`` and the
  data-not-available checks of a target key in search.
* ``gather-nd-position``: the deprecated ``gather_nd`` that old transducer / hard-attention configs use to read
  one encoder frame per decoder step, added as an extra source of a dense loop layer on the scores' path:
  ``gather_nd`` of ``base:ENC`` at ``:i`` (the time-synchronous form, no batch in the position), at ``:i``
  clipped to the encoder length (an ``eval`` of ``:i`` and a root ``length`` read through ``base:``), or at
  ``prev:t`` of a position counter ``t = prev:t + cast(CHOICE == SYM)`` (``combine`` add, ``initial_output``
  0; the RNN-T ``t`` that moves on when a given label is chosen, or the count of non-EOS labels, maybe clipped
  to the encoder length); or at the root after the loop, ``gather_nd`` of a loop layer's accumulated frames
  (``REC/L``, an output layer of the loop) at the last decoder frame (``length`` of the decoder minus one),
  or, the mix-up, at the last encoder frame (``length`` of the encoder minus one), maybe then ``decide``-d.
  Targets: ``GatherNdLayer.get_out_data_from_opts`` (``out_type["beam"] = SearchBeam.get_combined_beam`` of the
  position's and the input's beams; a batch-less position gets the input's batch by ``copy_add_batch_dim``)
  and ``__init__`` (``batch_gather`` of batch-major input and position), the prev-frame search choices of
  ``prev:t``, and ``SearchChoices.translate_to_common_search_beam`` over the non-``from`` option ``position``.
* ``repeat-durations``: a duration head in the loop (a ``linear`` of a dense loop layer on the scores' path to
  4 / 8 / 16 duration classes and its ``reduce`` ``argmax``, an output layer of the loop) and, after the loop, a
  ``repeat`` along ``T`` (the length regulator of duration models) whose ``repetitions`` are the loop's
  durations ``REC/dur`` (beamed): of an embedding (root ``linear``) of the beamed decoder labels (maybe
  ``decide``-d after), of the loop's own label embedding read by path (``REC/EMB``, made an output layer), or,
  the mix-ups, of an embedding of the ``decide``-d labels (no beam) by the beamed durations, or of the beamed
  labels' embedding by ``decide``-d durations. Targets: ``RepeatLayer.get_out_data_from_opts`` (the output
  takes the input's batch and beam; a batch-less input gets ``repetitions``' batch), ``__init__``
  (``copy_placeholder_with_batch_axis`` of input and repetitions with each other's batch, the asserts on the
  repetitions' axis and batch), ``SearchChoices.translate_to_common_search_beam`` over the non-``from`` option
  ``repetitions``, and ``DecideLayer`` on a dim whose sizes come from beamed durations.
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
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH87_SEED = 20270149
N_FRESH87 = 80

Result = "tuple[Case, str] | None"

#: Classes that keep the time axis of their first source (for finding an encoder layer with frames).
_TIME_KEEPING = ("linear", "copy", "activation", "softmax", "combine", "eval", "dropout", "layer_norm",
                 "batch_norm", "reinterpret_data", "scaled_grad", "positional_encoding",
                 "self_attention", "identity")
#: Dense loop layers that take an extra source by concatenating it on the features.
_DENSE = ("linear", "rnn_cell", "softmax")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("search", True) is not False and _data_target(unit[c]) is not None]


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a choice scores, its input_type) for a one-source prob / log_prob choice."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _mark_output(unit: dict[str, Any], name: str) -> None:
    unit[name]["is_output_layer"] = True


def _has_time(net: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether a root layer (roughly) has the input's time axis and features: ``data`` and the layers
    of :data:`_TIME_KEEPING` / encoder ``rec`` layers over it."""
    if depth > 12:
        return False
    if name in ("data", "data:data"):
        return True
    desc = net.get(name)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls == "rec":
        unit = desc.get("unit")
        if isinstance(unit, dict) or desc.get("target"):
            return False  # a decoder (its own time axis)
    elif cls not in _TIME_KEEPING:
        return False
    srcs = _sources(desc) if "from" in desc else ["data"]
    if not srcs or any(":" in s and not s.startswith("data") for s in srcs):
        return False
    return _has_time(net, srcs[0], depth + 1)


def _encoders(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with frames (and features) the decoder ``rec`` reads (transitively); else the input
    ``data`` if it is dense; else none."""
    found = [k for k in sorted(_root_ancestors(net, rec)) if _has_time(net, k)]
    if found:
        return found
    return [] if "data" in _sparse_keys(case) else ["data"]


#: Loop layer classes that take the encoder's time axis away (attention contexts, reductions).
_TIME_REDUCING = ("generic_attention", "dot_attention", "reduce", "dot", "concat_attention",
                  "gauss_window_attention", "get_last_hidden_state")


def _frame_reads_frames(net: dict[str, Any], unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer (through the frame, not past an attention context or a reduction) reads a root
    layer with a time axis (``base:ENC``): then it has the encoder's time axis itself (attention energies)."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        cur = stack.pop()
        if cur in seen or cur not in unit or not isinstance(unit[cur], dict):
            continue
        seen.add(cur)
        desc = unit[cur]
        if desc.get("class") in _TIME_REDUCING:
            continue
        for ref in _sources(desc):
            if ref.startswith("base:") and _has_time(net, ref[len("base:"):]):
                return True
            if ":" not in ref:
                stack.append(ref.split("/", 1)[0])
    return False


def _dense_input(net: dict[str, Any], unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer of :data:`_DENSE` reads no labels (a choice, its ``prev:``, a data key) and no
    encoder frames, so that a dense extra source can be concatenated to its inputs."""
    desc = unit[name]
    if desc.get("class") not in _DENSE or name == "end":
        return False
    for ref in _sources(desc):
        head = ref.removeprefix("prev:").split("/", 1)[0]
        if ref.startswith(("data", "base:data")) or (head in unit and unit[head].get("class") == "choice"):
            return False
    return not _frame_reads_frames(net, unit, name)


def _scores_path(net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers with dense inputs (:func:`_dense_input`) the choice's scores depend on in the frame
    (the scores layer itself included), else every such loop layer."""
    out = [k for k in sorted(_frame_ancestors(unit, choice)) if _dense_input(net, unit, k)]
    return out or [k for k in _layers(unit) if _dense_input(net, unit, k)]


# ----------------------------------------------------------------------------------------------------
# loss-layer


def op_loss_layer(case: Case, rng: random.Random) -> Result:
    """A ``loss`` layer (``ce``) over a choice's scores, in the loop or on its accumulated scores at the root."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _scores(net[r]["unit"], c) is not None]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _scores(unit, choice)
    key = _data_target(unit[choice])
    desc: dict[str, Any] = {"class": "loss", "from": scores, "loss_": "ce"}
    opts = ""
    if kind == "log_prob":
        desc["loss_opts_"] = {"input_type": "logits"}
        opts = ", input_type logits"
    elif rng.random() < 0.3:
        desc["loss_opts_"] = {"label_smoothing": 0.1}
        opts = ", label_smoothing 0.1"
    mode = rng.choices(["chosen", "chosen-fb", "prev", "gold", "error-fb", "root"],
                       [0.2, 0.15, 0.1, 0.15, 0.15, 0.25])[0]
    if mode == "root":
        _mark_output(unit, scores)
        readers = _readers(net, rec)
        decides = [k for k in readers if net[k].get("class") == "decide"]
        tmode = rng.choices(["labels", "decided", "gold"], [0.5, 0.3, 0.2])[0]
        if tmode == "decided" and decides:
            target = f"layer:{rng.choice(decides)}"
        elif tmode == "gold":
            target = key
        elif choice == "output":
            target = f"layer:{rec}"
        else:
            _mark_output(unit, choice)
            target = f"layer:{rec}/{choice}"
        name = _fresh(net, f"{rec}_{choice}_ce")
        desc["from"] = f"{rec}/{scores}"
        desc["target_"] = target
        desc["is_output_layer"] = True
        net[name] = desc
        return new, (f"root {name} = loss ce{opts} of {rec}/{scores} (an output layer of the loop now) "
                     f"against target_ {target!r}, an output layer")
    name = _fresh(unit, f"{choice}_ce")
    unit[name] = desc
    if mode == "chosen":
        desc["target_"] = f"layer:{choice}"
        how = f"{rec}/{name} = loss ce{opts} of {scores} against this frame's {choice} (target_ layer:{choice})"
        out = rng.choice(["loss", "error", "both"])
        if out in ("loss", "both"):
            desc["is_output_layer"] = True
            how += ", an output layer"
        if out in ("error", "both"):
            err = _fresh(unit, f"{choice}_err")
            unit[err] = {"class": "copy", "from": f"{name}/error", "is_output_layer": True}
            how += f"; {err} = copy of {name}/error, an output layer"
        if rng.random() < 0.4:
            desc["is_output_layer"] = True
            total = _fresh(net, f"{rec}_{choice}_ce_sum")
            net[total] = {"class": "reduce", "mode": "sum", "axis": "T", "from": f"{rec}/{name}",
                          "is_output_layer": True}
            how += f"; root {total} = sum over T of {rec}/{name}, an output layer"
        return new, how
    if mode == "prev":
        desc["target_"] = f"layer:prev:{choice}"
        desc["is_output_layer"] = True
        return new, (f"{rec}/{name} = loss ce{opts} of {scores} against the previous label "
                     f"(target_ layer:prev:{choice}), an output layer")
    if mode == "gold":
        desc["is_output_layer"] = True
        if rng.random() < 0.5 or key is None:
            return new, (f"{rec}/{name} = loss ce{opts} of {scores} with no target_ (the extern data's "
                         f"default target), an output layer")
        desc["target_"] = key
        return new, f"{rec}/{name} = loss ce{opts} of {scores} against target_ {key!r}, an output layer"
    # chosen-fb / error-fb: the chosen label's loss (or frame error) fed back into the next frame, as a feature
    desc["target_"] = f"layer:{choice}"
    what = "loss"
    if mode == "error-fb":
        desc["use_error"] = True
        what = "frame error (use_error: is the chosen label the argmax)"
    users = _scores_path(net, unit, choice)
    if not users:
        desc["is_output_layer"] = True
        return new, (f"{rec}/{name} = loss ce{opts} of {scores} against {choice}, its {what} an output layer "
                     "(no dense loop layer to feed it to)")
    user = rng.choice(users)
    fb = _fresh(unit, f"prev_{name}")
    unit[fb] = {"class": "expand_dims", "from": f"prev:{name}", "axis": "F"}
    _add_source(unit[user], fb)
    return new, (f"{rec}/{name} = loss ce{opts} of {scores} against {choice}, its {what}; {fb} = "
                 f"expand_dims(prev:{name}) an extra source of {user}")


# ----------------------------------------------------------------------------------------------------
# gather-nd-position


def op_gather_nd_position(case: Case, rng: random.Random) -> Result:
    """``gather_nd`` reading one encoder frame per step in the loop, or one loop frame per hypothesis after it."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    sites = [(r, c) for r, c in sites if _scores_path(net, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    encoders = _encoders(case, net, rec)
    if not encoders:
        return None
    enc = rng.choice(encoders)
    enc_ref = "base:data" if enc == "data" else f"base:{enc}"
    mode = rng.choices(["step", "clip", "counter", "root"], [0.25, 0.2, 0.3, 0.25])[0]
    if mode == "root":
        dense = [k for k in _scores_path(net, unit, choice) if isinstance(unit[k].get("n_out"), int)]
        if not dense:
            return None
        layer = rng.choice(dense)
        _mark_output(unit, layer)
        wrong = rng.random() < 0.35
        length = _fresh(net, f"{enc}_len" if wrong else f"{rec}_len")
        net[length] = {"class": "length", "from": enc if wrong else rec}
        last = _fresh(net, f"{length}_last")
        net[last] = {"class": "eval", "from": length, "eval": "source(0) - 1"}
        name = _fresh(net, f"{rec}_{layer}_last")
        net[name] = {"class": "gather_nd", "from": f"{rec}/{layer}", "position": last, "is_output_layer": True}
        how = (f"root {name} = gather_nd of {rec}/{layer} (an output layer of the loop now) at {last} = "
               f"length of {enc if wrong else rec} - 1, an output layer")
        if rng.random() < 0.4:
            dec = _fresh(net, f"{name}_decided")
            net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
            how += f"; {dec} = decide of it, an output layer"
        return new, how
    user = rng.choice(_scores_path(net, unit, choice))
    if mode == "step":
        pos = ":i"
        how = ":i"
    elif mode == "clip":
        length = _fresh(net, f"{enc}_len")
        net[length] = {"class": "length", "from": enc}
        pos = _fresh(unit, "enc_pos")
        unit[pos] = {"class": "eval", "from": [":i", f"base:{length}"], "eval": "tf.minimum(source(0), source(1) - 1)"}
        how = f"{pos} = min(:i, base:{length} - 1) ({length} = length of {enc})"
    else:
        eos = _eos(unit, choice)
        if rng.random() < 0.5:
            kind, sym = "not_equal", eos
            what = f"{choice} != {eos} (labels emitted)"
        else:
            kind, sym = "equal", rng.choice([eos, 1, 2])
            what = f"{choice} == {sym} (moves on at label {sym})"
        adv = _fresh(unit, "t_adv")
        unit[adv] = {"class": "compare", "from": choice, "kind": kind, "value": sym}
        adv_i = _fresh(unit, "t_adv_int")
        unit[adv_i] = {"class": "cast", "from": adv, "dtype": "int32"}
        t = _fresh(unit, "t")
        unit[t] = {"class": "combine", "kind": "add", "from": [f"prev:{t}", adv_i], "initial_output": 0}
        how = f"{t} = prev:{t} + cast({what})"
        pos = f"prev:{t}"
        if rng.random() < 0.4:
            length = _fresh(net, f"{enc}_len")
            net[length] = {"class": "length", "from": enc}
            clip = _fresh(unit, f"{t}_clip")
            unit[clip] = {"class": "eval", "from": [t, f"base:{length}"],
                          "eval": "tf.minimum(source(0), source(1) - 1)"}
            pos = f"prev:{clip}"
            how += f", {clip} = min({t}, base:{length} - 1)"
        how += f"; position {pos}"
    name = _fresh(unit, f"{enc}_frame")
    unit[name] = {"class": "gather_nd", "from": enc_ref, "position": pos}
    _add_source(unit[user], name)
    if mode == "step":
        return new, f"{rec}/{name} = gather_nd of {enc_ref} at :i, an extra source of {user}"
    return new, f"{rec}: {how}; {name} = gather_nd of {enc_ref} at {pos}, an extra source of {user}"


# ----------------------------------------------------------------------------------------------------
# repeat-durations


def op_repeat_durations(case: Case, rng: random.Random) -> Result:
    """A duration head in the loop and a ``repeat`` (length regulator) of the decoded labels after it."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _scores_path(net, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    state = rng.choice(_scores_path(net, unit, choice))
    k = rng.choice([4, 8, 16])
    logits = _fresh(unit, "dur_logits")
    unit[logits] = {"class": "linear", "activation": None, "from": state, "n_out": k}
    dur = _fresh(unit, "dur")
    unit[dur] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": logits, "is_output_layer": True}
    how = f"{rec}/{dur} = argmax over {k} duration classes of {logits} = linear({state}), an output layer"
    labels = rec if choice == "output" else f"{rec}/{choice}"
    if labels != rec:
        _mark_output(unit, choice)
    decides = [k_ for k_ in _readers(net, rec) if net[k_].get("class") == "decide"]
    mode = rng.choices(["beamed", "decided-labels", "decided-durations", "loop-embed"], [0.35, 0.25, 0.2, 0.2])[0]
    reps = f"{rec}/{dur}"
    if mode == "decided-labels":
        dec = rng.choice(decides) if decides and labels == rec else None
        if dec is None:
            dec = _fresh(net, f"{rec}_{choice}_decided")
            net[dec] = {"class": "decide", "from": labels}
        src = dec
        what = f"the decided labels {dec}"
    elif mode == "loop-embed":
        embeds = [k_ for k_ in _layers(unit) if unit[k_].get("class") == "linear"
                  and _sources(unit[k_]) == [f"prev:{choice}"]]
        if embeds:
            emb = rng.choice(embeds)
            _mark_output(unit, emb)
            src = f"{rec}/{emb}"
            what = f"{src} (the loop's embedding of prev:{choice}, an output layer of the loop now)"
        else:
            src = labels
            what = f"the beamed labels {labels}"
    else:
        src = labels
        what = f"the beamed labels {labels}"
    if mode == "decided-durations":
        dd = _fresh(net, f"{rec}_dur_decided")
        net[dd] = {"class": "decide", "from": reps}
        reps = dd
    emb = None
    if not src.startswith(f"{rec}/") or src == labels:
        emb = _fresh(net, f"{rec}_lab_emb")
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": rng.choice([4, 6])}
        what = f"{emb} = linear of {what}"
        src = emb
    name = _fresh(net, f"{rec}_upsampled")
    net[name] = {"class": "repeat", "from": src, "repetitions": reps, "axis": "T", "is_output_layer": True}
    how += f"; root {name} = repeat of {what} by {reps}"
    if mode == "decided-durations":
        how += f" ({reps} = decide of {rec}/{dur})"
    how += ", an output layer"
    if mode == "beamed" and rng.random() < 0.5:
        out = _fresh(net, f"{name}_decided")
        net[out] = {"class": "decide", "from": name, "is_output_layer": True}
        how += f"; {out} = decide of it, an output layer"
    return new, how


FRESH87_OPERATORS: tuple[Op, ...] = (
    Op("loss-layer", op_loss_layer, 1.0),
    Op("gather-nd-position", op_gather_nd_position, 1.0),
    Op("repeat-durations", op_repeat_durations, 0.8),
)
