"""Where each layer of a rec unit runs: in the loop, or moved out in front of it or after it.

RETURNN's ``_SubnetworkRecCell._move_outside_loop``: the layers the loop's outputs need (``output``,
``end`` unless the length is known, output layers, ``need_last``, losses with ``eval_flag``) and what
they depend on, current or previous frame, form the loop; then, one at a time, a layer nothing in the
loop reads is moved out after the loop (``output``), and a layer that reads nothing of the loop is
moved out in front of it (``input``); ``end``, ``:i`` and the templates with search choices stay.
A template has search choices (``_TemplateLayer._has_search_choices``) when its class is a
``BaseChoiceLayer`` and ``cls_get_search_beam_size`` gives a size: a ``choice`` in search mode unless it
neither searches nor adds its scores to the beam (``add_to_beam_scores`` follows the search flag unless
set), ``split_batch_beam`` always, ``decide`` and ``decide_keep_beam`` when their first source's
template has a beam. Layers nothing needs are templates only (``unused``). A layer moved in front over
the loop's own input frames is unstacked into a per-frame layer in the loop (``get_input_moved_out``'s
wrapper): :attr:`Placement.wrapped_input`.
``optimize_move_layers_out: False`` keeps every layer in the loop. Placements depend on beams only
through the template pass (``first_source_beam``), which runs before any layer is moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..graph.layers import get_layer_class
from .beams import SearchBeam
from .structure import Structure

#: ``BaseChoiceLayer`` subclasses (by beam role) whose ``cls_get_search_beam_size`` needs a beamed
#: first source (``DecideLayer``, ``DecideKeepBeamLayer``); ``SplitBatchBeamLayer`` always gives 1.
_CHOICE_IF_SOURCE_BEAM = ("decide", "decide_keep_beam")

__all__ = ["Placement", "place"]


@dataclass
class Placement:
    """``where``: node -> ``net`` (outside every loop), ``loop``, ``input``, ``output`` or ``unused``;
    ``wrapped_input``: input-moved layers the loop reads per frame (RETURNN lists them in the loop)."""

    where: dict[str, str] = field(default_factory=dict)
    wrapped_input: set[str] = field(default_factory=set)


FirstSourceBeam = Callable[[str], "SearchBeam | None"]


def place(s: Structure, first_source_beam: FirstSourceBeam | None = None,
          prev_needed: Mapping[str, set[str]] | None = None) -> Placement:
    """The placement of every constructed layer. ``first_source_beam``: a layer -> the template
    beam of its first ``from`` source (search mode; without it ``decide`` / ``decide_keep_beam``
    count as searching whenever the network searches). ``prev_needed``: rec -> the unit layers its
    templates asked for as ``prev:``, where the template construction was replayed."""
    out = Placement()
    where = out.where
    nd = s.nodes
    for node in s.order:
        data = nd[node]
        if data["unit"] is None or data["unit_kind"] != "rec":
            where.setdefault(node, "net")
    for rec in [n for n in s.order if nd[n]["class"] == "rec"]:
        members = _flat_members(s, rec)
        if members:
            _move_out(s, out, rec, members, first_source_beam, (prev_needed or {}).get(rec))
        for sub in s.children.get(rec, ()):
            # sub-layers of choices (`out_0`) are templates of their own that nothing in the
            # loop depends on (users depend on the choice): RETURNN builds them after the loop
            if nd[sub]["node_kind"] == "sub" and nd[s.parent(sub)]["class"] == "choice":
                where[sub] = "output"
    for node in s.order:  # subnetwork layers and sub-layers share their holder's place
        rec = s.rec_of(node)
        if nd[node]["node_kind"] == "sub" and node not in where:
            where[node] = where.get(s.parent(node), "net")
        elif rec is not None and nd[node]["unit"] != rec and node not in where:
            where[node] = where.get(s.top_in_rec(node, rec), "loop")
            if where[node] in ("input", "output") and has_search_choices(s, node, first_source_beam):
                # a subnetwork's inner layers are templates of the cell of their own
                # (``dec/output``): one with search choices stays in the loop
                where[node] = "loop"
    return out


def has_search_choices(s: Structure, node: str, first_source_beam: FirstSourceBeam | None) -> bool:
    """RETURNN's ``_TemplateLayer._has_search_choices``: a ``BaseChoiceLayer`` whose
    ``cls_get_search_beam_size`` is not None."""
    role = get_layer_class(s.nodes[node]["class"]).beam_role
    if s.is_search_choice(node):
        return True
    if not s.search:
        return False
    if s.nodes[node]["class"] == "choice":
        # ``BaseChoiceLayer.cls_get_search_beam_size``: None without search and without scores added
        # to the beam
        return s.adds_to_beam_scores(node)
    if role in ("choice", "split_batch_beam"):
        return True
    if role in _CHOICE_IF_SOURCE_BEAM:
        return first_source_beam is None or first_source_beam(node) is not None
    return False


def _flat_members(s: Structure, rec: str) -> list[str]:
    """The layers of ``rec``'s unit as the cell sees them: a ``subnetwork`` of the unit is flattened
    into it (its inner layers are templates of the cell, ``sub/a``), each placed on its own."""
    nd = s.nodes
    out: list[str] = []
    todo = [n for n in s.children.get(rec, ()) if nd[n]["node_kind"] != "sub"]
    while todo:
        node = todo.pop(0)
        out.append(node)
        if nd[node]["class"] == "subnetwork":
            todo.extend(n for n in s.children.get(node, ()) if nd[n]["node_kind"] != "sub")
    return out


def _move_out(s: Structure, out: Placement, rec: str, members: list[str],
              first_source_beam: FirstSourceBeam | None = None, prev_needed: set[str] | None = None) -> None:
    nd, where = s.nodes, out.where
    opts = nd[rec]["options"]
    move = opts.get("optimize_move_layers_out", s.spec.settings.get("optimize_move_layers_out"))
    if move is False:
        for node in members:
            where[node] = "loop"
        return
    flat = set(members)
    deps = {n: _member_deps(s, rec, n, flat) for n in members}
    # inner layers of a flattened subnetwork go by their path (their local names are the inner net's)
    local = {n: nd[n]["local"] if nd[n]["unit"] == rec else n for n in members}
    needed = [n for n in members if local[n] == "output"
              or (local[n] == "end" and not s.known_length(rec))
              or nd[n]["options"].get("is_output_layer")
              or nd[n]["options"].get("need_last")
              or (s.eval_flag and nd[n]["options"].get("loss"))]
    # the layers the needed outputs depend on, current or previous frame; ``visit`` skips a layer
    # named ``data`` (taking it for the loop's input) and what only it reaches: RETURNN builds those
    # in the loop, as dependencies, but never moves them out
    named_data = {n for n in members if local[n] == "data"}
    loop = _closure(needed, deps, skip=named_data)
    hidden = [n for n in _closure(needed, deps) if n not in loop] if named_data else []
    for node in members:
        if node not in loop:
            where[node] = "unused"

    def is_choice(n: str) -> bool:
        return has_search_choices(s, n, first_source_beam)

    in_loop = set(loop)
    users: dict[str, set[str]] = {n: set() for n in loop}
    for other in loop:
        for dep in deps[other]:
            if dep != other and dep in users:
                users[dep].add(other)

    by_local = {local[n]: n for n in members}
    colloc = {n: {by_local[x] for x in _collocate_with(s, n) if x in by_local} for n in members}

    # ``_construct`` also builds, in the loop, every layer a template asked for as ``prev:``
    # (``prev_layers_needed``) that no needed output reaches, with what it reads
    asked = sorted(prev_needed) if prev_needed is not None else \
        _prev_needed(s, rec, members, deps, local, first_source_beam)
    # a masked_computation whose unit is a searching choice asked for its own previous frame (no
    # other layer asks for it without reading it): the template depends on itself
    self_dependent = {n for n in asked if s.masked_choice_size(n) is not None}

    def out_ok(n: str, collocated: frozenset[str] = frozenset()) -> bool:
        if local[n] == "end" or is_choice(n) or n in deps[n] or n in self_dependent:
            return False
        if users[n] - collocated - {n}:
            return False
        # ``collocate_with`` ties layers together: all of them move out, or none
        collocated = collocated | {n}
        return all(out_ok(o, collocated) for o in loop
                   if o not in collocated and (o in colloc[n] or n in colloc[o]))

    def in_ok(n: str) -> bool:
        if local[n] in (":i", "end") or is_choice(n) or n in self_dependent:
            return False
        return not deps[n] & in_loop and not colloc[n] & in_loop

    def take(n: str, to: str) -> None:
        loop.remove(n)
        in_loop.discard(n)
        for d in deps[n]:
            users.get(d, set()).discard(n)
        where[n] = to

    while True:
        moved = next((n for n in loop if out_ok(n)), None)
        if moved:
            take(moved, "output")
            continue
        moved = next((n for n in loop if in_ok(n)), None)
        if moved is None:
            break
        take(moved, "input")
    for node in loop + hidden:
        where[node] = "loop"
    extra = [n for n in asked if where.get(n) == "unused"]
    while extra:
        node = extra.pop(0)
        if where.get(node) == "unused":
            where[node] = "loop"
            extra.extend(sorted(d for d in deps[node] if where.get(d) == "unused"))
    # An input-moved layer over the loop's own input frames that the loop reads is unstacked
    # into a per-frame layer of the same name inside the loop (RETURNN's "input-moved-out"
    # wrapper); that one is what RETURNN lists, in the loop, with no beam and no choice.
    # (read at the current frame: a ``prev:`` read takes the shifted sequence, ``prev:NAME``, and makes
    # no layer of that name in the loop)
    over_input = {n for n in members if where.get(n) == "input" and _reads_loop_input(s, n, rec, set())}
    for node in over_input:
        if any(node in deps[o] and _reads_current(s, node, o) for o in loop):
            out.wrapped_input.add(node)


def _closure(start: list[str], deps: dict[str, set[str]], skip: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``start`` and what it depends on (``deps``, current or previous frame), breadth first, not
    entering ``skip``."""
    out: list[str] = []
    todo = [n for n in start if n not in skip]
    while todo:
        node = todo.pop(0)
        if node not in out and node not in skip:
            out.append(node)
            todo.extend(sorted(deps[node] - set(out)))
    return out


