"""A hundred-and-third set of edit operators (issue 15, twenty-first session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: copy / pointer-generator mechanisms and attention-feedback decoders put onto the bases' searching
decoders: a copy distribution over the source positions mapped into the vocabulary, a generation switch mixing
it with the decoder's own output distribution, attention weights of the previous frame fed back for copying, and
an output distribution extended with extra copy slots (none a variant of an earlier operator; no rule was
written for any of them). Sources: the pointer-generator network of See et al. (2017, "Get To The Point",
abisee/pointer-generator: ``p_gen = sigmoid(w_h h* + w_s s + w_x x)``, ``P = p_gen P_vocab + (1 - p_gen)
P_copy``, the copy distribution made with ``tf.scatter_nd`` of the attention weights into the extended
vocabulary, abisee/pointer-generator#41 / #72), CopyNet (Gu et al. 2016, "selective read" of the previous
output's source positions), the attention-based copy with ``<ptr*>`` symbols of awslabs/sockeye#697, and the
RETURNN layers used for it, read in the installed ``returnn/tf/layers/basic.py`` / ``rec.py``
(``GenericAttentionLayer`` as weights times a one-hot or posterior of the source tokens, ``ScatterNdLayer``
with ``position`` / ``position_axis`` / ``output_dim_via_time_from`` / ``filter_invalid_indices`` as
rwth-i6/i6_experiments ``users/schmitt`` scatters ``att_weights`` in its loop, ``SoftmaxOverSpatialLayer``,
``CompareLayer``, ``PadLayer``, ``EvalLayer`` / ``CombineLayer`` kind ``logaddexp``, ``GatherLayer``,
``ReduceLayer`` ``argmax``). The source tokens the copy points at are the sparse input where the base has one
(mapped into the target vocabulary when the sizes differ), else the ``argmax`` (or the posterior) of a root
``softmax`` over the attended encoder (a CTC-like auxiliary head). Where a searching loop has no attention, the
operators add the copy attention of See et al. (an MLP attention of the decoder state on a root projection of
the encoder); a "query" is a dense loop layer without an encoder axis that the choice's scores depend on.

* ``pointer-gen-mix``: the generation switch of See et al.: ``p_gen`` a ``linear`` ``sigmoid`` (``n_out`` 1,
  ``squeeze``\\d) of the attention context, the decoder state and the previous label's embedding (sometimes a
  ``prev:`` state or a ``base:`` encoder mean among them); the copy distribution a ``generic_attention`` of the
  attention weights (or of ``prev:`` of them, the previous frame's weights fed back) on a root distribution of
  the source tokens: the posterior of the auxiliary softmax, the one-hot of its argmax (``eval``
  ``tf.one_hot``), or for a sparse input the one-hot of the token ids (``compare`` with a root ``range``,
  ``cast``, ``reinterpret_data`` making the vocabulary axis F); the choice chooses over the mix, an ``eval``
  (``p_gen * P + (1 - p_gen) * P_copy``) or a ``combine`` ``add`` of two ``eval`` parts, in the log domain
  (``log`` of the mix, or ``combine`` ``logaddexp``) where the choice takes ``log_prob``; sometimes ``p_gen``
  or the chosen label's copy probability (``gather`` of the copy distribution at the choice) is an output
  layer of the loop read at the root (``copy`` or ``decide``). Targets: ``SearchChoices
  .translate_to_common_search_beam`` over ``weights`` / ``base`` of ``GenericAttentionLayer``, the ``ChoiceLayer``
  source checks (``sources[0].output.shape == (dim,)``), ``prev:`` template resolution of the weights, and the
  root's access to loop outputs (``_SubnetworkRecCell`` output layers, ``DecideLayer``).
* ``copy-scatter``: the copy distribution as abisee/pointer-generator builds it, ``scatter_nd`` of the
  (``squeeze``\\d, head-averaged) attention weights (or ``prev:`` of them) at the source tokens' ids
  (``position`` a root layer read through ``base:``, ``position_axis`` ``T``) into a vocabulary axis taken from a
  root ``range`` of the vocabulary size made the time axis of a ``reinterpret_data`` (``output_dim_via_time_from``),
  with ``filter_invalid_indices`` where the raw source ids may lie outside the target vocabulary (and now and
  then without it); mixed with the output distribution through ``p_gen`` as above, or by a plain fixed
  interpolation (an ``eval``), the choice choosing over the mix, and maybe an output layer read at the root; or
  (about a third of the time) after the loop, as schmitt's configs dump scattered weights: the loop's weights
  an output layer, scattered at the root over all frames of the decoder's beamed output (an output layer), maybe
  mixed there with the loop's output distribution read by path. Targets: ``ScatterNdLayer`` templates with a
  beamed ``from`` and an unbeamed ``position`` (the common search beam over the ``position`` option, the
  frame's search choices of its output), ``SelectSearchSourcesLayer.select_if_needed`` on a root layer, the
  ``ChoiceLayer`` shape checks on the mix, and the root's reading of accumulated beamed loop outputs.
* ``copynet-selective-read``: CopyNet's selective read fed into the decoder state: the source positions whose
  token equals the previous label (``compare`` ``equal`` of ``base:`` source tokens with ``prev:CHOICE``),
  weighted by the previous frame's attention weights (``prev:W``, ``cast`` and ``combine`` ``mul``), normalised
  (``reduce`` ``sum`` over ``T`` and an ``eval``) and read from the encoder (``generic_attention``), an extra
  source of the dense loop layer that reads the previous label's embedding; or computed after the frame's
  choice (from ``CHOICE`` and this frame's weights) and read as ``prev:`` of it the next frame; or (a mistake)
  with this frame's weights where no cycle follows. Targets: the beam of ``prev:CHOICE`` meeting an unbeamed
  root layer in ``CompareLayer``, ``prev:`` search-choice resolution (``_TemplateLayer.get_search_choices``,
  "has beam but no search choices"), and ``maybe_transform`` of layers computed after the choice.
* ``copy-ext-vocab``: See et al.'s extended vocabulary (and the ``<ptr*>`` slots of sockeye#697): the output
  distribution ``pad``\\ded by K (2, 3 or 5) copy slots on ``F`` (``exp`` first where the choice takes
  ``log_prob``), the copy distribution over the V + K labels (source tokens mapped into the extended range), the
  mix through ``p_gen``; the choice gets a new target key of dim V + K in ``extern_data`` (or, a mistake,
  keeps its old target of dim V); the previous label fed back as it is, or mapped back into the vocabulary
  (``eval`` ``tf.minimum`` to the last label, See et al.'s UNK) before its embedding; sometimes a root
  post-processing that maps the decided labels back. Targets: ``ChoiceLayer.__init__``'s
  ``sources[0].output.dim == self.output.dim``, the target templates of a choice (``_static_get_target_value``
  in search), ``prev:`` of a layer computed from the choice, and ``DecideLayer`` on the extended labels.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH101_SEED = 20270163
N_FRESH101 = 80

Result = "tuple[Case, str] | None"

#: Loop layer classes whose value is one dense vector per hypothesis when their inputs are.
_DENSE = ("linear", "rnn_cell", "rec", "reduce_out", "activation", "layer_norm", "copy", "combine", "dropout",
          "generic_attention", "dot_attention")
#: Loop layer classes that reduce the encoder axis (their value has none even when they read ``base:``).
_FLAT = ("generic_attention", "dot_attention", "rnn_cell", "choice")
#: Root layer classes taken as an encoder (a value per input frame).
_ENC = ("linear", "rec", "copy", "activation", "layer_norm", "conv", "dropout", "combine", "reduce_out",
        "self_attention", "positional_encoding")
#: Root layer classes after which a layer has no frame axis any more (or no batch).
_NO_FRAMES = ("reduce", "length", "get_last_hidden_state", "constant", "variable", "range", "decide", "choice",
              "gather", "rec_last_output", "range_from_length")


# ----------------------------------------------------------------------------------------------------
# Finding the parts


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    """(rec, choice, scores layer, input_type, vocabulary size) of the label choices of searching loops that
    choose over one loop layer of prob / log_prob scores."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            kind = desc.get("input_type", "prob")
            if kind not in ("prob", "log_prob"):
                continue
            dim = _target_dim(case, _data_target(desc))
            if not isinstance(dim, int) or dim < 2:
                continue
            srcs = _sources(desc)
            if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
                continue
            out.append((rec, c, srcs[0], kind, dim))
    return out


