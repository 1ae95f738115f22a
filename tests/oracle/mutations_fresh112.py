"""A hundred-and-fourteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Multi-encoder (multi-source) decoders: a searching decoder that attends to two encoders (two extern-data
keys, e.g. a second source sentence or a second feature stream added to the base's ``extern_data`` /
``num_outputs``, or two encoder branches of one input with different time reductions), two attention contexts in
the loop combined by concatenation, a gate or a hierarchical (second-level) attention over the two contexts, one
encoder used only for the decoder's initial state, a second encoder inside a ``subnetwork`` at the root, and the
mistakes users make between the two (the wrong time axis, a context read without ``base:``, a second encoder that
is itself a ``rec`` loop, a second key declared like a target). Sources: the multi-source NMT / multi-modal
combination strategies users port to RETURNN (Zoph & Knight 2016 "Multi-Source Neural Translation": two encoders,
the decoder initialised from both; Libovicky & Helcl 2017 "Attention Strategies for Multi-Source
Sequence-to-Sequence Learning": concatenated contexts, flat and hierarchical combination, gates), put onto the
attention decoders of rwth-i6/returnn-experiments (``enc_ctx`` / ``energy`` / ``att_weights`` / ``att`` /
``readout``), the extern-data handling of the installed ``returnn/tf/network.py``
(``_extern_data_types_from_config``: every key of ``extern_data`` or ``num_outputs`` but the default input that
does not say ``available_for_inference`` becomes ``available_for_inference: False``; ``DataNotAvailableLayer`` in
search), rwth-i6/returnn#109 (all extern-data keys usable inside a rec unit, read frame by frame),
rwth-i6/returnn#372 (a key marked ``available_for_inference: False`` still accessed in search),
rwth-i6/returnn#190 ("Initial state cannot be taken from base layer": a root layer as ``initial_state`` of a cell
in the searching loop, reported not extended with the beam), and ``DotAttentionLayer`` / ``GenericAttentionLayer``
(``returnn/tf/layers/rec.py``), ``SoftmaxOverSpatialLayer`` / ``SubnetworkLayer`` (``returnn/tf/layers/basic.py``)
and ``RnnCellLayer .get_rec_initial_state`` (``rec.py``). A "second stream" below is one of: a new extern-data key
(dense features or sparse tokens, embedded at the root) declared right (a plain ``dim`` / ``shape`` entry of
``extern_data``, or the dict form in ``num_outputs``, with ``available_for_inference: True``), declared as users
first declare it (without the flag, or in the ``[dim, ndim]`` list form of ``num_outputs``: a target by RETURNN's
default), declared like a target (the target's entry copied, ``available_for_inference: False``), the decoder's
own target key read as the second source (an automatic post-editing set-up whose first-pass hypothesis sits under
the target key), or a second branch of the base's input with a time reduction (``pool`` ``max`` 2 or 3, ``padding:
"same"``); its encoder a ``linear``, an LSTM ``rec`` with a string unit (the base's own unit), a BLSTM pair, or a
hand-written ``rec`` loop with a dict unit over the stream. The second attention is the additive (MLP) form of the
bases (``combine`` add of ``base:CTX2`` and a query projection, ``tanh``, a ``linear`` to one energy,
``softmax_over_spatial``, ``generic_attention``) or ``dot_attention`` (a query projection onto the keys' size).
The loop's own context is its attention layer, or the ``merge_dims`` after a multi-head one (the real bases'
``att0`` / ``att``). (None a variant of an earlier operator; no rule was written for any of them.)

* ``src2-att-concat``: a second stream, its encoder and keys (``linear``) at the root, and a second attention in
  the searching loop whose query is a dense loop layer of the frame the scores read (or ``prev:`` of one); the
  two contexts concatenated: the new context added to the ``from`` of a dense loop layer on the scores' path (the
  readout, the output ``softmax``, the decoder state), or, where the loop has a context already, a ``copy`` of
  both contexts read instead of the old one (its ``prev:`` readers too); maybe ``prev:`` of the new context fed
  to the state ``rnn_cell``, maybe the loop's ``max_seq_len`` taken from the second encoder. Mistakes: one
  ``base:`` left off a reference of the new attention; the values of the first encoder attended with the second
  one's weights (the wrong time axis); the second key read frame by frame inside the loop (``data:KEY``, a
  ``linear`` of it on the scores' path) instead of attended. Targets: ``_SubnetworkRecCell`` template construction
  (``base:`` resolution, ``LayerNotFound``), ``GenericAttentionLayer._weights_time_axis_to_reduce``, the extern
  data inside the rec unit (``used_data_keys``, the rec time dim declared the same as the key's), the beam
  extension of root layers read in the loop, ``DataNotAvailableLayer`` in search.
* ``two-ctx-combine``: two contexts combined by a gate or a second-level attention (Libovicky & Helcl): the loop's
  own context (a ``dot_attention`` / ``generic_attention`` layer) or, where it has none, a new one over an encoder
  of the base's input, and a second context over a second stream; both projected to a common size (or, now and
  then, not: raw contexts of different sizes), then a gate (``sigmoid`` ``linear`` of the query and both
  contexts, a vector or a scalar gate, mixed by a ``combine`` ``eval``), a hierarchical attention (energies of the
  query and each context, ``tanh`` ``linear`` then ``linear``, per dimension; in an ``eval`` a ``softmax`` over the
  two sources of their ``tf.stack`` and the weighted sum of the contexts), a flat ``combine`` sum or
  a ``tanh`` ``linear`` of both; the combined context read instead of the old one by its readers (same frame and
  ``prev:``), or added to the scores' path. Targets: ``SearchChoices.translate_to_common_search_beam`` over the
  sources of ``combine`` / ``eval`` in the loop, ``Data.get_common_data`` on mixed beamed and root inputs.
* ``src2-init-state``: one encoder used only for the decoder's initial state (Zoph & Knight): a second stream, its
  encoder and a summary at the root (``reduce`` ``mean`` / ``max`` over ``T``, ``tanh`` ``linear`` to the state's
  size); the loop's state takes it as ``initial_state`` of an ``rnn_cell`` (an LSTM: a dict ``{"c": ..., "h":
  ...}``, a list, ``h`` only with ``c`` ``"zeros"``, or, as users first write it, one layer for the whole LSTM
  state; a GRU-like cell is not in the bases), as ``initial_output`` of a dense state layer read through
  ``prev:`` (a dense layer of the frame made recurrent, ``prev:`` of itself added, where the loop has no such
  state), or as a constant extra input of the state every frame; mistakes: the reference without ``base:``,
  ``initial_output`` on an ``rnn_cell``. Targets: ``RnnCellLayer.get_rec_initial_state`` /
  ``get_rec_initial_state_inner`` (a ``LayerBase`` initial state and the beam, #190; one layer for an LSTM's
  state tuple),
  ``LayerBase.get_rec_initial_output`` (``copy_extend_with_beam``), ``_SubnetworkRecCell._get_init_output``.
* ``src2-subnet-encoder``: the second encoder inside a root ``subnetwork`` (its stream as the subnetwork's
  ``from`` read as ``data``, or ``from: []`` and ``base:data:KEY`` inside), with the keys as a sub-layer (maybe
  an output layer); the loop's second attention reads the values as
  ``base:SUB`` and the keys by path ``base:SUB/ctx`` (or both by path), the context on the scores' path as in
  ``src2-att-concat``. Mistakes: ``from: []`` and ``data:KEY`` inside (``Subnetwork.get_data`` falls back to the
  root's extern data only for a subnetwork with sources); the keys path without ``base:`` in the loop; a layer
  inside the subnetwork that
  reads a root layer without ``base:``; the two encoders concatenated frame-wise inside the subnetwork (``copy``
  of the second stream and ``base:`` the first encoder: the wrong time axis). Targets: ``SubnetworkLayer`` /
  ``Subnetwork.get_data`` and sub-layer access from a rec unit (``base:SUB/ctx``), template construction of the
  unit, ``ConcatSourcesLayer`` time-dim checks.
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
    _readers,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
    has_cycle,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH112_SEED = 20270174
N_FRESH112 = 80

Result = "tuple[Case, str] | None"

_ATT_CLASSES = ("dot_attention", "generic_attention", "concat_attention")
_QUERY_CLASSES = ("rnn_cell", "rec", "linear", "activation")
_READOUT_CLASSES = ("linear", "softmax", "rnn_cell")


# ----------------------------------------------------------------------------------------------------
# Reading the base


def _is_str_rec(desc: dict[str, Any]) -> bool:
    return desc.get("class") != "rec" or isinstance(desc.get("unit"), str)


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    return srcs[0]


def _root_time(net: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether a root layer (roughly) has a time axis: not a ``reduce`` / last state / length (or a layer of
    one), a data key or anything else is taken to have one."""
    desc = net.get(name)
    if not isinstance(desc, dict) or depth > 8:
        return True
    if desc.get("class") in ("reduce", "get_last_hidden_state", "length", "constant", "variable"):
        return False
    if desc.get("class") in ("rec", "subnetwork", "source"):
        return True
    srcs = _sources(desc) if desc.get("from") is not None else ["data"]
    if not srcs:
        return False
    return any(_root_time(net, r, depth + 1) if r in net else True for r in srcs)


