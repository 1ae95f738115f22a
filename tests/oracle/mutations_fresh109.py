"""A hundred-and-eleventh set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: hierarchical word / subword decoders put onto the bases' searching decoders: a decoder that searches
over subword units (BPE pieces, characters) and keeps a word-level state that moves on only at word ends,
the word-end flag computed from a chosen subword (a ``gather`` from a table of word-final units kept as a
non-trainable ``variable`` at the root, a ``compare`` with a word-boundary label such as the space symbol of
a character model, or a ``compare`` with the first non-word-final index of a vocabulary sorted so), with the
word-level LM-like state in a ``masked_computation`` masked by that flag (and ``unmask``), or held by a
``switch`` between the new and the previous word state, a word counter carried through ``prev:``, the end
tied to word ends, and the word-level states used after the loop. Sources: ``MaskedComputationLayer`` /
``UnmaskLayer`` (``returnn/tf/layers/rec.py``: inside the loop the mask is a ``[B]`` bool and the layer copies
the previous output and state where it is False) and ``SwitchLayer`` / ``GatherLayer`` / ``CompareLayer`` /
``VariableLayer`` of the installed ``returnn/tf/layers/{basic,variable}.py``; RETURNN's own
``test_MaskedComputationLayer_subnet_search_choices_resolution`` (a ``masked_computation`` whose mask is
``prev:mask``, ``mask`` a ``compare`` of the choice with ``initial_output: True``, its unit a ``subnetwork``
with an embedding and a one-step ``standardlstm``); the masked LM of rwth-i6/i6_experiments
``users/schmitt/.../network_builder`` (``lm_output_masked``: ``masked_computation`` from ``prev:output`` with
mask ``prev:output_emit`` and ``lm_output`` an ``unmask`` of it) and the ``output_wo_b0`` / ``make_masked``
patterns of rwth-i6/returnn-experiments ``2020-rnn-transducer`` and ``users/zeyer`` (a root
``masked_computation`` over the decoder's outputs with a mask read as ``output/<flag>``); the multi-level
(subword / word) LM of Hori et al. (2018, ESPnet ``MultiLevelLM``: a word LM whose state is advanced only
when the word-boundary symbol is emitted, the character LM otherwise) as the published word / subword
hierarchy. None is a variant of an earlier operator; no rule was written for any of them:

* ``word-lm-masked``: a word-level LM state in a ``masked_computation`` inside the loop, masked by a word-end
  flag: the flag of ``prev:CHOICE`` (the previous unit closed a word, so the word LM steps now), or the flag of
  this frame's choice read as ``prev:FLAG`` (the RETURNN test's form; ``initial_output: True`` on the flag, or
  left out), or the flag of this frame's choice itself as the mask (the word LM steps on the unit just
  chosen, so its value is read through ``prev:``); its input the previous (or, in the last form, the current)
  label, or an embedding of the previous label the loop already has; its unit a ``subnetwork`` (embedding and a
  one-step ``standardlstm``, as the test), a ``linear`` word projection, or an ``rnn_cell`` ``LSTMBlock`` on a
  dense input; maybe an ``unmask`` after it (the i6 form); the state (or its ``unmask``, or its ``prev:``)
  becomes an extra source of a dense layer on the choice's scores path, and is sometimes an output layer of
  the loop, or taken out at the root by a ``decide`` of ``REC/STATE`` (the state marked an output layer of the
  loop, or, as users forget, not). Targets: ``MaskedComputationLayer.__init__`` inside the rec loop (mask shape ``()`` bool, the
  ``where`` over ``rec_vars_outputs`` with the previous frame's state), ``get_sub_layer``'s
  ``mask-inside-rec`` path, ``UnmaskLayer`` inside the loop, and the search-choice resolution of a layer
  whose mask and source sit in different frames (``prev:`` / current) of the beam.
* ``word-state-switch``: the same hierarchy written without ``masked_computation``, as users do when they do
  not trust it: a subword accumulator of the current word (``switch`` on the previous word end between the new
  unit's embedding and ``prev:ACC`` plus it), a new word state (``linear`` ``tanh`` of ``prev:WORD`` and the
  accumulator, or of the unit embedding), and ``WORD = switch(word_end, new, prev:WORD)``; the word end of
  ``prev:CHOICE`` (the state read in the same frame) or of the frame's choice (read as ``prev:WORD``); the
  condition sometimes a ``prev:`` of a flag of the current choice; now and then the ``switch`` branches
  written the wrong way round, or the hold branch written without ``prev:`` (a state that never holds);
  ``WORD`` an extra source of a dense layer on the scores path; now and then the word states of the best
  hypothesis taken out at the root (a ``decide`` of ``REC/WORD``, marked an output layer of the loop or not).
  Targets: ``SwitchLayer``'s template over
  ``condition`` / ``true_from`` / ``false_from`` (``SelectSearchSourcesLayer.select_if_needed`` of the three),
  the ``prev:`` state search-choice resolution of the loop (``_TemplateLayer.get_search_choices``), and the
  root ``variable`` table read through ``base:`` by a ``gather`` at a beamed position.
* ``word-count-end``: a word counter carried through ``prev:`` (``combine`` add of ``prev:N`` and a cast of the
  word-end flag of the frame's choice, float or int) and the end tied to word ends: ``end`` and the flag of
  this frame's unit (EOS must itself be word-final), ``end`` and ``prev:`` of the flag (EOS only right after a
  complete word), ``prev:`` of both (the end one frame after a word-final EOS, so that the word state steps
  on the last word too), or ``end`` and ``N >= 1`` (no empty word sequences), or the old end kept; where the
  loop had no ``end``, the EOS compare is added as its old end; the counter read back by the scores path
  (``expand_dims`` of ``prev:N``), an output layer of the loop, read at the root through ``REC/N`` (a
  ``decide`` output layer), or the cast flags summed over the decoded frames at the root (``reduce`` of
  ``REC/FLAG``, maybe ``decide``-d), the loop layer read from the root marked an output layer or not. Targets: the end-layer checks of ``_SubnetworkRecCell.get_output`` (the end flag's search
  choices in the frame's choice sequence, ``RecStepInfoLayer.get_prev_end_flag``), the ``prev:`` counter's
  beam, and ``DecideLayer`` / root access of accumulated loop layers with a beam.
* ``word-seq-rescore``: the word-level states used after the loop, as a word-level second stage: the loop's
  word-end flag of the frame's choice and a dense layer of the scores path (the decoder's state at a
  word-final unit = the word's vector) read at the root as ``REC/FLAG`` and ``REC/VEC`` (mostly marked output
  layers); a root ``masked_computation`` (unit ``copy``, or a ``standardlstm`` ``rec`` unit over the words)
  keeps the word-final frames, a word-level ``standardlstm`` runs over them, a ``reduce`` over the words and a
  ``linear`` score, ``decide``-d; or the ``decide`` put before the masking, on the vectors only (the mask stays
  beamed) or on both, or an ``unmask`` back to the subword frames before the ``decide``. Targets: the root
  ``MaskedComputationLayer`` (``WrappedInternalLayer`` masked sources combining the mask's beam,
  ``SearchBeam.get_combined_beam``), ``UnmaskLayer`` outside the loop, and the beams of accumulated loop
  layers against decided ones at the root (``SearchChoices.translate_to_common_search_beam``).
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
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH109_SEED = 20270171
N_FRESH109 = 80

Result = "tuple[Case, str] | None"
Site = tuple[str, str, int, int]


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _label_sites(case: Case, net: dict[str, Any]) -> list[Site]:
    """(rec, choice, vocabulary size, EOS) of the searching choices over labels of a data key."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            key = _data_target(desc)
            if desc.get("input_type") == "regression" or key is None:
                continue
            dim = _target_dim(case, key)
            if isinstance(dim, int) and dim >= 3:
                out.append((rec, c, dim, _eos(unit, c)))
    return out


