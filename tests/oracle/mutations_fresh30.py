"""A thirty-second set of edit operators (issue 15, ninth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs, after fresh27 was opened: held out,
looked at as counts only when first measured.

Axis and shape manipulation of tensors that carry a beam (the batch dim is batch times beam), at the root
after a searching decoder or inside its loop (none a variant of an earlier one; no rule was written for
any of them):

* ``chunk-decoder``: a searching decoder's output (its label embedding, when it outputs labels; or a
  dense root reader of it) is cut into overlapping chunks along its time axis (``time_chunking``, which
  folds the chunks into the batch axis), projected per chunk frame and put back together
  (``time_unchunking`` with ``chunking_layer``), or its frames are grouped into windows of two or three
  (``split_dims`` of the time axis) merged back into the features (``merge_dims``); the result is an
  output layer, is decided by a new output ``decide``, or (chunking) is read by the decoder's readers;
  or a new output ``decide`` takes the chunks themselves (the per-chunk projection, batch axis folded);
* ``repeat-decoder``: the root readers of a searching decoder (or a new output ``decide``) read its output
  with every frame repeated along the time axis (``repeat``): a fixed number of times, or as often as a
  layer of the labels says (``compare`` with label 0, ``cast`` to int32, optionally plus one: drop or
  double the frames of label 0), those labels read from the beamed decoder itself or from a ``decide``
  of it; or the decided output (a ``decide`` of the decoder) repeated as often as the beamed labels say,
  an output layer;
* ``expand-in-loop``: the readers of a dense layer of a decoder loop read it with a new axis added
  (``expand_dims``, axis ``spatial``) and taken away again: ``squeeze`` of a size-1 axis, a ``reduce``
  over a broadcast axis of size 2 or 3, or ``merge_dims`` of the new axis into the features (doubling
  them, when every reader is a linear-like layer);
* ``reduce-in-loop``: inside a decoder loop, a dense layer's readers read it minus (or plus a share of)
  its reduction over the batch axis (``reduce`` with ``axes: "B"``: over every hypothesis of every
  sequence at this frame; or that of the previous frame, ``prev:``, with ``initial_output`` 0), or a
  layer over the encoder's time axis (energies, attention weights) is reduced over that axis (``reduce``
  with ``axes: "T"``) and fed as an extra source to a dense loop layer that does not feed it;
* ``shift-attention``: inside a decoder loop, the attention weights (``softmax_over_spatial``), or the
  energies they are computed from, are shifted along the encoder's time axis (``shift_axis`` by one or
  two frames, either direction, padded, ``adjust_size_info: False``) for their readers.
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
    _interpose,
    _layers,
    _readers,
    _redirect,
    _refs,
    _searching_recs,
    _sources,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH30_SEED = 20261223
N_FRESH30 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes with a dense [batch, feature] output when they are not over the encoder's time axis
_DENSE = ("linear", "rnn_cell", "rec", "softmax", "activation", "combine")
#: loop layer classes that take an encoder time axis away
_UNTIMED = ("generic_attention", "dot_attention", "reduce", "gather", "gather_nd", "choice", "squeeze")
#: loop layer classes that read their sources through a parameter matrix (any input feature dim)
_PROJECTING = ("linear", "rnn_cell", "rec", "softmax")
#: root layer classes that keep a decoder's labels (what a user redirects only with care)
_ROOT_NO_REDIRECT = ("rec", "subnetwork", "choice_get_beam_scores", "decide_keep_beam")


# ----------------------------------------------------------------------------------------------------
# helpers


def _decoder_kind(net: dict[str, Any], rec: str) -> str | None:
    """``"sparse"`` when a decoder outputs labels (its ``output`` is a label choice, maybe through a copy),
    ``"dense"`` when it outputs features, None when it is unclear (several choices concatenated...)."""
    unit = net[rec]["unit"]
    name = "output"
    for _ in range(4):
        desc = unit.get(name)
        if not isinstance(desc, dict):
            return None
        cls = desc.get("class")
        if cls == "choice":
            return "dense" if desc.get("input_type") == "regression" else "sparse"
        if cls in ("copy", "reinterpret_data"):
            srcs = _sources(desc)
            if len(srcs) != 1 or srcs[0] not in unit:
                return None
            name = srcs[0]
            continue
        if cls in ("linear", "softmax", "activation", "rnn_cell", "combine") and isinstance(
                desc.get("n_out"), int):
            return "dense"
        return None
    return None


def _root_timed(net: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a root layer (roughly) has a time axis: not a reduction, a constant, a length, nor made of
    those only."""
    desc = net.get(name)
    if not isinstance(desc, dict) or name in seen:
        return True
    if desc.get("class") in ("reduce", "constant", "variable", "length"):
        return False
    srcs = [h for r in _sources(desc) if (h := _head(r)) is not None]
    if not srcs or len(srcs) < len(_sources(desc)):
        return True
    return any(_root_timed(net, h, seen | {name}) for h in srcs)


