"""An eighty-fifth set of edit operators (issue 15, eighteenth session), written and seeded before it was
ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Search-related bug reports, questions and pull requests in RETURNN's GitHub that no earlier set used, each
thread's network pattern (the form the user first wrote and the form they ended up with) adapted onto the
bases' searching decoders (none a variant of an earlier operator; no rule was written for any of them):

* ``stop-choice``: the end of a loop decided by a searched binary stop variable, as albertz suggests in
  rwth-i6/returnn#193 ("enable end layer usage without a choice layer": "this could also have been realized
  by just making a ChoiceLayer based on the sigmoid output, and then the end layer checking on that") for
  the stop token of rwth-i6/returnn#149 ("Recurrent Audio Feature Prediction with Stop Token"): a two-class
  ``linear`` ``softmax`` over a dense loop state the choice's scores read (``STOP_prob``), a ``choice`` over
  it without a target (beam size the label choice's, 2 or 1, maybe ``search: True`` spelled out), the
  ``end`` a ``compare`` ``equal`` 1 of the stop choice, alone (the old end renamed and left unread) or
  ``logical_or``-ed with the old end (added where the loop had none); the stop variable is chosen after the
  label (its scores also read an embedding of this frame's label, so it is the latest choice), before it
  (the label's scores read an embedding of the stop choice, so the end carries an earlier choice's beam) or
  beside it (only the end reads it);
* ``sublayer-path-read``: a sub-layer of a loop layer read from outside the loop, as in rwth-i6/returnn#398
  ("Failing test for case where sub-layer is optimized out", from #395: accessing a sub-layer of a
  ``SplitLayer`` from outside the rec loop) and rwth-i6/returnn#224 ("Fixes for ChoiceLayer sub-layers":
  "copying from a layer in the rec unit to outside"): a dense loop layer with an ``n_out`` is ``split``
  (``size_splits``, ``axis`` ``F``) and a root output layer (``copy``, ``reduce`` mean over ``T`` or
  ``decide``) reads one part: by the two-level path ``REC/SPLIT/i`` (the form first written; the split
  maybe marked ``is_output_layer``), or, the way rwth-i6/returnn#749 ("Way to get final last recurrent (sub)
  layer output") tells users to get a loop value out, through a loop ``copy`` of ``SPLIT/i`` (or of
  ``prev:SPLIT/i``) marked ``is_output_layer`` and read as ``REC/COPY``; the loop itself may read one part
  too (this frame's, or ``prev:SPLIT/i``) as an extra source of a dense loop layer, or not (the sub-layer
  only read from outside); for a choice with several targets, the root reads the choice's own sub-layer
  (``REC/CHOICE/i``, the choice maybe marked an output, or a loop copy of ``CHOICE/i``) instead;
* ``prev-depth-energy``: the ``energy_in`` of ``test_rec_layer_move_out_of_loop`` discussed in
  rwth-i6/returnn#174 ("Clarification of beam selection in prev:-layers": ``weight_feedback`` reads
  ``prev:accum_att_weights`` whose beam stems from ``prev:prev:output``, ``prev_s_transformed`` reads
  ``prev:s``): a layer of the scores' path (the scores' layer or a dense layer before it) also reads a
  projection (``linear`` without bias) of the previous frame of a loop layer that itself depends on the
  previous label (two frames back), or the sum (``combine`` add) of that projection with the previous
  frame of an embedding of this frame's label (one frame back, ``initial_output`` 0), or a projection of
  such a layer's value of this frame (the reading the issue asks about, no ``prev:``);
* ``extern-search-override``: the recognition output registered as extern data under the key a training
  layer registers, as in rwth-i6/returnn#1011 ("Fix 'only_on_search' ignored if 'register_as_extern_data'
  set": "My layer with only_on_search overwrites a previous register_as_extern_data"): a root ``copy`` of
  the decoder's target data (or, where the decoder has no data target, of an encoder layer) registers key
  ``K`` for training, and an ``only_on_search`` root layer over the searching decoder (its ``decide``, or
  the beamed rec layer itself) registers the same ``K``, named so that it sorts after the training layer
  (it wins in search) or before it (the training layer wins); or only the search layer registers ``K``
  (the form without the training twin); a root output layer reads ``data:K`` back: an embedding
  (``linear``) of it reduced over ``T``, or its ``length``, maybe together with the beamed decoder.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _deps,
    _encoder_sites,
    _frame_ancestors,
    _fresh,
    _layers,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH83_SEED = 20270145
N_FRESH83 = 80

Result = "tuple[Case, str] | None"

DENSE = ("linear", "rnn_cell", "softmax")


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names one data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"]


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    """The loop layer a choice scores (its one plain source), or None."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    return srcs[0]