def _flat(unit: dict[str, Any], name: str, memo: dict[str, bool]) -> bool:
    """Whether loop layer ``name`` has no encoder axis (a rough static guess)."""
    if name in memo:
        return memo[name]
    memo[name] = True  # a cycle through prev: counts as flat
    desc = unit.get(name)
    if not isinstance(desc, dict):
        return True
    cls = desc.get("class")
    if cls in _FLAT or (cls == "rec" and isinstance(desc.get("unit"), str)):
        res = True
    elif cls in ("softmax_over_spatial", "cum_concat", "slice_nd", "window", "scatter_nd"):
        res = False
    else:
        res = True
        for ref in _refs(desc):
            if ref.startswith("base:"):
                res = False
                break
            head = ref.removeprefix("prev:").split("/", 1)[0]
            if ":" not in head and head in unit and not _flat(unit, head, memo):
                res = False
                break
    memo[name] = res
    return res


def _queries(unit: dict[str, Any], scores: str) -> list[str]:
    """Dense loop layers without an encoder axis that the scores depend on (states first, then readouts)."""
    anc = _frame_ancestors(unit, scores)
    memo: dict[str, bool] = {}
    states = sorted(k for k in anc if unit[k].get("class") == "rnn_cell"
                    or (unit[k].get("class") == "rec" and isinstance(unit[k].get("unit"), str)))
    if states:
        return states
    return sorted(k for k in anc if unit[k].get("class") in _DENSE and unit[k].get("class") != "generic_attention"
                  and isinstance(unit[k].get("n_out"), int) and _flat(unit, k, memo))


