"""A ninety-ninth set of edit operators (issue 15, twentieth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Monotonic, local and streaming attention in searching decoders, as published RETURNN set-ups write them: the
local attention of rwth-i6/returnn-experiments ``2019-asr-local-attention`` (``local-heuristic.argmax.win10``:
``p_t`` a ``reduce`` ``argmax`` over ``prev:att_weights``, ``softmax_over_spatial`` with ``window_start`` /
``window_size``) and Luong et al. (2015) local-m / local-p; the hard monotonic attention of
``2021-latent-monotonic-attention`` (``hard-att-imp``, ``hard-att-local-win10``: a ``choice`` with ``target``
None over ``softmax_over_spatial`` weights with ``start`` at the previous position, ``t`` clipped with a root
``length``, ``initial_output`` -1, ``window_start`` ``t - 5``); monotonic chunkwise attention (MoChA, Chiu and
Raffel 2018; Raffel et al. 2017) written with RETURNN's ``range_in_axis`` / ``compare`` / ``reduce`` argmax and a
``slice_nd`` chunk (``SliceNdLayer`` with a layer ``start``, ``stag:sliced-time:NAME``); and chunk-wise
(segmental) attention over encoder chunks, the encoder time split with ``split_dims`` (``SplitDimsLayer`` pads a
dynamic axis to a multiple) and one chunk read per frame with ``gather`` (``GatherLayer``). Every operator adds
its attention to a label choice's searching loop: the keys are a root ``linear`` of the encoder (read through
``base:``), the query a dense loop layer of the frame (or ``prev:`` of one), and the context an extra source of a
dense layer the choice's scores depend on. The forms are the correct ones and the slips users make (a position
taken from the encoder, not from the beam; a position taken from another choice of the frame; a sparse position
state without ``initial_output``; the chunk read on the wrong axis; a position choice that the label's scores do
not depend on, met again in the ``end``). None is a variant of an earlier operator; no rule was written for any of them:

* ``argmax-window``: local attention in the loop around a position: the energies (a ``combine`` add of the root
  keys and a ``linear`` of the query, ``tanh``, a ``linear`` to 1), ``softmax_over_spatial`` with
  ``window_size`` W (4, 5, 8 or 10, or now and then a ``window_size`` layer predicted from the query, beamed) and
  ``window_start`` the position or the position minus W/2 (an ``eval``), the context a ``generic_attention`` on
  ``base:ENC``. The position: ``reduce`` ``argmax`` over ``prev:`` of the window weights (the set-up's form), a
  monotonic position state (``tf.maximum`` of that argmax and ``prev:`` of itself, with ``initial_output`` 0
  or, as users forget, without), the argmax of this frame's energies, Luong's local-p (``sigmoid`` of a
  ``linear`` of the query times the encoder ``length``, ``cast`` to int32), a root argmax of encoder-only
  energies (not from the beam), the step ``:i`` times a ratio, or, where the frame has another choice, that
  choice (``prev:`` of it, or this frame's where no cycle arises) reinterpreted with ``set_sparse`` False (a
  position from another beam); sometimes ``prev:`` of the context also feeds the query's cell. Targets: ``SoftmaxOverSpatialLayer.get_out_data_from_opts`` (the beams of ``window_start`` /
  ``window_size`` combined with the energies'), ``SeqLenMaskLayer.build_mask``, ``ReduceLayer`` argmax over a
  ``prev:`` beamed layer, ``LayerBase.get_rec_initial_output`` (sparse state without ``initial_output``) and the
  prev-frame search-choice resolution of the loop.
* ``mocha-chunk``: MoChA: ``p_choose`` a ``sigmoid`` of the monotonic energies (``squeeze`` d), attended where
  ``p_choose >= 0.5`` at or after ``prev:`` of the position (a ``compare`` of a root ``range_in_axis`` of the
  encoder with ``prev:POS``, ``allow_broadcast_all_sources``), the position the first such frame (``reduce``
  ``argmax`` of the ``cast`` mask, a sparse state with ``initial_output`` 0, or without); or soft MoChA's
  expected alignment kept as a state (an ``eval`` with ``tf.math.cumprod`` / ``tf.math.cumsum`` over
  ``prev:alpha``) and the position its argmax; or (the slip) the position computed at the root from
  encoder-only ``p_choose``. The chunk: ``slice_nd`` of ``base:ENC`` from ``max(pos - (W - 1), 0)`` of size W
  (2, 3, 4 or 8), chunk energies against the query, ``softmax_over_spatial`` over ``stag:sliced-time:CHUNK``,
  the context a ``combine`` mul and a ``reduce`` sum over the chunk axis.
  Targets: ``SliceNdLayer`` with a beamed ``start`` (``GatherLayer`` under it, the beam of the position),
  ``CompareLayer`` broadcasting of a beamed and a root layer, and the same initial-output / prev-frame paths.
* ``chunk-split``: segmental attention over encoder chunks: a root ``split_dims`` of a root ``linear`` of the
  encoder on ``T`` into ``[-1, C]`` (C 2..5), one chunk per frame read by ``gather`` on ``T`` (``clip_to_valid``
  or not) at a chunk index: advanced by one when the previous label is a chunk-end label (a ``compare`` of
  ``prev:CHOICE``, ``cast``, ``combine`` add with ``prev:`` of the index; the choice gets ``initial_output`` 0
  where it had none, as users add it once RETURNN asks for it), the step ``:i`` divided by k (a loop
  over chunks, the loop's ``max_seq_len`` then maybe the chunk count), the ``argmax`` of chunk-summary energies
  against the query (beamed, sparse), a monotonic state of that argmax (``tf.maximum`` with ``prev:``, with or
  without ``initial_output``), or (the slip) a root argmax of encoder-only chunk energies; attention within the
  chunk over ``dim:C`` (``softmax_over_spatial`` and ``reduce`` sum); or (the slip, one time in five) the
  ``gather`` on the within-chunk axis ``dim:C`` and the attention over ``T``, i.e. over the chunks. Targets: ``GatherLayer`` with a beamed position on a root tensor (``SearchBeam.get_combined_beam``),
  ``SplitDimsLayer`` padding, and the loop's prev-frame and initial-output handling of the index state.
* ``mono-hard-choice``: hard monotonic attention with a choice over the encoder position, as in
  ``2021-latent-monotonic-attention``: ``softmax_over_spatial`` of the squeezed energies with ``start`` the
  previous position (``prev:t``, or ``min(prev:t + 1, len - 1)``; or, the slip, a root position from the
  encoder alone), ``reinterpret_data`` ``set_axes`` ``{"f": "T"}``, a second ``choice`` ``t0`` (``target`` None,
  beam 1, 2, 4 or 12, ``length_normalization`` False) in the frame, ``t = min(t0, len - 1)`` with
  ``initial_output`` -1 (or without one); the context a ``gather`` of ``base:ENC`` at ``t`` or a window around
  it (``window_start`` ``t - W/2``); the label's scores read the context (the set-up), or only ``prev:`` of it
  (the position choice then parallel to the label choice); sometimes the ``end`` also fires when ``t`` reaches
  the encoder's last frame. Targets: ``ChoiceLayer.get_out_data_from_opts`` without target (a new search beam),
  ``_SubnetworkRecCell`` choice ordering in the frame, ``SearchBeam.get_combined_beam`` where layers of both
  choices meet (the end), and ``get_rec_initial_output`` of the sparse position.
"""

