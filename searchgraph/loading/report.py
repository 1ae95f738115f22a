"""`LoadReport`: what loading a config did, so a user knows what they are looking at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadNote", "LoadReport"]


@dataclass(frozen=True)
class LoadNote:
    """One thing loading stood in for or refused: ``what`` happened, ``where`` (``file:line``)."""

    what: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what


@dataclass
class LoadReport:
    """How a network was loaded.

    Attributes
    ----------
    source : the path (or ``"<dict>"``).
    mode : ``"json"``, ``"dict"``, ``"safe"`` (evaluated from the syntax tree, nothing run),
        ``"trusted"`` (executed the way RETURNN does, in a sandboxed subprocess).
    loader : for trusted mode, whose loader ran the file: ``"returnn <version>"`` or
        ``"emulated (RETURNN not installed)"``; empty otherwise.
    epoch : the epoch passed to ``get_network(epoch=...)``, or None when the config has none.
    network_from : ``"network"``, ``"get_network(epoch=N)"``, ...; with a ``pretrain`` config, the
        final (non-pretrain) network is the one loaded, and this says so.
    overrides : settings set from the command line (``--set key=value`` / ``++key value``), and
        ``task`` (``"search"``), as RETURNN's ``rnn.py CONFIG ++task search`` sets it.
    stand_ins : modules, files and values that were not available and were replaced by a stand-in.
    refused : side effects the config attempted that were not carried out (file writes,
        sub-processes, network access).
    notes : anything else worth knowing (e.g. an opaque value the network does not depend on).
    """

    source: str
    mode: str
    loader: str = ""
    epoch: int | None = None
    network_from: str = "network"
    overrides: dict[str, Any] = field(default_factory=dict)
    stand_ins: list[LoadNote] = field(default_factory=list)
    refused: list[LoadNote] = field(default_factory=list)
    notes: list[LoadNote] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (notes as ``{"what", "where"}``)."""
        def notes(items: list[LoadNote]) -> list[dict[str, str]]:
            return [{"what": n.what, "where": n.where} for n in items]

        return {"source": self.source, "mode": self.mode, "loader": self.loader, "epoch": self.epoch,
                "network_from": self.network_from, "overrides": dict(self.overrides),
                "stand_ins": notes(self.stand_ins), "refused": notes(self.refused),
                "notes": notes(self.notes)}
