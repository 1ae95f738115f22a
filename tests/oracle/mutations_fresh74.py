"""A seventy-sixth set of edit operators (issue 15, sixteenth session), written and seeded before it was
ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

A fuzzer over RETURNN's layer registry (``returnn.tf.layers.basic.get_layer_class``): each operator draws
one registered layer class at random (those that take ordinary tensor inputs: no files, checkpoints,
alignments, special hardware, signal-processing front ends; not the search classes ``choice`` /
``decide_keep_beam`` / ``choice_get_beam_scores`` / ``split_batch_beam`` that earlier sets edit) and puts a
layer of it into the network, its options filled from the class's signature with plausible values (axes by
name ``T`` / ``F``, ``n_out`` the source's own where the reader needs the same width, else a new width and
only where every reader takes any width: ``linear`` / ``softmax`` / ``rnn_cell`` / ``rec`` ...). The classes
drawn: ``activation``, ``copy``, ``dropout``, ``layer_norm``, ``norm``, ``batch_norm``, ``scaled_grad``,
``combine``, ``eval``, ``print``, ``identity``, ``tikhonov_regularization``, ``reinterpret_data``,
``positional_encoding``, ``linear`` / ``hidden`` / ``forward``, ``gating``, ``self_attention``,
``batch_softmax``, ``reduce_out``, ``rnn_cell``, ``rec``, ``conv``, ``concat``, ``top_k``, ``seq_len_mask``,
``cumsum``, ``shift_axis``, ``length``, ``range_from_length``, ``slice``, ``pad``, ``window``,
``time_chunking``, ``prefix_in_time``, ``postfix_in_time``, ``flatten_batch``, ``gather``, ``reduce``,
``compare``, ``cast``, ``expand_dims``, ``variable``, ``decide`` (by placement; a few as a short chain, e.g.
``compare`` then ``cast``). Four operators, by placement:

* ``registry-in-loop``: between two connected layers of a searching loop (a reader ``Y`` of ``X``,
  ``prev:X`` or ``base:X``): the new layer reads what ``Y`` read and ``Y`` reads the new layer; a class
  that keeps the width (or, over a label, keeps the labels) anywhere (``self_attention`` there with
  ``attention_left_only``), one with a new width only where ``Y``
  takes any width; a ``combine`` may add ``prev:`` of itself (a running sum);
* ``registry-before-loop``: in front of the loop on an encoder layer ``X`` the loop reads (a root ancestor
  of the searching rec layer): a root layer of the drawn class over ``X`` (over time: also ``seq_len_mask``,
  ``cumsum``, ``shift_axis`` without changing the lengths, ``batch_softmax``, ``rec``), and every reader on the way
  to the loop (``base:X`` in the unit, root ancestors of the rec) reads it instead;
* ``registry-after-loop``: after the loop, a new root output layer (``is_output_layer``) of the drawn class
  over the decoder's output: the rec layer itself (beamed), a new ``decide`` of it, or an existing one; the
  classes over a label sequence (``length``, ``range_from_length``, ``slice``, ``pad``, ``window``,
  ``time_chunking``, ``prefix_in_time``, ``postfix_in_time``, ``shift_axis``, ``flatten_batch``,
  ``gather`` of the first label, ``compare`` with 0 then ``cast``, a ``linear`` embedding then ``rec`` /
  ``conv`` / ``reduce`` ...);
* ``registry-side-source``: a side branch: a new layer of the drawn class added as an extra source of a
  loop layer that takes any width (``linear`` / ``softmax`` / ``rnn_cell`` / ``rec``, not the choice): over
  another layer of the frame or ``prev:`` of one (in the loop), or at the root over an encoder layer reduced
  over time (``reduce`` mean / max over ``T``, ``gather`` of the first frame, ``length`` cast and given a
  feature axis, a batched ``variable``) and read as ``base:``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _frame_ancestors,
    _layers,
    _map_refs,
    _readers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _slots,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH74_SEED = 20270136
N_FRESH74 = 80

Result = "tuple[Case, str] | None"
Chain = list[dict[str, Any]]
Info = dict[str, Any]

#: Layer classes whose input width is free (their parameters are made for it).
ANY_WIDTH = ("linear", "softmax", "hidden", "forward", "rnn_cell", "rec", "conv", "self_attention")
WIDTHS = (32, 64, 128, 256)


# ----------------------------------------------------------------------------------------------------
# What a reference carries


def _kind(case: Case, net: dict[str, Any], layers: dict[str, Any], ref: str, depth: int = 0) -> tuple[bool, int | None]:
    """(sparse, feature width or vocabulary size, None if unknown) of a reference in scope ``layers``."""
    if depth > 6:
        return False, None
    while ref.startswith("prev:"):
        ref = ref[len("prev:"):]
    if ref.startswith("base:"):
        return _kind(case, net, net, ref[len("base:"):], depth + 1)
    if ref == "data" or ref.startswith("data:"):
        key = ref[len("data:"):] if ref.startswith("data:") else "data"
        ext = (case.get("extern_data") or {}).get(key)
        sparse = bool(isinstance(ext, dict) and (ext.get("sparse") or ext.get("sparse_dim")))
        num = (case.get("num_outputs") or {}).get(key)
        if isinstance(num, list) and num[1:] == [1]:
            sparse = True
        return sparse, _target_dim(case, key)
    desc = layers.get(ref)
    if not isinstance(desc, dict):
        return False, None
    cls = desc.get("class")
    if cls == "choice":
        target = desc.get("target")
        key = target.removeprefix("data:") if isinstance(target, str) and not target.startswith("layer:") else None
        return desc.get("input_type") != "regression", _target_dim(case, key) if key else None
    if cls in ("rec", "decide") and isinstance(desc.get("unit"), dict) and "output" in desc["unit"]:
        return _kind(case, net, desc["unit"], "output", depth + 1)
    if cls == "decide":
        src = desc.get("from")
        return _kind(case, net, layers, src, depth + 1) if isinstance(src, str) else (False, None)
    if isinstance(desc.get("n_out"), int) and cls not in ("reduce_out",):
        return False, desc["n_out"]
    if cls in ("copy", "dropout", "layer_norm", "activation", "eval", "combine", "norm", "batch_norm"):
        src = desc.get("from")
        if isinstance(src, list) and len(src) == 1:
            src = src[0]
        if isinstance(src, str):
            return _kind(case, net, layers, src, depth + 1)
    return False, None


# ----------------------------------------------------------------------------------------------------
# The registry: class -> (accepts "dense" / "sparse" / "any", keeps the width, placements, maker)
# A maker returns a chain of layer dicts: "@in" is the source, "@k" the chain's k-th layer.


def _m_activation(rng: random.Random, info: Info) -> Chain:
    act = rng.choice(["relu", "tanh", "sigmoid", "elu", "softplus", "abs", "log_softmax"])
    return [{"class": "activation", "activation": act, "from": "@in"}]


def _m_copy(rng: random.Random, info: Info) -> Chain:
    return [{"class": "copy", "from": "@in"}]


def _m_dropout(rng: random.Random, info: Info) -> Chain:
    return [{"class": "dropout", "dropout": rng.choice([0.1, 0.3]), "from": "@in"}]


def _m_layer_norm(rng: random.Random, info: Info) -> Chain:
    return [{"class": "layer_norm", "from": "@in"}]


def _m_norm(rng: random.Random, info: Info) -> Chain:
    return [{"class": "norm", "axes": "F", "from": "@in"}]


def _m_batch_norm(rng: random.Random, info: Info) -> Chain:
    masked = info["where"] != "loop" and rng.random() < 0.5
    return [{"class": "batch_norm", "masked_time": masked, "momentum": rng.choice([0.1, 0.01]), "from": "@in"}]


def _m_scaled_grad(rng: random.Random, info: Info) -> Chain:
    return [{"class": "scaled_grad", "scale": rng.choice([-1.0, 0.1]), "from": "@in"}]


def _m_combine(rng: random.Random, info: Info) -> Chain:
    if info["where"] == "loop" and rng.random() < 0.35:
        return [{"class": "combine", "kind": "add", "from": ["@in", "prev:@0"], "initial_output": 0}]
    return [{"class": "combine", "kind": rng.choice(["add", "mul", "maximum"]), "from": ["@in", "@in"]}]


def _m_eval(rng: random.Random, info: Info) -> Chain:
    if info["sparse"]:
        vocab = info["dim"]
        code = f"tf.minimum(source(0), {vocab - 1})" if isinstance(vocab, int) else "tf.identity(source(0))"
    else:
        code = rng.choice(["source(0) * 0.5", "tf.nn.relu(source(0))", "tf.stop_gradient(source(0))",
                           "tf.clip_by_value(source(0), -5.0, 5.0)"])
    return [{"class": "eval", "eval": code, "from": "@in"}]


def _m_print(rng: random.Random, info: Info) -> Chain:
    return [{"class": "print", "from": "@in"}]


def _m_identity(rng: random.Random, info: Info) -> Chain:
    return [{"class": "identity", "from": "@in"}]


def _m_tikhonov(rng: random.Random, info: Info) -> Chain:
    return [{"class": "tikhonov_regularization", "meta_loss_scale": 0.01, "from": "@in"}]


def _m_reinterpret(rng: random.Random, info: Info) -> Chain:
    return [{"class": "reinterpret_data", "enforce_batch_major": True, "from": "@in"}]


def _m_posenc_add(rng: random.Random, info: Info) -> Chain | None:
    if not isinstance(info["dim"], int) or info["dim"] % 2:
        return None
    return [{"class": "positional_encoding", "add_to_input": True, "n_out": info["dim"], "from": "@in"}]


def _m_linear_same(rng: random.Random, info: Info) -> Chain | None:
    if not isinstance(info["dim"], int):
        return None
    cls = rng.choice(["linear", "hidden", "forward"])
    return [{"class": cls, "activation": rng.choice(["tanh", "relu", None]), "n_out": info["dim"], "from": "@in"}]


def _m_gating_pair(rng: random.Random, info: Info) -> Chain:
    return [{"class": "gating", "activation": rng.choice(["tanh", "identity"]), "from": ["@in", "@in"]}]


def _m_self_att_same(rng: random.Random, info: Info) -> Chain | None:
    dim = info["dim"]
    if not isinstance(dim, int) or dim % 2:
        return None
    return [{"class": "self_attention", "num_heads": 2, "total_key_dim": dim, "n_out": dim,
             "attention_left_only": info["where"] in ("loop", "side") or rng.random() < 0.5, "from": "@in"}]


def _m_batch_softmax(rng: random.Random, info: Info) -> Chain:
    return [{"class": "batch_softmax", "from": "@in"}]


def _m_seq_len_mask(rng: random.Random, info: Info) -> Chain:
    return [{"class": "seq_len_mask", "mask_value": 0 if info["sparse"] else 0.0, "axis": "T", "from": "@in"}]


def _m_cumsum(rng: random.Random, info: Info) -> Chain:
    return [{"class": "cumsum", "axis": "T", "from": "@in"}]


def _m_shift_keep(rng: random.Random, info: Info) -> Chain:
    return [{"class": "shift_axis", "axis": "T", "amount": rng.choice([1, -1]), "pad": True,
             "adjust_size_info": False, "from": "@in"}]


# new width (dense out)


def _m_linear_new(rng: random.Random, info: Info) -> Chain:
    cls = rng.choice(["linear", "hidden", "forward"])
    act = None if info["sparse"] else rng.choice(["tanh", "relu", None])
    return [{"class": cls, "activation": act, "with_bias": not info["sparse"], "n_out": rng.choice(WIDTHS),
             "from": "@in"}]


def _m_gating(rng: random.Random, info: Info) -> Chain | None:
    if not isinstance(info["dim"], int) or info["dim"] % 2:
        return None
    return [{"class": "gating", "activation": "tanh", "from": "@in"}]


def _m_reduce_out(rng: random.Random, info: Info) -> Chain | None:
    if not isinstance(info["dim"], int) or info["dim"] % 2:
        return None
    return [{"class": "reduce_out", "mode": rng.choice(["max", "sum"]), "num_pieces": 2, "from": "@in"}]


def _m_rnn_cell(rng: random.Random, info: Info) -> Chain:
    return [{"class": "rnn_cell", "unit": "StandardLSTM", "n_out": rng.choice(WIDTHS), "from": "@in"}]


def _m_rec(rng: random.Random, info: Info) -> Chain:
    return [{"class": "rec", "unit": "StandardLSTM", "n_out": rng.choice(WIDTHS),
             "direction": rng.choice([1, -1]), "from": "@in"}]


def _m_conv(rng: random.Random, info: Info) -> Chain:
    return [{"class": "conv", "filter_size": [rng.choice([3, 5])], "padding": "same", "n_out": rng.choice(WIDTHS),
             "activation": "relu", "from": "@in"}]


def _m_concat(rng: random.Random, info: Info) -> Chain:
    return [{"class": "concat", "from": [["@in", "F"], ["@in", "F"]]}]


def _m_self_att_new(rng: random.Random, info: Info) -> Chain:
    n = rng.choice(WIDTHS)
    return [{"class": "self_attention", "num_heads": rng.choice([2, 4]), "total_key_dim": n, "n_out": n,
             "attention_left_only": info["where"] in ("loop", "side") or rng.random() < 0.5, "from": "@in"}]


def _m_top_k(rng: random.Random, info: Info) -> Chain:
    return [{"class": "top_k", "axis": "F", "k": rng.choice([2, 4]), "from": "@in"}]


def _m_posenc_new(rng: random.Random, info: Info) -> Chain:
    return [{"class": "positional_encoding", "n_out": rng.choice(WIDTHS), "from": "@in"}]


def _m_embed_then(rng: random.Random, info: Info) -> Chain:
    """(after the loop, over labels) an embedding, then a sequence layer over it."""
    emb = {"class": "linear", "activation": None, "with_bias": False, "n_out": rng.choice(WIDTHS), "from": "@in"}
    nxt = rng.choice([_m_rec, _m_conv, _m_layer_norm])(rng, {**info, "sparse": False})
    nxt[0]["from"] = "@0"
    return [emb, *nxt]


# over a sequence (after the loop)


def _m_length(rng: random.Random, info: Info) -> Chain:
    return [{"class": "length", "axis": "T", "from": "@in"}]


def _m_range_from_length(rng: random.Random, info: Info) -> Chain:
    return [{"class": "length", "axis": "T", "from": "@in"}, {"class": "range_from_length", "from": "@0"}]


def _m_slice(rng: random.Random, info: Info) -> Chain:
    return [{"class": "slice", "axis": "T", "slice_start": 1, "from": "@in"}]


def _m_pad(rng: random.Random, info: Info) -> Chain:
    return [{"class": "pad", "axes": "T", "padding": [1, 0], "value": 0, "from": "@in"}]


def _m_window(rng: random.Random, info: Info) -> Chain:
    return [{"class": "window", "window_size": 3, "axis": "T", "padding": "same", "from": "@in"}]


def _m_time_chunking(rng: random.Random, info: Info) -> Chain:
    return [{"class": "time_chunking", "chunk_size": 4, "chunk_step": 2, "from": "@in"}]


def _m_prefix(rng: random.Random, info: Info) -> Chain:
    cls = rng.choice(["prefix_in_time", "postfix_in_time"])
    key = "prefix" if cls == "prefix_in_time" else "postfix"
    return [{"class": cls, key: 0 if info["sparse"] else 0.0, "repeat": 1, "from": "@in"}]


def _m_shift(rng: random.Random, info: Info) -> Chain:
    return [{"class": "shift_axis", "axis": "T", "amount": 1, "pad": True, "from": "@in"}]


def _m_flatten_batch(rng: random.Random, info: Info) -> Chain:
    return [{"class": "flatten_batch", "axis": "T", "from": "@in"}]


def _m_gather_first(rng: random.Random, info: Info) -> Chain:
    return [{"class": "gather", "position": 0, "axis": "T", "from": "@in"}]


def _m_reduce_t(rng: random.Random, info: Info) -> Chain:
    mode = rng.choice(["max", "mean"]) if not info["sparse"] else "max"
    return [{"class": "reduce", "mode": mode, "axes": "T", "from": "@in"}]


def _m_compare_cast(rng: random.Random, info: Info) -> Chain:
    return [{"class": "compare", "kind": rng.choice(["equal", "not_equal"]), "value": 0, "from": "@in"},
            {"class": "cast", "dtype": "float32", "from": "@0"}]


# side branches read from the root (over an encoder layer with a time axis): no time, a feature axis


def _m_side_reduce(rng: random.Random, info: Info) -> Chain:
    return [{"class": "reduce", "mode": rng.choice(["max", "mean"]), "axes": "T", "from": "@in"}]


def _m_side_length(rng: random.Random, info: Info) -> Chain:
    return [{"class": "length", "axis": "T", "from": "@in"},
            {"class": "cast", "dtype": "float32", "from": "@0"},
            {"class": "expand_dims", "axis": "F", "from": "@1"}]


def _m_side_variable(rng: random.Random, info: Info) -> Chain:
    return [{"class": "variable", "shape": [rng.choice([8, 16, 32])], "add_batch_axis": True}]


Maker = Callable[[random.Random, Info], "Chain | None"]
#: (class, input kind, keeps the width, placements ("loop" / "root" / "after" / "side"), maker)
REGISTRY: tuple[tuple[str, str, bool, str, Maker], ...] = (
    ("activation", "dense", True, "loop root after", _m_activation),
    ("copy", "any", True, "loop root after", _m_copy),
    ("dropout", "dense", True, "loop root after", _m_dropout),
    ("layer_norm", "dense", True, "loop root after side", _m_layer_norm),
    ("norm", "dense", True, "loop root", _m_norm),
    ("batch_norm", "dense", True, "loop root after side", _m_batch_norm),
    ("scaled_grad", "dense", True, "loop root", _m_scaled_grad),
    ("combine", "dense", True, "loop root side", _m_combine),
    ("eval", "any", True, "loop root after", _m_eval),
    ("print", "any", True, "loop root after", _m_print),
    ("identity", "any", True, "loop root", _m_identity),
    ("tikhonov_regularization", "dense", True, "loop root", _m_tikhonov),
    ("reinterpret_data", "any", True, "loop root after", _m_reinterpret),
    ("positional_encoding", "dense", True, "loop root", _m_posenc_add),
    ("linear", "dense", True, "loop root", _m_linear_same),
    ("gating", "dense", True, "loop root side", _m_gating_pair),
    ("self_attention", "dense", True, "loop root", _m_self_att_same),
    ("batch_softmax", "dense", True, "root after", _m_batch_softmax),
    ("seq_len_mask", "any", True, "root after", _m_seq_len_mask),
    ("cumsum", "dense", True, "root", _m_cumsum),
    ("shift_axis", "any", True, "root", _m_shift_keep),
    ("linear", "any", False, "loop root after side", _m_linear_new),
    ("gating", "dense", False, "loop root side", _m_gating),
    ("reduce_out", "dense", False, "loop root side", _m_reduce_out),
    ("rnn_cell", "dense", False, "loop side", _m_rnn_cell),
    ("rec", "dense", False, "root after", _m_rec),
    ("conv", "dense", False, "after", _m_conv),
    ("concat", "dense", False, "loop root side", _m_concat),
    ("self_attention", "dense", False, "loop root after side", _m_self_att_new),
    ("top_k", "dense", False, "loop root after side", _m_top_k),
    ("positional_encoding", "dense", False, "loop root side", _m_posenc_new),
    ("linear", "sparse", False, "after", _m_embed_then),
    ("length", "any", False, "after", _m_length),
    ("range_from_length", "any", False, "after", _m_range_from_length),
    ("slice", "any", False, "after", _m_slice),
    ("pad", "any", False, "after", _m_pad),
    ("window", "any", False, "after", _m_window),
    ("time_chunking", "dense", False, "after", _m_time_chunking),
    ("prefix_in_time", "any", False, "after", _m_prefix),
    ("shift_axis", "any", False, "after", _m_shift),
    ("flatten_batch", "any", False, "after", _m_flatten_batch),
    ("gather", "any", False, "after", _m_gather_first),
    ("reduce", "any", False, "after", _m_reduce_t),
    ("compare", "sparse", False, "after", _m_compare_cast),
)
#: side branches from the root over an encoder layer (read as ``base:`` in the loop)
ROOT_SIDE: tuple[tuple[str, Maker], ...] = (
    ("reduce", _m_side_reduce),
    ("gather", _m_gather_first),
    ("length", _m_side_length),
    ("variable", _m_side_variable),
)


def _draw(rng: random.Random, where: str, info: Info, *, any_width: bool) -> tuple[str, Chain] | None:
    """A registry class for ``where`` that fits ``info`` (sparse / dense input, width), drawn at random, and
    the chain of layer dicts it makes."""
    cands = []
    for cls, accepts, same, places, maker in REGISTRY:
        if where not in places.split():
            continue
        if accepts == "dense" and info["sparse"] or accepts == "sparse" and not info["sparse"]:
            continue
        if not same and not any_width:
            continue
        cands.append((cls, maker))
    rng.shuffle(cands)
    for cls, maker in cands:
        chain = maker(rng, info)
        if chain:
            return chain[0]["class"], chain
    return None


def _place(layers: dict[str, Any], chain: Chain, src: str, base: str) -> list[str]:
    """Add the chain's layers under fresh names (``@in`` -> ``src``, ``@k`` -> the k-th name); their names."""
    names: list[str] = []
    for desc in chain:
        name = _fresh(layers, base if not names else f"{base}_{len(names)}")
        names.append(name)
        layers[name] = desc

    def sub(ref: str) -> str:
        prefix = "prev:" if ref.startswith("prev:") else ""
        body = ref[len(prefix):]
        if body == "@in":
            return src if not prefix else f"prev:{src}"
        if body.startswith("@") and body[1:].isdigit():
            return prefix + names[int(body[1:])]
        return ref

    for name in names:
        _map_refs(layers[name], sub)
    return names


