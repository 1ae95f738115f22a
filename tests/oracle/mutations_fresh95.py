"""A ninety-seventh set of edit operators (issue 15, twentieth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: model combination at search time. Ensembles and log-linear combinations of several decoders in one search, as
RWTH set-ups write them: a public RETURNN NMT ensemble config (confusion-network input; a second model's layers
copied into the same rec unit under the prefix ``model1_``, its own encoder ``model1_encoder`` / ``model1_enc_ctx``
at the root, loaded with ``preload_from_files = {"model1": {"filename": ..., "prefix": "model1_"}}`` (RETURNN's
``TFEngine`` preload ``prefix`` option), the distributions mixed by ``"ens_output_prob": {"class": "eval", "eval":
"source(0)*0.5 + 0.5 * source(1)"}`` and fed to ONE ``choice``), the corpus' speech-translation adaptor set-up
(``rexp-2019-st-specaug-adaptor``: a ``model1_`` decoder in the unit) and the log-linear AM + LM combination of
returnn-experiments ``2022`` / ``2020-lm-integration`` (``combo_output_log_prob``: ``eval`` of scaled ``safe_log``
terms with ``variable`` scales, ``input_type: "log_prob"``). Three operators copy the searching decoder's own
model, renamed, as an ensemble member; the fourth adds an expert outside the loop (none a variant of an earlier
operator; no rule was written for any of them):

* ``prefix-member-ensemble``: the searching decoder's model (the choice's score layer, everything it reads in the
  frame and every state it reads through ``prev:``) is copied into the same unit once or twice under the prefix
  ``model1_`` (``model2_``; the next free one), every reference renamed, the shared choice's label (``output``,
  ``prev:output``) read by the copy as by the original; with separate weights or ``reuse_params`` on the
  original layers (one model twice, as in RETURNN's ``reuse_params`` tests); the members' encoder shared or
  copied at the root under the prefix (an ensemble of complete models); the distributions combined for the ONE
  choice by an ``eval`` interpolation (fixed weights), a log-linear ``eval`` of ``safe_log`` terms with
  ``input_type`` ``log_prob``, a ``combine`` ``average`` (or ``safe_log`` activations and ``combine`` ``add``), a
  ``linear`` softmax over the concatenated distributions, ``variable`` scales in the loop, or a weight layer
  computed at the root (``base:``; a sigmoid ``linear`` of the time-mean of an encoder layer, or of a ``tanh``
  ``linear`` of another beamed root layer where there is one that does not depend on this decoder); now and then
  one reference of the copy left unrenamed (the copy reads the original's layer or ``prev:`` state). Targets:
  ``ChoiceLayer.__init__``'s source checks and ``SearchChoices.translate_to_common_search_beam`` /
  ``SelectSearchSourcesLayer.select_if_needed`` on the combined scores; the rec template construction of
  ``_SubnetworkRecCell`` over the doubled ``prev:`` states.
* ``member-own-choice``: the copied member (as above, encoder shared) gets a ``choice`` of its own over its
  distribution (the base choice's options, beam the same, smaller, 1, or ``search: False`` as "decide per
  member"): its label feedback reads its own ``prev:`` choice instead of the shared one; or with two members the
  second one's state is fed from the first member's label; or the members run side by side (the shared choice on
  the original's scores only) and the member's choice is an output layer of the loop, mostly decided at the root
  (``decide``) as a second result. Targets: the chained choices of one frame (``TFNetwork.get_search_choices``,
  ``SearchChoices.translate_to_common_search_beam``, "Cannot combine beams"), ``ChoiceLayer``'s non-search path in
  search (``DataNotAvailable``), the end layer's choice check of ``_SubnetworkRecCell.get_output`` and
  ``DecideLayer`` on a loop sub-layer.
* ``outside-expert-poe``: a product of experts where one expert lives outside the loop: a frame-wise ``softmax``
  over the vocabulary computed at the root from an encoder layer the decoder reads (or from the input), read in the
  loop by a ``gather`` on ``T`` at the loop's step ``:i`` (with or without ``clip_to_valid``) or at the argmax of
  the loop's attention weights (beamed positions into an unbeamed tensor), and combined log-linearly with the
  decoder's distribution (scale 0.1 / 0.3 / 0.5) before the choice; where another searching decoder not depending
  on this one exists, the expert is (sometimes) computed from its output instead, so the outside expert carries
  another beam. Targets: ``GatherLayer`` with a ``base:`` input and the beam's tiling of root layers in the loop
  (``_TemplateLayer`` / ``select_if_needed``), ``ChoiceLayer``'s checks on the combined scores.
* ``member-rec-outside``: the member is the whole searching decoder copied as a second rec layer at the root
  (``model1_<rec>``, its layers renamed but ``output`` / ``end``, its beam the same or another, its score layer an
  output layer), and the main loop reads it: its per-step distribution (``base:model1_<rec>/model1_<scores>``,
  gathered at ``:i``) mixed into the choice's scores, as the member's own beam; or the same after a root
  ``decide`` of the distribution; or the member's decided labels (``decide`` of the member rec) gathered at ``:i``,
  embedded and fed to a dense loop layer (one member's state fed from another's label); or those labels read
  without the ``decide``. Targets: ``SearchChoices.translate_to_common_search_beam`` / "Cannot combine beams"
  between two searches, ``DecideLayer`` on a non-choice sub-layer, ``RecLayer.get_sub_layer`` of an accumulated
  loop output, and the beam of ``base:`` layers inside the loop.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _deps,
    _fresh,
    _layers,
    _map_refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH95_SEED = 20270157
N_FRESH95 = 80

Result = "tuple[Case, str] | None"
Ren = Callable[[str], str]

#: root layer classes that carry no encoder time axis (not used as a frame-wise expert's input)
_NO_TIME = ("reduce", "get_last_hidden_state", "length", "constant", "variable", "split_dims", "decide",
            "choice", "reduce_out_time", "range_from_length")
#: layer classes that hold parameters (``reuse_params`` makes sense on them)
_PARAM_CLASSES = ("linear", "softmax", "rnn_cell", "rec", "self_attention", "conv")
#: an encoder copied for a member at most this many root layers (else the encoder is shared)
_MAX_ENCODER = 30


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _score_layer(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a label choice scores, its input_type) for a one-source prob / log_prob choice."""
    desc = unit[choice]
    if _data_target(desc) is None:
        return None
    srcs = _sources(desc)
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = desc.get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
            if _score_layer(net[r]["unit"], c) is not None]


