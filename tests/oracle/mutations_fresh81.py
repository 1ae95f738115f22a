"""An eighty-third set of edit operators (issue 15, seventeenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Search-related bug reports and discussions in RETURNN's GitHub issues and PRs that no earlier set used, each
thread's network pattern (the form users first wrote and the form they ended up with) adapted onto the bases'
searching decoders (none a variant of an earlier operator; no rule was written for any of them):

* ``sched-sampling``: a training-only option of the ``ChoiceLayer`` left in the search config, as in
  rwth-i6/returnn#161 ("added scheduled sampling for regression-type outputs") and rwth-i6/returnn#377
  ("Choice layer is not capable of simply forwarding input": decode without a beam by sampling): a loop choice
  gets ``scheduled_sampling`` (``{"gold_mixin_prob": p}`` with p 0.1 / 0.2 / 0.5, or ``True``); or, to decode
  by sampling instead of searching, ``search: False`` with ``scheduled_sampling`` ``True`` or a gold mix-in of
  0; or the form recognition configs end up with: ``scheduled_sampling: False`` spelled out (maybe with
  ``search: True`` spelled out too); a regression choice gets the gold mix-in as in #161;
* ``hyp-score-acc``: the hypothesis' running log-score written by hand in the loop, which
  rwth-i6/returnn#714 ("More modular alternative to ChoiceLayer") says users should not have to compute: the
  log of the choice's scores (an ``activation`` ``safe_log`` of probabilities, the scores themselves where the
  choice takes ``log_prob``), the chosen label's log-score (``gather`` over ``F`` at this frame's choice, or
  at ``prev:CHOICE`` of ``prev:`` of the log-scores), summed over the frames (``combine`` add with ``prev:`` of
  the sum, ``initial_output`` 0); the sum (or the frame's log-score) is an output layer of the loop, read at
  the root through ``REC/SUM`` by a ``decide`` (an output layer), or its previous value (``expand_dims`` on
  ``F``) is an extra source of a dense loop layer that reads the previous label;
* ``score-prune-end``: the other use of #714's hand-made scores, pruning by score through the loop's end: a
  ``compare`` ``less`` of a log-score with a threshold (the chosen label's log-score of the frame, the running
  sum of them, the best log-score of the frame's scores, a ``reduce`` ``max`` over ``F`` that needs no choice,
  or ``prev:`` of the running sum) ends a hypothesis: the old ``end`` renamed and the new ``end`` a ``combine``
  ``logical_or`` of both, or (a quarter of the time) the threshold alone is the ``end``;
* ``factor-chain``: factored output labels chosen one after the other in one frame, as in
  rwth-i6/returnn#232 (two dependent choice layers ``output_lemma`` then ``output_casing`` with beams 12 and 13:
  "Search choices cannot be compared"), rwth-i6/returnn#245 ("three separate ChoiceLayers depending on each
  other" fail while one choice with three targets works) and rwth-i6/returnn#212 (different in- and outgoing
  beam sizes of several choices): one or two factor choices after a loop choice, each over a ``softmax`` (the
  choice's target) of an embedding (``linear``) of the factor before it in this frame and the loop layer the
  first choice's scores read; beam sizes all the first choice's (#245), one more / one less per factor (#232),
  or 1; the last factor's previous label fed back (an embedding of ``prev:`` of it, an extra source of a dense
  loop layer that reads the previous label's embedding, mostly one the first choice's scores depend on, as
  #232's readout), or the last factor only an output layer of the loop; the loop's ``end`` stays on the first
  choice as in #245, or (about a third of the time, where it read the first choice) reads the last factor
  instead, so that the end carries the latest choice's beam; or (three times in ten) the order users end up
  with: one factor chosen first (a ``choice`` over a ``softmax`` of that loop layer, the beam sizes as above) and
  the choice's own scores reading an embedding of it (an extra source), so the choice stays the latest.
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
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH81_SEED = 20270143
N_FRESH81 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _score_layer(unit: dict[str, Any], choice: str) -> tuple[str, bool] | None:
    """(the loop layer a choice scores, whether its values are probabilities) for a choice with one plain
    source and ``input_type`` prob / log_prob; None otherwise."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind == "prob"


