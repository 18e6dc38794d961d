"""README.md's walkthrough, line for line, against `sth serve` (the `make run` default: SQLite, filesystem broker,
one worker): every `bash` block between <!-- walkthrough --> markers runs in one shell, and the table the README
shows is the one it prints (numbers within WITHIN). The worker trains with the README's 2 torch threads: on another
thread count the same seed takes another path (float sums in another order), and the numbers move by seed noise."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import launch_serve
from tests.tables import table_rows

README = Path(__file__).resolve().parents[2] / "README.md"
WITHIN = 0.005  # a few of the 1000 test images: another CPU's kernels may still round differently
THREADS = 2  # as the README says its numbers were measured


def walkthrough() -> tuple[str, str]:
    """The walkthrough's shell lines (its blocks joined) and the output it shows (its text blocks joined)."""
    parts = README.read_text().split("<!-- walkthrough -->")[1:]
    assert parts, "README.md has no <!-- walkthrough --> block"
    code, shown = [], []
    for part in parts:
        part = part.split("<!-- /walkthrough -->")[0]
        code += re.findall(r"```bash\n(.*?)```", part, re.S)
        shown += re.findall(r"```text\n(.*?)```", part, re.S)
    return "\n".join(code), "\n".join(shown)


def numbers(cells: list[str]) -> list[float]:
    return [float(x) for cell in cells for x in re.findall(r"\d+\.\d+", cell)]


@pytest.fixture
def served(tmp_path):
    proc, info = launch_serve(tmp_path, threads=THREADS)
    yield info
    proc.terminate()
    proc.wait(timeout=30)


def test_the_readme_walkthrough_runs_and_prints_what_it_shows(served, tmp_path):
    code, shown = walkthrough()
    assert "export STH_API_KEY=sth_..." in code
    code = code.replace("export STH_API_KEY=sth_...", f"export STH_API_KEY={served['STH_API_KEY']}")
    user = tmp_path / "user"
    user.mkdir()
    (user / ".venv").symlink_to(Path(sys.prefix))  # `source .venv/bin/activate`, as at the repository root
    env = {**os.environ, "STH_URL": served["STH_URL"], "COLUMNS": "80", "STH_API_KEY": ""}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=user, env=env, capture_output=True,
                         text=True, timeout=900)  # fmt: skip
    (user / "stdout.txt").write_text(run.stdout)  # what to paste into the README when the walkthrough changes
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"

    got, expected = table_rows(run.stdout), table_rows(shown)
    assert len(got) == len(expected) == 2, run.stdout

    def setting(name: str) -> str:  # a model's name without the job id's characters it ends with
        return re.sub(r"-[0-9a-f]{6}$", "", name.replace(" ", ""))

    got = {setting(name): cells for name, cells in got.items()}
    for name, cells in expected.items():
        assert setting(name) in got, f"README shows {name}; the walkthrough printed {list(got)}"
        mine = got[setting(name)]
        assert mine[0] == cells[0] and (mine[2] == "-") == (cells[2] == "-")  # n; R0/U0 only for the regularized
        assert numbers(mine) == pytest.approx(numbers(cells), abs=WITHIN), f"{name}: {mine} vs {cells}\n{run.stdout}"
    for line in shown.splitlines():
        if not line.startswith(("│", "┃", "┏", "┡", "└")):
            assert line.strip() in run.stdout, line  # title and caption word for word

    assert (user / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert (user / "history.png").read_bytes().startswith(b"\x89PNG")
    assert "<text" in (user / "uniform.svg").read_text()
    assert (user / "model.safetensors").stat().st_size > 10_000 and "x-checksum-sha256" in run.stdout.lower()
    assert run.stdout.count("succeeded") >= 2 and "resnet18_narrow mnist-5k a4 Th0.2 e12" in run.stdout
    figure = re.search(r"!\[[^]]*\]\((docs/[^)]+)\)", README.read_text())
    assert figure and (README.parent / figure.group(1)).is_file(), "the README's figure is in the repository"
