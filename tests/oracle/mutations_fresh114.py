"""A hundred-and-sixteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Mixture-of-experts and per-frame routing in searching decoders: several decoder heads (experts: output
projections, small LSTM cells or feed-forward blocks) inside the loop combined by a learned gate (a ``linear``
with a ``softmax`` over the experts, each expert weighted by its gate value, a ``gather`` of the gate at a
constant expert index, ``combine`` ``mul`` / ``add``), hard routing by the argmax expert (``reduce`` ``argmax``,
``switch`` by the expert index, ``gather`` of the gate at the routed index), top-k expert selection
(GShard-style top-1 / top-2 gates), an expert id chosen by a second ``choice`` layer in the frame (a joint search over expert and label), expert
state carried through ``prev:``, and the mistakes users make (routing from the next frame's label, an expert id
read from outside the loop without ``base:``). Sources: ``SwitchLayer``, ``GatherLayer``, ``ReduceLayer``,
``CompareLayer`` in the installed ``returnn/tf/layers/basic.py`` and ``ChoiceLayer`` (a choice without ``target``
"must do search") in ``returnn/tf/layers/rec.py``; the mixture-of-softmaxes output layer (Yang et al. 2018,
"Breaking the softmax bottleneck"), sparsely gated and switch-routed feed-forward experts (Shazeer et al. 2017,
Fedus et al. 2021) as ported to RETURNN net dicts; RETURNN issues on ``switch`` / ``compare`` with sources from
inside and outside the loop in search (rwth-i6/returnn#800) and on several choices with their own beam sizes
(rwth-i6/returnn#212). None is a variant of an earlier operator; no rule was written for any of them:

* ``moe-soft-heads``: the choice's output distribution (a ``softmax`` / softmax ``linear`` / ``activation`` loop
  layer) replaced by a mixture of K (2 to 4) expert heads, each a copy of that layer (as users copy a head),
  fed by the old head's sources or by a ``linear`` ``relu`` feed-forward expert of them; a gate (``linear``,
  ``softmax``, K outputs) reads the decoder state (the head's sources), the previous label's embedding, its own
  ``prev:`` value with the state, a per-utterance encoder mean at the root (``base:``), or (the "next frame"
  mistake of training-time routers) the target label of this frame (``data:TARGET`` in the loop); or (three in
  ten) a top-1 / top-2 gate written as GShard's top-2 gating is (``reduce`` ``max`` of the gate logits, the
  largest masked by ``compare`` / ``switch`` and the next ``reduce`` ``max`` taken, all logits below the k-th
  ``switch``-ed to -1e9, then ``softmax``); each head weighted by ``gather`` of the gate at its index
  (``combine`` ``mul``), summed (``combine`` ``add``); the choice scores the mixture. Targets: ``GatherLayer`` / ``CombineLayer`` beam
  merging (``SearchBeam.get_combined_beam``, ``SearchChoices.translate_to_common_search_beam``), ``reduce`` /
  ``compare`` / ``switch`` masking in the loop, the ``ChoiceLayer`` search checks on its source, target data read
  in search.
* ``moe-hard-route``: a switch-routed feed-forward block between the decoder state and the output head: K
  ``linear`` ``relu`` experts of the head's sources, a router (``linear``, softmax) and its argmax (``reduce``
  ``argmax`` on ``F``, a sparse expert index), a ``switch`` chain on ``compare`` equal of the index with each
  expert, maybe scaled by the router's probability of the routed expert (``gather`` at the index, as the
  Switch Transformer does); the head reads the routed output (instead of, or besides, its old sources). The
  router reads the frame's state, the previous label's embedding, (argmax of ``prev:``) the last frame's
  router or (the mistake of a router trained on the gold label of the frame) ``data:TARGET`` in the loop; or a per-utterance expert id computed at the root (router on an encoder mean, ``reduce`` ``argmax``)
  read in the loop through ``base:``, or (the mistake) without ``base:``; sometimes the frame's route is dumped
  at the root (an output layer of the loop read by a ``decide`` or a ``copy`` of ``REC/route``). Targets: ``SwitchLayer`` with a beamed
  condition and beamed / unbeamed sources (#800), ``GatherLayer`` with a beamed ``position`` layer,
  ``ReduceLayer`` argmax in the loop, the loop's layer lookup of a root layer without ``base:``, ``DecideLayer``
  and the accumulated output of a loop layer read at the root.
* ``moe-expert-choice``: the expert as a latent variable searched jointly with the label: a second ``choice``
  (no ``target``, ``initial_output`` 0) over a gate softmax of the frame; the label's head reads an embedding of
  the chosen expert (``linear`` of the sparse expert id) or one of K copied heads selected by ``switch`` on the
  expert id; the expert chosen before the label in the frame (from the state or the previous label), after it
  (from this frame's label, used through ``prev:`` in the next frame) or apart from it (from the state, used only
  through ``prev:``); its beam the label's, 1, 2 or twice the label's (#212); sometimes the label's ``target``
  copied onto it (a copy-paste mistake); sometimes the chosen experts exported at the root (an output layer
  read by a ``decide`` or a ``copy`` through ``REC/expert``). Targets: ``ChoiceLayer.get_out_data_from_opts``
  without a target, its search checks (``sources[0].output.dim == self.output.dim``), the choice sequence of a
  frame (``_SubnetworkRecCell`` search resolution, beam-size assertion of #212), ``DecideLayer`` on a loop
  choice's sub-layer.
* ``moe-expert-states``: recurrent experts with their own state carried through ``prev:``: K ``rnn_cell``
  (``LSTMBlock``) cells or ``linear`` ``tanh`` recurrences of ``[input, prev:self]`` on the label embedding,
  mixed by a gate (soft: ``gather`` / ``combine``) or with only the routed expert's state moving on (a
  ``switch`` on the argmax expert between the new state and ``prev:`` of it, the routed state read by another
  ``switch`` chain, the route sometimes dumped at the root by a ``decide`` / ``copy`` of ``REC/route``); the
  mixed state an extra source of the output head, in the same frame (experts on the
  previous label) or through ``prev:`` in the next frame (experts on this frame's label). Targets: the
  ``prev:`` search-choice resolution of recurrent states (``_TemplateLayer`` / ``get_search_choices``),
  ``SwitchLayer`` with ``prev:`` sources, ``RnnCellLayer`` state in search, ``DecideLayer`` on a loop layer.
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
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH114_SEED = 20270176
N_FRESH114 = 80

Result = "tuple[Case, str] | None"

#: Layer classes of a head whose copies are plausible expert heads (they produce the scores themselves).
_HEAD_CLASSES = ("softmax", "linear", "activation")
#: Root layer classes that keep a time axis and are dense (an encoder a per-utterance gate may average).
_ENCODER_CLASSES = ("linear", "rec", "copy", "conv", "activation", "layer_norm", "dropout", "pool")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _set_from(desc: dict[str, Any], refs: list[str]) -> None:
    """Set ``from`` keeping the base's spelling (a string for one source where it was a string)."""
    desc["from"] = refs[0] if len(refs) == 1 and isinstance(desc.get("from"), str) else list(refs)


