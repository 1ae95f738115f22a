"""A hundred-and-tenth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Hand-written ``eval`` layers on the beam path: ``eval`` (and ``combine`` with ``kind: "eval"``) layers whose
expression or options users write themselves in searching decoders and after them: an explicit ``out_type`` (a
dict with ``dim``, ``sparse``, ``dtype``, ``batch_dim_axis``, ``time_dim_axis``; no ``shape``: when the operators were
tried, the oracle's runner built ``eval`` layers as if their ``out_type`` were absent (one with a ``shape`` list, one
with only ``dtype`` on a sparse source), so most forms here need none and those that do are the rarer ones),
``eval_locals``,
expressions that reduce, tile or reshape their input, use several sources of different beams or none, read the
frame index, cast labels, or compute masks; and ``eval`` layers that replace a built-in layer a user could not
find. Sources: ``EvalLayer`` / ``CombineLayer`` (``get_out_data_from_opts`` and its ``out_type`` handling: a
``shape`` drops the sources' dims, ``dim`` / ``sparse`` drop their sparse dim, the sources' beam is kept;
``_op_kind_eval`` with ``source(i, auto_convert=..., enforce_batch_major=..., as_data=...)``, ``eval_locals``, the
``vars(tf_util)`` namespace and ``self``) in the installed ``returnn/tf/layers/basic.py``, with
``LayerBase._base_get_out_data_from_opts`` (``layers/base.py``), the raw-tensor checks of ``returnn/tensor/tensor.py``
(rank, static dims and dtype of what the expression returns) and ``_SubnetworkRecCell._move_outside_loop``
(``layers/rec.py``: a layer without loop inputs is moved out, ``:i`` never); RETURNN's tests with hand-written
``eval`` layers (``test_ScatterNdLayer_RangeLayer`` in ``tests/test_TFNetworkLayer.py``: an ``eval`` with ``from: []``
and ``out_type`` ``{"shape": (), "dtype": "int32", "sparse": True, "dim": None}``); the ``eval`` layers of the
published attention set-ups (``accum_att_weights`` ``source(0) + source(1) * source(2) * 0.5`` over
``prev:``, the frame and ``base:`` in rwth-i6/returnn-experiments), of rwth-i6/i6_experiments ``users/schmitt``
(``segment_start_delta2`` ``source(0) - 1`` then re-declared sparse, ``weighted_segment_abs_positions``
``tf.cast(source(0), tf.float32) * source(1)``, ``overlap_len0`` over ``prev:`` and the frame, the recognition
penalty ``att_weight_penalty`` from the frame's position) and of the RASR prior combinations there (``combine``
``kind: "eval"`` with ``eval_locals`` ``{"am_scale": ...}`` / ``{"prior_scale": ...}``, ``safe_log(source(0))``);
and the threads where users debug ``eval`` layers in search (rwth-i6/returnn#450, #755, #758: a layer ``has beam
... but no search choices`` when its beam does not follow its inputs; #1606: a batch-less layer where the search
expects one). None is a variant of an earlier operator (not ``eval-first`` / ``fuse-eval`` / ``eval-out-type`` /
``end-step-eval``: no ``combine`` is turned into an ``eval`` of its first source, no chain is fused, no ``out_type``
is added to an existing ``eval``, no ``end`` is computed from the frame index; no ``eval`` is put between a choice
and its scores); no rule was written for any of them:

* ``eval-label-feed``: a label of a searching choice goes through a hand-written ``eval`` on its way to the layer
  that embeds it (a dense loop layer with ``prev:CHOICE`` in ``from``, or with this frame's ``CHOICE`` where the
  loop reads ``prev:`` of the embedding, RETURNN's ``target_embed``): shifted or rotated (``tf.maximum(source(0) -
  1, 0)``, ``floormod``) as ``users/schmitt``'s ``segment_start_delta2``, EOS re-mapped to another label
  (``tf.where(tf.equal(source(0), eos), ...)``, ``eos`` written in or from ``eval_locals``), with an ``out_type`` that
  repeats the vocabulary or re-declares one of V-1 (``{"sparse": True, "dim": V - 1}``); the embedding zeroed
  where the label is EOS by one ``eval`` of two sources (``source(0) * tf.cast(tf.not_equal(source(1), eos),
  tf.float32)``) or by a float mask ``eval`` (``out_type`` dense float32) times the embedding; a one-hot
  ``tf.one_hot(source(0), V, dtype=tf.float32)`` with ``out_type`` ``{"dim": V, "sparse": False, "dtype":
  "float32"}``; a fifth of them as ``combine`` ``kind: "eval"``. Targets: ``CombineLayer.get_out_data_from_opts``
  on a sparse source (``sparse_dim`` dropped or kept), the search choices of ``prev:CHOICE`` / ``CHOICE`` through an
  ``eval`` (``_TemplateLayer.get_search_choices``), ``SearchChoices.translate_to_common_search_beam`` of an
  ``eval`` whose sources are the frame's embedding and its label.
* ``eval-mixed-sources``: an ``eval`` with sources of different beams, or none: between a dense loop layer X and its
  readers in the frame (not a choice, not ``end``), X with ``prev:X`` (``lam * source(0) + (1 - lam) * source(1)``,
  ``lam`` from ``eval_locals``, or ``combine`` ``kind: "eval"`` with the numbers written in; not where X carries an
  encoder's time axis), X with ``base:S`` (S a root summary of width X's: one the loop reads already, or a
  ``tanh`` ``linear`` over a time ``reduce`` of an encoder the loop reads; a sum or a sigmoid gate), X with a
  constant ``eval`` of no sources (in the loop, ``out_type`` without batch; or at the root with the batch of
  ``self.network.get_data_batch_dim()``, which has no beam); or at the root after the loop, the beamed labels of a
  decoder against their decision (a ``decide`` of the base's or a new one: the share of hypotheses agreeing with
  the best one, as beam-agreement confidences are computed, maybe averaged over time by a ``reduce``), a loop
  layer read by its path (``REC/X``, made an output layer) masked by the decided labels, or the labels of two
  searching decoders compared. Targets: ``SearchChoices.translate_to_common_search_beam`` /
  ``SelectSearchSourcesLayer.select_if_needed`` over an ``eval``'s sources (the frame's beam, the previous
  frame's, none, a decided one, another search's), and source-less layers in and out of a loop.
* ``eval-reshape``: ``eval`` layers whose expression reduces, tiles or reshapes a beamed tensor and gives it back in
  the shape it came: in the loop a feature normalisation (``source(0) - tf.reduce_logsumexp(source(0), axis=-1,
  keepdims=True)``, an l2 norm, the feature max; sometimes ``out_type`` ``{"dim": n}``), a grouped normalisation
  by a reshape to ``[-1, g, n // g]`` and back to ``tf.shape(source(0))``, a mean over axis 0 (the batch-times-beam
  axis, which the user takes for another) subtracted in one ``eval`` or in two, read as ``prev:`` or decided at the
  root (``decide`` of ``REC/X_mean0``), the beam tiled by hand onto a ``base:`` input of a loop layer
  (``tf.repeat(source(0), beam, axis=0)``, as ``tile_batch`` in TF decoders; ``beam`` maybe in ``eval_locals``);
  after the loop a loop layer read by its path (``REC/X``, made an output layer) centred over its time axis
  (``source(0, as_data=True).time_dim_axis``) or over axis 0 / 1 written in, whichever the stored layout makes
  it. Targets: the shapes RETURNN cannot check for the batch-times-beam axis (the raw-tensor checks skip dynamic
  dims), ``prev:`` of such a layer through the search's beam selection, ``_opt_search_resolve`` /
  ``DecideLayer`` on an output of the loop, the beam expansion of ``base:`` layers in the loop
  (``copy_extend_with_beam``).
* ``eval-for-builtin``: one built-in layer on the beam path replaced by an ``eval`` that does its job (the name kept,
  its readers unchanged): a root ``decide`` by "the first hypothesis of each beam" (``tf.reshape(source(0),
  [tf.shape(source(0))[0], -1, beam])[:, :, 0]``) or by a plain ``source(0)`` (``loss`` / ``target`` maybe kept), a
  loop ``switch`` by ``tf.where``, a ``softmax_over_spatial`` by ``tf.nn.softmax`` over the time axis
  (``source(0, as_data=True).time_dim_axis``, or axis 1 written in), a loop ``activation`` / ``copy`` by its TF
  function; rarer, the choice by a greedy ``tf.argmax(source(0), axis=-1, output_type=tf.int32)`` with a sparse
  ``out_type`` (the loop then has no search; ``target`` maybe kept) and the ``end`` ``compare`` by ``tf.equal``
  (``out_type`` bool, or only ``{"dtype": "bool"}``). Targets: a beamed root layer where a decided one was
  (``SearchChoices.translate_to_common_search_beam`` of its readers, a second decoder reading it), the
  choice-less loop (``_SubnetworkRecCell`` template construction with ``prev:`` of a non-choice label), the
  ``end`` checks of ``_SubnetworkRecCell.get_output`` (bool, ``(batch,)``).
* ``eval-frame-index``: an ``eval`` between a dense loop layer and its readers that reads the frame index: a
  sinusoid of ``:i`` added (``freq`` in ``eval_locals`` or written in), a scaling by the decoding progress ``:i`` /
  input length (a root ``length`` of an encoder or of ``data``, read through ``base:``), the first frame zeroed
  (``tf.where(tf.equal(source(1), 0), ...)``), a decay by the step read inside the expression through
  ``self.network.get_rec_step_index()`` (``decay`` in ``eval_locals``), or (rarely) the step taken by a
  source-less ``eval`` with a scalar ``out_type`` as RETURNN's ``test_ScatterNdLayer_RangeLayer`` writes one.
  Targets: ``RecStepInfoLayer`` (``:i``, no batch) as an ``eval`` source broadcast against beamed ones
  (``copy_compatible_to``), ``TFNetwork.get_rec_step_info``, ``_move_outside_loop`` of a layer without loop
  inputs (``:i`` is never moved out), and a ``base:`` length tiled to the beam.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH108_SEED = 20270170
N_FRESH108 = 80

Result = "tuple[Case, str] | None"

#: Root layer classes that keep the time axis of their (first) source.
_TIME_KEEPING = ("linear", "copy", "activation", "dropout", "layer_norm", "batch_norm", "combine", "softmax", "conv",
                 "pool", "rec", "eval", "merge_dims", "split_dims", "reinterpret_data", "self_attention", "split")
#: Classes whose width is the width of their single source.
_SAME_WIDTH = ("copy", "activation", "dropout", "layer_norm", "batch_norm")


# ----------------------------------------------------------------------------------------------------
# Helpers


def _data_target(desc: dict[str, Any]) -> str | None:
    """A layer's target when it names one data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of one data key (not a regression)."""
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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _width(case: Case, layers: dict[str, Any], name: str, depth: int = 0) -> int | None:
    """The feature width of a layer of ``layers`` (``n_out``, a softmax's target dim, or its single source's width
    through copies and activations); None when unknown."""
    desc = layers.get(name)
    if not isinstance(desc, dict) or depth > 6:
        return None
    n = _int(desc.get("n_out"))
    if n is not None:
        return n
    cls = desc.get("class")
    if cls == "softmax":
        return _target_dim(case, _data_target(desc))
    if cls in _SAME_WIDTH:
        srcs = _sources(desc)
        if len(srcs) == 1 and srcs[0] in layers:
            return _width(case, layers, srcs[0], depth + 1)
    return None


