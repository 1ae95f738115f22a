"""A ninety-fifth set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: a shape fuzzer on the beam path. Every operator inserts a random chain of 2 to 5 shape / axis operations
between two points of a searching decoder, composed at random (``_Chain``) from RETURNN's shape layers with
their real options (read in the installed ``returnn/tf/layers/basic.py``: ``SliceLayer``, ``GatherLayer`` by a
constant index, by a label layer or by the loop's ``:i``, ``ExpandDimsLayer``, ``SqueezeLayer``, ``CopyLayer`` /
``ConcatLayer`` along ``F``, ``SplitLayer`` with a sub-layer ``a/0``, ``MergeDimsLayer``, ``SplitDimsLayer``,
``ReduceLayer`` (sum / max / mean / min / logsumexp / argmax over ``F``, ``T``, ``B`` or a static ``dim:K``,
``keep_dims``), ``SwitchLayer``, ``EvalLayer``, ``CombineLayer`` with broadcasting, ``CompareLayer``,
``CastLayer``, ``ReinterpretDataLayer`` (``set_sparse`` / ``set_sparse_dim``, ``enforce_batch_major`` /
``enforce_time_major``), ``SwapAxesLayer`` / ``TransposeLayer``, ``PadLayer``, ``WindowLayer`` and
``CumsumLayer`` (their recurrent in-loop form, ``is_axis_from_description_recurrent``, which keeps previous
frames as a state, and their form over a time axis), ``RangeInAxisLayer``, ``LengthLayer``, ``ConstantLayer``
with a ``shape``). A rough shape model (``_Sh``: batch, a time axis, static axes, the feature axis, a sparse
dim, the dtype) only picks operations whose options fit the tensor at that point, so failures come from the
shapes and beams, not from misspelled options. About half of the chains end with restoring steps towards the
shape the reader read before (so the network builds unless the beam says no); the others leave a wrong rank, a
wrong dim, a time axis where a frame is expected, labels where scores are expected or a lost batch axis (with
the fix-ups a user makes first: a ``cast`` where the reader wants floats, ``initial_output`` 0 on labels read
through ``prev:``). Binary
steps (combine, eval, concat, switch, compare, gather by a layer) draw their second input among the frame's
layers, ``prev:`` layers (values of the previous frame), the encoder (no beam), another searching decoder's
beamed root layers (another beam), the decoder's labels and constants, so chains often mix beams or frames
(none a variant of an earlier operator: the earlier fuzzers rewire data flow, draw layer classes or rewrite
layers; no rule was written for any of them):

* ``shapechain-frame``: between a loop layer and a reader of it in the same searching loop (a dense layer of
  the frame, or the labels: the choice read as ``prev:CHOICE`` by the label feedback, the choice read by the
  ``end``); the chain starts at ``X`` or ``prev:X`` and the reader reads its end, or starts at ``X`` and the
  reader reads ``prev:`` of its end (the chain then runs after the frame's choice). Targets: the loop's
  template construction and ``SearchChoices.translate_to_common_search_beam`` /
  ``SelectSearchSourcesLayer.select_if_needed`` on every step, the prev-frame search-choice resolution, the
  recurrent ``window`` / ``cumsum`` states (``get_rec_initial_extra_outputs``) under the beam, and the ``end``
  layer's checks in ``_SubnetworkRecCell.get_output``.
* ``shapechain-scores``: between the output distribution and the choice (the choice's scores go through the
  chain). Targets: ``ChoiceLayer.__init__`` / ``get_out_data_from_opts`` (the scores' shape ``(dim,)``, not
  sparse, the beam of the scores against the choice's own search choices), ``ChoiceLayer`` reading a value
  mixed with the previous frame or another beam.
* ``shapechain-encoder``: between an encoder layer read through ``base:`` and its loop reader, the chain built
  inside the loop on ``base:E`` (mixed there with beamed frame layers: the encoder has no beam) or at the root
  on ``E`` (the reader reads ``base:`` of its end). Targets: ``select_if_needed`` of root values inside the
  loop (``copy_extend_with_beam``), ``GatherLayer`` / ``SwitchLayer`` / ``CombineLayer`` on an unbeamed and a
  beamed input, the attention layers' ``base`` shapes.
* ``shapechain-after-loop``: after the loop, on the decoder's output (labels over the decoder's time) or on a
  loop layer read from the root (``REC/X``, mostly marked ``is_output_layer``), between it and its root reader
  (a ``decide`` or another layer: before ``decide``), between a ``decide`` and its reader or as a new output
  after a ``decide`` (after ``decide``), or as a new output chain ending in a new ``decide``. Targets:
  ``DecideLayer`` (its input's search choices, ``decide`` of a value whose beam came through the chain),
  ``SearchChoices.translate_to_common_search_beam`` at the root when the chain mixes the decoder's beam with
  another decoder's, the encoder, or the decided value.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from .mutations import (
    Case,
    Op,
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
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH93_SEED = 20270155
N_FRESH93 = 80

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# A rough shape model


@dataclass(frozen=True)
class _Sh:
    """What a chain knows of a tensor: batch axis, a time axis (``dyn``: a dynamic one; ``one``: a static
    size-1 time axis from ``expand_dims``), static non-feature axes, the feature axis (None: none; -1:
    unknown size), a sparse dim (labels; -1 unknown), dtype, time-major."""

    batch: bool = True
    time: str | None = None
    stat: tuple[int, ...] = ()
    feat: int | None = None
    sparse: int | None = None
    dtype: str = "float32"
    tmajor: bool = False

    def statics(self) -> list[int]:
        out = list(self.stat)
        if self.feat is not None:
            out.append(self.feat)
        if self.time == "one":
            out.append(1)
        return out

    def unique(self, k: int) -> bool:
        return k > 0 and self.statics().count(k) == 1

    def norm(self) -> _Sh:
        if self.feat is None and self.sparse is None and self.stat:
            return replace(self, feat=self.stat[-1], stat=self.stat[:-1])
        return self

    @property
    def dense_float(self) -> bool:
        return self.sparse is None and self.dtype == "float32"

    def text(self) -> str:
        axes = (["B"] if self.batch else []) + ({"dyn": ["T"], "dec": ["Tdec"], "one": ["T=1"]}.get(self.time or "", []))
        axes += [str(s) for s in self.stat]
        if self.feat is not None:
            axes.append(f"F={self.feat if self.feat >= 0 else '?'}")
        txt = "(" + ",".join(axes) + ")"
        if self.sparse is not None:
            txt += f" sparse {self.sparse if self.sparse >= 0 else '?'}"
        elif self.dtype != "float32":
            txt += f" {self.dtype}"
        return txt


def _union(a: _Sh, b: _Sh) -> _Sh | None:
    """The broadcast shape of two inputs of a combine / eval / switch, None where their features differ."""
    if a.feat is None or b.feat is None:
        feat = a.feat if b.feat is None else b.feat
    elif a.feat == b.feat or -1 in (a.feat, b.feat):
        feat = a.feat if a.feat == b.feat else -1
    else:
        return None
    if a.time and b.time and a.time != b.time:
        return None  # two different time axes
    time = a.time or b.time
    stat = a.stat if len(a.stat) >= len(b.stat) else b.stat
    return _Sh(batch=a.batch or b.batch, time=time, stat=stat, feat=feat, sparse=None, dtype=a.dtype,
               tmajor=a.tmajor)


def _ext(case: Case, key: str) -> tuple[int | None, bool]:
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict):
        return _target_dim(case, key), bool(ext.get("sparse") or ext.get("sparse_dim"))
    num = (case.get("num_outputs") or {}).get(key)
    if isinstance(num, list) and num:
        return (num[0] if isinstance(num[0], int) else None), num[1:] == [1]
    return (num if isinstance(num, int) else None), False


_SAME = ("copy", "activation", "dropout", "layer_norm", "eval", "combine", "switch", "scale_gradient",
         "positional_encoding", "cumsum", "batch_norm", "norm", "identity", "softmax_over_spatial", "decide",
         "decide_keep_beam", "math_norm", "elemwise_prod")
_NOUT = ("linear", "softmax", "rnn_cell", "gating", "self_attention", "conv", "dot_attention")


def _target_of(desc: dict[str, Any]) -> str | None:
    t = desc.get("target")
    if isinstance(t, str) and not t.startswith("layer:"):
        return t.removeprefix("data:")
    return None


def _state(case: Case, net: dict[str, Any], scope: dict[str, Any], ref: str, seen: frozenset = frozenset(),
           ) -> _Sh | None:
    """A rough shape of ``ref`` read in ``scope`` (the root net or a loop unit)."""
    in_loop = scope is not net
    if ref in seen or len(seen) > 12:
        return None
    seen = seen | {ref}
    if in_loop and ref.startswith("prev:"):
        return _state(case, net, scope, ref[len("prev:"):], seen)
    if in_loop and ref.startswith("base:"):
        return _state(case, net, net, ref[len("base:"):], seen)
    if ref == ":i":
        return _Sh(batch=False, dtype="int32") if in_loop else None
    if ref == "data" or ref.startswith("data:"):
        key = ref[len("data:"):] if ref.startswith("data:") else "data"
        if in_loop and key == "source":
            key = "data"
        dim, sparse = _ext(case, key)
        time = None if in_loop else "dyn"
        if sparse:
            return _Sh(time=time, sparse=dim if dim else -1, dtype="int32")
        return _Sh(time=time, feat=dim if dim else -1)
    if "/" in ref and not in_loop:
        head, sub = ref.split("/", 1)
        desc = net.get(head)
        if isinstance(desc, dict) and desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
            inner = _state(case, net, desc["unit"], sub, seen)
            return replace(inner, time="dec", tmajor=True) if inner and inner.time is None else None
        return None
    desc = scope.get(ref)
    if not isinstance(desc, dict):
        return None
    cls = desc.get("class")
    srcs = _sources(desc)
    first = _state(case, net, scope, srcs[0], seen) if srcs else None
    default = _Sh(time=None if in_loop else "dyn")
    if cls == "choice":
        dim = _target_dim(case, _target_of(desc))
        if desc.get("input_type") == "regression":
            return replace(first or default, feat=dim if dim else -1)
        if not isinstance(desc.get("target"), str):
            return None
        return replace(first or default, stat=(), feat=None, sparse=dim if dim else -1, dtype="int32")
    if cls in _NOUT:
        n = desc.get("n_out")
        if not isinstance(n, int) and cls == "softmax":
            n = _target_dim(case, _target_of(desc))
        base = first or default
        return replace(base, feat=n if isinstance(n, int) else -1, sparse=None, dtype="float32")
    if cls == "rec":
        unit = desc.get("unit")
        if isinstance(unit, dict):
            inner = _state(case, net, unit, "output", seen)
            return replace(inner, time="dec", tmajor=True) if inner and inner.time is None else None
        n = desc.get("n_out")
        base = first or default
        return replace(base, time=base.time if in_loop else "dyn", stat=(), sparse=None, dtype="float32",
                       feat=n if isinstance(n, int) else -1)
    if cls == "copy" and len(srcs) > 1:
        parts = [_state(case, net, scope, s, seen) for s in srcs]
        if any(p is None or p.feat is None for p in parts):
            return None
        feats = [p.feat for p in parts if p is not None]
        return replace(parts[0], feat=-1 if -1 in feats else sum(f for f in feats if f is not None))
    if cls in _SAME:
        return first
    if cls == "reduce" and first is not None:
        axes = desc.get("axes", desc.get("axis"))
        if axes in ("T", "t", "time") and first.time:
            if str(desc.get("mode", "")).startswith("arg"):
                return None
            return replace(first, time=None)
        return None
    if cls in ("generic_attention",):
        base = desc.get("base")
        b = _state(case, net, scope, base, seen) if isinstance(base, str) else None
        return replace(b, time=None) if b else None
    if cls == "compare" and first is not None:
        return replace(first, sparse=None, dtype="bool")
    return None


# ----------------------------------------------------------------------------------------------------
# The chain


Partner = tuple[str, _Sh, str]  # (reference, shape, what it is)


class _Chain:
    """A chain of shape layers in one scope, from ``start`` on; ``cur`` / ``sh`` the end and its shape."""

    def __init__(self, rng: random.Random, layers: dict[str, Any], prefix: str, start: str, sh: _Sh, *,
                 in_loop: bool, partners: list[Partner], labels: list[Partner], eos: int = 0) -> None:
        self.rng = rng
        self.layers = layers
        self.prefix = prefix.replace("/", "_").replace(":", "_")
        self.cur = start
        self.sh = sh
        self.in_loop = in_loop
        self.partners = partners
        self.labels = labels
        self.eos = eos
        self.steps: list[str] = []
        self.mixed: list[str] = []

    # -- plumbing

    def name(self, op: str) -> str:
        return _fresh(self.layers, f"{self.prefix}_{op}")

    def put(self, op: str, desc: dict[str, Any], sh: _Sh, text: str, *, ref: str | None = None) -> None:
        name = self.name(op)
        full = {"class": desc.pop("class"), "from": self.cur}
        full.update(desc)
        self.layers[name] = full
        self.cur = ref.format(name=name) if ref else name
        self.sh = sh.norm()
        self.steps.append(text)

    def side(self, op: str, desc: dict[str, Any]) -> str:
        name = self.name(op)
        self.layers[name] = desc
        return name

    def partner(self, want: str = "union") -> Partner | None:
        """A second input: one whose shape combines with the chain's (most of the time)."""
        pool = [p for p in self.partners if p[0] != self.cur and p[1].sparse is None]
        if want == "union":
            fit = [p for p in pool if _union(self.sh, p[1]) is not None and p[1].dtype == self.sh.dtype]
        else:  # concat along F: same other axes
            fit = [p for p in pool if p[1].feat is not None and p[1].batch == self.sh.batch
                   and p[1].time == self.sh.time and p[1].stat == self.sh.stat and p[1].dtype == self.sh.dtype]
        if not fit:
            return None
        if self.rng.random() < 0.06:  # now and then a partner whose shape does not fit
            fit = [p for p in pool if p[1].dtype == self.sh.dtype]
        p = self.rng.choice(fit)
        if p[2] not in ("frame", "root"):
            self.mixed.append(f"{p[0]} ({p[2]})")
        return p

    def label(self) -> Partner | None:
        if not self.labels:
            return None
        p = self.rng.choice(self.labels)
        if p[2] not in ("frame", "root"):
            self.mixed.append(f"{p[0]} ({p[2]})")
        return p


