"""A fifty-ninth set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

A training configuration turned into a search configuration by hand, with the training-only parts left in
and the fixes users then apply (none a variant of an earlier one; no rule was written for any of them):

* ``rec-loss``: the searching rec layer itself gets a training loss, as in configs where the loss sat on
  the decoder layer: ``loss: "ce"`` (``"mse"`` for a regression choice) with the rec's target (or its
  choice's target, set on the rec where it had none), plain, with ``loss_opts`` label smoothing, with the
  fix ``loss_only_on_non_search: True``, or an ``edit_distance`` loss instead;
* ``gold-accuracy``: a training diagnostic left in the loop: a ``compare`` (``equal``) of the frame's
  label (the choice, or the previous frame's label against a ``copy`` of the reference carried one frame)
  with the reference ``data:KEY`` of the frame, marked ``is_output_layer``; or the per-frame matches
  counted over the frames (``cast`` to float, ``combine`` add with ``prev:`` of the count) and the count
  marked the output; or the matches ``cast`` to float in the loop (an output layer) and their mean over
  time taken at the root (``reduce`` over ``REC/LAYER``) as an output layer, half of the time marked
  ``only_on_eval`` as the fix (the root diagnostic left out of the search);
* ``train-flag-teacher``: hand-made teacher forcing: the readers of ``prev:CHOICE`` (its label
  embedding) read a ``switch`` on the train flag (a ``train_flag`` layer in the loop, or one at the root
  read as ``base:``) between the previous frame's reference label (``prev:`` of a ``copy`` of
  ``data:KEY`` with ``initial_output`` 0) in training and ``prev:CHOICE`` otherwise; or, where the loop
  embeds this frame's label (a ``linear`` over ``CHOICE`` read as ``prev:``), that embedding reads a
  ``switch`` between ``data:KEY`` and ``CHOICE``;
* ``root-teacher-forcing``: the label embedding of the loop is computed at the root from the reference,
  as for training with the whole target at once: a root ``linear`` over ``data:KEY`` shifted one frame
  right (``prefix_in_time`` or ``shift_axis`` with ``pad`` of the embedding), and the loop's readers of
  its embedding of the previous label (``E`` over ``prev:CHOICE``, or ``prev:E`` for ``E`` over
  ``CHOICE``) read that root embedding's frame at the step (``gather`` at ``:i`` over ``T``, maybe
  ``clip_to_valid``); the old embedding stays, maybe marked an output layer.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
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
FRESH57_SEED = 20270119
N_FRESH57 = 80

Result = "tuple[Case, str] | None"


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


def _embeddings(unit: dict[str, Any], choice: str) -> list[tuple[str, str]]:
    """(loop ``linear`` layer with an int ``n_out`` whose only source is ``prev:CHOICE`` or ``CHOICE``, the
    reference its readers read it by: ``E``, or ``prev:E`` for an embedding of this frame's label)."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int):
            continue
        if _sources(desc) == [f"prev:{choice}"] and _readers(unit, k):
            out.append((k, k))
        elif _sources(desc) == [choice] and _readers(unit, k, f"prev:{k}"):
            out.append((k, f"prev:{k}"))
    return out


def op_rec_loss(case: Case, rng: random.Random) -> Result:
    """The searching rec layer gets a training loss on its target."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        if net[rec].get("loss"):
            continue
        unit = net[rec]["unit"]
        choices = [c for c in _unit_choices(unit) if _data_target(unit[c]) is not None]
        target = net[rec].get("target")
        if not isinstance(target, str) and not choices:
            continue
        sites.append((rec, choices))
    if not sites:
        return None
    rec, choices = rng.choice(sites)
    desc = net[rec]
    unit = desc["unit"]
    added = ""
    if not isinstance(desc.get("target"), str):
        choice = rng.choice(choices)
        desc["target"] = _data_target(unit[choice])
        added = f", target {desc['target']!r} set on it (from {choice})"
    regression = any(unit[c].get("input_type") == "regression" for c in _unit_choices(unit))
    loss = "mse" if regression else "ce"
    kind = rng.choice(["plain", "smoothing", "non-search", "edit-distance"])
    if kind == "edit-distance" and not regression:
        desc["loss"] = "edit_distance"
        how = "loss edit_distance"
    else:
        desc["loss"] = loss
        how = f"loss {loss}"
        if kind == "smoothing" and not regression:
            desc["loss_opts"] = {"label_smoothing": rng.choice([0.1, 0.2])}
            how += f" with label smoothing {desc['loss_opts']['label_smoothing']}"
        elif kind == "non-search":
            desc["loss_only_on_non_search"] = True
            how += " and loss_only_on_non_search"
    return new, f"{rec} (the searching rec layer) gets {how} on its target {desc['target']!r}{added}"


def op_gold_accuracy(case: Case, rng: random.Random) -> Result:
    """A per-frame comparison of the decoder's label with the reference, left in the loop as an output."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    ref = f"data:{key}"
    if rng.random() < 0.7:
        label, gold = choice, ref
    else:
        gold = _fresh(unit, f"{key}_gold")
        unit[gold] = {"class": "copy", "from": ref, "initial_output": 0}
        label, gold = f"prev:{choice}", f"prev:{gold}"
    eq = _fresh(unit, f"{choice}_correct")
    unit[eq] = {"class": "compare", "kind": "equal", "from": [label, gold]}
    how = f"{rec}/{eq}: {label} == {gold}"
    mode = rng.choices(["frame", "count", "root"], [0.4, 0.25, 0.35])[0]
    if mode == "frame":
        unit[eq]["is_output_layer"] = True
        return new, f"{how} (reference {ref!r}), an output layer"
    as_float = _fresh(unit, f"{eq}_float")
    unit[as_float] = {"class": "cast", "dtype": "float32", "from": eq}
    if mode == "count":
        count = _fresh(unit, f"{choice}_num_correct")
        unit[count] = {"class": "combine", "kind": "add", "from": [as_float, f"prev:{count}"],
                       "initial_output": 0, "is_output_layer": True}
        return new, f"{how} (reference {ref!r}), counted over the frames in {rec}/{count}, an output layer"
    unit[as_float]["is_output_layer"] = True
    acc = _fresh(net, f"{rec}_{choice}_accuracy")
    net[acc] = {"class": "reduce", "mode": "mean", "axes": "T", "from": f"{rec}/{as_float}",
                "is_output_layer": True}
    fix = ""
    if rng.random() < 0.5:
        net[acc]["only_on_eval"] = True
        fix = ", marked only_on_eval"
    return new, (f"{how} (reference {ref!r}), cast in {rec}/{as_float} (an output layer); root {acc}: its "
                 f"mean over time, an output layer{fix}")


def op_train_flag_teacher(case: Case, rng: random.Random) -> Result:
    """The readers of ``prev:CHOICE`` (or the embedding of this frame's label) read a switch on the train
    flag between the reference label and the choice."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            readers = [k for k in _readers(unit, c, f"prev:{c}") if unit[k].get("class") != "choice"]
            if readers:
                sites.append((rec, c, readers, True))
            readers = [k for k, _ in _embeddings(unit, c) if _sources(unit[k]) == [c]]
            if readers:
                sites.append((rec, c, readers, False))
    if not sites:
        return None
    rec, choice, readers, prev = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    ref = f"data:{key}"
    if rng.random() < 0.5:
        flag = _fresh(unit, "train_flag")
        unit[flag] = {"class": "train_flag"}
        where = f"{rec}/{flag}"
    else:
        root_flag = _fresh(net, "train_flag")
        net[root_flag] = {"class": "train_flag"}
        flag = f"base:{root_flag}"
        where = f"root {root_flag}"
    if prev:
        gold = _fresh(unit, f"{key}_gold")
        unit[gold] = {"class": "copy", "from": ref, "initial_output": 0}
        label = _fresh(unit, f"prev_{choice}_or_gold")
        unit[label] = {"class": "switch", "condition": flag, "true_from": f"prev:{gold}",
                       "false_from": f"prev:{choice}"}
        old, gold_ref = f"prev:{choice}", f"prev:{gold} (a copy of {ref})"
    else:
        label = _fresh(unit, f"{choice}_or_gold")
        unit[label] = {"class": "switch", "condition": flag, "true_from": ref, "false_from": choice}
        if "initial_output" in unit[choice]:
            unit[label]["initial_output"] = unit[choice]["initial_output"]
        old, gold_ref = choice, ref
    _redirect(unit, readers, old, label)
    return new, (f"{rec}: {', '.join(readers)} read {label}, a switch on the train flag ({where}) between "
                 f"{gold_ref} and {old}")


def op_root_teacher_forcing(case: Case, rng: random.Random) -> Result:
    """The loop's embedding of the previous label taken from a root embedding of the shifted reference
    (``gather`` at ``:i``)."""
    new, net = _copy(case)
    sites = [(r, c, e, ref) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             for e, ref in _embeddings(net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice, emb, emb_ref = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    if _target_dim(case, key) is None and key != "data":
        return None
    n_out = unit[emb]["n_out"]
    root_emb = _fresh(net, f"{key}_embed")
    shifted = _fresh(net, f"{key}_embed_shifted")
    shift = rng.choice(["prefix_in_time", "shift_axis"])
    if shift == "prefix_in_time":
        shift_desc: dict[str, Any] = {"class": "prefix_in_time", "prefix": 0.0, "repeat": 1}
    else:
        shift_desc = {"class": "shift_axis", "axis": "T", "amount": 1, "pad": True}
    net[root_emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"data:{key}",
                     "n_out": n_out}
    net[shifted] = {**shift_desc, "from": root_emb}
    frame = _fresh(unit, f"{key}_embed_frame")
    unit[frame] = {"class": "gather", "from": f"base:{shifted}", "position": ":i", "axis": "T"}
    if rng.random() < 0.5:
        unit[frame]["clip_to_valid"] = True
    readers = _readers(unit, emb, emb_ref)
    _redirect(unit, readers, emb_ref, frame)
    extra = ""
    if rng.random() < 0.3:
        unit[emb]["is_output_layer"] = True
        extra = f"; {rec}/{emb} kept as an output layer"
    return new, (f"{rec}: {', '.join(readers)} read {frame}, the frame at :i of root {shifted} "
                 f"({shift} of {root_emb}, a linear over data:{key}) instead of {emb_ref}{extra}")


FRESH57_OPERATORS: tuple[Op, ...] = (
    Op("rec-loss", op_rec_loss, 1),
    Op("gold-accuracy", op_gold_accuracy, 1),
    Op("train-flag-teacher", op_train_flag_teacher, 1),
    Op("root-teacher-forcing", op_root_teacher_forcing, 1),
)
