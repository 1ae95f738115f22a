"""A twenty-ninth set of edit operators (issue 15, eighth session), written and seeded before it was ever
run, after fresh24 and fresh25 were opened: held out, looked at as counts only when first measured.

State a user carries from frame to frame inside a decoder loop, for coverage, fertility, label history or
language-model fusion (none a variant of an earlier one; no rule was written for any of them):

* ``coverage``: a loop layer's values are accumulated over the frames (``combine`` add or ``eval`` of the
  frame's value and ``prev:`` of the sum, ``initial_output`` 0), and the previous sum is fed back into a
  linear layer the frame's value depends on (the energy of an attention, when the loop has one), as an
  extra source or through a projection of its own;
* ``label-history``: the labels of earlier frames are kept in a chain of ``copy`` / ``reinterpret_data``
  layers each reading ``prev:`` of the one before (``initial_output`` 0, ``zeros`` or ``apply(0)``), and
  the readers of the label embedding read it concatenated with (or plus) an embedding of an older label;
* ``label-count``: a counter of the labels chosen so far that are not label 0 (or not the last label):
  ``compare`` on the choice (or its previous frame), ``cast`` to float, ``combine`` add with ``prev:`` of
  the counter; the readers of a loop layer read it plus the scaled count, or the loop also ends once the
  count reaches a fixed number;
* ``hold-state``: the readers of a loop layer read a ``switch`` that keeps the previous frame's held value
  (``prev:`` of the switch itself) when the previous label was label 0 (or the last label), and takes the
  frame's new value otherwise (not on the layers of an attention);
* ``ilm-state``: an internal language model with a recurrent state of its own inside the loop (a ``rec``
  layer with unit ``nativelstm2`` or ``lstm`` over an embedding of the previous label), its log-softmax
  subtracted from (or added to) the log of the choice's scores (``eval``, ``input_type: log_prob``).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH27_SEED = 20261220
N_FRESH27 = 80

Result = "tuple[Case, str] | None"

#: float-valued loop layer classes a user would carry as a state
_DENSE = ("linear", "activation", "rnn_cell", "combine", "generic_attention", "dot_attention")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (a target, not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("target") is not None]


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    """Attention weights (``softmax_over_spatial``) of a loop unit and what they depend on in the frame
    (layers that may run over the encoder's time axis)."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _dense_states(unit: dict[str, Any]) -> list[str]:
    """Float loop layers other loop layers read in the same frame (no target of their own)."""
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _DENSE
            and not unit[k].get("target") and _readers(unit, k)]


def _last_label(case: Case, unit: dict[str, Any], choice: str, rng: random.Random) -> int:
    dim = _target_dim(case, unit[choice].get("target"))
    return rng.choice([0, dim - 1]) if dim and dim > 1 else 0


