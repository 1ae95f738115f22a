"""The network / beam-flow diagram of an :class:`~searchgraph.analysis.Analysis` as DOT source.

One node per constructed layer (plus the extern data it reads), nested clusters for rec units and
subnetworks with a rec unit's layers split by where RETURNN puts them (kept in the loop, moved out
before it, moved out after it), fill colour by beam, own shapes for choice and decide layers, edge
style by reference kind and, given the plans, each translated input's plan on its edge. Pure: no
``dot`` is run here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.model import Analysis
from ..graph.layers import get_layer_class
from .dot import attrs, html_escape, lines, meta_comment, quote
from .output import RenderError

__all__ = ["FILLS", "RANKDIRS", "beam_fills", "beam_path", "network_dot"]

#: Fill colours of the beams, in the order of their sorted current-frame names (the docs site's
#: beam table uses the same ones).
FILLS = ("#bde4f4", "#f4c6e8", "#c8f0c0", "#f8eab0", "#c9d2fa", "#fbd3b0", "#f6b7c5", "#b9efdf",
         "#efe0a8", "#ddd0f6")
RANKDIRS = ("TB", "LR", "BT", "RL")
#: From this many nodes on, edge labels do not take part in the layout (xlabel): much faster in dot.
BIG = 150

ERROR = "#d62728"
MARK = "#ff7f0e"
TRANSLATED = "#1f5fbf"
GREY_FILL, GREY_LINE, GREY_TEXT = "#f4f4f4", "#d0d0d0", "#a8a8a8"

_SHAPES = {"choice": "hexagon", "decide": "octagon", "decide_keep_beam": "octagon",
           "split_batch_beam": "octagon", "rec": "component", "subnetwork": "component",
           "masked_computation": "component", "cond": "component", "step": "circle"}
_PLACEMENTS = (("input", "moved out: before the loop", "dashed", "#f6f6f6"),
               ("loop", "in the loop (per frame)", "solid", "#eef4fb"),
               ("output", "moved out: after the loop", "dashed", "#f6f6f6"))
_HIDDEN_OPTIONS = frozenset({"class", "from", "unit"})


def _strip_prev(name: str) -> str:
    return name.replace("prev:", "", 1)


def beam_fills(analysis: Analysis) -> dict[str, str]:
    """Beam name -> fill colour; a ``prev:`` beam shares its current-frame beam's colour."""
    names = [b.name for b in analysis.beams()]
    current = sorted({_strip_prev(n) for n in names})
    fills = {name: FILLS[i % len(FILLS)] for i, name in enumerate(current)}
    return {n: fills[_strip_prev(n)] for n in names}


def _layer_of(analysis: Analysis, node: str) -> str | None:
    """The constructed layer a graph node stands for (a sub-layer ``a/0`` stands for ``a``)."""
    if node in analysis.layers:
        return node
    g = analysis.layer_graph
    if node in g and g.nodes[node].get("node_kind") == "sub":
        parent = next(iter(g.predecessors(node)), None)
        return parent if parent in analysis.layers else None
    return None


def beam_path(analysis: Analysis, layer: str) -> list[str]:
    """The layer's provenance path: the layers its beam came through, from its choices to it.

    Walks back from ``layer`` through every input that arrives on the layer's beam or on an older
    beam of its chain (as that input's consumer sees it), and stops at choice layers. A layer
    without a beam is its own path. Construction order.
    """
    if layer not in analysis.layers:
        raise KeyError(layer)
    seen = {layer}
    todo = [layer]
    while todo:
        node = todo.pop()
        lb = analysis.layers[node]
        if lb.beam is None or (node != layer and get_layer_class(lb.cls).beam_role == "choice"):
            continue
        chain = set(lb.beam.chain)
        for item in lb.inputs:
            src = _layer_of(analysis, item.source)
            if item.beam is None or item.beam.name not in chain or src is None or src in seen:
                continue
            seen.add(src)
            todo.append(src)
    return [n for n in analysis.layers if n in seen]