def _dense_label_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers (``linear`` / ``rnn_cell`` / ``softmax``) that read an embedding of ``prev:CHOICE`` (a
    loop layer with ``prev:CHOICE`` among its sources), not the sparse label itself."""
    embeds = [k for k in _layers(unit) if f"prev:{choice}" in _sources(unit[k])]
    out = set()
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") not in ("linear", "rnn_cell", "softmax"):
            continue
        srcs = _sources(desc)
        # a layer over the sparse label itself (the embedding) takes no second, dense source
        if f"prev:{choice}" not in srcs and any(e in srcs and e != k for e in embeds):
            out.add(k)
    return sorted(out)


# ----------------------------------------------------------------------------------------------------
# sched-sampling


def op_sched_sampling(case: Case, rng: random.Random) -> Result:
    """A loop choice keeps (or spells out the absence of) the training option ``scheduled_sampling``."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _data_target(net[r]["unit"][c]) is not None and "scheduled_sampling" not in net[r]["unit"][c]]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    desc = net[rec]["unit"][choice]
    where = f"{rec}/{choice}"
    if desc.get("input_type") == "regression":
        p = rng.choice([0.1, 0.2, 0.5])
        desc["scheduled_sampling"] = {"gold_mixin_prob": p}
        return new, f"{where} (a regression choice) gets scheduled_sampling with gold_mixin_prob {p}"
    kind = rng.choices(["mixin", "plain", "sample", "fixed"], [0.3, 0.2, 0.25, 0.25])[0]
    if kind == "mixin":
        p = rng.choice([0.1, 0.2, 0.5])
        desc["scheduled_sampling"] = {"gold_mixin_prob": p}
        return new, f"{where} keeps its training option scheduled_sampling with gold_mixin_prob {p}"
    if kind == "plain":
        desc["scheduled_sampling"] = True
        return new, f"{where} keeps its training option scheduled_sampling: True"
    if kind == "sample":
        desc["search"] = False
        if rng.random() < 0.5:
            desc["scheduled_sampling"] = True
            how = "scheduled_sampling: True"
        else:
            desc["scheduled_sampling"] = {"gold_mixin_prob": 0.0}
            how = "scheduled_sampling with gold_mixin_prob 0"
        return new, f"{where} decodes by sampling instead of searching: search False and {how}"
    desc["scheduled_sampling"] = False
    extra = ""
    if rng.random() < 0.5:
        desc["search"] = True
        extra = " and search: True"
    return new, f"{where} spells out scheduled_sampling: False{extra} (the recognition form)"


# ----------------------------------------------------------------------------------------------------
# hyp-score-acc / score-prune-end: the chosen label's log-score, summed over the frames


def _log_scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """Add (where needed) the log of a choice's scores; (its name, how it was made)."""
    found = _score_layer(unit, choice)
    if found is None:
        return None
    scores, is_prob = found
    if not is_prob:
        return scores, f"{scores} (log_prob scores)"
    logp = _fresh(unit, f"{scores}_log")
    unit[logp] = {"class": "activation", "activation": "safe_log", "from": scores}
    return logp, f"{logp} = safe_log({scores})"


def _chosen_score(unit: dict[str, Any], choice: str, logp: str, rng: random.Random,
                  prev: bool | None = None) -> tuple[str, str]:
    """A loop ``gather`` of the log-scores at the chosen label (this frame's, or the previous frame's of the
    previous log-scores)."""
    if prev is None:
        prev = rng.random() < 0.3
    name = _fresh(unit, f"{choice}_logp")
    if prev:
        unit[name] = {"class": "gather", "from": f"prev:{logp}", "position": f"prev:{choice}", "axis": "F"}
        return name, f"{name} = gather(prev:{logp} at prev:{choice})"
    unit[name] = {"class": "gather", "from": logp, "position": choice, "axis": "F"}
    return name, f"{name} = gather({logp} at {choice})"


