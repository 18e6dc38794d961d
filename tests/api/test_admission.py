"""Admission control: past saturation the API answers 503 at once and recovers; under concurrency it never locks up."""

import asyncio
import os
import time

import httpx
import pytest
import serving  # bench/serving.py: the launcher
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.admission import Admission
from store.db import migrate, session_scope
from store.keys import create_key, create_user
from store.models import Role


def slow_app(seconds: float) -> Admission:
    async def work(_):
        await asyncio.sleep(seconds)
        return JSONResponse({"ok": True})

    async def live(_):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/v1/work", work), Route("/healthz", live)])
    return Admission(app, slots=2, wait_s=0.2, max_waiting=2)


def test_past_saturation_requests_get_503_quickly_and_the_server_recovers():
    async def main():
        transport = httpx.ASGITransport(app=slow_app(1.0))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.monotonic()
            answers = await asyncio.gather(*[client.get("/v1/work") for _ in range(10)])
            codes = sorted(r.status_code for r in answers)
            refused = [r for r in answers if r.status_code == 503]
            assert codes.count(200) == 2 and len(refused) == 8  # two slots; waiting ones give up after 0.2 s
            assert time.monotonic() - started < 5
            for r in refused:
                assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "busy"
            assert (await client.get("/healthz")).status_code == 200  # liveness is never queued
            assert (await client.get("/v1/work")).status_code == 200  # the load is gone: served again

    asyncio.run(main())


@pytest.fixture
def uvicorn_on_postgres(postgres_url, tmp_path):
    from store.db import downgrade

    downgrade(postgres_url, "base")
    migrate(postgres_url)
    with session_scope(postgres_url) as session:
        key = create_key(session, create_user(session, "lead", Role.admin))
    env = {**os.environ, "STH_DATABASE_URL": postgres_url, "STH_BROKER_URL": f"filesystem://{tmp_path / 'q'}",
           "STH_API_CONCURRENCY": "8"}  # fmt: skip
    api, url = serving.start_api(env, tmp_path / "api.log")
    yield url, key
    api.stop(grace_s=30)


@pytest.mark.e2e
def test_many_concurrent_requests_with_one_key_never_lock_up_the_api(uvicorn_on_postgres):
    """45 concurrent clients of /v1/me with one key locked the API up for good (every thread waited on the key's
    row, held by a request that waited for a thread). Now: every request is answered, 200 or a quick 503."""
    url, key = uvicorn_on_postgres

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=20) as client:
            end = time.monotonic() + 4

            async def user() -> list[int]:
                codes = []
                while time.monotonic() < end:
                    codes.append((await client.get("/v1/me")).status_code)
                return codes

            return [c for codes in await asyncio.gather(*[user() for _ in range(80)]) for c in codes]

    codes = asyncio.run(main())
    assert set(codes) <= {200, 503} and codes.count(200) > 80, {c: codes.count(c) for c in set(codes)}
    assert httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200
