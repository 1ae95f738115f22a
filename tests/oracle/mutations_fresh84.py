"""An eighty-sixth set of edit operators (issue 15, eighteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Decoder sub-structures of published RETURNN set-ups that differ from a plain attention decoder, grafted (as
their configs write them: layer classes, options, ``prev:`` wiring; names and sizes adapted) onto the bases'
searching loops (none a variant of an earlier operator; no rule was written for any of them):

* ``text-attention``: the second, text-side attention of the many-to-one speech translation decoder of
  rwth-i6/returnn-experiments (the ``2019`` ST set-up behind the corpus base ``rexp-2019-st-many2one``: the
  decoder's ``att_audio`` beside an ``att_text`` with its own ``weight_feedback_text`` over
  ``prev:accum_att_weights_text``): a second MLP attention in the loop over another sequence at the root:
  ``T_ctx`` (``linear``) of a text encoding (a ``linear`` embedding of a sparse data key, the target key
  included, as the set-up reads its text input; maybe through a ``nativelstm2`` ``rec`` text encoder), or of
  the ``data`` input, or of another encoder layer the decoder reads; in the loop ``T_s_tr`` (``linear`` of a
  state the choice's scores depend on), maybe ``T_accum`` (``eval`` ``source(0) + source(1) * 0.5`` of
  ``prev:T_accum`` and the weights, ``out_type`` ``{dim: 1, shape: (None, 1)}``) and ``T_weight_feedback``
  (``linear`` of ``prev:T_accum``), ``T_energy_in`` (``combine`` add), ``tanh``, ``T_energy`` (``linear``
  to 1), ``T_weights`` (``softmax_over_spatial``), ``T_att`` (``generic_attention``, ``base`` the value
  read as ``base:``); a dense layer on the scores' path reads ``T_att``, or (input feeding) the state reads
  ``prev:T_att``;
* ``decoder-attention``: the cascaded / triangle form of the same ST decoders: the translation decoder
  attends over the states of a first-pass (recognition) decoder at the root: another searching decoder of the
  base that does not read this one (seven times in ten where there is one), else a copy of the decoder itself
  under ``first_pass`` (its choice, its
  ``end``, its ``max_seq_len``) as ST adaptor set-ups start from the ASR model; the attended sequence is the
  first pass's hidden state read by path (``FIRST/s``, maybe marked an output layer of that loop), a
  ``decide`` of the first pass (an existing one or a new one) embedded by a root ``linear``, or the raw
  (beamed) first-pass labels embedded, maybe through a ``nativelstm2`` text encoder; the attention is wired
  into the loop as for ``text-attention``;
* ``ff-decoder-state``: the feed-forward decoder of rwth-i6/returnn-experiments ``2021`` ILM set-ups (the corpus
  base ``rexp-2021-ilm-ffdec``: ``FF_0``, a ``linear`` ``tanh`` over ``prev:target_embed``,
  ``prev:prev_1_target_embed``, ``prev:prev_2_target_embed`` and ``prev:att``, with ``prev_1_target_embed`` a
  ``copy`` of ``prev:target_embed`` and ``prev_2_target_embed`` a ``copy`` of ``prev:prev_1_target_embed``):
  a loop cell (``rnn_cell`` or ``rec`` with a string unit) that reads a label embedding becomes such a
  ``linear`` ``tanh`` of its size over its old sources and a window of two or three label embeddings kept by
  the ``copy`` chain (read as ``prev:`` where the cell read the embedding as ``prev:``, in the frame where the
  embedding already reads the previous label); now and then its other previous-frame inputs (``prev:att``)
  are dropped, leaving the label window the only history of the state; a dense self-recurrent decoder state
  (a ``linear`` reading its own ``prev:`` or another previous frame besides the label) is rewritten the same
  way, its own ``prev:`` dropped half of the time.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _frame_ancestors,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH84_SEED = 20270146
N_FRESH84 = 80

Result = "tuple[Case, str] | None"

_DENSE = ("linear", "rnn_cell", "softmax")


def _plain_recs(net: dict[str, Any]) -> list[str]:
    """Searching root recs (not the layers of extra nets)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _is_cell(desc: dict[str, Any]) -> bool:
    return desc.get("class") == "rnn_cell" or (desc.get("class") == "rec" and isinstance(desc.get("unit"), str))


