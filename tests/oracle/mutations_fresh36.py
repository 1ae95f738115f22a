"""A thirty-eighth set of edit operators (issue 15, tenth session), written and seeded before it was ever
run: held out, looked at as counts only when first measured.

Exporting the n-best list and the beam's information at the root once the search is done, as users do for
n-best output, rescoring and confidence scores (none a variant of an earlier one; no rule was written for
any of them):

* ``nbest-table``: root output layers with the n-best list of a searching decoder: its labels split into
  ``[B,K,T]`` (``split_batch_beam`` of the decoder, of a ``decide_keep_beam`` of it, or, by mistake, of
  its ``decide``), the hypotheses' scores (``choice_get_beam_scores`` of the decoder, of the kept beam or
  of the split labels) split into ``[B,K]``, and maybe the hypotheses' lengths (``length``) split alike;
* ``rerank-best``: a root rescorer over the hypotheses: an embedding of the decoder's output pooled over
  time (``reduce``), a ``linear`` to one value ``squeeze``-d to a scalar (or an ``eval`` of the pooled
  embedding's mean), added to the beam scores (``choice_get_beam_scores``); the total split into ``[B,K]``
  (``split_batch_beam``) and its argmax over the beam axis (``reduce``) picks a hypothesis out of the
  split n-best list (``gather`` on ``stag:beam``), or its max over the beam axis is the output (the best
  rescored score), or the total is ``decide``-d; the picked hypothesis is an output layer or replaces a
  ``decide`` for its readers;
* ``scored-decision``: the decided labels' embedding (``linear`` over the decoder's ``decide``) combined
  (``combine`` add / mul, or an ``eval`` with ``exp``) with the score of the best hypothesis: the beam
  scores (``choice_get_beam_scores`` of the decoder) reduced by ``max`` over the beam axis after a
  ``split_batch_beam``, or ``decide``-d, or read as they are (still beamed), or taken of the ``decide``
  itself;
* ``hyp-lengths``: the length of every hypothesis (``length`` of the beamed decoder output, of a
  ``decide_keep_beam`` of it, or of a beamed root reader of the decoder) exported: split into ``[B,K]``
  (maybe reduced by ``max`` / ``min`` over the beam axis, maybe ``cast`` to float), ``decide``-d (the
  best hypothesis' length), or the ``length`` of the time axis of the split n-best list ``[B,K,T]``;
* ``beam-merge``: the hypotheses' pooled embeddings (a ``linear`` over the decoder's output, ``reduce``-d
  over time) split into ``[B,K,F]`` and the beam axis merged into the features (``merge_dims`` of
  ``stag:beam`` and ``F``), read by a ``linear`` output layer (maybe added to a pooled embedding of the
  decision), or the beam axis merged back into the batch (``merge_dims`` of ``B`` and ``stag:beam``).
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
    _redirect,
    _searching_recs,
    _sources,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH36_SEED = 20261229
N_FRESH36 = 80

Result = "tuple[Case, str] | None"

#: The beam axis of a ``split_batch_beam`` output (its dim tag is named ``beam:<beam name>``).
BEAM_AXIS = "stag:beam"


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main net (not of an ``extra...:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _stem(name: str) -> str:
    return name.split(":")[-1].replace("/", "_")


def _decisions(net: dict[str, Any], rec: str) -> list[str]:
    """Root ``decide`` layers reading only ``rec``."""
    return [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]


def _decision(net: dict[str, Any], rec: str) -> tuple[str, bool]:
    """A root ``decide`` of ``rec`` (an existing one, else a new one); whether it is new."""
    old = _decisions(net, rec)
    if old:
        return old[0], False
    name = _fresh(net, f"{_stem(rec)}_decision")
    net[name] = {"class": "decide", "from": rec}
    return name, True


def _beamed_readers(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers reading ``rec`` directly that keep its beam (no decide / split / beam tools)."""
    skip = ("decide", "decide_keep_beam", "split_batch_beam", "choice_get_beam_scores", "choice_get_src_beams",
            "rec", "subnetwork", "cond")
    return [k for k in _readers(net, rec) if net[k].get("class") not in skip and rec in _sources(net[k])]


