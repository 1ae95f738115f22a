"""A forty-second set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, after the earlier fresh sets were opened: held out, looked at as counts only when first measured.

Equivalent rewrites of decoder and encoder layers into basic layers, the way users write them when they
port a model or customise one part of it (none a variant of an earlier operator; no rule was written for
any of them):

* ``linear-parts``: a ``linear`` layer of a searching decoder's loop (or of the root, an encoder layer or
  one after the decoder) is written out in parts under its old name: the weight as a ``variable`` of shape
  ``[n_in, n_out]`` (in the loop, or at the root read as ``base:``) and a ``dot`` of the input (a ``copy``
  of its sources when it has several) with it (``red1: "F"``, ``red2: "static:0"``), an embedding of
  labels (a choice, its ``prev:``, sparse data) as a ``gather`` of a ``variable`` ``[vocab, n_out]`` at
  them (``axis: "static:0"``), or, when the input's size is not known, a ``linear`` without bias; then
  the bias as a ``variable`` of
  shape ``[n_out]`` (sometimes with ``add_batch_axis``) added by a ``combine``; then an ``activation``
  layer with the old activation; the last layer of the chain keeps the old name, ``initial_output``,
  ``loss`` and ``is_output_layer``;
* ``softmax-parts``: a ``softmax`` layer (the scores of a choice, or another one in the loop or at the
  root) becomes a ``linear`` with ``activation: "softmax"``, or a ``linear`` of logits followed by an
  ``activation`` layer (``softmax``) or an ``eval`` of ``tf.nn.softmax`` under the old name (which keeps
  ``target`` and ``loss``);
* ``concat-as-copy``: a ``concat`` layer becomes a ``copy`` of the list of its sources, or a layer with
  several sources (``linear``, ``softmax``, ``rnn_cell``, ``rec``, ``copy``, ``activation``) reads their
  concatenation written as a layer of its own (a ``copy`` of the list, or a ``concat`` on the feature axes);
* ``readout-by-hand``: a maxout readout (``reduce_out``, mode ``max``) written out by hand as
  ``split_dims`` of the feature axis into ``[-1, pieces]`` and ``reduce`` (``max`` over the last static
  axis) under the old name; in a loop without one, the dense layer the choice's scores read becomes a
  maxout: a ``linear`` to twice its size and a ``reduce_out`` (or the pair written by hand) under its name;
* ``fuse-eval``: two chained layers fused into one, or one written as ``eval``: a ``combine`` read only by
  an ``activation`` layer becomes one ``eval`` (``tf.tanh(source(0) + source(1))``), a ``linear`` without
  activation read only by an ``activation`` layer takes the activation itself, a single ``combine`` /
  ``activation`` layer becomes an ``eval`` of ``source(0)`` / ``source(1)`` with the same meaning, or a
  ``linear`` with an activation is split in two: a ``linear`` without it and an ``activation`` layer (or
  an ``eval`` of it) under the old name.
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
    _searching_recs,
    _sources,
    _target_dim,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH40_SEED = 20270102
N_FRESH40 = 80

Result = "tuple[Case, str] | None"
Scope = tuple["str | None", dict[str, Any]]

#: keys that stay with the last layer of a chain (the one that keeps the old name)
_OUTER_KEYS = ("initial_output", "is_output_layer", "loss", "loss_opts", "loss_scale", "only_on_search")
#: keys a linear / softmax layer may have for its rewrite to be one the user could write
_LINEAR_KEYS = {"class", "activation", "with_bias", "from", "n_out", "target", "dropout",
                "dropout_noise_shape",
                "L2", "forward_weights_init", "bias_init", *_OUTER_KEYS}
_DROPOUT_KEYS = ("dropout", "dropout_noise_shape")

#: activation name -> eval expression of ``{x}``
_ACT_EVAL = {
    "tanh": "tf.tanh({x})",
    "relu": "tf.nn.relu({x})",
    "sigmoid": "tf.sigmoid({x})",
    "softmax": "tf.nn.softmax({x}, axis=-1)",
    "log_softmax": "tf.nn.log_softmax({x}, axis=-1)",
    "exp": "tf.exp({x})",
    "abs": "tf.abs({x})",
    "elu": "tf.nn.elu({x})",
    "log": "safe_log({x})",
    "identity": "{x}",
}
#: combine kind -> binary operator or function
_COMBINE_OP = {"add": " + ", "sub": " - ", "mul": " * ", "truediv": " / "}
_COMBINE_FN = {"maximum": "tf.maximum", "minimum": "tf.minimum", "logical_or": "tf.logical_or",
               "logical_and": "tf.logical_and", "squared_difference": "tf.math.squared_difference"}
_COMBINE_KEYS = {"class", "kind", "from", "activation", "n_out", *_OUTER_KEYS}


def _scopes(net: dict[str, Any]) -> list[Scope]:
    """(rec, unit) of every searching decoder, then (None, the root)."""
    return [(r, net[r]["unit"]) for r in _searching_recs(net)] + [(None, net)]


def _path(rec: str | None, name: str) -> str:
    return name if rec is None else f"{rec}/{name}"


def _n_out(case: Case, desc: dict[str, Any]) -> int | None:
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    return _target_dim(case, desc.get("target"))


def _extern_dim(case: Case, key: str) -> int | None:
    """The feature size of dense extern data ``key``; None for sparse or unknown data."""
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict):
        if ext.get("sparse") or ext.get("sparse_dim"):
            return None
        if isinstance(ext.get("dim"), int):
            return ext["dim"]
        dims = ext.get("dims")
        if isinstance(dims, list) and dims and isinstance(dims[-1], dict):
            dim = dims[-1].get("__dim__", {}).get("dimension")
            return dim if isinstance(dim, int) else None
        return None
    num = (case.get("num_outputs") or {}).get(key)
    if isinstance(num, list) and len(num) == 2 and num[1] == 2 and isinstance(num[0], int):
        return num[0]
    return None


def _is_sparse_ref(case: Case, layers: dict[str, Any], ref: str) -> bool:
    """Whether ``ref`` names labels: a choice (or its previous frame) or sparse extern data."""
    name = ref.removeprefix("prev:")
    if name.startswith(("base:data:", "data:")):
        key = name.split("data:", 1)[1]
        ext = (case.get("extern_data") or {}).get(key)
        return bool(isinstance(ext, dict) and (ext.get("sparse") or ext.get("sparse_dim")))
    desc = layers.get(name)
    return isinstance(desc, dict) and desc.get("class") == "choice" and desc.get("input_type") != "regression"


def _vocab(case: Case, layers: dict[str, Any], ref: str) -> int | None:
    """The number of labels of a sparse reference (a choice's target, or sparse extern data)."""
    name = ref.removeprefix("prev:")
    if "data:" in name:
        return _target_dim(case, name.split("data:", 1)[1])
    desc = layers.get(name)
    return _target_dim(case, desc.get("target")) if isinstance(desc, dict) else None


def _feat_dim(case: Case, root: dict[str, Any], layers: dict[str, Any], ref: str,
              depth: int = 0) -> int | None:
    """The feature size of what ``ref`` names (seen from ``layers``), where the network says it; else None."""
    if depth > 12 or not isinstance(ref, str):
        return None
    ref = ref.removeprefix("prev:")
    if ref.startswith("base:"):
        return _feat_dim(case, root, root, ref[len("base:"):], depth + 1)
    if ref.startswith("data:"):
        return _extern_dim(case, ref[len("data:"):]) if layers is root else None
    if ref == "data":
        return _extern_dim(case, "data") if layers is root else None
    desc = layers.get(ref)
    if not isinstance(desc, dict):
        return None
    cls = desc.get("class")
    if cls in ("linear", "softmax", "rnn_cell", "conv", "self_attention"):
        return _n_out(case, desc)
    if cls == "rec" and isinstance(desc.get("unit"), str):
        return desc["n_out"] if isinstance(desc.get("n_out"), int) else None
    if cls == "reduce_out":
        inner = _sum_dims(case, root, layers, _sources(desc), depth)
        pieces = desc.get("num_pieces")
        return inner // pieces if inner and isinstance(pieces, int) and pieces else None
    if cls in ("copy", "dropout", "activation", "layer_norm") and not desc.get("out_type"):
        return _sum_dims(case, root, layers, _sources(desc), depth)
    if cls == "concat":
        refs = [v[0] if isinstance(v, list) and v else v for v in desc.get("from") or []]
        return _sum_dims(case, root, layers, [r for r in refs if isinstance(r, str)], depth)
    if cls in ("combine", "eval") and not desc.get("out_type"):
        srcs = _sources(desc)
        return _feat_dim(case, root, layers, srcs[0], depth + 1) if srcs else None
    return None


def _sum_dims(case: Case, root: dict[str, Any], layers: dict[str, Any], refs: list[str],
              depth: int) -> int | None:
    if not refs:
        return None
    dims = [_feat_dim(case, root, layers, r, depth + 1) for r in refs]
    return sum(dims) if all(isinstance(d, int) for d in dims) else None


def _used_outside(net: dict[str, Any], rec: str | None, name: str) -> bool:
    """Whether another scope reads ``name``: a root layer by its path ``rec/name``, or, for a root layer,
    a decoder's loop through ``base:name``."""
    if rec is not None:
        return bool(_readers(net, "", f"{rec}/{name}"))
    return any(_readers(net[r]["unit"], "", f"base:{name}") for r in _searching_recs(net))


def _only_reader(net: dict[str, Any], rec: str | None, layers: dict[str, Any], name: str) -> str | None:
    """The one layer reading ``name`` in its frame, when nothing else reads it (no ``prev:``, no path)."""
    readers = _readers(layers, name)
    if len(readers) != 1 or _readers(layers, name, f"prev:{name}") or _used_outside(net, rec, name):
        return None
    if rec is not None and name in ("output", "end"):
        return None
    return readers[0]


def _carry(old: dict[str, Any], new: dict[str, Any], *, target: bool = True) -> dict[str, Any]:
    """``new`` with the keys the old layer had that belong to the last layer of its chain."""
    for key in _OUTER_KEYS:
        if key in old:
            new[key] = old[key]
    if target and "target" in old and "loss" in old:
        new["target"] = old["target"]
    return new


def _pick_scope(sites: list[tuple[Any, ...]], rng: random.Random, loop_share: float = 0.7) -> tuple[Any, ...]:
    """A site drawn at random, from the loops with probability ``loop_share`` when both kinds exist."""
    loop = [s for s in sites if s[0] is not None]
    root = [s for s in sites if s[0] is None]
    if loop and root:
        return rng.choice(loop if rng.random() < loop_share else root)
    return rng.choice(loop or root)


# ----------------------------------------------------------------------------------------------------


def op_linear_parts(case: Case, rng: random.Random) -> Result:
    """A linear layer written as variable + dot (or linear without bias) + combine (bias) + activation."""
    new, net = _copy(case)
    sites = []
    for rec, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            if desc.get("class") != "linear" or not set(desc) <= _LINEAR_KEYS or not _sources(desc):
                continue
            if rec is not None and k in ("output", "end"):
                continue
            if isinstance(desc.get("from"), list) and len(_sources(desc)) != len(desc["from"]):
                continue
            if _n_out(case, desc):
                sites.append((rec, k))
    if not sites:
        return None
    rec, name = _pick_scope(sites, rng)
    layers = net if rec is None else net[rec]["unit"]
    old = layers.pop(name)
    n_out = _n_out(case, old)
    srcs = _sources(old)
    act = old.get("activation")
    sparse = any(_is_sparse_ref(case, layers, s) for s in srcs)
    n_in = None if sparse else _sum_dims(case, net, layers, srcs, 0)
    taken = set(layers) | {name}
    drop = {k: old[k] for k in _DROPOUT_KEYS if k in old}
    parts = []

    def add(base: str, desc: dict[str, Any], where: dict[str, Any] | None = None) -> str:
        scope = layers if where is None else where
        fresh = _fresh(set(scope) | taken, base)
        taken.add(fresh)
        scope[fresh] = desc
        parts.append(fresh)
        return fresh

    def variable(base: str, shape: list[int], init: str | None) -> str:
        desc: dict[str, Any] = {"class": "variable", "shape": shape}
        if init:
            desc["init"] = init
        if rng.random() < 0.2:
            desc["add_batch_axis"] = True
        if rec is not None and rng.random() < 0.4:
            return "base:" + add(f"{rec}_{base}", desc, net)
        return add(base, desc)

    vocab = _vocab(case, layers, srcs[0]) if sparse and len(srcs) == 1 else None
    if vocab and rng.random() < 0.8:
        weight = variable(f"{name}_W", [vocab, n_out], old.get("forward_weights_init") or "glorot_uniform")
        cur = add(f"{name}_gather", {"class": "gather", "from": weight, "position": srcs[0],
                                     "axis": "static:0"})
        how = f"gather of variable {weight} [{vocab}, {n_out}] at {srcs[0]}"
    elif n_in and rng.random() < 0.75:
        if len(srcs) == 1:
            inp = srcs[0]
            if drop:
                inp = add(f"{name}_in", {"class": "copy", "from": srcs, **drop})
        else:
            inp = add(f"{name}_in", {"class": "copy", "from": list(srcs), **drop})
        weight = variable(f"{name}_W", [n_in, n_out], old.get("forward_weights_init") or "glorot_uniform")
        cur = add(f"{name}_dot", {"class": "dot", "from": [inp, weight], "red1": "F", "red2": "static:0",
                                  "var1": "auto", "var2": "auto"})
        how = f"dot of {inp} with variable {weight} [{n_in}, {n_out}]"
    elif not act and not old.get("with_bias", True):
        return None  # a linear without bias nor activation has no parts
    else:
        lin = {"class": "linear", "activation": None, "with_bias": False, "from": old["from"], "n_out": n_out}
        lin.update(drop)
        cur = add(f"{name}_nobias", lin)
        how = f"linear {cur} without bias"
    if old.get("with_bias", True):
        bias = variable(f"{name}_b", [n_out], None)
        cur = add(f"{name}_plus_b", {"class": "combine", "kind": "add", "from": [cur, bias]})
        how += f", plus variable {bias}"
    final: dict[str, Any]
    if act:
        final = {"class": "activation", "activation": act, "from": cur}
        how += f", activation {act}"
    else:
        final = layers.pop(cur)
        parts.remove(cur)
    layers[name] = _carry(old, final)
    return new, f"{_path(rec, name)} written in parts: {how} (new {', '.join(parts)})"


def op_softmax_parts(case: Case, rng: random.Random) -> Result:
    """A softmax layer as linear with softmax activation, or logits + activation / eval of tf.nn.softmax."""
    new, net = _copy(case)
    sites = []
    for rec, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            if desc.get("class") == "softmax" and set(desc) <= _LINEAR_KEYS and _sources(desc) \
                    and _n_out(case, desc) and desc.get("activation") in (None, "softmax"):
                sites.append((rec, k))
    if not sites:
        return None
    rec, name = _pick_scope(sites, rng, 0.8)
    layers = net if rec is None else net[rec]["unit"]
    old = layers[name]
    how = rng.choice(["linear", "activation", "eval"])
    if how == "linear":
        desc = dict(old)
        desc["class"] = "linear"
        desc["activation"] = "softmax"
        layers[name] = desc
        return new, f"{_path(rec, name)}: softmax written as linear with activation softmax"
    logits = _fresh(layers, f"{name}_logits")
    lin = {k: v for k, v in old.items() if k not in _OUTER_KEYS and k != "target"}
    lin.update({"class": "linear", "activation": None, "n_out": _n_out(case, old)})
    layers[logits] = lin
    if how == "activation":
        final: dict[str, Any] = {"class": "activation", "activation": "softmax", "from": logits}
    else:
        final = {"class": "eval", "from": logits, "eval": "tf.nn.softmax(source(0), axis=-1)"}
    layers[name] = _carry(old, final)
    return new, f"{_path(rec, name)}: softmax written as linear {logits} (logits) and {how} of softmax"


def op_concat_as_copy(case: Case, rng: random.Random) -> Result:
    """A concat as a copy of its sources, or a multi-source layer reading its concatenation as a layer."""
    new, net = _copy(case)
    concats, multis = [], []
    for rec, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            cls = desc.get("class")
            value = desc.get("from")
            if cls == "concat" and isinstance(value, list) and value \
                    and set(desc) <= {"class", "from", *_OUTER_KEYS} \
                    and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
                            and v[1] in ("F", "f", "feature") for v in value):
                concats.append((rec, k))
            elif cls in ("linear", "softmax", "rnn_cell", "rec", "copy", "activation") \
                    and isinstance(value, list) \
                    and len(value) >= 2 and all(isinstance(v, str) for v in value) \
                    and not (cls == "rec" and isinstance(desc.get("unit"), dict)) \
                    and not any(_is_sparse_ref(case, layers, v) for v in value):
                multis.append((rec, k))
    if not concats and not multis:
        return None
    if concats and (not multis or rng.random() < 0.6):
        rec, name = _pick_scope(concats, rng)
        layers = net if rec is None else net[rec]["unit"]
        old = layers[name]
        srcs = [v[0] for v in old["from"]]
        layers[name] = _carry(old, {"class": "copy", "from": srcs})
        return new, f"{_path(rec, name)}: concat written as copy of {srcs}"
    rec, name = _pick_scope(multis, rng)
    layers = net if rec is None else net[rec]["unit"]
    desc = layers[name]
    srcs = list(desc["from"])
    joined = _fresh(layers, f"{name}_input")
    if rng.random() < 0.5:
        layers[joined] = {"class": "copy", "from": srcs}
        how = "copy"
    else:
        layers[joined] = {"class": "concat", "from": [[s, "F"] for s in srcs]}
        how = "concat"
    desc["from"] = joined
    return new, f"{_path(rec, name)} reads {joined}, a {how} of its sources {srcs}"


