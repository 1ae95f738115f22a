"""A seventy-fifth set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Search-related threads of the issue tracker of rwth-i6/returnn that no earlier set used, each thread's network
pattern grafted onto our bases in the failing form the thread shows and in the fixed or workaround form it
gives (none a variant of an earlier operator; no rule was written for any of them). A "reader" below is a dense
loop layer the choice's scores depend on (a ``linear`` / ``rnn_cell`` / ``softmax`` / LSTM ``rec`` with an int
``n_out`` or a ``target``, no encoder time axis, no shared parameters); an "encoder layer" is a root layer with
the input's time axis (a chain of ``linear`` / ``copy`` / ``activation`` / ``layer_norm`` / ``dropout`` /
LSTM ``rec`` layers down to ``data``) that the decoder reads or could read:

* ``sentinel-memory``: a memory with one extra frame appended on the encoder's time axis
  (``postfix_in_time``) inside the decoder loop, as in rwth-i6/returnn#354 ("PostfixInTime: Allow postfix to be
  another layer": used inside a rec layer on another time axis, the template had no beam, "has buggy search
  choices resolution"): a root ``linear`` projection ``P`` (size K) of an encoder layer, read as ``base:P`` by a
  loop ``postfix_in_time`` whose ``postfix`` is a loop layer (a new ``linear`` of size K of a dense loop state,
  this frame's or ``prev:`` of it: the thread's form), or a constant ``0.0`` in the loop, or (the fix where the
  sentinel does not depend on the frame) the ``postfix_in_time`` at the root with a constant or with a root
  ``reduce`` mean over time of ``P`` as postfix, read as ``base:``; the extended memory is then summarized over
  its time axis (``reduce`` mean / max) or attended (``dot`` of the memory with a loop ``linear`` query of a
  state, ``softmax_over_spatial``, ``generic_attention`` over the memory), and the result read by the reader as
  an extra source;
* ``cumulative-energy``: attention energies accumulated over the decoder frames, the weights normalized over the
  running sum, as in the test case of rwth-i6/returnn#285 ("Failing test case for cumulated attention weights
  during search": "works during training, but building graph raises exception during search", later passing
  in #357, which tests both orders of the sum's inputs): an existing attention's energies (the source of its
  ``softmax_over_spatial``) get a ``combine`` add of themselves and ``prev:`` of the sum (either order,
  ``initial_output`` 0 or none), and the weights read the sum; or a new dot attention as in the test (a ``dot``
  of a root ``linear`` of an encoder layer read as ``base:`` with a loop ``linear`` query of the label
  embedding or a state, summed the same way, ``softmax_over_spatial``, ``generic_attention`` over the encoder
  projection, read by the reader); as the plain form, the sum is only computed and marked an output while the
  weights keep reading this frame's energies;
* ``subnet-inner-loss``: the choice's score layer (a ``softmax`` with a ``loss`` and ``target``) is moved into a
  ``subnetwork`` of the loop, as in rwth-i6/returnn#556 ("Problem with loss on an output layer in a subnet,
  which is in a recursive layer", fix attempted in #557): an inner ``linear`` (the logits, ``activation``
  None) and an inner ``output`` ``softmax`` (``n_out`` the vocabulary size) keeping the ``loss`` and ``target``
  (the thread's form), or the loss kept on an inner non-output layer (``prob``, ``is_output_layer``) with the
  subnetwork's output a ``copy`` of it, or the loss moved to the subnetwork layer itself (the workaround), or
  the loss dropped (what search needs), or kept with ``loss_only_on_non_search``; the choice (and every other
  reader) reads the subnetwork under the old name;
* ``segment-length``: the length of the current label segment computed in the loop from the frame index, as in
  rwth-i6/returnn#637 ("RecStepInfoLayer (``:i``) problem in unbroadcasting": ``segment_lens = :i -
  segment_starts``): the segment start is a ``switch`` on the previous label not being label 0 (a ``compare``
  ``not_equal`` of ``prev:CHOICE``, for a choice with an ``initial_output``) between ``:i`` and ``prev:`` of
  itself (``initial_output`` 0), the length a ``combine`` ``sub`` of ``:i`` and the start (the thread's form)
  or an ``eval`` of both; or, as the workaround without ``:i``, a counter reset by the same condition (a
  ``switch`` between 0 and ``prev:`` of the counter plus one, via ``eval``); the length ``cast`` to float32 and
  made a feature (``expand_dims`` on ``F``) read by the reader as an extra source, or marked an output of the
  loop (maybe only that).
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
    _fresh,
    _frame_ancestors,
    _head,
    _layers,
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH73_SEED = 20270135
N_FRESH73 = 80

Result = "tuple[Case, str] | None"

#: root classes that keep the input's time axis
_TIMED_CLASSES = ("linear", "copy", "activation", "layer_norm", "dropout", "pool", "eval", "conv")
#: dense loop classes a reader may have
_READER_CLASSES = ("linear", "rnn_cell", "softmax")


def _timed_roots(net: dict[str, Any]) -> list[str]:
    """Root layers with the input's time axis: a chain of time-keeping layers down to ``data``."""
    timed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(net):
            if k in timed:
                continue
            desc = net[k]
            cls = desc.get("class")
            lstm = cls == "rec" and isinstance(desc.get("unit"), str) and "lstm" in desc["unit"].lower()
            if cls not in _TIMED_CLASSES and not lstm or cls == "conv" and desc.get("padding") != "same":
                continue
            if desc.get("reuse_params") or desc.get("out_type") or desc.get("axis") or desc.get("direction") == 0:
                continue
            srcs = _sources(desc) or (["data"] if "from" not in desc else [])  # RETURNN's default input
            if not srcs:
                continue
            ok = True
            for s in srcs:
                if s in ("data", "data:data"):
                    if cls == "copy":
                        ok = False  # the input may be sparse
                elif s not in timed:
                    ok = False
            if ok:
                timed.add(k)
                changed = True
    return sorted(timed)


