"""A sixty-seventh set of edit operators (issue 15, fifteenth session), written and seeded before it was ever run,
by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Beam-search problems RETURNN users reported on the issue tracker of rwth-i6/returnn (others than the ones earlier
sets used), made on our bases in the failing form the thread names and in the fixed or workaround form it gives
(none a variant of an earlier operator; no rule was written for any of them). The layer that gets the new extra
source is a dense loop layer (``linear``, ``rnn_cell``, ``softmax``) the choice's scores depend on, that reads only
dense features, carries no encoder time axis and shares no parameters; decoders with an ``extra.*:`` twin are left
alone:

* ``subnet-own-prev``: a ``subnetwork`` inside the decoder loop keeps a recurrent state of its own by reading
  ``prev:`` of one of its inner layers (rwth-i6/returnn#698, "Accessing Prev: in Subnetwork of Rec Unit in
  Search/Forward", ``LayerNotFound: sub-layer 'prev:accum'``, fixed in #699): the inner ``accum`` is a
  ``combine`` add of ``prev:accum`` and a dense loop layer without the encoder's time axis (read as
  ``base:X``, or as the subnetwork's input ``data`` with ``from`` the layer, as in the issue), or a ``tanh``
  ``linear`` over both (a hand-written RNN), with the subnetwork's ``output`` a ``copy`` of it; or, as the
  thread's workaround, the accumulator is moved out of the subnetwork into the loop (``combine`` add of its own
  ``prev:`` and the layer) and the subnetwork's ``output`` copies it through ``base:``; the subnetwork (this
  frame's, or ``prev:`` of it where the reader feeds the accumulated layer) is an extra source of the reader;
* ``masked-pos-enc``: a ``positional_encoding`` (``add_to_input``) that runs inside a ``masked_computation`` of
  the decoder loop, so its position counter only advances on the frames the mask keeps (rwth-i6/returnn#1390,
  "PositionalEncodingLayer inside rec, position state", the case inside a masked computation): the mask is a
  ``compare`` ``not_equal`` of the previous label (``prev:CHOICE``, for a choice with an ``initial_output``)
  with label 0 or the last label, the masked input the previous label's embedding (an existing ``linear`` over
  ``prev:CHOICE``, or a new one) or the previous frame of a dense loop layer (``prev:S``, at least 4
  features, no encoder time axis), read through an ``unmask`` or directly as an extra source of the reader; or,
  as the workaround, the ``positional_encoding`` runs at the loop level, over the input itself (no mask), or
  over the ``unmask`` of a masked ``copy`` of it;
* ``masked-self-att``: a left-only ``self_attention`` inside such a ``masked_computation`` of the decoder loop
  (rwth-i6/returnn#484, "Fix SelfAttentionLayer in MaskedComputationLayer": its keys and values are state kept
  only over the frames the mask keeps), one or two heads, over the previous label's embedding or the previous
  frame of a dense loop layer, masked by the previous label not being label 0 (or the last label), read
  through an ``unmask`` or directly by the reader; or, as the unmasked form, the ``self_attention`` at the loop
  level over the same input;
* ``prev-weights-pool``: the previous frame's attention weights (``prev:W`` of a loop ``softmax_over_spatial``
  over one-feature energies, which carries the encoder's time axis) pooled over the encoder frames inside the
  loop (rwth-i6/returnn#284, "Missing size_placeholder inside of rec-Layer": a layer pooling
  ``prev:dec_att_weights`` over the source time axis failed in search): a ``reduce`` (``max``, ``mean`` or
  ``sum``) over ``T``, read as an extra source by the reader (which may feed the attention); or, as the form
  that reads this frame's weights (no ``prev:``), by a reader after the attention (one the weights do not
  depend on).
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
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH65_SEED = 20270127
N_FRESH65 = 80

Result = "tuple[Case, str] | None"

#: layer classes a new extra source can be given to
DENSE = ("linear", "rnn_cell", "softmax")


# ----------------------------------------------------------------------------------------------------
# Shared helpers


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main network (not ``extra.*:`` ones, nor those with an ``extra.*:`` twin
    whose parameters they share)."""
    return [r for r in _searching_recs(net) if ":" not in r and "." not in r
            and not any(k.startswith("extra") and k.endswith(f":{r}") for k in net)]


def _label_choices(case: Case, unit: dict[str, Any]) -> list[tuple[str, int]]:
    """(choice, vocabulary size) of the unit's label choices (a target key of known size, searching)."""
    out = []
    for c in _unit_choices(unit):
        desc = unit[c]
        target = desc.get("target")
        if desc.get("input_type") == "regression" or desc.get("search", True) is False:
            continue
        if not isinstance(target, str):
            continue
        dim = _target_dim(case, target.removeprefix("data:"))
        if dim is not None and dim > 1:
            out.append((c, dim))
    return out


