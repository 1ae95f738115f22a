"""A thirty-ninth set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Transformer-style decoder blocks assembled inside a searching decoder loop: self-attention over the
decoder's own history (keys and values of every frame so far kept by ``cum_concat``, or a left-only
``self_attention``), encoder-decoder attention of the frame's query on root (``base:``) encoder keys,
``layer_norm``, residual ``combine`` adds and feed-forward ``linear`` pairs, stacked and fed to the scores
and the next frame (none a variant of an earlier operator; no rule was written for any of them):

* ``history-att``: a residual causal self-attention sublayer over a loop state's own history: query, key
  and value ``linear`` projections of the state (or of its ``layer_norm``, pre-norm), the keys and values
  of this frame (or of ``prev:`` of the state, the frames before) accumulated by two ``cum_concat`` layers
  sharing one history dim (projected before, or the state accumulated once and projected after), energies
  a ``dot`` of the accumulated keys with the query over the key features, ``softmax_over_spatial`` over
  the history dim (scaled), the context a ``dot`` over the history dim (or a ``generic_attention``),
  maybe projected, added to the state (``combine`` add, maybe ``layer_norm``-ed after, post-norm); the
  state's readers in the frame read the sum, and maybe also the next frame's readers (``prev:``);
* ``cross-att-residual``: a residual encoder-decoder attention sublayer on a loop state: the query a
  ``linear`` of the state (or of its ``layer_norm``), keys a root ``linear`` of an encoder layer read as
  ``base:`` (or projected inside the loop from ``base:ENC``; the attended root layer is mostly one the
  loop reads already, sometimes another root sequence that does not depend on the loop, such as another
  decoder's output or its decision), energies a ``dot`` of keys and query over
  the shared key features, ``softmax_over_spatial`` over the encoder frames (scaled), the context a
  ``dot`` of the weights with a root value projection over the encoder's time axis (or a
  ``generic_attention``), projected back to the state's size and added to the state (maybe
  ``layer_norm``-ed after); the state's readers in the frame read the sum;
* ``ff-residual``: a position-wise feed-forward sublayer on a loop state: (pre-norm ``layer_norm``,) a
  ``linear`` with ``relu`` / ``gelu`` to two or four times the state's size, maybe ``dropout``, a
  ``linear`` back, added to the state (``combine`` add, maybe ``layer_norm``-ed after); the state's
  readers in the frame read the sum, maybe the next frame's readers too;
* ``block-stack``: a transformer decoder of one to three stacked blocks over the label embedding (an
  existing ``linear`` over ``prev:`` of a choice, or a new one; where the loop has several choices,
  sometimes of another choice than the one whose scores it feeds): each block a residual left-only
  ``self_attention`` (``attention_left_only``, one or more heads), maybe a residual encoder-decoder
  attention on ``base:`` keys and values, and a residual feed-forward pair, pre-norm (a final
  ``layer_norm``) or post-norm; the top block's output replaces the sources of the choice's scores (or is
  added to them), and maybe the blocks read a ``linear`` of the embedding and ``prev:`` of the top
  (the stack feeding the next frame);
* ``label-self-att``: a self-attention over the embeddings of the labels chosen so far: keys and values
  projected from an embedding of the previous label (``prev:`` of the choice) or of this frame's own
  label (a ``linear`` over the choice itself), accumulated by ``cum_concat``, a query from the embedding
  or from ``prev:`` of a loop state, ``dot`` energies, ``softmax_over_spatial`` over the label history,
  ``dot`` / ``generic_attention`` context; a loop layer the scores depend on reads the context as an extra
  source (``prev:`` of it when it is made after this frame's choice).
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
    _layers,
    _readers,
    _redirect,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH37_SEED = 20261230
N_FRESH37 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes that hold a dense decoder state of a known size
_STATE = ("linear", "rnn_cell", "self_attention", "dot_attention", "layer_norm")
#: root layer classes that keep the time axis of what they read
_TIMED_ROOT = ("linear", "rec", "copy", "pool", "conv", "dropout", "combine", "activation", "layer_norm",
               "eval", "self_attention", "softmax", "decide", "decide_keep_beam")
#: loop layer classes that pass label ids on
_LABEL_KEEPING = ("copy", "reinterpret_data", "gather", "squeeze", "switch", "decide", "slice", "expand_dims")
#: loop layer classes that reduce an encoder's time axis away
_REDUCING = ("generic_attention", "dot_attention", "reduce", "choice", "compare", "cum_concat")


def _size(desc: dict[str, Any]) -> int | None:
    """The feature size a layer dict states (``n_out``, or an ``out_dim`` with a dimension)."""
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    out_dim = desc.get("out_dim")
    if isinstance(out_dim, dict):
        dim = out_dim.get("__dim__", {}).get("dimension")
        return dim if isinstance(dim, int) else None
    return None


def _dim(description: str, dimension: int | None, kind: str) -> dict[str, Any]:
    return {"__dim__": {"description": description, "dimension": dimension, "kind": kind}}


def _timed_roots(net: dict[str, Any]) -> set[str]:
    """Root layers that (roughly) keep the input's time axis: the encoder's frames."""
    timed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(net):
            desc = net[k]
            cls = desc.get("class")
            if k in timed or cls not in _TIMED_ROOT:
                continue
            if cls == "rec" and not isinstance(desc.get("unit"), str):  # a loop: a sequence of its own
                timed.add(k)
                changed = True
                continue
            srcs = _sources(desc) if "from" in desc else ["data"]  # no ``from``: the input data
            if any(s == "data" or s.startswith("data:") or _head(s) in timed for s in srcs):
                timed.add(k)
                changed = True
    return timed


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with a time axis that ``rec`` reads (transitively): the encoder's frames, or where the
    network has one, an earlier decoder's output (with its beam) or its decision."""
    timed = _timed_roots(net)
    return [k for k in sorted(_root_ancestors(net, rec)) if k in timed]


