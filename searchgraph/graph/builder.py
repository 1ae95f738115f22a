"""NetSpec -> layer graph: one node per layer, named as RETURNN names it, edges by reference kind.

Nodes are qualified layer names (``enc``, ``output/s``, ``a/b/c``) and extern data (``data:classes``).
Node attributes: ``class``, ``options`` (the layer dict, without nested units), ``unit`` (qualified
name of the enclosing rec/subnetwork layer, or None), ``unit_kind`` (``rec``/``subnet``/None),
``depth``, ``local`` (name inside its unit), ``node_kind`` (``layer``, ``data``, ``sub`` for
``a/0``-style sub-layers, ``step`` for ``:i``), ``only_on_search``, ``extra`` (extra-net prefix).
Edge attributes: ``kind`` (``from``, ``option:<name>``, ``prev``, ``base``, ``sub``, ``data``),
``kinds`` (all kinds when a pair is linked more than once), ``option`` (the option holding the
reference), ``ref`` (the reference as written), ``dep`` (whether RETURNN's ``get_dep_layers`` lists
it), ``search`` (False for plain data targets, which search mode does not resolve).
"""

from __future__ import annotations

import difflib
import gc
import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import NetworkError
from ..loading.netspec import NetSpec
from .layergraph import LayerGraph, as_networkx, node_table, predecessor_table, successor_table
from .layers import get_layer_class, iter_option_refs

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["build_graph", "build_layer_graph", "constructed_layers", "graph_to_json", "unit_layers",
           "without_prev"]

_EXTRA = re.compile(r"^extra(\.[A-Za-z0-9_]+)+:")
_MAX_LEN_FROM = re.compile(r"max_len_from\(\s*['\"]([^'\"]+)['\"]\s*\)")


@dataclass
class _Scope:
    """One network level: the root net, a rec unit or a subnetwork."""

    layers: dict[str, Any]
    prefix: str = ""
    kind: str | None = None  # None (root), "rec", "subnet"
    owner: str | None = None
    parent: _Scope | None = None
    owner_sources: list[str] = field(default_factory=list)
    depth: int = 0
    extra: str | None = None  # extra-net prefix such as "extra.search"

    def qual(self, local: str) -> str:
        return self.prefix + local

    def in_rec(self) -> bool:
        scope: _Scope | None = self
        while scope is not None:
            if scope.kind == "rec":
                return True
            scope = scope.parent
        return False


def _subnet_inputs(scope: _Scope, key: str, concat: bool) -> list[str] | None:
    """What ``data:KEY`` (``data`` is ``data:data``) reads inside a subnetwork (RETURNN's
    ``Subnetwork.get_data`` with the layer's ``concat_sources``): with concatenated sources, ``data`` is
    all of them; else ``data:NAME`` / ``data:I`` is that one and ``data`` the first. None: the parent's
    extern data."""
    sources = scope.owner_sources
    if concat:
        return list(sources) if key == "data" and sources else None
    for i, arg in enumerate(sources):
        if key in (arg, str(i)) or (key == "data" and i == 0):
            return [arg]
    return None


@dataclass(frozen=True)
class _Suggest:
    """Close matches for an unknown name, computed only when an error is raised (difflib is slow),
    and the reference as the layer wrote it (``base:x`` when ``x`` is unknown)."""

    scope: _Scope | None = None
    name: str = ""
    prefix: str = ""
    fixed: tuple[str, ...] = ()
    written: str | None = None

    def __call__(self) -> list[str]:
        found = _Builder._close(self.scope, self.name) if self.scope is not None else []
        return [self.prefix + c for c in (*self.fixed, *found)]