def _n_out(desc: dict[str, Any]) -> int | None:
    value = desc.get("n_out")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dense(unit: dict[str, Any], name: str) -> bool:
    desc = unit.get(name)
    return isinstance(desc, dict) and desc.get("class") in DENSE


def _states(unit: dict[str, Any], scores: str) -> list[str]:
    """Dense loop layers the scores read in the same frame (the scores' layer's own sources first), no choice."""
    direct = [s for s in _sources(unit[scores]) if s in unit and isinstance(unit[s], dict)
              and unit[s].get("class") not in ("choice",) and s != "end"]
    if direct:
        return direct
    return sorted(k for k in _frame_ancestors(unit, scores)
                  if _dense(unit, k) and k != "end")


def _reads_prev_label(unit: dict[str, Any], name: str, choice: str) -> bool:
    """Whether ``name`` depends in the frame on the previous label: on ``prev:CHOICE`` or on ``prev:Y`` of a
    loop layer ``Y`` that reads the choice in its frame (an embedding of this frame's label read as ``prev:``)."""
    for k in {name} | _frame_ancestors(unit, name):
        desc = unit.get(k)
        if not isinstance(desc, dict):
            continue
        for ref in _deps(desc):
            if not ref.startswith("prev:"):
                continue
            y = ref[len("prev:"):].split("/", 1)[0]
            if y == choice or (y in unit and choice in _frame_ancestors(unit, y)):
                return True
    return False


def _replace_end(unit: dict[str, Any], new_end: dict[str, Any], keep_old: bool) -> str:
    """Rename the loop's ``end`` (readers of it follow) and put ``new_end`` in its place, or-ed with the old
    one where ``keep_old``; the old end's new name."""
    old = _fresh(unit, "end_old")
    unit[old] = unit.pop("end")
    for k in _layers(unit):
        if k == old:
            continue
        srcs = unit[k].get("from")
        if srcs == "end":
            unit[k]["from"] = old
        elif isinstance(srcs, list):
            unit[k]["from"] = [old if s == "end" else s for s in srcs]
    if keep_old:
        cond = _fresh(unit, "end_stop")
        unit[cond] = new_end
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, cond]}
    else:
        unit["end"] = new_end
    return old


# ----------------------------------------------------------------------------------------------------
# stop-choice


