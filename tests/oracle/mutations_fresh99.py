"""A hundred-and-first set of edit operators (issue 15, twenty-first session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Parameter sharing and reuse on the beam path: ``reuse_params`` in its forms (a layer name string, a dict with
``reuse_layer``, a dict with ``map`` naming a layer per parameter, ``None`` for a parameter the layer makes
itself, ``base:`` and ``prev:`` references and ``REC/LAYER`` paths), tied label embedding and output softmax
weights, a second decoder or a second pass reusing the first decoder's parameters, and shared encoder blocks.
These options hold layer references RETURNN resolves while it builds the network (``get_layer`` in
``ReuseParams.from_config_dict``, called from ``LayerBase.transform_config_dict``; a reference that is not
built yet, or is in a dependency loop, becomes a ``ReuseParams.LazyLayerResolver`` that later builds the layer,
or a dummy copy of it); inside a rec unit such a reference is also recorded as a dependency of the template
layer (``_TemplateLayer.add_dependency``), which is what the move-out logic and the templates' search-choice
resolution see. Sources: the installed ``returnn/tf/layers/base.py`` (``ReuseParams``, ``LazyLayerResolver``,
``variable_custom_getter``), ``LinearLayer``'s ``use_transposed_weights`` in ``returnn/tf/layers/basic.py``,
``_SubnetworkRecCell.get_layer_from_outside`` and the loop-accumulated ``WrappedInternalLayer`` (which keeps
the loop layer's params "maybe ReuseParams wants to access it") in ``returnn/tf/layers/rec.py``; RETURNN's tests
``test_reuse_params``, ``test_reuse_params_map_custom`` (``tests/test_TFNetworkLayer.py``) and
``test_reuse_params_map_custom_dep_loop`` (``tests/test_TFNetworkRecLayer.py``); the RWTH attention set-ups of
rwth-i6/returnn-experiments (``target_embed`` a ``linear`` of the choice, read as ``prev:target_embed``) and
Press & Wolf (2017), "Using the Output Embedding to Improve Language Models", for tying. The ``custom`` form of
``reuse_params`` (a Python callable, as in ``test_reuse_params_map_custom``) cannot be written in a JSON net;
its transposition is written with ``use_transposed_weights`` instead (none a variant of an earlier operator;
no rule was written for any of them):

* ``tie-softmax-embed``: the label embedding of a searching loop (a ``linear`` of ``prev:CHOICE`` or of
  ``CHOICE``) and the output softmax the choice reads share one matrix: a projection (``linear``, no bias) to the
  embedding size is put before the softmax, and either the softmax takes ``use_transposed_weights`` with
  ``reuse_params`` ``{"map": {"W": EMB, "b": None}}`` (or ``{"W": {"reuse_layer": EMB}}``), or the embedding
  takes the softmax's matrix (``use_transposed_weights`` on the embedding, ``{"map": {"W": PROB, "b": None}}``;
  a dependency loop in the frame, as in ``test_reuse_params_map_custom_dep_loop``), or the embedding is first
  moved after the choice in the RWTH layout (``linear`` of ``CHOICE``, ``initial_output`` 0, its readers read
  ``prev:``) and the softmax ties to it (a reference back through the choice), or the user names the
  embedding ``prev:EMB`` in the map (the previous label's embedding), or (where the root embeds a sparse source
  of the same vocabulary and size) three-way tying: the loop's embedding ``reuse_params`` ``base:SRC_EMB``, or
  the training-time target embedding left at the root (``linear`` of ``data:TARGET``) and the loop's embedding
  reusing it (``reuse_params`` ``base:target_embed_train``, a reference to a layer on data search does not have).
  Targets: ``ReuseParams.from_config_dict`` / ``LazyLayerResolver`` in the loop, the template's dependency on
  the tied layer (``_TemplateLayer.get_search_choices``, the choice's source checks, ``_move_outside_loop``).
* ``root-pass-reuse``: a second pass at the root after the search that scores the decoder's labels again with
  the decoder's own parameters: a root ``linear`` of the labels (the searching rec's beamed output, or a
  ``decide`` of it) with ``reuse_params`` ``REC/EMB`` (string or ``map``), then maybe a hidden ``linear`` and a
  root ``softmax`` with ``reuse_params`` ``REC/PROB``, maybe added (``combine``) to the loop's own
  ``REC/PROB``; the reused loop layers marked ``is_output_layer`` (the fix RETURNN's error message asks for) or,
  a third of the time, not. Targets: ``TFNetwork.get_layer`` of a sub-layer path,
  ``_SubnetworkRecCell.get_layer_from_outside``, the loop-accumulated layers and their beams, and at the root
  ``SearchChoices.translate_to_common_search_beam`` for the ``combine``.
* ``shared-rec-params``: a second decoder sharing all of the first one's parameters (a greedy or wider-beam
  second search, a copy of the searching rec layer under a new name, an output layer, maybe ``decide``d):
  either the copy's rec layer takes ``reuse_params`` ``REC`` (string, or ``{"reuse_layer": REC}``; the rec's
  variable scope maps every inner parameter to the first rec's), or each parametrised layer of the copy's unit
  takes ``reuse_params`` ``base:REC/LAYER`` (the first decoder's loop layers marked ``is_output_layer``, or
  not); the copy's beam sizes kept, set to 1 or changed; three times in ten a deliberation-style second pass:
  the copy loops over the first decoder's labels (its ``from`` the beamed rec, or a ``decide`` of it) and
  embeds the frame's first-pass label (``data:source``) with its own label embedding (``reuse_params`` EMB),
  added (``combine``) to the embedding a dense layer of the copy reads. Targets: ``RecLayer`` parameter
  collection and ``var_creation_scope`` under ``ReuseParams``, ``base:`` references to another loop's layers
  from a loop (``get_layer_from_outside``), a searching loop over a beamed input (the input beam of
  ``_SubnetworkRecCell.get_output``), two searching decoders in one net.
* ``shared-enc-block``: encoder blocks that share parameters at the decoder's boundary: a block (``linear``
  ``tanh`` of the encoder layer the loop reads through ``base:``) applied twice, the second application with
  ``reuse_params`` of the first (string or ``map``), and the loop's ``base:`` reads of the encoder moved to the
  second application; or a loop layer (the query side) sharing the root key projection's matrix
  (``reuse_params`` ``{"map": {"W": "base:KEY", "b": None}}``, after a projection to the key projection's
  input size); or a post-decoder layer at the root on a loop state (``REC/STATE``, an output layer of the loop,
  beamed, read directly or through a root ``copy``) sharing parameters with an encoder block whose time-mean the
  loop reads: the post layer reusing the encoder block, or (less often) the encoder block reusing the post layer
  (a reference from the decoder's input back to a layer after the decoder, resolved lazily). Targets: ``LazyLayerResolver.get_layer`` / ``create_dummy_layer``
  (which drops the beam of its dummy inputs), ``base:`` references in the loop's templates.
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
    _layers,
    _map_refs,
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH99_SEED = 20270161
N_FRESH99 = 80

Result = "tuple[Case, str] | None"

#: Layer classes whose parameters a ``reuse_params`` can name (weights ``W`` and maybe ``b``).
_PARAM_CLASSES = ("linear", "softmax")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("search", True) is not False and _data_target(unit[c]) is not None]


def _score_softmax(unit: dict[str, Any], choice: str) -> str | None:
    """The ``softmax`` the choice reads (its only source), else None."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    prob = srcs[0]
    desc = unit[prob]
    if desc.get("class") != "softmax" or not _sources(desc) or desc.get("reuse_params"):
        return None
    return prob