def _timed_loop(unit: dict[str, Any], timed_roots: set[str]) -> set[str]:
    """Loop layers that carry an encoder time axis (read ``base:`` of a timed root layer, or a timed loop
    layer, and do not remove the axis)."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in out:
                continue
            desc = unit[k]
            if desc.get("class") in ("generic_attention", "reduce", "choice", "dot", "gather"):
                continue
            for ref in _deps(desc):
                if ref.startswith("base:") and ref[5:].split("/")[0] in timed_roots or _head(ref) in out:
                    out.add(k)
                    changed = True
                    break
    return out


def _dense_layers(unit: dict[str, Any], timed: set[str]) -> list[str]:
    """Dense loop layers with a known size and no encoder time axis."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        cls = desc.get("class")
        lstm = cls == "rec" and isinstance(desc.get("unit"), str)
        if (cls in _READER_CLASSES or lstm) and k not in timed and not desc.get("reuse_params"):
            if isinstance(desc.get("n_out"), int) or cls == "softmax" and desc.get("target"):
                out.append(k)
    return out


def _readers_of_scores(unit: dict[str, Any], timed: set[str]) -> list[str]:
    """Reader layers: dense loop layers a choice's scores depend on in the frame (the score layers included),
    that learn their input size."""
    anc: set[str] = set()
    for c in _unit_choices(unit):
        anc |= _frame_ancestors(unit, c)
    out = []
    for k in _dense_layers(unit, timed):
        desc = unit[k]
        if k in anc and desc.get("class") in _READER_CLASSES + ("rec",) and _sources(desc) \
                and not any(_label_ref(unit, r) for r in _sources(desc)):
            out.append(k)
    return out


def _label_ref(unit: dict[str, Any], ref: str) -> bool:
    """Whether a source reference reads labels (a choice, this frame's or ``prev:``, a data key, or a layer
    that passes labels on): a dense extra source next to it would be concatenated with sparse input."""
    if ref.startswith("data") or ref.startswith("base:data") or ref == ":i":
        return True
    name = ref.removeprefix("prev:")
    desc = unit.get(name)
    if not isinstance(desc, dict):
        return False
    if desc.get("class") == "choice":
        return True
    if desc.get("class") in ("copy", "reinterpret_data", "gather", "switch") and desc.get("class") != "linear":
        return any(_label_ref(unit, r) for r in _sources(desc) if r.removeprefix("prev:") != name)
    return False


def _query_ref(unit: dict[str, Any], state: str, reader: str) -> str:
    """``state`` or, where it depends on ``reader`` in the frame (or is it), ``prev:state``."""
    if state == reader or reader in _frame_ancestors(unit, state):
        return f"prev:{state}"
    return state


