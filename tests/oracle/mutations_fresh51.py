"""A fifty-third set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, held out: looked at as counts only when first measured.

Axis and dim options of layers on the beam path, inside a decoder loop (where the hypotheses of the beam
share the batch axis and a frame has no time axis), after the loop on a searching decoder's output, and on
the encoder layers the decoder attends to (none a variant of an earlier one; no rule was written for any of
them):

* ``axis-respell``: an axis option a layer already has (``axis`` / ``axes`` of ``reduce``, ``squeeze``,
  ``split``, ``split_dims``, ``merge_dims``, ``gather``, ``expand_dims``, ``softmax_over_spatial``,
  ``slice``, ...; the time key of ``set_axes`` of a ``reinterpret_data``) in a searching decoder's loop, in
  a root layer the decoder reads or in a root reader of the decoder, is written another way RETURNN reads:
  the feature axis as ``feature`` / ``f`` / ``static:-1`` / ``non_spatial`` / ``-1`` / ``except_time`` /
  ``dim:N``, the time axis as ``time`` / ``t`` / ``dyn:0`` / ``spatial`` / ``s:0`` / ``t?`` /
  ``stag:extern_data:data``, all but batch as ``static`` / ``except_time`` / ``["static:0", "F"]``, a
  spatial tag as ``T`` / ``dyn:0`` / ``spatial``; or a ``softmax_over_spatial`` in the loop that had no
  ``axis`` gets one (the encoder's time axis spelled one of those ways, now and then ``F``);
* ``stat-broadcast``: a reduction combined back with what it reduces, broadcast over the reduced axes: a
  dense loop layer (not an attention's, not a choice's scores) minus its ``mean`` / ``max`` /
  ``logsumexp`` over the features, or divided by its ``sum`` (``axes`` ``F`` / ``static:0`` /
  ``except_batch`` / ``-1`` / ``dim:N``, now and then ``T`` or ``spatial``, which a frame does not have),
  with or without ``keep_dims``; an attention's energies minus their ``max`` over the encoder frames (a
  stable softmax written out); or an encoder layer the loop reads through ``base:`` minus its ``mean`` over
  time (``T`` / ``dyn:0`` / ``spatial`` / ``stag:extern_data:data``) for every reader;
* ``loop-reinterpret``: inside a decoder loop, the readers of a loop layer in the frame (a dense layer,
  an attention's energies or weights over the encoder frames, or the choice's labels), or the readers of
  ``prev:`` of it, read a ``reinterpret_data`` of it: ``enforce_batch_major``, ``enforce_time_major``
  (which needs a time axis), or ``set_axes`` naming the feature axis (``static:-1``, ``dim:N``, ``-1``
  with ``enforce_batch_major``) or the time axis (``dyn:0``, ``spatial``, ``stag:extern_data:data``);
* ``decoder-output-axes``: the root readers of a searching decoder read its output (labels or a dense
  output) through a round trip of axis layers, or a new output layer does: ``expand_dims`` (``spatial``,
  maybe ``dim`` 2 or 3 with a ``reduce`` back) then ``squeeze`` (``dim:1`` / ``auto`` / ``-1``);
  ``swap_axes`` of ``T`` and ``F`` twice; ``split_dims`` of the features (``[2, -1]`` / ``[-1, 2]``) then
  ``merge_dims`` (``static`` / ``except_time`` / ``except_batch``); or a ``reinterpret_data`` with
  ``set_axes`` of ``T`` (``dyn:0``, ``spatial``, ``stag:`` of the decoder's target, whose time axis the
  search does not share);
* ``size-inferred``: a layer on the beam path states its size one way less or one way more: a loop
  layer with a ``target`` (the scores of a choice) loses its ``n_out`` (taken from the target), a
  ``combine`` / ``activation`` / ``copy`` / ``dropout`` / ``eval`` in the loop or a root layer the loop
  reads or that reads the decoder loses its ``n_out`` or ``out_type`` (taken from the sources), or gets an
  explicit ``n_out`` where its sources' size is known (now and then twice that size); or a loop ``linear``
  / ``softmax`` gives its size as ``out_dim``, a new feature dim of the same size, instead of ``n_out``.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _data_keys,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH51_SEED = 20270113
N_FRESH51 = 80

Result = "tuple[Case, str] | None"

#: dense loop layer classes (frame values without a time axis)
_DENSE = ("linear", "activation", "rnn_cell", "combine", "eval", "copy", "dropout", "reduce_out", "layer_norm")
#: classes whose size RETURNN takes from the sources
_SIZE_FROM_SOURCES = ("combine", "activation", "copy", "dropout", "eval", "reinterpret_data")
_AXIS_KEYS = ("axis", "axes")
_F_SPELLINGS = ("F", "feature", "f", "static:-1", "non_spatial", -1, "except_time")
_T_SPELLINGS = ("T", "time", "t", "dyn:0", "spatial", "s:0", "t?")


def _input_time_tag(case: Case) -> list[str]:
    """``stag:`` spellings of the input data's time axis (only where ``data`` is an input key)."""
    return ["stag:extern_data:data"] if "data" in _data_keys(case) else []


