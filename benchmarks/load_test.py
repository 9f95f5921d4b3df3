"""A loopback load test of ``masterpiece serve`` (issue 9), bounded in count and time.

    python benchmarks/load_test.py                     # 200 requests from 8 clients
    python benchmarks/load_test.py --requests 40 --clients 4 --time-limit 60

Starts the service (``python -m masterpiece.cli serve``, bundled compact model, preloaded) on
127.0.0.1 at a free port in a child process, then:

1. warm-up: a few requests, not counted;
2. baseline: ``--baseline`` requests from one client, one after the other (the latency of an
   idle server, measured in the same run);
3. load: ``--requests`` requests from ``--clients`` concurrent clients (httpx), each sending
   the same photograph and checking the answer is a PNG; the server's resident memory (RSS)
   is read at the start, the middle and the end of this phase;
4. bad inputs against the running server: a non-image, a decompression bomb, an oversized
   upload and wrong fields, with the status each got.

Reports throughput, p50/p90/p99 latency, failed requests and the RSS figures on stdout and in
``benchmarks/results/load_test.json`` (with the commit and versions). The server runs with its
default limits (``--server-arg`` adds ``masterpiece serve`` options).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "load_test.json"
PHOTO = REPO / "examples" / "astronaut_bw.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--baseline", type=int, default=20, help="sequential requests first")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for the load phase")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--server-arg", action="append", default=[], help="extra serve option")
    args = parser.parse_args()

    photo = PHOTO.read_bytes() if PHOTO.exists() else _generated_photo()
    port = _free_port()
    server = _start_server(port, args.server_arg)
    try:
        base = f"http://127.0.0.1:{port}"
        limits = _wait_until_up(base, server)
        results = asyncio.run(_measure(base, photo, server.pid, args))
        results["bad_inputs"] = _bad_inputs(base, limits)
        results["server_limits"] = limits
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    results["environment"] = _environment()
    results["photo"] = {"bytes": len(photo), "size": list(Image.open(io.BytesIO(photo)).size)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    _print_summary(results)
    print(f"written to {args.output}")
    return 0 if results["load"]["failed"] == 0 else 1


# ------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(port: int, extra: list[str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "masterpiece.cli",
        "serve",
        "--port",
        str(port),
        "--model",
        "compact",
        "--preload",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_until_up(base: str, server: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).json()["limits"]
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start in time")


def _rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (Linux), None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


# ------------------------------------------------------------------ measuring


async def _one(client: httpx.AsyncClient, photo: bytes) -> tuple[float, int, str]:
    start = time.perf_counter()
    try:
        response = await client.post("/v1/colorize", files={"file": ("photo.jpg", photo)})
        status = response.status_code
        ok = status == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
        problem = "" if ok else f"{status}: {response.text[:200]}"
    except httpx.HTTPError as error:
        status, problem = 0, f"{type(error).__name__}: {error}"
    return time.perf_counter() - start, status, problem


async def _measure(base: str, photo: bytes, pid: int, args: argparse.Namespace) -> dict:
    timeout = httpx.Timeout(120)
    limits = httpx.Limits(max_connections=args.clients)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        for _ in range(args.warmup):
            await _one(client, photo)
        baseline = [await _one(client, photo) for _ in range(args.baseline)]
        load = await _load(client, photo, pid, args)
    return {
        "settings": {"requests": args.requests, "clients": args.clients, "warmup": args.warmup},
        "baseline_one_client": _latencies([b[0] for b in baseline], len(baseline)),
        "load": load,
    }


async def _load(
    client: httpx.AsyncClient, photo: bytes, pid: int, args: argparse.Namespace
) -> dict:
    outcomes: list[tuple[float, int, str]] = []
    rss = {"start": _rss_mb(pid)}
    remaining = iter(range(args.requests))
    deadline = time.monotonic() + args.time_limit

    async def client_loop() -> None:
        for index in remaining:
            if time.monotonic() > deadline:
                return
            outcomes.append(await _one(client, photo))
            if index == args.requests // 2:
                rss["middle"] = _rss_mb(pid)

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(args.clients)))
    elapsed = time.perf_counter() - start
    rss["end"] = _rss_mb(pid)
    failures = [o for o in outcomes if o[2]]
    statuses: dict[str, int] = {}
    for _, status, _ in outcomes:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "completed": len(outcomes),
        "not_sent_time_limit": args.requests - len(outcomes),
        "failed": len(failures) + args.requests - len(outcomes),
        "first_failures": [f[2] for f in failures[:5]],
        "statuses": statuses,
        "duration_s": round(elapsed, 2),
        "throughput_rps": round(len(outcomes) / elapsed, 2),
        **_latencies([o[0] for o in outcomes if not o[2]], len(outcomes)),
        "server_rss_mb": rss,
    }


def _latencies(seconds: list[float], count: int) -> dict:
    if not seconds:
        return {"requests": count}
    ordered = sorted(seconds)

    def percentile(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {
        "requests": count,
        "latency_ms": {
            "p50": round(1000 * statistics.median(ordered), 1),
            "p90": percentile(90),
            "p99": percentile(99),
            "max": round(1000 * ordered[-1], 1),
        },
    }


# ------------------------------------------------------------------ bad inputs


def _bomb() -> bytes:
    """A 200-byte PNG declaring 100000 x 100000 gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b"")
    )


