"""A hundred-and-sixth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: beam geometry, i.e. how the beam sizes are set and changed along a searching network, as users tune
them: several choices of one network re-sized together by one rule (widening or narrowing along the chain,
relative to the label vocabulary, greedy stages), with the options whose effect depends on the beam
(``length_normalization_exponent``, ``base_beam_score_scale``, ``length_normalization``); an expansion choice
with ``keep_beams`` whose beam is a multiple of the incoming one, pruned again by the loop's label choice; and
layers after the loop where searches of different beam sizes meet (a second, root-level search stage over the
decoded hypotheses, a greedy or wider twin decoder, ``decide`` / ``decide_keep_beam`` on one side only). Sources:
``ChoiceLayer`` (``beam_size``, ``keep_beams``, ``length_normalization_exponent``, ``base_beam_score_scale``,
the ``beam_in == base_search_choices.beam_size`` check, the regression ``beam_size == 1`` check),
``returnn.tf.util.basic.beam_search`` (``keep_beams``: ``beam_size // beam_in``, the ``top_k`` size cut where the
beam is larger than ``beam_in * dim``), ``DecideLayer`` / ``DecideKeepBeamLayer``, ``SearchChoices.compare`` /
``translate_to_common_search_beam`` in the installed ``returnn/tf/layers/{rec,base}.py``, ``SearchBeam
.get_combined_beam`` in ``returnn/tf/util/data.py``, and RETURNN's tests with several beam sizes
(``test_search_multi_choice`` with beams 3 and 5, ``test_search_multi_choice_simple_keep_beams`` with beams
``3 * 5`` and 5 in ``tests/test_TFNetworkRecLayer.py`` of rwth-i6/returnn). None is a variant of an earlier
operator (not the single beam-size change of ``mutations.py``, nor a copied choice of ``add-choice``, nor
factor chains of new targets); no rule was written for any of them:

* ``beam-schedule``: every choice of a network with two or more choices (chained choices of one loop, two
  decoders, a root choice after a decoder) re-sized at once by one rule, as a user who tunes "the beam" of a
  multi-choice set-up does: ``widen`` (each choice in the order the search makes them a factor 2 or 3 wider than
  the one before, from 1, 2 or 3), ``narrow`` (the same, reversed), ``vocab`` (each beam the size of its own
  label vocabulary, one more than it, or twice it: a beam larger than the vocabulary, which
  ``beam_search`` pads with ``-inf`` hypotheses), ``greedy-stage`` (one choice greedy, ``beam_size`` 1, the others
  wider than every old beam) or ``equal`` (all the largest old beam, as rwth-i6/returnn#245 has them); half of
  the re-sized choices also get ``length_normalization_exponent`` (0.5 / 2.0), ``base_beam_score_scale``
  (0.0 / 0.5) or, where greedy, ``length_normalization: False``. Targets: ``ChoiceLayer.__init__``
  (incoming vs. base beam, the regression choice's ``beam_size == 1``), ``beam_search``'s ``top_k`` size, the
  per-layer ``SearchBeam`` sizes of the loop and of the root after it.
* ``expand-choice``: the geometry of ``test_search_multi_choice_simple_keep_beams``: an expansion choice over the
  loop's label vocabulary (a new ``softmax`` or ``log_softmax`` head on a loop layer the label choice's scores
  read) with ``keep_beams: True`` and a beam of 1, 2 or 3 times its incoming beam (or, a user's slip, one more
  than that), so that every hypothesis keeps its best continuations; then either (``before``) its label embedded
  into the label choice's scores, which prune the expanded beam back (the test's order), or (``after``) the
  expansion chooses after the label choice from an embedding of it and its previous label is fed back into the
  label history, so that the next frame's label choice prunes it, or (``aside``) it is only an output layer of
  the loop, next to the label choice. The label choice's beam stays or gets another size. Targets:
  ``ChoiceLayer.__init__`` with ``keep_beams`` and its incoming beam (``beam_in == base_search_choices
  .beam_size``), ``beam_search(keep_beams=True)``, the loop's search-choice sequence
  (``_SubnetworkRecCell._get_search_choice_seq`` / the end layer's choice in it) and the per-layer beams.
* ``root-beam-meet``: after a searching loop, a root layer where beams of different sizes meet: (``stage``) a
  second search stage at the root over the decoded hypotheses (an embedding of the decoder's output, a ``reduce``
  mean over time, a ``log_softmax`` head of 3, 5 or 7 classes and a root ``choice`` with another beam: 1, the
  decoder's, twice it, or one more than the head's classes, as in rescoring / hypothesis classification), its
  labels read by ``decide``, or
  combined with the decoder's own (undecided or decided) summary; (``twin``) a greedy (beam 1) or wider copy of
  the decoder next to it, both summarised at the root (an embedding, a mean over time) and combined (``combine``
  ``sub``, a concatenating ``copy``, a ``compare``), both, one or neither side decided first, or the twin's
  summary kept per hypothesis through ``decide_keep_beam``; (``undecide``) where the network already has two
  searches whose outputs are combined through ``decide`` layers, one or both ``decide`` layers dropped after the
  beams were made to differ. Targets: ``SearchChoices.compare`` ("Cannot compare search choices"),
  ``TFNetwork.get_search_choices`` ("Search choices cannot be compared"), ``translate_to_common_search_beam``,
  ``SearchBeam.get_combined_beam`` ("Cannot combine beams"), ``DecideLayer`` / ``DecideKeepBeamLayer`` and the
  root ``ChoiceLayer``'s base search choice.
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
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _recs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH104_SEED = 20270166
N_FRESH104 = 80

Result = "tuple[Case, str] | None"

#: Beams larger than this are not derived from a vocabulary (real bases have vocabularies of 10k and more).
MAX_VOCAB_BEAM = 64
DENSE = ("linear", "softmax", "rnn_cell", "activation", "combine", "copy", "eval", "generic_attention",
         "dot_attention", "layer_norm", "dropout", "reduce_out", "concat")


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Searching choices of a loop unit that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None and unit[c].get("search", True) is not False]


def _beam(desc: dict[str, Any]) -> int:
    value = desc.get("beam_size")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _frame_order(unit: dict[str, Any]) -> list[str]:
    """The unit's choices in the order the search makes them in a frame (by how many choices of the same
    frame each depends on)."""
    choices = _unit_choices(unit)
    return sorted(choices, key=lambda c: (len(_frame_ancestors(unit, c) & set(choices)), c))


def _latest_choice(unit: dict[str, Any]) -> str | None:
    order = _frame_order(unit)
    return order[-1] if order else None


def _vocab(case: Case, desc: dict[str, Any]) -> int | None:
    """The size of the labels (or regression features) a choice makes."""
    dim = _target_dim(case, _data_target(desc))
    return dim if isinstance(dim, int) and dim > 0 else None


# ----------------------------------------------------------------------------------------------------
# beam-schedule


def _choice_sites(net: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(rec or None for the root, choice) of every choice of the network, in search order: the loops in
    name order (their choices in frame order), then root choices (they read the decoders)."""
    out: list[tuple[str | None, str]] = []
    for rec in _recs(net):
        out += [(rec, c) for c in _frame_order(net[rec]["unit"])]
    out += [(None, k) for k in _layers(net) if net[k].get("class") == "choice"]
    return out