def _score_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers on the choice's scores path (``linear`` / ``softmax`` / ``rnn_cell``) that read no
    label directly (not an embedding of a label) and no data key."""
    choices = set(_unit_choices(unit))
    labels = choices | {f"prev:{c}" for c in choices}
    out = []
    for k in sorted(_frame_ancestors(unit, choice) | {choice}):
        desc = unit.get(k)
        if not isinstance(desc, dict) or desc.get("class") not in ("linear", "softmax", "rnn_cell"):
            continue
        if "reuse_params" in desc:  # its parameters' shapes are fixed by another layer
            continue
        srcs = _sources(desc)
        if not srcs or any(s in labels or s.startswith(("data", "base:data")) for s in srcs):
            continue
        if any(s.startswith("prev:") and unit.get(s[len("prev:"):], {}).get("class") == "choice" for s in srcs):
            continue
        out.append(k)
    return out


def _per_frame(unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer changes from frame to frame (it or a layer it reads in the frame reads ``prev:``,
    ``:i`` or a choice): only such a layer has a time axis when read from outside the loop."""
    names = {name} | _frame_ancestors(unit, name)
    for k in names:
        desc = unit.get(k)
        if isinstance(desc, dict) and (desc.get("class") == "choice" or any(
                r.startswith(("prev:", ":i")) for r in _sources(desc))):
            return True
    return False


