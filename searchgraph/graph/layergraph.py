"""`LayerGraph`: the directed graph the analysis runs on, without importing networkx.

It stores nodes and edges exactly as :class:`networkx.DiGraph` does (``graph``, ``_node``,
``_succ``/``_adj``, ``_pred``: dicts of attribute dicts, in insertion order) and offers the part of
DiGraph's read API the pipeline uses, with the same meaning, so every stage accepts either. Importing
networkx costs a quarter of a second; ``searchgraph beams`` needs none of its algorithms, so the
graph becomes a real ``networkx.DiGraph`` only when one is asked for (:meth:`LayerGraph.to_networkx`,
:func:`searchgraph.build_graph`, :attr:`searchgraph.Analysis.graph`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["LayerGraph", "as_networkx", "node_table", "predecessor_table", "shortest_path", "successor_table"]


class _NodeView:
    """``g.nodes``: ``g.nodes[n]`` (attributes), ``g.nodes(data=True)``, iteration, ``get``."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: dict[str, dict[str, Any]]):
        self._nodes = nodes

    def __getitem__(self, node: str) -> dict[str, Any]:
        return self._nodes[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def get(self, node: str, default: Any = None) -> Any:
        return self._nodes.get(node, default)

    def items(self) -> Any:
        return self._nodes.items()

    def __call__(self, data: bool | str = False, default: Any = None) -> Any:
        if data is False:
            return iter(self._nodes)
        if data is True:
            return iter(self._nodes.items())
        return ((n, d.get(data, default)) for n, d in self._nodes.items())


class _EdgeView:
    """``g.edges``: ``g.edges[u, v]`` (attributes), iteration over ``(u, v)``, ``g.edges(data=True)``."""

    __slots__ = ("_succ",)

    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]):
        self._succ = succ

    def __getitem__(self, edge: tuple[str, str]) -> dict[str, Any]:
        u, v = edge
        return self._succ[u][v]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((u, v) for u, nbrs in self._succ.items() for v in nbrs)

    def __len__(self) -> int:
        return sum(len(nbrs) for nbrs in self._succ.values())

    def __contains__(self, edge: object) -> bool:
        try:
            u, v = edge  # type: ignore[misc]
        except (TypeError, ValueError):
            return False
        return v in self._succ.get(u, {})

    def __call__(self, data: bool | str = False, default: Any = None) -> Any:
        if data is False:
            return iter(self)
        if data is True:
            return ((u, v, d) for u, nbrs in self._succ.items() for v, d in nbrs.items())
        return ((u, v, d.get(data, default)) for u, nbrs in self._succ.items()
                for v, d in nbrs.items())


class LayerGraph:
    """A directed graph with networkx.DiGraph's storage and the subset of its API searchgraph uses.

    Examples
    --------
    >>> g = LayerGraph(source="net")
    >>> g.add_node("a", kind="layer"); g.add_edge("a", "b", kind="from")
    >>> list(g.predecessors("b")), g.edges["a", "b"]["kind"], g.nodes["b"]
    (['a'], 'from', {})
    >>> sorted(g.to_networkx().edges)
    [('a', 'b')]
    """

    def __init__(self, **attr: Any):
        self.graph: dict[str, Any] = dict(attr)
        self._node: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}
        self._adj = self._succ
        self.nodes = _NodeView(self._node)
        self.edges = _EdgeView(self._succ)

    # -- building ---------------------------------------------------------------------------------
    def add_node(self, node: str, **attr: Any) -> None:
        data = self._node.get(node)
        if data is None:
            self._node[node] = attr
            self._succ[node] = {}
            self._pred[node] = {}
        else:
            data.update(attr)

    def add_edge(self, u: str, v: str, **attr: Any) -> None:
        for node in (u, v):
            if node not in self._node:
                self.add_node(node)
        data = self._succ[u].get(v)
        if data is None:
            data = self._succ[u][v] = self._pred[v][u] = {}
        data.update(attr)

    # -- reading ----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __contains__(self, node: object) -> bool:
        try:
            return node in self._node
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._node)

    def __getitem__(self, node: str) -> dict[str, dict[str, Any]]:
        return self._succ[node]

    @property
    def succ(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self._succ

    @property
    def pred(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self._pred

    def has_node(self, node: str) -> bool:
        return node in self

    def has_edge(self, u: str, v: str) -> bool:
        return v in self._succ.get(u, {})

    def successors(self, node: str) -> Iterator[str]:
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(self._pred[node])

    def out_edges(self, node: str | None = None, data: bool = False) -> Iterator[Any]:
        nodes = self._succ if node is None else {node: self._succ[node]}
        if data:
            return ((u, v, d) for u, nbrs in nodes.items() for v, d in nbrs.items())
        return ((u, v) for u, nbrs in nodes.items() for v in nbrs)

    def in_edges(self, node: str | None = None, data: bool = False) -> Iterator[Any]:
        nodes = self._pred if node is None else {node: self._pred[node]}
        if data:
            return ((u, v, d) for v, nbrs in nodes.items() for u, d in nbrs.items())
        return ((u, v) for v, nbrs in nodes.items() for u in nbrs)

    def number_of_nodes(self) -> int:
        return len(self._node)

    def number_of_edges(self) -> int:
        return len(self.edges)

    def to_networkx(self) -> Any:
        """The same graph as a ``networkx.DiGraph`` (attribute dicts copied one level, as
        ``networkx`` copies; node and edge order kept)."""
        import networkx as nx

        g = nx.DiGraph()
        g.graph.update(self.graph)
        g.add_nodes_from(self._node.items())
        g.add_edges_from((u, v, d) for u, nbrs in self._succ.items() for v, d in nbrs.items())
        pred = g._pred  # predecessors in this graph's order too (edges came in by source above)
        for v, nbrs in self._pred.items():
            if len(nbrs) > 1:
                pred[v] = {u: pred[v][u] for u in nbrs}
        return g


def node_table(g: Any) -> dict[str, dict[str, Any]]:
    """Node -> its attribute dict: the storage of a :class:`LayerGraph` or ``networkx.DiGraph`` (both
    keep it the same way). The stages that walk every node read it directly, for speed; read only."""
    return g._node


def successor_table(g: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Node -> {successor: edge attributes}, in insertion order (see :func:`node_table`); read only."""
    return g._succ


def predecessor_table(g: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Node -> {predecessor: edge attributes}, in insertion order (see :func:`node_table`); read only."""
    return g._pred


def as_networkx(g: Any) -> Any:
    """``g`` as a ``networkx.DiGraph`` (itself when it is one already)."""
    return g.to_networkx() if isinstance(g, LayerGraph) else g


def shortest_path(g: Any, source: str, target: str) -> list[str] | None:
    """The shortest directed path from ``source`` to ``target`` (breadth first, successors in
    insertion order), or None when there is none."""
    if source == target:
        return [source]
    parent: dict[str, str] = {source: source}
    frontier = [source]
    succ = successor_table(g)
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for v in succ[node]:
                if v in parent:
                    continue
                parent[v] = node
                if v == target:
                    path = [v]
                    while path[-1] != source:
                        path.append(parent[path[-1]])
                    return path[::-1]
                nxt.append(v)
        frontier = nxt
    return None
