"""A seventy-seventh set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Hierarchical (two-level) search: a searching decoder nested inside the frame of another searching decoder
(RETURNN's rec layer inside a rec unit), or a segment-level searching loop chained before the label decoder,
with the correct forms and the mistakes users make between the two levels (none a variant of an earlier
operator; no rule was written for any of them). The "outer" loop is a searching decoder of the base with a label
choice ``C`` (vocabulary ``V``); its "reader" ``R`` is a ``linear`` / ``softmax`` the choice's scores depend on
(the choice's source, or one of that layer's sources); an "outer state" ``S`` is a dense ``linear`` /
``rnn_cell`` / ``rec`` of the frame ``R`` depends on. The nested loop ``SEG`` (a ``rec`` in the outer unit,
``max_seq_len`` 3 to 5) decodes a short label segment per outer frame: ``emb`` (``linear`` of ``prev:lab``),
``h`` (``tanh`` ``linear`` of ``emb`` and its condition), ``prob`` (``softmax`` with ``n_out`` ``V``), ``lab``,
``end`` (``compare`` of ``lab`` with 0) and ``output`` (``copy`` of ``lab``). Its condition is the outer state
``base:S``, an embedding of the outer frame's (segment-level) choice ``base:C`` (the labels of the segment just
chosen; the outer level then reads ``SEG``'s results one outer frame later, through ``prev:``), or only the
encoder (the mean over time of a root encoder layer read as ``base:base:ENC``, or of ``base:base:data``); ``lab`` is a
``choice`` (no target, beam 1 to 4, ``initial_output`` 0), or greedy (``reduce`` ``argmax`` over ``F``,
``initial_output`` 0), or now and then a ``choice`` with the outer choice's target key (which the nested
net looks up); ``inner-result-access`` and ``level-bounds`` draw the encoder-only condition two and three times
as often as each other one:

* ``nested-label-search``: ``SEG`` is grafted into the outer unit and its labels are embedded (``linear``)
  and averaged over its time axis (``reduce`` mean over ``T``), the average an extra source of ``R``; the
  embedding reads ``SEG`` directly, a ``decide`` of it (the decision between the levels), or a
  ``decide_keep_beam`` of it;
* ``inner-result-access``: ``SEG`` is grafted, and the outer level reaches into it in the ways users try:
  the inner choice or the inner state by path (``SEG/lab``, ``SEG/h``), ``SEG``'s last frame (``slice`` with
  ``slice_start`` -1 over ``T``, then ``squeeze``) or its max over time, its average from the previous outer
  frame (``R`` reads ``prev:`` of the average, carried across outer frames), or, at the root, the
  accumulated per-frame average (``REC/SEG_sum``, ``is_output_layer`` in the loop or not) read by a root
  output layer beside an embedding of the outer decoder's labels (of the rec layer or of a ``decide`` of
  it): a root layer reading both levels;
* ``level-bounds``: ``SEG`` is grafted (read as in ``nested-label-search``, directly or through a ``decide``)
  with its length control changed: ``max_seq_len`` from an outer layer (``max_len_from('base:S')``), from
  the encoder (``max_len_from('base:base:ENC')``) or a constant; its ``end`` shared with the outer loop (a
  ``copy`` of ``base:end``, or a ``logical_or`` of its own ``compare`` and ``base:end``), its own, or
  dropped (the ``max_seq_len`` only); or the outer ``end`` also ends when the inner segment was empty
  (a ``logical_or`` of the old ``end`` and a ``compare`` of ``SEG``'s length with 0);
* ``segment-planner``: a segment-level searching loop chained before the label decoder at the root: a
  ``rec`` ``segmenter`` (``from`` nothing, ``max_seq_len`` a constant or ``max_len_from('base:ENC')``) with
  a ``choice`` over 3 to 6 segment classes (no target, beam 2 to 4) conditioned on the mean over time of an
  encoder layer (or of ``data``), ending on class 0; its labels (or a root ``decide`` of them) embedded at
  the root (``linear``); the label decoder's ``R`` reads their mean over time (``base:``), or the segment at
  its own step (``gather`` at ``:i`` over ``T``, ``clip_to_valid``); maybe the decoder's ``max_seq_len``
  becomes ``max_len_from('base:segmenter') * 3`` (or of the decision), and maybe a root output layer reads
  both levels (the segments' mean and an embedding of the decoder's labels, or of a ``decide`` of them).
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
    _head,
    _refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH75_SEED = 20270137
N_FRESH75 = 80

Result = "tuple[Case, str] | None"

_DENSE = ("linear", "rnn_cell", "rec")


def _choice_key(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, list):
        target = target[0] if target and isinstance(target[0], str) else None
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _n_out(desc: dict[str, Any]) -> int | None:
    n = desc.get("n_out")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _timeless_refs(net: dict[str, Any], unit: dict[str, Any], names: set[str]) -> bool:
    """Whether the layers ``names`` of the unit read no root layer but time reductions (so no encoder
    time axis leaks into them)."""
    for k in sorted(names):
        for ref in _refs(unit[k]):
            if ref.startswith("base:"):
                root = net.get(ref[len("base:"):].split("/", 1)[0])
                if not (isinstance(root, dict) and root.get("class") == "reduce"):
                    return False
            elif ref.startswith("data"):
                return False
    return True


def _time_layer(case: Case, net: dict[str, Any], rec: str) -> str | None:
    """A root layer with the input's time axis: the one the rec's ``max_len_from`` names, else ``data``
    when the input is dense; None otherwise."""
    msl = net[rec].get("max_seq_len")
    if isinstance(msl, str) and "max_len_from('base:" in msl:
        name = msl.split("max_len_from('base:", 1)[1].split("'", 1)[0]
        if name in net and isinstance(net[name], dict):
            return name
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict) and not ext.get("sparse") and not ext.get("sparse_dim") and ext.get("dim"):
        return "data"
    num = (case.get("num_outputs") or {}).get("data")
    if isinstance(num, list) and num[1:] == [2]:
        return "data"
    return None


def _outer_sites(case: Case, net: dict[str, Any]) -> list[dict[str, Any]]:
    """(rec, choice, vocabulary, reader R, outer states S) of every searching decoder with a label choice."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            if desc.get("input_type") == "regression" or desc.get("search", True) is False:
                continue
            vocab = _target_dim(case, _choice_key(desc))
            srcs = [h for h in (_head(s) for s in _sources(desc)) if h in unit]
            if not srcs:
                continue
            if vocab is None and _n_out(unit[srcs[0]]):
                vocab = _n_out(unit[srcs[0]])
            if not vocab:
                continue
            readers = []
            for s in srcs:
                if unit[s].get("class") in ("linear", "softmax") and not unit[s].get("reuse_params"):
                    readers.append(s)
                for s2 in (_head(x) for x in _sources(unit[s])):
                    if (s2 in unit and unit[s2].get("class") in ("linear", "softmax")
                            and not unit[s2].get("reuse_params") and s2 not in readers):
                        readers.append(s2)
            for r in sorted(readers):
                anc = _frame_ancestors(unit, r)
                states = sorted(s for s in anc if unit[s].get("class") in _DENSE and _n_out(unit[s])
                                and s not in _unit_choices(unit)
                                and _timeless_refs(net, unit, {s} | _frame_ancestors(unit, s)))
                out.append({"rec": rec, "choice": c, "vocab": vocab, "reader": r, "states": states,
                            "key": _choice_key(desc)})
    return out