def _enc_time(net: dict[str, Any], unit: dict[str, Any], name: str, memo: dict[str, bool],
              stack: tuple[str, ...] = ()) -> bool:
    """Whether a loop layer (roughly) keeps an encoder time axis: it reads a ``base:`` layer with a time axis
    through ``from`` (not reduced by an attention layer), or reads such a loop layer."""
    if name in memo:
        return memo[name]
    if name in stack:
        return False
    desc = unit.get(name)
    if not isinstance(desc, dict):
        return False
    cls = desc.get("class")
    if cls in _ATT_CLASSES or cls in ("reduce", "choice", "compare", "get_last_hidden_state"):
        memo[name] = False
        return False
    if cls == "softmax_over_spatial":
        memo[name] = True
        return True
    out = False
    for ref in _sources(desc):
        if ref.startswith("base:"):
            root = ref[len("base:"):]
            if not root.startswith("data") and _root_time(net, root.split("/", 1)[0]):
                out = True
                break
            continue
        head = ref[len("prev:"):] if ref.startswith("prev:") else ref
        head = head.split("/", 1)[0]
        if head in unit and _enc_time(net, unit, head, memo, (*stack, name)):
            out = True
            break
    memo[name] = out
    return out


def _dense(net: dict[str, Any], unit: dict[str, Any], name: str, memo: dict[str, bool],
           classes: tuple[str, ...]) -> bool:
    desc = unit.get(name)
    return (isinstance(desc, dict) and name != "end" and desc.get("class") in classes and _is_str_rec(desc)
            and not _enc_time(net, unit, name, memo))


