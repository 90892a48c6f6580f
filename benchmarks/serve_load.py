"""Load test of a running ``python -m hncf serve``: page submits and API calls, latency percentiles.

    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --requests 200 --out benchmarks/results/serve_load.json

Half the requests are page submits (POST / with one to three ticks, then the redirected GET /, timed
together as one submit, each simulated visitor with its own cookie jar), half are ``GET /api/suggest``
calls with one to five liked ids. Ids come from the server's own starter list. Only loopback URLs are
accepted, every request has a timeout and the whole run a deadline. Prints and writes JSON: counts,
errors and p50 / p95 / max latency in milliseconds, overall and per kind.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np


def _check_loopback(url: str) -> None:
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"serve_load: refusing non-loopback URL {url!r}")


def _timed(opener, req, timeout):
    t = time.perf_counter()
    with opener.open(req, timeout=timeout) as r:
        body = r.read()
        status = r.status
    return (time.perf_counter() - t) * 1000.0, status, body


def run_load(url: str, n_requests: int = 200, seed: int = 0, timeout: float = 10.0, deadline: float = 300.0,
             visitors: int = 20) -> dict:
    """Send ``n_requests`` (half submits, half API calls, interleaved); return counts and latencies."""
    _check_loopback(url)
    url = url.rstrip("/")
    rng = np.random.default_rng(seed)
    plain = urllib.request.build_opener()
    starter = json.loads(_timed(plain, f"{url}/api/suggest?k=50", timeout)[2])
    ids = [s["id"] for s in starter["suggestions"]]
    if not ids:
        raise SystemExit("serve_load: the server suggested no titles")
    jars = [urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            for _ in range(visitors)]
    lat = {"submit": [], "api": []}
    errors = []
    t_end = time.perf_counter() + deadline
    for k in range(n_requests):
        if time.perf_counter() > t_end:
            errors.append({"request": k, "error": "deadline reached"})
            break
        kind = "submit" if k % 2 == 0 else "api"
        try:
            if kind == "submit":
                ticks = rng.choice(ids, size=int(rng.integers(1, 4)), replace=False)
                data = urllib.parse.urlencode([("liked", t) for t in ticks]).encode()
                ms, status, body = _timed(jars[k // 2 % visitors], urllib.request.Request(f"{url}/", data=data),
                                          timeout)
                ok = status == 200 and b"data-item-id" in body
            else:
                liked = ",".join(rng.choice(ids, size=int(rng.integers(1, 6)), replace=False))
                ms, status, body = _timed(plain, f"{url}/api/suggest?liked={liked}&k=5", timeout)
                ok = status == 200 and len(json.loads(body)["suggestions"]) == 5
            if not ok:
                errors.append({"request": k, "kind": kind, "error": f"status {status} or bad body"})
            lat[kind].append(ms)
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append({"request": k, "kind": kind, "error": f"{type(e).__name__}: {e}"})

    def stats(v):
        v = np.asarray(v)
        return {"n": int(len(v)), "p50_ms": float(np.percentile(v, 50)) if len(v) else None,
                "p95_ms": float(np.percentile(v, 95)) if len(v) else None,
                "max_ms": float(v.max()) if len(v) else None}

    everything = lat["submit"] + lat["api"]
    return {"url": url, "requests": n_requests, "completed": len(everything), "errors": len(errors),
            "error_samples": errors[:10], "overall": stats(everything), "submit": stats(lat["submit"]),
            "api": stats(lat["api"])}


def main(argv=None) -> int:
    """Command-line entry point; exit status 1 when any request failed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="base URL of the server (loopback only)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--deadline", type=float, default=300.0, help="seconds for the whole run")
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--label", default="", help="free text stored with the result (catalogue, mode)")
    args = p.parse_args(argv)
    res = run_load(args.url, args.requests, args.seed, args.timeout, args.deadline)
    res["label"] = args.label
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0 if res["errors"] == 0 and res["completed"] == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