def _is_layer_key(key: Any, desc: Any) -> bool:
    return isinstance(key, str) and not key.startswith("#") and isinstance(desc, dict)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _Builder:
    def __init__(self, spec: NetSpec):
        self.spec = spec
        self.g = LayerGraph(source=spec.source, warnings=[])
        self.nodes, self.succ = node_table(self.g), successor_table(self.g)
        self.unknown: list[tuple[str, str, str, _Suggest]] = []
        self.root = _Scope(spec.network)
        self.data_keys = set(spec.data_keys())
        #: extern data key -> the root layer registering its output under it (``register_as_extern_data``):
        #: ``construct_from_dict`` builds every registering layer first, in sorted name order, and each
        #: one (a ``DataNotAvailableLayer`` too) overwrites the key, so the last name wins (search
        #: mode: ``only_on_eval`` layers are left out)
        self.registered = {d["register_as_extern_data"]: k
                           for k, d in sorted(spec.network.items(), key=lambda kv: str(kv[0]))
                           if isinstance(d, dict) and isinstance(d.get("register_as_extern_data"), str)
                           and not str(k).startswith("#") and not d.get("only_on_eval")}

    # -- nodes -------------------------------------------------------------------------------
    def add_scope(self, scope: _Scope) -> None:
        for local, desc in scope.layers.items():
            if not isinstance(local, str) or local.startswith("#"):
                continue
            path = scope.qual(local)
            if not isinstance(desc, dict):
                raise NetworkError(f"layer definition must be a dict, got {type(desc).__name__}",
                                   where=path, hint="write it as {'class': ..., 'from': ...}")
            if scope.kind is None and _EXTRA.match(local):
                prefix = local.split(":", 1)[0]
                self.add_layer(_Scope(scope.layers, "", None, None, None, [], 0, prefix), local,
                               desc)
            else:
                self.add_layer(scope, local, desc)

    def add_layer(self, scope: _Scope, local: str, desc: dict[str, Any]) -> str:
        path = scope.qual(local)
        node = self.nodes.get(path)
        if node is not None and node.get("node_kind") == "layer":
            return path
        cls_name = desc.get("class")
        if not isinstance(cls_name, str):
            raise NetworkError("layer has no 'class'" if cls_name is None else
                               f"'class' must be a string, got {type(cls_name).__name__}",
                               where=path, hint="add e.g. 'class': 'linear'")
        options = dict(desc)  # the layer dict without its nested unit (those are layers of their own)
        for key in ("unit", "subnetwork"):
            if isinstance(options.get(key), dict):
                del options[key]
        known = get_layer_class(cls_name).known
        self.g.add_node(path, node_kind="layer", **{"class": cls_name}, options=options,
                        unit=scope.owner, unit_kind=scope.kind, depth=scope.depth, local=local,
                        only_on_search=bool(desc.get("only_on_search")), extra=scope.extra,
                        known=known)
        if not known:
            self.g.graph["warnings"].append(
                f"{path}: unknown layer class {cls_name!r}: only 'from' is followed; declare its "
                f"layer options with searchgraph.register_layer_class")
        self._pending.append((scope, local, desc))
        return path

    def data_node(self, key: str) -> str:
        name = f"data:{key}"
        if name not in self.g:
            self.g.add_node(name, node_kind="data", **{"class": "data"}, options={}, unit=None,
                            unit_kind=None, depth=0, local=name, only_on_search=False, extra=None,
                            known=True)
            if key in self.registered and key not in self.data_keys:
                # ``TFNetwork._create_layer`` puts the layer's output (its beam too) into the extern
                # data under that key: ``data:KEY`` reads it, after the layer is built
                self.ref(self.root, name, self.registered[key], "from", True)
        return name

    # -- references ----------------------------------------------------------------------------
    def resolve(self, scope: _Scope, ref: str, consumer: str) -> tuple[str, str] | None:
        """Return ``(node, form)`` for a reference, form in from/prev/base/sub/data; None if absent."""
        # a layer of this network by its name, the common case; a layer named "data" hides the
        # extern data ("data" is only looked up as such when no layer has the name:
        # ``TFNetwork.construct_layer``)
        if ":" not in ref and "/" not in ref and not scope.extra and ref != "none" \
                and (ref != "data" or isinstance(scope.layers.get("data"), dict)):
            desc = scope.layers.get(ref)
            if isinstance(desc, dict) and not ref.startswith("#"):
                node = scope.prefix + ref
                known = self.nodes.get(node)
                if known is None or known["node_kind"] != "layer":
                    node = self.add_layer(scope, ref, desc)
                return node, "from"
        if ref == "none":
            return None
        if ref.startswith("prev:"):
            rest = ref[len("prev:"):]
            if not scope.in_rec():
                self.g.graph["warnings"].append(f"{consumer}: {ref!r} outside a rec loop")
            if rest.startswith("prev:"):
                self.g.graph.setdefault("prev_prev", []).append((consumer, ref))
                while rest.startswith("prev:"):
                    rest = rest[len("prev:"):]
            found = self.resolve(scope, rest, consumer)
            return (found[0], "prev") if found else None
        if ref.startswith("base:"):
            if scope.parent is None:
                self.unknown.append((consumer, ref, "there is no enclosing network", _Suggest()))
                return None
            found = self.resolve(scope.parent, ref[len("base:"):], consumer)
            return (found[0], "base" if found[1] in ("from", "sub", "data") else found[1]) \
                if found else None
        if ref == "data" or ref.startswith("data:"):
            key = ref[5:] if ref.startswith("data:") else "data"
            # in a rec unit only `data:source` is the rec layer's `from`; `data` and `data:data` are
            # the parent's extern data (the unit's default input is "data", RETURNN rec.py L1393)
            if scope.kind == "rec" and key == "source":
                self._link_owner_sources(scope, consumer, ref)
                return None
            if scope.kind == "subnet":
                picked = _subnet_inputs(scope, key, self._concat_sources(scope))
                if picked is not None:
                    self._link_owner_sources(scope, consumer, ref, picked)
                    return None
            return self.data_node(key), "data"
        if ref == ":i":
            if scope.kind != "rec":
                self.unknown.append((consumer, ref, "':i' exists only inside a rec unit", _Suggest()))
                return None
            node = scope.qual(":i")
            if node not in self.g:
                self.g.add_node(node, node_kind="step", **{"class": ":i"}, options={},
                                unit=scope.owner, unit_kind="rec", depth=scope.depth, local=":i",
                                only_on_search=False, extra=scope.extra, known=True)
            return node, "from"
        extra = _EXTRA.match(ref) if ref.startswith("extra.") else None
        if extra and scope.kind is None:
            prefix, local = ref.split(":", 1)
            key = ref if ref.split("/", 1)[0] in scope.layers else None
            head = local.split("/", 1)[0]
            desc = scope.layers.get(key.split("/", 1)[0]) if key else scope.layers.get(head)
            if not isinstance(desc, dict):
                self.unknown.append((consumer, ref, "no such layer", _Suggest(scope, head)))
                return None
            escope = _Scope(scope.layers, "", None, None, None, [], 0, prefix)
            node = self.add_layer(escope, f"{prefix}:{head}", desc)
            return self._sub(node, local.split("/", 1)[1], consumer) if "/" in local else (node, "from")
        if scope.extra and scope.kind is None:
            explicit = f"{scope.extra}:{ref}"
            if explicit.split("/", 1)[0] in scope.layers:
                return self.resolve(_Scope(scope.layers), explicit, consumer)
        head, _, tail = ref.partition("/")
        if head in scope.layers and _is_layer_key(head, scope.layers[head]):
            node = scope.prefix + head
            known = self.nodes.get(node)
            if known is None or known["node_kind"] != "layer":
                node = self.add_layer(scope, head, scope.layers[head])
            inner = self._inner_scope(scope, head, scope.layers[head]) if tail else None
            if inner is not None:  # built in the unit, which must define it
                inner_head = tail.split("/", 1)[0]
                if not (inner_head in inner.layers and _is_layer_key(inner_head,
                                                                    inner.layers[inner_head])):
                    self.unknown.append((consumer, ref, f"{head!r} has no layer {inner_head!r}",
                                         _Suggest(inner, inner_head, f"{head}/")))
                    return None
                found = self.resolve(inner, tail, consumer)
                return (found[0], "sub") if found else None
            return self._sub(node, tail, consumer) if tail else (node, "from")
        if head in self.data_keys or head in self.registered:  # RETURNN: LayerNotFound
            self.unknown.append((consumer, ref, "no such layer (data is read as 'data:KEY')",
                                 _Suggest(fixed=(f"data:{head}",))))
            return None
        self.unknown.append((consumer, ref, "no such layer", _Suggest(scope, head)))
        return None

    def _concat_sources(self, scope: _Scope) -> bool:
        """A subnetwork's ``concat_sources`` option (default True)."""
        owner = self.nodes.get(scope.owner) if scope.owner else None
        return bool((owner or {}).get("options", {}).get("concat_sources", True))

    def _link_owner_sources(self, scope: _Scope, consumer: str, ref: str,
                            only: list[str] | None = None) -> None:
        """``data`` / ``data:source`` inside a unit: the unit layer's own ``from`` (``only``: those)."""
        for src in scope.owner_sources if only is None else only:
            found = self.resolve(scope.parent, src, consumer) if scope.parent else None
            if found:
                form = "prev" if found[1] == "prev" else "data"
                self.g.nodes[consumer].setdefault("inputs", []).append((found[0], "from", form, True))
                self._link(found[0], consumer, form, "from", ref, True)

    def _sub(self, node: str, tail: str, consumer: str) -> tuple[str, str]:
        target = f"{node}/{tail}"
        if target in self.g:
            return target, "sub"
        attrs = dict(self.g.nodes[node])
        self.g.add_node(target, node_kind="sub", **{"class": f"{attrs['class']}/sub"}, options={},
                        unit=attrs["unit"], unit_kind=attrs["unit_kind"], depth=attrs["depth"],
                        local=f"{attrs['local']}/{tail}", only_on_search=attrs["only_on_search"],
                        extra=attrs["extra"], known=True)
        self._link(node, target, "sub", "sub", tail, True)
        return target, "sub"

    @staticmethod
    def _close(scope: _Scope, name: str) -> list[str]:
        names = [k for k, v in scope.layers.items() if _is_layer_key(k, v)]
        return difflib.get_close_matches(name, names, n=3)

    def _link(self, src: str, dst: str, kind: str, option: str, ref: str, dep: bool,
              search: bool = True) -> None:
        data = self.succ[src].get(dst)
        if data is not None:
            if kind not in data["kinds"]:
                data["kinds"].append(kind)
            data["dep"] = data["dep"] or dep
            data["search"] = data["search"] or search
            if option not in data["options"]:
                data["options"].append(option)
            return
        self.g.add_edge(src, dst, kind=kind, kinds=[kind], option=option, options=[option], ref=ref,
                        dep=dep, search=search)

    def ref(self, scope: _Scope, consumer: str, ref: Any, option: str, dep: bool,
            search: bool = True) -> None:
        if not isinstance(ref, str):
            return
        seen = len(self.unknown)
        found = self.resolve(scope, ref, consumer)
        for i in range(seen, len(self.unknown)):  # errors name the reference as written (base:x)
            who, inner, why, close = self.unknown[i]
            if inner != ref and ref.endswith(inner):
                prefix = ref[:len(ref) - len(inner)]
                self.unknown[i] = (who, inner, why, replace(close, prefix=prefix + close.prefix,
                                                            written=ref))
        if found is None:
            return
        node, form = found
        self.nodes[consumer].setdefault("inputs", []).append((node, option, form, search))
        kind = form if form in ("prev", "base", "sub") else ("from" if option == "from" else
                                                             f"option:{option}")
        if form == "data" and option == "from":
            kind = "from"
        self._link(node, consumer, kind, option, ref, dep, search)

    # -- per-layer references ------------------------------------------------------------------
    def link_layer(self, scope: _Scope, local: str, desc: dict[str, Any]) -> None:
        path = scope.qual(local)
        cls = get_layer_class(desc["class"])
        sources = desc["from"] if "from" in desc else self._default_from(cls, scope)
        for src in _as_list(sources):
            if isinstance(src, (list, tuple)) and src and isinstance(src[0], str):
                src = src[0]  # concat's (layer, axis) pairs
            self.ref(scope, path, src, "from", True)
        for option, name, dep in iter_option_refs(cls, desc):
            self.ref(scope, path, name, option, dep)
        if desc["class"] == "loss" and "target_" not in desc and desc.get("loss_") not in _LOSSES_WITHOUT_TARGET:
            # ``LossLayer.transform_config_dict``: the loss class's default target, the extern data's
            # default target (``Loss.get_default_target``), read as a dependency of the layer
            self.ref(scope, path, f"data:{self.spec.default_target}", "target_", True)
        for target in _as_list(desc.get("target")):
            if isinstance(target, str) and not target.startswith("layer:"):
                if target in scope.layers and _is_layer_key(target, scope.layers[target]):
                    self.ref(scope, path, target, "target", True)
                elif scope.kind is None:
                    self.ref(scope, path, f"data:{target}", "target", True, search=False)
        if desc["class"] == "rec" and isinstance(desc.get("max_seq_len"), str):
            match = _MAX_LEN_FROM.search(desc["max_seq_len"])
            if match:
                # ``max_len_from('base:x')`` (``RecLayer.transform_config_dict``): x of the enclosing
                # network of the rec layer's network if there is one with x, else (the old reading)
                # x of the rec layer's own network
                name = match.group(1)
                bare = name.removeprefix("base:")
                outer = scope.parent if name.startswith("base:") else None
                if outer is not None and isinstance(outer.layers.get(bare.split("/", 1)[0]), dict):
                    self.ref(scope, path, name, "max_seq_len", False)
                else:
                    self.ref(scope, path, bare, "max_seq_len", False)
        if desc["class"] in ("cond", "masked_computation"):
            for option in ("condition", "true_layer", "false_layer", "unit"):
                inline = desc.get(option)
                if isinstance(inline, dict):
                    self._inline(scope, path, inline, option, desc)
        inner = self._inner_scope(scope, local, desc) if desc["class"] in ("rec", "subnetwork") else None
        if inner is not None:
            self.add_scope(inner)
            if "output" in inner.layers:
                self._link(inner.qual("output"), path, "sub", "unit", "output", True)

    def _inner_scope(self, scope: _Scope, local: str, desc: dict[str, Any]) -> _Scope | None:
        """The scope of a rec unit or subnetwork dict, or None for other layers."""
        unit = desc.get("unit") if desc.get("class") == "rec" else desc.get("subnetwork")
        if desc.get("class") not in ("rec", "subnetwork") or not isinstance(unit, dict):
            return None
        cls = get_layer_class(desc["class"])
        sources = desc["from"] if "from" in desc else self._default_from(cls, scope)
        return _Scope(unit, scope.qual(local) + "/", "rec" if desc["class"] == "rec" else "subnet",
                      scope.qual(local), scope, [s for s in _as_list(sources) if isinstance(s, str)],
                      scope.depth + 1, scope.extra)

    def _inline(self, scope: _Scope, path: str, inline: dict[str, Any], option: str,
                desc: dict[str, Any]) -> None:
        """Inline layer dicts (cond branches, masked_computation units): follow their references."""
        inner_from = inline.get("from", [])
        for src in _as_list(inner_from):
            if src == "data" and desc["class"] == "masked_computation":
                continue
            self.ref(scope, path, src, f"{option}.from", True)
        if isinstance(inline.get("class"), str):
            # the inline layer's own layer options (an attention's ``base``, ...): RETURNN resolves
            # them with the holder's ``get_layer`` (``MaskedComputationLayer._create_template``,
            # ``CondLayer``), so in the holder's network
            for opt, name, dep in iter_option_refs(get_layer_class(inline["class"]), inline):
                if not (name == "data" and desc["class"] == "masked_computation"):
                    self.ref(scope, path, name, f"{option}.{opt}", dep)
        sub = inline.get("subnetwork") or (inline.get("unit") if isinstance(inline.get("unit"), dict)
                                           else None)
        if isinstance(sub, dict):
            for inner_desc in sub.values():
                if isinstance(inner_desc, dict):
                    for src in _as_list(inner_desc.get("from", [])):
                        if isinstance(src, str) and src.startswith("base:"):
                            self.ref(scope, path, src[len("base:"):], option, True)
                    if isinstance(inner_desc.get("class"), str):
                        # the inner layers' own layer options (a ``gather``'s ``position``) read from the
                        # holder's network the same way (``base:``)
                        for _, name, dep in iter_option_refs(get_layer_class(inner_desc["class"]), inner_desc):
                            if name.startswith("base:"):
                                self.ref(scope, path, name[len("base:"):], option, dep)

    def _default_from(self, cls: Any, scope: _Scope) -> list[str]:
        if cls.name == "positional_encoding" and scope.kind == "rec":
            return [":i"]
        if cls.default_from is None or self.spec.behavior_version >= 1:
            return [] if self.spec.behavior_version >= 1 else list(cls.default_from or ())
        return list(cls.default_from)

    def build(self) -> LayerGraph:
        self._pending: deque[tuple[_Scope, str, dict[str, Any]]] = deque()
        self.add_scope(self.root)
        while self._pending:
            scope, local, desc = self._pending.popleft()
            self.link_layer(scope, local, desc)
        return self.g