def _is_head(desc: dict[str, Any]) -> bool:
    """A loop layer that outputs a (log-)distribution itself: a softmax, or a softmax / log_softmax activation."""
    cls = desc.get("class")
    if cls not in _HEAD_CLASSES:
        return False
    if cls == "softmax":
        return True
    return desc.get("activation") in ("softmax", "log_softmax")


def _sites(net: dict[str, Any], *, need_head: bool) -> list[tuple[str, str, str]]:
    """(rec, label choice, the loop layer it scores) for one-source label choices of a known vocabulary."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            if desc.get("input_type", "prob") not in ("prob", "log_prob") or desc.get("search") is False:
                continue
            srcs = _sources(desc)
            if len(srcs) != 1 or isinstance(desc.get("from"), list) and len(desc["from"]) != 1:
                continue
            head = srcs[0]
            if head not in unit or not isinstance(unit[head], dict) or not _sources(unit[head]):
                continue
            if need_head and not _is_head(unit[head]):
                continue
            out.append((rec, c, head))
    return out


def _head_copy(desc: dict[str, Any], srcs: list[str], dim: int) -> dict[str, Any]:
    """A copy of an output head (as users copy-paste one) reading ``srcs``."""
    new = {k: v for k, v in desc.items() if k not in ("is_output_layer", "reuse_params", "name_scope")}
    new = {k: (list(v) if isinstance(v, list) else (dict(v) if isinstance(v, dict) else v)) for k, v in new.items()}
    new["from"] = list(srcs)
    if "n_out" not in new and "target" not in new and new.get("class") != "activation":
        new["n_out"] = dim
    return new


def _prev_label_emb(unit: dict[str, Any], choice: str) -> str:
    """A reference to the previous label's embedding: a loop layer on ``prev:CHOICE``, ``prev:`` of an
    embedding of ``CHOICE``, or a new ``linear`` of ``prev:CHOICE``."""
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") == "linear" and _sources(desc) == [f"prev:{choice}"]:
            return k
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") == "linear" and _sources(desc) == [choice]:
            return f"prev:{k}"
    name = _fresh(unit, "moe_prev_label_emb")
    unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}", "n_out": 16}
    return name


def _cur_label_emb(unit: dict[str, Any], choice: str) -> str:
    """This frame's label's embedding: a ``linear`` of ``CHOICE`` in the loop, or a new one."""
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") == "linear" and _sources(desc) == [choice]:
            return k
    name = _fresh(unit, "moe_label_emb")
    unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": 16}
    return name


def _encoder(case: Case, net: dict[str, Any], rec: str) -> str | None:
    """A dense root layer with a time axis that the decoder reads through ``base:`` (else dense ``data``)."""
    found = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        refs: list[str] = []
        for key in ("from", "base", "keys", "values"):
            value = desc.get(key)
            if isinstance(value, str):
                refs.append(value)
            elif isinstance(value, list):
                refs += [v for v in value if isinstance(v, str)]
        for ref in refs:
            if ref.startswith("base:"):
                name = ref[len("base:"):]
                layer = net.get(name)
                if isinstance(layer, dict) and layer.get("class") in _ENCODER_CLASSES and not (
                        layer.get("class") == "rec" and isinstance(layer.get("unit"), dict)):
                    found.add(name)
    if found:
        return min(found)
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict) and not ext.get("sparse") and not ext.get("sparse_dim") and "shape" not in ext:
        return "data"
    num = (case.get("num_outputs") or {}).get("data")
    if isinstance(num, list) and num[1:] == [2]:
        return "data"
    return None


def _enc_mean(case: Case, net: dict[str, Any], rec: str) -> str | None:
    """A root ``reduce`` mean over time of the encoder (added once), for per-utterance gates."""
    enc = _encoder(case, net, rec)
    if enc is None:
        return None
    for k in _layers(net):
        desc = net[k]
        if desc.get("class") == "reduce" and desc.get("mode") == "mean" and _sources(desc) == [enc] \
                and k.startswith("moe_"):
            return k
    name = _fresh(net, "moe_enc_mean")
    net[name] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
    return name


def _weighted_sum(unit: dict[str, Any], gate: str, experts: list[str], prefix: str) -> str:
    """sum_k gather(gate, k) * expert_k: the soft mixture, as ``gather`` / ``combine`` layers."""
    parts = []
    for k, expert in enumerate(experts):
        w = _fresh(unit, f"{prefix}_w{k}")
        unit[w] = {"class": "gather", "from": gate, "axis": "F", "position": k}
        part = _fresh(unit, f"{prefix}_part{k}")
        unit[part] = {"class": "combine", "kind": "mul", "from": [expert, w]}
        parts.append(part)
    mix = _fresh(unit, f"{prefix}_mix")
    unit[mix] = {"class": "combine", "kind": "add", "from": parts}
    return mix


def _switch_chain(unit: dict[str, Any], index: str, experts: list[str], prefix: str) -> str:
    """switch(index == 0, e0, switch(index == 1, e1, ... e_{K-1})): hard routing by an expert index."""
    out = experts[-1]
    for k in range(len(experts) - 2, -1, -1):
        cond = _fresh(unit, f"{prefix}_is{k}")
        unit[cond] = {"class": "compare", "kind": "equal", "from": index, "value": k}
        sel = _fresh(unit, f"{prefix}_sel{k}")
        unit[sel] = {"class": "switch", "condition": cond, "true_from": experts[k], "false_from": out}
        out = sel
    return out


def _export(net: dict[str, Any], rec: str, layer: str, rng: random.Random, what: str) -> str:
    """The loop layer marked an output layer and read at the root (``decide`` or ``copy`` of ``REC/layer``), as
    users dump the experts' routes to look at them."""
    net[rec]["unit"][layer]["is_output_layer"] = True
    out = _fresh(net, f"{rec}_{what}")
    if rng.random() < 0.6:
        net[out] = {"class": "decide", "from": f"{rec}/{layer}", "is_output_layer": True}
        return f"root {out} = decide({rec}/{layer})"
    net[out] = {"class": "copy", "from": f"{rec}/{layer}", "is_output_layer": True}
    return f"root {out} = copy of {rec}/{layer}"


