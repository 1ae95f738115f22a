"""A hundred-and-second set of edit operators (issue 15, twenty-first session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Decoders that run differently in training and in search, edited as users do when they add training
tricks to a searching decoder: scheduled sampling written by hand (the model's own prediction of the previous
frame mixed into the label history by a coin), RETURNN's ``ChoiceLayer`` used as the sampler next to the
searching choice (``search: False`` with or without ``scheduled_sampling``), label noise / word dropout on the
label history gated by the train flag, and training-only auxiliary heads left in the loop with the options
RETURNN offers to keep them out of search (``loss_only_on_non_search``, ``only_on_eval``, ``is_output_layer``).
Sources: the installed RETURNN (``returnn/tf/layers/rec.py``: ``ChoiceLayer.__init__`` / ``transform_config_dict``
/ ``get_out_data_from_opts`` with ``search``, ``scheduled_sampling`` and its comment on how other
implementations sample from the previous logits; ``_SubnetworkRecCell._construct_template`` and
``get_output``, which collect the loop's losses only ``if eval_flag`` and skip ``loss_only_on_non_search``;
``returnn/tf/layers/base.py``: ``LayerBase.transform_config_dict`` dropping the loss of
``loss_only_on_non_search`` layers in search, ``only_on_eval`` / ``only_on_search`` / ``is_output_layer``;
``returnn/tf/layers/basic.py``: ``TrainFlagLayer``, ``SwitchLayer``, ``EvalLayer``, ``ReduceLayer`` argmax,
``DropoutLayer`` / ``concat_sources_with_opt_dropout`` with ``dropout_noise_shape`` and ``dropout_on_forward``;
``returnn/tf/network.py``: ``construct_from_dict``'s ``only_on_search`` / ``only_on_eval``), RETURNN's layer
reference (``loss_only_on_non_search``: "the loss should not be calculated during search"),
rwth-i6/returnn#161 (scheduled sampling added to the ``ChoiceLayer``), Bengio et al. (2015) "Scheduled
sampling for sequence prediction" and the TF seq2seq ``ScheduledEmbeddingTrainingHelper`` (sample from the
previous output with probability p, else feed the input), the Gumbel-max sampling trick RETURNN's
``random_sample_scale`` cites, Gal & Ghahramani (2016) / Bowman et al. (2016) word dropout on the decoder's
label input, Pereyra et al. (2017) confidence penalty as an ``as_is`` loss, and the i6_experiments
``users/zeineldeen`` configs' ``only_on_search`` layers with an ``edit_distance`` loss (none a variant of an
earlier operator; no rule was written for any of them):

* ``ss-model-feedback``: scheduled sampling written by hand with basic layers: the readers of the label
  history (the readers of ``prev:CHOICE``, or, in the RWTH set-ups' form where ``target_embed`` embeds this
  frame's ``CHOICE`` and the loop reads ``prev:target_embed``, that embedding) read a ``switch`` whose
  ``condition`` is a coin, whose ``true_from`` is the model's own prediction and whose ``false_from`` is the
  "gold" label. The prediction: ``reduce`` ``argmax`` over ``F`` of the scores (``prev:SCORES`` where the
  readers read ``prev:CHOICE``), the argmax computed in the frame and read as ``prev:PRED``, or a Gumbel-max
  sample (an ``eval`` adding Gumbel noise to the log-scores, then ``argmax``). The coin: a random draw once
  per frame (an ``eval`` of ``:i`` with ``out_type`` bool, the "teacher forcing ratio" of the PyTorch seq2seq
  tutorial), a coin gated by the train flag (``eval`` of a ``train_flag`` layer, at the root read through
  ``base:`` or in the loop: ``train_flag and uniform() < p``), the inverted train flag (the prediction fed
  back whenever not training, a user mistake: the beam's history becomes the greedy label), or a step
  curriculum (``:i >= K``). The gold label: the choice's label (what it gives back in training, the beam's
  label in search), ``data:TARGET`` read in the loop (the teacher-forcing spelling users write), or
  ``prev:`` of a loop ``copy`` of ``data:TARGET``. Targets: ``SwitchLayer`` over labels of different beams /
  frames, the prev-frame search-choice resolution of ``prev:`` layers, the loop's template construction
  over ``prev:SCORES``, and the target's availability in search (``_static_get_target_value``).
* ``sampler-choice``: RETURNN's own sampler, a second ``choice`` in the loop over the same scores with
  ``search: False`` and the searching choice's ``beam_size`` copied over (or ``beam_size`` 1), as in
  rwth-i6/returnn#161: with ``scheduled_sampling: True`` (pure sampling, ``tf.multinomial``), with a
  ``gold_mixin_prob``, with neither (the gold choice: in training it gives back the target), or
  ``scheduled_sampling: False`` with ``add_to_beam_scores: False`` (its ``from`` dropped by
  ``transform_config_dict``); the readers of the label history read the sampler instead of the searching
  choice (all of them, or one; ``prev:SAMPLER`` for ``prev:CHOICE``), or the sampler is only an output layer
  of the loop (the sampled sequence logged next to the search). Targets: ``ChoiceLayer.get_out_data_from_opts``
  (a non-searching choice takes its source's beam and marks the target used when sampling or not
  searching), the ``scheduled_sampling`` branch of ``ChoiceLayer.__init__`` and the target branch,
  ``_TemplateLayer.copy_as_prev_time_frame`` (a choice template's beam against its own ``beam_size``) and
  ``_SubnetworkRecCell``'s collection of the frame's choices.
* ``label-noise-history``: word dropout / label noise on the label history, a training-only regulariser: an
  ``eval`` on the history's label (``prev:CHOICE``, or ``CHOICE`` where the loop embeds it) that replaces
  the label by an UNK-like label or a random label with probability p, gated inside the eval by
  ``self.network.train_flag`` (no noise in search) or not gated (noise in search too);
  or the noise computed in the frame on ``CHOICE`` and read as ``prev:NOISY``; or an always-on noise selected
  by a ``switch`` on a ``train_flag`` layer; or (in embedding space) a ``dropout`` layer after the label
  embedding with ``dropout_noise_shape`` that drops whole vectors, maybe ``dropout_on_forward: True`` (the
  noise stays on in search). Targets: ``EvalLayer`` on beamed sparse labels, ``prev:`` of a layer computed
  after the frame's choice, ``SwitchLayer`` with a scalar condition, ``concat_sources_with_opt_dropout`` in
  the loop (the noise mask over the beamed batch).
* ``train-only-head``: an auxiliary training head left in the searching loop: a second ``softmax`` on the
  choice's target over a dense layer the scores read (loss ``ce`` with a ``loss_scale``), a target-conditioned
  head that also reads an embedding of ``data:TARGET`` in the loop, or a confidence penalty (a ``reduce``
  ``max`` of the scores with an ``as_is`` loss); gated with ``loss_only_on_non_search: True``, ``only_on_eval:
  True``, ``is_output_layer: True`` or nothing; sometimes the head also feeds the search (the choice chooses
  over the average of the scores and the head's distribution, an ensemble of both heads), or is read at the
  root through ``REC/HEAD`` by a ``copy`` output layer (a dump of the head for distillation), with or without
  ``is_output_layer`` on the head, or by an ``only_on_search`` ``copy`` with an ``edit_distance`` loss over the
  decoder's output (as the ``users/zeineldeen`` configs of rwth-i6/i6_experiments write it). Targets:
  ``_SubnetworkRecCell._construct_template`` (losses collected ``if eval_flag``), ``get_output``'s
  ``layer_names_with_losses`` (``loss_only_on_non_search`` skipped), ``LayerBase.transform_config_dict``,
  the loss's target under a beam, and the root's access to loop sub-layers (``RecLayer.get_sub_layer``; a
  loop layer that is no output layer is not kept).
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
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH100_SEED = 20270162
N_FRESH100 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# helpers


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Loop choices over labels of a data key (not regressions)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, bool] | None:
    """(the loop layer a choice scores, whether its values are probabilities) for a one-source choice with
    ``input_type`` prob / log_prob."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind == "prob"


