"""A thirty-sixth set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Attention mechanisms that users assemble from basic layers inside a searching decoder loop instead of
``dot_attention``: the encoder (root, no beam, read through ``base:``) meets the loop's state (beamed) in
the energies, and the weights and contexts carry the beam (none a variant of an earlier operator; no rule
was written for any of them):

* ``mlp-attention``: an additive (MLP) attention is added to a decoder loop: a projection of an encoder
  layer (a root ``linear`` read as ``base:``, or a loop ``linear`` over ``base:ENC``) and a projection of a
  loop state (this frame's, or ``prev:`` of it) are added (``combine`` add, [B,T,F] plus [B,F]), ``tanh``
  (``activation``), projected to one energy per frame (``linear``), normalized over the encoder frames
  (``softmax_over_spatial``) and used to weight the encoder (``generic_attention`` with ``base`` and
  ``weights``); the context is an extra source of a loop layer the choice's scores depend on (this frame's
  context, or ``prev:`` of it);
* ``location-aware``: the energies of an attention also read the previous frame's attention weights
  (``prev:W``) through a ``conv`` over the encoder frames (``filter_size`` 3 or 5, ``padding`` same) or a
  ``window`` over them (merged with ``merge_dims``), projected and added into the energy's ``combine`` (or
  given as an extra source of the energy ``linear``); where the loop has no attention of this form, an
  additive one with location features is added (as in ``mlp-attention``);
* ``multi-head``: an attention gets several heads: an existing one's energy ``linear`` gets one output per
  head and its ``generic_attention`` attends a root projection of its encoder ``split_dims`` into heads
  (its readers read a ``merge_dims`` of the heads), or a new multi-head attention is added, its energies
  per head either additive (``linear`` to the number of heads) or a ``dot`` of per-head keys and queries
  (``split_dims`` of both, ``red1`` / ``red2`` the per-head features, ``var1`` the encoder frames),
  weighted values per head merged back (``merge_dims``) and read by a loop layer;
* ``local-window``: an attention limited to a window of the encoder around a position computed in the loop
  (the argmax over the encoder frames of ``prev:`` of the attention weights, a ``reduce`` after a
  ``squeeze``, or the frame index ``:i``), either as ``window_start`` / ``window_size`` of the
  ``softmax_over_spatial``, as a ``slice_nd`` of the encoder from the window's start on (``size`` None, a
  monotonic attention) with an additive attention inside the slice, or as a hard attention (``gather`` of
  the encoder frame at the position); the context is read by a loop layer the scores depend on;
* ``export-attention``: an attention's weights or context leave the loop: a root layer reads them by path
  (``REC/W``, the loop layer maybe marked ``is_output_layer``): a ``reduce`` sum of the weights over the
  decoder frames (an output), a ``decide`` of the weights or of the context, a ``linear`` over the
  contexts (an output, or decided), or the argmax position of each frame (a loop ``reduce`` argmax) read
  after the loop by a ``copy`` output or a ``decide``.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH34_SEED = 20261227
N_FRESH34 = 80

Result = "tuple[Case, str] | None"

#: root classes that keep an encoder's time axis and make (or keep) dense features
_KEEP_T = ("copy", "activation", "layer_norm", "dropout", "pool", "combine")
#: loop classes a query (a state of the frame) may have
_QUERY = ("linear", "rnn_cell", "rec", "activation", "reduce_out", "layer_norm")
#: loop classes that may take the context as an extra source
_FEED = ("linear", "softmax", "rnn_cell", "rec")
#: loop classes that take away the encoder's time axis
_REDUCING = ("generic_attention", "dot_attention", "reduce", "gather", "merge_dims")


def _data_dense(case: Case) -> bool:
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict):
        return not (ext.get("sparse") or ext.get("sparse_dim"))
    num = (case.get("num_outputs") or {}).get("data")
    return isinstance(num, list) and num[1:] == [2]


def _enc_kind(case: Case, net: dict[str, Any], ref: str, depth: int = 0) -> str | None:
    """``dense`` / ``sparse`` for a root layer (or ``data``) with a time axis, else None (roughly)."""
    if ref in ("data", "data:data"):
        return "dense" if _data_dense(case) else "sparse"
    if ref not in net or depth > 40:
        return None
    desc = net[ref]
    cls = desc.get("class")
    srcs = _sources(desc) if "from" in desc else ["data"]
    if cls == "rec":
        return "dense" if isinstance(desc.get("unit"), str) and srcs else None
    kinds = [_enc_kind(case, net, s, depth + 1) for s in srcs]
    if not srcs or None in kinds:
        return None
    if cls == "linear":
        return "dense"
    if cls in _KEEP_T:
        return "dense" if all(k == "dense" for k in kinds) else None
    return None


def _encoders(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Dense root layers with a time axis that the decoder ``rec`` reads (transitively), no beam."""
    beamed = _beamed_roots(net)
    return [k for k in sorted(_root_ancestors(net, rec))
            if k not in beamed and _enc_kind(case, net, k) == "dense"]