#: loop layer classes whose output is dense (float features)
DENSE_OUT = ("linear", "rnn_cell", "softmax", "activation", "combine", "generic_attention", "rec", "dropout",
             "layer_norm", "dot", "merge_dims", "self_attention", "subnetwork", "unmask", "masked_computation")


def _dense_ref(unit: dict[str, Any], ref: str) -> bool:
    """Whether a reference of a loop layer reads dense features: a loop layer of a dense class (this frame's or
    ``prev:``), or a root layer (``base:``, not ``base:data``)."""
    if ref.startswith("base:"):
        return not ref.startswith("base:data")
    name = ref.removeprefix("prev:")
    return name in unit and unit[name].get("class") in DENSE_OUT


#: loop layer classes whose output has no encoder time axis even where their inputs have one
UNTIMED = ("generic_attention", "reduce", "choice", "compare")


def _timed(unit: dict[str, Any]) -> set[str]:
    """Loop layers that (roughly) carry an encoder time axis: those reading a root layer (``base:``, not
    ``base:data``) or a timed loop layer (this frame's or ``prev:``), but for attention contexts and
    reductions."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            desc = unit[k]
            if k in out or desc.get("class") in UNTIMED:
                continue
            for ref in _sources(desc):
                name = ref.removeprefix("prev:")
                if (ref.startswith("base:") and not ref.startswith("base:data")) or name in out:
                    out.add(k)
                    changed = True
                    break
    return out


def _shared_names(net: dict[str, Any]) -> str:
    """Every ``reuse_params`` of the network (nested units too), as one text to look names up in."""
    found: list[str] = []

    def walk(layers: dict[str, Any]) -> None:
        for k in _layers(layers):
            desc = layers[k]
            if "reuse_params" in desc:
                found.append(repr(desc["reuse_params"]))
            for sub in ("unit", "subnetwork"):
                if isinstance(desc.get(sub), dict):
                    walk(desc[sub])

    walk(net)
    return "\n".join(found)


def _feeds(unit: dict[str, Any], choice: str, shared: str = "") -> list[str]:
    """Dense loop layers the choice's scores depend on (in the same frame) that read only dense features (so
    one more dense source concatenates) and share no parameters, sorted."""
    anc = _frame_ancestors(unit, choice)
    timed = _timed(unit)
    return [k for k in sorted(anc) if k in unit and unit[k].get("class") in DENSE and k != "end"
            and k not in timed and "reuse_params" not in unit[k]
            and repr(k) not in shared and f"/{k}'" not in shared and f":{k}'" not in shared
            and _sources(unit[k]) and all(_dense_ref(unit, r) for r in _sources(unit[k]))]


def _dense_states(unit: dict[str, Any]) -> list[str]:
    """Loop layers with a fixed feature size (``n_out``) that are not choices: (``prev:``-)inputs to build on."""
    timed = _timed(unit)
    return [k for k in _layers(unit) if isinstance(unit[k].get("n_out"), int) and unit[k].get("n_out") > 0
            and unit[k].get("class") in ("linear", "rnn_cell", "activation", "combine", "copy")
            and k != "end" and k not in timed]


def _size(unit: dict[str, Any], name: str) -> int | None:
    n = unit.get(name, {}).get("n_out")
    return n if isinstance(n, int) and n > 0 else None


def _label_embedding(unit: dict[str, Any], choice: str, rng: random.Random, exclude: set[str],
                     min_size: int) -> tuple[str, int, bool] | None:
    """A ``linear`` embedding of ``prev:CHOICE`` of the unit (an existing one, or a new one where the choice
    has an ``initial_output``): (name, size, new), or None."""
    embs = [k for k in _layers(unit) if unit[k].get("class") == "linear"
            and _sources(unit[k]) == [f"prev:{choice}"] and (_size(unit, k) or 0) >= min_size
            and k not in exclude]
    if embs and (rng.random() < 0.6 or "initial_output" not in unit[choice]):
        e = rng.choice(embs)
        return e, _size(unit, e) or 4, False
    if "initial_output" not in unit[choice]:
        return None
    e = _fresh(unit, f"{choice}_prev_embed")
    n = rng.choice([4, 6, 8])
    unit[e] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}", "n_out": n}
    return e, n, True


def _masked_input(case: Case, unit: dict[str, Any], choice: str, user: str, rng: random.Random,
                  min_size: int) -> tuple[str, int, str] | None:
    """The input of a masked computation: the previous label's embedding or ``prev:S`` of a dense loop
    layer of at least ``min_size`` features: (reference, size, how), or None."""
    states = [s for s in _dense_states(unit) if s != choice and (_size(unit, s) or 0) >= min_size]
    emb = None if states and rng.random() < 0.35 else _label_embedding(unit, choice, rng, {user}, min_size)
    if emb is None:
        if not states:
            return None
        s = rng.choice(states)
        return f"prev:{s}", _size(unit, s) or 4, f"prev:{s}"
    e, n, fresh = emb
    return e, n, (f"a new embedding {e} of prev:{choice}" if fresh else f"the embedding {e} of prev:{choice}")


def _prev_label_mask(unit: dict[str, Any], choice: str, dim: int, rng: random.Random) -> tuple[str, str]:
    """A ``compare`` of ``prev:CHOICE`` not equal to label 0 or the last label: (name, how)."""
    blank = rng.choice([0, dim - 1])
    mask = _fresh(unit, f"{choice}_not_{blank}")
    unit[mask] = {"class": "compare", "from": f"prev:{choice}", "kind": "not_equal", "value": blank}
    return mask, f"{mask} (prev:{choice} != {blank})"


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(decoder, label choice, vocabulary size, a dense layer its scores depend on)."""
    out = []
    shared = _shared_names(net)
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        for choice, dim in _label_choices(case, unit):
            out.extend((rec, choice, dim, u) for u in _feeds(unit, choice, shared))
    return out


