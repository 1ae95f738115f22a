"""A hundred-and-fifteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Diverse beam search and beam-level score manipulation written inside searching decoders: penalising
hypotheses that share a parent (sibling / rank penalties: the hypothesis's rank in the beam from
``choice_get_src_beams`` or a ``range`` over the beam), grouped beams (two choices of one frame with their own
beam sizes, a second group penalised by what the first chose: Hamming diversity), scores renormalised over the
beam (``choice_get_beam_scores`` per frame in the loop), beam-wise statistics fed back into the next frame
through ``prev:``. Not beam-size tuning (an earlier set) and not n-best export after the loop (an earlier set).
Sources: ``ChoiceLayer``, ``ChoiceGetSrcBeamsLayer``, ``ChoiceGetBeamScoresLayer`` and ``SearchChoices`` in the
installed ``returnn/tf/layers/{rec,base}.py`` (``choice_get_src_beams`` / ``choice_get_beam_scores`` inside the
rec unit as RETURNN's own ``test_search_multi_choice`` writes them), diverse beam search (Vijayakumar et al.
2016, Li et al. 2016 sibling penalty) as users port it to RETURNN, and the RETURNN threads on working on the beam
inside the loop (rwth-i6/returnn#714 "More modular alternative to ChoiceLayer": "we have to operate on the beam
dimension to some degree"; rwth-i6/returnn#212 on several choices of one frame with different in- and outgoing
beam sizes). The beam size K that an ``eval`` reshapes by (``[-1, K]``) is the choice's ``beam_size``, written
into the expression as users do. None is a variant of an earlier operator; no rule was written for any of them.

* ``sibling-rank-penalty``: a sibling / rank penalty on the scores a label choice ranks (the choice then reads
  ``SCORES_div``, an ``eval`` of the scores and a penalty: ``source(0) - g * source(1)`` of log-probabilities,
  ``source(0) * exp(-g * source(1))`` of probabilities). The penalty: the hypothesis's sibling rank (how many
  hypotheses earlier in its beam share its parent) from ``choice_get_src_beams`` of this frame's choice, carried
  to the next frame through ``prev:``; the same computed in the frame from ``choice_get_src_beams`` of
  ``prev:CHOICE``; the parent's own index (the src beam itself, through ``prev:``); the hypothesis's rank in the
  beam (an ``eval`` ``range`` over the batch-beam axis, modulo K, of ``prev:CHOICE`` or of ``CHOICE`` read through
  ``prev:``); or Li et al.'s intra-sibling rank of each label in its parent's distribution (``argsort`` twice,
  no beam layer). The rank layer is now and then also an output layer of the loop. Targets:
  ``ChoiceGetSrcBeamsLayer.__init__`` (its source's ``get_search_choices()``, ``beam_size ==
  self.output.beam.beam_size``), the prev-frame choice resolution of ``_TemplateLayer.get_search_choices``, and
  ``SearchChoices.translate_to_common_search_beam`` of the penalised scores before ``ChoiceLayer``.
* ``hamming-diverse-groups``: two beam groups in one frame (Vijayakumar et al.'s diverse beam search with G = 2):
  a second choice ``CHOICE_g2`` (same target, a beam size of its own: the first's, half of it, 1, or two more)
  over the scores penalised by what the first group chose this frame (Hamming diversity): ``- lam *
  one_hot(CHOICE)`` per hypothesis, or ``- lam *`` the label counts of the whole first group's beam (a
  ``reshape`` to ``[-1, K, V]``, summed over the beam and tiled back), in log space (the second choice takes
  ``log_prob``) or as a factor on probabilities. The second group's labels are an output layer of the loop; or
  fed back (a reader of ``prev:CHOICE`` reads ``prev:CHOICE_g2`` instead, or an embedding of ``prev:CHOICE_g2``
  is an extra source of a dense layer that reads the label history), and then (three times in ten) the ``end``
  is taken on the second group; or the second group becomes the loop's label output: it takes the first
  choice's name (the first is renamed ``CHOICE_g1``), with the label history and the ``end`` following the
  first group (renamed references) or the second (references kept). Targets: ``ChoiceLayer.__init__`` with a
  beamed source of the frame's own choice (``beam_in`` of the base search choices),
  ``_SubnetworkRecCell._opt_search_resolve`` (the latest choice's beam size against the output choice,
  rwth-i6/returnn#212), the end layer's choice in the frame's choice sequence.
* ``beam-score-renorm``: the beam's accumulated scores read per frame in the loop (``choice_get_beam_scores``
  of the choice, of ``prev:CHOICE``, or, as a user confusing the two, of the scores layer) and renormalised over
  the beam (log-softmax over the K hypotheses, the gap to the beam's best, or the hypothesis posterior
  ``exp`` of the log-softmax); the result an output layer of the loop (inspection), added to the next frame's
  scores (``prev:`` of it, or the renormalised scores of ``prev:CHOICE`` read in the frame), or an extra
  feature (``expand_dims`` on ``F``) of a dense layer of the frame. Targets: ``ChoiceGetBeamScoresLayer.__init__``
  (``source has no search choices``, the beam-size assertion), ``SearchChoices.beam_scores`` of a prev-frame
  choice, ``select_if_needed`` of the renormalised value in the scores' ``eval``.
* ``beam-stat-feedback``: a beam-wise statistic computed over the K hypotheses of the frame and fed back into the
  next frame through ``prev:``: the beam mean of a dense state on the scores' path (a ``reshape`` to ``[-1, K,
  F]``, ``reduce_mean`` over the beam, tiled back; or the state minus that mean, a diversity feature), an extra
  source of a layer that reads the state's previous frame (or of the state itself); the number of other
  hypotheses in the beam that chose the same label (from the choice), subtracted from the next frame's scores;
  or the beam's mean output distribution (a consensus), subtracted from the next frame's scores. A fifth of the
  time the state mean or the label count is read in the same frame instead (no ``prev:``; the label count then
  of ``prev:CHOICE``). Labels and beam indices go through a ``cast`` to float32 before an ``eval`` counts them.
  Targets: the ``prev:`` beam translation of ``_SubnetworkRecCell`` (``maybe_transform``, ``select_src_beams``
  of a layer whose value mixes hypotheses), ``SearchChoices.translate_to_common_search_beam`` of the readers.
"""

