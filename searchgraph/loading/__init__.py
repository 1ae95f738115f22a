"""Stage 1, loading: RETURNN config files and JSON into a :class:`~searchgraph.loading.netspec.NetSpec`.

``config`` holds :func:`load`; ``safe`` evaluates a config from its syntax tree without running it
(``values`` is its value model); ``trusted`` runs it the way RETURNN does, in a sandboxed subprocess.
"""

from .config import load, netspec_from_settings

__all__ = ["load", "netspec_from_settings"]