def _sites(net: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """(searching rec, readers, dense states) of every searching decoder with readers."""
    timed_roots = set(_timed_roots(net))
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        if any(k.startswith("extra.") for k in net):
            continue
        timed = _timed_loop(unit, timed_roots)
        readers = _readers_of_scores(unit, timed)
        states = _dense_layers(unit, timed)
        if readers and states:
            out.append((rec, readers, states))
    return out


def _encoder_for(net: dict[str, Any], rec: str, rng: random.Random) -> str | None:
    """An encoder layer for ``rec``: one its loop reads through ``base:`` where there is one, else any."""
    timed = _timed_roots(net)
    if not timed:
        return None
    unit = net[rec]["unit"]
    read = sorted({ref[5:].split("/")[0] for k in _layers(unit) for ref in _deps(unit[k])
                   if ref.startswith("base:")} & set(timed))
    return rng.choice(read or timed)


def op_sentinel_memory(case: Case, rng: random.Random) -> Result:
    """A memory with an extra (sentinel) frame appended by ``postfix_in_time`` inside (or before) the loop."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, readers, states = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = _encoder_for(net, rec, rng)
    if enc is None:
        return None
    reader = rng.choice(readers)
    size = rng.choice([4, 6, 8])
    proj = _fresh(net, f"{enc}_mem")
    net[proj] = {"class": "linear", "activation": None, "from": enc, "n_out": size}
    kind = rng.choices(["loop-layer", "loop-prev", "loop-const", "root-const", "root-layer"], [3, 2, 1.5, 1.5, 1.5])[0]
    state = rng.choice(states)
    if kind.startswith("loop"):
        mem = _fresh(unit, "memory")
        if kind == "loop-const":
            postfix: Any = 0.0
            how = "postfix 0.0 in the loop"
        else:
            src = _query_ref(unit, state, reader) if kind == "loop-layer" else f"prev:{state}"
            sent = _fresh(unit, "sentinel")
            unit[sent] = {"class": "linear", "activation": None, "from": src, "n_out": size}
            postfix = sent
            how = f"postfix loop layer {sent} (a linear of {src})"
        unit[mem] = {"class": "postfix_in_time", "from": f"base:{proj}", "postfix": postfix}
        mem_ref = mem
        where = f"{rec}/{mem}"
    else:
        mem = _fresh(net, f"{proj}_sentinel")
        if kind == "root-const":
            postfix = 0.0
            how = "postfix 0.0 at the root"
        else:
            avg = _fresh(net, f"{proj}_avg")
            net[avg] = {"class": "reduce", "mode": "mean", "axis": "T", "from": proj}
            postfix = avg
            how = f"postfix root {avg} (mean over time of {proj}) at the root"
        net[mem] = {"class": "postfix_in_time", "from": proj, "postfix": postfix}
        mem_ref = f"base:{mem}"
        where = f"root {mem}"
    use = rng.choice(["summary", "attention"])
    if use == "summary":
        mode = rng.choice(["mean", "max"])
        summ = _fresh(unit, "memory_summary")
        unit[summ] = {"class": "reduce", "mode": mode, "axis": "T", "from": mem_ref}
        read = summ
        used = f"{rec}/{summ} ({mode} over its time axis)"
    else:
        query = _fresh(unit, "memory_query")
        qsrc = _query_ref(unit, state, reader)
        unit[query] = {"class": "linear", "activation": None, "from": qsrc, "n_out": size}
        energy = _fresh(unit, "memory_energy")
        unit[energy] = {"class": "dot", "from": [mem_ref, query], "red1": "F", "red2": "F", "var1": "T",
                        "var2": None}
        weights = _fresh(unit, "memory_weights")
        unit[weights] = {"class": "softmax_over_spatial", "from": energy}
        ctx = _fresh(unit, "memory_ctx")
        unit[ctx] = {"class": "generic_attention", "weights": weights, "base": mem_ref}
        read = ctx
        used = f"attention {rec}/{ctx} (dot with {query} of {qsrc}, softmax_over_spatial)"
    _add_source(unit[reader], read)
    return new, (f"{where}: postfix_in_time of {proj} (root linear {size} of {enc}), {how}; {used} read by "
                 f"{rec}/{reader}")


def op_cumulative_energy(case: Case, rng: random.Random) -> Result:
    """Attention energies summed over the decoder frames, the weights normalized over the sum."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") == "softmax_over_spatial" and len(_sources(unit[k])) == 1:
                sites.append((rec, k))
    order = rng.choice(["energy-first", "prev-first"])
    init = rng.choice([True, True, False])
    plain = rng.random() < 0.25
    if sites and rng.random() < 0.7:
        rec, weights = rng.choice(sites)
        unit = net[rec]["unit"]
        energy = _sources(unit[weights])[0]
        cum = _fresh(unit, "cum_att_energy")
        srcs = [energy, f"prev:{cum}"] if order == "energy-first" else [f"prev:{cum}", energy]
        unit[cum] = {"class": "combine", "kind": "add", "from": srcs}
        if init:
            unit[cum]["initial_output"] = 0
        if plain:
            unit[cum]["is_output_layer"] = True
            return new, (f"{rec}/{cum}: sum of {energy} and prev:{cum} ({order}), an output layer; "
                         f"{weights} keeps reading {energy}")
        unit[weights]["from"] = [cum]
        return new, f"{rec}/{weights} normalizes {cum}, the sum of {energy} and prev:{cum} ({order})"
    found = _sites(net)
    if not found:
        return None
    rec, readers, states = rng.choice(found)
    unit = net[rec]["unit"]
    enc = _encoder_for(net, rec, rng)
    if enc is None:
        return None
    reader = rng.choice(readers)
    size = rng.choice([4, 6])
    key = _fresh(net, f"{enc}_att_key")
    net[key] = {"class": "linear", "activation": None, "from": enc, "n_out": size}
    state = rng.choice(states)
    qsrc = _query_ref(unit, state, reader)
    query = _fresh(unit, "att_query")
    unit[query] = {"class": "linear", "activation": None, "from": qsrc, "n_out": size}
    energy = _fresh(unit, "att_energy")
    unit[energy] = {"class": "dot", "from": [f"base:{key}", query], "red1": "F", "red2": "F", "var1": "T",
                    "var2": None}
    cum = _fresh(unit, "cum_att_energy")
    srcs = [energy, f"prev:{cum}"] if order == "energy-first" else [f"prev:{cum}", energy]
    unit[cum] = {"class": "combine", "kind": "add", "from": srcs}
    if init:
        unit[cum]["initial_output"] = 0
    weights = _fresh(unit, "att_weights")
    if plain:
        unit[cum]["is_output_layer"] = True
        unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    else:
        unit[weights] = {"class": "softmax_over_spatial", "from": cum}
    ctx = _fresh(unit, "att_ctx")
    unit[ctx] = {"class": "generic_attention", "weights": weights, "base": f"base:{key}"}
    _add_source(unit[reader], ctx)
    what = f"{energy} (this frame's), {cum} an output" if plain else cum
    return new, (f"{rec}: dot attention over root {key} (linear of {enc}) with query {query} of {qsrc}, "
                 f"{cum} = {energy} + prev:{cum} ({order}), weights over {what}; {ctx} read by {reader}")