def _label_embeddings(unit: dict[str, Any], choice: str) -> list[tuple[str, str]]:
    """(loop ``linear`` embedding a label of ``choice``, "prev" or "after") with an int ``n_out``."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int) or desc.get("reuse_params"):
            continue
        srcs = _sources(desc)
        if srcs == [f"prev:{choice}"]:
            out.append((k, "prev"))
        elif srcs == [choice]:
            out.append((k, "after"))
    return out


def _dim(layers: dict[str, Any], name: str, net: dict[str, Any], case: Case, depth: int = 0) -> int | None:
    """The feature dim of a layer where its options say it plainly (``n_out``, a ``copy`` concatenation, a
    ``reduce_out``, ...), looking through ``base:`` to the root; None where unsure."""
    if depth > 8:
        return None
    if name.startswith("base:"):
        return _dim(net, name[len("base:"):], net, case, depth + 1)
    if name == "data" or name.startswith("data:"):
        key = "data" if name == "data" else name[len("data:"):]
        ext = (case.get("extern_data") or {}).get(key)
        if isinstance(ext, dict) and not ext.get("sparse") and isinstance(ext.get("dim"), int):
            return ext["dim"]
        return None
    desc = layers.get(name)
    if not isinstance(desc, dict):
        return None
    cls = desc.get("class")
    if cls in ("linear", "softmax", "rnn_cell") and isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    if cls == "rec" and isinstance(desc.get("unit"), str) and isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    srcs = _sources(desc)
    if not srcs or len(srcs) != len(desc["from"] if isinstance(desc.get("from"), list) else [desc.get("from")]):
        return None
    if cls == "copy":
        dims = [_dim(layers, s, net, case, depth + 1) for s in srcs]
        return sum(dims) if all(isinstance(d, int) for d in dims) else None  # type: ignore[arg-type]
    if cls == "reduce" and len(srcs) == 1 and (desc.get("axes") or desc.get("axis")) in ("T", "t", "time"):
        return _dim(layers, srcs[0], net, case, depth + 1)
    if cls in ("activation", "dropout") and len(srcs) == 1:
        return _dim(layers, srcs[0], net, case, depth + 1)
    if cls == "reduce_out" and len(srcs) == 1 and isinstance(desc.get("num_pieces"), int):
        d = _dim(layers, srcs[0], net, case, depth + 1)
        return d // desc["num_pieces"] if isinstance(d, int) and d % desc["num_pieces"] == 0 else None
    return None


def _map_form(ref: str, rng: random.Random, *, bias: bool) -> dict[str, Any]:
    """``reuse_params`` naming ``ref`` for ``W`` only (the bias made by the layer itself)."""
    w: Any = ref if rng.random() < 0.6 else {"reuse_layer": ref}
    return {"map": {"W": w, "b": None}} if bias or rng.random() < 0.5 else {"map": {"W": w}}


# ----------------------------------------------------------------------------------------------------
# tie-softmax-embed


def _tie_sites(net: dict[str, Any], case: Case) -> list[tuple[str, str, str, str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _label_choices(unit):
            prob = _score_softmax(unit, choice)
            if prob is None or not isinstance(_target_dim(case, _data_target(unit[choice])), int):
                continue
            for emb, layout in _label_embeddings(unit, choice):
                out.append((rec, choice, prob, emb, layout))
    return out


def _source_embedding(net: dict[str, Any], case: Case, vocab: int, d: int) -> str | None:
    """A root ``linear`` embedding a sparse data key of ``vocab`` labels into ``d`` (the source embedding)."""
    for k in _layers(net):
        desc = net[k]
        if desc.get("class") != "linear" or desc.get("n_out") != d or desc.get("reuse_params"):
            continue
        srcs = _sources(desc) if "from" in desc else ["data"]
        if len(srcs) != 1:
            continue
        key = "data" if srcs[0] == "data" else srcs[0].removeprefix("data:") if srcs[0].startswith("data:") else None
        ext = (case.get("extern_data") or {}).get(key) if key else None
        if isinstance(ext, dict) and ext.get("sparse") and ext.get("dim") == vocab:
            return k
    return None


def op_tie_softmax_embed(case: Case, rng: random.Random) -> Result:
    """Tie the loop's label embedding and its output softmax (one matrix, transposed for one of them)."""
    new, net = _copy(case)
    sites = _tie_sites(net, new)
    if not sites:
        return None
    rec, choice, prob, emb, layout = rng.choice(sites)
    unit = net[rec]["unit"]
    d = unit[emb]["n_out"]
    vocab = _target_dim(new, _data_target(unit[choice]))
    assert isinstance(vocab, int)
    src_emb = _source_embedding(net, new, vocab, d) if unit[emb].get("with_bias") is False else None
    forms = ["softmax-reuses-emb", "emb-reuses-softmax", "after-choice", "prev-ref", "three-way", "train-root"]
    weights = [0.3, 0.17, 0.22, 0.08, 0.08 if src_emb else 0.0, 0.15]
    form = rng.choices(forms, weights)[0]
    if form == "train-root":
        key = _data_target(unit[choice])
        root = _fresh(net, "target_embed_train")
        net[root] = {"class": "linear", "activation": None, "from": f"data:{key}", "n_out": d,
                     "with_bias": unit[emb].get("with_bias", True) is not False}
        unit[emb]["reuse_params"] = f"base:{root}"
        return new, (f"{rec}: the training-time target embedding kept at the root, {root} = linear(data:{key}) to "
                     f"{d}, and the loop's label embedding {emb} ({layout} {choice}) reuses its params "
                     f"(reuse_params 'base:{root}')")
    if form == "three-way":
        assert src_emb is not None
        unit[emb]["reuse_params"] = f"base:{src_emb}" if rng.random() < 0.5 else {"reuse_layer": f"base:{src_emb}"}
        return new, (f"{rec}: three-way tying: the label embedding {emb} ({layout} {choice}) reuses the root "
                     f"source embedding {src_emb}'s params ({unit[emb]['reuse_params']!r})")
    proj = _fresh(unit, f"{prob}_to_emb")
    unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": unit[prob]["from"], "n_out": d}
    unit[prob]["from"] = proj
    how = f"{prob} now reads {proj} (linear to {d}, the embedding size)"
    if form == "emb-reuses-softmax":
        unit[emb]["use_transposed_weights"] = True
        unit[emb]["reuse_params"] = _map_form(prob, rng, bias=unit[emb].get("with_bias", True) is not False)
        return new, (f"{rec}: {how}; the label embedding {emb} ({layout} {choice}) takes {prob}'s matrix: "
                     f"use_transposed_weights, reuse_params {unit[emb]['reuse_params']!r}")
    tied = emb
    if form == "after-choice" and layout == "prev":
        tied = _fresh(unit, "target_embed" if "target_embed" not in unit else f"{emb}_out")
        unit[tied] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": d,
                      "initial_output": 0}
        readers = [k for k in _readers(unit, emb) if k != tied]
        if not readers:
            return None
        for k in readers:
            _map_refs(unit[k], lambda r: f"prev:{tied}" if r == emb else r)
        how += (f"; a new embedding {tied} = linear({choice}) after the choice, {', '.join(readers)} read "
                f"prev:{tied} instead of {emb}")
    ref = f"prev:{tied}" if form == "prev-ref" else tied
    unit[prob]["use_transposed_weights"] = True
    unit[prob]["reuse_params"] = _map_form(ref, rng, bias=True)
    return new, (f"{rec}: {how}; {prob} takes the embedding's matrix: use_transposed_weights, reuse_params "
                 f"{unit[prob]['reuse_params']!r} ({tied} embeds {'prev:' if layout == 'prev' and tied == emb else ''}"
                 f"{choice})")


