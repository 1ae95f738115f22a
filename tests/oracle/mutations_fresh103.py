"""A hundred-and-fifth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Multi-source and multi-target choices, and factored output labels: one ``choice`` layer with several
``from`` sources and several ``target`` keys (a joint search over two or three label streams: a label and a
case / tag factor, a label and a duration or boundary label, a phoneme and a word), ``source_beam_sizes``,
``explicit_search_sources``, reading the single outputs of such a choice through its sub-layers
(``CHOICE/out_0``, ``CHOICE/out_1`` as RETURNN names them) in the loop and after it, and the end / decide /
feedback wiring this needs. Sources: the multi-source code paths of ``ChoiceLayer`` in the installed
``returnn/tf/layers/rec.py`` (``__init__`` with ``_prune_and_combine_sources`` / ``_get_combined_labels``,
``transform_config_dict``, ``get_sub_layer``, ``get_available_sub_layer_names``,
``get_sub_layer_out_data_from_opts``, ``get_dep_layers``), RETURNN's tests ``test_attention_two_targets`` /
``test_attention_two_dependent_targets`` (``tests/test_TFEngine.py``), the factored-NMT example config
(patrick-wilken/returnn-examples ``factored-nmt/config``: ``output_prob_de`` / ``output_prob_fr``, one choice
with ``source_beam_sizes``, ``output_de`` / ``output_fr`` copies of ``output/out_0`` / ``output/out_1`` marked
``is_output_layer``, ``get_rec_accumulated`` with ``sub_layer`` and one ``decide`` per factor at the root) and
the threads rwth-i6/returnn#102 (factored NMT), #113 (ChoiceLayer: multiple targets), #212 (beam fix for the
factored case), #224 (fixes for ChoiceLayer sub-layers), #245 (more than two targets) and #1213 (a choice whose
sources carry no beam). ``custom_score_combine`` takes a Python callable, which a JSON net dict cannot hold, so
no operator sets it. None of the operators is a variant of an earlier one (fresh81's ``factor-chain`` chains
separate choices; here one choice searches the factors jointly); no rule was written for any of them:

* ``joint-factor-choice``: a single-target label choice of a searching decoder becomes the joint choice of the
  factored-NMT config: a factor data key is declared (a copy of the label key's extern data with a small
  vocabulary: case 3/4, boundary 2, duration 4/6/8, word 9/13, tag 5/6; or a ``num_outputs`` entry), a factor
  score layer is put beside the label scores (``softmax`` over the label scores' own sources, with ``n_out`` or
  the factor key as ``target``, a ``log_softmax`` ``linear`` where the choice takes ``log_prob``), and the
  choice takes ``from: [LABEL_SCORES, FACTOR_SCORES]``, ``target: [LABEL, FACTOR]`` (an existing joint choice
  gets a third factor, as #245); ``source_beam_sizes`` left out (each source pruned to the beam size, also a
  factor vocabulary smaller than the beam), clipped to the vocabularies, the config's half beam for each, or
  ``[beam, K]``; the factor order as users write it (label first), the factor first with the targets swapped
  too, or (one in ten) only the sources swapped. The factor is then unused, named by an in-loop ``copy`` of
  ``CHOICE/out_k`` marked an output layer (the config), or fed back: an embedding of ``CHOICE/out_k`` (with
  ``initial_output`` 0) read as ``prev:``, or an embedding of ``prev:`` of a copy of ``CHOICE/out_k`` (with
  ``initial_output`` 0; RETURNN asks for an initial output of ``prev:CHOICE/out_k`` itself, which a sub-layer
  cannot be given), as an extra source of the dense layer that reads the previous label's embedding (``test_attention_two_targets``' ``orth_embed``). Targets:
  ``ChoiceLayer.__init__``'s multi-source search path (``assert self.sources[0].output.dim ==
  self.output.dim``, ``_prune_and_combine_sources``' ``top_k`` per source, ``_get_combined_labels``),
  ``transform_config_dict``'s target-list checks and the sub-layer templates of the rec cell.
* ``factor-sublayer-readout``: the single outputs of a joint choice (the base's own, or one made as above)
  read in the ways of the config, the tests and the threads: at the root ``get_rec_accumulated`` with
  ``sub_layer`` of an in-loop copy of ``CHOICE/out_k`` (marked an output layer, or, one in ten, forgotten, as
  the config's comment warns) and a ``decide`` of it; a root ``decide`` of the path ``REC/COPY``; a root
  ``copy`` of ``REC/COPY`` then decided (the copy mostly an output layer of the loop); the loop's ``end`` on
  the factor (``CHOICE/out_k`` equal to a boundary label, alone or ``logical_or`` with the old end); the
  factor's previous label read in the frame (an embedding of ``CHOICE/out_k`` read as ``prev:``, or of
  ``prev:`` of a copy with ``initial_output`` 0); both streams decided at the root and packed back into one
  joint label (an ``eval`` ``label * K + factor``), packed first and decided once, or only the label decided
  and packed with the still beamed factor; or, on a base that keeps its single-target choice, the choice's
  readers read ``CHOICE/out_0`` (``prev:CHOICE/out_0``) instead (the sub-layer of a one-target choice). Targets:
  ``ChoiceLayer.get_sub_layer`` / ``get_sub_layer_out_data_from_opts`` (the sub-layer's own ``SearchBeam``),
  the rec cell's output-layer selection and ``_opt_search_resolve`` (#224), ``GetRecAccumulatedOutputLayer``,
  ``DecideLayer`` over sub-layer paths and ``SearchChoices.translate_to_common_search_beam`` at the root.
* ``factor-search-deps``: a joint choice whose factor scores carry no beam, and ``explicit_search_sources``:
  the factor scores are a prior that does not depend on the hypothesis (a root ``softmax`` over the time-mean
  of a projection of the input, read through ``base:``, or the same ``softmax`` inside the loop reading
  ``base:``), second source or first (so that ``sources[0]`` has no beam), with or without
  ``explicit_search_sources`` naming ``prev:CHOICE`` (list or dict form), a dense loop layer on the label
  scores' path, ``prev:`` of a copy of ``CHOICE/out_k``, a root encoder layer (``base:``) or another choice of
  the frame (this frame's, where it does not read this one, or ``prev:``); or the usual factor scores with
  one of those explicit search sources. Targets: ``ChoiceLayer.transform_config_dict`` (the
  ``explicit_search_sources`` lookup, the ``rec_previous_layer`` of #1213 only when all sources lack a beam),
  ``get_dep_layers``, ``__init__``'s ``beam_in = self.sources[0].output.beam.beam_size`` and the
  ``search_choices.src_layer`` resolution (``TFNetwork.get_search_choices``).
* ``joint-choice-knobs``: options of a joint choice (the base's own, or one made as above) changed as users
  do: ``cheating`` (not implemented for several sources), ``search: False`` (ground truth of every target,
  with the scores still added to the beam), ``length_normalization: False``, ``keep_beams``, ``beam_size`` 1
  with the source beam sizes kept, ``source_beam_sizes`` whose product is below the beam, one above a factor's
  vocabulary, one entry short or one too many, a ``target`` list one short (the factor's target forgotten) or a
  single string, a third source with its target (#245), ``scheduled_sampling`` left in from training, or
  ``input_type`` flipped to ``log_prob`` / ``logits``. Targets: ``ChoiceLayer.transform_config_dict``
  (``len(d["target"]) == len(d["from"])``), ``__init__``'s multi-source assertions ("Provide exactly one beam
  size per source", "Cheating not yet implemented for multiple sources", the non-search
  ``add_to_beam_scores`` path's ``len(self.sources) == 1``), ``tf.nn.top_k`` in the pruning and
  ``get_out_data_from_opts`` for ``search: False`` (the target data in search).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
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
FRESH103_SEED = 20270165
N_FRESH103 = 80

Result = "tuple[Case, str] | None"

#: Factor kinds (name, vocabulary sizes a user gives them).
_KINDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("case", (3, 4)),
    ("boundary", (2,)),
    ("dur", (4, 6, 8)),
    ("word", (9, 13)),
    ("tag", (5, 6)),
)
#: Loop layer classes that take another dense source.
_DENSE = ("linear", "rnn_cell", "softmax", "copy")


# ----------------------------------------------------------------------------------------------------
# Reading the bases


def _targets(desc: dict[str, Any]) -> list[str] | None:
    """A choice's targets as data keys (a string or a list of strings, no ``layer:``), else None."""
    target = desc.get("target")
    items = [target] if isinstance(target, str) else target if isinstance(target, list) else None
    if not items or not all(isinstance(t, str) and not t.startswith("layer:") for t in items):
        return None
    return [t.removeprefix("data:") for t in items]