def _pick_encoder(net: dict[str, Any], rec: str, rng: random.Random) -> str | None:
    """A root layer with a time axis for ``rec`` to attend: mostly one it reads already, sometimes one it
    does not read yet but could (another decoder or an output over the encoder; not one after ``rec``)."""
    timed, anc = _timed_roots(net), _encoders(net, rec)
    others = [k for k in sorted(timed) if k != rec and k not in anc and rec not in _root_ancestors(net, k)]
    if others and (not anc or rng.random() < 0.3):
        return rng.choice(others)
    return rng.choice(anc) if anc else None


def _timed_in_loop(net: dict[str, Any], unit: dict[str, Any]) -> set[str]:
    """Loop layers with an axis over the encoder's frames (attention energies and weights)."""
    roots = _timed_roots(net)
    timed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in timed:
                continue
            cls = unit[k].get("class")
            base = any(r.startswith("base:") and _head(r[5:]) in roots for r in _refs(unit[k]))
            if cls == "softmax_over_spatial" or base and cls not in _REDUCING:
                timed.add(k)
                changed = True
                continue
            if cls in _REDUCING or cls == "dot":
                continue
            local = {_head(r.removeprefix("prev:")) for r in _refs(unit[k])}
            if local & timed:
                timed.add(k)
                changed = True
    return timed


def _states(net: dict[str, Any], rec: str) -> list[str]:
    """Dense loop layers of a known size (no scores, no targets, no encoder axis) read in the frame."""
    unit = net[rec]["unit"]
    timed = _timed_in_loop(net, unit)
    out = []
    for k in _layers(unit):
        desc = unit[k]
        cls = desc.get("class")
        if cls == "rec" and isinstance(desc.get("unit"), str):
            cls = "rnn_cell"
        size = _size(desc)
        if (k == "end" or cls not in _STATE or size is None or size < 2 or k in timed
                or desc.get("target") is not None or desc.get("loss") is not None
                or desc.get("activation") in ("softmax", "log_softmax", "sigmoid")):
            continue
        if _readers(unit, k):
            out.append(k)
    return out


