"""Where a layer's output keeps its batch axis: RETURNN's template layouts, as far as the network says.

RETURNN's templates are not all batch-major. A ``rec`` layer's output is time-major (``[T,B,...]``,
``RecLayer.get_out_data_from_opts``), and most classes take the layout of their sources' common
template (``_base_get_out_data_from_opts`` / ``get_concat_sources_data_template``): ``Data.get_common_data``
copies the *first source with the most axes* and adds the others' axes to it. So inside a decoder
loop, a layer that combines the encoder's time-major keys (``base:enc_ctx``, ``[T,B,F]``) with this
frame's ``[B,F]`` state is time-major too, and so is everything computed from it that keeps its axes.
Code that assumes a batch-major frame (``_opt_search_resolve``'s ``transform``, which backtracks an
accumulated output after the loop) asserts on such a layer.

:class:`Layout` is one template's ``(batch_ndim, batch axis, time axis, sparse)``; every function
answers None when the network does not say for sure. :func:`common_layout` is the per-class rule the
template replay (:mod:`.template_order`) applies to a loop layer's inputs as they are when it is built
(a dummy input: no axis at all); :class:`RootLayouts` answers for layers outside any loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["AXIS_OPTIONS", "DUMMY", "Layout", "RootLayouts", "as_batch_major", "common_layout", "dim_key",
           "frame_layout", "lacks_time_axis", "made_dims", "names_missing_axis"]

#: options a layer reads an existing axis by (a declared dim there makes no dim)
AXIS_OPTIONS = ("axis", "axes", "red1", "red2", "reduce", "var1", "var2", "in_dim")


def dim_key(value: Any) -> str | None:
    """A dim declared by ``{"__dim__": ...}`` as a comparable key, None for anything else."""
    if isinstance(value, dict) and "__dim__" in value:
        return json.dumps(value["__dim__"], sort_keys=True, default=str)
    return None


def made_dims(spec: Any) -> frozenset[str]:
    """The keys (:func:`dim_key`) of every dim declared in the extern data and in the network's layer
    options other than those reading an existing axis (:data:`AXIS_OPTIONS`; a rec layer's ``axis``
    makes its loop's dim): the dims something makes, which a layer can then read as an axis."""
    found: set[str] = set()

    def walk(value: Any, reading: bool) -> None:
        if isinstance(value, dict):
            key = dim_key(value)
            if key is not None:
                if not reading:
                    found.add(key)
                return
            layer = value.get("class")
            for k, v in value.items():
                walk(v, reading or (isinstance(layer, str) and layer != "rec" and k in AXIS_OPTIONS))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, reading)

    walk(getattr(spec, "extern_data", None) or {}, False)
    walk(getattr(spec, "network", None) or {}, False)
    return frozenset(found)


@dataclass(frozen=True)
class Layout:
    """A template's axes: ``ndim`` counts the batch axis (``batch_ndim``); ``batch`` / ``time`` are
    axis indices (None: no such axis); ``sparse``: labels (no feature axis); ``tag`` names the time
    axis (which dim it is: ``data:X``, a loop's own ``rec:L``, a window's ``pool:L``)."""

    ndim: int
    batch: int | None
    time: int | None = None
    sparse: bool = False
    tag: str | None = None


#: The dummy template of a layer met before it is built (``_TemplateLayer`` initial data): a scalar.
DUMMY = Layout(0, None, None, False, None)

#: Classes whose template is their sources' common template with the feature axis replaced or kept
#: (``get_concat_sources_data_template`` / ``Data.get_common_data``)
_COMMON = frozenset({"linear", "softmax", "copy", "activation", "combine", "dropout", "layer_norm", "compare",
                     "eval", "cast", "gating", "elemwise_prod"})
#: Of :data:`_COMMON`: a dense feature axis replaces (or is added to) the sources' one
_DENSE_OUT = frozenset({"linear", "softmax", "gating"})
#: The names ``Data.get_axis_from_description`` reads as the time axis
TIME_NAMES = ("t", "T", "time", "stag:time")


def names_batch(axis: Any) -> bool:
    """Whether an axis description names the batch axis (``B`` / ``batch``, any case)."""
    return isinstance(axis, str) and axis.lower() in ("b", "batch")


def as_batch_major(layout: Layout) -> Layout:
    """``Data.copy_as_batch_major``: the batch axis moved to the front."""
    if layout.batch in (None, 0):
        return layout
    time = layout.time
    if time is not None and time < layout.batch:
        time += 1
    return replace(layout, batch=0, time=time)


