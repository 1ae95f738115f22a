"""A hundred-and-seventeenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Speech front-ends and encoder subsampling feeding a searching decoder: SpecAugment-style ``eval`` layers
gated by the train flag (``self.network.cond_on_train`` / ``self.network.train_flag`` in the expression), the
same gate written as a ``cond`` layer on a ``train_flag`` layer (plain or returnn_common-style ``subnetwork``
branches), frame stacking and subsampling before the encoder (``window`` + ``merge_dims``, ``pool`` with
``pool_size`` / ``strides``, strided ``conv``, a 2-D ``conv`` + ``pool`` front-end, ``split_dims`` /
``merge_dims`` round trips, ``slice`` with ``slice_step``), per-utterance feature normalisation (mean / variance
from ``reduce`` over time, ``batch_norm``, ``layer_norm``), and the decoder then reading the new encoder (its
``base:`` keys / values, a ``length`` of the subsampled time axis for ``max_seq_len_via``, ``max_seq_len``
rescaled), with the mistakes users make on the way (the gate forgotten or inverted, only some readers of the
raw features moved to the front-end, so a time axis is mixed up). Sources: RWTH ASR set-ups in
rwth-i6/returnn-experiments (``2019-asr-e2e-trafo-vs-lstm`` / ``2020-rnn-transducer`` ``base2.conv2l.specaug4a``:
the ``source`` eval calling ``transform`` with ``network.cond_on_train``, ``split_dims`` + ``conv`` + ``pool``
``[1, 2]`` + ``merge_dims`` front-end, ``lstm0_pool`` ``pool_size`` ``[3]`` time reduction), rwth-i6/i6_experiments
(``add_specaug_layer`` helpers, the subsampling front-ends of ``users/gunz`` ``config_2023_08_subsampling_new``
and ``make_subsampling_*`` builders), rwth-i6/returnn_common ``asr/specaugment.py`` (``specaugment_v1_eval_func``:
``global_train_step``-dependent masks under ``cond_on_train``; ``specaugment_v2`` through ``nn.Cond`` on
``nn.train_flag()``, which emits a ``cond`` layer with ``from: []`` and ``subnetwork`` branches), and the installed
RETURNN ``returnn/tf/layers/basic.py`` (``WindowLayer`` ``stride``, ``PoolLayer`` ``strides`` defaulting to
``pool_size``, ``ConvLayer`` ``strides``, ``SplitDimsLayer`` ``pad_to_multiples``, ``MergeDimsLayer``,
``SliceLayer`` ``slice_step``, ``CondLayer`` (its template taken from ``true_layer``, ``tf_util.cond`` building
only the branch of a constant flag, no ``get_dep_layers`` of its own), ``TrainFlagLayer``, ``LengthLayer``,
``BatchNormLayer``, ``LayerNormLayer``; ``RecLayer`` ``max_seq_len_via`` in ``rec.py``). None is a variant of an
earlier operator; no rule was written for any of them.

* ``specaug-eval-gate``: a SpecAugment-style augmentation as one ``eval`` layer (a random element mask, a random
  feature band mask, a random time mask on the input features, additive Gaussian noise), gated by
  ``self.network.cond_on_train(lambda: MASKED, lambda: source(0))``, by ``tf.where(self.network.train_flag,
  MASKED, source(0))``, by ``cond_on_train`` around a ``global_train_step`` threshold (returnn_common's
  ``specaugment_v1_eval_func``), or not gated at all (the gate forgotten: augmentation in recognition too); put
  on the raw input features before the encoder (every root reader of ``data``, the searching loop included when
  it iterates over ``data``), on an encoder layer the decoder reads through ``base:`` (for the decoder only, or
  for every reader), or inside the searching loop on a dense frame layer (label embedding, decoder state,
  attention context; its readers, ``prev:`` ones included, moved to the augmented layer). Targets: ``EvalLayer``
  (``_op_kind_eval``) with ``TFNetwork.cond_on_train`` / ``train_flag`` in search (train flag False), beamed eval
  inputs in the loop and the root ``base:`` boundary.
* ``specaug-cond-branch``: the same gate written as a ``cond`` layer (``CondLayer``) whose ``condition`` is a
  ``train_flag`` layer (``TrainFlagLayer``; at the root, in the loop's unit, or the root one read as
  ``base:train_flag``), ``true_layer`` the masking ``eval`` and ``false_layer`` a ``copy`` of the input, either as
  plain layer dicts or returnn_common-style ``subnetwork`` branches reading ``base:SRC``; the ``cond`` layer's own
  ``from`` the masked layer or ``[]`` as returnn_common emits it; sometimes the branches swapped (augmentation
  only when not training). Same three sites as above. Targets: ``CondLayer.transform_config_dict`` /
  ``_make_layer`` (extra nets of the branches, inside a rec unit too), its output template from ``true_layer``,
  and the search-choice resolution of a beamed ``cond`` with no sources
  (``SearchChoices.translate_to_common_search_beam``: "has beam but no search choices").
* ``input-frame-stack``: frame stacking / subsampling of the raw input features by a factor 2 to 4 before the
  encoder: ``window`` (``window_right: 0`` or centred, with ``stride`` or followed by a ``slice`` ``slice_step``)
  + ``merge_dims`` of the static axes; ``pool`` (``max`` / ``avg``) with ``pool_size`` and maybe explicit
  ``strides``; a strided 1-D ``conv``; the RWTH 2-D front-end (``split_dims`` of ``F`` into ``[-1, 1]``,
  ``conv`` ``(3, 3)``, ``pool`` ``(k, 2)``, ``merge_dims`` ``static``); a ``split_dims`` of ``T`` into
  ``[-1, k]`` then ``merge_dims`` (reshape stacking); or frame skipping by ``slice`` ``slice_step``; maybe a
  ``linear`` projection after it. The readers of ``data`` read the front-end (all of them, or, a quarter of the
  time where there are several, only some: the other branch keeps the raw frame rate); a third of the time
  the searching decoder's length bound is edited to match: ``max_len_from('base:data')``, the old bound times
  the factor, or ``max_seq_len_via`` a ``reduce`` ``max`` over ``B`` of a ``length`` of the subsampled
  layer. Targets: ``WindowLayer`` / ``PoolLayer`` / ``ConvLayer`` / ``SplitDimsLayer`` / ``MergeDimsLayer`` /
  ``SliceLayer`` out dims (new dynamic time dim tags), ``RecLayer.transform_config_dict``'s ``max_len_from``
  and ``max_seq_len_via``, and a loop over the input frames when the searching rec's ``from`` is ``data``.
* ``utterance-feature-norm``: per-utterance feature normalisation as users write it with layers: CMVN (``reduce``
  ``mean`` over ``T``, ``combine`` ``sub``, a ``reduce`` of the squared deviations, an ``eval`` with ``rsqrt``),
  mean normalisation only, ``batch_norm`` (maybe ``masked_time``) or ``layer_norm``, on the raw input before the
  encoder or on an encoder layer the decoder reads through ``base:`` (decoder only, or every reader); or the
  decoder's attention context (a ``generic_attention`` over ``base:X``) normalised inside the loop with the
  utterance statistics of X, computed at the root and read through ``base:``, or computed in the unit from
  ``base:X``. Targets: ``ReduceLayer`` / ``CombineLayer`` / ``EvalLayer`` broadcasting of ``[B,F]`` statistics
  over ``[B,T,F]`` and over the beamed frame ``[B*beam,F]``, ``BatchNormLayer`` in search, loop layers that read
  only ``base:`` (no beam) next to beamed ones.
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
    _map_refs,
    _readers,
    _refs,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH115_SEED = 20270177
N_FRESH115 = 80

Result = "tuple[Case, str] | None"
Site = tuple[str, "str | None", str]  # (kind, rec or None, layer or "data")

#: Root layer classes that read ``data`` when they have no ``from`` (RETURNN's default source).
_DEFAULT_DATA = ("eval", "copy", "linear", "conv", "split_dims", "pool", "window", "batch_norm", "layer_norm",
                 "slice", "merge_dims", "activation")
#: Root layer classes with a dense float output (what a front-end edit masks or normalises).
_ROOT_DENSE = ("linear", "copy", "rec", "conv", "pool", "activation", "combine", "reduce", "layer_norm",
               "batch_norm", "merge_dims", "split_dims")
#: Classes that pass their input's type through (dense only if their input is).
_PASS = ("copy", "pool", "merge_dims", "split_dims")
#: Loop layer classes with a dense float frame output.
_LOOP_DENSE = ("linear", "rnn_cell", "generic_attention", "activation", "reduce_out", "merge_dims", "layer_norm")


# ----------------------------------------------------------------------------------------------------
# Sites


def _input_dense(case: Case) -> bool:
    """Whether extern ``data`` is a dense feature sequence available in search."""
    ext = case.get("extern_data") or {}
    d = ext.get("data")
    if isinstance(d, dict):
        if d.get("sparse") or d.get("sparse_dim") or d.get("available_for_inference") is False:
            return False
        if str(d.get("dtype", "float32")).startswith("int"):
            return False
        shape = d.get("shape")
        if isinstance(shape, (list, tuple)) and len(shape) != 2:
            return False
        dims = d.get("dims")
        return not (isinstance(dims, list) and len(dims) != 3)
    nout = (case.get("num_outputs") or {}).get("data")
    return isinstance(nout, list) and len(nout) >= 2 and nout[1] == 2


def _reads_data(desc: dict[str, Any]) -> bool:
    if "from" not in desc:
        return desc.get("class") in _DEFAULT_DATA
    return any(s in ("data", "data:data") for s in _sources(desc))


def _data_readers(net: dict[str, Any]) -> list[str]:
    """Root layers that read the raw input ``data`` (a rec decoder only with an explicit ``from``)."""
    out = []
    for k in _layers(net):
        desc = net[k]
        if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict) and "from" not in desc:
            continue
        if _reads_data(desc):
            out.append(k)
    return out


def _reroute_data(net: dict[str, Any], readers: list[str], new: str) -> None:
    for k in readers:
        desc = net[k]
        if "from" not in desc:
            desc["from"] = new
            continue
        src = desc["from"]
        if isinstance(src, str):
            desc["from"] = new
        else:
            desc["from"] = [new if s in ("data", "data:data") else s for s in src]


def _root_dense(case: Case, net: dict[str, Any], name: str, depth: int = 0) -> bool:
    desc = net.get(name)
    if not isinstance(desc, dict) or depth > 6:
        return False
    cls = desc.get("class")
    if cls not in _ROOT_DENSE:
        return False
    if cls == "rec" and not isinstance(desc.get("unit"), str):
        return False
    if cls == "combine" and str(desc.get("kind", "")).startswith("logical"):
        return False
    if cls == "reduce" and desc.get("mode") not in ("mean", "max", "sum", "min", None):
        return False
    if cls in _PASS:
        srcs = _sources(desc) if "from" in desc else ["data"]
        for s in srcs:
            if s in ("data", "data:data"):
                if not _input_dense(case):
                    return False
            elif not _root_dense(case, net, s, depth + 1):
                return False
    return True


def _has_time(net: dict[str, Any], name: str) -> bool:
    """Rough: whether a dense root layer keeps a time axis (a ``reduce`` drops it, and what reads one)."""
    seen = 0
    while seen < 8:
        desc = net.get(name)
        if not isinstance(desc, dict):
            return name in ("data", "data:data")
        if desc.get("class") == "reduce":
            return False
        srcs = _sources(desc) if "from" in desc else ["data"]
        if not srcs:
            return False
        name = srcs[0]
        seen += 1
    return True


def _loop_base_reads(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers the loop of ``rec`` reads by a plain ``base:X`` reference (any option)."""
    found = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        for ref in _refs(desc):
            if not ref.startswith("base:") or ref == "base:data" or ref.startswith("base:data:"):
                continue
            name = ref[len("base:"):]
            if ":" in name or "/" in name or name == rec:
                continue
            if isinstance(net.get(name), dict):
                found.add(name)
    return sorted(found)


