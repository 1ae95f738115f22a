"""A fifty-seventh set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, after the earlier sets were opened: held out, looked at as counts only when first measured.

Speech synthesis (TTS) and other regression decoders in search: a decoder whose choice is a regression of
dense frames (``input_type: "regression"``, a dense target, ``beam_size`` 1), ended by a stop token, with
a reduction factor or a postnet after the loop (none a variant of an earlier one; no rule was written for
any of them). Where a base has no regression choice, the operators that need one first turn a label
decoder into a regression decoder the way ``to-regression`` does:

* ``to-regression``: a label choice of a searching decoder becomes a regression of dense frames: a new
  ``linear`` frame predictor (``n_out`` the dim of a dense target key, added to the extern data when the
  case has none; maybe with an ``mse`` / ``mean_l1`` loss) over the sources of the choice's scores, the
  choice over it with ``input_type: "regression"``, that dense target and ``beam_size`` 1 (now and then
  the old beam size is left, as a user forgets it); the rec layer's target follows, root readers of the
  decoder drop their loss on the labels; a loop ``end`` that read the labels becomes a stop token;
* ``stop-token``: a loop ends on a stop token: a ``linear`` with a ``sigmoid`` and ``n_out`` 1 over the
  sources of the choice's scores (this frame's state), over ``prev:`` of a state, or over a regression
  choice's frame, ``compare``d ``greater`` than a threshold and ``squeeze``d over its feature axis; it
  replaces the old ``end`` or is ``logical_or``-ed with it, or is added where the loop had none;
* ``reduction-factor``: a regression decoder emits several frames per step: its frame predictor gets
  ``n_out`` = factor * dim and the choice a stacked dense target of that dim (the feedback reads the last
  frame of the step with a ``slice``), or a parallel ``linear`` in the loop predicts the stacked frames;
  after the loop an output layer ``split_dims`` them into (factor, dim) and ``merge_dims`` the time axis
  with the factor axis (over the decoder's frames as they are, or over a ``decide`` of them);
* ``postnet``: a Tacotron postnet after a regression decoder: one to three ``conv`` (filter 5, ``same``
  padding; maybe with ``batch_norm``) or ``linear`` layers over the decoder's frames (the rec layer, its
  choice, or a ``decide`` of them), the last projecting back to the frame dim, added (``combine``) to the
  frames as a residual (decided or not), an output layer maybe with an ``mse`` loss;
* ``regression-head``: a label decoder gets a second, regression choice predicting a dense value per step
  (a duration, energy or pitch: a ``linear`` over a state of the frame, a choice with ``input_type:
  "regression"``, ``beam_size`` 1 and a dense target), fed back (``prev:``) into a state layer, read by a
  layer in the frame, or only an output layer.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _frame_ancestors,
    _fresh,
    _head,
    _layers,
    _readers,
    _redirect,
    _refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH55_SEED = 20270117
N_FRESH55 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes that take a dense frame where they took labels
_TAKES_DENSE = ("linear", "copy", "rnn_cell", "rec", "softmax", "concat", "activation", "dropout")
#: float-valued loop layer classes a user would read a state from
_STATES = ("linear", "rnn_cell", "rec", "activation", "combine", "dot_attention", "generic_attention", "copy")


def _is_regression(desc: dict[str, Any]) -> bool:
    return desc.get("input_type") == "regression"


def _dense_keys(case: Case) -> list[str]:
    """Dense (frame) extern-data keys other than ``data`` with a known dim and one time axis."""
    out = []
    for k, v in sorted((case.get("extern_data") or {}).items()):
        if k == "data" or not isinstance(v, dict) or v.get("sparse") or v.get("sparse_dim"):
            continue
        shape = v.get("shape")
        if shape is not None and len(shape) != 2:
            continue
        if isinstance(v.get("dim"), int) and v.get("available_for_inference") is False:
            out.append(k)
    for k, v in sorted((case.get("num_outputs") or {}).items()):
        if k != "data" and isinstance(v, list) and v[1:] == [2] and isinstance(v[0], int):
            out.append(k)
    return out


def _add_key(new: Case, base: str, dim: int) -> str:
    """A new dense target key of ``dim`` (not available for inference)."""
    if "extern_data" in new or "num_outputs" not in new:
        ext = new.setdefault("extern_data", {})
        key = _fresh(set(ext) | set(new.get("num_outputs") or {}), base)
        ext[key] = {"dim": dim, "sparse": False, "available_for_inference": False}
    else:
        key = _fresh(set(new["num_outputs"]), base)
        new["num_outputs"][key] = [dim, 2]
    return key


def _dense_key(new: Case, rng: random.Random, base: str = "feat") -> tuple[str, int]:
    keys = _dense_keys(new)
    if keys and rng.random() < 0.8:
        key = rng.choice(keys)
        dim = _target_dim(new, key)
        if dim:
            return key, dim
    dim = rng.choice([3, 4, 8])
    return _add_key(new, base, dim), dim


def _reads(desc: dict[str, Any], names: set[str]) -> bool:
    return any(r in names or r.startswith("prev:") and r[5:] in names for r in _refs(desc))


def _label_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, choice) of label choices of searching decoders that a regression may replace: a single
    score layer of the frame, readers that take a dense frame."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            srcs = _sources(desc)
            if _is_regression(desc) or not isinstance(desc.get("target"), str) or len(srcs) != 1:
                continue
            if srcs[0] not in unit or not _sources(unit[srcs[0]]):
                continue
            users = [k for k in _layers(unit) if k not in (c, "end") and _reads(unit[k], {c})]
            if all(unit[k].get("class") in _TAKES_DENSE for k in users):
                out.append((rec, c))
    return out


def _regression_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            srcs = _sources(unit[c])
            if _is_regression(unit[c]) and isinstance(unit[c].get("target"), str) and len(srcs) == 1 \
                    and srcs[0] in unit:
                out.append((rec, c))
    return out


def _stop_token(unit: dict[str, Any], src: Any, rng: random.Random) -> tuple[str, str]:
    """Stop-token layers over ``src``; returns (the layer the end reads, a description)."""
    stop = _fresh(unit, "stop_token")
    unit[stop] = {"class": "linear", "activation": "sigmoid", "from": src, "n_out": 1}
    thr = rng.choice([0.5, 0.5, 0.3, 0.7])
    cmp_ = _fresh(unit, "stop_compare")
    unit[cmp_] = {"class": "compare", "kind": "greater", "value": thr, "from": stop}
    return cmp_, f"sigmoid {stop} over {src} > {thr}"


def _set_end(unit: dict[str, Any], cmp_: str, keep_old: bool) -> str:
    if keep_old and "end" in unit:
        old = _fresh(unit, "end_before")
        unit[old] = unit.pop("end")
        sq = _fresh(unit, f"{cmp_}_squeezed")
        unit[sq] = {"class": "squeeze", "axis": "F", "from": cmp_}
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, sq]}
        return f"end = {old} (the old end) or {sq} (squeezed {cmp_})"
    unit["end"] = {"class": "squeeze", "axis": "F", "from": cmp_}
    return f"end = squeeze of {cmp_}"


def _convert(new: Case, net: dict[str, Any], rec: str, choice: str, rng: random.Random,
             keep_beam_rate: float = 0.0) -> tuple[str, int, str, str]:
    """Turn the label choice ``rec/choice`` into a regression; (target key, dim, frame layer, text)."""
    unit = net[rec]["unit"]
    desc = unit[choice]
    old_target = desc.get("target")
    key, dim = _dense_key(new, rng)
    scores = _sources(desc)[0]
    feed = copy.deepcopy(unit[scores]["from"])
    frame = _fresh(unit, f"{choice}_frame")
    unit[frame] = {"class": "linear", "activation": None, "from": feed, "n_out": dim}
    loss = rng.choice([None, "mse", "mean_l1"])
    if loss:
        unit[frame].update(loss=loss, target=key)
    reg: dict[str, Any] = {"class": "choice", "from": frame, "input_type": "regression", "beam_size": 1,
                           "target": key}
    beam = desc.get("beam_size", 12)
    kept = rng.random() < keep_beam_rate and beam != 1
    if kept:
        reg["beam_size"] = beam
    if desc.get("is_output_layer"):
        reg["is_output_layer"] = True
    unit[choice] = reg
    text = (f"{rec}/{choice} a regression (beam {reg['beam_size']}) of {frame} = linear({feed!r}, "
            f"n_out {dim}) on {key}")
    if net[rec].get("target") == old_target and old_target is not None:
        net[rec]["target"] = key
        text += f"; {rec} target {key}"
    for k in _readers(net, rec):
        if net[k].get("target") == old_target and old_target is not None and net[k].get("loss"):
            for opt in ("loss", "target", "loss_opts", "loss_scale"):
                net[k].pop(opt, None)
            text += f"; {k} loses its loss on {old_target}"
    if "end" in unit and (_reads(unit["end"], {choice}) or choice in _frame_ancestors(unit, "end")):
        cmp_, what = _stop_token(unit, feed, rng)
        text += f"; {_set_end(unit, cmp_, keep_old=False)} ({what})"
    return key, dim, frame, text


def _regression_site(new: Case, net: dict[str, Any], rng: random.Random
                     ) -> tuple[str, str, str, int, str, str] | None:
    """A regression choice (rec, choice, key, dim, its frame predictor, text): an existing one, else a
    label choice turned into one."""
    regs = [s for s in _regression_sites(net) if _target_dim(new, net[s[0]]["unit"][s[1]]["target"])]
    if regs:
        rec, choice = rng.choice(regs)
        unit = net[rec]["unit"]
        key = unit[choice]["target"]
        return rec, choice, key, _target_dim(new, key) or 0, _sources(unit[choice])[0], ""
    labels = _label_sites(net)
    if not labels:
        return None
    rec, choice = rng.choice(labels)
    key, dim, frame, text = _convert(new, net, rec, choice, rng)
    return rec, choice, key, dim, frame, text + "; then "


def _frames_ref(net: dict[str, Any], rec: str, choice: str, frame: str) -> str:
    """How the root reads the decoder's frames: the rec layer when its output is the frames."""
    unit = net[rec]["unit"]
    out = unit.get("output", {})
    if "output" in (choice, frame) or (out.get("class") == "copy" and _sources(out) in ([choice], [frame])):
        return rec
    return f"{rec}/{choice}"


