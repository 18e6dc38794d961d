"""A wheel of the project carries what it reads at run time (the top-level migrations package, the dashboard) and
migrates from them."""

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_an_installed_wheel_migrates_and_serves_the_dashboard(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"migrations/__init__.py", "migrations/env.py", "migrations/script.py.mako", "api/dashboard/index.html",
            "api/dashboard/app.js"} <= names  # fmt: skip
    versions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert versions, "no migrations/versions/*.py in the checkout"
    assert {f"migrations/versions/{v}" for v in versions} <= names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    check = "; ".join([
        "import pathlib, store.db, api.main",
        f"assert pathlib.Path(store.db.__file__).is_relative_to(r'{site}')",  # the installed copy, not the repo
        f"assert store.db.migrations_dir().is_relative_to(r'{site}'), store.db.migrations_dir()",
        f"store.db.migrate(r'sqlite:///{tmp_path / 'sth.db'}')",
        "assert (api.main.DASHBOARD / 'app.js').is_file()",
    ])  # fmt: skip
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "sth.db") as db:
        (applied,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert applied == ScriptDirectory(str(ROOT / "migrations")).get_current_head()  # up to the checkout's newest
