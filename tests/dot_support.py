"""A reader for the DOT the diagram builders write (one statement a line): nodes, edges, clusters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*?>(?=, \w+=|\]$)|[^,\]]+)')
_NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") \[(.*)\];$')
_EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*") \[(.*)\];$')
_CLUSTER = re.compile(r'^\s*subgraph ("(?:[^"\\]|\\.)*") \{$')


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text[1:-1])
    return text


def _attrs(text: str) -> dict[str, str]:
    return {k: _unquote(v) for k, v in _ATTR.findall(text + "]")}


@dataclass
class Dot:
    """The statements of a DOT file as the builders write them (one statement a line)."""

    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)  #: cluster -> enclosing clusters
    where: dict[str, list[str]] = field(default_factory=dict)  #: node -> enclosing clusters, outermost first

    @classmethod
    def parse(cls, source: str) -> Dot:
        out = cls()
        stack: list[str] = []
        for line in source.splitlines():
            if m := _CLUSTER.match(line):
                name = _unquote(m.group(1))
                out.clusters[name] = list(stack)
                stack.append(name)
            elif line.strip() == "{":
                stack.append("{")
            elif line.strip() == "}":
                if stack:
                    stack.pop()
            elif m := _EDGE.match(line):
                out.edges[(_unquote(m.group(1)), _unquote(m.group(2)))] = _attrs(m.group(3))
            elif m := _NODE.match(line):
                name = _unquote(m.group(1))
                out.nodes[name] = _attrs(m.group(2))
                out.where[name] = [s for s in stack if s != "{"]
        return out