def op_subnet_inner_loss(case: Case, rng: random.Random) -> Result:
    """The choice's score softmax (with its loss) moved into a subnetwork of the loop, loss inside."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            for s in _sources(unit[c]):
                desc = unit.get(s)
                if (isinstance(desc, dict) and desc.get("class") == "softmax" and desc.get("loss")
                        and isinstance(desc.get("target"), str) and not desc.get("reuse_params")
                        and _sources(desc)):
                    sites.append((rec, s))
    sites = sorted(set(sites))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    old = unit[name]
    target = old["target"]
    key = target[5:] if target.startswith("data:") else target
    n_out = old.get("n_out") if isinstance(old.get("n_out"), int) else _target_dim(case, key)
    if n_out is None:
        return None
    if any(s == ":i" for s in _sources(old)):
        return None
    srcs = [f"base:{s}" for s in _sources(old)]
    loss_keys = {k: old[k] for k in ("loss", "loss_opts", "loss_scale", "target") if k in old}
    kind = rng.choices(["inner-output", "inner-prob", "outer", "none", "non-search"], [3, 2, 1.5, 1.5, 1])[0]
    logits = {"class": "linear", "activation": None, "from": srcs, "n_out": n_out}
    softmax: dict[str, Any] = {"class": "activation", "activation": "softmax", "from": "logits"}
    sub: dict[str, Any] = {"logits": logits}
    desc: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": sub}
    for k in ("is_output_layer", "initial_output"):
        if k in old:
            desc[k] = old[k]
    if kind in ("inner-output", "non-search", "none"):
        out = {"class": "softmax", "from": srcs, "n_out": n_out}
        sub.pop("logits")
        if kind != "none":
            out.update(loss_keys)
        if kind == "non-search":
            out["loss_only_on_non_search"] = True
        sub["output"] = out
        how = {"inner-output": "its inner output softmax keeps the loss",
               "non-search": "its inner output softmax keeps the loss, loss_only_on_non_search",
               "none": "no loss (dropped)"}[kind]
    elif kind == "inner-prob":
        sub["prob"] = {**softmax, **loss_keys, "is_output_layer": True}
        sub["output"] = {"class": "copy", "from": "prob"}
        how = "the loss on inner prob (an output layer, softmax of inner logits), output a copy of it"
    else:
        sub["output"] = softmax
        desc.update(loss_keys)
        how = "the loss on the subnetwork layer (softmax of inner logits)"
    unit[name] = desc
    return new, f"{rec}/{name}: the score softmax moved into a subnetwork (target {target!r}), {how}"


def op_segment_length(case: Case, rng: random.Random) -> Result:
    """The length of the current label segment, from ``:i`` minus a held segment start (or a counter)."""
    new, net = _copy(case)
    sites = []
    for rec, readers, _states in _sites(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("initial_output") is not None and unit[c].get("input_type") != "regression":
                sites.append((rec, c, readers))
    if not sites:
        return None
    rec, choice, readers = rng.choice(sites)
    unit = net[rec]["unit"]
    n_out = _target_dim(case, (unit[choice].get("target") or "").removeprefix("data:")
                        if isinstance(unit[choice].get("target"), str) else None)
    label = rng.choice([0, 0, n_out - 1]) if n_out else 0
    cond = _fresh(unit, "new_segment")
    unit[cond] = {"class": "compare", "kind": "not_equal", "from": f"prev:{choice}", "value": label}
    seg_len = _fresh(unit, "segment_len")
    kind = rng.choices(["sub", "eval", "counter"], [3, 1.5, 2])[0]
    if kind == "counter":
        plus = _fresh(unit, f"{seg_len}_plus_one")
        unit[plus] = {"class": "eval", "from": f"prev:{seg_len}", "eval": "source(0) + 1"}
        unit[seg_len] = {"class": "switch", "condition": cond, "true_from": 0, "false_from": plus,
                         "initial_output": 0}
        how = f"{seg_len}: a counter reset where {cond} (switch between 0 and {plus}, prev:{seg_len} + 1)"
    else:
        start = _fresh(unit, "segment_start")
        unit[start] = {"class": "switch", "condition": cond, "true_from": ":i", "false_from": f"prev:{start}",
                       "initial_output": 0}
        if kind == "sub":
            unit[seg_len] = {"class": "combine", "kind": "sub", "from": [":i", start]}
        else:
            unit[seg_len] = {"class": "eval", "from": [":i", start], "eval": "source(0) - source(1)"}
        how = f"{seg_len} = :i - {start} ({kind}; {start} a switch on {cond} between :i and prev:{start})"
    feat = _fresh(unit, f"{seg_len}_float")
    unit[feat] = {"class": "cast", "dtype": "float32", "from": seg_len}
    use = rng.choices(["reader", "reader-output", "output"], [3, 1, 1.5])[0]
    extra = ""
    if use in ("reader", "reader-output"):
        exp = _fresh(unit, f"{seg_len}_feature")
        unit[exp] = {"class": "expand_dims", "axis": "F", "from": feat}
        reader = rng.choice(readers)
        _add_source(unit[reader], exp)
        extra = f"; {exp} (expand_dims F of the float) read by {reader}"
    if use in ("reader-output", "output"):
        unit[feat]["is_output_layer"] = True
        extra += f"; {feat} an output layer"
    return new, f"{rec}: {cond} = prev:{choice} != {label}; {how}; cast to float in {feat}{extra}"


FRESH73_OPERATORS: tuple[Op, ...] = (
    Op("sentinel-memory", op_sentinel_memory, 1),
    Op("cumulative-energy", op_cumulative_energy, 1),
    Op("subnet-inner-loss", op_subnet_inner_loss, 1),
    Op("segment-length", op_segment_length, 1),
)