def _time_layers(unit: dict[str, Any]) -> set[str]:
    """Loop layers over the encoder frames (an attention's energies, weights, accumulated weights and what reads
    them in the frame before the attention sums over the frames)."""
    time: set[str] = set()
    for k in _layers(unit):
        d = unit[k]
        if d.get("class") == "softmax_over_spatial" or (d.get("class") == "combine"
                                                       and any(s.startswith("base:") for s in _sources(d))):
            time.add(k)
        if d.get("class") == "eval" and isinstance(d.get("out_type"), dict):
            time.add(k)
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            d = unit[k]
            if k in time or d.get("class") in ("generic_attention", "dot_attention", "reduce", "choice"):
                continue
            heads = {s.removeprefix("prev:") for s in _sources(d)}
            if heads & time:
                time.add(k)
                changed = True
    return time


def _states(unit: dict[str, Any]) -> list[str]:
    """Decoder states of a loop: cells, and dense ``linear`` layers that read a previous frame (not only the
    previous label), none over the encoder frames."""
    time = _time_layers(unit)
    choices = set(_unit_choices(unit))
    out = []
    for k in _layers(unit):
        d = unit[k]
        if k in time or k in choices:
            continue
        if _is_cell(d):
            out.append(k)
        elif d.get("class") == "linear" and d.get("activation") != "softmax":
            prevs = [s[len("prev:"):] for s in _sources(d) if s.startswith("prev:")]
            if any(p not in choices for p in prevs):
                out.append(k)
    return out


def _state_sites(unit: dict[str, Any]) -> list[tuple[str, str]]:
    """(query, reader): a decoder state and a dense loop layer on the path of a choice's scores that depends on
    it in the frame (or is it), none over the encoder frames."""
    time = _time_layers(unit)
    states = set(_states(unit))
    out = []
    for c in _unit_choices(unit):
        srcs = [s for s in _sources(unit[c]) if s in unit and isinstance(unit[s], dict)]
        if len(srcs) != 1:
            continue
        scores = srcs[0]
        path = _frame_ancestors(unit, scores) | {scores}
        readers = [k for k in path if isinstance(unit.get(k), dict) and k not in time
                   and (unit[k].get("class") in _DENSE or _is_cell(unit[k]))]
        for r in readers:
            for q in (_frame_ancestors(unit, r) | {r}) & states:
                out.append((q, r))
    return sorted(set(out))


def _text_encoder(net: dict[str, Any], src: str, tag: str, rng: random.Random, lstm_p: float) -> tuple[str, str]:
    """A root embedding of a sparse sequence (maybe through an LSTM text encoder); (value layer, how)."""
    emb = _fresh(net, f"{tag}_embed")
    net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": 8}
    how = f"{emb} = linear({src})"
    if rng.random() < lstm_p:
        enc = _fresh(net, f"{tag}_encoder")
        net[enc] = {"class": "rec", "unit": "nativelstm2", "from": emb, "n_out": 8}
        how += f", {enc} = nativelstm2({emb})"
        return enc, how
    return emb, how