def _local(ref: str) -> str | None:
    """The unit layer a loop reference names (``prev:`` kept apart): ``prev:s`` -> ``s``, ``lm/output`` -> ``lm``;
    None for ``base:`` / ``data:`` / ``:i``."""
    ref = ref.removeprefix("prev:")
    return None if ":" in ref else ref.split("/", 1)[0]


def _model(unit: dict[str, Any], scores: str) -> list[str]:
    """The layers of the decoder's model: the score layer, what it reads in the frame and every state it reads
    through ``prev:`` (transitively), not the choices and not ``end``."""
    seen: set[str] = set()
    todo = [scores]
    while todo:
        name = todo.pop()
        if name in seen or name == "end" or not isinstance(unit.get(name), dict):
            continue
        if unit[name].get("class") == "choice":
            continue
        seen.add(name)
        desc = unit[name]
        refs = list(_deps(desc))
        for key in ("reuse_params", "initial_state"):
            if isinstance(desc.get(key), str):
                refs.append(desc[key])
        for ref in refs:
            head = _local(ref)
            if head is not None and head in unit:
                todo.append(head)
    return sorted(seen)


def _prefix(*scopes: dict[str, Any]) -> tuple[str, int]:
    """The first free ``modelK_`` prefix (K >= 1) over the given scopes, and K."""
    k = 1
    while any(n.startswith(f"model{k}_") for s in scopes for n in s):
        k += 1
    return f"model{k}_", k


def _inner_fn(fn: Ren) -> Ren:
    """``fn`` seen from one scope deeper (a ``subnetwork`` or inner unit): ``base:X`` -> ``base:fn(X)``."""
    def inner(ref: str) -> str:
        return "base:" + fn(ref[len("base:"):]) if ref.startswith("base:") else ref
    return inner


