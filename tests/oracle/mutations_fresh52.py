"""A fifty-fourth set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Networks rewritten into the returnn_common / explicit-dim style newer RETURNN users generate: dims declared
as objects (``{"__dim__": ...}``, the same declaration meaning the same dim) instead of sizes, the data
keys declared in ``extern_data`` with ``dims`` and a ``sparse_dim`` (converted from ``dim`` / ``sparse`` or
``num_outputs`` where the base used those), and axes named by the declared dims; mostly with the same
sizes, now and then declaring a dim twice, mixing a declared dim with a size or naming an axis by a dim the
layer does not have (none a variant of an earlier operator; no rule was written for any of them):

* ``vocab-dim``: a choice's target key is declared with a sparse dim of its own (the vocabulary), and the
  choice's scores (``softmax`` / ``linear`` with a softmax activation) give their size as ``out_dim`` that
  dim instead of ``n_out`` (now and then keeping ``n_out`` as well); maybe the choice names it as its
  ``out_dim`` and the label embeddings over ``prev:`` of the choice name it as ``in_dim`` (a choice
  without a target gets a new vocabulary dim of its scores' size); now and then the scores' dim is a
  second declaration of the vocabulary (another dim of the same size, or one label larger, as for a
  blank) that the choice or the embeddings name instead of the target's;
* ``decoder-time-dim``: the time axis of a searching decoder's output is named by a dim at the root: the
  rec layer gets ``axis`` a new dynamic dim of its own, or the declared time dim of its target key (as a
  training setup loops over the target's frames), or (looping over an input sequence) the declared time
  dim of the input data, or no ``axis`` at all; a new root output layer names that dim: ``length`` of the
  decoder along it, ``range_in_axis`` over it, or a ``reduce`` (``mean`` / ``max``) over it of a root
  embedding of the decoder's output (``linear`` with a declared ``out_dim``);
* ``encoder-axis-dims``: the input data is declared with a time dim, and the axes over the encoder frames
  are named by it: the ``axis`` of ``softmax_over_spatial`` in a decoder loop whose energies come from
  encoder layers derived from the data frame by frame (read through ``base:``), and the ``axis`` of a root
  ``reduce`` / ``softmax_over_spatial`` over such a layer; one site or all of them; now and then the dim
  named is one the layer does not have (a new time dim declared for the encoder but never bound to the
  data, or the declared time dim of the decoder's target key);
* ``split-merge-dims``: a dense ``linear`` / ``rnn_cell`` of a decoder loop (its size declared as an
  ``out_dim`` for a ``linear``) is split into declared head dims (``split_dims`` with ``dims`` two dim
  objects, the axis named by the declared feature dim or ``F``) and merged back (``merge_dims`` of the two
  dims, maybe in the other order, with ``out_dim`` the old feature dim or a new one of the same size); the
  layer's readers in the frame read the merged one; now and then the split names the feature axis by a
  second declaration of the feature dim that the layer does not have;
* ``history-dims``: a dense loop ``linear`` is accumulated over the frames by ``cum_concat`` with a
  declared ``out_spatial_dim`` (the decoder's history), and that dim is named: a ``reduce`` (``mean`` /
  ``max``) over it read as an extra source by a dense loop layer the scores depend on (``prev:`` of it
  where that layer feeds the accumulated one), or the ``length`` of the history along it (``cast`` to
  float) added to a dense loop layer for its readers; now and then the axis is named by a second
  declaration of the history dim or by the input data's declared time dim, which the history does not
  have.
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
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH52_SEED = 20270114
N_FRESH52 = 80

Result = "tuple[Case, str] | None"

BATCH: dict[str, Any] = {"__dim__": {"description": "global batch", "dimension": None, "is_batch_dim": True,
                                     "kind": "batch"}}
#: root layer classes that keep their input's time axis frame by frame (and a ``rec`` with a string unit)
_FRAMEWISE = ("linear", "copy", "activation", "combine", "dropout", "layer_norm", "eval", "softmax",
              "batch_norm")


def _dim(description: str, dimension: int | None, kind: str) -> dict[str, Any]:
    return {"__dim__": {"description": description, "dimension": dimension, "kind": kind}}


def _is_dim(value: Any) -> bool:
    return isinstance(value, dict) and "__dim__" in value


def _size(desc: dict[str, Any]) -> int | None:
    """The feature size a layer states (``n_out``, or the dimension of a declared ``out_dim``)."""
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    out = desc.get("out_dim")
    if _is_dim(out) and isinstance(out["__dim__"].get("dimension"), int):
        return out["__dim__"]["dimension"]
    return None


def _feature_dim(desc: dict[str, Any], description: str) -> tuple[dict[str, Any], int] | None:
    """A layer's declared feature dim: its ``out_dim`` if it has one, else a new one of its ``n_out``
    (``n_out`` dropped)."""
    out = desc.get("out_dim")
    if _is_dim(out) and isinstance(out["__dim__"].get("dimension"), int):
        return out, out["__dim__"]["dimension"]
    if isinstance(desc.get("n_out"), int):
        n = desc.pop("n_out")
        dim = _dim(description, n, "feature")
        desc["out_dim"] = dim
        return dim, n
    return None


# ----------------------------------------------------------------------------------------------------
# extern_data in the explicit-dim style


def _extern(case: Case) -> dict[str, Any] | None:
    """The case's data keys as an ``extern_data`` dict (from ``num_outputs`` where it has no
    ``extern_data``)."""
    if case.get("extern_data"):
        return case["extern_data"]
    num = case.get("num_outputs")
    if not isinstance(num, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in num.items():
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
            return None
        dim, ndim = value
        if ndim == 1:
            out[key] = {"dim": dim, "sparse": True, "shape": [None]}
        elif ndim == 2:
            out[key] = {"dim": dim, "shape": [None, dim]}
        else:
            return None
    if "data" not in out:
        n_in = case.get("num_inputs")
        if not isinstance(n_in, int):
            return None
        out["data"] = {"dim": n_in, "shape": [None, n_in]}
    return out


def _declared(entry: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(the entry written with ``dims`` / ``sparse_dim``, or the entry itself if it is) of one data key."""
    if "dims" in entry:
        dims = entry["dims"]
        if not (isinstance(dims, list) and len(dims) >= 2 and all(_is_dim(d) for d in dims)):
            return None
        if dims[1]["__dim__"].get("kind") != "spatial":
            return None
        return entry, None
    allowed = {"dim", "sparse", "shape", "available_for_inference", "same_dim_tags_as", "dtype"}
    if set(entry) - allowed or not isinstance(entry.get("dim"), int):
        return None
    sparse = bool(entry.get("sparse"))
    dim = entry["dim"]
    shape = entry.get("shape", [None] if sparse else [None, dim])
    if shape != ([None] if sparse else [None, dim]):
        return None
    tags = entry.get("same_dim_tags_as") or {}
    if set(tags) - {"t"}:
        return None
    time = tags.get("t") if _is_dim(tags.get("t")) else _dim(f"{key}-time", None, "spatial")
    new: dict[str, Any] = {"dims": [BATCH, time]}
    if sparse:
        new["sparse_dim"] = _dim(f"{key}-vocab", dim, "feature")
        new["dtype"] = "int32"
    else:
        new["dims"].append(_dim(f"{key}-feature", dim, "feature"))
        new["dtype"] = entry.get("dtype", "float32")
    if "available_for_inference" in entry:
        new["available_for_inference"] = entry["available_for_inference"]
    new.update(name=key, version=1)  # the serialised Tensor form, as RETURNN writes it
    return new, entry


