"""A seventy-eighth set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Random decoder synthesis, second grammar: an operator replaces a searching decoder's unit of the base by a
Transformer-style or structured decoder composed at random (``_Trafo``), on the base's encoder and root, which
stay (none a variant of an earlier operator, in particular not of the LSTM + dot-attention grammar of
``synth-*``; no rule was written for any of them). The building blocks: a target embedding (``linear`` over
``prev:CHOICE``, or ``prev:`` of an embedding of this frame's choice; maybe scaled by an ``eval``, maybe with a
``positional_encoding`` added; the loop's input frame ``data:source`` embedded and added where the decoder loops
over an input), 1 to 3 blocks of: self-attention over the decoded history (a ``self_attention`` layer with
``attention_left_only``, or by hand: ``cum_concat`` of the block input with its own spatial dim tag, keys a
``linear`` over the history, a query of the block input, ``dot`` over a shared feature dim tag,
``softmax_over_spatial`` over the history dim, ``dot`` of the weights with the history), cross attention over a
``base:`` encoder sequence (multi-head: query ``linear`` + ``split_dims`` into heads, keys / values projected
and split either at the root or in the loop from ``base:ENC``, ``dot`` with ``red1``/``red2`` -1,
``softmax_over_spatial`` with an ``energy_factor``, ``generic_attention``, ``merge_dims``, an output ``linear``),
a feed-forward pair of ``linear`` layers; each sub-block residual (``combine`` add) with ``layer_norm`` before
(pre-norm) or after (post-norm); then maybe a final ``layer_norm``, the scores (a ``softmax`` over the decoder
state, maybe with a time-less root value, with the target and a ``ce`` loss, or ``n_out`` only), the choice
(the old one's target, beam size kept or redrawn), ``end`` (where the old unit had one or the loop has no
input) and ``output``; a root reader of ``REC/X`` gets an ``X`` copy of the choice or the scores. References are
type-correct so that the decoders build in training; the beam-related variety comes from where this frame's
choice and the loop's layers are read:

* ``trafo-synth``: the unit replaced by a synthesized Transformer decoder; now and then (about 0.45) with one
  twist: a root output layer reading a block's output ``REC/X`` (a beamed loop state), or the hand-made
  history ``REC/CUM`` (the ``cum_concat``), or the ``self_attention`` layer (the loop layer marked an output
  layer); a ``decide`` in the loop over the
  last block's output read by the scores; a ``self_attention`` over an embedding of this frame's choice, marked
  an output layer (an output-side history); or a root ``decide`` of ``REC/X`` of a block output (marked an
  output layer);
* ``cum-history-synth``: the unit replaced by a synthesized decoder whose history attention is the hand-made
  ``cum_concat`` one, over: the embedding of ``prev:CHOICE`` (the usual form), a recurrent state (a ``linear``
  reading ``prev:`` of itself, or an ``rnn_cell``), or an embedding of this frame's choice (the history built
  after the choice: the attention over it is computed with a query of that embedding and read by the next
  frame as ``prev:CTX``; or the usual history plus a second ``cum_concat`` of this frame's choice embedded,
  attended with a query of that embedding, the context an output layer read by nothing); maybe a root output
  layer reading one of the attention contexts ``REC/CTX`` (the loop layer marked an output layer);
* ``masked-state-synth``: a synthesized Transformer decoder with an extra state in a ``masked_computation``
  (an LSTM ``rec``, a ``linear``, a ``self_attention`` with ``attention_left_only``, or a ``subnetwork`` of an
  embedding and an LSTM) over an embedding (``linear``) of the label, updated only where the mask is set: the
  mask a ``compare`` of ``prev:CHOICE`` (``not_equal`` a label), or ``prev:`` of a ``compare`` of this frame's
  choice (``initial_output`` True), both read by the scores in the frame (added to the decoder input or read
  by the scores); or a mask of this frame's choice with the masked state over this frame's label, read by the
  next frame as ``prev:STATE``; maybe through an ``unmask``; maybe marked an output layer and read at the root
  (``REC/STATE``, or a root ``decide`` of it);
* ``coarse-fine-synth``: a synthesized Transformer decoder with two choices per frame: a coarse one (target
  another sparse key of the case where there is one, else the same key) over scores of the decoder state, and
  the fine one (the old choice's target) over scores reading the state and an embedding of this frame's coarse
  choice, or a second cross attention whose query reads that embedding, or only ``prev:`` of the coarse
  choice; the fed-back label embedding of ``prev:FINE`` maybe added to one of ``prev:COARSE``; beam sizes drawn
  (the fine one maybe 1); ``end`` on either, ``output`` the fine choice (or a copy of the coarse), the rec's
  target kept, the fine one's key or both keys.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import Case, Op, _copy, _fresh, _layers, _sparse_keys, _target_dim
from .mutations_fresh72 import _encoder_values, _finish, _loop_input, _sites

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH76_SEED = 20270138
N_FRESH76 = 80

Result = "tuple[Case, str] | None"

MODEL_DIMS = (16, 32, 64)
HEADS = (1, 2, 4)


def _dim(desc: str, dim: int | None, kind: str) -> dict[str, Any]:
    return {"__dim__": {"description": desc, "dimension": dim, "kind": kind}}


class _Trafo:
    """Builds a Transformer-style decoder into ``unit`` (and projections at the root of ``net``)."""

    def __init__(self, case: Case, net: dict[str, Any], rec: str, rng: random.Random, d: int | None = None):
        self.rng = rng
        self.net = net
        self.rec = rec
        self.unit: dict[str, Any] = {}
        self.seqs, self.flat = _encoder_values(case, rec)
        self.d = d or rng.choice(MODEL_DIMS)
        self.inp = _loop_input(case, rec)
        self.cums: list[str] = []
        self.self_atts: list[str] = []
        self.blocks: list[str] = []
        self.notes: list[str] = []

    def name(self, base: str) -> str:
        return _fresh(set(self.unit), base)

    def put(self, base: str, desc: dict[str, Any]) -> str:
        name = self.name(base)
        self.unit[name] = desc
        return name

    def tag(self, what: str) -> str:
        """A dim tag description unique to this decoder."""
        return f"{self.rec}-{what}"

    # --- input side --------------------------------------------------------------------------------

    def embed_label(self, choice: str) -> str:
        """The fed-back label embedding; returns the reference the decoder reads."""
        d = self.d
        if self.rng.random() < 0.7:
            emb = self.put("target_embed_raw", {"class": "linear", "activation": None, "with_bias": False,
                                                "from": [f"prev:{choice}"], "n_out": d})
            ref = emb
            self.notes.append(f"{emb} embeds prev:{choice}")
        else:
            emb = self.put("target_embed_raw", {"class": "linear", "activation": None, "with_bias": False,
                                                "from": [choice], "n_out": d, "initial_output": 0})
            ref = f"prev:{emb}"
            self.notes.append(f"prev:{emb} (an embedding of this frame's {choice}) fed back")
        if self.rng.random() < 0.4:
            ref = self.put("target_embed_scaled", {"class": "eval", "eval": f"source(0) * {d ** 0.5:.4f}",
                                                   "from": [ref]})
        if self.rng.random() < 0.3:
            ref = self.put("target_embed_pos", {"class": "positional_encoding", "add_to_input": True,
                                                "from": [ref]})
        if self.inp is not None:
            if self.inp[1] == "label":
                proj = self.put("input_embed", {"class": "linear", "activation": None, "with_bias": False,
                                                "from": ["data:source"], "n_out": d})
            else:
                proj = self.put("input_proj", {"class": "linear", "activation": None, "from": ["data:source"],
                                               "n_out": d})
            ref = self.put("input_plus_label", {"class": "combine", "kind": "add", "from": [ref, proj]})
            self.notes.append(f"the loop input embedded in {proj} and added")
        return ref

    # --- sub-blocks --------------------------------------------------------------------------------

    def self_attention(self, x: str, blk: int) -> str:
        heads = self.rng.choice([h for h in HEADS if self.d % h == 0])
        att = self.put(f"dec_{blk}_self_att", {"class": "self_attention", "from": [x], "n_out": self.d,
                                               "num_heads": heads, "total_key_dim": self.d,
                                               "attention_left_only": True})
        if self.rng.random() < 0.3:
            att = self.put(f"dec_{blk}_self_att_lin", {"class": "linear", "activation": None,
                                                       "with_bias": False, "from": [att], "n_out": self.d})
        self.self_atts.append(att)
        return att

    def cum_attention(self, x: str, blk: int, *, hist_src: str | None = None, query_src: str | None = None,
                      prefix: str | None = None) -> tuple[str, str]:
        """Hand-made attention over ``cum_concat`` of ``hist_src`` (default ``x``) with a query of
        ``query_src`` (default ``x``); returns (context, cum layer). The context has ``hist_src``'s
        feature dim."""
        p = prefix or f"dec_{blk}_hist"
        hist_dim = _dim(self.tag(f"{p}-time"), None, "spatial")
        key_dim = _dim(self.tag(f"{p}-key"), self.rng.choice([8, 16]), "feature")
        cum = self.put(f"{p}_cum", {"class": "cum_concat", "from": [hist_src or x], "out_spatial_dim": hist_dim})
        keys = self.put(f"{p}_keys", {"class": "linear", "activation": None, "with_bias": False, "from": [cum],
                                      "out_dim": key_dim})
        query = self.put(f"{p}_query", {"class": "linear", "activation": None, "with_bias": False,
                                        "from": [query_src or x], "out_dim": key_dim})
        energy = self.put(f"{p}_energy", {"class": "dot", "from": [keys, query], "reduce": key_dim,
                                          "var1": "auto", "var2": "auto"})
        weights = self.put(f"{p}_weights", {"class": "softmax_over_spatial", "from": [energy], "axis": hist_dim})
        ctx = self.put(f"{p}_ctx", {"class": "dot", "from": [weights, cum], "reduce": hist_dim,
                                    "var1": "auto", "var2": "auto"})
        self.cums.append(cum)
        return ctx, cum

    def cross_attention(self, x: str, blk: int, *, query_extra: str | None = None) -> str | None:
        if not self.seqs:
            return None
        named = [v for v in self.seqs if v[0] == "base:encoder"]
        enc = (named[0] if named and self.rng.random() < 0.7 else self.rng.choice(self.seqs))[0]
        heads = self.rng.choice(HEADS)
        dk = self.rng.choice([4, 8, 16])
        p = f"dec_{blk}_att"
        q_srcs = [x] + ([query_extra] if query_extra else [])
        q0 = self.put(f"{p}_query0", {"class": "linear", "activation": None, "with_bias": False, "from": q_srcs,
                                      "n_out": heads * dk})
        q = self.put(f"{p}_query", {"class": "split_dims", "axis": "F", "dims": [heads, dk], "from": [q0]})
        kv = {}
        at_root = self.rng.random() < 0.6
        for what in ("key", "value"):
            lin = {"class": "linear", "activation": None, "with_bias": False, "from": [enc], "n_out": heads * dk}
            if at_root:
                lin["from"] = [enc.removeprefix("base:")]
                n0 = _fresh(self.net, f"{self.rec}_{p}_{what}0")
                self.net[n0] = lin
                n1 = _fresh(self.net, f"{self.rec}_{p}_{what}")
                self.net[n1] = {"class": "split_dims", "axis": "F", "dims": [heads, dk], "from": [n0]}
                kv[what] = f"base:{n1}"
            else:
                n0 = self.put(f"{p}_{what}0", lin)
                kv[what] = self.put(f"{p}_{what}", {"class": "split_dims", "axis": "F", "dims": [heads, dk],
                                                    "from": [n0]})
        energy = self.put(f"{p}_energy", {"class": "dot", "from": [kv["key"], q], "red1": -1, "red2": -1,
                                          "var1": "T", "var2": "T?"})
        weights = self.put(f"{p}_weights", {"class": "softmax_over_spatial", "from": [energy],
                                            "energy_factor": round(dk ** -0.5, 4)})
        ctx0 = self.put(f"{p}0", {"class": "generic_attention", "weights": weights, "base": kv["value"]})
        ctx = self.put(f"{p}_att", {"class": "merge_dims", "axes": "static", "from": [ctx0]})
        self.notes.append(f"block {blk}: {heads}-head cross attention over {enc} (keys/values "
                          f"{'at the root' if at_root else 'in the loop'})")
        return self.put(f"{p}_lin", {"class": "linear", "activation": None, "with_bias": False, "from": [ctx],
                                     "n_out": self.d})

    def ff(self, x: str, blk: int) -> str:
        h = self.put(f"dec_{blk}_ff1", {"class": "linear", "activation": "relu", "from": [x],
                                        "n_out": 2 * self.d})
        return self.put(f"dec_{blk}_ff2", {"class": "linear", "activation": None, "from": [h], "n_out": self.d})

    def residual(self, x: str, blk: int, what: str, sub, pre_norm: bool) -> str:
        """``x`` + ``sub(input)`` with layer norm before (pre-norm) or after (post-norm)."""
        inp = self.put(f"dec_{blk}_{what}_ln", {"class": "layer_norm", "from": [x]}) if pre_norm else x
        out = sub(inp)
        if out is None:
            if pre_norm:
                del self.unit[inp]
            return x
        res = self.put(f"dec_{blk}_{what}_out", {"class": "combine", "kind": "add", "from": [x, out]})
        if not pre_norm:
            res = self.put(f"dec_{blk}_{what}_post_ln", {"class": "layer_norm", "from": [res]})
        return res

    def block(self, x: str, blk: int, *, cum: bool | None = None, pre_norm: bool = True) -> str:
        use_cum = self.rng.random() < 0.3 if cum is None else cum
        if use_cum:
            x = self.residual(x, blk, "self_att", lambda i: self.cum_attention(i, blk)[0], pre_norm)
        else:
            x = self.residual(x, blk, "self_att", lambda i: self.self_attention(i, blk), pre_norm)
        if self.rng.random() < 0.85:
            x = self.residual(x, blk, "att", lambda i: self.cross_attention(i, blk), pre_norm)
        if self.rng.random() < 0.75:
            x = self.residual(x, blk, "ff", lambda i: self.ff(i, blk), pre_norm)
        self.blocks.append(x)
        return x

    def stack(self, x: str, n: int, **kw: Any) -> str:
        pre_norm = self.rng.random() < 0.7
        for blk in range(1, n + 1):
            x = self.block(x, blk, pre_norm=pre_norm, **kw)
        if pre_norm and self.rng.random() < 0.8:
            x = self.put("decoder", {"class": "layer_norm", "from": [x]})
        self.notes.append(f"{n} block(s), {'pre' if pre_norm else 'post'}-norm")
        return x

    def scores(self, srcs: list[str], key: str, vocab: int, base: str = "output_prob") -> str:
        refs = list(srcs)
        if self.flat and self.rng.random() < 0.3:
            refs.append(self.rng.choice(self.flat)[0])
        desc: dict[str, Any] = {"class": "softmax", "from": refs}
        style = self.rng.random()
        if style < 0.6:
            desc.update(target=key, loss="ce")
        elif style < 0.8:
            desc.update(target=key, loss="ce", loss_opts={"label_smoothing": 0.1}, dropout=0.1)
        else:
            desc["n_out"] = vocab
        return self.put(base, desc)


def _choice(rng: random.Random, key: str, old: dict[str, Any], prob: str) -> dict[str, Any]:
    beam = old.get("beam_size", 4)
    if not isinstance(beam, int) or rng.random() < 0.3:
        beam = rng.choice([1, 2, 4, 8, 12])
    return {"class": "choice", "target": key, "beam_size": beam, "from": [prob], "initial_output": 0}


def _site(case: Case, rng: random.Random) -> tuple[str, str, str, int] | None:
    sites = _sites(case)
    return rng.choice(sites) if sites else None


def _describe(rec: str, what: str, t: _Trafo, notes: list[str]) -> str:
    return f"{rec}: unit replaced by {what} of {len(t.unit)} layers; {'; '.join(t.notes + notes)}"


# ----------------------------------------------------------------------------------------------------
# Operators


def op_trafo_synth(case: Case, rng: random.Random) -> Result:
    """The searching decoder's unit replaced by a synthesized Transformer decoder, maybe with one twist."""
    site = _site(case, rng)
    if site is None:
        return None
    new, net = _copy(case)
    rec, choice, key, vocab = site
    old_unit = net[rec]["unit"]
    t = _Trafo(case, net, rec, rng)
    x = t.embed_label(choice)
    dec = t.stack(x, rng.randint(1, 3))
    notes: list[str] = []
    twist = rng.choice(["none"] * 6 + ["root-state", "root-history", "root-self-att", "decide-in-loop",
                                       "output-self-att", "root-decide"])
    score_srcs = [dec]
    if twist == "decide-in-loop":
        dname = t.put("decided_state", {"class": "decide", "from": [t.blocks[-1]]})
        score_srcs.append(dname)
        notes.append(f"{dname}: a decide of {t.blocks[-1]} read by the scores")
    prob = t.scores(score_srcs, key, vocab)
    t.unit[choice] = _choice(rng, key, old_unit.get(choice, {}), prob)
    unit = t.unit
    if twist == "root-state":
        src = rng.choice(t.blocks)
        root = _fresh(net, f"{rec}_state")
        unit[src]["is_output_layer"] = True
        net[root] = {"class": "copy", "from": [f"{rec}/{src}"], "is_output_layer": True}
        notes.append(f"root {root} (an output layer) reads {rec}/{src} (marked an output layer)")
    elif twist == "root-history" and t.cums:
        src = rng.choice(t.cums)
        root = _fresh(net, f"{rec}_history")
        unit[src]["is_output_layer"] = True
        net[root] = {"class": "copy", "from": [f"{rec}/{src}"], "is_output_layer": True}
        notes.append(f"root {root} (an output layer) reads the cum_concat {rec}/{src}")
    elif twist in ("root-self-att", "root-history") and t.self_atts:
        src = rng.choice(t.self_atts)
        root = _fresh(net, f"{rec}_self_att")
        unit[src]["is_output_layer"] = True
        net[root] = {"class": "copy", "from": [f"{rec}/{src}"], "is_output_layer": True}
        notes.append(f"root {root} (an output layer) reads the self-attention {rec}/{src}")
    elif twist == "output-self-att":
        emb = t.put("choice_embed", {"class": "linear", "activation": None, "with_bias": False,
                                     "from": [choice], "n_out": t.d})
        att = t.put("choice_history", {"class": "self_attention", "from": [emb], "n_out": t.d, "num_heads": 1,
                                       "total_key_dim": t.d, "attention_left_only": True,
                                       "is_output_layer": True})
        notes.append(f"{att}: a self_attention over {emb} (this frame's {choice} embedded), an output layer")
    elif twist == "root-decide":
        src = rng.choice(t.blocks)
        root = _fresh(net, f"{rec}_state_decided")
        unit[src]["is_output_layer"] = True
        net[root] = {"class": "decide", "from": [f"{rec}/{src}"], "is_output_layer": True}
        notes.append(f"root {root}: a decide of {rec}/{src}, an output layer")
    notes += _finish(case, net, rec, unit, choice, prob, t.inp, old_unit)
    return new, _describe(rec, "a synthesized Transformer decoder", t, notes)


