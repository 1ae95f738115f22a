"""The rich view of ``searchgraph load``: how a config was loaded, so a user knows what they look at."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..loading.netspec import NetSpec
from ..loading.report import LoadNote

__all__ = ["load_report_view"]

_MODES = {"safe": "safe (evaluated from the syntax tree; nothing of the config was run)",
          "trusted": "trusted (executed as RETURNN does, in a sandboxed subprocess)",
          "json": "JSON", "dict": "a Python dict"}


def load_report_view(spec: NetSpec, layers: int) -> Group:
    """A table of what loading did (mode, epoch, network source, overrides), then its notes by kind."""
    report = spec.report
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("file", spec.source)
    if report is None:
        table.add_row("layers", str(layers))
        return Group(table)
    table.add_row("mode", _MODES.get(report.mode, report.mode) + (f"; loader: {report.loader}" if report.loader
                                                                   else ""))
    if report.epoch is not None:
        table.add_row("epoch", str(report.epoch))
    table.add_row("network", f"{report.network_from}: {layers} layers")
    if report.overrides:
        table.add_row("command line", ", ".join(f"{k}={v}" for k, v in report.overrides.items()))
    parts: list[Any] = [table]
    for title, notes, style in (("stand-ins (not on this machine, or not read)", report.stand_ins, "yellow"),
                                ("refused side effects (not carried out)", report.refused, "red"),
                                ("notes", report.notes, "dim")):
        if notes:
            parts.append(Text(f"\n{title}: {len(notes)}", style=f"bold {style}"))
            parts.extend(_note(n) for n in notes[:40])
            if len(notes) > 40:
                parts.append(Text(f"  ... and {len(notes) - 40} more (--json lists them all)"))
    return Group(*parts)


def _note(note: LoadNote) -> Text:
    text = Text("  ")
    if note.where:
        text.append(note.where, style="cyan")
        text.append(": ")
    text.append(note.what)
    return text
