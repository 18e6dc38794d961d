"""An open-loop HTTP/1.1 load generator on asyncio streams: `rate` GET requests a second whatever the answers (a
closed loop would hide a slow server), over keep-alive connections opened as needed. httpx's async pool spends
quadratic time assigning thousands of pending requests to connections, so it cannot drive a saturation test."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Load:
    sent: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # no answer: refused, reset or timed out
    failure_kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            raise ConnectionResetError("the server closed the connection")
        return status


async def run_load(url: str, path: str, rate: float, seconds: float, headers: dict[str, str],
                   timeout: float = 15.0, max_connections: int = 4000) -> Load:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    idle: list[_Connection] = []
    opened = 0
    load = Load()

    async def connect() -> _Connection:
        nonlocal opened
        if opened >= max_connections:
            raise ConnectionRefusedError("too many connections")
        opened += 1
        try:
            return _Connection(*await asyncio.wait_for(asyncio.open_connection(host, port), timeout))
        except BaseException:
            opened -= 1
            raise

    async def one() -> None:
        nonlocal opened
        start = time.perf_counter()
        connection = idle.pop() if idle else None
        try:
            if connection is not None:
                try:
                    status = await asyncio.wait_for(connection.get(request), timeout)
                except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                    # the server closed this idle keep-alive connection (uvicorn does after 5 s): as any HTTP
                    # client does, send the request again on a new one
                    connection.writer.close()
                    opened -= 1
                    connection = None
            if connection is None:
                connection = await connect()
                status = await asyncio.wait_for(connection.get(request), timeout)
        except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError) as e:
            load.failures += 1
            load.failure_kinds[type(e).__name__] = load.failure_kinds.get(type(e).__name__, 0) + 1
            if connection is not None:
                connection.writer.close()
                opened -= 1
            return
        load.codes[status] = load.codes.get(status, 0) + 1
        load.latencies.append(time.perf_counter() - start)
        idle.append(connection)

    tasks, begin = [], time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
        load.sent += 1
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.writer.close()
    return load