def common_layout(cls: str, opts: dict[str, Any], sources: Sequence[Layout | None]) -> Layout | None:
    """The template layout of a layer of class ``cls`` over ``sources`` (its ``from`` inputs' layouts,
    in order), None when unsure. The first source with the most axes gives the layout
    (``Data.get_common_data``); a common template without batch axis gets one in front when another
    source has one."""
    out_type = opts.get("out_type")
    if cls not in _COMMON or not sources or opts.get("in_dim") or opts.get("axis"):
        return None
    if out_type and not _keeps_common_axes(cls, out_type):
        return None
    known = [s for s in sources if s is not None]
    if len(known) < len(sources):
        return None
    top = max(s.ndim for s in known)
    common = next(s for s in known if s.ndim == top)
    if any(s.time is not None and s.tag != common.tag for s in known):
        return None  # another time axis is added to the common template: where it goes is not modelled
    if common.batch is None and any(s.batch is not None for s in known):
        if common.ndim:
            return None  # where the batch axis goes between other axes: not modelled
        common = Layout(1, 0, None, common.sparse)
    if cls in _DENSE_OUT:
        if common.sparse or common.ndim == 0:
            return replace(common, ndim=common.ndim + 1, sparse=False)  # an embedding (or a scalar's): [.., F]
        return replace(common, sparse=False)
    if cls == "compare":
        return replace(common, sparse=False)
    if out_type:
        shape = out_type.get("shape")
        if shape is not None and len(shape) + 1 != common.ndim or out_type.get("sparse") is not None:
            return None  # axes added or dropped, or the sparse flag set: where they go is not modelled
    if cls in ("combine", "eval") and len(known) > 1:
        return replace(common, sparse=False) if not all(s.sparse for s in known) else common
    return common


def _keeps_common_axes(cls: str, out_type: Any) -> bool:
    """Whether a ``combine`` / ``eval`` with this ``out_type`` is laid out like its sources' common
    template: ``CombineLayer.get_out_data_from_opts`` starts from ``Data.get_common_data`` of the
    sources and only updates it with a dict ``out_type`` (a ``shape`` drops the axis attributes, and
    the template keeps the common layout, as RETURNN's own layouts on the corpus show); explicit axes
    or a function are not modelled."""
    if cls not in ("combine", "eval") or not isinstance(out_type, dict):
        return False
    return not any(k in out_type for k in ("batch_dim_axis", "time_dim_axis", "feature_dim_axis", "dims",
                                           "dim_tags", "sparse_dim"))


#: Options besides ``from`` whose layers' layouts a class's layout depends on (:func:`frame_layout`)
LAYOUT_OPTIONS = frozenset({"weights", "base"})  # (``generic_attention``, ``dot_attention``)


