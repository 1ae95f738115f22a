"""An eighty-seventh set of edit operators (issue 15, eighteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

RETURNN's own search-related checks as targets (read in the installed ``returnn/tf/layers/{base,rec,basic}.py``
and ``returnn/tf/network.py``), each reached by a plausible edit of the bases' searching decoders (none a
variant of an earlier operator; no rule was written for any of them):

* ``min-length-eos``: a minimum hypothesis length, written by hand, as users do when search emits EOS too early:
  the choice's scores are replaced by a ``switch`` whose ``condition`` says "too short" and whose ``true_from``
  is the scores with the EOS label suppressed (an ``eval`` ``source(0) * (1 - one_hot(EOS))`` of probabilities,
  ``source(0) - 1e10 * one_hot(EOS)`` of log-probabilities); the condition is the step ``:i`` below a constant,
  ``:i`` below a fraction of the input length (a root ``length`` of ``data`` and ``eval``, read through ``base:``), or a
  hand-made length counter (``prev:`` plus one); or (a quarter of the time) the same constraint on the ``end``
  instead (``logical_and`` of the old end and "long enough"). Targets: ``SearchChoices
  .translate_to_common_search_beam`` over the non-``from`` options ``condition`` / ``true_from`` /
  ``false_from`` (``SelectSearchSourcesLayer.select_if_needed``), and the ``ChoiceLayer.__init__`` search-flag
  checks on its source (``not source.output.sparse``, ``sources[0].output.shape == (dim,)``, ``beam_in ==
  base_search_choices.beam_size``); for the end form ``_SubnetworkRecCell.get_output``'s end-layer choice checks
  (``end_layer_choice in choice_seq_in_frame``, the dyn-size beam).
* ``state-reset-on-label``: document-level / multi-utterance decoding where a decoder state fed back through
  ``prev:`` is reset when a separator label (the EOS index or a label 1..3) was emitted: the readers of
  ``prev:X`` (X a dense loop layer with its own recurrence or read through ``prev:`` by the scores' path) read
  ``X_reset``, a ``switch`` on ``prev:CHOICE == SEP`` between 0 (or a ``base:`` initial state, a ``linear`` of an
  encoder mean) and ``prev:X``; or the reset is computed after the frame's choice (``switch`` on ``CHOICE == SEP``
  over X) and read as ``prev:X_reset``. Targets: the prev-frame search-choice resolution
  (``_TemplateLayer.get_search_choices`` for ``prev:`` layers, "beam but no search choices"),
  ``TFNetwork._get_all_search_choices``' prev-to-current normalisation ("No cur -> prev mapping"), and
  ``maybe_transform`` in ``_SubnetworkRecCell.get_output`` (``translate_to_this_search_beam`` of a layer whose
  choices are from the previous frame).
* ``sep-counted-end``: a loop that decodes several sentences and ends only after K separator labels: a counter
  ``n_sep = prev:n_sep + cast(CHOICE == SEP)`` (or of ``prev:CHOICE``, one frame late), the ``end`` a
  ``compare`` ``greater_equal`` of the counter with K (2 or 3), alone or ``logical_or`` with the old end; the
  counter maybe an output layer of the loop, read at the root through ``REC/n_sep`` (by a ``decide``, or a plain
  ``copy`` output layer). Targets: the end-flag checks of ``_SubnetworkRecCell.get_output`` (``maybe_transform``
  of ``end``, ``assert isinstance(prev_end_layer, SelectSearchSourcesLayer)``, the end-layer choice in the
  frame's choice sequence, ``_RETURNN_dyn_size_beam``), ``RecStepInfoLayer.get_prev_end_flag`` (the choice's
  ``filter_ended_scores``), and at the root ``SearchChoices.translate_to_common_search_beam`` / ``DecideLayer``.
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
FRESH85_SEED = 20270147
N_FRESH85 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a choice scores, its input_type) for a one-source prob / log_prob choice."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _encoder(net: dict[str, Any], rec: str) -> str:
    """A root layer the decoder reads through ``base:`` (the encoder), else ``data``."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc):
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    if name in net and isinstance(net[name], dict) and net[name].get("class") != "rec":
                        found.append(name)
    return min(found) if found else "data"


# ----------------------------------------------------------------------------------------------------
# min-length-eos