def _n_out(desc: dict[str, Any]) -> int | None:
    n = desc.get("n_out")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _score_layers(unit: dict[str, Any]) -> set[str]:
    """Layers a choice of the unit reads directly (its scores)."""
    return {s for c in _unit_choices(unit) for s in _sources(unit[c]) if s in unit}


def _time_layers(unit: dict[str, Any]) -> set[str]:
    """Loop layers over the encoder's frames: attention weights and the energies (frame ancestors of the
    weights that read a ``base:`` layer, directly or through another such layer)."""
    out: set[str] = set()
    for w in _layers(unit):
        if unit[w].get("class") != "softmax_over_spatial":
            continue
        out.add(w)
        anc = _frame_ancestors(unit, w)
        changed = True
        while changed:
            changed = False
            for a in sorted(anc - out):
                srcs = _sources(unit[a])
                if any(s.startswith("base:") for s in srcs) or any(s in out for s in srcs):
                    out.add(a)
                    changed = True
    return out


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _dense_frame_layers(unit: dict[str, Any]) -> list[str]:
    """Dense loop layers (no time axis of the encoder, not a choice's scores) with readers in the frame."""
    skip = _attention_layers(unit) | _score_layers(unit)
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _DENSE and k not in skip
            and not unit[k].get("target") and _readers(unit, k)]