def frame_layout(cls: str, opts: dict[str, Any], sources: Sequence[Layout | None],
                 target: Layout | None = None, options: Mapping[str, Layout | None] | None = None) -> Layout | None:
    """A loop layer's template layout from its inputs' (:func:`common_layout`, and the classes
    whose output layout does not depend on theirs); ``target``: the layout of the extern data a
    ``choice`` names as its target (its frame is one label per hypothesis of labels ``[B,T]``);
    ``options``: the layouts of the layers in :data:`LAYOUT_OPTIONS`."""
    if cls == "dot_attention":
        # ``GlobalAttentionContextBaseLayer``: a dot of the (batch-major) weights with the base over its
        # time axis: the base's other axes, batch-major
        base = (options or {}).get("base")
        if base is None or base.batch is None or base.time is None:
            return None
        return Layout(base.ndim - 1, 0, None, False)
    if cls == "generic_attention":
        # ``GenericAttentionLayer`` (a ``DotLayer``): the weights reduce the base's time axis, and a
        # dot puts the batch axis first: the base's other axes, batch-major
        weights, base = (options or {}).get("weights"), (options or {}).get("base")
        if weights is None or base is None or weights.batch is None or base.batch is None or base.time is None:
            return None
        return Layout(base.ndim - 1, 0, None, False)
    if cls == "choice":
        # ``ChoiceLayer.get_out_data_from_opts``: the target's frame (labels, or a regression's dense
        # frame)
        if target is None or (target.ndim, target.batch, target.time) != ((2, 0, 1) if target.sparse else
                                                                           (3, 0, 1)):
            return None
        if target.sparse != (opts.get("input_type") != "regression"):
            return None
        return Layout(1, 0, None, True) if target.sparse else Layout(2, 0, None, False)
    if cls == "rnn_cell" or cls == "rec" and isinstance(opts.get("unit"), str) and not opts.get("out_type") \
            and not opts.get("axis"):
        # ``RnnCellLayer.get_out_data_from_opts``: the sources' time axis (if any), then their batch
        # axis (if any), then the cell's features: [B,F] in a loop, [F] over a dummy; a ``rec`` with a
        # string unit in a loop is one step of its cell (``RecLayer`` over a frame without time axis),
        # over a sequence it runs time-major
        src = common_layout("copy", {}, sources) if sources else None
        if src is None:
            return Layout(2, 0, None, False)
        dims = (src.time is not None) + (src.batch is not None)
        return Layout(dims + 1, dims - 1 if src.batch is not None else None, 0 if src.time is not None else None,
                      False, src.tag if src.time is not None else None)
    if cls == "get_last_hidden_state":
        return Layout(2, 0, None, False)  # [B,F]
    if cls in ("choice_get_beam_scores", "choice_get_src_beams"):
        return Layout(1, 0, None, cls == "choice_get_src_beams")  # one value per hypothesis: [B]
    if cls == "range_in_axis" and not opts.get("keep_dims"):
        # ``RangeInAxisLayer.get_out_data_from_opts``: ``Data(dim_tags=[dim])``, the named axis only (no
        # batch axis, whatever its sources have)
        return Layout(1, None, None, bool(opts.get("sparse")))
    if cls == ":i":
        return Layout(0, None, None, False)  # the frame index: an int32 scalar (``construct_layer``'s ":i")
    if cls == "dot" and len(sources) == 2 and all(src is not None and src.batch is None and src.time is None
                                                  and src.ndim <= 1 for src in sources):
        return Layout(0, None, None, False)  # two feature vectors (dummies' descendants) reduced: a scalar
    if cls == "concat" and sources and all(src is not None for src in sources) \
            and len({(src.ndim, src.batch, src.time, src.tag) for src in sources if src is not None}) == 1:
        # ``ConcatLayer`` along the feature axis of alike sources: their layout, dense
        first = sources[0]
        return replace(first, sparse=False) if first is not None else None
    if cls == "print" and len(sources) == 1:
        return sources[0]  # ``PrintLayer.get_out_data_from_opts``: a copy of its one source's template
    if cls == "positional_encoding" and len(sources) == 1 and not opts.get("out_type") and not opts.get("out_dim"):
        # ``PositionalEncodingLayer``: with ``add_to_input`` its source's template, else (``LayerBase``)
        # the source's with a dense feature axis of ``n_out``, like a ``linear``
        return sources[0] if opts.get("add_to_input") else common_layout("linear", {}, sources)
    if cls == "split" and opts.get("axis") in (None, "F", "f", "feature"):
        # ``SplitLayer.get_out_data_from_opts``: its sources' concatenation; its parts (``a/0``) are that
        # with a part of the feature axis
        return common_layout("copy", {}, sources)
    return _reshaping(cls, opts, sources) or common_layout(cls, opts, sources)


#: ``reinterpret_data`` options that change axes or the sparse flag (not modelled)
_REINTERPRET_AXES = frozenset({"set_axes", "set_sparse", "set_sparse_dim", "set_dim_tags", "switch_axes",
                               "size_base", "batch_dim_base", "increase_sparse_dim"})


def _without_feature(src: Layout) -> Layout | None:
    """A dense layout with its feature axis removed (``squeeze``, a ``reduce`` over ``F``)."""
    feature = _axis_of(src, "F")
    if feature is None:
        return None

    def kept(axis: int | None) -> int | None:
        return None if axis is None else axis - (1 if axis > feature else 0)
    return Layout(src.ndim - 1, kept(src.batch), kept(src.time), False, src.tag)


