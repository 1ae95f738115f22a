"""Shared pieces of the CLI tests: running ``searchgraph`` in-process and small networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from searchgraph.interfaces.cli import main

EXTERN = {"data": {"dim": 5}, "classes": {"dim": 6, "sparse": True}}

#: Two independent choices in one frame, combined in one layer that the loop needs: RETURNN raises
#: "Cannot combine beams" at output/both (while it builds the loop's templates); diagnose: SG101.
TWO_CHOICES: dict[str, Any] = {"network": {
    "output": {"class": "rec", "from": [], "max_seq_len": 10, "target": "classes", "unit": {
        "prob_a": {"class": "softmax", "from": "prev:output", "target": "classes"},
        "a": {"class": "choice", "from": "prob_a", "beam_size": 3, "target": "classes", "initial_output": 0},
        "prob_b": {"class": "softmax", "from": "prev:output", "target": "classes"},
        "b": {"class": "choice", "from": "prob_b", "beam_size": 3, "target": "classes", "initial_output": 0},
        "both": {"class": "combine", "kind": "maximum", "from": ["a", "b"]},
        "output": {"class": "copy", "from": "both", "initial_output": 0},
        "end": {"class": "compare", "from": "output", "value": 0}}}},
    "extern_data": EXTERN}


def write(tmp_path: Path, data: Any, name: str = "decoder.json") -> str:
    """``data`` as a JSON network file in ``tmp_path``; its path."""
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=1))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``searchgraph ARGV`` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(text: str) -> str:
    """Rich wraps long messages; compare them with whitespace collapsed."""
    return " ".join(text.split())
