"""A seventy-first set of edit operators (issue 15, fifteenth session, second part), written and seeded before it
was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Turning a training config into a recognition (search) config, the way users do it, with the mistakes they make
on the way: every operator makes several coordinated edits, as one conversion step does (the output section,
the extern data and the targets, the teacher-forced label feedback, the decoding knobs), in a right and in
wrong variants; none repeats an earlier single-knob operator:

* ``recog-outputs``: the output section of a recognition config for a searching decoder: a root ``decide``
  (an existing one, or a new one) becomes the output layer, maybe with the training outputs switched off
  (``is_output_layer`` dropped from the other root layers, or their ``loss`` / ``target`` dropped as well), and
  one or two recognition-only post-processing layers, marked outputs, read the decision (the right way) or the
  beamed decoder itself (where the user forgot the ``decide``): the hypothesis ``length``; a non-EOS mask
  (``compare`` ``not_equal`` with label 0, maybe ``cast`` to float and summed over time); a
  ``reinterpret_data`` setting the time axis (``enforce_batch_major`` with ``set_axes`` ``{"t": 1}``, maybe
  ``set_sparse: False``); a ``seq_len_mask`` over a ``linear`` embedding of the labels with its lengths from the
  decision, or from the beamed decoder where the embedding is of the decision (or the other way round); or the
  beamed labels ``compare``-d ``equal`` with the decision (is a hypothesis the best one);
* ``recog-extern-data``: the target key in ``extern_data`` (or ``num_outputs``) as recognition data lacks it:
  the key removed and nothing else changed (the decoder still names it); the key removed and the decoder made
  target-free (``target`` dropped from the rec layers and the choices, the loop's and root's layers with that
  target lose ``target`` and ``loss`` and get ``n_out`` of its size, plus one for a CTC softmax; the choices
  get ``target: None`` written out, or just lose the option); the key
  kept but marked ``available_for_inference: False`` while the decoder's losses are dropped and a ``decide``
  output added; or the key marked ``available_for_inference: True`` (the user's "search needs the targets")
  with the loop's ``max_seq_len`` taken from the reference (``max_len_from('base:data:KEY')``, maybe
  times 2), maybe the choice's ``beam_size`` set too;
* ``ground-truth-feedback``: the teacher-forced label feedback of a training config left in, or half
  converted: a loop ``copy`` of the reference (``data:KEY``, ``initial_output`` 0) feeds the readers of the
  previous label (``prev:CHOICE`` -> ``prev:LABEL``), or the loop's label embedding read via ``prev:`` takes
  this frame's ``copy`` of the reference instead of the choice (``CHOICE`` -> ``LABEL``): left as in training; marked ``only_on_eval`` (so search
  does not build it though its readers still read it); with the choice set to ``cheating: True`` in addition
  (the user's "search uses the ground truth as in training"); or converted correctly: the feedback ``copy``
  takes the choice instead of the reference (``from`` CHOICE), marked ``only_on_search`` or not, while a
  separate training-only ``copy`` of the reference stays marked ``only_on_eval`` (maybe ``is_output_layer``);
* ``recog-search-opts``: the decoding settings of a recognition config set together: every choice of a
  searching decoder gets one new ``beam_size`` (greedy 1, or 4, 8, 12), maybe ``length_normalization`` (``False``
  or ``True``), the rec layer's ``max_seq_len`` is set as users write it (a constant, ``max_len_from`` of an
  encoder layer, maybe times 2 or 3, ``max_len_from('base:data')`` of the input, or dropped), the root
  ``decide`` gets the same ``length_normalization`` where it has one; and, as leftovers of the training
  config, the choice's score layer keeps or loses its ``loss``, the rec layer's ``target`` is dropped, or the
  choice gets ``search: True`` written out explicitly.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _data_keys,
    _fresh,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH69_SEED = 20270131
N_FRESH69 = 80

Result = "tuple[Case, str] | None"

_LOSS_KEYS = ("loss", "loss_opts", "loss_scale", "loss_only_on_non_search")


def _key_of(target: object) -> str | None:
    """The extern-data key a ``target`` option names (``data:KEY`` or ``KEY``; a list: its first), else None."""
    if isinstance(target, list):
        target = target[0] if target else None
    if not isinstance(target, str) or target.startswith("layer:"):
        return None
    return target.removeprefix("data:")


def _label_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, choice) of every searching decoder's label (non-regression) choice, sorted."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for ch in _unit_choices(unit):
            if unit[ch].get("input_type") != "regression":
                out.append((rec, ch))
    return out


def _decide_of(net: dict[str, Any], rec: str) -> str | None:
    for k in _layers(net):
        if net[k].get("class") == "decide" and _sources(net[k]) == [rec]:
            return k
    return None


def _new_decide(net: dict[str, Any], rec: str) -> str:
    dec = _fresh(net, f"{rec}_decision")
    net[dec] = {"class": "decide", "from": rec}
    return dec


def _scopes_of(net: dict[str, Any]) -> list[dict[str, Any]]:
    return [net] + [net[r]["unit"] for r in _recs(net)]


# ----------------------------------------------------------------------------------------------------


def op_recog_outputs(case: Case, rng: random.Random) -> Result:
    """A ``decide`` output and recognition-only post-processing after a searching decoder."""
    new, net = _copy(case)
    recs = sorted({rec for rec, _ in _label_sites(net)})
    if not recs:
        return None
    rec = rng.choice(recs)
    notes = []
    dec = _decide_of(net, rec)
    if dec is None:
        dec = _new_decide(net, rec)
        notes.append(f"new decide {dec}")
    else:
        notes.append(f"decide {dec}")
    net[dec]["is_output_layer"] = True
    cleanup = rng.choice(["keep", "keep", "outputs", "losses"])
    if cleanup != "keep":
        dropped = []
        for k in _layers(net):
            if k in (dec, rec):
                continue
            desc = net[k]
            if desc.pop("is_output_layer", None) is not None:
                dropped.append(k)
            if cleanup == "losses" and "loss" in desc:
                for opt in _LOSS_KEYS:
                    desc.pop(opt, None)
                if isinstance(desc.get("target"), str) and desc.get("n_out") is None and desc.get("out_dim") is None:
                    dim = _target_dim(new, _key_of(desc["target"]))
                    if dim is not None and desc.get("class") in ("softmax", "linear"):
                        desc["n_out"] = dim
                        desc.pop("target")
                dropped.append(f"{k}(loss)")
        notes.append("training outputs off: " + (", ".join(dropped) if dropped else "none"))
    kinds = rng.sample(["length", "eos_mask", "reinterpret", "seq_mask", "is_best"], rng.choice([1, 1, 2]))
    for kind in kinds:
        beamed = rng.random() < 0.35
        src = rec if beamed else dec
        other = dec if beamed else rec
        which = "beamed" if beamed else "decided"
        if kind == "length":
            out = _fresh(net, f"{rec}_hyp_len")
            net[out] = {"class": "length", "from": src, "is_output_layer": True}
            notes.append(f"length {out} of {src} ({which})")
        elif kind == "eos_mask":
            out = _fresh(net, f"{rec}_not_eos")
            net[out] = {"class": "compare", "from": src, "kind": "not_equal", "value": 0}
            if rng.random() < 0.5:
                cnt = _fresh(net, f"{rec}_num_labels")
                flt = _fresh(net, f"{rec}_not_eos_float")
                net[flt] = {"class": "cast", "from": out, "dtype": "float32"}
                net[cnt] = {"class": "reduce", "mode": "sum", "axis": "T", "from": flt, "is_output_layer": True}
                notes.append(f"non-EOS mask {out} of {src} ({which}), counted in {cnt}")
            else:
                net[out]["is_output_layer"] = True
                notes.append(f"non-EOS mask {out} of {src} ({which})")
        elif kind == "reinterpret":
            out = _fresh(net, f"{rec}_output_bt")
            net[out] = {"class": "reinterpret_data", "from": src, "enforce_batch_major": True,
                        "set_axes": {"t": 1}, "is_output_layer": True}
            extra = ""
            if rng.random() < 0.3:
                net[out]["set_sparse"] = False
                extra = ", set_sparse False"
            notes.append(f"reinterpret_data {out} of {src} ({which}) setting the time axis{extra}")
        elif kind == "seq_mask":
            emb = _fresh(net, f"{rec}_label_vec")
            net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": 8}
            lens = rng.choice([src, src, other])
            out = _fresh(net, f"{rec}_label_vec_masked")
            net[out] = {"class": "seq_len_mask", "from": emb, "mask_value": 0.0, "axis": "T",
                        "is_output_layer": True}
            if lens != src or rng.random() < 0.5:
                net[out]["seq_len_source"] = lens
            notes.append(f"seq_len_mask {out} of an embedding of {src} ({which}), lengths of "
                         f"{net[out].get('seq_len_source', 'its own')}")
        else:
            out = _fresh(net, f"{rec}_is_best")
            net[out] = {"class": "compare", "from": [rec, dec], "kind": "equal", "is_output_layer": True}
            notes.append(f"compare {out} equal of the beamed {rec} and {dec}")
    return new, f"{rec}: " + "; ".join(notes)


def _strip_target(case: Case, desc: dict[str, Any], key: str) -> bool:
    """Drop ``target`` KEY (and its loss) from a layer, giving it ``n_out`` where it needs a size."""
    if _key_of(desc.get("target")) != key:
        return False
    cls = desc.get("class")
    had_loss = desc.get("loss")
    desc.pop("target")
    for opt in _LOSS_KEYS:
        desc.pop(opt, None)
    if cls in ("softmax", "linear") and desc.get("n_out") is None and desc.get("out_dim") is None:
        dim = _target_dim(case, key)
        if dim is not None:
            desc["n_out"] = dim + 1 if had_loss == "ctc" else dim
    return True


def op_recog_extern_data(case: Case, rng: random.Random) -> Result:
    """The target key of the extern data removed or re-flagged, with the decoder made target-free or not."""
    new, net = _copy(case)
    sites = []
    keys = set(_data_keys(case))
    for rec, ch in _label_sites(net):
        key = _key_of(net[rec]["unit"][ch].get("target"))
        if key and key != "data" and key in keys:
            sites.append((rec, ch, key))
    if not sites:
        return None
    rec, ch, key = rng.choice(sites)
    ext = new.get("extern_data") or {}
    in_ext = isinstance(ext.get(key), dict)
    kinds = ["drop-key", "drop-key-fixed", "drop-key-fixed"]
    if in_ext:
        kinds += ["not-available", "available"]
    kind = rng.choice(kinds)
    unit = net[rec]["unit"]
    if kind.startswith("drop-key"):
        ext.pop(key, None)
        (new.get("num_outputs") or {}).pop(key, None)
        if not kind.endswith("fixed"):
            return new, f"extern data {key!r} removed (the decoder {rec} still names it)"
        changed = []
        explicit = rng.random() < 0.6
        for scope_name, layers in [("root", net)] + [(r, net[r]["unit"]) for r in _recs(net)]:
            for k in _layers(layers):
                if _strip_target(new, layers[k], key):
                    changed.append(k if scope_name == "root" else f"{scope_name}/{k}")
                    if explicit and layers[k].get("class") == "choice":
                        layers[k]["target"] = None
        how = "choices target None" if explicit else "choices without target"
        return new, (f"extern data {key!r} removed; target dropped (n_out given) on "
                     f"{', '.join(changed) if changed else 'nothing'} ({how})")
    if kind == "not-available":
        ext[key]["available_for_inference"] = False
        dropped = []
        for k in _layers(unit):
            if "loss" in unit[k]:
                for opt in _LOSS_KEYS:
                    unit[k].pop(opt, None)
                dropped.append(k)
        dec = _decide_of(net, rec) or _new_decide(net, rec)
        net[dec]["is_output_layer"] = True
        return new, (f"extern data {key!r} available_for_inference False; losses dropped in {rec} "
                     f"({', '.join(dropped) if dropped else 'none'}); decide {dec} an output")
    ext[key]["available_for_inference"] = True
    factor = rng.choice(["", "", " * 2"])
    net[rec]["max_seq_len"] = f"max_len_from('base:data:{key}'){factor}"
    how = f"extern data {key!r} available_for_inference True; {rec} max_seq_len {net[rec]['max_seq_len']!r}"
    if rng.random() < 0.4:
        k = rng.choice([1, 4, 8])
        unit[ch]["beam_size"] = k
        how += f"; {ch} beam_size {k}"
    return new, how


def _embeds(unit: dict[str, Any], ch: str) -> list[str]:
    """Loop layers that embed this frame's label (``linear`` / ``copy`` with the choice among their sources),
    read via ``prev:`` by others."""
    return [k for k in _layers(unit) if unit[k].get("class") in ("linear", "copy") and ch in _sources(unit[k])
            and _readers(unit, k, f"prev:{k}")]


def op_ground_truth_feedback(case: Case, rng: random.Random) -> Result:
    """The teacher-forced label feedback of a training config (a loop ``copy`` of the reference) in search."""
    new, net = _copy(case)
    sites = []
    for rec, ch in _label_sites(net):
        unit = net[rec]["unit"]
        key = _key_of(unit[ch].get("target"))
        if not key or key not in _data_keys(case):
            continue
        if _readers(unit, ch, f"prev:{ch}"):
            sites.append((rec, ch, key, "prev"))
        if _embeds(unit, ch):
            sites.append((rec, ch, key, "embed"))
    if not sites:
        return None
    rec, ch, key, mode = rng.choice(sites)
    unit = net[rec]["unit"]
    if mode == "prev":
        readers = _readers(unit, ch, f"prev:{ch}")
        old_ref = f"prev:{ch}"
    else:
        readers = [rng.choice(_embeds(unit, ch))]
        old_ref = ch
    label = _fresh(unit, "target_label")
    kind = rng.choice(["as-train", "only-eval", "cheating", "fixed", "fixed"])
    if kind == "fixed":
        unit[label] = {"class": "copy", "from": ch, "initial_output": 0}
        how = f"feedback copy {label} of {ch}"
        if rng.random() < 0.5:
            unit[label]["only_on_search"] = True
            how += " (only_on_search)"
        train = _fresh(unit, "train_label")
        unit[train] = {"class": "copy", "from": f"data:{key}", "only_on_eval": True}
        how += f", training copy {train} of data:{key} only_on_eval"
        if rng.random() < 0.5:
            unit[train]["is_output_layer"] = True
            how += " (an output)"
    else:
        unit[label] = {"class": "copy", "from": f"data:{key}", "initial_output": 0}
        how = f"feedback copy {label} of data:{key}"
        if kind == "only-eval":
            unit[label]["only_on_eval"] = True
            how += " marked only_on_eval"
        elif kind == "cheating":
            unit[ch]["cheating"] = True
            how += f", {ch} cheating True"
    new_ref = f"prev:{label}" if mode == "prev" else label
    if mode == "embed":
        unit[label].pop("initial_output")
    for k in readers:
        _map_refs(unit[k], lambda r: new_ref if r == old_ref else r)
    return new, f"{rec}: {how}; {', '.join(readers)} read {new_ref} instead of {old_ref}"


def op_recog_search_opts(case: Case, rng: random.Random) -> Result:
    """The decoding settings of a recognition config: beam, length normalization, max_seq_len, leftovers."""
    new, net = _copy(case)
    recs = sorted({rec for rec, _ in _label_sites(net)})
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    choices = [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"]
    notes = []
    beam = rng.choice([1, 4, 8, 12])
    for c in choices:
        unit[c]["beam_size"] = beam
    notes.append(f"beam_size {beam} on {', '.join(choices)}")
    lennorm = rng.choice([None, False, True])
    if lennorm is not None:
        for c in choices:
            unit[c]["length_normalization"] = lennorm
        dec = _decide_of(net, rec)
        if dec:
            net[dec]["length_normalization"] = lennorm
        notes.append(f"length_normalization {lennorm}" + (f" (also on {dec})" if dec else ""))
    encs = [k for k in ("encoder", "encoder0", "enc_output", "lstm_out", "encoder_seq")
            if isinstance(net.get(k), dict) and net[k].get("class") not in ("reduce", "rec", "decide", "choice")]
    opts: list[Any] = [10, 50, "max_len_from('base:data')", "max_len_from('base:data') * 2", None]
    for e in encs[:1]:
        opts += [f"max_len_from('base:{e}')", f"max_len_from('base:{e}') * 2", f"max_len_from('base:{e}') * 3"]
    msl = rng.choice(opts)
    old = net[rec].get("max_seq_len", "<unset>")
    if msl is None:
        if "end" not in unit:
            msl = 20
        else:
            net[rec].pop("max_seq_len", None)
            notes.append(f"max_seq_len dropped (was {old!r})")
    if msl is not None:
        net[rec]["max_seq_len"] = msl
        notes.append(f"max_seq_len {old!r} -> {msl!r}")
    leftover = rng.choice(["none", "drop-loss", "add-loss", "rec-target", "search-true"])
    ch = rng.choice(choices)
    scores = [s for s in _sources(unit[ch]) if s in unit]
    key = _key_of(unit[ch].get("target"))
    if leftover == "drop-loss" and scores and "loss" in unit[scores[0]]:
        for opt in _LOSS_KEYS:
            unit[scores[0]].pop(opt, None)
        notes.append(f"loss of {scores[0]} dropped")
    elif leftover == "add-loss" and scores and key and "loss" not in unit[scores[0]] \
            and unit[scores[0]].get("class") == "softmax":
        unit[scores[0]]["loss"] = "ce"
        unit[scores[0]].setdefault("target", key)
        notes.append(f"loss ce on {scores[0]} (target {unit[scores[0]]['target']!r})")
    elif leftover == "rec-target" and "target" in net[rec]:
        notes.append(f"target {net[rec].pop('target')!r} of {rec} dropped")
    elif leftover == "search-true":
        unit[ch]["search"] = True
        notes.append(f"search True on {ch}")
    return new, f"{rec}: " + "; ".join(notes)


FRESH69_OPERATORS: tuple[Op, ...] = (
    Op("recog-outputs", op_recog_outputs, 1.2),
    Op("recog-extern-data", op_recog_extern_data, 1),
    Op("ground-truth-feedback", op_ground_truth_feedback, 1),
    Op("recog-search-opts", op_recog_search_opts, 1),
)
