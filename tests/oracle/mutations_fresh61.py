"""A sixty-third set of edit operators (issue 15, fourteenth session, second part), written and seeded before it
was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Network constructs RETURNN users reported on the issue tracker of rwth-i6/returnn because their beam search
broke (or that the thread named as the trigger), made on our bases with the failing form and the fix or
workaround the thread gives (none a variant of an earlier operator; no rule was written for any of them):

* ``masked-encoder``: a ``masked_computation`` inside the decoder loop whose mask depends on the previous
  label (a ``compare`` of ``prev:CHOICE``, for a choice with an ``initial_output`` ``not_equal`` label 0 or the last label) but whose input does
  not (rwth-i6/returnn#755, "has buggy search choices resolution"): the unit a ``copy`` of an encoder layer
  (``base:X``, its time axis kept), read through an ``unmask`` or directly, then averaged over the encoder
  frames (``reduce`` mean over ``T``); or the unit itself a ``reduce`` mean over ``T`` of ``base:X``, read
  through an ``unmask``; the result is an extra source of a dense loop layer the choice's scores depend on.
  The workarounds: the mask gates the encoder summary with a ``switch`` (``false_from`` 0.0) instead of a
  masked computation, or the masked computation runs over the previous label's embedding (a loop
  ``linear`` over ``prev:CHOICE``, unit a ``linear``), read through an ``unmask``;
* ``label-vs-frames``: the previous label compared inside the loop with a root layer that has the
  encoder's time axis (rwth-i6/returnn#800, ``CompareLayer`` with sources from inside and outside the
  loop): ``prev:CHOICE`` made a plain int (``reinterpret_data`` ``set_sparse`` False) is compared
  (``equal``, ``less_equal`` or ``greater``) with the frame-wise argmax labels of a root softmax over an
  encoder layer (``reduce`` ``argmax`` over ``F``, read as ``base:``); the ``[B,T]`` condition becomes a
  float by a ``switch`` (``true_from`` 1.0, ``false_from`` 0.0, as in the issue) or a ``cast``, is reduced
  over ``T`` (``max`` / ``mean``) and made a feature (``expand_dims``) read by a dense loop layer as an
  extra source; or, as the fix, it is compared with a per-sequence root scalar instead (the ``length`` of
  the encoder layer), ``cast`` and made a feature the same way;
* ``window-merge``: the label embedding of a loop (a ``linear`` over ``prev:CHOICE``, or over ``CHOICE``
  read as ``prev:E``) is read through a ``window`` over its last frames (size 2 to 4, ``window_right`` 0) merged into the feature axis by
  ``merge_dims`` (rwth-i6/returnn#491: the window axis is not the same in search and training): the axes
  spelled ``except_batch`` (the reporter's), ``except_time`` (the reporter's search-only workaround) or
  ``static`` (the maintainer's fix); its dense readers (``linear``, ``softmax``, recurrent cells) read the
  merged window instead (``prev:`` of it for an embedding of this frame's label), or one of them reads it
  as an extra source;
* ``mask-by-decision``: a root ``masked_computation`` (unit ``copy``) over a searching decoder's output
  (rwth-i6/returnn#1008, "MaskedComputationLayer: dyn_size error", fixed in #1009): the mask is a root
  ``compare`` (``not_equal`` label 0 or the last label) of a ``decide`` of the decoder (an existing one or
  a new one), so the beamed labels are masked by unbeamed ones, with a ``decide`` of the result as the
  output layer (the reporter's) or the result itself an output; or, where the decoder loops over a root
  layer, the mask comes from that input (its mean over ``F`` ``greater`` 0, as in the issue); or, as the
  workaround, the masked computation runs over the decision itself (both unbeamed), an output layer.
"""

from __future__ import annotations

import json
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
    _head,
    _layers,
    _readers,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH61_SEED = 20270123
N_FRESH61 = 80

Result = "tuple[Case, str] | None"

#: Root layer classes that keep the encoder's time axis (what ``base:X`` with frames can be).
FRAME_CLASSES = ("linear", "rec", "copy", "softmax", "layer_norm", "dropout", "activation",
                 "batch_norm", "combine", "eval", "source")