def _keep(net: dict[str, Any], rec: str) -> str:
    name = _fresh(net, f"{_stem(rec)}_nbest_kept")
    net[name] = {"class": "decide_keep_beam", "from": rec}
    return name


def _embed_pool(net: dict[str, Any], src: str, rng: random.Random) -> tuple[str, str]:
    """A ``linear`` embedding of ``src`` and its pooling over time; (embedding, pooled)."""
    stem = _stem(src)
    emb = _fresh(net, f"{stem}_hyp_embed")
    net[emb] = {"class": "linear", "activation": rng.choice([None, "tanh"]), "from": src,
                "n_out": rng.choice([4, 6, 8])}
    pooled = _fresh(net, f"{stem}_hyp_pooled")
    net[pooled] = {"class": "reduce", "mode": rng.choice(["mean", "sum", "max"]), "axis": "T", "from": emb}
    return emb, pooled


def op_nbest_table(case: Case, rng: random.Random) -> Result:
    """Root output layers: a decoder's n-best labels [B,K,T], scores [B,K], maybe lengths [B,K]."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    roll = rng.random()
    if roll < 0.4:
        src = rec
    elif roll < 0.75:
        src = _keep(net, rec)
    else:
        src, _ = _decision(net, rec)
    labels = _fresh(net, f"{stem}_nbest_labels")
    net[labels] = {"class": "split_batch_beam", "from": src, "is_output_layer": True}
    roll = rng.random()
    score_src = src if roll < 0.55 else (rec if roll < 0.7 else labels)
    scores = _fresh(net, f"{stem}_nbest_beam_scores")
    net[scores] = {"class": "choice_get_beam_scores", "from": score_src}
    scores_split = _fresh(net, f"{stem}_nbest_scores")
    net[scores_split] = {"class": "split_batch_beam", "from": scores, "is_output_layer": True}
    parts = [f"{labels} (split_batch_beam of {src})", f"{scores_split} (split beam scores of {score_src})"]
    if rng.random() < 0.5:
        length = _fresh(net, f"{stem}_nbest_len")
        net[length] = {"class": "length", "from": src}
        length_split = _fresh(net, f"{stem}_nbest_lengths")
        net[length_split] = {"class": "split_batch_beam", "from": length, "is_output_layer": True}
        parts.append(f"{length_split} (split lengths of {src})")
    return new, f"n-best outputs of {rec}: {', '.join(parts)}"


def op_rerank_best(case: Case, rng: random.Random) -> Result:
    """A root rescorer over the hypotheses; its argmax over the beam picks one of the split n-best list."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    _, pooled = _embed_pool(net, rec, rng)
    value = _fresh(net, f"{stem}_rescore")
    if rng.random() < 0.6:
        lin = _fresh(net, f"{stem}_rescore_lin")
        net[lin] = {"class": "linear", "activation": None, "from": pooled, "n_out": 1}
        net[value] = {"class": "squeeze", "axis": "F", "from": lin}
    else:
        net[value] = {"class": "reduce", "mode": "mean", "axis": "F", "from": pooled}
    scores = _fresh(net, f"{stem}_beam_scores")
    net[scores] = {"class": "choice_get_beam_scores", "from": rec}
    scale = rng.choice([0.1, 0.5, 1.0])
    total = _fresh(net, f"{stem}_rescored")
    net[total] = {"class": "eval", "from": [scores, value], "eval": f"source(0) + {scale} * source(1)"}
    roll = rng.random()
    if roll < 0.2:
        best = _fresh(net, f"{stem}_rescored_decision")
        net[best] = {"class": "decide", "from": total, "is_output_layer": True}
        return new, (f"output {best}: a decide of {total} (beam scores of {rec} plus {scale} times a "
                     f"rescoring {value} of its pooled embedding {pooled})")
    total_split = _fresh(net, f"{stem}_rescored_split")
    net[total_split] = {"class": "split_batch_beam", "from": total}
    if roll < 0.4:
        best = _fresh(net, f"{stem}_best_rescored")
        net[best] = {"class": "reduce", "mode": "max", "axis": BEAM_AXIS, "from": total_split,
                     "is_output_layer": True}
        return new, (f"output {best}: max over the beam of {total_split} (beam scores of {rec} plus {scale} "
                     f"times a rescoring {value} of its pooled embedding {pooled})")
    best_idx = _fresh(net, f"{stem}_best_hyp")
    net[best_idx] = {"class": "reduce", "mode": "argmax", "axis": BEAM_AXIS, "from": total_split}
    nbest = _fresh(net, f"{stem}_nbest")
    net[nbest] = {"class": "split_batch_beam", "from": rec}
    picked = _fresh(net, f"{stem}_reranked")
    net[picked] = {"class": "gather", "from": nbest, "position": best_idx, "axis": BEAM_AXIS}
    what = (f"{picked} gathers from {nbest} (split n-best of {rec}) at {best_idx}, the argmax over the beam "
            f"of the beam scores plus {scale} times a rescoring {value} of the pooled embedding {pooled}")
    decs_of = _decisions(net, rec)
    readers = [r for d in decs_of for r in _readers(net, d)]
    if readers and rng.random() < 0.5:
        dec = next(d for d in decs_of if _readers(net, d))
        readers = _readers(net, dec)
        _redirect(net, readers, dec, picked)
        return new, f"{', '.join(readers)} read {picked} instead of {dec}: {what}"
    net[picked]["is_output_layer"] = True
    return new, f"output {what}"


