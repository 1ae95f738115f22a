"""Run the RETURNN oracle (``runner.py``) from tests: subprocesses, a disk cache, the shared corpus.

``run_oracle(cases)`` builds each case with RETURNN in search mode in a separate Python process (this
process never imports TensorFlow) and returns id -> result in the corpus ``*.oracle.json`` format
(plus ``error_layer``, ``error_full``, ``translations``). Results are cached in
``<repo>/.oracle-cache/`` under a hash of the case content, ``runner.py``'s source and the
RETURNN / TensorFlow versions, so reruns are instant; a fresh clone (CI) runs RETURNN for real.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from searchgraph.search.returnn import dist_version

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "searchgraph" / "search" / "returnn_build.py"  # run as -m searchgraph.search.returnn_build
CACHE_DIR = ROOT / ".oracle-cache"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The case fields the runner reads; everything else (description, notes, source, ...) is not hashed.
CASE_FIELDS = ("network", "extern_data", "num_outputs", "num_inputs", "config", "flags")
DEFAULT_TIMEOUT = 900.0


# ----------------------------------------------------------------------------------------------------
# Availability


def returnn_version() -> str | None:
    """The installed RETURNN version (from package metadata; nothing is imported), or None."""
    return dist_version("returnn")


def tensorflow_version() -> str | None:
    """The installed TensorFlow version (tensorflow-cpu or tensorflow), or None."""
    return dist_version("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tf-nightly")


def returnn_available() -> bool:
    """Whether RETURNN and TensorFlow are importable in this interpreter (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("returnn", "tensorflow"))


def require_returnn() -> None:
    """Skip the calling test when RETURNN is missing; in CI (``CI=true``) fail instead."""
    import pytest

    if returnn_available():
        return
    why = "RETURNN and TensorFlow are needed for the oracle (pip install -e '.[test]')"
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


# ----------------------------------------------------------------------------------------------------
# Corpus


def corpus_dir() -> Path | None:
    """``<repo>/../shared/corpus`` (``SEARCHGRAPH_CORPUS`` overrides), or None when absent."""
    path = Path(os.environ.get("SEARCHGRAPH_CORPUS", ROOT.parent / "shared" / "corpus"))
    return path if path.is_dir() else None


def corpus_raw_dir() -> Path | None:
    """The corpus' original config files: ``corpus-raw`` beside the corpus (``../shared/corpus-raw``),
    or None when absent."""
    corpus = Path(os.environ.get("SEARCHGRAPH_CORPUS", ROOT.parent / "shared" / "corpus"))
    path = corpus.parent / "corpus-raw"
    return path if path.is_dir() else None