def _dense_loop_layers(case: Case, unit: dict[str, Any]) -> list[tuple[str, int]]:
    """(name, width) of the loop's dense layers of known width (not choices, not ``end``, not sparse)."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k == "end" or desc.get("class") in ("choice", "compare", "eval", "combine", "subnetwork"):
            continue
        if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
            continue
        n = _width(case, unit, k)
        if n is not None and n > 0:
            out.append((k, n))
    return out


def _frame_readers(unit: dict[str, Any], name: str) -> list[str]:
    """Loop layers that read this frame's ``name`` (any reference option), not choices and not ``end``."""
    return [k for k in _readers(unit, name) if k != "end" and unit[k].get("class") != "choice"]


_TIME_DROPPING = ("generic_attention", "dot_attention", "reduce", "rnn_cell", "rec", "choice", "gather", "get_last_hidden_state")


def _has_enc_time(case: Case, net: dict[str, Any], unit: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether a loop layer (roughly) carries the time axis of an encoder read through ``base:`` (attention
    energies and weights): ``prev:`` of such a layer needs an initial output of unknown length."""
    desc = unit.get(name)
    if not isinstance(desc, dict) or depth > 10 or desc.get("class") in _TIME_DROPPING:
        return False
    for ref in _refs(desc):
        if ref.startswith("base:"):
            root = ref[len("base:"):].split("/", 1)[0]
            if root == "data" or root.startswith("data:") or _root_has_time(case, net, root):
                return True
        else:
            head = ref.removeprefix("prev:").split("/", 1)[0]
            if ":" not in head and head in unit and head != name and _has_enc_time(case, net, unit, head, depth + 1):
                return True
    return False


def _replace_in_from(desc: dict[str, Any], old: str, new: str) -> None:
    value = desc.get("from")
    if value == old:
        desc["from"] = new
    elif isinstance(value, list):
        desc["from"] = [new if v == old else v for v in value]


def _data_has_time(case: Case, key: str) -> bool:
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict):
        if "time_dim_axis" in ext and ext["time_dim_axis"] is None:
            return False
        shape = ext.get("shape")
        return not (isinstance(shape, (list, tuple)) and None not in shape)
    return key in (case.get("num_outputs") or {})


def _root_has_time(case: Case, net: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether a root layer (or ``data`` / ``data:KEY``) surely keeps a time axis (a rough look)."""
    if name == "data" or name.startswith("data:"):
        return _data_has_time(case, "data" if name == "data" else name[len("data:"):])
    desc = net.get(name)
    if not isinstance(desc, dict) or depth > 40:
        return False
    cls = desc.get("class")
    if cls not in _TIME_KEEPING:
        return False
    if cls == "rec":
        return True  # an RNN over its input's time axis, or a decoder with its own
    if cls == "eval":
        return False
    srcs = _sources(desc)
    return bool(srcs) and _root_has_time(case, net, srcs[0], depth + 1)


def _root_width(case: Case, net: dict[str, Any], name: str, depth: int = 0) -> int | None:
    if name == "data" or name.startswith("data:"):
        key = "data" if name == "data" else name[len("data:"):]
        ext = (case.get("extern_data") or {}).get(key)
        if isinstance(ext, dict) and not ext.get("sparse") and not ext.get("sparse_dim"):
            return _int(ext.get("dim"))
        return None
    desc = net.get(name)
    if not isinstance(desc, dict) or depth > 6:
        return None
    n = _int(desc.get("n_out"))
    if n is not None:
        return n
    time_reduce = desc.get("class") == "reduce" and str(desc.get("axis", desc.get("axes"))).lower() in ("t", "time")
    if desc.get("class") in _SAME_WIDTH or time_reduce:
        srcs = _sources(desc)
        if len(srcs) == 1:
            return _root_width(case, net, srcs[0], depth + 1)
    return None


def _encoders(case: Case, net: dict[str, Any], rec: str) -> list[tuple[str, int]]:
    """(root layer, width) the loop reads through ``base:`` that surely have a time axis and a known width."""
    names = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        for ref in _refs(desc):
            if ref.startswith("base:") and not ref.startswith("base:base:"):
                names.add(ref[len("base:"):].split("/", 1)[0])
    out = []
    for name in sorted(names):
        if name.startswith("data"):
            continue
        n = _root_width(case, net, name)
        if name in net and n and _root_has_time(case, net, name) and net[name].get("class") != "rec":
            out.append((name, n))
    return out


def _sublayer_refs(net: dict[str, Any], rec: str, name: str) -> bool:
    """Whether anything references ``name``'s sub-layers (``name/...``) or names it as an explicit search source."""
    unit = net[rec]["unit"]
    for k in _layers(unit):
        desc = unit[k]
        for ref in _refs(desc):
            bare = ref.removeprefix("prev:")
            if bare.startswith(f"{name}/"):
                return True
        for key in ("explicit_search_source", "explicit_search_sources"):
            value = desc.get(key)
            if value is not None and name in str(value):
                return True
    for k in _layers(net):
        for ref in _refs(net[k]):
            if ref.startswith(f"{rec}/{name}"):
                return True
    return False


def _beam_of(unit: dict[str, Any], choice: str) -> int | None:
    return _int(unit[choice].get("beam_size"))


# ----------------------------------------------------------------------------------------------------
# eval-label-feed


def _label_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, int, str, str]]:
    """(rec, choice, vocabulary, embedding, label reference) where a dense loop layer embeds ``prev:CHOICE`` or
    this frame's ``CHOICE``."""
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            dim = _target_dim(case, _data_target(unit[c]))
            if not isinstance(dim, int) or dim < 3:
                continue
            for ref in (f"prev:{c}", c):
                for k in _layers(unit):
                    if ref in _sources(unit[k]) and unit[k].get("class") in ("linear", "rnn_cell", "softmax"):
                        sites.append((r, c, dim, k, ref))
    return sites


