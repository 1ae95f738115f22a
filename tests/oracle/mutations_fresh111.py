"""A hundred-and-thirteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: sequence-level training criteria kept in (or moved into) a search network: the minimum-WER /
expected-risk (minimum Bayes risk) training set-ups as RETURNN writes them, put onto the bases' searching
decoders, and what users change when they go from that training config to a recognition config (none a
variant of an earlier operator; no rule was written for any of them). Sources: RETURNN's ``ExpectedLoss``
(``returnn/tf/layers/basic.py``: ``transform_config_dict`` building the inner loss of ``loss_opts``,
``init`` asserting the layer's search choices, ``get_value`` renormalising ``beam_scores`` over the beam),
``ChoiceGetBeamScoresLayer`` and ``SplitBatchBeamLayer`` (``returnn/tf/layers/rec.py``), ``EditDistanceLayer``
(``rec.py``), ``DecideLayer``, the layer options ``loss_only_on_non_search`` (``LayerBase.transform_config_dict``
in ``returnn/tf/layers/base.py``) and ``only_on_eval`` (``TFNetwork.construct_from_dict`` in
``returnn/tf/network.py``), the ``extra.search:`` nets (``TFNetwork._get_extra_net``); the min-WER and MMI
set-ups of rwth-i6/i6_experiments ``users/michel/.../seq_train_helpers.py`` (``add_min_wer``: an
``extra.search:output`` copy of the decoder with an n-best beam and no length normalisation, read at the root
by a ``copy`` layer ``min_wer`` with ``loss: "expected_loss"``, ``loss_opts`` ``{"loss": {"class":
"edit_distance"}, "loss_kind": "error", "divide_beam_size": False, "norm_scores_stop_gradient": False,
"subtract_average_loss": False, "scale": ...}``, the decoder's CE loss re-scaled beside it; ``add_mmi``:
``choice_get_beam_scores`` -> ``split_batch_beam`` -> ``reduce`` ``logsumexp`` with an ``as_is`` loss); the
2022 min-WER config of rwth-i6/returnn-experiments as the shared corpus holds it
(``curated/rexp-2022-scale-scalar-minwer``: the same ``min_wer`` copy of ``extra.search:output`` beside a
``decision`` with an ``edit_distance`` loss); the max-expected-BLEU training of Zeyer et al. 2018 (``BleuLoss``
as the inner loss) and Prabhavalkar et al. 2018 (min-WER over the n-best, the scores renormalised over the
beam, CE interpolated).

* ``mwer-expected-loss``: the root min-WER layer of ``add_min_wer``: a ``copy`` (``min_wer``) with
  ``loss: "expected_loss"``, ``target`` the decoder's target key and ``loss_opts`` whose inner loss is
  ``edit_distance`` (``loss_kind`` ``error``; now and then ``value``, which that loss does not have),
  ``bleu`` (expected BLEU) or ``ce`` (a frame-wise loss, ``value``), and the three normalisation flags and a
  ``scale`` drawn; it reads the searching decoder's beamed output (the rec itself, a root ``copy`` of it,
  the decoder's ``decide`` where one exists or a new one: "decide before" the expected loss), or, as
  ``add_min_wer`` does, an ``extra.search:REC`` copy of the decoder (its losses stripped, an n-best beam of 4
  or 8, ``length_normalization: False``, half the time ``cheating: "exclusive"`` as there, which keeps the
  reference in the n-best); sometimes with ``only_on_eval`` or ``loss_only_on_non_search`` as
  recognition configs set them; or (about one time in five) moved into the decoder's loop: the ``copy`` of
  the loop's choice carries the expected loss there, maybe an output layer of the loop. Targets:
  ``ExpectedLoss.transform_config_dict`` / ``init`` (``no search choices from layer``), the extra net's
  construction and its choice's ``cheating`` target in search, target resolution in search, a loss layer
  on a choice in the rec frame.
* ``beam-posterior``: the hypotheses' posteriors renormalised over the n-best, as ``add_mmi`` and the MBR
  papers compute them: ``choice_get_beam_scores`` of the decoder (the rec, its ``decide``, the loop's choice
  read by path ``REC/CHOICE``, or an encoder layer that has no search choices), maybe scaled by an ``eval``,
  ``split_batch_beam``, and a softmax over the beam (``activation`` ``softmax`` after the split; ``reduce``
  ``logsumexp`` + ``combine`` ``sub`` + ``exp``; or, forgetting the renormalisation, only the ``exp`` taken
  before the split, on the flat batch-beam axis), read by an output layer, a ``reduce`` ``max`` (the best hypothesis' confidence), a
  ``decide`` after it, or the ``logsumexp`` denominator with an ``as_is`` loss (``add_mmi``); or (one time in
  seven) the per-frame form inside the loop: ``choice_get_beam_scores`` of the loop's choice, split and
  softmaxed in the frame, an output layer of the loop (maybe copied out to the root), or the frame's beam
  scores an output layer of the loop, split and softmaxed at the root from ``REC/beam_scores``. Targets:
  ``ChoiceGetBeamScoresLayer.__init__`` (``has no search choices``, ``beam_size ==
  self.output.beam.beam_size``), ``SplitBatchBeamLayer`` (``no beam in``, a ``BaseChoiceLayer`` in a rec
  frame), ``DecideLayer`` on beamless data.
* ``nbest-risk-interp``: the expected risk written out by hand and interpolated with the decoder's CE: an
  ``edit_distance`` layer (``a`` the n-best, ``b`` the reference ``data:KEY``; or ``b`` the decoder's 1-best
  ``decide``, the "oracle" error; a and b sometimes swapped; ``a`` sometimes the ``decide`` itself),
  ``cast`` to float, weighted by the renormalised beam posterior (split first and multiplied per
  hypothesis, or multiplied on the flat batch-beam axis by the ``exp`` of the raw beam scores and split
  after), summed over the beam (``reduce`` ``sum`` on ``F``) with an ``as_is`` loss and a ``loss_scale``
  lambda, the loop's CE losses re-scaled by 1 - lambda (``loss_opts`` ``scale``, maybe ``label_smoothing``);
  sometimes a ``decide`` after the per-hypothesis errors (the 1-best WER) as an output layer. Targets:
  ``EditDistanceLayer.get_out_data_from_opts`` (``Data.get_common_data`` of a beamed and a beamless input),
  beam combination in ``combine``, ``SplitBatchBeamLayer``, data availability of the reference in search.
* ``mwer-to-recog``: a min-WER training block (the expected-loss layer, maybe the posterior and risk chain)
  turned into a recognition config by one or two of the edits users make: the loss options dropped and the
  copy kept as an output layer, the choice made greedy (``beam_size`` 1), a ``decide`` put between the
  decoder and the whole block, ``only_on_eval`` on the block's terminal layers (the clean fix), ``search:
  False`` on the decoder's choice, ``loss_only_on_non_search`` on the loss layers, the error's reference
  switched to the 1-best ``decide``. Targets: the same checks as above, reached from the other side.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _readers,
    _root_ancestors,
    _searching_recs,
    _sources,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH111_SEED = 20270173
N_FRESH111 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# Sites


def _label_key(case: Case, desc: dict[str, Any]) -> str | None:
    """The extern-data key a choice is trained on, when it is one label stream the data has."""
    target = desc.get("target")
    if not isinstance(target, str) or target.startswith("layer:"):
        return None
    key = target.removeprefix("data:")
    keys = set(case.get("extern_data") or {}) | set(case.get("num_outputs") or {})
    return key if key in keys else None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rec, choice, target key) of every searching decoder whose unit ``output`` is a label choice (or a
    ``copy`` of one): the decoders whose beamed output is an n-best list of label sequences."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        desc = unit.get("output")
        if not isinstance(desc, dict):
            continue
        choice = None
        if desc.get("class") == "choice":
            choice = "output"
        elif desc.get("class") == "copy":
            srcs = _sources(desc)
            if len(srcs) == 1 and isinstance(unit.get(srcs[0]), dict) and unit[srcs[0]].get("class") == "choice":
                choice = srcs[0]
        if choice is None:
            continue
        cdesc = unit[choice]
        if cdesc.get("search", True) is False or cdesc.get("input_type") == "regression":
            continue
        key = _label_key(case, cdesc)
        if key is not None:
            out.append((rec, choice, key))
    return out


def _stem(rec: str) -> str:
    """A root layer name derived from a rec's (``extra.search:output`` -> ``output``)."""
    return rec.rsplit(":", 1)[-1]