def _reshaping(cls: str, opts: dict[str, Any], sources: Sequence[Layout | None]) -> Layout | None:
    """Classes that move or drop axes of their one source."""
    src = sources[0] if len(sources) == 1 else None
    if src is None or src.batch is None:
        return None
    if cls == "softmax_over_spatial" and not opts.get("axis") and src.time is not None and not src.sparse:
        # the softmax axis goes last (``SoftmaxOverSpatialLayer``: copy_move_axis(time, -1))
        batch = src.batch - (1 if src.time < src.batch else 0)
        return Layout(src.ndim, batch, src.ndim - 1, False, src.tag)
    if cls == "expand_dims" and str(opts.get("axis", "")).lower() in ("spatial", "time", "t"):
        # ``ExpandDimsLayer._get_axis``: a new spatial axis in front of the feature axis (labels: last),
        # the time axis where there was none
        at = src.ndim if src.sparse else src.ndim - 1
        time = _shifted(src.time, at) if src.time is not None else at
        tag = src.tag if src.time is not None else f"expand_dims:{dim_key(opts.get('dim')) or opts.get('dim')}"
        return Layout(src.ndim + 1, _shifted(src.batch, at), time, src.sparse, tag)
    if cls == "reduce" and opts.get("keep_dims"):
        # ``ReduceLayer`` with ``keep_dims``: the reduced time axis stays as a static axis of size 1
        axes = opts.get("axes", opts.get("axis"))
        axes = axes if isinstance(axes, list) else [axes]
        if len(axes) == 1 and axes[0] in TIME_NAMES and src.time is not None and not src.sparse:
            return Layout(src.ndim, src.batch, None, False)
        return None
    if cls == "reduce":
        axes = opts.get("axes", opts.get("axis"))
        axes = axes if isinstance(axes, list) else [axes]
        if len(axes) != 1:
            return None
        if axes[0] in TIME_NAMES and src.time is not None:
            batch = src.batch - (1 if src.time < src.batch else 0)
            return Layout(src.ndim - 1, batch, None, False)
        if axes[0] in ("F", "f") and not src.sparse:
            return _without_feature(src)  # over the feature axis: it goes
        return None
    if cls == "slice" and opts.get("axis") in ("F", "f") and not src.sparse:
        return src  # ``SliceLayer`` along the feature axis: a new feature dim in its place
    if cls == "reinterpret_data" and not set(opts) & _REINTERPRET_AXES:
        # ``ReinterpretDataLayer``: ``copy_as_batch_major`` / ``copy_as_time_major`` when asked
        if opts.get("enforce_batch_major"):
            return as_batch_major(src)
        if opts.get("enforce_time_major"):
            if src.time is None:
                return None
            return src if (src.time, src.batch) == (0, 1) else (
                Layout(src.ndim, 1, 0, src.sparse, src.tag) if {src.time, src.batch} == {0, 1} else None)
        return src
    if cls in ("decide_keep_beam", "reduce_out"):
        # ``DecideKeepBeamLayer``: its source's template; ``ReduceOutLayer``: the feature dim divided
        return src if cls == "decide_keep_beam" or not src.sparse else None
    if cls == "squeeze" and opts.get("axis") in ("F", "f") and not src.sparse:
        return _without_feature(src)
    over_batch = names_batch(opts.get("axis"))
    if cls == "gather" and over_batch and isinstance(opts.get("position"), int):
        # one entry of the batch axis: the axis goes (``GatherLayer``)
        time = None if src.time is None else src.time - (1 if src.time > src.batch else 0)
        return Layout(src.ndim - 1, None, time, src.sparse, src.tag if time is not None else None)
    if cls == "slice" and over_batch:
        end = opts.get("slice_end")
        if isinstance(end, int) and end >= 0:
            return src  # a new dim of the batch dim's kind: still the batch axis
        return replace(src, batch=None)  # a dim derived from the batch dim, in its place
    if cls == "swap_axes":
        a, b = _axis_of(src, opts.get("axis1")), _axis_of(src, opts.get("axis2"))
        if a is None or b is None or a == b:
            return None
        return _permuted(src, {a: b, b: a})
    if cls == "transpose" and isinstance(opts.get("perm"), dict) and opts["perm"]:
        # ``TransposeLayer.get_perm_int``: target axis -> source axis, the others in order
        perm = {_axis_of(src, t): _axis_of(src, f) for t, f in opts["perm"].items()}
        if None in perm or None in perm.values() or len(set(perm.values())) != len(perm):
            return None
        rest_t = [i for i in range(src.ndim) if i not in perm]
        rest_s = [i for i in range(src.ndim) if i not in perm.values()]
        perm.update(zip(rest_t, rest_s))
        return _permuted(src, {source: target for target, source in perm.items()})
    if cls == "merge_dims" and opts.get("axes") == "except_batch":
        return Layout(2, 0, None, False)
    if cls == "merge_dims" and opts.get("axes") == "static" and src.time is not None \
            and {src.batch, src.time} == {0, 1} and src.ndim >= 3 and not src.sparse:
        return Layout(3, src.batch, src.time, False, src.tag)  # the static axes after them, merged
    if cls == "split_dims" and opts.get("axis") in ("F", "f") and not src.sparse:
        dims = opts.get("dims")
        return replace(src, ndim=src.ndim + len(dims) - 1) if isinstance(dims, list) else None
    return None


