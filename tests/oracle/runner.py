"""The oracle runner now lives in the package: :mod:`searchgraph.search.returnn_build`.

This name stays for the tests (``from . import runner``, ``capture_runner.py``'s ``from runner import``):
importing it gives the package module itself; ``python tests/oracle/runner.py IN.json OUT.json`` still runs
it (``python -m searchgraph.search.returnn_build IN.json OUT.json`` is the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from searchgraph.search import returnn_build

if __name__ == "__main__":
    sys.exit(returnn_build.main(sys.argv))
sys.modules[__name__] = returnn_build
