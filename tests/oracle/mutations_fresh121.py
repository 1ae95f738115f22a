"""A hundred-and-twenty-third set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Convolutional (non-recurrent) decoders in search, ConvS2S-style: a causal convolution over the history of
label embeddings inside the searching loop (the last k frames kept by a ``window`` over ``prev:`` states, a
``cum_concat`` history sliced to its last k entries, or a fixed-size buffer shifted each frame with ``concat`` /
``slice`` of ``prev:``), gated linear units (``gating`` / ``combine`` with a sigmoid), residual connections,
attention per decoder block over the encoder read through ``base:``, position embeddings from ``:i``, and the
mistakes users make (the history buffer without ``initial_output``, a convolution over the whole history axis
without causal padding, the buffer fed the current label). Sources: ConvS2S (Gehring et al. 2017, "Convolutional
Sequence to Sequence Learning": GLU blocks, residuals scaled by sqrt(0.5), multi-step attention, learned position
embeddings) and its RETURNN ports, ``ConvLayer``, ``WindowLayer`` (its recurrent branch with
``get_rec_initial_extra_outputs``), ``CumConcatLayer``, ``GatingLayer``, ``SliceLayer``, ``ConcatLayer`` in the
installed ``returnn/tf/layers/{basic,rec}.py`` (none a variant of an earlier operator; no rule was written for
any of them). Every operator builds a ConvS2S decoder block on a searching decoder of the base (its input the
embedding of ``prev:CHOICE``, an existing one of the base or a new one, optionally plus a position embedding of
``:i``) and lets the layer that projects to the choice's scores read the block's output, in addition to its old
input or instead of it (the decoder then non-recurrent but for the label history):

* ``convs2s-window-glu``: the last k input frames kept by a ``window`` layer inside the loop (``window_size`` k,
  ``window_left`` k-1 or ``window_right`` 0, as the recurrent branch of ``WindowLayer.__init__`` demands), over
  this frame's input, over ``prev:`` of it, or over the embedding of the frame's own choice (the buffer fed the
  current label) read back as ``prev:``; the convolution a ``merge_dims`` + ``linear`` over the window or a
  ``conv`` with ``padding: "valid"`` over the window axis; then a GLU, a residual (maybe scaled by sqrt(0.5)),
  maybe attention. Targets: the rec state of ``WindowLayer`` (``rec_vars_outputs["state"]``,
  ``get_rec_initial_extra_outputs``) under the beam (its re-selection by the frame's search choices in
  ``_SubnetworkRecCell``), ``ConvLayer`` in the loop, the choice's sources' beams.
* ``convs2s-cumconcat-conv``: the whole label history kept by ``cum_concat`` (its ``out_spatial_dim`` declared),
  over this frame's input or ``prev:`` of it, either cut to its last k entries (``slice_nd`` on the history dim
  from ``max(:i - k + 1, 0)``, size k) and convolved with ``padding: "same"``, or convolved over the whole history
  axis (``"same"``: the form without causal padding users write), max- or mean-pooled over the history axis
  (``reduce`` over ``spatial``), then GLU / residual / attention. Targets: ``CumConcatLayer`` (its state and its
  per-frame dyn-size dim tag, whose ``dyn_size_ext`` carries the beam) in search, ``SliceNdLayer`` with a ``:i``
  start, ``ConvLayer`` / ``ReduceLayer`` on the history dim.
* ``convs2s-stacked-blocks``: two or three ConvS2S decoder blocks stacked in the loop (the block input the label
  embedding, half the time plus a position embedding of ``:i``): each a causal ``window`` convolution over the
  previous block's output (this frame's, or ``prev:`` of it), a GLU, a residual and (multi-step attention) its own
  attention over the encoder through ``base:``; the last block feeds the scores' projection. Targets: chains of
  recurrent ``window`` states whose inputs carry the beam through attention contexts (``generic_attention`` on a
  ``base:`` value, ``softmax_over_spatial``), ``prev:`` of a block output.

A fourth and fifth operator were written and dropped after trial runs, before the set was seeded into use: the
hand-shifted fixed-size buffer (``concat`` / ``slice`` of ``prev:buf``) failed RETURNN's template construction
(``'F' axis not found`` on the dummy template of ``prev:buf``) unless ``initial_output`` came from a ``base:``
layer, and the training-style parallel convolution over ``data:TARGET`` at the root failed on the missing target
placeholder (``None values not supported``): both failures unrelated to search.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _layers,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH121_SEED = 20270183
N_FRESH121 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# Sites and shared parts of a ConvS2S decoder block


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _proj(unit: dict[str, Any], choice: str) -> str | None:
    """The ``softmax`` / ``linear`` layer that projects to the choice's scores (through one-source
    ``activation`` / ``copy`` / ``eval`` layers), if any."""
    srcs = _sources(unit[choice])
    seen: set[str] = set()
    while len(srcs) == 1 and srcs[0] in unit and isinstance(unit[srcs[0]], dict) and srcs[0] not in seen:
        name = srcs[0]
        seen.add(name)
        desc = unit[name]
        if desc.get("class") in ("softmax", "linear"):
            return name if _sources(desc) else None
        if desc.get("class") in ("activation", "copy", "eval"):
            srcs = _sources(desc)
            continue
        return None
    return None


def _sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            desc = unit[choice]
            if desc.get("input_type") == "regression" or _data_target(desc) is None:
                continue
            if _proj(unit, choice) is not None:
                out.append((rec, choice))
    return out


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A dense root layer the decoder reads through ``base:`` (the encoder), if any."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc) + [v for v in (desc.get("base"), desc.get("keys"), desc.get("values"))
                                       if isinstance(v, str)]:
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    if (name in net and isinstance(net[name], dict)
                            and net[name].get("class") not in ("rec", "choice", "decide", "length", "reduce")):
                        found.append(name)
    return min(found) if found else None


def _label_emb(unit: dict[str, Any], choice: str, rng: random.Random) -> tuple[str, int, str]:
    """The embedding of ``prev:CHOICE`` (an existing ``linear`` with an int ``n_out``, or a new one)."""
    found = [k for k in _layers(unit) if unit[k].get("class") == "linear"
             and _sources(unit[k]) == [f"prev:{choice}"] and isinstance(unit[k].get("n_out"), int)
             and not isinstance(unit[k].get("n_out"), bool)]
    if found and rng.random() < 0.75:
        name = rng.choice(found)
        return name, unit[name]["n_out"], f"the base's {name}"
    name = _fresh(unit, "conv_emb")
    d = rng.choice([4, 6, 8])
    unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}", "n_out": d}
    return name, d, f"{name} = embedding of prev:{choice} ({d})"


def _block_input(unit: dict[str, Any], choice: str, rng: random.Random, p_pos: float) -> tuple[str, int, str]:
    """The block's input: the label embedding, maybe plus a position embedding of ``:i``."""
    emb, d, how = _label_emb(unit, choice, rng)
    if rng.random() >= p_pos:
        return emb, d, how
    x = _fresh(unit, "conv_in")
    if rng.random() < 0.5:
        unit[x] = {"class": "positional_encoding", "add_to_input": True, "from": emb}
        return x, d, f"{how}; {x} = sinusoidal positional_encoding added to {emb}"
    max_pos = rng.choice([32, 64, 100])
    pos = _fresh(unit, "pos_idx")
    src = ":i"
    if rng.random() < 0.5:
        clip = _fresh(unit, "pos_clip")
        unit[clip] = {"class": "eval", "from": ":i", "eval": f"tf.minimum(source(0), {max_pos - 1})"}
        src = clip
    unit[pos] = {"class": "reinterpret_data", "from": src, "set_sparse": True, "set_sparse_dim": max_pos}
    pos_emb = _fresh(unit, "pos_emb")
    unit[pos_emb] = {"class": "linear", "activation": None, "with_bias": False, "from": pos, "n_out": d}
    unit[x] = {"class": "combine", "kind": "add", "from": [emb, pos_emb]}
    return x, d, (f"{how}; {x} = {emb} + {pos_emb} (learned position embedding of :i"
                  f"{' clipped' if src != ':i' else ''} as a sparse index < {max_pos})")