def _graft(case: Case, net: dict[str, Any], site: dict[str, Any], rng: random.Random, *,
           root_weight: float = 1.0) -> tuple[str, str, str] | None:
    """Put the nested searching loop ``SEG`` into the outer unit; (its name, a description, the prefix the
    outer reader reads its results with: ``prev:`` when it is conditioned on this frame's outer choice)."""
    rec, choice, vocab = site["rec"], site["choice"], site["vocab"]
    unit = net[rec]["unit"]
    enc = _time_layer(case, net, rec)
    conds = (["state"] if site["states"] else []) + ["choice"] + (["root"] if enc else [])
    cond = rng.choices(conds, [root_weight if c == "root" else 1.0 for c in conds])[0]
    decode = rng.choices(["choice", "greedy", "target"], [4, 4, 1])[0]
    if decode == "target" and site["key"] is None:
        decode = "choice"
    emb_dim = rng.choice([4, 8])
    inner: dict[str, Any] = {"emb": {"class": "linear", "activation": None, "from": "prev:lab", "n_out": emb_dim}}
    if cond == "state":
        state = rng.choice(site["states"])
        h_from = ["emb", f"base:{state}"]
        how = f"conditioned on the outer state base:{state}"
    elif cond == "choice":
        inner["seg_class"] = {"class": "linear", "activation": None, "from": f"base:{choice}", "n_out": emb_dim}
        h_from = ["emb", "seg_class"]
        how = (f"conditioned on an embedding of this frame's outer (segment-level) choice base:{choice}, "
               f"its results read in the next outer frame (prev:)")
    else:
        inner["enc_ctx"] = {"class": "reduce", "mode": "mean", "axis": "T", "from": f"base:base:{enc}"}
        h_from = ["emb", "enc_ctx"]
        how = f"conditioned only on the encoder (mean of base:base:{enc})"
    inner["h"] = {"class": "linear", "activation": "tanh", "from": h_from, "n_out": rng.choice([6, 16])}
    inner["prob"] = {"class": "softmax", "from": "h", "n_out": vocab}
    if decode == "greedy":
        inner["lab"] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": "prob", "initial_output": 0}
        dec = "greedy (argmax) labels"
    else:
        beam = rng.choice([1, 2, 3, 4])
        inner["lab"] = {"class": "choice", "from": "prob", "target": None, "beam_size": beam, "initial_output": 0}
        dec = f"a choice (beam {beam})"
        if decode == "target":
            inner["lab"]["target"] = site["key"]
            dec += f" with target {site['key']!r}"
    inner["end"] = {"class": "compare", "from": "lab", "value": 0}
    inner["output"] = {"class": "copy", "from": "lab"}
    seg = _fresh(unit, "segment")
    unit[seg] = {"class": "rec", "from": [], "max_seq_len": rng.choice([3, 4, 5]), "unit": inner}
    return seg, (f"{rec}/{seg}: a nested searching rec (max_seq_len {unit[seg]['max_seq_len']}) of {dec} over "
                 f"{vocab} labels, {how}"), "prev:" if cond == "choice" else ""


