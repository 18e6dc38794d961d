"""A wheel of the project carries what it reads at run time (migrations, the dashboard) and migrates from them."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_installed_wheel_migrates_and_serves_the_dashboard(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"store/migrations/env.py", "store/migrations/script.py.mako", "api/dashboard/index.html",
            "api/dashboard/app.js"} <= names  # fmt: skip
    versions = {p.name for p in (ROOT / "store" / "migrations" / "versions").glob("*.py")}
    assert {f"store/migrations/versions/{v}" for v in versions} <= names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    check = "; ".join([
        "import pathlib, store.db, api.main",
        f"assert pathlib.Path(store.db.__file__).is_relative_to(r'{site}')",  # the installed copy, not the repo
        f"store.db.migrate(r'sqlite:///{tmp_path / 'sth.db'}')",
        "assert (api.main.DASHBOARD / 'app.js').is_file()",
    ])  # fmt: skip
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