def _decision(net: dict[str, Any], rec: str, *, make: bool = True) -> str | None:
    """A root ``decide`` of the decoder (the existing one, else a new one when ``make``)."""
    for k in _readers(net, rec):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    if not make:
        return None
    name = _fresh(net, f"{_stem(rec)}_decision")
    net[name] = {"class": "decide", "from": rec}
    return name


def _encoder_layer(net: dict[str, Any], rec: str) -> str | None:
    """A root layer the decoder reads (no rec, no choice): it carries no search choices."""
    names = [k for k in sorted(_root_ancestors(net, rec))
             if net[k].get("class") not in ("rec", "choice", "decide", "split_batch_beam")]
    return names[0] if names else None


def _extra_search_copy(net: dict[str, Any], rec: str, choice: str, rng: random.Random) -> tuple[str, str] | None:
    """``add_min_wer``'s ``extra.search:REC``: the decoder copied, losses stripped, an n-best beam."""
    name = f"extra.search:{rec}"
    if name in net or ":" in rec:
        return None
    desc = copy.deepcopy(net[rec])
    for key in ("loss", "loss_opts", "loss_scale"):
        desc.pop(key, None)
    for inner in desc["unit"].values():
        if isinstance(inner, dict):
            for key in ("loss", "loss_opts", "loss_scale"):
                inner.pop(key, None)
    beam = rng.choice([4, 8])
    desc["unit"][choice]["beam_size"] = beam
    desc["unit"][choice]["length_normalization"] = False
    extra = ""
    if rng.random() < 0.5:
        desc["unit"][choice]["cheating"] = "exclusive"
        extra = ", cheating exclusive"
    net[name] = desc
    return name, f"{name} (a copy of {rec}, losses stripped, beam {beam}, no length normalisation{extra})"