def _loop_dense(unit: dict[str, Any]) -> list[str]:
    """Dense frame layers of a unit that other unit layers read (not a choice's scores, not ``end``)."""
    choice_srcs = {s for c in _unit_choices(unit) for s in _sources(unit[c])}
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k == "end" or k in choice_srcs or desc.get("class") not in _LOOP_DENSE:
            continue
        if desc.get("n_out") == 1 or desc.get("target") or desc.get("loss"):
            continue
        if [r for r in _readers(unit, k) if r != "end"] or _readers(unit, k, f"prev:{k}"):
            out.append(k)
    return out


def _pick_site(case: Case, net: dict[str, Any], rng: random.Random, weights: tuple[float, float, float],
               *, need_time: bool = False) -> Site | None:
    """("input", None, "data"), ("encoder", rec, X) or ("loop", rec, X), drawn by kind weights among those
    the network has."""
    kinds: list[tuple[str, list[Site]]] = []
    if _input_dense(case) and _data_readers(net):
        kinds.append(("input", [("input", None, "data")]))
    enc: list[Site] = []
    loop: list[Site] = []
    for rec in _searching_recs(net):
        for x in _loop_base_reads(net, rec):
            if _root_dense(case, net, x) and (not need_time or _has_time(net, x)):
                enc.append(("encoder", rec, x))
        loop.extend(("loop", rec, x) for x in _loop_dense(net[rec]["unit"]))
    if enc:
        kinds.append(("encoder", enc))
    if loop:
        kinds.append(("loop", loop))
    if not kinds:
        return None
    w = {"input": weights[0], "encoder": weights[1], "loop": weights[2]}
    kinds = [(k, s) for k, s in kinds if w[k] > 0]
    if not kinds:
        return None
    _, sites = rng.choices(kinds, [w[k] for k, _ in kinds])[0]
    return rng.choice(sites)