from __future__ import annotations

import random
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
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH113_SEED = 20270175
N_FRESH113 = 80

Result = "tuple[Case, str] | None"

_DENSE = ("linear", "rnn_cell", "softmax", "rec", "combine", "activation", "copy")


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a one-source choice ranks, its input_type ``prob`` / ``log_prob``)."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _beam(desc: dict[str, Any]) -> int | None:
    size = desc.get("beam_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, str, int, int]]:
    """(rec, choice, scores, input_type, beam size, vocabulary size) of every label choice of a searching
    loop with a one-source prob / log_prob input, a beam size and a known vocabulary."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            desc = unit[choice]
            if desc.get("input_type") == "regression" or desc.get("search", True) is False:
                continue
            target = _data_target(desc)
            got = _scores(unit, choice)
            beam = _beam(desc)
            dim = _target_dim(case, target) if target else None
            if got is None or beam is None or not isinstance(dim, int):
                continue
            out.append((rec, choice, got[0], got[1], beam, dim))
    return out


def _set_source(desc: dict[str, Any], old: str, new: str) -> None:
    """Replace the source ``old`` of a layer by ``new``, keeping the list / string form."""
    value = desc.get("from")
    if value == old:
        desc["from"] = new
    elif isinstance(value, list):
        desc["from"] = [new if v == old else v for v in value]


def _as_float(unit: dict[str, Any], ref: str) -> str:
    """A new ``cast`` to float32 of ``ref`` (labels, beam indices) in the unit; its name."""
    name = _fresh(unit, f"{ref.replace('prev:', 'prev_')}_float")
    unit[name] = {"class": "cast", "from": ref, "dtype": "float32"}
    return name


def _label_fed(unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer reads labels (a choice of the unit, this frame's or ``prev:``, or a data key):
    a dense extra source would be concatenated with sparse input."""
    for ref in _sources(unit[name]):
        head = ref.removeprefix("prev:")
        if ref.startswith(("data:", "base:data:")) or (
                head in unit and isinstance(unit[head], dict) and unit[head].get("class") == "choice"):
            return True
    return False


def _penalised(kind: str, g: float) -> str:
    """An ``eval`` that takes a penalty (source 1) off scores (source 0) of the given input_type."""
    if kind == "log_prob":
        return f"source(0) - {g} * tf.cast(source(1), tf.float32)"
    return f"source(0) * tf.exp(-{g} * tf.cast(source(1), tf.float32))"


# ----------------------------------------------------------------------------------------------------
# sibling-rank-penalty


def _sib_rank_expr(k: int) -> str:
    """Per hypothesis: how many hypotheses earlier in its beam (of size k) have the same parent."""
    return (f"(lambda b: tf.reshape(tf.reduce_sum(tf.cast(tf.equal(b[:, :, None], b[:, None, :]), tf.float32)"
            f" * (tf.linalg.band_part(tf.ones([{k}, {k}]), -1, 0) - tf.eye({k}))[None], axis=2),"
            f" tf.shape(source(0))))(tf.reshape(source(0), [-1, {k}]))")


def op_sibling_rank_penalty(case: Case, rng: random.Random) -> Result:
    """A sibling / beam-rank penalty on the scores a label choice ranks."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, k, _dim = rng.choice(sites)
    unit = net[rec]["unit"]
    g = rng.choice([0.5, 1.0, 2.0])
    form = rng.choices(["parent", "parent-prev", "parent-index", "beam-rank", "label-rank"],
                       [3, 2, 1.5, 2, 1])[0]
    rank = None
    if form == "label-rank":
        div = _fresh(unit, f"{scores}_div")
        ranks = "tf.cast(tf.argsort(tf.argsort(-source(0), axis=-1), axis=-1), tf.float32)"
        if kind == "log_prob":
            expr = f"source(0) - {g} * {ranks}"
        else:
            expr = f"source(0) * tf.exp(-{g} * {ranks})"
        unit[div] = {"class": "eval", "from": scores, "eval": expr}
        _set_source(unit[choice], scores, div)
        return new, (f"{rec}: {choice} chooses over {div} = {scores} with -{g} * (rank of each label in its "
                     f"parent's distribution, argsort twice) ({kind}; Li et al. intra-sibling penalty)")
    if form in ("parent", "parent-prev", "parent-index"):
        src_beams = _fresh(unit, f"{choice}_src_beams")
        from_ = f"prev:{choice}" if form == "parent-prev" else choice
        unit[src_beams] = {"class": "choice_get_src_beams", "from": from_}
        if form == "parent-index":
            rank = src_beams
            read = f"prev:{src_beams}"
            how = f"{src_beams} = choice_get_src_beams({from_}) (the parent's index), read as {read}"
        else:
            rank = _fresh(unit, f"{choice}_sib_rank")
            unit[rank] = {"class": "eval", "from": _as_float(unit, src_beams), "eval": _sib_rank_expr(k)}
            read = rank if form == "parent-prev" else f"prev:{rank}"
            how = (f"{src_beams} = choice_get_src_beams({from_}), {rank} = earlier hypotheses of the beam "
                   f"(K={k}) with the same parent, read as {read}")
    else:
        rank = _fresh(unit, f"{choice}_beam_rank")
        this_frame = rng.random() < 0.5
        from_ = f"prev:{choice}" if this_frame else choice
        unit[rank] = {"class": "eval", "from": _as_float(unit, from_),
                      "eval": f"tf.cast(tf.math.floormod(tf.range(tf.shape(source(0))[0]), {k}), tf.float32)"}
        read = rank if this_frame else f"prev:{rank}"
        how = f"{rank} = range over the batch-beam axis of {from_} mod {k} (the hypothesis's rank), read as {read}"
    div = _fresh(unit, f"{scores}_div")
    unit[div] = {"class": "eval", "from": [scores, read], "eval": _penalised(kind, g)}
    _set_source(unit[choice], scores, div)
    how += f"; {choice} chooses over {div} = {scores} penalised by {g} * {read} ({kind})"
    if rng.random() < 0.25:
        unit[rank]["is_output_layer"] = True
        how += f"; {rank} an output layer of the loop"
    return new, f"{rec}: {how}"


# ----------------------------------------------------------------------------------------------------
# hamming-diverse-groups


def op_hamming_diverse_groups(case: Case, rng: random.Random) -> Result:
    """A second beam group in the frame, its scores penalised by what the first group chose."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, k, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    lam = rng.choice([0.5, 1.0, 3.0])
    k2 = rng.choices([k, max(1, k // 2), 1, k + 2], [3, 3, 1.5, 1])[0]
    whole_beam = rng.random() < 0.45
    hot = f"tf.one_hot(source(1, auto_convert=False), {dim})"
    if whole_beam:
        count = (f"tf.reshape(tf.tile(tf.reduce_sum(tf.reshape({hot}, [-1, {k}, {dim}]), axis=1, keepdims=True),"
                 f" [1, {k}, 1]), [-1, {dim}])")
        what = f"label counts of the whole first group's beam (K={k})"
    else:
        count = hot
        what = f"one_hot({choice})"
    log_space = kind == "log_prob" or rng.random() < 0.5
    if kind == "log_prob":
        expr = f"source(0) - {lam} * {count}"
    elif log_space:
        expr = f"safe_log(source(0)) - {lam} * {count}"
    else:
        expr = f"source(0) * tf.exp(-{lam} * {count})"
    pen = _fresh(unit, f"{scores}_g2")
    unit[pen] = {"class": "eval", "from": [scores, choice], "eval": expr,
                 "out_type": {"dtype": "float32", "sparse": False, "dim": dim}}
    g2 = _fresh(unit, f"{choice}_g2")
    desc = {"class": "choice", "from": pen, "target": unit[choice]["target"], "beam_size": k2,
            "input_type": "log_prob" if log_space else "prob", "initial_output": 0}
    unit[g2] = desc
    how = (f"{rec}: second group {g2} (beam {k2}, first group {k}) chooses over {pen} = {scores} "
           f"{'- ' if log_space else '* exp(-'}{lam} * {what}{'' if log_space else ')'}")
    readers = [r for r in _readers(unit, choice, f"prev:{choice}") if r not in ("end", g2, pen)
               and unit[r].get("class") != "choice"]
    mode = rng.choices(["output", "redirect", "embed", "final"], [1, 0.7, 0.7, 1.3])[0]
    if mode == "final":
        # the second group becomes the loop's label output: it takes the first choice's name
        g1 = _fresh(unit, f"{choice}_g1")
        unit[g1] = unit.pop(choice)
        del unit[g2]
        unit[choice] = desc
        unit[pen]["from"] = [scores, g1]
        g2 = choice
        if rng.random() < 0.5:
            for name in _layers(unit):
                if name not in (choice, pen):
                    _map_refs(unit[name], lambda r: {choice: g1, f"prev:{choice}": f"prev:{g1}"}.get(r, r))
            history = f"the label history and the end read the first group, renamed {g1}"
        else:
            history = f"the label history and the end read the second group (named {choice}), the first is {g1}"
        return new, how.replace(f"{choice}_g2", choice).replace(f"one_hot({choice})", f"one_hot({g1})") + (
            f"; {history}")
    if mode == "redirect" and readers:
        reader = rng.choice(readers)
        _set_source(unit[reader], f"prev:{choice}", f"prev:{g2}")
        how += f"; {reader} reads prev:{g2} instead of prev:{choice}"
    elif mode == "embed" and readers:
        reader = rng.choice(readers)
        users = [u for u in _readers(unit, reader) if unit[u].get("class") in _DENSE and u != "end"
                 and not _label_fed(unit, u)]
        if not users:
            return None
        emb = _fresh(unit, f"{g2}_embed")
        n_out = unit[reader].get("n_out")
        unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{g2}",
                     "n_out": n_out if isinstance(n_out, int) else 4}
        user = rng.choice(users)
        _add_source(unit[user], emb)
        how += f"; {emb} (embedding of prev:{g2}) an extra source of {user}"
    else:
        desc["is_output_layer"] = True
        how += f"; {g2} an output layer of the loop"
    end = unit.get("end")
    if isinstance(end, dict) and choice in _sources(end) and rng.random() < 0.3:
        _set_source(end, choice, g2)
        how += f"; the end is taken on {g2}"
    return new, how


# ----------------------------------------------------------------------------------------------------
# beam-score-renorm


def _renorm_expr(how: str, k: int) -> str:
    inner = {
        "logsoftmax": "s - tf.reduce_logsumexp(s, axis=1, keepdims=True)",
        "gap": "s - tf.reduce_max(s, axis=1, keepdims=True)",
        "posterior": "tf.exp(s - tf.reduce_logsumexp(s, axis=1, keepdims=True))",
    }[how]
    return f"(lambda s: tf.reshape({inner}, tf.shape(source(0))))(tf.reshape(source(0), [-1, {k}]))"


def op_beam_score_renorm(case: Case, rng: random.Random) -> Result:
    """The beam's accumulated scores read in the loop and renormalised over the beam."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, k, _dim = rng.choice(sites)
    unit = net[rec]["unit"]
    src_kind = rng.choices(["choice", "prev", "scores"], [5, 3, 1])[0]
    from_ = {"choice": choice, "prev": f"prev:{choice}", "scores": scores}[src_kind]
    bs = _fresh(unit, f"{choice}_beam_scores")
    unit[bs] = {"class": "choice_get_beam_scores", "from": from_}
    norm = rng.choice(["logsoftmax", "gap", "posterior"])
    post = _fresh(unit, f"{choice}_beam_{norm}")
    unit[post] = {"class": "eval", "from": bs, "eval": _renorm_expr(norm, k)}
    how = f"{rec}: {bs} = choice_get_beam_scores({from_}), {post} = its {norm} over the beam (K={k})"
    # what the frame can read: the value of this frame's choice only through prev:
    read = post if src_kind == "prev" else f"prev:{post}"
    use = rng.choices(["output", "scores", "feature"], [1, 2, 1.5])[0]
    if src_kind == "scores" and use != "output":
        read = f"prev:{post}"
    if use == "scores":
        a = rng.choice([0.1, 0.5, 1.0])
        sharp = _fresh(unit, f"{scores}_beam")
        if kind == "log_prob":
            expr = f"source(0) + {a} * source(1)"
        else:
            expr = f"source(0) * tf.exp({a} * source(1))"
        unit[sharp] = {"class": "eval", "from": [scores, read], "eval": expr}
        _set_source(unit[choice], scores, sharp)
        how += f"; {choice} chooses over {sharp} = {scores} with + {a} * {read} ({kind})"
    elif use == "feature":
        feats = [x for x in sorted(_frame_ancestors(unit, scores) | {scores})
                 if unit[x].get("class") in ("linear", "rnn_cell") and x != choice and not _label_fed(unit, x)]
        if not feats:
            use = "output"
        else:
            user = rng.choice(feats)
            feat = _fresh(unit, f"{post}_feat")
            unit[feat] = {"class": "expand_dims", "axis": "F", "from": read}
            _add_source(unit[user], feat)
            how += f"; {feat} = expand_dims({read}, F), an extra source of {user}"
    if use == "output":
        unit[post]["is_output_layer"] = True
        if rng.random() < 0.5:
            unit[bs]["is_output_layer"] = True
            how += f"; {bs} and {post} output layers of the loop"
        else:
            how += f"; {post} an output layer of the loop"
    return new, how


# ----------------------------------------------------------------------------------------------------
# beam-stat-feedback


def _feature_dim(case: Case, desc: dict[str, Any]) -> int | None:
    n_out = desc.get("n_out")
    if isinstance(n_out, int) and not isinstance(n_out, bool):
        return n_out
    if desc.get("class") == "softmax":
        target = _data_target(desc)
        dim = _target_dim(case, target) if target else None
        return dim if isinstance(dim, int) else None
    return None


def op_beam_stat_feedback(case: Case, rng: random.Random) -> Result:
    """A statistic over the K hypotheses of the frame, fed back into the next frame through ``prev:``."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, scores, kind, k, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    states = [x for x in sorted(_frame_ancestors(unit, scores)) if x != "end"
              and unit[x].get("class") in ("linear", "rnn_cell", "rec") and _feature_dim(case, unit[x])]
    stat = rng.choices(["state-mean", "label-dup", "consensus"], [3 if states else 0, 2, 1.5])[0]
    same_frame = rng.random() < 0.2
    if stat == "state-mean":
        x = rng.choice(states)
        f = _feature_dim(case, unit[x])
        dev = rng.random() < 0.35
        mean = (f"tf.reshape(tf.tile(tf.reduce_mean(tf.reshape(source(0), [-1, {k}, {f}]), axis=1, keepdims=True),"
                f" [1, {k}, 1]), tf.shape(source(0)))")
        name = _fresh(unit, f"{x}_beam_{'dev' if dev else 'mean'}")
        unit[name] = {"class": "eval", "from": x, "eval": f"source(0) - {mean}" if dev else mean}
        how = (f"{rec}: {name} = {'the deviation of ' + x + ' from ' if dev else ''}the mean of {x} over the "
               f"beam (K={k}, F={f})")
        if same_frame:
            users = [u for u in _readers(unit, x) if unit[u].get("class") in _DENSE
                     and u not in ("end", choice) and not _label_fed(unit, u)]
            if not users:
                return None
            user = rng.choice(users)
            _add_source(unit[user], name)
            return new, how + f", an extra source of {user} (same frame)"
        users = [u for u in _readers(unit, x, f"prev:{x}") if unit[u].get("class") in _DENSE and u != "end"
                 and not _label_fed(unit, u)]
        if not users and _label_fed(unit, x):
            return None
        user = rng.choice(users) if users else x
        _add_source(unit[user], f"prev:{name}")
        return new, how + f", prev:{name} an extra source of {user}"
    if stat == "label-dup":
        name = _fresh(unit, f"{choice}_beam_dup")
        expr = (f"(lambda c: tf.reshape(tf.reduce_sum(tf.cast(tf.equal(c[:, :, None], c[:, None, :]), tf.float32),"
                f" axis=2) - 1., tf.shape(source(0))))(tf.reshape(source(0), [-1, {k}]))")
        src = f"prev:{choice}" if same_frame else choice
        unit[name] = {"class": "eval", "from": _as_float(unit, src), "eval": expr}
        read = name if same_frame else f"prev:{name}"
        how = f"{rec}: {name} = other hypotheses of the beam (K={k}) that chose the same label as {src}"
    else:
        name = _fresh(unit, f"{scores}_beam_avg")
        mean = (f"tf.reshape(tf.tile(tf.reduce_mean(tf.reshape(source(0), [-1, {k}, {dim}]), axis=1, "
                f"keepdims=True), [1, {k}, 1]), tf.shape(source(0)))")
        unit[name] = {"class": "eval", "from": scores, "eval": mean}
        read = f"prev:{name}"  # the frame's own consensus is made of the scores that would read it
        how = f"{rec}: {name} = the beam's mean output distribution (K={k}) of {scores}"
    g = rng.choice([0.5, 1.0, 2.0])
    div = _fresh(unit, f"{scores}_diverse")
    unit[div] = {"class": "eval", "from": [scores, read], "eval": _penalised(kind, g)}
    _set_source(unit[choice], scores, div)
    return new, how + f"; {choice} chooses over {div} = {scores} penalised by {g} * {read} ({kind})"


FRESH113_OPERATORS: tuple[Op, ...] = (
    Op("sibling-rank-penalty", op_sibling_rank_penalty, 1.2),
    Op("hamming-diverse-groups", op_hamming_diverse_groups, 1.2),
    Op("beam-score-renorm", op_beam_score_renorm, 1),
    Op("beam-stat-feedback", op_beam_stat_feedback, 1.3),
)
