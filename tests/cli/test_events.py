"""`sth remote watch` follows a job across a server that drains (or restarts): no log line lost or repeated."""

import threading
import time

from cli.events import follow
from store.db import session_scope
from store.jobs import log_line, transition
from store.models import Job, JobStatus
from tests.api.conftest import auth, client  # noqa: F401  (the in-process API fixture)


def test_follow_resumes_after_the_server_drains(client):  # noqa: F811
    job_id = client.post("/v1/train-jobs", json={"preset": "smoke"}, headers=auth(client)).json()["id"]
    url = client.settings.database_url
    with session_scope(url) as session:
        transition(session, session.get(Job, job_id), JobStatus.running)
        log_line(session, job_id, "line 1")

    def server_restarts() -> None:
        time.sleep(0.5)
        client.app.state.drain.start()  # SIGTERM: open streams end with a retry hint
        time.sleep(0.3)
        client.app.state.drain.event.clear()  # back (a new process, or another replica)
        with session_scope(url) as session:
            log_line(session, job_id, "line 2")
            transition(session, session.get(Job, job_id), JobStatus.succeeded)

    restart = threading.Thread(target=server_restarts)
    restart.start()
    client.headers.update(auth(client))
    streams, stream = [], client.stream
    client.stream = lambda *args, **kwargs: streams.append(kwargs["headers"]) or stream(*args, **kwargs)
    events = list(follow(client, job_id, give_up_s=30))
    restart.join()
    logs = [data["message"] for event, data in events if event == "log"]
    assert logs == ["line 1", "line 2"] and events[-1] == ("end", {"status": "succeeded"})
    assert len(streams) == 2 and streams[1]["Last-Event-ID"]  # the drained stream was resumed where it stopped
