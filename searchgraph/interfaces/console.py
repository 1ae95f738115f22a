"""Rich renderables for the terminal: the layer tree, the beam table, a layer's choice trace."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..analysis.model import Analysis
from ..graph.layergraph import shortest_path

if TYPE_CHECKING:
    import networkx as nx

    from ..graph.layergraph import LayerGraph

__all__ = [
    "beam_styles",
    "beam_table",
    "choice_path",
    "display_order",
    "findings_view",
    "graph_tree",
    "layer_detail",
    "plan_tree",
]

_PALETTE = ("bright_cyan", "bright_magenta", "bright_green", "bright_yellow", "bright_blue",
            "orange1", "deep_pink2", "spring_green2", "gold1", "medium_purple1")
_PLACEMENT = {"net": "", "loop": "loop", "input": "in ⇤", "output": "out ⇥"}


def beam_styles(analysis: Analysis) -> dict[str, str]:
    """A colour per beam; a ``prev:`` beam gets its current-frame beam's colour, dimmed."""
    styles: dict[str, str] = {}
    names = [b.name for b in analysis.beams()]
    current = sorted({n.replace("prev:", "", 1) for n in names})
    for i, name in enumerate(current):
        styles[name] = _PALETTE[i % len(_PALETTE)]
    for name in names:
        if "prev:" in name:
            styles[name] = "dim " + styles.get(name.replace("prev:", "", 1), "white")
    return styles


def display_order(analysis: Analysis) -> list[str]:
    """Layers in construction order, each unit's layers right after the unit layer."""
    members: dict[str | None, list[str]] = {}
    for name, lb in analysis.layers.items():
        members.setdefault(lb.unit, []).append(name)
    out: list[str] = []

    def emit(unit: str | None) -> None:
        for name in members.get(unit, []):
            out.append(name)
            emit(name)

    emit(None)
    out.extend(n for n in analysis.layers if n not in set(out))
    return out


def beam_table(analysis: Analysis, *, errors_only: bool = False) -> Table:
    """One row per constructed layer: class, placement, beam (coloured), size, choice, error.

    The choice column says ``= beam`` when the layer's search choice owns its beam (the usual case).
    """
    styles = beam_styles(analysis)
    n_err = len(analysis.errors)
    table = Table(title=f"Beams ({analysis.mode} mode): {Path(analysis.spec.source).name}",
                  caption=f"{len(analysis.layers)} layers, {len(analysis.beams())} beams, "
                          f"{n_err} error{'s' if n_err != 1 else ''}",
                  show_lines=False, pad_edge=False, box=None, header_style="bold underline")
    table.add_column("layer", style="bold", overflow="fold", ratio=4)
    table.add_column("class", overflow="fold", ratio=2)
    table.add_column("place", no_wrap=True)
    table.add_column("beam", overflow="fold", ratio=3)
    table.add_column("K", justify="right", no_wrap=True)
    table.add_column("choice", overflow="fold", ratio=2)
    if n_err:
        table.add_column("error", style="red", overflow="fold", ratio=4)
    for name in display_order(analysis):
        lb = analysis.layers[name]
        if errors_only and not lb.error:
            continue
        beam = Text(lb.beam.name, style=styles.get(lb.beam.name, "")) if lb.beam else Text("—", "dim")
        if lb.choice and lb.beam and lb.choice == lb.beam.name:
            choice = Text("= beam", "dim")
        else:
            choice = Text(lb.choice, style=styles.get(lb.choice, "")) if lb.choice else Text("—", "dim")
        row = [Text(name, style="bold red" if lb.error else "bold"), lb.cls,
               _PLACEMENT[lb.placement], beam, str(lb.beam.size) if lb.beam else "", choice]
        if n_err:
            row.append((lb.error or "").split("\n", 1)[0])
        table.add_row(*row)
    return table


def layer_detail(analysis: Analysis, layer: str) -> Tree:
    """The choice trace of a layer and the dependency path from its choice to it."""
    lb = analysis.layers[layer]
    styles = beam_styles(analysis)
    tree = Tree(Text(f"{layer}  ({lb.cls}, {lb.placement})", style="bold"))
    beam = tree.add("beam: " + (f"{lb.beam.name} ×{lb.beam.size}" if lb.beam else "none"),
                    style=styles.get(lb.beam.name, "") if lb.beam else "dim")
    if lb.beam:
        node = beam
        for name in lb.beam.chain[1:]:
            node = node.add(f"chosen from {name}", style=styles.get(name, ""))
    tree.add(f"search choice: {lb.choice or 'none'}", style=styles.get(lb.choice or "", ""))
    if lb.error:
        tree.add(Text(f"error: {lb.error}", style="red"))
    path = choice_path(analysis, layer)
    if path:
        branch = tree.add("path from the choice")
        prev = None
        for step in path:
            kind = analysis.layer_graph.edges[prev, step]["kind"] if prev and \
                analysis.layer_graph.has_edge(prev, step) else ""
            branch = branch.add(f"{step}" + (f"  [dim]({kind})[/]" if kind and kind != "from" else ""))
            prev = step
    return tree