def _rename_desc(desc: dict[str, Any], fn: Ren) -> dict[str, Any]:
    """A deep copy of a layer dict with every layer reference mapped by ``fn`` (nested nets too)."""
    out = copy.deepcopy(desc)
    _map_refs(out, fn)
    for key in ("reuse_params", "initial_state"):
        if isinstance(out.get(key), str):
            out[key] = fn(out[key])
    nested: list[dict[str, Any]] = []
    if isinstance(out.get("subnetwork"), dict):
        nested.append(out["subnetwork"])
    if out.get("class") == "rec" and isinstance(out.get("unit"), dict):
        nested.append(out["unit"])
    for sub in nested:
        for k, v in list(sub.items()):
            if isinstance(v, dict):
                sub[k] = _rename_desc(v, _inner_fn(fn))
    if out.get("class") == "masked_computation" and isinstance(out.get("unit"), dict):
        out["unit"] = _rename_desc(out["unit"], _inner_fn(fn))
    return out


def _ref_mapper(names: dict[str, str], enc: dict[str, str], *, loop: bool = True) -> Ren:
    """Map references of a copied layer: unit layers in ``names`` (also as ``prev:`` / sub-layer paths) and
    root layers in ``enc`` read through ``base:``."""
    def fn(ref: str) -> str:
        pre = ""
        body = ref
        if loop and body.startswith("prev:"):
            pre, body = "prev:", body[len("prev:"):]
        if loop and not pre and body.startswith("base:"):
            head, sep, tail = body[len("base:"):].partition("/")
            return f"base:{enc[head]}{sep}{tail}" if head in enc else ref
        head, sep, tail = body.partition("/")
        if ":" not in head and head in names:
            return f"{pre}{names[head]}{sep}{tail}"
        return ref
    return fn


def _encoder_copy(net: dict[str, Any], rec: str, reads: set[str], prefix: str) -> dict[str, str] | None:
    """Copy the root layers ``reads`` (read by the member through ``base:``) and their root ancestors under
    ``prefix`` (an encoder of the member's own); old -> new names, or None where it is too big / beamed."""
    beamed = _beamed_roots(net)
    todo = {r for r in reads if r in net and isinstance(net[r], dict)}
    keep: set[str] = set()
    for name in todo:
        keep.add(name)
        keep |= _root_ancestors(net, name)
    keep = {k for k in keep if k != rec and k not in beamed and net[k].get("class") not in ("decide", "choice")
            and not (net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict))}
    if not keep or len(keep) > _MAX_ENCODER:
        return None
    taken = set(net)
    mapping = {}
    for k in sorted(keep):
        new = _fresh(taken, prefix + k)
        taken.add(new)
        mapping[k] = new
    fn = _ref_mapper(mapping, {}, loop=False)
    for old, new in mapping.items():
        net[new] = _rename_desc(net[old], fn)
    return mapping