def _summary(chain: Chain) -> str:
    parts = []
    for desc in chain:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(desc.items()) if k not in ("class", "from"))
        parts.append(f"{desc['class']}({opts})")
    return " -> ".join(parts)


def _reads_any_width(desc: dict[str, Any], slot_key: str = "from") -> bool:
    return desc.get("class") in ANY_WIDTH and slot_key == "from"


# ----------------------------------------------------------------------------------------------------
# Operators


def op_registry_in_loop(case: Case, rng: random.Random) -> Result:
    """A drawn registry layer between two connected layers of a searching loop."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    edges = []
    for k in _layers(unit):
        for slot in _slots(unit[k], ("from",)):
            ref = unit[k][slot[0]] if slot[1] is None else unit[k][slot[0]][slot[1]]
            body = ref[len("prev:"):] if ref.startswith("prev:") else ref
            if body in unit or ref.startswith("base:"):
                edges.append((k, slot, ref))
    if not edges:
        return None
    user, slot, ref = rng.choice(edges)
    sparse, dim = _kind(case, net, unit, ref)
    info = {"where": "loop", "sparse": sparse, "dim": dim}
    drawn = _draw(rng, "loop", info, any_width=_reads_any_width(unit[user]))
    if drawn is None:
        return None
    cls, chain = drawn
    names = _place(unit, chain, ref, f"{cls}_{user}")
    key, i = slot
    if i is None:
        unit[user][key] = names[-1]
    else:
        unit[user][key][i] = names[-1]
    return new, (f"{rec}: {cls} layer {rec}/{names[-1]} [{_summary(chain)}] between {ref!r} and its reader "
                 f"{rec}/{user}")


def op_registry_before_loop(case: Case, rng: random.Random) -> Result:
    """A drawn registry layer at the root over an encoder layer the loop reads; the loop's path reads it."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    path = _root_ancestors(net, rec) | {rec}
    sites = sorted(k for k in _root_ancestors(net, rec)
                   if net[k].get("class") not in ("choice", "decide", "variable", "constant"))
    if not sites:
        return None
    src = rng.choice(sites)
    unit = net[rec]["unit"]
    unit_readers = _readers(unit, f"base:{src}", f"base:{src}")
    root_readers = [k for k in _readers(net, src) if k in path and k != src]
    if not unit_readers and not root_readers:
        return None
    sparse, dim = _kind(case, net, net, src)
    info = {"where": "root", "sparse": sparse, "dim": dim}
    readers = [unit[k] for k in unit_readers] + [net[k] for k in root_readers]
    any_width = all(d.get("class") in ANY_WIDTH + ("generic_attention",) for d in readers)
    drawn = _draw(rng, "root", info, any_width=any_width)
    if drawn is None:
        return None
    cls, chain = drawn
    names = _place(net, chain, src, f"{src}_{cls}")
    out = names[-1]
    for k in unit_readers:
        _map_refs(unit[k], lambda r: f"base:{out}" if r == f"base:{src}" else r)
    for k in root_readers:
        _map_refs(net[k], lambda r: out if r == src else r)
    who = [f"{rec}/{k}" for k in unit_readers] + root_readers
    return new, f"root {cls} layer {out} [{_summary(chain)}] over {src}, read by {', '.join(who)} instead"