def _install(net: dict[str, Any], site: Site, base_name: str, desc_fn: Any, rng: random.Random,
             *, scope_extra: dict[str, Any] | None = None, exclude: frozenset[str] = frozenset()
             ) -> tuple[str, str]:
    """Add the layer ``desc_fn(src_ref)`` for a site and move the site's readers (not those in ``exclude``)
    to it: (new name, where)."""
    kind, rec, x = site
    if kind == "input":
        readers = [k for k in _data_readers(net) if k not in exclude]
        new = _fresh(net, base_name)
        net[new] = desc_fn("data")
        _reroute_data(net, readers, new)
        return new, f"on the input features (read by {', '.join(readers)})"
    if kind == "encoder":
        assert rec is not None
        new = _fresh(net, f"{x}_{base_name}")
        net[new] = desc_fn(x)
        everyone = rng.random() < 0.4
        recs = [r for r in _searching_recs(net) if x in _loop_base_reads(net, r)] if everyone else [rec]
        for r in recs:
            unit = net[r]["unit"]
            for k in _layers(unit):
                _map_refs(unit[k], lambda ref: f"base:{new}" if ref == f"base:{x}" else ref)
        how = f"on the encoder layer {x} (read through base: by {', '.join(recs)})"
        if everyone:
            roots = [k for k in _readers(net, x) if k != new and k not in recs and k not in exclude]
            for k in roots:
                _map_refs(net[k], lambda ref: new if ref == x else ref)
            if roots:
                how += f", and for its root readers {', '.join(roots)}"
        return new, how
    assert rec is not None
    unit = net[rec]["unit"]
    new = _fresh(unit, f"{x}_{base_name}")
    cur = [k for k in _readers(unit, x) if k != "end"]
    prev = _readers(unit, x, f"prev:{x}")
    unit[new] = desc_fn(x)
    if scope_extra:
        unit.update(scope_extra)
    for k in cur:
        _map_refs(unit[k], lambda ref: new if ref == x else ref)
    for k in prev:
        if k != x:
            _map_refs(unit[k], lambda ref: f"prev:{new}" if ref == f"prev:{x}" else ref)
    return new, f"in the loop {rec} on {x} (readers {', '.join(sorted(set(cur) | set(prev) - {x}))})"