from __future__ import annotations

import json
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
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH97_SEED = 20270159
N_FRESH97 = 80

Result = "tuple[Case, str] | None"

#: Loop layer classes a query is taken from (a dense vector per hypothesis).
_QUERY = ("linear", "rnn_cell", "rec", "activation", "reduce_out", "layer_norm")
#: Classes that can take the context as one more (concatenated) source.
_INJECT = ("linear", "softmax", "rnn_cell")
#: Loop classes that reduce (or never carry) the encoder's time axis.
_NO_TIME = ("generic_attention", "dot_attention", "reduce", "gather", "gather_nd", "choice", "rnn_cell", "rec",
            "length", "concat_attention", "gauss_window_attention", "get_last_hidden_state", "compare")
#: Root classes whose output has no (encoder) time axis.
_TIME_LOSE = ("reduce", "length", "get_last_hidden_state", "decide", "constant", "variable", "range", "gather",
              "gather_nd", "choice", "range_in_axis", "slice_nd", "subnetwork",
              "split_batch_beam", "decide_keep_beam", "compare", "cast")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None and unit[c].get("search", True) is not False]


def _name(ref: str) -> str:
    return ref.removeprefix("prev:")


def _time_layers(unit: dict[str, Any]) -> set[str]:
    """Loop layers that (roughly) carry the encoder's time axis: read a ``base:`` layer or such a loop layer
    (plain or ``prev:``) without reducing it."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            desc = unit[k]
            if k in out or desc.get("class") in _NO_TIME:
                continue
            srcs = _sources(desc)
            if desc.get("class") in ("softmax_over_spatial", "slice_nd", "split_dims", "cum_concat"):
                hit = True
            else:
                hit = any(s.startswith("base:") and not s.startswith("base:data:") and ("mean" not in s)
                          or _name(s) in out for s in srcs)
            if hit:
                out.add(k)
                changed = True
    return out


def _reads_label(unit: dict[str, Any], desc: dict[str, Any]) -> bool:
    """Whether a layer reads a sparse label directly (a choice, ``prev:`` of one, ``data:``, ``:i``)."""
    choices = set(_unit_choices(unit))
    for s in _sources(desc):
        n = _name(s)
        if n in choices or s.startswith("data:") or s.startswith("base:data") or s == ":i":
            return True
        inner = unit.get(n)
        if isinstance(inner, dict) and inner.get("class") in ("reinterpret_data", "copy", "gather", "eval",
                                                             "cast", "compare", "range_in_axis"):
            return True
    return False


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A root layer with the encoder's time axis: ``encoder`` where the net has one, else a layer the loop reads
    through ``base:`` (the ``base`` of an attention first), else ``data``."""
    unit = net[rec]["unit"]

    def has_time(name: str, depth: int = 0) -> bool:
        if name == "data":
            return True
        desc = net.get(name)
        if not isinstance(desc, dict) or depth > 40:
            return False
        cls = desc.get("class")
        if cls in _TIME_LOSE or (cls == "rec" and not isinstance(desc.get("unit"), str)):
            return False
        srcs = [s for s in _sources(desc) if ":" not in s] if "from" in desc else ["data"]
        return bool(srcs) and all(has_time(s.split("/", 1)[0], depth + 1) for s in srcs)

    enc = net.get("encoder")
    if isinstance(enc, dict) and enc.get("class") not in _TIME_LOSE and enc.get("class") != "rec":
        return "encoder"
    bases = sorted({d["base"][len("base:"):] for d in unit.values() if isinstance(d, dict)
                    and isinstance(d.get("base"), str) and d["base"].startswith("base:")})
    read = sorted({s[len("base:"):] for d in unit.values() if isinstance(d, dict)
                   for s in _sources(d) if s.startswith("base:")})
    for cands in (bases, read):
        cands = [r for r in cands if ":" not in r and "/" not in r and r in net and has_time(r)]
        if cands:
            return cands[0]
    return "data" if "data" not in net else None


