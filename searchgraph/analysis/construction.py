"""The network as RETURNN constructs it in one mode, with every layer's beam: the analysis' read API.

:func:`construct` runs the analysis stage: the structure (:mod:`.structure`), the loop placements
(:mod:`.placement`), in search mode the rec template pass and then the real construction
(:mod:`.passes`, :mod:`.templates`), and which layers lack data in search (:mod:`.availability`). The
:class:`Construction` it returns is what the checks (:mod:`searchgraph.checks`) read, through its
documented methods only; :meth:`Construction.result` turns it, with the checks' failures, into the
:class:`~searchgraph.analysis.model.Analysis` users get.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..graph.layergraph import LayerGraph
from ..graph.layers import get_layer_class
from ..loading.netspec import NetSpec
from .availability import Availability, availability
from .beams import SearchBeam
from .frame_order import frame_positions
from .layouts import LAYOUT_OPTIONS, Layout, RootLayouts, as_batch_major, frame_layout
from .model import Analysis, InputBeam, LayerBeam
from .passes import BeamPass
from .placement import Placement, place
from .structure import Structure
from .template_order import simulatable, simulate_unit
from .templates import beamless_outside_loops, rec_output_templates

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Construction", "construct"]

T = TypeVar("T")


def construct(spec: NetSpec, g: LayerGraph | nx.DiGraph, mode: str, eval_flag: bool) -> Construction:
    """Build the network's beams as RETURNN does in ``mode`` (``search`` or ``train``) with
    ``eval_flag``: in search mode the rec templates first, then the real construction."""
    s = Structure(spec, g, mode, eval_flag)
    avail = availability(spec, g, eval_flag=s.eval_flag)
    templates: BeamPass | None = None
    template_errors: dict[str, str] = {}
    unit_failures: dict[str, tuple[str, str]] = {}
    replayed = {}
    layouts: dict[str, Layout | None] = {}
    roots = RootLayouts(s)
    if s.search:
        settled = beamless_outside_loops(s)
        # templates come first and see every unit layer in its loop (no placement yet): RETURNN
        # decides the move-out on the templates (``_TemplateLayer.search_choices``)
        templates = BeamPass(s, Placement(), template=True, settled=settled)
        templates.run()
        # the templates a unit ends with follow RETURNN's construction order, not the fixed point
        replayed: dict[str, frozenset[str]] = {}
        prev_needed: dict[str, set[str]] = {}
        kept: dict[str, SearchBeam] = {}  # beam name -> its first object (``BatchInfo``), units in order
        stale: set[str] = set()  # replayed templates whose last construction raised
        template_deps: dict[str, tuple[list[str], list[str], list[str]]] = {}  # (:mod:`.choice_deps`)
        cell_sources: dict[str, list[tuple[str, Any]]] = {}  # a cell template's inputs as its kwargs hold them
        for rec in [n for n in s.order if s.nodes[n]["class"] == "rec" and simulatable(templates, n)]:
            replay = simulate_unit(templates, rec, roots)
            if replay.replayed:
                replayed[rec] = frozenset(replay.batchless)
                prev_needed[rec] = replay.prev_needed
                stale |= replay.failing
                layouts.update(replay.layout)
                templates.beam.update(replay.beam)
                templates.chosen.update(replay.chosen)
                for name, beam in replay.kept.items():
                    kept.setdefault(name, beam)
                template_deps.update(replay.dependencies)
                cell_sources.update(replay.cell_sources)
            if replay.error is not None and replay.error_layer is not None:
                unit_failures[replay.error_layer] = (replay.error, replay.cause)
        placement = place(s, functools.partial(_first_source_beam, s, templates), prev_needed)
        askers: dict[str, str] = {}
        real = BeamPass(s, placement, settled=settled, template_beams=templates.beam, template_chosen=templates.chosen,
                        rec_outer=rec_output_templates(s, templates.beam, templates.chosen, frozenset(replayed)),
                        unavailable=frozenset(avail.unavailable), frame_order=frame_positions(s, placement.where),
                        build_order=frame_positions(s, placement.where, every=True, askers=askers),
                        frame_askers=askers, frame_layouts=layouts,
                        kept_beams=kept, template_deps=template_deps)
        # rec units are first built as templates: a template error stops RETURNN before any
        # layer is moved out of the loop or translated
        # (where a unit's construction order was replayed to the end, a layer whose template was last
        # built without an error has none: the fixed point's combination of unfinished templates is
        # not RETURNN's; one whose last construction raised keeps an older template, and its error)
        template_errors = {n: e for n, e in templates.error.items()
                           if s.rec_of(n) and (s.rec_of(n) not in replayed or n in stale)}
        real.error_traces.update({n: t for n, t in templates.error_traces.items() if n in template_errors})
    else:
        placement = place(s)
        real = BeamPass(s, placement)
    real.run()
    if s.search:
        real.check_initial_states(cell_sources)
    real.check_frame_order()
    real.freeze()
    return Construction(mode, s, placement, real, templates, template_errors, avail, unit_failures, replayed,
                        layouts, roots)


def _first_source_beam(s: Structure, templates: BeamPass, node: str) -> SearchBeam | None:
    """The template beam of ``node``'s first ``from`` source (``sources[0].output.beam``)."""
    for src, option, form in s.inputs(node):
        if option == "from":
            return templates.input_beam(src, form, node)
    return None


