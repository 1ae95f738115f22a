"""A fifty-second set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Layer classes no base network uses, put on the beam path: inside a searching decoder loop on a dense layer
of the frame (beamed), after the loop on the decoder's output or on a loop layer read from the root
(beamed, accumulated over the frames; that loop layer mostly marked ``is_output_layer``, as RETURNN asks
for one it does not move out, sometimes not), or on an encoder layer the decoder reads (none a variant of
an earlier operator; no rule was written for any of them):

* ``pnorm-scale``: a layer is divided by its p-norm (``math_norm``, ``p`` 1 or 2, over the feature axis
  with ``keep_dims``, then an ``eval``) for its readers: a dense loop layer, or an encoder layer the
  decoder reads (root readers and ``base:`` readers in the loop alike); or, after the loop, a new root
  output layer holds the p-norm of a dense loop layer read from the root (``REC/LAYER``), over its time
  axis or its feature axis (without ``keep_dims``);
* ``stack-pair``: the readers of a layer read two layers of the same shape stacked on a new axis
  (``stack``) and reduced over it (``reduce`` mean or max over ``stag:NAME:stack``, or a learned
  ``weighted_sum`` over it): inside the loop a dense layer with ``prev:`` of itself or with another dense
  layer of the frame of the same size; at the root an encoder layer with a new ``tanh`` projection of
  itself; after the loop, a new root output layer stacks a dense loop layer read from the root with
  another one of the same size or with a ``decide`` of itself;
* ``tile-feature``: the readers that learn their input size (``linear``, ``softmax``, ``rnn_cell``, an
  LSTM ``rec``, ``conv``) read a layer with its feature axis repeated (``tile`` with ``multiples`` on
  ``F``, 2 or 3 times): a dense loop layer, or an encoder layer the decoder reads; or, after the loop, a
  new root output ``linear`` reads a dense loop layer read from the root, tiled;
* ``resize-axis``: an axis is resized (``resize``): after the loop, the decoder's root readers (its
  ``decide`` included; where nothing reads it, a new output ``decide``) read its output along the time
  axis upsampled (``factor`` 2 or 3, ``kind`` ``nn`` or ``fill`` with a label for labels, ``linear`` for a
  regression) or downsampled (``factor`` 0.5); on the encoder, every reader of an encoder layer with a
  time axis (the loop's ``base:`` readers too) reads it resized along the time axis (``factor`` 2 or 0.5,
  ``nn`` or ``linear``); inside the loop, the learning readers of a dense layer read it resized along the
  feature axis (``factor`` 2, ``linear`` or ``nn``).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _deps,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _recs,
    _redirect,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH50_SEED = 20270112
N_FRESH50 = 80

Result = "tuple[Case, str] | None"

#: float-valued loop layer classes (their output has a feature axis of floats)
_DENSE = ("linear", "activation", "rnn_cell", "generic_attention", "dot_attention", "combine", "eval",
          "dropout", "layer_norm")
#: root layer classes of an encoder with float features
_ENC = ("linear", "rec", "conv", "pool", "eval", "combine", "dropout", "copy", "layer_norm", "batch_norm",
        "merge_dims")
#: reader classes whose parameters take whatever input size they get
_LEARN = ("linear", "softmax", "rnn_cell", "conv")
#: classes of int / bool (label-like) values
_INT = ("choice", "compare", "cast", "reinterpret_data", "copy", "length", "range_in_axis", "decide")


def _is_dense(unit: dict[str, Any], name: str) -> bool:
    """A float loop layer with a feature axis, no target, not reading labels directly (combine / eval)."""
    desc = unit[name]
    if name == "end" or desc.get("class") not in _DENSE or desc.get("target") or desc.get("loss"):
        return False
    if desc.get("class") in ("combine", "eval"):
        for src in _sources(desc):
            head = src.removeprefix("prev:")
            if head.startswith(("data", "base:data")) or (head in unit and unit[head].get("class") in _INT):
                return False
    return True


def _loop_dense(net: dict[str, Any], *, read: bool = True) -> list[tuple[str, str]]:
    """(rec, layer) of the dense layers of searching loops (with readers in the frame, by default)."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        out += [(rec, k) for k in _layers(unit) if _is_dense(unit, k) and (not read or _readers(unit, k))]
    return out