# ----------------------------------------------------------------------------------------------------
# subnet-own-prev (rwth-i6/returnn#698)


def op_subnet_own_prev(case: Case, rng: random.Random) -> Result:
    """A subnetwork of the loop with a recurrent accumulator of its own (``prev:`` of an inner layer), or the
    accumulator moved out into the loop (the workaround), fed to a layer the choice's scores depend on."""
    new, net = _copy(case)
    sites = []
    for rec, choice, _, user in _sites(case, net):
        unit = net[rec]["unit"]
        for x in _dense_states(unit):
            sites.append((rec, choice, user, x))
    if not sites:
        return None
    rec, choice, user, x = rng.choice(sites)
    unit = net[rec]["unit"]
    n = _size(unit, x) or 4
    sub = _fresh(unit, f"{x}_accum_sub")
    kind = rng.choice(["inner-sum", "inner-sum", "inner-data", "inner-rnn", "moved-out", "moved-out"])
    if kind == "inner-sum":
        inner = {"accum": {"class": "combine", "kind": "add", "from": ["prev:accum", f"base:{x}"]},
                 "output": {"class": "copy", "from": "accum"}}
        unit[sub] = {"class": "subnetwork", "from": [], "subnetwork": inner}
        how = f"inner accum = prev:accum + base:{x}"
    elif kind == "inner-data":
        inner = {"accum": {"class": "combine", "kind": "add", "from": ["prev:accum", "data"]},
                 "output": {"class": "copy", "from": "accum"}}
        unit[sub] = {"class": "subnetwork", "from": x, "subnetwork": inner}
        how = f"from {x}, inner accum = prev:accum + data"
    elif kind == "inner-rnn":
        inner = {"accum": {"class": "linear", "activation": "tanh", "from": [f"base:{x}", "prev:accum"], "n_out": n},
                 "output": {"class": "copy", "from": "accum"}}
        unit[sub] = {"class": "subnetwork", "from": [], "subnetwork": inner}
        how = f"inner accum = tanh(linear(base:{x}, prev:accum)), {n} units"
    else:
        acc = _fresh(unit, f"{x}_accum")
        unit[acc] = {"class": "combine", "kind": "add", "from": [f"prev:{acc}", x]}
        inner = {"output": {"class": "copy", "from": f"base:{acc}"}}
        unit[sub] = {"class": "subnetwork", "from": [], "subnetwork": inner}
        how = f"the accumulator moved out into the loop ({acc} = prev:{acc} + {x}), output = copy of base:{acc}"
    # the reader reads this frame's subnetwork unless it feeds x (then the previous frame's)
    ref = f"prev:{sub}" if user == x or user in _frame_ancestors(unit, x) else sub
    _add_source(unit[user], ref)
    return new, f"{rec}/{user} also reads {ref}: a subnetwork {sub} ({kind}: {how})"


# ----------------------------------------------------------------------------------------------------
# masked-pos-enc (rwth-i6/returnn#1390) and masked-self-att (rwth-i6/returnn#484)