def op_cum_history_synth(case: Case, rng: random.Random) -> Result:
    """A synthesized decoder whose history attention is a hand-made ``cum_concat`` over one of several
    sources (the previous label, a recurrent state, this frame's label)."""
    site = _site(case, rng)
    if site is None:
        return None
    new, net = _copy(case)
    rec, choice, key, vocab = site
    old_unit = net[rec]["unit"]
    t = _Trafo(case, net, rec, rng)
    x = t.embed_label(choice)
    source = rng.choice(["prev-label", "prev-label", "state", "choice-ctx", "choice-output-cum"])
    notes: list[str] = []
    if source == "prev-label":
        ctx, cum = t.cum_attention(x, 0, prefix="label_hist")
        x = t.put("label_hist_out", {"class": "combine", "kind": "add", "from": [x, ctx]})
        notes.append(f"{cum}: cum_concat of the label embedding, attended with its query")
    elif source == "state":
        if rng.random() < 0.5:
            state = t.put("state", {"class": "rnn_cell", "unit": "LSTMBlock", "from": [x], "n_out": t.d})
            how = "an rnn_cell"
        else:
            state = t.name("state")
            t.unit[state] = {"class": "linear", "activation": "tanh", "from": [x, f"prev:{state}"], "n_out": t.d}
            how = "a linear reading prev: of itself"
        ctx, cum = t.cum_attention(state, 0, prefix="state_hist")
        x = t.put("state_hist_out", {"class": "combine", "kind": "add", "from": [state, ctx]})
        notes.append(f"{cum}: cum_concat of {state} ({how})")
    else:
        emb = t.put("choice_embed", {"class": "linear", "activation": None, "with_bias": False,
                                     "from": [choice], "n_out": t.d})
        if source == "choice-ctx":
            ctx, cum = t.cum_attention(emb, 0, prefix="choice_hist")
            t.unit[ctx]["initial_output"] = 0
            x = t.put("choice_hist_in", {"class": "combine", "kind": "add", "from": [x, f"prev:{ctx}"]})
            notes.append(f"{cum}: cum_concat of {emb} (this frame's {choice}); prev:{ctx} read by the next frame")
        else:
            ctx, cum = t.cum_attention(x, 0, prefix="label_hist")
            x = t.put("label_hist_out", {"class": "combine", "kind": "add", "from": [x, ctx]})
            out_ctx, out_cum = t.cum_attention(emb, 0, prefix="choice_hist")
            t.unit[out_ctx]["is_output_layer"] = True
            notes.append(f"{cum}: cum_concat of the label embedding, attended with its query; {out_cum}: "
                         f"cum_concat of {emb} (this frame's {choice}) attended with a query of it in {out_ctx}, "
                         f"an output layer read by nothing")
    dec = t.stack(x, rng.randint(0, 2), cum=False) if t.seqs or rng.random() < 0.5 else x
    prob = t.scores([dec], key, vocab)
    t.unit[choice] = _choice(rng, key, old_unit.get(choice, {}), prob)
    if rng.random() < 0.3:
        cands = sorted(k for k in t.unit if k.endswith("_ctx"))
        src = rng.choice(cands)
        root = _fresh(net, f"{rec}_{src}")
        t.unit[src]["is_output_layer"] = True
        net[root] = {"class": "copy", "from": [f"{rec}/{src}"], "is_output_layer": True}
        notes.append(f"root {root} (an output layer) reads {rec}/{src}")
    notes += _finish(case, net, rec, t.unit, choice, prob, t.inp, old_unit)
    return new, _describe(rec, "a synthesized decoder with a cum_concat history", t, notes)