def _glu(unit: dict[str, Any], feat: str, d: int, rng: random.Random, *, projected: bool = False) -> tuple[str, str]:
    """A gated linear unit of ``feat`` (``feat`` already the 2d-dim convolution output when ``projected``)."""
    glu = _fresh(unit, "glu")
    if projected or rng.random() < 0.6:
        conv = feat
        if not projected:
            conv = _fresh(unit, "conv")
            unit[conv] = {"class": "linear", "activation": None, "from": feat, "n_out": 2 * d}
        unit[glu] = {"class": "gating", "from": conv, "activation": "identity", "gate_activation": "sigmoid"}
        return glu, f"{glu} = gating (GLU) of {conv}"
    lin = _fresh(unit, "conv_a")
    unit[lin] = {"class": "linear", "activation": None, "from": feat, "n_out": d}
    gate = _fresh(unit, "conv_gate")
    unit[gate] = {"class": "linear", "activation": "sigmoid", "from": feat, "n_out": d}
    unit[glu] = {"class": "combine", "kind": "mul", "from": [lin, gate]}
    return glu, f"{glu} = {lin} * sigmoid-{gate} (both linear of {feat})"


def _finish(net: dict[str, Any], rec: str, choice: str, glu: str, residual: str | None, d: int,
            rng: random.Random, *, p_att: float = 0.35) -> str:
    """Residual, maybe attention over the encoder, and the scores' projection reading the block."""
    unit = net[rec]["unit"]
    out = glu
    parts = []
    if residual is not None and rng.random() < 0.75:
        res = _fresh(unit, "conv_res")
        unit[res] = {"class": "combine", "kind": "add", "from": [glu, residual]}
        out = res
        parts.append(f"{res} = {glu} + {residual}")
        if rng.random() < 0.5:
            scaled = _fresh(unit, "conv_res_scaled")
            unit[scaled] = {"class": "eval", "from": res, "eval": "source(0) * 0.7071"}
            out = scaled
            parts.append(f"{scaled} = sqrt(0.5) * {res}")
    out, att_how = _attend(net, rec, out, d, rng, p_att)
    if att_how:
        parts.append(att_how)
    parts.append(_inject(unit, choice, out, rng))
    return "; ".join(parts)