def _from_list(desc: dict[str, Any]) -> list[str]:
    value = desc.get("from")
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _label_sites(net: dict[str, Any], *, multi: bool | None = None) -> list[tuple[str, str]]:
    """(rec, choice) of searching label choices (data targets, one per source, not a regression, searching);
    ``multi``: only joint choices (True), only single-source ones (False), or both (None)."""
    out = []
    for rec in _searching_recs(net):
        if ":" in rec:
            continue
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            targets = _targets(desc)
            srcs = _from_list(desc)
            if (targets is None or desc.get("input_type", "prob") not in ("prob", "log_prob", "logits")
                    or desc.get("search", True) is False or len(srcs) != len(targets) or not srcs):
                continue
            if multi is None or multi == (len(srcs) > 1):
                out.append((rec, c))
    return out


def _data_keys(case: Case) -> set[str]:
    return set(case.get("extern_data") or {}) | set(case.get("num_outputs") or {})


def _add_factor_key(new: Case, label_key: str, kind: str, dim: int) -> str | None:
    """Declare a factor data key beside ``label_key`` (same form, a vocabulary of ``dim``); its name."""
    key = _fresh(_data_keys(new), f"{label_key}_{kind}")
    ext = new.get("extern_data") or {}
    if isinstance(ext.get(label_key), dict):
        desc = copy.deepcopy(ext[label_key])
        if isinstance(desc.get("sparse_dim"), dict) and "__dim__" in desc["sparse_dim"]:
            desc["sparse_dim"] = {"__dim__": {"description": f"{key}:sparse-dim", "dimension": dim,
                                              "kind": "feature"}}
            if "name" in desc:
                desc["name"] = key
        else:
            desc["dim"] = dim
            desc["sparse"] = True
        desc.pop("vocab", None)
        new["extern_data"] = {**ext, key: desc}
        return key
    num = new.get("num_outputs") or {}
    if label_key in num:
        new["num_outputs"] = {**num, key: [dim, 1]}
        return key
    return None


