"""One construction pass over the network: every layer's beam and search choices, to a fixed point.

RETURNN builds a search network twice over: each rec unit first as templates
(``_SubnetworkRecCell._construct_template``: a layer's beam is the combination of its inputs' beams,
``SearchBeam.get_combined_beam``, with no translation; a choice's beam depends on its first source's),
then for real (``TFNetwork._create_layer``: the inputs are first translated into their newest search
choice, ``translate_to_common_search_beam``, and a choice's beam depends on that common beam).
:class:`BeamPass` is either (``template=True`` or not); :mod:`~searchgraph.analysis.construction`
runs the template pass, then the real one, which reads ``prev:`` values as the templates gave them.

How an input arrives depends on where the two layers run (:mod:`~searchgraph.analysis.placement`):
inside a loop ``prev:x`` is on the previous frame's beam (``SearchBeam.copy_as_prev_frame``); outside
(a root layer, or a layer moved out after the loop) a loop layer arrives backtracked, on the beam of the
loop's latest choice (``_SubnetworkRecCell._opt_search_resolve``), except ``decide_keep_beam``'s raw
values; layers moved in front of the loop have no beam.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from ..graph.layers import get_layer_class
from .beams import CombineError, CompareError, SearchBeam, combine_beams, combine_choices
from .choice_deps import OUTER, TemplateDeps, incomparable_choices, latest_choice
from .choices import latest_choices, owner
from .layouts import TIME_NAMES, Layout, RootLayouts
from .placement import Placement
from .structure import Structure, drops_batch_axis
from .templates import rec_output_template

#: options whose layer's beam a class's template (``get_out_data_from_opts``) does not combine; for
#: every class ``target`` (``_target_layers``): the templates combine the sources' beams
#: (``Data.get_common_data`` in ``_base_get_out_data_from_opts``), a target layer only joins the
#: real layer's inputs (``get_dep_layers``, ``translate_to_common_search_beam``)
#: classes whose output takes its beam from an option layer's batch when their sources have none:
#: ``ReinterpretDataLayer`` with ``size_base`` (``set_dynamic_size`` puts that layer's time dim tag, with
#: its batch, into the copy of a beamless source), ``SliceNdLayer`` (its gather positions are the
#: ``start`` template extended by a dim, ``copy_add_dim_by_tag``, which keeps only the batch)
_BEAM_FROM_BATCH = {"reinterpret_data": "size_base", "slice_nd": "start"}
#: A ``positional_encoding``'s ``offset`` is not in its template either (``get_out_data_from_opts`` takes
#: the sources only), nor among its dependencies (no ``get_dep_layers`` of its own): its beam reaches
#: the real layer through ``translate_to_common_search_beam`` alone (fresh48's mutants)
_TEMPLATE_BLIND = {"slice_nd": ("size",), "masked_computation": ("mask",), "positional_encoding": ("offset",)}
_TEMPLATE_BLIND_ALL = ("target",)
#: Options whose layers ``get_search_choices`` does not follow (not among the layer's dependencies,
#: ``get_dep_layers``): a ``cond``'s condition and branches (``CondLayer`` has ``from: []`` and no
#: ``get_dep_layers`` of its own), a ``masked_computation``'s mask; a beam that only comes through them
#: gives the walk over dependencies no search choices
_CHOICES_BLIND = {"cond": ("condition", "true_layer", "false_layer"), "masked_computation": ("mask",),
                  "positional_encoding": ("offset",)}
#: of those, the option layers that are in the layer's kwargs all the same, so that
#: ``translate_to_common_search_beam`` compares them and the layer keeps their common search choices as its
#: own (``_src_common_search_choices``): a ``positional_encoding``'s ``offset``, a ``masked_computation``'s
#: ``mask``, a ``cond``'s ``condition`` (its branches are layer dicts; a ``subnetwork`` branch's layers live in
#: an extra template net, which the translation skips: ``is_extra_internal_template_construction``)
_TRANSLATED_BLIND = {"positional_encoding": ("offset",), "cond": ("condition",), "masked_computation": ("mask",)}
#: a ``cond``'s branches given as layer dicts of another class than ``subnetwork`` have their own options'
#: layers (``true_layer.from``) resolved by the cond's ``get_layer``, real layers in its kwargs
_INLINE_BRANCHES = ("true_layer", "false_layer")


def _in_kwargs(cls: str, option: str) -> bool:
    """Whether a layer that is no dependency (:data:`_CHOICES_BLIND`) is translated all the same."""
    head, dot, _ = option.partition(".")
    return head in _TRANSLATED_BLIND.get(cls, ()) or (cls == "cond" and head in _INLINE_BRANCHES and bool(dot))

__all__ = ["BeamPass"]


#: classes whose output is a range over a dim they make: no batch axis, no beam (a ``range_in_axis`` over an
#: existing dim keeps the beam its size carries: measured on RETURNN, fresh24)
_BATCHLESS_RANGE = ("range_from_length",)
#: Classes whose template is a new ``Data`` on their input's batch, without its beam
_BEAM_OF_BATCH = ("gating",)
#: Classes whose template combines an option layer's beam first (``GatherNdLayer.get_out_data_from_opts``:
#: ``get_combined_beam(position, input)``, the first of two equal beams kept)
_BEAM_FROM_OPTION_FIRST = ("gather_nd",)
#: Classes whose template is their sources' common data (``Data.get_common_data``)
_COMMON_DATA = ("combine", "compare", "eval")


def _length_axis(opts: Mapping[str, object]) -> object:
    """A ``length`` layer's ``axis`` (default: the time axis)."""
    return opts.get("axis", "T")


def _dynamic_dim(axis: object) -> bool:
    """An axis given as a declared dim without a static size (``{"__dim__": {"dimension": None, ...}}``)."""
    spec = axis.get("__dim__") if isinstance(axis, dict) else None
    return isinstance(spec, dict) and spec.get("dimension") is None


#: how a layer receives an input's beam (:meth:`BeamPass.how_received`)
NOTHING, AS_IS, BACKTRACKED, PREV_FRAME = range(4)


def _kwarg_key(option: str) -> str:
    """The layer kwarg an input option becomes (``from`` -> ``sources``, ``target`` ->
    ``_target_layers``; ``a.b`` nested options by their top key)."""
    top = option.partition(".")[0]
    return {"from": "sources", "target": "_target_layers"}.get(top, top)


def _differs(old: SearchBeam | None, new: SearchBeam | None) -> bool:
    if old is new:
        return False
    if old is None or new is None:
        return True
    return old.name != new.name or old.size != new.size or old.chain_key != new.chain_key


def _src_choices_seq(chosen: SearchBeam, final: Mapping[str, SearchBeam | None]) -> set[str]:
    """The names on ``get_src_choices_seq`` of a frame's search choices: its chain, and past a previous
    frame's choice that frame's own chain (a previous frame's template resolves its search choices on
    the current frame, ``_TemplateLayer.get_search_choices``; ``final``: each layer's search choices
    as the frame ends), each as its ``prev:`` layer."""
    names = set(chosen.chain_key)
    for beam in chosen.walk():
        if beam.is_prev_frame and beam.next_frame is not None:
            frame = final.get(beam.next_frame.name) or beam.next_frame
            for name in frame.chain_key:
                scope, _, local = name.rpartition("/")
                if not local.startswith("prev:"):
                    names.add(f"{scope}/prev:{local}" if scope else f"prev:{local}")
    return names


