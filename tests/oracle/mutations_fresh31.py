"""A thirty-third set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Operations along the batch axis of tensors that carry a beam (the batch dim is batch times beam), inside a
decoder loop and after it, at the root, before or after ``decide`` (none a variant of an earlier one; no
rule was written for any of them):

* ``slice-batch``: a searching decoder's output (or a root reader of it, a ``decide`` of it included) is
  sliced along the batch axis (``slice`` with ``axis: "B"``): every beam-size-th entry (``slice_step``, a
  hand-made "best hypothesis of each sequence"), the first entry only (``slice_end: 1``), or all but the
  first (``slice_start: 1``); the slice is an output layer, is read by the source's root readers instead of
  it, or (of the decoder itself) is decided by a new output ``decide``;
* ``gather-batch``: one entry of the batch axis is taken (``gather`` with ``axis: "B"`` and a constant
  ``position`` 0): of a searching decoder's output or a root reader of it (an output layer); inside a
  decoder loop, of a dense loop layer, whose readers read it plus (or minus) that first entry (broadcast
  over the batch); or of a root layer the loop reads through ``base:`` (the loop reads the gathered one);
* ``merge-batch``: the batch axis merged with another axis (``merge_dims``): a decoder's output (or a root
  reader of it, a ``decide`` included) with its time axis (an output layer, or split back with
  ``split_batch_time`` for the source's readers) or a dense root reader with its features (an output
  layer);
* ``swap-batch``: the batch axis moved (``swap_axes`` with ``axis1: "B"``, or ``transpose`` with a
  ``perm`` that exchanges ``B`` with another axis): at the root, a decoder's output (or a root reader of
  it, a ``decide`` included) with its time axis, read by the source's readers or an output layer; inside
  a decoder loop, a dense loop layer with its features, read by its readers;
* ``batch-feature``: inside a decoder loop, the readers of a dense loop layer read it combined with a
  statistic over the batch axis of this frame (or of the previous frame, ``prev:``): the number of
  entries (``length`` with ``axis: "B"``, cast to float, the layer divided by it), the entry's index
  (``range_in_axis`` with ``axis: "B"``, cast to float, scaled and added) or its values normalized over
  the batch (``softmax_over_spatial`` with ``axis: "B"``, multiplied in).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _head,
    _interpose,
    _layers,
    _readers,
    _redirect,
    _refs,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH31_SEED = 20261224
N_FRESH31 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes with a dense [batch, feature] output when they are not over the encoder's time axis
_DENSE = ("linear", "rnn_cell", "softmax", "activation", "combine")
#: loop layer classes that take an encoder time axis away
_UNTIMED = ("generic_attention", "dot_attention", "reduce", "gather", "choice", "squeeze")
#: root reader classes of a decoder that keep its axes (what a user slices / moves further)
_ROOT_READERS = ("linear", "activation", "copy", "combine", "softmax", "decide", "eval", "reinterpret_data")
#: root reader classes that a redirect would break (they need the decoder's own labels / beam)
_ROOT_NO_REDIRECT = ("rec", "subnetwork", "choice_get_beam_scores", "choice_get_src_beams",
                     "decide_keep_beam", "split_batch_beam")


# ----------------------------------------------------------------------------------------------------
# helpers


def _root_recs(net: dict[str, Any]) -> list[str]:
    """Searching decoders of the main network (not those of an ``extra.NAME:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _beam(net: dict[str, Any], rec: str) -> int:
    """The beam size of a decoder's first choice (12, RETURNN's default, when it sets none)."""
    unit = net[rec]["unit"]
    for c in _unit_choices(unit):
        size = unit[c].get("beam_size")
        if isinstance(size, int):
            return size
    return 12


def _root_timed(net: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a root layer (roughly) has a time axis: not a reduction, constant, length, nor made of
    those."""
    desc = net.get(name)
    if not isinstance(desc, dict) or name in seen:
        return True
    if desc.get("class") in ("reduce", "constant", "variable", "length"):
        return False
    heads = [h for r in _sources(desc) if (h := _head(r)) is not None]
    if not heads or len(heads) < len(_sources(desc)):
        return True
    return any(_root_timed(net, h, seen | {name}) for h in heads)


def _timed(net: dict[str, Any], unit: dict[str, Any]) -> set[str]:
    """Loop layers that (roughly) run over the encoder's time axis (attention energies and weights)."""
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


def _dense_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(decoder, loop layer) of dense [batch, feature] loop layers read in the same frame by others."""
    out = []
    for rec in _root_recs(net):
        unit = net[rec]["unit"]
        timed = _timed(net, unit)
        out += [(rec, k) for k in _layers(unit)
                if k != "end" and unit[k].get("class") in _DENSE and k not in timed
                and isinstance(unit[k].get("n_out"), int) and not unit[k].get("target") and _readers(unit, k)]
    return out


def _root_sources(net: dict[str, Any], rec: str, *, decided: bool = True) -> list[str]:
    """The decoder itself and its root readers that keep its axes (a ``decide`` only with ``decided``)."""
    out = [rec]
    for k in _readers(net, rec):
        cls = net[k].get("class")
        if cls in _ROOT_READERS and (decided or cls != "decide") and rec in _sources(net[k]):
            out.append(k)
    return out


def _redirectable(net: dict[str, Any], src: str) -> list[str]:
    return [k for k in _readers(net, src) if net[k].get("class") not in _ROOT_NO_REDIRECT]


def _finish_root(net: dict[str, Any], rng: random.Random, src: str, name: str, desc: dict[str, Any],
                 what: str) -> str:
    """Add a root layer of ``src``: read by ``src``'s readers (sometimes) or as an output layer."""
    readers = _redirectable(net, src)
    if readers and rng.random() < 0.5:
        new = _interpose(net, readers, src, name, desc)
        return f"{new}: {src} {what}, read by {', '.join(readers)}"
    new = _fresh(net, name)
    net[new] = {**desc, "is_output_layer": True}
    return f"{new}: {src} {what} (an output layer)"


# ----------------------------------------------------------------------------------------------------
# operators


def op_slice_batch(case: Case, rng: random.Random) -> Result:
    """A decoder's output (or a root reader) sliced along the batch axis: strided by the beam size, the
    first entry, or all but the first."""
    new, net = _copy(case)
    sites = [(rec, src) for rec in _root_recs(net) for src in _root_sources(net, rec)]
    if not sites:
        return None
    rec, src = rng.choice(sites)
    beam = _beam(net, rec)
    kind = rng.choices(["stride", "first", "rest"], [3, 1, 1])[0]
    desc: dict[str, Any] = {"class": "slice", "from": src, "axis": "B"}
    if kind == "stride":
        desc["slice_step"] = beam
        what = f"sliced along the batch axis with slice_step {beam} (the beam size)"
    elif kind == "first":
        desc.update(slice_start=0, slice_end=1)
        what = "sliced along the batch axis to its first entry"
    else:
        desc["slice_start"] = 1
        what = "sliced along the batch axis from its second entry"
    if src == rec and rng.random() < 0.3:
        sliced = _fresh(net, f"{src}_batch_slice")
        net[sliced] = desc
        dec = _fresh(net, f"{sliced}_decided")
        net[dec] = {"class": "decide", "from": sliced, "is_output_layer": True}
        return new, f"{sliced}: {src} {what}; decided by {dec} (an output layer)"
    return new, _finish_root(net, rng, src, f"{src}_batch_slice", desc, what)


def op_gather_batch(case: Case, rng: random.Random) -> Result:
    """The first entry of the batch axis (``gather`` at position 0 of ``B``): of a decoder's output, of a
    dense loop layer (added to it for its readers), or of a root layer the loop reads."""
    new, net = _copy(case)
    root_sites = [(rec, src) for rec in _root_recs(net) for src in _root_sources(net, rec)]
    loop_sites = _dense_sites(net)
    base_sites = []
    for rec in _root_recs(net):
        unit = net[rec]["unit"]
        names = sorted({r[len("base:"):] for k in _layers(unit) for r in _refs(unit[k])
                        if r.startswith("base:") and r[len("base:"):] in net
                        and net[r[len("base:"):]].get("class") not in ("rec", "decide", "subnetwork")})
        base_sites += [(rec, n) for n in names]
    kinds = [k for k, s in (("root", root_sites), ("loop", loop_sites), ("base", base_sites)) if s]
    if not kinds:
        return None
    kind = rng.choices(kinds, [{"root": 2, "loop": 3, "base": 1}[k] for k in kinds])[0]
    if kind == "root":
        rec, src = rng.choice(root_sites)
        name = _fresh(net, f"{src}_first_in_batch")
        net[name] = {"class": "gather", "from": src, "axis": "B", "position": 0, "is_output_layer": True}
        return new, f"{name}: entry 0 of the batch axis of {src} (gather, an output layer)"
    if kind == "loop":
        rec, src = rng.choice(loop_sites)
        unit = net[rec]["unit"]
        readers = _readers(unit, src)
        first = _fresh(unit, f"{src}_first_in_batch")
        unit[first] = {"class": "gather", "from": src, "axis": "B", "position": 0}
        mix = _fresh(unit, f"{src}_with_first")
        if rng.random() < 0.5:
            unit[mix] = {"class": "combine", "kind": "add", "from": [src, first]}
            how = "plus"
        else:
            unit[mix] = {"class": "eval", "from": [src, first], "eval": "source(0) - source(1)"}
            how = "minus"
        _redirect(unit, readers, src, mix)
        return new, (f"{rec}: {', '.join(readers)} read {rec}/{mix}: {src} {how} {first}, its entry 0 "
                     f"of the batch axis (gather)")
    rec, src = rng.choice(base_sites)
    unit = net[rec]["unit"]
    name = _fresh(net, f"{src}_first_in_batch")
    net[name] = {"class": "gather", "from": src, "axis": "B", "position": 0}
    readers = _readers(unit, "", f"base:{src}")
    _redirect(unit, readers, f"base:{src}", f"base:{name}")
    return new, (f"{name}: entry 0 of the batch axis of {src} (gather); {rec}: {', '.join(readers)} "
                 f"read base:{name} instead of base:{src}")


def op_merge_batch(case: Case, rng: random.Random) -> Result:
    """The batch axis of a decoder's output (or a root reader) merged with its time axis (an output, or split
    back with ``split_batch_time`` for the readers) or with its features (an output): ``merge_dims``."""
    new, net = _copy(case)
    sites = [(rec, src) for rec in _root_recs(net) for src in _root_sources(net, rec)]
    if not sites:
        return None
    _rec, src = rng.choice(sites)
    dense = net[src].get("class") in ("linear", "activation", "softmax") and isinstance(
        net[src].get("n_out"), int)
    if not dense or rng.random() < 0.6:
        desc = {"class": "merge_dims", "from": src, "axes": ["B", "T"]}
        readers = _redirectable(net, src)
        if readers and rng.random() < 0.6:
            merged = _fresh(net, f"{src}_batch_time")
            net[merged] = desc
            back = _interpose(net, readers, src, f"{src}_unmerged",
                              {"class": "split_batch_time", "from": merged, "base": src})
            return new, (f"{back}: {src} with batch and time merged ({merged}, merge_dims) and split back, "
                         f"read by {', '.join(readers)}")
        name = _fresh(net, f"{src}_batch_time")
        net[name] = {**desc, "is_output_layer": True}
        return new, f"{name}: {src} with batch and time merged (merge_dims, an output layer)"
    name = _fresh(net, f"{src}_batch_feature")
    net[name] = {"class": "merge_dims", "from": src, "axes": ["B", "F"], "is_output_layer": True}
    return new, f"{name}: {src} with batch and features merged (merge_dims, an output layer)"


def op_swap_batch(case: Case, rng: random.Random) -> Result:
    """The batch axis exchanged with the time axis (root) or the features (loop): ``swap_axes`` or
    ``transpose``."""
    new, net = _copy(case)
    root_sites = [(rec, src) for rec in _root_recs(net) for src in _root_sources(net, rec)]
    loop_sites = _dense_sites(net)
    if not root_sites and not loop_sites:
        return None
    use_swap = rng.random() < 0.6
    if loop_sites and (not root_sites or rng.random() < 0.4):
        rec, src = rng.choice(loop_sites)
        unit = net[rec]["unit"]
        readers = _readers(unit, src)
        if use_swap:
            desc = {"class": "swap_axes", "from": src, "axis1": "B", "axis2": "F"}
        else:
            desc = {"class": "transpose", "from": src, "perm": {"B": "F", "F": "B"}}
        name = _interpose(unit, readers, src, f"{src}_batch_swapped", desc)
        return new, (f"{rec}: {', '.join(readers)} read {rec}/{name}: {src} with batch and feature axes "
                     f"exchanged ({desc['class']})")
    rec, src = rng.choice(root_sites)
    if use_swap:
        desc = {"class": "swap_axes", "from": src, "axis1": "B", "axis2": "T"}
    else:
        desc = {"class": "transpose", "from": src, "perm": {"B": "T", "T": "B"}}
    return new, _finish_root(net, rng, src, f"{src}_batch_swapped", desc,
                             f"with batch and time axes exchanged ({desc['class']})")


def op_batch_feature(case: Case, rng: random.Random) -> Result:
    """Inside a loop, a dense layer's readers read it combined with a statistic over the batch axis: the
    number of entries, the entry's index, or its values normalized over the batch."""
    new, net = _copy(case)
    sites = _dense_sites(net)
    if not sites:
        return None
    rec, src = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _readers(unit, src)
    kind = rng.choice(["size", "index", "weights"])
    stat_src = src
    if rng.random() < 0.3:
        stat_src = f"prev:{src}"
    stat = _fresh(unit, f"{src}_batch_{kind}")
    if kind == "weights":
        unit[stat] = {"class": "softmax_over_spatial", "from": stat_src, "axis": "B"}
        mix = _fresh(unit, f"{src}_batch_weighted")
        unit[mix] = {"class": "combine", "kind": "mul", "from": [src, stat]}
        what = f"times {stat}, {stat_src} normalized over the batch axis (softmax_over_spatial)"
    else:
        if kind == "size":
            unit[stat] = {"class": "length", "from": stat_src, "axis": "B"}
        else:
            unit[stat] = {"class": "range_in_axis", "from": stat_src, "axis": "B"}
        as_float = _fresh(unit, f"{stat}_float")
        unit[as_float] = {"class": "cast", "from": stat, "dtype": "float32"}
        mix = _fresh(unit, f"{src}_with_batch_{kind}")
        if kind == "size":
            unit[mix] = {"class": "eval", "from": [src, as_float], "eval": "source(0) / source(1)"}
            what = f"divided by the number of batch entries of {stat_src} ({stat}, length of B)"
        else:
            unit[mix] = {"class": "eval", "from": [src, as_float], "eval": "source(0) + 0.01 * source(1)"}
            what = f"plus 0.01 times the batch index of {stat_src} ({stat}, range_in_axis of B)"
    _redirect(unit, readers, src, mix)
    return new, f"{rec}: {', '.join(readers)} read {rec}/{mix}: {src} {what}"


FRESH31_OPERATORS: tuple[Op, ...] = (
    Op("slice-batch", op_slice_batch, 1),
    Op("gather-batch", op_gather_batch, 1),
    Op("merge-batch", op_merge_batch, 1),
    Op("swap-batch", op_swap_batch, 1),
    Op("batch-feature", op_batch_feature, 1),
)
