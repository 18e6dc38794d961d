"""What hostile or heavy requests cost the API process: peak resident memory and time, measured on a real uvicorn
server (a subprocess on its own SQLite database and data folder) with STH_MAX_DATASET_BYTES at its default 1 GiB.

python bench/bench_memory.py            # about a minute on 2 cores
python bench/bench_memory.py --quick    # a 10x smaller dataset

The dataset is the one of the memory issue: an .npz of float64 zeros, ~0.9 MB compressed, ~0.94 GB inflated.
Peak extra memory is the server's high-water mark (VmHWM, reset through /proc/PID/clear_refs before each request)
minus its resident size just before the request.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from serving import start_api

from store.db import migrate, session_scope
from store.keys import create_key, create_user
from store.models import Role

MB = 1 << 20


def zeros_npz(train: int, test: int) -> bytes:
    """float64 zeros of MNIST shape: 150000 images inflate to 0.94 GB and compress to ~0.9 MB."""
    out = io.BytesIO()
    np.savez_compressed(out, images=np.zeros((train, 28, 28)), labels=np.zeros(train, np.int64),
                        test_images=np.zeros((test, 28, 28)), test_labels=np.zeros(test, np.int64))  # fmt: skip
    return out.getvalue()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def measured(pid: int, call: Callable[[], httpx.Response]) -> tuple[int, float, float]:
    """(status, seconds, peak extra MB of process `pid`) of one request."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status(pid, "VmRSS")
    start = time.perf_counter()
    status = call().status_code
    seconds = time.perf_counter() - start
    return status, seconds, (_status(pid, "VmHWM") - before) / MB


@contextmanager
def server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """uvicorn running api.main:create_app on a fresh SQLite database: (process, URL, an admin's API key)."""
    url = f"sqlite:///{folder / 'sth.db'}"
    migrate(url)
    with session_scope(url) as session:
        key = create_key(session, create_user(session, "bench", Role.admin))
    env = {**os.environ, "STH_DATABASE_URL": url, "STH_BROKER_URL": f"filesystem://{folder / 'broker'}",
           "STH_DATA_DIR": str(folder / "data"), "OMP_NUM_THREADS": "1"}  # fmt: skip
    env.pop("STH_MAX_DATASET_BYTES", None)
    api, base = start_api(env, folder / "api.log")
    try:
        yield api.proc, base, key
    finally:
        api.stop(grace_s=30)


def rows(quick: bool) -> list[tuple[str, int, float, float]]:
    scale = 10 if quick else 1
    data = zeros_npz(140_000 // scale, 10_000 // scale)
    inflated = 150_000 // scale * (28 * 28 * 8 + 8)
    out = []
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (proc, base, key):
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600)
        client.get("/v1/datasets")  # imports and connections warm
        upload = f"POST /v1/datasets ({len(data) / 1e6:.2f} MB npz, {inflated / 1e9:.2f} GB inflated)"
        out.append((upload, *measured(proc.pid, lambda: client.post(
            "/v1/datasets", data={"name": "zeros"}, files={"file": ("zeros.npz", data)}))))  # fmt: skip
        # the session commits after the response is sent (a yield dependency's exit): wait until the row is seen
        deadline = time.monotonic() + 30
        while client.get("/v1/datasets/upload:zeros").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        for which in ("first", "second"):
            out.append((f"GET /v1/datasets/upload:zeros/similarity ({which})",
                        *measured(proc.pid, lambda: client.get("/v1/datasets/upload:zeros/similarity"))))  # fmt: skip
        body = b'{"preset": "quick", "spec": {"x": "' + b"a" * (300 * MB // scale) + b'"}}'
        out.append((f"POST /v1/train-jobs ({len(body) // MB} MB JSON body)",
                    *measured(proc.pid, lambda: client.post("/v1/train-jobs", content=body,
                                                           headers={"Content-Type": "application/json"}))))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    table = rows(args.quick)
    print(f"\n### API process under uvicorn ({os.cpu_count()} cores)\n")
    print("| request | status | time (s) | peak extra memory (MB) |")
    print("|---|---|---|---|")
    for label, status, seconds, extra in table:
        print(f"| {label} | {status} | {seconds:.2f} | {extra:.0f} |")


if __name__ == "__main__":
    main()
