"""A sixty-first set of edit operators (issue 15, fourteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Search set-ups lifted from RETURNN's own test suite (``tests/test_TFNetworkRecLayer.py``,
``tests/test_TFNetworkLayer.py`` of rwth-i6/returnn) and transplanted into a searching decoder of our bases,
names and sizes adapted to the base (none a variant of an earlier operator; no rule was written for any of
them):

* ``forced-prefix``: prefix-forced decoding as in ``test_trafo_search_lm``: the loop's label is a ``switch``
  on an ``in_prefix`` flag between a forced prefix label and the choice's label; the prefix comes from a new
  sparse extern-data key ``prefix`` of the choice's vocabulary (available for inference), or, as a user
  reuses what is at hand, from the choice's own target key; ``in_prefix`` is the test's ``eval`` (the step
  index ``self.network.get_rec_step_index()`` against the prefix lengths) or a ``compare`` ``less`` of
  ``:i`` with ``base:`` of a root ``length`` of the prefix; the prefix label of the frame is the test's
  ``eval`` (index clipped to the last prefix frame, an int ``out_type``) or a ``gather`` at ``:i``
  (``clip_to_valid``); maybe ``collocate_with`` the choice as in the test; where the choice is the unit's
  ``output`` it is renamed ``output_choice`` and ``output`` becomes the switch (its readers, ``prev:``
  ones and the ``end`` included, read the switch, as in the test), else the readers of ``prev:CHOICE``
  read ``prev:`` of the switch;
* ``gather-prev-label``: hard attention at the previous label as in ``test_GatherLayer_search_beam``: the
  previous frame's label (``prev:CHOICE``, through ``reinterpret_data`` with ``set_sparse: False`` as in the
  test, or directly) is the position of a ``gather`` over the time axis of an encoder layer the loop reads
  (``base:ENC``, else ``base:data:data``; maybe ``clip_to_valid``), and the gathered frame is an extra
  source of a loop layer the choice's scores depend on, or (gathered at this frame's label) an output
  layer of the loop;
* ``label-switch-input``: the input switch of ``test_att_train_search_loss_prev_beam``: a ``copy`` of the
  choice (``classes_copy``, ``initial_output`` 0, or none), a ``compare`` ``equal`` of its previous frame
  (or of ``prev:CHOICE`` itself) with label 0 (or the last label), and a ``switch`` on it between another
  input (``base:`` of a root projection of the encoder's mean over time, or zeros made by an ``eval``) and
  the previous label's embedding; the readers of that embedding read the switch, or a new loop ``rec``
  LSTM (``nativelstm2``) over it as in the test;
* ``split-embed-context``: the label embedding of ``test_SplitLayer_search``: a ``split`` (``size_splits``
  or ``num_splits`` 2) of the loop's label embedding, its readers reading the first part (``S/0``, or
  ``prev:S/0`` where they read ``prev:E``), or both parts (the second one of the same frame, ``S/1`` /
  ``prev:S/1`` as the first, or now and then the previous frame's, ``prev:S/1``), maybe together with
  ``base:`` of a root ``reduce`` (sum over ``T``) of an encoder layer as in the test.
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
    _target_dim,
    _unit_choices,
    _walk,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH59_SEED = 20270121
N_FRESH59 = 80

Result = "tuple[Case, str] | None"

#: Root layer classes that keep the time axis of what they read (an encoder frame sequence).
_SEQ_CLASSES = ("linear", "copy", "activation", "layer_norm", "dropout", "combine", "rec", "conv", "softmax")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(case: Case, unit: dict[str, Any]) -> list[str]:
    """Choices of a unit over labels of a data key with a known vocabulary size."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None
            and _target_dim(case, _data_target(unit[c])) is not None]


def _non_choice(unit: dict[str, Any], names: list[str]) -> list[str]:
    return [k for k in names if unit[k].get("class") != "choice"]


def _embeddings(unit: dict[str, Any], choice: str) -> list[tuple[str, str]]:
    """(loop ``linear`` with an int ``n_out`` whose only source is ``prev:CHOICE`` or ``CHOICE``, the reference
    its readers read the previous label's embedding by)."""
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