class Construction:
    """What RETURNN constructs in one mode: layers, loops, placements, beams and search choices.

    Attributes
    ----------
    mode : ``search`` or ``train``; ``search`` is ``mode == "search"``.
    eval_flag : RETURNN's ``eval_flag``.
    spec : the network (:class:`~searchgraph.loading.netspec.NetSpec`).
    graph : the layer graph (a :class:`~searchgraph.graph.LayerGraph` or networkx.DiGraph); its
        ``graph`` dict holds the builder's notes (``missing`` references, ``prev_prev`` reads).
    nodes : node -> its attributes (``class``, ``options``, ``unit``, ``unit_kind``, ``local``,
        ``node_kind``, ``inputs``: see :mod:`searchgraph.graph.builder`); read only.
    order : the constructed layers in construction order; ``built``: every constructed node.
    unavailable : layers RETURNN builds as a ``DataNotAvailableLayer`` in search (no data there).
    without_data : layer RETURNN builds for real on an input without data in search -> (that input,
        the extern data key it lacks): its class makes an available template of its own.
    unbuilt : layers inside loops RETURNN never runs (their rec layer is unavailable).

    Everything else is a method; none changes the construction.
    """

    def __init__(self, mode: str, structure: Structure, placement: Placement, real: BeamPass,
                 templates: BeamPass | None, template_errors: dict[str, str], avail: Availability,
                 unit_failures: dict[str, tuple[str, str]] | None = None,
                 replayed: dict[str, frozenset[str]] | None = None,
                 layouts: dict[str, Layout | None] | None = None, roots: RootLayouts | None = None):
        s = self._s = structure
        self._unit_failures = unit_failures or {}
        self._replayed = replayed or {}
        self._layouts = layouts or {}
        self._loop_layouts: dict[str, Layout | None] = {}
        self._roots = roots if roots is not None else RootLayouts(structure)
        self._where = placement.where
        self._wrapped = placement.wrapped_input
        self._real, self._templates = real, templates
        self._template_errors = template_errors
        self.mode, self.search, self.eval_flag = mode, s.search, s.eval_flag
        self.spec, self.graph, self.nodes = s.spec, s.graph, s.nodes
        self.order, self.built = s.order, s.built
        self.unavailable = set(avail.unavailable)
        self.without_data = {n: (src, avail.origin[src]) for n, src in avail.without_data.items()}
        unbuilt_recs = {n for n in self.unavailable if s.nodes[n]["class"] == "rec"}
        self.unbuilt = frozenset(n for n in s.order if unbuilt_recs & s.recs_of(n))
        self._derived: dict[Callable[[Construction], Any], Any] = {}

    # -- structure ----------------------------------------------------------------------------------
    def users(self, node: str) -> dict[str, dict[str, Any]]:
        """The layers that read ``node``: successor -> edge attributes (``kind``, ``kinds``,
        ``option``, ``ref``)."""
        return self._s.users[node]

    def edge(self, src: str, dst: str) -> dict[str, Any]:
        """The attributes of the edge ``src -> dst``."""
        return self._s.users[src][dst]

    def parent(self, sub: str) -> str:
        """The layer a sub-layer (``a/0``) belongs to."""
        return self._s.parent(sub)

    def children(self, unit: str) -> list[str]:
        """The direct members of a unit layer (rec, subnetwork, a layer's sub-layers), in order."""
        return self._s.children.get(unit, [])

    def members(self, rec: str) -> set[str]:
        """Every layer inside ``rec``'s unit, nested units included."""
        return self._s.members(rec)

    def unit_output(self, rec: str) -> str | None:
        """The ``output`` layer of a rec or subnetwork layer's unit, or None."""
        return self._s.unit_output(rec)

    def accessed_sub_layer(self, node: str) -> str | None:
        """The rec sub-layer a ``rec_last_output`` / ``get_rec_accumulated`` reads (``REC/sub``), or None."""
        return self._s.accessed_sub_layer(node)

    def rec_of(self, node: str) -> str | None:
        """The innermost rec layer whose loop holds ``node``, or None."""
        return self._s.rec_of(node)

    def recs_of(self, node: str) -> frozenset[str]:
        """Every unit layer enclosing ``node``."""
        return self._s.recs_of(node)

    def is_search_choice(self, node: str) -> bool:
        """A ``choice`` layer that searches in this mode."""
        return self._s.is_search_choice(node)

    def adds_to_beam_scores(self, node: str) -> bool:
        """A ``choice`` whose scores go into the beam scores (:meth:`.Structure.adds_to_beam_scores`)."""
        return self._s.adds_to_beam_scores(node)

    def has_rec_state(self, node: str) -> bool:
        """Whether a loop layer gets its own previous frame as ``rec_previous_layer``."""
        return self._s.has_rec_state(node)

    def masked_choice_size(self, node: str) -> int | None:
        """The beam size of the searching choice a ``masked_computation`` has as its unit, else None."""
        return self._s.masked_choice_size(node)

    def inputs(self, node: str) -> list[tuple[str, str, str]]:
        """``(source, option, form)`` of the inputs that carry beams and choices into ``node``
        (``form``: ``from``, ``prev``, ``base``, ``sub``, ``data``, ``missing``)."""
        return self._s.inputs(node)

    def translated_count(self, node: str) -> int:
        """How many layers ``translate_to_common_search_beam`` finds in the layer's kwargs: its inputs,
        plus a ``target`` that names a layer (``LayerBase.transform_config_dict``: in search only a
        target that ``get_layer`` finds, e.g. ``data``, the extern data's source layer, goes into
        ``_target_layers``); with fewer than two nothing is translated."""
        count = len(self._s.inputs(node))
        target = self._s.nodes[node]["options"].get("target")
        if self.search and isinstance(target, str) and self._s.rec_of(node) is None and (
                target == "data" or (target in self._s.nodes and self._s.nodes[target]["unit"] is None)):
            count += 1
        return count

    def sources(self, node: str) -> list[tuple[str, str]]:
        """``(source, form)`` of the layer's ``from``, in order (whatever they carry)."""
        return [(s, f) for s, o, f, _ in self._s.nodes[node].get("inputs", []) if o == "from"]

    def cycles(self) -> list[list[str]]:
        """Dependency cycles (no ``prev:``) inside a rec unit, their layers in order: RETURNN's
        templates allow them (``_construct_template`` hands out a template under construction), its
        real construction does not (``TFNetwork.construct_layer``)."""
        return [list(c) for c in self._s.graph.graph.get("cycles", [])
                if all(n in self._s.built for n in c)]

    def known_length(self, rec: str) -> bool:
        """Whether the loop's length is known before it runs (no ``end`` needed)."""
        return self._s.known_length(rec)

    def loop_sources(self, rec: str) -> set[str]:
        """The extern data nodes ``rec``'s loop iterates over (read by name, one frame each)."""
        return self._s.loop_sources(rec)

    def spec_unit(self, node: str) -> Any:
        """The raw ``unit`` dict of a rec or subnetwork layer as written (``#`` keys included)."""
        return self._s.spec_unit(node)

    def batched(self, node: str) -> bool:
        """Whether the layer's output has a batch axis."""
        return self._s.batched(node)

    # -- placement ----------------------------------------------------------------------------------
    def placement(self, node: str) -> str | None:
        """``net``, ``loop``, ``input`` / ``output`` (moved out in front of / after the loop),
        ``unused`` (a template only); None for nodes RETURNN does not construct."""
        return self._where.get(node)

    def outside(self, node: str, rec: str) -> bool:
        """Whether ``node`` sees ``rec``'s loop from outside (not in it, or moved out after it)."""
        return self._real.outside(node, rec)

    def built_in_output_net(self, src: str, form: str, consumer: str) -> bool:
        """Whether ``consumer``, a layer moved out after its loop, gets ``src`` from the loop's output
        net (``_SubnetworkRecCell._construct_output_layers_moved_out``'s ``get_layer``): a layer kept
        in the loop (``get_loop_acc_layer``), another moved-out layer, or a ``prev:`` frame of either
        (``get_prev_layer``). Not input-moved layers (``input_layers_net``) nor ``base:`` ones."""
        rec = self.rec_of(consumer)
        if rec is None or self.placement(consumer) != "output" or rec not in self.recs_of(src):
            return False
        return self._where.get(self._s.top_in_rec(src, rec)) in ("loop", "output")

    def choices_pending(self, src: str, form: str, consumer: str) -> bool:
        """Whether ``src`` reaches ``consumer`` with a beam but no search choices yet: in the loop's
        output net the search choices are attached to the accumulated layers only after every
        moved-out layer is built (the last loop of ``_construct_output_layers_moved_out``), so
        ``get_search_choices`` of such an input finds none while the moved-out layers are built."""
        if not self.built_in_output_net(src, form, consumer) or self.input_beam(src, form, consumer) is None:
            return False
        rec = self.rec_of(consumer)
        return not self._output_net_finds_choices(src, form, rec) and not self._rec_deps_have_choices(rec)

    def _output_net_finds_choices(self, src: str, form: str, rec: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``get_search_choices`` of ``src`` in ``rec``'s output net finds a layer with search
        choices along its dependencies: an accumulated loop layer and a ``prev:`` frame have none
        (``WrappedInternalLayer``\\ s without sources); a layer moved out before or after the loop has its
        inputs', where ``data:source`` (a ``SourceLayer`` on a beam adds the beam's choice owner as its
        source) and ``base:`` layers bring the outer network's."""
        if form == "prev" or src in seen or self._where.get(self._s.top_in_rec(src, rec)) not in ("input", "output"):
            return False
        for inner, _, inner_form in self.inputs(src):
            if inner_form in ("data", "base") or rec not in self.recs_of(inner):
                if self.input_choice(inner, inner_form, src) is not None:
                    return True
            elif self._output_net_finds_choices(inner, inner_form, rec, seen | {src}):
                return True
        return False

    def _rec_deps_have_choices(self, rec: str) -> bool:
        """``_get_all_search_choices``' fallback for a layer of the output net that finds none of its own
        (the net is not inside the loop): the rec layer's ``get_dep_layers()``, its sources, initial
        states, ``max_seq_len_via`` and the outer layers its unit reads (``get_parent_deps``)."""
        net = self._s.nodes[rec].get("unit")
        for src, option, form in self.inputs(rec):
            if option.partition(".")[0] in ("from", "initial_state", "max_seq_len_via") \
                    and self.input_choice(src, form, rec) is not None:
                return True
        for member in self.members(rec):
            if self._s.nodes[member]["node_kind"] != "layer":
                continue
            for src, _, form in self.inputs(member):
                if form == "base" and self._s.nodes[src].get("unit") == net \
                        and self.input_choice(src, "from", rec) is not None:
                    return True
        return False

    # -- beams and search choices (the real construction) --------------------------------------------
    def beam(self, node: str) -> SearchBeam | None:
        """The layer's beam (RETURNN's ``layer.output.beam``), or None."""
        return self._real.beam.get(node)

    def chosen(self, node: str) -> SearchBeam | None:
        """The layer's search choices, a chain of choice owners (``get_search_choices``, plus the
        choices that make no beam of their own), or None."""
        return self._real.chosen.get(node)

    def own_choice(self, node: str) -> SearchBeam | None:
        """The layer's own ``get_search_choices()``: its inputs' common search choices where they were
        translated into a common beam, an option layer that is no dependency included; else
        :meth:`chosen`."""
        return self._real.own_chosen.get(node, self._real.chosen.get(node))

    def beams(self) -> Iterable[SearchBeam | None]:
        """Every layer's beam (None for the beamless ones)."""
        return self._real.beam.values()

    def input_beam(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """The beam ``consumer`` receives ``src`` on (``form`` as in :meth:`inputs`), before any
        translation: ``prev:`` values on the previous frame's beam, loop layers read from outside on
        the loop's latest beam, layers moved in front of the loop on none."""
        return self._real.input_beam(src, form, consumer)

    def input_choice(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """Like :meth:`input_beam`, for the search choices."""
        return self._real.input_choice(src, form, consumer)

    def latest(self, rec: str) -> SearchBeam | None:
        """The beam of the loop's latest choice (what its outputs carry after backtracking), or None
        for a loop without choices."""
        return self._real.latest.get(rec)

    def searching_loops(self) -> list[str]:
        """The rec layers whose loop makes search choices."""
        return list(self._real.latest)

    # -- the rec template pass (search mode) ----------------------------------------------------------
    @property
    def has_templates(self) -> bool:
        """Whether the rec template pass ran (search mode)."""
        return self._templates is not None

    def template_beam(self, node: str) -> SearchBeam | None:
        """The layer's beam in the rec template pass (None without one)."""
        return self._templates.beam.get(node) if self._templates is not None else None

    def rec_output_beam(self, rec: str) -> SearchBeam | None:
        """A rec layer's own beam, from its unit ``output`` template (search mode), or None."""
        return self._real.rec_outer.get(rec)

    def rec_output_beams(self) -> dict[str, SearchBeam | None]:
        """rec layer -> :meth:`rec_output_beam`, for every rec layer with a unit ``output`` template."""
        return dict(self._real.rec_outer)

    # -- beams that cannot be combined ----------------------------------------------------------------
    def combine_errors(self) -> dict[str, str]:
        """Layer -> RETURNN's message where beams cannot be combined or search choices compared (in
        the real construction, or in a rec unit's templates, which fail first)."""
        return {**self._real.error, **self._template_errors}

    def frame_compare_errors(self) -> dict[str, tuple[str, str, str]]:
        """Layer -> (older choice, newer choice, the layer that compared them first) whose previous
        frames it compares while the older one is built in the frame and the newer one is still its
        template (:mod:`.frame_order`)."""
        return dict(self._real.frame_errors)

    def frame_position(self, node: str) -> int | None:
        """Where ``node`` comes in its searching loop's real construction of a frame
        (:mod:`.frame_order`), or None (outside such a loop)."""
        return self._real.frame_order.get(node)

    def template_choice_order_errors(self) -> dict[str, tuple[str, str, str, str, str]]:
        """Layer -> (the template whose search choices RETURNN looks up while building the layer, as
        ``base`` (a choice's source choice) or ``src`` (a ``prev:`` input's own), how that lookup fails:
        ``compare`` / ``mapping`` / ``unique``, and the two layers it names) (:mod:`.choice_deps`)."""
        return dict(self._real.choice_order_errors)

    def combine_traces(self, node: str) -> tuple[tuple[str, ...], ...]:
        """The two choice chains that could not be combined on ``node``."""
        return self._real.error_traces.get(node, ())

    def unit_template_failures(self) -> dict[str, tuple[str, str]]:
        """Layer -> (RETURNN's error, why) where a rec unit's templates cannot be built in RETURNN's
        construction order (:mod:`.template_order`): a template that never gets a batch axis, a
        class assertion on its options, or a target name registered as a layer while inputs were
        unfinished (``LayerNotFound``)."""
        return dict(self._unit_failures)

    def replayed_batchless(self, rec: str) -> frozenset[str] | None:
        """The layers of ``rec``'s unit whose template has no batch axis, as the replay of RETURNN's
        template construction left them (:mod:`.template_order`), or None where the unit was not
        replayed."""
        return self._replayed.get(rec)

    def frame_layout(self, node: str) -> Layout | None:
        """The layout of a loop layer's template (batch and time axes, :mod:`.layouts`) as the replay
        of RETURNN's template construction left it; None where unsure or the unit was not replayed."""
        return self._layouts.get(node)

    def root_layout(self, node: str) -> Layout | None:
        """The layout of a layer outside any loop, or of extern data (:class:`.layouts.RootLayouts`;
        None when unsure)."""
        return self._roots.of(node)

    def loop_layout(self, node: str) -> Layout | None:
        """The layout of a layer in the loop as the loop really builds it (None when unsure).

        It differs from the template's: building the layer, RETURNN translates every input whose
        search choices are not the layer's (``SelectSearchSourcesLayer.select_if_needed``, a tiled
        encoder too) into a batch-major copy (``copy_as_batch_major``), so only the inputs on the
        layer's own choices hand on their layout; ``prev:`` values are shaped like their template."""
        if node in self._loop_layouts:
            return self._loop_layouts[node]
        self._loop_layouts[node] = None  # a cycle: unsure
        got = self._loop_layout(node)
        self._loop_layouts[node] = got
        return got

    def _loop_layout(self, node: str) -> Layout | None:
        rec = self.rec_of(node)
        data = self.nodes[node]
        if data["node_kind"] == "step" and rec is not None:
            return frame_layout(":i", {}, [])  # the frame index: a scalar
        if data["node_kind"] == "sub" and rec is not None and self.placement(node) == "loop":
            # a part of a feature ``split``: its parent's axes (``SplitLayer._make_split_layer``)
            parent = self._s.parent(node)
            popts = self.nodes[parent]["options"]
            if self.nodes[parent]["class"] == "split" and popts.get("axis") in (None, "F", "f", "feature"):
                return self.loop_layout(parent)
            return None
        if rec is None or self.placement(node) != "loop" or node not in self._layouts \
                or data["node_kind"] != "layer" or data.get("unit") != rec:
            return None
        own = self.chosen(node)
        sources: list[Layout | None] = []
        options: dict[str, Layout | None] = {}
        for src, option, form in self.inputs(node):
            if option != "from" and option not in LAYOUT_OPTIONS:
                continue
            if form == "base":
                layout = self._roots.of(src)
            elif form == "prev":
                layout = self.frame_layout(src)
            elif form == "from" and self.placement(src) == "loop":
                layout = self.loop_layout(src)
            else:
                layout = None
            if layout is not None and layout.batch is not None \
                    and _choice_name(self.input_choice(src, form, node)) != _choice_name(own):
                layout = as_batch_major(layout)
            if option == "from":
                sources.append(layout)
            else:
                options[option] = layout
        return frame_layout(data["class"], data["options"], sources, self._roots.target(data["options"]), options)

    def template_error(self, node: str) -> bool:
        """Whether ``node``'s combine error is raised while making rec templates."""
        return node in self._template_errors

    # -- what checks derive ---------------------------------------------------------------------------
    def derived(self, factory: Callable[[Construction], T]) -> T:
        """``factory(self)``, made once per construction: models the checks share (the shape model
        :class:`searchgraph.checks.shapes.Shapes`) are made this way."""
        try:
            return self._derived[factory]  # type: ignore[no-any-return]
        except KeyError:
            value = self._derived[factory] = factory(self)
            return value

    # -- the result -----------------------------------------------------------------------------------
    def translate_inputs(self, node: str) -> list[InputBeam]:
        """Every layer in the layer's constructor arguments (RETURNN's E_translate, spec §1.4):
        sources (extern data and a loop's ``data:source`` included), layer-valued options,
        ``initial_output``, ``state``, and the layer's own previous frame (``rec_previous_layer``)
        when something reads ``prev:`` of it (always for ``end``, which is OR-ed with ``prev:end``).
        ``reuse_params`` layers are opaque there and not translated."""
        s, real = self._s, self._real
        data = s.nodes[node]
        out: list[InputBeam] = []
        loop_input_seen: set[tuple[str, str]] = set()
        for src, option, form, search in data.get("inputs", []):
            kind_src = s.nodes[src]["node_kind"]
            if (s.search and not search) or option.startswith(("reuse_params", "max_seq_len")) or \
                    kind_src == "missing" or (src not in s.built and kind_src == "layer"):
                continue
            if data["class"] == "subnetwork" and option == "from":
                continue  # ``SubnetworkLayer.transform_config_dict`` empties ``from``: the inner layers read them
            if data["class"] == "cond" and option in ("true_layer", "false_layer"):
                continue  # a ``subnetwork`` branch's layers live in an extra template net, which is not translated
            if form == "data" and s.users[src][node]["ref"] == "data:source":
                rec = s.rec_of(node)
                name = f"{rec}/data:source"
                if (name, option) in loop_input_seen:  # one layer, however many sources the loop has
                    continue
                loop_input_seen.add((name, option))
                beam = real.input_beam(src, "from", rec) if rec else None
                out.append(InputBeam(name, src, option, "data", beam))
                continue
            out.append(self._input(src, option, form, node))
        reads_prev = any(d["kind"] == "prev" and v != node or "prev" in d["kinds"]
                         for v, d in s.users[node].items())
        is_end = data["local"] == "end" and data["unit_kind"] == "rec" and s.search
        if s.rec_of(node) and self._where.get(node) == "loop":
            if data["class"] == "choice":
                # BaseChoiceLayer drops the automatic rec_previous_layer; a searching choice
                # without beamed sources takes its own prev frame instead (PR #1213)
                if s.is_search_choice(node) and all(i.beam is None for i in out if i.option == "from"):
                    out.append(self._input(node, "rec_previous_layer", "prev", node))
            elif reads_prev or is_end or s.has_rec_state(node):
                out.append(self._input(node, "rec_previous_layer", "prev", node))
        return out

    def _input(self, src: str, option: str, form: str, node: str) -> InputBeam:
        src_data = self._s.nodes[src]
        local = src_data["local"]
        name = src
        if form == "prev":
            head, _, _ = src.rpartition(local)
            name = f"{head}prev:{local}"
        elif src_data["node_kind"] == "data" and name == "data:data":
            # the extern data layer is named as it is asked for: ``data`` (also via ``base:data``) or
            # ``data:data`` (``TFNetwork.construct_layer`` of either name)
            ref = str(self._s.users[src].get(node, {}).get("ref", ""))
            while ref.startswith("base:"):
                ref = ref[len("base:"):]
            name = "data" if ref == "data" else name
        decided = get_layer_class(src_data["class"]).beam_role in ("decide", "split_batch_beam")
        kind = form if form in ("prev", "base", "sub", "data") else (
            "from" if option == "from" else f"option:{option}")
        return InputBeam(name, src, option, kind, self._real.input_beam(src, form, node), decided,
                         self._s.batched(src), self._real.input_choice(src, form, node))

    def _fallback_choice(self, rec: str | None) -> str | None:
        """The search choice ``get_search_choices`` falls back to for a layer moved out of ``rec``'s
        loop that has none of its own: the rec layer's (``parent_layer.get_dep_layers()``), and where
        that rec layer has none either and is itself moved out of an outer loop, that loop's, and so
        on (``_get_all_search_choices`` stops at a network inside a loop, and at the root)."""
        real, s = self._real, self._s
        while rec is not None:
            if rec in real.latest and real.chosen.get(rec) is not None:
                # the rec layer's own search choices (its owner: a regression choice's beam is its
                # previous frame's, its choices its own)
                return real.chosen[rec].name
            outer = s.rec_of(rec)
            if outer is None or self._where.get(s.top_in_rec(rec, outer)) not in ("input", "output"):
                return None
            rec = outer
        return None

    def result(self, failures: dict[str, Any]) -> Analysis:
        """The :class:`Analysis`: one :class:`LayerBeam` per layer RETURNN builds, with the error
        ``failures`` (layer -> an object with ``message``: :class:`searchgraph.checks.Failure`)
        predicts there."""
        s, real, where = self._s, self._real, self._where
        latest = real.latest
        out: dict[str, LayerBeam] = {}
        for node in s.order:
            data = s.nodes[node]
            placement = where.get(node, "net")
            accumulated = False
            if data["node_kind"] == "sub" and data["unit_kind"] == "rec" and placement == "loop":
                # a sub-layer of a loop layer is a template of the cell of its own (``a/b``); it is
                # accumulated after the loop, a layer of the output net, when a layer moved out reads it
                # (``get_loop_acc_layer``) or when its template is an output layer (it has its parent's
                # options, ``is_output_layer`` included: ``extra_output_layers``)
                parent = s.parent(node)
                accumulated = any(where.get(v) == "output" for v in s.users[node]) \
                    or bool(s.nodes[parent]["options"].get("is_output_layer"))
            if data["node_kind"] == "sub" and data["unit_kind"] == "rec" and placement != "loop":
                pass  # a sub-layer moved out of the loop is a layer of its own there
            elif accumulated:
                placement = "output"
            elif data["node_kind"] not in ("layer", "step"):
                continue
            if placement == "unused":  # a template only: RETURNN builds no layer for it
                continue
            beam = real.beam.get(node)
            rec = s.rec_of(node)
            chosen = real.chosen.get(node)
            if accumulated and rec is not None:
                beam, chosen = real.backtracked(node, rec)
            choice = chosen.name if chosen is not None else None
            if node in self._wrapped:
                # the per-frame layer of an input-moved one: the input sequence's beam, if it has one
                placement = "loop"
            elif placement in ("input", "output") and (choice is None or node in self.unavailable):
                # computed before (after) the loop: its search-choice lookup finds nothing among its
                # deps and falls back to the rec layer's deps, i.e. the resolved output's choice (a
                # DataNotAvailableLayer there too: the fallback is the net's, measured on fresh69's
                # moved-out reference copies)
                choice = self._fallback_choice(rec)
            elif node in self.unavailable:
                choice = None  # a DataNotAvailableLayer: no dependencies, so no search choices
            error = failures[node].message if node in failures else None
            out[node] = LayerBeam(node, data["class"], placement, beam, choice,
                                  beam.chain if beam is not None else [], error, data.get("unit"),
                                  functools.partial(self.translate_inputs, node),
                                  chosen=chosen, available=node not in self.unavailable,
                                  own=real.own_chosen.get(node) if not accumulated else None)
        length_known = frozenset(n for n in s.order if s.nodes[n]["class"] == "rec" and s.known_length(n))
        return Analysis(self.spec, self.graph, self.mode, out,
                        {rec: beam.name for rec, beam in latest.items()},
                        {n: f for n, f in failures.items() if n in out}, self.unbuilt, length_known)


def _choice_name(chosen: SearchBeam | None) -> str | None:
    """Which search choices these are (RETURNN compares ``SearchChoices`` objects: one per owner)."""
    return chosen.name if chosen is not None else None