@dataclass
class _Edge:
    src: str
    dst: str
    kind: str
    options: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    error: bool = False
    translated: bool = False


def _plan_labels(analysis: Analysis, plans: Any, layer: str) -> dict[str, tuple[list[str], bool, bool]]:
    """Graph source node -> (plan labels, translated, error) of the layer's inputs from it."""
    out: dict[str, tuple[list[str], bool, bool]] = {}
    if plans is None or layer not in plans.layers:
        return out
    plan = plans.layers[layer]
    for item, ip in zip(analysis.layers[layer].inputs, plan.inputs, strict=False):
        labels, translated, error = out.get(item.source, ([], False, False))
        if ip.error:
            text, error = "✗ no common beam", True
        elif ip.action == "tile":
            text, translated = f"tile ×{ip.size}", True
        elif ip.action == "select":
            text, translated = f"select via {', '.join(s.choice for s in ip.steps)}", True
        else:
            text = ""
        if text and text not in labels:
            labels.append(text)
        out[item.source] = (labels, translated, error)
    return out


class _NetworkDiagram:
    def __init__(self, analysis: Analysis, plans: Any, rankdir: str, collapse_depth: int | None,
                 focus: str | None, hide_beamless: bool, show_options: bool, mark: Sequence[str]):
        if rankdir not in RANKDIRS:
            raise RenderError(f"unknown rank direction {rankdir!r}", hint=f"use one of {', '.join(RANKDIRS)}")
        if collapse_depth is not None and collapse_depth < 0:
            raise RenderError(f"collapse depth must be 0 or more, got {collapse_depth}",
                              hint="0 collapses every unit, 1 shows the top-level units' layers")
        for name, what in [*((m, "marked layer") for m in mark), *(((focus, "focus layer"),) if focus else ())]:
            if name not in analysis.layers:
                import difflib

                close = difflib.get_close_matches(name, list(analysis.layers), n=3)
                raise RenderError(f"no {what} {name!r} is constructed in {analysis.mode} mode", where=name,
                                  hint=f"did you mean {', '.join(close)}?" if close else
                                  "use RETURNN's absolute name, e.g. output/s")
        self.a, self.plans, self.rankdir = analysis, plans, rankdir
        self.collapse, self.hide, self.show_options = collapse_depth, hide_beamless, show_options
        self.mark = set(mark)
        self.g = analysis.layer_graph
        self.fills = beam_fills(analysis)
        self.focus = focus
        self.path = set(beam_path(analysis, focus)) if focus else None
        self.search = analysis.mode == "search"
        self._select_nodes()
        # a layer drawn inside a collapsed unit: the unit stands for it
        self.marked = {r for r in (self.rep(m) for m in self.mark) if r is not None}
        if self.path is not None:
            self.path |= {r for r in (self.rep(p) for p in self.path) if r is not None}

    # -- which nodes ----------------------------------------------------------------------------
    def _depth(self, node: str) -> int:
        return int(self.g.nodes[node].get("depth", 0) or 0)

    def rep(self, node: str) -> str | None:
        """The drawn node standing for ``node`` (a collapsed unit for its members), or None."""
        layer = _layer_of(self.a, node)
        if layer is None:
            kind = self.g.nodes[node].get("node_kind") if node in self.g else None
            return node if kind in ("data", "missing") and node in self.extra else None
        if self.collapse is not None:
            while self._depth(layer) > self.collapse:
                layer = self.g.nodes[layer]["unit"]
        return layer if layer in self.shown else None

    def _select_nodes(self) -> None:
        a, g = self.a, self.g
        keep = [n for n in a.layers if self.collapse is None or self._depth(n) <= self.collapse]
        if self.hide:
            wanted = {n for n in keep if a.layers[n].beam is not None or a.layers[n].error
                      or n in self.mark or n == self.focus}
            for n in list(wanted):  # the units around a kept layer stay, as clusters
                unit = a.layers[n].unit
                while unit is not None and unit in a.layers:
                    wanted.add(unit)
                    unit = a.layers[unit].unit
            keep = [n for n in keep if n in wanted]
        self.shown = set(keep)
        self.order = keep
        self.collapsed = {n for n in keep if self.collapse is not None and self._depth(n) == self.collapse
                          and any(lb.unit == n for lb in a.layers.values())}
        self.members: dict[str | None, list[str]] = {}
        for n in keep:
            unit = a.layers[n].unit
            self.members.setdefault(unit if unit in self.shown else None, []).append(n)
        # extern data and unknown names read by drawn layers
        self.extra: list[str] = []
        if not self.hide:
            seen: set[str] = set()
            for n in keep:
                for src in self._sources(n):
                    kind = g.nodes[src].get("node_kind")
                    if kind in ("data", "missing") and src not in seen:
                        seen.add(src)
                        self.extra.append(src)
            for n in a.layers:  # members of collapsed units read data too
                if n not in self.shown:
                    for src in self._sources(n):
                        if g.nodes[src].get("node_kind") in ("data", "missing") and src not in seen:
                            seen.add(src)
                            self.extra.append(src)
        self.ids = {n: f"n{i}" for i, n in enumerate([*self.extra, *keep])}

    def _sources(self, node: str) -> list[str]:
        """The graph nodes ``node`` reads in this mode (search mode does not read plain targets)."""
        return [src for src, _, data in self.g.in_edges(node, data=True)
                if not (self.search and data.get("search") is False)]

    # -- nodes ----------------------------------------------------------------------------------
    def _label(self, name: str) -> str:
        lb = self.a.layers[name]
        local = self.g.nodes[name].get("local", name.rsplit("/", 1)[-1])
        second = lb.cls + (f" ×{lb.beam.size}" if lb.beam is not None else "")
        text = f"{local}\n{second}"
        if name in self.collapsed:
            count = sum(1 for n in self.a.layers if self._inside(n, name))
            text += f"\n({count} layers collapsed)"
        if self.show_options:
            for key, value in self.g.nodes[name].get("options", {}).items():
                if key in _HIDDEN_OPTIONS:
                    continue
                shown = repr(value)
                text += f"\n{key}={shown if len(shown) <= 32 else shown[:31] + '…'}"
        return text

    def _inside(self, node: str, unit: str) -> bool:
        up = self.g.nodes[node].get("unit")
        while up is not None:
            if up == unit:
                return True
            up = self.g.nodes[up].get("unit")
        return False

    def _tooltip(self, name: str) -> str:
        lb = self.a.layers[name]
        parts = [f"{name} ({lb.cls})",
                 f"beam: {lb.beam.name} ×{lb.beam.size}" if lb.beam is not None else "beam: none",
                 f"choice: {lb.choice or 'none'}", f"placement: {lb.placement}"]
        if lb.beam is not None and len(lb.beam.chain) > 1:
            parts.append("chain: " + " → ".join(lb.beam.chain))
        failure = self.a.failures.get(name)
        if failure is not None:
            parts.append(f"error {failure.code}: {failure.message}")
            parts.append(f"fix: {failure.fix}")
        elif lb.error:
            parts.append(f"error: {lb.error}")
        if self.plans is not None:
            for frame in self.plans.frames:
                if frame.layer == name and frame.plan.action != "keep":
                    parts.append("end of frame: " + frame.plan.describe().split("  ", 1)[-1])
        return "\n".join(parts)

    def _layer_node(self, name: str) -> str:
        lb = self.a.layers[name]
        role = get_layer_class(lb.cls).beam_role
        shape = "box3d" if name in self.collapsed else _SHAPES.get(role, "box")
        style = ["filled"]
        if shape == "box":
            style.append("rounded")
        if lb.beam is not None and lb.beam.is_prev_frame:
            style.append("dashed")
        fill = self.fills.get(lb.beam.name, "#ffffff") if lb.beam is not None else "#ffffff"
        color, fontcolor, penwidth, peripheries = "#555555", "#000000", None, None
        if lb.error:
            color, fontcolor, penwidth = ERROR, ERROR, 2.0
            style.append("bold")
        if name in self.marked:
            color, penwidth, peripheries = (ERROR if lb.error else MARK), 3.0, 2
            if "bold" not in style:
                style.append("bold")
        if self.path is not None and name not in self.path:
            fill, color, fontcolor = GREY_FILL, GREY_LINE, GREY_TEXT
        if name == self.focus:
            penwidth = 3.0
        return quote(name) + attrs({
            "id": self.ids[name], "label": self._label(name), "shape": shape, "style": ",".join(style),
            "fillcolor": fill, "color": color, "fontcolor": fontcolor, "penwidth": penwidth,
            "peripheries": peripheries, "tooltip": self._tooltip(name)})

    def _extra_node(self, name: str) -> str:
        kind = self.g.nodes[name].get("node_kind")
        grey = self.path is not None
        if kind == "missing":
            return quote(name) + attrs({
                "id": self.ids[name], "label": f"{name}\n(not found)", "shape": "box",
                "style": "dashed,bold", "color": GREY_LINE if grey else ERROR,
                "fontcolor": GREY_TEXT if grey else ERROR,
                "tooltip": f"{name}: no such layer or data key"})
        return quote(name) + attrs({
            "id": self.ids[name], "label": name, "shape": "cds", "style": "filled",
            "fillcolor": GREY_FILL if grey else "#eeeeee", "color": GREY_LINE if grey else "#777777",
            "fontcolor": GREY_TEXT if grey else "#333333", "tooltip": f"{name} (extern data)"})

    # -- clusters -------------------------------------------------------------------------------
    def _cluster(self, unit: str, depth: int) -> list[str]:
        lb = self.a.layers[unit]
        rec = get_layer_class(lb.cls).beam_role == "rec"
        what = "rec loop" if rec else lb.cls
        out = [f"subgraph {quote('cluster:' + unit)} {{"]
        body = [f"label={quote(f'{unit}  ({what})')};", "labeljust=l;",
                f"style={quote('rounded,filled' if not rec else 'filled')};",
                f"fillcolor={quote('#fbfbfb' if not rec else '#ffffff')};",
                f"color={quote('#7f7f7f')};", self._layer_node(unit) + ";"]
        members = self.members.get(unit, [])
        if rec:
            for placement, label, style, fill in _PLACEMENTS:
                group = [m for m in members if self.a.layers[m].placement == placement]
                if not group:
                    continue
                body.append(f"subgraph {quote(f'cluster:{unit}#{placement}')} {{")
                body.extend(lines([f"label={quote(label)};", "labeljust=l;",
                                   f"style={quote(style + ',filled')};", f"fillcolor={quote(fill)};",
                                   f"color={quote('#9aa7b8')};", *self._members(group, depth + 2)], 1))
                body.append("}")
            rest = [m for m in members if self.a.layers[m].placement not in ("input", "loop", "output")]
            body.extend(self._members(rest, depth + 1))
        else:
            body.extend(self._members(members, depth + 1))
        out.extend(lines(body, 1))
        out.append("}")
        return out

    def _members(self, names: Iterable[str], depth: int) -> list[str]:
        out: list[str] = []
        for name in names:
            if name in self.members and name not in self.collapsed:
                out.extend(self._cluster(name, depth))
            else:
                out.append(self._layer_node(name) + ";")
        return out

    # -- edges ----------------------------------------------------------------------------------
    def _edges(self) -> list[_Edge]:
        edges: dict[tuple[str, str], _Edge] = {}
        for dst_node in self.a.layers:
            dst = self.rep(dst_node)
            if dst is None:
                continue
            labels = _plan_labels(self.a, self.plans, dst_node)
            for src_node, _, data in self.g.in_edges(dst_node, data=True):
                if self.search and data.get("search") is False:
                    continue  # a plain target: search mode does not read it
                src = self.rep(src_node)
                if src is None or src == dst:
                    continue
                kind = data.get("kind", "from")
                edge = edges.get((src, dst))
                if edge is None:
                    edge = edges[(src, dst)] = _Edge(src, dst, kind)
                elif edge.kind == "prev" and kind != "prev":
                    edge.kind = kind  # a current-frame reference constrains the layout
                for k in data.get("kinds", [kind]):
                    if k.startswith("option:") and k[7:] not in edge.options:
                        edge.options.append(k[7:])
                plan_labels, translated, error = labels.get(src_node, ([], False, False))
                edge.plans.extend(p for p in plan_labels if p not in edge.plans)
                edge.translated |= translated
                edge.error |= error
        return list(edges.values())

    def _edge_line(self, edge: _Edge, eid: str) -> str:
        style = {"prev": "dotted", "base": "dashed"}.get(edge.kind)
        label = "\n".join([*edge.options, *edge.plans]) or None
        color, fontcolor, penwidth = "#555555", "#333333", None
        if edge.kind in ("data", "sub"):
            color = "#888888"
        if edge.translated:
            color, fontcolor, penwidth = TRANSLATED, TRANSLATED, 1.6
        if edge.error:
            color, fontcolor, penwidth = ERROR, ERROR, 1.6
        if self.path is not None and not (edge.src in self.path and edge.dst in self.path):
            color, fontcolor, penwidth = GREY_LINE, GREY_TEXT, None
        return f"{quote(edge.src)} -> {quote(edge.dst)}" + attrs({
            "id": eid, "style": style, "constraint": False if edge.kind == "prev" else None,
            # dot lays out an edge label as a node of its own, which is slow on big graphs: there the
            # labels are placed after the layout (xlabel) instead
            "xlabel" if self.big else "label": label, "color": color, "fontcolor": fontcolor,
            "penwidth": penwidth, "tooltip": f"{edge.src} → {edge.dst} ({edge.kind})"})

    # -- legend ---------------------------------------------------------------------------------
    def _legend(self) -> list[str]:
        rows = ['<TR><TD COLSPAN="2"><B>beams</B></TD></TR>']
        beams = {}
        for beam in self.a.beams():
            beams.setdefault(_strip_prev(beam.name), beam.size)
        for name in sorted(beams):
            rows.append(f'<TR><TD BGCOLOR="{self.fills[name] if name in self.fills else FILLS[0]}"> </TD>'
                        f'<TD ALIGN="LEFT">{html_escape(name)} ×{beams[name]}</TD></TR>')
        if not beams:
            rows.append('<TR><TD> </TD><TD ALIGN="LEFT">no beams</TD></TR>')
        key = [("white fill", "no beam"), ("dashed border", "previous frame's beam (prev:)"),
               ("hexagon", "choice"), ("octagon", "decide"), ("component", "rec / subnetwork"),
               ("dotted edge", "prev: reference"), ("dashed edge", "base: reference"),
               ("blue edge", "translated input (tile / select)"), ("red", "error RETURNN raises")]
        if self.mark:
            key.append(("double border", "finding"))
        rows.append('<TR><TD COLSPAN="2"><B>key</B></TD></TR>')
        rows.extend(f'<TR><TD ALIGN="LEFT">{html_escape(a)}</TD><TD ALIGN="LEFT">{html_escape(b)}</TD></TR>'
                    for a, b in key)
        table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>"
        return [f"subgraph {quote('cluster:legend')} {{",
                *lines(["label=legend;", f"color={quote('#bbbbbb')};", "fontsize=10;",
                        quote("legend") + attrs({"id": "legend", "shape": "plaintext",
                                                 "label": ("html", table), "fontsize": 9})
                        + ";"], 1), "}"]

    # -- all of it ------------------------------------------------------------------------------
    def dot(self) -> str:
        edges = self._edges()
        self.big = len(self.ids) > BIG
        out = ["digraph searchgraph {",
               *lines([(f"graph [rankdir={self.rankdir}, fontname={quote('Helvetica')}, fontsize=11, "
                        f"compound=true, tooltip={quote(self.a.spec.source or 'network')}"
                        # big graphs: bounded crossing minimisation and network-simplex passes
                        # (a 761-layer transformer takes dot > 5 min without them, 4 s with)
                        + (", mclimit=0.1, nslimit=1, nslimit1=1" if self.big else "") + "];"),
                       f"node [fontname={quote('Helvetica')}, fontsize=10, margin={quote('0.1,0.03')}];",
                       f"edge [fontname={quote('Helvetica')}, fontsize=8, arrowsize=0.7];"], 1)]
        body = [self._extra_node(n) + ";" for n in self.extra]
        body.extend(self._members(self.members.get(None, []), 0))
        edge_ids = {}
        for i, edge in enumerate(edges):
            edge_ids[f"e{i}"] = edge
            body.append(self._edge_line(edge, f"e{i}") + ";")
        body.extend(self._legend())
        body.extend(meta_comment(self._meta(edges)))
        out.extend(lines(body, 1))
        out.append("}")
        return "\n".join(out) + "\n"

    def _meta(self, edges: list[_Edge]) -> dict[str, Any]:
        ids = self.ids
        inputs: dict[str, list[str]] = {}
        for edge in edges:
            inputs.setdefault(edge.dst, []).append(ids[edge.src])
        nodes = {}
        for name in [*self.extra, *self.order]:
            entry: dict[str, Any] = {"name": name, "inputs": inputs.get(name, [])}
            if name in self.a.layers:
                path = {self.rep(p) for p in beam_path(self.a, name)} - {None}
                entry["path"] = [ids[p] for p in self.ids if p in path]
            else:
                entry["path"] = [ids[name]]
            nodes[ids[name]] = entry
        return {"kind": "network", "nodes": nodes,
                "edges": {f"e{i}": [ids[e.src], ids[e.dst]] for i, e in enumerate(edges)}}