# ----------------------------------------------------------------------------------------------------
# Building blocks


def _expected_loss_layer(net: dict[str, Any], src: str, key: str, rng: random.Random) -> tuple[str, str]:
    """A root ``copy`` of ``src`` with ``loss: "expected_loss"`` (``add_min_wer``'s ``min_wer``)."""
    inner, kind = rng.choices(
        [("edit_distance", "error"), ("bleu", "error"), ("edit_distance", "value"), ("ce", "value")],
        [0.6, 0.15, 0.1, 0.15])[0]
    opts: dict[str, Any] = {"loss": {"class": inner}, "loss_kind": kind}
    for flag in ("divide_beam_size", "norm_scores_stop_gradient", "subtract_average_loss"):
        if rng.random() < 0.5:
            opts[flag] = rng.random() < 0.4
    if rng.random() < 0.4:
        opts["scale"] = rng.choice([0.01, 0.1, 1.0])
    name = _fresh(net, "min_wer")
    net[name] = {"class": "copy", "from": src, "loss": "expected_loss", "loss_opts": opts, "target": key}
    return name, f"{name} = copy of {src} with expected_loss over {inner} ({kind}), target {key!r}"


def _posterior(net: dict[str, Any], src: str, rng: random.Random, *, form: str | None = None,
               prefix: str = "nbest") -> tuple[str, str, list[str]]:
    """``choice_get_beam_scores`` of ``src``, maybe scaled, split by ``split_batch_beam`` and softmaxed over
    the beam: (the posterior layer (batch, beam), description, the layers added)."""
    added = []
    scores = _fresh(net, f"{prefix}_scores")
    net[scores] = {"class": "choice_get_beam_scores", "from": src}
    added.append(scores)
    how = f"{scores} = choice_get_beam_scores({src})"
    cur = scores
    if rng.random() < 0.35:
        alpha = rng.choice([0.1, 0.3, 0.5])
        scaled = _fresh(net, f"{prefix}_scores_scaled")
        net[scaled] = {"class": "eval", "from": cur, "eval": f"source(0) * {alpha}"}
        added.append(scaled)
        cur = scaled
        how += f", scaled by {alpha}"
    form = form or rng.choices(["softmax", "logsumexp", "exp-flat"], [0.5, 0.35, 0.15])[0]
    if form == "exp-flat":
        flat = _fresh(net, f"{prefix}_probs_flat")
        net[flat] = {"class": "activation", "activation": "exp", "from": cur}
        split = _fresh(net, f"{prefix}_posterior")
        net[split] = {"class": "split_batch_beam", "from": flat}
        added += [flat, split]
        return split, how + f"; exp on the flat batch-beam axis ({flat}, not renormalised), then split ({split})", added
    split = _fresh(net, f"{prefix}_scores_split")
    net[split] = {"class": "split_batch_beam", "from": cur}
    added.append(split)
    post = _fresh(net, f"{prefix}_posterior")
    if form == "softmax":
        net[post] = {"class": "activation", "activation": "softmax", "from": split}
        added.append(post)
        return post, how + f"; split ({split}); softmax over the beam ({post})", added
    norm = _fresh(net, f"{prefix}_log_norm")
    net[norm] = {"class": "reduce", "mode": "logsumexp", "axis": "F", "from": split}
    log_post = _fresh(net, f"{prefix}_log_posterior")
    net[log_post] = {"class": "combine", "kind": "sub", "from": [split, norm]}
    net[post] = {"class": "activation", "activation": "exp", "from": log_post}
    added += [norm, log_post, post]
    return post, how + f"; split ({split}); {post} = exp({split} - logsumexp over the beam)", added