def _base_reads(unit: dict[str, Any], names: list[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        for ref in _deps(unit[n]):
            if ref.startswith("base:") and not ref.startswith("base:data"):
                out.add(ref[len("base:"):].split("/", 1)[0])
    return out


def _clone_member(net: dict[str, Any], rec: str, scores: str, prefix: str, rng: random.Random, *,
                  reuse: bool, own_encoder: bool) -> tuple[dict[str, str], str]:
    """Copy the decoder's model into its unit under ``prefix``; (old -> new unit names, how)."""
    unit = net[rec]["unit"]
    model = _model(unit, scores)
    taken = set(unit)
    names: dict[str, str] = {}
    for k in model:
        new = _fresh(taken, prefix + k)
        taken.add(new)
        names[k] = new
    enc: dict[str, str] = {}
    how = []
    if own_encoder:
        got = _encoder_copy(net, rec, _base_reads(unit, model), prefix)
        if got:
            enc = got
            how.append(f"its own encoder at the root ({', '.join(sorted(enc.values()))})")
    if not enc:
        how.append("the encoder shared")
    fn = _ref_mapper(names, enc)
    shared = 0
    for old, new in names.items():
        desc = _rename_desc(unit[old], fn)
        if reuse and desc.get("class") in _PARAM_CLASSES and "reuse_params" not in desc \
                and not isinstance(desc.get("unit"), dict):
            desc["reuse_params"] = old
            shared += 1
        unit[new] = desc
    how.append(f"reuse_params on {shared} layers" if reuse and shared else "separate weights")
    return names, ", ".join(how)


def _weights(n: int, rng: random.Random) -> list[float]:
    if n == 2 and rng.random() < 0.5:
        w = rng.choice([0.6, 0.7, 0.8])
        return [w, round(1.0 - w, 2)]
    return [round(1.0 / n, 4)] * n


def _combine(net: dict[str, Any], rec: str, choice: str, srcs: list[str], kind: str, rng: random.Random,
             case: Case, *, root_weight: str | None = None, form: str | None = None) -> str:
    """Combine the distributions ``srcs`` (all of ``input_type`` ``kind``) into a new loop layer the choice reads;
    returns how."""
    unit = net[rec]["unit"]
    n = len(srcs)
    ens = _fresh(unit, "ens_output_prob" if kind == "prob" else "ens_output_log_prob")
    cdesc = unit[choice]
    if form is None:
        forms = ["interp", "loglin", "combine", "linear", "scales"]
        weights = [0.3, 0.25, 0.15, 0.15, 0.15]
        if root_weight is not None and n == 2:
            forms, weights = ["root"], [1.0]
        form = rng.choices(forms, weights)[0]
    if form == "root" and root_weight is not None:
        lam = root_weight
        unit[ens] = {"class": "eval", "from": [srcs[0], srcs[1], lam],
                     "eval": "source(2) * source(0) + (1. - source(2)) * source(1)"}
        cdesc["from"] = ens
        return f"{ens} = {lam} * {srcs[0]} + (1 - {lam}) * {srcs[1]} ({kind})"
    if form == "interp":
        w = _weights(n, rng)
        expr = " + ".join(f"{w[i]} * source({i})" for i in range(n))
        unit[ens] = {"class": "eval", "from": list(srcs), "eval": expr}
        cdesc["from"] = ens
        return f"{ens} = eval {expr!r} over {srcs} ({kind})"
    if form == "loglin":
        w = _weights(n, rng)
        if kind == "prob":
            expr = " + ".join(f"{w[i]} * safe_log(source({i}))" for i in range(n))
            unit[ens] = {"class": "eval", "from": list(srcs), "eval": expr}
            cdesc["from"] = ens
            cdesc["input_type"] = "log_prob"
            return f"{ens} = eval {expr!r} over {srcs}, the choice now input_type log_prob"
        expr = "safe_log(" + " + ".join(f"{w[i]} * tf.exp(source({i}))" for i in range(n)) + ")"
        unit[ens] = {"class": "eval", "from": list(srcs), "eval": expr}
        cdesc["from"] = ens
        return f"{ens} = eval {expr!r} over {srcs} (log_prob)"
    if form == "combine":
        if kind == "prob" and rng.random() < 0.5:
            unit[ens] = {"class": "combine", "kind": "average", "from": list(srcs)}
            cdesc["from"] = ens
            return f"{ens} = combine average of {srcs} (prob)"
        logs = []
        for s in srcs:
            if kind == "prob":
                lg = _fresh(unit, f"{s}_log")
                unit[lg] = {"class": "activation", "activation": "safe_log", "from": s}
                logs.append(lg)
            else:
                logs.append(s)
        unit[ens] = {"class": "combine", "kind": "add", "from": logs}
        cdesc["from"] = ens
        cdesc["input_type"] = "log_prob"
        return f"{ens} = combine add of {logs} (log-probs), the choice input_type log_prob"
    if form == "linear":
        dim = _target_dim(case, _data_target(cdesc))
        if isinstance(dim, int):
            act = "softmax" if kind == "prob" else "log_softmax"
            unit[ens] = {"class": "linear", "activation": act, "from": list(srcs), "n_out": dim}
            cdesc["from"] = ens
            return f"{ens} = linear {act} over the concatenated distributions {srcs} (n_out {dim})"
        return _combine(net, rec, choice, srcs, kind, rng, case, form="interp")
    # variable scales in the loop, as the log-linear AM + LM configs write them
    scales = []
    for i, s in enumerate(srcs):
        sc = _fresh(unit, f"{s}_scale" if i else "am_scale")
        unit[sc] = {"class": "variable", "shape": [1], "add_batch_axis": False,
                    "init": _weights(n, rng)[i]}
        scales.append(sc)
    terms = " + ".join(f"source({n + i}) * " + (f"safe_log(source({i}))" if kind == "prob" else f"source({i})")
                       for i in range(n))
    unit[ens] = {"class": "eval", "from": list(srcs) + scales, "eval": terms}
    cdesc["from"] = ens
    cdesc["input_type"] = "log_prob"
    return f"{ens} = eval {terms!r} over {srcs} with variable scales {scales}, the choice input_type log_prob"


def _root_weight(net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, str] | None:
    """A root layer of shape (B, 1) in [0, 1]: a sigmoid ``linear`` of the time-mean of an encoder layer, or of a
    beamed root layer that does not depend on ``rec``; (its name, how)."""
    unit = net[rec]["unit"]
    reads = sorted(r for r in _base_reads(unit, _layers(unit)) if r in net and net[r].get("class") not in _NO_TIME)
    dependent = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
    beamed = sorted(b for b in _beamed_roots(net) if b != rec and b not in dependent
                    and (net[b].get("class") == "rec" or _timeful(net, b)))
    if beamed and rng.random() < 0.5:
        src = rng.choice(beamed)
        how = f"from the beamed root layer {src}"
    elif reads:
        src = rng.choice(reads)
        how = f"from the encoder layer {src}"
    else:
        src = "data"
        how = "from the input"
    if src in beamed:
        emb = _fresh(net, f"{src}_embed")
        net[emb] = {"class": "linear", "activation": "tanh", "n_out": 4, "from": src}
        how += f" (through {emb}, a tanh linear of it)"
        src = emb
    pooled = _fresh(net, f"{src.replace('/', '_')}_pooled")
    net[pooled] = {"class": "reduce", "mode": "mean", "axes": "T", "from": src}
    lam = _fresh(net, "ens_weight")
    net[lam] = {"class": "linear", "activation": "sigmoid", "n_out": 1, "from": pooled}
    return lam, f"root weight {lam} = sigmoid(linear(mean over T of {src})) {how}"


# ----------------------------------------------------------------------------------------------------
# prefix-member-ensemble


def _rename_miss(unit: dict[str, Any], names: dict[str, str], rng: random.Random) -> str | None:
    """Revert one renamed reference of a copied layer to the original's layer (a slip made while copying)."""
    back = {v: k for k, v in names.items()}
    spots = []
    for new in sorted(names.values()):
        for key in ("from",):
            value = unit[new].get(key)
            items = value if isinstance(value, list) else [value]
            for i, ref in enumerate(items):
                if not isinstance(ref, str):
                    continue
                head = _local(ref)
                if head in back and head != new:
                    spots.append((new, key, i if isinstance(value, list) else None, ref, head))
    if not spots:
        return None
    layer, key, i, ref, head = rng.choice(spots)
    old = ref.replace(head, back[head], 1)
    if i is None:
        unit[layer][key] = old
    else:
        unit[layer][key][i] = old
    return f"{layer} still reads {old} (the original's) instead of {ref}"


def op_prefix_member_ensemble(case: Case, rng: random.Random) -> Result:
    """The decoder's model copied into its unit as one or two ``modelK_`` members, combined for ONE choice."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _score_layer(unit, choice)
    n_members = 1 if rng.random() < 0.75 else 2
    reuse = rng.random() < 0.3
    own_enc = rng.random() < 0.4
    members = []
    parts = []
    for _ in range(n_members):
        prefix, _k = _prefix(unit, net)
        names, how = _clone_member(net, rec, scores, prefix, rng, reuse=reuse, own_encoder=own_enc)
        members.append(names)
        parts.append(f"{prefix} member of {len(names)} layers ({how})")
    srcs = [scores] + [m[scores] for m in members]
    root_weight = None
    extra = ""
    if n_members == 1 and rng.random() < 0.2:
        got = _root_weight(net, rec, rng)
        if got is not None:
            lam, extra = got
            root_weight = f"base:{lam}"
    comb = _combine(net, rec, choice, srcs, kind, rng, case, root_weight=root_weight)
    slip = ""
    if rng.random() < 0.25:
        miss = _rename_miss(unit, members[-1], rng)
        if miss:
            slip = f"; slip: {miss}"
    desc = f"{rec}: {'; '.join(parts)}; {extra + '; ' if extra else ''}{comb}; {choice} chooses over it{slip}"
    return new, desc


# ----------------------------------------------------------------------------------------------------
# member-own-choice


def _relabel(unit: dict[str, Any], layers: list[str], old: str, new: str) -> int:
    """Let ``layers`` read choice ``new`` wherever they read ``old`` (``prev:`` too); how many refs moved."""
    count = 0

    def fn(ref: str) -> str:
        nonlocal count
        if ref == old:
            count += 1
            return new
        if ref == f"prev:{old}":
            count += 1
            return f"prev:{new}"
        return ref

    for k in layers:
        _map_refs(unit[k], fn)
    return count


def op_member_own_choice(case: Case, rng: random.Random) -> Result:
    """A copied member with a choice of its own: own feedback, fed from another member, or decided apart."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _score_layer(unit, choice)
    form = rng.choices(["own-feedback", "cross-label", "side-by-side"], [0.45, 0.25, 0.3])[0]
    reuse = rng.random() < 0.25
    beam = unit[choice].get("beam_size")
    beam = beam if isinstance(beam, int) else 12

    def member() -> tuple[dict[str, str], str, str]:
        prefix, _k = _prefix(unit, net)
        names, how = _clone_member(net, rec, scores, prefix, rng, reuse=reuse, own_encoder=False)
        mch = _fresh(unit, prefix + choice)
        cdesc = {k: copy.deepcopy(v) for k, v in unit[choice].items() if k not in ("is_output_layer", "loss")}
        cdesc["from"] = names[scores]
        unit[mch] = cdesc
        return names, mch, f"{prefix} member ({how}) with its own choice {mch} over {names[scores]}"

    names1, ch1, how1 = member()
    parts = [how1]
    mode = rng.choices(["same", "smaller", "one", "no-search"], [0.35, 0.25, 0.2, 0.2])[0]
    if mode == "smaller":
        unit[ch1]["beam_size"] = max(1, beam // 2)
        parts.append(f"{ch1} beam {unit[ch1]['beam_size']}")
    elif mode == "one":
        unit[ch1]["beam_size"] = 1
        parts.append(f"{ch1} beam 1")
    elif mode == "no-search":
        unit[ch1]["search"] = False
        parts.append(f"{ch1} search False (decided per member)")
    if form == "own-feedback":
        moved = _relabel(unit, sorted(names1.values()), choice, ch1)
        parts.append(f"the member's label feedback reads {ch1} ({moved} refs) instead of the shared {choice}")
        comb = _combine(net, rec, choice, [scores, names1[scores]], kind, rng, case)
        parts.append(comb)
    elif form == "cross-label":
        if rng.random() < 0.5:
            moved = _relabel(unit, sorted(names1.values()), choice, ch1)
            parts.append(f"{ch1}'s member reads its own label ({moved} refs)")
        names2, ch2, how2 = member()
        unit.pop(ch2)
        moved2 = _relabel(unit, sorted(names2.values()), choice, ch1)
        parts.append(how2.split(" with its own choice")[0] + f", its state fed from {ch1} ({moved2} refs)")
        comb = _combine(net, rec, choice, [scores, names1[scores], names2[scores]], kind, rng, case)
        parts.append(comb)
    else:
        moved = _relabel(unit, sorted(names1.values()), choice, ch1)
        unit[ch1]["is_output_layer"] = True
        parts.append(f"members side by side: {choice} on {scores} alone, {ch1} fed back its own label "
                     f"({moved} refs), an output layer of the loop")
        if rng.random() < 0.7:
            dec = _fresh(net, f"{ch1}_decision")
            net[dec] = {"class": "decide", "from": f"{rec}/{ch1}", "is_output_layer": True}
            parts.append(f"root {dec} = decide({rec}/{ch1}), an output layer")
    return new, f"{rec}: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------------
# outside-expert-poe


def _timeful(net: dict[str, Any], name: str, seen: set[str] | None = None) -> bool:
    """Roughly: whether root layer ``name`` keeps the input's time axis."""
    seen = set() if seen is None else seen
    if name in seen:
        return False
    seen.add(name)
    desc = net.get(name)
    if not isinstance(desc, dict) or desc.get("class") in _NO_TIME:
        return False
    if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
        return False
    srcs = _sources(desc)
    if not srcs:
        return desc.get("class") == "eval"
    for s in srcs:
        if s == "data" or s.startswith("data:"):
            return True
        if ":" not in s and _timeful(net, s.split("/", 1)[0], seen):
            return True
    return False


def op_outside_expert_poe(case: Case, rng: random.Random) -> Result:
    """A frame-wise expert at the root, read in the loop at the step (or the attention's argmax) and multiplied
    into the decoder's distribution."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _score_layer(unit, choice)
    dim = _target_dim(case, _data_target(unit[choice]))
    if not isinstance(dim, int):
        return None
    dependent = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
    others = [r for r in _searching_recs(net) if r != rec and r not in dependent]
    reads = sorted(r for r in _base_reads(unit, _layers(unit)) if _timeful(net, r) and net[r].get("n_out") != 1)
    ext = case.get("extern_data") or {}
    data_sparse = bool((ext.get("data") or {}).get("sparse"))
    if others and rng.random() < 0.4:
        src = rng.choice(others)
        how_src = f"the output of the other searching decoder {src} (another beam)"
    elif reads:
        src = rng.choice(reads)
        how_src = f"the encoder layer {src}"
    elif "data" in ext or case.get("num_outputs"):
        src = "data"
        how_src = "the input" + (" (sparse)" if data_sparse else "")
    else:
        return None
    expert = _fresh(net, "frame_expert")
    net[expert] = {"class": "softmax", "from": src, "n_out": dim}
    pos_kind = rng.choices(["step", "step-clip", "att-argmax"], [0.3, 0.3, 0.4])[0]
    att = [k for k in _layers(unit) if unit[k].get("class") == "softmax_over_spatial"
           and len(_sources(unit[k])) == 1 and isinstance(unit.get(_sources(unit[k])[0]), dict)
           and unit[_sources(unit[k])[0]].get("n_out") == 1]
    if pos_kind == "att-argmax" and not att:
        pos_kind = "step-clip"
    at = _fresh(unit, f"{expert}_t")
    if pos_kind == "att-argmax":
        w = rng.choice(att)
        am = _fresh(unit, f"{w}_argmax")
        unit[am] = {"class": "reduce", "mode": "argmax", "axes": "T", "from": w}
        pos = _fresh(unit, f"{w}_pos")
        unit[pos] = {"class": "squeeze", "axis": "auto", "from": am}
        unit[at] = {"class": "gather", "from": f"base:{expert}", "position": pos, "axis": "T"}
        how_pos = f"at {pos} (argmax over T of {w}, squeezed)"
    else:
        unit[at] = {"class": "gather", "from": f"base:{expert}", "position": ":i", "axis": "T"}
        how_pos = "at the step :i"
        if pos_kind == "step-clip":
            unit[at]["clip_to_valid"] = True
            how_pos += " (clip_to_valid)"
    lam = rng.choice([0.1, 0.3, 0.5])
    poe = _fresh(unit, "poe_log_prob")
    if kind == "prob":
        unit[poe] = {"class": "eval", "from": [scores, at],
                     "eval": f"safe_log(source(0)) + {lam} * safe_log(source(1))"}
    else:
        unit[poe] = {"class": "eval", "from": [scores, at], "eval": f"source(0) + {lam} * safe_log(source(1))"}
    unit[choice]["from"] = poe
    unit[choice]["input_type"] = "log_prob"
    return new, (f"root {expert} = softmax over {dim} labels of {how_src}; {rec}/{at} = gather(base:{expert}) "
                 f"{how_pos}; {rec}/{poe} = log {scores} + {lam} * log {at}; {choice} chooses over it (log_prob)")


# ----------------------------------------------------------------------------------------------------
# member-rec-outside


def _dense_label_readers(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers that read an embedding of the previous label (not the sparse label itself)."""
    embeds = {k for k in _layers(unit) if f"prev:{choice}" in _sources(unit[k])
              or (choice in _sources(unit[k]) and unit[k].get("class") == "linear")}
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") not in ("linear", "rnn_cell", "softmax") or k in embeds:
            continue
        srcs = _sources(desc)
        if any(e in srcs or f"prev:{e}" in srcs for e in embeds):
            out.append(k)
    return out


def op_member_rec_outside(case: Case, rng: random.Random) -> Result:
    """The whole searching decoder copied as a member rec at the root, read by the main loop."""
    new, net = _copy(case)
    sites = _sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _score_layer(unit, choice)
    prefix, _k = _prefix(net, unit)
    mrec = _fresh(net, prefix + rec)
    mdesc = copy.deepcopy({k: v for k, v in net[rec].items() if k not in ("is_output_layer", "loss", "loss_opts")})
    munit = mdesc["unit"]
    names = {k: (k if k in ("output", "end") else prefix + k) for k in _layers(munit)}
    own_enc = rng.random() < 0.3
    enc: dict[str, str] = {}
    if own_enc:
        got = _encoder_copy(net, rec, _base_reads(munit, _layers(munit)), prefix)
        enc = got or {}
    fn = _ref_mapper(names, enc)
    mdesc["unit"] = {names[k]: _rename_desc(v, fn) for k, v in munit.items() if k in names}
    for k, v in munit.items():
        if k not in names:
            mdesc["unit"][k] = v
    munit = mdesc["unit"]
    mscores = names[scores]
    mchoice = names[choice]
    munit[mscores]["is_output_layer"] = True
    beam = unit[choice].get("beam_size")
    beam = beam if isinstance(beam, int) else 12
    mbeam = rng.choice([beam, beam, max(1, beam // 2), beam + 2])
    munit[mchoice]["beam_size"] = mbeam
    net[mrec] = mdesc
    how = [(f"root {mrec}: a copy of {rec} ({prefix}layers, {'own encoder' if enc else 'encoder shared'}, "
            f"beam {mbeam} vs {beam}), {mscores} an output layer of it")]
    form = rng.choices(["probs", "decided-probs", "labels", "labels-raw"], [0.35, 0.25, 0.25, 0.15])[0]
    readers = _dense_label_readers(unit, choice)
    if form.startswith("labels") and not readers:
        form = "probs"
    at = _fresh(unit, f"{prefix}t")
    if form in ("probs", "decided-probs"):
        src = f"base:{mrec}/{mscores}"
        if form == "decided-probs":
            dec = _fresh(net, f"{mrec}_{mscores}_decided")
            net[dec] = {"class": "decide", "from": f"{mrec}/{mscores}"}
            src = f"base:{dec}"
            how.append(f"root {dec} = decide({mrec}/{mscores})")
        unit[at] = {"class": "gather", "from": src, "position": ":i", "axis": "T", "clip_to_valid": True}
        comb = _combine(net, rec, choice, [scores, at], kind, rng, case,
                        form=rng.choice(["interp", "loglin", "combine"]))
        how.append(f"{rec}/{at} = gather({src} at :i, clip_to_valid); {comb}")
    else:
        if form == "labels":
            dec = _fresh(net, f"{mrec}_decision")
            net[dec] = {"class": "decide", "from": mrec}
            src = f"base:{dec}"
            how.append(f"root {dec} = decide({mrec})")
        else:
            src = f"base:{mrec}"
        unit[at] = {"class": "gather", "from": src, "position": ":i", "axis": "T", "clip_to_valid": True}
        emb = _fresh(unit, f"{prefix}label_embed")
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": at,
                     "n_out": rng.choice([4, 8, 16])}
        reader = rng.choice(readers)
        _add_source(unit[reader], emb)
        how.append(f"{rec}/{at} = gather({src} at :i, clip_to_valid), embedded as {rec}/{emb}, "
                   f"an extra source of {rec}/{reader}")
    return new, "; ".join(how)


FRESH95_OPERATORS: tuple[Op, ...] = (
    Op("prefix-member-ensemble", op_prefix_member_ensemble, 1.2),
    Op("member-own-choice", op_member_own_choice, 1.0),
    Op("outside-expert-poe", op_outside_expert_poe, 0.8),
    Op("member-rec-outside", op_member_rec_outside, 1.0),
)
