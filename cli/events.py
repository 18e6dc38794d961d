"""Following a job's server-sent events, resuming after a dropped stream or a server restart (Last-Event-ID)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

GIVE_UP_S = 120.0  # a server that stays unreachable this long ends the watch with an error


def follow(client: httpx.Client, job_id: str, give_up_s: float = GIVE_UP_S) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs until the job's `end` event. A stream that ends without it (the server drains or
    restarts, a proxy cuts it) is opened again after the server's `retry` hint, from the last log line seen, so no
    line is lost or repeated. httpx.HTTPError if the server cannot be reached for `give_up_s`."""
    last_id, retry_s, failing_since = "", 1.0, None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=None) as response:
                response.raise_for_status()
                failing_since = None
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("id: "):
                        last_id = line.removeprefix("id: ")
                    elif line.startswith("retry: "):
                        retry_s = int(line.removeprefix("retry: ")) / 1000
                    elif line.startswith("data: "):
                        yield event, json.loads(line.removeprefix("data: "))
                        if event == "end":
                            return
        except httpx.HTTPStatusError as e:
            if e.response.status_code != 503:  # 503: saturated or restarting, try again; anything else is final
                raise
            failing_since = failing_since or time.monotonic()
        except httpx.TransportError:
            failing_since = failing_since or time.monotonic()
        if failing_since is not None and time.monotonic() - failing_since > give_up_s:
            raise httpx.ConnectError(f"the server did not answer for {give_up_s:.0f} s")
        time.sleep(retry_s)
