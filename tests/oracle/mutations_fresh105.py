"""A hundred-and-seventh set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: a searching decoder's recurrent state and how it is initialised: ``initial_output`` / ``initial_state``
in their forms (``"zeros"``, ``"ones"``, ``"var"``, ``"keep_over_epoch"`` / ``"keep_over_epoch_no_init"``,
``"placeholder"``, ``0`` / ``1``, a layer from outside the loop, a dict or a list of per-part initials of an LSTM
state), ``rnn_cell`` / ``rec`` layers with a string ``unit`` inside the rec unit, the encoder's state bridged into
the decoder (``get_last_hidden_state``, a pooled encoder, a projection), state frozen or reset once a hypothesis
has ended, and state read through ``prev:`` by more than one layer. Sources (read in the installed
``returnn/tf/layers/rec.py`` and ``base.py``): ``LayerBase.get_rec_initial_output`` (a layer initial is
``copy_extend_with_beam``-ed, keywords ``zeros`` / ``ones`` / ``var`` / ``apply(0)``), ``RnnCellLayer
.get_rec_initial_state`` / ``get_rec_initial_state_inner`` / ``transform_initial_state`` /
``get_rec_initial_output`` (a layer initial state is taken as it is, with no beam added; namedtuple states want a
dict or a list), ``RecLayer.get_rec_initial_extra_outputs`` (a ``rec`` with a string unit stepped in the loop),
``SelfAttentionLayer.get_rec_initial_extra_outputs`` (its ``initial_state``), ``GetLastHiddenStateLayer`` and
``_SubnetworkRecCell._get_init_output`` (the special ``end`` initial); RETURNN's tests
``test_rec_subnet_train_t3d`` (``encoder_state`` = ``get_last_hidden_state`` of ``lstm0_fw`` / ``lstm0_bw`` with
``key: "c"``, a projection, ``"initial_state": {"c": "base:enc_state_embed", "h": 0}`` on the searching
decoder's ``rnn_cell``), ``test_lstm_initial_state_var``, ``test_nativelstm2_initial_state_keep_epoch``,
``test_state_keep_over_epoch``; RETURNN's docs on the rec layer's automatic optimisation (a decoder ``rec``
``nativelstm2`` with ``"initial_state": "base:input_last"``, a ``get_last_hidden_state`` of the encoder);
rwth-i6/returnn#190 ("Initial state cannot be taken from base layer": a base layer initialises an LSTM inside the
searching loop, no beam is added) and rwth-i6/returnn#731 ("Rec initial state via layer, extra check", a
``prev:`` template layer as an initial state); the encoder-to-decoder bridges of published attention set-ups
(Bahdanau et al.'s ``s0 = tanh(W h1_backward)``, tf-seq2seq's ``InitialStateBridge`` / ``PassThroughBridge``,
Sockeye's ``rnn_decoder_state_init`` ``last`` / ``avg``) and TF's ``dynamic_decode(impute_finished=True)``, which
copies the state of finished sequences through (none a variant of an earlier operator; no rule was written for
any of them):

* ``enc-final-bridge``: the decoder's recurrent state starts from the encoder instead of zeros. At the root, an
  encoder summary: the ``get_last_hidden_state`` of the root's string-unit ``rec`` encoder layers (a forward /
  backward pair or one layer; ``key`` ``"c"`` as in ``test_rec_subnet_train_t3d``, ``"h"`` or ``"*"``, the
  ``n_out`` summed over the sources), a ``reduce`` ``mean`` (Sockeye ``avg``) or ``max`` over ``T`` of an encoder
  layer (mostly ``encoder``), or its first frame (a ``gather`` at ``T`` position 0, Bahdanau's backward state);
  where the base has another searching decoder that does not read this one, also a deliberation-style bridge
  from that first pass (its labels embedded by a ``linear``, beamed, or decided by a ``decide`` four times in
  ten, then a ``reduce`` ``mean`` over ``T``); then a ``linear`` (``tanh`` or none) projection to the state
  size, left out where the summary already has that size (``PassThroughBridge``). Wiring (cells preferred three
  to one): on a loop ``rnn_cell`` / string-unit ``rec`` of an LSTM, an ``initial_state`` dict ``{"c": B, "h":
  B}``, ``{"c": B, "h": 0}`` (the test), ``{"c": 0, "h": B}``, two projections per part as a dict or a list
  (``InitialStateBridge``), or, now and then, the docs' plain ``"base:B"`` (which namedtuple states do not
  take); on a non-LSTM cell the plain layer; on a dense loop layer read through ``prev:`` its
  ``initial_output``. Targets: ``RnnCellLayer.transform_initial_state`` / ``get_rec_initial_state_inner`` with
  a root layer (no beam, #190) and ``LayerBase.get_rec_initial_output``'s ``copy_extend_with_beam`` (of a
  layer that may carry another decoder's beam).
* ``init-state-kinds``: the keyword initial states of RETURNN's tests and of streaming / online decoding put on
  the loop's stateful layers: an ``rnn_cell`` / string-unit ``rec`` gets ``initial_state`` ``"var"``,
  ``"ones"``, ``"zeros"``, ``0`` / ``1``, ``"keep_over_epoch"``, ``"keep_over_epoch_no_init"`` or
  ``"placeholder"``; an LSTM one also as a per-part dict (``{"c": ..., "h": ...}``) or list of two different
  keywords; a loop ``self_attention`` gets an ``initial_state`` keyword (``keep_over_epoch`` memory, ``zeros``,
  ``var``, ...). Four times in ten, a same-frame reader of a one-step cell also reads it through ``prev:`` (so
  the initial output derived from the initial state is used, in frame 0, by two layers). Targets:
  ``get_rec_initial_state_inner``'s keyword branches (the ``keep_over_epoch`` variable and its post-init hook on
  the rec layer's final rec vars, the placeholder), ``RnnCellLayer.get_rec_initial_output`` and
  ``SelfAttentionLayer.get_rec_initial_extra_outputs``.
* ``end-frozen-state``: the state of a hypothesis that has ended is frozen or cleared, written by hand as users
  port ``impute_finished``: for a loop layer S read through ``prev:`` (a dense layer, a cell, attention weights),
  the readers of ``prev:S`` read ``prev:S_fin`` instead, where ``S_fin`` is a ``switch`` on the loop's own end
  flag: ``switch(PREV_END, prev:S_fin, S)`` (frozen; three times in ten on ``end`` of this frame),
  ``switch(end, 0, S)`` (cleared after EOS) or ``switch(PREV_END, INIT, S)`` (reset to an initial state, ``0``
  or a ``base:`` projection of the encoder mean, for the next segment). PREV_END is mostly ``prev:ended`` of a
  ``copy`` of ``end`` (the workaround), one time in five the direct ``prev:end`` users try first. Targets: the
  ``end`` layer read as a normal layer and through ``prev:`` (``_SubnetworkRecCell``'s ``prev:`` layers and the
  special ``end`` initial of ``_get_init_output``), the switch's beam resolution over ``condition`` /
  ``true_from`` / ``false_from`` (``select_if_needed``) and the ``prev:`` search-choice resolution of a
  self-referencing layer.
* ``inner-rec-init``: a ``rec`` layer with a string unit (``LSTMBlock``, ``standardlstm`` or ``gru``) inside the
  searching loop that runs over a whole sequence again every frame (``from`` ``base:ENC``, an encoder layer with
  its own time axis; where the base has another searching decoder, half of the time that first pass' embedded
  labels, beamed or decided, as in deliberation decoders), initialised from the decoder's state through
  ``prev:`` (``initial_state`` ``"prev:S"``, per-part dicts with ``"prev:S"`` and ``0``, a list, the plain layer
  for an LSTM now and then, or this frame's ``S`` where that makes no cycle), as #731 reports; its final state
  (``get_last_hidden_state``, ``key`` ``"h"`` / ``"*"``) or its ``reduce`` over that time axis is an extra
  source of S itself or of a same-frame reader of S. Targets: ``RnnCellLayer.get_rec_initial_state`` with a
  ``prev:`` template layer (#731's extra check), the base layer extended with the beam inside the loop
  (``_SubnetworkRecCell.get_layer``), ``RecLayer._initial_state_deps`` and ``GetLastHiddenStateLayer`` of a
  layer with a time axis inside the loop.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH105_SEED = 20270167
N_FRESH105 = 80

Result = "tuple[Case, str] | None"

#: Cell units whose state is an ``LSTMStateTuple(c, h)`` (RETURNN's ``get_hidden_state_size``).
_LSTM_UNITS = frozenset({
    "lstmblock", "lstmblockfused", "standardlstm", "basiclstm", "lstm", "nativelstm", "nativelstm2",
    "nativelstmlowmem", "vanillalstm", "zoneoutlstm", "layernormvariantslstm", "blocksparselstm"})
#: Loop layer classes that are no state a user would initialise or freeze.
_NOT_STATE = frozenset({"choice", "compare", "decide", "decide_keep_beam", "choice_get_beam_scores",
                        "choice_get_src_beams", "cast", "copy", "reinterpret_data", "gather", "length",
                        "rec_step_info", "constant", "variable", "range_in_axis", "subnetwork", "cond",
                        "masked_computation", "unmask", "split", "cum_concat"})
#: Loop layer classes with a dense feature axis that users freeze or feed back.
_DENSE_STATE = frozenset({"linear", "rnn_cell", "rec", "combine", "activation", "eval", "softmax",
                          "dot_attention", "generic_attention", "merge_dims", "reduce_out",
                          "softmax_over_spatial", "dropout", "layer_norm", "self_attention"})
#: Root layer classes whose output has no time axis.
_TIMELESS = frozenset({"get_last_hidden_state", "constant", "variable", "length", "decide"})
#: Root layer classes a bridge pools over (time axis, dense features).
_POOLABLE = frozenset({"linear", "copy", "rec", "activation", "dropout", "layer_norm", "combine", "conv",
                       "pool", "eval", "softmax"})


# ----------------------------------------------------------------------------------------------------
# Reading the networks


def _mentions(value: Any, ref: str) -> bool:
    """Whether the string ``ref`` occurs in a layer dict (any option, lists and dicts included)."""
    if isinstance(value, str):
        return value == ref
    if isinstance(value, list):
        return any(_mentions(v, ref) for v in value)
    if isinstance(value, dict) and "__dim__" not in value:
        return any(_mentions(v, ref) for k, v in value.items() if k not in ("eval", "class"))
    return False


def _prev_readers(unit: dict[str, Any], name: str) -> list[str]:
    """Loop layers that read ``prev:name`` (anywhere in their options)."""
    return [k for k in _layers(unit) if _mentions(unit[k], f"prev:{name}")]


def _cell_unit(desc: dict[str, Any]) -> str | None:
    """The string ``unit`` of an ``rnn_cell`` or of a ``rec`` layer stepped in the loop."""
    unit = desc.get("unit")
    if desc.get("class") in ("rnn_cell", "rec") and isinstance(unit, str):
        return unit
    return None


def _is_lstm(unit_name: str) -> bool:
    return unit_name.lower() in _LSTM_UNITS


def _state_sites(unit: dict[str, Any]) -> list[tuple[str, str]]:
    """(layer, ``cell`` / ``dense``) for the loop's recurrent states with an int ``n_out``: cells, and dense
    layers read through ``prev:``."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k == "end" or desc.get("class") in _NOT_STATE or not isinstance(desc.get("n_out"), int):
            continue
        if _cell_unit(desc):
            out.append((k, "cell"))
        elif desc.get("class") in _DENSE_STATE and any(r != "end" for r in _prev_readers(unit, k)):
            out.append((k, "dense"))
    return out