def _declare(new: Case, key: object) -> dict[str, Any] | None:
    """Declare data ``key`` with dims in ``new``'s extern_data (converting the case's data description);
    returns the key's entry (``dims``: batch, time[, feature]; ``sparse_dim`` for labels), or None."""
    if not isinstance(key, str):
        return None
    ext = _extern(new)
    if ext is None or not isinstance(ext.get(key), dict):
        return None
    res = _declared(ext[key], key)
    if res is None:
        return None
    entry, _ = res
    ext = dict(ext)
    ext[key] = entry
    new["extern_data"] = ext
    new.pop("num_outputs", None)
    new.pop("num_inputs", None)
    return entry


def _can_declare(case: Case, key: object) -> bool:
    ext = _extern(case)
    return isinstance(key, str) and ext is not None and isinstance(ext.get(key), dict) \
        and _declared(ext[key], key) is not None


def _time_of(entry: dict[str, Any]) -> dict[str, Any]:
    return entry["dims"][1]


def _vocab_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    sparse = entry.get("sparse_dim")
    return sparse if _is_dim(sparse) else None


def _rec_target(net: dict[str, Any], rec: str) -> str | None:
    """The target key of a decoder: the rec's own, else its first choice's with a string target."""
    target = net[rec].get("target")
    if isinstance(target, list):
        target = target[0] if target else None
    if isinstance(target, str):
        return target.split(":", 1)[-1]
    unit = net[rec]["unit"]
    for c in _unit_choices(unit):
        t = unit[c].get("target")
        if isinstance(t, str):
            return t
    return None