def _site(net: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A searching loop with a label choice, the dense layer on its scores' path that gets the context
    (``inject``), the query (a dense frame layer that does not depend on ``inject``, or ``prev:`` of one) and
    the encoder."""
    sites = []
    for rec in _searching_recs(net):
        if ":" in rec:
            continue
        unit = net[rec]["unit"]
        timed = _time_layers(unit)
        # a layer whose parameters are shared (either way) keeps its input dim
        shared = {k for k in _layers(unit) if "reuse_params" in unit[k]}
        shared |= {k for k in _layers(unit) for v in unit.values()
                   if isinstance(v, dict) and f'"{k}"' in json.dumps(v.get("reuse_params"))}
        for choice in _label_choices(unit):
            srcs = [s for s in _sources(unit[choice]) if s in unit]
            if not srcs:
                continue
            path = set(srcs)
            for s in srcs:
                path |= _frame_ancestors(unit, s)
            for inj in sorted(path):
                desc = unit.get(inj)
                if (not isinstance(desc, dict) or desc.get("class") not in _INJECT or inj in timed
                        or _reads_label(unit, desc) or inj == "end" or inj in shared):
                    continue
                sites.append((rec, choice, inj))
    if not sites:
        return None
    rec, choice, inj = rng.choice(sites)
    unit = net[rec]["unit"]
    timed = _time_layers(unit)
    plain = [k for k in _layers(unit) if unit[k].get("class") in _QUERY and k not in timed and k != inj
             and inj not in _frame_ancestors(unit, k)]
    options = [f"prev:{inj}"] + [f"prev:{k}" for k in plain[:3]] + plain * 2
    query = rng.choice(options)
    enc = _encoder(net, rec)
    if enc is None:
        return None
    return {"rec": rec, "unit": unit, "choice": choice, "inject": inj, "query": query, "enc": enc}


def _energies(net: dict[str, Any], unit: dict[str, Any], prefix: str, enc: str, query: str, dk: int,
              bias: bool = False) -> tuple[str, str, str]:
    """Root keys, a loop query projection and MLP energies ``[B,T,1]``; (keys, query, energy) names."""
    key = _fresh(net, f"{prefix}_enc_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": True, "from": enc, "n_out": dk}
    q = _fresh(unit, f"{prefix}_query")
    unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": dk}
    e_in = _fresh(unit, f"{prefix}_energy_in")
    unit[e_in] = {"class": "combine", "kind": "add", "from": [f"base:{key}", q]}
    e_tanh = _fresh(unit, f"{prefix}_energy_tanh")
    unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
    energy = _fresh(unit, f"{prefix}_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": bias, "from": e_tanh, "n_out": 1}
    return key, q, energy


def _feedback(unit: dict[str, Any], query: str, ctx: str, rng: random.Random, p: float) -> str:
    """Maybe let the query's recurrent cell also read ``prev:`` of the context (as ``s`` reads ``prev:att``)."""
    name = _name(query)
    desc = unit.get(name)
    if (isinstance(desc, dict) and desc.get("class") in ("rnn_cell", "rec") and isinstance(desc.get("unit"), str)
            and rng.random() < p):
        _add_source(desc, f"prev:{ctx}")
        return f"; {name} also reads prev:{ctx}"
    return ""


# ----------------------------------------------------------------------------------------------------
# argmax-window


def op_argmax_window(case: Case, rng: random.Random) -> Result:
    """Local (windowed) attention around a position from the previous frame's argmax, a state, the query,
    the encoder or the step."""
    new, net = _copy(case)
    site = _site(net, rng)
    if site is None:
        return None
    rec, unit, choice, inj, query, enc = (site[k] for k in ("rec", "unit", "choice", "inject", "query", "enc"))
    dk = rng.choice([6, 8, 16])
    win = rng.choice([4, 5, 8, 10])
    key, q, energy = _energies(net, unit, "lw", enc, query, dk)
    weights = _fresh(unit, "lw_weights")
    others = [c for c in _unit_choices(unit) if c != choice]
    kind = rng.choices(["prev-argmax", "mono-state", "cur-energy", "local-p", "encoder-peak", "step", "other-choice"],
                       [0.3, 0.17, 0.13, 0.15, 0.13, 0.12, 0.45 if others else 0.0])[0]
    pos = _fresh(unit, "lw_pos")
    if kind == "other-choice":
        other = rng.choice(others)
        ref = f"prev:{other}"
        if rng.random() < 0.35 and not ({choice, inj} & (_frame_ancestors(unit, other) | {other})):
            ref = other
        unit[pos] = {"class": "reinterpret_data", "from": ref, "set_sparse": False}
        how = f"{pos} = {ref} (another choice of the frame) as a position, set_sparse False"
    elif kind == "prev-argmax":
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "t", "from": f"prev:{weights}"}
        how = f"{pos} = argmax over t of prev:{weights}"
    elif kind == "mono-state":
        amax = _fresh(unit, "lw_prev_argmax")
        unit[amax] = {"class": "reduce", "mode": "argmax", "axis": "t", "from": f"prev:{weights}"}
        unit[pos] = {"class": "eval", "from": [amax, f"prev:{pos}"], "eval": "tf.maximum(source(0), source(1))"}
        how = f"{pos} = max({amax} (argmax over t of prev:{weights}), prev:{pos})"
        if rng.random() < 0.6:
            unit[pos]["initial_output"] = 0
            how += " with initial_output 0"
        else:
            how += " without initial_output"
    elif kind == "cur-energy":
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "t", "from": energy}
        how = f"{pos} = argmax over t of this frame's {energy}"
    elif kind == "local-p":
        length = _fresh(net, "lw_enc_len")
        net[length] = {"class": "length", "from": enc}
        p_rel1 = _fresh(unit, "lw_pos_rel1")
        unit[p_rel1] = {"class": "linear", "activation": "sigmoid", "with_bias": True, "from": query, "n_out": 1}
        p_rel = _fresh(unit, "lw_pos_rel")
        unit[p_rel] = {"class": "squeeze", "axis": "f", "from": p_rel1}
        len_f = _fresh(unit, "lw_len_float")
        unit[len_f] = {"class": "cast", "from": f"base:{length}", "dtype": "float32"}
        p_abs = _fresh(unit, "lw_pos_float")
        unit[p_abs] = {"class": "combine", "kind": "mul", "from": [p_rel, len_f]}
        unit[pos] = {"class": "cast", "from": p_abs, "dtype": "int32"}
        how = f"{pos} = int32(sigmoid(linear({query})) * length of {enc}) (local-p)"
    elif kind == "encoder-peak":
        peak_e = _fresh(net, "lw_enc_peak_energy")
        net[peak_e] = {"class": "linear", "activation": None, "from": enc, "n_out": 1}
        peak_sq = _fresh(net, "lw_enc_peak_energy_sq")
        net[peak_sq] = {"class": "squeeze", "axis": "f", "from": peak_e}
        peak = _fresh(net, "lw_enc_peak")
        net[peak] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": peak_sq}
        unit[pos] = {"class": "copy", "from": f"base:{peak}"}
        how = f"{pos} = base:{peak} (argmax over T of encoder-only energies: not from the beam)"
    else:
        ratio = rng.choice([1, 2, 3])
        unit[pos] = {"class": "eval", "from": ":i", "eval": f"source(0) * {ratio}"}
        how = f"{pos} = :i * {ratio}"
    start = pos
    if rng.random() < 0.6:
        start = _fresh(unit, "lw_window_start")
        unit[start] = {"class": "eval", "from": pos, "eval": f"source(0) - {win // 2}"}
        how += f", {start} = {pos} - {win // 2}"
    unit[weights] = {"class": "softmax_over_spatial", "from": energy, "window_start": start, "window_size": win}
    size_how = f"window_size {win}"
    if rng.random() < 0.15:
        rel1 = _fresh(unit, "lw_width_rel1")
        unit[rel1] = {"class": "linear", "activation": "sigmoid", "from": q, "n_out": 1}
        rel = _fresh(unit, "lw_width_rel")
        unit[rel] = {"class": "squeeze", "axis": "f", "from": rel1}
        width_f = _fresh(unit, "lw_width_float")
        unit[width_f] = {"class": "eval", "from": rel, "eval": f"source(0) * {float(win)} + 1."}
        width = _fresh(unit, "lw_width")
        unit[width] = {"class": "cast", "from": width_f, "dtype": "int32"}
        unit[weights]["window_size"] = width
        size_how = f"window_size {width} = int32(sigmoid(linear({q})) * {win} + 1) (predicted, beamed)"
    ctx = _fresh(unit, "lw_ctx")
    unit[ctx] = {"class": "generic_attention", "weights": weights, "base": f"base:{enc}"}
    _add_source(unit[inj], ctx)
    fb = _feedback(unit, query, ctx, rng, 0.35)
    return new, (f"{rec}: local attention for {choice}: keys base:{key} (linear of {enc}), query {q} of {query}, "
                 f"{how}; {weights} = softmax_over_spatial({energy}, window_start {start}, {size_how}); "
                 f"{ctx} = generic_attention on base:{enc}, read by {inj}{fb}")


