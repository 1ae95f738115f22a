"""A fifty-first set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Network edits RETURNN users made when their beam search broke, or that the maintainers named as the trigger
of a search-mode failure, taken from the issue tracker of rwth-i6/returnn and made on our bases (none a
variant of an earlier operator; no rule was written for any of them):

* ``batchless-end``: the loop's ``end`` no longer depends on the batch (rwth-i6/returnn#1606, an end layer
  independent of the batch breaks the beam search): a ``compare`` of the frame index ``:i`` with a fixed
  number of frames (``greater_equal``), a ``compare`` of ``:i`` with a scalar root layer (the longest
  sequence of an encoder layer the loop reads: ``length``, then ``reduce`` max over ``B``, read as
  ``base:``), or, where the rec has a length limit, a ``constant`` ``False`` (the loop only stops at its
  limit); the old end is dropped or kept under another name that nothing reads;
* ``end-extra-deps``: the ``end`` layer is made to carry the beam of another loop layer the way the
  maintainers suggest for an end layer whose beam is not the latest choice's (rwth-i6/returnn#225: "you can
  enforce this by using CopyLayer with extra_deps"): the old end is renamed and the new ``end`` is a
  ``copy`` of it with ``extra_deps`` naming one or two loop layers that do not depend on the end (a choice,
  a choice's scores, a dense loop state, or ``prev:`` of one of them);
* ``segment-range``: a segment of an encoder layer (``base:X``) cut out in the loop by a ``slice_nd`` that
  starts at the previous frame's label (``prev:CHOICE``) or at the frame index, with a size given by a
  layer of the frame (a dynamic size, from the previous label) or, now and then, a fixed size, and the
  positions inside the segment (``range_in_axis`` over the sliced axis) marked ``is_output_layer``, as in
  rwth-i6/returnn#758 (the error went away when the range was not an output, or the size was static);
  the segment's mean may also be read by a dense loop ``linear`` as an extra source;
* ``frame-choice-loop``: a second searching ``rec`` layer whose choice does not depend on any earlier
  label, as for beam search over a CTC model (rwth-i6/returnn#1213, "ChoiceLayer in loop without dep"): the
  loop iterates over an encoder layer (``from``), its scores are a ``log_softmax`` / ``softmax`` ``linear``
  over the frame (``data:source``, or a ``rec_unstack`` of a root projection read as ``base:``), and a
  ``choice`` over them (the decoder's target, its own beam size, maybe ``length_normalization`` off) is the
  unit's ``output``; the new rec is an output layer, or a new ``decide`` of it is;
* ``new-time-tag``: an encoder layer gets a new time dim tag (a root ``reinterpret_data`` with
  ``set_dim_tags`` ``{"T": new dim}``), as in rwth-i6/returnn#818: the loop reads it through ``base:``
  concatenated with the previous label (a ``copy`` of the re-tagged encoder and the previous label made a
  float feature) and reduced (``max``) over the new axis, or reads only its reduction (``mean``), as an
  extra source of a dense loop ``linear``; or every reader of the encoder layer (root readers and ``base:``
  readers in the loop) reads the re-tagged one.
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
    _refs,
    _root_ancestors,
    _searching_recs,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH49_SEED = 20270111
N_FRESH49 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes with a dense output of their own ``n_out``
_DENSE_N_OUT = ("linear", "rnn_cell", "combine", "activation", "eval", "copy")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (a target, not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str)]


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    """Attention weights (``softmax_over_spatial``) of a loop unit and what they depend on in the frame."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _base_reads(unit: dict[str, Any], net: dict[str, Any]) -> list[str]:
    """Root layers the loop reads through ``base:`` (sorted, not the data)."""
    out = set()
    for k in _layers(unit):
        for ref in _refs(unit[k]):
            if ref.startswith("base:"):
                head = ref[len("base:"):].split("/", 1)[0]
                if head in net and net[head].get("class") != "rec":
                    out.add(head)
    return sorted(out)


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root encoder layers of ``rec`` with an int ``n_out``: those its loop reads through ``base:`` where
    there are such, else any it reads (transitively)."""
    def ok(k: str) -> bool:
        return isinstance(net[k].get("n_out"), int) and net[k].get("class") not in (
            "rec", "choice", "decide", "reduce", "length", "constant", "variable")

    direct = [k for k in _base_reads(net[rec]["unit"], net) if ok(k)]
    return direct or [k for k in sorted(_root_ancestors(net, rec)) if ok(k)]


def _dense_loop_linears(unit: dict[str, Any], avoid: set[str]) -> list[str]:
    """Loop ``linear`` layers with an int ``n_out`` and sources (not of an attention, no target)."""
    att = _attention_layers(unit)
    return [k for k in _layers(unit) if unit[k].get("class") == "linear" and k not in att and k not in avoid
            and isinstance(unit[k].get("n_out"), int) and not unit[k].get("target") and unit[k].get("from")]


def _has_limit(desc: dict[str, Any]) -> bool:
    return any(k in desc for k in ("max_seq_len", "max_seq_len_via", "size_target")) or bool(desc.get("from"))


# ----------------------------------------------------------------------------------------------------
# rwth-i6/returnn#1606


def op_batchless_end(case: Case, rng: random.Random) -> Result:
    """The loop's ``end`` made independent of the batch: ``:i`` against a number, against a scalar root
    layer, or a constant."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if isinstance(net[r]["unit"].get("end"), dict)]
    if not sites:
        return None
    rec = rng.choice(sites)
    unit = net[rec]["unit"]
    kinds = ["step", "step", "scalar"] + (["constant"] if _has_limit(net[rec]) else [])
    encs = _encoders(net, rec)
    if not encs:
        kinds = [k for k in kinds if k != "scalar"]
    kind = rng.choice(kinds)
    old = unit.pop("end")
    kept = ""
    if rng.random() < 0.5:
        name = _fresh(unit, "end_by_label")
        unit[name] = old
        kept = f" (the old end kept as {rec}/{name}, read by nothing)"
    if kind == "step":
        n = rng.choice([2, 3, 5, 8])
        unit["end"] = {"class": "compare", "from": ":i", "kind": "greater_equal", "value": n}
        what = f"compare(:i >= {n})"
    elif kind == "scalar":
        enc = rng.choice(encs)
        length = _fresh(net, f"{enc}_len")
        net[length] = {"class": "length", "from": enc}
        longest = _fresh(net, f"{enc}_max_len")
        net[longest] = {"class": "reduce", "mode": "max", "axis": "B", "from": length}
        unit["end"] = {"class": "compare", "from": [":i", f"base:{longest}"], "kind": "greater_equal"}
        what = f"compare(:i >= base:{longest}), {longest} the longest {enc} (reduce max over B of {length})"
    else:
        unit["end"] = {"class": "constant", "value": False}
        what = "constant False"
    return new, f"{rec}/end is {what}, without a batch axis{kept}"