def op_beam_schedule(case: Case, rng: random.Random) -> Result:
    """All choices of a multi-choice network re-sized together by one geometry rule, plus beam options."""
    new, net = _copy(case)
    sites = _choice_sites(net)
    if len(sites) < 2:
        return None
    descs = [net[n] if r is None else net[r]["unit"][n] for r, n in sites]
    old = [_beam(d) for d in descs]
    rule = rng.choices(["widen", "narrow", "vocab", "greedy-stage", "equal"], [1, 1, 1, 1, 0.6])[0]
    n = len(sites)
    if rule in ("widen", "narrow"):
        start, factor = rng.choice([1, 2, 3]), rng.choice([2, 3])
        beams = [min(start * factor ** i, 48) for i in range(n)]
        if rule == "narrow":
            beams.reverse()
    elif rule == "vocab":
        how = rng.choice(["dim", "dim+1", "2*dim"])
        beams = []
        for d, b in zip(descs, old):
            dim = _vocab(case, d)
            if dim is None or dim > MAX_VOCAB_BEAM:
                beams.append(b)
            else:
                beams.append({"dim": dim, "dim+1": dim + 1, "2*dim": 2 * dim}[how])
        rule = f"vocab ({how})"
    elif rule == "greedy-stage":
        g = rng.randrange(n)
        wide = max(old) + rng.choice([1, 2, 4])
        beams = [1 if i == g else wide for i in range(n)]
    else:
        beams = [max(old)] * n
    if beams == old:
        return None
    parts = []
    for (rec, name), d, b0, b in zip(sites, descs, old, beams):
        d["beam_size"] = b
        extra = ""
        if rng.random() < 0.5:
            if b == 1 and rng.random() < 0.6:
                d["length_normalization"] = False
                extra = ", length_normalization False"
            elif rng.random() < 0.55:
                d["length_normalization_exponent"] = rng.choice([0.5, 2.0])
                extra = f", length_normalization_exponent {d['length_normalization_exponent']}"
            else:
                d["base_beam_score_scale"] = rng.choice([0.0, 0.5])
                extra = f", base_beam_score_scale {d['base_beam_score_scale']}"
        where = name if rec is None else f"{rec}/{name}"
        parts.append(f"{where} {b0}->{b}{extra}")
    return new, f"beam schedule {rule}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# expand-choice


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    """The loop layer a choice scores (one plain source, a softmax / linear the op can add a source to)."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    if unit[choice].get("input_type", "prob") not in ("prob", "log_prob"):
        return None
    return srcs[0]


def _feeders(unit: dict[str, Any], scores: str) -> list[str]:
    """Dense loop layers of the frame the scores layer reads directly (a frame vector, like the scores' own
    input); else its recurrent / linear ancestors that read nothing from outside the loop (no encoder axis)."""
    choices = set(_unit_choices(unit))

    def ok(k: str) -> bool:
        desc = unit.get(k)
        return isinstance(desc, dict) and k not in choices and k != "end"

    direct = [s for s in _sources(unit[scores]) if s in unit and ok(s) and unit[s].get("class") in DENSE]
    if direct:
        return direct

    def local(k: str) -> bool:
        chain = {k} | _frame_ancestors(unit, k)
        return not any(r.startswith(("base:", "data")) for c in chain if isinstance(unit.get(c), dict)
                       for r in _sources(unit[c]))

    return [k for k in sorted(_frame_ancestors(unit, scores)) if ok(k)
            and unit[k].get("class") in ("linear", "rnn_cell") and local(k)]


def _dense_label_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers (``linear`` / ``rnn_cell`` / ``softmax``) that read an embedding of ``prev:CHOICE``
    (a loop layer over the sparse previous label), not the sparse label itself."""
    embeds = {k for k in _layers(unit) if f"prev:{choice}" in _sources(unit[k])}
    return [k for k in _layers(unit) if unit[k].get("class") in ("linear", "rnn_cell", "softmax")
            and f"prev:{choice}" not in _sources(unit[k]) and embeds & (set(_sources(unit[k])) - {k})]