def _encoder_roots(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers the loop of ``rec`` reads directly through ``base:`` (not data)."""
    unit = net[rec]["unit"]
    out = set()
    for k in _layers(unit):
        refs = _sources(unit[k])
        if isinstance(unit[k].get("base"), str):
            refs.append(unit[k]["base"])
        for ref in refs:
            if ref.startswith("base:") and not ref.startswith("base:data"):
                head = ref[len("base:"):].split("/", 1)[0]
                if head in net:
                    out.add(head)
    return sorted(out)


# ----------------------------------------------------------------------------------------------------


def _respell(value: Any, case: Case, rng: random.Random, n: int | None) -> Any:
    """Another spelling of an axis description (None where there is none)."""
    if isinstance(value, dict) and "__dim__" in value:
        return rng.choice(["T", "dyn:0", "spatial", *_input_time_tag(case)])
    if isinstance(value, list) or not isinstance(value, (str, int)):
        return None
    low = value.lower() if isinstance(value, str) else value
    if low in ("f", "feature", -1, "static:-1", "non_spatial"):
        opts = list(_F_SPELLINGS)
        if n is not None:
            opts.append(f"dim:{n}")
    elif low in ("t", "time", "dyn:0", "spatial", "s:0"):
        opts = [*_T_SPELLINGS, *_input_time_tag(case)]
    elif low == "except_batch":
        opts = ["static", "except_time", ["static:0", "F"]]
    elif low == "static":
        opts = ["except_batch", "except_time"]
    elif isinstance(low, str) and low.startswith("stag:"):
        opts = ["T", "dyn:0", "spatial", "s:0"]
    else:
        return None
    opts = [o for o in opts if o != value]
    return rng.choice(opts)


def op_axis_respell(case: Case, rng: random.Random) -> Result:
    """An existing axis option of a layer on the beam path written another way RETURNN reads, or an axis
    given to a loop ``softmax_over_spatial`` that had none."""
    new, net = _copy(case)
    sites: list[tuple[str | None, str, str]] = []
    recs = _searching_recs(net)
    roots: set[str] = set()
    for rec in recs:
        unit = net[rec]["unit"]
        roots |= _root_ancestors(net, rec)
        for k in _layers(unit):
            desc = unit[k]
            for key in _AXIS_KEYS:
                if key in desc:
                    sites.append((rec, k, key))
            st = desc.get("set_axes")
            if isinstance(st, dict) and any(a.lower() == "t" for a in st):
                sites.append((rec, k, "set_axes"))
            if desc.get("class") == "softmax_over_spatial" and "axis" not in desc:
                sites.append((rec, k, "+axis"))
    roots |= _beamed_roots(net)
    for k in sorted(roots):
        desc = net[k]
        if desc.get("class") == "rec":
            continue
        for key in _AXIS_KEYS:
            if key in desc:
                sites.append((None, k, key))
        st = desc.get("set_axes")
        if isinstance(st, dict) and any(a.lower() == "t" for a in st):
            sites.append((None, k, "set_axes"))
    loop_sites = [s for s in sites if s[0] is not None]
    root_sites = [s for s in sites if s[0] is None]
    rng.shuffle(loop_sites)
    rng.shuffle(root_sites)
    sites = loop_sites + root_sites if rng.random() < 0.6 else root_sites + loop_sites
    for rec, name, key in sites:
        layers = net if rec is None else net[rec]["unit"]
        desc = layers[name]
        where = name if rec is None else f"{rec}/{name}"
        if key == "+axis":
            axis = rng.choice([*_T_SPELLINGS[:5], *_input_time_tag(case), "F"])
            desc["axis"] = axis
            return new, f"{where}: softmax_over_spatial given axis {axis!r}"
        if key == "set_axes":
            old = desc["set_axes"]
            tkey = next(a for a in sorted(old) if a.lower() == "t")
            spelling = rng.choice(["dyn:0", "spatial", "s:0", *_input_time_tag(case)])
            newkey = rng.choice(["T", "t"])
            rest = {a: v for a, v in old.items() if a != tkey}
            desc["set_axes"] = {**rest, newkey: spelling}
            return new, f"{where}: set_axes {old!r} -> {desc['set_axes']!r}"
        n = None
        srcs = _sources(desc)
        if len(srcs) == 1 and srcs[0].split(":")[-1] in layers:
            n = _n_out(layers[srcs[0].split(":")[-1]])
        value = _respell(desc[key], case, rng, n)
        if value is None:
            continue
        old = desc[key]
        desc[key] = value
        return new, f"{where}: {key} {old!r} written {value!r}"
    return None


def _reduce_combine(layers: dict[str, Any], src: str, base: str, mode: str, axes: Any, keep: bool,
                    kind: str) -> tuple[str, str]:
    red = _fresh(layers, f"{base}_{mode}")
    layers[red] = {"class": "reduce", "mode": mode, "axes": axes, "keep_dims": keep, "from": src}
    comb = _fresh(layers, f"{base}_{kind}_{mode}")
    layers[comb] = {"class": "combine", "kind": kind, "from": [src, red]}
    return red, comb


def op_stat_broadcast(case: Case, rng: random.Random) -> Result:
    """A reduction of a layer combined back with it, broadcast over the reduced axes: in the loop over a
    dense layer's features or over the energies' encoder frames, or at the root over an encoder layer's
    time."""
    new, net = _copy(case)
    sites: list[tuple[str, str, str]] = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        sites += [(rec, "dense", k) for k in _dense_frame_layers(unit)]
        for w in _layers(unit):
            if unit[w].get("class") == "softmax_over_spatial":
                sites += [(rec, "energy", s) for s in _sources(unit[w]) if s in unit]
        for e in _encoder_roots(net, rec):
            if net[e].get("class") not in ("reduce", "variable", "constant", "length", "get_last_hidden_state",
                                           "range_in_axis", "rec"):
                sites.append((rec, "encoder", e))
    if not sites:
        return None
    rec, kind, name = rng.choice(sites)
    keep = rng.random() < 0.5
    unit = net[rec]["unit"]
    if kind == "dense":
        mode, op = rng.choice([("mean", "sub"), ("max", "sub"), ("logsumexp", "sub"), ("sum", "truediv")])
        n = _n_out(unit[name])
        axes_opts: list[Any] = ["F", "static:0", "except_batch", -1]
        if n is not None and n > 1:
            axes_opts.append(f"dim:{n}")
        axes = rng.choice(["T", "spatial"]) if rng.random() < 0.15 else rng.choice(axes_opts)
        readers = _readers(unit, name)
        red, comb = _reduce_combine(unit, name, name, mode, axes, keep, op)
        _redirect(unit, readers, name, comb)
        return new, (f"{rec}: {', '.join(readers)} read {comb}: {name} {op} its {mode} over {axes!r} "
                     f"({red}, keep_dims {keep})")
    axes = rng.choice(["T", "dyn:0", "spatial", *_input_time_tag(case)])
    if kind == "energy":
        readers = [r for r in _readers(unit, name) if unit[r].get("class") == "softmax_over_spatial"]
        red, comb = _reduce_combine(unit, name, name, "max", axes, keep, "sub")
        _redirect(unit, readers, name, comb)
        return new, (f"{rec}: {', '.join(readers)} read {comb}: energies {name} minus their max over the "
                     f"encoder frames {axes!r} ({red}, keep_dims {keep})")
    root_readers = [r for r in _readers(net, name) if r != rec]
    red, comb = _reduce_combine(net, name, name, "mean", axes, keep, "sub")
    _redirect(net, root_readers, name, comb)
    loop_readers = []
    for r in _recs_reading(net, name):
        u = net[r]["unit"]
        lr = _readers(u, f"base:{name}")
        _redirect(u, lr, f"base:{name}", f"base:{comb}")
        loop_readers += [f"{r}/{x}" for x in lr]
    return new, (f"{', '.join(root_readers + loop_readers)} read {comb}: encoder {name} minus its mean over "
                 f"time {axes!r} ({red}, keep_dims {keep})")


def _recs_reading(net: dict[str, Any], name: str) -> list[str]:
    return [r for r in _layers(net) if net[r].get("class") == "rec" and isinstance(net[r].get("unit"), dict)
            and _readers(net[r]["unit"], "", f"base:{name}")]


def op_loop_reinterpret(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers in the frame (or of its previous frame) read a ``reinterpret_data`` of it
    with ``enforce_batch_major`` / ``enforce_time_major`` / ``set_axes``."""
    new, net = _copy(case)
    sites: list[tuple[str, str, str, bool]] = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        times = _time_layers(unit)
        for k in _layers(unit):
            if k == "end":
                continue
            cls = unit[k].get("class")
            if k in times:
                kind = "time"
            elif cls == "choice":
                kind = "labels"
            elif cls in _DENSE or cls in ("softmax", "generic_attention", "dot_attention"):
                kind = "dense"
            else:
                continue
            if _readers(unit, k):
                sites.append((rec, k, kind, False))
            if _readers(unit, k, f"prev:{k}"):
                sites.append((rec, k, kind, True))
    if not sites:
        return None
    rec, name, kind, prev = rng.choice(sites)
    unit = net[rec]["unit"]
    n = _n_out(unit[name])
    if kind == "time":
        opts: list[dict[str, Any]] = [
            {"enforce_time_major": True}, {"enforce_batch_major": True},
            {"set_axes": {"T": rng.choice(["dyn:0", "spatial", *_input_time_tag(case)])}},
            {"enforce_time_major": True, "set_axes": {"T": 0}}]
    elif kind == "labels":
        opts = [{"enforce_batch_major": True}, {"enforce_time_major": True}, {"set_axes": {"T": None}}]
    else:
        f = [{"set_axes": {"F": "static:-1"}}, {"enforce_batch_major": True, "set_axes": {"F": -1}}]
        if n is not None:
            f.append({"set_axes": {"F": f"dim:{n}"}})
        opts = [*f, {"enforce_batch_major": True}, {"enforce_time_major": True}]
    extra = rng.choice(opts)
    ref = f"prev:{name}" if prev else name
    readers = _readers(unit, name, ref)
    new_name = _fresh(unit, f"{name}_{'prev_' if prev else ''}reinterpreted")
    unit[new_name] = {"class": "reinterpret_data", "from": ref, **extra}
    _redirect(unit, readers, ref, new_name)
    return new, f"{rec}: {', '.join(readers)} read {new_name}, {ref} reinterpreted with {extra!r}"


def op_decoder_output_axes(case: Case, rng: random.Random) -> Result:
    """A searching decoder's root readers (or a new output layer) read its output through a round trip
    of axis layers."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if "output" in net[r]["unit"]]
    if not sites:
        return None
    rec = rng.choice(sites)
    out = net[rec]["unit"]["output"]
    sparse = out.get("class") == "choice"
    n = _n_out(out)
    kinds = ["expand", "reinterpret"]
    if not sparse:
        kinds += ["swap", "split"] if n is not None and n % 2 == 0 else ["swap"]
    kind = rng.choice(kinds)
    chain: list[tuple[str, dict[str, Any]]] = []
    if kind == "expand":
        dim = rng.choice([1, 1, 2, 3])
        exp = {"class": "expand_dims", "axis": "spatial"}
        if dim != 1:
            exp["dim"] = dim
        chain.append(("expanded", exp))
        if dim == 1:
            chain.append(("squeezed", {"class": "squeeze", "axis": rng.choice(["dim:1", "auto", -1])}))
        elif sparse:
            chain.append(("squeezed", {"class": "gather", "axis": f"dim:{dim}", "position": 0}))
        else:
            chain.append(("reduced", {"class": "reduce", "mode": "mean", "axes": f"dim:{dim}"}))
    elif kind == "swap":
        other = rng.choice(["F", "feature"])
        chain.append(("swapped", {"class": "swap_axes", "axis1": "T", "axis2": other}))
        chain.append(("swapped_back", {"class": "swap_axes", "axis1": other, "axis2": "T"}))
    elif kind == "split":
        dims = rng.choice([[2, -1], [-1, 2]])
        chain.append(("split", {"class": "split_dims", "axis": "F", "dims": dims}))
        chain.append(("merged", {"class": "merge_dims", "axes": rng.choice(["static", "except_time",
                                                                           "except_batch"])}))
    else:
        targets = [k for k in _target_keys(case) if k != "data"]
        spell = ["dyn:0", "spatial", *[f"stag:extern_data:{t}" for t in targets[:1]]]
        chain.append(("reinterpreted", {"class": "reinterpret_data", "set_axes": {"T": rng.choice(spell)}}))
    readers = _readers(net, rec)
    as_output = not readers or rng.random() < 0.25
    prev = rec
    names = []
    for suffix, desc in chain:
        name = _fresh(net, f"{rec}_{suffix}")
        net[name] = {**desc, "from": prev}
        names.append(name)
        prev = name
    if as_output:
        net[prev]["is_output_layer"] = True
        return new, f"new output {prev}: {rec} through {' -> '.join(names)} ({kind})"
    _redirect(net, readers, rec, prev)
    return new, f"{', '.join(readers)} read {prev}: {rec} through {' -> '.join(names)} ({kind})"


def _known_size(layers: dict[str, Any], desc: dict[str, Any]) -> int | None:
    """The size of a layer's sources where every source is a local layer with an ``n_out``."""
    srcs = _sources(desc)
    sizes = []
    for s in srcs:
        head = s.removeprefix("prev:")
        if head not in layers or "/" in head:
            return None
        n = _n_out(layers[head])
        if n is None:
            return None
        sizes.append(n)
    if not sizes:
        return None
    if desc.get("class") == "copy":
        return sum(sizes)
    return sizes[0] if len(set(sizes)) == 1 else None


def op_size_inferred(case: Case, rng: random.Random) -> Result:
    """A layer on the beam path loses its ``n_out`` / ``out_type`` where RETURNN infers the size, or gets
    an explicit ``n_out``."""
    new, net = _copy(case)
    sites: list[tuple[str | None, str, str]] = []
    roots: set[str] = set()
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        roots |= _root_ancestors(net, rec)
        for k in _layers(unit):
            desc = unit[k]
            cls = desc.get("class")
            if "n_out" in desc and (isinstance(desc.get("target"), str) or cls in _SIZE_FROM_SOURCES):
                sites.append((rec, k, "drop"))
            elif cls == "eval" and "out_type" in desc:
                sites.append((rec, k, "drop_type"))
            elif cls in _SIZE_FROM_SOURCES and "n_out" not in desc and "out_type" not in desc \
                    and _known_size(unit, desc):
                sites.append((rec, k, "add"))
            if cls in ("linear", "softmax") and _n_out(desc):
                sites.append((rec, k, "out_dim"))
    roots |= _beamed_roots(net)
    for k in sorted(roots):
        desc = net[k]
        cls = desc.get("class")
        if cls in _SIZE_FROM_SOURCES and "n_out" in desc:
            sites.append((None, k, "drop"))
        elif cls in _SIZE_FROM_SOURCES and "n_out" not in desc and "out_type" not in desc \
                and _known_size(net, desc):
            sites.append((None, k, "add"))
    if not sites:
        return None
    rec, name, what = rng.choice(sites)
    layers = net if rec is None else net[rec]["unit"]
    desc = layers[name]
    where = name if rec is None else f"{rec}/{name}"
    if what == "drop":
        old = desc.pop("n_out")
        return new, f"{where}: n_out {old} dropped (inferred from {desc.get('target') or 'its sources'})"
    if what == "out_dim":
        n = desc.pop("n_out")
        tag = f"{where.replace('/', '-')}-feat"
        desc["out_dim"] = {"__dim__": {"description": tag, "dimension": n, "kind": "feature"}}
        return new, f"{where}: n_out {n} given as out_dim, a new feature dim {tag} of {n}"
    if what == "drop_type":
        old = desc.pop("out_type")
        return new, f"{where}: out_type {old!r} dropped (inferred from its sources)"
    size = _known_size(layers, desc)
    assert size is not None
    n = size * 2 if rng.random() < 0.25 else size
    desc["n_out"] = n
    return new, f"{where}: explicit n_out {n} (its sources give {size})"


FRESH51_OPERATORS: tuple[Op, ...] = (
    Op("axis-respell", op_axis_respell, 1),
    Op("stat-broadcast", op_stat_broadcast, 1),
    Op("loop-reinterpret", op_loop_reinterpret, 1),
    Op("decoder-output-axes", op_decoder_output_axes, 1),
    Op("size-inferred", op_size_inferred, 1),
)
