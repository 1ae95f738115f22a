"""A forty-ninth set of edit operators (issue 15, twelfth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Post-processing a user puts after a searching decoder loop, at the root, on its beamed or decided outputs
and on its sub-layers read by path: a root ``subnetwork`` around the post-processing, per-label confidences
recomputed from the loop's scores, a second non-searching pass that rescores the decoded labels, edit
distances of the hypotheses and encoder-side features mixed with the decoder's (none a variant of an earlier
operator; no rule was written for any of them):

* ``post-subnet``: a root ``subnetwork`` output layer wraps post-processing of a searching decoder: it takes
  the decoder as its ``from`` (``data`` inside) or reads it through ``base:`` (no ``from``), and its
  ``output`` is a ``decide`` of it (maybe after a ``copy``), a ``decide`` of a ``linear`` embedding pooled
  over time (``reduce``), a ``decide`` of the hypotheses' ``length``, a ``decide_keep_beam`` of it (the
  decoder's root readers may read the subnetwork instead), or a still beamed pooled embedding that a root
  ``decide`` over the subnetwork (or over its inner layer by path, ``SUB/embed``) turns into an output, or
  that is left beamed as an output;
* ``label-confidence``: the probability of every decoded label, recomputed at the root: the loop's scores
  read by path (``REC/SCORES``, the loop layer marked ``is_output_layer`` or, as users forget, not),
  ``gather``-ed on the feature axis at the decoder's labels (both beamed), at the ``decide``-d labels
  from a ``decide`` of the scores (both decided), or, by mistake, at the decided labels from the beamed
  scores; then its log (``eval`` with ``safe_log``, where the scores are probabilities) ``reduce``-d over
  time (``sum``: the hypothesis' log-score; ``min``: its least confident label); the result is an output,
  or a ``decide`` of it is, or its difference to the beam scores (``choice_get_beam_scores`` of the decoder)
  is an output (or decided);
* ``lm-rescore-pass``: a second, non-searching ``rec`` over the decoded labels (the decoder itself, a
  ``decide_keep_beam`` of it or its ``decide`` as ``from``): a label LM (an embedding of ``prev:`` of
  the label, an ``LSTMBlock`` ``rnn_cell`` or a self-recurrent ``linear``, a ``log_softmax`` over the
  vocabulary) whose ``output`` is the log-probability of the frame's label (``gather`` at ``data:source``);
  summed over time (``reduce``) and added (``eval``, scaled) to the beam scores (``choice_get_beam_scores``
  of the decoder, or of the rescored source); the total is an output or ``decide``-d into one;
* ``edit-distance``: an ``edit_distance`` layer (options ``a`` / ``b``) between the hypotheses (the
  decoder, a ``decide_keep_beam`` of it, or its ``decide``) and a reference (the target data
  ``data:TARGET``, or the decision: the distance of each hypothesis to the best one), ``cast`` to float
  and maybe divided by the reference's ``length`` (an error rate, ``eval``); the result is an output,
  a ``decide`` of it is, or a ``compare`` of it with zero (an exact-match flag) is;
* ``encoder-mix``: a root output combining the decoder's side (a ``linear`` embedding of its labels, of
  its ``decide`` or ``decide_keep_beam``, or of a dense loop layer read by path ``REC/LAYER``) with an
  encoder layer the decoder reads: both pooled over time (``reduce`` mean) and the encoder projected to the
  same size, mixed by ``combine`` add, an ``eval`` product or a ``copy`` of both (a concatenation), then a
  ``linear``; or every decoder frame plus the pooled encoder (``combine`` add, broadcast over the
  decoder's time); the result is an output, or a ``decide`` of it is.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _root_ancestors,
    _root_refs,
    _searching_recs,
    _sources,
    _target_dim,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH47_SEED = 20270109
N_FRESH47 = 80

Result = "tuple[Case, str] | None"

#: root layer classes that take the time axis away (or make no sequence of the encoder)
_NO_TIME = ("reduce", "length", "get_last_hidden_state", "constant", "variable", "decide", "decide_keep_beam",
            "choice", "split_batch_beam", "choice_get_beam_scores", "choice_get_src_beams", "squeeze", "gather",
            "range_in_axis", "subnetwork", "cond", "train_flag", "edit_distance", "rec")
#: layer classes a loop can hold that give one vector per hypothesis and frame
_DENSE = ("linear", "rnn_cell", "softmax", "generic_attention", "reduce_out", "activation", "combine")


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main net (not of an ``extra...:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _stem(name: str) -> str:
    return name.split(":")[-1].replace("/", "_")


def _label_choice(unit: dict[str, Any]) -> str | None:
    """The choice whose labels are the loop's output (the ``output`` choice, or the one it copies)."""
    out = unit.get("output")
    if not isinstance(out, dict):
        return None
    name = "output"
    if out.get("class") == "copy" and len(_sources(out)) == 1 and _sources(out)[0] in unit:
        name = _sources(out)[0]
    desc = unit[name]
    if desc.get("class") != "choice" or desc.get("input_type") == "regression":
        return None
    if not isinstance(desc.get("target"), str) or desc.get("search", True) is False:
        return None
    return name