def corpus_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, case dict, oracle dict) for every corpus case; ids are ``group/name``. [] without corpus."""
    root = corpus_dir()
    if root is None:
        return []
    out = []
    for path in sorted(root.glob("*/*.json")):
        if path.name.endswith(".oracle.json"):
            continue
        oracle_path = path.with_name(path.name[: -len(".json")] + ".oracle.json")
        if not oracle_path.exists():
            continue
        cid = f"{path.parent.name}/{path.stem}"
        case = json.loads(path.read_text())
        case["id"] = cid
        out.append((cid, case, json.loads(oracle_path.read_text())))
    return out


# ----------------------------------------------------------------------------------------------------
# Cache


def case_key(case: dict[str, Any]) -> str:
    """Cache key: hash of the case's relevant content, the runner module's source and the versions."""
    h = hashlib.sha256()
    h.update(json.dumps({k: case.get(k) for k in CASE_FIELDS}, sort_keys=True).encode())
    h.update(RUNNER.read_bytes())
    h.update(f"returnn={returnn_version()} tf={tensorflow_version()} py={sys.version_info[:2]}".encode())
    return h.hexdigest()[:32]


def _cache_get(key: str) -> dict[str, Any] | None:
    path = CACHE_DIR / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cache_put(key: str, result: dict[str, Any]) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=CACHE_DIR)
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, CACHE_DIR / f"{key}.json")


# ----------------------------------------------------------------------------------------------------
# Running


def _case_weight(case: dict[str, Any]) -> int:
    """Rough build cost: the size of the net dict (RETURNN's time grows with the number of layers)."""
    return len(json.dumps(case.get("network"), default=str))


def split_cases(cases: list[dict[str, Any]], jobs: int) -> list[list[dict[str, Any]]]:
    """Spread cases over ``jobs`` groups, biggest first onto the lightest group (LPT)."""
    groups: list[list[dict[str, Any]]] = [[] for _ in range(max(1, jobs))]
    loads = [0] * len(groups)
    for case in sorted(cases, key=_case_weight, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(case)
        loads[i] += _case_weight(case) + 2000  # + per-case overhead
    return [g for g in groups if g]


def _crash_result(error: str, log_tail: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": error,
        "search_error": None,
        "error_layer": None,
        "error_full": log_tail[-4000:],
        "construct_s": None,
        "layers": {},
        "translations": [],
        "runner_crash": True,
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CUDA_VISIBLE_DEVICES"] = ""  # the corpus was made on the CPU
    return env


def _run_groups(groups: list[list[dict[str, Any]]], timeout: float) -> dict[str, dict[str, Any]]:
    """Run one runner subprocess per group in parallel; id -> result, crashes marked per case."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="searchgraph-oracle-") as tmp:
        procs = []
        for n, group in enumerate(groups):
            inp, out, log = (Path(tmp, f"{name}{n}.json") for name in ("in", "out", "log"))
            inp.write_text(json.dumps(group))
            log_f = log.open("w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "searchgraph.search.returnn_build", str(inp), str(out)],
                stdout=log_f,
                stderr=subprocess.STDOUT,
                env=_env(),
                cwd=str(ROOT),
            )
            procs.append((proc, group, out, log, log_f))
        # a group's time grows with its cases (a cold clone builds the corpus' largest networks, ~1 min
        # each, on a loaded machine): ``timeout`` plus a minute per case of the largest group
        deadline = time.monotonic() + timeout + 60.0 * max(len(group) for group in groups)
        for proc, group, out, log, log_f in procs:
            try:
                why = f"runner exited with status {proc.wait(timeout=max(1.0, deadline - time.monotonic()))}"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                why = f"runner timed out after {timeout:.0f}s"
            log_f.close()
            got: dict[str, Any] = {}
            if out.exists():
                try:
                    got = json.loads(out.read_text())
                except ValueError:
                    got = {}
            results.update({cid: res for cid, res in got.items() if cid in {c["id"] for c in group}})
            missing = [c["id"] for c in group if c["id"] not in got]
            if missing:
                tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
                # The first missing case is the one the runner died on; the rest never started.
                results[missing[0]] = _crash_result(f"RunnerCrash: {why}", tail)
                for cid in missing[1:]:
                    results[cid] = _crash_result("RunnerCrash: not run, an earlier case crashed", "")
    return results


def default_jobs() -> int:
    """Parallel RETURNN runners: one per core, at most 4, and at most one per 2 GiB of free memory
    (a runner holds TensorFlow, RETURNN and a network's graph); 2 on a two-core machine."""
    cores = os.cpu_count() or 1
    try:
        free_gib = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        free_gib = 4.0
    return max(1, min(4, cores, int(free_gib // 2)))


def run_oracle(
    cases: list[dict[str, Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    use_cache: bool = True,
) -> dict[str, dict[str, Any]]:
    """Build every case with RETURNN (search mode, CPU) in subprocesses; id -> result.

    Cases need an ``id``. Cached results are reused; the rest run in up to ``jobs`` parallel
    subprocesses (default: ``default_jobs()``, or 1 for a handful of cases), each with ``timeout`` seconds. Cases that
    follow a crashing case in the same subprocess are retried in a new one. Crashed / timed-out cases
    get ``ok: False`` and ``runner_crash: True`` and are not cached.
    """
    ids = [c["id"] for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("case ids must be unique")
    results: dict[str, dict[str, Any]] = {}
    keys = {c["id"]: case_key(c) for c in cases}
    pending = []
    for case in cases:
        cached = _cache_get(keys[case["id"]]) if use_cache else None
        if cached is not None:
            results[case["id"]] = cached
        else:
            pending.append(case)
    if jobs is None:
        jobs = int(os.environ.get("SEARCHGRAPH_ORACLE_JOBS", "0")) or default_jobs()
    while pending:
        n_jobs = jobs if len(pending) >= 4 else 1
        got = _run_groups(split_cases(pending, n_jobs), timeout)
        retry = []
        for case in pending:
            res = got[case["id"]]
            if res.get("runner_crash") and res["error"].startswith("RunnerCrash: not run"):
                retry.append(case)
                continue
            results[case["id"]] = res
            if use_cache and not res.get("runner_crash"):
                _cache_put(keys[case["id"]], res)
        if len(retry) == len(pending):  # no progress (should not happen); keep the crash answers
            results.update({c["id"]: got[c["id"]] for c in retry})
            break
        pending = retry
    return {cid: results[cid] for cid in ids}


#: Where searchgraph is known to differ from RETURNN, with the reason. Tests mark these as strict
#: xfails: fixing one makes its test fail until it is removed from here.
_CUSTOM_CLASS = ("uses a custom layer class this RETURNN does not know (so RETURNN's rec template "
                 "construction fails, leaving a target lookup behind); searchgraph only warns, as "
                 "the class exists where the config is used")
KNOWN_GAPS = {
    "curated/nmt-rnn-hmm": _CUSTOM_CLASS,
    "curated/nmt-topic-factorization": _CUSTOM_CLASS,
    "curated/nmt-trafo-hmm-k5": _CUSTOM_CLASS,
    "curated/rexp-2020-latent-att-lstm": _CUSTOM_CLASS,
    "curated/rexp-2020-latent-att-trafo": _CUSTOM_CLASS,
    "curated/rexp-2021-lma-hard-segm-prob": "a shape assertion on a dim whose size carries a beam: "
                                            "searchgraph does not infer shapes",
}


def analyze_case(case: dict[str, Any]) -> Any:
    """searchgraph's analysis of a case, with the same network changes RETURNN's run gets."""
    from searchgraph import analyze
    from searchgraph.loading import netspec_from_settings

    from .runner import prepare_network

    settings = {**case, "network": prepare_network(case["network"])}
    settings.update(case.get("config") or {})
    return analyze(netspec_from_settings(settings, case.get("id", "<case>")))


CASES_DIR = Path(__file__).with_name("cases")


def own_cases() -> list[tuple[str, dict[str, Any]]]:
    """Our own oracle networks (``cases/*.json``): id -> case."""
    return [(p.stem, json.loads(p.read_text())) for p in sorted(CASES_DIR.glob("*.json"))]


#: Corpus networks RETURNN builds live in one test run: a seeded sample, for CI's time (the recorded
#: answers cover every network in ``test_corpus_provenance.py``); ``SEARCHGRAPH_CORPUS_LIVE``: a
#: number, or ``all`` (the full check, reported separately).
DEFAULT_CORPUS_LIVE = 30


def seeded_sample(items: list[Any], env: str, default: int, seed: int) -> list[Any]:
    """A seeded sample of ``items`` (tuples led by their id) in id order: the environment variable
    ``env`` says how many (a number, or ``all``), ``default`` when unset."""
    want = os.environ.get(env, str(default))
    if want == "all" or len(items) <= int(want):
        return list(items)
    return sorted(random.Random(seed).sample(items, int(want)), key=lambda item: item[0])


def live_corpus_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The corpus cases built live with RETURNN: a seeded sample (``SEARCHGRAPH_CORPUS_LIVE``)."""
    cases = sorted(corpus_cases(), key=lambda item: item[0])
    return seeded_sample(cases, "SEARCHGRAPH_CORPUS_LIVE", DEFAULT_CORPUS_LIVE, 20261206)


def all_cases() -> list[tuple[str, dict[str, Any]]]:
    """The shared corpus' live sample (when present) and our own cases."""
    return [(cid, case) for cid, case, _ in live_corpus_cases()] + own_cases()


_WHERE = {"net": "net", "loop": "loop", "in": "input", "out": "output"}


def disagreements(analysis: Any, layers: dict[str, dict[str, Any]]) -> list[str]:
    """Where searchgraph's analysis differs from RETURNN's per-layer answer (the oracle's
    ``layers``): beam, beam size, chain, choice and placement, and errors on a network RETURNN built."""
    out = []
    for name, want in layers.items():
        got = analysis.layers.get(name)
        if got is None:
            out.append(f"{name}: RETURNN builds it, searchgraph does not")
            continue
        have = got.to_json()
        for field in ("beam", "beam_size", "beam_chain", "choice"):
            if have[field] != want[field]:
                out.append(f"{name}.{field}: searchgraph {have[field]!r}, RETURNN {want[field]!r}")
        if got.placement != _WHERE[want["where"]]:
            out.append(f"{name}.where: searchgraph {got.placement!r}, RETURNN {want['where']!r}")
    out.extend(f"{name}: searchgraph predicts {err.splitlines()[0]!r}, RETURNN builds it"
               for name, err in analysis.errors.items())
    return out
