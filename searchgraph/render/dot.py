"""Small, deterministic DOT writing helpers: quoting, attribute lists, HTML-like labels, metadata.

Every builder emits statements in a fixed order from ordered inputs, so the same input gives
byte-identical DOT. The metadata comment (:func:`meta_comment`) carries what the HTML page's
script needs (each node's inputs and beam path); ``dot`` ignores it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["META_PREFIX", "attrs", "html_escape", "meta_comment", "parse_meta", "quote"]

META_PREFIX = "// searchgraph-meta "
_META = re.compile(r"^[ \t]*// searchgraph-meta (.*)$", re.MULTILINE)
_CHUNK = 8000  # dot's scanner rejects tokens (a comment is one) over 16384 characters


def quote(text: str) -> str:
    """A DOT double-quoted string; newlines become ``\\n`` (centred line breaks)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r\n", "\n").replace("\n", "\\n") + '"'


def html_escape(text: str) -> str:
    """Text for an HTML-like label (``<...>``)."""
    return html.escape(str(text), quote=True)


def attrs(values: Mapping[str, Any]) -> str:
    """`` [a="x", b="y"]`` for the non-None values, in the mapping's order; ``""`` if none.

    A value wrapped as ``("html", text)`` is written as an HTML-like label ``<text>``.
    """
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "html":
            parts.append(f"{key}=<{value[1]}>")
        elif isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={quote(value)}")
    return f" [{', '.join(parts)}]" if parts else ""


def meta_comment(meta: Mapping[str, Any]) -> list[str]:
    """DOT comment lines holding ``meta`` as compact, key-sorted JSON, cut into short pieces."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return [META_PREFIX + text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)]


def parse_meta(dot_source: str) -> dict[str, Any]:
    """The metadata :func:`meta_comment` put into ``dot_source`` (``{}`` if there is none)."""
    text = "".join(_META.findall(dot_source))
    return json.loads(text) if text else {}


def lines(statements: Iterable[str], indent: int) -> list[str]:
    """Indented statement lines."""
    pad = "  " * indent
    return [pad + s for s in statements]