def op_eval_label_feed(case: Case, rng: random.Random) -> Result:
    """A label of a searching choice goes through a hand-written ``eval`` before (or into) the layer that embeds it."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, dim, emb, ref = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    stem = f"prev_{choice}" if ref.startswith("prev:") else choice
    form = rng.choices(["shift", "remap", "mask-mul", "mask-two", "onehot"], [0.24, 0.22, 0.32, 0.1, 0.12])[0]
    layer_cls = "combine" if rng.random() < 0.2 else "eval"

    def make(srcs: Any, expr: str, **opts: Any) -> dict[str, Any]:
        if layer_cls == "combine":
            return {"class": "combine", "kind": "eval", "from": srcs, "eval": expr, **opts}
        return {"class": "eval", "from": srcs, "eval": expr, **opts}

    if form in ("shift", "remap"):
        name = _fresh(unit, f"{stem}_{'shifted' if form == 'shift' else 'remapped'}")
        if form == "shift":
            if rng.random() < 0.55:
                expr, how = "tf.maximum(source(0) - 1, 0)", f"max({ref} - 1, 0)"
            else:
                expr, how = f"tf.math.floormod(source(0) + {dim - 1}, {dim})", f"({ref} + {dim - 1}) mod {dim}"
        else:
            other = rng.choice([dim - 1, 1])
            if rng.random() < 0.5:
                expr = f"tf.where(tf.equal(source(0), {eos}), tf.fill(tf.shape(source(0)), {other}), source(0))"
            else:
                expr = f"tf.where(tf.equal(source(0), eos), tf.zeros_like(source(0)) + {other}, source(0))"
            how = f"{ref} with EOS {eos} mapped to {other}"
        opts: dict[str, Any] = {}
        if "eos)" in expr:
            opts["eval_locals"] = {"eos": eos}
        u = rng.random()
        if u < 0.3:
            opts["out_type"] = {"sparse": True, "dim": dim, "dtype": "int32"}
            how += ", out_type sparse (same vocabulary)"
        elif u < 0.45 and form == "shift":
            opts["out_type"] = {"sparse": True, "dim": dim - 1}
            how += f", out_type re-declares a vocabulary of {dim - 1}"
        unit[name] = make(ref, expr, **opts)
        _replace_in_from(unit[emb], ref, name)
        return new, f"{rec}: {emb} reads {name} = {layer_cls} {how} instead of {ref}"
    if form == "onehot":
        name = _fresh(unit, f"{stem}_onehot")
        out_type: dict[str, Any] = {"dim": dim, "sparse": False, "dtype": "float32"}
        unit[name] = make(ref, f"tf.one_hot(source(0), {dim}, dtype=tf.float32)", out_type=out_type)
        _replace_in_from(unit[emb], ref, name)
        return new, f"{rec}: {emb} reads {name} = {layer_cls} one-hot of {ref} (out_type dense {dim}) instead of {ref}"
    # masks: the embedding zeroed where the label is EOS
    readers = _frame_readers(unit, emb)
    prev_readers = [k for k in _readers(unit, emb, f"prev:{emb}") if k != "end" and unit[k].get("class") != "choice"]
    if not readers and not prev_readers:
        return None
    masked = _fresh(unit, f"{emb}_masked")
    if form == "mask-mul":
        if rng.random() < 0.5:
            unit[masked] = make([emb, ref], "source(0) * tf.cast(tf.not_equal(source(1), eos), tf.float32)",
                                eval_locals={"eos": eos})
        else:
            unit[masked] = make([emb, ref], f"source(0) * tf.cast(tf.not_equal(source(1), {eos}), tf.float32)")
        if rng.random() < 0.3:
            unit[masked]["out_type"] = {"dtype": "float32"}
        how = f"{layer_cls} {emb} * float({ref} != {eos})"
    else:
        mask = _fresh(unit, f"{stem}_not_eos")
        unit[mask] = {"class": "eval", "from": ref, "eval": f"tf.cast(tf.not_equal(source(0), {eos}), tf.float32)",
                      "out_type": {"dtype": "float32", "sparse": False, "dim": None}}
        unit[masked] = make([emb, mask], "source(0) * source(1)")
        how = f"{layer_cls} {emb} * {mask}, {mask} = eval float({ref} != {eos}) (out_type dense float32)"
    _redirect(unit, readers, emb, masked)
    _redirect(unit, prev_readers, f"prev:{emb}", f"prev:{masked}")
    who = ", ".join(sorted(set(readers) | set(prev_readers)))
    return new, f"{rec}: {who} read {masked} = {how}"


# ----------------------------------------------------------------------------------------------------
# eval-mixed-sources


def _summary(case: Case, net: dict[str, Any], rec: str, n: int, rng: random.Random) -> tuple[str, str] | None:
    """A root layer without time axis of width ``n`` for the loop to read through ``base:``: one the loop reads
    already, else a ``linear`` over a time ``reduce`` of an encoder the loop reads (added)."""
    unit = net[rec]["unit"]
    have = sorted({ref[len("base:"):] for desc in unit.values() if isinstance(desc, dict) for ref in _refs(desc)
                   if ref.startswith("base:") and not ref.startswith("base:base:")})
    ready = [k for k in have if k in net and net[k].get("class") == "reduce" and _root_width(case, net, k) == n]
    ready += [k for k in have if k in net and net[k].get("class") == "linear" and _int(net[k].get("n_out")) == n
              and any(net.get(s, {}).get("class") == "reduce" for s in _sources(net[k]))]
    if ready and rng.random() < 0.6:
        return rng.choice(ready), "read by the loop already"
    encs = _encoders(case, net, rec)
    if not encs:
        return None
    enc, _ = rng.choice(encs)
    red = _fresh(net, f"{enc}_avg")
    net[red] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
    proj = _fresh(net, f"{enc}_avg_{n}")
    net[proj] = {"class": "linear", "activation": "tanh", "from": red, "n_out": n}
    return proj, f"tanh linear ({n}) of the time mean of {enc}"


def _mixed_root(case: Case, net: dict[str, Any], rng: random.Random, new: Case) -> Result:
    """At the root: a decoder's beamed values with a decision (of its labels or of the values), or two decoders."""
    recs = [r for r in _searching_recs(net) if "output" in _label_choices(net[r]["unit"])
            and net[r]["unit"]["output"].get("class") == "choice"]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    eos = _eos(unit, "output")
    decides = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    form = rng.choices(["labels", "states", "two"], [0.5, 0.35, 0.15])[0]
    others = [r for r in _searching_recs(net) if r != rec]
    if form == "two" and not others:
        form = "labels"
    name = _fresh(net, f"{rec}_agrees")
    if form == "two":
        other = rng.choice(others)
        net[name] = {"class": "eval", "from": [rec, other],
                     "eval": "tf.cast(tf.equal(source(0), source(1)), tf.int32)", "is_output_layer": True}
        return new, f"root {name} = eval int(equal({rec}, {other})), two searching decoders' labels, output"
    if decides:
        dec = decides[0]
        how_dec = f"the base's decide {dec}"
    else:
        dec = _fresh(net, f"{rec}_decision")
        net[dec] = {"class": "decide", "from": rec}
        how_dec = f"a new decide {dec}"
    if form == "labels":
        net[name] = {"class": "eval", "from": [rec, dec], "eval": "tf.cast(tf.equal(source(0), source(1)), tf.int32)",
                     "is_output_layer": True}
        how = f"root {name} = eval int(equal({rec}, {dec})): the beam's labels against {how_dec}"
        if rng.random() < 0.4:
            conf = _fresh(net, f"{rec}_agreement")
            net[conf] = {"class": "reduce", "mode": "mean", "axes": "T", "from": name, "is_output_layer": True}
            how += f"; {conf} its mean over time"
        return new, how + ", output layers"
    dense = _dense_loop_layers(case, unit)
    if not dense:
        return None
    x, _ = rng.choice(dense)
    unit[x]["is_output_layer"] = True
    name = _fresh(net, f"{rec}_{x}_on_best")
    net[name] = {"class": "eval", "from": [f"{rec}/{x}", dec],
                 "eval": f"source(0) * tf.cast(tf.not_equal(source(1), {eos}), tf.float32)", "is_output_layer": True}
    return new, (f"root {name} = eval {rec}/{x} (beamed, marked an output layer) masked where {how_dec} is EOS "
                 f"{eos}, output")