def _too_short(net: dict[str, Any], rec: str, unit: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(["step", "ratio", "counter"], [0.4, 0.35, 0.25])[0]
    name = _fresh(unit, "too_short")
    if kind == "step":
        n = rng.choice([2, 3, 5])
        unit[name] = {"class": "compare", "kind": "less", "from": ":i", "value": n}
        return name, f"{name} = :i < {n}"
    if kind == "ratio":
        enc = "data"
        length = _fresh(net, "data_len")
        net[length] = {"class": "length", "from": enc}
        ratio = rng.choice([0.1, 0.2, 0.3])
        min_len = _fresh(net, "min_len")
        net[min_len] = {"class": "eval", "from": length,
                        "eval": f"tf.cast(tf.cast(source(0), tf.float32) * {ratio}, tf.int32)",
                        "out_type": {"dtype": "int32"}}
        unit[name] = {"class": "compare", "kind": "less", "from": [":i", f"base:{min_len}"]}
        return name, f"{name} = :i < base:{min_len} ({ratio} * length of {enc})"
    n = rng.choice([2, 3, 5])
    cnt = _fresh(unit, "hyp_len")
    unit[cnt] = {"class": "eval", "from": f"prev:{cnt}", "eval": "source(0) + 1.", "initial_output": 0}
    unit[name] = {"class": "compare", "kind": "less", "from": cnt, "value": float(n)}
    return name, f"{name} = {cnt} < {n} ({cnt} = prev:{cnt} + 1)"


def op_min_length_eos(case: Case, rng: random.Random) -> Result:
    """EOS suppressed while a hypothesis is shorter than a minimum length (or the end held back)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if _scores(net[r]["unit"], c) is not None]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    end = unit.get("end")
    if isinstance(end, dict) and rng.random() < 0.25:
        cond, how = _too_short(net, rec, unit, rng)
        ok = _fresh(unit, "long_enough")
        unit[ok] = {"class": "eval", "from": cond, "eval": "tf.logical_not(source(0))",
                    "out_type": {"dtype": "bool"}}
        old = _fresh(unit, "end_label")
        unit[old] = unit.pop("end")
        for k in _layers(unit):
            if k != old:
                srcs = unit[k].get("from")
                if srcs == "end":
                    unit[k]["from"] = old
                elif isinstance(srcs, list):
                    unit[k]["from"] = [old if s == "end" else s for s in srcs]
        unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, ok]}
        return new, f"{rec}: {how}; end = logical_and({old}, not {cond}), {old} the old end"
    dim = _target_dim(case, _data_target(unit[choice]))
    if not isinstance(dim, int):
        return None
    scores, kind = _scores(unit, choice)
    cond, how = _too_short(net, rec, unit, rng)
    no_eos = _fresh(unit, f"{scores}_no_eos")
    if kind == "prob":
        expr = f"source(0) * (1. - tf.one_hot({eos}, {dim}))"
    else:
        expr = f"source(0) - 1e10 * tf.one_hot({eos}, {dim})"
    unit[no_eos] = {"class": "eval", "from": scores, "eval": expr}
    masked = _fresh(unit, f"{scores}_min_len")
    unit[masked] = {"class": "switch", "condition": cond, "true_from": no_eos, "false_from": scores}
    unit[choice]["from"] = masked
    return new, (f"{rec}: {how}; {choice} chooses over {masked} = switch({cond}, {no_eos} (EOS {eos} "
                 f"suppressed in {scores}, {kind}), {scores})")


# ----------------------------------------------------------------------------------------------------
# state-reset-on-label


def op_state_reset_on_label(case: Case, rng: random.Random) -> Result:
    """A decoder state fed back through ``prev:`` is reset where a separator label was emitted."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            for x in _layers(unit):
                desc = unit[x]
                if desc.get("class") in ("choice", "compare") or x == "end":
                    continue
                readers = [k for k in _readers(unit, x, f"prev:{x}") if k != "end"]
                if readers:
                    sites.append((r, c, x))
    if not sites:
        return None
    rec, choice, x = rng.choice(sites)
    unit = net[rec]["unit"]
    sep = _eos(unit, choice) if rng.random() < 0.5 else rng.choice([1, 2, 3])
    readers = [k for k in _readers(unit, x, f"prev:{x}") if k != "end"]
    init = "0"
    true_from: Any = 0.0
    n_out = unit[x].get("n_out")
    if isinstance(n_out, int) and rng.random() < 0.3:
        enc = _encoder(net, rec)
        mean = _fresh(net, f"{enc}_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
        st0 = _fresh(net, f"{x}_reset_state")
        net[st0] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": n_out}
        true_from = f"base:{st0}"
        init = f"base:{st0} (tanh linear of mean of {enc})"
    flag = _fresh(unit, "sep_emitted")
    reset = _fresh(unit, f"{x}_reset")
    if rng.random() < 0.6:
        unit[flag] = {"class": "compare", "kind": "equal", "from": f"prev:{choice}", "value": sep}
        unit[reset] = {"class": "switch", "condition": flag, "true_from": true_from, "false_from": f"prev:{x}"}
        new_ref = reset
        how = f"{reset} = switch(prev:{choice} == {sep}, {init}, prev:{x})"
    else:
        unit[flag] = {"class": "compare", "kind": "equal", "from": choice, "value": sep}
        unit[reset] = {"class": "switch", "condition": flag, "true_from": true_from, "false_from": x}
        new_ref = f"prev:{reset}"
        how = f"{reset} = switch({choice} == {sep}, {init}, {x}) after the frame's choice"
    for k in readers:
        desc = unit[k]
        for key in ("from", "initial_output"):
            value = desc.get(key)
            if value == f"prev:{x}":
                desc[key] = new_ref
            elif isinstance(value, list):
                desc[key] = [new_ref if v == f"prev:{x}" else v for v in value]
    return new, f"{rec}: {how}; {', '.join(readers)} read {new_ref} instead of prev:{x}"


# ----------------------------------------------------------------------------------------------------
# sep-counted-end


def op_sep_counted_end(case: Case, rng: random.Random) -> Result:
    """The loop ends only after K separator labels: a counter of separators in the loop and the end on it."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    sep = rng.choice([eos, 1, 2])
    k = rng.choice([2, 3])
    late = rng.random() < 0.3
    src = f"prev:{choice}" if late else choice
    is_sep = _fresh(unit, "is_sep")
    unit[is_sep] = {"class": "compare", "kind": "equal", "from": src, "value": sep}
    is_sep_f = _fresh(unit, "is_sep_float")
    unit[is_sep_f] = {"class": "cast", "from": is_sep, "dtype": "float32"}
    cnt = _fresh(unit, "n_sep")
    unit[cnt] = {"class": "combine", "kind": "add", "from": [f"prev:{cnt}", is_sep_f], "initial_output": 0}
    done = _fresh(unit, "enough_sep")
    unit[done] = {"class": "compare", "kind": "greater_equal", "from": cnt, "value": float(k)}
    how = f"{rec}: {cnt} = prev:{cnt} + ({src} == {sep}), {done} = {cnt} >= {k}"
    end = unit.get("end")
    if isinstance(end, dict) and rng.random() < 0.5:
        old = _fresh(unit, "end_label")
        unit[old] = unit.pop("end")
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, done]}
        how += f"; end = logical_or({old}, {done})"
    else:
        if isinstance(end, dict):
            old = _fresh(unit, "end_label")
            unit[old] = unit.pop("end")
            for name in _layers(unit):
                if name != old:
                    srcs = unit[name].get("from")
                    if srcs == "end":
                        unit[name]["from"] = old
                    elif isinstance(srcs, list):
                        unit[name]["from"] = [old if s == "end" else s for s in srcs]
        unit["end"] = {"class": "copy", "from": done}
        if rng.random() < 0.2:
            net[rec].pop("max_seq_len", None)
        how += f"; end = {done} alone"
        if "max_seq_len" not in net[rec]:
            how += " (and no max_seq_len)"
    mode = rng.choices(["none", "output", "decide", "copy"], [0.4, 0.2, 0.25, 0.15])[0]
    if mode == "output":
        unit[cnt]["is_output_layer"] = True
        how += f"; {cnt} an output layer of the loop"
    elif mode in ("decide", "copy"):
        unit[cnt]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_n_sep")
        if mode == "decide":
            net[out] = {"class": "decide", "from": f"{rec}/{cnt}", "is_output_layer": True}
            how += f"; root {out} = decide({rec}/{cnt}), an output layer"
        else:
            net[out] = {"class": "copy", "from": f"{rec}/{cnt}", "is_output_layer": True}
            how += f"; root {out} = copy of {rec}/{cnt}, an output layer"
    return new, how


FRESH85_OPERATORS: tuple[Op, ...] = (
    Op("min-length-eos", op_min_length_eos, 1),
    Op("state-reset-on-label", op_state_reset_on_label, 1),
    Op("sep-counted-end", op_sep_counted_end, 1),
)