def _sparse_ref(unit: dict[str, Any], ref: str, sparse_keys: set[str], depth: int = 0) -> bool:
    """Whether a reference of a loop layer (roughly) gives sparse labels: a choice, a sparse data key, or a
    ``copy`` / ``reinterpret_data`` of one."""
    if ref.startswith("base:"):
        ref = ref[len("base:"):]
        if not ref.startswith("data"):
            return False
    if ref == "data" or ref.startswith("data:"):
        return ref.removeprefix("data:") in sparse_keys
    head = ref.removeprefix("prev:").split("/", 1)[0]
    desc = unit.get(head)
    if not isinstance(desc, dict) or depth > 6:
        return False
    if desc.get("class") == "choice":
        return desc.get("input_type") != "regression"
    if desc.get("class") in ("copy", "reinterpret_data", "decide_keep_beam", "gather"):
        srcs = _sources(desc)
        return bool(srcs) and any(_sparse_ref(unit, r, sparse_keys, depth + 1) for r in srcs)
    return False


def _reads_sparse(case: Case, unit: dict[str, Any], name: str) -> bool:
    keys = set(_sparse_keys(case))
    return any(_sparse_ref(unit, r, keys) for r in _sources(unit[name]))


def _readout_sites(case: Case, net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers on the path of the choice's scores that a new context can be concatenated into
    (none that reads labels directly: a dense source cannot be concatenated to sparse labels)."""
    scores = _scores(unit, choice)
    if scores is None:
        return []
    memo: dict[str, bool] = {}
    names = sorted({scores} | _frame_ancestors(unit, scores))
    return [n for n in names if _dense(net, unit, n, memo, _READOUT_CLASSES) and unit[n].get("from") not in (None, [])
            and not _reads_sparse(case, unit, n)]


def _pick_reader(unit: dict[str, Any], readers: list[str], rng: random.Random) -> str:
    """A readout site, state cells preferred."""

    def weight(name: str) -> float:
        return 1.5 if unit[name].get("class") == "rnn_cell" else 1.0

    return rng.choices(readers, [weight(r) for r in readers])[0]


def _query(net: dict[str, Any], unit: dict[str, Any], reader: str, rng: random.Random) -> str | None:
    """A query for a new attention whose context ``reader`` reads: a dense layer the reader depends on in the
    frame, or ``prev:`` of a dense loop layer (state layers preferred)."""
    memo: dict[str, bool] = {}
    same = sorted(n for n in _frame_ancestors(unit, reader) if _dense(net, unit, n, memo, _QUERY_CLASSES))
    prev = sorted(f"prev:{n}" for n in _layers(unit) if _dense(net, unit, n, memo, _QUERY_CLASSES))
    states = [n for n in same if unit[n].get("class") in ("rnn_cell", "rec")]
    prev_states = [p for p in prev if unit[p[5:]].get("class") in ("rnn_cell", "rec")]
    pools = [(states, 4.0), (same, 2.0), (prev_states, 2.0), (prev, 1.0)]
    pools = [(p, w) for p, w in pools if p]
    if not pools:
        return None
    pool = rng.choices([p for p, _ in pools], [w for _, w in pools])[0]
    return rng.choice(pool)


def _contexts(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """The loop's attention contexts: attention layers, or the ``merge_dims`` that merges a multi-head one
    (a head axis left in is not a context of its own; one over a ``split_dims`` base with no merge is left out)."""
    out = []
    for n in _layers(unit):
        if unit[n].get("class") not in _ATT_CLASSES:
            continue
        merges = [k for k in _readers(unit, n) if unit[k].get("class") == "merge_dims" and _sources(unit[k]) == [n]]
        base = unit[n].get("base")
        root = base[len("base:"):] if isinstance(base, str) and base.startswith("base:") else None
        if merges:
            out.append(merges[0])
        elif not (root in net and isinstance(net[root], dict) and net[root].get("class") == "split_dims"):
            out.append(n)
    return sorted(set(out))


def _att_queries(net: dict[str, Any], unit: dict[str, Any], ctx: str) -> list[str]:
    """Queries of an existing attention layer (its ``from`` for ``dot_attention``, the dense state ancestors
    of the weights for ``generic_attention``, else any dense ancestor)."""
    desc = unit[ctx]
    memo: dict[str, bool] = {}
    if desc.get("class") in ("dot_attention", "concat_attention"):
        srcs = [s for s in _sources(desc) if s in unit or s.startswith("prev:")]
        if srcs:
            return srcs[:1]
    cands = sorted(n for n in _frame_ancestors(unit, ctx) if _dense(net, unit, n, memo, _QUERY_CLASSES))
    states = [n for n in cands if unit[n].get("class") in ("rnn_cell", "rec")]
    return states or cands


def _first_encoders(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """Root layers the loop's attention layers take as ``base`` (the first encoder's values)."""
    out = set()
    for desc in unit.values():
        if isinstance(desc, dict) and desc.get("class") in _ATT_CLASSES:
            ref = desc.get("base")
            if isinstance(ref, str) and ref.startswith("base:") and ref[5:] in net:
                out.add(ref[5:])
    return sorted(out)


def _root_lstm_unit(net: dict[str, Any]) -> str:
    """The string unit the base's root ``rec`` encoders use (``standardlstm`` where there is none)."""
    units = sorted({d["unit"] for d in net.values() if isinstance(d, dict) and d.get("class") == "rec"
                    and isinstance(d.get("unit"), str)})
    return "nativelstm2" if "nativelstm2" in units else (units[0] if units else "standardlstm")


def _input_sparse(case: Case) -> bool:
    ext = case.get("extern_data") or {}
    data = ext.get("data")
    if isinstance(data, dict):
        return bool(data.get("sparse") or data.get("sparse_dim"))
    num = (case.get("num_outputs") or {}).get("data")
    if isinstance(num, list):
        return num[1:] == [1]
    return False


def _label_target(case: Case, unit: dict[str, Any], choice: str) -> str | None:
    target = unit[choice].get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        key = target.removeprefix("data:")
        if key in _sparse_keys(case):
            return key
    return None


