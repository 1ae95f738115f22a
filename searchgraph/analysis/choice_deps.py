"""How RETURNN finds the search choice a template choice comes from, over the templates' recorded
dependencies (``TFNetwork.get_search_choices(base_search_choice=...)``).

A choice's ``SearchChoices.src_layer`` is computed once, the first time ``SearchChoices.compare`` asks
for its chain (``get_src_choices_seq``). For a choice still a template in the frame being built, RETURNN
walks the template's dependencies (``_TemplateLayer.get_dep_layers``): those it asked for in the
current frame, where built for real already the real layer, then those it asked for as ``prev:``, as
previous-frame templates, whose dependencies are in turn the previous frames of all their template's.
``_get_all_search_choices`` walks them depth first and remembers each layer's choices; a layer met
again while it is still being walked (a cycle through ``prev:`` templates) counts with what it has so
far, and that partial answer stays remembered. The choices found are sorted by their traces (each one's
choices, transitively, from the same memo); two that are in neither one's trace do not compare and
RETURNN raises ("Search choices cannot be compared").

The walk depends on the order in which each template first asked for each input, over all its
constructions; :mod:`.template_order` records it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cmp_to_key

__all__ = ["OUTER", "TemplateDeps", "incomparable_choices", "latest_choice"]

#: The prefix of a template dependency outside the unit (``template_order`` records them so)
OUTER = "outer:"

#: node -> (all dependencies, those asked in the current frame, those asked as ``prev:``), each in the
#: order first asked (``_TemplateLayer.dependencies`` / ``cur_frame_dependencies`` /
#: ``prev_frame_dependencies``)
TemplateDeps = Mapping[str, tuple[Sequence[str], Sequence[str], Sequence[str]]]

_Layer = tuple[str, str]  # ("T", node): template of the frame; ("P", node): previous frame; ("R", node): real;
# ("O", node): a layer outside the unit; ("C", owner): the owner of another net's search choices; ("W", key): a
# ``SelectSearchSourcesLayer`` a real layer's input was re-selected into (its dependencies in ``wrapped``)


class _Unsure(Exception):
    """The walk met a layer whose dependencies are not modelled."""


class _Incomparable(Exception):
    """``kind``: ``compare`` (``compare_layer``: "Search choices cannot be compared"), ``mapping`` (a previous
    frame's choices without their ``prev:`` layers: "No cur -> prev mapping for some layers") or
    ``unique`` (two layers normalized to the same one)."""

    def __init__(self, kind: str, first: _Layer, second: _Layer):
        super().__init__()
        self.kind, self.first, self.second = kind, first, second


def incomparable_choices(base: str, deps: TemplateDeps, built: frozenset[str] | set[str],
                         real_inputs: Callable[[str], Sequence[tuple[str, bool, tuple[str, bool] | None]]],
                         has_choices: Callable[[str], bool],
                         unsure: Callable[[str], bool] = lambda node: False,
                         outer_choices: Callable[[str], str | None] = lambda node: None
                         ) -> tuple[str, str, str] | None:
    """Where ``get_search_choices(base_search_choice=<template of base>)`` raises: the kind (see
    :class:`_Incomparable`) and the two layers, as RETURNN names them (``output/t0``,
    ``output/prev:output``); None where it finds an order.
    ``built``: the unit's layers built for real so far in the frame; ``real_inputs``: a built layer's
    inputs as (node, read as ``prev:``, owner), sources first, where owner (node, a previous frame) is the
    owner of the common search choices an input was re-selected into (a ``SelectSearchSourcesLayer``
    that depends on the input and on that owner), else None; ``has_choices``: whether a layer of the unit has
    search choices of its own (a searching ``choice``); ``unsure``: layers whose recorded dependencies
    the model does not know as RETURNN has them (a walk through one answers None); ``outer_choices``:
    where a layer outside the unit that a template asked for (``outer:NAME`` among its dependencies,
    kept as it is in a previous frame's too) leads to search choices, their owner (those of another
    net, which no ``prev:`` layer of the frame stands for; the walk from any outer layer on them ends
    at that one owner, as RETURNN's walk ends at the one layer that has them), else None."""
    try:
        _sorted_choices(base, deps, built, real_inputs, has_choices, unsure, outer_choices)
    except _Incomparable as exc:
        return exc.kind, _name(exc.first), _name(exc.second)
    except (RecursionError, _Unsure):
        return None
    return None


def latest_choice(base: str, deps: TemplateDeps, built: frozenset[str] | set[str],
                  real_inputs: Callable[[str], Sequence[tuple[str, bool, tuple[str, bool] | None]]],
                  has_choices: Callable[[str], bool],
                  unsure: Callable[[str], bool] = lambda node: False,
                  outer_choices: Callable[[str], str | None] = lambda node: None) -> tuple[str, bool] | None:
    """What ``get_search_choices(src=<template of base>)`` finds (``_get_all_search_choices`` over the
    recorded dependencies, then the newest by ``compare_layer``): the owner's node and whether it is a
    previous frame; None where it finds nothing, raises, or walks a layer the model does not know (the
    arguments as :func:`incomparable_choices` takes them)."""
    try:
        found = _sorted_choices(base, deps, built, real_inputs, has_choices, unsure, outer_choices)
    except (_Incomparable, RecursionError, _Unsure):
        return None
    if not found:
        return None
    kind, node = found[-1]
    return node, kind == "P"


def _sorted_choices(base: str, deps: TemplateDeps, built: frozenset[str] | set[str],
                    real_inputs: Callable[[str], Sequence[tuple[str, bool, tuple[str, bool] | None]]],
                    has_choices: Callable[[str], bool], unsure: Callable[[str], bool],
                    outer_choices: Callable[[str], str | None]) -> list[_Layer]:
    """The layers with search choices the walk from the template of ``base`` finds, oldest first; raises
    :class:`_Incomparable` where RETURNN raises, :class:`_Unsure` where the model does not know a layer's
    dependencies."""
    memo: dict[_Layer, list[_Layer]] = {}
    to_layer: dict[_Layer, _Layer] = {}
    wrapped: dict[str, list[_Layer]] = {}

    def norm(layer: _Layer) -> _Layer:
        kind, node = layer
        if kind in ("O", "W", "C"):
            return layer  # outside the unit, or a wrapper: its own normalized layer
        return ("R", node) if node in built else ("T", node)

    def frame(name: str, prev: bool) -> _Layer:
        if name.startswith(OUTER):
            return ("O", name[len(OUTER):])
        return ("P", name) if prev else norm(("T", name))

    def dep_layers(layer: _Layer) -> list[_Layer]:
        kind, node = layer
        if kind in ("O", "C"):
            return []  # (its own net's search choices: not walked)
        if kind == "W":
            return wrapped[node]
        if unsure(node):
            raise _Unsure
        if kind == "T" and node in built:
            kind = "R"
        if kind == "R":
            out = []
            for n, prev, owner in real_inputs(node):
                layer = ("P", n) if prev else norm(("T", n))
                if owner is not None:
                    key = f"{node}>{n}>{int(prev)}"
                    wrapped[key] = [layer, ("P", owner[0]) if owner[1] else norm(("T", owner[0]))]
                    layer = ("W", key)
                out.append(layer)
            return out
        every, cur, prev = deps.get(node, ((), (), ()))
        if kind == "T":
            return [frame(n, False) for n in cur] + [frame(n, True) for n in prev]
        return [frame(n, True) for n in every]

    def walk(src: _Layer | None = None, base: _Layer | None = None) -> list[_Layer]:
        if src is not None:
            normalized = norm(src)
            if normalized != src and to_layer.setdefault(normalized, src) != src:
                raise _Incomparable("unique", src, to_layer[normalized])  # RETURNN asserts one prev: layer each
            if src[0] == "O":
                owner = outer_choices(src[1])
                if owner is not None:
                    return [("C", owner)]
            elif src[0] not in ("W", "C") and has_choices(src[1]):
                return [src]
            base = src
        assert base is not None
        if base in memo:
            return memo[base]
        memo[base] = []
        layers: list[_Layer] = []
        for dep in dep_layers(base):
            for layer in walk(src=dep):
                if layer not in memo[base]:
                    memo[base].append(layer)
                if layer not in layers:
                    layers.append(layer)
        if not layers:
            return []
        normalized = norm(base)
        if normalized != base:
            cur = walk(base=normalized)
            if cur == layers:
                return layers
            if any(norm(layer) == layer for layer in cur):
                cur = [layer for layer in cur if norm(layer) == layer]
                if not all(layer in to_layer for layer in cur):
                    raise _Incomparable("mapping", base, normalized)  # "No cur -> prev mapping for some layers"
                layers = [to_layer[layer] for layer in cur]
                memo[base] = layers
        return layers

    def trace(layer: _Layer, seen: list[_Layer]) -> list[_Layer]:
        if layer in seen:
            return seen
        seen.append(layer)
        if layer not in memo:
            walk(base=layer)
        for dep in memo[layer]:
            trace(dep, seen)
        return seen

    def compare(l1: _Layer, l2: _Layer) -> int:
        n1, n2 = norm(l1), norm(l2)
        if l1 != n1 and l2 != n2:
            l1, l2 = n1, n2
        if l1 == l2:
            return 0
        t1, t2 = trace(l1, []), trace(l2, [])
        if l1 in t2 and l2 not in t1:
            return -1
        if l2 in t1 and l1 not in t2:
            return 1
        raise _Incomparable("compare", l1, l2)

    start: _Layer = norm(("T", base))
    found = [layer for layer in walk(base=start) if layer != start]
    return sorted(found, key=cmp_to_key(compare))


def _name(layer: _Layer) -> str:
    kind, node = layer
    if kind != "P":  # (an outer layer: its own name)
        return node
    head, _, tail = node.rpartition("/")
    return f"{head}/prev:{tail}" if head else f"prev:{tail}"
