"""A hundred-and-twenty-first set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Decoder-only / prefix-LM search put onto the bases' searching decoders: one searching loop that first
reads the source tokens (a prompt) and then generates. The prompt is the source in the label vocabulary
(``data`` itself where it is sparse with the label dim, else a root ``linear`` to the label dim and a
``reduce`` ``argmax``), its length a root ``length`` read through ``base:``, its token of the frame a ``gather``
of it at ``:i`` (``clip_to_valid``, or at an offset of ``:i``); users force it through the loop, mask the choice
during the prefix, gate the ``end`` on the prefix, take positions from ``:i`` minus the prompt length, and add a
prefix-LM attention (over the source read whole through ``base:``, next to a self-attention over the loop
history, ``cum_concat``), with the mistakes they make on the way (the prefix length computed inside the loop
or read without ``base:``, the forced label not fed back, the choice's target left over the prefix). Sources:
decoder-only / prefix-LM set-ups ported to RETURNN (returnn_common ``nn.TransformerDecoder`` used as an LM with
a prompt, i6_experiments LM configs), ``RecStepInfoLayer`` (``:i``), ``SwitchLayer``, ``GatherLayer``
(``clip_to_valid``), ``LengthLayer``, ``CumConcatLayer``, ``CompareLayer`` in the installed
``returnn/tf/layers/{basic,rec}.py``:

* ``prompt-gather-feed``: the label history the decoder reads (the readers of ``prev:CHOICE``) becomes
  ``switch(:i < base:prompt_len, gather(base:prompt_tokens, :i), prev:CHOICE)``: the prompt is fed through the
  loop as forced input while the frame index is inside it (where the label history is an embedding computed in
  the frame and read as ``prev:``, the ``target_embed`` style, that embedding reads the switch over the
  frame's choice instead); the gather position is ``:i`` (clipped), ``:i - 1``
  (an ``eval`` on ``:i``), and the prefix length comes through ``base:``, or from a ``length`` layer inside the
  loop, or (the mistake) named without ``base:``. Targets: ``SwitchLayer`` with a non-beamed ``true_from``
  and a beamed ``false_from`` (``SelectSearchSourcesLayer.select_if_needed`` / ``translate_to_common_search_beam``
  over ``condition`` / ``true_from`` / ``false_from``), ``GatherLayer`` on a ``base:`` layer with a ``:i`` position
  in the loop, the prev-frame choice resolution of the embedding.
* ``prompt-forced-choice``: the choice is forced during the prefix: either after the choice (``tok =
  switch(in_prompt, prompt token, CHOICE)``, fed back as ``prev:tok`` or, the mistake, not fed back and only
  used by ``end`` / a loop output), or before it (the scores replaced by a one-hot of the prompt token, an
  ``eval`` ``tf.one_hot`` of the token next to the scores, as probabilities / log-probabilities, while inside the
  prompt); the forced token may
  become the loop's ``output`` (the choice renamed), and the choice's ``target`` sometimes left as it is over
  the prefix, sometimes its ``search`` flag not touched. Targets: ``ChoiceLayer.__init__`` on a ``switch``
  source (the search-flag source checks, ``beam_in`` vs. the base search choices), the rec output layer's
  search choices (``_SubnetworkRecCell.get_output``, ``get_search_choices`` on a ``switch`` output), the end
  layer's choice checks.
* ``prompt-end-gate``: the loop may end only after the prompt (``end = logical_and(old end, :i >=
  base:prompt_len)``, or the ``end`` replaced by the comparison alone), its ``max_seq_len`` widened to cover
  prompt plus continuation, and after the loop the prompt stripped from the decoded labels (a root
  ``slice_nd`` of the loop's output from ``prompt_len`` on, a ``decide`` before or after it). Targets: the
  end-flag handling of ``_SubnetworkRecCell.get_output`` (``maybe_transform`` of ``end``, the end-layer choice
  in the frame's choice sequence, ``_RETURNN_dyn_size_beam``), ``SliceNdLayer`` with a non-beamed ``start`` on
  a beamed input, ``DecideLayer``.
* ``prompt-offset-pos``: positions counted from the end of the prompt: ``pos = :i - base:prompt_len`` (an
  ``eval`` / ``combine`` ``sub``), clipped at zero or not, looked up in a root position table (a ``variable``
  read by a ``gather`` at ``pos`` in the loop) or turned into a float feature, and added to a decoder layer's
  inputs; or the position taken from a length counter of the hypothesis (``prev:`` plus one after the
  prompt). Targets: ``GatherLayer`` on a ``base:`` ``variable`` with a loop position, the per-frame layers
  with no beam (``:i``, ``base:``) mixed with beamed ones (``CombineLayer`` / ``CopyLayer`` concatenation,
  ``select_if_needed``).
* ``prefix-lm-att``: a prefix-LM attention next to the decoder: an MLP attention over the source read whole
  through ``base:`` (``base:`` keys, ``softmax_over_spatial``, ``generic_attention``) and a self-attention over the
  loop history kept by ``cum_concat`` (``dot`` / ``softmax_over_spatial`` / ``dot``), both fed to the scores'
  layer; the history taken from the embedding of the fed-back label, from the decoder state, or from
  ``prev:`` of the state. Targets: ``CumConcatLayer`` in search (its beam handling of the accumulated
  history), ``GenericAttentionLayer`` on ``base:`` values in a searching loop.
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
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH119_SEED = 20270181
N_FRESH119 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(rec, choice, label dim) of the label choices of the searching loops."""
    out = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("input_type") == "regression":
                continue
            dim = _target_dim(case, _data_target(unit[c]))
            if isinstance(dim, int) and dim > 1:
                out.append((r, c, dim))
    return out