def names_missing_axis(cls: str, opts: dict[str, Any], sources: Sequence[Layout | None]) -> bool:
    """Whether a ``swap_axes`` / ``transpose`` names the batch axis of a template that has none (a
    dummy's, met before it is built): ``get_axis_from_description`` raises, so the template is not
    made this time (its construction is retried with the inputs built)."""
    if cls not in ("swap_axes", "transpose") or len(sources) != 1 or sources[0] is None:
        return False
    if cls == "swap_axes":
        named = [opts.get("axis1"), opts.get("axis2")]
    else:
        perm = opts.get("perm")
        named = [*perm, *perm.values()] if isinstance(perm, dict) else []
    return sources[0].batch is None and any(names_batch(a) for a in named)


def _shifted(axis: int | None, at: int) -> int | None:
    """An axis index after a new axis is inserted at ``at``."""
    return axis if axis is None or axis < at else axis + 1


def lacks_time_axis(cls: str, opts: dict[str, Any], sources: Sequence[Layout | None],
                    options: Mapping[str, Layout | None]) -> bool:
    """Whether a layer that works over the time axis gets a template computed only from dummies (no
    batch and no time axis: a scalar, or a feature vector made of one): ``SoftmaxOverSpatialLayer``
    (its ``axis``, by default the time axis, is not found) and ``GenericAttentionLayer`` (its weights
    have no axis to reduce the base's time axis with), a ``dot`` reducing a time or spatial axis. The
    template is not made this time."""
    def bare(layout: Layout | None) -> bool:
        return layout is not None and layout.batch is None and layout.time is None
    if cls == "softmax_over_spatial" and len(sources) == 1 and bare(sources[0]):
        # the time axis (by default) or any spatial axis (``stag:...``) of a template that has at most
        # a feature axis
        axis = opts.get("axis")
        return axis is None or axis in TIME_NAMES or (_spatial(axis) and sources[0].ndim <= 1)
    if cls == "generic_attention":
        return bare(options.get("weights"))
    if cls == "dot":
        # ``DotLayer``: a reduce axis that is a time or spatial dim is not found in such a source
        reduced = [opts.get(key) for key in ("reduce", "red1", "red2")]
        return any(_spatial(axis) for axis in reduced) and any(bare(src) for src in sources)
    return False


def _spatial(axis: Any) -> bool:
    """Whether an axis option names a time or spatial axis (not the feature axis)."""
    if isinstance(axis, dict):
        spec = axis.get("__dim__", axis)
        return isinstance(spec, dict) and spec.get("kind") == "spatial"
    return isinstance(axis, str) and (axis in TIME_NAMES or axis.startswith("stag:"))


def _axis_of(src: Layout, axis: Any) -> int | None:
    """The axis a description names in ``src`` (``Data.get_axis_from_description``) for the batch, time
    and feature axes (the feature axis: the last that is neither, ``Data`` without explicit
    ``feature_dim_axis``); None when it names another or is not a name."""
    if not isinstance(axis, str):
        return None
    if names_batch(axis):
        return src.batch
    if axis in TIME_NAMES:
        return src.time
    if axis in ("F", "f", "feature") and not src.sparse:
        rest = [i for i in range(src.ndim) if i not in (src.batch, src.time)]
        return rest[-1] if rest else None
    return None


def _permuted(src: Layout, moves: Mapping[int, int]) -> Layout:
    """``src`` with each axis ``a`` moved to ``moves.get(a, a)`` (``Data.copy_transpose`` /
    ``SwapAxesLayer``: the batch and time axes go with their dims)."""
    def moved(axis: int | None) -> int | None:
        return None if axis is None else moves.get(axis, axis)
    return replace(src, batch=moved(src.batch), time=moved(src.time))