def _framewise_of(net: dict[str, Any], origin: str) -> set[str]:
    """Root layers derived frame by frame from ``origin`` (``data``, or a root layer), whose time axis is
    therefore ``origin``'s."""
    roots = {"data", "data:data"} if origin == "data" else {origin}
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(net):
            desc = net[k]
            lstm = desc.get("class") == "rec" and isinstance(desc.get("unit"), str) and "axis" not in desc
            if k in out or k in roots or not (desc.get("class") in _FRAMEWISE or lstm):
                continue
            srcs = _sources(desc)
            if srcs and all(s in roots or s in out for s in srcs):
                out.add(k)
                changed = True
    return out


def _framewise_of_data(net: dict[str, Any]) -> set[str]:
    """Root layers derived from the input data frame by frame (time axis = the data's time axis)."""
    return _framewise_of(net, "data")


def _time_origins(case: Case, net: dict[str, Any]) -> dict[str, set[str]]:
    """Where an encoder's time axis can be declared: ``data`` (by its extern_data) and one-dimensional
    ``pool`` layers over time (by ``out_spatial_dims``), each with what derives from it frame by frame."""
    out: dict[str, set[str]] = {}
    if _can_declare(case, "data"):
        out["data"] = _framewise_of(net, "data") | {"data", "data:data"}
    for k in _layers(net):
        desc = net[k]
        size = desc.get("pool_size")
        if desc.get("class") == "pool" and isinstance(size, list | tuple) and len(size) == 1 \
                and isinstance(size[0], int) and "out_spatial_dims" not in desc:
            out[k] = _framewise_of(net, k) | {k}
    return out


# ----------------------------------------------------------------------------------------------------
# Operators