def _prev_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Loop layers (not ``end``, not choices) with ``prev:CHOICE`` in their ``from``."""
    ref = f"prev:{choice}"
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") != "choice"
            and ref in _sources(unit[k])]


def _history(unit: dict[str, Any], choice: str) -> tuple[str, list[str]] | None:
    """Where the loop reads its label history: (the label reference, its readers). Either the readers of
    ``prev:CHOICE``, or (the form of the RWTH set-ups: ``target_embed`` reads ``CHOICE`` and the loop reads
    ``prev:target_embed``) the embeddings (``linear``) of this frame's ``CHOICE``."""
    readers = _prev_readers(unit, choice)
    if readers:
        return f"prev:{choice}", readers
    embeds = [k for k in _layers(unit) if k != "end" and unit[k].get("class") in ("linear", "embedding")
              and choice in _sources(unit[k])]
    return (choice, embeds) if embeds else None


def _replace_source(desc: dict[str, Any], old: str, new: str) -> None:
    value = desc.get("from")
    if value == old:
        desc["from"] = new
    elif isinstance(value, list):
        desc["from"] = [new if v == old else v for v in value]


def _sites(net: dict[str, Any], *, readers: bool, scores: bool) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            if readers and _history(unit, c) is None:
                continue
            if scores and _scores(unit, c) is None:
                continue
            out.append((rec, c))
    return out


