"""``--returnn`` against the oracle: RETURNN's answer through the package's verification worker
(:func:`searchgraph.search.returnn_verify.verify_cases`) must equal the oracle runner's, and the
verification findings must list no static/RETURNN difference (SG302).

Shared by ``test_verify_oracle.py`` (our own cases) and ``test_corpus_verify.py`` (the corpus).
"""

from __future__ import annotations

from typing import Any

from searchgraph.checks.verify import verify_findings

from .oracle import analyze_case, returnn_version, seeded_sample

#: Cases per run of the worker tests (``SEARCHGRAPH_VERIFY_SAMPLE``: a number, or ``all``).
DEFAULT_SAMPLE = 8


def sample(items: list[Any], seed: int = 15) -> list[Any]:
    """A seeded sample of ``items`` (``SEARCHGRAPH_VERIFY_SAMPLE`` cases, default 8; ``all``: all)."""
    return seeded_sample(items, "SEARCHGRAPH_VERIFY_SAMPLE", DEFAULT_SAMPLE, seed)


def error_type(oracle: dict[str, Any]) -> str | None:
    """The exception type of an oracle result (``"Type: message"``)."""
    return oracle["error"].split(":", 1)[0] if oracle.get("error") else None


def as_answer(oracle: dict[str, Any]) -> dict[str, Any]:
    """An oracle result in the verification worker's format (construction only: no run). The runner
    records ``unknown_classes`` as the worker does (a cached result without it is from an older
    runner source, which the cache key excludes)."""
    return {"ok": oracle["ok"], "stage": "run" if oracle["ok"] else "construct", "error": oracle.get("error"),
            "error_type": error_type(oracle), "error_layer": oracle.get("error_layer"),
            "layers": oracle.get("layers") or {}, "search_related": oracle.get("search_related"),
            "custom": {}, "mismatches": [], "unknown_classes": oracle["unknown_classes"],
            "returnn_version": returnn_version()}


def findings_against(cid: str, case: dict[str, Any], answer: dict[str, Any]) -> list[Any]:
    """The verification findings of ``answer`` next to searchgraph's analysis of the case."""
    return verify_findings(analyze_case({**case, "id": cid}), answer)


def compare_worker(answer: dict[str, Any], oracle: dict[str, Any]) -> list[str]:
    """Where the verification worker's construction differs from the oracle runner's."""
    built = answer.get("stage") == "run"
    out = []
    if answer.get("unknown_classes") != oracle.get("unknown_classes"):
        out.append(f"unknown classes: worker {answer.get('unknown_classes')}, "
                   f"oracle {oracle.get('unknown_classes')}")
    if built != oracle["ok"]:
        out.append(f"built: worker {built} ({answer.get('error')}), "
                   f"oracle {oracle['ok']} ({oracle.get('error')})")
    elif not built:
        if answer.get("error_type") != error_type(oracle):
            out.append(f"error type: worker {answer.get('error_type')}, oracle {error_type(oracle)}")
        if answer.get("error_layer") != oracle.get("error_layer"):
            out.append(f"error layer: worker {answer.get('error_layer')}, oracle {oracle.get('error_layer')}")
    elif answer.get("layers") != oracle.get("layers"):
        differ = sorted(k for k in set(answer["layers"]) | set(oracle["layers"])
                        if answer["layers"].get(k) != oracle["layers"].get(k))
        out.append(f"layers differ: {differ[:8]}")
    return out


def check_verdict(findings: list[Any], answer: dict[str, Any]) -> None:
    """SG301 iff RETURNN raised, on RETURNN's layer with RETURNN's exception type; no SG302."""
    raised = [f for f in findings if f.code == "SG301"]
    if answer.get("error"):
        assert [f.layer for f in raised] == [answer.get("error_layer") or "(network)"]
        assert raised[0].returnn_message.startswith(f"{answer['error_type']}:")
    else:
        assert raised == []
    assert [(f.layer, f.reason) for f in findings if f.code == "SG302"] == []
