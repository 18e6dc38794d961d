"""What the broker holds: the job ids of the messages waiting in a job queue (Redis or the filesystem broker).

The reconciler compares it with the database: fewer messages waiting than jobs the database holds as queued means
messages were lost (a broker restart that kept nothing, a worker killed between taking a message and claiming a
job), and wake-ups are sent again at once, instead of after minutes of silence.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

from store.settings import JOB_QUEUE, broker_transport_options

log = logging.getLogger(__name__)
REDIS_PRIORITY_SEPARATOR = "\x06\x16"  # kombu's key for a queue at priority p > 0 is QUEUE + separator + p
REDIS_PRIORITIES = (3, 6, 9)  # kombu's priority steps above 0


def waiting_job_ids(broker_url: str, queue: str = JOB_QUEUE) -> list[str] | None:
    """The job ids of the messages waiting in `queue`, one per message (a job sent twice is named twice); None if
    the broker cannot be read (the caller then falls back to the age rule)."""
    try:
        if broker_url.startswith("filesystem://"):
            payloads = _filesystem_payloads(broker_url, queue)
        elif broker_url.startswith(("redis://", "rediss://")):
            payloads = _redis_payloads(broker_url, queue)
        else:
            return None
    except Exception:
        log.warning("could not read the broker's queue", exc_info=True)
        return None
    return [job_id for job_id in (_job_id(p) for p in payloads) if job_id]


def _filesystem_payloads(broker_url: str, queue: str) -> list[bytes]:
    folder = Path(str(broker_transport_options(broker_url)["data_folder_in"]))
    payloads = []
    for path in folder.glob(f"*.{queue}.msg"):  # kombu names a message TIME_UUID.QUEUE.msg
        try:
            payloads.append(path.read_bytes())
        except FileNotFoundError:  # taken by a worker meanwhile
            continue
    return payloads


def _redis_payloads(broker_url: str, queue: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = [queue] + [f"{queue}{REDIS_PRIORITY_SEPARATOR}{p}" for p in REDIS_PRIORITIES]
        items = [item for key in keys for item in client.lrange(key, 0, -1)]
        return [item.encode() if isinstance(item, str) else item for item in items]
    finally:
        client.close()


def _job_id(payload: bytes) -> str | None:
    """The job id a Celery message carries (its first argument), or None for anything else."""
    try:
        message: dict[str, Any] = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(args[0]) if args else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None
