"""A hundred-and-ninth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Multi-head and location-aware attention inside searching decoders: attention with several heads
(keys / queries split with ``split_dims``, energies with ``dot`` over a head axis, ``softmax_over_spatial`` per
head, contexts merged with ``merge_dims``), location-aware attention (a ``conv`` over the previous frame's
attention weights, or their cumulative sum, added to the energies), attention weight feedback of the previous
frame into the state, and heads whose query comes from the previous frame's state. Sources: the RWTH attention
set-ups of rwth-i6/returnn-experiments (``2018-asr-attention`` with ``AttNumHeads``, ``enc_value`` split into
heads, ``accum_att_weights`` / ``weight_feedback`` / ``inv_fertility``; ``2019-librispeech-system``
``declstmindep-dotatt`` with ``att_query`` split by ``split_dims`` and the energies a ``dot``; RETURNN's
``test_rec_layer_search_select_src`` with its ``prev_s_transformed`` query), the location awareness modules of
rwth-i6/i6_experiments (``users/zeineldeen`` ``ConvLocAwareness``: ``pad`` of ``prev:att_weights`` on ``s:0``,
a ``valid`` ``conv``, a ``linear`` ``weight_feedback``; ``AdditiveLocAwareness``), the RETURNN layers ``dot``,
``split_dims``, ``merge_dims``, ``conv``, ``pad``, ``softmax_over_spatial``, ``generic_attention``,
``range_in_axis`` and ``reduce`` in the installed source (``returnn/tf/layers/basic.py``, ``rec.py``:
``DotLayer``, ``GenericAttentionLayer._weights_remaining_axes``, ``ConvLayer.calc_out_dim``), and
rwth-i6/returnn#1027 (attention weights of a decoder loop made an output layer and read after the loop). None
is a variant of an earlier operator; no rule was written for any of them:

* ``mh-dot-graft``: a multi-head scaled dot-product attention put into a searching decoder's frame, as the
  ``declstmindep-dotatt`` set-up writes it for one head and users widen it to several: at the root the keys
  (a ``linear`` of the memory, ``split_dims`` on ``F`` into heads x key dim) and the values (a ``linear`` split
  the same way); in the loop a query (a ``linear`` of a dense loop layer the scores depend on, of ``prev:`` of
  it, i.e. the previous frame's state, or, one time in five, of an embedding of this frame's label as RWTH's
  ``target_embed``) split into heads, the energies a ``dot`` of the ``base:`` keys and the query (``red1`` /
  ``red2`` ``-1``, ``var1`` ``"T"``, ``var2`` ``"T?"``), ``softmax_over_spatial`` per head with ``energy_factor``
  1/sqrt(d), ``generic_attention`` on the ``base:`` values and ``merge_dims`` (``"static"`` or
  ``"except_batch"``) of the heads; or (three in ten) the returnn_common form with declared head / key / value
  dims (``{"__dim__": ...}``) in ``split_dims``, ``dot`` ``reduce`` and ``merge_dims``; the keys now and then
  projected inside the loop from ``base:`` (which RETURNN may take for a loop input). The context is read in
  the frame by a dense layer on the scores' path (one the query does not depend on), or as ``prev:`` of it
  (fed back into the state, as ``s`` reads ``prev:att``). The memory is the encoder (the ``max_len_from``
  layer, ``encoder``, else a new root ``linear`` of ``data``), or, where the network has a second searching
  decoder that does not read this one, half the time that decoder's output embedded at the root (through a
  ``decide`` or not), as deliberation decoders attend over a first pass. Targets: ``DotLayer`` /
  ``GenericAttentionLayer`` over a ``base:`` (beam-less) and a beamed source, the loop's template
  construction, ``SearchChoices.translate_to_common_search_beam`` where two decoders' beams meet.
* ``loc-conv-energy``: location-aware attention: a ``conv`` (``filter_size`` 3 / 5 / 7, ``padding`` ``"same"``,
  no bias) over the previous frame's attention weights (``prev:`` of the ``softmax_over_spatial``) or over
  their cumulative sum (the base's ``accum_att_weights`` or a new ``combine`` ``prev:cum + weights``), or the
  ``ConvLocAwareness`` form (``pad`` of the weights on ``s:0`` both sides, a ``valid`` ``conv``), projected by a
  ``linear`` to the energy's key dim and added to the MLP energy (an extra source of its ``combine``), or made
  the source of the base's ``weight_feedback`` in place of ``prev:accum_att_weights``. Where the decoder has
  no attention, an MLP attention is grafted with it (root ``enc_ctx`` / values split into heads, in the loop
  a query projection as in ``mh-dot-graft``, ``combine`` add with the location term, ``tanh``, per-head
  energies, weights, ``generic_attention``, ``merge_dims`` for several heads; the memory as in
  ``mh-dot-graft``), its context read by a dense layer of the scores' path in the frame or through
  ``prev:``. Targets: ``ConvLayer`` / ``PadLayer`` on a beamed tensor whose spatial axis is the encoder's
  (dyn sizes of batch, not batch x beam), the ``prev:`` initial output of a layer with an encoder time axis
  (``get_rec_initial_output``).
* ``head-weight-summary``: attention weight feedback of the previous frame into the state: a per-head
  summary of ``prev:`` of the attention weights (or of the cumulative weights), the peak (``reduce`` ``max``
  over ``T``), the expected encoder position (``combine`` ``mul`` with a root ``range_in_axis`` of the attended
  encoder, cast to float, then ``reduce`` ``sum``) or the entropy (``eval`` p log p, ``reduce`` ``sum``), made an
  extra source of a dense layer on the scores' path (the recurrent state or the readout); decoders without
  attention get an MLP attention first (as in ``loc-conv-energy``, without the location term). Four times in
  ten the expected position also ends the loop, Tacotron-style stopping by attention: the heads' mean
  position reaching the encoder's last frame (a root ``length``, ``cast``, minus 1.5) is ``logical_or``-ed
  with the old ``end`` (renamed), or (three in ten of those) is the ``end`` alone. A quarter of the time the
  weights (or the summary) are also exported as in rwth-i6/returnn#1027: an output layer of the loop, read at
  the root through ``REC/LAYER`` by a ``decide`` or by a plain ``copy`` (both output layers). Targets:
  ``ReduceLayer`` over the encoder axis of beamed weights, ``CombineLayer`` broadcasting a beam-less root range
  against them, the end-layer checks of ``_SubnetworkRecCell.get_output``, ``RecLayer.get_sub_layer`` /
  ``DecideLayer`` on accumulated beamed weights.
* ``att-num-heads``: the ``AttNumHeads`` knob of the RWTH attention configs turned on a decoder that has an
  MLP attention (``softmax_over_spatial`` of a ``linear`` energy of ``tanh`` of a ``combine``, read by a
  ``generic_attention`` on a ``base:`` layer): the energy's ``n_out`` becomes H (2, 3, 4 or 8, one that
  divides the value dim where it is known), the values split into heads at the root (the existing
  ``split_dims`` re-sized, or a new ``split_dims`` ``[H, -1]`` of the value layer), a ``merge_dims`` after the
  ``generic_attention`` where none was (its readers, ``prev:`` ones too, follow), the cumulative weights'
  ``out_type`` re-sized to H (once in ten forgotten) and ``inv_fertility`` to H or left at one head; a
  third of the time the heads' query also comes from the previous frame's state (the query projection
  reads ``prev:`` of its state, as ``prev_s_transformed`` in ``test_rec_layer_search_select_src``). Where the
  decoder has no attention, the whole RWTH template with H > 1 heads is grafted (as in ``loc-conv-energy``
  but with ``AdditiveLocAwareness``: a root ``inv_fertility`` with H outputs, ``accum_att_weights`` an ``eval``
  ``prev + weights * inv_fertility * 0.5`` with ``out_type`` of H, ``weight_feedback`` a ``linear`` of its
  ``prev:`` added to the energy). Targets: ``GenericAttentionLayer`` head-axis matching between beamed
  weights and ``base:`` values, ``MergeDimsLayer`` on a beamed context, ``prev:`` reads of the merged context,
  an ``eval`` ``out_type`` with the encoder axis fed back through ``prev:``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _map_refs,
    _recs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH107_SEED = 20270169
N_FRESH107 = 80

Result = "tuple[Case, str] | None"

#: Loop layer classes whose output is a dense feature vector per hypothesis (a query / state).
_DENSE = ("linear", "rnn_cell", "activation", "reduce_out", "combine", "layer_norm", "dropout")
#: Loop layer classes that concatenate any number of dense sources (a context can be an extra source).
_READERS = ("linear", "rnn_cell", "softmax")
#: Root layer classes that are not a frame-wise encoder.
_NOT_ENCODER = ("reduce", "decide", "choice", "length", "constant", "variable", "get_last_hidden_state")


# ----------------------------------------------------------------------------------------------------
# Sites


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Searching label choices of a loop (no regression choices, a string target)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("search", True) is not False and isinstance(unit[c].get("target"), str)]


def _sparse_heads(unit: dict[str, Any]) -> set[str]:
    """Loop layers holding labels: the choices and copies / reinterpretations of them."""
    out = set(_unit_choices(unit))
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in out or unit[k].get("class") not in ("copy", "reinterpret_data", "gather", "cast"):
                continue
            if any(s.removeprefix("prev:") in out for s in _sources(unit[k])):
                out.add(k)
                changed = True
    return out


def _reads_labels(unit: dict[str, Any], desc: dict[str, Any]) -> bool:
    labels = _sparse_heads(unit)
    for s in _sources(desc):
        if s.startswith("data") or s.startswith("base:data") or s.removeprefix("prev:").split("/")[0] in labels:
            return True
    return False


def _score_path(unit: dict[str, Any], choice: str) -> set[str]:
    """The loop layers a choice's scores depend on in the frame (its own sources included)."""
    return _frame_ancestors(unit, choice)