# ----------------------------------------------------------------------------------------------------
# SpecAugment-style masks


def _mask(rng: random.Random, *, with_time: bool) -> tuple[str, str]:
    """A masking expression of ``source(0)`` and its description."""
    kinds = ["elem", "band", "noise"] + (["time", "time"] if with_time else [])
    kind = rng.choice(kinds)
    x = "source(0)"
    if kind == "elem":
        p = rng.choice([0.05, 0.1, 0.2])
        return f"{x} * tf.cast(tf.random.uniform(tf.shape({x})) >= {p}, {x}.dtype)", f"random element mask p={p}"
    if kind == "band":
        w = rng.choice([1, 2, 5])
        expr = (f"(lambda x, f0: x * tf.cast(tf.logical_or(tf.range(tf.shape(x)[-1]) < f0, "
                f"tf.range(tf.shape(x)[-1]) >= f0 + {w}), x.dtype))"
                f"({x}, tf.random.uniform((), 0, tf.shape({x})[-1], dtype=tf.int32))")
        return expr, f"random feature band mask of width {w}"
    if kind == "noise":
        s = rng.choice([0.01, 0.1])
        return f"{x} + tf.random.normal(tf.shape({x}), stddev={s})", f"additive Gaussian noise stddev={s}"
    p = rng.choice([0.05, 0.1])
    return (f"{x} * tf.cast(tf.random.uniform(tf.shape({x})[:2])[:, :, None] >= {p}, {x}.dtype)",
            f"random time-frame mask p={p}")