# ----------------------------------------------------------------------------------------------------
# rwth-i6/returnn#225


def op_end_extra_deps(case: Case, rng: random.Random) -> Result:
    """The ``end`` becomes a ``copy`` of the old end with ``extra_deps`` on other loop layers."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        if not isinstance(unit.get("end"), dict):
            continue
        cands = []
        for k in _layers(unit):
            if k == "end" or "end" in _frame_ancestors(unit, k):
                continue
            cls = unit[k].get("class")
            scores = any(k in unit[c].get("from", []) if isinstance(unit[c].get("from"), list)
                         else unit[c].get("from") == k for c in _unit_choices(unit))
            if cls == "choice" or scores or (cls in _DENSE_N_OUT and isinstance(unit[k].get("n_out"), int)):
                cands.append(k)
        if cands:
            sites.append((rec, cands))
    if not sites:
        return None
    rec, cands = rng.choice(sites)
    unit = net[rec]["unit"]
    choices = [c for c in cands if unit[c].get("class") == "choice"]
    n = 2 if len(cands) > 1 and rng.random() < 0.3 else 1
    picks = sorted(rng.sample(cands, n))
    if choices and rng.random() < 0.4:
        picks = [choices[-1]] + [p for p in picks if p != choices[-1]][:n - 1]
    deps = [f"prev:{p}" if rng.random() < 0.25 else p for p in picks]
    cond = _fresh(unit, "end_cond")
    unit[cond] = unit.pop("end")
    unit["end"] = {"class": "copy", "from": cond, "extra_deps": deps}
    return new, f"{rec}/end is a copy of {rec}/{cond} (the old end) with extra_deps {deps}"


# ----------------------------------------------------------------------------------------------------
# rwth-i6/returnn#758


def op_segment_range(case: Case, rng: random.Random) -> Result:
    """A ``slice_nd`` of an encoder layer at the previous label (or the frame index), maybe a dynamic size,
    with ``range_in_axis`` over the segment marked an output."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        encs = _encoders(net, rec)
        choices = _label_choices(unit)
        if encs and choices:
            sites.append((rec, encs, choices))
    if not sites:
        return None
    rec, encs, choices = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    choice = rng.choice(choices)
    if rng.random() < 0.7:
        start = _fresh(unit, "segment_start")
        unit[start] = {"class": "copy", "from": f"prev:{choice}"}
        start_from = f"prev:{choice}"
    else:
        start = _fresh(unit, "segment_start")
        unit[start] = {"class": "reinterpret_data", "from": f"prev:{choice}", "set_sparse": False}
        start_from = f"prev:{choice} (set_sparse False)"
    if rng.random() < 0.75:
        size_int = _fresh(unit, "segment_size0")
        unit[size_int] = {"class": "reinterpret_data", "from": f"prev:{choice}", "set_sparse": False}
        size = _fresh(unit, "segment_size")
        unit[size] = {"class": "eval", "from": size_int, "eval": f"source(0) % {rng.choice([2, 3])} + 1"}
        size_val: Any = size
        size_desc = f"{size} (from prev:{choice})"
    else:
        size_val = rng.choice([2, 3])
        size_desc = str(size_val)
    seg = _fresh(unit, "segment")
    unit[seg] = {"class": "slice_nd", "from": f"base:{enc}", "start": start, "size": size_val}
    mode = rng.choice(["output", "output", "output+feed", "feed"])
    parts = [f"{rec}/{seg} = slice_nd(base:{enc}, start {start} = {start_from}, size {size_desc})"]
    if mode.startswith("output"):
        rng_name = _fresh(unit, "segment_range")
        unit[rng_name] = {"class": "range_in_axis", "from": seg, "axis": "T", "is_output_layer": True}
        parts.append(f"{rec}/{rng_name} = range_in_axis over it, is_output_layer")
    if mode.endswith("feed"):
        users = _dense_loop_linears(unit, {seg, start})
        if users:
            user = rng.choice(users)
            pool = _fresh(unit, "segment_mean")
            unit[pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": seg}
            _add_source(unit[user], pool)
            parts.append(f"{rec}/{user} also reads its mean {pool}")
        elif mode == "feed":
            unit[seg]["is_output_layer"] = True
            parts.append("the segment marked is_output_layer")
    return new, "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# rwth-i6/returnn#1213


def op_frame_choice_loop(case: Case, rng: random.Random) -> Result:
    """A second searching rec over an encoder layer, its choice over the frame's scores only (no label
    dependency, as for CTC)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        encs = _encoders(net, rec)
        for c in _label_choices(unit):
            dim = _target_dim(case, unit[c]["target"])
            if dim and encs:
                sites.append((rec, c, dim, encs))
    if not sites:
        return None
    rec, choice, dim, encs = rng.choice(sites)
    enc = rng.choice(encs)
    target = net[rec]["unit"][choice]["target"]
    act = rng.choice(["log_softmax", "softmax"])
    loop = _fresh(net, "frame_search")
    sub: dict[str, Any] = {}
    if rng.random() < 0.6:
        sub["scores"] = {"class": "linear", "activation": act, "from": "data:source", "n_out": dim}
        how = f"linear {act} over data:source"
    else:
        proj = _fresh(net, f"{enc}_frame_scores")
        net[proj] = {"class": "linear", "activation": act, "from": enc, "n_out": dim}
        sub["scores"] = {"class": "rec_unstack", "from": f"base:{proj}"}
        how = f"rec_unstack of base:{proj} (linear {act} over {enc})"
    sub["output"] = {"class": "choice", "from": "scores", "target": target, "beam_size": rng.choice([2, 3, 4, 8]),
                     "input_type": "log_prob" if act == "log_softmax" else "prob", "initial_output": 0}
    if rng.random() < 0.3:
        sub["output"]["length_normalization"] = False
    net[loop] = {"class": "rec", "from": enc, "unit": sub}
    if rng.random() < 0.5:
        net[loop]["target"] = target
    if rng.random() < 0.5:
        net[loop]["is_output_layer"] = True
        out = f"{loop} is an output layer"
    else:
        dec = _fresh(net, f"{loop}_decision")
        net[dec] = {"class": "decide", "from": loop, "is_output_layer": True}
        out = f"{dec} (decide of it) is an output layer"
    return new, (f"a second searching rec {loop} over {enc}: choice {loop}/output ({target}, beam "
                 f"{sub['output']['beam_size']}) over {loop}/scores = {how}, no earlier label read; {out}")


# ----------------------------------------------------------------------------------------------------
# rwth-i6/returnn#818


def op_new_time_tag(case: Case, rng: random.Random) -> Result:
    """An encoder layer re-tagged with a new time dim (``set_dim_tags``), read in the loop reduced over it
    (maybe concatenated with the previous label), or read by every reader of the encoder."""
    new, net = _copy(case)
    sites = [(r, e) for r in _searching_recs(net) for e in _encoders(net, r)]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    unit = net[rec]["unit"]
    tagged = _fresh(net, f"{enc}_new_time")
    dim = {"__dim__": {"description": f"{tagged}-time", "kind": "spatial", "dimension": None}}
    net[tagged] = {"class": "reinterpret_data", "from": enc, "set_dim_tags": {"T": dim}}
    users = _dense_loop_linears(unit, set())
    choices = _label_choices(unit)
    modes = (["concat-prev"] if users and choices else []) + (["mean"] if users else []) + ["all-readers"]
    mode = rng.choice(modes)
    if mode == "all-readers":
        root_readers = [k for k in _readers(net, enc) if k != tagged]
        _redirect(net, root_readers, enc, tagged)
        loop_readers = []
        for r in _searching_recs(net):
            inner = net[r]["unit"]
            rd = _readers(inner, "", f"base:{enc}")
            _redirect(inner, rd, f"base:{enc}", f"base:{tagged}")
            loop_readers += [f"{r}/{k}" for k in rd]
        if not root_readers and not loop_readers:
            return None
        return new, (f"{tagged} = {enc} with a new time dim tag (set_dim_tags); read instead of {enc} by "
                     f"{', '.join(root_readers + loop_readers)}")
    user = rng.choice(users)
    if mode == "mean":
        red = _fresh(unit, f"{tagged}_mean")
        unit[red] = {"class": "reduce", "mode": "mean", "axis": dim, "from": f"base:{tagged}"}
        _add_source(unit[user], red)
        return new, (f"{tagged} = {enc} with a new time dim tag (set_dim_tags); {rec}/{user} also reads "
                     f"{rec}/{red}, its mean over the new axis")
    choice = rng.choice(choices)
    p0 = _fresh(unit, f"prev_{choice}_dense")
    unit[p0] = {"class": "reinterpret_data", "from": f"prev:{choice}", "set_sparse": False}
    p1 = _fresh(unit, f"prev_{choice}_float")
    unit[p1] = {"class": "cast", "from": p0, "dtype": "float32"}
    p2 = _fresh(unit, f"prev_{choice}_feat")
    unit[p2] = {"class": "expand_dims", "from": p1, "axis": "f"}
    cat = _fresh(unit, f"{tagged}_concat")
    unit[cat] = {"class": "copy", "from": [f"base:{tagged}", p2]}
    red = _fresh(unit, f"{tagged}_max")
    unit[red] = {"class": "reduce", "mode": "max", "axis": dim, "from": cat}
    _add_source(unit[user], red)
    return new, (f"{tagged} = {enc} with a new time dim tag (set_dim_tags); {rec}/{cat} concatenates "
                 f"base:{tagged} with prev:{choice} as a float feature, {rec}/{red} its max over the new "
                 f"axis, read by {rec}/{user}")


FRESH49_OPERATORS: tuple[Op, ...] = (
    Op("batchless-end", op_batchless_end, 1),
    Op("end-extra-deps", op_end_extra_deps, 1),
    Op("segment-range", op_segment_range, 1),
    Op("frame-choice-loop", op_frame_choice_loop, 1),
    Op("new-time-tag", op_new_time_tag, 1),
)