# ----------------------------------------------------------------------------------------------------
# mocha-chunk


def op_mocha_chunk(case: Case, rng: random.Random) -> Result:
    """Monotonic chunkwise attention: a monotonic position (hard, soft-expected or from the encoder) and a
    ``slice_nd`` chunk of the encoder read before it."""
    new, net = _copy(case)
    site = _site(net, rng)
    if site is None:
        return None
    rec, unit, choice, inj, query, enc = (site[k] for k in ("rec", "unit", "choice", "inject", "query", "enc"))
    dk = rng.choice([6, 8, 16])
    width = rng.choice([2, 3, 4, 8])
    key, q, energy = _energies(net, unit, "mo", enc, query, dk, bias=True)
    kind = rng.choices(["hard", "hard-no-init", "soft", "encoder"], [0.4, 0.15, 0.25, 0.2])[0]
    pos = _fresh(unit, "mo_pos")
    if kind in ("hard", "hard-no-init"):
        p_choose = _fresh(unit, "mo_p_choose")
        unit[p_choose] = {"class": "activation", "activation": "sigmoid", "from": energy}
        p_sq = _fresh(unit, "mo_p_choose_sq")
        unit[p_sq] = {"class": "squeeze", "axis": "f", "from": p_choose}
        rng_t = _fresh(net, "mo_enc_range")
        net[rng_t] = {"class": "range_in_axis", "from": enc, "axis": "T"}
        not_before = _fresh(unit, "mo_not_before")
        unit[not_before] = {"class": "compare", "kind": "greater_equal", "from": [f"base:{rng_t}", f"prev:{pos}"],
                            "allow_broadcast_all_sources": True}
        attend = _fresh(unit, "mo_attend")
        unit[attend] = {"class": "compare", "kind": "greater_equal", "from": p_sq, "value": 0.5}
        stop = _fresh(unit, "mo_stop")
        unit[stop] = {"class": "combine", "kind": "logical_and", "from": [not_before, attend]}
        stop_f = _fresh(unit, "mo_stop_float")
        unit[stop_f] = {"class": "cast", "from": stop, "dtype": "float32"}
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": stop_f}
        how = (f"{pos} = first t with t >= prev:{pos} (base:{rng_t}) and {p_sq} >= 0.5 "
               f"({p_sq} = squeeze(sigmoid({energy})))")
        if kind == "hard":
            unit[pos]["initial_output"] = 0
            how += ", initial_output 0"
        else:
            how += ", no initial_output"
    elif kind == "soft":
        p_choose = _fresh(unit, "mo_p_choose")
        unit[p_choose] = {"class": "activation", "activation": "sigmoid", "from": energy}
        p_sq0 = _fresh(unit, "mo_p_choose_sq")
        unit[p_sq0] = {"class": "squeeze", "axis": "f", "from": p_choose}
        p_sq = _fresh(unit, "mo_p_choose_bm")
        unit[p_sq] = {"class": "reinterpret_data", "enforce_batch_major": True, "from": p_sq0}
        alpha = _fresh(unit, "mo_alpha")
        cp = "tf.math.cumprod(1. - source(0), axis=-1, exclusive=True)"
        unit[alpha] = {"class": "eval", "from": [p_sq, f"prev:{alpha}"],
                       "eval": f"source(0) * {cp} * tf.math.cumsum(source(1) / tf.clip_by_value({cp}, 1e-10, 1.), "
                               f"axis=-1)"}
        how = f"{alpha} = p * cumprod(1 - p) * cumsum(prev:{alpha} / cumprod(1 - p)) (soft MoChA state)"
        if rng.random() < 0.5:
            unit[alpha]["initial_output"] = 0
            how += " with initial_output 0"
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": alpha}
        how += f", {pos} = argmax over T of {alpha}"
    else:
        e_root = _fresh(net, "mo_enc_p_choose")
        net[e_root] = {"class": "linear", "activation": "sigmoid", "from": enc, "n_out": 1}
        e_sq = _fresh(net, "mo_enc_p_choose_sq")
        net[e_sq] = {"class": "squeeze", "axis": "f", "from": e_root}
        e_mask = _fresh(net, "mo_enc_attend")
        net[e_mask] = {"class": "compare", "kind": "greater_equal", "from": e_sq, "value": 0.5}
        e_mask_f = _fresh(net, "mo_enc_attend_float")
        net[e_mask_f] = {"class": "cast", "from": e_mask, "dtype": "float32"}
        e_pos = _fresh(net, "mo_enc_pos")
        net[e_pos] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": e_mask_f}
        unit[pos] = {"class": "copy", "from": f"base:{e_pos}"}
        how = f"{pos} = base:{e_pos} (first encoder frame with sigmoid(linear({enc})) >= 0.5: not from the beam)"
    start = _fresh(unit, "mo_chunk_start")
    unit[start] = {"class": "eval", "from": pos, "eval": f"tf.maximum(source(0) - {width - 1}, 0)"}
    chunk = _fresh(unit, "mo_chunk")
    unit[chunk] = {"class": "slice_nd", "from": f"base:{enc}", "start": start, "size": width}
    axis = f"stag:sliced-time:{chunk}"
    c_key = _fresh(unit, "mo_chunk_key")
    unit[c_key] = {"class": "linear", "activation": None, "with_bias": False, "from": chunk, "n_out": dk}
    c_in = _fresh(unit, "mo_chunk_energy_in")
    unit[c_in] = {"class": "combine", "kind": "add", "from": [c_key, q]}
    c_tanh = _fresh(unit, "mo_chunk_energy_tanh")
    unit[c_tanh] = {"class": "activation", "activation": "tanh", "from": c_in}
    c_e = _fresh(unit, "mo_chunk_energy")
    unit[c_e] = {"class": "linear", "activation": None, "with_bias": False, "from": c_tanh, "n_out": 1}
    c_e_sq = _fresh(unit, "mo_chunk_energy_sq")
    unit[c_e_sq] = {"class": "squeeze", "axis": "f", "from": c_e}
    c_w = _fresh(unit, "mo_chunk_weights")
    unit[c_w] = {"class": "softmax_over_spatial", "from": c_e_sq, "axis": axis}
    c_mul = _fresh(unit, "mo_chunk_weighted")
    unit[c_mul] = {"class": "combine", "kind": "mul", "from": [c_w, chunk]}
    ctx = _fresh(unit, "mo_ctx")
    unit[ctx] = {"class": "reduce", "mode": "sum", "axis": axis, "from": c_mul}
    _add_source(unit[inj], ctx)
    fb = _feedback(unit, query, ctx, rng, 0.3)
    return new, (f"{rec}: MoChA for {choice}: monotonic energies {energy} (keys base:{key}, query {q} of {query}); "
                 f"{how}; {chunk} = slice_nd(base:{enc}, start {start} = max({pos} - {width - 1}, 0), size "
                 f"{width}); {c_w} softmax over {axis}; {ctx} = sum over {axis} of {c_w} * {chunk}, read by "
                 f"{inj}{fb}")