def _train_flag_ref(net: dict[str, Any], unit: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """A ``train_flag`` layer, at the root (read through ``base:``) or in the loop: (its reference, how)."""
    if rng.random() < 0.6:
        name = next((k for k in _layers(net) if net[k].get("class") == "train_flag"), None)
        if name is None:
            name = _fresh(net, "train_flag")
            net[name] = {"class": "train_flag"}
        return f"base:{name}", f"root {name} (train_flag) read as base:{name}"
    name = _fresh(unit, "train_flag")
    unit[name] = {"class": "train_flag"}
    return name, f"loop {name} (train_flag)"


def _initial(unit: dict[str, Any], choice: str) -> Any:
    init = unit[choice].get("initial_output", 0)
    return init if isinstance(init, (int, str)) else 0


# ----------------------------------------------------------------------------------------------------
# ss-model-feedback


def op_ss_model_feedback(case: Case, rng: random.Random) -> Result:
    """Scheduled sampling by hand: the label history is a coin's switch between the model's prediction
    and the gold label."""
    new, net = _copy(case)
    sites = _sites(net, readers=True, scores=True)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    scores, is_prob = _scores(unit, choice)
    label, readers = _history(unit, choice)
    prev = label.startswith("prev:")
    if len(readers) > 1 and rng.random() < 0.3:
        readers = [rng.choice(readers)]

    # the model's prediction of the label the readers read (the previous frame's where they read prev:)
    pkind = rng.choices(["argmax", "argmax-frame", "gumbel"], [0.5, 0.35 if prev else 0.0, 0.15])[0]
    pred = _fresh(unit, f"{choice}_pred")
    src = f"prev:{scores}" if prev else scores
    if pkind == "argmax":
        unit[pred] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": src}
        pred_ref = pred
        phow = f"{pred} = argmax({src})"
    elif pkind == "argmax-frame":
        unit[pred] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": scores,
                      "initial_output": _initial(unit, choice)}
        pred_ref = f"prev:{pred}"
        phow = f"{pred} = argmax({scores}) in the frame, read as prev:{pred}"
    else:
        noisy = _fresh(unit, f"{scores}_gumbel")
        logs = "tf.math.log(source(0) + 1e-8)" if is_prob else "source(0)"
        unit[noisy] = {"class": "eval", "from": src,
                       "eval": f"{logs} - tf.math.log(-tf.math.log("
                               "tf.random.uniform(tf.shape(source(0)), 1e-6, 1.)))"}
        unit[pred] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": noisy}
        pred_ref = pred
        phow = f"{pred} = argmax({noisy}), {noisy} = log {src} + Gumbel noise (a sample)"

    # the coin: True = feed back the prediction
    ckind = rng.choices(["random", "train-coin", "not-train", "step"], [0.3, 0.35, 0.15, 0.2])[0]
    coin = _fresh(unit, "use_pred")
    p = rng.choice([0.1, 0.25, 0.5])
    if ckind == "random":
        unit[coin] = {"class": "eval", "from": ":i", "eval": f"tf.less(tf.random.uniform(()), {p})",
                      "out_type": {"dtype": "bool"}}
        chow = f"{coin} = uniform() < {p} drawn once per frame"
    elif ckind in ("train-coin", "not-train"):
        flag, fhow = _train_flag_ref(net, unit, rng)
        if ckind == "train-coin":
            unit[coin] = {"class": "eval", "from": flag,
                          "eval": f"tf.logical_and(source(0), tf.less(tf.random.uniform(()), {p}))"}
            chow = f"{coin} = train_flag and uniform() < {p} ({fhow})"
        else:
            unit[coin] = {"class": "eval", "from": flag, "eval": "tf.logical_not(source(0))"}
            chow = f"{coin} = not train_flag ({fhow}): the prediction is fed back in search"
    else:
        k = rng.choice([1, 2, 3, 5])
        unit[coin] = {"class": "compare", "kind": "greater_equal", "from": ":i", "value": k}
        chow = f"{coin} = :i >= {k} (curriculum)"

    # the gold label
    gkind = rng.choices(["choice", "data", "prev-gold"], [0.7, 0.15, 0.15 if prev else 0.0])[0]
    if gkind == "choice" or target is None:
        gold = label
    elif gkind == "data":
        gold = f"data:{target}"
    else:
        g = _fresh(unit, f"{target}_gold")
        unit[g] = {"class": "copy", "from": f"data:{target}", "initial_output": _initial(unit, choice)}
        gold = f"prev:{g}"
    fb = _fresh(unit, f"{choice}_fed_back")
    unit[fb] = {"class": "switch", "condition": coin, "true_from": pred_ref, "false_from": gold}
    for k in readers:
        _replace_source(unit[k], label, fb)
    return new, (f"{rec}: scheduled sampling by hand: {fb} = switch({coin}, {pred_ref}, {gold}); {phow}; {chow}; "
                 f"{', '.join(readers)} read {fb} instead of {label}")