class BeamPass:
    """The beams of one construction pass.

    Attributes
    ----------
    beam : layer -> its beam (``layer.output.beam``), or None.
    chosen : layer -> its search choices as a chain of choice owners (``get_search_choices`` and the
        choices that make no beam of their own: regression, ``search: False``), or None.
    latest, latest_chosen : rec layer -> the beam / choices of the loop's latest choice.
    error : layer -> RETURNN's message where beams cannot be combined or compared.
    error_traces : layer -> the two choice chains that could not be combined.
    """

    def __init__(self, structure: Structure, placement: Placement, *, template: bool = False,
                 settled: frozenset[str] | set[str] = frozenset(),
                 template_beams: dict[str, SearchBeam | None] | None = None,
                 template_chosen: dict[str, SearchBeam | None] | None = None,
                 rec_outer: dict[str, SearchBeam | None] | None = None,
                 unavailable: frozenset[str] | set[str] = frozenset(),
                 frame_order: Mapping[str, int] | None = None,
                 build_order: Mapping[str, int] | None = None,
                 frame_askers: Mapping[str, str] | None = None,
                 frame_layouts: Mapping[str, Layout | None] | None = None,
                 kept_beams: Mapping[str, SearchBeam] | None = None,
                 template_deps: TemplateDeps | None = None):
        """``settled``: layers whose beam is known to be None (no choice upstream, outside loops);
        ``template_beams``: the template pass's beams, which ``prev:`` values carry in the real pass;
        ``template_chosen``: its search choices (a layer's own previous frame has its template's);
        ``rec_outer``: each rec layer's own beam from its template (:mod:`.templates`);
        ``unavailable``: layers built as a ``DataNotAvailableLayer`` (no dependencies, no search
        choices); ``frame_order``: loop layers -> their position in the loop's real construction of a
        frame (:mod:`.frame_order`), for the loops whose choices of two frames can meet; ``build_order``: the
        same for every loop; ``frame_askers``: loop layer -> the layer under construction when it was
        built (the rec layer for a needed output); ``frame_layouts``: loop layer -> its template's axes as the
        replay made them (:mod:`.template_order`); ``kept_beams``: beam name -> the first ``SearchBeam`` object made
        under it while the templates were built, which every batch of that name keeps (``BatchInfo``);
        ``template_deps``: each replayed unit layer's template dependencies in the order asked for
        (:mod:`.choice_deps`)."""
        self.s = structure
        self.nd = structure.nodes
        self.search = structure.search
        #: template mode: beams as RETURNN's rec template construction sees them, before any input
        #: is translated into a common beam (a choice's dependency is its first source's beam)
        self.template = template
        self.placement = placement.where
        self.wrapped_input = placement.wrapped_input
        self.settled = settled
        self.template_beams = template_beams
        self.template_chosen = template_chosen
        self.rec_outer = rec_outer if rec_outer is not None else {}
        self.unavailable = unavailable
        self.frame_order = frame_order or {}
        self.build_order = build_order or {}
        self.frame_askers = frame_askers or {}
        self.frame_layouts = frame_layouts or {}
        self.kept_beams = kept_beams or {}
        self.template_deps = template_deps or {}
        #: layer -> (the template whose search choices RETURNN looked up while the layer was built, how:
        #: ``base`` (a choice's source choice, ``src_layer``), ``src`` (a layer's own, ``get_search_choices``
        #: of a ``prev:`` input) or ``built`` (a layer just built, asked for its own search choices: the
        #: layer is then the one being built when it was asked for), how that lookup failed, and the two
        #: layers it names) (:mod:`.choice_deps`)
        self.choice_order_errors: dict[str, tuple[str, str, str, str, str]] = {}
        #: loop layer -> its inputs' search choices in kwargs order, and where its own previous frame
        #: goes among them (taken from the final table when replayed)
        self._frame_choices: dict[str, tuple[list[SearchBeam | None], int | None]] = {}
        #: loop layer -> its inputs (node, read as ``prev:``) that ``translate_to_common_search_beam``
        #: re-selected from other search choices into the common ones, with the owner of those
        #: (node, a previous frame): a ``SelectSearchSourcesLayer`` that depends on both
        self._selected: dict[str, dict[tuple[str, bool], tuple[str, bool]]] = {}
        self._prev_read = {src for node in self.build_order for src, _, form in structure.inputs(node)
                           if form == "prev"}
        #: layer -> (the older choice, built; the newer one, still its template; the layer that first
        #: compared them, fixing the template's chain) where :meth:`check_frame_order` found the two
        #: previous frames not to compare
        self.frame_errors: dict[str, tuple[str, str, str]] = {}
        self.beam: dict[str, SearchBeam | None] = {}
        self.chosen: dict[str, SearchBeam | None] = {}
        #: a layer's own ``get_search_choices()`` where it differs from the walk over its dependencies
        #: (``chosen``, ``TFNetwork.get_search_choices``): a layer whose inputs were translated into a
        #: common beam keeps their common search choices (``_src_common_search_choices``), an option layer
        #: that is no dependency (:data:`_CHOICES_BLIND`) included
        self.own_chosen: dict[str, SearchBeam | None] = {}
        #: the layers whose own search choices are another input's than their dependencies' newest, because
        #: ``max`` kept an earlier one next to a ``decide_keep_beam``'s own choices (``keep_raw``)
        self._kept_own: set[str] = set()
        #: the layers whose own search choices are an input's own ``get_search_choices()`` (a translation's
        #: pick) newer than the walk over their dependencies finds
        self._asked_own: set[str] = set()
        self.latest: dict[str, SearchBeam] = {}
        self.latest_chosen: dict[str, SearchBeam] = {}
        self._choice_state: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {}
        self.error: dict[str, str] = {}
        #: root layers' layouts, made when first asked (:meth:`_root_rank`)
        self._layouts: RootLayouts | None = None
        self.error_traces: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._prev_cache: dict[int, tuple[SearchBeam, SearchBeam]] = {}
        self._outer_deps: dict[str, list[tuple[str, str]]] = {}
        #: node -> (beam role, how each input arrives, where its ``rec_previous_layer`` goes among them)
        self._static: dict[str, tuple[Any, ...]] = {}
        self._how_cache: dict[tuple[str, str, str], tuple[int, str, str | None]] = {}
        #: input beams once the beams are final (the checks ask for them again and again)
        self._final_beams: dict[tuple[str, str, str], SearchBeam | None] | None = None
        #: layer -> (beam, search choices) its ``prev:`` value had when a template asked for it
        #: (:mod:`.template_order` replays the template construction with these)
        self.prev_snapshots: dict[str, tuple[SearchBeam | None, SearchBeam | None]] | None = None

    def freeze(self) -> None:
        """The beams are final: remember input beams from now on."""
        self._final_beams = {}

    # -- how inputs arrive --------------------------------------------------------------------------
    def input_beam(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """The beam of ``src`` as ``consumer`` receives it (before any translation)."""
        final = self._final_beams
        if final is None:
            return self._received(src, form, consumer, self.beam, self.latest)
        key = (src, form, consumer)
        if key not in final:
            final[key] = self._received(src, form, consumer, self.beam, self.latest)
        return final[key]

    def input_choice(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """Like :meth:`input_beam`, for the search choices (they differ from the beam only after a
        choice that adds scores without creating a beam: ``search: False``, regression)."""
        how, node, rec = self._how(src, form, consumer)
        if how == AS_IS and node in self.own_chosen:
            return self.own_chosen[node]  # ``get_search_choices()`` of the input layer itself
        got = self._receive(how, node, rec, self.chosen, self.latest_chosen)
        if how == PREV_FRAME and node == consumer:
            templated = self._own_prev_template_choice(node, rec)
            if templated is not None and (got is None or templated.name != got.name):
                return templated
        elif how == PREV_FRAME and got is None and self._built_later(node, consumer):
            # ``_TemplateLayer.get_search_choices`` of ``prev:X`` asks the current frame's ``X``: not built
            # yet, its template, which finds search choices the real layer may not (through an option layer
            # that is no dependency there, :data:`_CHOICES_BLIND`)
            templated = self._prev_template_choice(node, rec, consumer)
            if templated is not None:
                return templated
        return got

    def _built_later(self, node: str, consumer: str) -> bool:
        """Whether ``node`` is built after ``consumer`` in their loop's real construction of a frame."""
        at, by = self.build_order.get(node), self.build_order.get(consumer)
        return at is not None and by is not None and at > by

    def _cond_own_choices(self, node: str, translated: list[SearchBeam | None], blind: list[str | None],
                          beams: list[SearchBeam | None]) -> None:
        """A ``cond``'s own ``get_search_choices()``: it has no dependencies (``from: []``; its condition and
        branches are made by the layer itself), so only ``translate_to_common_search_beam`` gives it search
        choices, those of the layers in its kwargs that are not in an extra template net: its ``from``, the
        ``condition``, the layers an inline branch's options name (a ``subnetwork`` branch's layers are built in
        the extra net) and, where the loop carries the cond's previous frame (``prev:cond`` among the cell's
        layers), its ``rec_previous_layer`` (``LayerBase.transform_config_dict``), whose ``get_search_choices``
        asks the cond's template (:meth:`_own_prev_template_choice`); only where they are two or more, and each
        only where it has a beam (a layer without one is skipped there). Without any, a beam from its branches
        comes without search choices."""
        held = [(ch, beam) for ch, lazy, beam in zip(translated, blind, beams)
                if not lazy or _in_kwargs("cond", lazy)]
        if self.placement.get(node) == "loop" and (self.s.has_rec_state(node) or node in self._prev_read):
            held.append((self.input_choice(node, "prev", node), self.input_beam(node, "prev", node)))
        # (``translate_to_common_search_beam`` translates only where the kwargs hold two layers or more)
        compared = [ch for ch, beam in held if beam is not None] if len(held) > 1 else []
        self.own_chosen[node] = self._combine_choices(self._as_compared(compared))

    def _cond_beam(self, node: str, beams: list[SearchBeam | None],
                   branches: list[tuple[str, str, str]]) -> SearchBeam | None:
        """A ``cond``'s beam: ``CondLayer.get_out_data_from_opts`` takes the ``true_layer``'s output template
        only; in the real construction, an inline true branch's layers were translated with the cond's
        other kwargs into their common search choices first (``select_if_needed`` puts a beamless one on
        that beam), a ``subnetwork`` branch's output is built in an extra template net, untranslated."""
        true = [b for b, (head, _, _) in zip(beams, branches) if head == "true_layer"]
        own = self.own_chosen.get(node) if not self.template else None
        inline = any(head == "true_layer" and dot for head, dot, _ in branches)
        if own is not None and inline:
            found = next((b for b in beams if b is not None and b.name == own.name), None) or (
                self.beam.get(own.name) if not own.is_prev_frame else None)
            if found is not None:
                return found
        return combine_beams(true)

    def _own_prev_template_choice(self, node: str, rec: str | None) -> SearchBeam | None:
        """A layer's own previous frame (``rec_previous_layer``) as ``_TemplateLayer.get_search_choices``
        sees it: from the current frame's layer, not built yet, so its template's search choices (which
        follow every dependency, a masked_computation's mask too: fresh65's masked encodings). Only
        where they can differ from the real layer's: a class whose real search choices skip an option
        layer (:data:`_CHOICES_BLIND`); elsewhere the real table's entry stands for them."""
        if self.nd[node]["class"] not in _CHOICES_BLIND:
            return None
        return self._prev_template_choice(node, rec)

    def _prev_template_choice(self, node: str, rec: str | None, asker: str | None = None) -> SearchBeam | None:
        """``node``'s template's search choices, as its previous frame's (``prev:node``), asked while
        ``asker`` (``node`` itself unless given) is built. ``_TemplateLayer.get_search_choices`` walks the
        template's dependencies as recorded (:func:`.choice_deps.latest_choice`), each where built already
        the real layer, when it is asked, not when the template was made: the newest owner found, as its
        previous frame; where the walk is not modelled, the template's search choices as the replay made
        them."""
        if self.template_chosen is None or rec is None:
            return None
        at = self.build_order.get(asker or node)
        walk = self._template_walk_args(node, {n for n, i in self.build_order.items() if i < at}) \
            if at is not None and self.search and not self.template else None
        found = latest_choice(node, *walk) if walk is not None else None
        if found is not None and found[0] in self.nd and self.s.rec_of(found[0]) == rec:
            walked = self.prev_frame_of(found[0], rec, self.template_chosen)
            if walked is not None:
                return walked
        return self.prev_frame_of(node, rec, self.template_chosen)

    def _received(self, src: str, form: str, consumer: str, table: dict[str, SearchBeam | None],
                  latest: dict[str, SearchBeam]) -> SearchBeam | None:
        return self._receive(*self._how(src, form, consumer), table, latest)

    def _how(self, src: str, form: str, consumer: str) -> tuple[int, str, str | None]:
        """:meth:`how_received`, worked out once per input."""
        key = (src, form, consumer)
        found = self._how_cache.get(key)
        if found is None:
            found = self._how_cache[key] = self.how_received(src, form, consumer)
        return found

    def how_received(self, src: str, form: str, consumer: str) -> tuple[int, str, str | None]:
        """How ``consumer`` receives ``src`` (fixed once the placements are): ``(how, node, rec)``
        with ``how`` one of ``NOTHING`` (extern data, input-moved layers: no beam), ``AS_IS``,
        ``BACKTRACKED`` (a loop layer read from outside ``rec``: on the loop's latest beam),
        ``PREV_FRAME`` (``prev:`` inside ``rec``), and ``node`` the layer whose beam it is."""
        data = self.nd[src]
        if data["node_kind"] == "data":
            # extern data a layer registered (``register_as_extern_data``): that layer's output
            registered = [s for s, option, _ in self.s.inputs(src) if option == "from"]
            if registered:
                return self.how_received(registered[0], "from", consumer)
        if data["node_kind"] in ("data", "missing"):
            return NOTHING, src, None
        if data["node_kind"] == "sub":
            src = next(iter(self.s.graph.predecessors(src)), src)
        src_rec = self.s.rec_of(src)
        if src_rec is None:
            return AS_IS, src, None
        # templates are built before any layer is moved out of the loop
        where = "loop" if self.template else self.place_in(src, src_rec)
        if where == "input":
            # computed before the loop over whole sequences: the beam of what it reads outside the
            # loop (none over an encoder; a beamed sequence's, e.g. a loop over a decoder's output)
            return AS_IS, src, None
        if self.outside(consumer, src_rec):
            return (AS_IS if where == "output" else BACKTRACKED), src, src_rec
        return (PREV_FRAME if form == "prev" else AS_IS), src, src_rec

    def prev_frame_of(self, src: str, rec: str, table: Mapping[str, SearchBeam | None]) -> SearchBeam | None:
        """What a ``prev:`` reference to ``src`` (in ``rec``'s unit) receives of ``table``'s entry
        (a template's beam or search choices as the previous frame's)."""
        return self._receive(PREV_FRAME, src, rec, table, {})

    def _receive(self, how: int, src: str, rec: str | None, table: dict[str, SearchBeam | None],
                 latest: dict[str, SearchBeam]) -> SearchBeam | None:
        if how == AS_IS:
            return table.get(src)
        if how == NOTHING:
            return None
        if how == PREV_FRAME and self.prev_snapshots is not None and src in self.prev_snapshots:
            snap_beam, snap_chosen = self.prev_snapshots[src]
            return snap_beam if table is self.beam else snap_chosen
        beam = table.get(src)
        if how == BACKTRACKED:
            if beam is None:
                return None
            made_by = self.nd.get(owner(beam))
            if made_by is not None and made_by["class"] == "decide_keep_beam":
                return beam  # keep_raw: never resolved
            own = self._own_latest(src, rec)
            if own is not None and table.get(own) is not None:
                return table.get(own)
            return latest.get(rec, beam)
        if table is self.beam and self.template_beams is not None:
            beam = self.template_beams.get(src, beam)  # prev: layers are templates
        if (table is self.chosen or table is self.template_chosen) and beam is not None and not beam.is_prev_frame and \
                self.nd.get(beam.name, {}).get("unit", rec) != rec:
            # ``_TemplateLayer.get_search_choices`` of a prev: layer: choices owned by a layer of
            # another net (a choice inside a subnetwork of the unit) are returned as they are, on
            # this frame, not as their prev: frame
            return beam
        if beam is not None and not beam.is_prev_frame and beam.name.startswith(rec + "/"):
            cached = self._prev_cache.get(id(beam))
            if cached is None or cached[0] is not beam:
                cached = self._prev_cache[id(beam)] = (beam, beam.copy_as_prev_frame())
            return cached[1]
        return beam

    def outside(self, node: str, rec: str) -> bool:
        """Whether ``node`` sees ``rec``'s loop from outside (not in it, or moved out after it)."""
        if rec not in self.s.recs_of(node):
            return node != rec
        return not self.template and self.place_in(node, rec) == "output"

    def place_in(self, node: str, rec: str) -> str:
        """Where ``node`` runs relative to ``rec``'s loop: its own placement where it is a layer of that
        loop's cell (a subnetwork's inner layers are placed one by one), else its holder's."""
        if self.s.rec_of(node) == rec and node in self.placement:
            return self.placement[node]
        return self.placement.get(self.s.top_in_rec(node, rec), "loop")

    # -- beams --------------------------------------------------------------------------------------
    def compute(self, node: str) -> tuple[SearchBeam | None, SearchBeam | None]:
        """The layer's beam and its search choices (as a SearchBeam-like chain of choice owners)."""
        data = self.nd[node]
        if data["node_kind"] == "sub":
            parent = next(iter(self.s.graph.predecessors(node)))
            return self.input_beam(parent, "sub", node), self.input_choice(parent, "sub", node)
        static = self._static.get(node)
        if static is None:  # placements are fixed: so is how each input arrives
            # a template does not see every input's beam: ``SliceNdLayer.get_out_data_from_opts``
            # puts a ``size`` layer only into the new dim's size (``dyn_size_ext``), not the beam
            blind = _TEMPLATE_BLIND_ALL if self.template else ()
            # ... but the template's search choices follow every layer it asked for
            # (``_TemplateLayer.get_dep_layers``: its ``cur_frame_dependencies``)
            unseen = _TEMPLATE_BLIND.get(data["class"], ()) if self.template else ()
            # in the order ``translate_to_common_search_beam`` meets them: ``nest.flatten`` of the
            # layer's kwargs, sorted by key (``from`` is ``sources`` there, targets
            # ``_target_layers``); it keeps the first of equally new search choices
            inputs = sorted((i for i in self.s.inputs(node) if i[1] not in blind),
                            key=lambda i: _kwarg_key(i[1]))
            lazy = _CHOICES_BLIND.get(data["class"], ())
            static = self._static[node] = (get_layer_class(data["class"]).beam_role, [
                (*self._how(src, form, node), opt == "from") for src, opt, form in inputs],
                sum(1 for _, opt, _ in inputs if _kwarg_key(opt) <= "rec_previous_layer"),
                [opt if opt.split(".")[0] in lazy else None for _, opt, _ in inputs]
                if lazy and not self.template else None,
                [opt in unseen for _, opt, _ in inputs] if unseen else None,
                [opt.partition(".") for _, opt, _ in inputs] if data["class"] == "cond" else None)
        role, plan, own_prev_at, blind, beam_unseen, branches = static
        beam_table, chosen_table = self.beam, self.chosen
        beams: list[SearchBeam | None] = []
        choices: list[SearchBeam | None] = []
        owns: list[SearchBeam | None] = []  # each input's ``get_search_choices()`` (its own, where it keeps one)
        kept_in = False
        sources = []
        source_choices = []
        for at, (how, src, rec, is_from) in enumerate(plan):
            if how == AS_IS:
                beam, chosen = beam_table.get(src), chosen_table.get(src)
                kept_in = kept_in or src in self._kept_own
                owns.append(self.own_chosen[src] if src in self._kept_own else chosen)
            else:
                beam = self._receive(how, src, rec, beam_table, self.latest)
                chosen = self._receive(how, src, rec, chosen_table, self.latest_chosen)
                owns.append(chosen)
                if how == PREV_FRAME and self.template_chosen is not None and not self.template:
                    # the walk (``TFNetwork.get_search_choices``) goes on through a previous frame's
                    # dependencies, ``_TemplateLayer.get_dep_layers``: the template's logical ones (every
                    # layer it asked for, an option layer that is no dependency of the real layer too) as
                    # their previous frames
                    chosen = self.prev_frame_of(src, rec, self.template_chosen)
            if beam_unseen is not None and beam_unseen[at]:
                beam = None  # not in the output template's beam
            beams.append(beam)
            choices.append(chosen)
            if is_from:
                sources.append(beam)
                source_choices.append(chosen)
        translated = choices  # what ``translate_to_common_search_beam`` compares: every layer in the kwargs
        plan_beams = list(beams)
        if blind is not None:  # lazily built inputs give the beam but no search choices
            translated = [None if lazy and not _in_kwargs(data["class"], lazy) else ch
                          for ch, lazy in zip(choices, blind)]
            if len(plan) > 1 and any(ch is not None for ch, lazy in zip(choices, blind) if lazy) \
                    and data["class"] in ("positional_encoding", "masked_computation"):
                # but they are in the layer's kwargs: translated with the others, the layer keeps the common
                # search choices of all as its own (``translate_to_common_search_beam``)
                self.own_chosen[node] = self._combine_choices(self._as_compared(choices))
            else:
                self.own_chosen.pop(node, None)
            choices = [None if lazy else ch for ch, lazy in zip(choices, blind)]
            owns = [None if lazy else ch for ch, lazy in zip(owns, blind)]
        first = sources[0] if sources else None
        if not self.template and self.s.has_rec_state(node) and self.placement.get(node) == "loop":
            # its previous frame comes in as ``rec_previous_layer``: one more input to translate
            beams.insert(own_prev_at, self.input_beam(node, "prev", node))
            choices.insert(own_prev_at, self.input_choice(node, "prev", node))
        if branches is not None:
            if blind is not None:
                self._cond_own_choices(node, translated, blind, plan_beams)
            return self._cond_beam(node, beams, branches), self._combine_choices(choices)
        if node in self.frame_order and not self.template:
            # :meth:`check_frame_order` replays them; a layer whose previous frame is carried to the
            # next frame gets it as ``rec_previous_layer`` whatever its class
            # (``LayerBase.transform_config_dict``: ``prev:<name>`` among the cell's layers)
            replayed = list(translated)
            own = None
            if self.s.has_rec_state(node) and self.placement.get(node) == "loop":
                own = own_prev_at
            elif role in ("choice", "decide", "decide_keep_beam"):
                # ``BaseChoiceLayer.transform_config_dict`` drops it again; a searching choice without
                # beamed sources asks for it anew (PR #1213)
                if self.s.is_search_choice(node) and all(b is None for b in sources):
                    replayed.insert(own_prev_at, None)
                    own = own_prev_at
            elif node in self._prev_read:
                replayed.insert(own_prev_at, None)
                own = own_prev_at
            self._frame_choices[node] = (replayed, own)
        if role == "choice":
            size = int(data["options"].get("beam_size", 1) or 1)
            first_choice = source_choices[0] if sources else None
            regression = data["options"].get("input_type") == "regression"
            if self.s.is_search_choice(node) and (self.template or not regression):
                if self.template:
                    return SearchBeam(node, size, first), SearchBeam(node, size, first_choice)
                if self.s.rec_of(node) and all(b is None for b in sources):
                    # PR #1213: a searching choice without beamed sources depends on its own prev frame
                    beams.insert(own_prev_at, self.input_beam(node, "prev", node))
                    choices.insert(own_prev_at, self.input_choice(node, "prev", node))
                # real construction translates all layer kwargs into their common beam first; the
                # new beam depends on the translated first source's (``_create_search_beam``)
                many = len(beams) > 1
                dependency = self._common(beams) if many else first
                if many and first is not None and self._keeps_raw(first_choice):
                    # ``select_if_needed`` returns a layer on a ``decide_keep_beam``'s own search choices
                    # (``keep_raw``) as it is: the first source keeps its beam
                    dependency = first
                return (SearchBeam(node, size, dependency),
                        SearchBeam(node, size, combine_choices(choices) if many else first_choice))
            if self.search and regression:
                # a regression "choice" keeps its translated input's beam, with choices of its own
                # only when it searches (``ChoiceLayer.__init__``: ``search_flag``); a searching one in a
                # loop without beamed sources also gets its own prev frame (PR #1213)
                if not self.template and self.s.is_search_choice(node) and self.s.rec_of(node) \
                        and all(b is None for b in sources):
                    beams.insert(own_prev_at, self.input_beam(node, "prev", node))
                    choices.insert(own_prev_at, self.input_choice(node, "prev", node))
                beam = combine_beams(beams)
                if not self.s.is_search_choice(node):
                    return beam, self._combine_choices(choices)
                return beam, SearchBeam(node, beam.size if beam else 1, combine_choices(choices))
            adds_scores = data["options"].get("add_to_beam_scores", True) is not False
            if self.search and first is not None and adds_scores:
                # adds its scores to the beam without a beam of its own (search False with
                # add_to_beam_scores): new search choices on the source's beam
                return first, SearchBeam(node, first.size, combine_choices(choices))
            return first, first_choice
        if role in ("decide", "split_batch_beam"):
            return None, None
        if data["class"] == "rec_last_output":
            # ``RecLastOutputLayer.get_out_data_from_opts``: the sub-layer's template as the rec layer's
            # cell keeps it (``layer_data_templates``); no sources, and its ``rec_layer`` is no dependency:
            # no search choices, whatever beam that template has
            return self._last_frame_template(node), None
        if data["class"] == "get_rec_accumulated" and not self.template:
            # ``GetRecAccumulatedOutputLayer.get_out_data_from_opts``: the output of the sub-layer as the
            # rec layer's output net has it (moved out after the loop, or accumulated over the frames and
            # resolved as a root reader of ``REC/sub`` gets it); search choices through its source, the rec
            # layer
            inner = self._accumulated_layer(node)
            if inner is not None:
                how, src, rec = self._how(inner, "from", node)
                return self._receive(how, src, rec, self.beam, self.latest), self._combine_choices(choices)
        if data["class"] in _BATCHLESS_RANGE:
            # ``RangeFromLengthLayer``: a fresh ``Data`` over a new dim (its size the source), no batch axis
            # and no beam; ``TFNetwork.get_search_choices`` still finds its inputs' choices
            return None, self._combine_choices(choices)
        if data["class"] == "length" and drops_batch_axis("length", data["options"]):
            # ``LengthLayer.get_out_data_from_opts``: the size of the batch axis (or of a static one) is
            # a scalar without beam; ``TFNetwork.get_search_choices`` still finds its inputs' choices
            return None, self._combine_choices(choices)
        if data["class"] == "length" and not self.template and first is not None \
                and (self._history_length(node) or self._extern_dim_length(node, first)):
            # the size of a declared dim (``dim.dyn_size_ext``) made for a beamed batch from a beamless one
            # (extern data's dim: ``Dim.get_for_batch_ctx`` extends the base size with the batch's beam),
            # or made while the unit's templates were built (a ``cum_concat`` history dim of the frame):
            # its beam is this frame's part of the chain, without the link to the previous frame
            return first.frame_part(), self._combine_choices(choices)
        if data["class"] == "length" and not self.template and first is not None and self._loop_beam_length(node, first):
            # a time axis' lengths are its dyn size (``LengthLayer``: ``dim.dyn_size_ext``); a loop without
            # an ``end`` layer has the lengths it was given (``_opt_search_resolve``: "not end_layer", the
            # size tensor taken for the latest choice's batch), on the batch's beam object, which
            # ``BatchInfo`` keeps from before the choice's dependencies were known (measured on
            # RETURNN: fresh36's lengths of decoders over their input); with an ``end`` layer the lengths
            # are resolved along the choices (below: ``_end_length``)
            return SearchBeam(first.name, first.size), self._combine_choices(choices)
        if data["class"] == "length" and not self.template and first is not None and self._end_length(node, first):
            # a searching loop's sequence lengths (its time dim's ``dyn_size_ext``) are resolved along the
            # choices when the loop ends (``_opt_search_resolve`` with an ``end`` layer), on the beam object
            # the batch keeps for the choice's name: its template's (``Data.beam``'s setter keeps the first
            # object of a name), whichever the rec layer's output has (measured on RETURNN: fresh58-m072, a
            # unit output that copies the choice; fresh58-m056, two chained choices)
            table = self.template_beams or {}
            return table.get(first.name) or first, self._combine_choices(choices)
        masked_size = self.s.masked_choice_size(node) if role == "masked_computation" else None
        if masked_size is not None:
            # a searching choice as a masked_computation's unit: the layer's output is the unit's,
            # on a beam of its own that depends on its (translated) source's; the layer is no
            # ``BaseChoiceLayer``, so its search choices are still its inputs'
            return SearchBeam(node, masked_size, combine_beams(sources)), self._combine_choices(choices)
        if role == "select_search_sources":
            # the source re-selected into the beam of the `search_choices` layer
            selector = [(self.input_beam(src, form, node), self.input_choice(src, form, node))
                        for src, opt, form, _ in data.get("inputs", []) if opt == "search_choices"]
            if selector and selector[0][0] is not None:
                return selector[0]
            return combine_beams(sources), combine_choices(choices)
        if role == "decide_keep_beam":
            # the beam depends on the source's beam, the search choices on the source's search
            # choices (``DecideKeepBeamLayer``: ``SearchChoices(owner=self, ...)`` with the source's
            # choices as ``src_layer``); they differ after a ``search: False`` choice
            if first is None:
                return None, None
            first_choice = source_choices[0] if sources else None
            return SearchBeam(node, first.size, first), SearchBeam(node, first.size, first_choice or first)
        if role == "rec" and self.search and not self.template and self.kept_beams and len(sources) > 1:
            # ``RecLayer.transform_config_dict`` makes its sources' template before they are translated
            # into a common beam (``get_concat_sources_data_template``): ``BatchInfo.get_common_batch_info``
            # combines the beams their batches keep, the first object of each name, made while the
            # templates were built, with the dependencies known then (measured on RETURNN: fresh73-m068,
            # a cell reading the previous frames of two choices whose first objects have none)
            combine_beams([self.kept_beams.get(b.name, b) if b is not None else None for b in sources])
        if role == "rec":
            # ``RecLayer.get_out_data_from_opts`` combines the output template's beam with its sources',
            # its ``initial_state`` layers' and the parent-net layers its unit reads (``get_parent_deps``)
            sources = sources + self._rec_outer_deps(node)
        if role == "rec" and self.template:
            # another loop's templates read the rec layer built for real: its output template's beam
            own = rec_output_template(self.s, node, self.beam, self.chosen)
            if own is not None:
                return self._with_sources(own, sources), self.latest_chosen.get(node)
        if role == "rec" and self._unit_output_beamless(node):
            # ``RecLayer.get_out_data_from_opts``: the unit output's template has no beam, so
            # neither has the rec layer (nor search choices), whatever the loop searched
            return None, None
        if role == "rec" and (node in self.rec_outer or node in self.latest):
            # a loop without choices of its own finds its inputs' search choices (``get_search_choices``)
            chosen = (self._resolved_choices(node) if self._output_resolved(node)
                      else self._combine_choices(choices))
            return self._with_sources(self.rec_outer.get(node, self.latest.get(node)), sources), chosen
        if self.search and not self.template and data["class"] in _BEAM_FROM_BATCH \
                and all(b is None for b in sources):
            by_batch = self._beam_from_batch(node, _BEAM_FROM_BATCH[data["class"]])
            if by_batch is not None:
                return by_batch, self._combine_choices(choices)
        common, combined = self._combine_choices(self._as_compared(choices)), combine_beams(beams)
        asked = [self.own_chosen[src] if how == AS_IS and src in self.own_chosen and src not in self._kept_own
                 else own for (how, src, _, _), own in zip(plan, owns)]
        if len(owns) != len(choices):  # the layer's own previous frame was inserted
            owns.insert(own_prev_at, choices[own_prev_at])
            asked.insert(own_prev_at, choices[own_prev_at])
        walk = common
        if self.search and not self.template and asked != owns and len(beams) > 1 \
                and any(b is not None for b in beams):
            # ``translate_to_common_search_beam`` compares each input's own ``get_search_choices()``: where an
            # input keeps its translation's pick (``_src_common_search_choices``: a ``cond`` on its previous
            # frame) that differs from the walk over its dependencies, the newest of them is the layer's pick,
            # the inputs on others are re-selected into it, and the walk over the layer's dependencies meets
            # the pick's owner through those ``SelectSearchSourcesLayer``s
            picked = self._common(self._as_compared(asked))
            if picked is not None and _differs(picked, common) and picked == self._combine_choices(
                    self._as_compared([common, picked])):
                wrapped = any(own is not None and own.name != picked.name and not self._keeps_raw(own)
                              for own in asked)
                walk = self._combine_choices(self._as_compared(choices + [picked])) if wrapped else common
                common, owns = picked, asked
        if walk is not common and _differs(walk, common):
            self.own_chosen[node] = common
            self._asked_own.add(node)
        elif node in self._asked_own:
            self._asked_own.discard(node)
            self.own_chosen.pop(node, None)
        if self.search and not self.template and node in self.build_order:
            self._record_selected(node, plan, own_prev_at, beams, owns, common)
        keep_raw_near = self.search and not self.template and len(choices) > 1 and (
            kept_in or any(map(self._keeps_raw, owns)))
        picked_other = False
        if keep_raw_near:
            # the layer keeps ``translate_to_common_search_beam``'s pick as its own search choices
            # (``_src_common_search_choices``): the ``max`` by ``SearchChoices.compare``, which is 0 against a
            # ``decide_keep_beam``'s own choices (``keep_raw``), so the earlier input's choices stay, in kwargs
            # order (a layer's own previous frame, ``rec_previous_layer``, before its ``sources``)
            # (``TFNetwork.get_search_choices`` of the layer, what other layers find through it, still walks
            # its dependencies)
            compared = list(owns)
            if self.s.has_rec_state(node) and self.placement.get(node) == "loop" and compared[own_prev_at] is None \
                    and self.template_chosen is not None:
                # the previous frame's ``_TemplateLayer.get_search_choices``: the current frame's template's
                # choices (this layer is not built yet), as their owner's previous frame
                compared[own_prev_at] = self._prev_template_choice(node, self.s.rec_of(node))
            kept = self._common(self._as_compared(compared))
            picked_other = _differs(kept, common)
            if picked_other:
                self.own_chosen[node] = kept
                self._kept_own.add(node)
        if not picked_other and node in self._kept_own:
            self._kept_own.discard(node)
            self.own_chosen.pop(node, None)
        from_sources = combine_beams(sources)
        if self.search and not self.template and from_sources is not None and (
                data["class"] in _BEAM_OF_BATCH or self._batchless_lead(node)):
            # the output template takes its beam from its batch (``Data(batch=...)`` without ``beam``:
            # ``GatingLayer``; ``Data.get_common_data`` where the first source with the most axes has no
            # batch axis, so the batch axis is added from another source's batch, ``copy_add_batch_dim``):
            # the beam object ``BatchInfo`` keeps for the name (``_make_beam_dim``: the first one made),
            # this frame's part of the chain (measured on RETURNN: fresh58's position masks, fresh66's gates)
            return from_sources.frame_part(), walk
        if self.search and not self.template and from_sources is not None and from_sources == combined \
                and data["class"] not in _BEAM_FROM_OPTION_FIRST:
            # the output template is made from the sources (``get_out_data_from_opts``); an option
            # layer on the same beam (a ``masked_computation``'s mask, a ``repeat``'s repetitions) does
            # not bring its own beam object (measured on RETURNN: fresh28-m038, fresh30-m015)
            combined = from_sources
        if self.search and not self.template and len(beams) > 1 and common is not None and common.is_prev_frame \
                and combined is not None and combined.name != common.name:
            # every input is translated into the common previous frame's beam (``translate_to_this_search_beam``:
            # ``SelectSearchSourcesLayer`` into ``get_beam_info()``), whatever the template beams say
            combined = next((b for b in beams if b is not None and b.name == common.name), combined)
        owner = self.beam.get(common.name) if common is not None and not common.is_prev_frame else None
        if self.search and not self.template and owner is not None and len(beams) > 1 \
                and combined is not None and combined.name == owner.name:
            # (where the beams disagree with the choices RETURNN asserts first: the checks say so)
            translated = self._translated(plan, own_prev_at, beams, owner)
            if translated != beams:
                # the sources make the output template, so they come first; ``get_combined_beam``:
                # of two equal beams, the first
                is_from = [f for _, _, _, f in plan]
                if len(is_from) != len(beams):
                    is_from.insert(own_prev_at, False)
                combined = None
                for beam in [b for b, f in zip(translated, is_from) if f] + \
                        [b for b, f in zip(translated, is_from) if not f]:
                    if beam is not None and (combined is None or beam != combined):
                        combined = beam if combined is None else combine_beams([combined, beam])
        return combined, walk

    def check_frame_order(self) -> None:
        """Replay each searching loop's real construction of a frame (:mod:`.frame_order`) with
        ``translate_to_common_search_beam``'s comparisons: ``max`` by ``SearchChoices.compare`` over a
        layer's inputs' search choices, in order. Two previous frames compare by their current frames'
        choices, a real layer where it is built already, else its template; a template choice's chain
        of source choices is fixed the first time it is compared (``src_layer`` is cached), with the
        real layers built by then and the templates of the others. A newer choice's template whose
        chain was fixed before the older choice was built then holds the older one's template, not the
        real layer, and the two do not compare: RETURNN raises at the first such layer. In those loops and in
        every searching loop that meets another net's search choices, each layer is then asked for its own
        search choices right after it is built (:meth:`_built_lookup`), and a ``prev:`` input's lookup while
        translating (:meth:`_prev_input_lookup`) is replayed too."""
        recs: dict[str | None, list[str]] = {}
        order = self.build_order if self.search and not self.template else self.frame_order
        for node in sorted(order, key=order.__getitem__):
            recs.setdefault(self.s.rec_of(node), []).append(node)
        for nodes in recs.values():
            if not any(n in self.frame_order for n in nodes) and not self._outer_choices_asked(nodes):
                # one owner of choices and no other net's choices among the templates' dependencies:
                # the walks find that choice's frames only, in order (and it keeps big loops cheap)
                continue
            built: set[str] = set()
            # template choice -> what was built when its chain was fixed, and the layer that compared it
            fixed: dict[str, tuple[frozenset[str], str]] = {}
            for node in nodes:
                if node in self.error:
                    break
                choices, own = self._frame_choices.get(node, ([], None))
                if own is not None:
                    choices = list(choices)
                    choices[own] = self.prev_frame_of(node, self.s.rec_of(node), self.chosen)
                looked_up = self._prev_input_lookup(node, built)
                if looked_up is not None:
                    self.choice_order_errors[node] = looked_up
                    break
                failed = self._frame_compare(node, choices, built, fixed)
                if node in self.choice_order_errors:
                    break
                if isinstance(failed, tuple):  # a previous frame off the current choice's sequence
                    cur, prev = failed
                    self.error[node] = (f"Exception: Cannot compare search choices\n <SearchChoices "
                                        f"owner={cur.name}>,\n <SearchChoices owner={prev.name}>\nwhich have "
                                        f"traces: {cur.chain} vs {prev.chain}")
                    self.error_traces[node] = (tuple(cur.chain), tuple(prev.chain))
                    break
                if failed is not None:
                    new = failed.second.next_frame.name
                    self.frame_errors[node] = (failed.first.next_frame.name, new, fixed[new][1])
                    self.error[node] = self.combine_message(node, failed)
                    self.error_traces[node] = (tuple(failed.first.chain), tuple(failed.second.chain))
                    break
                built.add(node)
                looked_up = self._built_lookup(node, built)
                if looked_up is not None:
                    self.choice_order_errors[self.frame_askers.get(node, node)] = (node, "built", *looked_up)
                    break

    def _frame_compare(self, node: str, choices: list[SearchBeam | None], built: set[str],
                       fixed: dict[str, tuple[frozenset[str], str]]
                       ) -> CompareError | tuple[SearchBeam, SearchBeam] | None:
        def keeps_raw(name: str) -> bool:  # a real ``decide_keep_beam``'s choices compare equal to any
            return self.nd.get(name, {}).get("class") == "decide_keep_beam"

        best: SearchBeam | None = None
        for chosen in choices:
            if chosen is None or best is None or chosen is best:
                best = best or chosen
                continue
            a, b = chosen, best
            if any(not x.is_prev_frame and keeps_raw(x.name) for x in (a, b)):
                continue  # ``compare`` is 0: ``max`` keeps the earlier one
            if a.is_prev_frame != b.is_prev_frame:
                # ``SearchChoices.compare`` of a current frame's choices and a previous frame's: the
                # previous one must be on the current one's sequence of source choices
                # (``get_src_choices_seq``), as the choice it was chosen from or one before it
                cur, prev = (b, a) if a.is_prev_frame else (a, b)
                if prev.name not in _src_choices_seq(cur, self.chosen) and not keeps_raw(
                        prev.next_frame.name if prev.next_frame else prev.name):
                    return cur, prev
            if a.is_prev_frame and b.is_prev_frame and a != b and a.next_frame and b.next_frame:
                for frame in (a.next_frame, b.next_frame):
                    for name in frame.chain_key:  # the templates along the chain are fixed with it
                        if name in self.frame_order and name not in built and name not in fixed:
                            fixed[name] = (frozenset(built), node)
                            bad = self._template_source_choice(name, built)
                            if bad is not None:
                                self.choice_order_errors[node] = (name, "base", *bad)
                                return None
                if any(keeps_raw(x.next_frame.name) and x.next_frame.name in built for x in (a, b)):
                    continue  # compared as the current frames: one is a real decide_keep_beam
                try:
                    newer = combine_choices([a.next_frame, b.next_frame])
                except CombineError:
                    return None
                old, new = (a, b) if newer == b.next_frame else (b, a)
                o, n = old.next_frame.name, new.next_frame.name
                if n not in built and o in built and n in fixed and o not in fixed[n][0]:
                    return CompareError(old, new)
            try:
                best = combine_choices([best, chosen])
            except CombineError:
                return None
        return None

    def check_initial_states(self, held: Mapping[str, list[tuple[str, Any]]]) -> None:
        """``_SubnetworkRecCell.get_init_loop_vars``: before the loop runs, each cell layer of the frame
        (``rnn_cell``, a ``rec`` with a cell unit) makes its initial state from its template's sources
        (``RnnCellLayer.get_rec_initial_state``: ``get_concat_sources_data_template``), whose batches keep
        the first beam object of each name (:attr:`kept_beams`). ``held``: each cell template's sources as
        its kwargs hold them (:attr:`.template_order.UnitTemplates.cell_sources`): a previous frame's copy
        as it was made, on that frame's beam (its chain cut at the frame, the next frame's kept), a template
        of the unit as it ends (one asked for as ``prev:`` while still unbuilt is held as that current
        template too), a layer outside the loop as it is. Two beams without a common chain: "Cannot combine
        beams", raised for the rec layer."""
        if not self.search or self.template:
            return
        for node in self.s.order:
            rec = self.s.rec_of(node)
            if node not in held or rec is None or self.placement.get(node) != "loop" or rec in self.error:
                continue
            beams: list[SearchBeam | None] = []
            for kind, what in held[node]:
                if kind == "prev":
                    beam = what
                elif kind == "cur":
                    beam = (self.template_beams or {}).get(what)
                else:
                    beam = self.input_beam(what[0], what[1], node)
                beams.append(self.kept_beams.get(beam.name, beam) if beam is not None else None)
            if sum(b is not None for b in beams) < 2:
                continue
            try:
                combine_beams(beams)
            except CombineError as exc:
                self.error[rec] = self.combine_message(rec, exc)
                self.error_traces[rec] = (tuple(exc.first.chain), tuple(exc.second.chain))

    def _prev_input_lookup(self, node: str, built: set[str]) -> tuple[str, str, str, str, str] | None:
        """``translate_to_common_search_beam`` of ``node`` (two layers or more in its kwargs) first asks each
        beamed input for its search choices: a ``prev:`` input of a layer not built yet in the frame, and no
        choice itself, looks them up on its current frame's template (``_TemplateLayer.get_search_choices``:
        ``get_search_choices(src=<template>)``, :mod:`.choice_deps`). The first that raises, else None."""
        # the kwargs' layers in ``nest.flatten`` order: by option name (``from`` is ``sources``; a layer's
        # own previous frame is ``rec_previous_layer``)
        ins = self._kwarg_layers(node)
        if len(ins) < 2:
            return None
        rec = self.s.rec_of(node)
        beams = self.template_beams or {}
        for _, src, form in sorted(ins, key=lambda item: item[0]):
            if form != "prev" or src in built or self.s.rec_of(src) != rec or beams.get(src) is None \
                    or self._has_search_choices(src, built):
                continue
            bad = self._template_source_choice(src, built)
            if bad is not None:
                return (src, "src", *bad)
        return None

    def _outer_choices_asked(self, nodes: list[str]) -> bool:
        """Whether these loop layers meet search choices of another net: a template asked for a layer
        outside the unit that is on them (``outer:`` among its recorded dependencies, :mod:`.choice_deps`), or
        a layer of the frame reads one that is not built in the loop (outside it, or moved in front of it)."""
        members = set(nodes)
        for node in nodes:
            asked = self.template_deps.get(node, ((), (), ()))[0]
            if any(d.startswith(OUTER) and self.chosen.get(d[len(OUTER):]) is not None for d in asked):
                return True
            if any(src not in members and self.chosen.get(src) is not None for src, _, _ in self.s.inputs(node)):
                return True
        return False

    def _record_selected(self, node: str, plan: list, own_prev_at: int, beams: list[SearchBeam | None],
                         owns: list[SearchBeam | None], common: SearchBeam | None) -> None:
        """Which inputs of ``node`` ``translate_to_common_search_beam`` re-selects (``select_if_needed``:
        two layers or more in the kwargs, one beamed; an input with search choices other than the common
        ones, not a ``decide_keep_beam``'s own) into the common search choices: in the frame those inputs
        are ``SelectSearchSourcesLayer``s, whose dependencies are the input and the common choices' owner
        (``used_search_choices_beams``), what the walks over the real layer's dependencies meet."""
        inputs = [(src, how == PREV_FRAME) for how, src, _, _ in plan]
        if len(inputs) != len(owns):  # the layer's own previous frame was inserted
            inputs.insert(own_prev_at, (node, True))
        if len(inputs) < 2 or all(b is None for b in beams) or common is None:
            self._selected.pop(node, None)
            return
        owner = (common.next_frame.name, True) if common.is_prev_frame and common.next_frame else (common.name, False)
        self._selected[node] = {key: owner for key, own in zip(inputs, owns)
                                if own is not None and own.name != common.name and not self._keeps_raw(own)}

    def _kwarg_layers(self, node: str) -> list[tuple[str, str, str]]:
        """The layers in a loop layer's kwargs as (kwarg, layer, form): its inputs (``from`` is ``sources``)
        and, for a layer with a state of its own, its previous frame (``rec_previous_layer``)."""
        ins = [("sources" if option == "from" else option, src, form) for src, option, form in self.s.inputs(node)]
        if self.s.has_rec_state(node):
            ins.append(("rec_previous_layer", node, "prev"))
        return ins

    def _built_lookup(self, node: str, built: set[str]) -> tuple[str, str, str] | None:
        """``_SubnetworkRecCell._construct``'s ``get_layer`` asks each layer right after building it for its
        search choices (the check for a "buggy search choices resolution"). A layer without choices of its
        own and without ``translate_to_common_search_beam``'s pick (``_src_common_search_choices``: set only
        where its kwargs hold two layers or more, one of them beamed), but with a beam, walks its
        dependencies for them (``get_search_choices(src=<layer>)``, :mod:`.choice_deps`): where that raises,
        how and the two layers it names, else None."""
        if self._has_search_choices(node, built) or self.beam.get(node) is None:
            return None
        ins = self._kwarg_layers(node)
        if len(ins) >= 2 and any(self.input_beam(src, form, node) is not None for _, src, form in ins):
            return None
        return self._template_source_choice(node, built)

    def _template_source_choice(self, template: str, built: set[str]) -> tuple[str, str, str] | None:
        """Where ``get_search_choices`` from the template of ``template`` (a choice's source choice, or a
        layer's own) raises (:func:`.choice_deps.incomparable_choices`): how, and the two layers it
        names."""
        walk = self._template_walk_args(template, built)
        return incomparable_choices(template, *walk) if walk is not None else None

    def _template_walk_args(self, template: str, built: set[str]) -> tuple[Any, ...] | None:
        """The arguments of a walk over the recorded template dependencies from ``template`` (:mod:`.choice_deps`)
        with the layers in ``built`` built for real; None where its unit's templates were not replayed."""
        rec = self.s.rec_of(template)
        if template not in self.template_deps or rec is None:
            return None

        def real_inputs(node: str) -> list[tuple[str, bool, tuple[str, bool] | None]]:
            ins = sorted(self.s.inputs(node), key=lambda item: item[1] != "from")
            selected = self._selected.get(node, {})
            return [(src, form == "prev", selected.get((src, form == "prev"))) for src, _, form in ins
                    if self.s.rec_of(src) == rec and self.nd[src]["node_kind"] == "layer"]

        # a sub-layer's template (``a/0``, ``_TemplateLayer.get_sub_layer``) records its dependencies in a
        # way not modelled: such a walk is left unjudged (the frame index ``:i`` depends on nothing)
        return (self.template_deps, built, real_inputs, lambda node: self._has_search_choices(node, built),
                lambda node: self.nd[node]["node_kind"] not in ("layer", "step"),
                lambda node: getattr(self.chosen.get(node), "name", None))

    def _has_search_choices(self, node: str, built: set[str]) -> bool:
        """Whether ``node`` (its real layer where built, else its template) has search choices: a
        ``decide_keep_beam`` only over a source with search choices (``DecideKeepBeamLayer.__init__``; its
        template over a beamed one: ``cls_get_search_beam_size``)."""
        if self.search and not self.s.is_search_choice(node) and self.s.adds_to_beam_scores(node):
            # a ``choice`` that adds its scores to the beam without searching: its template has search
            # choices (``cls_get_search_beam_size``), the real layer where its source is beamed and it is
            # no regression (``ChoiceLayer.__init__``)
            if node not in built:
                return True
            return self.beam.get(node) is not None and self.nd[node]["options"].get("input_type") != "regression"
        if not self.s.owns_search_choices(node):
            return False
        if self.nd[node]["class"] != "decide_keep_beam":
            return True
        src = next((s for s, option, _ in self.s.inputs(node) if option == "from"), None)
        if src is None:
            return False
        if node in built or self.s.rec_of(src) != self.s.rec_of(node):
            return self.chosen.get(src) is not None
        return (self.template_beams or {}).get(src) is not None

    def _translated(self, plan: list, own_prev_at: int, beams: list[SearchBeam | None],
                    owner: SearchBeam) -> list[SearchBeam | None]:
        """The inputs' beams after ``translate_to_common_search_beam``: a beamless input (with a batch
        axis) is re-selected (``SelectSearchSourcesLayer``) into ``owner``, the beam of the common search
        choices' owner as built (``SearchChoices.get_beam_info``; a ``search: False`` choice's is its
        source's), which can carry other dependencies than the beamed inputs' (a beamless encoder tiled
        next to a loop's output takes the loop choice's real beam); ``Data.get_common_data`` then
        combines them in order, the first of equal beams winning."""
        # only the layer's sources (``from``) make its output template (``get_out_data_from_opts``:
        # ``get_concat_sources_data_template``); an option layer re-selected too (a ``repeat``'s
        # ``repetitions``) adds no beam of its own
        srcs = [src if is_from else None for _, src, _, is_from in plan]
        if len(srcs) != len(beams):  # the layer's own previous frame was inserted
            srcs.insert(own_prev_at, None)
        out = list(beams)
        for i, (beam, src) in enumerate(zip(beams, srcs)):
            # a beamless input (with a batch axis) is tiled into the owner's beam; a beamed one on other
            # search choices is re-selected into it (``SelectSearchSourcesLayer``: the output's beam is
            # ``search_choices.get_beam_info()``, the owner's, with its dependencies); one on the common
            # choices keeps the beam object it brings
            if src is not None and (self.s.batched(src) if beam is None else beam.name != owner.name):
                out[i] = owner
        return out

    def _last_frame_template(self, node: str) -> SearchBeam | None:
        """A ``rec_last_output``'s beam: the template of its sub-layer (the template pass's, which the real
        rec layer's cell keeps)."""
        inner = self.s.accessed_sub_layer(node)
        table = self.beam if self.template or self.template_beams is None else self.template_beams
        return table.get(inner) if inner is not None else None

    def _accumulated_layer(self, node: str) -> str | None:
        """A ``get_rec_accumulated``'s sub-layer where the rec layer's output net has it: moved out after
        the loop, or accumulated from the loop (else None)."""
        inner = self.s.accessed_sub_layer(node)
        return inner if inner in self.nd and self.placement.get(inner) in ("loop", "output") else None

    def _beam_from_batch(self, node: str, option: str) -> SearchBeam | None:
        """The beam of a layer whose output takes it from the batch of an option's layer (its sources
        have none): RETURNN's ``BatchInfo`` keeps one ``SearchBeam`` object per beam name
        (``_make_beam_dim``), the choice's as built for real, which can differ from the option layer's
        own in its dependencies: a rec layer's output keeps its unit output's final template beam,
        its batch the loop choice's real beam (measured on RETURNN: fresh15-m103, fresh18-m003)."""
        got = [self.input_beam(src, form, node) for src, opt, form in self.s.inputs(node) if opt == option]
        if len(got) != 1 or got[0] is None or got[0].is_prev_frame:
            return None
        owner_data = self.nd.get(got[0].name)
        if owner_data is None or owner_data["class"] != "choice":
            return None
        return self.beam.get(got[0].name)

    def _batchless_lead(self, node: str) -> bool:
        """Whether a root layer whose template is its sources' common data (``combine``, ``compare``,
        ``eval``: ``Data.get_common_data``) takes its axes from a source without batch axis: the first
        source with the most axes has none (a ``range_from_length`` beside lengths); or a ``scatter_nd``
        whose ``position`` has no batch axis while its updates have one (``ScatterNdLayer._get_axes``: the
        template is the position's, the updates' batch axis added by ``copy_add_dim_by_tag``)."""
        if self.nd[node]["class"] == "scatter_nd":
            position = [src for src, opt, _ in self.s.inputs(node) if opt == "position"]
            return len(position) == 1 and not self.s.batched(position[0]) and any(
                self.s.batched(src) for src, opt, _ in self.s.inputs(node) if opt == "from")
        if self.nd[node]["class"] not in _COMMON_DATA:
            return False
        rec = self.s.rec_of(node)
        if rec is not None:
            # in a loop: the templates' axes as the replay made them (a layer of another net, unknown)
            ranks = [self._frame_rank(src, rec) for src, opt, _ in self.s.inputs(node) if opt == "from"]
        else:
            ranks = [self._root_rank(src) for src, opt, _ in self.s.inputs(node) if opt == "from"]
        known = [r for r in ranks if r is not None]
        if len(ranks) < 2 or len(known) < len(ranks):
            return False
        top = max(ndim for ndim, _ in known)
        return not next(batched for ndim, batched in known if ndim == top)

    def _frame_rank(self, src: str, rec: str) -> tuple[int, bool] | None:
        """``(batch_ndim, has a batch axis)`` of a loop layer's template in ``rec``'s frame where known."""
        if self.s.rec_of(src) != rec or self.placement.get(src) != "loop":
            return None
        layout = self.frame_layouts.get(src)
        return (layout.ndim, layout.batch is not None) if layout is not None else None

    def _root_rank(self, src: str) -> tuple[int, bool] | None:
        """``(batch_ndim, has a batch axis)`` of a root layer's output where known."""
        data = self.nd.get(src)
        if data is None:
            return None
        cls, opts = data["class"], data["options"]
        if cls in _BATCHLESS_RANGE:
            return 1, False  # the new dim only
        if cls == "length":
            return (0, False) if drops_batch_axis(cls, opts) else (1, self.s.batched(src))
        if self._layouts is None:
            self._layouts = RootLayouts(self.s)
        got = self._layouts.of(src)
        return (got.ndim, got.batch is not None) if got is not None else None

    def _keeps_raw(self, chosen: SearchBeam | None) -> bool:
        """Whether search choices are a real ``decide_keep_beam``'s own (``SearchChoices.keep_raw``)."""
        return chosen is not None and not chosen.is_prev_frame \
            and self.nd.get(chosen.name, {}).get("class") == "decide_keep_beam"

    def _common(self, beams: list[SearchBeam | None]) -> SearchBeam | None:
        """The beam of the inputs' common search choices as ``translate_to_common_search_beam``
        picks them: ``max`` by ``SearchChoices.compare``, which is 0 against a ``decide_keep_beam``'s
        own choices (``keep_raw``), so ``max`` keeps the earlier one there."""
        result: SearchBeam | None = None
        for beam in beams:
            if beam is None or result is None:
                result = result or beam
            elif not any(self._keeps_raw(b) for b in (result, beam)):
                result = combine_choices([result, beam])
        return result

    def _loop_beam_length(self, node: str, beam: SearchBeam) -> bool:
        """Whether a ``length`` layer outside loops measures the time axis of a value on the beam of a
        searching ``choice`` of a loop without ``end`` layer (its length known in advance)."""
        axis = _length_axis(self.nd[node]["options"])
        if self.s.rec_of(node) is not None or beam.is_prev_frame or not (
                axis in TIME_NAMES or _dynamic_dim(axis)):  # the time axis, or a dim declared for it
            return False
        made = self.nd.get(beam.name)
        rec = self.s.rec_of(beam.name) if made is not None else None
        if made is None or made["class"] != "choice" or rec is None:
            return False
        return not any(self.nd[m]["local"] == "end" for m in self.s.children.get(rec, ()))

    def _end_length(self, node: str, beam: SearchBeam) -> bool:
        """Whether a root ``length`` layer measures the time axis of a rec layer whose loop has an ``end``
        layer and whose beam is one of its own searching choices."""
        axis = _length_axis(self.nd[node]["options"])
        srcs = [src for src, opt, form in self.s.inputs(node) if opt == "from" and form == "from"]
        if self.s.rec_of(node) is not None or beam.is_prev_frame or len(srcs) != 1 or not (
                axis in TIME_NAMES or _dynamic_dim(axis)):
            return False
        rec = srcs[0]
        made = self.nd.get(beam.name)
        if self.nd[rec]["class"] != "rec" or made is None or made["class"] != "choice" or self.s.rec_of(beam.name) != rec:
            return False
        return any(self.nd[m]["local"] == "end" for m in self.s.children.get(rec, ()))

    def _history_length(self, node: str) -> bool:
        """A ``length`` in a loop along the ``out_spatial_dim`` of the ``cum_concat`` it reads
        (``CumConcatLayer.get_out_data_from_opts`` gives the dim its size while the unit's templates are
        built)."""
        if self.s.rec_of(node) is None:
            return False
        axis = _length_axis(self.nd[node]["options"])
        srcs = [src for src, opt, form in self.s.inputs(node) if opt == "from" and form == "from"]
        return len(srcs) == 1 and self.nd[srcs[0]]["class"] == "cum_concat" and _dynamic_dim(axis) \
            and self.nd[srcs[0]]["options"].get("out_spatial_dim") == axis

    def _extern_dim_length(self, node: str, beam: SearchBeam) -> bool:
        """A ``length`` outside loops along a dim declared in ``extern_data`` (a target's time dim) of a
        value on a loop choice's beam: ``LengthLayer.fixup_dim`` looks the dim up for the value's batch."""
        axis = _length_axis(self.nd[node]["options"])
        if self.s.rec_of(node) is not None or beam.is_prev_frame or not _dynamic_dim(axis):
            return False
        made = self.nd.get(beam.name)
        if made is None or made["class"] != "choice" or self.s.rec_of(beam.name) is None:
            return False
        extern = getattr(self.s.spec, "extern_data", None) or {}
        return any(isinstance(v, dict) and axis in (v.get("dims") or ()) for v in extern.values())

    def _rec_outer_deps(self, rec: str) -> list[SearchBeam | None]:
        """The beams of a rec layer's dependencies besides its sources (``RecLayer.get_out_data_from_opts``'s
        ``deps``): its ``initial_state`` layers and the layers of its own net that its unit's layers
        ask for (``base:`` in any option, ``_SubnetworkRecCell.get_parent_deps``)."""
        cached = self._outer_deps.get(rec)
        if cached is None:
            net = self.nd[rec]["unit"]
            found: list[tuple[str, str]] = [(src, form) for src, opt, form in self.s.inputs(rec)
                                            if opt.partition(".")[0] == "initial_state"]
            for member in sorted(self.s.members(rec)):
                # every layer a unit layer's template asked for through ``base:`` (its options' layers too:
                # an ``initial_output``, ``reuse_params``), ``_TemplateLayer.dependencies``
                refs = [(src, form) for src, _, form, _ in self.nd[member].get("inputs", [])] \
                    if self.nd[member]["node_kind"] == "layer" else []
                for src, form in refs:
                    if form == "base" and src in self.s.built and self.nd[src].get("unit") == net \
                            and (src, "from") not in found:
                        found.append((src, "from"))
            cached = self._outer_deps[rec] = found
        return [self.input_beam(src, form, rec) for src, form in cached]

    @staticmethod
    def _with_sources(own: SearchBeam | None, sources: list[SearchBeam | None]) -> SearchBeam | None:
        """``RecLayer.get_out_data_from_opts``: the unit output template's beam combined with its
        sources' (``SearchBeam.get_combined_beam``: a loop over another search's beamed output whose
        unit searches on its own cannot combine them)."""
        return combine_beams([own, *sources]) if any(b is not None for b in sources) else own

    def backtracked(self, src: str, rec: str) -> tuple[SearchBeam | None, SearchBeam | None]:
        """``src`` (a layer of ``rec``'s unit) as accumulated after the loop (``get_loop_acc_layer``):
        its beam and search choices backtracked along its latest choice."""
        return (self._receive(BACKTRACKED, src, rec, self.beam, self.latest),
                self._receive(BACKTRACKED, src, rec, self.chosen, self.latest_chosen))

    def _own_latest(self, src: str, rec: str) -> str | None:
        """The latest choice ``_opt_search_resolve`` backtracks ``src`` along: walking its search
        choices back (``_get_search_choice_seq``) to the previous frame's ``prev:L``, ``L``; None when
        the chain has no previous frame of a choice of ``rec``'s unit."""
        chosen = self.chosen.get(src)
        if chosen is None or self.template:
            return None
        if chosen.is_prev_frame:
            # on a previous frame's choice prev:X: ``_opt_search_resolve`` takes X of this frame and walks
            # its chain back to the previous frame (``get_choice_seq``)
            current = self.chosen.get(owner(chosen))
            if current is not None and not current.is_prev_frame and self.nd.get(current.name, {}).get("unit") == rec:
                chosen = current
        for beam in chosen.walk():
            if beam.is_prev_frame:
                name = owner(beam)
                data = self.nd.get(name)
                return name if data is not None and data.get("unit") == rec else None
        return None

    def _resolved_choices(self, rec: str) -> SearchBeam | None:
        """The search choices of a rec layer's accumulated ``output``: those of the latest choice its
        own chain goes back to, else the loop's latest."""
        inner = self.s.unit_output(rec)
        own = self._own_latest(inner, rec) if inner is not None else None
        if own is not None and self.chosen.get(own) is not None:
            return self.chosen[own]
        return self.latest_chosen.get(rec)

    def _output_resolved(self, rec: str) -> bool:
        """Whether the rec layer's accumulated ``output`` carries the loop's latest search choices:
        ``_opt_search_resolve`` gives them only to an in-loop ``output`` whose own search choices
        belong to the loop's net; one without (e.g. a layer after a regression choice) or with
        choices from elsewhere (a choice in a subnetwork of the unit) is a layer without
        dependencies after the loop, so the rec layer's readers find only its other deps."""
        if rec not in self.latest_chosen:
            return False
        inner = self.s.unit_output(rec)
        if self.template or inner is None or self.placement.get(inner, "loop") != "loop":
            return True
        chosen = self.chosen.get(inner)
        if chosen is None or inner in self.unavailable:
            return False
        own = self.nd.get(owner(chosen))
        return own is None or own.get("unit") == rec

    def _unit_output_beamless(self, rec: str) -> bool:
        """Whether ``rec``'s unit has an ``output`` layer whose template has no beam (search mode)."""
        if not self.search or self.template_beams is None:
            return False
        inner = self.s.unit_output(rec)
        return inner is not None and self.nd[rec]["class"] == "rec" and self.template_beams.get(inner) is None

    def _as_compared(self, choices: list[SearchBeam | None]) -> list[SearchBeam | None]:
        """The real layer compares two previous frames' search choices by the current frame's choices
        (``SearchChoices.compare``: ``get_normalized_layer``), whose chain of source choices follows
        their dependencies (``src_layer``), not the template beam the ``prev:`` layer was copied from:
        each previous frame gets its choice's chain as the loop builds it."""
        if self.template:
            return choices
        out: list[SearchBeam | None] = []
        for chosen in choices:
            if chosen is not None and chosen.is_prev_frame and chosen.next_frame is not None:
                current = self.chosen.get(chosen.next_frame.name)
                if current is not None and current.name == chosen.next_frame.name \
                        and current.chain_key != chosen.next_frame.chain_key:
                    chosen = SearchBeam(chosen.name, chosen.size, chosen.dependency, current)
            out.append(chosen)
        return out

    def _combine_choices(self, choices: list[SearchBeam | None]) -> SearchBeam | None:
        """The inputs' search choices combined (``TFNetwork.get_search_choices``). Where they cannot
        be compared, the construction still succeeds when a ``decide_keep_beam``'s own choices
        (``keep_raw``) are involved: ``translate_to_common_search_beam`` takes the ``max`` by
        ``SearchChoices.compare``, which is 0 for those, so ``max`` keeps the earlier one (only a
        later ``get_search_choices`` of the layer raises)."""
        try:
            return combine_choices(choices)
        except CombineError:
            if self.template:
                # a template's search choices are not compared while it is built: they follow its
                # beam (``get_combined_beam``, which also orders two previous frames by whether one
                # is in the other's next frame's dependencies)
                return combine_beams(choices)
        return self._common(choices)

    def run(self) -> None:
        """Fixed point over the construction order: ``prev:`` edges and the loops' latest choices
        feed beams back, so recompute what changed until nothing does."""
        s = self.s
        position = {n: i for i, n in enumerate(s.order)}
        succ = s.users
        nd, order, beams, chosen_of, errors = self.nd, s.order, self.beam, self.chosen, self.error
        own_of = self.own_chosen
        # what to recompute when a layer changes: its users, and a choice's own prev frame (PR #1213)
        # (extern data a layer registered passes that layer's beam on: its readers are the layer's too)
        users = [[position[w] for v in succ[n] for w in ([v] if nd[v]["node_kind"] != "data" else succ[v])
                  if w in position] + ([at] if nd[n]["class"] == "choice" else [])
                 for at, n in enumerate(order)]
        pending = [position[n] for n in order if n not in self.settled]  # a heap of positions
        queued = set(pending)
        for _ in range(max(3, len(order))):
            later: set[int] = set()  # reached through prev: edges: recomputed in the next pass
            while pending:
                at = heapq.heappop(pending)
                queued.discard(at)
                node = order[at]
                own_before = own_of.get(node)
                try:
                    beam, chosen = self.compute(node)
                    if node in errors:
                        del errors[node]
                except CombineError as exc:
                    beam, chosen, errors[node] = None, None, self.combine_message(node, exc)
                    self.error_traces[node] = (tuple(exc.first.chain), tuple(exc.second.chain))
                changed = _differs(beams.get(node), beam) or _differs(chosen_of.get(node), chosen) \
                    or _differs(own_before, own_of.get(node))
                beams[node] = beam
                chosen_of[node] = chosen
                if not changed:
                    continue
                for target in users[at]:
                    if target > at:
                        if target not in queued:  # still ahead in this pass
                            heapq.heappush(pending, target)
                            queued.add(target)
                    else:
                        later.add(target)
            for rec in self.update_latest():  # what reads the loop from outside sees a new beam
                members = s.members(rec) | {rec}
                later |= {position[rec]} | {position[v] for m in members for v in succ[m]
                                            if v in position and self.outside(v, rec)}
            if not later:
                break
            pending = sorted(later)
            queued = set(pending)

    def update_latest(self) -> list[str]:
        """Each rec loop's latest choice (:func:`~searchgraph.analysis.choices.latest_choices`): its
        beam is what the loop's outputs carry after backtracking, its search choices what layers
        outside find. Returns the loops that changed."""
        changed: list[str] = []
        for rec, latest in latest_choices(self.s, self.chosen).items():
            beam, chosen = self.beam[latest], self.chosen[latest]
            if beam is None or chosen is None:
                continue
            if _differs(self.latest.get(rec), beam) or _differs(self.latest_chosen.get(rec), chosen):
                self.latest[rec], self.latest_chosen[rec] = beam, chosen
                changed.append(rec)
        # readers outside follow each loop output's own latest choice: any choice of the loop counts
        state: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {}
        for node, rec in self.s.loop_choosers():
            if rec is not None:
                b, c = self.beam.get(node), self.chosen.get(node)
                state.setdefault(rec, []).append(
                    (node, b.chain_key if b else (), c.chain_key if c else ()))
        for rec, items in state.items():
            if self._choice_state.get(rec) != items:
                self._choice_state[rec] = items
                if rec not in changed:
                    changed.append(rec)
        return changed

    def combine_message(self, node: str, exc: CombineError) -> str:
        """Inside a loop, templates combine beams ("Cannot combine beams"); elsewhere the real layer
        translates its inputs first and compares their search choices."""
        if self.s.rec_of(node) is not None or self.nd[node]["class"] == "rec":
            return f"Exception: {exc}"
        return (f"Exception: Cannot compare search choices\n <SearchChoices owner={exc.first.name}>,"
                f"\n <SearchChoices owner={exc.second.name}>\nwhich have traces: "
                f"{exc.first.chain} vs {exc.second.chain}")