def _label_embeds(unit: dict[str, Any], choice: str) -> list[str]:
    """References to the previous label's embedding: ``L`` for a ``linear`` L over ``prev:CHOICE``, ``prev:L``
    for a ``linear`` L over ``CHOICE``."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear":
            continue
        srcs = _sources(desc)
        if f"prev:{choice}" in srcs:
            out.append(k)
        elif choice in srcs:
            out.append(f"prev:{k}")
    return out


def _contexts(unit: dict[str, Any], weights: str) -> list[str]:
    return [k for k in _layers(unit) if unit[k].get("class") == "generic_attention" and unit[k].get("weights") == weights]


def _data_sparse_dim(case: Case) -> int | None:
    """The vocabulary size of the input ``data`` when it is sparse (token ids), else None."""
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict):
        if ext.get("sparse") and isinstance(ext.get("dim"), int):
            return ext["dim"]
        sparse = ext.get("sparse_dim")
        if isinstance(sparse, dict):
            dim = sparse.get("__dim__", {}).get("dimension")
            return dim if isinstance(dim, int) else None
        return None
    num = (case.get("num_outputs") or {}).get("data")
    if isinstance(num, list) and num[1:] == [1] and isinstance(num[0], int):
        return num[0]
    return None


def _reads_data(net: dict[str, Any], name: str) -> bool:
    """Whether root layer ``name`` is computed from the input ``data`` through frame-wise layers only."""
    names = {name} | _root_ancestors(net, name)
    if any(isinstance(net.get(k), dict) and net[k].get("class") in _NO_FRAMES for k in names):
        return False
    if any(isinstance(net.get(k), dict) and net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict)
           for k in names):
        return False
    # a root layer without ``from`` reads ``data`` (RETURNN's default)
    return any(s in ("data", "data:data") for k in names if isinstance(net.get(k), dict)
               for s in (_sources(net[k]) if "from" in net[k] else ["data"]))


def _encoder_for(net: dict[str, Any], unit: dict[str, Any], weights: str | None) -> str | None:
    """The root encoder the attention weights ``weights`` range over (the ``base`` of a ``generic_attention``
    with these weights, its source where that is a reshaped copy of it); else a root encoder the loop reads."""
    if weights is not None:
        for ctx in _contexts(unit, weights):
            base = unit[ctx].get("base")
            if isinstance(base, str) and base.startswith("base:"):
                name = base[len("base:"):]
                if "encoder" in net and isinstance(net["encoder"], dict) and "encoder" in _root_ancestors(net, name):
                    return "encoder"
                if name in net and isinstance(net[name], dict):
                    if net[name].get("class") in _ENC:
                        return name
                    srcs = [s for s in _sources(net[name]) if s in net and isinstance(net[s], dict)]
                    if srcs and net[srcs[0]].get("class") in _ENC:
                        return srcs[0]
        return None
    cands = set()
    for desc in unit.values():
        if isinstance(desc, dict):
            for ref in _refs(desc):
                if ref.startswith("base:"):
                    head = ref[len("base:"):].split("/", 1)[0]
                    if head in net and isinstance(net[head], dict) and net[head].get("class") in _ENC \
                            and _reads_data(net, head):
                        cands.add(head)
    if not cands:
        return None
    named = sorted(c for c in cands if c.startswith("enc"))
    return named[0] if named else min(cands)


def _heads(unit: dict[str, Any], weights: str) -> int:
    """The number of attention heads of ``weights`` (the ``n_out`` of a ``linear`` energy), 1 if unknown."""
    srcs = _sources(unit[weights])
    if srcs and srcs[0] in unit and isinstance(unit[srcs[0]], dict):
        n = unit[srcs[0]].get("n_out")
        if isinstance(n, int) and unit[srcs[0]].get("class") == "linear":
            return n
    return 1


def _attention(net: dict[str, Any], case: Case, rec: str, scores: str, rng: random.Random,
               *, separate: float = 0.25) -> tuple[str, str, str, int, str] | None:
    """(weights, encoder, context, heads, how) of the attention a copy uses: an attention of the loop the
    scores depend on, or a new copy attention (See et al.'s MLP attention) on a root encoder."""
    unit = net[rec]["unit"]
    anc = _frame_ancestors(unit, scores)
    sos = [k for k in _layers(unit) if unit[k].get("class") == "softmax_over_spatial" and k in anc]
    usable = []
    for w in sos:
        enc = _encoder_for(net, unit, w)
        ctxs = _contexts(unit, w)
        if enc is not None and ctxs:
            usable.append((w, enc, ctxs[0]))
    if usable and rng.random() >= separate:
        w, enc, ctx = rng.choice(usable)
        return w, enc, ctx, _heads(unit, w), f"the loop's attention weights {w} (over {enc})"
    queries = _queries(unit, scores)
    if not queries:
        return None
    query = rng.choice(queries)
    enc = _encoder_for(net, unit, None)
    how_enc = enc
    if enc is None:
        if "data" not in (case.get("extern_data") or {}) and "data" not in (case.get("num_outputs") or {}):
            return None
        enc = _fresh(net, "copy_enc")
        net[enc] = {"class": "linear", "activation": "tanh", "from": "data", "n_out": 8}
        how_enc = f"{enc} (a new tanh linear of data)"
    d = rng.choice([4, 6, 8])
    key = _fresh(net, "copy_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": d}
    q = _fresh(unit, "copy_query")
    unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": d}
    e_in = _fresh(unit, "copy_energy_in")
    unit[e_in] = {"class": "combine", "kind": "add", "from": [f"base:{key}", q]}
    e_t = _fresh(unit, "copy_energy_tanh")
    unit[e_t] = {"class": "activation", "activation": "tanh", "from": e_in}
    e = _fresh(unit, "copy_energy")
    unit[e] = {"class": "linear", "activation": None, "with_bias": False, "from": e_t, "n_out": 1}
    w = _fresh(unit, "copy_weights")
    unit[w] = {"class": "softmax_over_spatial", "from": e}
    ctx = _fresh(unit, "copy_ctx")
    unit[ctx] = {"class": "generic_attention", "weights": w, "base": f"base:{enc}"}
    return w, enc, ctx, 1, (f"a new copy attention {w} (MLP of {query} on base:{key}, a projection of "
                            f"{how_enc}), context {ctx}")


def _src_labels(net: dict[str, Any], case: Case, enc: str, dim: int, rng: random.Random,
                *, raw_ok: bool = False) -> tuple[str, str]:
    """(root layer of the source token ids over ``enc``'s frames, in range(dim), how). The sparse input where
    the base has one (ids clipped into the vocabulary where the sizes differ; kept raw with ``raw_ok``), else
    the argmax of a new root softmax over the encoder."""
    vsrc = _data_sparse_dim(case)
    if vsrc is not None and _reads_data(net, enc):
        if vsrc == dim or raw_ok:
            return "data", f"data (sparse, dim {vsrc})"
        name = _fresh(net, "src_ids")
        net[name] = {"class": "eval", "from": "data", "eval": f"tf.minimum(source(0), {dim - 1})",
                     "out_type": {"dim": dim, "sparse": True}}
        return name, f"{name} (data ids clipped to the {dim} target labels)"
    probs = _fresh(net, "src_label_prob")
    net[probs] = {"class": "softmax", "from": enc, "n_out": dim}
    name = _fresh(net, "src_labels")
    net[name] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": probs}
    return name, f"{name} (argmax of {probs}, a softmax of {enc} with {dim} outputs)"


def _src_dist(net: dict[str, Any], case: Case, enc: str, dim: int, rng: random.Random) -> tuple[str, str]:
    """(root layer of a distribution over ``dim`` labels per frame of ``enc``, how). Dense input: the posterior
    of a root softmax over the encoder, or the one-hot of its argmax (an ``eval`` ``tf.one_hot``). Sparse input:
    a one-hot of the source token ids (``compare`` ``equal`` with a root ``range`` of the vocabulary, ``cast`` to
    float, the vocabulary axis made the feature axis by ``reinterpret_data``)."""
    labels, how = _src_labels(net, case, enc, dim, rng)
    if net.get(labels, {}).get("mode") == "argmax":
        probs = net.pop(labels)["from"]
        if rng.random() < 0.7:
            return probs, f"the posterior {probs} (a softmax of {enc} with {dim} outputs)"
        onehot = _fresh(net, "src_onehot")
        net[onehot] = {"class": "eval", "from": probs,
                       "eval": f"tf.one_hot(tf.argmax(source(0), axis=-1, output_type=tf.int32), {dim}, "
                               "dtype=tf.float32)"}
        return onehot, f"{onehot} (one-hot of the argmax of {probs}, a softmax of {enc} with {dim} outputs)"
    vocab = _fresh(net, "vocab_ids")
    net[vocab] = {"class": "range", "limit": dim}
    hit = _fresh(net, "src_onehot_bool")
    net[hit] = {"class": "compare", "kind": "equal", "from": [labels, vocab], "allow_broadcast_all_sources": True}
    cast = _fresh(net, "src_onehot_float")
    net[cast] = {"class": "cast", "from": hit, "dtype": "float32"}
    onehot = _fresh(net, "src_onehot")
    net[onehot] = {"class": "reinterpret_data", "from": cast, "set_axes": {"F": f"stag:{vocab}:range"}}
    return onehot, f"{onehot} (one-hot of {how}: {labels} == range {dim}, cast to float, that axis as F)"


def _flat_weights(unit: dict[str, Any], weights: str, heads: int, ref: str) -> str:
    """A loop layer of ``ref`` (``weights`` or ``prev:weights``) without its head axis: a ``squeeze`` of F, or
    the mean over the heads."""
    if heads > 1:
        name = _fresh(unit, f"{weights}_mean")
        unit[name] = {"class": "reduce", "mode": "mean", "axes": "F", "from": ref}
    else:
        name = _fresh(unit, f"{weights}_sq")
        unit[name] = {"class": "squeeze", "axis": "F", "allow_no_op": True, "from": ref}
    return name


def _p_gen(net: dict[str, Any], rec: str, choice: str, scores: str, ctx: str, enc: str,
           rng: random.Random) -> tuple[str, str, str]:
    """(p_gen layer (B,1), squeezed p_gen (B,), how): See et al.'s generation switch in the loop."""
    unit = net[rec]["unit"]
    queries = _queries(unit, scores)
    embeds = _label_embeds(unit, choice)
    merged = [k for k in _layers(unit) if unit[k].get("class") in ("merge_dims", "copy", "reinterpret_data")
              and _sources(unit[k]) == [ctx]]
    srcs = [merged[0] if merged else ctx]
    if queries:
        q = rng.choice(queries)
        srcs.append(f"prev:{q}" if rng.random() < 0.15 else q)
    embeds = [e for e in embeds if e not in srcs]
    if embeds:
        srcs.append(rng.choice(embeds))
    how = ""
    if rng.random() < 0.15:
        mean = _fresh(net, f"{enc}_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
        srcs.append(f"base:{mean}")
        how = f", base:{mean} (the encoder's mean over T) among them"
    pg = _fresh(unit, "p_gen")
    unit[pg] = {"class": "linear", "activation": "sigmoid", "from": srcs, "n_out": 1}
    pgs = _fresh(unit, "p_gen_sq")
    unit[pgs] = {"class": "squeeze", "axis": "F", "from": pg}
    return pg, pgs, f"{pg} = sigmoid linear of {srcs}{how}"


def _mix(unit: dict[str, Any], pgs: str, scores: str, copy_dist: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """(the mixed distribution's layer, how): ``p_gen * P + (1 - p_gen) * P_copy`` in the choice's domain."""
    final = _fresh(unit, "final_dist")
    if kind == "prob":
        if rng.random() < 0.6:
            unit[final] = {"class": "eval", "from": [pgs, scores, copy_dist],
                           "eval": "source(0) * source(1) + (1. - source(0)) * source(2)"}
            return final, f"{final} = eval p_gen * {scores} + (1 - p_gen) * {copy_dist}"
        gen = _fresh(unit, "gen_part")
        unit[gen] = {"class": "eval", "from": [pgs, scores], "eval": "source(0) * source(1)"}
        cp = _fresh(unit, "copy_part")
        unit[cp] = {"class": "eval", "from": [pgs, copy_dist], "eval": "(1. - source(0)) * source(1)"}
        unit[final] = {"class": "combine", "kind": "add", "from": [gen, cp]}
        return final, f"{final} = combine add of {gen} (p_gen * {scores}) and {cp} ((1 - p_gen) * {copy_dist})"
    if rng.random() < 0.5:
        unit[final] = {"class": "eval", "from": [pgs, scores, copy_dist],
                       "eval": "tf.math.log(source(0) * tf.exp(source(1)) + (1. - source(0)) * source(2) + 1e-10)"}
        return final, f"{final} = log(p_gen * exp({scores}) + (1 - p_gen) * {copy_dist})"
    gen = _fresh(unit, "gen_part")
    unit[gen] = {"class": "eval", "from": [pgs, scores], "eval": "tf.math.log(source(0) + 1e-10) + source(1)"}
    cp = _fresh(unit, "copy_part")
    unit[cp] = {"class": "eval", "from": [pgs, copy_dist], "eval": "tf.math.log((1. - source(0)) * source(1) + 1e-10)"}
    unit[final] = {"class": "combine", "kind": "logaddexp", "from": [gen, cp]}
    return final, f"{final} = combine logaddexp of {gen} (log p_gen + {scores}) and {cp} (log((1 - p_gen) * {copy_dist}))"


def _export(net: dict[str, Any], rec: str, layer: str, rng: random.Random) -> str:
    """Make loop layer ``layer`` an output layer of the loop read at the root (``copy`` or ``decide``)."""
    net[rec]["unit"][layer]["is_output_layer"] = True
    out = _fresh(net, f"{rec}_{layer}")
    if rng.random() < 0.5:
        net[out] = {"class": "decide", "from": f"{rec}/{layer}", "is_output_layer": True}
        return f"; {layer} an output layer of the loop, root {out} = decide({rec}/{layer})"
    net[out] = {"class": "copy", "from": f"{rec}/{layer}", "is_output_layer": True}
    return f"; {layer} an output layer of the loop, root {out} = copy of {rec}/{layer}"


# ----------------------------------------------------------------------------------------------------
# pointer-gen-mix


def op_pointer_gen_mix(case: Case, rng: random.Random) -> Result:
    """See et al.'s pointer-generator: the choice chooses over ``p_gen * P + (1 - p_gen) * P_copy``."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    att = _attention(net, case, rec, scores, rng)
    if att is None:
        return None
    w, enc, ctx, heads, how_att = att
    dist, how_dist = _src_dist(net, case, enc, dim, rng)
    w_ref = w
    if rng.random() < 0.2:
        w_ref = f"prev:{w}"
    if heads > 1:
        w_ref = _flat_weights(unit, w, heads, w_ref)
    copy_dist = _fresh(unit, "copy_dist")
    unit[copy_dist] = {"class": "generic_attention", "weights": w_ref, "base": f"base:{dist}"}
    pg, pgs, how_pg = _p_gen(net, rec, choice, scores, ctx, enc, rng)
    final, how_mix = _mix(unit, pgs, scores, copy_dist, kind, rng)
    unit[choice]["from"] = final
    how = (f"{rec}: {how_att}; {copy_dist} = generic_attention(weights={w_ref}, base=base:{dist}), {how_dist}; "
           f"{how_pg}; {how_mix}; {choice} ({kind}) chooses over {final}")
    r = rng.random()
    if r < 0.15:
        how += _export(net, rec, pg, rng)
    elif r < 0.3:
        lab = _fresh(unit, "copy_prob_of_label")
        unit[lab] = {"class": "gather", "from": copy_dist, "position": choice, "axis": "F"}
        how += f"; {lab} = gather of {copy_dist} at {choice}" + _export(net, rec, lab, rng)
    return new, how


# ----------------------------------------------------------------------------------------------------
# copy-scatter


def op_copy_scatter(case: Case, rng: random.Random) -> Result:
    """The copy distribution made with ``scatter_nd`` of the attention weights at the source token ids."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    att = _attention(net, case, rec, scores, rng)
    if att is None:
        return None
    w, enc, ctx, heads, how_att = att
    vsrc = _data_sparse_dim(case)
    raw = vsrc is not None and vsrc != dim and rng.random() < 0.6
    labels, how_lab = _src_labels(net, case, enc, dim, rng, raw_ok=raw)
    rng_name = _fresh(net, "vocab_range")
    net[rng_name] = {"class": "range", "limit": dim}
    axis = _fresh(net, "vocab_axis")
    net[axis] = {"class": "reinterpret_data", "from": rng_name, "set_axes": {"T": f"stag:{rng_name}:range"}}
    how_axis = f"{axis} = reinterpret_data of {rng_name} (range {dim}) with its axis set as T"
    if rng.random() < 0.35:
        # after the loop: the copy distributions of every frame, from the loop's weights read at the root
        unit[w]["is_output_layer"] = True
        acc = _fresh(net, f"{rec}_{w}")
        if heads > 1:
            net[acc] = {"class": "reduce", "mode": "mean", "axes": "F", "from": f"{rec}/{w}"}
        else:
            net[acc] = {"class": "squeeze", "axis": "F", "allow_no_op": True, "from": f"{rec}/{w}"}
        dists = _fresh(net, f"{rec}_copy_dists")
        net[dists] = {"class": "scatter_nd", "from": acc, "position": labels, "position_axis": "T",
                      "output_dim_via_time_from": axis, "is_output_layer": True}
        if labels == "data" and vsrc is not None and vsrc > dim:
            net[dists]["filter_invalid_indices"] = True
        how = (f"{rec}: {how_att}; {w} an output layer of the loop; after the loop, root {acc} of {rec}/{w}, "
               f"{dists} = scatter_nd({acc}, position={labels}, position_axis T, output_dim_via_time_from="
               f"{axis}), an output layer, with {how_lab}; {how_axis}")
        if unit[scores].get("class") == "softmax" and rng.random() < 0.5:
            unit[scores]["is_output_layer"] = True
            mixed = _fresh(net, f"{rec}_copy_mixed")
            net[mixed] = {"class": "eval", "from": [f"{rec}/{scores}", dists],
                          "eval": "0.8 * source(0) + 0.2 * source(1)", "is_output_layer": True}
            how += f"; root {mixed} = 0.8 * {rec}/{scores} + 0.2 * {dists}, an output layer"
        return new, how
    w_ref = f"prev:{w}" if rng.random() < 0.25 else w
    w_flat = _flat_weights(unit, w, heads, w_ref)
    copy_dist = _fresh(unit, "copy_dist")
    unit[copy_dist] = {"class": "scatter_nd", "from": w_flat, "position": f"base:{labels}", "position_axis": "T",
                       "output_dim_via_time_from": f"base:{axis}"}
    how_filter = ""
    if labels == "data" and vsrc is not None and vsrc > dim:
        if rng.random() < 0.75:
            unit[copy_dist]["filter_invalid_indices"] = True
            how_filter = ", filter_invalid_indices (source ids beyond the vocabulary dropped)"
        else:
            how_filter = f", raw source ids (up to {vsrc}) without filter_invalid_indices"
    how = (f"{rec}: {how_att}; {w_flat} of {w_ref}; {copy_dist} = scatter_nd({w_flat}, position=base:{labels}, "
           f"position_axis T, output_dim_via_time_from=base:{axis}) with {how_lab}{how_filter}; {how_axis}")
    if rng.random() < 0.7:
        pg, pgs, how_pg = _p_gen(net, rec, choice, scores, ctx, enc, rng)
        final, how_mix = _mix(unit, pgs, scores, copy_dist, kind, rng)
        how += f"; {how_pg}; {how_mix}"
    else:
        lam = rng.choice([0.1, 0.2, 0.3])
        final = _fresh(unit, "final_dist")
        if kind == "prob":
            unit[final] = {"class": "eval", "from": [scores, copy_dist],
                           "eval": f"{1 - lam:g} * source(0) + {lam:g} * source(1)"}
        else:
            unit[final] = {"class": "eval", "from": [scores, copy_dist],
                           "eval": f"tf.math.log({1 - lam:g} * tf.exp(source(0)) + {lam:g} * source(1) + 1e-10)"}
        how += f"; {final} = fixed interpolation {1 - lam:g} * {scores} + {lam:g} * {copy_dist} ({kind} domain)"
    unit[choice]["from"] = final
    how += f"; {choice} ({kind}) chooses over {final}"
    if rng.random() < 0.2:
        how += _export(net, rec, copy_dist, rng)
    return new, how


# ----------------------------------------------------------------------------------------------------
# copynet-selective-read


def _state_readers(unit: dict[str, Any], choice: str, scores: str) -> list[str]:
    """Dense loop layers the scores depend on that read the previous label's embedding (CopyNet's state
    update); else the states / readouts the scores depend on."""
    anc = _frame_ancestors(unit, scores) | {scores}
    embeds = _label_embeds(unit, choice)
    out = []
    for k in sorted(anc):
        desc = unit[k]
        if desc.get("class") not in ("linear", "rnn_cell", "rec") or k == scores:
            continue
        if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
            continue
        srcs = _sources(desc)
        if f"prev:{choice}" in srcs:
            continue  # the embedding itself
        if any(e in srcs for e in embeds):
            out.append(k)
    return out or _queries(unit, scores)


def op_copynet_selective_read(case: Case, rng: random.Random) -> Result:
    """CopyNet's selective read: the encoder read at the previous label's source positions, fed to the state."""
    new, net = _copy(case)
    sites = [s for s in _sites(case, net) if _state_readers(net[s[0]]["unit"], s[1], s[2])]
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _state_readers(unit, choice, scores)
    reader = rng.choice(readers)
    att = _attention(net, case, rec, scores, rng, separate=0.3)
    if att is None:
        return None
    w, enc, ctx, heads, how_att = att
    labels, how_lab = _src_labels(net, case, enc, dim, rng)
    form = rng.choices(["prev", "after", "current"], [0.5, 0.35, 0.15])[0]
    if form == "current" and reader in _frame_ancestors(unit, w):
        form = "prev"
    if form == "prev":
        lab_ref, w_ref = f"prev:{choice}", f"prev:{w}"
    elif form == "after":
        lab_ref, w_ref = choice, w
    else:
        lab_ref, w_ref = f"prev:{choice}", w
    w_flat = _flat_weights(unit, w, heads, w_ref)
    hit = _fresh(unit, "src_is_label")
    unit[hit] = {"class": "compare", "kind": "equal", "from": [f"base:{labels}", lab_ref]}
    hit_f = _fresh(unit, "src_is_label_float")
    unit[hit_f] = {"class": "cast", "from": hit, "dtype": "float32"}
    rho0 = _fresh(unit, "sel_weights_raw")
    unit[rho0] = {"class": "combine", "kind": "mul", "from": [hit_f, w_flat]}
    norm = _fresh(unit, "sel_weights_sum")
    unit[norm] = {"class": "reduce", "mode": "sum", "axes": "T", "from": rho0}
    rho = _fresh(unit, "sel_weights")
    unit[rho] = {"class": "eval", "from": [rho0, norm], "eval": "source(0) / (source(1) + 1e-8)"}
    read = _fresh(unit, "selective_read")
    unit[read] = {"class": "generic_attention", "weights": rho, "base": f"base:{enc}"}
    src_ref = read if form != "after" else f"prev:{read}"
    old = unit[reader].get("from")
    if isinstance(old, str):
        unit[reader]["from"] = [old, src_ref]
    elif isinstance(old, list):
        unit[reader]["from"] = [*old, src_ref]
    else:
        unit[reader]["from"] = [src_ref]
    how_form = {"prev": f"from {lab_ref} and {w_ref} (the previous frame's weights)",
                "after": f"after the frame's choice, from {choice} and {w}, read as prev:{read}",
                "current": f"from {lab_ref} and this frame's weights {w}"}[form]
    return new, (f"{rec}: {how_att}; {hit} = (base:{labels} == {lab_ref}), {how_lab}; {rho} = normalised "
                 f"{hit} * {w_flat}; {read} = generic_attention({rho}, base:{enc}) {how_form}; {reader} reads "
                 f"{src_ref} as an extra source")


# ----------------------------------------------------------------------------------------------------
# copy-ext-vocab


def _ext_target(case: Case, new: Case, target: str, ext_dim: int) -> str | None:
    """A new target key of ``ext_dim`` labels beside ``target`` (extern_data or num_outputs), or None."""
    ext = new.get("extern_data")
    if isinstance(ext, dict) and isinstance(ext.get(target), dict):
        key = _fresh(ext, f"{target}_ext")
        desc = copy.deepcopy(ext[target])
        sparse = desc.get("sparse_dim")
        if isinstance(sparse, dict) and isinstance(sparse.get("__dim__"), dict):
            inner = dict(sparse["__dim__"])
            inner["dimension"] = ext_dim
            inner["description"] = f"{key}:sparse-dim"
            desc["sparse_dim"] = {"__dim__": inner}
            if "name" in desc:
                desc["name"] = key
        else:
            desc["dim"] = ext_dim
            desc["sparse"] = True
        ext[key] = desc
        return key
    num = new.get("num_outputs")
    if isinstance(num, dict) and target in num:
        key = _fresh(num, f"{target}_ext")
        num[key] = [ext_dim, 1]
        return key
    return None


def op_copy_ext_vocab(case: Case, rng: random.Random) -> Result:
    """See et al.'s extended vocabulary: the output distribution padded by K copy slots, the copy over V + K."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    att = _attention(net, case, rec, scores, rng)
    if att is None:
        return None
    w, enc, ctx, heads, how_att = att
    k = rng.choice([2, 3, 5])
    ext_dim = dim + k
    dist, how_dist = _src_dist(net, case, enc, ext_dim, rng)
    w_ref = w if heads == 1 else _flat_weights(unit, w, heads, w)
    copy_dist = _fresh(unit, "copy_dist_ext")
    unit[copy_dist] = {"class": "generic_attention", "weights": w_ref, "base": f"base:{dist}"}
    probs = scores
    how_p = ""
    if kind == "log_prob":
        probs = _fresh(unit, f"{scores}_exp")
        unit[probs] = {"class": "activation", "activation": "exp", "from": scores}
        how_p = f" (exp of {scores} first)"
    padded = _fresh(unit, f"{scores}_ext")
    unit[padded] = {"class": "pad", "from": probs, "axes": "F", "padding": [0, k], "value": 0.}
    pg, pgs, how_pg = _p_gen(net, rec, choice, scores, ctx, enc, rng)
    final, how_mix = _mix(unit, pgs, padded, copy_dist, "prob", rng)
    if kind == "log_prob":
        logf = _fresh(unit, f"{final}_log")
        unit[logf] = {"class": "activation", "activation": "safe_log", "from": final}
        final, how_mix = logf, how_mix + f", {logf} = safe_log of it"
    unit[choice]["from"] = final
    old_target = _data_target(unit[choice])
    how = (f"{rec}: {how_att}; {padded} = pad of {probs} by {k} copy slots on F{how_p}; {copy_dist} = "
           f"generic_attention({w_ref}, base:{dist}) over {ext_dim} labels, {how_dist}; {how_pg}; {how_mix}; "
           f"{choice} chooses over {final}")
    key = _ext_target(case, new, old_target, ext_dim) if old_target is not None and rng.random() < 0.75 else None
    if key is not None:
        unit[choice]["target"] = key
        how += f", target {key} (a new extern data key of dim {ext_dim})"
    else:
        how += f", keeping its target {old_target} of dim {dim}"
    readers = [n for n in _layers(unit) if n != choice and f"prev:{choice}" in _sources(unit[n])
               and unit[n].get("class") in ("linear", "rnn_cell", "rec", "softmax")]
    if readers and rng.random() < 0.5:
        unk = _fresh(unit, f"{choice}_in_vocab")
        unit[unk] = {"class": "eval", "from": choice, "eval": f"tf.minimum(source(0), {dim - 1})",
                     "out_type": {"dim": dim, "sparse": True}, "initial_output": 0}
        for n in readers:
            srcs = unit[n]["from"]
            unit[n]["from"] = f"prev:{unk}" if srcs == f"prev:{choice}" else \
                [f"prev:{unk}" if s == f"prev:{choice}" else s for s in srcs]
        how += f"; {', '.join(readers)} read prev:{unk} (the label mapped back into the vocabulary, UNK {dim - 1})"
    if rng.random() < 0.25:
        post = _fresh(net, f"{rec}_in_vocab")
        deciders = [n for n in _layers(net) if net[n].get("class") == "decide" and _sources(net[n]) == [rec]]
        src = deciders[0] if deciders else rec
        net[post] = {"class": "eval", "from": src, "eval": f"tf.minimum(source(0), {dim - 1})",
                     "out_type": {"dim": dim, "sparse": True}, "is_output_layer": True}
        how += f"; root {post} maps {src}'s labels back into the vocabulary"
    return new, how


FRESH101_OPERATORS: tuple[Op, ...] = (
    Op("pointer-gen-mix", op_pointer_gen_mix, 1.2),
    Op("copy-scatter", op_copy_scatter, 1),
    Op("copynet-selective-read", op_copynet_selective_read, 1),
    Op("copy-ext-vocab", op_copy_ext_vocab, 1),
)