def _sparse_in_loop(unit: dict[str, Any]) -> set[str]:
    """Loop layers with label ids as output: choices and what copies / gathers them."""
    sparse = set(_unit_choices(unit))
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if (k not in sparse and unit[k].get("class") in _LABEL_KEEPING
                    and {_head(r.removeprefix("prev:")) for r in _refs(unit[k])} & sparse):
                sparse.add(k)
                changed = True
    return sparse


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("target") is not None and unit[c].get("search", True) is not False]


def _scores_of(unit: dict[str, Any], choice: str) -> str | None:
    """The loop layer with the scores a choice reads (a softmax / log-softmax), if it reads one."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit:
        return None
    desc = unit[srcs[0]]
    if desc.get("class") == "softmax" or desc.get("activation") in ("softmax", "log_softmax"):
        return srcs[0]
    return None


def _embeddings(unit: dict[str, Any], choice: str) -> list[str]:
    """Loop ``linear`` layers of a known size over ``prev:`` of the choice alone."""
    return [k for k in _layers(unit) if unit[k].get("class") == "linear" and _size(unit[k])
            and _sources(unit[k]) == [f"prev:{choice}"]]


def _prefix(unit: dict[str, Any], base: str) -> str:
    """A name prefix no layer of ``unit`` uses yet (its dim tags are named after it)."""
    name, i = base, 2
    while any(k == name or k.startswith(f"{name}_") for k in unit):
        name, i = f"{base}{i}", i + 1
    return name


def _heads(dm: int, rng: random.Random) -> int:
    return rng.choice([h for h in (1, 2, 4, 8) if dm % h == 0])


def _redirect_prev(unit: dict[str, Any], name: str, new: str, readers: list[str]) -> None:
    """Let ``readers`` of ``prev:name`` read ``prev:new`` (``new`` takes over an ``initial_output``)."""
    if "initial_output" in unit[name] and isinstance(unit[name]["initial_output"], (int, float, str)):
        unit[new]["initial_output"] = unit[name]["initial_output"]
    _redirect(unit, readers, f"prev:{name}", f"prev:{new}")


def _linear(src: Any, size: int | None = None, *, out_dim: dict[str, Any] | None = None,
            activation: str | None = None, bias: bool = False) -> dict[str, Any]:
    desc: dict[str, Any] = {"class": "linear", "activation": activation, "from": src}
    if not bias:
        desc["with_bias"] = False
    if out_dim is not None:
        desc["out_dim"] = out_dim
    else:
        desc["n_out"] = size
    return desc


def _history_attention(unit: dict[str, Any], rec: str, prefix: str, kv_src: str, q_src: str, key_feat: int,
                       value_size: int, rng: random.Random, *, late_proj: bool) -> tuple[str, str]:
    """Add a causal attention over the accumulated frames of ``kv_src`` (``cum_concat``) queried by
    ``q_src``; (context layer, a short description)."""
    hist = _fresh(unit, f"{prefix}_hist")
    hist_dim = _dim(f"{rec}-{prefix}-history", None, "spatial")
    kdim = _dim(f"{rec}-{prefix}-key-feat", key_feat, "feature")
    q = _fresh(unit, f"{prefix}_query")
    unit[q] = _linear(q_src, out_dim=kdim)
    if late_proj:
        unit[hist] = {"class": "cum_concat", "from": kv_src, "out_spatial_dim": hist_dim}
        k_acc, v_acc = _fresh(unit, f"{prefix}_keys"), _fresh(unit, f"{prefix}_values")
        unit[k_acc] = _linear(hist, out_dim=kdim)
        unit[v_acc] = _linear(hist, value_size)
        how = f"cum_concat of {kv_src} projected to keys / values"
    else:
        k, v = _fresh(unit, f"{prefix}_key"), _fresh(unit, f"{prefix}_value")
        unit[k] = _linear(kv_src, out_dim=kdim)
        unit[v] = _linear(kv_src, value_size)
        k_acc, v_acc = _fresh(unit, f"{prefix}_key_accum"), _fresh(unit, f"{prefix}_value_accum")
        unit[k_acc] = {"class": "cum_concat", "from": k, "out_spatial_dim": hist_dim}
        unit[v_acc] = {"class": "cum_concat", "from": v, "out_spatial_dim": hist_dim}
        how = f"keys / values of {kv_src} accumulated by cum_concat"
    energy, weights = _fresh(unit, f"{prefix}_energy"), _fresh(unit, f"{prefix}_weights")
    pair = [k_acc, q] if rng.random() < 0.6 else [q, k_acc]
    unit[energy] = {"class": "dot", "from": pair, "reduce": kdim, "var1": "auto", "var2": "auto"}
    unit[weights] = {"class": "softmax_over_spatial", "from": energy, "axis": hist_dim,
                     "energy_factor": round(key_feat ** -0.5, 6)}
    ctx = _fresh(unit, f"{prefix}_context")
    if rng.random() < 0.65:
        unit[ctx] = {"class": "dot", "from": [weights, v_acc], "reduce": hist_dim, "var1": "auto",
                     "var2": "auto"}
        how += ", dot context"
    else:
        unit[ctx] = {"class": "generic_attention", "weights": weights, "base": v_acc}
        how += ", generic_attention context"
    return ctx, how


def op_history_att(case: Case, rng: random.Random) -> Result:
    """A residual causal self-attention over a loop state's own history (``cum_concat`` keys/values)."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _states(net, r)]
    if not sites:
        return None
    rec, state = rng.choice(sites)
    unit = net[rec]["unit"]
    size = _size(unit[state])
    assert size is not None
    readers, prev_readers = _readers(unit, state), _readers(unit, state, f"prev:{state}")
    prefix = _prefix(unit, f"{state}_self_att")
    pre_norm = rng.random() < 0.4
    src = state
    if pre_norm:
        src = _fresh(unit, f"{state}_ln")
        unit[src] = {"class": "layer_norm", "from": state}
    kv_src = src if rng.random() < 0.7 else f"prev:{src}"
    ctx, how = _history_attention(unit, rec, prefix, kv_src, src, rng.choice([8, 16, 32]), size, rng,
                                  late_proj=rng.random() < 0.3)
    if rng.random() < 0.5:
        out = _fresh(unit, f"{prefix}_out")
        unit[out] = _linear(ctx, size)
        ctx = out
    res = _fresh(unit, f"{prefix}_res")
    unit[res] = {"class": "combine", "kind": "add", "from": [state, ctx]}
    final = res
    if not pre_norm and rng.random() < 0.6:
        final = _fresh(unit, f"{prefix}_norm")
        unit[final] = {"class": "layer_norm", "from": res}
    _redirect(unit, readers, state, final)
    desc = (f"{rec}: {', '.join(readers)} read {final}, {state} plus a causal self-attention over its "
            f"history ({how}{', pre-norm' if pre_norm else ''})")
    if prev_readers and rng.random() < 0.3:
        _redirect_prev(unit, state, final, prev_readers)
        desc += f"; {', '.join(prev_readers)} read prev:{final}"
    return new, desc