def _data_entry(case: Case, key: str) -> dict[str, Any]:
    ext = (case.get("extern_data") or {}).get(key)
    return ext if isinstance(ext, dict) else {}


def _data_has_time(case: Case, key: str) -> bool:
    ext = _data_entry(case, key)
    if ext.get("time_dim_axis", 1) is None:
        return False
    shape = ext.get("shape")
    return not (isinstance(shape, (list, tuple)) and None not in shape)


def _has_time(case: Case, net: dict[str, Any], name: str, memo: dict[str, bool]) -> bool:
    """A rough guess whether the root layer (or ``data`` / ``data:KEY``) has a time axis."""
    if name == "data" or name.startswith("data:"):
        return _data_has_time(case, name.split(":", 1)[1] if ":" in name else "data")
    if name in memo:
        return memo[name]
    memo[name] = False
    desc = net.get(name)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls in _TIMELESS:
        res = False
    elif cls == "reduce":
        axes = desc.get("axis", desc.get("axes"))
        axes = axes if isinstance(axes, list) else [axes]
        res = not any(isinstance(a, str) and a.lower() in ("t", "time", "stag:time") for a in axes)
        res = res and all(_has_time(case, net, s, memo) for s in _sources(desc))
    elif cls == "rec":
        res = True
    else:
        srcs = [s for s in _sources(desc) if s == "data" or s.startswith("data:") or s in net]
        res = bool(srcs) and any(_has_time(case, net, s, memo) for s in srcs)
    memo[name] = res
    return res