def op_vocab_dim(case: Case, rng: random.Random) -> Result:
    """A choice's scores sized by a declared vocabulary dim (the target's sparse dim)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("input_type") == "regression":
                continue
            srcs = _sources(unit[c])
            if len(srcs) != 1 or srcs[0] not in unit:
                continue
            scores = unit[srcs[0]]
            if not (scores.get("class") == "softmax" or (scores.get("class") == "linear" and scores.get(
                    "activation") in ("softmax", "log_softmax"))):
                continue
            target = unit[c].get("target")
            if target is None and isinstance(scores.get("n_out"), int):
                sites.append((rec, c, srcs[0], None))
            elif _can_declare(case, target):
                sites.append((rec, c, srcs[0], target))
    if not sites:
        return None
    rec, choice, scores, key = rng.choice(sites)
    unit = net[rec]["unit"]
    sdesc = unit[scores]
    if key is None:
        n = sdesc["n_out"]
        vocab = _dim(f"{rec}/{choice}:labels", n, "feature")
        named = f"a new vocabulary dim ({n})"
    else:
        entry = _declare(new, key)
        vocab = _vocab_of(entry) if entry else None
        if vocab is None:
            return None
        n = vocab["__dim__"]["dimension"]
        if isinstance(sdesc.get("n_out"), int) and sdesc["n_out"] != n:
            return None
        named = f"the sparse dim of {key} ({n})"
    bad = rng.random() < 0.3
    own = vocab
    if bad:
        extra = rng.choice([0, 1])
        own = _dim(f"{rec}/{scores}:vocab", n + extra, "feature")
    keep_n_out = rng.random() < 0.2 and "n_out" in sdesc and not bad
    if not keep_n_out:
        sdesc.pop("n_out", None)
    sdesc["out_dim"] = own
    parts = [f"{rec}/{scores} out_dim {named}" + (" (n_out kept)" if keep_n_out else "")]
    if bad:
        size = own["__dim__"]["dimension"]
        parts = [f"{rec}/{scores} out_dim a second vocabulary dim of size {size}, not {named}"]
    if rng.random() < 0.5:
        unit[choice]["out_dim"] = own if bad and rng.random() < 0.5 else vocab
        which = "the scores' dim" if unit[choice]["out_dim"] is own and bad else named
        parts.append(f"{rec}/{choice} out_dim {which}")
    embs = [k for k in _layers(unit) if unit[k].get("class") == "linear"
            and _sources(unit[k]) in ([f"prev:{choice}"], [choice])]
    if embs and rng.random() < 0.6:
        in_dim = own if bad and rng.random() < 0.5 else vocab
        for e in embs:
            unit[e]["in_dim"] = in_dim
        which = "the scores' dim" if in_dim is own and bad else named
        parts.append(f"{', '.join(f'{rec}/{e}' for e in embs)} in_dim {which}")
    return new, "; ".join(parts)


def op_decoder_time_dim(case: Case, rng: random.Random) -> Result:
    """The time axis of a decoder's output named by a dim in a new root layer."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    rdesc = net[rec]
    key = _rec_target(net, rec)
    loops_over = _sources(rdesc)
    modes = [] if loops_over else ["own"]
    if _can_declare(case, key):
        modes += ["target"] if loops_over else ["target", "none-target"]
    if loops_over and _can_declare(case, "data") and all(
            s in _framewise_of_data(net) or s in ("data", "data:data") for s in loops_over):
        modes.append("input")
    if not modes:
        return None
    mode = rng.choice(modes)
    if mode == "own":
        dim = _dim(f"{rec}-out-time", None, "spatial")
        rdesc["axis"] = dim
        how = f"{rec} axis a new dynamic dim {rec}-out-time"
    elif mode == "input":
        entry = _declare(new, "data")
        if entry is None:
            return None
        dim = _time_of(entry)
        rdesc["axis"] = dim
        how = f"{rec} axis the declared time dim of data"
    else:
        entry = _declare(new, key)
        if entry is None:
            return None
        dim = _time_of(entry)
        if mode == "target":
            rdesc["axis"] = dim
            how = f"{rec} axis the declared time dim of its target {key}"
        else:
            how = f"{rec} without axis; named by the declared time dim of its target {key}"
    kind = rng.choice(["length", "range", "reduce", "reduce"])
    name = _fresh(net, f"{rec}_{kind}_over_time")
    if kind == "length":
        net[name] = {"class": "length", "from": rec, "axis": dim, "is_output_layer": True}
        what = f"{name}: length of {rec} along it"
    elif kind == "range":
        net[name] = {"class": "range_in_axis", "from": rec, "axis": dim, "is_output_layer": True}
        what = f"{name}: range_in_axis of {rec} over it"
    else:
        emb = _fresh(net, f"{rec}_embed")
        size = rng.choice([4, 8])
        net[emb] = {"class": "linear", "activation": None, "from": rec,
                    "out_dim": _dim(f"{rec}-embed", size, "feature")}
        mode_r = rng.choice(["mean", "max"])
        net[name] = {"class": "reduce", "mode": mode_r, "axis": dim, "from": emb, "is_output_layer": True}
        what = f"{name}: reduce {mode_r} over it of {emb} (linear of {rec}, out_dim {size})"
    return new, f"{how}; {what}"