def _input_key(case: Case) -> str:
    ext = case.get("extern_data") or {}
    if "data" in ext or "data" in (case.get("num_outputs") or {}):
        return "data"
    keys = sorted(k for k, v in ext.items() if isinstance(v, dict) and v.get("available_for_inference", True))
    return keys[0] if keys else "data"


def _encoder(net: dict[str, Any], rec: str) -> str | None:
    """A dense root layer the decoder reads through ``base:`` (the encoder), or None."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc):
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    d = net.get(name)
                    if isinstance(d, dict) and d.get("class") in ("linear", "copy", "rec", "layer_norm",
                                                                  "activation", "combine"):
                        if d.get("class") == "rec" and isinstance(d.get("unit"), dict):
                            continue
                        found.append(name)
    return min(found) if found else None


def _prompt(case: Case, net: dict[str, Any], dim: int, rng: random.Random) -> tuple[str, str, str]:
    """Root layers of the prompt: (tokens, length, how)."""
    key = _input_key(case)
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict) and ext.get("sparse") and ext.get("dim") == dim and rng.random() < 0.8:
        toks = key
        how = f"prompt = {key}"
    else:
        logits = _fresh(net, "prompt_logits")
        net[logits] = {"class": "linear", "activation": None, "from": key, "n_out": dim}
        toks = _fresh(net, "prompt_tokens")
        net[toks] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": logits}
        how = f"prompt = argmax(linear({key}, {dim}))"
    plen = _fresh(net, "prompt_len")
    net[plen] = {"class": "length", "from": toks}
    return toks, plen, how


def _in_prompt(unit: dict[str, Any], toks: str, plen: str, rng: random.Random,
               weights: tuple[float, float, float] = (0.75, 0.15, 0.1)) -> tuple[str, str]:
    """A loop flag ``:i < prompt length``; the length through ``base:``, from a loop ``length``, or no ``base:``."""
    kind = rng.choices(["base", "loop-length", "no-base"], weights)[0]
    flag = _fresh(unit, "in_prompt")
    if kind == "base":
        ref, how = f"base:{plen}", ""
    elif kind == "loop-length":
        ref = _fresh(unit, "prompt_len_here")
        unit[ref] = {"class": "length", "from": f"base:{toks}"}
        how = f" ({ref} = length(base:{toks}) inside the loop)"
    else:
        ref, how = plen, " (prompt length named without base:)"
    unit[flag] = {"class": "compare", "kind": "less", "from": [":i", ref]}
    return flag, f"{flag} = :i < {ref}{how}"


def _prompt_token(unit: dict[str, Any], toks: str, rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(["clip", "minus1", "raw"], [0.55, 0.25, 0.2])[0]
    tok = _fresh(unit, "prompt_tok")
    if kind == "minus1":
        pos = _fresh(unit, "prompt_pos")
        unit[pos] = {"class": "eval", "from": ":i", "eval": "tf.maximum(source(0) - 1, 0)"}
        unit[tok] = {"class": "gather", "from": f"base:{toks}", "position": pos, "axis": "T",
                     "clip_to_valid": True}
        return tok, f"{tok} = gather(base:{toks}, max(:i - 1, 0))"
    unit[tok] = {"class": "gather", "from": f"base:{toks}", "position": ":i", "axis": "T"}
    if kind == "clip":
        unit[tok]["clip_to_valid"] = True
        return tok, f"{tok} = gather(base:{toks}, :i, clip_to_valid)"
    return tok, f"{tok} = gather(base:{toks}, :i)"


def _replace_ref(desc: dict[str, Any], old: str, new: str) -> None:
    for key in ("from", "initial_output", "condition", "true_from", "false_from", "position", "weights", "base"):
        value = desc.get(key)
        if value == old:
            desc[key] = new
        elif isinstance(value, list):
            desc[key] = [new if v == old else v for v in value]


def _retire_end(unit: dict[str, Any]) -> str:
    """Rename the loop's ``end`` to a fresh name (its readers follow); returns the new name."""
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")
    for k in _layers(unit):
        if k != old:
            _replace_ref(unit[k], "end", old)
    return old