def _learners(layers: dict[str, Any], readers: list[str]) -> list[str]:
    out = []
    for k in readers:
        desc = layers[k]
        cls = desc.get("class")
        if cls in _LEARN or (cls == "rec" and isinstance(desc.get("unit"), str)):
            out.append(k)
    return out


def _has_time(net: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a root layer keeps a time axis (roughly: it reads the data, not through a ``reduce``)."""
    desc = net[name]
    if desc.get("class") in ("reduce", "length", "constant", "variable") or name in seen:
        return False
    for src in _sources(desc):
        if src == "data" or src.startswith("data:"):
            return True
        if src in net and _has_time(net, src, seen | {name}):
            return True
    return False


def _enc_readers(net: dict[str, Any], name: str) -> tuple[list[str], dict[str, list[str]], bool]:
    """Root readers of an encoder layer, the ``base:`` readers in each loop, and whether that is all of
    them (no nested sub-network reads it)."""
    root = _readers(net, name)
    inner: dict[str, list[str]] = {}
    complete = True
    ref = f"base:{name}"
    for k in _layers(net):
        desc = net[k]
        if k != name and name in _deps(desc) and name not in _refs(desc) and desc.get("class") != "rec":
            complete = False
    for rec in _recs(net):
        unit = net[rec]["unit"]
        found = _readers(unit, "", ref)
        if found:
            inner[rec] = found
        for k in _layers(unit):
            if ref in _deps(unit[k]) and k not in found:
                complete = False
    return root, inner, complete


def _enc_sites(net: dict[str, Any], *, need_time: bool = False,
               learners: bool = False, complete: bool = False) -> list[str]:
    """Float encoder layers a searching decoder reads (transitively), with readers."""
    out: set[str] = set()
    for rec in _searching_recs(net):
        for k in _root_ancestors(net, rec):
            desc = net[k]
            cls = desc.get("class")
            if cls not in _ENC or (cls == "rec" and not isinstance(desc.get("unit"), str)):
                continue
            if cls == "copy" and not all(s in net for s in _sources(desc)):
                continue
            if need_time and not _has_time(net, k):
                continue
            root, inner, full = _enc_readers(net, k)
            if complete and not full:
                continue
            if learners:
                root = _learners(net, root)
                inner = {r: _learners(net[r]["unit"], ks) for r, ks in inner.items()}
            if root or any(inner.values()):
                out.add(k)
    return sorted(out)


def _pick_enc(net: dict[str, Any], sites: list[str], rng: random.Random) -> str:
    """An encoder site, mostly one a loop reads directly (``base:``) where there is one."""
    direct = [k for k in sites if any(_enc_readers(net, k)[1].values())]
    return rng.choice(direct if direct and rng.random() < 0.7 else sites)


def _redirect_enc(net: dict[str, Any], name: str, new: str, *, learners: bool = False) -> list[str]:
    """Let the readers of encoder layer ``name`` (root and ``base:`` in loops) read ``new``; their paths."""
    root, inner, _ = _enc_readers(net, name)
    if learners:
        root = _learners(net, root)
        inner = {r: _learners(net[r]["unit"], ks) for r, ks in inner.items()}
    _redirect(net, root, name, new)
    paths = list(root)
    for rec, ks in sorted(inner.items()):
        _redirect(net[rec]["unit"], ks, f"base:{name}", f"base:{new}")
        paths += [f"{rec}/{k}" for k in ks]
    return paths


def _mark_out(net: dict[str, Any], rec: str, names: list[str], rng: random.Random) -> str:
    """Mostly mark loop layers read from the root ``is_output_layer`` (as RETURNN asks for a layer it
    does not move out of the loop); the description's note."""
    if rng.random() < 0.35:
        return ""
    for name in names:
        net[rec]["unit"][name]["is_output_layer"] = True
    return f"; {', '.join(f'{rec}/{k}' for k in names)} marked is_output_layer"


def _places(**avail: bool) -> list[str]:
    return [p for p, ok in avail.items() if ok]


def op_pnorm_scale(case: Case, rng: random.Random) -> Result:
    """A layer divided by its p-norm over the features for its readers, or a new output of the p-norm of a
    loop layer read from the root."""
    new, net = _copy(case)
    loop, enc, after = _loop_dense(net), _enc_sites(net), _loop_dense(net, read=False)
    places = _places(loop=bool(loop), encoder=bool(enc), after=bool(after))
    if not places:
        return None
    place = rng.choice(places)
    p = rng.choice([1, 2])
    if place == "after":
        rec, name = rng.choice(after)
        axis = rng.choice(["T", "F"])
        out = _fresh(net, f"{rec}_{name}_norm{p}")
        net[out] = {"class": "math_norm", "p": p, "axis": axis, "from": f"{rec}/{name}", "is_output_layer": True}
        note = _mark_out(net, rec, [name], rng)
        return new, f"new output {out}: math_norm p={p} over {axis} of {rec}/{name} (after the loop){note}"
    if place == "loop":
        rec, name = rng.choice(loop)
        layers = net[rec]["unit"]
    else:
        rec, name = None, _pick_enc(net, enc, rng)
        layers = net
    norm = _fresh(layers, f"{name}_norm{p}")
    scaled = _fresh({*layers, norm}, f"{name}_normed")
    if rec is not None:
        readers = _readers(layers, name)
        _redirect(layers, readers, name, scaled)
        paths = [f"{rec}/{k}" for k in readers]
        where = f"{rec}/{name}"
    else:
        paths = _redirect_enc(net, name, scaled)
        where = name
    layers[norm] = {"class": "math_norm", "p": p, "axis": "F", "keep_dims": True, "from": name}
    layers[scaled] = {"class": "eval", "from": [name, norm], "eval": "source(0) / (source(1) + 1e-6)"}
    return new, (f"{', '.join(paths)} read {where} divided by its p={p} norm over F "
                 f"(math_norm {norm}, eval {scaled})")


def _reducer(name: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    axis = f"stag:{name}:stack"
    kind = rng.choice(["mean", "max", "weighted_sum"])
    if kind == "weighted_sum":
        return {"class": "weighted_sum", "axes": axis, "from": name}, "weighted_sum"
    return {"class": "reduce", "mode": kind, "axis": axis, "from": name}, f"reduce {kind}"


def op_stack_pair(case: Case, rng: random.Random) -> Result:
    """Two same-shaped layers stacked on a new axis and reduced over it, read in place of one of them."""
    new, net = _copy(case)
    loop = _loop_dense(net)
    enc = [k for k in _enc_sites(net) if isinstance(net[k].get("n_out"), int)]
    after = _loop_dense(net, read=False)
    places = _places(loop=bool(loop), encoder=bool(enc), after=bool(after))
    if not places:
        return None
    place = rng.choice(places)
    if place == "after":
        rec, name = rng.choice(after)
        unit = net[rec]["unit"]
        n_out = unit[name].get("n_out")
        twins = [k for r, k in after if r == rec and k != name and isinstance(n_out, int)
                 and unit[k].get("n_out") == n_out and unit[k].get("class") == unit[name].get("class")]
        marked = [name]
        if twins and rng.random() < 0.6:
            marked.append(rng.choice(twins))
            other = f"{rec}/{marked[-1]}"
        else:
            other = _fresh(net, f"{rec}_{name}_decided")
            net[other] = {"class": "decide", "from": f"{rec}/{name}"}
        stack = _fresh(net, f"{rec}_{name}_stack")
        net[stack] = {"class": "stack", "from": [f"{rec}/{name}", other]}
        red, what = _reducer(stack, rng)
        out = _fresh(net, f"{stack}_{what.split()[-1]}")
        net[out] = {**red, "is_output_layer": True}
        note = _mark_out(net, rec, marked, rng)
        return new, (f"new output {out}: {what} of stack {stack} of {rec}/{name} and {other} "
                     f"(after the loop){note}")
    if place == "loop":
        rec, name = rng.choice(loop)
        unit = net[rec]["unit"]
        n_out = unit[name].get("n_out")
        twins = [k for k in _layers(unit) if k != name and _is_dense(unit, k) and isinstance(n_out, int)
                 and unit[k].get("n_out") == n_out and name not in _frame_ancestors(unit, k)]
        other = rng.choice(twins) if twins and rng.random() < 0.5 else f"prev:{name}"
        stack = _fresh(unit, f"{name}_stack")
        unit[stack] = {"class": "stack", "from": [name, other]}
        red, what = _reducer(stack, rng)
        readers = [k for k in _readers(unit, name) if k != stack]
        out = _fresh(unit, f"{stack}_{what.split()[-1]}")
        unit[out] = red
        _redirect(unit, readers, name, out)
        return new, (f"{', '.join(f'{rec}/{k}' for k in readers)} read {rec}/{out}: {what} of stack "
                     f"{rec}/{stack} of {rec}/{name} and {rec}/{other}")
    name = _pick_enc(net, enc, rng)
    proj = _fresh(net, f"{name}_proj")
    stack = _fresh({*net, proj}, f"{name}_stack")
    red, what = _reducer(stack, rng)
    out = _fresh({*net, proj, stack}, f"{stack}_{what.split()[-1]}")
    paths = _redirect_enc(net, name, out)
    net[proj] = {"class": "linear", "activation": "tanh", "from": name, "n_out": net[name]["n_out"]}
    net[stack] = {"class": "stack", "from": [name, proj]}
    net[out] = red
    return new, f"{', '.join(paths)} read {out}: {what} of stack {stack} of {name} and its projection {proj}"


def op_tile_feature(case: Case, rng: random.Random) -> Result:
    """The learning readers of a layer read it with its feature axis tiled; or a new output linear reads
    a loop layer read from the root, tiled."""
    new, net = _copy(case)
    loop = [(r, k) for r, k in _loop_dense(net) if _learners(net[r]["unit"], _readers(net[r]["unit"], k))]
    enc = _enc_sites(net, learners=True)
    after = _loop_dense(net, read=False)
    places = _places(loop=bool(loop), encoder=bool(enc), after=bool(after))
    if not places:
        return None
    place = rng.choice(places)
    mult = rng.choice([2, 3])
    if place == "after":
        rec, name = rng.choice(after)
        tile = _fresh(net, f"{rec}_{name}_tiled")
        net[tile] = {"class": "tile", "multiples": {"F": mult}, "from": f"{rec}/{name}"}
        out = _fresh(net, f"{tile}_out")
        net[out] = {"class": "linear", "activation": None, "from": tile, "n_out": rng.choice([3, 5]),
                    "is_output_layer": True}
        note = _mark_out(net, rec, [name], rng)
        return new, f"new output {out}: linear of {rec}/{name} tiled {mult}x over F ({tile}, after the loop){note}"
    if place == "loop":
        rec, name = rng.choice(loop)
        unit = net[rec]["unit"]
        tile = _fresh(unit, f"{name}_tiled")
        readers = _learners(unit, _readers(unit, name))
        unit[tile] = {"class": "tile", "multiples": {"F": mult}, "from": name}
        _redirect(unit, readers, name, tile)
        return new, (f"{', '.join(f'{rec}/{k}' for k in readers)} read {rec}/{tile}: {rec}/{name} tiled "
                     f"{mult}x over F")
    name = _pick_enc(net, enc, rng)
    tile = _fresh(net, f"{name}_tiled")
    paths = _redirect_enc(net, name, tile, learners=True)
    net[tile] = {"class": "tile", "multiples": {"F": mult}, "from": name}
    return new, f"{', '.join(paths)} read {tile}: {name} tiled {mult}x over F"


def _label_decoder(net: dict[str, Any], rec: str) -> bool:
    """Whether a searching decoder's output is labels (its choice named ``output`` or its only one
    chooses from a target, not a regression)."""
    unit = net[rec]["unit"]
    choices = _unit_choices(unit)
    main = "output" if "output" in choices else choices[0]
    return unit[main].get("input_type") != "regression"


def op_resize_axis(case: Case, rng: random.Random) -> Result:
    """An axis resized: the decoder's output along time for its root readers, an encoder layer along time
    for all its readers, or a dense loop layer along its features for its learning readers."""
    new, net = _copy(case)
    after = _searching_recs(net)
    enc = _enc_sites(net, need_time=True, complete=True)
    loop = [(r, k) for r, k in _loop_dense(net) if _learners(net[r]["unit"], _readers(net[r]["unit"], k))]
    places = _places(after=bool(after), encoder=bool(enc), loop=bool(loop))
    if not places:
        return None
    place = rng.choice(places)
    if place == "after":
        rec = rng.choice(after)
        labels = _label_decoder(net, rec)
        factor = rng.choice([2, 2, 3, 0.5])
        if labels:
            kind = rng.choice(["nn", "fill"]) if isinstance(factor, int) else "nn"
        else:
            kind = rng.choice(["nn", "linear"])
        res = _fresh(net, f"{rec}_resized")
        net[res] = {"class": "resize", "factor": factor, "axis": "T", "kind": kind, "from": rec}
        what = f"kind {kind}"
        if kind == "fill":
            net[res]["fill_value"] = 0
            what += " fill_value 0"
        readers = [k for k in _readers(net, rec) if k != res]
        if readers:
            _redirect(net, readers, rec, res)
            return new, f"{', '.join(readers)} read {res}: {rec} resized over T by {factor} ({what})"
        dec = _fresh(net, f"{res}_decided")
        net[dec] = {"class": "decide", "from": res, "is_output_layer": True}
        return new, f"new output {dec} decides {res}: {rec} resized over T by {factor} ({what})"
    if place == "encoder":
        name = _pick_enc(net, enc, rng)
        factor = rng.choice([2, 0.5])
        kind = rng.choice(["nn", "linear"])
        res = _fresh(net, f"{name}_resized")
        paths = _redirect_enc(net, name, res)
        net[res] = {"class": "resize", "factor": factor, "axis": "T", "kind": kind, "from": name}
        return new, f"{', '.join(paths)} read {res}: {name} resized over T by {factor} (kind {kind})"
    rec, name = rng.choice(loop)
    unit = net[rec]["unit"]
    kind = rng.choice(["linear", "nn"])
    res = _fresh(unit, f"{name}_resized")
    readers = _learners(unit, _readers(unit, name))
    unit[res] = {"class": "resize", "factor": 2, "axis": "F", "kind": kind, "from": name}
    _redirect(unit, readers, name, res)
    return new, (f"{', '.join(f'{rec}/{k}' for k in readers)} read {rec}/{res}: {rec}/{name} resized "
                 f"over F by 2 (kind {kind})")


FRESH50_OPERATORS: tuple[Op, ...] = (
    Op("pnorm-scale", op_pnorm_scale, 1),
    Op("stack-pair", op_stack_pair, 1),
    Op("tile-feature", op_tile_feature, 1),
    Op("resize-axis", op_resize_axis, 1),
)