def _kind(rng: random.Random) -> tuple[str, int]:
    name, dims = rng.choice(_KINDS)
    return name, rng.choice(dims)


def _beam(desc: dict[str, Any]) -> int:
    value = desc.get("beam_size")
    return value if isinstance(value, int) and not isinstance(value, bool) else 4


def _factor_scores(unit: dict[str, Any], choice: str, fkey: str, dim: int, kind: str,
                   rng: random.Random) -> str:
    """Add the factor's score layer beside the choice's label scores (same sources, same input type)."""
    desc = unit[choice]
    label_src = _from_list(desc)[0]
    head = label_src.split("/", 1)[0]
    srcs: Any = label_src
    if head in unit and isinstance(unit[head], dict) and "/" not in label_src:
        own = unit[head].get("from")
        if own:
            srcs = copy.deepcopy(own)
    name = _fresh(unit, f"{kind}_prob")
    input_type = desc.get("input_type", "prob")
    if input_type == "prob":
        layer: dict[str, Any] = {"class": "softmax", "from": srcs}
        if rng.random() < 0.4:
            layer["target"] = fkey
        else:
            layer["n_out"] = dim
    else:
        layer = {"class": "linear", "activation": "log_softmax" if input_type == "log_prob" else None,
                 "from": srcs, "n_out": dim}
    unit[name] = layer
    return name