def _vocab(case: Case, unit: dict[str, Any], choice: str) -> int | None:
    dim = _target_dim(case, unit[choice].get("target"))
    if dim:
        return dim
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and isinstance(unit[srcs[0]].get("n_out"), int):
        return unit[srcs[0]]["n_out"]
    return None


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, bool] | None:
    """The loop layer a choice scores on, and whether it holds log-probabilities."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit:
        return None
    desc = unit[srcs[0]]
    act = desc.get("activation")
    it = unit[choice].get("input_type")
    if act == "softmax" or (desc.get("class") == "softmax" and act is None):
        return srcs[0], False
    if act == "log_softmax" or it == "log_prob":
        return srcs[0], True
    if it == "prob":
        return srcs[0], False
    return None


def _decision(net: dict[str, Any], rec: str) -> str:
    """A root ``decide`` of ``rec`` (an existing one, else a new one)."""
    for k in _layers(net):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    name = _fresh(net, f"{_stem(rec)}_decision")
    net[name] = {"class": "decide", "from": rec}
    return name


def _keep(net: dict[str, Any], rec: str) -> str:
    name = _fresh(net, f"{_stem(rec)}_kept_beam")
    net[name] = {"class": "decide_keep_beam", "from": rec}
    return name


def _hyps(net: dict[str, Any], rec: str, rng: random.Random, weights: tuple[float, float, float]) -> tuple[str, str]:
    """The decoder itself, a ``decide_keep_beam`` of it or its ``decide``; (layer, kind)."""
    kind = rng.choices(["beamed", "kept", "decided"], list(weights))[0]
    if kind == "beamed":
        return rec, kind
    if kind == "kept":
        return _keep(net, rec), kind
    return _decision(net, rec), kind


def _output(net: dict[str, Any], base: str, desc: dict[str, Any]) -> str:
    name = _fresh(net, base)
    desc["is_output_layer"] = True
    net[name] = desc
    return name


def _encoders(net: dict[str, Any], rec: str) -> list[str]:
    """Root sequences (with a time axis, no beam) the decoder reads, those it reads directly first."""
    beamed = _beamed_roots(net)
    timed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(net):
            desc = net[k]
            if k in timed or k in beamed or desc.get("class") in _NO_TIME or ":" in k:
                continue
            srcs = _sources(desc) if desc.get("from") is not None else ["data"]
            if not srcs:
                continue
            if all(s == "data" or s.startswith("data:") or s.split("/", 1)[0] in timed for s in srcs):
                timed.add(k)
                changed = True
    direct = sorted(_root_refs(net, rec) & timed)
    return direct or sorted(_root_ancestors(net, rec) & timed)


def _dense_loop_layers(unit: dict[str, Any]) -> list[str]:
    """Loop layers with one vector per hypothesis (no encoder time axis: not what an attention's weights
    are computed from, but for recurrent cells)."""
    att: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") in ("softmax_over_spatial", "dot"):
            att |= {k} | _frame_ancestors(unit, k)
    out = []
    for k in _layers(unit):
        cls = unit[k].get("class")
        if k in ("output", "end") or cls not in _DENSE:
            continue
        if k in att and cls != "rnn_cell":
            continue
        if any(r.startswith("base:") for r in _sources(unit[k])):
            continue
        out.append(k)
    return out


# ----------------------------------------------------------------------------------------------------


def op_post_subnet(case: Case, rng: random.Random) -> Result:
    """A root subnetwork output layer wrapping post-processing of a searching decoder."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    sub = _fresh(net, f"{_stem(rec)}_post")
    mode = rng.choice(["decide-data", "decide-base", "embed-decide", "length-decide", "beamed", "keep-beam"])
    n_out = rng.choice([4, 6, 8])
    embed = {"class": "linear", "activation": rng.choice([None, "tanh"]), "from": "data", "n_out": n_out}
    pooled = {"class": "reduce", "mode": rng.choice(["mean", "max"]), "axis": "T", "from": "embed"}
    if mode == "decide-data":
        inner: dict[str, Any] = {"decided": {"class": "decide", "from": "data"},
                                 "output": {"class": "copy", "from": "decided"}}
        if rng.random() < 0.5:
            inner = {"output": {"class": "decide", "from": "data"}}
        what = "a decide of its input"
    elif mode == "decide-base":
        inner = {"output": {"class": "decide", "from": f"base:{rec}"}}
        what = f"a decide of base:{rec}"
    elif mode == "embed-decide":
        inner = {"embed": embed, "pooled": pooled, "output": {"class": "decide", "from": "pooled"}}
        what = "a decide of a pooled embedding of its input"
    elif mode == "length-decide":
        inner = {"len": {"class": "length", "from": "data"}, "output": {"class": "decide", "from": "len"}}
        what = "a decide of the hypotheses' length"
    elif mode == "keep-beam":
        inner = {"kept": {"class": "decide_keep_beam", "from": "data"}, "output": {"class": "copy", "from": "kept"}}
        what = "a decide_keep_beam of its input"
    else:
        inner = {"embed": embed, "output": pooled}
        what = "a pooled embedding of its input (beamed)"
    desc: dict[str, Any] = {"class": "subnetwork", "from": [] if mode == "decide-base" else rec,
                            "subnetwork": inner}
    net[sub] = desc
    if mode == "beamed":
        roll = rng.random()
        if roll < 0.3:
            desc["is_output_layer"] = True
            return new, f"root output subnetwork {sub} over {rec}: {what}, left undecided"
        src = sub if roll < 0.65 else f"{sub}/embed"
        dec = _output(net, f"{sub}_decision", {"class": "decide", "from": src})
        return new, f"root subnetwork {sub} over {rec}: {what}; output {dec} decides {src}"
    if mode == "keep-beam":
        readers = [k for k in _readers(net, rec) if k != sub and rec in _sources(net[k])
                   and net[k].get("class") not in ("rec", "subnetwork")]
        if readers and rng.random() < 0.5:
            _redirect(net, readers, rec, sub)
            return new, f"{', '.join(readers)} read root subnetwork {sub} over {rec}: {what}"
    desc["is_output_layer"] = True
    return new, f"root output subnetwork {sub} over {rec}: {what}"