def _summary(unit: dict[str, Any], seg: str, src: str, rng: random.Random) -> str:
    """Embed ``src`` (labels of the inner loop) and average over the inner time axis; the average's name."""
    emb = _fresh(unit, f"{seg}_embed")
    unit[emb] = {"class": "linear", "activation": None, "from": src, "n_out": rng.choice([4, 8])}
    avg = _fresh(unit, f"{seg}_sum")
    unit[avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
    return avg


def _read_inner(unit: dict[str, Any], seg: str, how: str, rng: random.Random) -> tuple[str, str]:
    if how == "decide":
        src = _fresh(unit, f"{seg}_decided")
        unit[src] = {"class": "decide", "from": seg}
        what = f"a decide {src} of it"
    elif how == "keep":
        src = _fresh(unit, f"{seg}_kept")
        unit[src] = {"class": "decide_keep_beam", "from": seg}
        what = f"a decide_keep_beam {src} of it"
    else:
        src, what = seg, "it directly"
    return _summary(unit, seg, src, rng), what


def op_nested_label_search(case: Case, rng: random.Random) -> Result:
    """A nested searching rec in the outer decoder's frame, its labels' mean read by the outer reader."""
    new, net = _copy(case)
    sites = _outer_sites(case, net)
    if not sites:
        return None
    site = rng.choice(sites)
    got = _graft(case, net, site, rng)
    if got is None:
        return None
    seg, desc, pre = got
    unit = net[site["rec"]]["unit"]
    how = rng.choices(["direct", "decide", "keep"], [4, 3, 1])[0]
    avg, what = _read_inner(unit, seg, how, rng)
    _add_source(unit[site["reader"]], pre + avg)
    return new, f"{desc}; {site['reader']} reads {pre}{avg}, the mean of an embedding of {what}"


def op_inner_result_access(case: Case, rng: random.Random) -> Result:
    """The outer level (or the root) reaches into the nested loop: by path, its last frame, its previous
    outer frame, or its per-frame average accumulated over the outer frames."""
    new, net = _copy(case)
    sites = _outer_sites(case, net)
    if not sites:
        return None
    site = rng.choice(sites)
    got = _graft(case, net, site, rng, root_weight=2.0)
    if got is None:
        return None
    seg, desc, pre = got
    rec, reader = site["rec"], site["reader"]
    unit = net[rec]["unit"]
    kind = rng.choice(["path-choice", "path-state", "last", "max", "prev", "root"])
    if kind == "path-choice":
        avg = _summary(unit, seg, f"{seg}/lab", rng)
        _add_source(unit[reader], pre + avg)
        return new, f"{desc}; {reader} reads {pre}{avg}, the mean of an embedding of the inner choice {seg}/lab"
    if kind == "path-state":
        avg = _fresh(unit, f"{seg}_state")
        unit[avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": f"{seg}/h"}
        _add_source(unit[reader], pre + avg)
        return new, f"{desc}; {reader} reads {pre}{avg}, the mean over time of the inner state {seg}/h"
    if kind in ("last", "max"):
        src = seg
        if rng.random() < 0.5:
            src = _fresh(unit, f"{seg}_decided")
            unit[src] = {"class": "decide", "from": seg}
        emb = _fresh(unit, f"{seg}_embed")
        unit[emb] = {"class": "linear", "activation": None, "from": src, "n_out": rng.choice([4, 8])}
        if kind == "last":
            last = _fresh(unit, f"{seg}_last_frame")
            unit[last] = {"class": "slice", "axis": "T", "slice_start": -1, "from": emb}
            out = _fresh(unit, f"{seg}_last")
            unit[out] = {"class": "squeeze", "axis": "T", "from": last}
            what = "its last frame (slice -1 and squeeze)"
        else:
            out = _fresh(unit, f"{seg}_max")
            unit[out] = {"class": "reduce", "mode": "max", "axis": "T", "from": emb}
            what = "its max over time"
        _add_source(unit[reader], pre + out)
        via = f" of a decide {src}" if src != seg else ""
        return new, f"{desc}; {reader} reads {pre}{out}, {what} of an embedding{via} of {seg}"
    if kind == "prev":
        how = rng.choice(["direct", "decide"])
        avg, what = _read_inner(unit, seg, how, rng)
        _add_source(unit[reader], f"prev:{avg}")
        return new, (f"{desc}; {reader} reads prev:{avg} (the previous outer frame's mean of an embedding of "
                     f"{what})")
    how = rng.choice(["direct", "decide"])
    avg, what = _read_inner(unit, seg, how, rng)
    marked = rng.random() < 0.6
    if marked:
        unit[avg]["is_output_layer"] = True
    else:
        _add_source(unit[reader], pre + avg)
    lab = rec
    if rng.random() < 0.5:
        lab = _fresh(net, f"{rec}_decided")
        net[lab] = {"class": "decide", "from": rec}
    emb = _fresh(net, f"{rec}_label_embed")
    net[emb] = {"class": "linear", "activation": None, "from": lab, "n_out": 4}
    both = _fresh(net, "two_levels")
    net[both] = {"class": "copy", "from": [f"{rec}/{avg}", emb], "is_output_layer": True}
    return new, (f"{desc}; {rec}/{avg} (mean of an embedding of {what}{', an output layer' if marked else ''}"
                 f"{'' if marked else ', read by ' + reader + (' as prev:' if pre else '')}); root {both}: copy of [{rec}/{avg}, {emb} "
                 f"(embedding of {lab})], an output layer")


def op_level_bounds(case: Case, rng: random.Random) -> Result:
    """The nested loop's length control: its max_seq_len, its end shared with the outer loop, or the
    outer end depending on the inner segment."""
    new, net = _copy(case)
    sites = _outer_sites(case, net)
    if not sites:
        return None
    site = rng.choice(sites)
    got = _graft(case, net, site, rng, root_weight=3.0)
    if got is None:
        return None
    seg, desc, pre = got
    rec, reader = site["rec"], site["reader"]
    unit = net[rec]["unit"]
    how = rng.choices(["direct", "decide"], [3, 1])[0]
    avg, what = _read_inner(unit, seg, how, rng)
    _add_source(unit[reader], pre + avg)
    desc += f"; {reader} reads {pre}{avg} (mean of an embedding of {what})"
    inner = unit[seg]["unit"]
    enc = _time_layer(case, net, rec)
    kinds = ["max-const", "end-copy", "end-or", "no-end", "outer-end"]
    if site["states"]:
        kinds.append("max-outer")
    if enc:
        kinds.append("max-enc")
    kind = rng.choice(kinds)
    if kind == "max-outer":
        state = rng.choice(site["states"])
        unit[seg]["max_seq_len"] = f"max_len_from('base:{state}')"
        return new, f"{desc}; {seg}'s max_seq_len max_len_from('base:{state}') (an outer loop layer)"
    if kind == "max-enc":
        unit[seg]["max_seq_len"] = f"max_len_from('base:base:{enc}')"
        return new, f"{desc}; {seg}'s max_seq_len max_len_from('base:base:{enc}') (the encoder)"
    if kind == "max-const":
        unit[seg]["max_seq_len"] = rng.choice([2, 8, 10])
        return new, f"{desc}; {seg}'s max_seq_len {unit[seg]['max_seq_len']}"
    if kind == "end-copy" and "end" in unit:
        inner["end"] = {"class": "copy", "from": "base:end"}
        return new, f"{desc}; {seg}'s end a copy of the outer end (base:end)"
    if kind == "end-or" and "end" in unit:
        inner["own_end"] = inner.pop("end")
        inner["end"] = {"class": "combine", "kind": "logical_or", "from": ["own_end", "base:end"]}
        return new, f"{desc}; {seg}'s end a logical_or of its own end and the outer end (base:end)"
    if kind == "outer-end" and "end" in unit:
        length = _fresh(unit, f"{seg}_length")
        unit[length] = {"class": "length", "from": seg}
        empty = _fresh(unit, f"{seg}_empty")
        unit[empty] = {"class": "compare", "kind": "equal", "from": length, "value": 0}
        old = _fresh(unit, "end_labels")
        unit[old] = unit.pop("end")
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, empty]}
        return new, (f"{desc}; the outer end is a logical_or of the old end (now {old}) and {empty} "
                     f"({seg}'s length == 0)")
    del inner["end"]
    return new, f"{desc}; {seg} without an end layer (max_seq_len {unit[seg]['max_seq_len']} only)"


