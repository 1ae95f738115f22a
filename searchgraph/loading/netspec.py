"""`NetSpec`: a RETURNN network as plain data, the input of every later stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import LoadReport

__all__ = ["NetSpec"]


@dataclass
class NetSpec:
    """A network dict plus the config settings that influence how RETURNN reads it.

    Attributes
    ----------
    network : the net dict (layer name -> layer dict), as RETURNN's ``network`` config value.
    extern_data : RETURNN's ``extern_data`` (or None when the config uses ``num_outputs``).
    num_outputs, num_inputs : the older way of declaring data.
    target : the config's default target (``target``), default ``"classes"``.
    search_output_layer : the config's ``search_output_layer``.
    behavior_version : RETURNN's ``behavior_version`` (0 when unset).
    source : where it came from: a path, or ``"<dict>"``.
    settings : every other top-level setting that was read (for display only).
    report : how it was loaded (mode, epoch, stand-ins, refused side effects), when it came from a file.
    """

    network: dict[str, Any]
    extern_data: dict[str, Any] | None = None
    num_outputs: dict[str, Any] | None = None
    num_inputs: int | None = None
    target: str | None = None
    search_output_layer: str | list[str] | None = None
    behavior_version: int = 0
    source: str = "<dict>"
    settings: dict[str, Any] = field(default_factory=dict)
    report: LoadReport | None = field(default=None, repr=False, compare=False)

    @property
    def default_target(self) -> str:
        """The target RETURNN uses when a layer says none (``target`` setting, else ``classes``)."""
        return self.target or "classes"

    def data_keys(self) -> list[str]:
        """The extern data keys declared by the config (``extern_data`` or ``num_outputs``)."""
        keys: list[str] = []
        if self.extern_data:
            keys.extend(self.extern_data)
        if self.num_outputs:
            keys.extend(k for k in self.num_outputs if k not in keys)
        if "data" not in keys and (self.num_inputs is not None or not keys):
            keys.insert(0, "data")
        return keys