def choice_path(analysis: Analysis, layer: str) -> list[str]:
    """The shortest dependency path from the layer owning this layer's beam to the layer."""
    lb = analysis.layers[layer]
    if lb.beam is None:
        return []
    owner = lb.beam.name.replace("prev:", "", 1)
    g = analysis.layer_graph
    if owner not in g:
        return []
    return shortest_path(g, owner, layer) or [owner, "…", layer]


def plan_tree(plan: Any, analysis: Analysis, *, show_all: bool = False) -> Tree:
    """Translation plans: ``layer ← input  tile ×12 → beam`` per translated input, and the
    end-of-frame re-selections of ``prev:`` values."""
    styles = beam_styles(analysis)
    root = Tree(Text("translation plans", style="bold"))
    for name, layer_plan in plan.layers.items():
        shown = layer_plan.inputs if show_all else [p for p in layer_plan.inputs
                                                    if p.action != "keep" or p.error]
        if not shown:
            continue
        branch = root.add(Text.assemble((name, "bold"), "  → ",
                                        (layer_plan.choice or "no beam",
                                         styles.get(layer_plan.choice or "", "dim"))))
        for item in shown:
            branch.add(Text(f"← {item.describe()}", style="red" if item.error else
                            styles.get(item.beam or "", "")))
    if plan.frames:
        frames = root.add(Text("end of frame (values read as prev: next frame)", style="bold"))
        for frame in plan.frames:
            frames.add(Text(f"{frame.layer}: {frame.plan.describe()}",
                            style=styles.get(frame.plan.beam or "", "")))
    return root


def findings_view(findings: list[Any], analysis: Analysis) -> Any:
    """Findings as panels grouped by layer: RETURNN's message, why, the fix, the choice traces."""
    from rich.console import Group
    from rich.panel import Panel

    if not findings:
        return Text(f"No findings: {Path(analysis.spec.source).name} builds in search mode as far "
                    "as searchgraph can tell.", style="green")
    styles = beam_styles(analysis)
    colour = {"error": "red", "warning": "yellow", "info": "blue"}
    by_layer: dict[str, list[Any]] = {}
    for finding in findings:
        by_layer.setdefault(finding.layer, []).append(finding)
    panels = []
    for layer, items in by_layer.items():
        body = []
        for f in items:
            body.append(Text.assemble((f"{f.code} {f.severity}: ", f"bold {colour[f.severity]}"),
                                      (f.title, "bold")))
            if f.returnn_message:
                lines = f.returnn_message.splitlines()
                body.append(Text("RETURNN: " + "\n  ".join(lines[:4]) + (" …" if len(lines) > 4
                                                                         else ""), style="dim"))
            body.append(Text(f"why: {f.reason}"))
            body.append(Text(f"fix: {f.fix}", style="green"))
            if len(f.traces) > 0:
                tree = Tree("choice traces")
                for trace in f.traces:
                    node = tree
                    for name in trace:
                        node = node.add(Text(name, style=styles.get(name, "")))
                body.append(tree)
        worst = min(items, key=lambda f: ("error", "warning", "info").index(f.severity))
        panels.append(Panel(Group(*body), title=Text(layer, style="bold"),
                            border_style=colour[worst.severity], title_align="left"))
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    summary = Text(", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n))
    return Group(*panels, summary)


def _edge_label(g: LayerGraph | nx.DiGraph, src: str, dst: str) -> str:
    data: dict[str, Any] = g.edges[src, dst]
    kinds = "/".join(data["kinds"])
    ref, kind = data["ref"], data["kind"]
    if ref == src:
        return kinds
    if ref == kind or ref.startswith(kind + ":"):  # prev:x, base:x, data: the prefix says the kind
        return "/".join([*(k for k in data["kinds"] if k != kind), ref])
    return f"{kinds}:{ref}"


def graph_tree(g: LayerGraph | nx.DiGraph) -> Tree:
    """Units and layers as a tree; each layer lists what it reads, by edge kind."""
    root = Tree(Text(f"network {g.graph.get('source', '')}", style="bold"))
    branches: dict[str | None, Tree] = {None: root}
    for node, data in g.nodes(data=True):
        if data["node_kind"] in ("data", "missing"):
            continue
        parent = branches.get(data["unit"], root)
        ins = [f"{_edge_label(g, u, node)} ← {u}" if g.edges[u, node]["kind"] != "from"
               else u for u in g.predecessors(node)]
        label = Text.assemble((data["local"], "bold"), f"  [{data['class']}]",
                              (("  ← " + ", ".join(ins)) if ins else "", "dim"))
        branches[node] = parent.add(label)
    return root
