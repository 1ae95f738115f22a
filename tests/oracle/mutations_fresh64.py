"""A sixty-sixth set of edit operators (issue 15, fifteenth session), written and seeded before it was ever run,
by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Search set-ups taken from RETURNN's other test modules and its demos (``tests/test_TFEngine.py`` and
``demos/`` of rwth-i6/returnn; not ``test_TFNetworkRecLayer.py`` / ``test_TFNetworkLayer.py``, whose set-ups
fresh59 took) and transplanted into a searching decoder of our bases, names and sizes adapted to the base
(none a variant of an earlier operator; no rule was written for any of them):

* ``ocd-tables``: optimal completion distillation as in ``test_attention_search_in_train_then_search``: in
  the decoder loop an ``edit_distance_table`` over the label choice against the reference
  (``target: "layer:base:data:KEY"``, the choice's own target key), ``optimal_completions`` over ``prev:`` of
  the table (same target) and the soft targets (the completions ``cast`` to float32 and an ``eval`` of
  ``tf.nn.softmax`` of them, scaled by -20 as in the test or unscaled as in the layer's docstring); then either
  the test's search net (nothing reads the tables, or the table / the soft targets marked ``is_output_layer``), the
  test's training net kept for search (the choice's scores ``softmax`` takes ``target:
  "layer:SOFT_TARGETS"`` with its ``ce`` loss), or an auxiliary OCD head (a new ``softmax`` over the scores'
  sources with that target and a ``ce`` loss, maybe an output layer);
* ``gauss-window``: the monotonic Gaussian-window attention of ``demos/demo-tf-att-copy.config``: a step
  size ``dt`` (a ``linear`` with activation ``2*sigmoid`` and one output over a ``tanh`` ``linear`` of the
  previous label's embedding, the previous frame's context and ``prev:dt`` as in the demo, or of a dense loop
  state and ``prev:dt``), a
  position ``t`` accumulated over the frames (``combine`` add, or an ``eval``, of ``prev:t`` and ``dt``,
  ``initial_output`` -1 as in the demo or 0), a ``gauss_window_attention`` on it over an encoder layer the
  loop reads (``base:``; a new root projection of ``data`` where the loop reads none; ``window_size`` 5 or 10,
  maybe ``std`` 2), its context
  read by the layer the choice's scores come from (or another dense loop layer they depend on), this
  frame's context or the previous frame's;
* ``dot-att-layer``: a ``dot_attention`` context added to the decoder loop as in
  ``test_engine_search_attention`` / ``test_rec_subnet_train_t3b`` / ``t3d``: a query ``c_in`` (``tanh``
  ``linear`` of a dense loop state, of ``prev:`` of one, maybe with the previous label's embedding as in
  the tests), attention over an encoder layer (``base``) with a new root key projection of it
  (``base_ctx``), maybe ``energy_factor`` 1/sqrt(key dim); or the same inside a ``subnetwork`` of the loop as
  in ``test_attention_subnetwork_base_dependency`` (``concat_sources: True``, the inner query over
  ``data``, the encoder read as ``base:base:ENC``) or ``test_attention_subnetwork_from_dependency``
  (``concat_sources: False``, the encoder and its keys passed as extra sources ``base:ENC`` and read as
  ``data:2`` / ``data:3``); the context read by the layer the choice's scores come from (or another dense
  loop layer they depend on), this frame's or the previous frame's (``prev:``);
* ``search-score-loss``: the search-score bookkeeping of ``test_search_multi_choice_hdf_dump``: a root
  ``decide`` of a searching decoder with ``loss: "search_score"`` (``loss_scale`` 0) and the test's
  length-normalised score of its hypothesis, spelled with layers (its ``choice_get_beam_scores`` divided by its
  ``length`` in an ``eval``, ``loss: "as_is"`` with scale 0 or just an output layer); or the same put onto a
  decide the base already has, onto a ``decide_keep_beam`` of the decoder, onto the beamed decoder itself
  (a ``copy`` of it with the ``search_score`` loss, the score read of that copy or of the decoder directly),
  or, by mistake, the ``search_score`` loss on an encoder layer the decoder reads (no search choices there).
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
    _head,
    _layers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
    _walk,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH64_SEED = 20270126
N_FRESH64 = 80

Result = "tuple[Case, str] | None"

#: Root layer classes that keep the time axis of what they read (an encoder frame sequence).
_SEQ_CLASSES = ("linear", "copy", "activation", "layer_norm", "dropout", "combine", "rec", "conv", "softmax")
#: Loop layer classes whose output is one dense vector per hypothesis (when no encoder axis comes in).
_DENSE = ("linear", "rnn_cell", "rec", "softmax", "reduce_out", "layer_norm", "activation", "combine", "copy")
#: Loop layer classes that take an encoder axis away (attention contexts, cells).
_REDUCERS = ("generic_attention", "dot_attention", "gauss_window_attention", "rnn_cell", "rec", "reduce",
             "gather", "gather_nd", "squeeze")
#: Hosts for a new context: dense loop layers that take several sources.
_HOSTS = ("linear", "softmax", "rnn_cell")


# ----------------------------------------------------------------------------------------------------
# Sites


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main network (not ``extra.*:`` ones)."""
    return [r for r in _searching_recs(net) if ":" not in r and "." not in r]


