"""Sphinx configuration of searchgraph's documentation (markdown pages through myst-parser).

Build: ``.venv/bin/sphinx-build -W -b html docs docs/_build/html`` (warnings are errors, as in CI).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed

from searchgraph import __version__

project = "searchgraph"
author = "searchgraph contributors"
copyright = "searchgraph contributors"
version = release = __version__

extensions = ["myst_parser", "searchgraph.interfaces.sphinx"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", ".DS_Store"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"searchgraph {version}"
html_static_path: list[str] = []

#: Pages Sphinx's HTML builder writes itself: a document with one of these names is silently replaced.
_RESERVED = ("search", "genindex", "py-modindex")


def _check_reserved(app: Any, env: Any, docnames: list[str]) -> None:
    from sphinx.util import logging

    for name in sorted(set(_RESERVED) & set(env.found_docs)):
        logging.getLogger("searchgraph.docs").warning(
            f"docs/{name}: Sphinx writes its own {name}.html over this page; rename the file",
            location=name)


def setup(app: Any) -> None:
    app.connect("env-before-read-docs", _check_reserved)