def _risk(net: dict[str, Any], unit: dict[str, Any], rec: str, key: str, rng: random.Random,
          hyp: str | None = None) -> tuple[list[str], str, list[str]]:
    """The expected risk by hand: (terminal layers, description, layers added)."""
    added: list[str] = []
    hyp = hyp or (rec if rng.random() < 0.8 else _decision(net, rec))
    how = []
    ref_kind = rng.choices(["data", "decision"], [0.8, 0.2])[0]
    ref = f"data:{key}" if ref_kind == "data" or hyp != rec else _decision(net, rec)
    assert isinstance(hyp, str) and isinstance(ref, str)
    a, b = (hyp, ref) if rng.random() < 0.85 else (ref, hyp)
    err = _fresh(net, "hyp_errors")
    net[err] = {"class": "edit_distance", "from": [], "a": a, "b": b}
    err_f = _fresh(net, "hyp_errors_float")
    net[err_f] = {"class": "cast", "from": err, "dtype": "float32"}
    added += [err, err_f]
    how.append(f"{err} = edit_distance(a={a}, b={b}), cast to float ({err_f})")
    risk = _fresh(net, "expected_risk")
    lam = rng.choice([0.1, 0.5, 0.9])
    if rng.random() < 0.7:
        post, phow, padded = _posterior(net, hyp, rng, form=rng.choice(["softmax", "logsumexp"]), prefix="risk")
        added += padded
        err_split = _fresh(net, "hyp_errors_split")
        net[err_split] = {"class": "split_batch_beam", "from": err_f}
        weighted = _fresh(net, "weighted_errors")
        net[weighted] = {"class": "combine", "kind": "mul", "from": [post, err_split]}
        added += [err_split, weighted]
        how.append(f"{phow}; {err_split} = split_batch_beam({err_f}); {weighted} = {post} * {err_split}")
    else:
        scores = _fresh(net, "risk_scores")
        net[scores] = {"class": "choice_get_beam_scores", "from": hyp}
        prob = _fresh(net, "risk_hyp_prob")
        net[prob] = {"class": "activation", "activation": "exp", "from": scores}
        flat = _fresh(net, "weighted_errors_flat")
        net[flat] = {"class": "combine", "kind": "mul", "from": [prob, err_f]}
        weighted = _fresh(net, "weighted_errors")
        net[weighted] = {"class": "split_batch_beam", "from": flat}
        added += [scores, prob, flat, weighted]
        how.append(f"{weighted} = split_batch_beam(exp(choice_get_beam_scores({hyp})) * {err_f}), unnormalised")
    net[risk] = {"class": "reduce", "mode": "sum", "axis": "F", "from": weighted, "loss": "as_is",
                 "loss_scale": lam}
    added.append(risk)
    how.append(f"{risk} = sum over the beam, as_is loss scaled {lam}")
    ce = [k for k in _layers(unit) if unit[k].get("loss") == "ce"]
    if ce:
        for k in ce:
            opts = dict(unit[k].get("loss_opts") or {})
            unit[k].pop("loss_scale", None)
            opts["scale"] = round(1.0 - lam, 3)
            if rng.random() < 0.3:
                opts["label_smoothing"] = 0.1
            unit[k]["loss_opts"] = opts
        how.append(f"CE of {rec}/{', '.join(ce)} scaled {round(1.0 - lam, 3)}")
    terminals = [risk]
    if rng.random() < 0.3:
        best = _fresh(net, "best_hyp_errors")
        net[best] = {"class": "decide", "from": err_f, "is_output_layer": True}
        added.append(best)
        terminals.append(best)
        how.append(f"{best} = decide({err_f}), an output layer (1-best errors)")
    return terminals, "; ".join(how), added


# ----------------------------------------------------------------------------------------------------
# mwer-expected-loss