def _label_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(rec, choice, key, vocabulary size) of every label choice of a searching decoder."""
    out = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            key = _data_target(unit[c])
            dim = _target_dim(case, key)
            if unit[c].get("input_type") != "regression" and key is not None and dim is not None:
                out.append((rec, c, key, dim))
    return out


def _encoders(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """Root layers the unit reads through ``base:`` that keep a time axis (by class), sorted."""
    found: set[str] = set()

    def see(ref: str) -> str:
        if ref.startswith("base:") and not ref.startswith("base:data:") and ref != "base:data":
            name = ref[len("base:"):].split("/", 1)[0]
            desc = net.get(name)
            if isinstance(desc, dict) and desc.get("class") in _SEQ_CLASSES and not (
                    desc.get("class") == "rec" and isinstance(desc.get("unit"), dict)):
                found.add(name)
        return ref

    for k in _layers(unit):
        _walk(unit[k], see)
    return sorted(found)


def _encoder(net: dict[str, Any], unit: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """(root encoder layer, how it was found): ``encoder`` or another one the loop reads, else a new root
    projection of ``data`` (added to ``net``)."""
    encs = _encoders(net, unit)
    if encs:
        enc = "encoder" if "encoder" in encs and rng.random() < 0.7 else rng.choice(encs)
        return enc, f"encoder {enc}"
    enc = _fresh(net, "enc_proj")
    net[enc] = {"class": "linear", "activation": "tanh", "from": "data", "n_out": 6}
    return enc, f"new root encoder {enc} (linear over data)"


def _has_enc_axis(unit: dict[str, Any], name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a loop layer (roughly) keeps an encoder axis: it reads a ``base:`` sequence itself, or a
    same-frame / previous-frame source that has one, and its class does not take the axis away."""
    desc = unit.get(name)
    if not isinstance(desc, dict) or name in seen:
        return False
    if desc.get("class") in _REDUCERS:
        return False
    if desc.get("class") == "softmax_over_spatial":
        return True
    for ref in _sources(desc):
        if ref.startswith("base:") and not ref.startswith("base:data"):
            return True
        inner = ref.removeprefix("prev:")
        if _head(inner) in unit and _has_enc_axis(unit, _head(inner), seen | {name}):
            return True
    return False


def _dense(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers (one vector per hypothesis, no encoder axis), sorted."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") not in _DENSE or k in ("end", choice):
            continue
        if desc.get("class") == "copy" and any(_head(s) in _unit_choices(unit) for s in _sources(desc)):
            continue
        if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
            continue
        if _has_enc_axis(unit, k):
            continue
        out.append(k)
    return out


def _hosts(unit: dict[str, Any], choice: str) -> list[str]:
    """Layers a new context can be an extra source of: the choice's scores layer when it is a ``softmax`` /
    ``linear`` with sources, else dense ``linear`` / ``softmax`` / ``rnn_cell`` layers the choice depends on."""
    src = _sources(unit[choice])
    if len(src) == 1 and src[0] in unit and unit[src[0]].get("class") in ("softmax", "linear") \
            and _sources(unit[src[0]]) and not _has_enc_axis(unit, src[0]):
        return [src[0]]
    dense = set(_dense(unit, choice))
    return sorted(k for k in _frame_ancestors(unit, choice)
                  if k in dense and unit[k].get("class") in _HOSTS and _sources(unit[k]))