def op_scored_decision(case: Case, rng: random.Random) -> Result:
    """The decided labels' embedding combined with the best hypothesis' score."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    dec, _ = _decision(net, rec)
    emb = _fresh(net, f"{stem}_decided_embed")
    net[emb] = {"class": "linear", "activation": rng.choice([None, "tanh"]), "from": dec,
                "n_out": rng.choice([4, 8])}
    scores = _fresh(net, f"{stem}_beam_scores")
    roll = rng.random()
    if roll < 0.3:
        net[scores] = {"class": "choice_get_beam_scores", "from": rec}
        split = _fresh(net, f"{scores}_split")
        net[split] = {"class": "split_batch_beam", "from": scores}
        best = _fresh(net, f"{stem}_best_score")
        net[best] = {"class": "reduce", "mode": "max", "axis": BEAM_AXIS, "from": split}
        how = f"{best}, the max over the beam of the split beam scores of {rec}"
    elif roll < 0.55:
        net[scores] = {"class": "choice_get_beam_scores", "from": rec}
        best = _fresh(net, f"{stem}_best_score")
        net[best] = {"class": "decide", "from": scores}
        how = f"{best}, a decide of the beam scores of {rec}"
    elif roll < 0.75:
        net[scores] = {"class": "choice_get_beam_scores", "from": rec}
        best = scores
        how = f"{best}, the beam scores of {rec} (beamed)"
    else:
        net[scores] = {"class": "choice_get_beam_scores", "from": dec}
        best = scores
        how = f"{best}, the beam scores of the decision {dec}"
    out = _fresh(net, f"{stem}_scored_decision")
    kind = rng.choice(["add", "mul", "exp"])
    if kind == "exp":
        net[out] = {"class": "eval", "from": [emb, best], "eval": "source(0) * tf.exp(source(1))"}
    else:
        net[out] = {"class": "combine", "kind": kind, "from": [emb, best]}
    net[out]["is_output_layer"] = True
    return new, f"output {out}: {kind} of {emb} (embedding of {dec}) and {how}"


def op_hyp_lengths(case: Case, rng: random.Random) -> Result:
    """The length of every hypothesis of a decoder exported at the root."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    readers = _beamed_readers(net, rec)
    roll = rng.random()
    if roll < 0.45:
        src = rec
    elif roll < 0.75 or not readers:
        src = _keep(net, rec)
    else:
        src = rng.choice(readers)
    length = _fresh(net, f"{stem}_hyp_len")
    roll = rng.random()
    if roll < 0.3:
        nbest = _fresh(net, f"{stem}_nbest")
        net[nbest] = {"class": "split_batch_beam", "from": src}
        net[length] = {"class": "length", "from": nbest, "axis": "T", "is_output_layer": True}
        return new, f"output {length}: the time length of {nbest} (split n-best of {src})"
    net[length] = {"class": "length", "from": src}
    if roll < 0.5:
        best = _fresh(net, f"{stem}_best_hyp_len")
        net[best] = {"class": "decide", "from": length, "is_output_layer": True}
        return new, f"output {best}: a decide of {length} (lengths of the hypotheses of {src})"
    split = _fresh(net, f"{stem}_hyp_lengths")
    net[split] = {"class": "split_batch_beam", "from": length}
    last, what = split, f"{split} (split lengths of {src})"
    if rng.random() < 0.4:
        cast = _fresh(net, f"{split}_float")
        net[cast] = {"class": "cast", "dtype": "float32", "from": last}
        last, what = cast, f"{what} cast to float"
    if rng.random() < 0.6:
        mode = rng.choice(["max", "min"])
        red = _fresh(net, f"{stem}_{mode}_hyp_len")
        net[red] = {"class": "reduce", "mode": mode, "axis": BEAM_AXIS, "from": last}
        last, what = red, f"{mode} over the beam of {what}"
    net[last]["is_output_layer"] = True
    return new, f"output {last}: {what}"