def op_cross_att_residual(case: Case, rng: random.Random) -> Result:
    """A residual encoder-decoder attention sublayer on a loop state (``dot`` with ``base:`` keys)."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _states(net, r)]
    if not sites:
        return None
    rec, state = rng.choice(sites)
    enc = _pick_encoder(net, rec, rng)
    if enc is None:
        return None
    unit = net[rec]["unit"]
    size = _size(unit[state])
    assert size is not None
    readers = _readers(unit, state)
    prefix = _prefix(unit, f"{state}_cross_att")
    key_feat = rng.choice([8, 16, 32])
    kdim = _dim(f"{rec}-{prefix}-key-feat", key_feat, "feature")
    pre_norm = rng.random() < 0.4
    src = state
    if pre_norm:
        src = _fresh(unit, f"{state}_ln")
        unit[src] = {"class": "layer_norm", "from": state}
    q = _fresh(unit, f"{prefix}_query")
    unit[q] = _linear(src, out_dim=kdim)
    if rng.random() < 0.7:
        key = _fresh(net, f"{enc}_cross_key")
        net[key] = _linear(enc, out_dim=kdim)
        key_ref = f"base:{key}"
        where = f"root {key}"
    else:
        key_ref = _fresh(unit, f"{prefix}_key")
        unit[key_ref] = _linear(f"base:{enc}", out_dim=kdim)
        where = f"{rec}/{key_ref} over base:{enc}"
    value = _fresh(net, f"{enc}_cross_value")
    net[value] = _linear(enc, rng.choice([key_feat, size]))
    energy, weights = _fresh(unit, f"{prefix}_energy"), _fresh(unit, f"{prefix}_weights")
    pair = [key_ref, q] if rng.random() < 0.6 else [q, key_ref]
    unit[energy] = {"class": "dot", "from": pair, "reduce": kdim, "var1": "auto", "var2": "auto"}
    unit[weights] = {"class": "softmax_over_spatial", "from": energy, "energy_factor": round(key_feat ** -0.5, 6)}
    ctx = _fresh(unit, f"{prefix}_context")
    if rng.random() < 0.6:
        unit[ctx] = {"class": "dot", "from": [weights, f"base:{value}"], "red1": "T", "red2": "T",
                     "var1": "auto", "var2": "auto"}
    else:
        unit[ctx] = {"class": "generic_attention", "weights": weights, "base": f"base:{value}"}
    out = _fresh(unit, f"{prefix}_out")
    unit[out] = _linear(ctx, size)
    res = _fresh(unit, f"{prefix}_res")
    unit[res] = {"class": "combine", "kind": "add", "from": [state, out]}
    final = res
    if not pre_norm and rng.random() < 0.6:
        final = _fresh(unit, f"{prefix}_norm")
        unit[final] = {"class": "layer_norm", "from": res}
    _redirect(unit, readers, state, final)
    return new, (f"{rec}: {', '.join(readers)} read {final}, {state} plus an encoder-decoder attention "
                 f"({unit[ctx]['class']} context) of {q} on {where} over {enc}, values {value}"
                 f"{', pre-norm' if pre_norm else ''}")


def op_ff_residual(case: Case, rng: random.Random) -> Result:
    """A residual position-wise feed-forward sublayer on a loop state."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _states(net, r)]
    if not sites:
        return None
    rec, state = rng.choice(sites)
    unit = net[rec]["unit"]
    size = _size(unit[state])
    assert size is not None
    readers, prev_readers = _readers(unit, state), _readers(unit, state, f"prev:{state}")
    prefix = _prefix(unit, f"{state}_ff")
    pre_norm = rng.random() < 0.5
    src = state
    if pre_norm:
        src = _fresh(unit, f"{state}_ff_ln")
        unit[src] = {"class": "layer_norm", "from": state}
    act = rng.choice(["relu", "relu", "gelu"])
    inner = size * rng.choice([2, 4])
    ff1, ff2 = _fresh(unit, f"{prefix}1"), _fresh(unit, f"{prefix}2")
    unit[ff1] = _linear(src, inner, activation=act, bias=True)
    mid = ff1
    if rng.random() < 0.4:
        mid = _fresh(unit, f"{prefix}_drop")
        unit[mid] = {"class": "dropout", "from": ff1, "dropout": 0.1}
    unit[ff2] = _linear(mid, size, bias=True)
    res = _fresh(unit, f"{prefix}_res")
    unit[res] = {"class": "combine", "kind": "add", "from": [state, ff2]}
    final = res
    if not pre_norm and rng.random() < 0.6:
        final = _fresh(unit, f"{prefix}_norm")
        unit[final] = {"class": "layer_norm", "from": res}
    _redirect(unit, readers, state, final)
    desc = (f"{rec}: {', '.join(readers)} read {final}, {state} plus a feed-forward pair "
            f"({act}, {inner}){', pre-norm' if pre_norm else ''}")
    if prev_readers and rng.random() < 0.3:
        _redirect_prev(unit, state, final, prev_readers)
        desc += f"; {', '.join(prev_readers)} read prev:{final}"
    return new, desc