def _sparse_root(case: Case, net: dict[str, Any], name: str) -> bool:
    if name == "data" or name.startswith("data:"):
        ext = _data_entry(case, name.split(":", 1)[1] if ":" in name else "data")
        return bool(ext.get("sparse") or ext.get("sparse_dim"))
    desc = net.get(name)
    return not isinstance(desc, dict) or desc.get("class") in ("choice", "decide") or bool(desc.get("set_sparse"))


def _dim_of(net: dict[str, Any], name: str) -> int | None:
    """The feature size of a root layer where it is plain to see."""
    desc = net.get(name)
    if not isinstance(desc, dict):
        return None
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    if desc.get("class") == "copy":
        dims = [_dim_of(net, s) for s in _sources(desc)]
        return sum(d for d in dims if d) if dims and all(dims) else None
    return None


def _encoders(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with a time axis and dense features, no beam, that a bridge can pool: the ones the loop reads
    through ``base:`` if there are any, else all of them (``data`` if it is dense and nothing else is)."""
    beamed = _beamed_roots(net)
    memo: dict[str, bool] = {}
    cands = [k for k in _layers(net) if k != rec and k not in beamed and net[k].get("class") in _POOLABLE
             and not (net[k].get("class") == "rec" and not isinstance(net[k].get("unit"), str))
             and _has_time(case, net, k, memo) and not _sparse_root(case, net, k)
             and net[k].get("class") != "softmax" and (_dim_of(net, k) or 8) >= 4]
    read = set()
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for ref in _sources(desc) + [desc.get("base"), desc.get("base_ctx")]:
                if isinstance(ref, str) and ref.startswith("base:"):
                    read.add(ref[len("base:"):].split("/", 1)[0])
    near = [k for k in cands if k in read]
    if near:
        return near
    if cands:
        return cands
    if "data" in (case.get("extern_data") or {"data": {}}) and not _sparse_root(case, net, "data") \
            and _data_has_time(case, "data"):
        return ["data"]
    return []


def _pick_encoder(encs: list[str], rng: random.Random) -> str:
    """Mostly the layer named ``encoder`` where there is one, else any."""
    if "encoder" in encs and rng.random() < 0.6:
        return "encoder"
    return rng.choice(encs)


def _root_lstms(case: Case, net: dict[str, Any]) -> list[list[str]]:
    """Groups of root string-unit ``rec`` encoder layers (forward / backward pairs together)."""
    beamed = _beamed_roots(net)
    recs = [k for k in _layers(net) if net[k].get("class") == "rec" and isinstance(net[k].get("unit"), str)
            and isinstance(net[k].get("n_out"), int) and k not in beamed]
    groups = []
    seen: set[str] = set()
    for k in recs:
        if k in seen:
            continue
        twin = k.replace("_fw", "_bw") if "_fw" in k else None
        if twin and twin in recs:
            groups.append([k, twin])
            seen |= {k, twin}
        elif "_bw" not in k or k.replace("_bw", "_fw") not in recs:
            groups.append([k])
            seen.add(k)
    return groups


def _first_passes(net: dict[str, Any], rec: str) -> list[str]:
    """Other searching decoders at the root that do not read ``rec`` (a first pass a second one can start from)."""
    out = []
    for r in _searching_recs(net):
        if r != rec and rec not in _root_ancestors(net, r):
            out.append(r)
    return out


def _labels_out(net: dict[str, Any], rec: str) -> bool:
    """Whether a searching rec's output is its labels (sparse): its ``output`` a choice or a copy of one."""
    out = net[rec]["unit"].get("output")
    return isinstance(out, dict) and out.get("class") in ("choice", "copy", "reinterpret_data", "gather", "cast")


def _first_pass_frames(net: dict[str, Any], first: str, rng: random.Random) -> tuple[str, str]:
    """A root layer of the first pass' frames (its labels embedded), beamed or (four in ten) decided."""
    src = first
    how = f"first pass {first}"
    if rng.random() < 0.4:
        decided = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [first]]
        if decided:
            src = decided[0]
        else:
            src = _fresh(net, f"{first}_decided")
            net[src] = {"class": "decide", "from": first}
        how += f" decided ({src})"
    if _labels_out(net, first):
        emb = _fresh(net, f"{first}_label_embed")
        net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": 8}
        how += f", embedded ({emb})"
        src = emb
    return src, how


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