def op_beam_merge(case: Case, rng: random.Random) -> Result:
    """Pooled hypothesis embeddings split into [B,K,F], the beam axis merged into the features (or back
    into the batch)."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    _, pooled = _embed_pool(net, rec, rng)
    split = _fresh(net, f"{stem}_hyp_split")
    net[split] = {"class": "split_batch_beam", "from": pooled}
    merged = _fresh(net, f"{stem}_hyps_merged")
    if rng.random() < 0.25:
        net[merged] = {"class": "merge_dims", "axes": ["B", BEAM_AXIS], "keep_order": True, "from": split,
                       "is_output_layer": True}
        return new, f"output {merged}: {split} (split pooled embedding {pooled} of {rec}) merged back into B"
    net[merged] = {"class": "merge_dims", "axes": [BEAM_AXIS, "F"], "keep_order": True, "from": split}
    out = _fresh(net, f"{stem}_nbest_summary")
    n_out = rng.choice([4, 8])
    net[out] = {"class": "linear", "activation": "tanh", "from": merged, "n_out": n_out}
    what = f"a linear over {merged}: {split} (split pooled embedding {pooled} of {rec}) with the beam in F"
    if rng.random() < 0.5:
        dec, _ = _decision(net, rec)
        demb = _fresh(net, f"{stem}_decided_embed")
        net[demb] = {"class": "linear", "activation": None, "from": dec, "n_out": n_out}
        dpool = _fresh(net, f"{stem}_decided_pooled")
        net[dpool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": demb}
        both = _fresh(net, f"{stem}_nbest_and_best")
        net[both] = {"class": "combine", "kind": "add", "from": [out, dpool], "is_output_layer": True}
        return new, f"output {both}: {what}, plus {dpool} (pooled embedding of {dec})"
    net[out]["is_output_layer"] = True
    return new, f"output {out}: {what}"


FRESH36_OPERATORS: tuple[Op, ...] = (
    Op("nbest-table", op_nbest_table, 1),
    Op("rerank-best", op_rerank_best, 1),
    Op("scored-decision", op_scored_decision, 1),
    Op("hyp-lengths", op_hyp_lengths, 1),
    Op("beam-merge", op_beam_merge, 1),
)
