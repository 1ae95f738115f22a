"""A seventy-second set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Search-mode constructs from RETURNN's own unit tests (``tests/test_TFNetworkRecLayer.py`` and
``tests/test_TFNetworkLayer.py`` of rwth-i6/returnn; not the set-ups fresh59 took, nor ``test_TFEngine.py`` /
the demos, which fresh64 took), grafted into a searching decoder of our bases (or the root after it), names
and sizes adapted to the base, with the correct form of the test and the variants users write (none a variant
of an earlier operator; no rule was written for any of them):

* ``label-feature-concat``: the previous label as a float feature broadcast over the encoder frames, as in
  ``test_concat_new_dim_tag`` (built there with ``search_flag=True``): in the loop a ``reinterpret_data``
  (``set_sparse: False``) of ``prev:CHOICE``, ``cast`` to float32, ``expand_dims`` (``axis: "f"``), a ``copy``
  of the list ``[base:ENC, that]`` (ENC a root layer with a time axis the loop reads through ``base:``, or the
  dense input ``base:data``), ``reduce`` (``max`` as in the test, or ``mean``) over ``T``; the reduction is an
  extra source of a dense loop layer the choice's scores depend on (as in the test), or it is built from this
  frame's ``CHOICE`` and read as ``prev:`` by that layer, or built from ``CHOICE`` and marked an output layer
  of the loop, or built from ``prev:CHOICE``, marked an output layer and also taken out by a root output
  layer (``REC/RED``);
* ``choice-bos-root``: a choice's ``initial_output`` names a root layer with one label per sequence, as
  ``choice2`` of ``test_search_multi_choice`` (``"initial_output": "base:encoder"``): a label predicted from
  the encoder (a root ``linear`` ``softmax`` of the choice's vocabulary size over the mean over time of an
  encoder layer, its ``reduce`` ``argmax`` over ``F``), maybe given the vocabulary as its sparse dim
  (``reinterpret_data`` with ``set_sparse_dim``); or the first label of the choice's own target key
  (``gather`` at position 0 over ``T`` of ``data:KEY``); or the first frame of a sparse input of the same
  vocabulary; or, by mistake, the whole target sequence ``base:data:KEY``;
* ``segment-lengths``: the segment bookkeeping of ``test_rec_RecStepInfoLayer_broadcast_moved_out``
  (rwth-i6/returnn#637): a ``compare`` (``not_equal``, ``initial_output`` True) of the choice's label with the
  blank label (0 as in the test, or the last label), a ``switch`` on ``prev:`` of it between the step index
  ``:i`` and ``prev:`` of itself (``initial_output`` 0) for the segment start, and the segment length
  (``combine`` ``sub`` of ``:i`` and the start) as an output layer of the loop; maybe also taken out at the
  root (``REC/LEN``), or fed back (``reinterpret_data`` ``set_sparse: False``, ``cast`` to float,
  ``expand_dims``) into a dense loop layer the choice's scores depend on (half of the time no longer an output
  layer); or with the switch conditioned on this frame's comparison (not ``prev:``), the length an
  output layer of the loop;
* ``beam-logsumexp``: the posterior of the best hypothesis against the whole beam, as in
  ``test_search_SplitBatchBeamLayer``: at the root, ``choice_get_beam_scores`` of a searching decoder and a
  ``decide`` of it (the best score), ``choice_get_beam_scores`` of the same decoder (or of a twin decoder, a
  copy of its rec layer under a new name, as the test's ``nom`` / ``den``), ``split_batch_beam`` of that and
  a ``reduce`` ``logsumexp`` over the beam axis (``dim:K``), the ``combine`` ``sub`` of both an output layer;
  or, by mistake, the beamed scores (no ``decide``) minus the log-sum.
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
    _layers,
    _readers,
    _root_refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH70_SEED = 20270132
N_FRESH70 = 80

Result = "tuple[Case, str] | None"

_NO_TIME = {"reduce", "gather", "squeeze", "length", "constant", "variable", "choice_get_beam_scores",
            "choice_get_src_beams", "decide", "split_batch_beam", "rec_last_output"}
_DENSE_FEED = {"linear", "softmax", "rnn_cell"}


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _dense_data(case: Case, key: str = "data") -> bool:
    """Whether extern data ``key`` is dense (float features)."""
    desc = (case.get("extern_data") or {}).get(key)
    if not isinstance(desc, dict):
        return False
    if desc.get("sparse") or desc.get("sparse_dim"):
        return False
    return str(desc.get("dtype", "float32")).startswith("float")


def _has_time(net: dict[str, Any], case: Case, name: str, depth: int = 0) -> bool:
    """Roughly: whether root layer ``name`` keeps the encoder's time axis."""
    if depth > 12:
        return False
    if name in ("data", "data:data"):
        return True
    if name.startswith("data:"):
        return False
    desc = net.get(name)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls in _NO_TIME or (cls == "rec" and isinstance(desc.get("unit"), dict)):
        return False
    if cls == "rec" or cls == "subnetwork":
        srcs = _sources(desc)
    else:
        srcs = _sources(desc)
    if not srcs:
        return False
    return all(_has_time(net, case, s, depth + 1) for s in srcs)