def _timed(net: dict[str, Any], unit: dict[str, Any]) -> set[str]:
    """Loop layers that (roughly) run over the encoder's time axis: attention weights, what reads a root
    layer with a time axis through ``base:`` and what reads those (also through ``prev:``), up to a layer
    that takes the axis away."""
    timed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            desc = unit[k]
            if k in timed or desc.get("class") in _UNTIMED:
                continue
            hit = desc.get("class") == "softmax_over_spatial"
            for ref in _refs(desc):
                if ref.startswith("base:") and not ref.startswith("base:data") and _root_timed(
                        net, ref[len("base:"):].split("/", 1)[0]):
                    hit = True
                name = ref[len("prev:"):] if ref.startswith("prev:") else _head(ref)
                if name in timed:
                    hit = True
            if hit:
                timed.add(k)
                changed = True
    return timed


def _dense_sites(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """Dense [batch, feature] loop layers read in the same frame by other loop layers."""
    timed = _timed(net, unit)
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _DENSE and k not in timed
            and not unit[k].get("target") and _readers(unit, k)]


def _root_sources(net: dict[str, Any], rec: str) -> list[str]:
    """The decoder itself and its dense root readers (not a decision, not another decoder)."""
    out = [rec]
    for k in _readers(net, rec):
        if net[k].get("class") in ("linear", "activation", "copy", "combine") and isinstance(
                net[k].get("n_out"), int):
            out.append(k)
    return out