def op_eval_mixed_sources(case: Case, rng: random.Random) -> Result:
    """An ``eval`` whose sources come from different beams (the frame, ``prev:``, ``base:``, a decision) or none."""
    new, net = _copy(case)
    form = rng.choices(["prev-mix", "root-summary", "no-source", "root"], [0.29, 0.29, 0.07, 0.35])[0]
    if form == "root":
        return _mixed_root(case, net, rng, new)
    sites = [(r, x, n) for r in _searching_recs(net) for x, n in _dense_loop_layers(case, net[r]["unit"])
             if _frame_readers(net[r]["unit"], x)
             and (form != "prev-mix" or not _has_enc_time(case, net, net[r]["unit"], x))]
    if not sites:
        return None
    rec, x, n = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _frame_readers(unit, x)
    name = _fresh(unit, f"{x}_mixed")
    if form == "prev-mix":
        lam = rng.choice([0.5, 0.7, 0.9])
        if rng.random() < 0.5:
            unit[name] = {"class": "eval", "from": [x, f"prev:{x}"],
                          "eval": "lam * source(0) + (1. - lam) * source(1)", "eval_locals": {"lam": lam}}
            how = f"eval lam * {x} + (1 - lam) * prev:{x}, eval_locals lam={lam}"
        else:
            unit[name] = {"class": "combine", "kind": "eval", "from": [x, f"prev:{x}"],
                          "eval": f"{lam} * source(0) + {round(1 - lam, 2)} * source(1)"}
            how = f"combine eval {lam} * {x} + {round(1 - lam, 2)} * prev:{x}"
    elif form == "root-summary":
        got = _summary(case, net, rec, n, rng)
        if got is None:
            return None
        summ, what = got
        if rng.random() < 0.5:
            unit[name] = {"class": "eval", "from": [x, f"base:{summ}"], "eval": "source(0) + source(1)"}
            how = f"eval {x} + base:{summ}"
        else:
            unit[name] = {"class": "eval", "from": [f"base:{summ}", x], "eval": "source(1) * tf.sigmoid(source(0))"}
            how = f"eval {x} * sigmoid(base:{summ})"
        how += f" ({summ}: {what})"
    else:
        bias = _fresh(unit, f"{x}_bias")
        value = rng.choice([0.1, 0.5, 1.0])
        if rng.random() < 0.5:
            desc: dict[str, Any] = {"class": "eval", "from": [], "eval": f"tf.fill([{n}], value)",
                                    "eval_locals": {"value": value},
                                    "out_type": {"dim": n, "batch_dim_axis": None, "time_dim_axis": None}}
            ref = bias
            unit[bias] = desc
            how = f"{bias} = eval from [] of {n} values (out_type without batch)"
        else:
            bias = _fresh(net, f"{rec}_{x}_bias")
            net[bias] = {"class": "eval", "from": [], "eval": f"tf.fill([self.network.get_data_batch_dim(), {n}], {value})",
                         "out_type": {"dim": n, "time_dim_axis": None}}
            ref = f"base:{bias}"
            how = f"root {bias} = eval from [] with the batch of get_data_batch_dim() (out_type dim {n}, no time)"
        unit[name] = {"class": "eval", "from": [x, ref], "eval": "source(0) + source(1)"}
        how = f"eval {x} + {ref}; {how}"
    _redirect(unit, readers, x, name)
    return new, f"{rec}: {', '.join(readers)} read {name} = {how}"


