"""The RETURNN results for every oracle case, computed once per session (and cached on disk)."""

from __future__ import annotations

from typing import Any

import pytest

from .oracle import all_cases, require_returnn, run_oracle


@pytest.fixture(scope="session")
def returnn_results() -> dict[str, dict[str, Any]]:
    require_returnn()
    return run_oracle([{**case, "id": cid} for cid, case in all_cases()])
