"""A small shape model: just enough to see what RETURNN asserts about shapes in search.

``ChoiceLayer.__init__`` (``rec.py``) asserts in search that its first source holds scores over the
target's vocabulary: not sparse, ``dim == output.dim`` and ``shape == (dim,)`` (no extra time axis);
a sparse ``prev:`` value needs an explicit ``initial_output`` (``_SubnetworkRecCell``). Every answer is
True / False / a number when the network says so, None when unsure; the rules fire only on sure
answers. :class:`Shapes` is made once per construction (``construction.derived(Shapes)``) and
remembers what it worked out: the model walks every path through residual connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..analysis.construction import Construction
from ..analysis.layouts import TIME_NAMES, dim_key
from ..analysis.structure import MADE_FROM_NOTHING
from ..analysis.template_order import FROM_INPUTS, NEEDS_BATCH

__all__ = ["KEEP_AXES", "KEEP_DIM", "Shapes", "keeps_axes", "one_frame_of_loop_input"]

#: Classes whose output keeps every axis of their sources (RETURNN's ``get_out_data_from_opts``
#: copies the source template and at most replaces the feature dim).
KEEP_AXES = frozenset({"linear", "copy", "softmax", "activation", "combine", "dropout", "layer_norm",
                       "slice_nd", "compare", "self_attention", "softmax_over_spatial", "reinterpret_data",
                       "reduce_out"})
#: Classes whose feature dim is their first source's.
KEEP_DIM = frozenset({"copy", "activation", "combine", "dropout", "layer_norm", "compare",
                      "softmax_over_spatial", "slice_nd"})
#: Classes of :data:`KEEP_DIM` that concatenate several sources along the feature axis
#: (``LayerBase`` ``concat_sources``), not combine them element-wise
_CONCATS = frozenset({"copy", "activation", "dropout", "layer_norm"})
#: Classes that keep their first source's sparse (label) output unless given a shape of their own.
_SPARSE_KEEPING = frozenset({"copy", "identity", "eval", "reinterpret_data", "gather", "slice",
                             "expand_dims", "squeeze", "postfix_in_time", "prefix_in_time"})
#: Classes whose output has a time axis when a source has one (besides :data:`KEEP_AXES`): they work
#: on it or on other axes (``conv`` / ``pool`` make another time axis, ``split_dims`` splits features).
_TIME_KEEPING = frozenset({"conv", "pool", "transposed_conv", "split_dims", "merge_dims", "window", "rec",
                           "batch_norm", "norm", "cast", "positional_encoding", "pad", "decide", "concat",
                           "gating", "squeeze", "expand_dims", "elemwise_prod", "postfix_in_time",
                           "prefix_in_time"})
#: Classes whose output keeps every axis of their sources, element-wise (an extra axis stays)
_BROADCAST_KEEPING = frozenset({"linear", "copy", "softmax", "activation", "combine", "dropout", "layer_norm",
                                "compare", "reinterpret_data", "cast"})
_MISSING, _IN_PROGRESS = object(), object()
#: Classes that may add an axis to their source's (:meth:`Shapes._adds_axes_upstream`)
_AXES_ADDING = frozenset({"split_dims", "expand_dims", "window", "split", "merge_dims", "unflatten_nd", "dot",
                          "cum_concat", "stack", "swap_axes", "transpose", "repeat", "range_in_axis", "conv", "pool",
                          "gather_nd", "slice_nd", "scatter_nd"})
#: Classes that work on other axes than the feature axis (time, spatial, the beam) or on none: one
#: source, whose feature dim stays (``get_out_data_from_opts`` copies its template and changes other
#: axes), unless an ``axis`` / ``axes`` option names the feature axis
_FEATURE_KEEPING = frozenset({"split_batch_beam", "decide_keep_beam", "cumsum", "window", "shift_axis",
                              "postfix_in_time", "prefix_in_time", "seq_len_mask", "print", "time_chunking",
                              "pool", "split_dims", "expand_dims", "slice"})
#: ``reinterpret_data`` options that may give its output another dim than its source's
_REINTERPRET_DIMS = frozenset({"set_sparse", "set_sparse_dim", "set_dim_tags", "set_axes", "switch_axes",
                               "size_base", "batch_dim_base"})


def _keeps_feature(cls: str, opts: dict[str, Any], n_sources: int) -> bool:
    """A :data:`_FEATURE_KEEPING` layer on one source whose ``axis`` / ``axes`` surely is no feature axis."""
    return cls in _FEATURE_KEEPING and n_sources == 1 \
        and not any(_names_feature(opts.get(k)) for k in ("axis", "axes"))


def _names_feature(axis: Any) -> bool:
    """Whether an ``axis`` / ``axes`` option may name the feature axis (any form other than a time or
    spatial one counts, to be sure)."""
    if axis is None:
        return False
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return not all(isinstance(a, str) and _spatial_axis(a) for a in axes)


def _over_feature(cls: str, opts: dict[str, Any]) -> bool:
    """A ``slice`` of the feature axis, or a ``reduce`` over it alone (not keeping it): the other axes
    stay as they are."""
    if cls == "slice":
        return opts.get("axis") in ("F", "f", "feature")
    if cls == "reduce" and not opts.get("keep_dims"):
        axis = opts.get("axis", opts.get("axes"))
        axes = axis if isinstance(axis, list) else [axis]
        return bool(axes) and all(a in ("F", "f", "feature") for a in axes)
    return False


def keeps_axes(cls: str, opts: dict[str, Any], kinds: frozenset[str]) -> bool:
    """Whether a layer of class ``cls`` keeps its first source's axes (or dim): ``kinds``, and a
    ``positional_encoding`` added to its input."""
    return cls in kinds or (cls == "positional_encoding" and bool(opts.get("add_to_input"))) or (
        # an eval without out_type takes its sources' common template (``CombineLayer``)
        cls == "eval" and (kinds is KEEP_AXES or kinds is _BROADCAST_KEEPING) and not opts.get("out_type")) or (
        # a split of the feature axis: its parts keep every other axis (``SplitLayer``)
        cls == "split" and kinds is KEEP_AXES and opts.get("axis", "F") in ("F", "f"))


def _keeps_time(cls: str, opts: dict[str, Any]) -> bool:
    """Classes that keep their sources' axes but change the dtype, add a feature axis or stack them
    (a ``cast``, an ``expand_dims`` of ``F``, a ``stack``): a frame value stays without time axis, a
    sequence keeps it."""
    return cls in ("cast", "stack") or (cls == "expand_dims" and opts.get("axis") in ("F", "f", "feature"))


def _reduces_other_axes(opts: dict[str, Any]) -> bool:
    """A ``reduce`` surely over axes that are no time axis: the feature axis, static axes, or the new
    axis of a ``stack`` (``stag:NAME:stack``)."""
    axes = opts.get("axes", opts.get("axis"))
    axes = axes if isinstance(axes, list) else [axes]
    return bool(axes) and all(isinstance(a, str) and (
        a.upper() in ("F", "FEATURE", "STATIC") or a.startswith("static:")
        or (a.startswith("stag:") and a.endswith(":stack"))) for a in axes)


def _over_declared_dims(opts: dict[str, Any]) -> bool:
    """A ``reduce`` over dims given as declarations (``__dim__``, e.g. a ``cum_concat`` axis) only."""
    axes = opts.get("axes", opts.get("axis"))
    axes = axes if isinstance(axes, list) else [axes]
    return bool(axes) and all(isinstance(a, dict) and "__dim__" in a for a in axes)


def _or(values: list[bool | None]) -> bool | None:
    """True if any is True, else None if any is unknown, else False."""
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _same(tags: list[str | None]) -> str | None:
    """The one time axis several sources share ("" when none has one), None if unsure or mixed."""
    if any(t is None for t in tags):
        return None
    found = {t for t in tags if t}
    return found.pop() if len(found) == 1 else ("" if not found else None)


def one_frame_of_loop_input(c: Construction, reader: str, rec: str, data_node: str) -> bool:
    """Whether ``reader`` gets one frame of the extern data ``data_node`` it reads by name: it is moved
    out in front of ``rec``'s loop, which iterates over that data (then it is sliced per frame, like
    ``data:source``; a layer kept in the loop finds no value for it in search)."""
    return c.placement(reader) == "input" and data_node in c.loop_sources(rec)


def _feature_padding(opts: dict[str, Any]) -> int | None:
    """How much a ``pad`` layer grows the feature axis (``axes`` ``F``, ``padding`` ``(left, right)`` or
    ``[(left, right)]``), or None where it pads another axis or the options are not plain."""
    axes = opts.get("axes")
    axes = axes if isinstance(axes, (list, tuple)) else [axes]
    padding = opts.get("padding")
    if isinstance(padding, (list, tuple)) and len(padding) == 1 and isinstance(padding[0], (list, tuple)):
        padding = padding[0]
    if len(axes) == 1 and axes[0] in ("F", "f", "feature") and isinstance(padding, (list, tuple)) \
            and len(padding) == 2 and all(isinstance(p, int) and not isinstance(p, bool) for p in padding):
        return sum(padding)
    return None


class Shapes:
    """Sparsity, feature dims and time axes of a construction's layers, as far as the network says."""

    def __init__(self, c: Construction):
        self.c = c
        self._memo: dict[tuple[str, ...], object] = {}

    def _remember(self, key: tuple[str, ...], default: object, compute: Callable[[], object]) -> Any:
        """``compute()`` once per key; ``default`` while it is being computed (a cycle)."""
        got = self._memo.get(key, _MISSING)
        if got is _IN_PROGRESS:
            return default
        if got is not _MISSING:
            return got
        self._memo[key] = _IN_PROGRESS
        try:
            value = compute()
        except BaseException:
            del self._memo[key]
            raise
        self._memo[key] = value
        return value

    # -- extern data ----------------------------------------------------------------------------------
    def extern(self, key: str) -> dict[str, Any] | None:
        """The extern-data declaration of ``key`` as ``{dim, sparse, time, axes}`` (``axes``: how many besides
        the batch axis, None where the declaration does not say; None if undeclared)."""
        spec = self.c.spec
        ext = (spec.extern_data or {}).get(key)
        if isinstance(ext, dict) and isinstance(ext.get("dims"), list):  # Dim-based declaration
            dims = [d.get("__dim__", {}) if isinstance(d, dict) else {} for d in ext["dims"]]
            sparse_dim = ext.get("sparse_dim")
            sparse_dim = sparse_dim.get("__dim__", {}) if isinstance(sparse_dim, dict) else None
            feat = sparse_dim if sparse_dim is not None else (dims[-1] if dims else {})
            dim = feat.get("dimension") if feat.get("kind") == "feature" else None
            return {"dim": dim if isinstance(dim, int) else None, "sparse": sparse_dim is not None,
                    "time": any(d.get("kind") == "spatial" for d in dims),
                    "axes": sum(1 for d in dims if not d.get("is_batch_dim"))}
        if isinstance(ext, dict):
            dim = ext.get("dim")
            sparse = bool(ext.get("sparse") or ext.get("sparse_dim"))
            shape = ext.get("shape")
            time = not (ext.get("time_dim_axis", 1) is None or
                        (isinstance(shape, (list, tuple)) and None not in shape))
            return {"dim": dim if isinstance(dim, int) else None, "sparse": sparse, "time": time,
                    "axes": len(shape) if isinstance(shape, (list, tuple)) else None}
        num = (spec.num_outputs or {}).get(key)
        if isinstance(num, (list, tuple)) and num and isinstance(num[0], int):
            return {"dim": num[0], "sparse": len(num) > 1 and num[1] == 1, "time": True, "axes": None}
        if isinstance(num, int):
            return {"dim": num, "sparse": False, "time": True, "axes": None}
        return None

    def target_of(self, node: str) -> tuple[str | None, dict[str, Any] | None]:
        """What the layer's ``target`` names: ``(layer, None)`` for a layer (``layer:X``, or a name of
        a layer: ``LayerBase.transform_config_dict`` looks it up with ``get_layer`` first), ``(None,
        extern declaration)`` for declared data, ``(None, None)`` when neither is known."""
        target = self.c.nodes[node]["options"].get("target")
        target = target[0] if isinstance(target, list) and target else target
        if not isinstance(target, str) or not target:
            return None, None
        layer = next((s for s, opt, _ in self.c.inputs(node) if opt == "target"), None)
        if layer is not None and self.c.nodes[layer]["node_kind"] == "layer":
            return layer, None
        if target.startswith("layer:"):
            return None, None
        return None, self.extern(target.removeprefix("data:"))

    def target_dim(self, node: str, seen: frozenset[str] = frozenset()) -> int | None:
        """The dim of the layer's ``target`` (:meth:`target_of`; ``_guess_out_dim_from_target_and_opt_loss``
        takes a target layer's dim)."""
        layer, ext = self.target_of(node)
        if layer is not None:
            return self.dim(layer, seen | {node})
        return ext["dim"] if ext else None

    # -- sparsity and dims ----------------------------------------------------------------------------
    def is_sparse(self, node: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether the output is labels (sparse) as far as the ``prev:`` initial value goes: a
        choice's target or its argmax, sparse extern data, and the classes that keep them; False
        when unsure."""
        c = self.c
        data = c.nodes[node]
        opts = data["options"]
        if node in seen or data["node_kind"] == "missing":
            return False
        if data["node_kind"] == "data":
            key = node[len("data:"):]
            ext = (c.spec.extern_data or {}).get(key)
            return bool(ext.get("sparse") or ext.get("sparse_dim")) if isinstance(ext, dict) else False
        if data["class"] == "choice":  # its output is its target's (labels), or sparse scores' argmax
            target = opts.get("target")
            target = target[0] if isinstance(target, list) and target else target
            ext = (c.spec.extern_data or {}).get(target) if isinstance(target, str) else None
            if isinstance(ext, dict):
                return bool(ext.get("sparse") or ext.get("sparse_dim"))
            return opts.get("input_type") != "regression"  # regression: the dense frames it predicts
        if data["class"] == "reinterpret_data" and "set_sparse" in opts:
            return bool(opts["set_sparse"])
        if data["class"] not in _SPARSE_KEEPING or opts.get("out_type") or opts.get("n_out"):
            return False
        sources = [s for s, opt, _, _ in data.get("inputs", []) if opt == "from" and s != node]
        if data["class"] == "eval":
            # an eval without out_type takes the sources' common template (``Data.get_common_data``): the
            # first source with the most axes; in the loop, dense values with a feature axis outrank labels
            # of one frame (batch axis only), so such a mix is dense
            labels = [s for s in sources if self.is_sparse(s, seen | {node})]
            rec = c.rec_of(node)
            if labels and rec is not None and c.placement(node) == "loop" and any(
                    s not in labels and self.has_feature_axis(s) is True for s in sources) and all(
                    self.has_feature_axis(s) is False and self.frame_time(s, rec) is False
                    and self.loop_dims(s, rec) == frozenset() for s in labels):
                return False
            return bool(labels)
        return bool(sources) and self.is_sparse(sources[0], seen | {node})

    def sparse(self, node: str, seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether the output is sparse (labels), None when unsure."""
        c = self.c
        data = c.nodes[node]
        if node in seen or data["node_kind"] == "missing":
            return None
        if data["node_kind"] == "data":
            ext = self.extern(node[len("data:"):])
            return bool(ext["sparse"]) if ext else None
        if data["node_kind"] != "layer":
            return None
        cls = data["class"]
        if cls == "choice":
            return data["options"].get("input_type") != "regression"
        if cls in ("linear", "softmax", "self_attention", "activation", "layer_norm", "variable"):
            return False  # (``VariableLayer``: a dense tensor of its ``shape`` and ``dtype``)
        srcs = c.sources(node)
        if cls == "combine":
            # ``CombineLayer``: its sources' common data (``Data.get_common_data``), labels stay labels
            # (a ``mul`` of labels is sparse); a dense source makes it dense where it leads
            if data["options"].get("out_type") or data["options"].get("n_out") or not srcs:
                return None if any(self.sparse(src, seen | {node}) for src, _ in srcs) else False
            found = [self.sparse(src, seen | {node}) for src, _ in srcs]
            return True if all(f is True for f in found) else False if all(f is False for f in found) else None
        if cls == "compare":
            # ``CompareLayer.get_out_data_from_opts``: bool flags, the sparse dim dropped (an ``out_type`` may
            # say otherwise)
            out_type = data["options"].get("out_type")
            return bool(out_type.get("sparse")) if isinstance(out_type, dict) and "sparse" in out_type else False
        if cls == "constant":
            # ``ConstantLayer.get_out_data_from_opts``: labels only with a ``sparse_dim``
            return data["options"].get("sparse_dim") is not None
        if cls == "reinterpret_data":
            # ``ReinterpretDataLayer.get_out_data_from_opts``: ``set_sparse`` sets it, ``set_sparse_dim`` and
            # ``increase_sparse_dim`` assume labels; else its source's
            opts = data["options"]
            if isinstance(opts.get("set_sparse"), bool):
                return opts["set_sparse"]
            if opts.get("set_sparse_dim") is not None or opts.get("increase_sparse_dim"):
                return True
            return self.sparse(srcs[0][0], seen | {node}) if srcs else None
        if cls in ("copy", "dropout", "decide") and srcs:
            return self.sparse(srcs[0][0], seen | {node})
        if cls in ("gather", "slice", "expand_dims", "squeeze") and srcs and not data["options"].get("out_type") \
                or cls == "eval" and len(srcs) == 1 and not data["options"].get("out_type"):
            # the source's template with an axis taken, cut or added (an ``eval`` of one source: its template):
            # labels stay labels
            return self.sparse(srcs[0][0], seen | {node})
        if cls == "cast" and srcs:
            # ``CastLayer``: labels cast to a float (or complex) type lose their sparse dim
            if str(data["options"].get("dtype", "")).startswith(("float", "complex")):
                return False
            return self.sparse(srcs[0][0], seen | {node})
        if cls == "rec" and f"{node}/output" in c.nodes:
            return self.sparse(f"{node}/output", seen | {node})  # the unit output's template
        if cls == "cond":
            inline, src = self._cond_branch(node)
            if inline is not None and inline.get("class") in ("linear", "softmax", "combine", "activation",
                                                              "layer_norm"):
                return False
            return self.sparse(src, seen | {node}) if src is not None else None
        if cls == "concat" and srcs:  # dense pieces make a dense whole
            found = [self.sparse(src, seen | {node}) for src, _ in srcs]
            return False if all(f is False for f in found) else None
        return None

    def has_feature_axis(self, node: str, seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether a layer's output has a (dense) feature axis: not labels, not a scalar per
        hypothesis (``:i``, a comparison of labels); None if unsure."""
        c = self.c
        data = c.nodes[node]
        if node in seen or data["node_kind"] == "missing":
            return None
        if data["node_kind"] == "step":
            return False
        if data["node_kind"] == "data":
            ext = self.extern(node[len("data:"):])
            return (not ext["sparse"]) if ext else None
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        if cls == "choice":
            return opts.get("input_type") == "regression"
        if cls in ("linear", "softmax", "rnn_cell", "self_attention", "dot_attention", "generic_attention"):
            return True
        if cls == "reduce" and opts.get("mode", "").lower().startswith("arg"):
            return False
        if cls == "gather" and opts.get("axis") in ("F", "f", "feature"):
            if self._gathered_size(node) is not None:
                return True  # the position's static axis replaces the feature axis
            # ``GatherLayer``: one position of the feature axis taken; what is left has a feature axis only
            # where a source added axes (a split or expanded feature axis, a window)
            return None if self._adds_axes_upstream(node) else False
        if cls == "variable" and isinstance(opts.get("shape"), (list, tuple)):
            return bool(opts["shape"])  # ``VariableLayer``: its ``shape``, the last axis the feature axis
        if cls == "constant":
            # ``ConstantLayer``: a scalar, or the given ``shape`` (its last axis the feature axis)
            shape = opts.get("shape")
            return bool(shape) if shape is None or isinstance(shape, (list, tuple)) else None
        if cls == "switch":
            # ``SwitchLayer``: the common data of its branches (a number is a scalar)
            found = [self.has_feature_axis(b, seen | {node}) for b, option, _ in c.inputs(node)
                     if option in ("true_from", "false_from")]
            return _or(found) if found else None
        axis = opts.get("axis", opts.get("axes"))
        if cls in ("squeeze", "reduce") and (axis in ("F", "f") or axis == ["F"]):
            return False
        if cls == "rec" and f"{node}/output" in c.nodes:
            return self.has_feature_axis(f"{node}/output", seen | {node})  # the unit output's template
        if keeps_axes(cls, opts, KEEP_DIM) or cls in ("copy", "eval", "reinterpret_data", "cast", "decide", "pad") \
                or _keeps_feature(cls, opts, len(c.sources(node))):
            found = [self.has_feature_axis(src, seen | {node}) for src, _ in c.sources(node)]
            return _or(found) if found else None
        return None

    def dim(self, node: str, seen: frozenset[str] = frozenset()) -> int | None:
        """The feature dim (for sparse data: the vocabulary size) of a layer's output, if certain."""
        c = self.c
        data = c.nodes[node]
        if node in seen or data["node_kind"] == "missing":
            return None
        if data["node_kind"] == "data":
            ext = self.extern(node[len("data:"):])
            return ext["dim"] if ext else None
        if data["node_kind"] == "sub":
            return self._split_part_dim(node, seen)
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        srcs = c.sources(node)
        if cls == "choice":
            if opts.get("target"):
                return self.target_dim(node)
            # without a target the labels index its scores (``ChoiceLayer.get_out_data_from_opts``:
            # the sparse dim is its first source's feature dim)
            return self.dim(srcs[0][0], seen | {node}) if srcs else None
        if cls == "subnetwork" and f"{node}/output" in c.nodes:
            return self.dim(f"{node}/output", seen | {node})  # ``SubnetworkLayer``: its output layer's
        if cls == "masked_computation":
            unit = c.spec_unit(node)  # ``MaskedComputationLayer``: its unit's template
            return _inline_dim(unit, {}) if isinstance(unit, dict) else None
        if cls == "cond":
            return self._cond_dim(node, seen)
        given = opts.get("out_dim")
        given = given.get("__dim__", {}).get("dimension") if isinstance(given, dict) else opts.get("n_out")
        if isinstance(given, int) and not isinstance(given, bool) and cls != "subnetwork" \
                and not (cls == "rec" and f"{node}/output" in c.nodes):
            return given  # a layer's own n_out / out_dim is its output's feature (or sparse) dim
        if cls == "compare" and srcs and not opts.get("out_type") \
                and all(self.sparse(src, seen | {node}) is True for src, _ in srcs):
            return None  # ``CompareLayer.get_out_data_from_opts`` drops the labels' sparse dim: flags, no dim
        if cls in ("linear", "softmax", "self_attention"):
            if "n_out" not in opts and "out_dim" not in opts and opts.get("target"):
                # ``_guess_out_dim_from_target_and_opt_loss``: the target's dim, grown by the loss
                # (``CtcLoss.get_auto_output_layer_dim``: one more, the blank)
                want = self.target_dim(node, seen)
                return want + 1 if want is not None and opts.get("loss") == "ctc" else want
            return None
        if cls == "merge_dims" and len(srcs) == 1 and opts.get("axes") in ("static", ["static"]) \
                and "n_out" not in opts and "out_dim" not in opts:
            # ``MergeDimsLayer`` over the static axes: the feature axis and the static axis a ``window`` (its
            # ``window_size``) or a ``split_dims`` of the time axis (``dims`` ``[-1, k]``) added, one axis of
            # their product; over a source with no other static axis known, unsure
            return self._merged_static_dim(srcs[0][0], seen | {node})
        if cls == "reinterpret_data" and len(srcs) == 1 and not set(opts) & _REINTERPRET_DIMS:
            # ``ReinterpretDataLayer``: the source's template, its labels' dim grown by
            # ``increase_sparse_dim``
            have = self.dim(srcs[0][0], seen | {node})
            grow = opts.get("increase_sparse_dim")
            if have is None or not grow:
                return have
            return have + grow if isinstance(grow, int) and self.sparse(srcs[0][0]) is True else None
        if cls == "concat":
            # ``ConcatLayer``: (source, axis) pairs; along the feature axis the dims add up
            pairs = opts.get("from") if isinstance(opts.get("from"), list) else []
            axes = [p[1] if isinstance(p, (list, tuple)) and len(p) == 2 else None for p in pairs]
            if not srcs or len(axes) != len(srcs) or not all(a in ("F", "f") for a in axes):
                return None
            dims = [self.dim(src, seen | {node}) for src, _ in srcs]
            return sum(d for d in dims if d is not None) if all(d is not None for d in dims) else None
        if cls == "gather" and opts.get("axis") in ("F", "f", "feature") and "out_type" not in opts:
            # ``GatherLayer`` along the feature axis at a vector of positions (a shortlist): their static axis
            # replaces it, the last static axis, so the feature axis
            size = self._gathered_size(node)
            if size is not None:
                return size
        if cls == "gather" and srcs and _spatial_axis(opts.get("axis")):
            # ``GatherLayer``: one position of a time (spatial) axis taken, the feature axis stays
            return self.dim(srcs[0][0], seen | {node})
        if cls == "pad" and len(srcs) == 1:
            grown = _feature_padding(opts)
            if grown is not None:
                have = self.dim(srcs[0][0], seen | {node})  # ``PadLayer`` along the feature axis: it grows
                return None if have is None else have + grown
        if cls == "slice" and len(srcs) == 1 and opts.get("axis") in ("F", "f", "feature"):
            # ``SliceLayer`` along the feature axis: the dim of ``range(dim)[start:end:step]``
            have = self.dim(srcs[0][0], seen | {node})
            bounds = [opts.get(k) for k in ("slice_start", "slice_end", "slice_step")]
            if have is None or not all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds):
                return None
            return len(range(have)[slice(*bounds)])
        if cls == "expand_dims" and len(srcs) == 1 and opts.get("axis") in ("F", "f", "feature") \
                and self.has_feature_axis(srcs[0][0], seen | {node}) is False and self.sparse(srcs[0][0]) is False:
            # ``ExpandDimsLayer``: a new feature axis of ``dim`` (1) on a value without one
            dim = opts.get("dim", 1)
            return dim if isinstance(dim, int) and not isinstance(dim, bool) else None
        if _keeps_feature(cls, opts, len(srcs)) and "n_out" not in opts and "out_dim" not in opts:
            return self.dim(srcs[0][0], seen | {node})
        if cls == "generic_attention":
            # ``GenericAttentionLayer``: the weights sum over the base's time axis; its feature dim stays
            base = [src for src, option, _ in c.inputs(node) if option == "base"]
            return self.dim(base[0], seen | {node}) if len(base) == 1 else None
        if cls == "switch":
            # ``SwitchLayer``: the common data of ``true_from`` and ``false_from`` (a number broadcasts)
            branches = [(s, form) for s, option, form in c.inputs(node) if option in ("true_from", "false_from")]
            # (its own previous frame as a branch, a state kept, has the dim of the other)
            dims = {self.dim(b, seen | {node}) for b, form in branches if not (b == node and form == "prev")}
            return dims.pop() if len(dims) == 1 and branches else None
        if (keeps_axes(cls, opts, KEEP_DIM) or cls == "decide") and srcs and "n_out" not in opts \
                and "out_dim" not in opts:
            if cls in _CONCATS and len(srcs) > 1:
                # several sources are concatenated along the feature axis first (``concat_sources``)
                dims = [self.dim(src, seen | {node}) for src, _ in srcs]
                return sum(d for d in dims if d is not None) if all(d is not None for d in dims) else None
            first = self.dim(srcs[0][0], seen | {node})
            if first is None and cls in ("combine", "compare") and len(srcs) > 1:
                return self._common_feature_dim(node, srcs, seen)
            return first
        if cls == "eval" and len(srcs) == 1 and not opts.get("out_type") and "n_out" not in opts \
                and "out_dim" not in opts:
            return self.dim(srcs[0][0], seen | {node})  # ``EvalLayer`` (a ``CombineLayer``): its source's template
        if cls == "eval" and len(srcs) > 1 and not opts.get("out_type") and "n_out" not in opts \
                and "out_dim" not in opts:
            if all(self.sparse(src, seen | {node}) is True for src, _ in srcs):
                # labels only (``Data.get_common_data``: the first source's template, of as many axes): its
                # sparse dim, whatever the expression computes
                return self.dim(srcs[0][0], seen | {node})
            return self._common_feature_dim(node, srcs, seen)
        if cls == "variable" and isinstance(opts.get("shape"), (list, tuple)) and opts["shape"]:
            last = opts["shape"][-1]  # ``VariableLayer``: its ``shape``, the last axis the feature axis
            return last if isinstance(last, int) and not isinstance(last, bool) else None
        if cls == "rec" and f"{node}/output" in c.nodes and "n_out" not in opts and "out_dim" not in opts:
            return self.dim(f"{node}/output", seen | {node})  # the unit output's template
        axes = opts.get("axes", opts.get("axis"))
        if cls == "reduce" and srcs and axes and all(_spatial_axis(a) for a in (
                axes if isinstance(axes, (list, tuple)) else [axes])):  # over time: the feature dim stays
            return self.dim(srcs[0][0], seen | {node})
        return None

    def _gathered_size(self, node: str) -> int | None:
        """The size of the one static axis of a ``gather``'s ``position`` that is a vector of positions per
        sequence: a ``top_k`` (its values or ``indices``) of ``k`` over the feature axis, a ``range`` of known
        bounds, a one-axis ``variable``; None for any other (a scalar position, or unknown)."""
        c = self.c
        position = [src for src, option, _ in c.inputs(node) if option == "position"]
        if len(position) != 1:
            return None
        src = position[0]
        data = c.nodes[src]
        if data["node_kind"] == "sub" and src.rsplit("/", 1)[-1] == "indices":
            src = c.parent(src)
            data = c.nodes[src]
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        if cls == "top_k" and opts.get("axis") in ("F", "f", "feature"):
            k = opts.get("k")
            return k if isinstance(k, int) and not isinstance(k, bool) and k > 0 else None
        if cls == "range":
            bounds = [opts.get("start", 0), opts.get("limit"), opts.get("delta", 1)]
            if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) and bounds[2]:
                return len(range(*bounds)) or None
            return None
        if cls == "variable":
            shape = opts.get("shape")
            if isinstance(shape, (list, tuple)) and len(shape) == 1 and isinstance(shape[0], int):
                return shape[0]
        return None

    def _merged_static_dim(self, src: str, seen: frozenset[str]) -> int | None:
        """The product of a ``window`` / time ``split_dims`` output's static axes (the window or split and the
        feature axis of its source), where the source has one feature axis of a known dim and no other."""
        c = self.c
        data = c.nodes[src]
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        inner = c.sources(src)
        if len(inner) != 1:
            return None
        size = None
        if cls == "window" and opts.get("axis", "T") in TIME_NAMES:
            size = opts.get("window_size")
        elif cls == "split_dims" and opts.get("axis") in TIME_NAMES:
            dims = opts.get("dims")
            if isinstance(dims, (list, tuple)) and len(dims) == 2 and dims[0] == -1:
                size = dims[1]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            return None
        below = c.nodes[inner[0][0]]
        if below["node_kind"] == "data":
            ext = self.extern(inner[0][0][len("data:"):])
            if not ext or ext["sparse"] or not ext["time"] or ext["axes"] not in (None, 2):
                return None  # labels, or other axes than time and feature
        elif self.has_feature_axis(inner[0][0], seen | {src}) is not True or self._adds_axes_upstream(inner[0][0]):
            return None
        dim = self.dim(inner[0][0], seen | {src})
        return size * dim if dim is not None else None

    def _adds_axes_upstream(self, node: str) -> bool:
        """Whether a layer that ``node`` is computed from (its ``from`` inputs, transitively, ``prev:`` frames
        included) may add an axis to a frame or sequence: then what is left of it after an axis is taken is
        unsure."""
        c = self.c
        todo, seen = [node], {node}
        unit = c.rec_of(node)
        while todo:
            at = todo.pop()
            for src, form in c.sources(at):
                # (within the layer's own loop or root: what a loop reads through ``base:`` is one frame or a
                # whole sequence, which the time-axis checks judge)
                if src in seen or c.nodes[src]["node_kind"] != "layer" or form == "base" or c.rec_of(src) != unit:
                    continue
                seen.add(src)
                if c.nodes[src]["class"] in _AXES_ADDING or c.nodes[src]["options"].get("out_type"):
                    return True
                if c.nodes[src]["class"] != "choice":  # labels per hypothesis: whatever made its scores
                    todo.append(src)
        return False

    def _common_feature_dim(self, node: str, srcs: list[tuple[str, str]], seen: frozenset[str]) -> int | None:
        """``Data.get_common_data`` of element-wise sources (``CombineLayer``, ``EvalLayer``, ``CompareLayer``):
        the feature dim of the sources that have a feature axis, where they agree (a scalar per hypothesis,
        or a static axis of dim 1, broadcasts); None when unsure."""
        found = []
        for src, _ in srcs:
            f, d = self.has_feature_axis(src, seen | {node}), self.dim(src, seen | {node})
            if f is None and d is not None and self.sparse(src, seen | {node}) is False:
                f = True  # a dense value with a known dim has a feature axis of it
            found.append((f, d))
        known = {d for f, d in found if f and d is not None}
        wide = known - {1}
        if len(wide) == 1:
            # a source with a feature axis of a known dim other than 1: the others either have it or
            # broadcast to it (a scalar per hypothesis, a dim of 1), else the layer itself fails
            return wide.pop()
        if any(f is None for f, _ in found) or None in {d for f, d in found if f}:
            return None
        return 1 if known == {1} else None

    def _cond_branch(self, node: str) -> tuple[dict[str, Any] | None, str | None]:
        """A ``cond``'s true branch, whose template is the layer's (``CondLayer.get_out_data_from_opts``):
        (the inline layer dict or None, the layer it is or reads when it keeps that layer's axes and
        dims: a layer named, or the one source of an inline ``copy`` / ``activation`` / ...)."""
        true = self.c.nodes[node]["options"].get("true_layer")
        inline = true if isinstance(true, dict) else None
        if inline is not None:
            if "n_out" in inline or "out_dim" in inline or not keeps_axes(str(inline.get("class")), inline, KEEP_DIM):
                return inline, None
            true = inline.get("from")
            true = true[0] if isinstance(true, list) and len(true) == 1 else true
        if not isinstance(true, str):
            return inline, None
        src = next((u for u, _, d in self.c.graph.in_edges(node, data=True) if d.get("ref") == true), None)
        return inline, src

    def _cond_dim(self, node: str, seen: frozenset[str]) -> int | None:
        inline, src = self._cond_branch(node)
        if src is not None:
            return self.dim(src, seen | {node})
        return _inline_dim(inline, {}) if inline is not None else None

    def broadcast_axis(self, node: str) -> str | None:
        """The layer on ``node``'s path (through layers that keep their sources' axes) that combines
        dense feature axes of different sizes element-wise: RETURNN cannot match them
        (``Data.get_common_data``: two feature dim tags) and broadcasts them against each other, one
        more axis from there on; None when there is none, or it is not certain."""
        return self._remember(("broadcast", node), None, lambda: self._broadcast_axis(node))

    def _broadcast_axis(self, node: str) -> str | None:
        c = self.c
        data = c.nodes[node]
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        srcs = c.sources(node)
        if cls in ("combine", "eval") and len(srcs) > 1 and not opts.get("out_type"):
            dims = [self.dim(src) for src, _ in srcs]
            if all(d is not None and d > 1 for d in dims) and len(set(dims)) > 1 \
                    and all(self.sparse(src) is False or self.has_feature_axis(src) is True for src, _ in srcs):
                return node
        if keeps_axes(cls, opts, _BROADCAST_KEEPING):
            for src, _ in srcs:
                found = self.broadcast_axis(src)
                if found is not None:
                    return found
        return None

    # -- time axes --------------------------------------------------------------------------------------
    def _split_part_dim(self, node: str, seen: frozenset[str]) -> int | None:
        """The feature dim of part ``i`` of a ``split`` over the feature axis (``split/i``):
        ``size_splits[i]``, or the input's dim over ``num_splits`` (``SplitLayer``)."""
        c = self.c
        parent = next(iter(c.graph.predecessors(node)), None)
        if parent is None or c.nodes[parent]["class"] != "split":
            return None
        opts = c.nodes[parent]["options"]
        part = node.rsplit("/", 1)[-1]
        if opts.get("axis", "F") not in ("F", "f") or not part.isdigit():
            return None
        sizes = opts.get("size_splits")
        if isinstance(sizes, list) and int(part) < len(sizes) and isinstance(sizes[int(part)], int):
            return sizes[int(part)]
        num = opts.get("num_splits")
        srcs = c.sources(parent)
        whole = self.dim(srcs[0][0], seen | {node}) if srcs and isinstance(num, int) and num > 0 else None
        return whole // num if whole is not None and whole % num == 0 else None

    def data_tag(self, key: str) -> str | None:
        """The time axis of extern data ``key``: a tag naming it, "" for none, None if unsure."""
        ext = self.extern(key)
        if ext is None:
            return None
        if not ext["time"]:
            return ""
        decl = (self.c.spec.extern_data or {}).get(key)
        if isinstance(decl, dict) and isinstance(decl.get("dims"), list):
            spatial = [d["__dim__"].get("description") for d in decl["dims"]
                       if isinstance(d, dict) and isinstance(d.get("__dim__"), dict)
                       and d["__dim__"].get("kind") == "spatial"]
            return f"dim:{spatial[0]}" if len(spatial) == 1 else None
        return f"data:{key}"

    def root_tag(self, node: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The time axis of a layer outside any loop (as ``base:`` hands it into a loop): a tag, ""
        for none, None when unsure (remembered; a cycle gives None)."""
        return self._remember(("root", node), None, lambda: self._root_tag(node, seen))

    def _root_tag(self, node: str, seen: frozenset[str]) -> str | None:
        c = self.c
        data = c.nodes[node]
        if node in seen or data["node_kind"] == "missing":
            return None
        if data["node_kind"] == "data":
            return self.data_tag(node[len("data:"):])
        if data["node_kind"] != "layer" or c.rec_of(node) is not None:
            return None
        cls, opts = data["class"], data["options"]
        srcs = c.sources(node)
        if cls == "subnetwork":  # its value is its own 'output' layer (SubnetworkLayer)
            inner = f"{node}/output"
            return self.root_tag(inner, seen | {node}) if inner in c.nodes else None
        if cls == "rec":
            # a loop with a unit (the node's options hold no ``unit``: the network's dict does)
            unit = isinstance(opts.get("unit"), dict) or isinstance(c.spec_unit(node), dict)
            return self.rec_tag(node, seen | {node}) if unit or srcs else None
        if _over_feature(cls, opts) and len(srcs) == 1 and srcs[0][1] in ("from", "data"):
            return self.root_tag(srcs[0][0], seen | {node})  # the feature axis cut or reduced: time stays
        if cls == "reduce":
            axis = opts.get("axis", opts.get("axes"))
            axes = axis if isinstance(axis, list) else [axis]
            return "" if any(a in TIME_NAMES for a in axes) else None
        if cls == "get_last_hidden_state":
            return ""
        if cls == "repeat" and srcs and srcs[0][1] in ("from", "data") and opts.get("axis") in TIME_NAMES:
            # ``RepeatLayer``: the repeated time axis is a new dim (``tag * repetitions``, ``repeated:``)
            src_tag = self.root_tag(srcs[0][0], seen | {node})
            return f"repeat:{node}" if src_tag else src_tag
        if cls in ("split_dims", "merge_dims") and srcs and srcs[0][1] in ("from", "data"):
            return self._reshaped_tag(node, cls, opts, self.root_tag(srcs[0][0], seen | {node}))
        if cls in ("window", "slice") and len(srcs) == 1 and srcs[0][1] in ("from", "data") \
                and opts.get("axis", "T" if cls == "window" else None) in TIME_NAMES:
            # ``WindowLayer`` with a ``stride``, ``SliceLayer`` with a ``slice_step`` or bounds: the time axis
            # becomes a new dim (its size computed from the source's); otherwise it stays
            tag = self.root_tag(srcs[0][0], seen | {node})
            step = opts.get("stride", 1) if cls == "window" else opts.get("slice_step", 1)
            bounds = (cls == "slice" and (opts.get("slice_start") or opts.get("slice_end") is not None)) or \
                (cls == "window" and opts.get("padding", "same") != "same")
            return tag if not tag or (step in (1, None) and not bounds) else f"{cls}:{node}"
        if cls in ("conv", "pool", "transposed_conv") and srcs:
            return self._window_tag(node, cls, opts, [self.root_tag(s, seen | {node}) if f in ("from", "data")
                                                      else None for s, f in srcs])
        if cls == "reinterpret_data" and srcs and srcs[0][1] in ("from", "data"):
            declared = _declared_time(opts)
            if declared is not None:
                # ``set_dim_tags`` gives the time axis another dim (``ReinterpretDataLayer``; it
                # needs one to set)
                src_tag = self.root_tag(srcs[0][0], seen | {node})
                return src_tag if src_tag == "" else f"dim:{declared}"
        # inside a root subnetwork, ``base:X`` is the root's X
        forms = ("from", "data", "base") if data["unit_kind"] == "subnet" else ("from", "data")
        if keeps_axes(cls, opts, KEEP_AXES) and srcs:
            return _same([self.root_tag(s, seen | {node}) if f in forms else None for s, f in srcs])
        return None

    @staticmethod
    def _reshaped_tag(node: str, cls: str, opts: dict[str, Any], tag: str | None) -> str | None:
        """The time axis after ``split_dims`` / ``merge_dims`` of a layer with time axis ``tag``: kept when
        other axes are reshaped; ``split:NODE`` when ``split_dims`` splits the time axis into a new
        dynamic axis (``dims`` with one ``-1`` next to other dims of product > 1:
        ``SplitDimsLayer.get_out_data_from_opts`` makes a ``..._split_dims<i>_rem`` dim); None if unsure."""
        if not tag:
            return tag
        if cls == "merge_dims":
            axes = opts.get("axes")
            axes = axes if isinstance(axes, (list, tuple)) else [axes]
            return tag if all(isinstance(a, str) and (a in ("F", "f") or a.startswith("static")) for a in axes) \
                else None
        axis, dims = opts.get("axis"), opts.get("dims")
        if axis in ("F", "f"):
            return tag
        if axis not in TIME_NAMES or not isinstance(dims, (list, tuple)) \
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            return None
        rest = [d for d in dims if d != -1]
        if len(rest) != len(dims) - 1 or any(d <= 0 for d in rest):
            return None
        product = 1
        for d in rest:
            product *= d
        return tag if product == 1 else f"split:{node}"

    @staticmethod
    def _window_tag(node: str, cls: str, opts: dict[str, Any], tags: list[str | None]) -> str | None:
        """The time axis of a ``conv`` / ``pool`` / ``transposed_conv`` over one: the source's with
        padding "same" and stride 1 (``ConvLayer.calc_out_dim`` keeps the dim), else a new one
        (a pooled or strided time axis is another dim: its own tag)."""
        tag = _same(tags)
        if not tag:
            return tag  # unsure, or no time axis to slide over (then the window is over other axes)
        size = opts.get("pool_size") if cls == "pool" else None
        strides = opts.get("strides", size if size is not None else 1)
        strides = list(strides) if isinstance(strides, (list, tuple)) else [strides]
        if cls != "transposed_conv" and opts.get("padding", "valid") == "same" and all(x == 1 for x in strides):
            return tag
        return f"{cls}:{node}"

    def rec_tag(self, rec: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The time axis a rec loop iterates over: its input's, or its own when it has none."""
        srcs = self.c.sources(rec)
        if not srcs:
            return f"rec:{rec}"
        return _same([self.root_tag(s, seen) if f in ("from", "data") else None for s, f in srcs]) or None

    def root_time(self, node: str) -> bool | None:
        """Whether a layer outside any loop has a time axis (its tag, else :meth:`has_time`)."""
        tag = self.root_tag(node)
        return self.has_time(node) if tag is None else bool(tag)

    def has_time(self, node: str) -> bool | None:
        """Whether a layer outside any loop has some time axis, when which one is not known (a
        pooled, convolved or reshaped time axis keeps being one); None when unsure. Remembered."""
        return self._remember(("has_time", node), None, lambda: self._has_time(node))

    def _has_time(self, node: str) -> bool | None:
        c = self.c
        data = c.nodes[node]
        if data["node_kind"] == "data":
            tag = self.data_tag(node[len("data:"):])
            return None if tag is None else bool(tag)
        if data["node_kind"] != "layer" or c.rec_of(node) is not None:
            return None
        cls, opts = data["class"], data["options"]
        srcs = [s for s, f in c.sources(node) if f in ("from", "data")]
        if cls in ("get_last_hidden_state", "length", "choice_get_beam_scores", "choice_get_src_beams"):
            return False  # one value per hypothesis (the beam layers' outputs have shape ())
        if cls == "choice" and not opts.get("target"):
            return False  # labels (batch,): ``ChoiceLayer.get_out_data_from_opts`` without a target
        if cls == "variable":
            return bool(opts.get("add_time_axis"))
        if cls == "reduce":
            axis = opts.get("axis", opts.get("axes"))
            axes = axis if isinstance(axis, list) else [axis]
            if any(a in TIME_NAMES for a in axes):
                return False
            return _or([self.has_time(s) for s in srcs]) if srcs and all(
                isinstance(a, str) and a.upper() in ("F", "FEATURE", "STATIC") for a in axes) else None
        if cls == "subnetwork":
            inner = f"{node}/output"
            return self.root_time(inner) if inner in c.nodes else None
        if cls == "slice" and _over_feature(cls, opts) and srcs:
            return _or([self.has_time(s) for s in srcs])
        if cls == "rec" and not srcs and f"{node}/output" in c.nodes:
            return True  # a loop of its own: its output has the loop's time axis
        if cls == "merge_dims" and opts.get("axes") not in ("static", "F", "f"):
            return None
        if (cls in _TIME_KEEPING or keeps_axes(cls, opts, KEEP_AXES)) and srcs:
            return _or([self.has_time(s) for s in srcs])
        return None

    def outer_tag(self, node: str, rec: str, seen: frozenset[str]) -> str | None:
        """The time axis of a loop layer moved out in front of the loop (computed over all frames at
        once, in RETURNN's ``input_layers_net``); remembered, a cycle gives None."""
        return self._remember(("outer", node, rec), None, lambda: self._outer_tag(node, rec, seen))

    def _split_of(self, node: str) -> str | None:
        """The ``split`` layer (of the feature axis) whose part ``node`` (``split/0``) is: a part keeps
        every axis of the split layer but the feature axis (``SplitLayer``)."""
        c = self.c
        if c.nodes[node]["node_kind"] != "sub":
            return None
        parent = next(iter(c.graph.predecessors(node)), None)
        if parent is None or c.nodes[parent]["class"] != "split" \
                or not keeps_axes("split", c.nodes[parent]["options"], KEEP_AXES):
            return None
        return parent

    def _outer_tag(self, node: str, rec: str, seen: frozenset[str]) -> str | None:
        c = self.c
        parent = self._split_of(node)
        if parent is not None:
            return self.outer_tag(parent, rec, seen | {node})
        data = c.nodes[node]
        if node in seen or data["node_kind"] != "layer" or data["unit"] != rec:
            return None
        srcs = c.sources(node)
        if data["class"] == "gather" and data["options"].get("axis") in TIME_NAMES:
            # ``GatherLayer``: the position's axes replace the gathered time axis, so a position over a
            # time axis gives the output that one (a position without one: unsure)
            position = [(src, form) for src, option, form in c.inputs(node) if option == "position"]
            got = self._input_outer_tag(position[0][0], position[0][1], node, rec, seen) if len(position) == 1 else None
            return got or None
        if not keeps_axes(data["class"], data["options"], KEEP_AXES) or not srcs:
            return None
        return _same([self._input_outer_tag(src, form, node, rec, seen) for src, form in srcs])

    def _input_outer_tag(self, src: str, form: str, node: str, rec: str, seen: frozenset[str]) -> str | None:
        """The time axis of one input of a layer moved out in front of ``rec``'s loop."""
        c = self.c
        if form == "base":
            return self.root_tag(src)
        if form == "data" and c.nodes[src]["node_kind"] == "data":
            # ``data:source`` is the loop's input; any other key (``data`` too) the parent's extern data, whole
            # (``input_layers_net``)
            ref = c.edge(src, node)["ref"]
            return self.rec_tag(rec) if ref == "data:source" else self.data_tag(src[len("data:"):])
        if form in ("from", "prev", "sub") and c.placement(src) == "input":
            return self.outer_tag(src, rec, seen | {node})
        return None

    def outer_has_time(self, node: str, rec: str, seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether a loop layer moved out in front of the loop has some time axis (computed over all
        frames at once from ``base:`` layers and extern data read whole)."""
        c = self.c
        parent = self._split_of(node)
        if parent is not None:
            return self.outer_has_time(parent, rec, seen | {node})
        data = c.nodes[node]
        if node in seen or data["node_kind"] != "layer" or data["unit"] != rec:
            return None
        srcs = c.sources(node)
        if not (keeps_axes(data["class"], data["options"], KEEP_AXES) or data["class"] in _TIME_KEEPING) or not srcs:
            return None
        found: list[bool | None] = []
        for src, form in srcs:
            if form == "base":
                found.append(self.root_time(src))
            elif form in ("from", "prev", "sub") and c.placement(src) == "input":
                found.append(self.outer_has_time(src, rec, seen | {node}))
            else:
                found.append(None)
        return _or(found)

    def frame_time(self, node: str, rec: str, seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether a loop layer's frame value carries an extra time axis: the whole sequence of a
        ``base:`` layer or of extern data read inside the loop, kept by the layers in between. A layer
        moved out in front of the loop is sliced per frame only when its time axis is the loop's
        (``_SubnetworkRecCell.get_input_moved_out``); otherwise the loop gets it whole. Remembered;
        a cycle gives False."""
        return self._remember(("frame", node, rec), False, lambda: self._frame_time(node, rec, seen))

    def _frame_time(self, node: str, rec: str, seen: frozenset[str]) -> bool | None:
        c = self.c
        data = c.nodes[node]
        if node in seen:
            return False  # a prev: cycle adds nothing of its own
        if data["node_kind"] == "sub":
            parent = self._split_of(node)
            return self.frame_time(parent, rec, seen | {node}) if parent is not None else None
        if data["node_kind"] != "layer" or c.rec_of(node) != rec:
            return None
        where = c.placement(node)
        if data["class"] == "subnetwork" and where == "loop":  # its value is its own 'output' layer
            inner = f"{node}/output"
            return self.frame_time(inner, rec, seen | {node}) if inner in c.nodes else None
        if where == "input" and data["unit"] == rec:
            tag, own = self.outer_tag(node, rec, frozenset()), self.rec_tag(rec)
            if tag is None:
                # a loop over its own time axis (a search loop, no input) slices no layer moved in
                # front of it: any time axis such a layer has is another one
                return True if own == f"rec:{rec}" and self.outer_has_time(node, rec) else None
            return bool(tag) and own is not None and tag != own
        if where != "loop":
            return None
        srcs = c.sources(node)
        cls, opts = data["class"], data["options"]
        if cls == "reduce" and _over_declared_dims(opts) and len(srcs) == 1 \
                and self._read_tag(srcs[0][0], srcs[0][1], rec, seen | {node}) in _declared_keys(opts):
            return False  # the reduction of an outer layer's time axis, a dim declared as its time
        if cls == "cum_concat" or (cls == "reduce" and _over_declared_dims(opts)):
            # a history axis of the loop's own, or its reduction: the other axes stay
            return self.read_time(srcs[0][0], srcs[0][1], node, rec, seen | {node}) if srcs else None
        if cls == "choice":
            return False  # this frame's labels (or a regression's frame): ``ChoiceLayer`` has no time axis
        if cls == "gather":
            # ``GatherLayer.get_out_data_from_opts``: the source's axes with the gathered one replaced by the
            # position's axes: an extra time axis of the position stays (the source's may be the one gathered)
            position = [(src, form) for src, option, form in c.inputs(node) if option == "position"]
            if any(self.read_time(src, form, node, rec, seen | {node}) for src, form in position):
                return True
            if opts.get("axis") in ("F", "f", "feature") and len(srcs) == 1 and all(
                    self.read_time(src, form, node, rec, seen | {node}) is False for src, form in position):
                # one entry of the feature axis taken at a frame value (or a constant index): the source's other
                # axes stay
                return self.read_time(srcs[0][0], srcs[0][1], node, rec, seen | {node})
        if cls == "switch":
            # ``SwitchLayer.get_out_data_from_opts``: the common template of both branches and the condition
            branches = [(src, form) for src, option, form in c.inputs(node)
                        if option in ("true_from", "false_from", "condition")]
            return _or([self.read_time(src, form, node, rec, seen | {node}) for src, form in branches]) \
                if branches else None
        if cls == "reduce" and len(srcs) == 1 and _reduces_other_axes(opts):
            return self.read_time(srcs[0][0], srcs[0][1], node, rec, seen | {node})
        if not (keeps_axes(cls, opts, KEEP_AXES) or _keeps_time(cls, opts)) or not srcs:
            return None
        return _or([self.read_time(src, form, node, rec, seen | {node}) for src, form in srcs])

    def _read_tag(self, src: str, form: str, rec: str, seen: frozenset[str]) -> str | None:
        """The time axis a loop layer gets ``src`` with (``form`` as in :meth:`read_time`): an outer
        layer's (``base:``), kept through the frame by classes that keep their sources' axes; "" for
        none, None when unsure."""
        c = self.c
        if form == "base":
            return self.root_tag(src)
        if form not in ("from", "prev") or src in seen or c.nodes[src]["node_kind"] != "layer" \
                or c.rec_of(src) != rec or c.placement(src) != "loop":
            return None
        if self.frame_time(src, rec) is False:
            return ""
        data = c.nodes[src]
        srcs = c.sources(src)
        if not keeps_axes(data["class"], data["options"], KEEP_AXES) or not srcs:
            return None
        tags = [self._read_tag(s, f, rec, seen | {src}) for s, f in srcs]
        if any(t is None for t in tags):
            return None
        return _same([t for t in tags if t]) or ""

    def read_time(self, src: str, form: str, node: str, rec: str,
                  seen: frozenset[str] = frozenset()) -> bool | None:
        """Whether ``node`` (in ``rec``'s loop) receives ``src`` with an extra time axis."""
        c = self.c
        if form in ("base", "data") and c.nodes[src]["node_kind"] == "layer" and c.rec_of(src) == rec:
            return self.frame_time(src, rec, seen)  # a subnetwork's input or its loop's layer
        if form == "base":
            return self.root_time(src)
        if form == "data" and c.nodes[src]["node_kind"] == "data":
            if c.edge(src, node)["ref"] == "data:source" or one_frame_of_loop_input(c, node, rec, src):
                return False  # the loop's own input: one frame
            if c.placement(node) == "loop":
                # the loop's net has the parent's extern data without their time axis, and each frame gets
                # their value at the loop's index (``_SubnetworkRecCell._construct``: ``data[key]``)
                return False
            # moved out in front of the loop, it reads the parent's extern data whole (``input_layers_net``),
            # which the loop slices per frame only where it iterates over it
            return self.root_time(src)
        if form in ("from", "prev", "sub"):
            return self.frame_time(src, rec, seen)
        return None

    # -- dims defined inside a loop -------------------------------------------------------------------
    def loop_dims(self, node: str, rec: str) -> frozenset[str] | None:
        """The dims a loop layer's frame value carries that are defined inside ``rec``'s loop, as keys
        ``cum_concat:<declaration JSON>`` (``CumConcatLayer``'s ``out_spatial_dim``: its size in the
        frame is the frame's index plus one, no batch axis) or ``slice_nd:<layer>`` (a ``slice_nd``
        whose size is a layer or None: known per hypothesis, only in the frame); None when unsure.
        Remembered."""
        return self._remember(("loop_dims", node, rec), frozenset(),
                              lambda: self._loop_dims(node, rec))

    def _loop_dims(self, node: str, rec: str) -> frozenset[str] | None:
        c = self.c
        data = c.nodes[node]
        cls, opts = data["class"], data["options"]
        if data["node_kind"] != "layer" or c.rec_of(node) != rec or c.placement(node) != "loop":
            return None
        if cls == "subnetwork":
            inner = f"{node}/output"
            return self.loop_dims(inner, rec) if inner in c.nodes else None
        if cls in ("choice", "compare"):
            return frozenset()  # labels or flags per hypothesis: [B]
        found: set[str] = set()
        for src, form in c.sources(node):
            if form in ("base", "data") or (form == "from" and c.nodes[src]["node_kind"] == "layer"
                                            and c.rec_of(src) == rec and c.placement(src) == "input"):
                continue  # from outside the loop (or moved before it, read per frame): no dim of the frame
            got = self.loop_dims(src, rec) if form == "from" else \
                (frozenset() if self.loop_dims(src, rec) == frozenset() else None)
            if got is None:
                return None
            found |= got
        if cls == "cum_concat":
            dim = dim_key(opts.get("out_spatial_dim"))
            return None if dim is None else frozenset(found | {"cum_concat:" + dim})
        if cls == "slice_nd" and not isinstance(opts.get("size"), (int, dict)):
            return frozenset(found | {"slice_nd:" + node})  # SliceNdLayer: a new dynamic axis
        if not found:
            return frozenset()  # other classes make no dim of the loop's own
        if cls == "dot":
            reduced = [opts.get(k) for k in ("reduce", "red1", "red2") if k in opts]
        elif cls == "reduce":
            reduced = [opts.get("axis", opts.get("axes"))]
        elif keeps_axes(cls, opts, KEEP_AXES):
            reduced = []
        else:
            return None
        for red in reduced:
            for axis in red if isinstance(red, (list, tuple)) else [red]:
                if isinstance(axis, str) and axis.upper() == "F":
                    continue  # the feature axis: no dim of the loop's own
                key = dim_key(axis)
                if key is None:
                    return None
                found.discard("cum_concat:" + key)
        return frozenset(found)


    # -- batch axis of loop templates -------------------------------------------------------------------
    def batchless(self, node: str) -> bool:
        """Whether the template of a layer in a rec unit has no batch axis, for sure.

        ``_SubnetworkRecCell._construct_template`` starts a layer it meets before it is built (a
        ``prev:`` reference into the layer being built) as a dummy, a scalar without batch axis, and
        rebuilds the partially built templates until nothing changes. A layer's template takes its
        axes from its inputs' common template (``_base_get_out_data_from_opts``), so a layer whose
        inputs are only the loop's own frames, none of them ever with a batch axis (from the loop's
        input, the encoder, a choice's target), keeps the dummy's axes; the real layer then computes on
        a ``prev:`` value shaped like that template. Where the unit was replayed
        (:meth:`Construction.replayed_batchless`) the replay answers; else a fixed point from the
        layers that surely have a batch axis."""
        rec = self.c.rec_of(node)
        if rec is None:
            return False
        replayed = self.c.replayed_batchless(rec)
        if replayed is not None:  # the replay of the template construction knows
            return node in replayed
        return node in self._remember(("batchless", rec), frozenset(), lambda: self._batchless(rec))

    def _batchless(self, rec: str) -> frozenset[str]:
        c = self.c
        members = [n for n in c.children(rec) if c.nodes[n]["node_kind"] == "layer"]
        inside = set(members)

        def anchored(node: str) -> bool:  # a batch axis whatever its loop inputs are (when unsure too)
            data = c.nodes[node]
            cls, opts = data["class"], data["options"]
            initial = opts.get("initial_output")
            if cls in MADE_FROM_NOTHING and not c.inputs(node):
                return c.batched(node)  # a variable, a constant: a batch axis only where it makes one
            return cls not in FROM_INPUTS or (cls == "eval" and bool(opts.get("out_type"))) \
                or (isinstance(initial, str) and initial.startswith("base:")) or not c.inputs(node) \
                or any(src not in inside and c.batched(src) for src, _, _ in c.inputs(node))

        def gets_batch(node: str) -> bool:
            loop_inputs = [src for src, _, _ in c.inputs(node) if src in inside and src != node]
            if c.nodes[node]["class"] in NEEDS_BATCH:  # fails on a batchless input
                return all(src in batched for src in loop_inputs)
            return any(src in batched for src in loop_inputs)

        strict = {n for n in members if c.nodes[n]["class"] in NEEDS_BATCH}
        batched = {n for n in members if anchored(n) and n not in strict}
        changed = True
        while changed:
            changed = False
            for node in members:
                if node not in batched and gets_batch(node):
                    batched.add(node)
                    changed = True
        return frozenset(inside - batched)


def _spatial_axis(axis: Any) -> bool:
    """An axis description that surely names a time or other spatial axis, never the feature axis
    (``T``, ``spatial:-1``, ``dyn:0``, ``stag:time``)."""
    if not isinstance(axis, str):
        return False
    return axis in TIME_NAMES or axis.split(":")[0] in ("s", "spatial", "d", "dyn", "dynamic") \
        or axis in ("spatial", "dyn", "dynamic", "spatial_except_time") \
        or (axis.startswith("stag:") and "time" in axis[5:])  # e.g. slice_nd's ``sliced-time:NAME``


def _inline_dim(desc: dict[str, Any], layers: dict[str, Any], depth: int = 0) -> int | None:
    """The feature dim of a layer given inline (a ``masked_computation``'s ``unit``), where it is
    declared: its own ``n_out``, or through ``copy`` / a ``subnetwork``'s ``output`` to a layer of the
    same inline network that declares one."""
    if depth > 20 or not isinstance(desc, dict):
        return None
    n_out = desc.get("n_out")
    if isinstance(n_out, int) and not isinstance(n_out, bool) and desc.get("class") != "subnetwork":
        return n_out
    if desc.get("class") == "subnetwork" and isinstance(desc.get("subnetwork"), dict):
        inner = desc["subnetwork"]
        return _inline_dim(inner.get("output"), inner, depth + 1)
    if desc.get("class") in ("copy", "dropout", "activation", "layer_norm"):
        src = desc.get("from")
        src = src[0] if isinstance(src, list) and len(src) == 1 else src
        if isinstance(src, str) and src in layers:
            return _inline_dim(layers[src], layers, depth + 1)
    return None


def _declared_time(opts: dict[str, Any]) -> str | None:
    """The key (:func:`dim_key`) of the dim a ``reinterpret_data``'s ``set_dim_tags`` declares for the
    time axis, None for none."""
    tags = opts.get("set_dim_tags")
    if not isinstance(tags, dict):
        return None
    return next((dim_key(v) for k, v in tags.items() if k in TIME_NAMES and dim_key(v)), None)


def _declared_keys(opts: dict[str, Any]) -> set[str]:
    """``dim:KEY`` for each dim a ``reduce`` names by declaration (``{"__dim__": ...}``)."""
    axes = opts.get("axes", opts.get("axis"))
    axes = axes if isinstance(axes, list) else [axes]
    return {f"dim:{k}" for k in map(dim_key, axes) if k}