# ----------------------------------------------------------------------------------------------------
# sampler-choice


def op_sampler_choice(case: Case, rng: random.Random) -> Result:
    """A second, non-searching ``choice`` over the same scores samples (or gives back the gold label) and
    feeds the label history, next to the searching choice."""
    new, net = _copy(case)
    sites = _sites(net, readers=False, scores=True)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, is_prob = _scores(unit, choice)
    sampler = _fresh(unit, f"{choice}_sampled")
    beam = unit[choice].get("beam_size", 12) if rng.random() < 0.6 else 1
    desc: dict[str, Any] = {"class": "choice", "from": scores, "target": unit[choice]["target"],
                            "beam_size": beam, "search": False, "initial_output": _initial(unit, choice)}
    if not is_prob:
        desc["input_type"] = "log_prob"
    kind = rng.choices(["sample", "mixin", "gold", "off"], [0.35, 0.3, 0.2, 0.15])[0]
    if kind == "sample":
        desc["scheduled_sampling"] = True
        how = "scheduled_sampling: True (samples)"
    elif kind == "mixin":
        p = rng.choice([0.1, 0.3, 0.5, 0.9])
        desc["scheduled_sampling"] = {"gold_mixin_prob": p}
        how = f"scheduled_sampling with gold_mixin_prob {p}"
    elif kind == "gold":
        how = "no scheduled_sampling (gives back the target)"
    else:
        desc["scheduled_sampling"] = False
        desc["add_to_beam_scores"] = False
        how = "scheduled_sampling: False and add_to_beam_scores: False"
    unit[sampler] = desc
    hist = _history(unit, choice)
    mode = rng.choices(["all", "one", "output"], [0.55, 0.2, 0.25])[0] if hist else "output"
    if mode == "output":
        desc["is_output_layer"] = True
        feed = "only an output layer of the loop"
    else:
        label, readers = hist
        ref = f"prev:{sampler}" if label.startswith("prev:") else sampler
        if mode == "one":
            readers = [rng.choice(readers)]
        for k in readers:
            _replace_source(unit[k], label, ref)
        feed = f"{', '.join(readers)} read {ref} instead of {label}"
    return new, (f"{rec}: add sampler {sampler} = choice over {scores} (search: False, beam {beam}, {how}) "
                 f"next to {choice}; {feed}")