def _bad_inputs(base: str, limits: dict) -> dict:
    """The status of each bad request (expected: 415, 413, 413, 422, 422, 422)."""
    oversized = bytes(limits["max_upload_bytes"] + 2 * 1024 * 1024)
    cases = {
        "non_image": {"files": {"file": ("a.png", b"%PDF-1.4 not an image")}},
        "bomb_100000x100000": {"files": {"file": ("bomb.png", _bomb())}},
        "oversized_upload": {"files": {"file": ("big.png", oversized)}},
        "missing_file_field": {"data": {"model": "compact"}},
        "unknown_model": {"files": {"file": ("a.png", _generated_photo())}, "data": {"model": "x"}},
        "bad_hints": {"files": {"file": ("a.png", _generated_photo())}, "data": {"hints": "[{"}},
    }
    statuses = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, request in cases.items():
            try:
                response = client.post("/v1/colorize", **request)
                statuses[name] = {"status": response.status_code, "error": response.json()["error"]}
            except (httpx.HTTPError, ValueError) as error:
                statuses[name] = {"status": 0, "error": f"{type(error).__name__}: {error}"}
    return statuses


def _generated_photo() -> bytes:
    rows, cols = np.mgrid[0:256, 0:256]
    buffer = io.BytesIO()
    Image.fromarray(((rows + cols) // 2).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------ report


def _environment() -> dict:
    import fastapi
    import torch
    import uvicorn

    import masterpiece

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain")),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": {
            "python": platform.python_version(),
            "masterpiece": masterpiece.__version__,
            "torch": torch.__version__,
            "fastapi": fastapi.__version__,
            "uvicorn": uvicorn.__version__,
            "httpx": httpx.__version__,
        },
    }


def _print_summary(results: dict) -> None:
    load, baseline = results["load"], results["baseline_one_client"]
    rss = load["server_rss_mb"]
    print(
        f"load: {load['completed']} requests from {results['settings']['clients']} clients in "
        f"{load['duration_s']} s: {load['throughput_rps']} requests/s, "
        f"p50 {load.get('latency_ms', {}).get('p50')} ms, p99 {load.get('latency_ms', {}).get('p99')} ms, "
        f"{load['failed']} failed"
    )
    print(f"baseline (one client): p50 {baseline.get('latency_ms', {}).get('p50')} ms")
    print(
        f"server RSS: start {rss.get('start')} MiB, middle {rss.get('middle')} MiB, end {rss.get('end')} MiB"
    )
    print(
        "bad inputs: " + ", ".join(f"{k} {v['status']}" for k, v in results["bad_inputs"].items())
    )


if __name__ == "__main__":
    sys.exit(main())