def _attend(net: dict[str, Any], rec: str, out: str, d: int, rng: random.Random, p_att: float) -> tuple[str, str]:
    """Maybe attention of the block output ``out`` over the encoder (through ``base:``), added to it."""
    unit = net[rec]["unit"]
    enc = _encoder(net, rec)
    if enc is None or rng.random() >= p_att:
        return out, ""
    key = _fresh(net, f"{enc}_conv_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": d}
    val = _fresh(net, f"{enc}_conv_val")
    net[val] = {"class": "linear", "activation": None, "from": enc, "n_out": d}
    query = _fresh(unit, "conv_query")
    unit[query] = {"class": "linear", "activation": None, "with_bias": False, "from": out, "n_out": d}
    e_in = _fresh(unit, "conv_energy_in")
    unit[e_in] = {"class": "combine", "kind": "add", "from": [f"base:{key}", query]}
    e_tanh = _fresh(unit, "conv_energy_tanh")
    unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
    energy = _fresh(unit, "conv_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": e_tanh, "n_out": 1}
    weights = _fresh(unit, "conv_att_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    ctx = _fresh(unit, "conv_att")
    unit[ctx] = {"class": "generic_attention", "weights": weights, "base": f"base:{val}"}
    with_ctx = _fresh(unit, "conv_block")
    unit[with_ctx] = {"class": "combine", "kind": "add", "from": [out, ctx]}
    return with_ctx, (f"attention of {query} on root {key} / {val} (linear of {enc}, via base:), "
                      f"{with_ctx} = {out} + {ctx}")


def _inject(unit: dict[str, Any], choice: str, out: str, rng: random.Random) -> str:
    """The layer projecting to the choice's scores reads ``out`` (besides its input, or instead of it)."""
    parts = []
    proj = _proj(unit, choice)
    assert proj is not None
    if rng.random() < 0.6:
        _add_source(unit[proj], out)
        parts.append(f"{proj} (the scores' projection) also reads {out}")
    else:
        old = unit[proj].get("from")
        unit[proj]["from"] = [out]
        parts.append(f"{proj} (the scores' projection) reads only {out} instead of {old} (non-recurrent decoder)")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# convs2s-window-glu


def op_convs2s_window_glu(case: Case, rng: random.Random) -> Result:
    """The last k input frames kept by a ``window`` layer in the loop, convolved, GLU, residual."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    x, d, how = _block_input(unit, choice, rng, 0.3)
    k = rng.choice([2, 3, 4])
    kind = rng.choices(["this", "prev", "own-choice"], [0.55, 0.25, 0.2])[0]
    win = _fresh(unit, "conv_window")
    read = win
    residual = x
    if kind == "this":
        src = x
    elif kind == "prev":
        src = f"prev:{x}"
        residual = f"prev:{x}"
    else:
        cur = _fresh(unit, "conv_emb_cur")
        unit[cur] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": d}
        src = cur
        read = f"prev:{win}"
        residual = f"prev:{cur}"
        how += f"; {cur} = embedding of this frame's {choice}"
    desc: dict[str, Any] = {"class": "window", "from": src, "window_size": k}
    side = rng.choice(["left", "right"])
    if side == "left":
        desc["window_left"] = k - 1
    elif side == "right":
        desc["window_right"] = 0
    if rng.random() < 0.3:
        desc["axis"] = "T"
    unit[win] = desc
    how += f"; {win} = window of {src} (size {k}, {side} side given), read as {read}"
    if rng.random() < 0.6:
        flat = _fresh(unit, "conv_window_flat")
        unit[flat] = {"class": "merge_dims", "from": read, "axes": "except_batch"}
        glu, g_how = _glu(unit, flat, d, rng)
        how += f"; {flat} = merge_dims of it; {g_how}"
    else:
        conv = _fresh(unit, "conv")
        unit[conv] = {"class": "conv", "from": read, "filter_size": [k], "padding": "valid", "n_out": 2 * d}
        flat = _fresh(unit, "conv_flat")
        unit[flat] = {"class": "merge_dims", "from": conv, "axes": "except_batch"}
        glu, g_how = _glu(unit, flat, d, rng, projected=True)
        how += f"; {conv} = conv (filter {k}, valid) over the window axis, {flat} = merge_dims of it; {g_how}"
    how += "; " + _finish(net, rec, choice, glu, residual, d, rng)
    return new, f"{rec}: {how}"


# ----------------------------------------------------------------------------------------------------
# convs2s-cumconcat-conv


def op_convs2s_cumconcat_conv(case: Case, rng: random.Random) -> Result:
    """The whole label history by ``cum_concat``, (sliced and) convolved, pooled, GLU, residual."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    x, d, how = _block_input(unit, choice, rng, 0.3)
    k = rng.choice([2, 3, 4])
    hist_dim = {"__dim__": {"description": f"{rec}:conv-history", "dimension": None, "kind": "spatial"}}
    hist = _fresh(unit, "conv_hist")
    src = x if rng.random() < 0.8 else f"prev:{x}"
    unit[hist] = {"class": "cum_concat", "from": src, "out_spatial_dim": hist_dim}
    how += f"; {hist} = cum_concat of {src}"
    form = rng.choice(["last-k", "whole-same"])
    conv = _fresh(unit, "conv")
    if form == "last-k":
        start = _fresh(unit, "conv_hist_start")
        unit[start] = {"class": "eval", "from": ":i", "eval": f"tf.maximum(source(0) - {k - 1}, 0)"}
        last = _fresh(unit, "conv_hist_last")
        unit[last] = {"class": "slice_nd", "from": hist, "axis": hist_dim, "start": start, "size": k}
        unit[conv] = {"class": "conv", "from": last, "filter_size": [k], "padding": "same", "n_out": 2 * d}
        how += (f"; {last} = its last {k} entries (slice_nd from {start} = max(:i - {k - 1}, 0)), "
                f"{conv} = conv (filter {k}, same) over them")
    else:
        pad = "same"
        unit[conv] = {"class": "conv", "from": hist, "filter_size": [k], "padding": pad, "n_out": 2 * d}
        if rng.random() < 0.5:
            unit[conv]["in_spatial_dims"] = [hist_dim]
        how += f"; {conv} = conv (filter {k}, {pad}) over the whole history axis"
    mode = rng.choice(["max", "mean"])
    pool = _fresh(unit, "conv_pool")
    unit[pool] = {"class": "reduce", "mode": mode, "axes": "spatial", "from": conv}
    glu, g_how = _glu(unit, pool, d, rng, projected=True)
    how += f"; {pool} = {mode} over the history axis; {g_how}"
    how += "; " + _finish(net, rec, choice, glu, src, d, rng)
    return new, f"{rec}: {how}"


# ----------------------------------------------------------------------------------------------------
# convs2s-stacked-blocks


def op_convs2s_stacked_blocks(case: Case, rng: random.Random) -> Result:
    """Two or three ConvS2S decoder blocks stacked in the loop, each a causal ``window`` convolution over
    the previous block's output (this frame's or ``prev:``), a GLU, a residual and its own attention."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    x, d, how = _block_input(unit, choice, rng, 0.5)
    n_blocks = rng.choice([2, 2, 3])
    out = x
    for b in range(n_blocks):
        k = rng.choice([2, 3])
        src = out if b == 0 or rng.random() < 0.7 else f"prev:{out}"
        win = _fresh(unit, f"conv{b}_window")
        unit[win] = {"class": "window", "from": src, "window_size": k,
                     **({"window_left": k - 1} if rng.random() < 0.5 else {"window_right": 0})}
        flat = _fresh(unit, f"conv{b}_flat")
        unit[flat] = {"class": "merge_dims", "from": win, "axes": "except_batch"}
        glu, g_how = _glu(unit, flat, d, rng)
        res = _fresh(unit, f"conv{b}_res")
        unit[res] = {"class": "combine", "kind": "add", "from": [glu, src]}
        block, att_how = _attend(net, rec, res, d, rng, 0.7)
        how += (f"; block {b}: {win} = window of {src} (size {k}), {flat} = merge_dims, {g_how}, "
                f"{res} = {glu} + {src}" + (f", {att_how}" if att_how else ""))
        out = block
    how += "; " + _inject(unit, choice, out, rng)
    return new, f"{rec}: {how}"


FRESH121_OPERATORS: tuple[Op, ...] = (
    Op("convs2s-window-glu", op_convs2s_window_glu, 1.2),
    Op("convs2s-cumconcat-conv", op_convs2s_cumconcat_conv, 1.2),
    Op("convs2s-stacked-blocks", op_convs2s_stacked_blocks, 0.9),
)
