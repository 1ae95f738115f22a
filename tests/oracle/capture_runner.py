"""Subprocess entry point for :func:`searchgraph.search.returnn.capture_search` in the tests.

``python tests/oracle/capture_runner.py REQUEST.json OUT.npz``: the package's capture worker with the
oracle runner's corpus-style network preparation (``runner.prepare_network``: native LSTM units become
``standardlstm``, ...; ``make_dims`` / ``prepare_extern_data`` for ``__dim__`` placeholders; ``setup``:
graph mode, CPU, quiet).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import make_dims, prepare_extern_data, prepare_network, setup

from searchgraph.search.returnn import Hooks, main

HOOKS = Hooks(setup=setup, prepare_network=prepare_network, make_dims=make_dims,
              prepare_extern_data=prepare_extern_data)

if __name__ == "__main__":
    sys.exit(main(sys.argv, HOOKS))