# ----------------------------------------------------------------------------------------------------
# eval-reshape


def op_eval_reshape(case: Case, rng: random.Random) -> Result:
    """``eval`` layers that reduce, tile or reshape a beamed tensor inside their expression."""
    new, net = _copy(case)
    form = rng.choices(["normalise", "roundtrip", "beam-mean", "tile-beam", "root-time"],
                       [0.22, 0.15, 0.28, 0.12, 0.23])[0]
    if form == "root-time":
        sites = [(r, x, n) for r in _searching_recs(net) for x, n in _dense_loop_layers(case, net[r]["unit"])]
        if not sites:
            return None
        rec, x, n = rng.choice(sites)
        net[rec]["unit"][x]["is_output_layer"] = True
        name = _fresh(net, f"{rec}_{x}_centered")
        axis, how = rng.choices([("source(0, as_data=True).time_dim_axis", "its time axis"),
                                 ("0", "axis 0 (the time axis as stored)"),
                                 ("1", "axis 1 (taken for time; the batch-times-beam axis as stored)")],
                                [0.5, 0.25, 0.25])[0]
        net[name] = {"class": "eval", "from": f"{rec}/{x}",
                     "eval": f"source(0) - tf.reduce_mean(source(0), axis={axis}, keepdims=True)",
                     "is_output_layer": True}
        return new, (f"root {name} = eval {rec}/{x} minus its mean over {how}, an output layer; {rec}/{x} marked an "
                     "output layer")
    sites = [(r, x, n) for r in _searching_recs(net) for x, n in _dense_loop_layers(case, net[r]["unit"])
             if _frame_readers(net[r]["unit"], x) and (form != "roundtrip" or (n % 2 == 0 and n >= 4))]
    if form == "tile-beam":
        sites = []
        for r in _searching_recs(net):
            unit = net[r]["unit"]
            beams = [b for c in _unit_choices(unit) if (b := _beam_of(unit, c))]
            for x, n in _dense_loop_layers(case, unit):
                bases = [s for s in _sources(unit[x]) if s.startswith("base:") and "/" not in s]
                if beams and bases:
                    sites.append((r, x, n))
    if not sites:
        return None
    rec, x, n = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _frame_readers(unit, x)
    if form == "normalise":
        name = _fresh(unit, f"{x}_normed")
        expr, how = rng.choice([
            ("source(0) - tf.reduce_logsumexp(source(0), axis=-1, keepdims=True)", "log-normalised over features"),
            ("source(0) / (tf.norm(source(0), axis=-1, keepdims=True) + 1e-6)", "l2-normalised over features"),
            ("source(0) - tf.reduce_max(source(0), axis=-1, keepdims=True)", "minus its feature max")])
        unit[name] = {"class": "eval", "from": x, "eval": expr}
        if rng.random() < 0.3:
            unit[name]["out_type"] = {"dim": n}
            how += f", out_type dim {n}"
        _redirect(unit, readers, x, name)
        return new, f"{rec}: {', '.join(readers)} read {name} = eval {x} {how}"
    if form == "roundtrip":
        name = _fresh(unit, f"{x}_groupnorm")
        groups = 2 if n % 4 or rng.random() < 0.5 else 4
        unit[name] = {"class": "eval", "from": x,
                      "eval": f"tf.reshape(tf.nn.l2_normalize(tf.reshape(source(0), [-1, {groups}, {n // groups}]), "
                              f"axis=-1), tf.shape(source(0)))"}
        _redirect(unit, readers, x, name)
        return new, (f"{rec}: {', '.join(readers)} read {name} = eval {x} reshaped to [-1, {groups}, {n // groups}], "
                     "normalised, reshaped back")
    if form == "tile-beam":
        base_src = rng.choice([s for s in _sources(unit[x]) if s.startswith("base:") and "/" not in s])
        beam = max(b for c in _unit_choices(unit) if (b := _beam_of(unit, c)))
        name = _fresh(unit, f"{base_src[len('base:'):]}_tiled")
        if rng.random() < 0.5:
            unit[name] = {"class": "eval", "from": base_src, "eval": f"tf.repeat(source(0), {beam}, axis=0)"}
            how = f"tf.repeat({base_src}, {beam}, axis=0)"
        else:
            unit[name] = {"class": "eval", "from": base_src, "eval": "tf.repeat(source(0), beam, axis=0)",
                          "eval_locals": {"beam": beam}}
            how = f"tf.repeat({base_src}, beam, axis=0), eval_locals beam={beam}"
        _replace_in_from(unit[x], base_src, name)
        return new, f"{rec}: {x} reads {name} = eval {how} (the beam tiled by hand) instead of {base_src}"
    # beam-mean: a reduction over axis 0, the batch-times-beam axis
    name = _fresh(unit, f"{x}_centered")
    use = rng.choices(["one", "frame", "prev", "decide"], [0.35, 0.25, 0.2, 0.2])[0]
    if use == "prev" and _has_enc_time(case, net, unit, x):
        use = "frame"
    if use == "one":
        unit[name] = {"class": "eval", "from": x, "eval": "source(0) - tf.reduce_mean(source(0), axis=0, keepdims=True)"}
        _redirect(unit, readers, x, name)
        return new, f"{rec}: {', '.join(readers)} read {name} = eval {x} minus its mean over axis 0 (batch times beam)"
    red = _fresh(unit, f"{x}_mean0")
    unit[red] = {"class": "eval", "from": x, "eval": "tf.reduce_mean(source(0), axis=0, keepdims=True)"}
    if use == "prev":
        unit[name] = {"class": "eval", "from": [x, f"prev:{red}"], "eval": "source(0) - source(1)"}
        how = f"{x} - prev:{red}"
    else:
        unit[name] = {"class": "eval", "from": [x, red], "eval": "source(0) - source(1)"}
        how = f"{x} - {red}"
    _redirect(unit, readers, x, name)
    desc = f"{rec}: {red} = eval mean over axis 0 of {x} (keepdims); {', '.join(readers)} read {name} = {how}"
    if use == "decide":
        unit[red]["is_output_layer"] = True
        dec = _fresh(net, f"{rec}_{red}")
        net[dec] = {"class": "decide", "from": f"{rec}/{red}", "is_output_layer": True}
        desc += f"; root {dec} = decide({rec}/{red}), {red} an output layer"
    return new, desc


