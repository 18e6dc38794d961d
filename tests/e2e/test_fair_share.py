"""Fair share with a real worker, on both backends: alice queues 10 quick trainings, then bob queues 2; with one
worker, bob's first job starts no later than alice's second (it would be her eleventh in order of arrival)."""

import logging
from datetime import datetime

from tests.e2e.conftest import auth, wait_for

log = logging.getLogger(__name__)
TINY = {"preset": "smoke", "spec": {"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}}


def _started(api, job_id):
    return datetime.fromisoformat(api.get(f"/v1/jobs/{job_id}", headers=auth(api, "admin")).json()["started_at"])


def test_a_member_who_queued_later_is_not_stuck_behind_anothers_jobs(api):
    def submit(who, n):
        jobs = [api.post("/v1/train-jobs", json=TINY, headers=auth(api, who)) for _ in range(n)]
        assert all(j.status_code == 201 for j in jobs), [j.text for j in jobs]
        return [j.json()["id"] for j in jobs]

    alices = submit("alice", 10)
    bobs = submit("bob", 2)
    wait_for(api, alices[0], until=("running", "succeeded"))  # the oldest job starts first: nobody has device time
    line = [(j["owner"], j["why"]) for j in api.get("/v1/queue", headers=auth(api, "bob")).json()["items"]]
    assert [owner for owner, _ in line[:3]] == ["bob", "bob", "alice"], line  # her running job counts for her
    for job_id in bobs:
        assert wait_for(api, job_id, who="bob", timeout=120)["status"] == "succeeded"
    for job_id in alices:  # the rest of hers would only repeat the point
        api.post(f"/v1/jobs/{job_id}/cancel", headers=auth(api, "alice"))
    ended = [wait_for(api, job_id, timeout=120) for job_id in alices]
    ran = [j for j in ended if j["started_at"]]
    assert len(ran) >= 2 and all(j["attempts"] == 1 for j in ran), ended  # each started once
    starts = sorted((_started(api, j), who) for who, ids in (("a", [r["id"] for r in ran]), ("b", bobs)) for j in ids)
    order = " ".join(who for _, who in starts)
    bob_first, alice_second = _started(api, bobs[0]), _started(api, alices[1])
    log.info("start order %s; bob's first job started %.1f s before alice's second", order,
             (alice_second - bob_first).total_seconds())  # fmt: skip
    assert order.startswith("a b"), order  # her first (the oldest; nobody had device time), then his
    assert bob_first <= alice_second