#: Loss classes without a target (``Loss.need_target`` False): a ``loss`` layer of them reads no default one
_LOSSES_WITHOUT_TARGET = frozenset({"mean_l1", "sprint", "fast_bw", "via_layer", "as_is", "search_score"})


def build_graph(spec: NetSpec, *, strict: bool = True) -> nx.DiGraph:
    """Build the layer graph of a network as a ``networkx.DiGraph``.

    With ``strict=False``, a reference to a missing layer from a layer RETURNN would construct
    becomes a node of kind ``missing`` (recorded in ``g.graph["missing"]``) instead of an error,
    so that broken networks can still be drawn and analysed (RETURNN raises ``LayerNotFound``).

    Raises
    ------
    NetworkError : a reference to a layer that does not exist (with close matches), a cycle that
        does not pass through ``prev:``, a layer without ``class``, a layer that is not a dict.

    Examples
    --------
    >>> from searchgraph.loading import load
    >>> g = build_graph(load({"enc": {"class": "linear", "from": "data"},
    ...                       "output": {"class": "softmax", "from": "enc"}}))
    >>> sorted(g.edges)
    [('data:data', 'enc'), ('enc', 'output')]
    """
    return build_layer_graph(spec, strict=strict).to_networkx()


def build_layer_graph(spec: NetSpec, *, strict: bool = True) -> LayerGraph:
    """:func:`build_graph` as a :class:`~searchgraph.graph.layergraph.LayerGraph` (same nodes, edges and
    attributes; no networkx import): what the analysis runs on."""
    collecting = gc.isenabled()
    gc.disable()  # the builder only adds objects: cyclic GC passes cost ~40% at 100k layers
    try:
        return _build_graph(spec, strict=strict)
    finally:
        if collecting:
            gc.enable()