def _label_embedding(unit: dict[str, Any], choice: str) -> str | None:
    """A loop layer that is an embedding (``linear``) of ``prev:CHOICE`` alone, if the loop has one."""
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") == "linear" and _sources(desc) == [f"prev:{choice}"] and isinstance(desc.get("n_out"), int):
            return k
    return None


def _word_end_flag(net: dict[str, Any], unit: dict[str, Any], label: str, dim: int, eos: int,
                   rng: random.Random, *, name: str = "word_end") -> tuple[str, str]:
    """Add to ``unit`` a bool flag "``label`` is a word-final unit" in one of the forms users write; return
    (the flag's name, a description)."""
    kind = rng.choices(["table", "boundary", "sorted"], [0.55, 0.25, 0.2])[0]
    flag = _fresh(unit, name)
    if kind == "table":
        table = _fresh(net, "word_final_table")
        as_int = rng.random() < 0.3
        net[table] = {"class": "variable", "shape": [dim], "init": 0, "trainable": False,
                      "dtype": "int32" if as_int else "float32"}
        looked = _fresh(unit, f"{flag}_lookup")
        unit[looked] = {"class": "gather", "from": f"base:{table}", "position": label, "axis": "F"}
        if as_int:
            unit[flag] = {"class": "compare", "kind": "equal", "from": looked, "value": 1}
        else:
            unit[flag] = {"class": "compare", "kind": "greater", "from": looked, "value": 0.5}
        how = f"{flag} = gather(base:{table} (a fixed {'int' if as_int else 'float'} table over {dim} units), {label})"
    elif kind == "boundary":
        sym = rng.choice(sorted({1, dim - 1, min(3, dim - 1)} - {eos}) or [1])
        unit[flag] = {"class": "compare", "kind": "equal", "from": label, "value": sym}
        how = f"{flag} = ({label} == {sym}, the word-boundary symbol)"
    else:
        first = rng.choice(sorted({max(1, dim // 2), max(1, dim - dim // 4)}))
        unit[flag] = {"class": "compare", "kind": "less", "from": label, "value": first}
        how = f"{flag} = ({label} < {first}, word-final units sorted first)"
    if rng.random() < 0.25:
        base = _fresh(unit, f"{flag}_unit")
        unit[base] = unit.pop(flag)
        is_eos = _fresh(unit, f"{flag}_eos")
        unit[is_eos] = {"class": "compare", "kind": "equal", "from": label, "value": eos}
        unit[flag] = {"class": "combine", "kind": "logical_or", "from": [base, is_eos]}
        how += f", or {label} == EOS {eos}"
    return flag, how


def _extra_source(unit: dict[str, Any], reader: str, ref: str) -> None:
    _add_source(unit[reader], ref)


# ----------------------------------------------------------------------------------------------------
# word-lm-masked


def op_word_lm_masked(case: Case, rng: random.Random) -> Result:
    """A word-level LM state in a ``masked_computation`` masked by a word-end flag, read by the scores path."""
    new, net = _copy(case)
    sites = [s for s in _label_sites(case, net) if _score_readers(net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, dim, eos = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _score_readers(unit, choice)
    mode = rng.choices(["prev-label", "prev-flag", "cur-flag"], [0.4, 0.35, 0.25])[0]
    if mode == "prev-label":
        flag, how = _word_end_flag(net, unit, f"prev:{choice}", dim, eos, rng)
        mask = flag
    else:
        flag, how = _word_end_flag(net, unit, choice, dim, eos, rng)
        if mode == "prev-flag":
            if rng.random() < 0.75:
                unit[flag]["initial_output"] = True
                how += " (initial_output True)"
            mask = f"prev:{flag}"
        else:
            mask = flag
    hidden = rng.choice([4, 5, 8])
    emb = _label_embedding(unit, choice)
    if mode == "cur-flag":
        src = choice
    elif emb is not None and rng.random() < 0.4:
        src = emb
    else:
        src = f"prev:{choice}"
    dense = src == emb
    kinds = ["subnet", "linear"] + (["cell"] if dense else [])
    kind = rng.choice(kinds)
    if kind == "subnet":
        inner: dict[str, Any] = {
            "class": "subnetwork", "from": "data", "subnetwork": {
                "word_embed": {"class": "linear", "activation": None, "from": "data", "n_out": 4},
                "word_lstm": {"class": "rec", "unit": "standardlstm", "from": "word_embed", "n_out": hidden},
                "output": {"class": "copy", "from": "word_lstm"}}}
        unit_how = f"subnetwork(embedding, standardlstm {hidden})"
    elif kind == "linear":
        inner = {"class": "linear", "activation": "tanh", "from": "data", "n_out": hidden}
        unit_how = f"linear tanh {hidden}"
    else:
        inner = {"class": "rnn_cell", "unit": "LSTMBlock", "from": "data", "n_out": hidden}
        unit_how = f"rnn_cell LSTMBlock {hidden}"
    wlm = _fresh(unit, "word_lm")
    unit[wlm] = {"class": "masked_computation", "mask": mask, "from": src, "unit": inner}
    desc = f"{rec}: {how}; {wlm} = masked_computation(mask {mask}, from {src}, unit {unit_how})"
    value = wlm
    if rng.random() < 0.5:
        un = _fresh(unit, f"{wlm}_unmask")
        unit[un] = {"class": "unmask", "from": wlm, "mask": mask}
        value = un
        desc += f", {un} = unmask({wlm})"
    if mode == "cur-flag" or rng.random() < 0.15:
        ref = f"prev:{value}"
    else:
        ref = value
    reader = rng.choice(readers)
    _extra_source(unit, reader, ref)
    desc += f"; {reader} also reads {ref}"
    export = rng.choices(["none", "output", "root"], [0.55, 0.15, 0.3])[0]
    if export == "output":
        unit[wlm]["is_output_layer"] = True
        desc += f"; {wlm} an output layer of the loop"
    elif export == "root":
        # the word LM states of the best hypothesis, e.g. for a word-level rescoring or for debugging
        marked = rng.random() < 0.6
        if marked:
            unit[value]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_{value}")
        net[out] = {"class": "decide", "from": f"{rec}/{value}", "is_output_layer": True}
        desc += f"; root {out} = decide({rec}/{value}){' (an output layer of the loop)' if marked else ''}"
    return new, desc


# ----------------------------------------------------------------------------------------------------
# word-state-switch


def op_word_state_switch(case: Case, rng: random.Random) -> Result:
    """A word state held by a ``switch`` between the new and the previous word state at word ends."""
    new, net = _copy(case)
    sites = [s for s in _label_sites(case, net) if _score_readers(net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, dim, eos = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _score_readers(unit, choice)
    cur = rng.random() < 0.4
    label = choice if cur else f"prev:{choice}"
    hidden = rng.choice([4, 6])
    # the word end that updates this frame's word state
    if not cur and rng.random() < 0.3:
        # computed on the current choice, read one frame later
        flag0, how = _word_end_flag(net, unit, choice, dim, eos, rng)
        if rng.random() < 0.7:
            unit[flag0]["initial_output"] = False
        cond = f"prev:{flag0}"
        how += f"; condition prev:{flag0}"
    else:
        flag0, how = _word_end_flag(net, unit, label, dim, eos, rng)
        cond = flag0
    emb = _label_embedding(unit, choice) if not cur else None
    if emb is None or rng.random() < 0.5:
        emb = _fresh(unit, "subword_embed")
        unit[emb] = {"class": "linear", "activation": None, "from": label, "n_out": 4}
    word_in = emb
    if rng.random() < 0.55:
        # accumulate the current word's units; restart after the previous word's end (users write the restart
        # one frame late, or on the same flag as the update)
        acc = _fresh(unit, "subword_acc")
        acc_sum = _fresh(unit, f"{acc}_sum")
        unit[acc_sum] = {"class": "combine", "kind": "add", "from": [f"prev:{acc}", emb]}
        restart = cond if cond.startswith("prev:") else f"prev:{cond}"
        unit[acc] = {"class": "switch", "condition": restart, "true_from": emb, "false_from": acc_sum}
        word_in = acc
        how += f"; {acc} = switch({restart}, {emb}, prev:{acc} + {emb})"
    word = _fresh(unit, "word_state")
    word_new = _fresh(unit, f"{word}_new")
    unit[word_new] = {"class": "linear", "activation": "tanh", "from": [f"prev:{word}", word_in], "n_out": hidden}
    variant = rng.choices(["right", "swapped", "no-hold"], [0.75, 0.12, 0.13])[0]
    if variant == "right":
        unit[word] = {"class": "switch", "condition": cond, "true_from": word_new, "false_from": f"prev:{word}"}
        how += f"; {word} = switch({cond}, {word_new}, prev:{word})"
    elif variant == "swapped":
        unit[word] = {"class": "switch", "condition": cond, "true_from": f"prev:{word}", "false_from": word_new}
        how += f"; {word} = switch({cond}, prev:{word}, {word_new}) (branches swapped)"
    else:
        unit[word] = {"class": "switch", "condition": cond, "true_from": word_new, "false_from": 0.0}
        how += f"; {word} = switch({cond}, {word_new}, 0.) (zeros inside a word, no hold)"
    ref = f"prev:{word}" if cur else (word if rng.random() < 0.8 else f"prev:{word}")
    reader = rng.choice(readers)
    _extra_source(unit, reader, ref)
    how = f"{rec}: word end of {label}: {how}; {reader} also reads {ref}"
    if rng.random() < 0.25:
        # the word states of the best hypothesis, taken out at the root
        marked = rng.random() < 0.6
        if marked:
            unit[word]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_{word}")
        net[out] = {"class": "decide", "from": f"{rec}/{word}", "is_output_layer": True}
        how += f"; root {out} = decide({rec}/{word}){' (an output layer of the loop)' if marked else ''}"
    return new, how


# ----------------------------------------------------------------------------------------------------
# word-count-end


def op_word_count_end(case: Case, rng: random.Random) -> Result:
    """A word counter through ``prev:`` and the loop's end tied to word ends."""
    new, net = _copy(case)
    sites = [s for s in _label_sites(case, net)]
    if not sites:
        return None
    rec, choice, dim, eos = rng.choice(sites)
    unit = net[rec]["unit"]
    flag, how = _word_end_flag(net, unit, choice, dim, eos, rng)
    as_int = rng.random() < 0.3
    flag_n = _fresh(unit, f"{flag}_num")
    unit[flag_n] = {"class": "cast", "from": flag, "dtype": "int32" if as_int else "float32"}
    cnt = _fresh(unit, "num_words")
    unit[cnt] = {"class": "combine", "kind": "add", "from": [f"prev:{cnt}", flag_n], "initial_output": 0}
    desc = f"{rec}: {how}; {cnt} = prev:{cnt} + cast({flag}, {'int32' if as_int else 'float32'})"
    end = unit.get("end")
    form = rng.choices(["eos-word-final", "after-word", "delayed", "nonempty", "keep"],
                       [0.25, 0.2, 0.2, 0.2, 0.15])[0]
    if form != "keep":
        if isinstance(end, dict):
            old = _fresh(unit, "end_eos")
            unit[old] = unit.pop("end")
            for k in _layers(unit):
                if k == old:
                    continue
                for key in ("from", "condition", "true_from", "false_from"):
                    v = unit[k].get(key)
                    if v == "end":
                        unit[k][key] = old
                    elif v == "prev:end":
                        unit[k][key] = f"prev:{old}"
                    elif isinstance(v, list):
                        unit[k][key] = [old if s == "end" else f"prev:{old}" if s == "prev:end" else s for s in v]
        else:
            old = _fresh(unit, "end_eos")
            unit[old] = {"class": "compare", "kind": "equal", "from": choice, "value": eos}
        if form == "eos-word-final":
            unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, flag]}
            desc += f"; end = {old} and {flag}"
        elif form == "after-word":
            if rng.random() < 0.7:
                unit[flag]["initial_output"] = True
            unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, f"prev:{flag}"]}
            desc += f"; end = {old} and prev:{flag}"
        elif form == "delayed":
            # one frame after a word-final EOS, so that the word state also steps on the last word
            unit["end"] = {"class": "combine", "kind": "logical_and", "from": [f"prev:{old}", f"prev:{flag}"]}
            desc += f"; end = prev:{old} and prev:{flag} (one frame late)"
        else:
            some = _fresh(unit, "has_words")
            unit[some] = {"class": "compare", "kind": "greater_equal", "from": cnt, "value": 1 if as_int else 1.0}
            unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, some]}
            desc += f"; end = {old} and {some} ({cnt} >= 1)"
    readers = _score_readers(unit, choice)
    if readers and rng.random() < 0.35 and not as_int:
        pos = _fresh(unit, f"{cnt}_feature")
        unit[pos] = {"class": "expand_dims", "from": f"prev:{cnt}", "axis": "F"}
        reader = rng.choice(readers)
        _extra_source(unit, reader, pos)
        desc += f"; {reader} also reads {pos} = expand_dims(prev:{cnt})"
    export = rng.choices(["none", "output", "decide", "reduce"], [0.25, 0.2, 0.3, 0.25])[0]
    if export == "output":
        unit[cnt]["is_output_layer"] = True
        desc += f"; {cnt} an output layer of the loop"
    elif export == "decide":
        marked = rng.random() < 0.75
        if marked:
            unit[cnt]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_num_words")
        net[out] = {"class": "decide", "from": f"{rec}/{cnt}", "is_output_layer": True}
        desc += f"; root {out} = decide({rec}/{cnt}){' (an output layer of the loop)' if marked else ''}"
    elif export == "reduce":
        marked = rng.random() < 0.7
        if marked:
            unit[flag_n]["is_output_layer"] = True
        out = _fresh(net, f"{rec}_word_count")
        net[out] = {"class": "reduce", "mode": "sum", "axis": "T", "from": f"{rec}/{flag_n}"}
        desc += f"; root {out} = reduce sum over T of {rec}/{flag_n}{' (an output layer of the loop)' if marked else ''}"
        if rng.random() < 0.6:
            dec = _fresh(net, f"{out}_decided")
            net[dec] = {"class": "decide", "from": out, "is_output_layer": True}
            desc += f", decided ({dec})"
        else:
            net[out]["is_output_layer"] = True
    return new, desc


# ----------------------------------------------------------------------------------------------------
# word-seq-rescore


def op_word_seq_rescore(case: Case, rng: random.Random) -> Result:
    """Word-level states of the loop, masked to the word ends at the root and scored by a word-level LSTM."""
    new, net = _copy(case)
    sites = []
    for site in _label_sites(case, net):
        rec, choice = site[0], site[1]
        unit = net[rec]["unit"]
        vecs = [k for k in _score_readers(unit, choice) if unit[k].get("class") != "softmax" and _per_frame(unit, k)]
        if vecs:
            sites.append((site, vecs))
    if not sites:
        return None
    (rec, choice, dim, eos), vecs = rng.choice(sites)
    unit = net[rec]["unit"]
    flag, how = _word_end_flag(net, unit, choice, dim, eos, rng)
    vec = rng.choice(vecs)
    desc = f"{rec}: {how}"
    if rng.random() < 0.8:
        unit[flag]["is_output_layer"] = True
        unit[vec]["is_output_layer"] = True
        desc += f"; {flag}, {vec} output layers of the loop"
    hidden = rng.choice([4, 6])
    mask_ref, vec_ref = f"{rec}/{flag}", f"{rec}/{vec}"
    order = rng.choices(["mask-then-decide", "decide-vec", "decide-both", "unmask"], [0.4, 0.2, 0.2, 0.2])[0]
    if order in ("decide-vec", "decide-both"):
        dv = _fresh(net, f"{rec}_{vec}_decided")
        net[dv] = {"class": "decide", "from": vec_ref}
        vec_ref = dv
        desc += f"; {dv} = decide({rec}/{vec})"
        if order == "decide-both":
            dm = _fresh(net, f"{rec}_{flag}_decided")
            net[dm] = {"class": "decide", "from": mask_ref}
            mask_ref = dm
            desc += f", {dm} = decide({rec}/{flag})"
    words = _fresh(net, f"{rec}_words")
    lstm_in_unit = rng.random() < 0.35 and order != "unmask"
    if lstm_in_unit:
        net[words] = {"class": "masked_computation", "from": vec_ref, "mask": mask_ref,
                      "unit": {"class": "rec", "unit": "standardlstm", "from": "data", "n_out": hidden}}
        word_lstm = words
        desc += f"; {words} = masked_computation(mask {mask_ref}, from {vec_ref}, unit standardlstm {hidden})"
    else:
        net[words] = {"class": "masked_computation", "from": vec_ref, "mask": mask_ref, "unit": {"class": "copy"}}
        desc += f"; {words} = masked_computation(mask {mask_ref}, from {vec_ref}, unit copy)"
        word_lstm = _fresh(net, f"{rec}_word_lstm")
        net[word_lstm] = {"class": "rec", "unit": "standardlstm", "from": words, "n_out": hidden}
        desc += f", {word_lstm} = standardlstm over it"
    if order == "unmask":
        back = _fresh(net, f"{word_lstm}_unmask")
        net[back] = {"class": "unmask", "from": word_lstm, "mask": mask_ref}
        desc += f", {back} = unmask back to the subword frames"
        word_lstm = back
    red = _fresh(net, f"{rec}_word_summary")
    net[red] = {"class": "reduce", "mode": rng.choice(["mean", "max"]), "axis": "T", "from": word_lstm}
    score = _fresh(net, f"{rec}_word_score")
    net[score] = {"class": "linear", "activation": None, "from": red, "n_out": 1}
    desc += f", {red} = reduce {net[red]['mode']} over T, {score} = linear 1"
    if order in ("mask-then-decide", "unmask") or rng.random() < 0.5:
        dec = _fresh(net, f"{score}_decided")
        net[dec] = {"class": "decide", "from": score, "is_output_layer": True}
        desc += f", {dec} = decide({score}) (an output layer)"
    else:
        net[score]["is_output_layer"] = True
        desc += " (an output layer)"
    return new, desc


FRESH109_OPERATORS: tuple[Op, ...] = (
    Op("word-lm-masked", op_word_lm_masked, 1.3),
    Op("word-state-switch", op_word_state_switch, 1.0),
    Op("word-count-end", op_word_count_end, 1.0),
    Op("word-seq-rescore", op_word_seq_rescore, 0.8),
)
