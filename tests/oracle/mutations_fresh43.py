"""A forty-fifth set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Encoder layouts and axes as a searching decoder sees them: time-major encoders, explicit axis moves, time
reductions before the keys / values the loop reads through ``base:``, and reinterpreted encoder outputs,
with the loop's ``max_seq_len`` maybe following the new encoder layer (none a variant of an earlier
operator; no rule was written for any of them):

* ``lstm-encoder``: a root encoder layer a searching decoder reads (with a time axis and a known feature
  size) is followed by a recurrent layer with a string unit (``lstm``, ``nativelstm2``, ``standardlstm`` or
  ``gru``: RETURNN runs it time-major), one-directional or a forward and a backward one concatenated
  (``copy`` of both, half the size each), of the same size; every reader of the encoder layer (root
  layers, loop layers through ``base:``, the loop's ``max_len_from`` maybe) reads the new layer instead;
  or, where the encoder layer is a ``linear`` over the dense input only, it becomes such a ``rec`` over
  the input itself;
* ``encoder-axes``: the readers of such an encoder layer (root readers and ``base:`` readers in the loop,
  ``max_len_from`` maybe) read it through an explicit axis move: ``swap_axes`` of batch and time (time-major)
  or of time and feature, or a ``transpose`` (``perm``) that puts time first or feature before time, maybe
  followed by a second ``swap_axes`` that moves batch and time back;
* ``encoder-downsample``: a time reduction is put after a root encoder layer that every encoder layer the
  loop reads with a time axis derives from (each of its readers reading nothing else), or, now and then
  (0.3, or where there is no such layer), after one encoder layer the loop reads directly while others it
  reads do not derive from it (the attention keys reduced, the values not): ``pool`` (``max`` /
  ``avg``, ``pool_size`` 2 or 3, ``padding`` ``same`` or ``valid``, strides given or left to the pool
  size), a ``conv`` with ``strides`` (``filter_size`` 2, 3 or 5, ``padding`` ``same`` / ``valid``, the same
  ``n_out``), a ``window`` with ``stride`` (``window_size`` 2 or 3) + ``merge_dims`` of the window and
  the features + a ``linear`` back to the old size, or ``split_dims`` of time into (-1, 2 or 3) +
  ``merge_dims`` + ``linear``; all its readers read the reduced layer, and the loop's ``max_seq_len``
  (a ``max_len_from`` of an encoder layer) stays, or is taken from the reduced layer (maybe times the
  factor);
* ``encoder-reinterpret``: the readers of an encoder layer the loop reads read it through a
  ``reinterpret_data``: ``enforce_time_major`` / ``enforce_batch_major``, ``size_base`` of the input data
  (where nothing in between changes the time axis) or of the decoder's target data (the encoder frames
  given the target's lengths, as for a framewise model), ``set_dim_tags`` of the time axis to a new dim tag
  (where every encoder layer the loop reads with a time axis derives from it, or on one layer the loop
  reads directly while the others keep the old time axis), or ``set_axes`` naming
  the time axis ``T`` explicitly (maybe with a ``swap_axes`` of batch and time before it).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _fresh,
    _head,
    _inner_nets,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _refs,
    _searching_recs,
    _sources,
    _target_keys,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH43_SEED = 20270105
N_FRESH43 = 80

Result = "tuple[Case, str] | None"

#: root layer classes that keep the time axis and the feature size of their (first) source
_SAME_DIM = ("dropout", "activation", "reinterpret_data", "combine", "layer_norm", "batch_norm", "cast",
             "scale_gradient", "swap_axes", "transpose", "pool", "norm")
#: root layer classes that keep the time axis (the length may change)
_KEEP_TIME = (*_SAME_DIM, "copy", "linear", "rec", "conv", "window", "eval", "concat", "merge_dims",
              "softmax", "split_dims", "postfix_in_time", "prefix_in_time", "slice", "generic_attention",
              "dot", "subnetwork")
#: root layer classes that change the time axis's length
_TIME_CHANGING = ("pool", "conv", "window", "split_dims", "slice", "slice_nd", "postfix_in_time",
                  "prefix_in_time", "merge_dims", "time_chunking", "unflatten_nd", "fold")
_UNITS = ("lstm", "nativelstm2", "standardlstm", "gru")


def _ext(case: Case, key: str) -> dict[str, Any] | None:
    ext = (case.get("extern_data") or {}).get(key)
    return ext if isinstance(ext, dict) else None


def _data_key(ref: str) -> str | None:
    """The extern-data key a root reference names (``data`` -> ``data``, ``data:X`` -> ``X``)."""
    if ref == "data":
        return "data"
    if ref.startswith("data:") and "/" not in ref:
        return ref[len("data:"):]
    return None


def _srcs(desc: dict[str, Any]) -> list[str]:
    """``from`` of a root layer as a list of strings; RETURNN's default ``data`` where it is not given."""
    return _sources(desc) if "from" in desc else ["data"]