# ----------------------------------------------------------------------------------------------------
# moe-soft-heads


def op_moe_soft_heads(case: Case, rng: random.Random) -> Result:
    """The choice's output head replaced by a gated mixture of K copied expert heads."""
    new, net = _copy(case)
    sites = _sites(net, need_head=True)
    if not sites:
        return None
    rec, choice, head = rng.choice(sites)
    unit = net[rec]["unit"]
    dim = _target_dim(case, _data_target(unit[choice]))
    if not isinstance(dim, int):
        return None
    srcs = _sources(unit[head])
    n = rng.choice([2, 3, 4])
    how = [f"{rec}: {choice} chooses over a mixture of {n} experts (copies of {head})"]
    # experts
    experts = []
    ff = rng.random() < 0.4
    hidden = rng.choice([32, 64])
    for k in range(n):
        inp = srcs
        if ff:
            ffn = _fresh(unit, f"moe_ff{k}")
            unit[ffn] = {"class": "linear", "activation": "relu", "from": list(srcs), "n_out": hidden}
            inp = [ffn]
        name = _fresh(unit, f"{head}_expert{k}")
        unit[name] = _head_copy(unit[head], inp, dim)
        experts.append(name)
    how.append(f"each on a relu linear ({hidden}) of {srcs}" if ff else f"each on {srcs}")
    # gate input
    kind = rng.choices(["state", "label", "recurrent", "utterance", "teacher"], [0.3, 0.22, 0.18, 0.18, 0.12])[0]
    mean = _enc_mean(case, net, rec) if kind == "utterance" else None
    gate = _fresh(unit, "moe_gate")
    gate_in = list(srcs)
    if mean is not None:
        gate_in = [f"base:{mean}"]
    elif kind == "label":
        gate_in = [_prev_label_emb(unit, choice)]
    elif kind == "teacher":
        gate_in = [f"data:{_data_target(unit[choice])}"]
    elif kind == "recurrent":
        gate_in = [*srcs, f"prev:{gate}"]
    topk = n >= 3 and rng.random() < 0.3
    if topk:
        k_top = rng.choice([1, 2])
        logits = _fresh(unit, "moe_gate_logits")
        unit[logits] = {"class": "linear", "activation": None, "from": gate_in, "n_out": n}
        max1 = _fresh(unit, "moe_max1")
        unit[max1] = {"class": "reduce", "mode": "max", "axis": "F", "from": logits}
        kth = max1
        if k_top == 2:
            is_top1 = _fresh(unit, "moe_is_top1")
            unit[is_top1] = {"class": "compare", "kind": "greater_equal", "from": [logits, max1]}
            rest = _fresh(unit, "moe_logits_wo_top1")
            unit[rest] = {"class": "switch", "condition": is_top1, "true_from": -1e9, "false_from": logits}
            kth = _fresh(unit, "moe_max2")
            unit[kth] = {"class": "reduce", "mode": "max", "axis": "F", "from": rest}
        keep = _fresh(unit, "moe_keep")
        unit[keep] = {"class": "compare", "kind": "greater_equal", "from": [logits, kth]}
        masked = _fresh(unit, "moe_gate_masked")
        unit[masked] = {"class": "switch", "condition": keep, "true_from": logits, "false_from": -1e9}
        unit[gate] = {"class": "activation", "activation": "softmax", "from": masked}
        how.append(f"top-{k_top} gate {gate} (softmax of {logits} on {gate_in}, all but its {k_top} largest "
                   f"set to -1e9 by reduce max / compare / switch)")
    else:
        unit[gate] = {"class": "linear", "activation": "softmax", "from": gate_in, "n_out": n}
        how.append(f"gate {gate} = softmax linear of {gate_in}")
    mix = _weighted_sum(unit, gate, experts, "moe")
    _set_from(unit[choice], [mix])
    how.append(f"{mix} = sum of gather({gate}, k) * expert k")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# moe-hard-route


