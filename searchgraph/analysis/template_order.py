"""The order in which RETURNN builds a rec unit's templates, and what that order leaves behind.

``_SubnetworkRecCell._construct_template`` does not compute the templates as a fixed point: it walks
the unit depth first from ``output`` (then ``end``, then the output layers), with three kinds of
``get_layer``:

* the default one builds a missing layer; a ``prev:`` reference to a layer being built (a dependency
  loop, ``NetworkConstructionDependencyLoopException``) or any other exception makes the layer fall
  back to the *shallow* one;
* the shallow one hands out unbuilt layers as they are: a dummy template (a scalar without batch
  axis, no beam), and it even registers a name that is no layer of the unit (a target data key) as
  such a dummy;
* afterwards, every partially built layer is rebuilt (``reconstruct``) until nothing changes; a layer
  built with no unfinished input is final at once and never rebuilt, and a ``prev:`` template is
  copied from such a final layer once (``get_prev_template_layer``).

So a template can keep the beams its inputs had when it was final, not those they end with, and a
registered target name makes the rebuild raise ``LayerNotFound`` when no default ``get_layer`` of it
(which drops the name again) comes first. :func:`simulate_unit` replays that walk over the
:class:`~searchgraph.analysis.passes.BeamPass`'s per-layer rule (a template's beam from its inputs'),
the only place it differs from the pass's fixed point.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .beams import CombineError, SearchBeam
from .choice_deps import OUTER
from .layouts import (
    AXIS_OPTIONS,
    DUMMY,
    LAYOUT_OPTIONS,
    Layout,
    RootLayouts,
    dim_key,
    frame_layout,
    lacks_time_axis,
    names_batch,
    names_missing_axis,
)
from .passes import BeamPass
from .structure import MADE_FROM_NOTHING

__all__ = ["FROM_INPUTS", "NEEDS_BATCH", "UnitTemplates", "simulatable", "simulate_unit"]

#: Classes whose template takes its axes from its inputs' common template (a dummy input without
#: batch axis gives one without batch axis)
FROM_INPUTS = frozenset({"linear", "copy", "softmax", "activation", "combine", "dropout", "layer_norm",
                          "compare", "reinterpret_data", "reduce", "cast", "eval", "rnn_cell"})
#: More classes whose template is made from their inputs' (``get_concat_sources_data_template``,
#: ``Data.get_common_data``, a copy of the source with an axis added, moved, split or merged): no batch
#: axis where no input has one (a dummy's descendant)
BATCH_FROM_INPUTS = frozenset({"positional_encoding", "split_dims", "merge_dims", "expand_dims", "squeeze",
                               "softmax_over_spatial", "norm", "math_norm", "elemwise_prod", "shift_axis",
                               "swap_axes", "transpose", "concat", "scaled_grad", "identity", "print", "switch",
                               "pad", "cumsum", "reduce_out", "gating", "slice", "split"})
#: Classes whose template has the dtype of their (first) input's
_DTYPE_FROM_INPUT = frozenset({"copy", "reinterpret_data", "combine", "eval", "squeeze", "expand_dims", "reduce",
                               "slice", "shift_axis", "pad", "merge_dims", "split_dims", "identity",
                               "scaled_grad", "print", "swap_axes", "transpose", "concat", "cumsum", "dropout",
                               "activation"})
#: Classes whose ``get_out_data_from_opts`` asserts on an input without batch axis (``decide``:
#: ``copy_as_batch_major``, as ``cum_concat`` in a loop does)
NEEDS_BATCH = frozenset({"gather", "self_attention", "decide", "cum_concat", "window"})


#: what a template construction got for an input outside the unit (``base:``, extern data)
_OUTER = object()


class _DependencyLoop(Exception):
    """``NetworkConstructionDependencyLoopException``: a layer asked for while it is being built."""


class _AxisMissing(Exception):
    """``get_axis_from_description`` found no such axis in a template (a dummy input's): the template is
    not made this time."""


class _LayerNotFound(Exception):
    """``LayerNotFound``: a name that is no layer of the unit."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _TemplateFailure(Exception):
    """A class's ``get_out_data_from_opts`` (or ``transform_config_dict``) asserts on what it got."""

    def __init__(self, node: str, message: str, cause: str):
        super().__init__(message)
        self.node, self.message, self.cause = node, message, cause

    def __str__(self) -> str:
        return self.cause


@dataclass
class _Template:
    initialized: bool = False
    beam: SearchBeam | None = None
    chosen: SearchBeam | None = None
    batch: bool = False
    layout: Layout | None = DUMMY
    #: whether its values have the dummy's dtype (``float32``): an unbuilt template, or one that takes
    #: its dtype from such an input (a ``copy`` / ``reinterpret_data`` / ``eval`` ... of it)
    float_dummy: bool = True


@dataclass
class _Snap:
    """What a ``prev:`` reference returned: a copy of the template as the previous frame."""
    beam: SearchBeam | None
    chosen: SearchBeam | None
    batch: bool
    layout: Layout | None = DUMMY
    float_dummy: bool = False


@dataclass
class _Getter:
    allow_uninitialized: bool = False
    iterative: bool = True
    reconstruct: bool = False
    parent: _Getter | None = None
    uninitialized: int = 0

    def add_uninitialized(self) -> None:
        getter: _Getter | None = self
        while getter is not None:
            getter.uninitialized += 1
            getter = getter.parent


@dataclass
class UnitTemplates:
    """The templates a unit ends with: per member node its beam and search choices (initialized
    templates only), or the error that stops the template construction (``error``: RETURNN's
    message, ``error_layer``: the node it names)."""

    beam: dict[str, SearchBeam | None] = field(default_factory=dict)
    chosen: dict[str, SearchBeam | None] = field(default_factory=dict)
    error: str | None = None
    error_layer: str | None = None
    #: why, in a sentence (what the replay met)
    cause: str = ""
    #: whether the replay ran to the end (else the pass's fixed point stands)
    replayed: bool = False
    #: members whose final template has no batch axis (a dummy's, never replaced)
    batchless: set[str] = field(default_factory=set)
    #: member -> its final template's layout (:mod:`.layouts`; None: unsure)
    layout: dict[str, Layout | None] = field(default_factory=dict)
    #: members some template asked for as ``prev:`` (``prev_layers_needed``): built in the loop
    prev_needed: set[str] = field(default_factory=set)
    #: beam name -> the first ``SearchBeam`` object made under it (what every batch of the name keeps)
    kept: dict[str, SearchBeam] = field(default_factory=dict)
    #: members whose last construction in the replay raised (their template is older than their inputs)
    failing: set[str] = field(default_factory=set)
    #: member -> the members it asked for (all, in the frame, as ``prev:``), in the order first asked
    #: (``_TemplateLayer.dependencies``; :mod:`.choice_deps`)
    dependencies: dict[str, tuple[list[str], list[str], list[str]]] = field(default_factory=dict)
    #: cell member (``rnn_cell``, a ``rec`` with a cell unit) -> its ``from`` inputs as its final template's
    #: kwargs hold them: ``("prev", beam)`` a previous frame's copy as made then, ``("cur", member)`` a
    #: template of the unit (its final beam: the kwargs keep the object), ``("outer", node)`` a layer
    #: outside the unit (``get_init_loop_vars`` makes the cell's initial state from them)
    cell_sources: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


class _Current(Mapping[str, Any]):
    """A beam table whose entries for the unit's layers are their templates' now (None while a
    template is a dummy), the template pass's elsewhere."""

    def __init__(self, unit: _Unit, outside: Mapping[str, Any], field_name: str):
        self.unit, self.outside, self.field_name = unit, outside, field_name

    def __getitem__(self, key: str) -> Any:
        local = self.unit.local_of.get(key)
        if local is None:
            return self.outside[key]
        t = self.unit.templates.get(local)
        return getattr(t, self.field_name) if t is not None else None

    def __contains__(self, key: object) -> bool:
        return key in self.unit.local_of or key in self.outside

    def __iter__(self) -> Iterator[str]:
        return iter({*self.unit.local_of, *self.outside})

    def __len__(self) -> int:
        return len({*self.unit.local_of, *self.outside})


class _OrderedNames(list):
    """RETURNN's list of partially built layers: a list (it is iterated while it shrinks, as
    RETURNN's is) with a set beside it for the membership tests the replay asks all the time."""

    def __init__(self) -> None:
        super().__init__()
        self._members: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def append(self, name: str) -> None:
        super().append(name)
        self._members.add(name)

    def remove(self, name: str) -> None:
        super().remove(name)
        if not list.__contains__(self, name):
            self._members.discard(name)


class _Unit:
    """One rec unit's template construction: the templates, the partially finished ones (in
    RETURNN's order), the construction stack, the cached ``prev:`` copies and the latest exception."""

    def __init__(self, bp: BeamPass, rec: str, roots: RootLayouts):
        self.bp, self.s, self.rec = bp, bp.s, rec
        # a subnetwork of the unit is flattened into the cell: its inner layers are templates of
        # their own, by their path (``lm/output``), and the subnetwork depends on its inner output
        self.by_local = {path: m for m, path in _flat_members(bp.s, rec)}
        self.local_of = {m: local for local, m in self.by_local.items()}
        #: template name -> how often its state changed (a rebuild on unchanged inputs is skipped)
        self.version: dict[str, int] = {}
        self.built_on: dict[str, tuple[Any, ...]] = {}
        self.templates: dict[str, _Template] = {}
        self.partially = _OrderedNames()
        #: templates not finished (met, never built): while there are none, a rebuild retries an input
        #: only where it names one not met yet (:meth:`_retries_inputs`)
        self._n_unfinished = 0
        self._inputs_met: dict[str, tuple[int, bool]] = {}
        self.stack: list[str] = []
        self.prev_cache: dict[str, _Snap] = {}
        self.recent: Exception | None = None
        self.prev_asked: set[str] = set()
        #: names whose latest construction raised (collected): their template is older than their inputs
        self.failing: set[str] = set()
        self.roots = roots
        self._deps: dict[str, list[tuple[str, str, str]]] = {}
        self._dep_names: dict[str, tuple[str, ...]] = {}
        # what the rebuild loop must look at again: names whose recorded input state may be stale
        # (a dependency's or their own template state changed since), and an epoch for changes that
        # make every record stale (a name registered or dropped)
        self._readers_of: dict[str, set[str]] = {}
        self._stale: set[str] = set()
        self._all_epoch = 0
        self._recorded_at: dict[str, int] = {}
        #: beam name -> the first ``SearchBeam`` made under it (``BatchInfo`` keeps that object per name)
        self.kept: dict[str, SearchBeam] = {}
        #: template name -> its dependencies as asked for (all, in the frame, as ``prev:``), first times
        self.dependencies: dict[str, tuple[list[str], list[str], list[str]]] = {}
        #: template name -> the ``prev:`` inputs its construction got as unbuilt templates (live objects in
        #: its kwargs): in the construction under way, and in the last one that reached its class
        self._live_now: dict[str, set[str]] = {}
        self.cell_sources: dict[str, list[tuple[str, Any]]] = {}

    def _keep(self, beam: SearchBeam | None) -> None:
        """Register ``beam`` and its chain where their names are new (``BatchInfo._make_beam_dim``: the
        first object of a name is the one every batch of that name keeps)."""
        for b in beam.walk() if beam is not None else ():
            self.kept.setdefault(b.name, b)

    # -- the layers' inputs, in the order transform_config_dict asks for them ------------------------
    def deps(self, node: str) -> list[tuple[str, str, str]]:
        """``(local name asked for, option, form)``, sources first (``explicit_search_sources`` before
        them for a choice), targets last; a target data key as ``(key, "target", "data-target")``.
        Remembered (the network does not change)."""
        got = self._deps.get(node)
        if got is None:
            got = self._deps[node] = self._deps_of(node)
        return got

    def _deps_of(self, node: str) -> list[tuple[str, str, str]]:
        nodes = self.s.nodes
        data = nodes[node]
        if data["node_kind"] == "sub":  # "a/b": the layer a, then its sub-layer (get_sub_layer)
            parent = next(iter(self.s.graph.predecessors(node)))
            return [self._ask((parent, "from", "from"))]
        opts = data["options"]
        ins = self.s.inputs(node)
        out = [self._ask(i) for i in self.s.asked_inputs(node)]
        # ``reuse_params`` asks for its layers too (``ReuseParams.from_config_dict``): no dependency of the
        # layer, but of its template
        out += [self._ask((src, option, form)) for src, option, form, _ in data.get("inputs", [])
                if option == "reuse_params" and (src, option, form) not in ins]
        targets = opts.get("target")
        for t in targets if isinstance(targets, list) else [targets]:
            if isinstance(t, str) and t and t != "none":
                if t.startswith("layer:"):
                    out += [self._ask(i) for i in ins if i[1] == "target"][:1]
                else:
                    out.append((t, "target", "data-target"))
        return out

    def _ask(self, item: tuple[str, str, str]) -> tuple[str, str, str]:
        src, option, form = item
        local = self.local_of.get(src)
        if local is not None:
            return (f"prev:{local}" if form == "prev" else local), option, form
        return src, option, "outer"

    # -- get_layer ---------------------------------------------------------------------------------
    def get(self, g: _Getter, name: str, form: str, is_prev: bool = False) -> Any:
        if form == "outer":
            # a layer outside the unit (``base:X``): recorded among the asking template's dependencies as
            # it is (``get_templated_layer.__call__``: ``add_dependency`` of the parent's layer)
            if self.stack:
                self._add_dependency(self.stack[-1], OUTER + name, False)
            return None
        if self.stack and not name.startswith("prev:") and name in self.by_local:
            self._add_dependency(self.stack[-1], name, is_prev)
        if name.startswith("prev:"):
            sub = name[len("prev:"):]
            self.prev_asked.add(sub)
            got = self.get(g, sub, "from", is_prev=True)
            t = self.templates.get(sub)
            if self.stack and (t is None or not t.initialized):
                # RETURNN hands out the unbuilt template itself: the asking layer's kwargs keep that
                # object, which is the current frame's template once built (``get_init_loop_vars``)
                self._live_now.setdefault(self.stack[-1], set()).add(sub)
            if t is None:
                return got
            if t.initialized:
                if sub not in self.partially:
                    return self.prev_template(sub)
                g.add_uninitialized()
                return self.prev_copy(sub)
            g.add_uninitialized()
            # the dummy (or its initial_output's)
            return _Snap(t.beam, t.chosen, t.batch, t.layout, t.float_dummy)
        t = self.templates.get(name)
        if t is not None:
            if g.allow_uninitialized:
                if not t.initialized or name in self.partially:
                    g.add_uninitialized()
                return name
            if not g.reconstruct and t.initialized:
                if name in self.partially:
                    g.add_uninitialized()
                return name
        if t is None:
            t = self.templates[name] = _Template()
            self._n_unfinished += 1
            self._all_epoch += 1  # a new name: every recorded input state is stale
        if name not in self.partially:
            self.partially.append(name)
            self._touch(name)
        if g.allow_uninitialized:
            g.add_uninitialized()
            return name
        initial = self._initial_dummy(name, t) if not t.initialized and t.layout is DUMMY else None
        success = False
        try:
            default = _Getter(parent=g)
            try:
                self.construct_layer(default, name)
                success = True
                self.failing.discard(name)
            except Exception as exc:  # RETURNN collects every exception here
                self.collect(exc)
                self.failing.add(name)
                if not t.initialized and not g.iterative and initial is None:
                    raise
            if not t.initialized and g.iterative:
                shallow = _Getter(allow_uninitialized=True, parent=g)
                try:
                    self.construct_layer(shallow, name)
                except Exception as exc:
                    self.collect(exc)
                    if initial is None:
                        raise
            if initial is not None and name in self.partially:
                # the initial output is trusted: the template becomes a copy of it, with the beam
                # the construction gave (``initial_output.beam = layer_.output.beam``)
                self._n_unfinished -= not t.initialized
                t.initialized, t.layout, t.batch = True, initial[0], initial[1]
        except _LayerNotFound as exc:
            if exc.name == name and not t.initialized:
                if self.templates.pop(name, None) is not None:
                    self._n_unfinished -= 1
                self._all_epoch += 1
                if name in self.partially:
                    self.partially.remove(name)
            raise
        if not success:
            g.add_uninitialized()
        return name

    def _add_dependency(self, user: str, name: str, is_prev: bool) -> None:
        """``_TemplateLayer.add_dependency``: ``user`` asked for ``name`` (as ``prev:``), first times kept
        in order (:mod:`.choice_deps` walks them)."""
        every, cur, prev = self.dependencies.setdefault(user, ([], [], []))
        if name not in every:
            every.append(name)
        part = prev if is_prev else cur
        if name not in part:
            part.append(name)

    def _initial_dummy(self, name: str, t: _Template) -> tuple[Layout | None, bool] | None:
        """A layer not built yet whose ``initial_output`` is a layer outside the unit (``base:X``):
        before it is first constructed its dummy template becomes a copy of that layer's template
        (``get_templated_layer.__call__``), with X's batch, layout and beam; its construction errors
        then stop nothing. Returns X's layout and whether it has a batch axis, else None."""
        node = self.by_local.get(name)
        if node is None or not str(self.s.nodes[node]["options"].get("initial_output", "")).startswith("base:"):
            return None
        outer = [src for src, option, form, _ in self.s.nodes[node].get("inputs", [])
                 if option == "initial_output" and form == "base"]
        if len(outer) != 1 or self.s.rec_of(outer[0]) is not None:
            return None
        layout = self.roots.of(outer[0])
        t.layout = layout
        t.batch = layout is None or layout.batch is not None
        t.float_dummy = False  # X's own dtype
        t.beam, t.chosen = self.bp.beam.get(outer[0]), self.bp.chosen.get(outer[0])
        return t.layout, t.batch

    def collect(self, exc: Exception) -> None:
        if isinstance(exc, _LayerNotFound):
            raise exc
        if self.recent is None or not isinstance(exc, _DependencyLoop):
            self.recent = exc

    def prev_template(self, name: str) -> _Snap:
        if name not in self.prev_cache:
            self.prev_cache[name] = self.prev_copy(name)
        return self.prev_cache[name]

    def prev_copy(self, name: str) -> _Snap:
        t = self.templates[name]
        node = self.by_local[name]
        beams = ChainMap({node: t.beam}, self.bp.beam)
        chosen = ChainMap({node: t.chosen}, self.bp.chosen)
        snap = _Snap(self.bp.prev_frame_of(node, self.rec, beams),
                     self.bp.prev_frame_of(node, self.rec, chosen), t.batch, t.layout, t.float_dummy)
        self._keep(snap.beam)
        return snap

    # -- construct_layer / add_templated_layer -------------------------------------------------------
    def construct_layer(self, g: _Getter, name: str) -> None:
        node = self.by_local.get(name)
        if node is None:
            raise _LayerNotFound(name)
        if name in self.stack:
            raise _DependencyLoop(name)
        self.stack.append(name)
        self._live_now[name] = set()
        got: dict[str, Any] = {}
        try:
            for asked, option, form in self.deps(node):
                if option == "reuse_params":
                    # asked for (and so a dependency of the template), not part of its output;
                    # ``optional_get_layer`` lets a dependency loop or a missing layer pass
                    try:
                        self.get(g, asked, form)
                    except (_DependencyLoop, _LayerNotFound):
                        pass
                    continue
                if form == "data-target":
                    if asked in self.by_local:  # the target names a layer of the unit
                        got[asked] = self.get(g, asked, "from")
                        continue
                    try:
                        self.get(g, asked, "from")
                    except _LayerNotFound:
                        pass
                    continue
                got[asked] = self.get(g, asked, form)
            data = self.s.nodes[node]
            if data["class"] == "choice" and self.s.is_search_choice(node) and not any(
                    self._beam_of(v) is not None for k, v in got.items() if not k.startswith("prev:")):
                got[f"prev:{name}"] = self.get(g, f"prev:{name}", "prev")  # PR #1213
            elif self.s.masked_choice_size(node) is not None and not any(
                    self._beam_of(got.get(asked)) is not None for asked, option, form in self.deps(node)
                    if option == "from" and form != "prev"):
                # a searching choice as a masked_computation's unit asks for the masked layer's own
                # previous frame when the layer's ``from`` (the unit's ``data``) has no beam yet
                got[f"prev:{name}"] = self.get(g, f"prev:{name}", "prev")  # PR #1213
        finally:
            self.stack.remove(name)
        self.add_templated(g, name, node, got)

    def _beam_of(self, value: Any) -> SearchBeam | None:
        if isinstance(value, _Snap):
            return value.beam
        if isinstance(value, str) and value in self.templates:
            return self.templates[value].beam
        return None

    def add_templated(self, g: _Getter, name: str, node: str, got: dict[str, Any]) -> None:
        t = self.templates[name]
        self._asserts(node)
        self._position_dtype(node, got)
        float_dummy = self._float_dummy(node, got)
        if self.s.nodes[node]["class"] == "dot":
            self._dot_beams(node, got)
        batch = self._batch(node, got)
        layout = self._layout(node, got)
        snaps = {self.by_local[asked[len("prev:"):]]: (value.beam, value.chosen)
                 for asked, value in got.items() if isinstance(value, _Snap)}
        bp = self.bp
        saved = bp.beam, bp.chosen, bp.prev_snapshots
        # this frame's inputs (a sub-layer "a/b" through its layer too): the templates as they are now
        bp.beam, bp.chosen = _Current(self, saved[0], "beam"), _Current(self, saved[1], "chosen")
        bp.prev_snapshots = snaps
        try:
            beam, chosen = bp.compute(node)
        except CombineError as exc:
            exc.node = node  # type: ignore[attr-defined]
            raise
        finally:
            bp.beam, bp.chosen, bp.prev_snapshots = saved
        # the kwargs now hold this construction's inputs (a cell ``rec``'s beam combination above raises in
        # ``transform_config_dict``, before they are kept)
        if _is_cell(self.s.nodes[node]["class"], self.s.nodes[node]["options"]):
            self.cell_sources[name] = self._held_sources(node, got, self._live_now.get(name, set()))
        before = _state(t)
        self._n_unfinished -= not t.initialized
        t.initialized, t.beam, t.chosen, t.batch, t.layout = True, beam, chosen, batch, layout
        t.float_dummy = float_dummy
        self._keep(beam)
        if _state(t) != before:
            self.version[name] = self.version.get(name, 0) + 1
            self._touch(name)
        if name in self.partially and g.uninitialized == 0:
            self.partially.remove(name)
            self._touch(name)

    def _asserts(self, node: str) -> None:
        """What a class asserts on its options while its template is made, failing every time."""
        data = self.s.nodes[node]
        opts = data["options"]
        if not opts.get("loss") and not (opts.get("loss_only_on_non_search") and self.s.search):
            # ``LayerBase.transform_config_dict``: without a loss, no loss options (``None`` is dropped)
            for key in ("loss_scale", "loss_opts"):
                if opts.get(key) is not None:
                    raise _TemplateFailure(node, (
                        f"AssertionError: loss not defined, do not set {key} ({node})"),
                        f"{node} sets {key} without a loss, which its template construction asserts against "
                        "every time")
        unbound = self._unbound_axis(data["class"], opts)
        if unbound is not None:
            # ``Data.get_axis_from_description`` of a ``Dim`` no template has: a dim declared only where
            # it is read as an axis, never made by a layer or extern data
            raise _TemplateFailure(node, (
                f"Exception: {node}: axis {unbound!r} not found in the input (a dim declared only as an axis, "
                "which no layer or extern data has)"),
                f"{node} names the axis {unbound!r}, a dim no layer or extern data has")
        if data["class"] == "rec_unstack" and not opts.get("axis") and self._new_time_dim():
            # ``RecUnstackLayer.get_out_data_from_opts``: without ``axis``, the loop's own time dim, which
            # its source cannot have where the loop makes a new one (``RecLayer.transform_source_and_axis``)
            rec = self.s.nodes[self.rec]["local"]
            raise _TemplateFailure(node, (
                f"Exception: {node}: get_axis_from_description(dyn-time:{rec}) not found: the loop's time "
                "axis is a new one (its length comes from its 'end' layer), which the unstacked source "
                "does not have"),
                f"{node} unstacks along the loop's time axis, a new one its source does not have")
        if data["class"] == "masked_computation":
            sources = opts.get("from", [])
            sources = sources if isinstance(sources, (list, tuple)) else [sources]
            unit = opts.get("unit") if isinstance(opts.get("unit"), dict) else {}
            reads = unit.get("from", "data")
            reads = reads if isinstance(reads, (list, tuple)) else [reads]
            if len(sources) > 1 and "data" in reads and not opts.get("masked_from"):
                # MaskedComputationLayer._create_template: the unit's "data" is the one source
                raise _TemplateFailure(node, (
                    f"AssertionError: {node} is a masked_computation with {len(sources)} sources; its unit "
                    "reads 'data', which must be its one source (MaskedComputationLayer._create_template)"),
                    f"{node} is a masked_computation with {len(sources)} sources whose unit reads 'data' (one source)")

    def _position_dtype(self, node: str, got: dict[str, Any]) -> None:
        """``GatherLayer.get_out_data_from_opts`` (``slice_nd`` through it, its ``start`` the positions)
        asserts integer positions: a template still carrying the dummy's ``float32`` fails."""
        cls = self.s.nodes[node]["class"]
        option = {"gather": "position", "slice_nd": "start"}.get(cls)
        if option is None:
            return
        values = self._from_values(node, got, option)
        position = values[0][1] if values else None
        if position is not None and position is not _OUTER and position.float_dummy:
            raise _TemplateFailure(node, (
                f"AssertionError: {node}: position_data.dtype in ['int32', 'int64'] (its {option} is a "
                "template still made from a dummy, float32)"),
                f"{node} ({cls}) takes integer positions, and its {option} is still made from a dummy template")

    def _float_dummy(self, node: str, got: dict[str, Any]) -> bool:
        """Whether ``node``'s template gets the dummy's dtype: its class takes the dtype of its (first)
        input, and that is a dummy's."""
        data = self.s.nodes[node]
        cls, opts = data["class"], data["options"]
        if data["node_kind"] != "layer" or cls not in _DTYPE_FROM_INPUT:
            return False
        if cls == "eval" and isinstance(opts.get("out_type"), dict) and opts["out_type"].get("dtype"):
            return False
        if cls == "reduce" and str(opts.get("mode", "")).startswith("arg"):
            return False
        values = [(item, value) for item, value in self._from_values(node, got) if value is not None]
        if not values:
            return False

        def rank(item: tuple[str, str, str], value: Any) -> int:
            if value is _OUTER:
                layout = self.roots.of(item[0])
                return layout.ndim if layout is not None else 1
            return value.layout.ndim if value.layout is not None else int(value.batch)

        # ``Data.get_common_data``: the first of the inputs with the most axes (a dummy has none)
        most = max(rank(item, value) for item, value in values)
        first = next(value for item, value in values if rank(item, value) == most)
        return first is not _OUTER and first.float_dummy

    def _new_time_dim(self) -> bool:
        """Whether the loop iterates over a time dim of its own (``RecLayer.transform_source_and_axis``:
        ``dyn-time:<rec>``): no ``axis`` or ``size_target`` names one, and its length comes from an
        ``end`` layer or it has no input (in training, with losses, the target's time dim instead)."""
        opts = self.s.nodes[self.rec]["options"]
        if opts.get("axis") or opts.get("size_target"):
            return False
        if not self.s.search and opts.get("target") and self.s.eval_flag:
            return False
        ends = any(self.s.nodes[n]["local"] == "end" for n in self.s.children.get(self.rec, ()))
        return ends or not opts.get("from", ["data"])

    def _unbound_axis(self, cls: str, opts: dict[str, Any]) -> str | None:
        """The description of a declared dim that a layer reads as an axis but that no layer or extern
        data declares anywhere else (:attr:`.structure.Structure.made_dims`), else None."""
        if cls == "rec":
            return None  # its ``axis`` is the loop's own time dim: it makes it
        for key in AXIS_OPTIONS:
            values = opts.get(key)
            for value in values if isinstance(values, (list, tuple)) else [values]:
                spec = value.get("__dim__") if isinstance(value, dict) else None
                if isinstance(spec, dict) and spec.get("dimension") is None \
                        and dim_key(value) not in self.s.made_dims:
                    return str(spec.get("description", "?"))
        return None

    def _batch(self, node: str, got: dict[str, Any]) -> bool:
        data = self.s.nodes[node]
        cls, opts = data["class"], data["options"]
        if data["node_kind"] == "step":
            # ``:i`` (RecStepInfoLayer): a scalar without batch axis, but not a dummy: what reads it
            # (a ``gather`` at the frame index) is built, so it counts as having one here
            return True
        if data["node_kind"] == "sub":
            return all(self.templates[v].batch for v in got.values() if isinstance(v, str) and v in self.templates)
        if cls == "subnetwork":
            inner = self._inner_output(node)
            return inner.batch if inner is not None else True
        if cls in MADE_FROM_NOTHING and not self.s.inputs(node):
            return self.s.batched(node)  # a variable, a constant: a batch axis only where it makes one
        inputs = []
        not_dummy = []  # (a variable or a constant has no batch axis, but is no dummy's descendant either)
        for asked, value in got.items():
            if asked == f"prev:{self.local_of[node]}":
                continue
            if isinstance(value, _Snap):
                inputs.append(value.batch)
                not_dummy.append(value.batch)
            elif isinstance(value, str) and value in self.templates:
                inputs.append(self.templates[value].batch)
                made = self.by_local.get(value)
                not_dummy.append(self.templates[value].batch or (
                    made is not None and self.s.nodes[made]["class"] in MADE_FROM_NOTHING))
        # ``ReinterpretDataLayer``: ``enforce_batch_major`` is a ``copy_as_batch_major`` too, and so is a
        # ``choice`` without target (``ChoiceLayer.get_out_data_from_opts``: its first source's labels)
        # (a ``gather`` along the feature axis needs no batch axis: ``GatherLayer.get_out_data_from_opts``
        # takes the common axes of input and position, the batch axis from the position)
        feature_gather = cls == "gather" and opts.get("axis") in ("F", "f", "feature")
        if feature_gather:
            return any(inputs)
        # (``MergeDimsLayer`` with ``axes="except_batch"`` removes the batch dim from the input's dims:
        # ``ValueError`` on a dummy without one)
        if cls in NEEDS_BATCH or (cls == "reinterpret_data" and opts.get("enforce_batch_major")) \
                or (cls == "merge_dims" and opts.get("axes") == "except_batch") \
                or (cls == "choice" and not opts.get("target") and self._first_source_batchless(node, got)):
            if not all(not_dummy):
                raise _TemplateFailure(node, (
                    f"AssertionError: the template of {node} cannot be built: an input of it is computed "
                    "only from the loop's own previous frames, which start as a template without batch axis"),
                    f"{node} ({cls}) needs a batch axis on its inputs, and one of them is computed only from the "
                    "loop's own previous frames, which start as a dummy without batch axis")
            return True
        if cls == "dot":
            return self._dot_batch(node, got)
        if cls == "choice":
            return bool(opts.get("target")) or any(inputs)
        cell = _is_cell(cls, opts)  # a cell per frame (``lstm``), as ``rnn_cell``
        if (cls in FROM_INPUTS or cls in BATCH_FROM_INPUTS or cell) \
                and not (cls == "eval" and _own_axes(opts.get("out_type"))) and not _names_batch_axis(opts):
            # (a layer outside the unit without batch axis, a root constant, adds none)
            outer = any(form == "outer" and self.s.batched(i[0]) for i, (_, _, form) in
                        ((i, self._ask(i)) for i in self.s.inputs(node)))
            return outer or any(inputs) or not self.s.inputs(node)
        return True

    def _dot_batch(self, node: str, got: dict[str, Any]) -> bool:
        """A ``dot``'s batch axis: its sources' (``DotLayer.get_out_data_from_opts``), where the axes that
        are neither reduced nor varied must match in count: one source with a batch axis and one without
        (a dummy's descendant) fails with explicit ``var1`` / ``var2``, unless the axes options name the batch
        axis (``auto`` var axes take the axes the other source lacks, the batch axis too)."""
        opts = self.s.nodes[node]["options"]
        flags: list[bool | None] = []
        for item, value in self._from_values(node, got):
            if value is _OUTER:
                layout = self._outer_layout(item[0], item[2], node)
                flags.append(None if layout is None else layout.batch is not None)
            else:
                # (a variable is no dummy's descendant: a dot with weights is how projections are written)
                flags.append(None if value is None else (
                    value.batch or self.s.nodes[item[0]]["class"] in MADE_FROM_NOTHING))
        explicit = all(k in opts and opts[k] != "auto" for k in ("var1", "var2"))  # ("auto": the unshared axes)
        if explicit and len(flags) == 2 and None not in flags and flags[0] != flags[1] \
                and not _names_batch_axis(opts, ("reduce", "red1", "red2", "var1", "var2")):
            raise _TemplateFailure(node, (
                f"AssertionError: {node}: the axes of its two sources that are neither reduced nor varied "
                "differ in count (one has a batch axis, the other, computed only from the loop's own previous "
                "frames, none: DotLayer.get_out_data_from_opts)"),
                f"{node} (dot) has one source with a batch axis and one without")
        return any(f is not False for f in flags) or not flags

    def _dot_beams(self, node: str, got: dict[str, Any]) -> None:
        """``DotLayer.get_out_data_from_opts`` asserts its two sources' templates have the same beam (by
        name) where both have one: in the template construction nothing translates them into a common
        beam first, so a ``dot`` over two inputs on different beams fails there (its template stays as
        it was; the real layer translates its inputs and is built)."""
        names: list[str | None] = []
        for item, value in self._from_values(node, got):
            if value is None:
                return
            beam = self.bp.beam.get(item[0]) if value is _OUTER else value.beam
            names.append(beam.name if beam is not None else None)
        if len(names) == 2 and None not in names and names[0] != names[1]:
            raise _TemplateFailure(node, (
                f"AssertionError: {node}: its two sources' templates have different beams ({names[0]}, "
                f"{names[1]}): DotLayer.get_out_data_from_opts asserts the same beam"),
                f"{node} (dot) reads templates on two different beams ({names[0]}, {names[1]})")

    def _from_values(self, node: str, got: dict[str, Any],
                     option: str = "from") -> list[tuple[tuple[str, str, str], Any]]:
        """``(input, what this construction got for it)`` for each ``from`` (or ``option``) input of
        ``node``: a previous frame's :class:`_Snap`, a unit template (:class:`_Template`), :data:`_OUTER` for
        a layer outside the unit, None where nothing was got."""
        out: list[tuple[tuple[str, str, str], Any]] = []
        for item in self.s.inputs(node):
            if item[1] != option:
                continue
            asked, _, form = self._ask(item)
            value = got.get(asked)
            if form == "outer":
                out.append((item, _OUTER))
            elif isinstance(value, _Snap):
                out.append((item, value))
            elif isinstance(value, str) and value in self.templates:
                out.append((item, self.templates[value]))
            else:
                out.append((item, None))
        return out

    def _held_sources(self, node: str, got: dict[str, Any], live: set[str]) -> list[tuple[str, Any]]:
        """``node``'s ``from`` inputs as its kwargs hold them after this construction (see
        :attr:`UnitTemplates.cell_sources`)."""
        out: list[tuple[str, Any]] = []
        for item, value in self._from_values(node, got):
            src, form = item[0], item[2]
            local = self.local_of.get(src)
            if value is _OUTER:
                out.append(("outer", (src, form)))
            elif isinstance(value, _Snap) and local not in live:
                out.append(("prev", value.beam))
            elif local is not None:
                out.append(("cur", src))
        return out

    def _first_source_batchless(self, node: str, got: dict[str, Any]) -> bool:
        """Whether the first ``from`` input of ``node`` is a template of the unit without batch axis."""
        values = self._from_values(node, got)
        value = values[0][1] if values else None
        return value is not None and value is not _OUTER and not value.batch

    def _layout(self, node: str, got: dict[str, Any]) -> Layout | None:
        """The template's layout from its ``from`` inputs' as they are now (:func:`.layouts.frame_layout`):
        a dummy has no axis, ``base:`` layers have their own, the loop's input one frame of it."""
        data = self.s.nodes[node]
        if data["node_kind"] == "step":
            return frame_layout(":i", {}, [])  # the frame index: a scalar
        if data["node_kind"] == "sub":
            # a part of a feature ``split`` (``SplitLayer._make_split_layer``): its parent's axes
            parent = self.s.parent(node)
            pdata = self.s.nodes[parent]
            value = got.get(self.local_of.get(parent, ""))
            if pdata["class"] == "split" and pdata["options"].get("axis") in (None, "F", "f", "feature") \
                    and isinstance(value, str) and value in self.templates:
                return self.templates[value].layout
            return None
        if data["node_kind"] != "layer":
            return None
        if data["class"] == "subnetwork":
            # its inner output's (``SubnetworkLayer.get_out_data_from_opts``) once built for real; the
            # templates of layers reading a subnetwork are not modelled (RETURNN's own layouts: a
            # language model's output read through its subnetwork can stay without batch axis)
            return None
        sources: list[Layout | None] = []
        options: dict[str, Layout | None] = {}
        for item in self.s.inputs(node):
            if item[1] != "from" and item[1] not in LAYOUT_OPTIONS:
                continue
            asked, _, form = self._ask(item)
            if form == "outer":
                layout = self._outer_layout(item[0], item[2], node)
            else:
                value = got.get(asked)
                if isinstance(value, _Snap):
                    layout = value.layout
                elif isinstance(value, str) and value in self.templates:
                    t = self.templates[value]
                    layout = t.layout if t.initialized else DUMMY
                else:
                    layout = None
            if item[1] == "from":
                sources.append(layout)
            else:
                options[item[1]] = layout
        if names_missing_axis(data["class"], data["options"], sources) \
                or lacks_time_axis(data["class"], data["options"], sources, options):
            raise _AxisMissing(node)
        return frame_layout(data["class"], data["options"], sources, self.roots.target(data["options"]), options)

    def _inner_output(self, node: str) -> _Template | None:
        """A subnetwork's inner ``output`` template, once built."""
        t = self.templates.get(self.local_of.get(f"{node}/output", ""))
        return t if t is not None and t.initialized else None

    def _outer_layout(self, src: str, form: str, node: str) -> Layout | None:
        if form == "base":
            return self.roots.of(src)
        if form == "data" and self.s.nodes[src]["node_kind"] == "data" \
                and self.s.users[src][node].get("ref") in ("data", "data:source"):
            whole = [self.roots.of(s) for s, option, f, _ in self.s.nodes[self.rec].get("inputs", [])
                     if option == "from" and f in ("from", "data")]
            if len(whole) == 1 and whole[0] is not None and whole[0].batch == 0 and whole[0].time == 1:
                w = whole[0]
                return Layout(w.ndim - 1, 0, None, w.sparse)  # one frame of the loop's input
        return None

    def _touch(self, name: str) -> None:
        """``name``'s template state changed: its own and its readers' records may be stale."""
        self._stale.add(name)
        self._stale.update(self._readers_of.get(name, ()))

    def _record(self, name: str, own: int) -> None:
        """Remember what ``name`` was (re)built on (its version before, its inputs now)."""
        state = self._inputs_state(name)
        self.built_on[name] = (own, state)
        for dep in self._dep_names.get(name, ()):
            self._readers_of.setdefault(dep, set()).add(name)
        self._recorded_at[name] = self._all_epoch
        self._stale.discard(name)
        if self.version.get(name, 0) != own:
            self._stale.add(name)

    def _unchanged(self, name: str) -> bool:
        """Whether ``name`` was rebuilt on the same inputs before (then it gives the same template):
        without a change since its record, at once; else by comparing the whole input state."""
        recorded = self.built_on.get(name)
        if recorded is None or self._retries_inputs(name):
            return False
        if name not in self._stale and self._recorded_at.get(name) == self._all_epoch:
            return True
        if recorded == (self.version.get(name, 0), self._inputs_state(name)):
            self._stale.discard(name)
            self._recorded_at[name] = self._all_epoch
            return True
        return False

    def _retries_inputs(self, name: str) -> bool:
        """Whether a rebuild of ``name`` tries again to construct an input without a finished template
        (one whose construction raised, or not met yet): that try reads the input's own inputs, which
        ``name``'s record does not cover, and can succeed now (its nested constructions then come in
        RETURNN's order)."""
        templates = self.templates
        if self._n_unfinished:
            return any(d not in templates or not templates[d].initialized for d in self._input_names(name))
        # every template is finished: only a name not met yet is tried again (names change with the epoch)
        cached = self._inputs_met.get(name)
        if cached is None or cached[0] != self._all_epoch:
            cached = self._inputs_met[name] = (self._all_epoch, all(d in templates for d in self._input_names(name)))
        return not cached[1]

    def _input_names(self, name: str) -> tuple[str, ...]:
        """The cell's names a rebuild of ``name`` reads (a sub-layer's layer too), computed once."""
        names = self._dep_names.get(name)
        if names is None:
            node = self.by_local.get(name)
            if node is None:
                return ()
            found = {asked.removeprefix("prev:") for asked, _, form in self.deps(node) if form != "outer"}
            for dep in list(found):
                dep_node = self.by_local.get(dep)
                if dep_node is not None and self.s.nodes[dep_node]["node_kind"] == "sub":
                    found.add(self.local_of[next(iter(self.s.graph.predecessors(dep_node)))])
            names = self._dep_names[name] = tuple(sorted(found))
        return names

    def _inputs_state(self, name: str) -> tuple[Any, ...]:
        """What a rebuild of ``name`` reads: each input template's version, whether it is unfinished
        (a sub-layer's through its layer's too), and which names are registered at all."""
        if self.by_local.get(name) is None and name not in self._dep_names:
            return ()
        names = self._input_names(name)
        version, partially, templates = self.version, self.partially, self.templates
        return (len(templates),) + tuple(
            (d, version.get(d, 0), d in partially, d in templates) for d in names)

    # -- the whole walk -----------------------------------------------------------------------------
    def construct(self, g: _Getter, name: str) -> None:
        g.uninitialized = 0
        try:
            self.get(g, name, "from")
        except _LayerNotFound:
            raise
        except Exception as exc:  # noqa: BLE001
            self.collect(exc)

    def run(self) -> None:
        top = _Getter()
        self.construct(top, "output")
        if "output" not in self.templates:
            raise self.recent or Exception("Failed to construct Rec subnet template")
        if "end" in self.by_local:
            self.construct(top, "end")
        unit = self.s.nodes
        own = [local for local in sorted(self.by_local)  # a subnetwork's inner layer: built with it
               if unit[self.by_local[local]]["unit"] == self.rec]
        if self.s.eval_flag:  # losses are collected (``eval_flag``): their layers come next
            for local in own:
                if unit[self.by_local[local]]["options"].get("loss"):
                    self.construct(top, local)
        for local in own:
            opts = unit[self.by_local[local]]["options"]
            if opts.get("is_output_layer") or opts.get("need_last"):
                self.construct(top, local)
        limit = len(self.partially)
        direct = _Getter(iterative=False, reconstruct=True)
        while self.partially:
            before = len(self.partially)
            changed = False
            for name in self.partially:  # the list shrinks while RETURNN iterates over it
                if self._unchanged(name):
                    continue  # rebuilt on the same inputs before: the same template again
                own = self.version.get(name, 0)
                old = _compare_key(self.templates[name])
                self.construct(direct, name)
                self._record(name, own)
                if _key_changed(old, _compare_key(self.templates.get(name, _Template()))):
                    changed = True
            if len(self.partially) < before:
                continue
            if not changed:
                if not all(self.templates[n].initialized for n in self.partially):
                    raise self.recent or Exception("Failed to construct Rec subnet template")
                break
            limit -= 1
            if limit < 0:
                raise self.recent or Exception("Failed to construct Rec subnet template")


def _is_cell(cls: str, opts: dict[str, Any]) -> bool:
    """A cell layer of the frame: ``rnn_cell``, or a ``rec`` with a cell unit (``unit: "lstm"``)."""
    return cls == "rnn_cell" or (cls == "rec" and isinstance(opts.get("unit"), str))


def _state(t: _Template) -> tuple[Any, ...]:
    """All a template hands on (beams by their whole chains)."""
    return t.initialized, _beam_state(t.beam), _beam_state(t.chosen), t.batch, t.float_dummy, t.layout


def _beam_state(beam: SearchBeam | None) -> tuple[Any, ...] | None:
    """A beam's whole chain, a previous frame's with the chain of the frame it comes from (which a
    later ``get_combined_beam`` of two previous frames compares)."""
    if beam is None:
        return None
    return tuple((b.name, b.next_frame.chain_key if b.next_frame is not None else None) for b in beam.walk())


def _compare_key(t: _Template) -> tuple[Any, ...]:
    """What ``Data.get_compare_key`` sees of a template: a beam compares by name and size only
    (``SearchBeam.__eq__``), so a new dependency chain alone is no change."""
    return (t.initialized, (t.beam.name, t.beam.size) if t.beam is not None else None, t.batch, t.float_dummy,
            t.layout)


def _key_changed(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether a rebuilt template differs from before as ``get_compare_key`` sees it; a layout the
    model does not know (None) on either side is no difference (RETURNN's dims did not necessarily
    change where the model lost track of them)."""
    if old[:-1] != new[:-1]:
        return True
    return old[-1] is not None and new[-1] is not None and old[-1] != new[-1]


def _flat_members(s: Any, rec: str) -> list[tuple[str, str]]:
    """(node, its template name in the cell) of ``rec``'s unit layers, a ``subnetwork``'s inner
    layers included by their path (``lm/output``)."""
    out: list[tuple[str, str]] = []
    todo = [(m, s.nodes[m]["local"]) for m in s.children.get(rec, ())]
    while todo:
        node, path = todo.pop(0)
        out.append((node, path))
        if s.nodes[node]["class"] == "subnetwork":
            todo.extend((m, f"{path}/{s.nodes[m]['local']}") for m in s.children.get(node, ()))
    return out


def simulatable(bp: BeamPass, rec: str) -> bool:
    """Units the replay covers: a rec layer with a dict unit of plain layers, their sub-layers
    (``a/b``), the frame index ``:i`` and subnetworks of such layers (flattened into the cell), no
    nested unit."""
    s = bp.s
    members = s.children.get(rec, ())
    if not members or s.unit_output(rec) is None:
        return False
    for node, _ in _flat_members(s, rec):
        if s.nodes[node]["node_kind"] not in ("layer", "sub", "step"):
            return False
        if s.children.get(node) and not (s.nodes[node]["class"] == "subnetwork"
                                          and f"{node}/output" in s.built):
            return False
    return True


def simulate_unit(bp: BeamPass, rec: str, roots: RootLayouts | None = None) -> UnitTemplates:
    """Replay ``_construct_template`` for ``rec``'s unit on the template pass ``bp`` (its beams of
    layers outside the unit are the inputs from outside; ``roots``: the layouts of layers outside
    loops, shared by the units of one network)."""
    unit = _Unit(bp, rec, roots if roots is not None else RootLayouts(bp.s))
    out = UnitTemplates()
    try:
        unit.run()
    except _LayerNotFound as exc:
        out.error = (f"LayerNotFound: layer {exc.name!r} not found in the rec unit's template network "
                     f"(registered while a layer's template was built from unfinished inputs)")
        out.error_layer = next((n for n in unit.by_local.values()
                                if _targets(bp, n, exc.name)), bp.s.unit_output(rec))
        failed = f" ({unit.recent})" if isinstance(unit.recent, _TemplateFailure) else ""
        out.cause = (f"a layer's template was first built from unfinished inputs{failed}, by the shallow "
                     f"get_layer, which registered its target {exc.name!r} as a layer name; the rebuild reached "
                     "that name before any layer dropped it again")
        return out
    except _TemplateFailure as exc:
        out.error, out.error_layer, out.cause = exc.message, exc.node, exc.cause
        return out
    except CombineError as exc:
        node = getattr(exc, "node", None)
        if node is None or not unit.failing:
            return out  # the template pass reports it
        # ``ConstructCtx.fail``: a layer's template never got built, and the most recent exception the
        # rebuild collected, a beam combination, is what RETURNN raises
        out.error, out.error_layer = f"Exception: {exc}", node
        out.cause = (f"the templates of {', '.join(sorted(unit.by_local[n] for n in unit.failing if n in unit.by_local))} "
                     "never got built, and the last failure of the rebuild, the one RETURNN raises, was a beam "
                     f"combination in {node}")
        return out
    except Exception:  # noqa: BLE001 - e.g. a dependency loop that never resolves (SG126 says it)
        return out  # the pass's fixed point stands
    for local, t in unit.templates.items():
        node = unit.by_local.get(local)
        if node is not None and t.initialized:
            out.beam[node], out.chosen[node] = t.beam, t.chosen
            out.layout[node] = t.layout
            if not t.batch:
                out.batchless.add(node)
    out.prev_needed = {unit.by_local[n] for n in unit.prev_asked if n in unit.by_local}
    out.kept = dict(unit.kept)
    out.failing = {unit.by_local[n] for n in unit.failing if n in unit.by_local}
    out.cell_sources = {unit.by_local[user]: held for user, held in unit.cell_sources.items() if user in unit.by_local}
    out.dependencies = {unit.by_local[user]: tuple([unit.by_local.get(n, n) for n in part]  # type: ignore[misc]
                                                   for part in parts)
                        for user, parts in unit.dependencies.items() if user in unit.by_local}
    out.replayed = True
    return out


def _names_batch_axis(opts: dict[str, Any],
                      keys: tuple[str, ...] = ("axis", "axes", "axis1", "axis2", "perm")) -> bool:
    """Whether a layer's axis options (``keys``) name the batch axis (it may move, merge or drop it)."""
    for key in keys:
        value = opts.get(key)
        values = [*value, *value.values()] if isinstance(value, dict) else \
            value if isinstance(value, (list, tuple)) else [value]
        if any(names_batch(v) for v in values):
            return True
    return False


def _targets(bp: BeamPass, node: str, key: str) -> bool:
    target = bp.s.nodes[node]["options"].get("target")
    return key in (target if isinstance(target, list) else [target])


def _own_axes(out_type: Any) -> bool:
    """Whether an ``eval`` layer's ``out_type`` sets the template's axes itself: a ``shape`` / ``dims`` /
    ``dim_tags`` or an explicit ``batch_dim_axis``, or a function; else ``EvalLayer`` keeps its sources'
    common axes (``get_common_data(...).get_kwargs()`` updated by ``out_type``), batch axis included."""
    if not out_type:
        return False
    if not isinstance(out_type, dict):
        return True
    return any(key in out_type for key in ("shape", "dims", "dim_tags", "batch_dim_axis"))
