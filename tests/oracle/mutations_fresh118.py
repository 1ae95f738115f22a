"""A hundred-and-twentieth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Vocabulary shortlists and factorised output layers in searching decoders: a per-sentence shortlist of
candidate labels computed at the root (a ``top_k`` over a ``reduce`` of per-frame label logits of the encoder, or a
fixed table as a ``range`` / non-trainable ``variable``; a list-valued ``constant`` does not survive a JSON config:
RETURNN's ``ConstantLayer`` needs a ``numpy`` array for that) gathered into the loop, a ``choice`` over the shortlist
positions whose result is mapped back to the vocabulary with ``gather``, class-based (hierarchical) softmax (a class
choice then a word-in-class choice, or the joint score as class log-prob plus word log-prob), adaptive-softmax-style
heads (a head over frequent labels plus a tail cluster), and the mistakes users make (the choice keeps the
full-vocabulary target while its scores are over the shortlist, the mapped label not fed back, the shortlist read
without ``base:``). Sources: ``ChoiceLayer`` (``get_out_data_from_opts``: no target means the sparse dim of the
source's feature dim; the target's template otherwise), ``GatherLayer`` (shared axes of input and ``position`` as
batch axes), ``TopKLayer`` (the ``indices`` sub-layer), ``ConstantLayer``, ``RangeLayer`` / ``VariableLayer`` and
``ReinterpretDataLayer`` (``set_sparse`` / ``set_sparse_dim``) in the installed ``returnn/tf/layers/{basic,rec,
variable}.py``; vocabulary selection (source-conditioned candidate lists, Jean et al. 2015 / L'Hostis et al. 2016)
and class-based / adaptive softmax output layers (Goodman 2001, Grave et al. 2017) as NMT and LM set-ups write them
(rwth-i6/returnn-experiments, rwth-i6/i6_experiments). None is a variant of an earlier operator; no rule was written
for any of them.

* ``vocab-shortlist-choice``: a per-sentence shortlist of K candidate labels at the root (``top_k`` over the
  ``reduce`` ``max`` over time of a ``linear`` of the encoder to V logits, read as ``shortlist/indices``; or a
  fixed table of the K most frequent label ids (``range``); or a non-trainable int ``variable`` table), the frame's scores gathered at the
  shortlist (``gather`` on the feature axis, ``position`` ``base:shortlist``; optionally renormalised by an
  ``eval``), a ``choice`` over the K positions, and the position mapped back to the vocabulary (``gather`` of the
  shortlist at the choice on its ``dim:K`` axis, ``reinterpret_data`` to a sparse V label). Forms: the mapped label takes the old choice's
  name (fed back through ``prev:``; correct), the choice keeps its name and the mapped label is not fed back, the
  choice keeps the full-vocabulary ``target``, the mapping done after the loop at the root (``gather`` of the
  shortlist at the decoder's beamed output, with or without a ``decide`` first), the shortlist read without
  ``base:`` (rare). Targets: ``GatherLayer`` with a root (beamless) position and a beamed input and vice versa,
  ``ChoiceLayer.get_out_data_from_opts`` without a target, the search-choice resolution of the mapped label
  (``SearchChoices.translate_to_common_search_beam``), ``DecideLayer`` at the root.
* ``class-factored-softmax``: class-based output layer. Either two choices per frame, a class choice (softmax over
  C classes of the scores' hidden state) and a word-in-class choice (softmax over W of the state and a class
  embedding), the label ``class * W + word`` (an ``eval`` with a sparse ``out_type``) taking the old choice's name,
  with the variants: the word softmax ignores the class, the label built from ``prev:`` of the class choice (one
  frame late), the class choice not searching its own beam (``beam_size`` 1); or the joint score over the full
  vocabulary, ``log_softmax`` of the class logits gathered through a root word-to-class table (an ``eval``
  ``// W`` of a ``range`` / a non-trainable ``variable``, ``gather`` with ``position`` ``base:word_class``) plus a word ``log_softmax``, the
  old choice scoring it as ``log_prob`` (or, a user's slip, left as ``prob``), the table read without ``base:``
  (rare). Targets: ``ChoiceLayer`` with several choices per frame and no target, ``GatherLayer`` on a beamed input
  with a beamless position, the rec unit's choice sequence and ``select_if_needed`` of the mixed-frame label.
* ``adaptive-softmax-head``: adaptive softmax: a head softmax over the F most frequent labels plus one tail-cluster
  entry and a tail softmax over the other V - F labels; the full distribution assembled as a ``copy`` of the head's
  ``slice`` and the tail scaled by the head's cluster probability (``gather`` at position F, ``combine`` ``mul``), or in
  log space (``log_softmax`` heads and a ``combine`` ``add``, the choice as ``log_prob`` or, mistaken, ``prob``); the
  tail computed per frame or once at the root from an encoder mean (read through ``base:``), or from ``prev:`` of the
  head's input; the mistake: the choice scores the head alone while keeping the full-vocabulary target. Targets:
  ``ChoiceLayer`` (source dim vs. target dim), ``CombineLayer`` of a beamed and a beamless source,
  ``CopyLayer`` concatenation of beamed parts.
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
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH118_SEED = 20270180
N_FRESH118 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, list):
        target = target[0] if len(target) == 1 else None
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    """(rec, choice, scores layer, input_type, vocabulary size) of the one-source label choices."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            kind = desc.get("input_type", "prob")
            if kind not in ("prob", "log_prob"):
                continue
            srcs = _sources(desc)
            if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
                continue
            dim = _target_dim(case, _data_target(desc))
            if not isinstance(dim, int) or dim < 3:
                continue
            out.append((rec, c, srcs[0], kind, dim))
    return out