# ----------------------------------------------------------------------------------------------------
# prompt-gather-feed


def op_prompt_gather_feed(case: Case, rng: random.Random) -> Result:
    """The prompt fed through the loop as the label history while ``:i`` is inside it."""
    new, net = _copy(case)
    sites = []
    for r, c, d in _label_sites(case, net):
        unit = net[r]["unit"]
        if _readers(unit, c, f"prev:{c}"):
            sites.append((r, c, d, f"prev:{c}"))
        else:
            # the label embedding computed in the frame and read as prev: (``target_embed`` style)
            embeds = [k for k in _readers(unit, c) if unit[k].get("class") == "linear"
                      and _readers(unit, k, f"prev:{k}")]
            if embeds:
                sites.append((r, c, d, c))
    if not sites:
        return None
    rec, choice, dim, label = rng.choice(sites)
    unit = net[rec]["unit"]
    if label == choice:
        readers = [k for k in _readers(unit, choice) if unit[k].get("class") == "linear"
                   and _readers(unit, k, f"prev:{k}")]
    else:
        readers = _readers(unit, choice, label)
    toks, plen, how0 = _prompt(case, net, dim, rng)
    flag, how1 = _in_prompt(unit, toks, plen, rng)
    tok, how2 = _prompt_token(unit, toks, rng)
    feed = _fresh(unit, "label_in")
    unit[feed] = {"class": "switch", "condition": flag, "true_from": tok, "false_from": label}
    if rng.random() < 0.2 and len(readers) > 1:
        readers = readers[:1]
        part = " (only the first reader)"
    else:
        part = ""
    for k in readers:
        _replace_ref(unit[k], label, feed)
    return new, (f"{rec}: {how0}; {how1}; {how2}; {feed} = switch({flag}, {tok}, {label}); "
                 f"{', '.join(readers)} read {feed}{part}")


# ----------------------------------------------------------------------------------------------------
# prompt-forced-choice