def _make_joint(new: Case, net: dict[str, Any], rec: str, choice: str, rng: random.Random, *,
                order: str = "label", sbs: str = "auto", scores: str | None = None,
                kind: tuple[str, int] | None = None) -> dict[str, Any] | None:
    """Add a factor to the choice's sources and targets; what was done, or None where no key can be declared.

    ``order``: ``label`` (factor appended), ``factor`` (factor first, targets too), ``swap-from`` (factor first
    in ``from`` only); ``sbs``: ``auto`` (drawn), ``none`` (left out); ``scores``: a factor score reference made
    by the caller (else one is made here)."""
    unit = net[rec]["unit"]
    desc = unit[choice]
    targets = _targets(desc) or []
    fname, dim = kind or _kind(rng)
    fkey = _add_factor_key(new, targets[0], fname, dim)
    if fkey is None:
        return None
    fscores = scores or _factor_scores(unit, choice, fkey, dim, fname, rng)
    srcs = _from_list(desc)
    beam = _beam(desc)
    label_dim = _target_dim(new, targets[0])
    old_sbs = desc.get("source_beam_sizes")
    if order == "label" or len(srcs) > 1:
        order = "label"
        desc["from"] = [*srcs, fscores]
        desc["target"] = [*targets, fkey]
        index = len(srcs)
    elif order == "factor":
        desc["from"] = [fscores, *srcs]
        desc["target"] = [fkey, *targets]
        index = 0
    else:
        desc["from"] = [fscores, *srcs]
        desc["target"] = [*targets, fkey]
        index = 0
    how = ""
    if isinstance(old_sbs, list):
        new_sbs = [*old_sbs, min(beam, dim)] if index else [min(beam, dim), *old_sbs]
        desc["source_beam_sizes"] = new_sbs
        how = f", source_beam_sizes {new_sbs}"
    elif sbs == "auto":
        r = rng.random()
        sizes: list[int] | None
        if r < 0.4:
            sizes = None
        elif r < 0.75:
            lab = min(beam, label_dim) if isinstance(label_dim, int) else beam
            sizes = [lab, min(beam, dim)]
        elif r < 0.9:
            sizes = [(beam + 1) // 2, (beam + 1) // 2]
        else:
            sizes = [beam, dim]
        if sizes is not None:
            if index == 0:
                sizes = sizes[::-1]
            desc["source_beam_sizes"] = sizes
            how = f", source_beam_sizes {sizes}"
        else:
            how = f", no source_beam_sizes (each source pruned to beam {beam})"
    what = {"label": "label first", "factor": "factor first (targets too)",
            "swap-from": "factor first in from only (targets not swapped)"}[order]
    text = (f"{rec}/{choice} becomes a joint choice from {desc['from']} target {desc['target']} ({what}; factor "
            f"{fkey!r} dim {dim} declared, scores {fscores if ':' in fscores else f'{rec}/{fscores}'}{how})")
    return {"key": fkey, "dim": dim, "kind": fname, "scores": fscores, "index": index, "text": text,
            "label_dim": label_dim}


def _sub(choice: str, index: int) -> str:
    return f"{choice}/out_{index}"


def _feedback_readers(unit: dict[str, Any], choice: str) -> tuple[list[str], list[str]]:
    """(dense layers that read ``prev:EMB`` for an embedding EMB of this frame's choice, dense layers that read an
    embedding of ``prev:CHOICE`` in the frame)."""
    cur_embs = [k for k in _layers(unit) if k != choice and choice in _sources(unit[k])
                and unit[k].get("class") in ("linear", "copy")]
    prev_embs = [k for k in _layers(unit) if f"prev:{choice}" in _sources(unit[k])
                 and unit[k].get("class") in ("linear", "copy")]
    read_prev = [k for k in _layers(unit) if unit[k].get("class") in _DENSE and k not in cur_embs
                 and any(f"prev:{e}" in _sources(unit[k]) for e in cur_embs)]
    read_cur = [k for k in _layers(unit) if unit[k].get("class") in _DENSE and k not in prev_embs
                and f"prev:{choice}" not in _sources(unit[k]) and choice not in _sources(unit[k])
                and any(e in _sources(unit[k]) for e in prev_embs)]
    return read_prev, read_cur


def _add_src(desc: dict[str, Any], ref: str) -> None:
    value = desc.get("from")
    if isinstance(value, str):
        desc["from"] = [value, ref]
    elif isinstance(value, list):
        desc["from"] = [*value, ref]
    else:
        desc["from"] = [ref]


def _feedback(unit: dict[str, Any], rec: str, choice: str, index: int, kind: str,
              rng: random.Random) -> str | None:
    """Feed the factor's label back (an embedding read through ``prev:`` or of ``prev:CHOICE/out_k``)."""
    read_prev, read_cur = _feedback_readers(unit, choice)
    sub = _sub(choice, index)
    emb = _fresh(unit, f"{kind}_embed")
    n = rng.choice([3, 4, 8])
    forms = []
    if read_prev:
        forms.append("cur")
    if read_cur or read_prev:
        forms.append("prev-copy")
    if not forms:
        return None
    form = rng.choice(forms)
    if form == "cur":
        reader = rng.choice(read_prev)
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": sub, "n_out": n,
                     "initial_output": 0}
        _add_src(unit[reader], f"prev:{emb}")
        return f"factor fed back: {rec}/{emb} (embedding of {sub}) read as prev:{emb} by {rec}/{reader}"
    reader = rng.choice(read_cur or read_prev)
    named = _fresh(unit, f"output_{kind}")
    unit[named] = {"class": "copy", "from": sub, "initial_output": 0}
    unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{named}", "n_out": n}
    _add_src(unit[reader], emb)
    return (f"factor fed back: {rec}/{named} = copy of {sub} (initial_output 0), {rec}/{emb} = embedding of "
            f"prev:{named}, read by {rec}/{reader}")


def _name_output(unit: dict[str, Any], choice: str, index: int, kind: str, *, output: bool = True) -> str:
    name = _fresh(unit, f"output_{kind}")
    unit[name] = {"class": "copy", "from": _sub(choice, index)}
    if output:
        unit[name]["is_output_layer"] = True
    return name


def _joint_site(new: Case, net: dict[str, Any], rng: random.Random
                ) -> tuple[str, str, dict[str, Any]] | None:
    """A joint choice to work on: the base's own (60 %), else a single-target choice made joint."""
    multi = _label_sites(net, multi=True)
    if multi and rng.random() < 0.6:
        rec, choice = rng.choice(multi)
        desc = net[rec]["unit"][choice]
        targets = _targets(desc) or []
        index = rng.randrange(1, len(targets))
        kind = targets[index]
        return rec, choice, {"key": kind, "dim": _target_dim(new, kind), "kind": kind.replace("-", "_"),
                             "scores": _from_list(desc)[index], "index": index,
                             "text": f"{rec}/{choice} (a joint choice of the base, {targets})",
                             "label_dim": _target_dim(new, targets[0])}
    single = _label_sites(net, multi=False)
    if not single:
        return None
    rec, choice = rng.choice(single)
    info = _make_joint(new, net, rec, choice, rng)
    if info is None:
        return None
    return rec, choice, info