def _running_sum(unit: dict[str, Any], choice: str, frame: str) -> str:
    acc = _fresh(unit, f"{choice}_score_sum")
    unit[acc] = {"class": "combine", "kind": "add", "from": [f"prev:{acc}", frame], "initial_output": 0}
    return acc


def op_hyp_score_acc(case: Case, rng: random.Random) -> Result:
    """The hypothesis' running log-score computed by hand in the loop, exported or fed back."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _score_layer(net[r]["unit"], c) is not None]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    logp, how_log = _log_scores(unit, choice)
    frame, how_frame = _chosen_score(unit, choice, logp, rng)
    acc = _running_sum(unit, choice, frame)
    base = f"{rec}: {how_log}, {how_frame}, {acc} = prev:{acc} + {frame}"
    readers = [k for k in _dense_label_readers(unit, choice) if k not in (logp, frame, acc)]
    mode = rng.choices(["output", "root-decide", "feedback"], [0.35, 0.3, 0.35])[0]
    if mode == "feedback" and not readers:
        mode = "output"
    if mode == "output":
        which = acc if rng.random() < 0.7 else frame
        unit[which]["is_output_layer"] = True
        return new, f"{base}; {which} an output layer of the loop"
    if mode == "root-decide":
        unit[acc]["is_output_layer"] = True
        dec = _fresh(net, f"{rec}_score_sum_decided")
        net[dec] = {"class": "decide", "from": f"{rec}/{acc}", "is_output_layer": True}
        return new, f"{base}; root {dec}: decide of {rec}/{acc}, an output layer"
    reader = rng.choice(readers)
    feat = _fresh(unit, f"prev_{acc}_feat")
    unit[feat] = {"class": "expand_dims", "axis": "F", "from": f"prev:{acc}"}
    _add_source(unit[reader], feat)
    return new, f"{base}; {reader} also reads {feat} (expand_dims of prev:{acc} on F)"


def op_score_prune_end(case: Case, rng: random.Random) -> Result:
    """A loop's ``end`` also fires once a hand-made log-score falls below a threshold."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _score_layer(net[r]["unit"], c) is not None and isinstance(net[r]["unit"].get("end"), dict)]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    logp, how_log = _log_scores(unit, choice)
    kind = rng.choices(["frame", "sum", "best", "prev-sum"], [0.3, 0.3, 0.2, 0.2])[0]
    if kind == "best":
        best = _fresh(unit, f"{choice}_best_logp")
        unit[best] = {"class": "reduce", "mode": "max", "axes": "F", "from": logp}
        value, how = best, f"{best} = max over F of {logp}"
        thr = rng.choice([-2.0, -5.0])
    else:
        frame, how_frame = _chosen_score(unit, choice, logp, rng, prev=False if kind != "frame" else None)
        how = how_frame
        value = frame
        thr = rng.choice([-3.0, -6.0])
        if kind in ("sum", "prev-sum"):
            acc = _running_sum(unit, choice, frame)
            how += f", {acc} = prev:{acc} + {frame}"
            value = acc if kind == "sum" else f"prev:{acc}"
            thr = rng.choice([-10.0, -30.0])
    low = _fresh(unit, f"{choice}_score_too_low")
    unit[low] = {"class": "compare", "kind": "less", "from": value, "value": thr}
    prefix = f"{rec}: {how_log}, {how}, {low} = {value} < {thr}"
    if rng.random() < 0.25:
        old = _fresh(unit, "end_label")
        unit[old] = unit.pop("end")
        unit["end"] = {"class": "copy", "from": low}
        return new, f"{prefix}; the end is the threshold alone (the old end kept as {old}, unread)"
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")
    for k in _layers(unit):
        if k == old:
            continue
        srcs = unit[k].get("from")
        if srcs == "end":
            unit[k]["from"] = old
        elif isinstance(srcs, list):
            unit[k]["from"] = [old if s == "end" else s for s in srcs]
    unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, low]}
    return new, f"{prefix}; end = logical_or({old}, {low}), {old} the old end"


# ----------------------------------------------------------------------------------------------------
# factor-chain