def op_coverage(case: Case, rng: random.Random) -> Result:
    """A loop layer's values accumulated over the frames, the previous sum fed back into a linear layer
    the frame's value depends on."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        att = _attention_layers(unit)
        for k in _layers(unit):
            cls = unit[k].get("class")
            if cls == "softmax_over_spatial":
                feed = [s for s in _sources(unit[k]) if s in unit and unit[s].get("class") == "linear"]
            elif cls in (*_DENSE, "softmax") and k != "end" and k not in att:
                feed = [f for f in sorted({k} | _frame_ancestors(unit, k))
                        if unit[f].get("class") == "linear" and f not in att]
            else:
                continue
            sites += [(rec, k, f, cls == "softmax_over_spatial") for f in feed]
    if not sites:
        return None
    att_sites = [s for s in sites if s[3]]
    rec, name, feed, _ = rng.choice(att_sites if att_sites and rng.random() < 0.5 else sites)
    unit = net[rec]["unit"]
    acc = _fresh(unit, f"{name}_accum")
    if rng.random() < 0.5:
        unit[acc] = {"class": "combine", "kind": "add", "from": [name, f"prev:{acc}"]}
    else:
        unit[acc] = {"class": "eval", "from": [name, f"prev:{acc}"], "eval": "0.5 * source(0) + source(1)"}
    unit[acc]["initial_output"] = rng.choice([0, "zeros"])
    back = f"prev:{acc}"
    via = ""
    if rng.random() < 0.5 and isinstance(unit[feed].get("n_out"), int):
        proj = _fresh(unit, f"{acc}_feedback")
        unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": back,
                      "n_out": unit[feed]["n_out"]}
        back, via = proj, f" through {proj}"
    value = unit[feed].get("from")
    if isinstance(value, str):
        unit[feed]["from"] = [value, back]
    elif isinstance(value, list):
        unit[feed]["from"] = [*value, back]
    else:
        unit[feed]["from"] = [back]
    return new, f"{rec}/{acc} sums {name} over the frames; {rec}/{feed} reads prev:{acc}{via}"


def op_label_history(case: Case, rng: random.Random) -> Result:
    """Earlier frames' labels kept in a chain of copies; the label embedding's readers read it with an
    embedding of an older label."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            for emb in _layers(unit):
                desc = unit[emb]
                if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int):
                    continue
                srcs = _sources(desc)
                if f"prev:{c}" in srcs and _readers(unit, emb):
                    sites.append((rec, c, emb, False))
                elif c in srcs and _readers(unit, emb, f"prev:{emb}"):
                    sites.append((rec, c, emb, True))
    if not sites:
        return None
    rec, choice, emb, current = rng.choice(sites)
    unit = net[rec]["unit"]
    depth = rng.choice([1, 2])
    cls = rng.choice(["copy", "reinterpret_data"])
    init = rng.choice([0, "zeros", "apply(0)"])
    chain, prev = [], choice
    for i in range(depth):
        name = _fresh(unit, f"{choice}_back{i + 1}")
        unit[name] = {"class": cls, "from": f"prev:{prev}", "initial_output": init}
        chain.append(name)
        prev = name
    old = chain[-1] if current else f"prev:{chain[-1]}"
    hist = _fresh(unit, f"{choice}_hist_embed")
    unit[hist] = {"class": "linear", "activation": None, "with_bias": False, "from": old,
                  "n_out": unit[emb]["n_out"]}
    mix = _fresh(unit, f"{emb}_with_hist")
    if rng.random() < 0.5:
        unit[mix] = {"class": "concat", "from": [[emb, "F"], [hist, "F"]]}
    else:
        unit[mix] = {"class": "combine", "kind": "add", "from": [emb, hist]}
    if current:
        readers = _readers(unit, emb, f"prev:{emb}")
        if "initial_output" in unit[emb]:
            unit[mix]["initial_output"] = unit[emb]["initial_output"]
        _redirect(unit, readers, f"prev:{emb}", f"prev:{mix}")
    else:
        readers = [r for r in _readers(unit, emb) if r != mix]
        _redirect(unit, readers, emb, mix)
    return new, (f"{rec}: {', '.join(readers)} read {mix}: {emb} with an embedding of {old} "
                 f"(labels kept by {cls} {' -> '.join(chain)})")