def _graft_attention(net: dict[str, Any], rec: str, value: str, tag: str, rng: random.Random) -> str | None:
    """The MLP attention of the ST decoders over root layer ``value``, wired into ``rec``'s loop."""
    unit = net[rec]["unit"]
    sites = _state_sites(unit)
    if not sites:
        return None
    q, r = rng.choice(sites)
    ctx = _fresh(net, f"{tag}_ctx")
    net[ctx] = {"class": "linear", "activation": None, "with_bias": True, "from": value, "n_out": 8}
    names = {k: _fresh(unit, f"{tag}_{k}") for k in
             ("s_tr", "accum", "weight_feedback", "energy_in", "energy_tanh", "energy", "weights", "att")}
    unit[names["s_tr"]] = {"class": "linear", "activation": None, "with_bias": False, "from": q, "n_out": 8}
    energy_from = [f"base:{ctx}", names["s_tr"]]
    fb = ""
    if rng.random() < 0.5:
        unit[names["accum"]] = {"class": "eval", "eval": "source(0) + source(1) * 0.5",
                                "from": [f"prev:{names['accum']}", names["weights"]],
                                "out_type": {"dim": 1, "shape": [None, 1]}}
        unit[names["weight_feedback"]] = {"class": "linear", "activation": None, "with_bias": False,
                                          "from": f"prev:{names['accum']}", "n_out": 8}
        energy_from.append(names["weight_feedback"])
        fb = f" with weight feedback {names['weight_feedback']} of prev:{names['accum']}"
    else:
        del names["accum"], names["weight_feedback"]
    unit[names["energy_in"]] = {"class": "combine", "kind": "add", "from": energy_from, "n_out": 8}
    unit[names["energy_tanh"]] = {"class": "activation", "activation": "tanh", "from": names["energy_in"]}
    unit[names["energy"]] = {"class": "linear", "activation": None, "with_bias": False,
                             "from": names["energy_tanh"], "n_out": 1}
    unit[names["weights"]] = {"class": "softmax_over_spatial", "from": names["energy"]}
    att = names["att"]
    unit[att] = {"class": "generic_attention", "weights": names["weights"], "base": f"base:{value}"}
    desc = (f"{rec}: attention {att} over base:{value} (ctx {ctx}, query {q}){fb}")
    if (r == q or rng.random() < 0.35) and unit[q].get("class") != "softmax":
        _add_source(unit[q], f"prev:{att}")
        return desc + f"; input feeding: {q} also reads prev:{att}"
    if r == q:
        return None
    _add_source(unit[r], att)
    return desc + f"; {r} also reads {att}"


# ----------------------------------------------------------------------------------------------------
# text-attention


def op_text_attention(case: Case, rng: random.Random) -> Result:
    """A second (text-side) MLP attention of the loop over another root sequence."""
    new, net = _copy(case)
    recs = [r for r in _plain_recs(net) if _state_sites(net[r]["unit"])]
    if not recs:
        return None
    rec = rng.choice(recs)
    keys = [k for k in _sparse_keys(new) if k != "data"]
    data_ext = (new.get("extern_data") or {}).get("data")
    data_sparse = isinstance(data_ext, dict) and bool(data_ext.get("sparse") or data_ext.get("sparse_dim"))
    if not data_ext and isinstance((new.get("num_outputs") or {}).get("data"), list):
        data_sparse = (new["num_outputs"]["data"][1:] == [1])
    encs = [k for k in sorted(_root_ancestors(net, rec))
            if net[k].get("class") in ("linear", "copy", "pool", "conv", "activation", "layer_norm", "dropout")
            or (net[k].get("class") == "rec" and isinstance(net[k].get("unit"), str))]
    kinds = ["key"] * bool(keys) + ["data"] + ["encoder"] * bool(encs)
    weights = {"key": 0.45, "data": 0.2, "encoder": 0.35}
    kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
    if kind == "key":
        key = rng.choice(keys)
        value, how = _text_encoder(net, f"data:{key}", "text", rng, 0.4)
    elif kind == "data":
        if data_sparse:
            value, how = _text_encoder(net, "data", "text", rng, 0.4)
        else:
            value = _fresh(net, "text_value")
            net[value] = {"class": "linear", "activation": "tanh", "from": "data", "n_out": 8}
            how = f"{value} = linear(data)"
    else:
        enc = rng.choice(encs)
        value, how = enc, f"the encoder layer {enc}"
    desc = _graft_attention(net, rec, value, "text", rng)
    if desc is None:
        return None
    return new, f"text attention over {how}: {desc}"


# ----------------------------------------------------------------------------------------------------
# decoder-attention