#: Loop layer classes whose output carries an encoder axis or a window (not a plain dense frame).
NOT_DENSE = ("softmax_over_spatial", "dot", "window", "cum_concat", "slice_nd", "conv", "gather",
             "generic_attention_weights", "range_in_axis", "masked_computation", "unmask")


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers without a twin of the same name in another scope (``extra.search:NAME`` next
    to ``NAME``, whose parameters the two share)."""
    def bare(name: str) -> str:
        return name.split(":", 1)[1] if name.startswith("extra.") and ":" in name else name

    names = [bare(k) for k in _layers(net)]
    return [r for r in _searching_recs(net) if names.count(bare(r)) == 1]


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key (not a regression) and have an
    ``initial_output`` (so that ``prev:`` of them may be read)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None and "initial_output" in unit[c]]


def _shares_params(unit: dict[str, Any], name: str) -> bool:
    """Whether loop layer ``name`` shares its parameters with another layer (either way)."""
    if unit[name].get("reuse_params"):
        return True
    return any(name in json.dumps(unit[k].get("reuse_params")) for k in _layers(unit) if k != name)


def _dense_site(unit: dict[str, Any], name: str) -> bool:
    """Whether loop layer ``name`` is a dense ``linear`` / ``softmax`` of the frame (no ``base:`` /
    ``data:`` source, no source with an encoder axis, no shared parameters) that can take one more
    feature source."""
    desc = unit.get(name)
    if not isinstance(desc, dict) or desc.get("class") not in ("linear", "softmax"):
        return False
    if _shares_params(unit, name):
        return False
    if not isinstance(desc.get("n_out"), int) and not isinstance(desc.get("target"), str):
        return False
    srcs = _sources(desc)
    raw = desc.get("from")
    if not srcs or (isinstance(raw, list) and len(raw) != len(srcs)):
        return False
    for ref in srcs:
        if ref.startswith(("base:", "data")) or ref == ":i":
            return False
        head = _head(ref.removeprefix("prev:"))
        src = unit.get(head) if head else None
        if not isinstance(src, dict) or src.get("class") in NOT_DENSE or src.get("class") == "choice":
            return False
        if src.get("class") in ("combine", "eval", "reduce") and any(
                r.startswith("base:") for r in _sources(src)):
            return False
    return True


def _score_sites(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers the choice's scores depend on in the frame (the scores layer included)."""
    return [k for k in sorted(_frame_ancestors(unit, choice)) if _dense_site(unit, k)]


def _frame_encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with (most likely) the encoder's time axis that ``rec`` reads, not beamed."""
    beamed = _beamed_roots(net)
    return [k for k in sorted(_root_ancestors(net, rec))
            if net[k].get("class") in FRAME_CLASSES and k not in beamed
            and not (net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict))]


def _blank(case: Case, key: str, rng: random.Random) -> tuple[int, str]:
    """Label 0 or the last label of ``key`` (with a word for the description)."""
    dim = _target_dim(case, key)
    if isinstance(dim, int) and dim > 1 and rng.random() < 0.4:
        return dim - 1, "the last label"
    return 0, "label 0"