def network_dot(analysis: Analysis, *, plans: Any = None, rankdir: str = "TB",
                collapse_depth: int | None = None, focus: str | None = None, hide_beamless: bool = False,
                show_options: bool = False, mark: Sequence[str] = ()) -> str:
    """The beam-flow diagram of ``analysis`` as DOT source (byte-identical for the same input).

    Parameters
    ----------
    analysis : the network's :class:`~searchgraph.analysis.Analysis`.
    plans : its :class:`~searchgraph.analysis.plan.NetworkPlan`: translated inputs get their plan on the edge
        (``tile ×12``, ``select via output/output``).
    rankdir : ``TB``, ``LR``, ``BT`` or ``RL``.
    collapse_depth : draw units nested deeper than this as one node (0: every unit collapsed).
    focus : a layer: its provenance path (:func:`beam_path`) is drawn, everything else greyed.
    hide_beamless : leave out layers without a beam (errors, marked layers and units stay).
    show_options : list each layer's options in its node.
    mark : layers to mark (diagnose's culprits): double, thick border.

    Examples
    --------
    >>> from searchgraph import analyze
    >>> net = {"output": {"class": "rec", "from": [], "max_seq_len": 5, "unit": {
    ...     "prob": {"class": "softmax", "from": "prev:output", "n_out": 5},
    ...     "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
    ...                "initial_output": 0}}}}
    >>> dot = network_dot(analyze(net))
    >>> '"output/output" [id="n1", label="output\\\\nchoice ×4", shape="hexagon"' in dot
    True
    """
    return _NetworkDiagram(analysis, plans, rankdir, collapse_depth, focus, hide_beamless, show_options,
                           tuple(mark)).dot()