# ----------------------------------------------------------------------------------------------------
# A second stream and its encoder


def _declare(new: Case, rng: random.Random, sparse: bool, how_decl: str) -> tuple[str, str] | None:
    """Add a second key to the case's data declaration: (key, how). ``how_decl``: ``ok`` (explicitly
    ``available_for_inference: True``), ``implicit`` (no flag: RETURNN makes every key but the default input
    a target) or ``copied`` (the target's entry copied, ``available_for_inference: False``)."""
    ext = new.get("extern_data")
    num = new.get("num_outputs")
    taken = set(ext or {}) | set(num or {})
    key = _fresh(taken, rng.choice(["src2", "source2", "ctx_src"] if sparse else ["feat2", "aux_feat", "visual"]))
    dim = rng.choice([5, 9, 11]) if sparse else rng.choice([3, 4, 6])
    kind = "sparse" if sparse else "dense"
    entry: dict[str, Any] = {"dim": dim, "shape": [None] if sparse else [None, dim]}
    if sparse:
        entry["sparse"] = True
    if isinstance(ext, dict) and ext:
        where = f"extern_data[{key!r}] ({kind}, dim {dim})"
        if how_decl == "ok":
            entry["available_for_inference"] = True
            how = f"{where}, available_for_inference: True"
        elif how_decl == "copied":
            entry["available_for_inference"] = False
            how = f"{where} declared like the target (available_for_inference: False)"
        else:
            how = f"{where} without available_for_inference (a target by RETURNN's default)"
        ext[key] = entry
        return key, how
    if isinstance(num, dict) and num:
        if how_decl == "ok":
            entry["available_for_inference"] = True
            num[key] = entry
            return key, f"num_outputs[{key!r}] ({kind}, dim {dim}, dict form, available_for_inference: True)"
        if how_decl == "copied":
            entry["available_for_inference"] = False
            num[key] = entry
            return key, f"num_outputs[{key!r}] ({kind}, dim {dim}, dict form, available_for_inference: False)"
        num[key] = [dim, 1 if sparse else 2]
        return key, f"num_outputs[{key!r}] = {num[key]} (list form: a target by RETURNN's default)"
    return None


def _stream(new: Case, net: dict[str, Any], rng: random.Random, target: str | None,
            weights: tuple[float, float, float, float, float]) -> tuple[str, bool, str, str | None] | None:
    """A second stream: (root reference, sparse, how, data key or None). ``weights``: a new key declared
    available, declared without the flag, declared like a target, the decoder's target key, a time-reduced
    branch of the input."""
    have_decl = bool(new.get("extern_data")) or bool(new.get("num_outputs"))
    kinds = ["ok", "implicit", "copied", "target", "branch"]
    w = list(weights)
    if not have_decl:
        w[0] = w[1] = w[2] = 0.0
    if target is None:
        w[3] = 0.0
    if not any(w):
        return None
    kind = rng.choices(kinds, w)[0]
    if kind in ("ok", "implicit", "copied"):
        sparse = rng.random() < 0.5
        got = _declare(new, rng, sparse, kind)
        if got is None:
            return None
        key, how = got
        return f"data:{key}", sparse, how, key
    if kind == "target":
        assert target is not None
        return f"data:{target}", True, f"the target key {target!r} read as the second source", target
    src = "data"
    how = ""
    if _input_sparse(new):
        emb = _fresh(net, "src_embed2")
        net[emb] = {"class": "linear", "activation": None, "from": "data", "n_out": rng.choice([4, 6])}
        src = emb
        how = f" (embedded: {emb})"
    size = rng.choice([2, 3])
    name = _fresh(net, f"data_red{size}")
    net[name] = {"class": "pool", "mode": "max", "pool_size": [size], "padding": "same", "from": src}
    return name, False, f"a second branch {name} of the input{how} (pool max {size} over time)", None


def _encoder(net: dict[str, Any], rng: random.Random, src: str, sparse: bool, prefix: str,
             weights: tuple[float, float, float, float] = (0.35, 0.25, 0.12, 0.28)) -> tuple[str, int, str]:
    """A root encoder over ``src``: (its name, its size, how)."""
    hid = rng.choice([4, 6, 8])
    inp = src
    pre = ""
    if sparse:
        emb = _fresh(net, f"{prefix}_embed")
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": rng.choice([4, 6])}
        inp = emb
        pre = f"{emb} (embedding) -> "
    kind = rng.choices(["linear", "lstm", "blstm", "loop"], weights)[0]
    name = _fresh(net, f"{prefix}_enc")
    unit = _root_lstm_unit(net)
    if kind == "linear":
        net[name] = {"class": "linear", "activation": "tanh", "from": inp, "n_out": hid}
        return name, hid, f"{pre}{name} (tanh linear)"
    if kind == "lstm":
        net[name] = {"class": "rec", "unit": unit, "from": inp, "n_out": hid}
        return name, hid, f"{pre}{name} (rec {unit})"
    if kind == "blstm":
        fw = _fresh(net, f"{prefix}_lstm_fw")
        net[fw] = {"class": "rec", "unit": unit, "from": inp, "n_out": hid, "direction": 1}
        bw = _fresh(net, f"{prefix}_lstm_bw")
        net[bw] = {"class": "rec", "unit": unit, "from": inp, "n_out": hid, "direction": -1}
        net[name] = {"class": "copy", "from": [fw, bw]}
        return name, 2 * hid, f"{pre}{name} (BLSTM {fw} + {bw}, rec {unit})"
    loop_unit = {
        "h": {"class": "linear", "activation": "tanh", "from": ["data:source", "prev:h"], "n_out": hid},
        "output": {"class": "copy", "from": "h"},
    }
    net[name] = {"class": "rec", "from": inp, "unit": loop_unit}
    return name, hid, f"{pre}{name} (hand-written rec loop, dict unit: h = tanh linear of the frame and prev:h)"