# ----------------------------------------------------------------------------------------------------
# root-pass-reuse


def op_root_pass_reuse(case: Case, rng: random.Random) -> Result:
    """A second pass at the root scoring the decoder's labels with the decoder's own loop parameters."""
    new, net = _copy(case)
    sites = _tie_sites(net, new)
    if not sites:
        return None
    rec, choice, prob, emb, _layout = rng.choice(sites)
    unit = net[rec]["unit"]
    if not isinstance(unit.get("output"), dict) or unit["output"].get("class") not in ("choice", "copy"):
        return None  # the rec's output is not the labels
    d = unit[emb]["n_out"]
    vocab = _target_dim(new, _data_target(unit[choice]))
    fix = rng.random() < 0.75
    if fix:
        unit[emb]["is_output_layer"] = True
    deciders = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    if rng.random() < 0.6:
        labels = rec
    elif deciders and rng.random() < 0.5:
        labels = rng.choice(deciders)
    else:
        labels = _fresh(net, f"{rec}_decided")
        net[labels] = {"class": "decide", "from": rec}
    bias = unit[emb].get("with_bias", True) is not False
    re_emb = _fresh(net, "rescore_embed")
    reuse: Any = f"{rec}/{emb}" if rng.random() < 0.5 else {"map": {"W": f"{rec}/{emb}", "b": f"{rec}/{emb}"}
                                                             if bias else {"W": f"{rec}/{emb}"}}
    net[re_emb] = {"class": "linear", "activation": None, "with_bias": bias, "from": labels, "n_out": d,
                   "reuse_params": reuse}
    how = (f"root {re_emb} = linear({labels}) with reuse_params {reuse!r}"
           f"{' (' + emb + ' marked is_output_layer)' if fix else ' (' + emb + ' not an output layer)'}")
    last = re_emb
    h = _dim(unit, _sources(unit[prob])[0], net, new) if len(_sources(unit[prob])) == 1 else None
    if isinstance(h, int) and rng.random() < 0.65:
        hid = _fresh(net, "rescore_hidden")
        net[hid] = {"class": "linear", "activation": "tanh", "from": re_emb, "n_out": h}
        rp = _fresh(net, "rescore_prob")
        net[rp] = {"class": "softmax", "from": hid, "n_out": vocab, "reuse_params": f"{rec}/{prob}"}
        if fix:
            unit[prob]["is_output_layer"] = True
        how += f"; {hid} = tanh linear to {h}; {rp} = softmax({hid}) with reuse_params {rec}/{prob}"
        last = rp
        if rng.random() < 0.35:
            unit[prob]["is_output_layer"] = True
            mix = _fresh(net, "rescore_mix")
            net[mix] = {"class": "combine", "kind": "add", "from": [rp, f"{rec}/{prob}"]}
            how += f"; {mix} = {rp} + {rec}/{prob} (the loop's own scores, an output layer)"
            last = mix
    net[last]["is_output_layer"] = True
    return new, f"{rec}: second pass at the root on {labels}: {how}; {last} an output layer"