def op_stop_choice(case: Case, rng: random.Random) -> Result:
    """A searched binary stop variable decides the loop's end."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            scores = _scores(unit, c)
            if scores is None:
                continue
            states = _states(unit, scores)
            if states:
                sites.append((r, c, scores, states))
    if not sites:
        return None
    rec, choice, scores, states = rng.choice(sites)
    unit = net[rec]["unit"]
    state = rng.choice(states)
    beam0 = unit[choice].get("beam_size", 12)
    beam = rng.choices([beam0, 2, 1], [0.5, 0.3, 0.2])[0]
    stop = _fresh(unit, f"{choice}_stop")
    prob = _fresh(unit, f"{stop}_prob")
    order = rng.choices(["after", "before", "beside"], [0.4, 0.35, 0.25])[0]
    how = ""
    if order == "before":
        # the label's scores read an embedding of the stop choice: a dense reader on the scores' path that the
        # stop's own input does not depend on
        banned = {state} | _frame_ancestors(unit, state)
        readers = [k for k in [scores, *sorted(_frame_ancestors(unit, scores))]
                   if k in unit and unit[k].get("class") in ("linear", "softmax") and k not in banned]
        if not readers:
            order = "after"
    prob_srcs: list[str] = [state]
    if order == "after":
        emb = _fresh(unit, f"{choice}_embed_stop")
        unit[emb] = {"class": "linear", "activation": None, "from": choice, "n_out": 3}
        prob_srcs.append(emb)
        how = f"after {choice} ({prob} also reads {emb} = linear({choice}))"
    unit[prob] = {"class": "linear", "activation": "softmax", "from": prob_srcs if len(prob_srcs) > 1 else state,
                  "n_out": 2}
    unit[stop] = {"class": "choice", "from": prob, "target": None, "beam_size": beam, "input_type": "prob",
                  "initial_output": 0}
    if rng.random() < 0.3:
        unit[stop]["search"] = True
    if order == "before":
        reader = rng.choice(readers)
        emb = _fresh(unit, f"{stop}_embed")
        unit[emb] = {"class": "linear", "activation": None, "from": stop, "n_out": 2}
        _add_source(unit[reader], emb)
        how = f"before {choice} ({reader} also reads {emb} = linear({stop}))"
    elif order == "beside":
        how = f"beside {choice} (only the end reads it)"
    is_stop = {"class": "compare", "from": stop, "kind": "equal", "value": 1}
    desc = (f"{rec}: stop choice {stop} (beam {beam}{', search True' if unit[stop].get('search') else ''}, "
            f"over {prob} = 2-class softmax of {state}) {how}")
    if not isinstance(unit.get("end"), dict):
        unit["end"] = is_stop
        return new, f"{desc}; the loop gets end = ({stop} == 1)"
    if rng.random() < 0.45:
        old = _replace_end(unit, is_stop, keep_old=False)
        return new, f"{desc}; end = ({stop} == 1) alone (old end kept as {old}, unread)"
    old = _replace_end(unit, is_stop, keep_old=True)
    return new, f"{desc}; end = logical_or({old}, {stop} == 1)"


# ----------------------------------------------------------------------------------------------------
# sublayer-path-read


def op_sublayer_path_read(case: Case, rng: random.Random) -> Result:
    """A root output layer reads a sub-layer of a loop layer: by its two-level path (``REC/X/i``), or through a
    loop copy of it that is an output of the loop."""
    new, net = _copy(case)
    split_sites = []
    multi_sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            n = _n_out(desc)
            if desc.get("class") in ("linear", "rnn_cell") and n is not None and n >= 2 and k != "end":
                split_sites.append((r, k, n))
        for c in _unit_choices(unit):
            target = unit[c].get("target")
            if isinstance(target, list) and len(target) >= 2:
                multi_sites.append((r, c, len(target)))
    if not split_sites and not multi_sites:
        return None
    kind = rng.choices(["copy", "reduce", "decide"], [0.4, 0.3, 0.3])[0]
    if multi_sites and (not split_sites or rng.random() < 0.5):
        rec, choice, n_targets = rng.choice(multi_sites)
        unit = net[rec]["unit"]
        idx = rng.randrange(n_targets)
        if rng.random() < 0.4:
            path = f"{rec}/{choice}/{idx}"
            extra = ""
            if rng.random() < 0.5:
                unit[choice]["is_output_layer"] = True
                extra = f" ({choice} marked an output)"
        else:
            out = _fresh(unit, f"{choice}_{idx}_out")
            unit[out] = {"class": "copy", "from": f"{choice}/{idx}", "is_output_layer": True}
            path = f"{rec}/{out}"
            extra = f" ({out} = copy of {choice}/{idx}, an output of the loop)"
        name = _fresh(net, f"{rec}_{choice}_{idx}_out")
    else:
        rec, layer, n = rng.choice(split_sites)
        unit = net[rec]["unit"]
        k = rng.choice(sorted({n // 2, 1, n - 1}))
        split = _fresh(unit, f"{layer}_split")
        unit[split] = {"class": "split", "from": layer, "axis": "F", "size_splits": [k, n - k]}
        idx = rng.randrange(2)
        extra = f" ({split} = split of {layer} into {k} + {n - k}"
        if rng.random() < 0.3:
            # the form first written: the sub-layer's path read from outside
            path = f"{rec}/{split}/{idx}"
            if rng.random() < 0.6:
                unit[split]["is_output_layer"] = True
                extra += ", marked an output"
        else:
            # the form that works (rwth-i6/returnn#749: "use CopyLayer and also set is_output_layer and then
            # access it from outside"): a loop copy of the part, an output of the loop
            part_ref = f"prev:{split}/{idx}" if rng.random() < 0.25 else f"{split}/{idx}"
            out = _fresh(unit, f"{split}_{idx}_out")
            unit[out] = {"class": "copy", "from": part_ref, "is_output_layer": True}
            path = f"{rec}/{out}"
            extra += f", {out} = copy of {part_ref}, an output of the loop"
        if rng.random() < 0.5:
            banned = {layer} | _frame_ancestors(unit, layer)
            use_prev = rng.random() < 0.35
            part = rng.randrange(2)
            ref = f"prev:{split}/{part}" if use_prev else f"{split}/{part}"
            readers = [r_ for r_ in _layers(unit) if _dense(unit, r_) and r_ != layer
                       and (use_prev or r_ not in banned)]
            if readers:
                reader = rng.choice(readers)
                _add_source(unit[reader], ref)
                extra += f"; {reader} also reads {ref}"
        extra += ")"
        name = _fresh(net, f"{rec}_{split}_{idx}_read")
    if kind == "copy":
        net[name] = {"class": "copy", "from": path, "is_output_layer": True}
    elif kind == "reduce":
        net[name] = {"class": "reduce", "mode": "mean", "axes": "T", "from": path, "is_output_layer": True}
    else:
        net[name] = {"class": "decide", "from": path, "is_output_layer": True}
    return new, f"root {name}: {kind} of {path}{extra}"


# ----------------------------------------------------------------------------------------------------
# prev-depth-energy


def op_prev_depth_energy(case: Case, rng: random.Random) -> Result:
    """A layer of the scores' path also reads a projection of the previous frame of a layer two labels back."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            scores = _scores(unit, c)
            if scores is None:
                continue
            path = [k for k in [scores, *sorted(_frame_ancestors(unit, scores))]
                    if k in unit and (_dense(unit, k) or (unit[k].get("class") == "combine"
                                                          and unit[k].get("kind") == "add"
                                                          and _n_out(unit[k]) is not None))]
            sparse = {c, f"prev:{c}"}
            path = [k for k in path if not sparse & set(_sources(unit[k]))]
            deep = [k for k in _layers(unit) if k not in (c, "end") and unit[k].get("class") != "choice"
                    and _reads_prev_label(unit, k, c)]
            if path and deep:
                sites.append((r, c, path, deep))
    if not sites:
        return None
    rec, choice, path, deep = rng.choice(sites)
    unit = net[rec]["unit"]
    reader = rng.choice(path)
    rdesc = unit[reader]
    n_fb = _n_out(rdesc) if rdesc.get("class") == "combine" else rng.choice([3, 4])
    mode = rng.choices(["feedback", "mix", "current"], [0.4, 0.35, 0.25])[0]
    if mode == "current":
        # this frame's value of a layer two labels back: only where it does not read the reader
        current = [k for k in deep if k != reader and reader not in _frame_ancestors(unit, k)]
        if current:
            deep = current
        else:
            mode = "feedback"
    src = rng.choice(deep)
    fb = _fresh(unit, f"{src}_feedback")
    ref = src if mode == "current" else f"prev:{src}"
    unit[fb] = {"class": "linear", "activation": None, "with_bias": False, "from": ref, "n_out": n_fb}
    desc = f"{rec}: {fb} = linear({ref}, no bias)"
    feed = fb
    if mode == "mix":
        emb = _fresh(unit, f"{choice}_embed_depth")
        unit[emb] = {"class": "linear", "activation": None, "from": choice, "n_out": n_fb, "initial_output": 0}
        mix = _fresh(unit, f"{choice}_depth_mix")
        unit[mix] = {"class": "combine", "kind": "add", "from": [fb, f"prev:{emb}"]}
        desc += f", {emb} = linear({choice}), {mix} = {fb} + prev:{emb}"
        feed = mix
    _add_source(rdesc, feed)
    return new, f"{desc}; {reader} (on {choice}'s scores path) also reads {feed}"