def _encoder(net: dict[str, Any], rec: str) -> str:
    """A root layer the decoder reads through ``base:`` (the encoder), else ``data``."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc):
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    if name in net and isinstance(net[name], dict) and net[name].get("class") not in ("rec", "constant"):
                        found.append(name)
    return min(found) if found else "data"


def _timed_encoder(net: dict[str, Any], rec: str) -> str:
    """The encoder, or the layer a time-reducing encoder summary (``reduce``, last state) reads."""
    enc = _encoder(net, rec)
    seen = set()
    while enc in net and enc not in seen and net[enc].get("class") in ("reduce", "get_last_hidden_state", "copy"):
        seen.add(enc)
        srcs = _sources(net[enc])
        if len(srcs) != 1 or ":" in srcs[0]:
            break
        enc = srcs[0].split("/", 1)[0]
    return enc


def _hidden(unit: dict[str, Any], scores: str) -> list[str]:
    """The sources of the scores layer (the decoder's readout state) where it is a softmax / linear."""
    desc = unit[scores]
    srcs = _sources(desc)
    if desc.get("class") in ("softmax", "linear") and srcs:
        return srcs
    return [scores]


def _base_ref(name: str, sub: str | None, drop_base: bool) -> str:
    ref = name if drop_base else f"base:{name}"
    return f"{ref}/{sub}" if sub else ref


# ----------------------------------------------------------------------------------------------------
# vocab-shortlist-choice


def _make_shortlist(net: dict[str, Any], rec: str, dim: int, rng: random.Random) -> tuple[str, str | None, int, str]:
    """A root shortlist layer: (name, sub-layer or None, K, description)."""
    k = max(2, min(dim - 1, rng.choice([2, 3, 4, dim // 2])))
    kind = rng.choices(["top_k", "range", "variable"], [0.55, 0.3, 0.15])[0]
    if kind == "top_k":
        enc = _timed_encoder(net, rec)
        logits = _fresh(net, "vocab_sel_logits")
        net[logits] = {"class": "linear", "activation": None, "from": enc, "n_out": dim}
        bag = _fresh(net, "vocab_sel_bag")
        net[bag] = {"class": "reduce", "mode": "max", "axis": "T", "from": logits}
        sl = _fresh(net, "shortlist")
        net[sl] = {"class": "top_k", "from": bag, "axis": "F", "k": k}
        return sl, "indices", k, f"{sl} = top_k(k={k}) of reduce max over T of linear({enc} -> {dim})"
    sl = _fresh(net, "shortlist")
    if kind == "range":
        # the K most frequent labels (ids sorted by frequency), with or without the special label 0
        start = rng.choice([0, 0, 1])
        net[sl] = {"class": "range", "start": start, "limit": start + k, "delta": 1, "dtype": "int32"}
        return sl, None, k, f"{sl} = fixed table range({start}, {start + k})"
    net[sl] = {"class": "variable", "shape": [k], "dtype": "int32", "trainable": False, "init": 0}
    return sl, None, k, f"{sl} = non-trainable int variable [{k}] (loaded table)"


def op_vocab_shortlist_choice(case: Case, rng: random.Random) -> Result:
    """A choice over a per-sentence shortlist's positions, mapped back to the vocabulary with ``gather``."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    sl, sub, k, how = _make_shortlist(net, rec, dim, rng)
    drop_base = rng.random() < 0.08
    sl_ref = _base_ref(sl, sub, drop_base)
    sl_scores = _fresh(unit, f"{scores}_shortlist")
    unit[sl_scores] = {"class": "gather", "from": scores, "axis": "F", "position": sl_ref}
    src = sl_scores
    desc = [how, f"{sl_scores} = gather({scores}, F, position={sl_ref})"]
    if rng.random() < 0.5:
        renorm = _fresh(unit, f"{sl_scores}_renorm")
        if kind == "prob":
            expr = "source(0) / tf.reduce_sum(source(0), axis=-1, keepdims=True)"
        else:
            expr = "source(0) - tf.reduce_logsumexp(source(0), axis=-1, keepdims=True)"
        unit[renorm] = {"class": "eval", "from": sl_scores, "eval": expr}
        src = renorm
        desc.append(f"{renorm} renormalised over the shortlist")
    form = rng.choices(["rename", "no-feedback", "keep-target", "map-after-loop"], [0.4, 0.2, 0.2, 0.2])[0]
    old = unit[choice]
    pos_desc: dict[str, Any] = {"class": "choice", "from": src, "target": None, "beam_size": old.get("beam_size", 4)}
    if kind != "prob":
        pos_desc["input_type"] = kind
    for opt in ("length_normalization", "initial_output"):
        if opt in old:
            pos_desc[opt] = old[opt]
    if form == "keep-target":
        pos_desc["target"] = old.get("target")
    if form in ("rename", "keep-target") or (form == "no-feedback" and rng.random() < 0.3):
        # the choice moves to a new name; the old name becomes the label mapped back to the vocabulary
        pos = _fresh(unit, f"{choice}_pos")
        unit[pos] = pos_desc
        mapped = _fresh(unit, f"{choice}_label_idx")
        unit[mapped] = {"class": "gather", "from": _base_ref(sl, sub, drop_base), "axis": f"dim:{k}", "position": pos}
        label: dict[str, Any] = {"class": "reinterpret_data", "from": mapped, "set_sparse": True,
                                 "set_sparse_dim": dim}
        if "initial_output" in old:
            label["initial_output"] = old["initial_output"]
        if old.get("is_output_layer"):
            label["is_output_layer"] = True
        unit[choice] = label
        desc.append(f"{pos} = choice over {src} ({k} positions"
                    + (f", target {old.get('target')!r} kept" if form == "keep-target" else ", no target") + ")")
        desc.append(f"{choice} = reinterpret_data(sparse {dim}) of gather({sl_ref}, position={pos}), fed back")
        if form == "no-feedback":
            # the user feeds back the position instead of the label
            for r in _readers(unit, choice, f"prev:{choice}"):
                d = unit[r]
                for key in ("from",):
                    v = d.get(key)
                    if v == f"prev:{choice}":
                        d[key] = f"prev:{pos}"
                    elif isinstance(v, list):
                        d[key] = [f"prev:{pos}" if x == f"prev:{choice}" else x for x in v]
            desc.append(f"but the readers of prev:{choice} read prev:{pos}")
        return new, f"{rec}: " + "; ".join(desc)
    unit[choice] = pos_desc
    desc.append(f"{choice} = choice over {src} ({k} positions, no target), fed back as positions")
    if form == "no-feedback":
        mapped = _fresh(unit, f"{choice}_label")
        unit[mapped] = {"class": "gather", "from": _base_ref(sl, sub, drop_base), "axis": f"dim:{k}", "position": choice}
        if rng.random() < 0.5:
            unit[mapped]["is_output_layer"] = True
        desc.append(f"{mapped} = gather({sl_ref}, position={choice}), not fed back")
        return new, f"{rec}: " + "; ".join(desc)
    # map-after-loop
    src_root = rec
    if rng.random() < 0.5:
        dec = _fresh(net, f"{rec}_decided")
        net[dec] = {"class": "decide", "from": rec}
        src_root = dec
        desc.append(f"{dec} = decide({rec})")
    out = _fresh(net, f"{rec}_vocab_labels")
    net[out] = {"class": "gather", "from": sl if sub is None else f"{sl}/{sub}", "axis": f"dim:{k}", "position": src_root,
                "is_output_layer": True}
    desc.append(f"root {out} = gather({sl}, position={src_root}), an output layer")
    return new, f"{rec}: " + "; ".join(desc)


# ----------------------------------------------------------------------------------------------------
# class-factored-softmax


def _class_sizes(dim: int) -> tuple[int, int]:
    n_cls = 2
    while n_cls * n_cls < dim:
        n_cls += 1
    return n_cls, -(-dim // n_cls)


def _class_table(net: dict[str, Any], dim: int, w: int, rng: random.Random) -> tuple[str, str]:
    table = _fresh(net, "word_class")
    if rng.random() < 0.75:
        ids = _fresh(net, "vocab_ids")
        net[ids] = {"class": "range", "limit": dim, "dtype": "int32"}
        net[table] = {"class": "eval", "from": ids, "eval": f"source(0) // {w}"}
        return table, f"{table} = eval {ids} // {w}, {ids} = range({dim}) (word-to-class table)"
    net[table] = {"class": "variable", "shape": [dim], "dtype": "int32", "trainable": False, "init": 0}
    return table, f"{table} = non-trainable int variable [{dim}] (loaded word-to-class table)"


def op_class_factored_softmax(case: Case, rng: random.Random) -> Result:
    """Class-based (hierarchical) softmax: a class choice then a word-in-class choice, or a joint score."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    n_cls, w = _class_sizes(dim)
    hidden = _hidden(unit, scores)
    old = unit[choice]
    beam = old.get("beam_size", 4)
    if rng.random() < 0.55:
        cls_prob = _fresh(unit, "class_prob")
        unit[cls_prob] = {"class": "softmax", "from": list(hidden), "n_out": n_cls}
        cls = _fresh(unit, "class_choice")
        cls_beam = 1 if rng.random() < 0.2 else rng.choice([beam, max(1, beam // 2), 2])
        unit[cls] = {"class": "choice", "from": cls_prob, "target": None, "beam_size": cls_beam,
                     "initial_output": 0}
        desc = [f"{cls_prob} = softmax({', '.join(hidden)} -> {n_cls} classes)",
                f"{cls} = choice over {cls_prob} (beam {cls_beam}, no target)"]
        word_from = list(hidden)
        if rng.random() < 0.8:
            cls_emb = _fresh(unit, "class_embed")
            unit[cls_emb] = {"class": "linear", "activation": None, "from": cls, "n_out": rng.choice([4, 8])}
            word_from.append(cls_emb)
            desc.append(f"{cls_emb} = linear({cls})")
        else:
            desc.append("the word softmax does not read the class")
        word_prob = _fresh(unit, "word_in_class_prob")
        unit[word_prob] = {"class": "softmax", "from": word_from, "n_out": w}
        word = _fresh(unit, "word_choice")
        unit[word] = {"class": "choice", "from": word_prob, "target": None, "beam_size": beam, "initial_output": 0}
        late = rng.random() < 0.2
        cls_src = f"prev:{cls}" if late else cls
        label: dict[str, Any] = {"class": "eval", "from": [cls_src, word],
                                 "eval": f"source(0) * {w} + source(1)",
                                 "out_type": {"dim": dim, "sparse": True, "dtype": "int32"}}
        if "initial_output" in old:
            label["initial_output"] = old["initial_output"]
        if old.get("is_output_layer"):
            label["is_output_layer"] = True
        unit[choice] = label
        if not _readers(unit, scores) and rng.random() < 0.6:
            unit.pop(scores, None)
            desc.append(f"{scores} removed")
        desc += [f"{word_prob} = softmax({', '.join(word_from)} -> {w})",
                 f"{word} = choice over {word_prob} (beam {beam}, no target)",
                 f"{choice} = eval {cls_src} * {w} + {word} (sparse {dim}), fed back"]
        return new, f"{rec}: " + "; ".join(desc)
    # joint score: class log-prob gathered per word plus word log-prob
    table, how = _class_table(net, dim, w, rng)
    drop_base = rng.random() < 0.08
    table_ref = table if drop_base else f"base:{table}"
    cls_logp = _fresh(unit, "class_log_prob")
    unit[cls_logp] = {"class": "linear", "activation": "log_softmax", "from": list(hidden), "n_out": n_cls}
    per_word = _fresh(unit, "class_log_prob_per_word")
    unit[per_word] = {"class": "gather", "from": cls_logp, "axis": "F", "position": table_ref}
    word_logp = _fresh(unit, "word_log_prob")
    unit[word_logp] = {"class": "linear", "activation": "log_softmax", "from": list(hidden), "n_out": dim}
    joint = _fresh(unit, "joint_log_prob")
    unit[joint] = {"class": "combine", "kind": "add", "from": [per_word, word_logp]}
    old["from"] = joint
    slip = rng.random() < 0.2
    if slip:
        old.pop("input_type", None)
    else:
        old["input_type"] = "log_prob"
    return new, (f"{rec}: {how}; {cls_logp} = log_softmax linear -> {n_cls}; {per_word} = gather({cls_logp}, "
                 f"position={table_ref}); {word_logp} = log_softmax linear -> {dim}; {joint} = add; {choice} over "
                 f"{joint} as " + ("prob (input_type left out)" if slip else "log_prob"))


# ----------------------------------------------------------------------------------------------------
# adaptive-softmax-head


def op_adaptive_softmax_head(case: Case, rng: random.Random) -> Result:
    """An adaptive-softmax output: a head over frequent labels plus a tail cluster, a tail softmax."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    hidden = _hidden(unit, scores)
    old = unit[choice]
    n_head = max(2, min(dim - 1, rng.choice([dim // 2, dim - 2, 2 * dim // 3])))
    n_tail = dim - n_head
    log_space = rng.random() < 0.35
    act = "log_softmax" if log_space else "softmax"
    head = _fresh(unit, "head_prob")
    unit[head] = {"class": "linear", "activation": act, "from": list(hidden), "n_out": n_head + 1}
    desc = [f"{head} = {act} linear({', '.join(hidden)} -> {n_head} + 1 tail cluster)"]
    if rng.random() < 0.15:
        # the user searches over the head alone and keeps the full-vocabulary target
        old["from"] = head
        if log_space:
            old["input_type"] = "log_prob"
        desc.append(f"{choice} chooses over {head} alone, target {old.get('target')!r} kept")
        return new, f"{rec}: " + "; ".join(desc)
    where = rng.choices(["frame", "root", "prev"], [0.6, 0.25, 0.15])[0]
    tail = _fresh(unit, "tail_prob")
    if where == "root":
        enc = _timed_encoder(net, rec)
        feat = _fresh(net, f"{enc}_tail_feat")
        net[feat] = {"class": "linear", "activation": "tanh", "from": enc, "n_out": 8}
        mean = _fresh(net, f"{feat}_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": feat}
        root_tail = _fresh(net, "tail_prob")
        net[root_tail] = {"class": "linear", "activation": act, "from": mean, "n_out": n_tail}
        unit[tail] = {"class": "copy", "from": f"base:{root_tail}"}
        desc.append(f"{tail} = copy of base:{root_tail} ({act} of the mean over T of tanh linear({enc}), "
                    "once per sentence)")
    else:
        tail_from = [f"prev:{h}" if where == "prev" and not h.startswith(("prev:", "base:", "data:")) else h
                     for h in hidden]
        proj = _fresh(unit, "tail_proj")
        unit[proj] = {"class": "linear", "activation": None, "from": tail_from, "n_out": rng.choice([4, 8])}
        unit[tail] = {"class": "linear", "activation": act, "from": proj, "n_out": n_tail}
        desc.append(f"{tail} = {act} of {proj} = linear({', '.join(tail_from)}) -> {n_tail}")
    head_words = _fresh(unit, "head_words")
    unit[head_words] = {"class": "slice", "from": head, "axis": "F", "slice_end": n_head}
    gate = _fresh(unit, "tail_cluster")
    unit[gate] = {"class": "gather", "from": head, "axis": "F", "position": n_head}
    tail_words = _fresh(unit, "tail_words")
    unit[tail_words] = {"class": "combine", "kind": "add" if log_space else "mul", "from": [gate, tail]}
    full = _fresh(unit, "adaptive_prob")
    unit[full] = {"class": "copy", "from": [head_words, tail_words]}
    old["from"] = full
    slip = log_space and rng.random() < 0.25
    if log_space and not slip:
        old["input_type"] = "log_prob"
    else:
        old.pop("input_type", None)
    desc += [f"{head_words} = slice :{n_head}", f"{gate} = gather({head}, position {n_head})",
             f"{tail_words} = {'add' if log_space else 'mul'}({gate}, {tail})",
             f"{full} = concat({head_words}, {tail_words})",
             f"{choice} chooses over {full} as " + ("log_prob" if log_space and not slip else "prob")]
    return new, f"{rec}: " + "; ".join(desc)


FRESH118_OPERATORS: tuple[Op, ...] = (
    Op("vocab-shortlist-choice", op_vocab_shortlist_choice, 1.3),
    Op("class-factored-softmax", op_class_factored_softmax, 1),
    Op("adaptive-softmax-head", op_adaptive_softmax_head, 0.8),
)
