"""`sth worker --gpus`: which workers it plans on a machine with a given number of GPUs (the command and environment
each child gets; no GPU process is started), its errors, and how it supervises its children (real processes that
stand in for Celery workers)."""

import signal
import sys
import threading
import time
from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

import cli.worker
from cli.main import app
from cli.worker import WorkerPlan, Workers, plan_workers, visible_gpus

runner = CliRunner()


def test_one_worker_per_gpu_with_its_own_device_and_name():
    plans = plan_workers("all", ["0", "1"])
    assert [(p.name, p.env, p.queues) for p in plans] == [
        ("gpu0@%h", {"CUDA_VISIBLE_DEVICES": "0"}, ("sth", "sth.gpu")),
        ("gpu1@%h", {"CUDA_VISIBLE_DEVICES": "1"}, ("sth", "sth.gpu")),
    ]
    assert plan_workers(None, ["0", "1"]) == plans  # the default where GPUs are listed
    assert [(p.name, p.env) for p in plan_workers("1", ["0", "1"])] == [("gpu1@%h", {"CUDA_VISIBLE_DEVICES": "1"})]
    assert [p.name for p in plan_workers(" 1,0 ", ["0", "1", "2"])] == ["gpu1@%h", "gpu0@%h"]
    command = plans[1].command()
    assert command[:6] == [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    assert command[command.index("--hostname") + 1] == "gpu1@%h"
    assert command[command.index("--queues") + 1] == "sth,sth.gpu"
    assert command[command.index("--pool") + 1] == "solo"


def test_without_gpus_a_cpu_worker_that_sees_no_gpu():
    (plan,) = plan_workers(None, [])
    assert (plan.name, plan.env, plan.queues) == ("cpu@%h", {"CUDA_VISIBLE_DEVICES": ""}, ("sth", "sth.cpu"))
    assert plan_workers("none", ["0", "1"]) == [plan]  # GPUs hidden: torch sees none, so it claims cpu jobs
    assert [p.name for p in plan_workers("none", [], cpu_workers=3)] == ["cpu0@%h", "cpu1@%h", "cpu2@%h"]


def test_an_inherited_cuda_visible_devices_limits_the_gpus():
    assert visible_gpus({}, 2) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}, 4) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, 4) == []
    uuids = plan_workers("all", visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-a1,GPU-b2"}, 8))
    assert [(p.name, p.env["CUDA_VISIBLE_DEVICES"]) for p in uuids] == [("gpu0@%h", "GPU-a1"), ("gpu1@%h", "GPU-b2")]


@pytest.mark.parametrize(
    ("gpus", "visible", "message"),
    [
        ("7", ["0", "1"], "GPU 7 is not on this machine (its GPUs: 0, 1)"),
        ("x", ["0", "1"], "'x' is not all, none or GPU indices such as 0,1"),
        ("0,", ["0", "1"], "is not all, none or GPU indices"),
        ("-1", ["0", "1"], "is not all, none or GPU indices"),
        ("0,0", ["0", "1"], "names a GPU twice"),
        ("all", [], "nvidia-smi lists no GPU on this machine; use --gpus none"),
        ("0", [], "GPU 0 is not on this machine (its GPUs: none)"),
    ],
)
def test_a_bad_gpus_value_is_an_error_naming_the_option(gpus, visible, message):
    with pytest.raises(typer.BadParameter) as raised:
        plan_workers(gpus, visible)
    assert message in str(raised.value) and raised.value.param_hint == "--gpus"


@dataclass
class Started:
    plans: list | None = None


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine where nvidia-smi lists 2 GPUs; Workers records what it would start and ends at once."""
    started = Started()

    class FakeWorkers:
        def __init__(self, plans):
            started.plans = plans

        def supervise(self):
            return 0

    monkeypatch.setattr(cli.worker, "gpu_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(cli.worker, "Workers", FakeWorkers)
    return started


def test_sth_worker_parses_gpus(two_gpus):
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in two_gpus.plans] == ["gpu0@%h", "gpu1@%h"]
    result = runner.invoke(app, ["worker", "--gpus", "1"])
    assert result.exit_code == 0 and [p.env for p in two_gpus.plans] == [{"CUDA_VISIBLE_DEVICES": "1"}]
    result = runner.invoke(app, ["worker", "--gpus", "none", "--cpu-workers", "2"])
    assert result.exit_code == 0 and [p.name for p in two_gpus.plans] == ["cpu0@%h", "cpu1@%h"]


@pytest.mark.parametrize(("args", "message"), [(["--gpus", "7"], "GPU 7 is not on this machine"),
                                               (["--gpus", "x"], "'x' is not all, none or GPU indices")])  # fmt: skip
def test_sth_worker_refuses_a_bad_gpus_value_before_starting_anything(two_gpus, args, message):
    result = runner.invoke(app, ["worker", *args])
    assert result.exit_code == 2 and two_gpus.plans is None
    assert "--gpus" in result.output and message in " ".join(result.output.split()), result.output


def test_sth_serve_refuses_a_bad_gpus_value_too(two_gpus, tmp_path, monkeypatch):
    monkeypatch.setenv("STH_DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    result = runner.invoke(app, ["serve", "--gpus", "2"])
    assert result.exit_code == 2 and "GPU 2 is not on this machine" in " ".join(result.output.split())
    assert not (tmp_path / "untouched.db").exists()  # nothing was started, not even the migrations


class Script(WorkerPlan):
    """A stand-in for a Celery worker: a Python process running `code` (it inherits the plan's environment)."""

    def __init__(self, name: str, code: str) -> None:
        super().__init__(name, ("sth",), {"STH_TEST_NAME": name})
        object.__setattr__(self, "code", code)

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.code]


ON_TERM = ("import os, signal, sys, time; assert os.environ['STH_TEST_NAME']; "
           "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(60)")  # fmt: skip


def test_a_stop_reaches_every_worker_and_the_supervisor_ends_with_them():
    workers = Workers([Script("a@h", ON_TERM), Script("b@h", ON_TERM)])
    time.sleep(0.5)  # the children have installed their handlers
    workers.stop(signal.SIGTERM)
    assert workers.supervise(poll_s=0.05) == 0
    assert [p.returncode for p in workers.procs] == [0, 0]


def test_a_worker_that_dies_is_reported_and_the_others_keep_running(capfd):
    workers = Workers([Script("dies@h", "import sys; sys.exit(3)"), Script("stays@h", ON_TERM)])
    workers.procs[0].wait(timeout=30)
    stopper = threading.Timer(1.0, workers.stop)  # the others run until asked to stop
    stopper.start()
    assert workers.supervise(poll_s=0.05) == 1  # a worker failed
    stopper.join()
    err = capfd.readouterr().err
    assert "worker dies@h (pid" in err and "exited with code 3 while no stop was asked; 1 still run" in err
    assert workers.procs[1].returncode == 0  # stopped by the stop, not by its neighbour's death


def test_a_second_stop_is_a_cold_shutdown():
    busy = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "signal.signal(signal.SIGQUIT, lambda *_: os._exit(7)); time.sleep(60)")  # fmt: skip
    workers = Workers([Script("a@h", busy)])
    time.sleep(0.5)
    workers.stop(signal.SIGTERM)  # ignored, as a worker busy with a job finishes it first
    time.sleep(0.3)
    assert workers.procs[0].poll() is None
    workers.stop(signal.SIGINT)  # forwarded as SIGQUIT: Celery's "stop now"
    assert workers.procs[0].wait(timeout=10) == 7