# ----------------------------------------------------------------------------------------------------
# extern-search-override


def op_extern_search_override(case: Case, rng: random.Random) -> Result:
    """The decoder's search result registered (``only_on_search``) under the key a training layer registers."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    ext = new.get("extern_data") or {}
    taken = set(ext) | set(new.get("num_outputs") or {})
    key = _fresh(taken, f"{rec}_hyps")
    target = net[rec].get("target")
    if not isinstance(target, str):
        choices = [_data_target(net[rec]["unit"][c]) for c in _label_choices(net[rec]["unit"])]
        target = next((t for t in choices if t), None)
    target = target.removeprefix("data:") if isinstance(target, str) and not target.startswith("layer:") else None
    search_kind = rng.choices(["decide", "beamed"], [0.5, 0.5])[0]
    twin = rng.random() < 0.75
    wins = rng.random() < 0.6  # the search layer sorts after the training layer
    train_name, search_name = ("a_" + key + "_train", "b_" + key + "_search") if wins else \
        ("b_" + key + "_train", "a_" + key + "_search")
    train_name = _fresh(net, train_name)
    search_name = _fresh(net, search_name)
    parts = []
    if twin:
        if target is not None:
            net[train_name] = {"class": "copy", "from": f"data:{target}", "register_as_extern_data": key}
            parts.append(f"{train_name} = copy of data:{target}")
        else:
            encs = _encoder_sites(net, rec, ("rec",)) or ["data"]
            enc = rng.choice(encs)
            net[train_name] = {"class": "copy", "from": enc, "register_as_extern_data": key}
            parts.append(f"{train_name} = copy of {enc}")
    if search_kind == "decide":
        net[search_name] = {"class": "decide", "from": rec, "only_on_search": True, "register_as_extern_data": key}
        parts.append(f"{search_name} = only_on_search decide of {rec}")
    else:
        net[search_name] = {"class": "copy", "from": rec, "only_on_search": True, "register_as_extern_data": key}
        parts.append(f"{search_name} = only_on_search copy of the beamed {rec}")
    reader_kind = rng.choices(["embed", "length", "with-decoder"], [0.45, 0.25, 0.3])[0]
    out = _fresh(net, f"{key}_readback")
    if reader_kind == "length":
        net[out] = {"class": "length", "from": f"data:{key}", "is_output_layer": True}
        how = f"{out} = length of data:{key}"
    else:
        emb = _fresh(net, f"{key}_embed")
        net[emb] = {"class": "linear", "activation": None, "from": f"data:{key}", "n_out": 4}
        if reader_kind == "embed":
            net[out] = {"class": "reduce", "mode": "mean", "axes": "T", "from": emb, "is_output_layer": True}
            how = f"{out} = mean over T of {emb} = linear(data:{key})"
        else:
            dec = _fresh(net, f"{rec}_embed_cmp")
            net[dec] = {"class": "linear", "activation": None, "from": rec, "n_out": 4}
            both = _fresh(net, f"{key}_vs_{rec}")
            net[both] = {"class": "combine", "kind": "add", "from": [emb, dec]}
            net[out] = {"class": "reduce", "mode": "mean", "axes": "T", "from": both, "is_output_layer": True}
            how = f"{out} = mean over T of linear(data:{key}) + linear({rec})"
    order = ("the search layer sorts last" if wins else "the training layer sorts last") if twin else \
        "no training twin"
    return new, f"key {key}: " + ", ".join(parts) + f" ({order}); {how}"


FRESH83_OPERATORS: tuple[Op, ...] = (
    Op("stop-choice", op_stop_choice, 1),
    Op("sublayer-path-read", op_sublayer_path_read, 1),
    Op("prev-depth-energy", op_prev_depth_energy, 1),
    Op("extern-search-override", op_extern_search_override, 1),
)
