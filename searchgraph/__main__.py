"""``python -m searchgraph``: the command line (with no command: the demo on the bundled example)."""

from .interfaces.cli import main

raise SystemExit(main())