def op_prompt_forced_choice(case: Case, rng: random.Random) -> Result:
    """The choice forced to the prompt token during the prefix (after the choice or on its scores)."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    toks, plen, how0 = _prompt(case, net, dim, rng)
    flag, how1 = _in_prompt(unit, toks, plen, rng, (0.85, 0.1, 0.05))
    tok, how2 = _prompt_token(unit, toks, rng)
    srcs = _sources(unit[choice])
    mode = rng.choices(["after", "scores"], [0.6, 0.4])[0]
    if mode == "scores" and len(srcs) == 1 and srcs[0] in unit:
        scores = srcs[0]
        kind = unit[choice].get("input_type", "prob")
        onehot = _fresh(unit, "prompt_onehot")
        if kind == "log_prob":
            expr = f"tf.math.log(tf.one_hot(tf.reshape(source(1), tf.shape(source(0))[:1]), {dim}, dtype=source(0).dtype) + 1e-10)"
        else:
            expr = f"tf.one_hot(tf.reshape(source(1), tf.shape(source(0))[:1]), {dim}, dtype=source(0).dtype)"
        unit[onehot] = {"class": "eval", "from": [scores, tok], "eval": expr}
        forced = _fresh(unit, f"{scores}_forced")
        unit[forced] = {"class": "switch", "condition": flag, "true_from": onehot, "false_from": scores}
        unit[choice]["from"] = forced
        return new, (f"{rec}: {how0}; {how1}; {how2}; {choice} chooses over {forced} = switch({flag}, "
                     f"one_hot({tok}) ({kind}), {scores})")
    forced = _fresh(unit, "forced_label")
    unit[forced] = {"class": "switch", "condition": flag, "true_from": tok, "false_from": choice,
                    "initial_output": 0}
    prev_readers = _readers(unit, choice, f"prev:{choice}")
    fed = rng.random() < 0.65
    how = f"{rec}: {how0}; {how1}; {how2}; {forced} = switch({flag}, {tok}, {choice})"
    if fed:
        for k in prev_readers:
            _replace_ref(unit[k], f"prev:{choice}", f"prev:{forced}")
        how += f"; {', '.join(prev_readers) or 'nobody'} read prev:{forced}"
    else:
        how += "; not fed back"
    if isinstance(unit.get("end"), dict) and choice in _sources(unit["end"]) and rng.random() < 0.5:
        _replace_ref(unit["end"], choice, forced)
        how += f"; end reads {forced}"
    if choice == "output" and rng.random() < 0.5:
        # the forced sequence becomes the loop's output: the choice renamed
        cname = _fresh(unit, "choice")
        unit[cname] = unit.pop("output")
        body = unit.pop(forced)
        for k in _layers(unit):
            _replace_ref(unit[k], "output", cname)
            _replace_ref(unit[k], "prev:output", f"prev:{cname}")
            _replace_ref(unit[k], f"prev:{forced}", "prev:output")
            _replace_ref(unit[k], forced, "output")
        body["false_from"] = cname
        unit["output"] = body
        how += f"; the choice renamed {cname} and the loop's output is the forced label"
    elif rng.random() < 0.3:
        unit[forced]["is_output_layer"] = True
        how += f"; {forced} an output layer of the loop"
    return new, how


# ----------------------------------------------------------------------------------------------------
# prompt-end-gate


def op_prompt_end_gate(case: Case, rng: random.Random) -> Result:
    """The loop ends only after the prompt; its length widened; the prompt stripped after the loop."""
    new, net = _copy(case)
    sites = _label_sites(case, net)
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    toks, plen, how0 = _prompt(case, net, dim, rng)
    past = _fresh(unit, "past_prompt")
    ref = f"base:{plen}" if rng.random() < 0.85 else plen
    unit[past] = {"class": "compare", "kind": "greater_equal", "from": [":i", ref]}
    how = f"{rec}: {how0}; {past} = :i >= {ref}"
    if isinstance(unit.get("end"), dict) and rng.random() < 0.7:
        old = _retire_end(unit)
        unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, past]}
        how += f"; end = logical_and({old}, {past})"
    else:
        if isinstance(unit.get("end"), dict):
            _retire_end(unit)
        unit["end"] = {"class": "copy", "from": past}
        how += f"; end = {past} alone"
    msl = net[rec].get("max_seq_len")
    if isinstance(msl, str) and rng.random() < 0.6:
        net[rec]["max_seq_len"] = f"{msl} + max_len_from('base:{toks}')"
        how += f"; max_seq_len += max_len_from('base:{toks}')"
    if rng.random() < 0.55:
        mode = rng.choice(["slice", "decide-slice", "slice-decide"])
        src = rec
        if mode == "decide-slice":
            dec = _fresh(net, f"{rec}_decided")
            net[dec] = {"class": "decide", "from": rec}
            src = dec
        cont = _fresh(net, "continuation")
        net[cont] = {"class": "slice_nd", "from": src, "start": plen, "size": None}
        if mode == "slice-decide":
            out = _fresh(net, "continuation_decided")
            net[out] = {"class": "decide", "from": cont, "is_output_layer": True}
        else:
            net[cont]["is_output_layer"] = True
        how += f"; root {cont} = slice_nd({src}, start={plen}) ({mode})"
    return new, how


# ----------------------------------------------------------------------------------------------------
# prompt-offset-pos


def op_prompt_offset_pos(case: Case, rng: random.Random) -> Result:
    """A position counted from the end of the prompt, added to a decoder layer's inputs."""
    new, net = _copy(case)
    sites = []
    for r, c, d in _label_sites(case, net):
        unit = net[r]["unit"]
        srcs = _sources(unit[c])
        targets = [k for k in _layers(unit) if k != c and k != "end" and unit[k].get("class") in
                   ("linear", "rnn_cell", "rec", "softmax") and _sources(unit[k])]
        if srcs and targets:
            sites.append((r, c, d, targets))
    if not sites:
        return None
    rec, choice, dim, targets = rng.choice(sites)
    unit = net[rec]["unit"]
    user = rng.choice(targets)
    toks, plen, how0 = _prompt(case, net, dim, rng)
    kind = rng.choices(["table", "float", "counter"], [0.45, 0.35, 0.2])[0]
    pos = _fresh(unit, "gen_pos")
    if kind == "counter":
        past = _fresh(unit, "past_prompt")
        unit[past] = {"class": "compare", "kind": "greater_equal", "from": [":i", f"base:{plen}"]}
        step = _fresh(unit, "past_prompt_f")
        unit[step] = {"class": "cast", "from": past, "dtype": "float32"}
        unit[pos] = {"class": "combine", "kind": "add", "from": [f"prev:{pos}", step], "initial_output": 0}
        feat = _fresh(unit, "gen_pos_feat")
        unit[feat] = {"class": "expand_dims", "axis": "F", "from": pos}
        how = f"{pos} = prev:{pos} + (:i >= base:{plen}); {feat} = expand_dims({pos})"
    else:
        clip = rng.random() < 0.6
        expr = "tf.maximum(source(0) - source(1), 0)" if clip else "source(0) - source(1)"
        unit[pos] = {"class": "eval", "from": [":i", f"base:{plen}"], "eval": expr}
        how = f"{pos} = {'max(' if clip else ''}:i - base:{plen}{', 0)' if clip else ''}"
        if kind == "table":
            n_pos = rng.choice([32, 64, 128])
            width = rng.choice([4, 8])
            table = _fresh(net, "gen_pos_table")
            net[table] = {"class": "variable", "shape": (n_pos, width), "add_batch_axis": False}
            feat = _fresh(unit, "gen_pos_emb")
            unit[feat] = {"class": "gather", "from": f"base:{table}", "position": pos, "axis": f"dim:{n_pos}",
                          "clip_to_valid": True}
            how += f"; {feat} = gather(base:{table} ({n_pos}x{width} variable), {pos})"
        else:
            posf = _fresh(unit, "gen_pos_float")
            unit[posf] = {"class": "cast", "from": pos, "dtype": "float32"}
            feat = _fresh(unit, "gen_pos_feat")
            unit[feat] = {"class": "expand_dims", "axis": "F", "from": posf}
            how += f"; {feat} = expand_dims(float({pos}))"
    desc = unit[user]
    value = desc.get("from")
    desc["from"] = [value, feat] if isinstance(value, str) else [*value, feat]
    return new, f"{rec}: {how0}; {how}; {user} reads {feat} too"