def _masked_stateful(case: Case, rng: random.Random, layer: str) -> Result:
    new, net = _copy(case)
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, dim, user = rng.choice(sites)
    unit = net[rec]["unit"]
    if "initial_output" not in unit[choice]:
        return None  # the mask reads prev:CHOICE
    got = _masked_input(case, unit, choice, user, rng, 4 if layer == "positional_encoding" else 1)
    if got is None:
        return None
    src, n, src_how = got
    if _head(src) is not None and (src == user or user in _frame_ancestors(unit, src)):
        return None
    if layer == "positional_encoding":
        inner: dict[str, Any] = {"class": "positional_encoding", "add_to_input": True, "from": "data"}
        base = "pos"
        shown = "positional_encoding (add_to_input)"
        forms = ["masked", "masked", "masked", "loop-level", "mask-then-pos"]
    else:
        heads = rng.choice([1, 2])
        key = heads * rng.choice([2, 4])
        size = heads * rng.choice([2, 3, 4])
        inner = {"class": "self_attention", "from": "data", "num_heads": heads, "total_key_dim": key,
                 "n_out": size, "attention_left_only": True}
        base = "self_att"
        shown = f"self_attention ({heads} head(s), key {key}, {size} out, left only)"
        forms = ["masked", "masked", "masked", "loop-level"]
    form = rng.choice(forms)
    name = _fresh(unit, f"{choice}_{base}")
    if form == "loop-level":
        unit[name] = {**inner, "from": src}
        read, how = name, f"{shown} at the loop level over {src_how} (no mask)"
    elif form == "mask-then-pos":
        mask, mask_how = _prev_label_mask(unit, choice, dim, rng)
        held = _fresh(unit, f"{name}_held")
        unit[held] = {"class": "masked_computation", "mask": mask, "from": src,
                      "unit": {"class": "copy", "from": "data"}}
        un = _fresh(unit, f"{held}_un")
        unit[un] = {"class": "unmask", "from": held, "mask": mask}
        unit[name] = {**inner, "from": un}
        read, how = name, (f"{shown} at the loop level over {un}, the unmask of a masked copy ({held}) of "
                           f"{src_how}, masked by {mask_how}")
    else:
        mask, mask_how = _prev_label_mask(unit, choice, dim, rng)
        unit[name] = {"class": "masked_computation", "mask": mask, "from": src, "unit": inner}
        read = name
        if rng.random() < 0.65:
            read = _fresh(unit, f"{name}_un")
            unit[read] = {"class": "unmask", "from": name, "mask": mask}
        how = (f"a masked_computation {name} ({shown}) over {src_how}, masked by {mask_how}"
               + (f", read through the unmask {read}" if read != name else ", read directly"))
    _add_source(unit[user], read)
    return new, f"{rec}/{user} also reads {read}: {how}"


def op_masked_pos_enc(case: Case, rng: random.Random) -> Result:
    """A positional encoding whose position only advances under a mask of the previous label."""
    return _masked_stateful(case, rng, "positional_encoding")


def op_masked_self_att(case: Case, rng: random.Random) -> Result:
    """A left-only self-attention whose state is only kept under a mask of the previous label."""
    return _masked_stateful(case, rng, "self_attention")


# ----------------------------------------------------------------------------------------------------
# prev-weights-pool (rwth-i6/returnn#284)


def op_prev_weights_pool(case: Case, rng: random.Random) -> Result:
    """The previous frame's attention weights reduced over the encoder frames, fed back into the loop (or this
    frame's weights, fed to a layer after the attention)."""
    new, net = _copy(case)
    sites = []
    for rec, choice, _, user in _sites(case, net):
        unit = net[rec]["unit"]
        for w in _layers(unit):
            if unit[w].get("class") != "softmax_over_spatial":
                continue
            energy = _sources(unit[w])
            if len(energy) != 1 or _size(unit, energy[0].removeprefix("prev:")) != 1:
                continue
            after = user != w and user not in _frame_ancestors(unit, w)
            sites.append((rec, user, w, after))
    if not sites:
        return None
    rec, user, w, after = rng.choice(sites)
    unit = net[rec]["unit"]
    this_frame = after and rng.random() < 0.3
    src = w if this_frame else f"prev:{w}"
    name = _fresh(unit, f"{w}_pooled")
    mode = rng.choice(["max", "mean", "sum"])
    unit[name] = {"class": "reduce", "mode": mode, "axis": "T", "from": src}
    how = f"reduce {mode} over T of {src}"
    _add_source(unit[user], name)
    return new, f"{rec}/{user} also reads {name}: {how}"


FRESH65_OPERATORS: tuple[Op, ...] = (
    Op("subnet-own-prev", op_subnet_own_prev, 1),
    Op("masked-pos-enc", op_masked_pos_enc, 1),
    Op("masked-self-att", op_masked_self_att, 1),
    Op("prev-weights-pool", op_prev_weights_pool, 1.5),
)