# ----------------------------------------------------------------------------------------------------
# chunk-split


def op_chunk_split(case: Case, rng: random.Random) -> Result:
    """Segmental attention: the encoder split into chunks of C frames at the root, one chunk per frame read by
    ``gather`` at a chunk index, attention within the chunk."""
    new, net = _copy(case)
    site = _site(net, rng)
    if site is None:
        return None
    rec, unit, choice, inj, query, enc = (site[k] for k in ("rec", "unit", "choice", "inject", "query", "enc"))
    size = rng.choice([2, 3, 4, 5])
    dv = rng.choice([10, 12, 16])
    dk = rng.choice([6, 8, 9])
    val = _fresh(net, "ck_enc_value")
    net[val] = {"class": "linear", "activation": None, "from": enc, "n_out": dv}
    chunks = _fresh(net, "ck_enc_chunks")
    net[chunks] = {"class": "split_dims", "from": val, "axis": "T", "dims": [-1, size]}
    caxis = f"dim:{size}"
    q = _fresh(unit, "ck_query")
    unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": dk}
    kind = rng.choices(["label-advance", "step", "argmax", "mono-argmax", "encoder"],
                       [0.25, 0.2, 0.2, 0.17, 0.18])[0]
    idx = _fresh(unit, "ck_index")
    extra = ""

    def summary_energy(where: dict[str, Any], prefix: str, from_query: bool) -> str:
        summ = _fresh(net, "ck_chunk_summary")
        net[summ] = {"class": "reduce", "mode": "mean", "axis": caxis, "from": chunks}
        s_key = _fresh(net, "ck_chunk_summary_key")
        net[s_key] = {"class": "linear", "activation": None, "from": summ, "n_out": dk}
        if from_query:
            s_in = _fresh(where, f"{prefix}_sel_energy_in")
            where[s_in] = {"class": "combine", "kind": "add", "from": [f"base:{s_key}", q]}
            src = s_in
        else:
            src = s_key
        s_tanh = _fresh(where, f"{prefix}_sel_energy_tanh")
        where[s_tanh] = {"class": "activation", "activation": "tanh", "from": src}
        s_e = _fresh(where, f"{prefix}_sel_energy")
        where[s_e] = {"class": "linear", "activation": None, "with_bias": False, "from": s_tanh, "n_out": 1}
        s_sq = _fresh(where, f"{prefix}_sel_energy_sq")
        where[s_sq] = {"class": "squeeze", "axis": "f", "from": s_e}
        return s_sq

    if kind == "label-advance":
        dim = _target_dim(case, _data_target(unit[choice])) or 2
        eoc = rng.choice([1, max(dim - 1, 1)])
        adv = _fresh(unit, "ck_advance")
        unit[adv] = {"class": "compare", "kind": "equal", "from": f"prev:{choice}", "value": eoc}
        adv_i = _fresh(unit, "ck_advance_int")
        unit[adv_i] = {"class": "cast", "from": adv, "dtype": "int32"}
        unit[idx] = {"class": "combine", "kind": "add", "from": [f"prev:{idx}", adv_i]}
        how = f"{idx} = prev:{idx} + (prev:{choice} == {eoc}) (chunk-end label {eoc})"
        if "initial_output" not in unit[choice]:
            unit[choice]["initial_output"] = 0
            how += f" ({choice} gets initial_output 0 for its prev:)"
        if rng.random() < 0.7:
            unit[idx]["initial_output"] = 0
            how += ", initial_output 0"
    elif kind == "step":
        k = rng.choice([1, 2, 3])
        unit[idx] = {"class": "eval", "from": ":i", "eval": f"source(0) // {k}" if k > 1 else "source(0)"}
        how = f"{idx} = :i // {k} (a loop over chunks)"
        if k == 1 and rng.random() < 0.5:
            net[rec]["max_seq_len"] = f"max_len_from('base:{chunks}')"
            extra = f"; the loop's max_seq_len from base:{chunks}"
    elif kind in ("argmax", "mono-argmax"):
        s_sq = summary_energy(unit, "ck", True)
        if kind == "argmax":
            unit[idx] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": s_sq}
            how = f"{idx} = argmax over the chunks of {s_sq} (chunk-summary energies against {q})"
        else:
            amax = _fresh(unit, "ck_best_chunk")
            unit[amax] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": s_sq}
            unit[idx] = {"class": "eval", "from": [amax, f"prev:{idx}"], "eval": "tf.maximum(source(0), source(1))"}
            how = f"{idx} = max({amax} (argmax of chunk-summary energies {s_sq}), prev:{idx})"
            if rng.random() < 0.55:
                unit[idx]["initial_output"] = 0
                how += ", initial_output 0"
            else:
                how += ", no initial_output"
    else:
        s_sq = summary_energy(net, "ck_enc", False)
        r_idx = _fresh(net, "ck_enc_best_chunk")
        net[r_idx] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": s_sq}
        unit[idx] = {"class": "copy", "from": f"base:{r_idx}"}
        how = f"{idx} = base:{r_idx} (argmax of encoder-only chunk energies: not from the beam)"
    chunk = _fresh(unit, "ck_chunk")
    g_axis, in_axis = "T", caxis
    if rng.random() < 0.2:
        g_axis, in_axis = caxis, "T"
    unit[chunk] = {"class": "gather", "from": f"base:{chunks}", "axis": g_axis, "position": idx}
    if rng.random() < 0.5:
        unit[chunk]["clip_to_valid"] = True
        how += ", clip_to_valid"
    c_key = _fresh(unit, "ck_chunk_key")
    unit[c_key] = {"class": "linear", "activation": None, "with_bias": False, "from": chunk, "n_out": dk}
    c_in = _fresh(unit, "ck_energy_in")
    unit[c_in] = {"class": "combine", "kind": "add", "from": [c_key, q]}
    c_tanh = _fresh(unit, "ck_energy_tanh")
    unit[c_tanh] = {"class": "activation", "activation": "tanh", "from": c_in}
    c_e = _fresh(unit, "ck_energy")
    unit[c_e] = {"class": "linear", "activation": None, "with_bias": False, "from": c_tanh, "n_out": 1}
    c_sq = _fresh(unit, "ck_energy_sq")
    unit[c_sq] = {"class": "squeeze", "axis": "f", "from": c_e}
    c_w = _fresh(unit, "ck_weights")
    unit[c_w] = {"class": "softmax_over_spatial", "from": c_sq, "axis": in_axis}
    c_mul = _fresh(unit, "ck_weighted")
    unit[c_mul] = {"class": "combine", "kind": "mul", "from": [c_w, chunk]}
    ctx = _fresh(unit, "ck_ctx")
    unit[ctx] = {"class": "reduce", "mode": "sum", "axis": in_axis, "from": c_mul}
    _add_source(unit[inj], ctx)
    fb = _feedback(unit, query, ctx, rng, 0.3)
    return new, (f"{rec}: chunk-wise attention for {choice}: root {chunks} = split_dims(T -> [-1, {size}]) of "
                 f"{val} (linear of {enc}); {how}; {chunk} = gather(base:{chunks}, {g_axis}, {idx}); {c_w} softmax "
                 f"over {in_axis} of energies against {q} (of {query}); {ctx} = sum over {in_axis}, read by {inj}"
                 f"{fb}{extra}")