def op_moe_hard_route(case: Case, rng: random.Random) -> Result:
    """A switch-routed block of feed-forward experts between the decoder state and the output head."""
    new, net = _copy(case)
    sites = _sites(net, need_head=False)
    if not sites:
        return None
    rec, choice, head = rng.choice(sites)
    unit = net[rec]["unit"]
    srcs = _sources(unit[head])
    n = rng.choice([2, 3, 4])
    hidden = rng.choice([32, 64, 128])
    experts = []
    for k in range(n):
        name = _fresh(unit, f"moe_expert{k}")
        unit[name] = {"class": "linear", "activation": "relu", "from": list(srcs), "n_out": hidden}
        experts.append(name)
    how = [f"{rec}: {n} relu experts ({hidden}) of {srcs} before {head}"]
    kind = rng.choices(["frame", "prev", "label", "utterance", "no-base", "teacher"],
                       [0.32, 0.16, 0.15, 0.17, 0.1, 0.1])[0]
    mean = _enc_mean(case, net, rec) if kind in ("utterance", "no-base") else None
    if kind in ("utterance", "no-base") and mean is None:
        kind = "frame"
    if kind in ("utterance", "no-base"):
        router = _fresh(net, "moe_utt_router")
        net[router] = {"class": "linear", "activation": "softmax", "from": mean, "n_out": n}
        expert_id = _fresh(net, "moe_utt_expert")
        net[expert_id] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": router}
        prefix = "base:" if kind == "utterance" else ""
        router_ref, index = f"{prefix}{router}", f"{prefix}{expert_id}"
        how.append(f"per-utterance expert id {expert_id} = argmax of root router {router} (on {mean}), read in "
                   f"the loop as {index!r}")
    else:
        router = _fresh(unit, "moe_router")
        if kind == "label":
            r_in = [_prev_label_emb(unit, choice)]
        elif kind == "teacher" and _data_target(unit[choice]) is not None:
            r_in = [f"data:{_data_target(unit[choice])}"]
        else:
            r_in = list(srcs)
        unit[router] = {"class": "linear", "activation": "softmax", "from": r_in, "n_out": n}
        index = _fresh(unit, "moe_route")
        router_ref = router if kind != "prev" else f"prev:{router}"
        unit[index] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": router_ref}
        how.append(f"router {router} = softmax linear of {r_in}, route {index} = argmax of {router_ref}")
        if rng.random() < 0.2:
            how.append(_export(net, rec, index, rng, "routes"))
    out = _switch_chain(unit, index, experts, "moe")
    how.append(f"{out} = switch chain on {index} == k")
    if rng.random() < 0.35:
        prob = _fresh(unit, "moe_route_prob")
        unit[prob] = {"class": "gather", "from": router_ref, "axis": "F", "position": index}
        scaled = _fresh(unit, "moe_out")
        unit[scaled] = {"class": "combine", "kind": "mul", "from": [out, prob]}
        out = scaled
        how.append(f"scaled by {prob} = gather({router_ref}, {index})")
    if rng.random() < 0.3:
        _set_from(unit[head], [*srcs, out])
        how.append(f"{head} reads {out} besides {srcs}")
    else:
        _set_from(unit[head], [out])
        how.append(f"{head} reads {out} instead of {srcs}")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# moe-expert-choice