def _build_graph(spec: NetSpec, *, strict: bool) -> LayerGraph:
    builder = _Builder(spec)
    g = builder.build()
    built = constructed_layers(g, search=True) | constructed_layers(g, search=False) \
        if builder.unknown else set()
    g.graph["missing"] = []
    for consumer, ref, why, close in builder.unknown:
        written = close.written or ref
        if consumer not in built:
            g.graph["warnings"].append(f"{consumer}: unknown reference {written!r} ({why}); RETURNN "
                                       f"never constructs this layer, so it does not fail")
            continue
        if not strict:
            node = f"{consumer}:missing:{ref}"
            g.add_node(node, node_kind="missing", **{"class": "missing"}, options={}, unit=None,
                       unit_kind=None, depth=0, local=ref, only_on_search=False, extra=None,
                       known=True)
            g.add_edge(node, consumer, kind="from", kinds=["from"], option="from",
                       options=["from"], ref=ref, dep=True, search=True)
            g.nodes[consumer].setdefault("inputs", []).append((node, "from", "missing", True))
            g.graph["missing"].append((consumer, ref))
            continue
        matches = close()
        hint = f"did you mean {', '.join(repr(c) for c in matches)}?" if matches else \
            "check the spelling, or the prefix (prev:, base:, data:)"
        raise NetworkError(f"unknown reference {written!r}: {why}", where=consumer, hint=hint)
    # RETURNN builds a rec unit's templates lazily (``_SubnetworkRecCell._construct_template``: a
    # layer under construction hands out its uninitialized template), so a cycle inside one unit
    # is no reason to stop here: the real construction then raises (``TFNetwork.construct_layer``),
    # a finding of the checks. ``cycles``: one per unit, its layers in order.
    units: dict[str, set[str]] = {}
    for node, data in g.nodes(data=True):
        if data.get("unit_kind") == "rec" and data.get("node_kind") == "layer":
            units.setdefault(data["unit"], set()).add(node)
    g.graph["cycles"] = [c for members in units.values() if (c := _find_cycle(g, members))]
    in_units = {n for members in units.values() for n in members}
    cycle = _find_cycle(g, None, in_units)
    if cycle:
        raise NetworkError("dependency cycle: " + " -> ".join(cycle + cycle[:1]), where=cycle[0],
                           hint="break the cycle, or use 'prev:' to read the previous frame")
    return g