# ----------------------------------------------------------------------------------------------------
# enc-final-bridge


def _summary(case: Case, net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, int | None, str] | None:
    """A root layer summarising the encoder (no time axis): (name, its size if known, how)."""
    groups = _root_lstms(case, net)
    encs = _encoders(case, net, rec)
    kinds: list[tuple[str, float]] = []
    if encs:
        kinds += [("mean", 0.4), ("max", 0.15), ("first", 0.15)]
    if groups:
        kinds.append(("last", 0.6))
    firsts = _first_passes(net, rec)
    if firsts:
        kinds.append(("first-pass", 1.2))
    if not kinds:
        return None
    kind = _pick(rng, kinds)
    if kind == "first-pass":
        first = rng.choice(firsts)
        src, how = _first_pass_frames(net, first, rng)
        name = _fresh(net, f"{first}_summary")
        net[name] = {"class": "reduce", "mode": "mean", "axis": "T", "from": src}
        return name, _dim_of(net, src), f"{name} = reduce mean over T of the {how}"
    if kind == "last":
        top = [g for g in groups if any(s in _sources(net.get("encoder", {})) for s in g)]
        srcs = rng.choice(top or groups)
        if len(srcs) == 2 and rng.random() < 0.25:
            srcs = [rng.choice(srcs)]
        lstm = all(_is_lstm(net[s]["unit"]) for s in srcs)
        key = _pick(rng, [("c", 0.45), ("h", 0.3), ("*", 0.25)]) if lstm else "*"
        dim = sum(net[s]["n_out"] * (2 if key == "*" and lstm else 1) for s in srcs)
        name = _fresh(net, "encoder_state")
        net[name] = {"class": "get_last_hidden_state", "from": srcs if len(srcs) > 1 else srcs[0],
                     "key": key, "n_out": dim}
        return name, dim, f"{name} = get_last_hidden_state({', '.join(srcs)}, key {key!r}, n_out {dim})"
    enc = _pick_encoder(encs, rng)
    if kind == "first":
        name = _fresh(net, f"{enc.replace(':', '_')}_first")
        net[name] = {"class": "gather", "from": enc, "axis": "T", "position": 0}
        how = f"{name} = frame 0 of {enc} (gather on T)"
    else:
        name = _fresh(net, f"{enc.replace(':', '_')}_{kind}")
        net[name] = {"class": "reduce", "mode": kind, "axis": "T", "from": enc}
        how = f"{name} = reduce {kind} over T of {enc}"
    return name, _dim_of(net, enc), how