def _attention(net: dict[str, Any], unit: dict[str, Any], rng: random.Random, query: str, values: str,
               keys_ref: str, *, keys_dim: int, prefix: str, values_ref: str | None = None) -> tuple[str, str]:
    """A second attention in the loop over root ``values`` (read as ``values_ref``, default ``base:VALUES``)
    with keys ``keys_ref`` of size ``keys_dim``: (context name, how)."""
    vref = values_ref or f"base:{values}"
    if rng.random() < 0.5:
        q = _fresh(unit, f"{prefix}_query")
        unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": keys_dim}
        att = _fresh(unit, prefix)
        unit[att] = {"class": "dot_attention", "from": q, "base": vref, "base_ctx": keys_ref}
        return att, f"{att} = dot_attention(query {q} of {query}, base {vref}, base_ctx {keys_ref})"
    s_tr = _fresh(unit, f"{prefix}_s_tr")
    unit[s_tr] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": keys_dim}
    e_in = _fresh(unit, f"{prefix}_energy_in")
    unit[e_in] = {"class": "combine", "kind": "add", "from": [keys_ref, s_tr]}
    e_tanh = _fresh(unit, f"{prefix}_energy_tanh")
    unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
    energy = _fresh(unit, f"{prefix}_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": e_tanh, "n_out": 1}
    weights = _fresh(unit, f"{prefix}_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy}
    att = _fresh(unit, prefix)
    unit[att] = {"class": "generic_attention", "weights": weights, "base": vref}
    return att, (f"{att} = generic_attention over {vref} with weights softmax_over_spatial of tanh({keys_ref} + "
                 f"linear of {query})")


def _keys(net: dict[str, Any], rng: random.Random, enc: str) -> tuple[str, int]:
    dim = rng.choice([4, 6])
    name = _fresh(net, f"{enc}_ctx")
    net[name] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": dim}
    return name, dim


def _drop_base(unit: dict[str, Any], names: list[str], rng: random.Random) -> str | None:
    """Leave ``base:`` off one reference of the given loop layers."""
    sites = []
    for n in names:
        desc = unit[n]
        for key in ("from", "base", "base_ctx"):
            value = desc.get(key)
            if isinstance(value, str) and value.startswith("base:"):
                sites.append((n, key, None))
            elif isinstance(value, list):
                sites.extend((n, key, i) for i, v in enumerate(value) if isinstance(v, str) and v.startswith("base:"))
    if not sites:
        return None
    n, key, i = rng.choice(sites)
    if i is None:
        old = unit[n][key]
        unit[n][key] = old[len("base:"):]
    else:
        old = unit[n][key][i]
        unit[n][key][i] = old[len("base:"):]
    return f"{n}.{key}: {old!r} -> {old[len('base:'):]!r} (base: left off)"


def _redirect_ctx(unit: dict[str, Any], old: str, new: str, skip: set[str]) -> list[str]:
    """Readers of ``old`` (same frame and ``prev:``) of concatenating classes read ``new`` instead."""
    done = []
    for k in _layers(unit):
        if k in skip or k == new:
            continue
        desc = unit[k]
        if desc.get("class") not in (*_READOUT_CLASSES, "copy", "rec") or not _is_str_rec(desc):
            continue
        value = desc.get("from")
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if old not in items and f"prev:{old}" not in items:
            continue
        mapped = [new if v == old else f"prev:{new}" if v == f"prev:{old}" else v for v in items]
        desc["from"] = mapped if isinstance(value, list) else mapped[0]
        done.append(k)
    return done


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(rec, choice, the choice's data target or None) of the searching loops' choices with a scores layer."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("search", True) is not False and _scores(unit, c) is not None:
                out.append((rec, c, _label_target(case, unit, c)))
    return out


# ----------------------------------------------------------------------------------------------------
# src2-att-concat


def op_src2_att_concat(case: Case, rng: random.Random) -> Result:
    """A second stream, its encoder and a second attention in the loop; the contexts concatenated."""
    new, net = _copy(case)
    sites = [s for s in _sites(case, net) if _readout_sites(case, net, net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, target = rng.choice(sites)
    unit = net[rec]["unit"]
    reader = _pick_reader(unit, _readout_sites(case, net, unit, choice), rng)
    stream = _stream(new, net, rng, target, (0.5, 0.14, 0.06, 0.07, 0.23))
    if stream is None:
        return None
    src, sparse, how_stream, key = stream
    parts = [f"{rec}: second stream: {how_stream}"]
    if key is not None and key != target and rng.random() < 0.1:
        # the second stream read frame by frame inside the loop (data:KEY), not attended
        lin = _fresh(unit, f"{key}_frame")
        unit[lin] = {"class": "linear", "activation": "tanh", "from": f"data:{key}", "n_out": rng.choice([4, 6])}
        _add_source(unit[reader], lin)
        parts.append(f"{lin} = tanh linear of data:{key} (read frame by frame in the loop), a source of {reader}")
        return new, "; ".join(parts)
    enc, _, how_enc = _encoder(net, rng, src, sparse, "src2")
    keys, kdim = _keys(net, rng, enc)
    parts.append(f"encoder {how_enc}, keys {keys}")
    query = _query(net, unit, reader, rng)
    if query is None:
        return None
    values_ref = None
    firsts = _first_encoders(net, unit)
    if firsts and rng.random() < 0.08:
        first = rng.choice(firsts)
        values_ref = f"base:{first}"
        parts.append(f"the values are the first encoder's (base:{first}): the wrong time axis")
    before = set(unit)
    att, how_att = _attention(net, unit, rng, query, enc, f"base:{keys}", keys_dim=kdim, prefix="att2",
                              values_ref=values_ref)
    parts.append(how_att)
    ctxs = [c for c in _contexts(net, unit) if c != att and c not in before ^ set(unit)]
    if ctxs and rng.random() < 0.45:
        old = rng.choice(ctxs)
        cat = _fresh(unit, "att_cat")
        unit[cat] = {"class": "copy", "from": [old, att]}
        skip = {cat, att} | (set(unit) - before) | _frame_ancestors(unit, att)
        moved = _redirect_ctx(unit, old, cat, skip)
        if not moved:
            _add_source(unit[reader], cat)
            moved = [reader]
        parts.append(f"{cat} = copy of [{old}, {att}], read by {', '.join(moved)} instead of {old}")
    else:
        _add_source(unit[reader], att)
        parts.append(f"{att} a source of {reader}")
    states = [n for n in _layers(unit) if unit[n].get("class") == "rnn_cell" and n not in (reader,)
              and isinstance(unit[n].get("from"), (str, list))]
    if states and rng.random() < 0.35:
        st = rng.choice(states)
        _add_source(unit[st], f"prev:{att}")
        parts.append(f"prev:{att} a source of the state {st}")
    if rng.random() < 0.1:
        dropped = _drop_base(unit, sorted(set(unit) - before), rng)
        if dropped:
            parts.append(dropped)
    msl = net[rec].get("max_seq_len")
    if isinstance(msl, str) and "max_len_from" in msl and rng.random() < 0.12:
        net[rec]["max_seq_len"] = f"max_len_from('base:{enc}')"
        parts.append(f"max_seq_len {msl!r} -> \"max_len_from('base:{enc}')\"")
    if has_cycle(net):
        return None
    return new, "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# two-ctx-combine


def op_two_ctx_combine(case: Case, rng: random.Random) -> Result:
    """Two contexts combined by a gate, a hierarchical attention, a sum or a projection."""
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, target = rng.choice(sites)
    unit = net[rec]["unit"]
    parts = [f"{rec}:"]
    before = set(unit)
    ctxs = [c for c in _contexts(net, unit) if _att_queries(net, unit, c)]
    reader = None
    existing = bool(ctxs)
    if ctxs:
        ctx1 = rng.choice(ctxs)
        query = rng.choice(_att_queries(net, unit, ctx1))
        parts.append(f"the loop's context {ctx1} (query {query})")
    else:
        readers = _readout_sites(case, net, unit, choice)
        if not readers:
            return None
        reader = _pick_reader(unit, readers, rng)
        query = _query(net, unit, reader, rng)
        if query is None:
            return None
        enc1, _, how1 = _encoder(net, rng, "data", _input_sparse(case), "src1", (0.6, 0.4, 0.0, 0.0))
        keys1, kdim1 = _keys(net, rng, enc1)
        ctx1, how_a = _attention(net, unit, rng, query, enc1, f"base:{keys1}", keys_dim=kdim1, prefix="att1")
        parts.append(f"a first context over the input: {how1}, {how_a}")
    assert query is not None
    stream = _stream(new, net, rng, target, (0.5, 0.12, 0.05, 0.05, 0.28))
    if stream is None:
        return None
    src, sparse, how_stream, _ = stream
    enc2, _, how2 = _encoder(net, rng, src, sparse, "src2")
    keys2, kdim2 = _keys(net, rng, enc2)
    ctx2, how_b = _attention(net, unit, rng, query, enc2, f"base:{keys2}", keys_dim=kdim2, prefix="att2")
    parts.append(f"second stream {how_stream}, encoder {how2}, {how_b}")
    size = rng.choice([4, 6, 8])
    if rng.random() < 0.1:
        c1, c2 = ctx1, ctx2
        parts.append("the raw contexts, not projected to one size")
    else:
        c1 = _fresh(unit, f"{ctx1}_proj")
        unit[c1] = {"class": "linear", "activation": None, "with_bias": False, "from": ctx1, "n_out": size}
        c2 = _fresh(unit, f"{ctx2}_proj")
        unit[c2] = {"class": "linear", "activation": None, "with_bias": False, "from": ctx2, "n_out": size}
        parts.append(f"{c1}, {c2} = linear projections to {size}")
    form = rng.choices(["gate", "hier", "sum", "proj"], [0.35, 0.3, 0.15, 0.2])[0]
    comb = _fresh(unit, "ctx_comb")
    if form == "gate":
        gate = _fresh(unit, "ctx_gate")
        scalar = rng.random() < 0.2
        unit[gate] = {"class": "linear", "activation": "sigmoid", "from": [query, c1, c2],
                      "n_out": 1 if scalar else size}
        unit[comb] = {"class": "combine", "kind": "eval", "from": [gate, c1, c2],
                      "eval": "source(0) * source(1) + (1. - source(0)) * source(2)"}
        parts.append(f"{comb} = g * {c1} + (1 - g) * {c2}, g = {gate} ({'scalar' if scalar else 'vector'} sigmoid "
                     f"linear of [{query}, {c1}, {c2}])")
    elif form == "hier":
        energies = []
        for c in (c1, c2):
            h = _fresh(unit, f"{c}_hier_in")
            unit[h] = {"class": "linear", "activation": "tanh", "from": [query, c], "n_out": size}
            e = _fresh(unit, f"{c}_hier_e")
            unit[e] = {"class": "linear", "activation": None, "with_bias": False, "from": h, "n_out": size}
            energies.append(e)
        unit[comb] = {"class": "eval", "from": [*energies, c1, c2],
                      "eval": ("(lambda w: w[..., 0] * source(2) + w[..., 1] * source(3))"
                               "(tf.nn.softmax(tf.stack([source(0), source(1)], axis=-1), axis=-1))")}
        parts.append(f"{comb} = hierarchical attention: softmax over the two sources of the energies {energies} "
                     f"(tanh linear of [{query}, context], per dimension), weighted sum of {c1}, {c2}")
    elif form == "sum":
        unit[comb] = {"class": "combine", "kind": "add", "from": [c1, c2]}
        parts.append(f"{comb} = {c1} + {c2} (flat sum)")
    else:
        unit[comb] = {"class": "linear", "activation": "tanh", "from": [ctx1, ctx2], "n_out": size}
        parts.append(f"{comb} = tanh linear of [{ctx1}, {ctx2}]")
    new_layers = set(unit) - before
    upstream = _frame_ancestors(unit, comb) | {comb}
    moved: list[str] = []
    if existing and rng.random() < 0.75:
        moved = _redirect_ctx(unit, ctx1, comb, new_layers | upstream)
    if moved:
        parts.append(f"read by {', '.join(moved)} instead of {ctx1}")
    else:
        cands = [r for r in _readout_sites(case, net, unit, choice) if r not in upstream and r not in new_layers]
        if not cands:
            return None
        pick = reader if reader in cands else _pick_reader(unit, cands, rng)
        _add_source(unit[pick], comb)
        parts.append(f"{comb} a source of {pick}")
    if has_cycle(net):
        return None
    return new, "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# src2-init-state


def _state_sites(case: Case, net: dict[str, Any], unit: dict[str, Any]) -> list[tuple[str, str]]:
    """(layer, kind) of the loop's state layers: ``rnn_cell`` (and string-unit ``rec``) layers with an int
    ``n_out`` (``cell``), dense ``linear`` layers with an int ``n_out`` read through ``prev:`` (``dense``) and
    other ``linear`` layers with an int ``n_out`` (``dense0``: made recurrent, or given a constant input)."""
    out = []
    memo: dict[str, bool] = {}
    scores = {s for c in _unit_choices(unit) for s in _sources(unit[c])}
    for n in _layers(unit):
        desc = unit[n]
        if not isinstance(desc.get("n_out"), int) or _enc_time(net, unit, n, memo) or n in scores:
            continue
        if desc.get("class") == "rnn_cell" or (desc.get("class") == "rec" and isinstance(desc.get("unit"), str)):
            out.append((n, "cell"))
        elif desc.get("class") == "linear" and (_readers(unit, n, f"prev:{n}") or f"prev:{n}" in _sources(desc)):
            out.append((n, "dense"))
        elif desc.get("class") == "linear" and desc.get("from") not in (None, []) \
                and not _reads_sparse(case, unit, n):
            out.append((n, "dense0"))
    return out


def _is_lstm(desc: dict[str, Any]) -> bool:
    return "lstm" in str(desc.get("unit", "")).lower()


def op_src2_init_state(case: Case, rng: random.Random) -> Result:
    """One encoder (a second stream) used only for the decoder's initial state."""
    new, net = _copy(case)
    sites = [(r, c, t) for r, c, t in _sites(case, net) if _state_sites(case, net, net[r]["unit"])]
    if not sites:
        return None
    rec, _, target = rng.choice(sites)
    unit = net[rec]["unit"]
    states = _state_sites(case, net, unit)
    choices = set(_unit_choices(unit))

    def weight(site: tuple[str, str]) -> float:
        name, kind = site
        if kind == "cell":
            return 3.0
        if kind == "dense":
            return 2.0
        reads_label = any(s.removeprefix("prev:") in choices for s in _sources(unit[name]))
        return 0.3 if reads_label else 1.0

    state, kind = rng.choices(states, [weight(s) for s in states])[0]
    n_out = unit[state]["n_out"]
    stream = _stream(new, net, rng, target, (0.55, 0.14, 0.05, 0.05, 0.21))
    if stream is None:
        return None
    src, sparse, how_stream, _ = stream
    enc, _, how_enc = _encoder(net, rng, src, sparse, "init_src")
    mode = rng.choice(["mean", "max"])
    summ = _fresh(net, f"{enc}_{mode}")
    net[summ] = {"class": "reduce", "mode": mode, "axes": "T", "from": enc}
    init = _fresh(net, f"{state}_init")
    net[init] = {"class": "linear", "activation": "tanh", "from": summ, "n_out": n_out}
    parts = [(f"{rec}: second stream {how_stream}, encoder {how_enc}, {summ} = reduce {mode} over T, "
              f"{init} = tanh linear of it ({n_out})")]
    ref = f"base:{init}"
    if rng.random() < 0.1:
        ref = init
        parts.append("referenced without base:")
    desc = unit[state]
    if kind == "cell":
        sparse_in = _reads_sparse(case, unit, state)
        form = rng.choices(["state", "output", "input"], [0.7, 0.1, 0.0 if sparse_in else 0.2])[0]
        if form == "state":
            if _is_lstm(desc):
                sub = rng.choices(["dict", "list", "h_only", "single"], [0.35, 0.15, 0.25, 0.25])[0]
                if sub == "dict":
                    init_c = _fresh(net, f"{state}_init_c")
                    net[init_c] = {"class": "linear", "activation": None, "from": summ, "n_out": n_out}
                    c_ref = f"base:{init_c}" if ref.startswith("base:") else init_c
                    desc["initial_state"] = {"c": c_ref, "h": ref}
                elif sub == "list":
                    desc["initial_state"] = [ref, ref]
                elif sub == "h_only":
                    desc["initial_state"] = {"c": "zeros", "h": ref}
                else:
                    desc["initial_state"] = ref
            else:
                desc["initial_state"] = ref
            parts.append(f"initial_state of {state} = {desc['initial_state']!r}")
        elif form == "output":
            desc["initial_output"] = ref
            parts.append(f"initial_output of the cell {state} = {ref!r}")
        else:
            _add_source(desc, ref)
            parts.append(f"{ref} a constant extra source of {state} every frame")
    elif kind == "dense0" and rng.random() < 0.75:
        _add_source(desc, f"prev:{state}")
        desc["initial_output"] = ref
        parts.append(f"{state} made recurrent (prev:{state} a source of it), initial_output = {ref!r}")
    else:
        if kind == "dense" and (rng.random() < 0.8 or _reads_sparse(case, unit, state)):
            desc["initial_output"] = ref
            parts.append(f"initial_output of {state} (read as prev:{state}) = {ref!r}")
        else:
            _add_source(desc, ref)
            parts.append(f"{ref} a constant extra source of {state} every frame")
    if has_cycle(net):
        return None
    return new, "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# src2-subnet-encoder


def op_src2_subnet_encoder(case: Case, rng: random.Random) -> Result:
    """The second encoder inside a root ``subnetwork``, read from the loop by ``base:SUB`` / ``base:SUB/ctx``."""
    new, net = _copy(case)
    sites = [s for s in _sites(case, net) if _readout_sites(case, net, net[s[0]]["unit"], s[1])]
    if not sites:
        return None
    rec, choice, target = rng.choice(sites)
    unit = net[rec]["unit"]
    reader = _pick_reader(unit, _readout_sites(case, net, unit, choice), rng)
    query = _query(net, unit, reader, rng)
    if query is None:
        return None
    stream = _stream(new, net, rng, target, (0.55, 0.14, 0.06, 0.05, 0.2))
    if stream is None:
        return None
    src, sparse, how_stream, key = stream
    hid = rng.choice([4, 6, 8])
    kdim = rng.choice([4, 6])
    sub = _fresh(net, "src2_encoder")
    inner: dict[str, Any] = {}
    read = rng.choices(["from", "base", "data"], [0.55, 0.35, 0.1] if key else [1.0, 0.0, 0.0])[0]
    if read == "from":
        inp, outer_from, how_in = "data", src, f"from {src!r}, read as 'data' inside"
    elif read == "base":
        inp, outer_from, how_in = f"base:{src}", [], f"from [], 'base:{src}' inside"
    else:
        inp, outer_from, how_in = src, [], f"from [], {src!r} inside (no source for the extern-data fallback)"
    if sparse:
        inner["embed"] = {"class": "linear", "activation": None, "from": inp, "n_out": rng.choice([4, 6])}
        inp = "embed"
    unit_name = _root_lstm_unit(net)
    if rng.random() < 0.5:
        inner["lstm"] = {"class": "rec", "unit": unit_name, "from": inp, "n_out": hid}
        body = f"lstm (rec {unit_name})"
    else:
        inner["lstm"] = {"class": "linear", "activation": "tanh", "from": inp, "n_out": hid}
        body = "lstm (a tanh linear)"
    parts = [f"{rec}: second stream {how_stream}"]
    firsts = _first_encoders(net, unit)
    odd = rng.random()
    if firsts and odd < 0.08:
        first = rng.choice(firsts)
        inner["output"] = {"class": "copy", "from": ["lstm", f"base:{first}"]}
        parts.append(f"the subnetwork's output concatenates lstm with base:{first} frame-wise (the wrong time axis)")
    elif firsts and odd < 0.14:
        first = rng.choice(firsts)
        inner["mix"] = {"class": "reduce", "mode": "mean", "axes": "T", "from": first}
        inner["output"] = {"class": "combine", "kind": "add", "from": ["lstm", "mix_proj"]}
        inner["mix_proj"] = {"class": "linear", "activation": None, "from": "mix", "n_out": hid}
        parts.append(f"a sub-layer reads the root layer {first!r} without base: (mean over its frames)")
    else:
        inner["output"] = {"class": "copy", "from": "lstm"}
    inner["ctx"] = {"class": "linear", "activation": None, "with_bias": False, "from": "output", "n_out": kdim}
    if rng.random() < 0.3:
        inner["ctx"]["is_output_layer"] = True
    net[sub] = {"class": "subnetwork", "from": outer_from, "subnetwork": inner}
    parts.append(f"root subnetwork {sub} ({how_in}; {body}, output, ctx = keys of size {kdim})")
    keys_ref = f"base:{sub}/ctx"
    if rng.random() < 0.1:
        keys_ref = f"{sub}/ctx"
        parts.append("the keys path read without base:")
    values_ref = f"base:{sub}" if rng.random() < 0.7 else f"base:{sub}/output"
    att, how_att = _attention(net, unit, rng, query, sub, keys_ref, keys_dim=kdim, prefix="att2",
                              values_ref=values_ref)
    _add_source(unit[reader], att)
    parts.append(f"{how_att}; {att} a source of {reader}")
    if has_cycle(net):
        return None
    return new, "; ".join(parts)


FRESH112_OPERATORS: tuple[Op, ...] = (
    Op("src2-att-concat", op_src2_att_concat, 1.2),
    Op("two-ctx-combine", op_two_ctx_combine, 1.1),
    Op("src2-init-state", op_src2_init_state, 1.4),
    Op("src2-subnet-encoder", op_src2_subnet_encoder, 0.9),
)