# ----------------------------------------------------------------------------------------------------
# joint-factor-choice


def op_joint_factor_choice(case: Case, rng: random.Random) -> Result:
    """A label choice becomes a joint choice over the label and a factor (the factored-NMT config)."""
    new, net = _copy(case)
    sites = _label_sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    order = rng.choices(["label", "factor", "swap-from"], [0.8, 0.1, 0.1])[0]
    info = _make_joint(new, net, rec, choice, rng, order=order)
    if info is None:
        return None
    text = info["text"]
    use = rng.choices(["none", "output", "feedback"], [0.25, 0.3, 0.45])[0]
    if use == "feedback":
        fb = _feedback(unit, rec, choice, info["index"], info["kind"], rng)
        if fb is None:
            use = "output"
        else:
            text += f"; {fb}"
    if use == "output":
        name = _name_output(unit, choice, info["index"], info["kind"])
        text += f"; {rec}/{name} = copy of {_sub(choice, info['index'])}, an output layer of the loop"
    elif use == "none":
        text += f"; {_sub(choice, info['index'])} read nowhere"
    return new, text


# ----------------------------------------------------------------------------------------------------
# factor-sublayer-readout


def op_factor_sublayer_readout(case: Case, rng: random.Random) -> Result:
    """The single outputs of a joint choice read through its sub-layers, in the loop and after it."""
    new, net = _copy(case)
    single = _label_sites(net, multi=False)
    if single and rng.random() < 0.15:
        rec, choice = rng.choice(single)
        unit = net[rec]["unit"]
        changed = []
        for k in _layers(unit):
            if k == choice:
                continue
            value = unit[k].get("from")
            for old in (choice, f"prev:{choice}"):
                if value == old:
                    unit[k]["from"] = f"{old}/out_0"
                    changed.append(k)
                elif isinstance(value, list) and old in value:
                    unit[k]["from"] = [f"{old}/out_0" if v == old else v for v in value]
                    changed.append(k)
        if not changed:
            return None
        return new, (f"{rec}/{choice} keeps one target; its readers {sorted(set(changed))} read "
                     f"{choice}/out_0 (prev:{choice}/out_0) instead")
    site = _joint_site(new, net, rng)
    if site is None:
        return None
    rec, choice, info = site
    unit = net[rec]["unit"]
    index, kind = info["index"], info["kind"]
    sub = _sub(choice, index)
    text = info["text"]
    forms = ["accumulated", "path-decide", "path-copy", "end", "prev-copy", "pack"]
    form = rng.choices(forms, [0.22, 0.18, 0.15, 0.17, 0.13, 0.15])[0]
    if form == "accumulated":
        marked = rng.random() < 0.9
        name = _name_output(unit, choice, index, kind, output=marked)
        acc = _fresh(net, f"{rec}_{kind}")
        net[acc] = {"class": "get_rec_accumulated", "from": rec, "sub_layer": name}
        dec = _fresh(net, f"decision_{kind}")
        net[dec] = {"class": "decide", "from": acc, "is_output_layer": True}
        return new, (f"{text}; {rec}/{name} = copy of {sub}{'' if marked else ' (not an output layer)'}; root "
                     f"{acc} = get_rec_accumulated({rec}, sub_layer {name}), {dec} = decide({acc})")
    if form == "path-decide":
        marked = rng.random() < 0.85
        name = _name_output(unit, choice, index, kind, output=marked)
        dec = _fresh(net, f"decision_{kind}")
        net[dec] = {"class": "decide", "from": f"{rec}/{name}", "is_output_layer": True}
        return new, (f"{text}; {rec}/{name} = copy of {sub}{'' if marked else ' (not an output layer)'}; root "
                     f"{dec} = decide of the path {rec}/{name}")
    if form == "path-copy":
        marked = rng.random() < 0.85
        name = _name_output(unit, choice, index, kind, output=marked)
        out = _fresh(net, f"{rec}_{kind}")
        net[out] = {"class": "copy", "from": f"{rec}/{name}"}
        dec = _fresh(net, f"decision_{kind}")
        net[dec] = {"class": "decide", "from": out, "is_output_layer": True}
        return new, (f"{text}; {rec}/{name} = copy of {sub}{'' if marked else ' (not an output layer)'}; root "
                     f"{out} = copy of {rec}/{name}, {dec} = decide({out})")
    if form == "end":
        value = 1 if kind == "boundary" or info["dim"] == 2 else rng.choice([0, 1])
        flag = {"class": "compare", "kind": "equal", "from": sub, "value": value}
        old = unit.get("end")
        if isinstance(old, dict) and rng.random() < 0.5:
            name = _fresh(unit, f"{kind}_end")
            unit[name] = flag
            unit["end"] = {"class": "combine", "kind": "logical_or", "from": [_fresh(unit, "end_label"), name]}
            unit[unit["end"]["from"][0]] = old
            return new, f"{text}; end = logical_or(old end, {sub} == {value})"
        unit["end"] = flag
        return new, f"{text}; end = {sub} == {value} (the factor ends the hypothesis)"
    if form == "prev-copy":
        read_prev, read_cur = _feedback_readers(unit, choice)
        readers = read_cur or read_prev
        if not readers:
            readers = [k for k in _frame_ancestors(unit, _from_list(unit[choice])[0])
                       if isinstance(unit.get(k), dict) and unit[k].get("class") in ("linear", "rnn_cell")]
            if not readers:
                return None
        reader = rng.choice(sorted(readers))
        emb = _fresh(unit, f"{kind}_embed")
        if rng.random() < 0.5:
            unit[emb] = {"class": "linear", "activation": None, "from": sub, "n_out": rng.choice([3, 5]),
                         "initial_output": 0}
            _add_src(unit[reader], f"prev:{emb}")
            return new, (f"{text}; {rec}/{emb} = embedding of {sub} (initial_output 0), prev:{emb} an extra "
                         f"source of {rec}/{reader}")
        named = _fresh(unit, f"output_{kind}")
        unit[named] = {"class": "copy", "from": sub, "initial_output": 0}
        unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{named}", "n_out": rng.choice([3, 5])}
        _add_src(unit[reader], emb)
        return new, (f"{text}; {rec}/{named} = copy of {sub} (initial_output 0), {rec}/{emb} = embedding of "
                     f"prev:{named}, an extra source of {rec}/{reader}")
    # pack: the two streams back into one joint label at the root
    label_dim, dim = info["label_dim"], info["dim"]
    if not isinstance(label_dim, int) or not isinstance(dim, int):
        return None
    main = _name_output(unit, choice, 0 if index else 1, "label")
    fac = _name_output(unit, choice, index, kind)
    expr = f"source(0) * {dim} + source(1)"
    out_type = {"dim": label_dim * dim, "sparse": True, "dtype": "int32"}
    how = rng.choices(["both", "beamed", "label-only"], [0.4, 0.35, 0.25])[0]
    if how == "label-only":
        d0 = _fresh(net, "decision_label")
        net[d0] = {"class": "decide", "from": f"{rec}/{main}"}
        packed = _fresh(net, "joint_label")
        net[packed] = {"class": "eval", "from": [d0, f"{rec}/{fac}"], "eval": expr, "out_type": out_type,
                       "is_output_layer": True}
        return new, (f"{text}; {rec}/{main}, {rec}/{fac} copies of the two sub-layers; root {d0} decides the "
                     f"label only, {packed} = {expr} of {d0} and the beamed {rec}/{fac}")
    if how == "both":
        d0, d1 = _fresh(net, "decision_label"), _fresh(net, f"decision_{kind}")
        net[d0] = {"class": "decide", "from": f"{rec}/{main}"}
        net[d1] = {"class": "decide", "from": f"{rec}/{fac}"}
        packed = _fresh(net, "joint_label")
        net[packed] = {"class": "eval", "from": [d0, d1], "eval": expr, "out_type": out_type,
                       "is_output_layer": True}
        return new, (f"{text}; {rec}/{main}, {rec}/{fac} copies of the two sub-layers; root {d0}, {d1} decide "
                     f"each, {packed} = {expr} packs them")
    packed = _fresh(net, "joint_label")
    net[packed] = {"class": "eval", "from": [f"{rec}/{main}", f"{rec}/{fac}"], "eval": expr, "out_type": out_type}
    dec = _fresh(net, "decision_joint")
    net[dec] = {"class": "decide", "from": packed, "is_output_layer": True}
    return new, (f"{text}; {rec}/{main}, {rec}/{fac} copies of the two sub-layers; root {packed} = {expr} of "
                 f"them (beamed), {dec} = decide({packed})")


