import os
import sys
from pathlib import Path

import pytest

# Idle OpenMP threads sleep instead of spinning: tests and their service processes share two cores, and a spinning
# thread takes a core from the others (the results are the same: only how waiting threads wait changes)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # after the OpenMP setting, which it reads when it loads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # serving.py: launcher, ports, Redis leases
import serving

# Two cores: one torch thread per pytest-xdist worker (make test-all runs two), else two
torch.set_num_threads(1 if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1 else 2)
E2E = Path(__file__).resolve().parent / "e2e"
# The longest tests (a minute or more here), started first so that parallel workers end together
LONGEST = ("test_the_readme_walkthrough_runs", "test_drills_lose_and_duplicate_nothing", "test_compile_trains_like",
           "test_a_report_job_writes_a_report", "test_gpu_check_quick_on_cpu")  # fmt: skip


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e runs a real service (a worker process, uvicorn, `sth serve`): the e2e layer. The
    LONGEST go first (a stable sort: the rest keep their order)."""
    for item in items:
        if E2E in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: not item.name.startswith(LONGEST))


POSTGRES_ADMIN_URL = os.environ.get("STH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def mnist5k_train():
    from sthlib.data import load_dataset

    return load_dataset("mnist-5k", "train")


TINY = {"epochs": 1, "train_limit": 300, "test_limit": 100, "reg.n_images": 100}  # seconds on 2 CPU cores


@pytest.fixture(scope="session")
def tiny_spec():
    """The smoke preset cut to a training of a few seconds (it learns little: for plumbing, not for numbers)."""
    from sthlib.specs import preset

    return preset("smoke", **TINY)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_spec, tmp_path_factory):
    """One tiny trained model for the whole session (its best checkpoint's path): tests that need a trained model
    share it, unless training is what they test."""
    from sthlib.train import Trainer

    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    trainer = Trainer(tiny_spec)
    trainer.fit()
    trainer.save_best(path)
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    from store.db import scratch_database

    with scratch_database(POSTGRES_ADMIN_URL, "sth_test") as url:
        if url is None:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (CI must start it)")
            pytest.skip("PostgreSQL is not reachable; set STH_TEST_POSTGRES_URL")
        yield url


@pytest.fixture
def redis_db():
    """A Redis database number (1-15) that no other test session or benchmark on this machine uses meanwhile."""
    with serving.redis_db_lease() as number:
        yield number


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated, empty database of each kind."""
    from store.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sth.db'}"
        migrate(url)
        return url
    url = request.getfixturevalue("postgres_url")
    from store.db import downgrade

    downgrade(url, "base")  # each test starts from an empty schema
    migrate(url)
    return url