def op_moe_expert_choice(case: Case, rng: random.Random) -> Result:
    """A latent expert id chosen by a second ``choice`` of the frame, searched jointly with the label."""
    new, net = _copy(case)
    sites = _sites(net, need_head=False)
    if not sites:
        return None
    rec, choice, head = rng.choice(sites)
    unit = net[rec]["unit"]
    dim = _target_dim(case, _data_target(unit[choice]))
    srcs = _sources(unit[head])
    n = rng.choice([2, 3, 4])
    use = "heads" if _is_head(unit[head]) and isinstance(dim, int) and rng.random() < 0.4 else "embed"
    order = rng.choices(["before", "after", "apart"], [0.55, 0.25, 0.2])[0]
    if order == "before":
        gate_in = list(srcs) if rng.random() < 0.6 else [_prev_label_emb(unit, choice)]
    elif order == "after":
        gate_in = [_cur_label_emb(unit, choice)]
    else:
        gate_in = list(srcs)
    gate = _fresh(unit, "moe_expert_prob")
    unit[gate] = {"class": "linear", "activation": "softmax", "from": gate_in, "n_out": n}
    expert = _fresh(unit, "moe_expert")
    label_beam = unit[choice].get("beam_size")
    label_beam = label_beam if isinstance(label_beam, int) else 4
    beam = rng.choices([label_beam, 1, 2, 2 * label_beam], [0.45, 0.2, 0.2, 0.15])[0]
    unit[expert] = {"class": "choice", "from": gate, "beam_size": beam, "initial_output": 0}
    how = [(f"{rec}: expert choice {expert} (beam {beam}, label beam {label_beam}) over {gate} = softmax "
            f"linear ({n}) of {gate_in}")]
    if rng.random() < 0.12 and unit[choice].get("target") is not None:
        unit[expert]["target"] = unit[choice]["target"]
        how.append(f"with the label's target {unit[choice]['target']!r} copied onto it")
    else:
        unit[expert]["target"] = None
    ref = expert if order == "before" else f"prev:{expert}"
    if use == "heads":
        heads = []
        for k in range(n):
            name = _fresh(unit, f"{head}_expert{k}")
            unit[name] = _head_copy(unit[head], srcs, dim)
            heads.append(name)
        out = _switch_chain(unit, ref, heads, "moe")
        _set_from(unit[choice], [out])
        how.append(f"{choice} chooses over {out}, one of {n} copies of {head} selected by {ref}")
    else:
        emb = _fresh(unit, "moe_expert_emb")
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": expert,
                     "n_out": rng.choice([8, 16])}
        emb_ref = emb if order == "before" else f"prev:{emb}"
        _set_from(unit[head], [*srcs, emb_ref])
        how.append(f"{head} reads {emb_ref} (embedding of {expert}) besides {srcs}")
    orders = {"before": "expert chosen before the label",
              "after": "expert chosen from this frame's label, used in the next frame",
              "apart": "expert chosen from the state, used only in the next frame"}
    how.append(orders[order])
    if rng.random() < 0.25:
        how.append(_export(net, rec, expert, rng, "experts"))
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# moe-expert-states