def op_readout_by_hand(case: Case, rng: random.Random) -> Result:
    """A maxout readout written as split_dims + reduce max, or a dense scores input made a maxout."""
    new, net = _copy(case)
    outs, dense = [], []
    for rec, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            if desc.get("class") == "reduce_out" and isinstance(desc.get("num_pieces"), int) \
                    and set(desc) <= {"class", "from", "mode", "num_pieces", *_OUTER_KEYS}:
                outs.append((rec, k))
        if rec is None:
            continue
        choices = [c for c in _layers(layers) if layers[c].get("class") == "choice"]
        scores = {s for c in choices for s in _sources(layers[c]) if s in layers
                  and (layers[s].get("class") == "softmax"
                       or layers[s].get("activation") in ("softmax", "log_softmax"))}
        for s in sorted(scores):
            for r in _sources(layers[s]):
                d = layers.get(r)
                if isinstance(d, dict) and d.get("class") == "linear" and set(d) <= _LINEAR_KEYS \
                        and isinstance(d.get("n_out"), int) \
                        and d.get("activation") in (None, "tanh", "relu", "linear") \
                        and r not in ("output", "end") and _sources(d):
                    dense.append((rec, r))
    if not outs and not dense:
        return None
    if outs and (not dense or rng.random() < 0.75):
        rec, name = _pick_scope(outs, rng)
        layers = net if rec is None else net[rec]["unit"]
        old = layers[name]
        pieces = old["num_pieces"]
        split = _fresh(layers, f"{name}_split")
        layers[split] = {"class": "split_dims", "from": old["from"], "axis": "F", "dims": [-1, pieces]}
        layers[name] = _carry(old, {"class": "reduce", "mode": old.get("mode", "max"), "axes": "static:-1",
                                    "from": split})
        return new, (f"{_path(rec, name)}: reduce_out written by hand: split_dims {split} [-1, {pieces}] and "
                     f"reduce {old.get('mode', 'max')} over static:-1")
    rec, name = rng.choice(sorted(set(dense)))
    layers = net[rec]["unit"]
    old = layers.pop(name)
    n = old["n_out"]
    pieces = rng.choice([2, 2, 3])
    inp = _fresh(set(layers) | {name}, f"{name}_readout_in")
    lin = {k: v for k, v in old.items() if k not in _OUTER_KEYS and k != "target"}
    lin.update({"activation": None, "n_out": n * pieces})
    layers[inp] = lin
    if rng.random() < 0.5:
        layers[name] = _carry(old, {"class": "reduce_out", "mode": "max", "num_pieces": pieces, "from": inp})
        return new, (f"{rec}/{name} made a maxout: linear {inp} to {n * pieces}, "
                     f"reduce_out max {pieces} pieces")
    split = _fresh(set(layers) | {name}, f"{name}_split")
    layers[split] = {"class": "split_dims", "from": inp, "axis": "F", "dims": [-1, pieces]}
    layers[name] = _carry(old, {"class": "reduce", "mode": "max", "axes": "static:-1", "from": split})
    return new, (f"{rec}/{name} made a maxout by hand: linear {inp} to {n * pieces}, split_dims {split}, "
                 f"reduce max over static:-1")