# ----------------------------------------------------------------------------------------------------
# label-noise-history


def _noise_eval(dim: int, rng: random.Random) -> tuple[str, str]:
    """An eval string that replaces a label with probability p: (eval, how)."""
    p = rng.choice([0.05, 0.1, 0.2])
    if rng.random() < 0.5:
        unk = rng.choice([0, 1, dim - 1])
        repl = f"tf.zeros_like(source(0)) + {unk}"
        what = f"label {unk}"
    else:
        repl = f"tf.random.uniform(tf.shape(source(0)), maxval={dim}, dtype=source(0).dtype)"
        what = "a random label"
    gate = rng.random() < 0.6
    draw = f"tf.less(tf.random.uniform(tf.shape(source(0))), {p})"
    if gate:
        draw = f"tf.logical_and(tf.convert_to_tensor(self.network.train_flag), {draw})"
    return (f"tf.where({draw}, {repl}, source(0))",
            f"with p {p} by {what}" + (", only when self.network.train_flag" if gate else ", not gated"))


def op_label_noise_history(case: Case, rng: random.Random) -> Result:
    """Word dropout / label noise on the fed-back label, gated (or not) by the train flag."""
    new, net = _copy(case)
    sites = _sites(net, readers=True, scores=False)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    dim = _target_dim(case, _data_target(unit[choice]))
    if not isinstance(dim, int) or dim < 2:
        return None
    label, readers = _history(unit, choice)
    prev = label.startswith("prev:")
    kind = rng.choices(["eval", "eval-after", "switch-flag", "emb-dropout"],
                       [0.3, 0.25 if prev else 0.0, 0.2, 0.25])[0]
    if kind == "emb-dropout":
        embeds = [k for k in readers if unit[k].get("class") in ("linear", "embedding")]
        if not embeds:
            kind = "eval"
        else:
            emb = rng.choice(embeds)
            p = rng.choice([0.1, 0.2, 0.3])
            drop = _fresh(unit, f"{emb}_word_drop")
            unit[drop] = {"class": "dropout", "from": emb, "dropout": p,
                          "dropout_noise_shape": {"*": None, "F": 1}}
            how = f"{drop} = dropout({emb}, {p}) of whole vectors"
            if rng.random() < 0.35:
                unit[drop]["dropout_on_forward"] = True
                how += ", dropout_on_forward: True (also in search)"
            users = [k for k in _layers(unit) if k not in (drop, emb)
                     and (emb in _sources(unit[k]) or f"prev:{emb}" in _sources(unit[k]))]
            if not users:
                return None
            for k in users:
                _replace_source(unit[k], emb, drop)
                _replace_source(unit[k], f"prev:{emb}", f"prev:{drop}")
            return new, f"{rec}: word dropout on the label embedding: {how}; {', '.join(users)} read it"
    expr, how = _noise_eval(dim, rng)
    noisy = _fresh(unit, f"{choice}_noisy")
    if kind == "eval":
        unit[noisy] = {"class": "eval", "from": label, "eval": expr}
        ref = noisy
        how = f"{noisy} = eval({label}) replacing the label {how}"
    elif kind == "eval-after":
        unit[noisy] = {"class": "eval", "from": choice, "eval": expr, "initial_output": _initial(unit, choice)}
        ref = f"prev:{noisy}"
        how = f"{noisy} = eval({choice}) in the frame replacing the label {how}, read as prev:{noisy}"
    else:
        expr = expr.replace("tf.logical_and(tf.convert_to_tensor(self.network.train_flag), ", "(")
        unit[noisy] = {"class": "eval", "from": label, "eval": expr}
        flag, fhow = _train_flag_ref(net, unit, rng)
        sel = _fresh(unit, f"{choice}_hist")
        unit[sel] = {"class": "switch", "condition": flag, "true_from": noisy, "false_from": label}
        ref = sel
        how = f"{sel} = switch({flag}, {noisy}, {label}) ({fhow}), {noisy} always noised"
    if len(readers) > 1 and rng.random() < 0.3:
        readers = [rng.choice(readers)]
    for k in readers:
        _replace_source(unit[k], label, ref)
    return new, f"{rec}: label noise on the history: {how}; {', '.join(readers)} read {ref}"