def op_specaug_eval_gate(case: Case, rng: random.Random) -> Result:
    """A SpecAugment-style ``eval`` gated by the train flag (or not gated) on the input, an encoder layer
    the decoder reads, or a dense frame layer of the searching loop."""
    new_case, net = _copy(case)
    site = _pick_site(case, net, rng, (0.45, 0.25, 0.3))
    if site is None:
        return None
    masked, mdesc = _mask(rng, with_time=site[0] == "input")
    gate = rng.choices(["cond_on_train", "where", "step", "none"], [0.4, 0.25, 0.15, 0.2])[0]
    if gate == "cond_on_train":
        expr = f"self.network.cond_on_train(lambda: {masked}, lambda: source(0))"
        gdesc = "gated by self.network.cond_on_train"
    elif gate == "where":
        expr = f"tf.where(self.network.train_flag, {masked}, source(0))"
        gdesc = "gated by tf.where(self.network.train_flag, ...)"
    elif gate == "step":
        n = rng.choice([1000, 2000])
        expr = (f"self.network.cond_on_train(lambda: tf.where(tf.greater_equal(self.network.global_train_step, {n}), "
                f"{masked}, source(0)), lambda: source(0))")
        gdesc = f"gated by cond_on_train and global_train_step >= {n}"
    else:
        expr = masked
        gdesc = "not gated (applied in recognition too)"
    name, where = _install(net, site, "specaug", lambda src: {"class": "eval", "from": src, "eval": expr}, rng)
    return new_case, f"specaug eval {name} ({mdesc}, {gdesc}) {where}"