def op_label_confidence(case: Case, rng: random.Random) -> Result:
    """The probability of every decoded label recomputed from the loop's scores read by path."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        choice = _label_choice(unit)
        if choice is None:
            continue
        sc = _scores(unit, choice)
        if sc is not None:
            sites.append((rec, sc[0], sc[1]))
    if not sites:
        return None
    rec, scores, is_log = rng.choice(sites)
    unit = net[rec]["unit"]
    marked = rng.random() < 0.7
    if marked:
        unit[scores]["is_output_layer"] = True
    path = f"{rec}/{scores}"
    stem = _stem(rec)
    kind = rng.choices(["beamed", "decided", "mixed"], [5, 3, 2])[0]
    if kind == "beamed":
        probs, pos = path, rec
    else:
        pos = _decision(net, rec)
        if kind == "decided":
            probs = _fresh(net, f"{stem}_{scores}_decided")
            net[probs] = {"class": "decide", "from": path}
        else:
            probs = path
    conf = _fresh(net, f"{stem}_label_conf")
    net[conf] = {"class": "gather", "from": probs, "position": pos, "axis": "F"}
    value = conf
    if not is_log:
        value = _fresh(net, f"{stem}_label_log_conf")
        net[value] = {"class": "eval", "from": conf, "eval": "safe_log(source(0))"}
    mode = rng.choice(["sum", "min"])
    agg = _fresh(net, f"{stem}_hyp_conf_{mode}")
    net[agg] = {"class": "reduce", "mode": mode, "axis": "T", "from": value}
    how = (f"{conf} gathers {probs} ({path}{' marked an output' if marked else ''}) at the labels {pos}, "
           f"log, {mode} over time in {agg}")
    roll = rng.random()
    if kind == "beamed" and roll < 0.35:
        beam = _fresh(net, f"{stem}_beam_scores")
        net[beam] = {"class": "choice_get_beam_scores", "from": rec}
        gap = _fresh(net, f"{stem}_score_gap")
        net[gap] = {"class": "eval", "from": [beam, agg], "eval": "source(0) - source(1)"}
        if rng.random() < 0.5:
            net[gap]["is_output_layer"] = True
            return new, f"output {gap}: beam scores of {rec} minus {agg}; {how}"
        dec = _output(net, f"{gap}_decision", {"class": "decide", "from": gap})
        return new, f"output {dec} decides {gap}: beam scores of {rec} minus {agg}; {how}"
    if kind != "decided" and roll < 0.7:
        dec = _output(net, f"{agg}_decision", {"class": "decide", "from": agg})
        return new, f"output {dec} decides {agg}; {how}"
    net[agg]["is_output_layer"] = True
    return new, f"output {agg}; {how}"


def op_lm_rescore_pass(case: Case, rng: random.Random) -> Result:
    """A second, non-searching rec over the decoded labels scoring them with a label LM, added to the
    beam scores."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        choice = _label_choice(unit)
        if choice is not None and _vocab(case, unit, choice):
            sites.append((rec, _vocab(case, unit, choice)))
    if not sites:
        return None
    rec, vocab = rng.choice(sites)
    stem = _stem(rec)
    src, kind = _hyps(net, rec, rng, (4, 3, 3))
    emb_dim, hid = rng.choice([4, 8]), rng.choice([6, 8])
    lm_unit: dict[str, Any] = {
        "label": {"class": "copy", "from": "data:source", "initial_output": 0},
        "prev_embed": {"class": "linear", "activation": None, "with_bias": False, "from": "prev:label",
                       "n_out": emb_dim},
    }
    if rng.random() < 0.5:
        lm_unit["lm"] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": "prev_embed", "n_out": hid}
        cell = "an LSTMBlock cell"
    else:
        lm_unit["lm"] = {"class": "linear", "activation": "tanh", "from": ["prev_embed", "prev:lm"], "n_out": hid}
        cell = "a self-recurrent linear"
    lm_unit["log_prob"] = {"class": "linear", "activation": "log_softmax", "from": "lm", "n_out": vocab}
    lm_unit["output"] = {"class": "gather", "from": "log_prob", "position": "label", "axis": "F"}
    lm = _fresh(net, f"{stem}_lm_rescore")
    net[lm] = {"class": "rec", "from": src, "unit": lm_unit}
    lm_score = _fresh(net, f"{stem}_lm_score")
    net[lm_score] = {"class": "reduce", "mode": "sum", "axis": "T", "from": lm}
    score_src = rec if rng.random() < 0.7 else src
    beam = _fresh(net, f"{stem}_beam_scores")
    net[beam] = {"class": "choice_get_beam_scores", "from": score_src}
    scale = rng.choice([0.1, 0.3, 0.5])
    total = _fresh(net, f"{stem}_rescored")
    net[total] = {"class": "eval", "from": [beam, lm_score], "eval": f"source(0) + {scale} * source(1)"}
    how = (f"{lm} ({cell} label LM, log-prob of each label) loops over {src} ({kind}); {total} = beam "
           f"scores of {score_src} + {scale} * {lm_score} (its sum over time)")
    if rng.random() < 0.5:
        net[total]["is_output_layer"] = True
        return new, f"output {total}: {how}"
    dec = _output(net, f"{total}_decision", {"class": "decide", "from": total})
    return new, f"output {dec} decides {total}: {how}"