# ----------------------------------------------------------------------------------------------------
# prefix-lm-att


def op_prefix_lm_att(case: Case, rng: random.Random) -> Result:
    """A prefix-LM attention: over the source read whole through ``base:`` and over the loop history."""
    new, net = _copy(case)
    sites = []
    for r, c, _d in _label_sites(case, net):
        unit = net[r]["unit"]
        srcs = _sources(unit[c])
        if len(srcs) == 1 and srcs[0] in unit and _sources(unit[srcs[0]]):
            sites.append((r, c, srcs[0]))
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    # the layer that produces the scores' input (usually the readout / state), else the scores layer itself
    user = scores
    if unit[scores].get("class") in ("softmax", "linear") and rng.random() < 0.5:
        inner = [s for s in _sources(unit[scores]) if s in unit and unit[s].get("class") in ("linear", "rnn_cell")]
        if inner:
            user = inner[0]
    embeds = [k for k in _readers(unit, choice, f"prev:{choice}") if unit[k].get("class") == "linear"]
    hist_kind = rng.choice(["embed", "state", "prev-state"]) if embeds else rng.choice(["state", "prev-state"])
    state = next((s for s in _sources(unit[user]) if s in unit and s not in embeds), None) or user
    if hist_kind == "embed":
        hist_src = embeds[0]
    elif hist_kind == "state":
        hist_src = state if state != user else (embeds[0] if embeds else state)
    else:
        hist_src = f"prev:{state}"
    att_dim = rng.choice([4, 6])
    key = _fresh(unit, "hist_key")
    fdim = {"__dim__": {"description": f"{rec}-{key}-feat", "dimension": att_dim, "kind": "feature"}}
    tdim = {"__dim__": {"description": f"{rec}-{key}-time", "dimension": None, "kind": "spatial"}}
    parts = []
    # self-attention over the loop history
    unit[key] = {"class": "linear", "activation": None, "from": hist_src, "out_dim": dict(fdim)}
    cum = _fresh(unit, "hist_keys")
    unit[cum] = {"class": "cum_concat", "from": key, "out_spatial_dim": dict(tdim)}
    query = _fresh(unit, "hist_query")
    q_src = hist_src if hist_kind != "prev-state" or rng.random() < 0.5 else state
    unit[query] = {"class": "linear", "activation": None, "from": q_src, "out_dim": dict(fdim)}
    energy = _fresh(unit, "hist_energy")
    unit[energy] = {"class": "dot", "from": [cum, query], "reduce": dict(fdim), "var1": "auto", "var2": "auto"}
    weights = _fresh(unit, "hist_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": energy, "axis": dict(tdim)}
    hist_att = _fresh(unit, "hist_att")
    unit[hist_att] = {"class": "dot", "from": [weights, cum], "reduce": dict(tdim), "var1": "auto", "var2": "auto"}
    parts.append(hist_att)
    how = (f"{rec}: self-attention over cum_concat({key} = linear({hist_src})) with query linear({q_src}) "
           f"-> {hist_att}")
    # attention over the source read whole
    if rng.random() < 0.75:
        src = _encoder(net, rec) or _input_key(case)
        src_ref = src if src in net else f"data:{src}" if src != "data" else "data"
        ctx = _fresh(net, "prefix_src_ctx")
        net[ctx] = {"class": "linear", "activation": None, "from": src_ref, "n_out": att_dim}
        no_base = rng.random() < 0.1
        ctx_ref = ctx if no_base else f"base:{ctx}"
        s_tr = _fresh(unit, "src_query")
        unit[s_tr] = {"class": "linear", "activation": None, "with_bias": False, "from": q_src, "n_out": att_dim}
        e_in = _fresh(unit, "src_energy_in")
        unit[e_in] = {"class": "combine", "kind": "add", "from": [ctx_ref, s_tr], "n_out": att_dim}
        e_tanh = _fresh(unit, "src_energy_tanh")
        unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
        e = _fresh(unit, "src_energy")
        unit[e] = {"class": "linear", "activation": None, "with_bias": False, "from": e_tanh, "n_out": 1}
        w = _fresh(unit, "src_weights")
        unit[w] = {"class": "softmax_over_spatial", "from": e}
        att = _fresh(unit, "src_att")
        unit[att] = {"class": "generic_attention", "weights": w, "base": f"base:{src_ref}"}
        parts.append(att)
        how += f"; MLP attention over {ctx_ref} (linear of {src_ref}) -> {att}"
    desc = unit[user]
    value = desc.get("from")
    desc["from"] = [value, *parts] if isinstance(value, str) else [*value, *parts]
    return new, f"{how}; {user} reads {', '.join(parts)}"


FRESH119_OPERATORS: tuple[Op, ...] = (
    Op("prompt-gather-feed", op_prompt_gather_feed, 1.2),
    Op("prompt-forced-choice", op_prompt_forced_choice, 1.2),
    Op("prompt-end-gate", op_prompt_end_gate, 1),
    Op("prompt-offset-pos", op_prompt_offset_pos, 0.8),
    Op("prefix-lm-att", op_prefix_lm_att, 1),
)