def op_mwer_expected_loss(case: Case, rng: random.Random) -> Result:
    """A root ``expected_loss`` layer on the decoder's n-best (``add_min_wer``'s ``min_wer``)."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, key = rng.choice(sites)
    kind = rng.choices(["rec", "decide", "extra", "copy", "loop"], [0.4, 0.17, 0.15, 0.1, 0.18])[0]
    how = []
    if kind == "loop":
        unit = net[rec]["unit"]
        name, lhow = _expected_loss_layer(unit, choice, key, rng)
        how = [f"in {rec}: {lhow} (moved into the loop)"]
        if rng.random() < 0.5:
            unit[name]["is_output_layer"] = True
            how.append("an output layer of the loop")
        return new, "; ".join(how)
    if kind == "rec":
        src = rec
    elif kind == "decide":
        src = _decision(net, rec)
        assert src is not None
        how.append(f"reads the decoder's decide {src}")
    elif kind == "extra":
        res = _extra_search_copy(net, rec, choice, rng)
        if res is None:
            return None
        src, ehow = res
        how.append(ehow)
    else:
        src = _fresh(net, f"{_stem(rec)}_nbest")
        net[src] = {"class": "copy", "from": rec}
        how.append(f"{src} = copy of {rec}")
    name, lhow = _expected_loss_layer(net, src, key, rng)
    how.insert(0, lhow)
    r = rng.random()
    if r < 0.15:
        net[name]["only_on_eval"] = True
        how.append("only_on_eval")
    elif r < 0.3:
        net[name]["loss_only_on_non_search"] = True
        how.append("loss_only_on_non_search")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# beam-posterior


def op_beam_posterior(case: Case, rng: random.Random) -> Result:
    """The n-best's posteriors: beam scores split by ``split_batch_beam`` and softmaxed over the beam."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, _key = rng.choice(sites)
    unit = net[rec]["unit"]
    if rng.random() < 1 / 7:
        scores = _fresh(unit, "beam_scores")
        unit[scores] = {"class": "choice_get_beam_scores", "from": choice}
        if rng.random() < 0.5:
            unit[scores]["is_output_layer"] = True
            split = _fresh(net, f"{_stem(rec)}_beam_scores_split")
            net[split] = {"class": "split_batch_beam", "from": f"{rec}/{scores}"}
            post = _fresh(net, f"{_stem(rec)}_beam_posterior")
            net[post] = {"class": "activation", "activation": "softmax", "from": split, "is_output_layer": True}
            return new, (f"in {rec}: {scores} = choice_get_beam_scores({choice}), an output layer of the loop; "
                         f"root {split} = split_batch_beam({rec}/{scores}), {post} = softmax of it, an output layer")
        split = _fresh(unit, "beam_scores_split")
        unit[split] = {"class": "split_batch_beam", "from": scores}
        post = _fresh(unit, "beam_posterior")
        unit[post] = {"class": "activation", "activation": "softmax", "from": split, "is_output_layer": True}
        how = (f"in {rec}: {scores} = choice_get_beam_scores({choice}), {split} = split_batch_beam, "
               f"{post} = softmax over the beam, an output layer of the loop")
        if rng.random() < 0.5:
            out = _fresh(net, f"{_stem(rec)}_beam_posterior")
            net[out] = {"class": "copy", "from": f"{rec}/{post}", "is_output_layer": True}
            how += f"; root {out} = copy of {rec}/{post}"
        return new, how
    kind = rng.choices(["rec", "decide", "path", "encoder"], [0.6, 0.15, 0.13, 0.12])[0]
    if kind == "rec":
        src = rec
    elif kind == "decide":
        src = _decision(net, rec)
    elif kind == "path":
        unit[choice]["is_output_layer"] = True
        src = f"{rec}/{choice}"
    else:
        src = _encoder_layer(net, rec)
        if src is None:
            return None
    assert src is not None
    post, how, added = _posterior(net, src, rng)
    use = rng.choices(["output", "best", "decide", "mmi"], [0.35, 0.25, 0.2, 0.2])[0]
    if use == "output":
        net[post]["is_output_layer"] = True
        how += f"; {post} an output layer"
    elif use == "best":
        conf = _fresh(net, "best_hyp_posterior")
        net[conf] = {"class": "reduce", "mode": "max", "axis": "F", "from": post, "is_output_layer": True}
        how += f"; {conf} = max over the beam, an output layer"
    elif use == "decide":
        dec = _fresh(net, f"{post}_decided")
        net[dec] = {"class": "decide", "from": post, "is_output_layer": True}
        how += f"; {dec} = decide({post}), an output layer"
    else:
        splits = [k for k in added if net[k].get("class") == "split_batch_beam"]
        split = splits[0]
        den = _fresh(net, "denominator_score")
        net[den] = {"class": "reduce", "mode": "logsumexp", "axes": "F", "from": split, "loss": "as_is",
                    "loss_opts": {"scale": rng.choice([0.1, 1.0])}}
        how += f"; {den} = logsumexp of {split} over the beam with an as_is loss (MMI denominator)"
    return new, how