def _find_cycle(g: nx.DiGraph, only: set[str] | None = None,
                skip: frozenset[str] | set[str] = frozenset()) -> list[str] | None:
    """A cycle over non-``prev`` edges (its nodes in order), or None; iterative DFS, linear time.
    ``only``: the nodes to look at (all if None); ``skip``: nodes to leave out."""
    succ = successor_table(g)
    state: dict[str, int] = dict.fromkeys(skip, 2)  # 1 on the stack, 2 done
    if only is not None:
        state.update((n, 2) for n in g if n not in only)
    for start in g:
        if start in state:
            continue
        stack = [(start, iter(succ[start].items()))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            for nxt, data in it:
                if data["kind"] == "prev" and all(k == "prev" for k in data.get("kinds", ())):
                    continue  # only the previous frame (a `target` beside a prev: is this frame's)
                if _lazy_reuse(g, node, nxt, data):
                    continue
                if state.get(nxt) == 1:
                    return path[path.index(nxt):]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(succ[nxt].items())))
                    break
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def _lazy_reuse(g: nx.DiGraph, src: str, dst: str, data: dict[str, Any]) -> bool:
    """An edge that only shares parameters (``reuse_params``: the layer, or a ``map`` entry's layer),
    which ``ReuseParams.from_config_dict`` asks for with ``optional_get_layer``: a dependency loop (or
    a layer not found) there gives a ``LazyLayerResolver`` instead, so it closes no cycle. A ``map``
    entry's ``layer_output`` is asked for right away."""
    if any(k != "option:reuse_params" for k in data.get("kinds", [data["kind"]])):
        return False
    reuse = (g.nodes[dst].get("options") or {}).get("reuse_params")
    mapping = reuse.get("map") if isinstance(reuse, dict) else None
    ref = data.get("ref")
    return not (isinstance(mapping, dict) and any(
        isinstance(entry, dict) and entry.get("layer_output") in (ref, src.rpartition("/")[2])
        for entry in mapping.values()))