def op_block_stack(case: Case, rng: random.Random) -> Result:
    """A stack of transformer decoder blocks over the label embedding feeding a choice's scores."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        sites += [(rec, c, s) for c in _label_choices(unit) if (s := _scores_of(unit, c))]
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    labels = _label_choices(unit)
    if len(labels) > 1 and rng.random() < 0.4:  # the labels of another choice of the loop
        choice = rng.choice([c for c in labels if c != choice])
    embs = _embeddings(unit, choice)
    if embs and rng.random() < 0.6:
        emb = rng.choice(embs)
        dm = _size(unit[emb])
        assert dm is not None
        made = False
    else:
        dm = rng.choice([8, 16, 32])
        emb = _fresh(unit, f"{choice}_trafo_embed")
        unit[emb] = _linear(f"prev:{choice}", dm)
        made = True
    enc = _pick_encoder(net, rec, rng) if rng.random() < 0.5 else None
    n_blocks = rng.choice([1, 2, 2, 3])
    pre_norm = rng.random() < 0.5
    heads = _heads(dm, rng)
    key_ref = value_ref = None
    kdim = None
    if enc is not None:
        key, value = _fresh(net, f"{enc}_trafo_key"), _fresh(net, f"{enc}_trafo_value")
        kdim = _dim(f"{rec}-{key}-feat", dm, "feature")
        net[key] = _linear(enc, out_dim=kdim)
        net[value] = _linear(enc, dm)
        key_ref, value_ref = f"base:{key}", f"base:{value}"

    def sublayer(x: str, name: str, make: Any) -> str:
        """Residual around ``make(input)``: pre-norm (norm the input) or post-norm (norm the sum)."""
        src = x
        if pre_norm:
            src = _fresh(unit, f"{name}_ln")
            unit[src] = {"class": "layer_norm", "from": x}
        body = make(src)
        res = _fresh(unit, f"{name}_res")
        unit[res] = {"class": "combine", "kind": "add", "from": [x, body]}
        if pre_norm:
            return res
        norm = _fresh(unit, f"{name}_norm")
        unit[norm] = {"class": "layer_norm", "from": res}
        return norm

    x = emb
    dec_in = None
    if rng.random() < 0.35:  # the blocks' input: the label embedding with the top block's previous output
        x = dec_in = _fresh(unit, "dec_input")
        unit[dec_in] = _linear([emb], dm)
    for i in range(n_blocks):
        blk = _prefix(unit, f"dec_{i + 1}")

        def self_att(src: str, blk: str = blk) -> str:
            att = _fresh(unit, f"{blk}_self_att")
            unit[att] = {"class": "self_attention", "from": src, "num_heads": heads, "total_key_dim": dm,
                         "n_out": dm, "attention_left_only": True}
            return att

        def cross_att(src: str, blk: str = blk) -> str:
            q, energy = _fresh(unit, f"{blk}_att_query"), _fresh(unit, f"{blk}_att_energy")
            weights, ctx = _fresh(unit, f"{blk}_att_weights"), _fresh(unit, f"{blk}_att")
            unit[q] = _linear(src, out_dim=kdim)
            unit[energy] = {"class": "dot", "from": [key_ref, q], "reduce": kdim, "var1": "auto",
                            "var2": "auto"}
            unit[weights] = {"class": "softmax_over_spatial", "from": energy,
                             "energy_factor": round(dm ** -0.5, 6)}
            unit[ctx] = {"class": "generic_attention", "weights": weights, "base": value_ref}
            return ctx

        def feed_forward(src: str, blk: str = blk) -> str:
            ff1, ff2 = _fresh(unit, f"{blk}_ff1"), _fresh(unit, f"{blk}_ff2")
            unit[ff1] = _linear(src, dm * 2, activation="relu", bias=True)
            unit[ff2] = _linear(ff1, dm, bias=True)
            return ff2

        x = sublayer(x, f"{blk}_self_att", self_att)
        if enc is not None:
            x = sublayer(x, f"{blk}_att", cross_att)
        x = sublayer(x, f"{blk}_ff", feed_forward)
    top = x
    if pre_norm:
        top = _fresh(unit, "dec_final_ln")
        unit[top] = {"class": "layer_norm", "from": x}
    sparse = _sparse_in_loop(unit)
    if rng.random() < 0.6 or any(r.removeprefix("prev:") in sparse for r in _sources(unit[scores])):
        old = _sources(unit[scores])
        unit[scores]["from"] = [top]
        how = f"{rec}/{scores} reads {top} instead of {', '.join(old) or 'nothing'}"
    else:
        _add_source(unit[scores], top)
        how = f"{rec}/{scores} also reads {top}"
    desc = (f"{how}: {n_blocks} {'pre' if pre_norm else 'post'}-norm decoder block(s) over "
            f"{'new ' if made else ''}{emb} (self_attention left-only, {heads} head(s)"
            f"{f', cross-attention on {enc}' if enc else ''}, feed-forward)")
    if dec_in is not None:
        _add_source(unit[dec_in], f"prev:{top}")
        desc += f"; the blocks read {dec_in}, a linear of {emb} and prev:{top}"
    return new, desc


def op_label_self_att(case: Case, rng: random.Random) -> Result:
    """A self-attention over the embeddings of the labels chosen so far, read by a scores' ancestor."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        timed, sparse = _timed_in_loop(net, unit), _sparse_in_loop(unit)
        for c in _label_choices(unit):
            scores = _scores_of(unit, c)
            if scores is None:
                continue
            # a dense reader of dense sources (a context concatenated to label ids is no valid input)
            users = [k for k in sorted({scores} | _frame_ancestors(unit, scores))
                     if k not in timed and _sources(unit[k])
                     and (unit[k].get("class") in ("linear", "softmax", "rnn_cell")
                          or unit[k].get("class") == "rec" and isinstance(unit[k].get("unit"), str))
                     and not any(s.startswith(("data", "base:data")) or s.removeprefix("prev:") in sparse
                                 for s in _sources(unit[k]))]
            sites += [(rec, c, u) for u in users]
    if not sites:
        return None
    rec, choice, user = rng.choice(sites)
    unit = net[rec]["unit"]
    after = rng.random() < 0.45
    embs = [e for e in _embeddings(unit, choice) if e != user and user not in _frame_ancestors(unit, e)]
    if after:
        emb = _fresh(unit, f"{choice}_cur_embed")
        unit[emb] = _linear(choice, rng.choice([8, 16]))
        made = True
    elif embs and rng.random() < 0.6:
        emb, made = rng.choice(embs), False
    else:
        emb = _fresh(unit, f"{choice}_hist_embed")
        unit[emb] = _linear(f"prev:{choice}", rng.choice([8, 16]))
        made = True
    states = [s for s in _states(net, rec) if s != emb]
    q_src = emb
    if states and rng.random() < 0.4:
        q_src = f"prev:{rng.choice(states)}"
    prefix = _prefix(unit, f"{choice}_label_att")
    ctx, how = _history_attention(unit, rec, prefix, emb, q_src, rng.choice([8, 16]), rng.choice([8, 16]), rng,
                                  late_proj=False)
    ref = f"prev:{ctx}" if after else ctx
    _add_source(unit[user], ref)
    label = f"this frame's {choice}" if after else f"prev:{choice}"
    return new, (f"{rec}/{user} reads {ref}: attention of {q_src} over the embeddings of the labels so far "
                 f"({'new ' if made else ''}{emb} of {label}; {how})")


FRESH37_OPERATORS: tuple[Op, ...] = (
    Op("history-att", op_history_att, 1),
    Op("cross-att-residual", op_cross_att_residual, 1),
    Op("ff-residual", op_ff_residual, 1),
    Op("block-stack", op_block_stack, 1),
    Op("label-self-att", op_label_self_att, 1),
)