# ----------------------------------------------------------------------------------------------------
# nbest-risk-interp


def op_nbest_risk_interp(case: Case, rng: random.Random) -> Result:
    """The expected risk by hand (edit distance of the n-best, posterior-weighted), interpolated with CE."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, _choice, key = rng.choice(sites)
    _terms, how, _added = _risk(net, net[rec]["unit"], rec, key, rng)
    return new, how


# ----------------------------------------------------------------------------------------------------
# mwer-to-recog


def op_mwer_to_recog(case: Case, rng: random.Random) -> Result:
    """A min-WER training block turned into a recognition config by one or two edits."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, key = rng.choice(sites)
    unit = net[rec]["unit"]
    before = set(_layers(net))
    loss_layer, how0 = _expected_loss_layer(net, rec, key, rng)
    how = [how0]
    terminals = [loss_layer]
    if rng.random() < 0.5:
        terms, rhow, _added = _risk(net, unit, rec, key, rng, hyp=rec)
        terminals += terms
        how.append(rhow)
    block = sorted(set(_layers(net)) - before)
    edits = ["drop-loss", "greedy", "decide-first", "only-on-eval", "search-false", "non-search", "ref-decision"]
    weights = [1.2, 1.0, 1.0, 1.0, 0.6, 0.8, 0.6]
    chosen: list[str] = []
    for _ in range(1 if rng.random() < 0.6 else 2):
        e = rng.choices(edits, weights)[0]
        if e not in chosen:
            chosen.append(e)
    done = []
    for e in chosen:
        if e == "drop-loss":
            for k in block:
                if net[k].get("loss"):
                    for opt in ("loss", "loss_opts", "loss_scale", "target"):
                        net[k].pop(opt, None)
                    net[k]["is_output_layer"] = True
            done.append("losses of the block dropped, its loss layers kept as output layers")
        elif e == "greedy":
            old = unit[choice].get("beam_size")
            unit[choice]["beam_size"] = 1
            done.append(f"{rec}/{choice} beam_size {old} -> 1")
        elif e == "decide-first":
            dec = _decision(net, rec)
            assert dec is not None
            for k in block:
                if k == dec:
                    continue
                desc = net[k]
                for opt in ("from", "a", "b"):
                    if desc.get(opt) == rec:
                        desc[opt] = dec
                    elif isinstance(desc.get(opt), list):
                        desc[opt] = [dec if s == rec else s for s in desc[opt]]
            done.append(f"the block reads {dec} (a decide of {rec}) instead of {rec}")
        elif e == "only-on-eval":
            for k in terminals:
                if k in net:
                    net[k]["only_on_eval"] = True
            done.append(f"only_on_eval on {', '.join(terminals)}")
        elif e == "search-false":
            unit[choice]["search"] = False
            done.append(f"search: False on {rec}/{choice}")
        elif e == "non-search":
            for k in block:
                if net[k].get("loss"):
                    net[k]["loss_only_on_non_search"] = True
            done.append("loss_only_on_non_search on the block's loss layers")
        else:
            errs = [k for k in block if net[k].get("class") == "edit_distance"]
            if not errs:
                continue
            dec = _decision(net, rec)
            for k in errs:
                for opt in ("a", "b"):
                    if net[k].get(opt) == f"data:{key}":
                        net[k][opt] = dec
            done.append(f"the error's reference data:{key} -> {dec}")
    if not done:
        return None
    return new, "; ".join(how) + "; recognition edit: " + "; ".join(done)


FRESH111_OPERATORS: tuple[Op, ...] = (
    Op("mwer-expected-loss", op_mwer_expected_loss, 1),
    Op("beam-posterior", op_beam_posterior, 1),
    Op("nbest-risk-interp", op_nbest_risk_interp, 1),
    Op("mwer-to-recog", op_mwer_to_recog, 1.2),
)