def _timed(case: Case, net: dict[str, Any], rec: str) -> set[str]:
    """Loop layers that (may) carry the encoder's time axis (energies, weights)."""
    unit = net[rec]["unit"]
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            desc = unit[k]
            if k in out or desc.get("class") in _REDUCING:
                continue
            for ref in _sources(desc) + [desc[o] for o in ("base",) if isinstance(desc.get(o), str)]:
                name = ref.removeprefix("prev:")
                if ref.startswith("base:") and _enc_kind(case, net, ref[len("base:"):]) is not None:
                    hit = True
                else:
                    hit = name in out
                if hit:
                    out.add(k)
                    changed = True
                    break
    return out


def _score_layers(unit: dict[str, Any]) -> set[str]:
    """Loop layers a choice's scores depend on in the frame (its sources included)."""
    out: set[str] = set()
    for c in _unit_choices(unit):
        for s in _sources(unit[c]):
            if s in unit:
                out |= {s} | _frame_ancestors(unit, s)
    return out


def _queries(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    unit = net[rec]["unit"]
    timed = _timed(case, net, rec)
    out = []
    for k in _layers(unit):
        desc = unit[k]
        cls = desc.get("class")
        if k == "end" or k in timed or cls not in _QUERY:
            continue
        if cls == "rec" and not isinstance(desc.get("unit"), str):
            continue
        out.append(k)
    return out


def _feeds(case: Case, net: dict[str, Any], rec: str, avoid: set[str]) -> list[str]:
    """Loop layers the scores depend on that may read a context (not in ``avoid``)."""
    unit = net[rec]["unit"]
    timed = _timed(case, net, rec)
    out = []
    for k in sorted(_score_layers(unit)):
        desc = unit[k]
        cls = desc.get("class")
        if k in timed or k in avoid or cls not in _FEED or desc.get("class") == "choice":
            continue
        if cls == "rec" and not isinstance(desc.get("unit"), str):
            continue
        if not _sources(desc) and "from" in desc:
            continue
        heads = [r.removeprefix("prev:") for r in _sources(desc)]
        if any(h.startswith(("data:", "base:data")) or (h in unit and unit[h].get("class") == "choice")
               for h in heads):
            continue  # reads labels directly (sparse): a dense context could not be concatenated
        out.append(k)
    return out


def _feed(case: Case, net: dict[str, Any], rec: str, ctx: str, avoid: set[str],
          rng: random.Random) -> str | None:
    """Let a loop layer the scores depend on read ``ctx`` (this frame) or ``prev:ctx``."""
    unit = net[rec]["unit"]
    now = _feeds(case, net, rec, avoid | {ctx} | _frame_ancestors(unit, ctx))
    later = _feeds(case, net, rec, {ctx})
    if now and (rng.random() < 0.6 or not later):
        target = rng.choice(now)
        _add_source(unit[target], ctx)
        return f"{rec}/{target} reads {ctx}"
    if later:
        target = rng.choice(later)
        _add_source(unit[target], f"prev:{ctx}")
        return f"{rec}/{target} reads prev:{ctx}"
    return None


def _build_attention(case: Case, net: dict[str, Any], rec: str, rng: random.Random, *,
                     loc: bool = False, heads: int = 1, tag: str = "att") -> dict[str, str] | None:
    """Add an additive attention to the loop ``rec``; the names of its layers (and a description)."""
    unit = net[rec]["unit"]
    encs = _encoders(case, net, rec)
    queries = _queries(case, net, rec)
    if not encs or not queries:
        return None
    enc = rng.choice(encs)
    query = rng.choice(queries)
    q_ref = rng.choice([query, f"prev:{query}"])
    dim = rng.choice([4, 8])
    names = set(unit)
    key_ref = f"base:{enc}"
    if rng.random() < 0.7:
        key = _fresh(net, f"{enc}_{tag}_key")
        net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": dim}
        key_ref = f"base:{key}"
        key_where = f"root {key}"
    else:
        key = _fresh(names, f"{tag}_key")
        unit[key] = {"class": "linear", "activation": None, "with_bias": False, "from": f"base:{enc}",
                     "n_out": dim}
        key_ref = key
        key_where = f"loop {key}"
    qp = _fresh(unit, f"{tag}_query")
    unit[qp] = {"class": "linear", "activation": None, "with_bias": False, "from": q_ref, "n_out": dim}
    ein = _fresh(unit, f"{tag}_energy_in")
    unit[ein] = {"class": "combine", "kind": "add", "from": [key_ref, qp]}
    if rng.random() < 0.5:
        unit[ein]["n_out"] = dim
    weights = _fresh(unit, f"{tag}_weights")
    extra = ""
    if loc:
        feat = _location_feature(unit, weights, dim, rng)
        unit[ein]["from"].append(feat[0])
        extra = f", location {feat[1]}"
    tanh = _fresh(unit, f"{tag}_energy_tanh")
    unit[tanh] = {"class": "activation", "activation": "tanh", "from": ein}
    energy = _fresh(unit, f"{tag}_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": tanh, "n_out": heads}
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    ctx = _fresh(unit, f"{tag}_ctx")
    if heads == 1:
        unit[ctx] = {"class": "generic_attention", "base": f"base:{enc}", "weights": weights}
        value = enc
    else:
        per = rng.choice([2, 4])
        value = _fresh(net, f"{enc}_{tag}_value")
        net[value] = {"class": "linear", "activation": None, "with_bias": False, "from": enc,
                      "n_out": heads * per}
        split = _fresh(net, f"{value}_heads")
        net[split] = {"class": "split_dims", "axis": "F", "dims": [heads, per], "from": value}
        ctx0 = _fresh(unit, f"{tag}_ctx_heads")
        unit[ctx0] = {"class": "generic_attention", "base": f"base:{split}", "weights": weights}
        unit[ctx] = {"class": "merge_dims", "axes": rng.choice(["static", "except_batch"]), "from": ctx0}
        value = split
    return {"enc": enc, "query": query, "q_ref": q_ref, "weights": weights, "energy": energy, "ctx": ctx,
            "energy_in": ein, "desc": (f"{rec}: additive attention {weights} over {enc} ({key_where} + "
                                       f"{qp} of {q_ref}{extra}, {heads} head(s)), context {ctx} of {value}")}


def _location_feature(unit: dict[str, Any], weights: str, dim: int, rng: random.Random) -> tuple[str, str]:
    """Layers over ``prev:weights`` along the encoder frames, projected to ``dim``; (name, description)."""
    if rng.random() < 0.6:
        width = rng.choice([3, 5])
        conv = _fresh(unit, f"{weights}_loc_conv")
        unit[conv] = {"class": "conv", "from": f"prev:{weights}", "filter_size": [width], "padding": "same",
                      "n_out": rng.choice([4, 8]), "activation": None}
        src, how = conv, f"conv width {width}"
    else:
        width = rng.choice([3, 5])
        win = _fresh(unit, f"{weights}_loc_window")
        unit[win] = {"class": "window", "from": f"prev:{weights}", "window_size": width, "padding": "same"}
        merged = _fresh(unit, f"{win}_merged")
        unit[merged] = {"class": "merge_dims", "axes": "static", "from": win}
        src, how = merged, f"window {width}"
    proj = _fresh(unit, f"{weights}_loc_proj")
    unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": dim}
    return proj, f"{how} of prev:{weights} into {proj}"


def _attentions(case: Case, net: dict[str, Any], rec: str) -> list[dict[str, Any]]:
    """Existing attentions of a loop: softmax_over_spatial weights with their energy layers and readers."""
    unit = net[rec]["unit"]
    out = []
    encs = set(_encoders(case, net, rec))
    for w in _layers(unit):
        desc = unit[w]
        if desc.get("class") != "softmax_over_spatial" or desc.get("axis") is not None:
            continue
        srcs = [s for s in _sources(desc) if s in unit]
        if len(srcs) != 1:
            continue
        energy = srcs[0]
        while unit[energy].get("class") in ("reinterpret_data", "copy") and len(_sources(unit[energy])) == 1 \
                and _sources(unit[energy])[0] in unit:
            energy = _sources(unit[energy])[0]
        edesc = unit[energy]
        if edesc.get("class") != "linear" or edesc.get("n_out") != 1:
            continue
        ein = None
        for s in _sources(edesc):
            if s in unit and unit[s].get("class") == "activation":
                for s2 in _sources(unit[s]):
                    if s2 in unit and unit[s2].get("class") == "combine" and unit[s2].get("kind") == "add":
                        ein = s2
        ctxs = [g for g in _layers(unit) if unit[g].get("class") == "generic_attention"
                and unit[g].get("weights") == w]
        enc = None
        for g in ctxs:
            base = unit[g].get("base")
            if isinstance(base, str) and base.startswith("base:") and base[5:] in encs:
                enc = base[5:]
        if enc is None and encs:
            enc = min(encs)
        out.append({"weights": w, "energy": energy, "energy_in": ein, "ctxs": ctxs, "enc": enc})
    return out


def _energy_dim(net: dict[str, Any], unit: dict[str, Any], ein: str) -> int | None:
    desc = unit[ein]
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    for s in _sources(desc):
        layers, name = (net, s[5:]) if s.startswith("base:") else (unit, s)
        d = layers.get(name)
        if isinstance(d, dict) and d.get("class") == "linear" and isinstance(d.get("n_out"), int):
            return d["n_out"]
    return None


def op_mlp_attention(case: Case, rng: random.Random) -> Result:
    """An additive attention added to a decoder loop, its context read by a layer the scores depend on."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if _encoders(case, net, r) and _queries(case, net, r)]
    if not recs:
        return None
    rec = rng.choice(recs)
    att = _build_attention(case, net, rec, rng, tag=rng.choice(["att", "mlp_att"]))
    if att is None:
        return None
    unit = net[rec]["unit"]
    avoid = {att["query"]} | _frame_ancestors(unit, att["query"]) if att["q_ref"] == att["query"] else set()
    fed = _feed(case, net, rec, att["ctx"], avoid, rng)
    if fed is None:
        return None
    return new, f"{att['desc']}; {fed}"


def op_location_aware(case: Case, rng: random.Random) -> Result:
    """The energies of an attention also read a convolution (or window) of the previous frame's weights."""
    new, net = _copy(case)
    sites = [(r, a) for r in _searching_recs(net) for a in _attentions(case, net, r)]
    if sites and rng.random() < 0.8:
        rec, att = rng.choice(sites)
        unit = net[rec]["unit"]
        ein = att["energy_in"]
        dim = _energy_dim(net, unit, ein) if ein else None
        if dim is not None and rng.random() < 0.7:
            proj, how = _location_feature(unit, att["weights"], dim, rng)
            _add_source(unit[ein], proj)
            return new, f"{rec}/{ein} also adds {how}"
        proj, how = _location_feature(unit, att["weights"], rng.choice([4, 8]), rng)
        _add_source(unit[att["energy"]], proj)
        return new, f"{rec}/{att['energy']} also reads {how}"
    recs = [r for r in _searching_recs(net) if _encoders(case, net, r) and _queries(case, net, r)]
    if not recs:
        return None
    rec = rng.choice(recs)
    att = _build_attention(case, net, rec, rng, loc=True, tag="loc_att")
    if att is None:
        return None
    unit = net[rec]["unit"]
    avoid = {att["query"]} | _frame_ancestors(unit, att["query"]) if att["q_ref"] == att["query"] else set()
    fed = _feed(case, net, rec, att["ctx"], avoid, rng)
    if fed is None:
        return None
    return new, f"{att['desc']}; {fed}"


def _dot_heads(case: Case, net: dict[str, Any], rec: str, rng: random.Random) -> dict[str, str] | None:
    """A new multi-head dot-product attention: per-head keys (root) and queries (loop), ``dot``."""
    unit = net[rec]["unit"]
    encs = _encoders(case, net, rec)
    queries = _queries(case, net, rec)
    if not encs or not queries:
        return None
    enc = rng.choice(encs)
    query = rng.choice(queries)
    q_ref = rng.choice([query, f"prev:{query}"])
    heads, per = rng.choice([2, 4]), rng.choice([2, 4])
    key = _fresh(net, f"{enc}_mh_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": heads * per}
    key_split = _fresh(net, f"{key}_heads")
    net[key_split] = {"class": "split_dims", "axis": "F", "dims": [heads, per], "from": key}
    value = _fresh(net, f"{enc}_mh_value")
    net[value] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": heads * per}
    value_split = _fresh(net, f"{value}_heads")
    net[value_split] = {"class": "split_dims", "axis": "F", "dims": [heads, per], "from": value}
    qp = _fresh(unit, "mh_query")
    unit[qp] = {"class": "linear", "activation": None, "with_bias": False, "from": q_ref, "n_out": heads * per}
    q_split = _fresh(unit, "mh_query_heads")
    unit[q_split] = {"class": "split_dims", "axis": "F", "dims": [heads, per], "from": qp}
    energy = _fresh(unit, "mh_energy")
    unit[energy] = {"class": "dot", "from": [f"base:{key_split}", q_split], "red1": "F", "red2": "F",
                    "var1": "T", "var2": None}
    weights = _fresh(unit, "mh_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    if rng.random() < 0.5:
        unit[weights]["energy_factor"] = round(per ** -0.5, 4)
    ctx0 = _fresh(unit, "mh_ctx_heads")
    unit[ctx0] = {"class": "generic_attention", "base": f"base:{value_split}", "weights": weights}
    ctx = _fresh(unit, "mh_ctx")
    unit[ctx] = {"class": "merge_dims", "axes": rng.choice(["static", "except_batch"]), "from": ctx0}
    return {"query": query, "q_ref": q_ref, "ctx": ctx,
            "desc": (f"{rec}: {heads}-head dot attention {weights} ({energy}: dot of base:{key_split} and "
                     f"{q_split} of {q_ref}), context {ctx} merged from {ctx0} over base:{value_split}")}


def op_multi_head(case: Case, rng: random.Random) -> Result:
    """An attention gets several heads (an existing one split into heads, or a new multi-head one)."""
    new, net = _copy(case)
    sites = [(r, a) for r in _searching_recs(net) for a in _attentions(case, net, r)
             if a["ctxs"] and a["enc"] and set(_readers(net[r]["unit"], a["weights"])) <= set(a["ctxs"])
             and not _readers(net[r]["unit"], a["weights"], f"prev:{a['weights']}")]
    if sites and rng.random() < 0.5:
        rec, att = rng.choice(sites)
        unit = net[rec]["unit"]
        heads, per = rng.choice([2, 4]), rng.choice([2, 4, 8])
        unit[att["energy"]]["n_out"] = heads
        enc = att["enc"]
        value = _fresh(net, f"{enc}_head_value")
        net[value] = {"class": "linear", "activation": None, "with_bias": False, "from": enc,
                      "n_out": heads * per}
        split = _fresh(net, f"{value}_split")
        net[split] = {"class": "split_dims", "axis": "F", "dims": [heads, per], "from": value}
        done = []
        for g in att["ctxs"]:
            unit[g]["base"] = f"base:{split}"
            readers = _readers(unit, g)
            prev_readers = _readers(unit, g, f"prev:{g}")
            if readers and all(unit[r].get("class") == "merge_dims" for r in readers) and not prev_readers:
                done.append(f"{g} (already merged by {', '.join(readers)})")
                continue
            merged = _fresh(unit, f"{g}_merged")
            unit[merged] = {"class": "merge_dims", "axes": rng.choice(["static", "except_batch"]), "from": g}
            _redirect(unit, readers, g, merged)
            _redirect(unit, prev_readers, f"prev:{g}", f"prev:{merged}")
            done.append(f"{g} (read through {merged})")
        return new, (f"{rec}/{att['energy']} gets {heads} heads; {', '.join(done)} attend base:{split}, "
                     f"a projection of {enc} split into {heads}x{per}")
    recs = [r for r in _searching_recs(net) if _encoders(case, net, r) and _queries(case, net, r)]
    if not recs:
        return None
    rec = rng.choice(recs)
    if rng.random() < 0.5:
        att = _dot_heads(case, net, rec, rng)
    else:
        att = _build_attention(case, net, rec, rng, heads=rng.choice([2, 4]), tag="mh_att")
    if att is None:
        return None
    unit = net[rec]["unit"]
    avoid = {att["query"]} | _frame_ancestors(unit, att["query"]) if att["q_ref"] == att["query"] else set()
    fed = _feed(case, net, rec, att["ctx"], avoid, rng)
    if fed is None:
        return None
    return new, f"{att['desc']}; {fed}"


def _attention_or_new(case: Case, net: dict[str, Any], rec: str, rng: random.Random) -> dict[str, Any] | None:
    """An existing attention of the loop, or a new additive one (its context fed to the scores)."""
    found = [a for a in _attentions(case, net, rec) if a["enc"]]
    if found and rng.random() < 0.8:
        return {**rng.choice(found), "desc": ""}
    att = _build_attention(case, net, rec, rng)
    if att is None:
        return None
    unit = net[rec]["unit"]
    avoid = {att["query"]} | _frame_ancestors(unit, att["query"]) if att["q_ref"] == att["query"] else set()
    fed = _feed(case, net, rec, att["ctx"], avoid, rng)
    if fed is None:
        return None
    return {**att, "ctxs": [att["ctx"]], "desc": f"{att['desc']}; {fed}; "}


def op_local_window(case: Case, rng: random.Random) -> Result:
    """An attention limited to a window of the encoder around a position computed in the loop."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if _encoders(case, net, r)
            and (_queries(case, net, r) or _attentions(case, net, r))]
    if not recs:
        return None
    rec = rng.choice(recs)
    att = _attention_or_new(case, net, rec, rng)
    if att is None:
        return None
    unit = net[rec]["unit"]
    weights, enc = att["weights"], att["enc"]
    size = rng.choice([2, 3, 5])
    half = size // 2
    if rng.random() < 0.75:
        sq = _fresh(unit, f"{weights}_prev_squeezed")
        unit[sq] = {"class": "squeeze", "axis": "F", "from": f"prev:{weights}"}
        pos = _fresh(unit, f"{weights}_peak")
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": sq}
        pos_desc = f"argmax of prev:{weights}"
    else:
        pos = _fresh(unit, "frame_pos")
        unit[pos] = {"class": "eval", "from": ":i", "eval": rng.choice(["source(0)", "source(0) * 2"])}
        pos_desc = f"frame index ({unit[pos]['eval']})"
    start = _fresh(unit, "win_start")
    unit[start] = {"class": "eval", "from": pos, "eval": f"tf.maximum(source(0) - {half}, 0)"}
    kind = rng.choice(["softmax", "slice", "slice", "gather"])
    desc = att["desc"]
    if kind == "softmax" and unit[weights].get("window_start") is None:
        unit[weights]["window_start"] = start
        unit[weights]["window_size"] = size
        return new, f"{desc}{rec}/{weights} gets window_start {start} ({pos_desc} - {half}), window_size {size}"
    queries = _queries(case, net, rec)
    targets = _feeds(case, net, rec, set())
    if not targets:
        return None
    target = rng.choice(targets)
    if kind == "gather":
        hard = _fresh(unit, f"{enc}_at_peak")
        unit[hard] = {"class": "gather", "from": f"base:{enc}", "axis": "T", "position": pos}
        if rng.random() < 0.5:
            unit[hard]["clip_to_valid"] = True
        ref = rng.choice([hard, f"prev:{hard}"])
        _add_source(unit[target], ref)
        return new, f"{desc}{rec}: hard attention {hard}, base:{enc} at {pos_desc}; {rec}/{target} reads {ref}"
    if not queries:
        return None
    query = rng.choice(queries)
    q_ref = f"prev:{query}"
    sl = _fresh(unit, f"{enc}_window")
    unit[sl] = {"class": "slice_nd", "from": f"base:{enc}", "start": start, "size": None}
    dim = rng.choice([4, 8])
    key = _fresh(unit, f"{sl}_key")
    unit[key] = {"class": "linear", "activation": None, "with_bias": False, "from": sl, "n_out": dim}
    qp = _fresh(unit, "local_query")
    unit[qp] = {"class": "linear", "activation": None, "with_bias": False, "from": q_ref, "n_out": dim}
    ein = _fresh(unit, "local_energy_in")
    unit[ein] = {"class": "combine", "kind": "add", "from": [key, qp]}
    tanh = _fresh(unit, "local_energy_tanh")
    unit[tanh] = {"class": "activation", "activation": "tanh", "from": ein}
    energy = _fresh(unit, "local_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": tanh, "n_out": 1}
    lw = _fresh(unit, "local_weights")
    unit[lw] = {"class": "softmax_over_spatial", "from": energy}
    ctx = _fresh(unit, "local_ctx")
    unit[ctx] = {"class": "generic_attention", "base": sl, "weights": lw}
    _add_source(unit[target], ctx)
    return new, (f"{desc}{rec}: monotonic attention {lw} over {sl} (slice_nd of base:{enc} from {start}, "
                 f"{pos_desc} - {half}, to the end), query prev:{query}; {rec}/{target} reads {ctx}")


def op_export_attention(case: Case, rng: random.Random) -> Result:
    """An attention's weights or context read after the loop by a root layer (by path)."""
    new, net = _copy(case)
    recs = [r for r in _searching_recs(net) if _encoders(case, net, r)
            and (_queries(case, net, r) or _attentions(case, net, r))]
    if not recs:
        return None
    rec = rng.choice(recs)
    att = _attention_or_new(case, net, rec, rng)
    if att is None:
        return None
    unit = net[rec]["unit"]
    weights = att["weights"]
    ctxs = att.get("ctxs") or []
    kind = rng.choice(["fertility", "decide-weights", "decide-ctx", "linear-ctx", "peak"])
    if kind in ("decide-ctx", "linear-ctx") and not ctxs:
        kind = "fertility"
    mark = rng.random() < 0.5
    desc = att["desc"]
    if kind == "peak":
        pos = _fresh(unit, f"{weights}_argmax")
        unit[pos] = {"class": "reduce", "mode": "argmax", "axis": "T", "from": weights}
        exported = pos
        if mark:
            unit[pos]["is_output_layer"] = True
    else:
        exported = weights if kind in ("fertility", "decide-weights") else rng.choice(ctxs)
        if mark:
            unit[exported]["is_output_layer"] = True
    path = f"{rec}/{exported}"
    marked = " (marked an output in the loop)" if mark else ""
    if kind == "fertility":
        name = _fresh(net, f"{rec}_{weights}_fertility")
        net[name] = {"class": "reduce", "mode": "sum", "axis": "T", "from": path, "is_output_layer": True}
        return new, f"{desc}root {name}: sum of {path}{marked} over the decoder frames, an output"
    if kind in ("decide-weights", "decide-ctx"):
        name = _fresh(net, f"{rec}_{exported}_decided")
        net[name] = {"class": "decide", "from": path, "is_output_layer": True}
        return new, f"{desc}root {name}: decide of {path}{marked}, an output"
    if kind == "linear-ctx":
        name = _fresh(net, f"{rec}_{exported}_proj")
        net[name] = {"class": "linear", "activation": "tanh", "from": path, "n_out": rng.choice([4, 8])}
        if rng.random() < 0.5:
            net[name]["is_output_layer"] = True
            return new, f"{desc}root {name}: linear over {path}{marked}, an output"
        dec = _fresh(net, f"{name}_decided")
        net[dec] = {"class": "decide", "from": name, "is_output_layer": True}
        return new, f"{desc}root {name}: linear over {path}{marked}, decided by {dec} (an output)"
    if rng.random() < 0.5:
        name = _fresh(net, f"{rec}_{exported}_out")
        net[name] = {"class": "copy", "from": path, "is_output_layer": True}
        return new, f"{desc}root {name}: copy of {path}{marked} (argmax of {weights} per frame), an output"
    name = _fresh(net, f"{rec}_{exported}_decided")
    net[name] = {"class": "decide", "from": path, "is_output_layer": True}
    return new, f"{desc}root {name}: decide of {path}{marked} (argmax of {weights} per frame), an output"


FRESH34_OPERATORS: tuple[Op, ...] = (
    Op("mlp-attention", op_mlp_attention, 1),
    Op("location-aware", op_location_aware, 1),
    Op("multi-head", op_multi_head, 1),
    Op("local-window", op_local_window, 1),
    Op("export-attention", op_export_attention, 1),
)