def _cond_branches(src: str, masked: str, style: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if style == "plain":
        return ({"class": "eval", "from": src, "eval": masked}, {"class": "copy", "from": src})
    inner = f"base:{src}"
    return ({"class": "subnetwork", "from": [], "subnetwork": {"output": {"class": "eval", "from": inner,
                                                                          "eval": masked}}},
            {"class": "subnetwork", "from": [], "subnetwork": {"output": {"class": "copy", "from": inner}}})


def op_specaug_cond_branch(case: Case, rng: random.Random) -> Result:
    """A ``cond`` layer on a ``train_flag`` layer: the masking eval when training, a copy otherwise."""
    new_case, net = _copy(case)
    site = _pick_site(case, net, rng, (0.3, 0.2, 0.5))
    if site is None:
        return None
    kind, rec, _ = site
    masked, mdesc = _mask(rng, with_time=kind == "input")
    style = rng.choice(["plain", "subnet"])
    empty_from = rng.random() < 0.6
    swapped = rng.random() < 0.15
    extra: dict[str, Any] = {}
    if kind == "loop" and rng.random() < 0.5:
        assert rec is not None
        flag = _fresh(net[rec]["unit"], "train_flag")
        extra[flag] = {"class": "train_flag"}
        cond_ref, fdesc = flag, f"a train_flag layer {flag} in the unit"
    else:
        flag = _fresh(net, "train_flag")
        net[flag] = {"class": "train_flag"}
        cond_ref = f"base:{flag}" if kind == "loop" else flag
        fdesc = f"the root train_flag layer {flag}" + (" read as base:" if kind == "loop" else "")

    def make(src: str) -> dict[str, Any]:
        true_l, false_l = _cond_branches(src, masked, style)
        if swapped:
            true_l, false_l = false_l, true_l
        return {"class": "cond", "from": [] if empty_from else src, "condition": cond_ref,
                "true_layer": true_l, "false_layer": false_l}

    name, where = _install(net, site, "specaug_cond", make, rng, scope_extra=extra)
    return new_case, (f"specaug cond {name} on {fdesc} ({style} branches, from "
                      f"{'[]' if empty_from else 'the input'}, {mdesc}"
                      f"{', branches swapped: masking when not training' if swapped else ''}) {where}")


# ----------------------------------------------------------------------------------------------------
# input-frame-stack


def _stack_chain(net: dict[str, Any], rng: random.Random, k: int) -> tuple[str, str]:
    """Add a stacking / subsampling chain reading ``data`` to the root: (last layer, description)."""
    form = rng.choices(["window", "pool", "conv", "conv2d", "split", "slice"], [0.25, 0.2, 0.15, 0.15, 0.15, 0.1])[0]
    if form == "window":
        win = _fresh(net, "stack_window")
        desc: dict[str, Any] = {"class": "window", "from": "data", "window_size": k}
        if rng.random() < 0.6:
            desc["window_right"] = 0
        strided = rng.random() < 0.5
        if strided:
            desc["stride"] = k
        net[win] = desc
        out = _fresh(net, "stacked")
        net[out] = {"class": "merge_dims", "from": win, "axes": "static"}
        how = (f"window {win} (size {k}{', window_right 0' if 'window_right' in desc else ''}"
               f"{f', stride {k}' if strided else ''}) + merge_dims {out}")
        if not strided:
            skip = _fresh(net, "stacked_skip")
            net[skip] = {"class": "slice", "from": out, "axis": "T", "slice_step": k}
            out = skip
            how += f" + slice {skip} slice_step {k}"
        return out, how
    if form == "pool":
        out = _fresh(net, "input_pool")
        mode = rng.choice(["max", "avg"])
        desc = {"class": "pool", "from": "data", "mode": mode, "pool_size": [k], "padding": "same"}
        if rng.random() < 0.4:
            desc["strides"] = [k]
        net[out] = desc
        return out, f"pool {out} ({mode}, pool_size [{k}]{', strides given' if 'strides' in desc else ''})"
    if form == "conv":
        out = _fresh(net, "subsample_conv")
        n = rng.choice([8, 16, 32])
        net[out] = {"class": "conv", "from": "data", "filter_size": [3], "strides": k, "padding": "same",
                    "n_out": n, "activation": "relu"}
        return out, f"strided conv {out} (filter 3, strides {k}, n_out {n})"
    if form == "conv2d":
        s0 = _fresh(net, "source0")
        net[s0] = {"class": "split_dims", "from": "data", "axis": "F", "dims": [-1, 1]}
        c0 = _fresh(net, "conv0")
        net[c0] = {"class": "conv", "from": s0, "filter_size": [3, 3], "padding": "same", "n_out": 8,
                   "activation": None, "with_bias": True}
        p0 = _fresh(net, "conv0p")
        net[p0] = {"class": "pool", "from": c0, "mode": "max", "padding": "same", "pool_size": [k, 2]}
        out = _fresh(net, "conv_merged")
        net[out] = {"class": "merge_dims", "from": p0, "axes": "static"}
        return out, f"2-D front-end {s0} -> {c0} -> {p0} (pool_size [{k}, 2]) -> {out}"
    if form == "split":
        sp = _fresh(net, "stack_split")
        net[sp] = {"class": "split_dims", "from": "data", "axis": "T", "dims": [-1, k]}
        out = _fresh(net, "stacked")
        net[out] = {"class": "merge_dims", "from": sp, "axes": "static"}
        return out, f"split_dims {sp} (T into [-1, {k}]) + merge_dims {out}"
    out = _fresh(net, "frame_skip")
    net[out] = {"class": "slice", "from": "data", "axis": "T", "slice_step": k}
    return out, f"slice {out} (slice_step {k})"


def op_input_frame_stack(case: Case, rng: random.Random) -> Result:
    """Frame stacking / subsampling of the input features before the encoder; maybe the decoder's length
    bound edited to match."""
    if not _input_dense(case):
        return None
    new_case, net = _copy(case)
    readers = _data_readers(net)
    if not readers:
        return None
    k = rng.choice([2, 3, 4])
    out, how = _stack_chain(net, rng, k)
    if rng.random() < 0.3:
        proj = _fresh(net, "source_linear")
        net[proj] = {"class": "linear", "activation": None, "from": out, "n_out": rng.choice([8, 16])}
        out = proj
        how += f" + linear {proj}"
    moved = readers
    if len(readers) >= 2 and rng.random() < 0.25:
        moved = sorted(rng.sample(readers, rng.randint(1, len(readers) - 1)))
        how += f"; only {', '.join(moved)} of the data readers ({', '.join(readers)}) moved to it"
    else:
        how += f"; data readers {', '.join(readers)} moved to it"
    _reroute_data(net, moved, out)
    recs = [r for r in _searching_recs(net) if isinstance(net[r].get("max_seq_len"), str)]
    if recs and rng.random() < 0.35:
        rec = rng.choice(recs)
        old = net[rec]["max_seq_len"]
        fix = rng.choice(["data", "scale", "via"])
        if fix == "data":
            net[rec]["max_seq_len"] = "max_len_from('base:data')"
            how += f"; {rec}.max_seq_len {old!r} -> max_len_from('base:data')"
        elif fix == "scale":
            net[rec]["max_seq_len"] = f"{old} * {k}"
            how += f"; {rec}.max_seq_len {old!r} -> {old} * {k}"
        else:
            ln = _fresh(net, f"{out}_len")
            net[ln] = {"class": "length", "from": out}
            mx = _fresh(net, f"{out}_max_len")
            net[mx] = {"class": "reduce", "mode": "max", "axes": "B", "from": ln}
            del net[rec]["max_seq_len"]
            net[rec]["max_seq_len_via"] = mx
            how += f"; {rec}.max_seq_len {old!r} -> max_seq_len_via {mx} (reduce max over B of length {ln})"
    return new_case, f"input frame stacking by {k}: {how}"


# ----------------------------------------------------------------------------------------------------
# utterance-feature-norm


def _cmvn(scope: dict[str, Any], src: str, prefix: str, *, var: bool) -> tuple[str, str, str | None]:
    """Mean (and variance) normalisation layers of ``src`` in ``scope``: (output, mean, var)."""
    mean = _fresh(scope, f"{prefix}_mean")
    scope[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": src}
    cen = _fresh(scope, f"{prefix}_centered")
    scope[cen] = {"class": "combine", "kind": "sub", "from": [src, mean]}
    if not var:
        return cen, mean, None
    sq = _fresh(scope, f"{prefix}_sq")
    scope[sq] = {"class": "eval", "from": cen, "eval": "tf.square(source(0))"}
    v = _fresh(scope, f"{prefix}_var")
    scope[v] = {"class": "reduce", "mode": "mean", "axes": "T", "from": sq}
    out = _fresh(scope, f"{prefix}_cmvn")
    scope[out] = {"class": "eval", "from": [cen, v], "eval": "source(0) * tf.math.rsqrt(source(1) + 1e-5)"}
    return out, mean, v


def _ctx_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rec, attention layer, root values layer X) for ``generic_attention`` over ``base:X`` in a loop."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            base = desc.get("base")
            if desc.get("class") != "generic_attention" or not isinstance(base, str) or not base.startswith("base:"):
                continue
            x = base[len("base:"):]
            if _root_dense(case, net, x) and _has_time(net, x) and _readers(unit, k):
                out.append((rec, k, x))
    return out


def op_utterance_feature_norm(case: Case, rng: random.Random) -> Result:
    """Per-utterance normalisation (CMVN, CMN, batch_norm, layer_norm) on the input or an encoder layer the
    decoder reads, or the decoder's attention context normalised with the values' utterance statistics."""
    new_case, net = _copy(case)
    ctx = _ctx_sites(case, net)
    if ctx and rng.random() < 0.3:
        rec, att, x = rng.choice(ctx)
        unit = net[rec]["unit"]
        in_loop = rng.random() < 0.3
        if in_loop:
            mean = _fresh(unit, f"{x}_utt_mean")
            unit[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": f"base:{x}"}
            cen = _fresh(unit, f"{x}_utt_centered")
            unit[cen] = {"class": "combine", "kind": "sub", "from": [f"base:{x}", mean]}
            sq = _fresh(unit, f"{x}_utt_sq")
            unit[sq] = {"class": "eval", "from": cen, "eval": "tf.square(source(0))"}
            v = _fresh(unit, f"{x}_utt_var")
            unit[v] = {"class": "reduce", "mode": "mean", "axes": "T", "from": sq}
            refs = [mean, v]
            where = f"statistics {mean} / {v} computed in the unit from base:{x}"
        else:
            _, mean, v = _cmvn(net, x, f"{x}_utt", var=True)
            refs = [f"base:{mean}", f"base:{v}"]
            where = f"root statistics {mean} / {v} of {x} read through base:"
        readers = [k for k in _readers(unit, att) if k != "end"]
        prev = _readers(unit, att, f"prev:{att}")
        new = _fresh(unit, f"{att}_norm")
        unit[new] = {"class": "eval", "from": [att, *refs],
                     "eval": "(source(0) - source(1)) * tf.math.rsqrt(source(2) + 1e-5)"}
        for k in readers:
            _map_refs(unit[k], lambda ref: new if ref == att else ref)
        for k in prev:
            if k != att:
                _map_refs(unit[k], lambda ref: f"prev:{new}" if ref == f"prev:{att}" else ref)
        return new_case, (f"{rec}: attention context {att} normalised as {new} with the utterance {where}; "
                          f"readers {', '.join(sorted(set(readers) | set(prev) - {att}))} read it")
    site = _pick_site(case, net, rng, (0.55, 0.45, 0.0), need_time=True)
    if site is None:
        return None
    form = rng.choices(["cmvn", "cmn", "batch_norm", "layer_norm"], [0.4, 0.15, 0.25, 0.2])[0]
    kind, rec, x = site
    if form in ("cmvn", "cmn"):
        prefix = "feat" if kind == "input" else x
        before = set(net)
        out, mean, v = _cmvn(net, "data" if kind == "input" else x, prefix, var=form == "cmvn")
        final = net.pop(out)
        chain = frozenset(set(net) - before)

        def make(src: str) -> dict[str, Any]:
            return final

        # the chain's first layers read the raw source; the installed output keeps its own sources
        name, where = _install(net, site, form, make, rng, exclude=chain)
        fdesc = f"{form} ({mean}{' / ' + v if v else ''} reduce over T)"
    elif form == "batch_norm":
        masked = rng.random() < 0.3
        desc: dict[str, Any] = {"class": "batch_norm"}
        if masked:
            desc["masked_time"] = True

        def make(src: str) -> dict[str, Any]:
            return {**desc, "from": src}

        name, where = _install(net, site, "bn", make, rng)
        fdesc = f"batch_norm{' (masked_time)' if masked else ''}"
    else:
        name, where = _install(net, site, "ln", lambda src: {"class": "layer_norm", "from": src}, rng)
        fdesc = "layer_norm"
    return new_case, f"per-utterance {fdesc} as {name} {where}"


FRESH115_OPERATORS: tuple[Op, ...] = (
    Op("specaug-eval-gate", op_specaug_eval_gate, 1),
    Op("specaug-cond-branch", op_specaug_cond_branch, 1),
    Op("input-frame-stack", op_input_frame_stack, 1.2),
    Op("utterance-feature-norm", op_utterance_feature_norm, 0.8),
)
