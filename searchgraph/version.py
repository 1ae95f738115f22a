"""searchgraph's version (the package root and the interfaces show it)."""

__version__ = "0.1.0"