def _encoders(net: dict[str, Any], case: Case, rec: str) -> list[str]:
    """Loop references (``base:X``) to root layers with a time axis (the dense input ``base:data`` too)."""
    unit = net[rec]["unit"]
    out = set()
    for k in _layers(unit):
        for ref in _sources(unit[k]):
            if ref.startswith("base:") and not ref.startswith("base:base:"):
                root = ref.removeprefix("base:")
                if root in net and _has_time(net, case, root) and not root.startswith("data"):
                    out.add(ref)
    if _dense_data(case):
        out.add("base:data")
    return sorted(out)


def _feeds(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers the choice's scores depend on in the same frame (where an extra source fits)."""
    out = []
    for k in sorted(_frame_ancestors(unit, choice)):
        desc = unit.get(k)
        if not isinstance(desc, dict) or k == choice:
            continue
        cls = desc.get("class")
        if cls in _DENSE_FEED or (cls == "rec" and isinstance(desc.get("unit"), str)):
            if isinstance(desc.get("from"), (str, list)) and _sources(desc):
                out.append(k)
    return out


def op_label_feature_concat(case: Case, rng: random.Random) -> Result:
    """The previous label as a float feature concatenated to the encoder frames and reduced over time."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        encs = _encoders(net, case, rec)
        if not encs:
            continue
        for c in _label_choices(unit):
            sites.append((rec, c, encs, _feeds(unit, c)))
    if not sites:
        return None
    rec, choice, encs, feeds = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    kinds = ["prev-feed", "cur-prev-feed", "cur-output", "prev-root"]
    weights = [0.4, 0.2, 0.2, 0.2]
    if not feeds:
        kinds, weights = ["cur-output", "prev-root"], [0.5, 0.5]
    kind = rng.choices(kinds, weights)[0]
    label = f"prev:{choice}" if kind.startswith("prev") else choice
    mode = rng.choice(["max", "max", "mean"])
    p0 = _fresh(unit, f"{choice}_unsparse")
    unit[p0] = {"class": "reinterpret_data", "from": label, "set_sparse": False}
    p1 = _fresh(unit, f"{choice}_float")
    unit[p1] = {"class": "cast", "from": p0, "dtype": "float32"}
    p2 = _fresh(unit, f"{choice}_feat")
    unit[p2] = {"class": "expand_dims", "from": p1, "axis": "f"}
    cat = _fresh(unit, "enc_label_concat")
    unit[cat] = {"class": "copy", "from": [enc, p2]}
    red = _fresh(unit, "enc_label_red")
    unit[red] = {"class": "reduce", "mode": mode, "axis": "T", "from": cat}
    how = (f"{rec}/{red}: reduce {mode} over T of copy [{enc}, expand_dims(cast(reinterpret_data({label}, "
           f"set_sparse=False)))]")
    if kind == "prev-feed":
        feed = rng.choice(feeds)
        _add_source(unit[feed], red)
        how += f", an extra source of {feed}"
    elif kind == "cur-prev-feed":
        feed = rng.choice(feeds)
        _add_source(unit[feed], f"prev:{red}")
        how += f", read as prev:{red} by {feed}"
    elif kind == "cur-output":
        unit[red]["is_output_layer"] = True
        how += ", an output layer of the loop"
    else:
        unit[red]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_{red}")
        net[out] = {"class": "copy", "from": f"{rec}/{red}", "is_output_layer": True}
        how += f", an output layer, taken out at the root by {out}"
    return new, how


def op_choice_bos_root(case: Case, rng: random.Random) -> Result:
    """A choice's initial label comes from a root layer with one label per sequence."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            if _readers(unit, c, f"prev:{c}"):
                key = _data_target(unit[c])
                dim = _target_dim(case, key)
                if isinstance(dim, int):
                    sites.append((rec, c, key, dim))
    if not sites:
        return None
    rec, choice, key, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    ext = case.get("extern_data") or {}
    encs = sorted(r for r in _layers(net) if r != rec and _has_time(net, case, r)
                  and rec not in _root_refs(net, r))
    if _dense_data(case):
        encs.append("data")
    sparse_in = [k for k in sorted(ext) if k != key and not _dense_data(case, k)
                 and isinstance(ext[k], dict) and ext[k].get("available_for_inference", True) is not False
                 and _target_dim(case, k) == dim]
    kinds, weights = ["target-first", "whole-target"], [0.3, 0.15]
    if encs:
        kinds += ["predicted", "predicted-dim"]
        weights += [0.3, 0.25]
    if sparse_in:
        kinds.append("input-first")
        weights.append(0.2)
    kind = rng.choices(kinds, weights)[0]
    if kind in ("predicted", "predicted-dim"):
        enc = rng.choice(encs)
        mean = _fresh(net, "bos_enc_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
        prob = _fresh(net, "bos_prob")
        net[prob] = {"class": "linear", "activation": "softmax", "n_out": dim, "from": mean}
        bos = _fresh(net, "bos_label")
        net[bos] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": prob}
        how = f"argmax over F of a root softmax ({dim}) over the mean over T of {enc}"
        if kind == "predicted-dim":
            fixed = _fresh(net, "bos_label_vocab")
            net[fixed] = {"class": "reinterpret_data", "from": bos, "set_sparse_dim": dim}
            bos = fixed
            how += f", given sparse dim {dim} (reinterpret_data)"
        ref = f"base:{bos}"
        how = f"root {bos}: {how}"
    elif kind == "target-first":
        bos = _fresh(net, f"{key}_first")
        net[bos] = {"class": "gather", "from": f"data:{key}", "axis": "T", "position": 0}
        ref = f"base:{bos}"
        how = f"root {bos}: the first label of data:{key} (gather at 0 over T)"
    elif kind == "input-first":
        src = rng.choice(sparse_in)
        bos = _fresh(net, f"{src}_first")
        net[bos] = {"class": "gather", "from": f"data:{src}", "axis": "T", "position": 0}
        ref = f"base:{bos}"
        how = f"root {bos}: the first frame of the sparse input data:{src}"
    else:
        ref = f"base:data:{key}"
        how = f"the whole target sequence data:{key}"
    old = unit[choice].get("initial_output")
    unit[choice]["initial_output"] = ref
    return new, f"{rec}/{choice} gets initial_output {ref!r} (was {old!r}): {how}"


def op_segment_lengths(case: Case, rng: random.Random) -> Result:
    """Segment start (``:i`` latched at a non-blank label) and segment length kept in the loop."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            dim = _target_dim(case, _data_target(unit[c]))
            sites.append((rec, c, dim, _feeds(unit, c)))
    if not sites:
        return None
    rec, choice, dim, feeds = rng.choice(sites)
    unit = net[rec]["unit"]
    blank = 0
    if isinstance(dim, int) and rng.random() < 0.3:
        blank = dim - 1
    kinds, weights = ["output", "root"], [0.3, 0.2]
    if feeds:
        kinds.append("feed")
        weights.append(0.3)
    kinds.append("cur-cond")
    weights.append(0.2)
    kind = rng.choices(kinds, weights)[0]
    nb = _fresh(unit, f"{choice}_is_not_blank")
    unit[nb] = {"class": "compare", "from": choice, "value": blank, "kind": "not_equal", "initial_output": True}
    start = _fresh(unit, "segment_starts")
    cond = nb if kind == "cur-cond" else f"prev:{nb}"
    unit[start] = {"class": "switch", "condition": cond, "true_from": ":i", "false_from": f"prev:{start}",
                   "initial_output": 0}
    seg = _fresh(unit, "segment_lens")
    unit[seg] = {"class": "combine", "kind": "sub", "from": [":i", start], "is_output_layer": True}
    how = (f"{rec}/{seg} = :i - {start}, {start} = switch({cond}, :i, prev:{start}), "
           f"{nb} = {choice} != {blank}")
    if kind == "root":
        out = _fresh(net, f"{rec}_{seg}")
        net[out] = {"class": "copy", "from": f"{rec}/{seg}", "is_output_layer": True}
        how += f"; taken out at the root by {out}"
    elif kind == "feed":
        feed = rng.choice(feeds)
        dense = _fresh(unit, f"{seg}_dense")
        unit[dense] = {"class": "reinterpret_data", "from": seg, "set_sparse": False}
        fl = _fresh(unit, f"{seg}_float")
        unit[fl] = {"class": "cast", "from": dense, "dtype": "float32"}
        fe = _fresh(unit, f"{seg}_feat")
        unit[fe] = {"class": "expand_dims", "from": fl, "axis": "f"}
        _add_source(unit[feed], fe)
        how += f"; fed back (reinterpret_data set_sparse False, cast, expand_dims) into {feed}"
        if rng.random() < 0.5:
            del unit[seg]["is_output_layer"]
            how += f", {seg} not an output layer"
    else:
        how += "; an output layer of the loop"
    return new, how


def op_beam_logsumexp(case: Case, rng: random.Random) -> Result:
    """Root log posterior of the best hypothesis: its score minus the log-sum-exp over the beam."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        choices = _unit_choices(unit)
        if len(choices) != 1:
            continue
        beam = unit[choices[0]].get("beam_size")
        if isinstance(beam, int) and beam > 1:
            sites.append((rec, beam))
    if not sites:
        return None
    rec, beam = rng.choice(sites)
    kind = rng.choices(["same", "twin", "no-decide"], [0.4, 0.35, 0.25])[0]
    den_rec = rec
    how = ""
    if kind == "twin":
        den_rec = _fresh(net, f"{rec}_den")
        net[den_rec] = copy.deepcopy(net[rec])
        net[den_rec].pop("is_output_layer", None)
        how = f" of a twin decoder {den_rec} (a copy of {rec})"
    nom = _fresh(net, f"{rec}_beam_scores")
    net[nom] = {"class": "choice_get_beam_scores", "from": rec}
    best = nom
    if kind != "no-decide":
        best = _fresh(net, f"{rec}_beam_scores_best")
        net[best] = {"class": "decide", "from": nom}
    if den_rec == rec:
        den = nom
    else:
        den = _fresh(net, f"{den_rec}_beam_scores")
        net[den] = {"class": "choice_get_beam_scores", "from": den_rec}
    split = _fresh(net, f"{den}_split")
    net[split] = {"class": "split_batch_beam", "from": den}
    lse = _fresh(net, f"{den}_logsumexp")
    net[lse] = {"class": "reduce", "mode": "logsumexp", "axis": f"dim:{beam}", "from": split}
    post = _fresh(net, f"{rec}_best_log_posterior")
    net[post] = {"class": "combine", "kind": "sub", "from": [best, lse], "is_output_layer": True}
    what = f"decide({nom})" if best != nom else f"{nom} (beamed, no decide)"
    return new, (f"root {post} = {what} - logsumexp over dim:{beam} of split_batch_beam(choice_get_beam_scores"
                 f"{how or ' of ' + rec})")


FRESH70_OPERATORS: tuple[Op, ...] = (
    Op("label-feature-concat", op_label_feature_concat, 1),
    Op("choice-bos-root", op_choice_bos_root, 1),
    Op("segment-lengths", op_segment_lengths, 1),
    Op("beam-logsumexp", op_beam_logsumexp, 1),
)