def op_to_regression(case: Case, rng: random.Random) -> Result:
    """A label choice of a searching decoder turned into a regression of dense frames."""
    new, net = _copy(case)
    sites = _label_sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    _, _, _, text = _convert(new, net, rec, choice, rng, keep_beam_rate=0.2)
    return new, text


def op_stop_token(case: Case, rng: random.Random) -> Result:
    """A loop ends on a stop token: a sigmoid over a state compared with a threshold."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            srcs = _sources(unit[c])
            if len(srcs) == 1 and srcs[0] in unit and _sources(unit[srcs[0]]):
                sites.append((rec, c))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    feed = copy.deepcopy(unit[scores]["from"])
    heads = [h for h in (_head(r) for r in _sources(unit[scores])) if h in unit
             and unit[h].get("class") in _STATES]
    kinds = ["frame"] + (["prev"] if heads else []) + (["choice"] if _is_regression(unit[choice]) else [])
    kind = rng.choice(kinds)
    if kind == "frame":
        src: Any = feed
    elif kind == "prev":
        src = f"prev:{rng.choice(heads)}"
    else:
        src = choice
    cmp_, what = _stop_token(unit, src, rng)
    keep = "end" in unit and rng.random() < 0.4
    had = "end" in unit
    how = _set_end(unit, cmp_, keep_old=keep)
    verb = "keeps its end" if keep else "replaces its end" if had else "had no end"
    return new, f"{rec} ({verb}): {how}, {what} (choice {choice})"


def op_reduction_factor(case: Case, rng: random.Random) -> Result:
    """Several frames per decoder step, split and merged into frames after the loop."""
    new, net = _copy(case)
    site = _regression_site(new, net, rng)
    if site is None:
        return None
    rec, choice, key, dim, frame, text = site
    unit = net[rec]["unit"]
    if unit[frame].get("class") != "linear" or not dim:
        return None
    r = rng.choice([2, 3])
    if rng.random() < 0.6:
        stacked = _add_key(new, f"{key}_x{r}", r * dim)
        unit[frame]["n_out"] = r * dim
        if unit[frame].get("target") == key:
            unit[frame]["target"] = stacked
        unit[choice]["target"] = stacked
        if net[rec].get("target") == key:
            net[rec]["target"] = stacked
        text += f"{rec}/{frame} n_out {r}*{dim}, {rec}/{choice} on stacked target {stacked}"
        readers = _readers(unit, choice, f"prev:{choice}")
        if readers and rng.random() < 0.7:
            last = _fresh(unit, f"{choice}_last_frame")
            unit[last] = {"class": "slice", "axis": "F", "slice_start": (r - 1) * dim, "from": f"prev:{choice}"}
            _redirect(unit, readers, f"prev:{choice}", last)
            text += f"; {', '.join(readers)} read {last} (the last frame of prev:{choice})"
        src = _frames_ref(net, rec, choice, frame)
    else:
        par = _fresh(unit, f"frames_x{r}")
        unit[par] = {"class": "linear", "activation": None, "from": copy.deepcopy(unit[frame]["from"]),
                     "n_out": r * dim}
        if rng.random() < 0.5:
            unit[par]["is_output_layer"] = True
        text += f"{rec}/{par} predicts {r} frames of {dim} per step"
        src = f"{rec}/{par}"
    if rng.random() < 0.35:
        dec = _fresh(net, f"{rec}_decided")
        net[dec] = {"class": "decide", "from": src}
        src = dec
    split = _fresh(net, f"{rec}_split")
    net[split] = {"class": "split_dims", "axis": "F", "dims": [r, dim], "from": src}
    frames = _fresh(net, f"{rec}_frames")
    net[frames] = {"class": "merge_dims", "axes": ["T", "spatial:1"], "keep_order": True, "from": split,
                   "is_output_layer": True}
    return new, f"{text}; {frames} = merge_dims of T with the factor axis of {split} = split_dims({src})"


def op_postnet(case: Case, rng: random.Random) -> Result:
    """A postnet after a regression decoder, added to its frames as a residual."""
    new, net = _copy(case)
    site = _regression_site(new, net, rng)
    if site is None:
        return None
    rec, choice, key, dim, frame, text = site
    if not dim:
        return None
    frames = _frames_ref(net, rec, choice, frame) if rng.random() < 0.7 else f"{rec}/{choice}"
    mode = rng.choice(["beamed", "decided", "decided-post"])
    src = frames
    if mode != "beamed":
        dec = _fresh(net, f"{rec}_decided")
        net[dec] = {"class": "decide", "from": frames}
        src = dec
    conv = rng.random() < 0.7
    depth = rng.choice([1, 2, 3])
    prev = src
    names = []
    for i in range(depth):
        last = i == depth - 1
        name = _fresh(net, f"post_{'conv' if conv else 'linear'}{i}")
        if conv:
            net[name] = {"class": "conv", "filter_size": [5], "padding": "same", "from": prev,
                         "n_out": dim if last else 16, "activation": None if last else "tanh"}
        else:
            net[name] = {"class": "linear", "from": prev, "n_out": dim if last else 16,
                         "activation": None if last else "tanh"}
        names.append(name)
        prev = name
        if not last and conv and rng.random() < 0.3:
            bn = _fresh(net, f"post_batchnorm{i}")
            net[bn] = {"class": "batch_norm", "from": prev}
            names.append(bn)
            prev = bn
    base = src if mode == "decided" else frames
    out = _fresh(net, "post_output")
    net[out] = {"class": "combine", "kind": "add", "from": [base, prev], "is_output_layer": True}
    if rng.random() < 0.4:
        net[out].update(loss="mse", target=key)
    return new, (f"{text}postnet {' -> '.join(names)} over {src}; {out} = {base} + {prev} "
                 f"({'conv' if conv else 'linear'}, {mode})")


def op_regression_head(case: Case, rng: random.Random) -> Result:
    """A second, regression choice predicting a dense value per step of a label decoder."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            srcs = _sources(unit[choice])
            if not _is_regression(unit[choice]) and len(srcs) == 1 and srcs[0] in unit \
                    and _sources(unit[srcs[0]]):
                sites.append((rec, choice))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    what = rng.choice(["duration", "energy", "pitch"])
    if rng.random() < 0.5:
        key = _add_key(new, what, 1)
        dim = 1
    else:
        key, dim = _dense_key(new, rng, what)
    pred = _fresh(unit, f"{what}_pred")
    unit[pred] = {"class": "linear", "activation": None, "from": copy.deepcopy(unit[scores]["from"]),
                  "n_out": dim}
    name = _fresh(unit, what)
    unit[name] = {"class": "choice", "from": pred, "input_type": "regression", "beam_size": 1, "target": key}
    before = _frame_ancestors(unit, pred) | {pred, name}
    mode = rng.choice(["feedback", "frame", "output"])
    if mode == "feedback":
        users = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "rnn_cell")
                 and any(r.startswith("prev:") for r in _sources(unit[k]))]
        if users:
            user = rng.choice(users)
            _add_source(unit[user], f"prev:{name}")
            return new, f"{rec}/{name}: a regression choice on {key} ({pred}), prev:{name} read by {user}"
        mode = "output"
    if mode == "frame":
        users = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "softmax") and k not in before
                 and k != "end" and name not in _frame_ancestors(unit, k)]
        if users:
            user = rng.choice(users)
            _add_source(unit[user], name)
            return new, f"{rec}/{name}: a regression choice on {key} ({pred}), read by {user} in the frame"
    unit[name]["is_output_layer"] = True
    return new, f"{rec}/{name}: a regression choice on {key} ({pred}), an output layer (choice {choice})"


FRESH55_OPERATORS: tuple[Op, ...] = (
    Op("to-regression", op_to_regression, 1),
    Op("stop-token", op_stop_token, 1),
    Op("reduction-factor", op_reduction_factor, 1),
    Op("postnet", op_postnet, 1),
    Op("regression-head", op_regression_head, 1),
)