def _reads_current(s: Structure, node: str, reader: str) -> bool:
    """Whether ``reader`` reads ``node``'s current frame (not only ``prev:node``); unsure counts as yes."""
    edge = s.users.get(node, {}).get(reader)
    if edge is None:
        return True
    kinds = edge.get("kinds") or {edge.get("kind")}
    return any(kind != "prev" for kind in kinds)


def _prev_needed(s: Structure, rec: str, members: list[str], deps: dict[str, set[str]], local: dict[str, str],
                 first_source_beam: FirstSourceBeam | None) -> list[str]:
    """RETURNN's ``prev_layers_needed``: the layers whose previous frame a template asked for while
    the unit's templates were built (from ``output``, ``end`` and the output layers, through current
    and previous frames), a searching choice without a beamed source asking for its own (PR #1213)."""
    nd = s.nodes
    flat = set(members)
    start = [n for n in members if local[n] in ("output", "end") or nd[n]["options"].get("is_output_layer")
             or nd[n]["options"].get("need_last")]
    out: list[str] = []
    for node in _closure(start, deps):
        dropped = s.dropped_options(node)
        for src, option, form, _ in nd[node].get("inputs", []):
            if option.partition(".")[0] in dropped:
                continue
            while form == "prev" and src not in flat and nd.get(src, {}).get("unit") not in (None, rec):
                src = nd[src]["unit"]
            if form == "prev" and src in flat and src not in out:
                out.append(src)
        if (s.is_search_choice(node) or s.masked_choice_size(node) is not None) \
                and first_source_beam is not None and first_source_beam(node) is None and node not in out:
            out.append(node)
    return out