def _masked_unit(rng: random.Random, d: int) -> tuple[dict[str, Any], str]:
    kind = rng.choice(["lstm", "linear", "self_att", "subnet"])
    if kind == "lstm":
        return {"class": "rec", "unit": rng.choice(["nativelstm2", "standardlstm"]), "from": "data",
                "n_out": d}, "an LSTM"
    if kind == "linear":
        return {"class": "linear", "activation": "tanh", "from": "data", "n_out": d}, "a linear"
    if kind == "self_att":
        return {"class": "self_attention", "from": "data", "n_out": d, "num_heads": 1, "total_key_dim": d,
                "attention_left_only": True}, "a self_attention"
    return {"class": "subnetwork", "from": "data", "subnetwork": {
        "input_embed": {"class": "linear", "activation": None, "from": "data", "n_out": d},
        "lstm": {"class": "rec", "unit": "nativelstm2", "from": "input_embed", "n_out": d},
        "output": {"class": "copy", "from": "lstm"}}}, "a subnetwork (embedding + LSTM)"


def op_masked_state_synth(case: Case, rng: random.Random) -> Result:
    """A synthesized Transformer decoder with an extra state in a ``masked_computation`` masked by the
    choice (the previous frame's or this frame's)."""
    site = _site(case, rng)
    if site is None:
        return None
    new, net = _copy(case)
    rec, choice, key, vocab = site
    old_unit = net[rec]["unit"]
    t = _Trafo(case, net, rec, rng)
    x = t.embed_label(choice)
    label = rng.randrange(0, max(2, min(vocab, 4)))
    mode = rng.choice(["prev-compare", "prev-mask", "this-choice"])
    unit_desc, how = _masked_unit(rng, t.d)
    notes: list[str] = []
    if mode == "prev-compare":
        mask = t.put("lm_mask", {"class": "compare", "from": [f"prev:{choice}"], "kind": "not_equal",
                                 "value": label})
        mask_ref, src = mask, f"prev:{choice}"
        notes.append(f"{mask}: prev:{choice} != {label}")
    elif mode == "prev-mask":
        mask = t.put("lm_mask", {"class": "compare", "from": [choice], "kind": "not_equal", "value": label,
                                 "initial_output": True})
        mask_ref, src = f"prev:{mask}", f"prev:{choice}"
        notes.append(f"{mask}: {choice} != {label} (initial True), read as prev:{mask}")
    else:
        mask = t.put("lm_mask", {"class": "compare", "from": [choice], "kind": "not_equal", "value": label})
        mask_ref, src = mask, choice
        notes.append(f"{mask}: this frame's {choice} != {label}")
    lm_in = t.put("lm_input", {"class": "linear", "activation": None, "with_bias": False, "from": [src],
                               "n_out": t.d})
    lm = t.put("lm", {"class": "masked_computation", "mask": mask_ref, "from": [lm_in], "unit": unit_desc})
    read = lm
    if rng.random() < 0.3:
        read = t.put("lm_unmasked", {"class": "unmask", "from": [lm], "mask": mask_ref})
    notes.append(f"{lm}: masked_computation of {how} over {lm_in} (an embedding of {src}), mask {mask_ref}"
                 + (f", read through {read} (unmask)" if read != lm else ""))
    if mode == "this-choice":
        lm_ref = f"prev:{read}"
    else:
        lm_ref = read
    lm_proj = t.put("lm_proj", {"class": "linear", "activation": None, "from": [lm_ref], "n_out": t.d})
    where = rng.random()
    if where < 0.5:
        x = t.put("label_plus_lm", {"class": "combine", "kind": "add", "from": [x, lm_proj]})
        dec = t.stack(x, rng.randint(1, 2))
        srcs = [dec]
        notes.append(f"{lm_ref} added to the decoder input")
    else:
        dec = t.stack(x, rng.randint(1, 2))
        srcs = [dec, lm_proj]
        notes.append(f"{lm_ref} read by the scores")
    prob = t.scores(srcs, key, vocab)
    t.unit[choice] = _choice(rng, key, old_unit.get(choice, {}), prob)
    r = rng.random()
    if r < 0.2:
        t.unit[lm]["is_output_layer"] = True
        root = _fresh(net, f"{rec}_lm")
        net[root] = {"class": "copy", "from": [f"{rec}/{lm}"], "is_output_layer": True}
        notes.append(f"{lm} an output layer, read at the root by {root}")
    elif r < 0.35:
        t.unit[lm]["is_output_layer"] = True
        root = _fresh(net, f"{rec}_lm_decided")
        net[root] = {"class": "decide", "from": [f"{rec}/{lm}"], "is_output_layer": True}
        notes.append(f"{lm} an output layer; root {root} a decide of it")
    notes += _finish(case, net, rec, t.unit, choice, prob, t.inp, old_unit)
    return new, _describe(rec, "a synthesized Transformer decoder with a masked state", t, notes)