def _dim(case: Case, net: dict[str, Any], ref: str, depth: int = 0) -> int | None:
    """The feature size of a root layer (or dense data key), where it can be read off the dicts."""
    if depth > 30:
        return None
    key = _data_key(ref)
    if key is not None:
        ext = _ext(case, key)
        if ext is not None:
            if ext.get("sparse") or ext.get("sparse_dim"):
                return None
            return ext["dim"] if isinstance(ext.get("dim"), int) else None
        num = (case.get("num_inputs") if key == "data" else None)
        return num if isinstance(num, int) else None
    desc = net.get(ref)
    if not isinstance(desc, dict):
        return None
    cls = desc.get("class")
    if cls == "rec" and isinstance(desc.get("unit"), dict):
        return None
    if isinstance(desc.get("n_out"), int) and cls not in ("merge_dims", "split_dims"):
        return desc["n_out"]
    srcs = _srcs(desc)
    if not srcs:
        return None
    if cls == "copy":
        dims = [_dim(case, net, s, depth + 1) for s in srcs]
        return sum(dims) if all(d is not None for d in dims) else None  # type: ignore[misc]
    if cls in _SAME_DIM or (cls == "eval" and "out_type" not in desc):
        return _dim(case, net, srcs[0], depth + 1)
    return None


def _has_time(case: Case, net: dict[str, Any], ref: str, depth: int = 0) -> bool:
    """Whether a root layer (roughly) keeps the time axis of the input."""
    if depth > 30:
        return False
    key = _data_key(ref)
    if key is not None:
        ext = _ext(case, key)
        shape = ext.get("shape") if ext else None
        return not (isinstance(shape, list) and None not in shape)
    desc = net.get(ref)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls not in _KEEP_TIME or (cls == "rec" and isinstance(desc.get("unit"), dict)):
        return False
    if cls == "subnetwork":
        return False
    srcs = _srcs(desc)
    return bool(srcs) and _has_time(case, net, srcs[0], depth + 1)


def _loop_root_reads(net: dict[str, Any], rec: str) -> set[str]:
    """Root references a loop reads: ``base:X`` of its unit layers (nested ones included) and the rec
    layer's own ``from``, as root reference strings (``X``, ``data:KEY``)."""
    out: set[str] = set()

    def visit(layers: dict[str, Any], prefix: str) -> None:
        for k in _layers(layers):
            desc = layers[k]
            for ref in _refs(desc):
                if ref.startswith(prefix) and not ref[len(prefix):].startswith("base:"):
                    out.add(ref[len(prefix):])
            for sub in _inner_nets(desc):
                visit(sub, "base:" + prefix)

    visit(net[rec]["unit"], "base:")
    out.update(_srcs(net[rec]))
    return {r for r in out if not r.startswith("prev:")}