def op_segment_planner(case: Case, rng: random.Random) -> Result:
    """A segment-level searching loop at the root before the label decoder, which reads its segments."""
    new, net = _copy(case)
    sites = [s for s in _outer_sites(case, net) if _time_layer(case, net, s["rec"])]
    if not sites:
        return None
    site = rng.choice(sites)
    rec, reader = site["rec"], site["reader"]
    unit = net[rec]["unit"]
    enc = _time_layer(case, net, rec)
    ctx = _fresh(net, f"{enc}_mean_for_segments")
    net[ctx] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
    classes = rng.choice([3, 4, 6])
    beam = rng.choice([2, 3, 4])
    plan = _fresh(net, "segmenter")
    max_len: Any = rng.choice([3, 5, f"max_len_from('base:{enc}')"]) if enc != "data" else rng.choice([3, 5])
    net[plan] = {"class": "rec", "from": [], "max_seq_len": max_len, "unit": {
        "emb": {"class": "linear", "activation": None, "from": "prev:choice", "n_out": 4},
        "h": {"class": "linear", "activation": "tanh", "from": ["emb", f"base:{ctx}"], "n_out": 6},
        "prob": {"class": "softmax", "from": "h", "n_out": classes},
        "choice": {"class": "choice", "from": "prob", "target": None, "beam_size": beam, "initial_output": 0},
        "end": {"class": "compare", "from": "choice", "value": 0},
        "output": {"class": "copy", "from": "choice"},
    }}
    desc = (f"root {plan}: a searching rec (max_seq_len {max_len!r}) choosing among {classes} segment classes "
            f"(beam {beam}) from {ctx} (mean of {enc})")
    src = plan
    if rng.random() < 0.6:
        src = _fresh(net, f"{plan}_decided")
        net[src] = {"class": "decide", "from": plan}
        desc += f", decided by {src}"
    emb = _fresh(net, f"{plan}_embed")
    net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": rng.choice([4, 8])}
    if rng.random() < 0.55:
        avg = _fresh(net, f"{plan}_sum")
        net[avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
        _add_source(unit[reader], f"base:{avg}")
        desc += f"; {rec}/{reader} reads base:{avg} (mean of {emb}, embedding of {src})"
    else:
        frame = _fresh(unit, "segment_at_step")
        unit[frame] = {"class": "gather", "from": f"base:{emb}", "position": ":i", "axis": "T",
                       "clip_to_valid": True}
        _add_source(unit[reader], frame)
        desc += f"; {rec}/{reader} reads {frame} (gather of base:{emb}, embedding of {src}, at :i)"
    if "max_seq_len" in net[rec] and rng.random() < 0.25:
        net[rec]["max_seq_len"] = f"max_len_from('base:{src}') * 3"
        desc += f"; {rec}'s max_seq_len max_len_from('base:{src}') * 3"
    if rng.random() < 0.35:
        lab = rec
        if rng.random() < 0.5:
            lab = _fresh(net, f"{rec}_decided")
            net[lab] = {"class": "decide", "from": rec}
        lab_emb = _fresh(net, f"{rec}_label_embed")
        net[lab_emb] = {"class": "linear", "activation": None, "from": lab, "n_out": 4}
        lab_avg = _fresh(net, f"{rec}_label_mean")
        net[lab_avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": lab_emb}
        seg_avg = _fresh(net, f"{plan}_mean")
        net[seg_avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
        both = _fresh(net, "two_levels")
        net[both] = {"class": "copy", "from": [seg_avg, lab_avg], "is_output_layer": True}
        desc += f"; root {both}: copy of the segments' mean and of the mean of an embedding of {lab}, an output"
    return new, desc


FRESH75_OPERATORS: tuple[Op, ...] = (
    Op("nested-label-search", op_nested_label_search, 1),
    Op("inner-result-access", op_inner_result_access, 1),
    Op("level-bounds", op_level_bounds, 1),
    Op("segment-planner", op_segment_planner, 1),
)