def op_label_count(case: Case, rng: random.Random) -> Result:
    """A counter of the chosen labels that are not label 0 (or the last one), read by a loop layer's
    readers or ending the loop."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    label = _last_label(case, unit, choice, rng)
    src = rng.choice([choice, f"prev:{choice}"])
    nz = _fresh(unit, f"{choice}_not_{label}")
    unit[nz] = {"class": "compare", "kind": "not_equal", "from": src, "value": label}
    nzf = _fresh(unit, f"{nz}_float")
    unit[nzf] = {"class": "cast", "dtype": "float32", "from": nz}
    count = _fresh(unit, f"{choice}_count")
    unit[count] = {"class": "combine", "kind": "add", "from": [nzf, f"prev:{count}"], "initial_output": 0}
    states = _dense_states(unit)
    if "end" in unit and (not states or rng.random() < 0.4):
        limit = rng.choice([2, 3, 5, 10])
        by_label, by_count = _fresh(unit, "end_by_label"), _fresh(unit, "end_by_count")
        unit[by_label] = unit.pop("end")
        unit[by_count] = {"class": "compare", "kind": "greater_equal", "from": count, "value": limit}
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [by_label, by_count]}
        return new, f"{rec}/end: the old end or {count} (labels of {src} not {label}) reaches {limit}"
    if not states:
        return None
    state = rng.choice(states)
    ref = f"prev:{count}" if src == choice else count
    readers = _readers(unit, state)
    plus = _fresh(unit, f"{state}_plus_count")
    unit[plus] = {"class": "eval", "from": [state, ref], "eval": "source(0) + 0.1 * source(1)"}
    _redirect(unit, readers, state, plus)
    return new, (f"{rec}: {', '.join(readers)} read {plus}: {state} plus 0.1 * {ref} "
                 f"(a count of labels of {src} not {label})")


def op_hold_state(case: Case, rng: random.Random) -> Result:
    """A loop layer's readers read a switch holding its previous value when the previous label was
    label 0 (or the last one)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        att = _attention_layers(unit)
        sites += [(rec, c, k) for c in _label_choices(unit) for k in _dense_states(unit) if k not in att]
    if not sites:
        return None
    rec, choice, state = rng.choice(sites)
    unit = net[rec]["unit"]
    label = _last_label(case, unit, choice, rng)
    readers = _readers(unit, state)
    held = _fresh(unit, f"{state}_held")
    cond = _fresh(unit, f"prev_{choice}_is_{label}")
    kind = rng.choice(["equal", "not_equal"])
    unit[cond] = {"class": "compare", "kind": kind, "from": f"prev:{choice}", "value": label}
    if kind == "equal":
        unit[held] = {"class": "switch", "condition": cond, "true_from": f"prev:{held}", "false_from": state}
    else:
        unit[held] = {"class": "switch", "condition": cond, "true_from": state, "false_from": f"prev:{held}"}
    init = rng.choice([None, 0, "zeros"])
    if init is not None:
        unit[held]["initial_output"] = init
    _redirect(unit, readers, state, held)
    return new, (f"{rec}: {', '.join(readers)} read {held}, {state} held over frames whose previous "
                 f"{choice} was {label}")


def op_ilm_state(case: Case, rng: random.Random) -> Result:
    """An internal LM with an LSTM state of its own over the previous label, fused with a choice's scores."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            srcs = _sources(unit[c])
            if len(srcs) != 1 or srcs[0] not in unit:
                continue
            scores = unit[srcs[0]]
            act = scores.get("activation")
            if scores.get("class") == "softmax" or act in ("softmax", "log_softmax"):
                dim = _target_dim(case, unit[c].get("target"))
                dim = dim or (scores["n_out"] if isinstance(scores.get("n_out"), int) else None)
                if dim:
                    sites.append((rec, c, srcs[0], dim))
    if not sites:
        return None
    rec, choice, scores, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    embs = [k for k in _layers(unit) if unit[k].get("class") == "linear"
            and _sources(unit[k]) == [f"prev:{choice}"]]
    if embs and rng.random() < 0.5:
        emb = rng.choice(embs)
    else:
        emb = _fresh(unit, "ilm_embed")
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}",
                     "n_out": rng.choice([4, 8])}
    cell_unit = rng.choice(["nativelstm2", "lstm"])
    lstm = _fresh(unit, "ilm_lstm")
    unit[lstm] = {"class": "rec", "unit": cell_unit, "from": emb, "n_out": rng.choice([4, 8])}
    logp = _fresh(unit, "ilm_log_prob")
    unit[logp] = {"class": "linear", "activation": "log_softmax", "from": lstm, "n_out": dim}
    log_scores = "source(0)" if (unit[scores].get("activation") == "log_softmax"
                                 or unit[choice].get("input_type") == "log_prob") else "safe_log(source(0))"
    sign, scale = rng.choice([("-", 0.2), ("+", 0.3)])
    fused = _fresh(unit, f"{scores}_ilm_fused")
    unit[fused] = {"class": "eval", "from": [scores, logp], "eval": f"{log_scores} {sign} {scale} * source(1)"}
    unit[choice]["from"] = fused
    unit[choice]["input_type"] = "log_prob"
    return new, (f"{rec}/{choice} scores over {fused}: log {scores} {sign} {scale} * {logp}, an internal LM "
                 f"({cell_unit} {lstm} over {emb})")


FRESH27_OPERATORS: tuple[Op, ...] = (
    Op("coverage", op_coverage, 1),
    Op("label-history", op_label_history, 1),
    Op("label-count", op_label_count, 1),
    Op("hold-state", op_hold_state, 1),
    Op("ilm-state", op_ilm_state, 1),
)