def op_masked_encoder(case: Case, rng: random.Random) -> Result:
    """A loop ``masked_computation`` masked by the previous label over an input that does not depend on
    it (#755), or its workarounds."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        encs = _frame_encoders(net, rec)
        for c in _label_choices(unit):
            dense = _score_sites(unit, c)
            if dense:
                sites.append((rec, c, dense, encs))
    if not sites:
        return None
    rec, choice, dense, encs = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice]) or "classes"
    label, label_word = _blank(case, key, rng)
    mask = _fresh(unit, f"prev_{choice}_not_{label}")
    unit[mask] = {"class": "compare", "from": f"prev:{choice}", "kind": "not_equal", "value": label}
    target = rng.choice(dense)
    kind = "embed"
    if encs:
        kind = rng.choices(["copy-reduce", "copy-unmask-reduce", "reduce-unit", "switch", "embed"],
                           [3, 2, 2, 1.5, 1.5])[0]
    how = f"{rec}/{mask}: prev:{choice} != {label} ({label_word})"
    if kind == "embed":
        embs = [k for k in _layers(unit) if unit[k].get("class") == "linear"
                and _sources(unit[k]) == [f"prev:{choice}"] and isinstance(unit[k].get("n_out"), int)]
        n_out = rng.choice([4, 8]) if not embs else unit[embs[0]]["n_out"]
        if embs:
            src = embs[0]
        else:
            src = _fresh(unit, f"prev_{choice}_embed")
            unit[src] = {"class": "linear", "activation": None, "from": f"prev:{choice}", "n_out": n_out}
        masked = _fresh(unit, f"{src}_masked")
        unit[masked] = {"class": "masked_computation", "mask": mask, "from": src,
                        "unit": {"class": "linear", "activation": "tanh", "from": "data", "n_out": n_out}}
        read = _fresh(unit, f"{masked}_unmask")
        unit[read] = {"class": "unmask", "from": masked, "mask": mask}
        _add_source(unit[target], read)
        return new, (f"{how}; {rec}/{masked}: masked_computation over the label embedding {src} (unit a "
                     f"linear), read through {read} as an extra source of {target} (the workaround)")
    enc = rng.choice(encs)
    if kind == "switch":
        summary = _fresh(unit, f"{enc}_mean")
        unit[summary] = {"class": "reduce", "mode": "mean", "axis": "T", "from": f"base:{enc}"}
        gated = _fresh(unit, f"{enc}_gated")
        unit[gated] = {"class": "switch", "condition": mask, "true_from": summary, "false_from": 0.0}
        _add_source(unit[target], gated)
        return new, (f"{how}; {rec}/{gated}: switch on it between {summary} (mean over T of base:{enc}) "
                     f"and 0.0, an extra source of {target} (the workaround, no masked computation)")
    masked = _fresh(unit, f"{enc}_masked")
    if kind == "reduce-unit":
        unit[masked] = {"class": "masked_computation", "mask": mask, "from": f"base:{enc}",
                        "unit": {"class": "reduce", "mode": "mean", "axis": "T", "from": "data"}}
        read = _fresh(unit, f"{masked}_unmask")
        unit[read] = {"class": "unmask", "from": masked, "mask": mask}
        _add_source(unit[target], read)
        return new, (f"{how}; {rec}/{masked}: masked_computation over base:{enc} (unit a reduce mean over "
                     f"T), read through {read} as an extra source of {target}")
    unit[masked] = {"class": "masked_computation", "mask": mask, "from": f"base:{enc}",
                    "unit": {"class": "copy", "from": "data"}}
    src = masked
    via = ""
    if kind == "copy-unmask-reduce":
        src = _fresh(unit, f"{masked}_unmask")
        unit[src] = {"class": "unmask", "from": masked, "mask": mask}
        via = f", through {src} (unmask)"
    red = _fresh(unit, f"{masked}_mean")
    unit[red] = {"class": "reduce", "mode": "mean", "axis": "T", "from": src}
    _add_source(unit[target], red)
    return new, (f"{how}; {rec}/{masked}: masked_computation (unit copy) over base:{enc}{via}, its mean "
                 f"over T ({red}) an extra source of {target}")


def op_label_vs_frames(case: Case, rng: random.Random) -> Result:
    """The previous label compared in the loop with frame labels of a root layer (#800), or with a
    per-sequence root scalar (the fix)."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        encs = _frame_encoders(net, rec)
        if not encs:
            continue
        for c in _label_choices(unit):
            dense = _score_sites(unit, c)
            if dense and _target_dim(case, _data_target(unit[c])) is not None:
                sites.append((rec, c, dense, encs))
    if not sites:
        return None
    rec, choice, dense, encs = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    target = rng.choice(dense)
    prev_out = _fresh(unit, f"prev_{choice}_int")
    unit[prev_out] = {"class": "reinterpret_data", "from": f"prev:{choice}", "set_sparse": False}
    cond = _fresh(unit, f"prev_{choice}_vs_{enc}")
    as_feature = _fresh(unit, f"{cond}_feature")
    if rng.random() < 0.25:
        length = _fresh(net, f"{enc}_len")
        net[length] = {"class": "length", "from": enc}
        kind = rng.choice(["less", "greater_equal"])
        unit[cond] = {"class": "compare", "from": [prev_out, f"base:{length}"], "kind": kind}
        as_float = _fresh(unit, f"{cond}_float")
        unit[as_float] = {"class": "cast", "from": cond, "dtype": "float32"}
        unit[as_feature] = {"class": "expand_dims", "from": as_float, "axis": "F"}
        _add_source(unit[target], as_feature)
        return new, (f"{rec}/{cond}: {prev_out} (prev:{choice} made a plain int) {kind} base:{length} (root "
                     f"length of {enc}), cast and made a feature ({as_feature}), an extra source of {target} "
                     f"(the fix: a per-sequence scalar)")
    key = _data_target(unit[choice]) or "classes"
    dim = _target_dim(case, key)
    probs = _fresh(net, f"{enc}_frame_prob")
    net[probs] = {"class": "softmax", "from": enc, "n_out": dim}
    frame_labels = _fresh(net, f"{enc}_frame_labels")
    net[frame_labels] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": probs}
    kind = rng.choice(["equal", "less_equal", "greater"])
    unit[cond] = {"class": "compare", "from": [prev_out, f"base:{frame_labels}"], "kind": kind}
    as_float = _fresh(unit, f"{cond}_float")
    if rng.random() < 0.6:
        unit[as_float] = {"class": "switch", "condition": cond, "true_from": 1.0, "false_from": 0.0}
        how = "switch 1.0 / 0.0"
    else:
        unit[as_float] = {"class": "cast", "from": cond, "dtype": "float32"}
        how = "cast to float32"
    mode = rng.choice(["max", "mean"])
    red = _fresh(unit, f"{cond}_{mode}")
    unit[red] = {"class": "reduce", "mode": mode, "axis": "T", "from": as_float}
    unit[as_feature] = {"class": "expand_dims", "from": red, "axis": "F"}
    _add_source(unit[target], as_feature)
    return new, (f"{rec}/{cond}: {prev_out} (prev:{choice} made a plain int) {kind} base:{frame_labels} "
                 f"(root argmax over F of {probs}, a softmax over {enc}), {how}, reduce {mode} over T, made a "
                 f"feature ({as_feature}), an extra source of {target}")


def op_window_merge(case: Case, rng: random.Random) -> Result:
    """The label embedding read through a window over its last frames merged into the features (#491)."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            for k in _layers(unit):
                desc = unit[k]
                if desc.get("class") != "linear":
                    continue
                if _sources(desc) == [f"prev:{c}"]:
                    ref = k
                elif _sources(desc) == [c]:
                    ref = f"prev:{k}"
                else:
                    continue
                readers = [r for r in _readers(unit, k, ref) if not _shares_params(unit, r)
                           and (unit[r].get("class") in ("linear", "softmax", "rnn_cell")
                                or (unit[r].get("class") == "rec" and isinstance(unit[r].get("unit"), str)))]
                if readers:
                    sites.append((rec, c, k, ref, readers))
    if not sites:
        return None
    rec, choice, emb, ref, readers = rng.choice(sites)
    unit = net[rec]["unit"]
    label = f"prev:{choice}" if ref == emb else choice
    size = rng.choice([2, 3, 4])
    win = _fresh(unit, f"{emb}_window")
    unit[win] = {"class": "window", "from": emb, "window_size": size, "window_right": 0}
    if rng.random() < 0.5:
        unit[win]["window_left"] = size - 1
    axes = rng.choices(["except_batch", "except_time", "static"], [2, 1.5, 2])[0]
    merged = _fresh(unit, f"{win}_merged")
    unit[merged] = {"class": "merge_dims", "from": win, "axes": axes}
    merged_ref = merged if ref == emb else f"prev:{merged}"
    if len(readers) > 1 and rng.random() < 0.4 or rng.random() < 0.25:
        reader = rng.choice(readers)
        _add_source(unit[reader], merged_ref)
        return new, (f"{rec}/{merged}: window of {size} over {emb} (embedding of {label}) merged with "
                     f"axes {axes!r}; {reader} reads {merged_ref} as an extra source")
    _redirect(unit, readers, ref, merged_ref)
    return new, (f"{rec}/{merged}: window of {size} over {emb} (embedding of {label}) merged with axes "
                 f"{axes!r}; {', '.join(readers)} read {merged_ref} instead of {ref}")


def op_mask_by_decision(case: Case, rng: random.Random) -> Result:
    """A root ``masked_computation`` over a searching decoder masked by its decision (#1008), by its input,
    or run over the decision itself (the workaround)."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        out = net[rec]["unit"].get("output")
        if not isinstance(out, dict) or out.get("class") != "choice" or _data_target(out) is None:
            continue
        sites.append(rec)
    if not sites:
        return None
    rec = rng.choice(sites)
    key = _data_target(net[rec]["unit"]["output"]) or "classes"
    label, label_word = _blank(case, key, rng)
    inputs = [s for s in _sources(net[rec]) if s == "data" or (_head(s) in net and s in net)]
    kinds = ["decision", "decision", "workaround"] + (["input"] if inputs else [])
    kind = rng.choice(kinds)
    masked = _fresh(net, f"{rec}_masked")
    if kind == "input":
        src = rng.choice(inputs)
        red = _fresh(net, f"{src.replace(':', '_')}_feature_mean")
        net[red] = {"class": "reduce", "mode": "mean", "axis": "F", "from": src}
        mask = _fresh(net, f"{red}_positive")
        net[mask] = {"class": "compare", "from": red, "kind": "greater", "value": 0.0}
        net[masked] = {"class": "masked_computation", "from": rec, "mask": mask,
                       "unit": {"class": "copy", "from": "data"}}
        out = _fresh(net, f"{masked}_decision")
        net[out] = {"class": "decide", "from": masked, "is_output_layer": True}
        return new, (f"root {masked}: masked_computation (copy) over {rec} masked by {mask} (mean over F of "
                     f"{src}, the loop's input, > 0); {out}: a decide of it, an output layer")
    decides = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    if decides and rng.random() < 0.6:
        dec = decides[0]
        made = f"existing {dec}"
    else:
        dec = _fresh(net, f"{rec}_decision")
        net[dec] = {"class": "decide", "from": rec}
        made = f"new {dec}"
    mask = _fresh(net, f"{dec}_not_{label}")
    net[mask] = {"class": "compare", "from": dec, "kind": "not_equal", "value": label}
    how = f"root {mask}: {made} != {label} ({label_word})"
    if kind == "workaround":
        net[masked] = {"class": "masked_computation", "from": dec, "mask": mask,
                       "unit": {"class": "copy", "from": "data"}, "is_output_layer": True}
        return new, f"{how}; {masked}: masked_computation (copy) over {dec} under it, an output layer"
    net[masked] = {"class": "masked_computation", "from": rec, "mask": mask,
                   "unit": {"class": "copy", "from": "data"}}
    if rng.random() < 0.6:
        out = _fresh(net, f"{masked}_decision")
        net[out] = {"class": "decide", "from": masked, "is_output_layer": True}
        return new, (f"{how}; {masked}: masked_computation (copy) over the beamed {rec} under it; {out}: a "
                     f"decide of it, an output layer")
    net[masked]["is_output_layer"] = True
    return new, f"{how}; {masked}: masked_computation (copy) over the beamed {rec} under it, an output layer"


FRESH61_OPERATORS: tuple[Op, ...] = (
    Op("masked-encoder", op_masked_encoder, 1),
    Op("label-vs-frames", op_label_vs_frames, 1),
    Op("window-merge", op_window_merge, 1),
    Op("mask-by-decision", op_mask_by_decision, 1),
)