def op_encoder_axis_dims(case: Case, rng: random.Random) -> Result:
    """Axes over the encoder frames named by the declared time dim of the data or of a time pooling."""
    new, net = _copy(case)
    origins = _time_origins(case, net)
    if not origins:
        return None
    sites: list[tuple[str | None, str, str]] = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") != "softmax_over_spatial":
                continue
            heads = set()
            for a in sorted({k} | _frame_ancestors(unit, k)):
                for r in _sources(unit[a]) + [v for v in (unit[a].get("base"), unit[a].get("weights"))
                                              if isinstance(v, str)]:
                    if r.startswith("base:"):
                        heads.add(r[len("base:"):].split("/", 1)[0])
            timeless = {h for h in heads if net.get(h, {}).get("class") in
                        ("reduce", "get_last_hidden_state", "constant", "variable", "length")}
            timed = heads - timeless
            for origin in sorted(origins):
                if timed and timed <= origins[origin]:
                    sites.append((rec, k, origin))
    for k in _layers(net):
        desc = net[k]
        srcs = _sources(desc)
        red = desc.get("class") == "reduce" and desc.get("axis", desc.get("axes")) in ("T", "t", "time", ["T"])
        att = desc.get("class") == "softmax_over_spatial" and desc.get("axis") in (None, "T", "t", "time")
        if len(srcs) == 1 and (red or att):
            sites += [(None, k, o) for o in sorted(origins) if srcs[0] in origins[o]]
    if not sites:
        return None
    origin = rng.choice(sorted({o for _, _, o in sites}))
    sites = [s for s in sites if s[2] == origin]
    if origin == "data":
        entry = _declare(new, "data")
        if entry is None:
            return None
        time, named = _time_of(entry), "the declared time dim of data"
    else:
        time = _dim(f"{origin}:time", None, "spatial")
        net[origin]["out_spatial_dims"] = [time]
        named = f"the time dim declared as out_spatial_dims of {origin}"
    chosen = sites if len(sites) > 1 and rng.random() < 0.4 else [rng.choice(sites)]
    dim = time
    if rng.random() < 0.3:
        keys = [_rec_target(net, r) for r in sorted({r for r, _, _ in chosen if r})]
        keys = [k for k in keys if _can_declare(case, k)]
        choices = ["unbound"] + (["target"] if keys else []) + (["data"] if origin != "data" and
                                                                _can_declare(case, "data") else [])
        how = rng.choice(choices)
        if how == "target":
            other = _declare(new, keys[0])
            if other is None:
                return None
            dim, named = _time_of(other), f"the declared time dim of the target {keys[0]} (not the encoder's)"
        elif how == "data":
            other = _declare(new, "data")
            if other is None:
                return None
            dim, named = _time_of(other), f"the declared time dim of data (not the one after {origin})"
        else:
            dim, named = _dim("encoder-time", None, "spatial"), "a new time dim encoder-time, never bound"
            if origin != "data":
                named += f" ({origin} declares {origin}:time)"
    where = []
    for rec, k, _ in chosen:
        desc = net[k] if rec is None else net[rec]["unit"][k]
        desc.pop("axes", None)
        desc["axis"] = dim
        where.append(k if rec is None else f"{rec}/{k}")
    return new, f"{', '.join(where)} axis {named}"