# -- the operations: each returns False (and changes nothing) where it does not fit the chain's tensor


def _o_slice(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.feat is not None and (sh.feat >= 2 or sh.feat == -1):
        forms.append("F")
    if sh.time in ("dyn", "dec"):
        forms.append("T")
    if not forms:
        return False
    axis = rng.choices(forms, [2 if f == "F" else 1 for f in forms])[0]
    if axis == "T":
        opt = rng.choice([{"slice_start": 1}, {"slice_step": 2}, {"slice_end": -1}])
        ch.put("slice", {"class": "slice", "axis": "T", **opt}, sh, f"slice T {opt}")
        return True
    n = sh.feat if sh.feat is not None and sh.feat > 0 else None
    kind = rng.choice(["start", "end", "step", "range"])
    if kind == "start" or n is None and kind == "range":
        opt = {"slice_start": 1}
    elif kind == "end":
        opt = {"slice_end": (n - 1) if n else -1}
    elif kind == "step":
        opt = {"slice_step": 2}
    else:
        assert n is not None
        a = rng.randrange(0, n - 1)
        opt = {"slice_start": a, "slice_end": rng.randrange(a + 1, n + 1)}
    new = len(range(n)[slice(opt.get("slice_start"), opt.get("slice_end"), opt.get("slice_step"))]) if n else -1
    ch.put("slice", {"class": "slice", "axis": "F", **opt}, replace(sh, feat=new), f"slice F {opt}")
    return True


def _o_gather(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.feat is not None and sh.sparse is None:
        forms += ["F-const", "F-label"]
    if sh.time in ("dyn", "dec"):
        forms.append("T-const")
        if ch.in_loop:
            forms += ["T-step", "T-step"]
    if sh.sparse is not None and ch.partners:
        forms.append("labels-as-position")
    if not forms:
        return False
    form = rng.choice(forms)
    if form == "F-const":
        n = sh.feat if sh.feat and sh.feat > 0 else 1
        pos = rng.randrange(n)
        ch.put("gather", {"class": "gather", "axis": "F", "position": pos}, replace(sh, feat=None),
               f"gather F at {pos}")
        return True
    if form == "T-const":
        pos = rng.choice([0, 0, 1])
        ch.put("gather", {"class": "gather", "axis": "T", "position": pos}, replace(sh, time=None),
               f"gather T at {pos}")
        return True
    if form == "T-step":
        ch.put("gather", {"class": "gather", "axis": "T", "position": ":i"}, replace(sh, time=None),
               "gather T at the step :i")
        return True
    if form == "F-label":
        lab = ch.label()
        if lab is None:
            return False
        out = replace(sh, feat=None, batch=sh.batch or lab[1].batch, time=sh.time or lab[1].time)
        ch.put("gather", {"class": "gather", "axis": "F", "position": lab[0]}, out, f"gather F at labels {lab[0]}")
        return True
    # the chain's labels index a dense partner's feature axis
    pool = [p for p in ch.partners if p[1].feat is not None and p[1].sparse is None]
    if not pool:
        return False
    p = rng.choice(pool)
    if p[2] not in ("frame", "root"):
        ch.mixed.append(f"{p[0]} ({p[2]})")
    name = ch.name("gather")
    ch.layers[name] = {"class": "gather", "from": p[0], "axis": "F", "position": ch.cur}
    ch.cur = name
    ch.sh = replace(p[1], feat=None, batch=True, time=p[1].time or sh.time, stat=p[1].stat).norm()
    ch.steps.append(f"gather F of {p[0]} at these labels")
    return True


def _o_expand(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = ["T"]
    if sh.sparse is None:
        forms += ["F", "F"]
    axis = rng.choice(forms)
    if axis == "F":
        stat = sh.stat + ((sh.feat,) if sh.feat is not None else ())
        out = replace(sh, stat=stat, feat=1)
    elif sh.time is None:
        out = replace(sh, time="one")
    else:
        out = replace(sh, stat=sh.stat + (1,))
    opt: dict[str, Any] = {"axis": axis}
    if rng.random() < 0.2 and axis == "F":
        opt["dim"] = k = rng.choice([2, 3])
        out = replace(out, feat=k)
    ch.put("expand", {"class": "expand_dims", **opt}, out, f"expand_dims {opt}")
    return True


def _o_squeeze(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.time == "one":
        forms.append(("T", replace(sh, time=None)))
    if sh.feat == 1 and sh.unique(1):
        forms.append(("F", replace(sh, feat=None)))
    if 1 in sh.stat and sh.unique(1):
        stat = list(sh.stat)
        stat.remove(1)
        forms.append(("dim:1", replace(sh, stat=tuple(stat))))
    if not forms:
        return False
    axis, out = rng.choice(forms)
    ch.put("squeeze", {"class": "squeeze", "axis": axis}, out, f"squeeze {axis}")
    return True


def _o_concat(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if not sh.dense_float or sh.feat is None:
        return False
    p = ch.partner("concat")
    if p is None or p[1].feat is None:
        return False
    feat = -1 if -1 in (sh.feat, p[1].feat) else sh.feat + p[1].feat
    out = replace(sh, feat=feat)
    if rng.random() < 0.5:
        ch.put("concat", {"class": "copy"}, out, f"concat F with {p[0]} (copy)")
        ch.layers[ch.cur]["from"] = [ch.layers[ch.cur]["from"], p[0]]
    else:
        name = ch.name("concat")
        ch.layers[name] = {"class": "concat", "from": [[ch.cur, "F"], [p[0], "F"]]}
        ch.cur, ch.sh = name, out
        ch.steps.append(f"concat F with {p[0]} (concat)")
    return True


def _o_split(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None or sh.feat is None or sh.feat < 2:
        return False
    n = sh.feat
    if n % 2 == 0 and rng.random() < 0.4:
        sizes = [n // 2, n // 2]
        opt: dict[str, Any] = {"num_splits": 2}
    else:
        a = rng.randrange(1, n)
        sizes = [a, n - a]
        opt = {"size_splits": sizes}
    i = rng.randrange(2)
    ch.put("split", {"class": "split", "axis": "F", **opt}, replace(sh, feat=sizes[i]), f"split F {opt}, take /{i}",
           ref="{name}/" + str(i))
    return True


def _o_merge(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None:
        return False
    forms = []
    if len(sh.stat) >= 1 and sh.feat is not None:
        forms.append("static")
    if sh.time == "one" and sh.feat is not None:
        forms.append("TF")
    if not forms:
        return False
    form = rng.choice(forms)
    opt: dict[str, Any] = {}
    if rng.random() < 0.5:
        opt["keep_order"] = True
    if form == "static":
        dims = list(sh.stat) + [sh.feat if sh.feat is not None else -1]
        prod = 1
        for d in dims:
            prod = -1 if d < 0 or prod < 0 else prod * d
        ch.put("merge", {"class": "merge_dims", "axes": "static", **opt}, replace(sh, stat=(), feat=prod),
               "merge_dims static")
        return True
    ch.put("merge", {"class": "merge_dims", "axes": ["T", "F"], **opt}, replace(sh, time=None), "merge_dims T, F")
    return True


def _o_split_dims(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None or sh.feat is None or sh.feat < 1:
        return False
    n = sh.feat
    divs = [k for k in range(2, n) if n % k == 0]
    if divs and rng.random() < 0.7:
        k = rng.choice(divs)
        dims, out = [k, -1], replace(sh, stat=sh.stat + (k,), feat=n // k)
    elif rng.random() < 0.5:
        dims, out = [-1, 1], replace(sh, stat=sh.stat + (n,), feat=1)
    else:
        dims, out = [1, -1], replace(sh, stat=sh.stat + (1,))
    ch.put("split_dims", {"class": "split_dims", "axis": "F", "dims": dims}, out, f"split_dims F into {dims}")
    return True


def _o_reduce(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None or sh.dtype == "bool":
        return False
    forms = []
    if sh.feat is not None:
        forms += ["F", "F"]
    if sh.time is not None:
        forms += ["T", "T"]
    if sh.batch and rng.random() < 0.5:
        forms.append("B")
    forms += [f"dim:{k}" for k in sorted(set(sh.stat)) if sh.unique(k)]
    if not forms:
        return False
    axis = rng.choice(forms)
    modes = ["sum", "max", "mean"] if sh.dtype == "float32" else ["sum", "max", "min"]
    if sh.dtype == "float32":
        modes += ["min", "logsumexp"]
    if axis == "F":
        modes += ["argmax", "argmax"]
    mode = rng.choice(modes)
    keep = mode != "argmax" and axis != "B" and rng.random() < 0.15
    opt: dict[str, Any] = {"mode": mode, "axes": axis}
    if keep:
        opt["keep_dims"] = True
    if axis == "F":
        if mode == "argmax":
            out = replace(sh, feat=None, sparse=sh.feat if sh.feat is not None else -1, dtype="int32")
        else:
            out = replace(sh, feat=1 if keep else None)
    elif axis == "T":
        out = replace(sh, time="one" if keep else None)
    elif axis == "B":
        out = replace(sh, batch=keep)
    else:
        k = int(axis.split(":")[1])
        stat = list(sh.stat)
        stat.remove(k)
        if keep:
            stat.append(1)
        out = replace(sh, stat=tuple(stat))
    ch.put("reduce", {"class": "reduce", **opt}, out, f"reduce {mode} over {axis}" + (" keep_dims" if keep else ""))
    return True


def _o_switch(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.sparse is None and sh.dtype != "bool":
        forms.append("self")
    if ch.in_loop:
        forms.append("step")
    if ch.labels:
        forms.append("label")
    if not forms:
        return False
    form = rng.choice(forms)
    zero: Any = 0 if sh.dtype == "int32" else 0.0
    if sh.dtype == "bool":
        zero = False
    if form == "self":
        cond = ch.side("pos", {"class": "compare", "from": ch.cur, "kind": "greater", "value": zero})
        ch.put("switch", {"class": "switch", "condition": cond, "true_from": ch.cur, "false_from": zero}, sh,
               f"switch({ch.cur} > 0, {ch.cur}, 0)")
        del ch.layers[ch.cur]["from"]
        return True
    if form == "step":
        n = rng.choice([1, 2, 3])
        cond = ch.side("first", {"class": "compare", "from": ":i", "kind": "less", "value": n})
        other: Any = zero
        other_txt = "0"
        if rng.random() < 0.6:
            p = ch.partner()
            if p is not None and p[1].dtype == sh.dtype and (p[1].sparse is None) == (sh.sparse is None):
                other, other_txt = p[0], p[0]
        true_from, false_from = (other, ch.cur) if rng.random() < 0.5 else (ch.cur, other)
        out = sh if isinstance(other, (int, float)) else (_union(sh, _state_like(ch, other)) or sh)
        if sh.sparse is not None and true_from == ch.cur:
            out = sh
        ch.put("switch", {"class": "switch", "condition": cond, "true_from": true_from, "false_from": false_from},
               out, f"switch(:i < {n}, {true_from if true_from != ch.cur else 'x'}, "
                    f"{false_from if false_from != ch.cur else 'x'}) (other: {other_txt})")
        del ch.layers[ch.cur]["from"]
        return True
    lab = ch.label()
    if lab is None:
        return False
    cond = ch.side("is_eos", {"class": "compare", "from": lab[0], "kind": "equal", "value": ch.eos})
    true_from, false_from = (zero, ch.cur) if rng.random() < 0.6 else (ch.cur, zero)
    out = replace(sh, batch=True, time=sh.time or lab[1].time)
    if true_from == zero:
        out = replace(out, sparse=None)
    ch.put("switch", {"class": "switch", "condition": cond, "true_from": true_from, "false_from": false_from},
           out, f"switch({lab[0]} == {ch.eos}, ...) over x")
    del ch.layers[ch.cur]["from"]
    return True


def _state_like(ch: _Chain, ref: str) -> _Sh:
    for p in ch.partners + ch.labels:
        if p[0] == ref:
            return p[1]
    return ch.sh


_EVAL1 = ("source(0) * 0.5", "tf.nn.relu(source(0))", "tf.tanh(source(0))", "tf.exp(source(0))",
          "tf.math.log(tf.maximum(source(0), 1e-8))", "-source(0)", "tf.nn.log_softmax(source(0))")
_EVAL2 = ("source(0) + source(1)", "source(0) * source(1)", "tf.maximum(source(0), source(1))",
          "source(0) - source(1)", "0.5 * (source(0) + source(1))")


def _o_eval(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None:
        if sh.dtype != "int32":
            return False
        expr = rng.choice(["tf.maximum(source(0) - 1, 0)", f"tf.minimum(source(0) + 1, {max(sh.sparse - 1, 0)})"])
        ch.put("eval", {"class": "eval", "eval": expr}, sh, f"eval {expr!r} on labels")
        return True
    if not sh.dense_float:
        return False
    if rng.random() < 0.5:
        expr = rng.choice(_EVAL1)
        if "log_softmax" in expr and sh.feat is None:
            expr = "tf.tanh(source(0))"
        ch.put("eval", {"class": "eval", "eval": expr}, sh, f"eval {expr!r}")
        return True
    p = ch.partner()
    if p is None:
        return False
    expr = rng.choice(_EVAL2)
    out = _union(sh, p[1]) or sh
    ch.put("eval", {"class": "eval", "eval": expr}, out, f"eval {expr!r} with {p[0]}")
    ch.layers[ch.cur]["from"] = [ch.layers[ch.cur]["from"], p[0]]
    return True


def _o_combine(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None or sh.dtype == "bool":
        return False
    p = ch.partner()
    if p is None:
        return False
    kind = rng.choice(["add", "add", "mul", "sub", "maximum"])
    out = _union(sh, p[1]) or sh
    first = [p[0], ch.cur] if rng.random() < 0.3 else [ch.cur, p[0]]
    ch.put("combine", {"class": "combine", "kind": kind}, out, f"combine {kind} with {p[0]}")
    ch.layers[ch.cur]["from"] = first
    return True


def _o_compare(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.dtype == "bool":
        return False
    if sh.sparse is not None:
        kind = rng.choice(["equal", "not_equal", "less"])
        value: Any = ch.eos if kind != "less" else rng.choice([1, 2])
    else:
        kind = rng.choice(["greater", "less", "greater_equal"])
        value = rng.choice([0.0, 0.5]) if sh.dtype == "float32" else 0
    ch.put("compare", {"class": "compare", "kind": kind, "value": value}, replace(sh, sparse=None, dtype="bool"),
           f"compare {kind} {value}")
    return True


def _o_cast(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.dtype == "float32":
        if rng.random() < 0.6:
            return False
        ch.put("cast", {"class": "cast", "dtype": "int32"}, replace(sh, dtype="int32"), "cast int32")
        return True
    out = replace(sh, dtype="float32", sparse=None)
    ch.put("cast", {"class": "cast", "dtype": "float32"}, out, f"cast float32 (from {sh.dtype}"
           + (", labels)" if sh.sparse is not None else ")"))
    return True


def _o_reinterpret(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.sparse is not None:
        forms.append("dense")
    elif sh.dtype == "int32":
        forms.append("sparse")
    if sh.time in ("dyn", "dec"):
        forms.append("major")
    if sh.batch and sh.time is None and rng.random() < 0.3:
        forms.append("batch_major")
    if not forms:
        return False
    form = rng.choice(forms)
    if form == "dense":
        ch.put("reinterp", {"class": "reinterpret_data", "set_sparse": False}, replace(sh, sparse=None),
               "reinterpret_data set_sparse False")
        return True
    if form == "sparse":
        dims = [p[1].sparse for p in ch.labels if p[1].sparse and p[1].sparse > 0] or [sh.feat or 5]
        dim = rng.choice(dims)
        stat = sh.stat + ((sh.feat,) if sh.feat is not None else ())
        ch.put("reinterp", {"class": "reinterpret_data", "set_sparse": True, "set_sparse_dim": dim},
               replace(sh, stat=stat, feat=None, sparse=dim), f"reinterpret_data set_sparse True dim {dim}")
        return True
    if form == "batch_major":
        ch.put("reinterp", {"class": "reinterpret_data", "enforce_batch_major": True}, sh,
               "reinterpret_data enforce_batch_major")
        return True
    if sh.tmajor:
        ch.put("reinterp", {"class": "reinterpret_data", "enforce_batch_major": True}, replace(sh, tmajor=False),
               "reinterpret_data enforce_batch_major")
    else:
        ch.put("reinterp", {"class": "reinterpret_data", "enforce_time_major": True}, replace(sh, tmajor=True),
               "reinterpret_data enforce_time_major")
    return True


def _o_swap(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.batch and sh.time is not None:
        forms.append(("swap_axes", "B", "T"))
    if sh.batch and sh.feat is not None:
        forms.append(("swap_axes", "B", "F"))
    if sh.feat is not None and sh.feat != 1:
        forms += [("swap_axes", "F", f"dim:{k}") for k in sorted(set(sh.stat)) if sh.unique(k) and k != sh.feat]
    if sh.batch and sh.time in ("dyn", "dec") and sh.feat is not None and not sh.stat and sh.sparse is None:
        forms.append(("transpose", "", ""))
    if not forms:
        return False
    cls, a, b = rng.choice(forms)
    if cls == "transpose":
        perm = ["T", "B", "F"] if not sh.tmajor else ["B", "T", "F"]
        ch.put("transpose", {"class": "transpose", "perm": perm}, replace(sh, tmajor=not sh.tmajor),
               f"transpose {perm}")
        return True
    out = replace(sh, tmajor=not sh.tmajor) if {a, b} == {"B", "T"} else sh
    ch.put("swap", {"class": "swap_axes", "axis1": a, "axis2": b}, out, f"swap_axes {a} <-> {b}")
    return True


def _o_pad(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.feat is not None and sh.sparse is None:
        forms.append("F")
    if sh.time in ("dyn", "dec"):
        forms.append("T")
    if not forms:
        return False
    axis = rng.choices(forms, [2 if f == "F" else 1 for f in forms])[0]
    padding = rng.choice([[0, 1], [1, 0], [1, 1], [0, 2]])
    out = sh
    if axis == "F":
        out = replace(sh, feat=-1 if sh.feat == -1 else (sh.feat or 0) + sum(padding))
    opt: dict[str, Any] = {"axes": axis, "padding": padding}
    if sh.dtype == "float32" and rng.random() < 0.3:
        opt["value"] = -1e4 if rng.random() < 0.5 else 1.0
    ch.put("pad", {"class": "pad", **opt}, out, f"pad {axis} {padding}")
    return True


def _o_window(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.time == "one" or not sh.batch:
        return False
    k = rng.choice([2, 3, 4])
    if sh.time is None:
        if not ch.in_loop:
            return False
        opt: dict[str, Any] = {"window_size": k, "axis": "T"}
        if rng.random() < 0.7:
            opt["window_left"] = k - 1
        else:
            opt["window_right"] = 0
        ch.put("window", {"class": "window", **opt}, replace(sh, stat=sh.stat + (k,)),
               f"window over the previous {k} frames (in-loop state)")
        return True
    ch.put("window", {"class": "window", "window_size": k, "axis": "T"}, replace(sh, stat=sh.stat + (k,)),
           f"window {k} over T")
    return True


def _o_cumsum(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None or sh.dtype == "bool" or not sh.batch:
        return False
    if sh.time is None and ch.in_loop and rng.random() < 0.75:
        ch.put("cumsum", {"class": "cumsum"}, sh, "cumsum over the frames (in-loop state)")
        return True
    axes = (["T"] if sh.time in ("dyn", "dec") else []) + (["F"] if sh.feat is not None else [])
    if not axes:
        return False
    axis = rng.choice(axes)
    opt: dict[str, Any] = {"axis": axis}
    if rng.random() < 0.2 and axis == "T":
        opt["reverse"] = True
    ch.put("cumsum", {"class": "cumsum", **opt}, sh, f"cumsum over {axis}")
    return True


def _o_range(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    forms = []
    if sh.feat is not None:
        forms.append("F")
    if sh.time in ("dyn", "dec"):
        forms.append("T")
    if sh.sparse is not None:
        forms.append("sparse_dim")
    if not forms:
        return False
    axis = rng.choice(forms)
    pos = {"axis": axis}
    if axis == "T":
        out = _Sh(batch=False, time=sh.time, dtype="int32")
    else:
        n = sh.feat if axis == "F" else sh.sparse
        out = _Sh(batch=False, feat=n, dtype="int32")
    if rng.random() < 0.5 and sh.dense_float:
        r = ch.side("range", {"class": "range_in_axis", "from": ch.cur, **pos})
        c = ch.side("range_f", {"class": "cast", "from": r, "dtype": "float32"})
        kind = rng.choice(["mul", "add"])
        union = _union(sh, replace(out, dtype="float32")) or sh
        ch.put("pos", {"class": "combine", "kind": kind}, union, f"combine {kind} with range_in_axis {axis} of itself")
        ch.layers[ch.cur]["from"] = [ch.layers[ch.cur]["from"], c]
        return True
    ch.put("range", {"class": "range_in_axis", **pos}, out, f"range_in_axis {axis} (no batch axis)")
    return True


def _o_length(ch: _Chain) -> bool:
    sh = ch.sh
    if sh.time not in ("dyn", "dec"):
        return False
    ch.put("length", {"class": "length", "axis": "T"}, _Sh(batch=sh.batch, dtype="int32"), "length of T")
    return True


def _o_constant(ch: _Chain) -> bool:
    sh, rng = ch.sh, ch.rng
    if not sh.dense_float or sh.feat is None:
        return False
    n = sh.feat if sh.feat > 0 else 1
    form = rng.choice(["bias", "bias", "concat"])
    if form == "bias":
        shape = [n] if rng.random() < 0.7 else [1]
        c = ch.side("const", {"class": "constant", "value": rng.choice([0.0, 1.0, 0.5]), "shape": shape,
                              "dtype": "float32"})
        kind = rng.choice(["add", "mul"])
        ch.put("const_add", {"class": "combine", "kind": kind}, sh, f"combine {kind} with a constant of shape {shape}")
        ch.layers[ch.cur]["from"] = [ch.layers[ch.cur]["from"], c]
        return True
    if sh.time is not None or sh.stat:
        return False
    k = rng.choice([1, 2])
    c = ch.side("const", {"class": "constant", "value": 0.0, "shape": [k], "dtype": "float32",
                          "with_batch_dim": True})
    out = replace(sh, feat=-1 if sh.feat == -1 else sh.feat + k)
    ch.put("concat", {"class": "copy"}, out, f"concat F with a constant (with_batch_dim, shape [{k}])")
    ch.layers[ch.cur]["from"] = [ch.layers[ch.cur]["from"], c]
    return True


_OPS = (
    (_o_slice, 1.0), (_o_gather, 1.0), (_o_expand, 0.8), (_o_squeeze, 1.0), (_o_concat, 0.8), (_o_split, 0.7),
    (_o_merge, 0.5), (_o_split_dims, 0.6), (_o_reduce, 1.0), (_o_switch, 0.8), (_o_eval, 0.8),
    (_o_combine, 1.0), (_o_compare, 0.4), (_o_cast, 0.5), (_o_reinterpret, 0.6), (_o_swap, 0.5), (_o_pad, 0.7),
    (_o_window, 0.6), (_o_cumsum, 0.6), (_o_range, 0.35), (_o_length, 0.35), (_o_constant, 0.5),
)


def _random_step(ch: _Chain) -> bool:
    ops = list(_OPS)
    while ops:
        i = ch.rng.choices(range(len(ops)), [w for _, w in ops])[0]
        fn, _ = ops.pop(i)
        if fn(ch):
            return True
    return False


def _restore_step(ch: _Chain, tgt: _Sh) -> bool | None:
    """One step towards ``tgt``: True (made one), None (already there), False (cannot)."""
    sh, rng = ch.sh, ch.rng
    if sh.sparse is not None and tgt.sparse is None:
        return False
    if tgt.sparse is not None and sh.sparse is None:
        if sh.feat is not None or sh.stat or sh.time != tgt.time or not sh.batch:
            return False
        if sh.dtype != "int32":
            ch.put("cast", {"class": "cast", "dtype": "int32"}, replace(sh, dtype="int32"), "cast int32 (restore)")
            return True
        dim = tgt.sparse if tgt.sparse > 0 else 2
        ch.put("reinterp", {"class": "reinterpret_data", "set_sparse": True, "set_sparse_dim": dim},
               replace(sh, sparse=dim), f"reinterpret_data set_sparse True dim {dim} (restore)")
        return True
    if tgt.batch and not sh.batch:
        return False
    if sh.time and not tgt.time:
        if sh.time == "one":
            ch.put("squeeze", {"class": "squeeze", "axis": "T"}, replace(sh, time=None), "squeeze T (restore)")
        elif sh.sparse is not None:
            ch.put("gather", {"class": "gather", "axis": "T", "position": 0}, replace(sh, time=None),
                   "gather T at 0 (restore)")
        else:
            mode = rng.choice(["mean", "max", "sum"])
            ch.put("reduce", {"class": "reduce", "mode": mode, "axes": "T"}, replace(sh, time=None),
                   f"reduce {mode} over T (restore)")
        return True
    if tgt.time and sh.time != tgt.time:
        return False
    if len(sh.stat) > len(tgt.stat):
        k = sh.stat[-1]
        stat = list(sh.stat)
        stat.remove(k)
        if k == 1 and sh.unique(1):
            ch.put("squeeze", {"class": "squeeze", "axis": "dim:1"}, replace(sh, stat=tuple(stat)),
                   "squeeze dim:1 (restore)")
        elif sh.sparse is not None:
            return False
        elif sh.unique(k) and k > 0:
            mode = rng.choice(["mean", "max", "sum"])
            ch.put("reduce", {"class": "reduce", "mode": mode, "axes": f"dim:{k}"}, replace(sh, stat=tuple(stat)),
                   f"reduce {mode} over dim:{k} (restore)")
        elif sh.feat is not None:
            _o_merge_static(ch)
        else:
            return False
        return True
    if tgt.sparse is None and sh.dtype != tgt.dtype:
        ch.put("cast", {"class": "cast", "dtype": tgt.dtype}, replace(sh, dtype=tgt.dtype), f"cast {tgt.dtype} (restore)")
        return True
    if tgt.feat is None or tgt.sparse is not None:
        return None
    if sh.feat is None:
        ch.put("expand", {"class": "expand_dims", "axis": "F"}, replace(sh, feat=1), "expand_dims F (restore)")
        return True
    if tgt.feat < 0 or sh.feat == tgt.feat:
        return None
    if sh.feat < 0:
        return False
    if sh.feat > tgt.feat:
        if rng.random() < 0.7:
            opt = {"slice_end": tgt.feat}
        else:
            opt = {"slice_start": sh.feat - tgt.feat}
        ch.put("slice", {"class": "slice", "axis": "F", **opt}, replace(sh, feat=tgt.feat), f"slice F {opt} (restore)")
        return True
    d = tgt.feat - sh.feat
    padding = [0, d] if rng.random() < 0.7 else [d, 0]
    ch.put("pad", {"class": "pad", "axes": "F", "padding": padding}, replace(sh, feat=tgt.feat),
           f"pad F {padding} (restore)")
    return True


def _matches(sh: _Sh, tgt: _Sh) -> bool:
    if (sh.batch, sh.time, sh.stat) != (tgt.batch, tgt.time, tgt.stat):
        return False
    if (sh.sparse is None) != (tgt.sparse is None) or sh.sparse is not None and sh.sparse != tgt.sparse:
        return False
    if tgt.sparse is None and sh.dtype != tgt.dtype:
        return False
    if tgt.sparse is not None:
        return sh.feat is None
    if (sh.feat is None) != (tgt.feat is None):
        return False
    return tgt.feat is None or tgt.feat < 0 or sh.feat == tgt.feat


def _o_merge_static(ch: _Chain) -> None:
    sh = ch.sh
    dims = list(sh.stat) + [sh.feat if sh.feat is not None else -1]
    prod = 1
    for d in dims:
        prod = -1 if d < 0 or prod < 0 else prod * d
    ch.put("merge", {"class": "merge_dims", "axes": "static"}, replace(sh, stat=(), feat=prod),
           "merge_dims static (restore)")


def _run_chain(ch: _Chain, tgt: _Sh | None, p_restore: float = 0.55) -> str:
    """2 to 5 steps; about half of the chains restore ``tgt`` at the end. The chain's text."""
    rng = ch.rng
    restore = tgt is not None and rng.random() < p_restore
    total = rng.randint(2, 5)
    n_rand = rng.randint(2, max(2, total - 1)) if restore else total
    for _ in range(n_rand):
        if not _random_step(ch):
            break
    outcome = ""
    if restore and tgt is not None:
        budget = 5 - len(ch.steps)
        got = None
        while budget > 0:
            got = _restore_step(ch, tgt)
            if not got:
                break
            budget -= 1
        if _matches(ch.sh, tgt):
            outcome = f"; restores {tgt.text()}"
        else:
            outcome = f"; tries to restore {tgt.text()}, ends at {ch.sh.text()}"
    elif tgt is not None:
        if (tgt.dense_float and ch.sh.sparse is None and ch.sh.dtype != "float32" and len(ch.steps) < 5
                and rng.random() < 0.7):
            ch.put("cast", {"class": "cast", "dtype": "float32"}, replace(ch.sh, dtype="float32"),
                   "cast float32 (the reader wants floats)")
        elif (tgt.dtype != "bool" and ch.sh.sparse is None and ch.sh.dtype == "bool" and len(ch.steps) < 5
              and rng.random() < 0.8):
            ch.put("cast", {"class": "cast", "dtype": tgt.dtype}, replace(ch.sh, dtype=tgt.dtype),
                   f"cast {tgt.dtype} (the reader wants {tgt.dtype})")
        elif tgt.dense_float and ch.sh.sparse is not None and len(ch.steps) < 4 and rng.random() < 0.5:
            ch.put("cast", {"class": "cast", "dtype": "float32"}, replace(ch.sh, dtype="float32", sparse=None),
                   "cast float32 (labels as a feature)")
            ch.put("expand", {"class": "expand_dims", "axis": "F"},
                   replace(ch.sh, stat=ch.sh.stat + ((ch.sh.feat,) if ch.sh.feat is not None else ()), feat=1),
                   "expand_dims F")
        outcome = f"; ends at {ch.sh.text()} where {tgt.text()} was read"
    while len(ch.steps) < 2:
        if not _random_step(ch):
            break
    mixed = f"; mixes {', '.join(dict.fromkeys(ch.mixed))}" if ch.mixed else ""
    return f"[{' -> '.join(ch.steps)}]{outcome}{mixed}"


# ----------------------------------------------------------------------------------------------------
# Partners of the chains


def _eos(unit: dict[str, Any], choice: str) -> int:
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _loop_partners(case: Case, net: dict[str, Any], rec: str, reader: str | None,
                   rng: random.Random) -> tuple[list[Partner], list[Partner]]:
    """Second inputs for a chain in the loop of ``rec`` read by ``reader``: (dense ones, labels)."""
    unit = net[rec]["unit"]
    dense: list[Partner] = []
    labels: list[Partner] = []
    for k in _layers(unit):
        if k == "end":
            continue
        sh = _state(case, net, unit, k)
        if sh is None:
            continue
        free = reader is None or (k != reader and reader not in _frame_ancestors(unit, k))
        target = labels if sh.sparse is not None else dense
        if free:
            target.append((k, sh, "frame"))
        if sh.sparse is not None and "initial_output" not in unit[k]:
            continue  # prev: of labels needs an initial output
        if unit[k].get("class") == "choice" or rng.random() < 0.5:
            target.append((f"prev:{k}", sh, "previous frame"))
    beamed = _beamed_roots(net)
    after = {k for k in _layers(net) if rec in _root_ancestors(net, k)} | {rec}
    for k in _layers(net):
        if k in after:
            continue  # it reads this decoder: a cycle
        sh = _state(case, net, net, k)
        if sh is None:
            continue
        tag = "another decoder's beam" if k in beamed else "encoder"
        (labels if sh.sparse is not None else dense).append((f"base:{k}", sh, tag))
    return dense, labels


def _root_partners(case: Case, net: dict[str, Any], reader: str | None, exclude: set[str]) -> tuple[
        list[Partner], list[Partner]]:
    """Second inputs for a chain at the root read by ``reader``."""
    dense: list[Partner] = []
    labels: list[Partner] = []
    beamed = _beamed_roots(net)
    for k in _layers(net):
        if k in exclude or k == reader or (reader is not None and reader in _root_ancestors(net, k)):
            continue
        sh = _state(case, net, net, k)
        if sh is None:
            continue
        cls = net[k].get("class")
        tag = "decided" if cls == "decide" else "a decoder's beam" if k in beamed else "root"
        (labels if sh.sparse is not None else dense).append((k, sh, tag))
    return dense, labels


# ----------------------------------------------------------------------------------------------------
# shapechain-frame


def op_shapechain_frame(case: Case, rng: random.Random) -> Result:
    """A random shape chain between a loop layer and a reader of it in the same loop (not a choice's scores)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for x in _layers(unit):
            sh = _state(case, net, unit, x)
            if sh is None:
                continue
            for ref in (x, f"prev:{x}"):
                for r in _readers(unit, x, ref):
                    if unit[r].get("class") == "choice" and ref == x:
                        continue  # the scores' chain is shapechain-scores
                    if r == x and ref == x:
                        continue
                    w = 0.4 if r == "end" else 1.0
                    sites.append((rec, x, ref, r, sh, w))
    if not sites:
        return None
    rec, x, ref, reader, sh, _ = rng.choices(sites, [s[5] for s in sites])[0]
    unit = net[rec]["unit"]
    dense, labels = _loop_partners(case, net, rec, reader, rng)
    choices = _unit_choices(unit)
    eos = _eos(unit, choices[0]) if choices else 0
    late = ref.startswith("prev:") and rng.random() < 0.5
    start = x if late else ref
    if late:
        dense = [p for p in dense if p[0] != reader]
    ch = _Chain(rng, unit, x, start, sh, in_loop=True, partners=dense, labels=labels, eos=eos)
    text = _run_chain(ch, sh)
    if ch.cur == start:
        return None
    end = ch.cur
    new_ref = f"prev:{end}" if late else end
    if late and ch.sh.sparse is not None and rng.random() < 0.9:
        head = end.split("/", 1)[0]
        unit[head]["initial_output"] = 0
        text += f"; initial_output 0 on {head}"
    _redirect(unit, [reader], ref, new_ref)
    how = (f"{rec}/{x} -> chain, {rec}/{reader} reads prev: of its end" if late
           else f"{rec}/{ref} -> chain -> {rec}/{reader}")
    return new, f"shape chain {how}: {text}"


# ----------------------------------------------------------------------------------------------------
# shapechain-scores


def op_shapechain_scores(case: Case, rng: random.Random) -> Result:
    """A random shape chain between the output distribution and the choice."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            for s in _sources(unit[c]):
                sh = _state(case, net, unit, s)
                if sh is not None and sh.sparse is None:
                    sites.append((rec, c, s, sh))
    if not sites:
        return None
    rec, choice, scores, sh = rng.choice(sites)
    unit = net[rec]["unit"]
    dense, labels = _loop_partners(case, net, rec, choice, rng)
    dense = [p for p in dense if p[0] != choice]
    labels = [p for p in labels if p[0] != choice]
    ch = _Chain(rng, unit, scores.split(":")[-1], scores, sh, in_loop=True, partners=dense, labels=labels,
                eos=_eos(unit, choice))
    text = _run_chain(ch, sh)
    if ch.cur == scores:
        return None
    _redirect(unit, [choice], scores, ch.cur)
    return new, f"shape chain {rec}/{scores} -> chain -> choice {rec}/{choice}: {text}"


# ----------------------------------------------------------------------------------------------------
# shapechain-encoder


def op_shapechain_encoder(case: Case, rng: random.Random) -> Result:
    """A random shape chain between an encoder layer read through ``base:`` and its loop reader."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(net):
            if k == rec or rec in _root_ancestors(net, k):
                continue
            readers = _readers(unit, f"base:{k}")
            if not readers:
                continue
            sh = _state(case, net, net, k)
            if sh is None:
                continue
            for r in readers:
                sites.append((rec, k, r, sh))
    if not sites:
        return None
    rec, enc, reader, sh = rng.choice(sites)
    unit = net[rec]["unit"]
    in_att = any(unit[reader].get(k) == f"base:{enc}" for k in ("base", "base_ctx", "keys", "values", "weights"))
    p_restore = 0.8 if in_att else 0.55
    if rng.random() < 0.6:
        dense, labels = _loop_partners(case, net, rec, reader, rng)
        ch = _Chain(rng, unit, enc, f"base:{enc}", sh, in_loop=True, partners=dense, labels=labels,
                    eos=_eos(unit, _unit_choices(unit)[0]))
        text = _run_chain(ch, sh, p_restore)
        if ch.cur == f"base:{enc}":
            return None
        _redirect(unit, [reader], f"base:{enc}", ch.cur)
        return new, f"shape chain base:{enc} -> chain in the loop -> {rec}/{reader}: {text}"
    after = {k for k in _layers(net) if rec in _root_ancestors(net, k)} | {rec}
    dense, labels = _root_partners(case, net, None, after)
    ch = _Chain(rng, net, enc, enc, sh, in_loop=False, partners=dense, labels=labels)
    text = _run_chain(ch, sh, p_restore)
    if ch.cur == enc:
        return None
    _redirect(unit, [reader], f"base:{enc}", f"base:{ch.cur}")
    return new, f"shape chain root {enc} -> chain at the root -> {rec}/{reader} (base:): {text}"


# ----------------------------------------------------------------------------------------------------
# shapechain-after-loop


def op_shapechain_after_loop(case: Case, rng: random.Random) -> Result:
    """A random shape chain after the loop: on the decoder's output or a loop layer read from the root, before
    or after ``decide``."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    forms = ["output"]
    decides = [k for k in _readers(net, rec) if net[k].get("class") == "decide"]
    if _readers(net, rec):
        forms += ["output-reader", "output-reader"]
    if decides:
        forms += ["after-decide", "after-decide"]
    inner = [k for k in _layers(unit) if k not in ("end", "output") and unit[k].get("class") != "choice"
             and _state(case, net, unit, k) is not None]
    if inner:
        forms += ["sub", "sub"]
    form = rng.choice(forms)
    decided_new = False
    if form == "sub":
        x = rng.choice(inner)
        if rng.random() < 0.85:
            unit[x]["is_output_layer"] = True
        start = f"{rec}/{x}"
        sh = _state(case, net, net, start)
        reader = None
        what = f"loop layer {start} read from the root" + (
            " (is_output_layer)" if unit[x].get("is_output_layer") else " (not an output layer)")
    elif form == "output-reader":
        reader = rng.choice(_readers(net, rec))
        start = rec
        sh = _state(case, net, net, rec)
        what = f"{rec} -> chain -> {reader} ({net[reader].get('class')}"
        what += ", before decide)" if net[reader].get("class") == "decide" else ")"
    elif form == "after-decide":
        dec = rng.choice(decides)
        readers = _readers(net, dec)
        reader = rng.choice(readers) if readers and rng.random() < 0.7 else None
        start = dec
        sh = _state(case, net, net, dec)
        what = f"{dec} (decide of {rec}) -> chain" + (f" -> {reader}" if reader else ", a new output")
    else:
        start = rec
        reader = None
        sh = _state(case, net, net, rec)
        what = f"{rec} -> chain"
    if sh is None:
        return None
    exclude = {k for k in _layers(net) if reader is not None and reader in _root_ancestors(net, k)}
    dense, labels = _root_partners(case, net, reader, exclude)
    for p in list(dense):
        if p[0] == start:
            dense.remove(p)
    for k in _layers(unit):
        if k in ("end",) or f"{rec}/{k}" == start or rng.random() < 0.6:
            continue
        ksh = _state(case, net, net, f"{rec}/{k}")
        if ksh is not None and ksh.sparse is None and (reader is None or reader != rec):
            dense.append((f"{rec}/{k}", ksh, "a loop layer read from the root"))
    ch = _Chain(rng, net, start.replace("/", "_"), start, sh, in_loop=False, partners=dense, labels=labels,
                eos=_eos(unit, _unit_choices(unit)[0]))
    text = _run_chain(ch, sh if reader is not None else None)
    if ch.cur == start:
        return None
    # reading a loop layer from the root makes it an output of the loop
    for layer in ch.layers.values():
        if isinstance(layer, dict):
            for s in _sources(layer):
                head, _, sub = s.partition("/")
                if head == rec and sub in unit and rng.random() < 0.85:
                    unit[sub]["is_output_layer"] = True
    end = ch.cur
    if reader is not None:
        _redirect(net, [reader], start, end)
    elif form in ("output", "sub") and rng.random() < 0.5:
        dec = _fresh(net, f"{end.replace('/', '_')}_decided")
        net[dec] = {"class": "decide", "from": end, "is_output_layer": True}
        decided_new = True
        what += f" -> new decide {dec}"
    else:
        if "/" in end:
            out = _fresh(net, f"{end.replace('/', '_')}_out")
            net[out] = {"class": "copy", "from": end, "is_output_layer": True}
        else:
            net[end]["is_output_layer"] = True
        what += ", an output layer"
    if not decided_new and reader is None and form != "after-decide":
        what += " (no decide)"
    return new, f"shape chain after the loop: {what}: {text}"


FRESH93_OPERATORS: tuple[Op, ...] = (
    Op("shapechain-frame", op_shapechain_frame, 1.2),
    Op("shapechain-scores", op_shapechain_scores, 1),
    Op("shapechain-encoder", op_shapechain_encoder, 1),
    Op("shapechain-after-loop", op_shapechain_after_loop, 1),
)