def op_moe_expert_states(case: Case, rng: random.Random) -> Result:
    """K recurrent experts with their own state through ``prev:``, mixed or routed, read by the output head."""
    new, net = _copy(case)
    sites = _sites(net, need_head=False)
    if not sites:
        return None
    rec, choice, head = rng.choice(sites)
    unit = net[rec]["unit"]
    n = rng.choice([2, 3])
    hidden = rng.choice([16, 32])
    when = "same" if rng.random() < 0.65 else "next"
    inp = _prev_label_emb(unit, choice) if when == "same" else _cur_label_emb(unit, choice)
    cell = rng.random() < 0.35
    hard = not cell and rng.random() < 0.45
    how = [f"{rec}: {n} recurrent experts ({hidden}) on {inp}"]
    states = []
    if cell:
        for k in range(n):
            name = _fresh(unit, f"moe_cell{k}")
            unit[name] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": inp, "n_out": hidden}
            states.append(name)
        how.append("rnn_cell LSTMBlock cells")
    gate = _fresh(unit, "moe_state_gate")
    gate_in = [inp] if rng.random() < 0.6 else [inp, "prev:" + gate]
    unit[gate] = {"class": "linear", "activation": "softmax", "from": gate_in, "n_out": n}
    if hard:
        route = _fresh(unit, "moe_state_route")
        unit[route] = {"class": "reduce", "mode": "argmax", "axis": "F", "from": gate}
        for k in range(n):
            name = _fresh(unit, f"moe_state{k}")
            upd = _fresh(unit, f"moe_state{k}_new")
            unit[upd] = {"class": "linear", "activation": "tanh", "from": [inp, f"prev:{name}"], "n_out": hidden}
            cond = _fresh(unit, f"moe_state{k}_routed")
            unit[cond] = {"class": "compare", "kind": "equal", "from": route, "value": k}
            unit[name] = {"class": "switch", "condition": cond, "true_from": upd, "false_from": f"prev:{name}"}
            states.append(name)
        mixed = _switch_chain(unit, route, states, "moe_state")
        if rng.random() < 0.25:
            how.append(_export(net, rec, route, rng, "routes"))
        how.append(f"only the routed expert's state moves on (switch on {route} = argmax of {gate} between the new "
                   f"state and prev:), {mixed} the routed state")
    else:
        if not cell:
            for k in range(n):
                name = _fresh(unit, f"moe_state{k}")
                unit[name] = {"class": "linear", "activation": "tanh", "from": [inp, f"prev:{name}"],
                              "n_out": hidden}
                states.append(name)
            how.append("tanh linear recurrences on [input, prev:self]")
        mixed = _weighted_sum(unit, gate, states, "moe_state")
        how.append(f"{mixed} = sum of gather({gate}, k) * state k")
    ref = mixed if when == "same" else f"prev:{mixed}"
    _set_from(unit[head], [*_sources(unit[head]), ref])
    how.append(f"{head} reads {ref} besides its sources")
    return new, "; ".join(how)


FRESH114_OPERATORS: tuple[Op, ...] = (
    Op("moe-soft-heads", op_moe_soft_heads, 1),
    Op("moe-hard-route", op_moe_hard_route, 1),
    Op("moe-expert-choice", op_moe_expert_choice, 1.2),
    Op("moe-expert-states", op_moe_expert_states, 0.9),
)