# ----------------------------------------------------------------------------------------------------
# train-only-head


def op_train_only_head(case: Case, rng: random.Random) -> Result:
    """A training-only auxiliary head left in the searching loop, gated (or not) for search, maybe feeding
    the search or read at the root."""
    new, net = _copy(case)
    sites = _sites(net, readers=False, scores=True)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    scores, is_prob = _scores(unit, choice)
    feeders = [s for s in _sources(unit[scores]) if s in unit and isinstance(unit[s], dict)
               and unit[s].get("class") != "choice"]
    x = rng.choice(feeders) if feeders else scores
    head = _fresh(unit, f"{choice}_aux")
    kind = rng.choices(["softmax", "gold-cond", "conf-penalty"], [0.45, 0.3, 0.25])[0]
    if kind == "softmax":
        unit[head] = {"class": "softmax", "from": x, "target": unit[choice]["target"], "loss": "ce",
                      "loss_scale": rng.choice([0.1, 0.3, 0.5])}
        how = f"{head} = softmax({x}) with loss ce on {target}"
    elif kind == "gold-cond":
        emb = _fresh(unit, f"{target}_gold_embed")
        unit[emb] = {"class": "linear", "activation": None, "from": f"data:{target}", "n_out": 4}
        unit[head] = {"class": "softmax", "from": [x, emb], "target": unit[choice]["target"], "loss": "ce",
                      "loss_scale": rng.choice([0.1, 0.3])}
        how = f"{head} = softmax({x}, {emb} = embedding of data:{target}) with loss ce on {target}"
    else:
        unit[head] = {"class": "reduce", "mode": "max", "axes": "F", "from": scores, "loss": "as_is",
                      "loss_scale": rng.choice([0.05, 0.1])}
        how = f"{head} = max over F of {scores} with loss as_is (confidence penalty)"
    gate = rng.choices(["none", "non-search", "eval", "output"], [0.25, 0.35, 0.2, 0.2])[0]
    if gate == "non-search":
        unit[head]["loss_only_on_non_search"] = True
        how += ", loss_only_on_non_search: True"
    elif gate == "eval":
        unit[head]["only_on_eval"] = True
        how += ", only_on_eval: True"
    elif gate == "output":
        unit[head]["is_output_layer"] = True
        how += ", is_output_layer: True"
    use = rng.choices(["none", "ensemble", "root", "root-edit"], [0.4, 0.25, 0.25, 0.1])[0]
    if use == "ensemble" and kind != "conf-penalty":
        mix = _fresh(unit, f"{scores}_ens")
        if is_prob:
            unit[mix] = {"class": "combine", "kind": "average", "from": [scores, head]}
        else:
            unit[mix] = {"class": "eval", "from": [scores, head],
                         "eval": "0.5 * source(0) + 0.5 * safe_log(source(1))"}
        unit[choice]["from"] = mix
        how += f"; {choice} chooses over {mix} (average of {scores} and {head})"
    elif use in ("root", "root-edit") or (use == "ensemble"):
        if use == "root-edit" and target is not None:
            out = _fresh(net, f"{rec}_edit_distance")
            net[out] = {"class": "copy", "from": rec, "only_on_search": True, "loss": "edit_distance",
                        "target": target}
            how += f"; root {out} = only_on_search copy of {rec} with loss edit_distance"
        else:
            out = _fresh(net, f"{rec}_{head}")
            net[out] = {"class": "copy", "from": f"{rec}/{head}", "is_output_layer": True}
            how += f"; root {out} = copy of {rec}/{head}, an output layer"
            if gate != "output" and rng.random() < 0.5:
                unit[head]["is_output_layer"] = True
                how += f" ({head} also is_output_layer)"
    return new, f"{rec}: training-only head {how}"


FRESH100_OPERATORS: tuple[Op, ...] = (
    Op("ss-model-feedback", op_ss_model_feedback, 1.2),
    Op("sampler-choice", op_sampler_choice, 1),
    Op("label-noise-history", op_label_noise_history, 0.8),
    Op("train-only-head", op_train_only_head, 1),
)