def op_enc_final_bridge(case: Case, rng: random.Random) -> Result:
    """The decoder's state initialised from an encoder summary bridged to its size."""
    new, net = _copy(case)
    sites = [(r, k, kind) for r in _searching_recs(net) for k, kind in _state_sites(net[r]["unit"])]
    if not sites:
        return None
    rec, state, kind = _pick(rng, [(site, 3.0 if site[2] == "cell" else 1.0) for site in sites])
    unit = net[rec]["unit"]
    desc = unit[state]
    n = desc["n_out"]
    summ = _summary(case, net, rec, rng)
    if summ is None:
        return None
    src, dim, how = summ
    act = _pick(rng, [("tanh", 0.7), (None, 0.3)])
    act_s = f"{act} linear" if act else "linear (no activation)"

    def project(suffix: str) -> str:
        name = _fresh(net, f"{state}_init{suffix}")
        net[name] = {"class": "linear", "activation": act, "from": src, "n_out": n}
        return name

    cell = _cell_unit(desc)
    old = desc.get("initial_state", desc.get("initial_output", "<unset>"))
    if cell is not None and _is_lstm(cell):
        form = _pick(rng, [("both", 0.3), ("c", 0.22), ("h", 0.13), ("dict2", 0.13), ("list2", 0.14),
                           ("plain", 0.08)])
        if form in ("dict2", "list2"):
            bc, bh = project("_c"), project("_h")
            value: Any = ({"c": f"base:{bc}", "h": f"base:{bh}"} if form == "dict2"
                          else [f"base:{bc}", f"base:{bh}"])
            bridge = f"{bc}, {bh} = {act_s} of {src}"
        else:
            if dim == n and rng.random() < 0.3:
                b, bridge = src, f"{src} passed through"
            else:
                b = project("")
                bridge = f"{b} = {act_s} of {src}"
            value = {"both": {"c": f"base:{b}", "h": f"base:{b}"}, "c": {"c": f"base:{b}", "h": 0},
                     "h": {"c": 0, "h": f"base:{b}"}, "plain": f"base:{b}"}[form]
        desc["initial_state"] = value
        desc.pop("initial_output", None)
        where = f"initial_state of {rec}/{state} ({desc['class']} {cell})"
    else:
        if dim == n and rng.random() < 0.3:
            b, bridge = src, f"{src} passed through"
        else:
            b = project("")
            bridge = f"{b} = {act_s} of {src}"
        if cell is not None:
            desc["initial_state"] = f"base:{b}"
            where = f"initial_state of {rec}/{state} ({desc['class']} {cell})"
        else:
            desc["initial_output"] = f"base:{b}"
            where = f"initial_output of {rec}/{state} (read as prev:{state})"
        value = f"base:{b}"
    return new, f"{how}; {bridge}; {where}: {old!r} -> {value!r}"