def op_decoder_attention(case: Case, rng: random.Random) -> Result:
    """The translation decoder attends over a first-pass decoder's states or labels at the root."""
    new, net = _copy(case)
    recs = [r for r in _plain_recs(net) if _state_sites(net[r]["unit"])]
    if not recs:
        return None
    rec = rng.choice(recs)
    others = [r2 for r2 in _plain_recs(net) if r2 != rec and rec not in _root_ancestors(net, r2)]
    if others and rng.random() < 0.7:
        first = rng.choice(others)
        made = f"the base's decoder {first}"
    else:
        first = _fresh(net, "first_pass")
        net[first] = copy.deepcopy(net[rec])
        net[first].pop("is_output_layer", None)
        made = f"{first}, a copy of {rec}"
    unit1 = net[first]["unit"]
    states = _states(unit1)
    kind = rng.choices(["state", "decided", "raw"], [0.4, 0.35, 0.25])[0]
    if kind == "state" and not states:
        kind = "decided"
    if kind == "state":
        st = rng.choice(states)
        if rng.random() < 0.5:
            unit1[st]["is_output_layer"] = True
            made += f" ({st} marked an output layer)"
        value, how = f"{first}/{st}", f"the hidden states {first}/{st}"
    elif kind == "decided":
        decs = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [first]]
        if decs and rng.random() < 0.6:
            dec = rng.choice(decs)
        else:
            dec = _fresh(net, f"{first}_decided")
            net[dec] = {"class": "decide", "from": first}
        value, how = _text_encoder(net, dec, f"{first}_text", rng, 0.3)
        how = f"decided labels {dec}: {how}"
    else:
        value, how = _text_encoder(net, first, f"{first}_text", rng, 0.3)
        how = f"raw (beamed) labels of {first}: {how}"
    desc = _graft_attention(net, rec, value, "dec_att", rng)
    if desc is None:
        return None
    return new, f"first pass {made}; attention over {how}: {desc}"


# ----------------------------------------------------------------------------------------------------
# ff-decoder-state


def _label_refs(unit: dict[str, Any], desc: dict[str, Any]) -> list[str]:
    """Sources of a layer that are label embeddings: ``E`` where ``E`` reads ``prev:CHOICE``, ``prev:E`` where
    ``E`` reads ``CHOICE``."""
    choices = set(_unit_choices(unit))
    out = []
    for s in _sources(desc):
        name = s.removeprefix("prev:")
        d = unit.get(name)
        if not isinstance(d, dict) or d.get("class") != "linear":
            continue
        srcs = _sources(d)
        if s.startswith("prev:") and any(x in choices for x in srcs):
            out.append(s)
        elif not s.startswith("prev:") and any(x.startswith("prev:") and x[5:] in choices for x in srcs):
            out.append(s)
    return out


def op_ff_decoder_state(case: Case, rng: random.Random) -> Result:
    """A loop state becomes the feed-forward state of the FF decoder over a window of label embeddings."""
    new, net = _copy(case)
    sites = []
    for r in _plain_recs(net):
        unit = net[r]["unit"]
        for k in _states(unit):
            if _label_refs(unit, unit[k]):
                sites.append((r, k))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    old = unit[name]
    label = rng.choice(_label_refs(unit, old))
    emb = label.removeprefix("prev:")
    window = rng.choice([2, 3])
    c1 = _fresh(unit, f"prev_1_{emb}")
    unit[c1] = {"class": "copy", "from": f"prev:{emb}"}
    chain = [c1]
    if window == 3:
        c2 = _fresh(unit, f"prev_2_{emb}")
        unit[c2] = {"class": "copy", "from": f"prev:{c1}"}
        chain.append(c2)
    older = [f"prev:{c}" for c in chain] if label.startswith("prev:") else chain
    srcs = _sources(old)
    drop_rec = rng.random() < (0.3 if _is_cell(old) else 0.5)
    kept = [x for x in srcs if not (drop_rec and x.startswith("prev:") and x != label)]
    ff = {"class": "linear", "activation": "tanh", "with_bias": True, "from": [*kept, *older],
          "n_out": old.get("n_out", 8)}
    for k in ("L2", "dropout", "is_output_layer"):
        if k in old:
            ff[k] = old[k]
    unit[name] = ff
    how = f"{name} = linear tanh over {ff['from']}, {', '.join(f'{c} = copy(prev:...)' for c in chain)}"
    if drop_rec:
        how += " (its other previous-frame inputs dropped)"
    return new, f"{rec}/{name} ({old.get('class')} {old.get('unit')}) becomes the FF decoder's state: {how}"


FRESH84_OPERATORS: tuple[Op, ...] = (
    Op("text-attention", op_text_attention, 1),
    Op("decoder-attention", op_decoder_attention, 1),
    Op("ff-decoder-state", op_ff_decoder_state, 1),
)