def _root_recs(net: dict[str, Any]) -> list[str]:
    """Searching decoders of the main network (not those of an ``extra.NAME:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _label_reader(net: dict[str, Any], rec: str) -> str | None:
    """An existing root ``decide`` of a decoder."""
    for k in _readers(net, rec):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    return None


# ----------------------------------------------------------------------------------------------------
# operators


def op_chunk_decoder(case: Case, rng: random.Random) -> Result:
    """A decoder's output (embedded when it is labels) chunked along time and unchunked, or grouped into
    windows of frames merged into the features: an output, a decided output, or read by its readers."""
    new, net = _copy(case)
    sites = []
    for rec in _root_recs(net):
        kind = _decoder_kind(net, rec)
        if kind is None:
            continue
        sites += [(rec, src, kind if src == rec else "dense") for src in _root_sources(net, rec)]
    if not sites:
        return None
    rec, src, kind = rng.choice(sites)
    n = rng.choice([4, 6, 8])
    head = src
    emb = None
    if kind == "sparse":
        emb = _fresh(net, f"{src}_embed")
        net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": n}
        head = emb
    readers = [k for k in _readers(net, src) if net[k].get("class") not in _ROOT_NO_REDIRECT]
    if rng.random() < 0.6:
        size, step = rng.choice([(2, 1), (3, 2), (4, 2), (4, 4)])
        chunked = _fresh(net, f"{head}_chunked")
        net[chunked] = {"class": "time_chunking", "from": head, "chunk_size": size, "chunk_step": step}
        per = _fresh(net, f"{chunked}_ff")
        net[per] = {"class": "linear", "activation": "tanh", "from": chunked, "n_out": n}
        back = {"class": "time_unchunking", "from": per, "chunking_layer": chunked}
        what = f"chunked ({chunked}: size {size}, step {step}), projected per frame ({per}) and unchunked"
        if rng.random() < 0.2:
            dec = _fresh(net, f"{per}_decided")
            net[dec] = {"class": "decide", "from": per, "is_output_layer": True}
            via = f" (embedded by {emb})" if emb else ""
            return new, (f"{dec}: decide over the chunks {per}: {src}{via} chunked ({chunked}: size {size}, "
                         f"step {step}, the chunks folded into the batch axis) and projected per frame")
        if kind == "dense" and readers and rng.random() < 0.5:
            result = _interpose(net, readers, src, f"{head}_unchunked", back)
            return new, f"{result}: {src} {what}, read by {', '.join(readers)}"
        result = _fresh(net, f"{head}_unchunked")
        net[result] = back
    else:
        window = rng.choice([2, 3])
        split = _fresh(net, f"{head}_windows")
        net[split] = {"class": "split_dims", "from": head, "axis": "T", "dims": [-1, window]}
        result = _fresh(net, f"{head}_windows_merged")
        net[result] = {"class": "merge_dims", "from": split, "axes": ["static:0", "F"]}
        if rng.random() < 0.3:
            net[result]["keep_order"] = True
        what = f"grouped into windows of {window} frames ({split}, split_dims of T) merged into the features"
    via = f" (embedded by {emb})" if emb else ""
    if rng.random() < 0.5:
        net[result]["is_output_layer"] = True
        return new, f"{result}: {src}{via} {what} (an output layer)"
    dec = _fresh(net, f"{result}_decided")
    net[dec] = {"class": "decide", "from": result, "is_output_layer": True}
    return new, f"{dec}: decide over {result}, {src}{via} {what}"


def op_repeat_decoder(case: Case, rng: random.Random) -> Result:
    """The readers of a decoder (or a new output decide) read its output with frames repeated along time,
    a fixed number of times or by a layer of its labels (beamed, or decided)."""
    new, net = _copy(case)
    sites = [(rec, kind) for rec in _root_recs(net) if (kind := _decoder_kind(net, rec))]
    if not sites:
        return None
    rec, kind = rng.choice(sites)
    readers = [k for k in _readers(net, rec) if net[k].get("class") not in ("rec", "subnetwork")]
    by_layer = kind == "sparse" and rng.random() < 0.6
    extra = ""
    labels = None
    if by_layer:
        decided = rng.random() < 0.5
        if decided:
            labels = _label_reader(net, rec)
            if labels is None:
                labels = _fresh(net, f"{rec}_decided_labels")
                net[labels] = {"class": "decide", "from": rec}
        else:
            labels = rec
        cmp = _fresh(net, f"{rec}_not_label0")
        net[cmp] = {"class": "compare", "kind": "not_equal", "from": labels, "value": 0}
        cast = _fresh(net, f"{cmp}_int")
        net[cast] = {"class": "cast", "from": cmp, "dtype": "int32"}
        if rng.random() < 0.5:
            reps: Any = _fresh(net, f"{rec}_repetitions")
            net[reps] = {"class": "eval", "from": cast, "eval": "source(0) + 1"}
            extra = f"label-0 frames once, others twice ({reps}, from {labels})"
        else:
            reps = cast
            extra = f"label-0 frames dropped ({reps}, from {labels})"
    else:
        reps = rng.choice([2, 3])
        extra = f"{reps} times"
    if by_layer and labels == rec and rng.random() < 0.4:
        src = _label_reader(net, rec)
        if src is None:
            src = _fresh(net, f"{rec}_decided")
            net[src] = {"class": "decide", "from": rec}
        name = _fresh(net, f"{src}_repeated")
        net[name] = {"class": "repeat", "from": src, "axis": "T", "repetitions": reps, "is_output_layer": True}
        return new, f"{name}: the decided {src} repeated along time, {extra} (an output layer)"
    rep = {"class": "repeat", "from": rec, "axis": "T", "repetitions": reps}
    readers = [k for k in readers if k != labels]
    if readers and rng.random() < 0.7:
        name = _interpose(net, readers, rec, f"{rec}_repeated", rep)
        return new, f"{name}: {rec} repeated along time, {extra}; read by {', '.join(readers)}"
    name = _fresh(net, f"{rec}_repeated")
    net[name] = rep
    dec = _fresh(net, f"{name}_decided")
    net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
    return new, f"{dec}: decide over {name}, {rec} repeated along time, {extra}"


def op_expand_in_loop(case: Case, rng: random.Random) -> Result:
    """The readers of a dense loop layer read it with an axis added and taken away again."""
    new, net = _copy(case)
    sites = [(rec, k) for rec in _searching_recs(net) for k in _dense_sites(net, net[rec]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    projecting = all(unit[r].get("class") in _PROJECTING and _refs(unit[r]).count(name) == _sources(
        unit[r]).count(name) for r in readers)
    how = rng.choices(["squeeze", "reduce", "merge"], [2, 2, 2 if projecting else 0])[0]
    ex = _fresh(unit, f"{name}_expanded")
    if how == "squeeze":
        unit[ex] = {"class": "expand_dims", "from": name, "axis": "spatial"}
        axis = rng.choice(["T", "spatial"])
        back = {"class": "squeeze", "from": ex, "axis": axis}
        what = f"squeezed ({axis})"
    elif how == "reduce":
        dim = rng.choice([2, 3])
        unit[ex] = {"class": "expand_dims", "from": name, "axis": "spatial", "dim": dim}
        mode = rng.choice(["mean", "max", "sum"])
        back = {"class": "reduce", "from": ex, "mode": mode, "axes": "T"}
        what = f"(size {dim}) reduced by {mode}"
    else:
        unit[ex] = {"class": "expand_dims", "from": name, "axis": "spatial", "dim": 2}
        back = {"class": "merge_dims", "from": ex, "axes": ["T", "F"]}
        what = "(size 2) merged into the features"
    out = _interpose(unit, readers, name, f"{name}_unexpanded", back)
    return new, f"{rec}: {', '.join(readers)} read {out}: {name} with a new axis ({ex}) {what}"


def op_reduce_in_loop(case: Case, rng: random.Random) -> Result:
    """Inside a loop: a layer's readers read it against its reduction over the batch (all hypotheses), or a
    layer over the encoder time axis is reduced over it and fed to a dense loop layer."""
    new, net = _copy(case)
    batch_sites, time_sites = [], []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        batch_sites += [(rec, k) for k in _dense_sites(net, unit)]
        timed = _timed(net, unit)
        for k in sorted(timed):
            if unit[k].get("class") not in ("linear", "activation", "combine", "softmax_over_spatial"):
                continue
            before = _frame_ancestors(unit, k) | {k}
            for t in _layers(unit):
                if (t not in timed and t not in before and unit[t].get("class") in _PROJECTING
                        and not unit[t].get("target") and _sources(unit[t]) and t != "end"):
                    time_sites.append((rec, k, t))
    if not batch_sites and not time_sites:
        return None
    if time_sites and (not batch_sites or rng.random() < 0.5):
        rec, name, user = rng.choice(time_sites)
        unit = net[rec]["unit"]
        mode = rng.choice(["max", "mean", "sum"])
        red = _fresh(unit, f"{name}_{mode}_over_time")
        unit[red] = {"class": "reduce", "from": name, "mode": mode, "axes": "T"}
        _add_source(unit[user], red)
        return new, f"{rec}/{user} also reads {red}: {rec}/{name} reduced by {mode} over the encoder's time axis"
    rec, name = rng.choice(batch_sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, name)
    mode = rng.choice(["mean", "max"])
    red = _fresh(unit, f"{name}_batch_{mode}")
    unit[red] = {"class": "reduce", "from": name, "mode": mode, "axes": "B"}
    ref, when = red, ""
    if rng.random() < 0.35:
        unit[red]["initial_output"] = 0
        ref, when = f"prev:{red}", " at the previous frame"
    if rng.random() < 0.5:
        mix = {"class": "combine", "kind": "sub", "from": [name, ref]}
        what = "minus"
    else:
        mix = {"class": "eval", "from": [name, ref], "eval": "source(0) + 0.5 * source(1)"}
        what = "plus half"
    out = _interpose(unit, readers, name, f"{name}_vs_batch", mix)
    return new, (f"{rec}: {', '.join(readers)} read {out}: {name} {what} its {mode} over the batch axis{when} "
                 f"({ref}, all hypotheses of the frame)")


def op_shift_attention(case: Case, rng: random.Random) -> Result:
    """Inside a loop: the attention weights, or the energies they come from, shifted along the encoder's
    time axis for their readers."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") != "softmax_over_spatial":
                continue
            if _readers(unit, k):
                sites.append((rec, k, None))
            srcs = _sources(unit[k])
            if len(srcs) == 1 and srcs[0] in unit:
                sites.append((rec, k, srcs[0]))
    if not sites:
        return None
    rec, weights, energy = rng.choice(sites)
    unit = net[rec]["unit"]
    amount = rng.choice([1, 1, -1, 2])
    target = energy or weights
    shift = {"class": "shift_axis", "from": target, "axis": "T", "amount": amount, "pad": True,
             "adjust_size_info": False}
    if energy is not None:
        name = _fresh(unit, f"{energy}_shifted")
        unit[name] = shift
        _redirect(unit, [weights], energy, name)
        return new, f"{rec}/{weights} reads {name}: {rec}/{energy} shifted by {amount} along the encoder's time"
    readers = _readers(unit, weights)
    name = _interpose(unit, readers, weights, f"{weights}_shifted", shift)
    return new, (f"{rec}: {', '.join(readers)} read {name}: {rec}/{weights} shifted by {amount} along the "
                 f"encoder's time")


FRESH30_OPERATORS: tuple[Op, ...] = (
    Op("chunk-decoder", op_chunk_decoder, 1),
    Op("repeat-decoder", op_repeat_decoder, 1),
    Op("expand-in-loop", op_expand_in_loop, 1),
    Op("reduce-in-loop", op_reduce_in_loop, 1),
    Op("shift-attention", op_shift_attention, 1),
)