#: Root layer classes without the encoder's time axis; loop layer classes that reduce it away.
_NO_TIME_ROOT = ("reduce", "get_last_hidden_state", "length", "constant", "variable", "decide")
_REDUCES_TIME = ("generic_attention", "dot_attention", "reduce", "choice", "rec_last_output", "gather")


def _root_has_time(net: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Roughly: whether a root layer keeps a time axis (one frame per input or output position)."""
    desc = net.get(name)
    if name in seen or not isinstance(desc, dict):
        return name.startswith("data")
    if desc.get("class") in _NO_TIME_ROOT:
        return False
    srcs = [s for s in _sources(desc) if not s.startswith("base:")]
    if desc.get("class") in ("linear", "copy", "activation", "eval", "combine", "dropout", "split_dims",
                             "layer_norm", "cast", "merge_dims") and srcs:
        return any(_root_has_time(net, s.split("/")[0], seen | {name}) for s in srcs)
    return True


def _enc_axis(net: dict[str, Any], unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer (roughly) carries a root time axis: it or a layer it reads in this or the
    previous frame reads a ``base:`` layer with a time axis, not through a layer that reduces it."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        k = stack.pop()
        if k in seen or not isinstance(unit.get(k), dict):
            continue
        seen.add(k)
        desc = unit[k]
        if desc.get("class") in _REDUCES_TIME:
            continue
        for r in _sources(desc):
            if r.startswith("base:"):
                if _root_has_time(net, r[len("base:"):].split("/")[0]):
                    return True
            else:
                stack.append(r.removeprefix("prev:").split("/")[0])
    return False


def _queries(net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers on the scores' path (a state, a readout, an embedding): query candidates."""
    out = []
    for k in sorted(_score_path(unit, choice)):
        desc = unit[k]
        cls = desc.get("class")
        if cls not in _DENSE or "target" in desc or desc.get("n_out") == 1:
            continue
        if cls == "combine" and desc.get("kind", "add") not in ("add", "mul", "sub"):
            continue
        if _enc_axis(net, unit, k):
            continue
        out.append(k)
    return out


def _shared(unit: dict[str, Any]) -> set[str]:
    """Loop layers whose parameters another layer reuses (named anywhere in a ``reuse_params``)."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.add(value.removeprefix("prev:").removeprefix("base:").split("/")[0])
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for k in _layers(unit):
        if "reuse_params" in unit[k]:
            walk(unit[k]["reuse_params"])
    return out


def _consumers(net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Layers on the scores' path that take one more dense source (no label inputs, no shared params)."""
    out = []
    shared = _shared(unit)
    for k in sorted(_score_path(unit, choice)):
        desc = unit[k]
        if desc.get("class") not in _READERS or "reuse_params" in desc or not _sources(desc) or k in shared:
            continue
        if _reads_labels(unit, desc) or _enc_axis(net, unit, k):
            continue
        out.append(k)
    return out


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A frame-wise root layer the decoder attends to or runs over: the ``max_len_from`` layer, ``encoder``,
    else None."""
    msl = net[rec].get("max_seq_len")
    if isinstance(msl, str):
        m = re.search(r"base:([A-Za-z0-9_.\-]+)", msl)
        if m and isinstance(net.get(m.group(1)), dict) and net[m.group(1)].get("class") not in _NOT_ENCODER:
            return m.group(1)
    desc = net.get("encoder")
    if isinstance(desc, dict) and desc.get("class") not in _NOT_ENCODER and rec not in _root_ancestors(net, "encoder") \
            and "encoder" != rec:
        return "encoder"
    return None


def _encoder_or_new(net: dict[str, Any], rec: str) -> tuple[str, str]:
    """``_encoder`` or a new root ``linear`` of ``data`` (an embedding where the input is sparse)."""
    enc = _encoder(net, rec)
    if enc is not None:
        return enc, enc
    name = _fresh(net, "att_source")
    net[name] = {"class": "linear", "activation": "tanh", "from": "data", "n_out": 8}
    return name, f"{name} (new tanh linear of data)"


def _known_dim(net: dict[str, Any], name: str) -> int | None:
    """The feature dim of a root layer where it is written in its dict."""
    desc = net.get(name)
    if not isinstance(desc, dict):
        return None
    for key in ("n_out", "num_units"):
        if isinstance(desc.get(key), int):
            return desc[key]
    if desc.get("class") == "split_dims" and isinstance(desc.get("dims"), list):
        dims = desc["dims"]
        if all(isinstance(d, int) and d > 0 for d in dims):
            out = 1
            for d in dims:
                out *= d
            return out
    if desc.get("class") == "copy":
        total = 0
        for s in _sources(desc):
            d = _known_dim(net, s)
            if d is None:
                return None
            total += d
        return total or None
    return None


def _mlp_attention(unit: dict[str, Any]) -> tuple[str, str, str, str, str] | None:
    """(weights, energy, tanh, energy_in, generic_attention) of an RWTH-style MLP attention in a loop."""
    for w in _layers(unit):
        if unit[w].get("class") != "softmax_over_spatial" or len(_sources(unit[w])) != 1:
            continue
        e = _sources(unit[w])[0]
        if unit.get(e, {}).get("class") != "linear" or not isinstance(unit[e].get("n_out"), int):
            continue
        if len(_sources(unit[e])) != 1:
            continue
        t = _sources(unit[e])[0]
        if unit.get(t, {}).get("class") != "activation" or len(_sources(unit[t])) != 1:
            continue
        ein = _sources(unit[t])[0]
        if unit.get(ein, {}).get("class") != "combine":
            continue
        atts = [a for a in _layers(unit) if unit[a].get("class") == "generic_attention" and unit[a].get("weights") == w
                and isinstance(unit[a].get("base"), str) and unit[a]["base"].startswith("base:")]
        if not atts:
            continue
        return w, e, t, ein, atts[0]
    return None


def _key_dim(unit: dict[str, Any], ein: str) -> int | None:
    """The dim of an MLP energy's ``combine``: its ``n_out``, else a loop ``linear`` source's ``n_out``."""
    if isinstance(unit[ein].get("n_out"), int):
        return unit[ein]["n_out"]
    for s in _sources(unit[ein]):
        if s in unit and isinstance(unit[s].get("n_out"), int):
            return unit[s]["n_out"]
    return None


def _rename_refs(unit: dict[str, Any], layers: list[str], old: str, new: str) -> None:
    """``layers`` read ``new`` / ``prev:new`` where they read ``old`` / ``prev:old``."""
    mapping = {old: new, f"prev:{old}": f"prev:{new}"}
    for k in layers:
        _map_refs(unit[k], lambda r: mapping.get(r, r))


def _pick_query(net: dict[str, Any], unit: dict[str, Any], choice: str, rng: random.Random) -> tuple[str, str] | None:
    """(query reference, the loop layer it names): a dense layer of the scores' path, ``prev:`` of it (the
    previous frame's state), or (one time in five) an embedding of this frame's label, as RWTH's
    ``target_embed`` (an existing dense layer reading the choice, else a new ``linear`` of it), whose
    context can only be read through ``prev:``."""
    cands = _queries(net, unit, choice)
    if not cands:
        return None
    if rng.random() < 0.2:
        post = [k for k in _layers(unit) if unit[k].get("class") == "linear" and choice in _sources(unit[k])
                and "reuse_params" not in unit[k]]
        if post:
            x = rng.choice(post)
        else:
            x = _fresh(unit, f"{choice}_embed")
            unit[x] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": 8}
        return x, x
    x = rng.choice(cands)
    kind = rng.choices(["cur", "prev"], [0.6, 0.4])[0]
    return (x if kind == "cur" else f"prev:{x}"), x


def _memory(net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, str]:
    """What the heads attend to: the encoder (``_encoder_or_new``), or, where the network has another
    searching decoder that does not read this one, and half the time, that first pass' output embedded at
    the root (through a ``decide`` or not), as a deliberation decoder does."""
    others = _other_decoder(net, rec)
    if others and rng.random() < 0.5:
        first = rng.choice(others)
        src = first
        if rng.random() < 0.4:
            dec = _fresh(net, f"{first}_decided")
            net[dec] = {"class": "decide", "from": first}
            src = dec
        mem = _fresh(net, "att_memory")
        net[mem] = {"class": "linear", "activation": "tanh", "from": src, "n_out": 8}
        return mem, (f"{mem} = tanh linear of {src} (the first pass {first}"
                     f"{', decided' if src != first else ', not decided'})")
    return _encoder_or_new(net, rec)


def _attach(net: dict[str, Any], unit: dict[str, Any], choice: str, ctx: str, query: str,
            rng: random.Random) -> str | None:
    """Let a dense layer of the scores' path read the context ``ctx``: in the frame where that makes no
    cycle (the query must not depend on the reader), else (or a third of the time) as ``prev:ctx``."""
    cons = [c for c in _consumers(net, unit, choice) if c not in (ctx,)]
    if not cons:
        return None
    reader = rng.choice(cons)
    q = query.removeprefix("prev:")
    cyclic = (not query.startswith("prev:")) and (reader == q or reader in _frame_ancestors(unit, q))
    if cyclic or rng.random() < 0.33:
        _add_source(unit[reader], f"prev:{ctx}")
        return f"{reader} reads prev:{ctx}"
    _add_source(unit[reader], ctx)
    return f"{reader} reads {ctx}"


def _graft_mlp(net: dict[str, Any], rec: str, unit: dict[str, Any], choice: str, rng: random.Random,
               *, loc: bool, heads: int | None = None,
               fertility: bool = False) -> tuple[str, str, str, list[str]] | None:
    """An MLP attention (maybe several heads, maybe with a location term, maybe with the RWTH additive
    fertility feedback) put into a loop: returns (weights, context, encoder, description parts); None where
    it has no query or reader."""
    picked = _pick_query(net, unit, choice, rng)
    if picked is None:
        return None
    query, _ = picked
    enc, enc_how = _memory(net, rec, rng)
    heads = heads or rng.choice([1, 1, 2, 4])
    kdim = rng.choice([4, 6, 8])
    vdim = rng.choice([2, 4])
    ctx_root = _fresh(net, "att_enc_ctx")
    net[ctx_root] = {"class": "linear", "activation": None, "with_bias": True, "from": enc, "n_out": kdim}
    parts = [f"memory {enc_how}", f"root {ctx_root} = linear({enc}, {kdim})"]
    if heads == 1:
        value = enc
    else:
        val0 = _fresh(net, "att_value0")
        net[val0] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": heads * vdim}
        value = _fresh(net, "att_value")
        net[value] = {"class": "split_dims", "axis": "F", "dims": [heads, vdim], "from": val0}
        parts.append(f"root {value} = split_dims({val0}, [{heads}, {vdim}])")
    s_tr = _fresh(unit, "att_query")
    unit[s_tr] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": kdim}
    ein = _fresh(unit, "att_energy_in")
    weights = _fresh(unit, "att_w")
    in_src = [f"base:{ctx_root}", s_tr]
    if loc:
        fb, how = _loc_term(unit, weights, f"prev:{weights}", kdim, rng)
        in_src.append(fb)
        parts.append(how)
    if fertility:
        fert = _fresh(net, "inv_fertility")
        net[fert] = {"class": "linear", "activation": "sigmoid", "with_bias": False, "from": enc, "n_out": heads}
        acc = _fresh(unit, "accum_att_weights")
        unit[acc] = {"class": "eval", "from": [f"prev:{acc}", weights, f"base:{fert}"],
                     "eval": "source(0) + source(1) * source(2) * 0.5",
                     "out_type": {"dim": heads, "shape": [None, heads]}}
        fb = _fresh(unit, "weight_feedback")
        unit[fb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{acc}", "n_out": kdim}
        in_src.append(fb)
        parts.append(f"root {fert} = sigmoid linear({enc}, {heads}), {acc} = prev:{acc} + {weights} * "
                     f"base:{fert} * 0.5, {fb} = linear(prev:{acc}) added to the energy")
    unit[ein] = {"class": "combine", "kind": "add", "from": in_src, "n_out": kdim}
    tanh = _fresh(unit, "att_energy_tanh")
    unit[tanh] = {"class": "activation", "activation": "tanh", "from": ein}
    energy = _fresh(unit, "att_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": tanh, "n_out": heads}
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    att0 = _fresh(unit, "att_ctx0" if heads > 1 else "att_ctx")
    unit[att0] = {"class": "generic_attention", "weights": weights, "base": f"base:{value}"}
    ctx = att0
    if heads > 1:
        ctx = _fresh(unit, "att_ctx")
        unit[ctx] = {"class": "merge_dims", "axes": "except_batch", "from": att0}
    parts.append(f"MLP attention, {heads} head(s), query {s_tr} = linear({query}), weights {weights}, "
                 f"context {ctx}")
    how = _attach(net, unit, choice, ctx, query, rng)
    if how is None:
        return None
    parts.append(how)
    return weights, ctx, enc, parts


# ----------------------------------------------------------------------------------------------------
# mh-dot-graft


def _other_decoder(net: dict[str, Any], rec: str) -> list[str]:
    """Other searching decoders of the root that do not read ``rec`` (a first pass to attend over)."""
    return [r for r in _searching_recs(net) if r != rec and rec not in _root_ancestors(net, r)
            and r not in _root_ancestors(net, rec)]


def op_mh_dot_graft(case: Case, rng: random.Random) -> Result:
    """A multi-head scaled dot-product attention (split keys / queries, ``dot`` energies, per-head softmax,
    ``generic_attention``, ``merge_dims``) put into a searching decoder's frame."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _queries(net, net[r]["unit"], c) and _consumers(net, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    picked = _pick_query(net, unit, choice, rng)
    if picked is None:
        return None
    query, _ = picked
    heads = rng.choice([1, 2, 2, 4])
    dk = rng.choice([2, 4, 8])
    dv = rng.choice([2, 4])
    parts = []
    mem, how = _memory(net, rec, rng)
    parts.append(f"memory {how}")
    dim_style = rng.random() < 0.3
    if dim_style:
        h_dim: Any = {"__dim__": {"description": "att-heads", "dimension": heads, "kind": "spatial"}}
        k_dim: Any = {"__dim__": {"description": "att-key", "dimension": dk, "kind": "feature"}}
        v_dim: Any = {"__dim__": {"description": "att-value", "dimension": dv, "kind": "feature"}}
    else:
        h_dim, k_dim, v_dim = heads, dk, dv
    key0 = _fresh(net, "mh_key0")
    key = _fresh(net, "mh_key")
    in_loop_keys = rng.random() < 0.1
    key_desc0 = {"class": "linear", "activation": None, "with_bias": False,
                 "from": f"base:{mem}" if in_loop_keys else mem, "n_out": heads * dk}
    key_desc = {"class": "split_dims", "axis": "F", "dims": [h_dim, k_dim], "from": key0}
    if in_loop_keys:
        key0, key = _fresh(unit, "mh_key0"), _fresh(unit, "mh_key")
        key_desc["from"] = key0
        unit[key0], unit[key] = key_desc0, key_desc
        key_ref = key
        parts.append(f"keys {key} = split_dims(linear(base:{mem}), heads {heads} x {dk}) in the loop")
    else:
        net[key0], net[key] = key_desc0, key_desc
        key_ref = f"base:{key}"
        parts.append(f"root keys {key} = split_dims(linear({mem}), heads {heads} x {dk})")
    val0 = _fresh(net, "mh_value0")
    val = _fresh(net, "mh_value")
    net[val0] = {"class": "linear", "activation": None, "with_bias": False, "from": mem, "n_out": heads * dv}
    net[val] = {"class": "split_dims", "axis": "F", "dims": [h_dim, v_dim], "from": val0}
    q0 = _fresh(unit, "mh_query0")
    q = _fresh(unit, "mh_query")
    unit[q0] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": heads * dk}
    unit[q] = {"class": "split_dims", "axis": "F", "dims": [h_dim, k_dim], "from": q0}
    energy = _fresh(unit, "mh_energy")
    if dim_style:
        unit[energy] = {"class": "dot", "from": [key_ref, q], "reduce": k_dim, "var1": "auto", "var2": "auto"}
    else:
        unit[energy] = {"class": "dot", "from": [key_ref, q], "red1": -1, "red2": -1, "var1": "T", "var2": "T?"}
    weights = _fresh(unit, "mh_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy, "energy_factor": round(dk ** -0.5, 6)}
    ctx0 = _fresh(unit, "mh_att0")
    unit[ctx0] = {"class": "generic_attention", "weights": weights, "base": f"base:{val}"}
    ctx = _fresh(unit, "mh_att")
    if dim_style and rng.random() < 0.5:
        unit[ctx] = {"class": "merge_dims", "axes": [h_dim, v_dim], "from": ctx0}
        merge = "the declared dims"
    else:
        merge = rng.choice(["static", "except_batch"])
        unit[ctx] = {"class": "merge_dims", "axes": merge, "from": ctx0}
    parts.append(f"query {q} = split_dims(linear({query}))" + (" (declared dims)" if dim_style else ""))
    parts.append(f"{energy} = dot, {weights} per head (energy_factor d^-0.5), {ctx} = merge_dims({merge})")
    how = _attach(net, unit, choice, ctx, query, rng)
    if how is None:
        return None
    parts.append(how)
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# loc-conv-energy


def _loc_term(unit: dict[str, Any], weights: str, src: str, kdim: int, rng: random.Random) -> tuple[str, str]:
    """A location term over ``src`` (``prev:`` of weights or of their cumulative sum): conv, then a linear to
    ``kdim``. Returns (the linear's name, description)."""
    k = rng.choice([3, 5, 7])
    chans = rng.choice([4, 8, 10])
    conv = _fresh(unit, "loc_conv")
    if rng.random() < 0.3:
        pad = (k - 1) // 2
        pl = _fresh(unit, "loc_pad_left")
        unit[pl] = {"class": "pad", "from": src, "axes": "s:0", "padding": [pad, 0], "value": 0}
        pr = _fresh(unit, "loc_pad_right")
        unit[pr] = {"class": "pad", "from": pl, "axes": "s:0", "padding": [0, pad], "value": 0}
        unit[conv] = {"class": "conv", "from": pr, "activation": None, "with_bias": False, "filter_size": [k],
                      "padding": "valid", "n_out": chans}
        how = f"pad({src}, s:0, {pad}+{pad}) then valid conv {conv} (filter {k}, {chans} channels)"
    else:
        unit[conv] = {"class": "conv", "from": src, "activation": None, "with_bias": False, "filter_size": [k],
                      "padding": "same", "n_out": chans}
        how = f"conv {conv} over {src} (filter {k}, same, {chans} channels)"
    lin = _fresh(unit, "loc_feedback")
    unit[lin] = {"class": "linear", "activation": None, "with_bias": False, "from": conv, "n_out": kdim}
    return lin, f"{how}, {lin} = linear({conv}, {kdim})"


def _cumulative(unit: dict[str, Any], weights: str) -> tuple[str, str | None]:
    """A loop layer accumulating ``weights`` over the frames (the base's one, else a new ``combine``);
    (its name, how it was made or None where it existed)."""
    for k in _layers(unit):
        srcs = _sources(unit[k])
        if weights in srcs and f"prev:{k}" in srcs:
            return k, None
    cum = _fresh(unit, f"{weights}_cum")
    unit[cum] = {"class": "combine", "kind": "add", "from": [f"prev:{cum}", weights]}
    return cum, f"{cum} = prev:{cum} + {weights}"


def op_loc_conv_energy(case: Case, rng: random.Random) -> Result:
    """A convolution over the previous frame's attention weights (or their cumulative sum) added to the
    energies of an MLP attention (grafted where the decoder has none)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    found = _mlp_attention(unit)
    if found is None:
        if any(unit[k].get("class") in ("softmax_over_spatial", "dot_attention", "self_attention")
               for k in _layers(unit)):
            return None
        if not _queries(net, unit, choice) or not _consumers(net, unit, choice):
            return None
        res = _graft_mlp(net, rec, unit, choice, rng, loc=True)
        if res is None:
            return None
        return new, f"{rec}: location-aware " + "; ".join(res[3])
    weights, _, _, ein, _ = found
    kdim = _key_dim(unit, ein)
    if kdim is None:
        return None
    parts = []
    if rng.random() < 0.4:
        cum, made = _cumulative(unit, weights)
        src = f"prev:{cum}"
        parts.append(made or f"the base's cumulative weights {cum}")
    else:
        src = f"prev:{weights}"
    lin, how = _loc_term(unit, weights, src, kdim, rng)
    parts.append(how)
    fbs = [s for s in _sources(unit[ein]) if s in unit and unit[s].get("class") == "linear"
           and any(x.startswith("prev:") for x in _sources(unit[s]))]
    if fbs and rng.random() < 0.4:
        fb = fbs[0]
        conv = unit[lin]["from"]
        del unit[lin]
        old = unit[fb].get("from")
        unit[fb]["from"] = conv
        parts.append(f"{fb} reads {conv} instead of {old!r} ({lin} not made)")
    else:
        _add_source(unit[ein], lin)
        parts.append(f"{ein} adds {lin}")
    return new, f"{rec}: location-aware attention on {weights}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# head-weight-summary


def _weights_site(unit: dict[str, Any]) -> tuple[str, str] | None:
    """(weights, base: value ref) of an attention whose weights feed a ``generic_attention`` on a root layer."""
    for a in _layers(unit):
        desc = unit[a]
        if desc.get("class") != "generic_attention":
            continue
        w, b = desc.get("weights"), desc.get("base")
        if isinstance(w, str) and w in unit and isinstance(b, str) and b.startswith("base:") \
                and unit[w].get("class") == "softmax_over_spatial" and "axis" not in unit[w]:
            return w, b
    return None


def _end_at_last_frame(net: dict[str, Any], unit: dict[str, Any], enc: str, pos: str, rng: random.Random) -> str:
    """The loop also (or only) ends where the heads' mean attended position reached the encoder's last
    frame (Tacotron-style stopping by attention)."""
    length = _fresh(net, f"{enc}_length")
    net[length] = {"class": "length", "from": enc}
    length_f = _fresh(net, f"{enc}_length_float")
    net[length_f] = {"class": "cast", "from": length, "dtype": "float32"}
    last = _fresh(net, f"{enc}_last_pos")
    net[last] = {"class": "eval", "from": length_f, "eval": "source(0) - 1.5"}
    mean = _fresh(unit, f"{pos}_mean")
    unit[mean] = {"class": "reduce", "mode": "mean", "axis": "F", "from": pos}
    done = _fresh(unit, "att_at_end")
    unit[done] = {"class": "compare", "kind": "greater_equal", "from": [mean, f"base:{last}"]}
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")
    for k in _layers(unit):
        if k != old:
            _map_refs(unit[k], lambda r: {"end": old, "prev:end": f"prev:{old}"}.get(r, r))
    if rng.random() < 0.7:
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, done]}
        return (f"{done} = mean over heads of {pos} >= base:{last} (length of {enc} - 1.5); "
                f"end = logical_or({old}, {done}), {old} the old end")
    unit["end"] = {"class": "copy", "from": done}
    return (f"{done} = mean over heads of {pos} >= base:{last} (length of {enc} - 1.5); end = {done} alone "
            f"({old}, the old end, kept unread)")


def op_head_weight_summary(case: Case, rng: random.Random) -> Result:
    """A per-head summary of the previous frame's attention weights fed into a dense layer of the scores'
    path (an attention grafted first where the decoder has none); maybe the weights exported after the loop."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _consumers(net, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    parts = []
    found = _weights_site(unit)
    if found is None:
        if any(unit[k].get("class") in ("softmax_over_spatial", "dot_attention", "self_attention")
               for k in _layers(unit)):
            return None
        if not _queries(net, unit, choice):
            return None
        res = _graft_mlp(net, rec, unit, choice, rng, loc=False)
        if res is None:
            return None
        weights, _, enc, graft = res
        parts += graft
    else:
        weights, base = found
        enc = base[len("base:"):].split("/", 1)[0]
        while isinstance(net.get(enc), dict) and net[enc].get("class") == "split_dims" and _sources(net[enc]):
            enc = _sources(net[enc])[0]
    src = f"prev:{weights}"
    if rng.random() < 0.25:
        cum, made = _cumulative(unit, weights)
        src = f"prev:{cum}"
        parts.append(made or f"the cumulative weights {cum}")
    kind = rng.choices(["peak", "pos", "entropy"], [0.3, 0.45, 0.25])[0]
    summ = _fresh(unit, f"att_{kind}")
    if kind == "peak":
        unit[summ] = {"class": "reduce", "mode": "max", "axis": "T", "from": src}
        parts.append(f"{summ} = reduce max over T of {src}")
    elif kind == "entropy":
        plogp = _fresh(unit, "att_plogp")
        unit[plogp] = {"class": "eval", "from": src, "eval": "source(0) * tf.math.log(source(0) + 1e-8)"}
        unit[summ] = {"class": "reduce", "mode": "sum", "axis": "T", "from": plogp}
        parts.append(f"{summ} = sum over T of p log p of {src}")
    else:
        rng_ = _fresh(net, "enc_positions")
        net[rng_] = {"class": "range_in_axis", "from": enc, "axis": "T"}
        pos_f = _fresh(net, "enc_positions_float")
        net[pos_f] = {"class": "cast", "dtype": "float32", "from": rng_}
        wpos = _fresh(unit, "att_weighted_pos")
        unit[wpos] = {"class": "combine", "kind": "mul", "from": [src, f"base:{pos_f}"]}
        unit[summ] = {"class": "reduce", "mode": "sum", "axis": "T", "from": wpos}
        parts.append(f"{summ} = sum over T of {src} * base:{pos_f} (range_in_axis of {enc})")
    cons = _consumers(net, unit, choice)
    if not cons:
        return None
    reader = rng.choice(cons)
    _add_source(unit[reader], summ)
    parts.append(f"{reader} reads {summ}")
    if kind == "pos" and isinstance(unit.get("end"), dict) and rng.random() < 0.4:
        parts.append(_end_at_last_frame(net, unit, enc, summ, rng))
    if rng.random() < 0.25:
        exported = rng.choice([weights, summ])
        unit[exported]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_{exported}")
        if rng.random() < 0.5:
            net[out] = {"class": "decide", "from": f"{rec}/{exported}", "is_output_layer": True}
            parts.append(f"{exported} an output layer of the loop, root {out} = decide({rec}/{exported})")
        else:
            net[out] = {"class": "copy", "from": f"{rec}/{exported}", "is_output_layer": True}
            parts.append(f"{exported} an output layer of the loop, root {out} = copy({rec}/{exported})")
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# att-num-heads


def op_att_num_heads(case: Case, rng: random.Random) -> Result:
    """``AttNumHeads`` changed on a decoder's MLP attention: per-head energies, values split into heads,
    contexts merged, the cumulative weights re-sized; maybe the query from the previous frame's state."""
    new, net = _copy(case)
    sites = [r for r in _recs(net) if _label_choices(net[r]["unit"]) and _mlp_attention(net[r]["unit"])]
    if not sites:
        return _att_num_heads_graft(new, net, rng)
    rec = rng.choice(sites)
    unit = net[rec]["unit"]
    weights, energy, _, ein, att = _mlp_attention(unit)  # type: ignore[misc]
    old_h = unit[energy]["n_out"]
    base_ref = unit[att]["base"]
    value = base_ref[len("base:"):]
    if "/" in value or not isinstance(net.get(value), dict):
        return None
    vdesc = net[value]
    total = _known_dim(net, value)
    if vdesc.get("class") == "split_dims" and isinstance(vdesc.get("dims"), list) and len(vdesc["dims"]) == 2:
        inner = _sources(vdesc)
        total = total or (_known_dim(net, inner[0]) if inner else None)
    choices = [h for h in (2, 3, 4, 8) if h != old_h and (total is None and h in (2, 4) or total and total % h == 0)]
    if not choices:
        return None
    heads = rng.choice(choices)
    parts = [f"AttNumHeads {old_h} -> {heads}: {energy}.n_out = {heads}"]
    unit[energy]["n_out"] = heads
    if vdesc.get("class") == "split_dims" and isinstance(vdesc.get("dims"), list) and len(vdesc["dims"]) == 2:
        vdesc["dims"] = [heads, total // heads if total else -1]
        parts.append(f"root {value}.dims = {vdesc['dims']}")
    else:
        split = _fresh(net, f"{value}_heads")
        net[split] = {"class": "split_dims", "axis": "F", "dims": [heads, -1], "from": value}
        unit[att]["base"] = f"base:{split}"
        parts.append(f"root {split} = split_dims({value}, [{heads}, -1]), {att} reads it")
    merged = [k for k in _layers(unit) if unit[k].get("class") == "merge_dims" and att in _sources(unit[k])]
    if not merged:
        readers = [k for k in _layers(unit) if k != att and any(
            s.removeprefix("prev:") == att for s in _sources(unit[k]))]
        m = _fresh(unit, f"{att}_merged")
        unit[m] = {"class": "merge_dims", "axes": rng.choice(["except_batch", "static"]), "from": att}
        _rename_refs(unit, readers, att, m)
        parts.append(f"{m} = merge_dims({att}, {unit[m]['axes']}), read by {', '.join(readers) or 'nobody'}")
    for k in _layers(unit):
        desc = unit[k]
        if weights in _sources(desc) and f"prev:{k}" in _sources(desc) and isinstance(desc.get("out_type"), dict):
            if rng.random() < 0.9:
                desc["out_type"] = {**desc["out_type"], "dim": heads, "shape": [None, heads]}
                parts.append(f"{k}.out_type re-sized to {heads} heads")
            else:
                parts.append(f"{k}.out_type left at the old size")
            for s in _sources(desc):
                if s.startswith("base:") and isinstance(net.get(s[5:]), dict) and net[s[5:]].get("n_out") == old_h:
                    if rng.random() < 0.6:
                        net[s[5:]]["n_out"] = heads
                        parts.append(f"root {s[5:]}.n_out = {heads}")
                    else:
                        parts.append(f"root {s[5:]} left at {old_h} (shared by the heads)")
    if rng.random() < 0.33:
        for s in _sources(unit[ein]):
            if s in unit and unit[s].get("class") == "linear" and len(_sources(unit[s])) == 1:
                st = _sources(unit[s])[0]
                if st in unit and not st.startswith("prev:") and unit[st].get("class") in _DENSE + ("rec",):
                    unit[s]["from"] = f"prev:{st}"
                    parts.append(f"query {s} reads prev:{st} (the previous frame's state)")
                    break
    return new, f"{rec}: " + "; ".join(parts)


def _att_num_heads_graft(new: Case, net: dict[str, Any], rng: random.Random) -> Result:
    """The RWTH attention template with ``AttNumHeads`` > 1 and its fertility feedback put into a decoder
    that has no attention."""
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _queries(net, net[r]["unit"], c) and _consumers(net, net[r]["unit"], c)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    if any(unit[k].get("class") in ("softmax_over_spatial", "dot_attention", "self_attention", "generic_attention")
           for k in _layers(unit)):
        return None
    heads = rng.choice([2, 3, 4, 8])
    res = _graft_mlp(net, rec, unit, choice, rng, loc=False, heads=heads, fertility=True)
    if res is None:
        return None
    return new, f"{rec}: RWTH attention with AttNumHeads {heads} added: " + "; ".join(res[3])


FRESH107_OPERATORS: tuple[Op, ...] = (
    Op("mh-dot-graft", op_mh_dot_graft, 1.2),
    Op("loc-conv-energy", op_loc_conv_energy, 1),
    Op("head-weight-summary", op_head_weight_summary, 1),
    Op("att-num-heads", op_att_num_heads, 1),
)