def op_coarse_fine_synth(case: Case, rng: random.Random) -> Result:
    """A synthesized Transformer decoder choosing a coarse class and then the fine label every frame."""
    site = _site(case, rng)
    if site is None:
        return None
    new, net = _copy(case)
    rec, choice, key, vocab = site
    old_unit = net[rec]["unit"]
    sparse = [k for k in _sparse_keys(case) if k != key and k != "data" and isinstance(_target_dim(case, k), int)]
    ckey = rng.choice(sparse) if sparse and rng.random() < 0.7 else key
    cvocab = _target_dim(case, ckey) or vocab
    t = _Trafo(case, net, rec, rng)
    coarse = t.name("coarse" if choice != "coarse" else "coarse_class")
    t.unit[coarse] = {}  # reserve the name
    x = t.embed_label(choice)
    notes: list[str] = [f"coarse choice {coarse} (target {ckey}), fine choice {choice} (target {key})"]
    if rng.random() < 0.4:
        cfb = t.put("coarse_embed_prev", {"class": "linear", "activation": None, "with_bias": False,
                                          "from": [f"prev:{coarse}"], "n_out": t.d})
        x = t.put("label_pair_embed", {"class": "combine", "kind": "add", "from": [x, cfb]})
        notes.append(f"prev:{coarse} embedded ({cfb}) and added to the label embedding")
    dec = t.stack(x, rng.randint(1, 2))
    cprob = t.scores([dec], ckey, cvocab, base="coarse_prob")
    cbeam = rng.choice([1, 2, 4, 8])
    t.unit[coarse] = {"class": "choice", "target": ckey, "beam_size": cbeam, "from": [cprob], "initial_output": 0}
    how = rng.choice(["embed", "embed", "cross", "prev"])
    cemb = t.put("coarse_embed", {"class": "linear", "activation": None, "with_bias": False,
                                  "from": [coarse if how != "prev" else f"prev:{coarse}"], "n_out": t.d})
    srcs = [dec, cemb]
    if how == "cross":
        ctx = t.cross_attention(dec, 9, query_extra=cemb)
        if ctx is not None:
            srcs = [dec, ctx]
            notes.append(f"the fine scores read a second cross attention whose query reads {cemb} "
                         f"(this frame's {coarse})")
        else:
            notes.append(f"the fine scores read {cemb} (this frame's {coarse})")
    elif how == "prev":
        notes.append(f"the fine scores read {cemb} (prev:{coarse} only)")
    else:
        notes.append(f"the fine scores read {cemb} (this frame's {coarse})")
    prob = t.scores(srcs, key, vocab)
    fold = old_unit.get(choice, {})
    t.unit[choice] = _choice(rng, key, fold, prob)
    if rng.random() < 0.3:
        t.unit[choice]["beam_size"] = 1
    notes.append(f"beams {coarse}: {cbeam}, {choice}: {t.unit[choice]['beam_size']}")
    end_on = rng.choice([choice, coarse])
    if t.inp is None or "end" in old_unit:
        t.unit["end"] = {"class": "compare", "from": [end_on], "value": 0}
        notes.append(f"end on {end_on}")
    if choice != "output":
        out_on = rng.choice([choice, choice, coarse])
        t.unit["output"] = {"class": "copy", "from": [out_on]}
        notes.append(f"output a copy of {out_on}")
    tgt = rng.random()
    if tgt < 0.25 and ckey != key:
        net[rec]["target"] = [key, ckey]
    elif tgt < 0.45:
        net[rec]["target"] = key
    notes.append(f"rec target {net[rec].get('target')!r}")
    notes += _finish(case, net, rec, t.unit, choice, prob, t.inp, old_unit)
    return new, _describe(rec, "a synthesized coarse/fine Transformer decoder", t, notes)


FRESH76_OPERATORS: tuple[Op, ...] = (
    Op("trafo-synth", op_trafo_synth, 1.5),
    Op("cum-history-synth", op_cum_history_synth, 1),
    Op("masked-state-synth", op_masked_state_synth, 1),
    Op("coarse-fine-synth", op_coarse_fine_synth, 1),
)
