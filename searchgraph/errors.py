"""Exceptions for unusable input: unreadable files, things that are not networks.

Errors *in* a network that RETURNN would raise during search are not exceptions here; they are
results (see :mod:`searchgraph.analysis`). These exceptions carry enough context (file and line,
or the layer path) for the CLI to print a one-paragraph message without a traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "NetworkError", "SearchgraphError"]


class SearchgraphError(Exception):
    """Base class: an input searchgraph cannot use.

    Parameters
    ----------
    message : what is wrong, in one sentence.
    where : the file:line or layer path (``output/s``) it concerns.
    hint : what to do about it.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class ConfigError(SearchgraphError):
    """A config file that cannot be read (syntax, unsupported construct in safe mode, no network)."""


class NetworkError(SearchgraphError):
    """A network dict that is not a valid RETURNN network (bad reference, cycle, missing class)."""
