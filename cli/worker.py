"""`sth worker`: one Celery worker process per GPU (CUDA_VISIBLE_DEVICES=N, hostname gpuN@host), or CPU workers
(cpu@host) where no GPU is used; in the foreground, passing SIGTERM and SIGINT on to its workers. `sth serve` starts
its workers with the same code."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

import typer

from store.settings import worker_queues

GPUS_HELP = ("all: one worker per GPU (the default where nvidia-smi lists one); none: CPU workers only; or GPU "
             "indices, e.g. 0,1")  # fmt: skip
CPU_HELP = "CPU workers to start when no GPU is used (--gpus none, or a machine without GPUs)"
GpusOption = Annotated[str | None, typer.Option("--gpus", help=GPUS_HELP, show_default="all, or none without GPUs")]
CpuWorkersOption = Annotated[int, typer.Option("--cpu-workers", min=1, max=64, help=CPU_HELP)]
STOP_GRACE_S = 30  # `sth serve` stopping: how long its workers get before they are killed


@dataclass(frozen=True)
class WorkerPlan:
    """One worker process: its Celery hostname (%h: this machine's name), the queues it listens to and what it
    adds to the environment (CUDA_VISIBLE_DEVICES: one GPU, or none for a CPU worker)."""

    name: str
    queues: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        """Its name as Celery expands it (%h: this machine's hostname)."""
        return self.name.replace("%h", socket.gethostname())

    def command(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool", "solo", "--concurrency", "1",
                "--queues", ",".join(self.queues), "--hostname", self.name, "--loglevel", "INFO",
                "--without-mingle", "--without-gossip"]  # fmt: skip


def gpu_count() -> int:
    """GPUs nvidia-smi lists (0 without nvidia-smi or a driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def visible_gpus(environ: Mapping[str, str], count: int) -> list[str]:
    """The GPUs workers may use: those an inherited CUDA_VISIBLE_DEVICES lists (empty: none), else nvidia-smi's."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [g.strip() for g in environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    return [str(i) for i in range(count)]


def plan_workers(gpus: str | None, visible: list[str], cpu_workers: int = 1) -> list[WorkerPlan]:
    """The workers `--gpus` asks for on a machine whose GPUs are `visible`; typer.BadParameter (naming --gpus) for
    anything else."""
    choice = (gpus if gpus is not None else ("all" if visible else "none")).strip().lower()
    if choice == "none":
        names = ["cpu@%h"] if cpu_workers == 1 else [f"cpu{i}@%h" for i in range(cpu_workers)]
        return [WorkerPlan(name, worker_queues("cpu"), {"CUDA_VISIBLE_DEVICES": ""}) for name in names]  # no GPU
    if choice == "all":
        if not visible:
            raise typer.BadParameter("nvidia-smi lists no GPU on this machine; use --gpus none for a CPU worker",
                                     param_hint="--gpus")  # fmt: skip
        chosen = visible
    else:
        chosen = _indices(gpus or "", visible)
    return [WorkerPlan(f"gpu{_label(gpu, i)}@%h", worker_queues("gpu"), {"CUDA_VISIBLE_DEVICES": gpu})
            for i, gpu in enumerate(chosen)]  # fmt: skip


def _indices(gpus: str, visible: list[str]) -> list[str]:
    parts = [p.strip() for p in gpus.split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise typer.BadParameter(f"{gpus!r} is not all, none or GPU indices such as 0,1", param_hint="--gpus")
    listed = ", ".join(visible) if visible else "none"
    for p in parts:
        if p not in visible:
            raise typer.BadParameter(f"GPU {p} is not on this machine (its GPUs: {listed})", param_hint="--gpus")
    if len(set(parts)) != len(parts):
        raise typer.BadParameter(f"{gpus!r} names a GPU twice: one worker per GPU", param_hint="--gpus")
    return parts


def _label(gpu: str, position: int) -> str:
    return gpu if gpu.isdigit() else str(position)  # a GPU named by its UUID: its place in the list


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when its parent dies, even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(plan: WorkerPlan) -> subprocess.Popen[bytes]:
    """Its own session: a Ctrl-C in the terminal reaches `sth worker` alone, which passes it on once (Celery takes
    a second SIGINT as "stop now")."""
    return subprocess.Popen(plan.command(), env={**os.environ, **plan.env}, preexec_fn=_die_with_parent,
                            start_new_session=True)  # fmt: skip


class Workers:
    """The worker processes of one `sth worker` or `sth serve`: started together, stopped together; the first stop
    lets each finish its current job (Celery's warm shutdown), a second stops them at once (a job then resumes from
    its last epoch checkpoint)."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        self.plans = plans
        self.procs = [start(p) for p in plans]
        self.stops = 0

    def stop(self, signum: int = signal.SIGTERM) -> None:
        self.stops += 1
        forward = signum if self.stops == 1 else signal.SIGQUIT  # SIGQUIT: Celery's cold shutdown
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(forward)

    def supervise(self, poll_s: float = 0.5) -> int:
        """Until every worker has exited: report each one that ends; 0 if all ended cleanly after a stop."""
        running = dict(zip(self.procs, self.plans, strict=True))
        failed = False
        while running:
            for proc, plan in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[proc]
                if code != 0 or not self.stops:
                    failed = True
                    typer.echo(f"sth worker: worker {plan.shown()} (pid {proc.pid}) exited with code {code}"
                               f"{'' if self.stops else ' while no stop was asked'}; {len(running)} still run",
                               err=True)  # fmt: skip
            time.sleep(poll_s if running else 0)
        return 1 if failed else 0

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop and wait (`sth serve` ending): a worker still running after `grace_s` is killed."""
        self.stop()
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker(gpus: GpusOption = None, cpu_workers: CpuWorkersOption = 1) -> None:
    """Start workers only: one per GPU (--gpus all|none|0,1), for STH_DATABASE_URL and STH_BROKER_URL.

    Each GPU gets its own Celery worker (CUDA_VISIBLE_DEVICES=N, named gpuN@HOST); without GPUs (or --gpus none),
    CPU workers (cpu@HOST). It stays in the foreground until they end: Ctrl-C or SIGTERM lets each finish its
    current job; a second one stops them at once (the jobs resume from their last checkpoint). More machines:
    docs/multinode.md."""
    plans = plan_workers(gpus, visible_gpus(os.environ, gpu_count()), cpu_workers)
    for plan in plans:
        shown = " ".join(f"{k}={v!r}" for k, v in plan.env.items())
        typer.echo(f"starting {plan.shown()} ({shown}; queues {','.join(plan.queues)})", err=True)
    workers = Workers(plans)

    def forward(signum: int, _: object) -> None:
        how = "finish their current job" if workers.stops == 0 else "stop now"
        typer.echo(f"sth worker: {signal.Signals(signum).name}: the workers {how}", err=True)
        workers.stop(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    raise typer.Exit(workers.supervise())