def _is_root(name: str, opts: dict[str, Any], *, search: bool, eval_flag: bool) -> bool:
    if opts.get("only_on_search") and not search or opts.get("only_on_eval") and not eval_flag:
        return False
    return (name == "output" or name.endswith(":output") or bool(opts.get("loss"))
            or bool(opts.get("is_output_layer")) or bool(opts.get("register_as_extern_data")))


def _is_unit_root(local: str, opts: dict[str, Any], unit_kind: str | None, eval_flag: bool) -> bool:
    if local in ("output", "end") if unit_kind == "rec" else local == "output":
        return True
    if opts.get("is_output_layer") or opts.get("need_last"):
        return True
    return bool(opts.get("loss")) and (eval_flag or unit_kind != "rec")


def constructed_layers(g: nx.DiGraph, *, search: bool = True, eval_flag: bool = False) -> set[str]:
    """The nodes RETURNN constructs: everything the roots reach (spec §1.1).

    Roots are ``output``, ``*:output``, layers with ``loss``, ``is_output_layer`` or
    ``register_as_extern_data``; inside a unit ``output``, ``end``, output layers, ``need_last``.
    In search mode, plain data targets are not followed, and ``only_on_search`` layers count.
    The defaults match RETURNN's ``TFNetwork(search_flag=True, train_flag=False, eval_flag=False)``.
    """
    units: dict[str, list[str]] = {}
    todo: list[str] = []
    pred_of = predecessor_table(g)
    for node, data in g.nodes(data=True):
        if data["node_kind"] != "layer":
            continue
        if data["unit"] is None:
            if _is_root(node, data["options"], search=search, eval_flag=eval_flag):
                todo.append(node)
        elif _is_unit_root(data["local"], data["options"], data["unit_kind"], eval_flag):
            units.setdefault(data["unit"], []).append(node)
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(units.get(node, ()))
        owner = g.nodes[node].get("unit")
        if owner is not None and owner not in seen:  # `rec/x` needs `rec` itself
            todo.append(owner)
        for pred, edge in pred_of[node].items():
            if pred not in seen and (edge["search"] or not search):
                todo.append(pred)
    return seen


def without_prev(g: nx.DiGraph) -> nx.DiGraph:
    """A view of the graph without recurrent (``prev``) edges; acyclic for a valid network."""
    import networkx as nx

    g = as_networkx(g)
    return nx.subgraph_view(g, filter_edge=lambda u, v: g.edges[u, v]["kind"] != "prev"
                            and "prev" not in g.edges[u, v]["kinds"][:1])


def unit_layers(g: nx.DiGraph, unit: str | None) -> list[str]:
    """The layers directly inside ``unit`` (None: the root network), in insertion order."""
    return [n for n, d in g.nodes(data=True) if d.get("unit") == unit and d["node_kind"] != "data"]


def graph_to_json(g: nx.DiGraph) -> dict[str, Any]:
    """networkx node-link data, with option values made JSON-safe."""
    import networkx as nx

    data = nx.node_link_data(as_networkx(g), edges="links")
    for node in data["nodes"]:
        node["options"] = _json_safe(node.get("options", {}))
    return data


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