#: classes whose ``transform_config_dict`` collocates them with their sources by default
_COLLOCATE_WITH_SOURCES = ("decide_keep_beam", "choice_get_beam_scores", "choice_get_src_beams")


def _collocate_with(s: Structure, node: str) -> list[str]:
    """The local names a unit layer is collocated with (``collocate_with``, a class's default: the
    beam readers with their sources, ``random`` in a loop with ``end``); no dependency, but
    ``_move_outside_loop`` moves collocated layers only together."""
    data = s.nodes[node]
    opts = data["options"]
    value = opts.get("collocate_with")
    if value is None and data["class"] in _COLLOCATE_WITH_SOURCES:
        value = opts.get("from", [])
    names = [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    if data["class"] == "random":
        names.append("end")
    return names


def _member_deps(s: Structure, rec: str, node: str, flat: set[str] | None = None) -> set[str]:
    """The members of ``rec``'s unit that ``node`` depends on (current or previous frame); with
    ``flat`` (the flattened members: subnetworks' inner layers included) a subnetwork depends on its
    inner ``output`` only, and inner layers count as members of their own."""
    nd = s.nodes
    if nd[node]["node_kind"] == "sub":  # `a/0` needs `a`
        return set(s.graph.predecessors(node)) & set(s.children.get(rec, ()))
    if flat is not None and nd[node]["class"] == "subnetwork" and f"{node}/output" in flat:
        return {f"{node}/output"}

    def member(src: str) -> str:
        if flat is None:
            return s.top_in_rec(src, rec) if nd[src]["unit"] != rec else src
        while src not in flat:
            src = nd[src]["unit"]
        return src

    deps: set[str] = set()
    dropped = s.dropped_options(node)
    for src, option, _, _ in nd[node].get("inputs", []):
        if option.partition(".")[0] in dropped:
            continue
        if nd[src]["node_kind"] == "sub":
            # in the templates a sub-layer's users depend on its parent layer
            src = s.parent(src)
        if src in s.built and src != rec and nd[src].get("unit") is not None and rec in s.recs_of(src):
            deps.add(member(src))
    if flat is not None and nd[node]["class"] == "subnetwork":
        return deps
    for inner in s.children.get(node, ()):
        deps |= {d for d in _member_deps(s, rec, inner) if d != node}
    return deps


def _reads_loop_input(s: Structure, node: str, rec: str, seen: set[str]) -> bool:
    """Whether ``node`` depends, inside the unit, on the rec layer's own input (``data:source``)."""
    if node in seen:
        return False
    seen.add(node)
    nd = s.nodes
    if nd[node]["class"] == "rec_unstack":  # frames of the loop's own time axis
        return True
    if nd[node]["class"] == "choice" and "from" not in {opt for _, opt, _ in s.inputs(node)}:
        # a choice that only gives its target (no search, no scores added to the beam: its ``from``
        # emptied): moved in front of the loop, the target's whole sequence, over the loop's time axis
        return True
    if nd[node]["class"] == "random":
        # moved in front of the loop, it gets the loop's time axis in front of its shape
        # (``RandomLayer.transform_config_dict``: a new value each frame)
        return True
    holder = nd[node]["unit"]
    if nd[node]["class"] == "generic_attention" and _attends_over_loop_input(s, node, rec):
        return False  # it sums over its ``base``'s time axis, here the loop's own: no frames left
    inner = holder != rec and nd[holder]["class"] == "subnetwork"
    nested = holder != rec and nd[holder]["class"] == "rec"
    dropped = s.dropped_options(node)
    for src, option, form, _ in nd[node].get("inputs", []):
        if option.partition(".")[0] in dropped:
            continue
        if form == "data" and nested and s.users[src][node]["ref"] in ("data", "data:source"):
            continue  # a nested loop's own input frames: the nested rec layer's sources say what they are
        if form == "data" and inner and s.users[src][node]["ref"] in ("data", "data:source"):
            # a subnetwork's own input: the loop's input frames only if the subnetwork reads them
            if src in s.loop_sources(rec) or _holder_reads_loop_input(s, holder, src):
                return True
            continue
        if form == "data" and (s.users[src][node]["ref"] in ("data", "data:source")
                               or src in s.loop_sources(rec)):
            return True
        if form == "base" and src in s.loop_sources(rec) and nd[node]["unit_kind"] == "subnet" \
                and s.users[src][node]["ref"].count("base:") == _subnet_depth(s, node, rec):
            # a subnetwork of the unit reads the unit's data (``base:data:KEY``; from a subnetwork
            # nested in one, ``base:base:data:KEY``)
            return True
        # (a ``prev:`` frame too: the input net shifts an input-moved layer along the loop's time axis)
        if nd[src]["node_kind"] == "sub":
            src = s.parent(src)  # a sub-layer (``split/0``) reads what its layer reads
        if src in s.built and s.rec_of(src) == rec and _reads_loop_input(s, src, rec, seen):
            return True
    # a subnetwork reads what its inner layers read (its own ``from`` only reaches them as ``data``)
    return any(_reads_loop_input(s, inner, rec, seen) for inner in s.children.get(node, ()))


def _subnet_depth(s: Structure, node: str, rec: str) -> int:
    """How many ``subnetwork`` levels lie between ``node`` and ``rec``'s unit (0: none, or not only
    subnetworks)."""
    nd, depth, holder = s.nodes, 0, s.nodes[node]["unit"]
    while holder is not None and holder != rec:
        if nd[holder]["class"] != "subnetwork":
            return 0
        depth, holder = depth + 1, nd[holder]["unit"]
    return depth if holder == rec else 0


def _attends_over_loop_input(s: Structure, node: str, rec: str) -> bool:
    """Whether an attention's ``base`` is (``base:``) a layer the loop iterates over (its ``from``)."""
    loop_from = {src for src, option, _, _ in s.nodes[rec].get("inputs", []) if option == "from"}
    return any(option == "base" and src in loop_from for src, option, _, _ in s.nodes[node].get("inputs", []))


def _holder_reads_loop_input(s: Structure, holder: str, src: str) -> bool:
    """Whether a subnetwork of the unit reads ``src`` as the loop's own input (``data``)."""
    return any(other == src and form == "data" and s.users[src][holder]["ref"] in ("data", "data:source")
               for other, _, form, _ in s.nodes[holder].get("inputs", []))