# ----------------------------------------------------------------------------------------------------
# init-state-kinds

_KEYWORDS: list[tuple[Any, float]] = [
    ("var", 0.22), ("ones", 0.1), ("zeros", 0.08), (0, 0.06), (1, 0.06), ("keep_over_epoch", 0.22),
    ("keep_over_epoch_no_init", 0.1), ("placeholder", 0.16)]
_SELF_ATT_KEYWORDS: list[tuple[Any, float]] = [
    ("keep_over_epoch", 0.35), ("zeros", 0.2), ("keep_over_epoch_no_init", 0.15), ("var", 0.15),
    ("placeholder", 0.1), (0, 0.05)]


def op_init_state_kinds(case: Case, rng: random.Random) -> Result:
    """A keyword ``initial_state`` (or a per-part dict / list of them) on a stateful loop layer."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            if _cell_unit(desc) or desc.get("class") == "self_attention":
                sites.append((r, k))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    old = desc.get("initial_state", "<unset>")
    cell = _cell_unit(desc)
    if cell is None:
        value: Any = _pick(rng, _SELF_ATT_KEYWORDS)
        kind = "self_attention"
    else:
        kind = f"{desc['class']} {cell}"
        first = _pick(rng, _KEYWORDS)
        form = _pick(rng, [("one", 0.45), ("dict", 0.35), ("list", 0.2)]) if _is_lstm(cell) else "one"
        if form == "one":
            value = first
        else:
            second = _pick(rng, [(v, w) for v, w in _KEYWORDS if v != first])
            value = {"c": first, "h": second} if form == "dict" else [first, second]
    if value == old:
        return None
    desc["initial_state"] = value
    out = f"initial_state of {rec}/{name} ({kind}): {old!r} -> {value!r}"
    single_step = desc.get("class") == "rnn_cell" or not any(s.startswith("base:") for s in _sources(desc))
    if cell is not None and single_step and rng.random() < 0.4:
        readers = [k for k in _layers(unit) if k not in (name, "end") and unit[k].get("class") != "choice"
                   and name in _sources(unit[k]) and f"prev:{name}" not in _sources(unit[k])]
        if readers:
            reader = rng.choice(readers)
            _add_source(unit[reader], f"prev:{name}")
            out += f"; {reader} also reads prev:{name}"
    return new, out


# ----------------------------------------------------------------------------------------------------
# end-frozen-state


def _replace_ref(desc: dict[str, Any], old: str, new: str) -> None:
    for key in ("from", "initial_output", "condition", "true_from", "false_from", "weights", "base", "base_ctx",
                "keys", "values", "position"):
        value = desc.get(key)
        if value == old:
            desc[key] = new
        elif isinstance(value, list):
            desc[key] = [new if v == old else v for v in value]


def op_end_frozen_state(case: Case, rng: random.Random) -> Result:
    """Readers of ``prev:S`` read S frozen, cleared or reset once the hypothesis has ended."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        if not isinstance(unit.get("end"), dict):
            continue
        for k in _layers(unit):
            desc = unit[k]
            if k == "end" or desc.get("class") not in _DENSE_STATE:
                continue
            readers = [x for x in _prev_readers(unit, k) if x != "end"]
            if readers:
                sites.append((r, k))
    if not sites:
        return None
    rec, state = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[state]
    readers = [x for x in _prev_readers(unit, state) if x != "end"]
    mode = _pick(rng, [("freeze", 0.45), ("clear", 0.3), ("reset", 0.25)])
    init = desc.get("initial_output")

    def prev_end() -> str:
        form = _pick(rng, [("copy", 0.8), ("direct", 0.2)])
        if form == "direct":
            return "prev:end"
        flag = next((k for k in _layers(unit) if unit[k].get("class") == "copy" and _sources(unit[k]) == ["end"]),
                    None)
        if flag is None:
            flag = _fresh(unit, "ended")
            unit[flag] = {"class": "copy", "from": "end"}
        return f"prev:{flag}"

    if mode == "freeze":
        name = _fresh(unit, f"{state}_fin")
        cond = prev_end() if rng.random() < 0.7 else "end"
        unit[name] = {"class": "switch", "condition": cond, "true_from": f"prev:{name}", "false_from": state}
        if init is not None and _cell_unit(desc) is None:
            unit[name]["initial_output"] = init
        how = f"{name} = switch({cond}, prev:{name}, {state}) (frozen once ended)"
    elif mode == "clear":
        name = _fresh(unit, f"{state}_masked")
        unit[name] = {"class": "switch", "condition": "end", "true_from": 0.0, "false_from": state}
        how = f"{name} = switch(end, 0, {state}) (cleared after EOS)"
    else:
        name = _fresh(unit, f"{state}_reset")
        true_from: Any = 0.0
        what = "0"
        n = desc.get("n_out")
        encs = _encoders(case, net, rec) if isinstance(n, int) else []
        if encs and rng.random() < 0.6:
            enc = _pick_encoder(encs, rng)
            mean = _fresh(net, f"{enc.replace(':', '_')}_avg")
            net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
            st0 = _fresh(net, f"{state}_state0")
            net[st0] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": n}
            true_from = f"base:{st0}"
            what = f"base:{st0} (tanh linear of mean of {enc})"
        cond = prev_end()
        unit[name] = {"class": "switch", "condition": cond, "true_from": true_from, "false_from": state}
        how = f"{name} = switch({cond}, {what}, {state}) (reset for the next segment)"
    for k in readers:
        _replace_ref(unit[k], f"prev:{state}", f"prev:{name}")
    return new, f"{rec}: {how}; {', '.join(readers)} read prev:{name} instead of prev:{state}"