# ----------------------------------------------------------------------------------------------------
# shared-rec-params


def op_shared_rec_params(case: Case, rng: random.Random) -> Result:
    """A second decoder, a copy of a searching rec layer, that shares all of the first one's parameters."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if _label_choices(net[r]["unit"])]
    if not recs:
        return None
    rec = rng.choice(recs)
    name = _fresh(net, f"{rec}_shared")
    desc = copy.deepcopy({k: v for k, v in net[rec].items() if k not in ("is_output_layer", "reuse_params")})
    unit = desc["unit"]
    how = f"second decoder {name} (a copy of {rec})"
    beam = rng.choices(["keep", "greedy", "other"], [0.35, 0.35, 0.3])[0]
    for c in _unit_choices(unit):
        old = unit[c].get("beam_size", 12)
        if beam == "greedy":
            unit[c]["beam_size"] = 1
        elif beam == "other":
            unit[c]["beam_size"] = rng.choice([k for k in (2, 3, 4, 8, 12) if k != old])
    how += {"keep": ", same beam", "greedy": ", beam 1 (greedy)", "other": ", another beam size"}[beam]
    if rng.random() < 0.55:
        desc["reuse_params"] = rec if rng.random() < 0.6 else {"reuse_layer": rec}
        how += f", reuse_params {desc['reuse_params']!r} on the rec layer"
    else:
        params = [k for k in _layers(unit) if unit[k].get("class") in _PARAM_CLASSES + ("rnn_cell",)
                  and not unit[k].get("reuse_params")]
        if not params:
            return None
        fix = rng.random() < 0.7
        for k in params:
            unit[k]["reuse_params"] = f"base:{rec}/{k}"
            if fix:
                net[rec]["unit"][k]["is_output_layer"] = True
        how += (f", each of {', '.join(params)} with reuse_params base:{rec}/<layer>"
                f" ({'marked' if fix else 'not marked'} is_output_layer in {rec})")
    embs = [(c, e) for c in _label_choices(unit) for e, _lay in _label_embeddings(unit, c)]
    embs = [(c, e) for c, e in embs if any(
        unit[k].get("class") in ("linear", "rnn_cell") and k != e and ({e, f"prev:{e}"} & set(_sources(unit[k])))
        for k in _layers(unit))]
    if embs and rng.random() < 0.3:
        # a deliberation-style second pass: the copy loops over the first decoder's labels and embeds each with
        # its own (tied) label embedding, added to the previous label's embedding where a dense layer reads it
        c, e = rng.choice(embs)
        users = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "rnn_cell") and k != e
                 and ({e, f"prev:{e}"} & set(_sources(unit[k])))]
        if not users:
            return None
        user = rng.choice(users)
        if rng.random() < 0.6:
            over = rec
        else:
            over = _fresh(net, f"{rec}_first_pass")
            net[over] = {"class": "decide", "from": rec}
        desc["from"] = over
        fp = _fresh(unit, "first_pass_embed")
        unit[fp] = {"class": "linear", "activation": None, "from": "data:source", "n_out": unit[e]["n_out"],
                    "with_bias": unit[e].get("with_bias", True) is not False, "reuse_params": e}
        ref = e if e in _sources(unit[user]) else f"prev:{e}"
        mix = _fresh(unit, f"{e}_plus_first_pass")
        unit[mix] = {"class": "combine", "kind": "add", "from": [ref, fp]}
        unit[user]["from"] = [mix if r == ref else r for r in _sources(unit[user])]
        how += (f"; {name} loops over {over} (from), {fp} = linear(data:source) with reuse_params {e!r}, added "
                f"to {ref} ({mix}) where {user} read {ref}")
    desc["is_output_layer"] = True
    net[name] = desc
    if rng.random() < 0.4:
        dec = _fresh(net, f"{name}_decision")
        net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
        how += f"; root {dec} = decide({name})"
    return new, how


# ----------------------------------------------------------------------------------------------------
# shared-enc-block


def _base_reads(unit: dict[str, Any], net: dict[str, Any]) -> list[str]:
    """Root layers (not rec) the unit reads as ``base:X`` in a reference option."""
    out: set[str] = set()
    for k in _layers(unit):
        seen: list[str] = []
        _map_refs(dict(unit[k]), lambda r, seen=seen: seen.append(r) or r)
        for r in seen:
            if r.startswith("base:"):
                name = r[len("base:"):]
                if name in net and isinstance(net[name], dict) and net[name].get("class") not in ("rec", "decide"):
                    out.add(name)
    return sorted(out)


def op_shared_enc_block(case: Case, rng: random.Random) -> Result:
    """Encoder blocks sharing parameters at the decoder's boundary (repeated block, shared key/query
    projection, an encoder block tied to a post-decoder layer)."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    encs = [e for e in _base_reads(unit, net) if isinstance(_dim(net, e, net, new), int)]
    keys = [e for e in encs if net[e].get("class") == "linear" and not net[e].get("reuse_params")
            and len(_sources(net[e])) == 1 and isinstance(_dim(net, _sources(net[e])[0], net, new), int)]
    states = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "rnn_cell")
              and isinstance(unit[k].get("n_out"), int) and k != "end"]
    forms = ["stack", "query-key", "post-reuses-enc", "enc-reuses-post"]
    weights = [0.38 if encs else 0.0, 0.27 if keys else 0.0, 0.23 if encs and states else 0.0,
               0.12 if encs and states else 0.0]
    if not any(weights):
        return None
    form = rng.choices(forms, weights)[0]
    if form == "stack":
        enc = rng.choice(encs)
        n = _dim(net, enc, net, new)
        b1 = _fresh(net, f"{enc}_block")
        net[b1] = {"class": "linear", "activation": "tanh", "from": enc, "n_out": n}
        b2 = _fresh(net, f"{enc}_block_shared")
        reuse: Any = b1 if rng.random() < 0.5 else {"map": {"W": b1, "b": b1}}
        net[b2] = {"class": "linear", "activation": "tanh", "from": b1, "n_out": n, "reuse_params": reuse}
        for k in _layers(unit):
            _map_refs(unit[k], lambda r: f"base:{b2}" if r == f"base:{enc}" else r)
        return new, (f"{rec}: shared encoder block on {enc}: {b1} = tanh linear({enc}), {b2} = the same block "
                     f"again (reuse_params {reuse!r}); the loop reads base:{b2} instead of base:{enc}")
    if form == "query-key":
        key = rng.choice(keys)
        k_in = _dim(net, _sources(net[key])[0], net, new)
        n = net[key].get("n_out")
        queries = [k for k in _layers(unit) if unit[k].get("class") == "linear" and unit[k].get("n_out") == n
                   and not unit[k].get("reuse_params") and not any(s.startswith("base:") for s in _sources(unit[k]))
                   and _sources(unit[k])]
        if not queries:
            queries = [k for k in states if unit[k].get("class") == "linear"]
            if not queries:
                return None
            q_src = rng.choice(queries)
            q = _fresh(unit, f"{q_src}_query")
            unit[q] = {"class": "linear", "activation": None, "from": q_src, "n_out": n}
            made = f"a new query {q} = linear({q_src}) (read by nothing), "
        else:
            q = rng.choice(queries)
            made = ""
        q_in = _fresh(unit, f"{q}_in")
        unit[q_in] = {"class": "linear", "activation": None, "with_bias": False, "from": unit[q]["from"],
                      "n_out": k_in}
        unit[q]["from"] = q_in
        unit[q]["reuse_params"] = _map_form(f"base:{key}", rng, bias=unit[q].get("with_bias", True) is not False)
        return new, (f"{rec}: {made}query {q} shares the key projection's matrix: {q} reads {q_in} (linear to "
                     f"{k_in}, {key}'s input size), reuse_params {unit[q]['reuse_params']!r}")
    enc = rng.choice(encs)
    state = rng.choice(states)
    m = unit[state]["n_out"]
    unit[state]["is_output_layer"] = True
    post = _fresh(net, f"post_{state}")
    block_in = _fresh(net, f"{enc}_to_{m}")
    block = _fresh(net, f"{enc}_block")
    mean = _fresh(net, f"{block}_mean")
    net[block_in] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": m}
    post_src = f"{rec}/{state}"
    if rng.random() < 0.5:
        post_src = _fresh(net, f"{rec}_{state}")
        net[post_src] = {"class": "copy", "from": f"{rec}/{state}"}
    net[post] = {"class": "linear", "activation": "tanh", "from": post_src, "n_out": m, "is_output_layer": True}
    net[block] = {"class": "linear", "activation": "tanh", "from": block_in, "n_out": m}
    net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": block}
    if form == "post-reuses-enc":
        net[post]["reuse_params"] = block
        how = f"the post layer {post} reuses {block}'s params"
    else:
        net[block]["reuse_params"] = post if rng.random() < 0.5 else {"map": {"W": post, "b": post}}
        how = f"the encoder block {block} reuses the post layer's params ({net[block]['reuse_params']!r})"
    readers = [k for k in states if k != state and unit[k].get("class") == "linear"
               and not any(s.startswith("prev:") and s[len("prev:"):] in _unit_choices(unit) for s in _sources(unit[k]))]
    reader = rng.choice(readers) if readers else state
    _add_source(unit[reader], f"base:{mean}")
    return new, (f"{rec}: post-decoder layer {post} = tanh linear({post_src}) ({state} marked an output layer"
                 f"{', ' + post_src + ' a root copy of ' + rec + '/' + state if post_src != rec + '/' + state else ''}) "
                 f"and an encoder block {block} = tanh linear({block_in}), {block_in} = linear({enc}) to {m}; "
                 f"{how}; {reader} also reads base:{mean} (time mean of {block})")


FRESH99_OPERATORS: tuple[Op, ...] = (
    Op("tie-softmax-embed", op_tie_softmax_embed, 1.3),
    Op("root-pass-reuse", op_root_pass_reuse, 1.0),
    Op("shared-rec-params", op_shared_rec_params, 0.8),
    Op("shared-enc-block", op_shared_enc_block, 1.0),
)