# ----------------------------------------------------------------------------------------------------
# mono-hard-choice


def op_mono_hard_choice(case: Case, rng: random.Random) -> Result:
    """Hard monotonic attention: a second choice in the frame over the encoder position, monotonic through
    ``start``, clipped with the encoder length; the context at (or around) the chosen position."""
    new, net = _copy(case)
    site = _site(net, rng)
    if site is None:
        return None
    rec, unit, choice, inj, query, enc = (site[k] for k in ("rec", "unit", "choice", "inject", "query", "enc"))
    dk = rng.choice([6, 8, 16])
    key, q, energy = _energies(net, unit, "hp", enc, query, dk)
    length = _fresh(net, "hp_enc_len")
    net[length] = {"class": "length", "from": enc, "sparse": True}
    e_sq = _fresh(unit, "hp_energy_sq")
    unit[e_sq] = {"class": "squeeze", "axis": "f", "from": energy}
    t = _fresh(unit, "hp_t")
    t0 = _fresh(unit, "hp_t0")
    start_kind = rng.choices(["prev", "prev-plus1", "encoder"], [0.45, 0.35, 0.2])[0]
    t_start = _fresh(unit, "hp_t_start")
    if start_kind == "prev":
        unit[t_start] = {"class": "copy", "from": f"prev:{t}"}
        how = f"{t_start} = prev:{t}"
    elif start_kind == "prev-plus1":
        unit[t_start] = {"class": "eval", "from": [f"prev:{t}", f"base:{length}"],
                         "eval": "tf.minimum(source(0) + 1, source(1) - 1)"}
        how = f"{t_start} = min(prev:{t} + 1, base:{length} - 1)"
    else:
        e_root = _fresh(net, "hp_enc_start_energy")
        net[e_root] = {"class": "linear", "activation": None, "from": enc, "n_out": 1}
        e_root_sq = _fresh(net, "hp_enc_start_energy_sq")
        net[e_root_sq] = {"class": "squeeze", "axis": "f", "from": e_root}
        r_start = _fresh(net, "hp_enc_start")
        net[r_start] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": e_root_sq}
        unit[t_start] = {"class": "copy", "from": f"base:{r_start}"}
        how = f"{t_start} = base:{r_start} (argmax of encoder-only energies: not from the beam)"
    t_w = _fresh(unit, "hp_t_weights")
    unit[t_w] = {"class": "softmax_over_spatial", "from": e_sq, "start": t_start}
    t_w1 = _fresh(unit, "hp_t_weights_f")
    unit[t_w1] = {"class": "reinterpret_data", "from": t_w, "set_axes": {"f": "T"}}
    beam = rng.choice([1, 2, 4, 12])
    unit[t0] = {"class": "choice", "from": t_w1, "target": None, "beam_size": beam, "initial_output": -1,
                "length_normalization": False}
    unit[t] = {"class": "eval", "from": [t0, f"base:{length}"], "eval": "tf.minimum(source(0), source(1) - 1)"}
    how += f"; {t0} = choice over {t_w1} (target None, beam {beam}); {t} = min({t0}, base:{length} - 1)"
    if rng.random() < 0.8:
        unit[t]["initial_output"] = -1
        how += " with initial_output -1"
    else:
        how += " without initial_output"
    if rng.random() < 0.5:
        ctx = _fresh(unit, "hp_ctx")
        unit[ctx] = {"class": "gather", "from": f"base:{enc}", "axis": "T", "position": t}
        how += f"; {ctx} = gather(base:{enc}, T, {t})"
    else:
        win = rng.choice([4, 6, 10])
        ws = _fresh(unit, "hp_window_start")
        unit[ws] = {"class": "eval", "from": t, "eval": f"source(0) - {win // 2}"}
        w = _fresh(unit, "hp_att_weights")
        unit[w] = {"class": "softmax_over_spatial", "from": energy, "window_start": ws, "window_size": win}
        ctx = _fresh(unit, "hp_ctx")
        unit[ctx] = {"class": "generic_attention", "weights": w, "base": f"base:{enc}"}
        how += f"; {ctx} = generic_attention in a window of {win} from {ws} = {t} - {win // 2}"
    if rng.random() < 0.72:
        _add_source(unit[inj], ctx)
        how += f", read by {inj}"
    else:
        _add_source(unit[inj], f"prev:{ctx}")
        how += f"; {inj} reads only prev:{ctx} (the label's scores do not depend on {t0})"
    end = unit.get("end")
    if isinstance(end, dict) and rng.random() < 0.3:
        nxt = _fresh(unit, "hp_t_next")
        unit[nxt] = {"class": "eval", "from": t, "eval": "source(0) + 1"}
        at_end = _fresh(unit, "hp_at_enc_end")
        unit[at_end] = {"class": "compare", "kind": "greater_equal", "from": [nxt, f"base:{length}"]}
        old = _fresh(unit, "end_label")
        unit[old] = unit.pop("end")
        for k in _layers(unit):
            if k != old:
                srcs = unit[k].get("from")
                if srcs == "end":
                    unit[k]["from"] = old
                elif isinstance(srcs, list):
                    unit[k]["from"] = [old if s == "end" else s for s in srcs]
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, at_end]}
        how += f"; end = logical_or({old}, {at_end} = {t} + 1 >= base:{length})"
    return new, (f"{rec}: hard monotonic attention beside {choice}: energies {energy} (keys base:{key}, query {q} "
                 f"of {query}); {t_w} = softmax_over_spatial(start {t_start}); {how}")


FRESH97_OPERATORS: tuple[Op, ...] = (
    Op("argmax-window", op_argmax_window, 1.3),
    Op("mocha-chunk", op_mocha_chunk, 1.1),
    Op("chunk-split", op_chunk_split, 1.0),
    Op("mono-hard-choice", op_mono_hard_choice, 0.9),
)