def _query(unit: dict[str, Any], choice: str, host: str, rng: random.Random) -> str | None:
    """A dense loop state a new attention can be driven by without a cycle: a same-frame ancestor of the
    host (not the host), or ``prev:`` of any dense loop layer."""
    dense = _dense(unit, choice)
    now = [k for k in sorted(_frame_ancestors(unit, host)) if k in dense and k != host]
    prev = [f"prev:{k}" for k in dense]
    pool = (now if now and rng.random() < 0.5 else []) or prev or now
    return rng.choice(pool) if pool else None


def _label_embedding(unit: dict[str, Any], choice: str) -> str | None:
    """``prev:E`` for a loop ``linear`` ``E`` over this frame's choice, or ``E`` over ``prev:CHOICE``."""
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear":
            continue
        if _sources(desc) == [choice]:
            return f"prev:{k}"
        if _sources(desc) == [f"prev:{choice}"]:
            return k
    return None


# ----------------------------------------------------------------------------------------------------
# ocd-tables


def op_ocd_tables(case: Case, rng: random.Random) -> Result:
    """Optimal completion distillation tables in the decoder loop (test_attention_search_in_train_then_search)."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, key, _ = rng.choice(sites)
    unit = net[rec]["unit"]
    table = _fresh(unit, "edit_dist_table")
    unit[table] = {"class": "edit_distance_table", "from": choice, "target": f"layer:base:data:{key}"}
    comp = _fresh(unit, "opt_completions")
    unit[comp] = {"class": "optimal_completions", "from": f"prev:{table}", "target": f"layer:base:data:{key}"}
    as_float = _fresh(unit, "opt_completions_float")
    unit[as_float] = {"class": "cast", "from": comp, "dtype": "float32"}
    soft = _fresh(unit, "opt_completion_soft_targets")
    scale = rng.choice(["-20. * ", ""])
    unit[soft] = {"class": "eval", "eval": f"tf.nn.softmax({scale}source(0))", "from": as_float}
    scores = _sources(unit[choice])
    score = scores[0] if len(scores) == 1 and scores[0] in unit else None
    kinds = ["search-net", "search-net-output", "aux-head"]
    if score is not None and unit[score].get("class") == "softmax":
        kinds += ["train-net", "train-net"]
    kind = rng.choice(kinds)
    what = f"{rec}: OCD tables {table} / {comp} / {soft} over {choice} against base:data:{key}"
    if kind == "search-net":
        return new, f"{what}, read by nothing (the test's search net)"
    if kind == "search-net-output":
        out = rng.choice([table, soft])
        unit[out]["is_output_layer"] = True
        return new, f"{what}, {out} marked is_output_layer"
    if kind == "train-net":
        assert score is not None
        old = unit[score].get("target")
        unit[score]["target"] = f"layer:{soft}"
        unit[score].setdefault("loss", "ce")
        return new, (f"{what}; the scores {score} take target 'layer:{soft}' (was {old!r}) with a ce loss "
                     "(the test's train net kept)")
    srcs = []
    if score is not None:
        srcs = [s for s in _sources(unit[score])]
    if not srcs:
        dense = _dense(unit, choice)
        if not dense:
            return None
        srcs = [rng.choice(dense)]
    head = _fresh(unit, "ocd_prob")
    unit[head] = {"class": "softmax", "from": srcs, "target": f"layer:{soft}", "loss": "ce"}
    extra = ""
    if rng.random() < 0.5:
        unit[head]["is_output_layer"] = True
        extra = ", an output layer"
    return new, f"{what}; an auxiliary OCD head {head} (softmax over {srcs}, target 'layer:{soft}', ce){extra}"


# ----------------------------------------------------------------------------------------------------
# gauss-window


def op_gauss_window(case: Case, rng: random.Random) -> Result:
    """The Gaussian-window attention of demo-tf-att-copy, driven by an accumulated position."""
    new, net = _copy(case)
    sites = [s for s in _label_sites(case, net) if _hosts(net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, _, _ = rng.choice(sites)
    unit = net[rec]["unit"]
    host = rng.choice(_hosts(unit, choice))
    enc, enc_how = _encoder(net, unit, rng)
    dt_in, dt, pos = _fresh(unit, "dt_in"), _fresh(unit, "dt"), _fresh(unit, "t")
    att = _fresh(unit, "gauss_att")
    ctx = att
    emb = _label_embedding(unit, choice)
    drive = rng.choice(["label", "state"]) if emb is not None else "state"
    if drive == "label":
        feed = [emb, f"prev:{ctx}", f"prev:{dt}"]
    else:
        q = _query(unit, choice, host, rng)
        if q is None:
            return None
        feed = [q, f"prev:{dt}"]
    unit[dt_in] = {"class": "linear", "activation": "tanh", "n_out": 8, "from": feed}
    unit[dt] = {"class": "linear", "activation": "2*sigmoid", "n_out": 1, "from": dt_in}
    init = rng.choice([-1, 0])
    if rng.random() < 0.7:
        unit[pos] = {"class": "combine", "kind": "add", "n_out": 1, "from": [f"prev:{pos}", dt],
                     "initial_output": init}
    else:
        unit[pos] = {"class": "eval", "eval": "source(0) + source(1)", "from": [f"prev:{pos}", dt],
                     "initial_output": init}
    window = rng.choice([5, 10])
    unit[att] = {"class": "gauss_window_attention", "window_size": window, "from": pos, "base": f"base:{enc}"}
    if rng.random() < 0.3:
        unit[att]["std"] = 2.0
    read = ctx if rng.random() < 0.7 else f"prev:{ctx}"
    _add_source(unit[host], read)
    return new, (f"{rec}: Gaussian-window attention {att} (window {window})"
                 f" over base:{enc} ({enc_how}) at position {pos} (prev:{pos} + {dt}, initial {init}), "
                 f"{dt} from {dt_in} over {feed}; {host} reads {read}")


# ----------------------------------------------------------------------------------------------------
# dot-att-layer


def op_dot_att_layer(case: Case, rng: random.Random) -> Result:
    """A ``dot_attention`` context in the decoder loop, plain or in a subnetwork of the loop."""
    new, net = _copy(case)
    sites = [s for s in _label_sites(case, net) if _hosts(net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, _, _ = rng.choice(sites)
    unit = net[rec]["unit"]
    host = rng.choice(_hosts(unit, choice))
    q = _query(unit, choice, host, rng)
    if q is None:
        return None
    enc, enc_how = _encoder(net, unit, rng)
    kdim = rng.choice([5, 6, 8])
    ctx_name = _fresh(net, f"{enc}_dot_ctx")
    net[ctx_name] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": kdim}
    srcs = [q]
    emb = _label_embedding(unit, choice)
    if emb is not None and emb != q and rng.random() < 0.5:
        srcs.append(emb)
    form = rng.choice(["plain", "plain", "subnet-base", "subnet-from"])
    c = _fresh(unit, "dot_c")
    if form == "plain":
        c_in = _fresh(unit, "dot_c_in")
        unit[c_in] = {"class": "linear", "activation": "tanh", "from": srcs, "n_out": kdim}
        unit[c] = {"class": "dot_attention", "from": c_in, "base": f"base:{enc}", "base_ctx": f"base:{ctx_name}"}
        if rng.random() < 0.4:
            unit[c]["energy_factor"] = round(kdim ** -0.5, 6)
        how = f"query {c_in} over {srcs}"
    elif form == "subnet-base":
        unit[c] = {"class": "subnetwork", "from": srcs, "concat_sources": True, "subnetwork": {
            "c_in": {"class": "linear", "activation": None, "from": "data", "n_out": kdim},
            "output": {"class": "dot_attention", "from": "c_in", "base": f"base:base:{enc}",
                       "base_ctx": f"base:base:{ctx_name}"}}}
        how = f"a subnetwork over {srcs} (concat_sources True, base:base:{enc})"
    else:
        n = len(srcs)
        unit[c] = {"class": "subnetwork", "from": [*srcs, f"base:{enc}", f"base:{ctx_name}"],
                   "concat_sources": False, "subnetwork": {
                       "c_in": {"class": "linear", "activation": None,
                                "from": [f"data:{i}" for i in range(n)], "n_out": kdim},
                       "output": {"class": "dot_attention", "from": "c_in", "base": f"data:{n}",
                                  "base_ctx": f"data:{n + 1}"}}}
        how = f"a subnetwork over {srcs} + base:{enc}, base:{ctx_name} (concat_sources False, data:{n} / data:{n + 1})"
    read = c if rng.random() < 0.7 else f"prev:{c}"
    _add_source(unit[host], read)
    return new, (f"{rec}: dot_attention context {c} over base:{enc} ({enc_how}) with keys {ctx_name} "
                 f"(n_out {kdim}), {how}; {host} reads {read}")


# ----------------------------------------------------------------------------------------------------
# search-score-loss

def _score_eval(net: dict[str, Any], src: str, rng: random.Random) -> str:
    """The test's length-normalised score of ``src``'s hypotheses, spelled with layers: its beam scores
    (``choice_get_beam_scores``) divided by its ``length`` (an ``eval``); returns the eval's name."""
    scores = _fresh(net, f"{src}_beam_scores")
    net[scores] = {"class": "choice_get_beam_scores", "from": src}
    length = _fresh(net, f"{src}_length")
    net[length] = {"class": "length", "from": src}
    name = _fresh(net, "search_score")
    net[name] = {"class": "eval", "from": [scores, length], "eval": "source(0) / tf.cast(source(1), tf.float32)"}
    if rng.random() < 0.6:
        net[name].update(loss="as_is", loss_scale=0)
    else:
        net[name]["is_output_layer"] = True
    return name


