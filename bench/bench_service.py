"""The service's own costs, in-process (no network): validation before queueing, the similarity route, uploads and
downloads, a page of jobs; on SQLite and, when it answers, PostgreSQL side by side. Prints markdown tables.

python bench/bench_service.py            # about 2 minutes on 2 cores
python bench/bench_service.py --quick    # smaller files, fewer repeats

Cold means nothing cached (the dataset is read from disk and r_i computed); warm is the median of repeats of the
same request.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from api import similarity
from api.main import create_app
from store.db import scratch_database, session_scope
from store.keys import create_key, create_user
from store.models import Job, JobKind, Role
from store.settings import Settings

POSTGRES_ADMIN = os.environ.get("STH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def clear_caches() -> None:
    similarity.clear_caches()


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(first call, median of the next `repeats`) in seconds."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times) if times else float("nan")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def measure(url: str, folder: Path, quick: bool) -> dict[str, str]:
    os.environ["STH_DATA_DIR"] = str(folder / "data")
    clear_caches()
    repeats = 3 if quick else 10
    settings = Settings(database_url=url, broker_url=f"filesystem://{folder / 'broker'}", max_dataset_bytes=1 << 30)
    rows: dict[str, str] = {}
    with TestClient(create_app(settings)) as client:
        with session_scope(url) as session:
            user = create_user(session, f"bench-{uuid.uuid4().hex[:6]}", Role.admin)
            key = create_key(session, user)
            user_id = user.id
        headers = {"Authorization": f"Bearer {key}"}

        def submit(body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: ok(client.post("/v1/train-jobs", headers=headers, json=body), 201)

        for label, body in [
            ("POST /v1/train-jobs quick (mnist-5k, N=1000)", {"preset": "quick"}),
            ("POST /v1/train-jobs fashion-mnist+fashion-mnist (N=5000)", {"preset": "fashion-mnist+fashion-mnist"}),
        ]:
            clear_caches()
            first, warm = timed(submit(body), repeats)
            rows[label] = f"{first * 1000:.0f} ms cold / {warm * 1000:.1f} ms warm"

        for name, images in (("mnist-5k", 4000), ("fashion-mnist", 5000), ("fashion-mnist", 20000)):
            path, params = f"/v1/datasets/{name}/similarity", {"threshold": 0.8, "images": images}
            clear_caches()
            first, warm = timed(lambda u=path, p=params: ok(client.get(u, headers=headers, params=p)), repeats)
            rows[f"GET similarity {name}, N={images}"] = f"{first:.2f} s cold / {warm * 1000:.1f} ms warm"

        n = 6000 if quick else 60000  # fashion-mnist sized: 47 MB of uint8 at 60000 images
        rng = np.random.default_rng(0)
        buffer = io.BytesIO()
        np.savez(buffer, images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels=rng.integers(0, 10, n))
        data = buffer.getvalue()
        start = time.perf_counter()
        ok(client.post("/v1/datasets", headers=headers, data={"name": f"b{uuid.uuid4().hex[:8]}"},
                       files={"file": ("b.npz", data)}), 201)  # fmt: skip
        seconds = time.perf_counter() - start
        mb = len(data) / 1e6
        rows[f"POST /v1/datasets ({mb:.0f} MB npz)"] = f"{seconds:.2f} s ({mb / seconds:.0f} MB/s)"

        weights = rng.bytes(45_000_000 if not quick else 4_500_000)  # resnet18-sized checkpoint
        header = b'{"stem.0.weight":{"dtype":"U8","shape":[1,1,1,%d],"data_offsets":[0,%d]},' % (
            len(weights) - 10, len(weights) - 10)  # fmt: skip
        header += b'"linear.weight":{"dtype":"U8","shape":[10,1],"data_offsets":[%d,%d]}}' % (
            len(weights) - 10, len(weights))  # fmt: skip
        checkpoint = len(header).to_bytes(8, "little") + header + weights
        start = time.perf_counter()
        model = ok(client.post("/v1/models", headers=headers, data={"name": "bench", "arch": "small_cnn",
                                                                     "dataset": "mnist-5k"},
                               files={"file": ("m.safetensors", checkpoint)}), 201).json()  # fmt: skip
        seconds = time.perf_counter() - start
        mb = len(checkpoint) / 1e6
        rows[f"POST /v1/models ({mb:.0f} MB safetensors)"] = f"{seconds:.2f} s ({mb / seconds:.0f} MB/s)"
        first, warm = timed(lambda: ok(client.get(f"/v1/models/{model['id']}/checkpoint", headers=headers)), repeats)
        rows[f"GET /v1/models/{{id}}/checkpoint ({mb:.0f} MB)"] = f"{warm:.2f} s ({mb / warm:.0f} MB/s)"

        with session_scope(url) as session:
            session.add_all(Job(kind=JobKind.train, owner_id=user_id, spec={"n": i}, spec_hash="x")
                            for i in range(2000))  # fmt: skip
        first, warm = timed(lambda: ok(client.get("/v1/jobs", headers=headers, params={"page_size": 50})), repeats)
        rows["GET /v1/jobs (page of 50 of 2000+)"] = f"{warm * 1000:.1f} ms"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    columns: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        columns["SQLite"] = measure(f"sqlite:///{tmp}/sth.db", Path(tmp) / "sqlite", args.quick)
        with scratch_database(POSTGRES_ADMIN, "sth_bench") as url:
            if url:
                columns["PostgreSQL"] = measure(url, Path(tmp) / "pg", args.quick)
    names = list(columns)
    print(f"\n### Service, in-process ({os.cpu_count()} cores)\n")
    print("| request | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in columns["SQLite"]:
        print(f"| {row} | " + " | ".join(columns[n].get(row, "") for n in names) + " |")


if __name__ == "__main__":
    main()