def _combine_expr(desc: dict[str, Any], args: list[str]) -> str | None:
    kind = desc.get("kind", "add")
    if kind in _COMBINE_OP:
        expr = _COMBINE_OP[kind].join(args)
    elif kind in _COMBINE_FN:
        expr = args[0]
        for a in args[1:]:
            expr = f"{_COMBINE_FN[kind]}({expr}, {a})"
    elif kind == "average":
        expr = f"({' + '.join(args)}) / {len(args)}.0"
    else:
        return None
    act = desc.get("activation")
    if act:
        if act not in _ACT_EVAL:
            return None
        expr = _ACT_EVAL[act].format(x=f"({expr})" if _ACT_EVAL[act] == "{x}" else expr)
    return expr


def op_fuse_eval(case: Case, rng: random.Random) -> Result:
    """Two chained layers fused (combine + activation into eval, linear + activation into linear), or a
    combine / activation written as eval."""
    new, net = _copy(case)
    fuse, single = [], []
    for rec, layers in _scopes(net):
        for k in _layers(layers):
            desc = layers[k]
            cls = desc.get("class")
            srcs = _sources(desc)
            if cls == "combine" and set(desc) <= _COMBINE_KEYS and len(srcs) >= 2 \
                    and isinstance(desc.get("from"), list) and len(srcs) == len(desc["from"]) \
                    and _combine_expr(desc, [f"source({i})" for i in range(len(srcs))]):
                single.append((rec, k, "combine"))
            if cls == "linear" and desc.get("activation") in _ACT_EVAL \
                    and desc.get("activation") != "identity" \
                    and set(desc) <= _LINEAR_KEYS and srcs and _n_out(case, desc) \
                    and not (rec is not None and k in ("output", "end")):
                single.append((rec, k, "split"))
            if cls != "activation" or desc.get("activation") not in _ACT_EVAL or len(srcs) != 1 \
                    or not set(desc) <= {"class", "activation", "from", *_OUTER_KEYS}:
                continue
            single.append((rec, k, "activation"))
            src = layers.get(srcs[0])
            if not isinstance(src, dict) or _only_reader(net, rec, layers, srcs[0]) != k:
                continue
            if any(key in src for key in _OUTER_KEYS):
                continue
            if src.get("class") == "combine" and set(src) <= _COMBINE_KEYS and not src.get("activation") \
                    and isinstance(src.get("from"), list) and len(_sources(src)) == len(src["from"]) >= 2 \
                    and _combine_expr(src, ["a", "b"]):
                fuse.append((rec, k, "combine"))
            elif src.get("class") == "linear" and not src.get("activation") and set(src) <= _LINEAR_KEYS:
                fuse.append((rec, k, "linear"))
    if not fuse and not single:
        return None
    if fuse and (not single or rng.random() < 0.6):
        rec, name, kind = _pick_scope(fuse, rng)
        layers = net if rec is None else net[rec]["unit"]
        desc = layers[name]
        act = desc["activation"]
        inner_name = _sources(desc)[0]
        inner = layers.pop(inner_name)
        if kind == "combine":
            args = [f"source({i})" for i in range(len(inner["from"]))]
            expr = _ACT_EVAL[act].format(x=_combine_expr(inner, args))
            layers[name] = _carry(desc, {"class": "eval", "from": list(inner["from"]), "eval": expr})
            return new, f"{_path(rec, inner_name)} and {_path(rec, name)} fused into one eval: {expr}"
        fused = dict(inner)
        fused["activation"] = act
        layers[name] = _carry(desc, fused)
        return new, (f"{_path(rec, inner_name)} (linear) and {_path(rec, name)} fused: "
                     f"linear with activation {act}")
    rec, name, kind = _pick_scope(single, rng)
    layers = net if rec is None else net[rec]["unit"]
    desc = layers[name]
    if kind == "split":
        act = desc["activation"]
        pre = _fresh(layers, f"{name}_linear")
        lin = {k: v for k, v in desc.items() if k not in _OUTER_KEYS and k != "target"}
        lin["activation"] = None
        if not isinstance(lin.get("n_out"), int):
            lin["n_out"] = _n_out(case, desc)
        layers[pre] = lin
        if rng.random() < 0.5:
            layers[name] = _carry(desc, {"class": "activation", "activation": act, "from": pre})
            return new, f"{_path(rec, name)} split in two: linear {pre} and activation {act}"
        expr = _ACT_EVAL[act].format(x="source(0)")
        layers[name] = _carry(desc, {"class": "eval", "from": pre, "eval": expr})
        return new, f"{_path(rec, name)} split in two: linear {pre} and eval {expr!r}"
    if kind == "combine":
        expr = _combine_expr(desc, [f"source({i})" for i in range(len(desc["from"]))])
        src: Any = list(desc["from"])
    else:
        expr = _ACT_EVAL[desc["activation"]].format(x="source(0)")
        src = desc["from"]
    layers[name] = _carry(desc, {"class": "eval", "from": src, "eval": expr})
    return new, f"{_path(rec, name)}: {kind} written as eval {expr!r}"


FRESH40_OPERATORS: tuple[Op, ...] = (
    Op("linear-parts", op_linear_parts, 1),
    Op("softmax-parts", op_softmax_parts, 1),
    Op("concat-as-copy", op_concat_as_copy, 1),
    Op("readout-by-hand", op_readout_by_hand, 1),
    Op("fuse-eval", op_fuse_eval, 1),
)