def op_edit_distance(case: Case, rng: random.Random) -> Result:
    """An edit_distance layer between the hypotheses and the target data or the decision."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        choice = _label_choice(unit)
        if choice is not None:
            sites.append((rec, unit[choice]["target"]))
    if not sites:
        return None
    rec, target = rng.choice(sites)
    stem = _stem(rec)
    hyp, kind = _hyps(net, rec, rng, (4.5, 2, 3.5))
    if kind != "decided" and rng.random() < 0.4:
        ref = _decision(net, rec)
    else:
        ref = f"data:{target}"
    dist = _fresh(net, f"{stem}_edit_dist")
    net[dist] = {"class": "edit_distance", "a": hyp, "b": ref}
    fdist = _fresh(net, f"{stem}_edit_dist_float")
    net[fdist] = {"class": "cast", "dtype": "float32", "from": dist}
    value, what = fdist, f"edit_distance of {hyp} ({kind}) to {ref}"
    if rng.random() < 0.5:
        ref_len = _fresh(net, f"{_stem(ref)}_len")
        net[ref_len] = {"class": "length", "from": ref}
        value = _fresh(net, f"{stem}_error_rate")
        net[value] = {"class": "eval", "from": [fdist, ref_len],
                      "eval": "source(0) / tf.maximum(tf.cast(source(1), tf.float32), 1.0)"}
        what += f", divided by {ref_len}"
    roll = rng.random()
    if kind != "decided" and roll < 0.35:
        dec = _output(net, f"{value}_decision", {"class": "decide", "from": value})
        return new, f"output {dec} decides {value}: {what}"
    if roll < 0.6:
        exact = _output(net, f"{stem}_exact_match", {"class": "compare", "kind": "less_equal", "from": value,
                                                    "value": 0.0})
        return new, f"output {exact}: {value} <= 0 ({what})"
    net[value]["is_output_layer"] = True
    return new, f"output {value}: {what}"


def op_encoder_mix(case: Case, rng: random.Random) -> Result:
    """A root output mixing the decoder's side with an encoder layer it reads."""
    new, net = _copy(case)
    sites = [(r, e) for r in _decoders(net) for e in _encoders(net, r)[:3]]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    stem = _stem(rec)
    unit = net[rec]["unit"]
    dense = _dense_loop_layers(unit)
    roll = rng.random()
    marked = ""
    if dense and roll < 0.3:
        inner = rng.choice(dense)
        src, kind = f"{rec}/{inner}", "beamed"
        if rng.random() < 0.6:
            unit[inner]["is_output_layer"] = True
            marked = " (marked an output)"
    else:
        src, kind = _hyps(net, rec, rng, (4, 2, 4))
    size = rng.choice([4, 6, 8])
    emb = _fresh(net, f"{_stem(src)}_mix_embed")
    net[emb] = {"class": "linear", "activation": rng.choice([None, "tanh"]), "from": src, "n_out": size}
    enc_pool = _fresh(net, f"{enc}_mix_pooled")
    net[enc_pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
    enc_proj = _fresh(net, f"{enc}_mix_proj")
    net[enc_proj] = {"class": "linear", "activation": None, "from": enc_pool, "n_out": size}
    mix = _fresh(net, f"{stem}_enc_mix")
    if rng.random() < 0.65:
        dec_pool = _fresh(net, f"{_stem(src)}_mix_pooled")
        net[dec_pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
        how = rng.choice(["add", "mul", "concat"])
        if how == "add":
            net[mix] = {"class": "combine", "kind": "add", "from": [dec_pool, enc_proj]}
        elif how == "mul":
            net[mix] = {"class": "eval", "from": [dec_pool, enc_proj], "eval": "source(0) * source(1)"}
        else:
            net[mix] = {"class": "copy", "from": [dec_pool, enc_proj]}
        out = _fresh(net, f"{mix}_out")
        net[out] = {"class": "linear", "activation": None, "from": mix, "n_out": rng.choice([2, 3])}
        what = f"{how} of {dec_pool} (pooled {emb} of {src}{marked}, {kind}) and {enc_proj} (pooled {enc})"
    else:
        net[mix] = {"class": "combine", "kind": "add", "from": [emb, enc_proj]}
        out = mix
        what = f"every frame of {emb} ({src}{marked}, {kind}) plus {enc_proj} (pooled {enc})"
    if kind != "decided" and rng.random() < 0.45:
        dec = _output(net, f"{out}_decision", {"class": "decide", "from": out})
        return new, f"output {dec} decides {out}: {what}"
    net[out]["is_output_layer"] = True
    return new, f"output {out}: {what}"


FRESH47_OPERATORS: tuple[Op, ...] = (
    Op("post-subnet", op_post_subnet, 1),
    Op("label-confidence", op_label_confidence, 1),
    Op("lm-rescore-pass", op_lm_rescore_pass, 1),
    Op("edit-distance", op_edit_distance, 1),
    Op("encoder-mix", op_encoder_mix, 1),
)