def op_search_score_loss(case: Case, rng: random.Random) -> Result:
    """The search-score loss and score of test_search_multi_choice_hdf_dump on a decoder."""
    new, net = _copy(case)
    recs = _decoders(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    decides = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    encs = _encoders(net, net[rec]["unit"])
    kinds = ["new-decide", "new-decide", "keep-beam", "beamed-copy", "beamed-eval"]
    if decides:
        kinds.append("existing-decide")
    if encs:
        kinds.append("encoder")
    kind = rng.choice(kinds)
    loss = {"loss": "search_score", "loss_scale": 0}
    if kind == "new-decide":
        dec = _fresh(net, "search_loss")
        net[dec] = {"class": "decide", "from": rec, **loss}
        ev = _score_eval(net, dec, rng)
        return new, f"root decide {dec} of {rec} with the search_score loss, {ev} its normalised score (eval)"
    if kind == "existing-decide":
        dec = rng.choice(decides)
        old = net[dec].get("loss")
        net[dec].update(loss)
        net[dec].pop("loss_opts", None)
        net[dec].pop("target", None)
        ev = _score_eval(net, dec, rng) if rng.random() < 0.6 else None
        return new, (f"the decide {dec} of {rec} gets the search_score loss (was {old!r})"
                     + (f", {ev} its normalised score (eval)" if ev else ""))
    if kind == "keep-beam":
        kb = _fresh(net, f"{rec}_kept")
        net[kb] = {"class": "decide_keep_beam", "from": rec, **loss}
        ev = _score_eval(net, kb, rng)
        return new, f"root decide_keep_beam {kb} of {rec} with the search_score loss, {ev} its score (eval)"
    if kind == "beamed-copy":
        cp = _fresh(net, f"{rec}_scored")
        net[cp] = {"class": "copy", "from": rec, **loss}
        ev = _score_eval(net, cp, rng) if rng.random() < 0.5 else None
        if ev is None:
            net[cp]["is_output_layer"] = True
        return new, (f"root copy {cp} of the beamed {rec} with the search_score loss"
                     + (f", {ev} its score (eval)" if ev else ", an output layer"))
    if kind == "beamed-eval":
        ev = _score_eval(net, rec, rng)
        return new, f"{ev}: the normalised-score eval read on the beamed decoder {rec} itself"
    enc = rng.choice(encs)
    net[enc].update(loss)
    for opt in ("target", "loss_opts"):
        net[enc].pop(opt, None)
    return new, f"the encoder {enc} of {rec} gets the search_score loss (no search choices there)"


FRESH64_OPERATORS: tuple[Op, ...] = (
    Op("ocd-tables", op_ocd_tables, 0.8),
    Op("gauss-window", op_gauss_window, 1.6),
    Op("dot-att-layer", op_dot_att_layer, 1.4),
    Op("search-score-loss", op_search_score_loss, 1),
)