def op_factor_chain(case: Case, rng: random.Random) -> Result:
    """One or two factor choices after a loop choice, each scored from an embedding of the factor before it."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            found = _score_layer(unit, c)
            if found is None:
                continue
            states = [s for s in _sources(unit[found[0]]) if s in unit and isinstance(unit[s], dict)
                      and unit[s].get("class") not in ("choice",)]
            if states:
                sites.append((r, c, states))
    if not sites:
        return None
    rec, choice, states = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    scores = _sources(unit[choice])[0]
    state = rng.choice(states)
    beam0 = unit[choice].get("beam_size", 12)
    n = rng.choice([1, 2])
    beams_kind = rng.choices(["same", "step", "one"], [0.4, 0.4, 0.2])[0]
    if rng.random() < 0.3:
        # the factor chosen first, the choice's own scores reading its embedding: the choice stays the latest
        beam = {"same": beam0, "step": max(1, beam0 + rng.choice([1, -1])), "one": 1}[beams_kind]
        fname = _fresh(unit, f"{choice}_factor0")
        prob = _fresh(unit, f"{fname}_prob")
        unit[prob] = {"class": "softmax", "from": state, "target": key}
        unit[fname] = {"class": "choice", "from": prob, "target": key, "beam_size": beam, "initial_output": 0}
        emb = _fresh(unit, f"{fname}_embed_f")
        unit[emb] = {"class": "linear", "activation": None, "from": fname, "n_out": 4}
        _add_source(unit[scores], emb)
        return new, (f"{rec}: factor choice {fname} (beam {beam}, over {prob} = softmax({state})) before {choice} "
                     f"(beam {beam0}): {choice}'s scores {scores} also read {emb} = linear({fname})")
    prev_factor = choice
    made = []
    added: set[str] = set()
    for i in range(n):
        if beams_kind == "same":
            beam = beam0
        elif beams_kind == "step":
            beam = max(1, beam0 + (i + 1) * rng.choice([1, -1]))
        else:
            beam = 1
        fname = _fresh(unit, f"{choice}_factor{i + 1}")
        emb = _fresh(unit, f"{prev_factor}_embed_f")
        unit[emb] = {"class": "linear", "activation": None, "from": prev_factor, "n_out": 4}
        prob = _fresh(unit, f"{fname}_prob")
        unit[prob] = {"class": "softmax", "from": [emb, state], "target": key}
        unit[fname] = {"class": "choice", "from": prob, "target": key, "beam_size": beam, "initial_output": 0}
        added |= {fname, emb, prob}
        made.append(f"{fname} (beam {beam}, over {prob} = softmax([{emb} = linear({prev_factor}), {state}]))")
        prev_factor = fname
    desc = f"{rec}: factor choices after {choice} (beam {beam0}): " + ", then ".join(made)
    end = unit.get("end")
    if isinstance(end, dict) and choice in _sources(end) and rng.random() < 0.3:
        end["from"] = [prev_factor if x == choice else x for x in _sources(end)]
        if len(end["from"]) == 1:
            end["from"] = end["from"][0]
        desc += f"; the end reads {prev_factor} instead of {choice}"
    readers = [k for k in _dense_label_readers(unit, choice) if k not in added]
    on_path = [k for k in readers if k == scores or k in _frame_ancestors(unit, scores)]
    if readers and rng.random() < 0.65:
        reader = rng.choice(on_path if on_path and rng.random() < 0.75 else readers)
        fb = _fresh(unit, f"prev_{prev_factor}_embed")
        unit[fb] = {"class": "linear", "activation": None, "from": f"prev:{prev_factor}", "n_out": 4}
        _add_source(unit[reader], fb)
        return new, f"{desc}; {reader} also reads {fb} (embedding of prev:{prev_factor})"
    unit[prev_factor]["is_output_layer"] = True
    return new, f"{desc}; {prev_factor} only an output layer of the loop"


FRESH81_OPERATORS: tuple[Op, ...] = (
    Op("sched-sampling", op_sched_sampling, 1),
    Op("hyp-score-acc", op_hyp_score_acc, 1),
    Op("score-prune-end", op_score_prune_end, 1),
    Op("factor-chain", op_factor_chain, 1),
)