def _root_ref_ancestors(net: dict[str, Any], ref: str) -> set[str]:
    """Root layers (and data references) ``ref`` reads, transitively (itself not included)."""
    seen: set[str] = set()
    stack = [ref]
    while stack:
        desc = net.get(_head(stack.pop()) or "")
        if not isinstance(desc, dict) or (desc.get("class") == "rec" and isinstance(desc.get("unit"), dict)):
            continue
        for r in _refs(desc) + ([] if "from" in desc else ["data"]):
            name = _head(r) or r
            if (name in net or _data_key(r) is not None) and name not in seen:
                seen.add(name)
                stack.append(name)
    return seen


def _encoder_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str]]:
    """(searching rec, root encoder layer) pairs: a layer with a time axis the loop reads, directly or
    through other root layers, that carries no beam."""
    beamed = _beamed_roots(net)
    out = []
    for rec in _searching_recs(net):
        reads = _loop_root_reads(net, rec)
        names: set[str] = set()
        for r in reads:
            name = _head(r)
            if name in net:
                names.add(name)
                names |= {a for a in _root_ref_ancestors(net, name) if a in net}
        for name in sorted(names):
            desc = net[name]
            cls = desc.get("class")
            if name in beamed or cls in ("choice", "decide", "decide_keep_beam", "subnetwork") or (
                    cls == "rec" and isinstance(desc.get("unit"), dict)):
                continue
            if _has_time(case, net, name):
                out.append((rec, name))
    return out


def _direct(net: dict[str, Any], rec: str) -> set[str]:
    """Root layers the loop reads directly (``base:X`` in its unit, its ``from``)."""
    return {h for r in _loop_root_reads(net, rec) if (h := _head(r)) in net}


def _near(net: dict[str, Any], rec: str) -> set[str]:
    """Root layers the loop reads directly (``base:X``, its ``from``) and the layers those read."""
    out = _direct(net, rec)
    for name in sorted(out):
        out = out | {h for r in _srcs(net[name]) if (h := _head(r)) in net}
    return out


def _pick(rng: random.Random, net: dict[str, Any], sites: list[tuple[str, str]]) -> tuple[str, str]:
    """A (rec, layer) site, one close to the loop (read by it or by what it reads) with probability 0.6."""
    sites = sorted(set(sites))
    near = [(rec, name) for rec, name in sites if name in _near(net, rec)]
    return rng.choice(near if near and rng.random() < 0.6 else sites)


def _rename_ref(ref: str, old: str, new: str, prefix: str) -> str:
    if ref == prefix + old:
        return prefix + new
    if ref.startswith(prefix + old + "/"):
        return prefix + new + ref[len(prefix + old):]
    return ref


def _reroute(net: dict[str, Any], old: str, new: str, keep: set[str], rng: random.Random | None,
             max_len: str | None = None) -> list[str]:
    """Let every reader of root layer ``old`` (root layers but ``keep``, loop layers through ``base:``,
    nested ones too) read ``new``; a loop's ``max_len_from('base:old')`` follows with probability 1/2
    (``max_len``, when given, is what it becomes). Returns the readers' paths."""
    readers: list[str] = []
    for k in _layers(net):
        if k in keep or k == new:
            continue
        before = list(_refs(net[k]))
        _map_refs(net[k], lambda r: _rename_ref(r, old, new, ""))
        if _refs(net[k]) != before:
            readers.append(k)

    def visit(layers: dict[str, Any], prefix: str, path: str) -> None:
        for k in _layers(layers):
            desc = layers[k]
            before = list(_refs(desc))
            _map_refs(desc, lambda r: _rename_ref(r, old, new, prefix))
            if _refs(desc) != before:
                readers.append(f"{path}/{k}")
            for sub in _inner_nets(desc):
                visit(sub, "base:" + prefix, f"{path}/{k}")

    for rec in _recs(net):
        visit(net[rec]["unit"], "base:", rec)
        msl = net[rec].get("max_seq_len")
        if isinstance(msl, str) and f"'base:{old}'" in msl and rng is not None and rng.random() < 0.5:
            net[rec]["max_seq_len"] = max_len or msl.replace(f"'base:{old}'", f"'base:{new}'")
            readers.append(f"{rec} (max_seq_len {net[rec]['max_seq_len']})")
    return readers