class RootLayouts:
    """Layouts of layers outside any loop (what ``base:`` hands into a loop), remembered."""

    def __init__(self, structure: Any):
        self.s = structure
        self._memo: dict[str, Layout | None] = {}

    def of(self, node: str) -> Layout | None:
        if node in self._memo:
            return self._memo[node]
        self._memo[node] = None  # a cycle: unsure
        got = self._compute(node)
        self._memo[node] = got
        return got

    def target(self, opts: dict[str, Any]) -> Layout | None:
        """The layout of the extern data a layer's ``target`` option names (None for a layer target)."""
        target = opts.get("target")
        if not isinstance(target, str) or target.startswith("layer:"):
            return None
        return self.extern(target.removeprefix("data:"))

    def extern(self, key: str) -> Layout | None:
        """Extern data are batch-major (``Data`` defaults), ``[B,T,F]`` for dense, ``[B,T]`` for labels."""
        ext = (self.s.spec.extern_data or {}).get(key)
        if isinstance(ext, dict) and isinstance(ext.get("dims"), list):
            dims = ext["dims"]
            kinds = [d.get("__dim__", {}).get("kind") if isinstance(d, dict) else None for d in dims]
            if "batch" not in kinds:
                return None
            time = next((i for i, k in enumerate(kinds) if k == "spatial"), None)
            if kinds.count("spatial") > 1:
                return None
            return Layout(len(dims), kinds.index("batch"), time, ext.get("sparse_dim") is not None,
                          f"data:{key}" if time is not None else None)
        if isinstance(ext, dict):
            if ext.get("batch_dim_axis", 0) != 0 or ext.get("time_dim_axis", 1) not in (1, None):
                return None
            sparse = bool(ext.get("sparse"))
            shape = ext.get("shape")
            if not isinstance(shape, (list, tuple)):
                shape = [None] if sparse else [None, ext.get("dim")]
            time = 1 if shape and shape[0] is None and ext.get("time_dim_axis", 1) == 1 else None
            if list(shape).count(None) > (1 if time else 0):
                return None  # more dynamic axes than the time axis
            return Layout(1 + len(shape), 0, time, sparse, f"data:{key}" if time else None)
        num = (self.s.spec.num_outputs or {}).get(key)
        tag = f"data:{key}"
        if isinstance(num, (list, tuple)) and len(num) > 1 and isinstance(num[1], int):
            return Layout(2, 0, 1, True, tag) if num[1] == 1 else Layout(1 + num[1], 0, 1, False, tag)
        if isinstance(num, int):
            return Layout(3, 0, 1, False, tag)
        return None

    def _compute(self, node: str) -> Layout | None:
        s = self.s
        data = s.nodes[node]
        if data["node_kind"] == "data":
            return self.extern(node[len("data:"):])
        if data["node_kind"] != "layer" or data.get("unit") is not None:
            return None
        cls, opts = data["class"], data["options"]
        sources = [src for src, option, form, _ in data.get("inputs", []) if option == "from" and form in ("from", "data")]
        if cls == "rec":
            if opts.get("out_type") or opts.get("axis") or not sources and not isinstance(opts.get("unit"), dict):
                return None
            if isinstance(opts.get("unit"), str):
                # several sources are concatenated first (``concat_sources``)
                src = common_layout("copy", {}, [self.of(x) for x in sources]) if sources else None
                if src is None or src.tag is None:
                    return None
                return Layout(3, 1, 0, False, src.tag)  # an RNN over its input's time: [T,B,F]
            inner = s.unit_output(node) if hasattr(s, "unit_output") else None
            if inner is not None and not sources and s.nodes[inner]["class"] == "choice" \
                    and s.nodes[inner]["options"].get("input_type") != "regression":
                return Layout(2, 1, 0, True, f"rec:{node}")  # the chosen labels over its own time: [T,B]
            return None
        if cls in ("conv", "pool") and sources:
            # several sources are concatenated first (``concat_sources``)
            src = common_layout("copy", {}, [self.of(x) for x in sources])
            if src is None or src.batch is None or src.time is None or src.sparse or src.ndim not in (3, 4):
                return None
            size = opts.get("pool_size") if cls == "pool" else opts.get("filter_size")
            if src.ndim == 4 and not (isinstance(size, (list, tuple)) and len(size) == 2):
                return None  # a 2D conv / pool over [B,T,F,C]: its spatial axes are the input's
            strides = opts.get("strides", opts.get("pool_size") if cls == "pool" else 1)
            strides = list(strides) if isinstance(strides, (list, tuple)) else [strides]
            # the time axis keeps its size (and dim tag) with "same" padding and no stride over it
            same = opts.get("padding", "valid") == "same" and strides[0] == 1 and not opts.get("dilation_rate")
            return Layout(src.ndim, 0, 1, False, src.tag if same else f"{cls}:{node}")  # [B,T',(F',)C]
        layouts = [self.of(src) for src in sources]
        return _reshaping(cls, opts, layouts) or common_layout(cls, opts, layouts)