def _encoders(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """Root layers the unit reads through ``base:`` that keep a time axis (by class), sorted."""
    found: set[str] = set()

    def see(ref: str) -> str:
        if ref.startswith("base:") and not ref.startswith("base:data:") and ref != "base:data":
            name = ref[len("base:"):].split("/", 1)[0]
            desc = net.get(name)
            if isinstance(desc, dict) and desc.get("class") in _SEQ_CLASSES and not (
                    desc.get("class") == "rec" and isinstance(desc.get("unit"), dict)):
                found.add(name)
        return ref

    for k in _layers(unit):
        _walk(unit[k], see)
    return sorted(found)


def _has_dense_data(case: Case) -> bool:
    ext = case.get("extern_data")
    if isinstance(ext, dict):
        d = ext.get("data")
        return isinstance(d, dict) and not d.get("sparse") and not d.get("sparse_dim")
    return "num_inputs" in case or "data" in (case.get("num_outputs") or {})


def _add_prefix_key(new: Case, key: str, dim: int) -> str:
    """A new sparse extern-data key of the vocabulary size ``dim`` (available for inference)."""
    if isinstance(new.get("extern_data"), dict):
        name = _fresh(new["extern_data"], "prefix")
        src = new["extern_data"].get(key)
        entry: dict[str, Any] = {"dim": dim, "sparse": True}
        if isinstance(src, dict) and "sparse_dim" in src:
            entry = {k: v for k, v in src.items() if k not in ("available_for_inference", "dim_tags", "shape")}
        entry["available_for_inference"] = True
        new["extern_data"][name] = entry
    else:
        outs = new.setdefault("num_outputs", {})
        name = _fresh(outs, "prefix")
        outs[name] = [dim, 1]
    return name


def op_forced_prefix(case: Case, rng: random.Random) -> Result:
    """The loop's label is forced to a given prefix for its first frames (a ``switch`` on ``in_prefix``)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(case, unit):
            prev_readers = _non_choice(unit, _readers(unit, c, f"prev:{c}"))
            if c == "output" or prev_readers:
                sites.append((rec, c))
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    dim = _target_dim(case, key)
    if rng.random() < 0.65:
        pkey = _add_prefix_key(new, key, dim)
        src = f"new key {pkey!r}"
    else:
        pkey = key
        src = f"the target key {key!r}"
    colloc = rng.random() < 0.5
    in_kind = rng.choice(["eval", "compare"])
    flag = _fresh(unit, "in_prefix")
    if in_kind == "eval":
        unit[flag] = {
            "class": "eval", "from": f"base:data:{pkey}",
            "out_type": {"time_dim_axis": None, "shape": [], "dtype": "bool", "dim": 2},
            "eval": "tf.less(self.network.get_rec_step_index(), "
                    "source(0, as_data=True, auto_convert=False).get_sequence_lengths())"}
    else:
        plen = _fresh(net, f"{pkey}_len")
        net[plen] = {"class": "length", "from": f"data:{pkey}"}
        unit[flag] = {"class": "compare", "kind": "less", "from": [":i", f"base:{plen}"]}
    lab_kind = rng.choice(["eval", "gather"])
    label = _fresh(unit, "prefix_label")
    if lab_kind == "eval":
        unit[label] = {
            "class": "eval", "from": f"base:data:{pkey}",
            "out_type": {"time_dim_axis": None, "shape": [], "dtype": "int32", "sparse": True, "dim": dim},
            "eval": "source(0, auto_convert=False)[:, tf.minimum(self.network.get_rec_step_index(), "
                    "source(0, auto_convert=False, as_data=True).time_dimension() - 1)]"}
    else:
        unit[label] = {"class": "gather", "from": f"base:data:{pkey}", "position": ":i", "axis": "T",
                       "clip_to_valid": True}
    init = unit[choice].get("initial_output", 0)
    if choice == "output" and (rng.random() < 0.6 or not _non_choice(unit, _readers(unit, choice, "prev:output"))):
        renamed = _fresh(unit, "output_choice")
        unit[renamed] = unit.pop("output")
        unit["output"] = {"class": "switch", "condition": flag, "true_from": label, "false_from": renamed,
                          "initial_output": init}
        chosen, how = renamed, (f"the choice renamed {renamed}, output a switch on {flag} between {label} "
                                f"and it (every reader of output, prev: ones too, reads the switch)")
    else:
        sw = _fresh(unit, f"{choice}_forced")
        unit[sw] = {"class": "switch", "condition": flag, "true_from": label, "false_from": choice,
                    "initial_output": init}
        readers = _non_choice(unit, _readers(unit, choice, f"prev:{choice}"))
        _redirect(unit, readers, f"prev:{choice}", f"prev:{sw}")
        chosen, how = choice, f"{', '.join(readers)} read prev:{sw}, a switch on {flag} between {label} and {choice}"
    if colloc:
        for k in (flag, label):
            unit[k]["collocate_with"] = chosen
    return new, (f"{rec}: forced prefix from {src}: {how}; {flag} by {in_kind}, {label} by {lab_kind}"
                 f"{', collocated with ' + chosen if colloc else ''}")


def op_gather_prev_label(case: Case, rng: random.Random) -> Result:
    """An encoder frame gathered at the (previous) label's position feeds the loop."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        encs = [f"base:{e}" for e in _encoders(net, unit)]
        if not encs and _has_dense_data(case):
            encs = ["base:data:data"]
        if not encs:
            continue
        for c in _unit_choices(unit):
            if unit[c].get("input_type") == "regression":
                continue
            ancestors = [k for k in sorted(_frame_ancestors(unit, c))
                         if unit[k].get("class") in ("linear", "softmax", "rnn_cell", "rec")
                         and isinstance(unit[k].get("from"), (str, list))]
            sites.append((rec, c, encs, ancestors))
    if not sites:
        return None
    rec, choice, encs, ancestors = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    this_frame = not ancestors or rng.random() < 0.25
    at = choice if this_frame else f"prev:{choice}"
    if rng.random() < 0.6:
        pos = _fresh(unit, "position")
        unit[pos] = {"class": "reinterpret_data", "from": at, "set_sparse": False}
        pos_how = f"{pos} (reinterpret_data of {at}, set_sparse False)"
    else:
        pos, pos_how = at, at
    g = _fresh(unit, "gathered")
    unit[g] = {"class": "gather", "from": enc, "position": pos, "axis": "T"}
    clip = rng.random() < 0.5
    if clip:
        unit[g]["clip_to_valid"] = True
    what = f"{rec}/{g}: gather of {enc} over T at {pos_how}{' (clip_to_valid)' if clip else ''}"
    if this_frame:
        unit[g]["is_output_layer"] = True
        return new, f"{what}, an output layer"
    reader = rng.choice(ancestors)
    _add_source(unit[reader], g)
    return new, f"{what}, an extra source of {reader}"


def op_label_switch_input(case: Case, rng: random.Random) -> Result:
    """The previous label's embedding is replaced by another input when the previous label is label 0."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(case, unit):
            for emb, ref in _embeddings(unit, c):
                readers = [k for k in _readers(unit, emb, ref)
                           if unit[k].get("class") in ("linear", "softmax", "rnn_cell", "rec")]
                if readers:
                    sites.append((rec, c, emb, ref, readers))
    if not sites:
        return None
    rec, choice, emb, ref, readers = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    dim = _target_dim(case, key)
    n_out = unit[emb]["n_out"]
    label = rng.choice([0, dim - 1])
    if rng.random() < 0.7:
        cp = _fresh(unit, f"{choice}_copy")
        unit[cp] = {"class": "copy", "from": choice}
        if rng.random() < 0.7:
            unit[cp]["initial_output"] = 0
        cond_src = f"prev:{cp}"
    else:
        cond_src = f"prev:{choice}"
    cond = _fresh(unit, f"prev_is_{label}")
    unit[cond] = {"class": "compare", "kind": "equal", "from": [cond_src], "value": label}
    encs = _encoders(net, unit)
    if encs and rng.random() < 0.7:
        enc = rng.choice(encs)
        mean = _fresh(net, f"{enc}_mean")
        proj = _fresh(net, f"{enc}_mean_proj")
        net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
        net[proj] = {"class": "linear", "activation": None, "n_out": n_out, "from": mean}
        other, other_how = f"base:{proj}", f"base:{proj} (projection of the mean of {enc})"
    else:
        zeros = _fresh(unit, f"{emb}_zeros")
        unit[zeros] = {"class": "eval", "from": ref, "eval": "source(0) * 0."}
        other, other_how = zeros, f"{zeros} (zeros)"
    sw = _fresh(unit, "input_switch")
    unit[sw] = {"class": "switch", "condition": cond, "true_from": other, "false_from": ref}
    target = sw
    extra = ""
    if rng.random() < 0.5:
        lstm = _fresh(unit, "input_lstm")
        unit[lstm] = {"class": "rec", "unit": "nativelstm2", "n_out": rng.choice([8, 12, 16]), "from": [sw]}
        target = lstm
        extra = f", through {lstm} (a nativelstm2 rec over it)"
    _redirect(unit, readers, ref, target)
    return new, (f"{rec}: {', '.join(readers)} read {target}: {sw} switches on {cond} ({cond_src} == {label}) "
                 f"between {other_how} and {ref}{extra}")


def op_split_embed_context(case: Case, rng: random.Random) -> Result:
    """The label embedding is split and its readers read parts of it (``S/0``, ``prev:S/1``)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            for emb, ref in _embeddings(unit, c):
                if unit[emb]["n_out"] >= 2:
                    sites.append((rec, emb, ref))
    if not sites:
        return None
    rec, emb, ref = rng.choice(sites)
    unit = net[rec]["unit"]
    n = unit[emb]["n_out"]
    split = _fresh(unit, f"{emb}_split")
    if n % 2 == 0 and rng.random() < 0.4:
        unit[split] = {"class": "split", "axis": "F", "num_splits": 2, "from": emb}
        how = "num_splits 2"
    else:
        a = max(1, n // 2 + rng.choice([-1, 0, 1])) if n > 2 else 1
        a = min(a, n - 1)
        unit[split] = {"class": "split", "axis": "F", "size_splits": [a, n - a], "from": emb}
        how = f"size_splits [{a}, {n - a}]"
    prefix = "prev:" if ref.startswith("prev:") else ""
    readers = _readers(unit, emb, ref)
    first = f"{prefix}{split}/0"
    both = rng.random() < 0.4
    plain = [k for k in readers if unit[k].get("class") in ("linear", "softmax", "rnn_cell", "rec")]
    if both and plain:
        second = f"prev:{split}/1" if rng.random() < 0.3 else f"{prefix}{split}/1"
        for k in plain:
            _redirect(unit, [k], ref, first)
            _add_source(unit[k], second)
        read = f"{', '.join(plain)} read {first} and {second}"
        touched = plain
    else:
        _redirect(unit, readers, ref, first)
        read = f"{', '.join(readers)} read {first}"
        touched = [k for k in readers if unit[k].get("class") in ("linear", "softmax", "rnn_cell", "rec")]
    extra = ""
    encs = _encoders(net, unit)
    if encs and touched and rng.random() < 0.5:
        enc = rng.choice(encs)
        red = _fresh(net, f"{enc}_sum")
        net[red] = {"class": "reduce", "mode": "sum", "axis": "T", "from": enc}
        k = rng.choice(touched)
        _add_source(unit[k], f"base:{red}")
        extra = f"; {k} also reads base:{red} (sum over T of {enc})"
    return new, f"{rec}: {emb} split ({split}, {how}); {read} instead of {ref}{extra}"


FRESH59_OPERATORS: tuple[Op, ...] = (
    Op("forced-prefix", op_forced_prefix, 1.2),
    Op("gather-prev-label", op_gather_prev_label, 1),
    Op("label-switch-input", op_label_switch_input, 1),
    Op("split-embed-context", op_split_embed_context, 1.4),
)