def op_expand_choice(case: Case, rng: random.Random) -> Result:
    """An expansion choice with ``keep_beams`` and a multiple of its incoming beam, pruned by the label choice."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            s = _scores(unit, c)
            if s is not None and _vocab(case, unit[c]) is not None and _feeders(unit, s):
                sites.append((rec, c, s))
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    hist = _dense_label_readers(unit, choice)
    target = _data_target(unit[choice])
    dim = _vocab(case, unit[choice])
    feeders = _feeders(unit, scores)
    src = feeders[0] if rng.random() < 0.6 else rng.choice(feeders)
    form = rng.choices(["before", "after", "aside"], [0.45, 0.35, 0.2])[0]
    if form == "before" and unit[scores].get("class") not in ("softmax", "linear"):
        form = "aside"
    if form == "after" and not hist and rng.random() < 0.5:
        form = "before" if unit[scores].get("class") in ("softmax", "linear") else "aside"
    # the label choice's own beam: kept, or re-sized as the user prunes harder / wider
    k_old = _beam(unit[choice])
    if rng.random() < 0.35:
        unit[choice]["beam_size"] = rng.choice([b for b in (1, 2, 3, 4, 6, 8) if b != k_old])
    k = _beam(unit[choice])
    latest = _latest_choice(unit)
    if form == "after":
        k_in = k
    else:
        # the expansion is the first choice of its frame: its incoming beam is the previous frame's latest
        k_in = _beam(unit[latest]) if latest else k
    m = rng.choices([1, 2, 3, "slip"], [0.2, 0.35, 0.3, 0.15])[0]
    beam = k_in + 1 if m == "slip" else k_in * m
    how_m = f"{k_in} + 1 (not a multiple)" if m == "slip" else f"{m} x incoming {k_in}"
    name = _fresh(unit, f"{choice}_expand")
    head = _fresh(unit, f"{name}_prob")
    log_space = rng.random() < 0.4
    head_src: Any = src
    if form == "after":
        c_emb = _fresh(unit, f"{choice}_emb_x")
        unit[c_emb] = {"class": "linear", "activation": None, "from": choice, "n_out": rng.choice([3, 4])}
        head_src = [src, c_emb]
    if log_space:
        unit[head] = {"class": "linear", "activation": "log_softmax", "from": head_src, "n_out": dim}
    else:
        unit[head] = {"class": "softmax", "from": head_src, "target": target}
    unit[name] = {"class": "choice", "from": head, "target": target, "beam_size": beam, "keep_beams": True,
                  "initial_output": 0}
    if log_space:
        unit[name]["input_type"] = "log_prob"
    head_how = f"{head} = {'log_softmax linear' if log_space else 'softmax'}({head_src!r})"
    desc = (f"{rec}: {name} = choice over {head_how}, keep_beams, beam {beam} = {how_m}; "
            f"{choice} beam {k_old}->{k}" if k != k_old else
            f"{rec}: {name} = choice over {head_how}, keep_beams, beam {beam} = {how_m}; {choice} beam {k}")
    if form == "before":
        emb = _fresh(unit, f"{name}_emb")
        unit[emb] = {"class": "linear", "activation": None, "from": name, "n_out": rng.choice([3, 4])}
        _add_source(unit[scores], emb)
        return new, desc + f"; {emb} (embedding of {name}) an extra source of {choice}'s scores {scores}"
    if form == "after":
        if not hist or rng.random() < 0.2:
            unit[name]["is_output_layer"] = True
            return new, desc + f"; {name} after {choice} (reads {c_emb}), an output layer only"
        user = rng.choice(hist)
        emb = _fresh(unit, f"{name}_prev_emb")
        unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{name}", "n_out": rng.choice([3, 4])}
        _add_source(unit[user], emb)
        return new, desc + f"; {name} after {choice} (reads {c_emb}), prev:{name} fed back via {emb} into {user}"
    unit[name]["is_output_layer"] = True
    return new, desc + f"; {name} beside {choice} (reads {src}), an output layer of the loop only"


# ----------------------------------------------------------------------------------------------------
# root-beam-meet


def _summary(net: dict[str, Any], src: str, tag: str, n_out: int) -> str:
    """A root embedding of ``src`` (labels or dense) averaged over time: (B, n_out)."""
    emb = _fresh(net, f"{tag}_emb")
    net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": n_out}
    red = _fresh(net, f"{tag}_red")
    net[red] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
    return red


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching loops whose output layer is a label choice or a copy of one."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        od = unit.get("output")
        if not isinstance(od, dict):
            continue
        if od.get("class") == "choice" and od.get("input_type") != "regression":
            out.append(rec)
        elif od.get("class") == "copy" and any(s in _label_choices(unit) for s in _sources(od)):
            out.append(rec)
    return out


def _set_loop_beams(unit: dict[str, Any], beam: int) -> None:
    for c in _unit_choices(unit):
        unit[c]["beam_size"] = beam


def op_root_beam_meet(case: Case, rng: random.Random) -> Result:
    """Beams of different sizes meet at the root after a searching loop."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    combined = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k])
                and _sources(net[k])[0] in _recs(net) and _readers(net, k)]
    forms = ["stage", "twin"] + (["undecide"] if len(combined) >= 2 else [])
    form = rng.choices(forms, [1.0, 1.0, 1.2][: len(forms)])[0]
    if form == "undecide":
        recs = sorted({_sources(net[k])[0] for k in combined})
        parts = []
        for i, rec in enumerate(recs):
            unit = net[rec]["unit"]
            latest = _latest_choice(unit)
            if latest and rng.random() < 0.7:
                b0 = _beam(unit[latest])
                b = rng.choice([1, 2, 3, 5, 8]) if i else b0
                if b != b0:
                    _set_loop_beams(unit, b)
                    parts.append(f"{rec} beams {b0}->{b}")
        drop = rng.sample(combined, rng.choice([1, 1, 2]) if len(combined) >= 2 else 1)
        for d in drop:
            src = _sources(net[d])[0]
            for r in _readers(net, d):
                v = net[r].get("from")
                if v == d:
                    net[r]["from"] = src
                elif isinstance(v, list):
                    net[r]["from"] = [src if x == d else x for x in v]
            del net[d]
            parts.append(f"{d} (decide of {src}) dropped, its readers read {src}")
        return new, "undecide: " + "; ".join(parts)
    rec = rng.choice(decs)
    unit = net[rec]["unit"]
    latest = _latest_choice(unit)
    k = _beam(unit[latest]) if latest else 1
    if form == "stage":
        width = rng.choice([4, 6])
        summ = _summary(net, rec, f"{rec}_hyp", width)
        n_cls = rng.choice([3, 5, 7])
        logits = _fresh(net, f"{rec}_rank_logp")
        net[logits] = {"class": "linear", "activation": "log_softmax", "from": summ, "n_out": n_cls}
        k2 = rng.choice([1, k, 2 * k, n_cls + 1])
        stage = _fresh(net, f"{rec}_rank")
        net[stage] = {"class": "choice", "target": None, "beam_size": k2, "from": logits,
                      "input_type": "log_prob", "length_normalization": False}
        how = (f"stage: {summ} = mean over time of an embedding of {rec} (beam {k}); {stage} = root choice "
               f"(beam {k2}) over {logits} (log_softmax, {n_cls})")
        mode = rng.choices(["decide", "with-beamed", "with-decided"], [0.35, 0.35, 0.3])[0]
        out = _fresh(net, f"{stage}_out")
        if mode == "decide":
            net[out] = {"class": "decide", "from": stage, "is_output_layer": True}
            return new, how + f"; {out} = decide({stage})"
        stage_emb = _fresh(net, f"{stage}_emb")
        net[stage_emb] = {"class": "linear", "activation": None, "from": stage, "n_out": width}
        if mode == "with-beamed":
            other = summ
            what = f"{summ} (undecided)"
        else:
            dec = _fresh(net, f"{rec}_decided")
            net[dec] = {"class": "decide", "from": rec}
            other = _summary(net, dec, f"{rec}_best", width)
            what = f"{other} (of {dec} = decide({rec}))"
        kind = rng.choice(["add", "concat"])
        if kind == "add":
            net[out] = {"class": "combine", "kind": "add", "from": [stage_emb, other], "is_output_layer": True}
        else:
            net[out] = {"class": "copy", "from": [stage_emb, other], "is_output_layer": True}
        if rng.random() < 0.5:
            fin = _fresh(net, f"{out}_decided")
            net[fin] = {"class": "decide", "from": out, "is_output_layer": True}
            what += f", then {fin} = decide({out})"
        return new, how + f"; {out} = {kind} of {stage_emb} (beam {k2}) and {what}"
    # twin: a greedy or wider copy of the decoder next to it
    tb = 1 if rng.random() < 0.5 else rng.choice([2 * k, k + 4, 16])
    if tb == k:
        tb = k + 1
    twin = _fresh(net, f"{rec}_{'greedy' if tb == 1 else 'wide'}")
    tdesc = copy.deepcopy(net[rec])
    tdesc.pop("is_output_layer", None)
    for inner in tdesc["unit"].values():
        if isinstance(inner, dict):
            inner.pop("is_output_layer", None)
            inner.pop("loss", None)
    _set_loop_beams(tdesc["unit"], tb)
    net[twin] = tdesc
    sides = []
    mode = rng.choices(["both-decided", "one-decided", "none-decided", "keep-beam"], [0.3, 0.3, 0.25, 0.15])[0]
    for i, r in enumerate((rec, twin)):
        src = r
        if mode == "both-decided" or (mode == "one-decided" and i == 1):
            src = _fresh(net, f"{r}_decided")
            net[src] = {"class": "decide", "from": r}
        summ = _summary(net, src, f"{r}_s", 4)
        if mode == "keep-beam" and i == 1:
            # the twin's n-best summaries kept raw (per hypothesis), not resolved to the best one
            raw = _fresh(net, f"{summ}_raw")
            net[raw] = {"class": "decide_keep_beam", "from": summ}
            src, summ = f"decide_keep_beam of {summ}, of {r}", raw
        sides.append((src, summ))
    out = _fresh(net, f"{rec}_vs_{twin}")
    kind = rng.choice(["combine", "concat", "compare"])
    if kind == "combine":
        net[out] = {"class": "combine", "kind": "sub", "from": [sides[0][1], sides[1][1]], "is_output_layer": True}
    elif kind == "concat":
        net[out] = {"class": "copy", "from": [sides[0][1], sides[1][1]], "is_output_layer": True}
    else:
        net[out] = {"class": "compare", "kind": "greater", "from": [sides[0][1], sides[1][1]],
                    "is_output_layer": True}
    return new, (f"twin: {twin} = copy of {rec} with beam {tb} (vs {k}); {out} = {kind} of "
                 f"{sides[0][1]} (of {sides[0][0]}) and {sides[1][1]} (of {sides[1][0]}), mode {mode}")


FRESH104_OPERATORS: tuple[Op, ...] = (
    Op("beam-schedule", op_beam_schedule, 3.5),
    Op("expand-choice", op_expand_choice, 1.5),
    Op("root-beam-meet", op_root_beam_meet, 1.2),
)