# ----------------------------------------------------------------------------------------------------
# inner-rec-init


def op_inner_rec_init(case: Case, rng: random.Random) -> Result:
    """A ``rec`` over the encoder inside the loop, initialised from the decoder's state through ``prev:``."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k, _ in _state_sites(net[r]["unit"])]
    if not sites:
        return None
    rec, state = rng.choice(sites)
    firsts = _first_passes(net, rec)
    if firsts and rng.random() < 0.5:
        enc, over = _first_pass_frames(net, rng.choice(firsts), rng)
        over = f"base:{enc} (the {over})"
    else:
        encs = _encoders(case, net, rec)
        if not encs:
            return None
        enc = _pick_encoder(encs, rng)
        over = f"base:{enc}"
    unit = net[rec]["unit"]
    n = unit[state]["n_out"]
    cell = _pick(rng, [("LSTMBlock", 0.45), ("standardlstm", 0.2), ("gru", 0.35)])
    readers = [k for k in _layers(unit) if k not in (state, "end") and unit[k].get("class") != "choice"
               and state in _sources(unit[k]) and isinstance(unit[k].get("from"), (str, list))]
    cur_ok = bool(readers)
    if _is_lstm(cell):
        forms = [({"c": f"prev:{state}", "h": f"prev:{state}"}, 0.35), ({"c": f"prev:{state}", "h": 0}, 0.2),
                 ({"c": 0, "h": f"prev:{state}"}, 0.15), ([f"prev:{state}", f"prev:{state}"], 0.1),
                 (f"prev:{state}", 0.08)]
        if cur_ok:
            forms.append(({"c": state, "h": state}, 0.12))
    else:
        forms = [(f"prev:{state}", 0.75)]
        if cur_ok:
            forms.append((state, 0.25))
    init = _pick(rng, forms)
    uses_cur = _mentions(init, state)
    inner = _fresh(unit, f"{state}_reread")
    unit[inner] = {"class": "rec", "unit": cell, "from": f"base:{enc}", "n_out": n, "initial_state": init}
    if rng.random() < 0.6:
        key = _pick(rng, [("h", 0.5), ("*", 0.5)]) if _is_lstm(cell) else "*"
        dim = 2 * n if key == "*" and _is_lstm(cell) else n
        summ = _fresh(unit, f"{inner}_last")
        unit[summ] = {"class": "get_last_hidden_state", "from": inner, "key": key, "n_out": dim}
        what = f"get_last_hidden_state({inner}, key {key!r})"
    else:
        mode = rng.choice(["max", "mean"])
        summ = _fresh(unit, f"{inner}_{mode}")
        unit[summ] = {"class": "reduce", "mode": mode, "axis": "T", "from": inner}
        what = f"reduce {mode} over T of {inner}"
    into_state = not uses_cur and isinstance(unit[state].get("from"), (str, list)) and rng.random() < 0.5
    if into_state:
        target = state
    else:
        safe = [k for k in readers if k not in _frame_ancestors(unit, state)]
        if not safe:
            return None
        target = rng.choice(safe)
    _add_source(unit[target], summ)
    init_s = init if isinstance(init, str) else repr(init)
    return new, (f"{rec}: {inner} = rec {cell} over {over} with initial_state {init_s}; {summ} = {what}, "
                 f"an extra source of {target}")


FRESH105_OPERATORS: tuple[Op, ...] = (
    Op("enc-final-bridge", op_enc_final_bridge, 1),
    Op("init-state-kinds", op_init_state_kinds, 3.5),
    Op("end-frozen-state", op_end_frozen_state, 1),
    Op("inner-rec-init", op_inner_rec_init, 1),
)