def op_registry_after_loop(case: Case, rng: random.Random) -> Result:
    """A drawn registry layer at the root over the decoder's output (beamed, or a decide of it), an output."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    decides = [k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") in (rec, [rec])]
    how = rng.choices(["rec", "new-decide", "decide"], [4, 3, 3 if decides else 0])[0]
    if how == "rec":
        src, where = rec, f"the rec layer {rec} itself"
    elif how == "decide":
        src = rng.choice(decides)
        where = f"the existing decide {src} of {rec}"
    else:
        src = _fresh(net, f"{rec}_decided")
        net[src] = {"class": "decide", "from": rec}
        where = f"a new decide {src} of {rec}"
    sparse, dim = _kind(case, net, net[rec]["unit"], "output") if "output" in net[rec]["unit"] else (False, None)
    info = {"where": "after", "sparse": sparse, "dim": dim}
    drawn = _draw(rng, "after", info, any_width=True)
    if drawn is None:
        return None
    cls, chain = drawn
    chain[-1]["is_output_layer"] = True
    names = _place(net, chain, src, f"{rec}_{cls}")
    return new, f"root output layer {names[-1]}: {cls} [{_summary(chain)}] over {where}"


def op_registry_side_source(case: Case, rng: random.Random) -> Result:
    """A drawn registry layer as an extra source of a loop layer that takes any width."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    choices = set(_unit_choices(unit))
    users = [k for k in _layers(unit) if unit[k].get("class") in ANY_WIDTH and "from" in unit[k] and k not in choices
             and not any(_kind(case, net, unit, r)[0] for r in _sources(unit[k]))]
    if not users:
        return None
    user = rng.choice(users)
    if rng.random() < 0.55:
        below = {k for k in _layers(unit) if user not in _frame_ancestors(unit, k) and k != user}
        cands = [k for k in sorted(below) if k not in choices] + [f"prev:{k}" for k in _layers(unit)
                                                                  if k not in choices and k != "end"]
        if not cands:
            return None
        src = rng.choice(cands)
        sparse, dim = _kind(case, net, unit, src)
        if sparse:
            return None
        info = {"where": "side", "sparse": False, "dim": dim}
        drawn = _draw(rng, "side", info, any_width=True)
        if drawn is None:
            return None
        cls, chain = drawn
        names = _place(unit, chain, src, f"{cls}_side")
        ref, where = names[-1], f"{rec}/{names[-1]} over {src!r}"
    else:
        sites = sorted(k for k in _root_ancestors(net, rec)
                       if net[k].get("class") not in ("choice", "decide", "variable", "constant")
                       and not _kind(case, net, net, k)[0])
        if not sites:
            return None
        src = rng.choice(sites)
        cls, maker = rng.choice(ROOT_SIDE)
        chain = maker(rng, {"where": "root", "sparse": False, "dim": None})
        names = _place(net, chain, src, f"{src}_{cls}")
        ref = f"base:{names[-1]}"
        where = f"root {names[-1]}" + ("" if cls == "variable" else f" over {src}") + ", read as base:"
    value = unit[user]["from"]
    unit[user]["from"] = [*value, ref] if isinstance(value, list) else [value, ref]
    return new, f"{rec}/{user} gets an extra source: {cls} layer {where} [{_summary(chain)}]"


FRESH74_OPERATORS: tuple[Op, ...] = (
    Op("registry-in-loop", op_registry_in_loop, 1.2),
    Op("registry-before-loop", op_registry_before_loop, 0.9),
    Op("registry-after-loop", op_registry_after_loop, 1),
    Op("registry-side-source", op_registry_side_source, 1),
)