def op_split_merge_dims(case: Case, rng: random.Random) -> Result:
    """A dense loop layer split into declared head dims and merged back for its readers."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            n = _size(desc)
            if desc.get("class") not in ("linear", "rnn_cell") or k == "end" or not n or desc.get("target"):
                continue
            if desc.get("class") == "linear" and desc.get("activation") in ("softmax", "log_softmax"):
                continue
            heads = [h for h in (2, 3, 4) if n % h == 0 and n // h > 1 and n // h != h]
            readers = [r for r in _readers(unit, k) if r != "end"]
            if heads and readers:
                sites.append((rec, k, n, heads))
    if not sites:
        return None
    rec, layer, n, heads = rng.choice(sites)
    unit = net[rec]["unit"]
    h = rng.choice(heads)
    readers = _readers(unit, layer)
    desc = unit[layer]
    feat: dict[str, Any] | None = None
    if desc.get("class") == "linear" and rng.random() < 0.8:
        res = _feature_dim(desc, f"{rec}/{layer}:feature")
        feat = res[0] if res else None
    head_dim = _dim(f"{rec}/{layer}:heads", h, "spatial")
    per_head = _dim(f"{rec}/{layer}:per-head", n // h, "feature")
    axis: Any = feat if feat is not None else "F"
    axis_named = "its declared feature dim" if feat is not None else "F"
    if rng.random() < 0.15:
        axis = _dim(f"{rec}/{layer}:features", n, "feature")
        axis_named = "a second declaration of its feature dim"
    split = _fresh(unit, f"{layer}_split_heads")
    unit[split] = {"class": "split_dims", "from": layer, "axis": axis, "dims": [head_dim, per_head]}
    order = [head_dim, per_head] if rng.random() < 0.7 else [per_head, head_dim]
    if feat is not None and rng.random() < 0.5:
        out_dim, out_named = feat, "the old feature dim"
    else:
        out_dim, out_named = _dim(f"{rec}/{layer}:merged", n, "feature"), "a new dim"
    merged = _fresh(unit, f"{layer}_merged")
    unit[merged] = {"class": "merge_dims", "from": split, "axes": order, "keep_order": True, "out_dim": out_dim}
    _redirect(unit, readers, layer, merged)
    return new, (f"{rec}/{split}: split_dims of {rec}/{layer} ({axis_named}) into {h} x {n // h} declared "
                 f"dims; {merged} merges them back ({'heads first' if order[0] is head_dim else 'reversed'}, "
                 f"out_dim {out_named}); {', '.join(readers)} read {merged}")


def op_history_dims(case: Case, rng: random.Random) -> Result:
    """A dense loop layer accumulated by cum_concat over a declared history dim, the dim then named."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        dense = [k for k in _layers(unit) if unit[k].get("class") == "linear" and _size(unit[k])
                 and unit[k].get("activation") not in ("softmax", "log_softmax") and not unit[k].get("target")]
        users = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "softmax")
                 and _readers(unit, k) and _size(unit[k]) and k != "end"]
        for src in dense:
            for user in users:
                sites.append((rec, src, user))
    if not sites:
        return None
    rec, src, user = rng.choice(sites)
    unit = net[rec]["unit"]
    hist_dim = _dim(f"{rec}/{src}:history", None, "spatial")
    hist = _fresh(unit, f"{src}_history")
    unit[hist] = {"class": "cum_concat", "from": src, "out_spatial_dim": hist_dim}
    axis, named = hist_dim, "the history dim"
    r = rng.random()
    if r < 0.12:
        axis, named = _dim(f"{rec}/{src}:history-len", None, "spatial"), "a second declaration of the history dim"
    elif r < 0.25 and _can_declare(case, "data"):
        entry = _declare(new, "data")
        if entry is None:
            return None
        axis, named = _time_of(entry), "the declared time dim of data (not the history's)"
    feeds = user == src or user in _frame_ancestors(unit, src)
    if rng.random() < 0.6:
        mode = rng.choice(["mean", "max"])
        summary = _fresh(unit, f"{hist}_{mode}")
        unit[summary] = {"class": "reduce", "mode": mode, "axis": axis, "from": hist}
        ref = f"prev:{summary}" if feeds else summary
        _add_source(unit[user], ref)
        return new, (f"{rec}/{hist}: cum_concat of {src} (out_spatial_dim {rec}/{src}:history); {summary} reduce "
                     f"{mode} over {named}; {rec}/{user} reads {ref}")
    length = _fresh(unit, f"{hist}_len")
    unit[length] = {"class": "length", "from": hist, "axis": axis}
    lenf = _fresh(unit, f"{length}_float")
    unit[lenf] = {"class": "cast", "from": length, "dtype": "float32"}
    readers = _readers(unit, user)
    if not readers:
        return None
    if feeds:
        plus = _fresh(unit, f"{user}_plus_len")
        ref = f"prev:{lenf}"
    else:
        plus = _fresh(unit, f"{user}_plus_len")
        ref = lenf
    unit[plus] = {"class": "eval", "from": [user, ref], "eval": "source(0) + 0.01 * source(1)"}
    _redirect(unit, readers, user, plus)
    return new, (f"{rec}/{hist}: cum_concat of {src} (out_spatial_dim {rec}/{src}:history); {length} its length "
                 f"along {named}; {', '.join(readers)} read {plus}: {user} + 0.01 * {ref}")


FRESH52_OPERATORS: tuple[Op, ...] = (
    Op("vocab-dim", op_vocab_dim, 1),
    Op("decoder-time-dim", op_decoder_time_dim, 1),
    Op("encoder-axis-dims", op_encoder_axis_dims, 1),
    Op("split-merge-dims", op_split_merge_dims, 1),
    Op("history-dims", op_history_dims, 1),
)