# ----------------------------------------------------------------------------------------------------
# eval-for-builtin

_TF_ACT = {"tanh": "tf.tanh(source(0))", "relu": "tf.nn.relu(source(0))", "sigmoid": "tf.sigmoid(source(0))",
           "exp": "tf.exp(source(0))", "log": "safe_log(source(0))", "abs": "tf.abs(source(0))",
           "softmax": "tf.nn.softmax(source(0), axis=-1)", "log_softmax": "tf.nn.log_softmax(source(0), axis=-1)"}
_KEEP = ("is_output_layer", "initial_output")


def _builtin_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(kind, rec or None, layer) of the built-in layers an ``eval`` can replace one-to-one."""
    out: list[tuple[str, str | None, str]] = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        choices = _unit_choices(unit)
        for c in _label_choices(unit):
            srcs = _sources(unit[c])
            if (len(srcs) == 1 and isinstance(unit[c].get("target"), str) and not _sublayer_refs(net, r, c)
                    and unit[c].get("input_type", "prob") in ("prob", "log_prob")
                    and _target_dim(case, _data_target(unit[c])) is not None):
                out.append(("choice", r, c))
        end = unit.get("end")
        if isinstance(end, dict):
            srcs = _sources(end)
            if (end.get("class") == "compare" and end.get("kind", "equal") == "equal" and len(srcs) == 1
                    and srcs[0] in choices and _int(end.get("value")) is not None):
                out.append(("end", r, "end"))
        for k in _layers(unit):
            desc = unit[k]
            cls = desc.get("class")
            if k == "end" or any(unit[rd].get("class") == "choice" for rd in _readers(unit, k)):
                continue
            srcs = _sources(desc)
            if cls == "switch" and all(isinstance(desc.get(o), str) for o in ("condition", "true_from", "false_from")):
                out.append(("switch", r, k))
            if len(srcs) != 1:
                continue
            if cls == "softmax_over_spatial" and set(desc) <= {"class", "from"}:
                out.append(("softmax_over_spatial", r, k))
            elif cls == "activation" and desc.get("activation") in _TF_ACT:
                out.append(("activation", r, k))
            elif cls == "copy" and set(desc) <= {"class", "from", "initial_output", "is_output_layer"}:
                out.append(("copy", r, k))
    for r in _searching_recs(net):
        for k in _layers(net):
            desc = net[k]
            if desc.get("class") == "decide" and _sources(desc) == [r] and "output" in _label_choices(net[r]["unit"]) \
                    and len(_unit_choices(net[r]["unit"])) == 1:
                out.append(("decide", r, k))
    return sorted(set(out), key=lambda s: (s[0], s[1] or "", s[2]))


def op_eval_for_builtin(case: Case, rng: random.Random) -> Result:
    """A built-in layer on the beam path replaced by an ``eval`` that does its job (name and readers kept)."""
    new, net = _copy(case)
    sites = _builtin_sites(case, net)
    if not sites:
        return None
    weights = {"choice": 0.5, "end": 0.5, "switch": 1.5, "softmax_over_spatial": 1.2, "activation": 1.0, "copy": 1.0,
               "decide": 3.0}
    kind, rec, name = rng.choices(sites, [weights[s[0]] for s in sites])[0]
    if kind in ("choice", "end") and rng.random() < 0.6:
        return None  # rarer than their number of sites: most users find ``choice`` and ``compare``
    layers = net if kind == "decide" else net[rec]["unit"]
    old = layers[name]
    keep = {k: old[k] for k in _KEEP if k in old}
    if kind == "switch":
        layers[name] = {"class": "eval", "from": [old["true_from"], old["false_from"], old["condition"]],
                        "eval": "tf.where(source(2), source(0), source(1))", **keep}
        return new, (f"{rec}: switch {name} replaced by eval tf.where({old['condition']}, {old['true_from']}, "
                     f"{old['false_from']})")
    src = _sources(old)[0]
    if kind == "choice":
        dim = _target_dim(case, _data_target(old))
        layers[name] = {"class": "eval", "from": src, "eval": "tf.argmax(source(0), axis=-1, output_type=tf.int32)",
                        "out_type": {"dim": dim, "sparse": True, "dtype": "int32"}, **keep}
        how = f"greedy argmax of {src} (out_type sparse {dim})"
        if rng.random() < 0.35:
            layers[name]["target"] = old["target"]
            how += ", target kept"
        return new, f"{rec}: the choice {name} replaced by eval {how}"
    if kind == "end":
        value = old["value"]
        layers[name] = {"class": "eval", "from": src, "eval": f"tf.equal(source(0), {value})"}
        form = rng.choices(["full", "dtype"], [0.7, 0.3])[0]
        layers[name]["out_type"] = ({"dtype": "bool", "sparse": False, "dim": None} if form == "full"
                                    else {"dtype": "bool"})
        return new, f"{rec}: end replaced by eval tf.equal({src}, {value}) (out_type {form})"
    if kind == "softmax_over_spatial":
        if rng.random() < 0.7:
            expr = "tf.nn.softmax(source(0), axis=source(0, as_data=True).time_dim_axis)"
        else:
            expr = "tf.nn.softmax(source(0), axis=1)"
        layers[name] = {"class": "eval", "from": src, "eval": expr, **keep}
        return new, f"{rec}: softmax_over_spatial {name} replaced by eval {expr}"
    if kind == "activation":
        expr = _TF_ACT[old["activation"]]
        layers[name] = {"class": "eval", "from": src, "eval": expr, **keep}
        return new, f"{rec}: activation {name} replaced by eval {expr}"
    if kind == "copy":
        layers[name] = {"class": "eval", "from": src, "eval": "source(0)", **keep}
        return new, f"{rec}: copy {name} replaced by eval source(0) of {src}"
    # decide
    unit = net[rec]["unit"]
    beam = _beam_of(unit, "output") or 1
    extra = {k: old[k] for k in ("loss", "target") if k in old and rng.random() < 0.4}
    if rng.random() < 0.65:
        layers[name] = {"class": "eval", "from": src,
                        "eval": f"tf.reshape(source(0), [tf.shape(source(0))[0], -1, {beam}])[:, :, 0]",
                        **keep, **extra}
        how = f"the first hypothesis of each beam of {beam} (time-major reshape, [:, :, 0])"
    else:
        layers[name] = {"class": "eval", "from": src, "eval": "source(0)", **keep, **extra}
        how = "source(0)"
    if extra:
        how += f", {'/'.join(sorted(extra))} kept"
    return new, f"root decide {name} of {rec} replaced by eval {how}"


# ----------------------------------------------------------------------------------------------------
# eval-frame-index


def op_eval_frame_index(case: Case, rng: random.Random) -> Result:
    """An ``eval`` in a searching loop that reads the frame index (``:i`` or the step through ``self.network``)."""
    new, net = _copy(case)
    form = rng.choices(["sin", "progress", "first-frame", "step-expr", "step-nosrc"], [0.28, 0.25, 0.21, 0.21, 0.05])[0]
    sites = [(r, x, n) for r in _searching_recs(net) for x, n in _dense_loop_layers(case, net[r]["unit"])
             if _frame_readers(net[r]["unit"], x)]
    if not sites:
        return None
    rec, x, n = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = _frame_readers(unit, x)
    name = _fresh(unit, f"{x}_at_step")
    if form == "sin":
        freq = rng.choice([0.1, 0.5, 1.0])
        if rng.random() < 0.5:
            unit[name] = {"class": "eval", "from": [x, ":i"],
                          "eval": "source(0) + tf.sin(tf.cast(source(1), tf.float32) * freq)",
                          "eval_locals": {"freq": freq}}
        else:
            unit[name] = {"class": "eval", "from": [":i", x],
                          "eval": f"source(1) + tf.sin(tf.cast(source(0), tf.float32) * {freq})"}
        how = f"eval {x} + sin({freq} * :i)"
    elif form == "progress":
        encs = [e for e, _ in _encoders(case, net, rec)]
        if _data_has_time(case, "data") and "data" in (case.get("extern_data") or {}):
            encs.append("data")
        if not encs:
            return None
        enc = rng.choice(encs)
        length = _fresh(net, f"{enc}_len")
        net[length] = {"class": "length", "from": enc}
        unit[name] = {"class": "eval", "from": [x, ":i", f"base:{length}"],
                      "eval": "source(0) * (1. + tf.cast(source(1), tf.float32) / "
                              "tf.cast(tf.maximum(source(2), 1), tf.float32))"}
        how = f"eval {x} * (1 + :i / base:{length}), {length} = length of {enc}"
    elif form == "first-frame":
        unit[name] = {"class": "eval", "from": [x, ":i"],
                      "eval": "tf.where(tf.equal(source(1), 0), tf.zeros_like(source(0)), source(0))"}
        how = f"eval {x} zeroed at frame 0 (tf.where on :i)"
    elif form == "step-expr":
        decay = rng.choice([0.01, 0.05, 0.1])
        unit[name] = {"class": "eval", "from": x,
                      "eval": "source(0) * tf.exp(-decay * tf.cast(self.network.get_rec_step_index(), tf.float32))",
                      "eval_locals": {"decay": decay}}
        how = f"eval {x} * exp(-{decay} * step), the step from self.network.get_rec_step_index()"
    else:
        step = _fresh(unit, "step")
        unit[step] = {"class": "eval", "from": [], "eval": "self.network.get_rec_step_index()",
                      "out_type": {"sparse": True, "dim": None, "dtype": "int32", "batch_dim_axis": None,
                                   "time_dim_axis": None}}
        decay = rng.choice([0.01, 0.05, 0.1])
        unit[name] = {"class": "eval", "from": [x, step],
                      "eval": f"source(0) * tf.exp(-{decay} * tf.cast(source(1), tf.float32))"}
        how = (f"eval {x} * exp(-{decay} * {step}), {step} = eval from [] of self.network.get_rec_step_index() "
               "(out_type scalar int32)")
    _redirect(unit, readers, x, name)
    return new, f"{rec}: {', '.join(readers)} read {name} = {how}"


FRESH108_OPERATORS: tuple[Op, ...] = (
    Op("eval-label-feed", op_eval_label_feed, 1.2),
    Op("eval-mixed-sources", op_eval_mixed_sources, 1.1),
    Op("eval-reshape", op_eval_reshape, 1),
    Op("eval-for-builtin", op_eval_for_builtin, 0.9),
    Op("eval-frame-index", op_eval_frame_index, 0.8),
)