# ----------------------------------------------------------------------------------------------------
# factor-search-deps


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A root layer the loop reads through ``base:`` that keeps a time axis (roughly), else None."""
    found = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        refs = _from_list(desc) + [v for k in ("base", "base_ctx", "keys", "values")
                                   if isinstance(v := desc.get(k), str)]
        for ref in refs:
            if ref.startswith("base:"):
                name = ref[len("base:"):].split("/", 1)[0]
                layer = net.get(name)
                if isinstance(layer, dict) and layer.get("class") in ("linear", "copy", "rec", "activation",
                                                                        "layer_norm", "dropout", "conv"):
                    if not (layer.get("class") == "rec" and isinstance(layer.get("unit"), dict)):
                        found.add(name)
    return min(found) if found else None


def _prior(new: Case, net: dict[str, Any], rec: str, fkind: str, dim: int, input_type: str,
           inside: bool) -> tuple[str, str]:
    """A factor prior that does not depend on the hypothesis: (reference the choice reads, how)."""
    enc = _encoder(net, rec)
    if enc is None:
        enc = _fresh(net, "data_proj")
        net[enc] = {"class": "linear", "activation": "tanh", "from": "data", "n_out": 4}
    mean = _fresh(net, f"{enc}_mean")
    net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
    if input_type == "prob":
        layer: dict[str, Any] = {"class": "softmax", "n_out": dim}
    else:
        layer = {"class": "linear", "activation": "log_softmax" if input_type == "log_prob" else None,
                 "n_out": dim}
    unit = net[rec]["unit"]
    if inside:
        name = _fresh(unit, f"{fkind}_prior")
        unit[name] = {**layer, "from": f"base:{mean}"}
        return name, f"{rec}/{name} ({layer['class']} of base:{mean}, mean of {enc}, in the loop)"
    name = _fresh(net, f"{fkind}_prior")
    net[name] = {**layer, "from": mean}
    return f"base:{name}", f"root {name} ({layer['class']} of {mean}, mean of {enc}) read as base:{name}"


def op_factor_search_deps(case: Case, rng: random.Random) -> Result:
    """A joint choice whose factor scores carry no beam, and ``explicit_search_sources`` on a joint choice."""
    new, net = _copy(case)
    sites = _label_sites(net, multi=False)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[choice]
    input_type = desc.get("input_type", "prob")
    label_src = _from_list(desc)[0]
    form = rng.choices(["prior", "prior+explicit", "explicit"], [0.35, 0.35, 0.3])[0]
    fkind, dim = _kind(rng)
    how = ""
    if form == "explicit":
        info = _make_joint(new, net, rec, choice, rng, kind=(fkind, dim))
    else:
        inside = rng.random() < 0.4
        ref, how = _prior(new, net, rec, fkind, dim, input_type, inside)
        order = "factor" if rng.random() < 0.3 else "label"
        info = _make_joint(new, net, rec, choice, rng, order=order, scores=ref, kind=(fkind, dim))
    if info is None:
        return None
    text = info["text"] + (f"; factor scores: {how}" if how else "")
    if form != "prior":
        dense = sorted(k for k in _frame_ancestors(unit, label_src.split("/", 1)[0])
                       if isinstance(unit.get(k), dict) and unit[k].get("class") in ("linear", "rnn_cell", "rec",
                                                                                     "softmax", "copy"))
        enc = _encoder(net, rec)
        named = _fresh(unit, f"output_{info['kind']}")
        options = [["prev:" + choice], {"prev_label": "prev:" + choice}, ["prev:" + named]]
        if dense:
            options.append([rng.choice(dense)])
        if enc is not None:
            options.append([f"base:{enc}"])
        others = [c for c in _unit_choices(unit) if c != choice]
        if others:
            other = rng.choice(others)
            options.append(["prev:" + other])
            if choice not in _frame_ancestors(unit, other):
                options.append([other])
        explicit = rng.choice(options)
        if explicit == ["prev:" + named]:
            unit[named] = {"class": "copy", "from": _sub(choice, info["index"]), "initial_output": 0}
            text += f"; {rec}/{named} = copy of {_sub(choice, info['index'])} (initial_output 0)"
        desc["explicit_search_sources"] = explicit
        text += f"; explicit_search_sources {explicit}"
    if rng.random() < 0.4:
        name = _name_output(unit, choice, info["index"], info["kind"])
        text += f"; {rec}/{name} = copy of {_sub(choice, info['index'])}, an output layer"
    return new, text


# ----------------------------------------------------------------------------------------------------
# joint-choice-knobs


def op_joint_choice_knobs(case: Case, rng: random.Random) -> Result:
    """An option of a joint choice changed as users change it."""
    new, net = _copy(case)
    site = _joint_site(new, net, rng)
    if site is None:
        return None
    rec, choice, info = site
    unit = net[rec]["unit"]
    desc = unit[choice]
    text = info["text"]
    srcs = _from_list(desc)
    targets = _targets(desc) or []
    beam = _beam(desc)
    dims = [_target_dim(new, t) for t in targets]
    knobs = ["cheating", "search-false", "no-lennorm", "keep-beams", "beam1", "sbs-small", "sbs-big",
             "sbs-short", "sbs-long", "target-short", "target-str", "third", "sched", "input-type"]
    weights = [1, 1, 0.6, 0.6, 0.7, 0.8, 0.8, 0.6, 0.5, 0.3, 0.15, 1, 0.5, 0.6]
    knob = rng.choices(knobs, weights)[0]
    if knob == "cheating":
        desc["cheating"] = rng.choice([True, "exclusive"])
        return new, f"{text}; cheating {desc['cheating']!r} on {rec}/{choice}"
    if knob == "search-false":
        desc["search"] = False
        if rng.random() < 0.5:
            desc["length_normalization"] = False
            return new, f"{text}; search: False and length_normalization: False on {rec}/{choice}"
        return new, f"{text}; search: False on {rec}/{choice}"
    if knob == "no-lennorm":
        desc["length_normalization"] = False
        return new, f"{text}; length_normalization: False on {rec}/{choice}"
    if knob == "keep-beams":
        desc["keep_beams"] = True
        return new, f"{text}; keep_beams: True on {rec}/{choice}"
    if knob == "beam1":
        desc["beam_size"] = 1
        if "source_beam_sizes" not in desc:
            desc["source_beam_sizes"] = [min(beam, d) if isinstance(d, int) else beam for d in dims]
        return new, f"{text}; beam_size {beam} -> 1, source_beam_sizes {desc['source_beam_sizes']}"
    if knob == "sbs-small":
        sizes = [1] * len(srcs)
        desc["source_beam_sizes"] = sizes
        return new, f"{text}; source_beam_sizes {sizes} (product below beam {beam})"
    if knob == "sbs-big":
        small = [i for i, d in enumerate(dims) if isinstance(d, int)]
        if not small:
            return None
        i = min(small, key=lambda j: dims[j])
        sizes = [beam] * len(srcs)
        sizes[i] = dims[i] + rng.choice([1, 2])
        desc["source_beam_sizes"] = sizes
        return new, f"{text}; source_beam_sizes {sizes} (source {i}'s vocabulary is {dims[i]})"
    if knob == "sbs-short":
        sizes = [beam] * (len(srcs) - 1)
        desc["source_beam_sizes"] = sizes
        return new, f"{text}; source_beam_sizes {sizes} (one per source but the last)"
    if knob == "sbs-long":
        sizes = [beam] * (len(srcs) + 1)
        desc["source_beam_sizes"] = sizes
        return new, f"{text}; source_beam_sizes {sizes} (one more than sources)"
    if knob == "target-short":
        desc["target"] = targets[:-1]
        return new, f"{text}; target {targets} -> {targets[:-1]} (the last factor's target forgotten)"
    if knob == "target-str":
        desc["target"] = targets[0]
        return new, f"{text}; target {targets} -> {targets[0]!r} (a single string)"
    if knob == "third":
        fname, dim = _kind(rng)
        fkey = _add_factor_key(new, targets[0], fname, dim)
        if fkey is None:
            return None
        scores = _factor_scores(unit, choice, fkey, dim, fname, rng)
        desc["from"] = [*srcs, scores]
        desc["target"] = [*targets, fkey]
        extra = ""
        if isinstance(desc.get("source_beam_sizes"), list):
            desc["source_beam_sizes"] = [*desc["source_beam_sizes"], min(beam, dim)]
            extra = f", source_beam_sizes {desc['source_beam_sizes']}"
        name = _name_output(unit, choice, len(srcs), fname, output=rng.random() < 0.7)
        return new, (f"{text}; a third source {rec}/{scores} with target {fkey!r} (dim {dim}){extra}; "
                     f"{rec}/{name} = copy of {_sub(choice, len(srcs))}")
    if knob == "sched":
        desc["scheduled_sampling"] = {"gold_mixin_prob": rng.choice([0.1, 0.3])}
        return new, f"{text}; scheduled_sampling {desc['scheduled_sampling']} left on {rec}/{choice}"
    old = desc.get("input_type", "prob")
    to = rng.choice([t for t in ("prob", "log_prob", "logits") if t != old])
    desc["input_type"] = to
    return new, f"{text}; input_type {old!r} -> {to!r} on {rec}/{choice} (the score layers unchanged)"


FRESH103_OPERATORS: tuple[Op, ...] = (
    Op("joint-factor-choice", op_joint_factor_choice, 1.5),
    Op("factor-sublayer-readout", op_factor_sublayer_readout, 1.2),
    Op("factor-search-deps", op_factor_search_deps, 1.0),
    Op("joint-choice-knobs", op_joint_choice_knobs, 1.0),
)