def _covers(case: Case, net: dict[str, Any], rec: str, name: str) -> bool:
    """Whether every root reference with a time axis the loop reads is ``name`` or derives from it, and
    every root reader of ``name`` reads nothing else (so that a new time axis after it reaches all of them
    alike)."""
    for r in _loop_root_reads(net, rec):
        head = _head(r)
        if head == name:
            continue
        if head is None or head not in net:
            if _data_key(r) is not None and _has_time(case, net, r):
                return False
            continue
        if _has_time(case, net, head) and name not in _root_ref_ancestors(net, head):
            return False
    for reader in _readers(net, name):
        desc = net[reader]
        if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
            if reader != rec and _sources(desc) and name in _sources(desc):
                return False
            continue
        if any(_head(r) != name for r in _refs(desc)):
            return False
    return True


def op_lstm_encoder(case: Case, rng: random.Random) -> Result:
    """An encoder layer the decoder reads is followed by (or becomes) a time-major ``rec`` with a string
    unit of the same size; its readers read the new layer."""
    new, net = _copy(case)
    sites = [(rec, name) for rec, name in _encoder_sites(case, net)
             if (d := _dim(case, net, name)) is not None and d >= 2]
    if not sites:
        return None
    _, name = _pick(rng, net, sites)
    desc = net[name]
    dim = _dim(case, net, name)
    assert dim is not None
    unit = rng.choice(_UNITS)
    srcs = _srcs(desc)
    dense_in = srcs and all(_data_key(s) is not None and _dim(case, net, s) is not None for s in srcs)
    if desc.get("class") == "linear" and dense_in and rng.random() < 0.4:
        lstm = {"class": "rec", "unit": unit, "from": desc.get("from", "data"), "n_out": dim}
        for key in ("is_output_layer", "dropout"):
            if key in desc:
                lstm[key] = desc[key]
        net[name] = lstm
        return new, f"{name} becomes a rec layer with unit {unit} over {lstm['from']} (n_out {dim})"
    if dim % 2 == 0 and rng.random() < 0.5:
        fw, bw = _fresh(net, f"{name}_lstm_fw"), _fresh(net, f"{name}_lstm_bw")
        net[fw] = {"class": "rec", "unit": unit, "direction": 1, "from": name, "n_out": dim // 2}
        net[bw] = {"class": "rec", "unit": unit, "direction": -1, "from": name, "n_out": dim // 2}
        out = _fresh(net, f"{name}_blstm")
        net[out] = {"class": "copy", "from": [fw, bw]}
        readers = _reroute(net, name, out, {fw, bw, out}, rng)
        what = f"a bidirectional {unit} ({fw} + {bw}, copied into {out})"
    else:
        out = _fresh(net, f"{name}_lstm")
        net[out] = {"class": "rec", "unit": unit, "from": name, "n_out": dim}
        readers = _reroute(net, name, out, {out}, rng)
        what = f"a rec layer {out} with unit {unit}"
    if not readers:
        return None
    return new, f"{name} is followed by {what}, n_out {dim}; {', '.join(readers)} read {out}"


def op_encoder_axes(case: Case, rng: random.Random) -> Result:
    """The readers of an encoder layer the decoder reads read it through ``swap_axes`` / ``transpose``."""
    new, net = _copy(case)
    sites = _encoder_sites(case, net)
    if not sites:
        return None
    _, name = _pick(rng, net, sites)
    kind = rng.choice(["swap-bt", "swap-tf", "transpose-t", "transpose-f", "swap-back"])
    if kind == "swap-bt":
        layers = [{"class": "swap_axes", "axis1": "B", "axis2": "T", "from": name}]
        what = "swap_axes B <-> T (time-major)"
    elif kind == "swap-tf":
        layers = [{"class": "swap_axes", "axis1": "T", "axis2": "F", "from": name}]
        what = "swap_axes T <-> F"
    elif kind == "transpose-t":
        layers = [{"class": "transpose", "perm": {"B": "T", "T": "B"}, "from": name}]
        what = "transpose with time first"
    elif kind == "transpose-f":
        layers = [{"class": "transpose", "perm": {"T": "F", "F": "T"}, "from": name}]
        what = "transpose with the features before time"
    else:
        layers = [{"class": "swap_axes", "axis1": "B", "axis2": "T", "from": name},
                  {"class": "swap_axes", "axis1": "T", "axis2": "B"}]
        what = "swap_axes B <-> T and back"
    names = []
    for i, layer in enumerate(layers):
        lname = _fresh(net, f"{name}_{layer['class']}" + (f"{i + 1}" if len(layers) > 1 else ""))
        if i:
            layer["from"] = names[-1]
        net[lname] = layer
        names.append(lname)
    out = names[-1]
    readers = _reroute(net, name, out, set(names), rng)
    if not readers:
        return None
    return new, f"{name} read through {' -> '.join(names)} ({what}); {', '.join(readers)} read {out}"


def op_encoder_downsample(case: Case, rng: random.Random) -> Result:
    """A time reduction after an encoder layer all the loop's timed encoder inputs derive from; its
    readers read the reduced layer."""
    new, net = _copy(case)
    sites, partial = [], []
    for rec, name in _encoder_sites(case, net):
        if (d := _dim(case, net, name)) is None or d < 2:
            continue
        if _covers(case, net, rec, name):
            sites.append((rec, name))
        elif name in _direct(net, rec):
            partial.append((rec, name))
    if partial and (not sites or rng.random() < 0.3):
        sites = partial
    if not sites:
        return None
    rec, name = _pick(rng, net, sites)
    dim = _dim(case, net, name)
    assert dim is not None
    factor = rng.choice([2, 3])
    kind = rng.choice(["pool", "conv", "window", "split"])
    added: list[str] = []
    if kind == "pool":
        out = _fresh(net, f"{name}_pool")
        net[out] = {"class": "pool", "mode": rng.choice(["max", "avg"]), "pool_size": [factor],
                    "padding": rng.choice(["same", "valid"]), "from": name}
        if rng.random() < 0.5:
            net[out]["strides"] = [factor]
        net[out]["trainable"] = False
        what = f"pool {net[out]['mode']} pool_size [{factor}] padding {net[out]['padding']}"
        added = [out]
    elif kind == "conv":
        out = _fresh(net, f"{name}_conv")
        width = rng.choice([2, 3, 5])
        net[out] = {"class": "conv", "filter_size": [width], "strides": factor,
                    "padding": rng.choice(["same", "valid"]), "n_out": dim,
                    "activation": rng.choice([None, "relu"]), "from": name}
        what = f"conv filter_size [{width}] strides {factor} padding {net[out]['padding']}"
        added = [out]
    else:
        if kind == "window":
            first = _fresh(net, f"{name}_window")
            net[first] = {"class": "window", "window_size": factor, "stride": factor, "from": name}
            what = f"window {factor} stride {factor}"
        else:
            first = _fresh(net, f"{name}_split_time")
            net[first] = {"class": "split_dims", "axis": "T", "dims": [-1, factor], "from": name}
            what = f"split_dims of T into (-1, {factor})"
        merged = _fresh(net, f"{name}_stacked")
        net[merged] = {"class": "merge_dims", "axes": "except_time", "from": first}
        out = _fresh(net, f"{name}_reduced")
        net[out] = {"class": "linear", "activation": rng.choice([None, "relu", "tanh"]), "n_out": dim,
                    "from": merged}
        what += f" + merge_dims + linear {dim}"
        added = [first, merged, out]
    msl = net[rec].get("max_seq_len")
    max_len = None
    note = ""
    if isinstance(msl, str) and "max_len_from" in msl:
        roll = rng.random()
        if roll < 0.35:
            max_len = f"max_len_from('base:{out}')"
        elif roll < 0.6:
            max_len = f"max_len_from('base:{out}') * {factor}"
        if max_len:
            net[rec]["max_seq_len"] = max_len
            note = f"; {rec} max_seq_len = {max_len}"
    readers = _reroute(net, name, out, set(added), None)
    if not readers:
        return None
    return new, f"{name} reduced in time by {' -> '.join(added)} ({what}); {', '.join(readers)} read {out}{note}"


def op_encoder_reinterpret(case: Case, rng: random.Random) -> Result:
    """The readers of an encoder layer the decoder reads read it through a ``reinterpret_data``."""
    new, net = _copy(case)
    sites = _encoder_sites(case, net)
    if not sites:
        return None
    rec, name = _pick(rng, net, sites)
    kinds = ["time-major", "batch-major", "set-axes"]
    anc = _root_ref_ancestors(net, name) | {name}
    if not any(net[a].get("class") in _TIME_CHANGING for a in anc if a in net) and any(
            _data_key(a) == "data" for a in anc):
        kinds.append("size-data")
    targets = [k for k in _target_keys(case) if k != "data" and _ext(case, k) is not None]
    if targets:
        kinds.append("size-target")
    if _covers(case, net, rec, name):
        kinds += ["new-tag", "new-tag"]
    elif name in _direct(net, rec):
        kinds.append("new-tag")
    kind = rng.choice(kinds)
    pre: list[str] = []
    if kind == "time-major":
        opts: dict[str, Any] = {"enforce_time_major": True}
    elif kind == "batch-major":
        opts = {"enforce_batch_major": True}
        if rng.random() < 0.5:
            swap = _fresh(net, f"{name}_time_major")
            net[swap] = {"class": "swap_axes", "axis1": "B", "axis2": "T", "from": name}
            pre.append(swap)
    elif kind == "set-axes":
        opts = {"set_axes": {"T": rng.choice(["T", "dyn:-1", "spatial:0"])}}
        if rng.random() < 0.4:
            swap = _fresh(net, f"{name}_time_major")
            net[swap] = {"class": "swap_axes", "axis1": "B", "axis2": "T", "from": name}
            pre.append(swap)
    elif kind == "size-data":
        opts = {"size_base": "data"}
    elif kind == "size-target":
        opts = {"size_base": f"data:{rng.choice(targets)}"}
    else:
        opts = {"set_dim_tags": {"T": {"__dim__": {"description": f"{name}-time", "dimension": None,
                                                   "kind": "spatial"}}}}
    out = _fresh(net, f"{name}_reinterpreted")
    net[out] = {"class": "reinterpret_data", "from": pre[-1] if pre else name, **opts}
    readers = _reroute(net, name, out, {out, *pre}, rng)
    if not readers:
        return None
    via = f"{pre[0]} (swap_axes B <-> T) and " if pre else ""
    shown = {k: v for k, v in opts.items() if k != "set_dim_tags"} or {"set_dim_tags": f"T -> new {name}-time"}
    return new, f"{', '.join(readers)} read {name} through {via}{out} (reinterpret_data {shown})"


FRESH43_OPERATORS: tuple[Op, ...] = (
    Op("lstm-encoder", op_lstm_encoder, 1),
    Op("encoder-axes", op_encoder_axes, 1),
    Op("encoder-downsample", op_encoder_downsample, 1),
    Op("encoder-reinterpret", op_encoder_reinterpret, 1),
)
