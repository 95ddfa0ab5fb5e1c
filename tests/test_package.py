"""The wheel: built from the source, installed into a fresh virtual environment outside the
checkout and run there, as after `pip install visclust` on another machine."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = sorted({name.split(".")[0] for name in CONFIG["tool"]["setuptools"]["packages"]})
# what the product reads from assets/ (models.ClusterNet, perception.separability, the Models page)
ASSETS = {"clusternet.pt", "separability.json", "clusternet_evaluation.csv", "clams_evaluation.csv", "MODEL_CARD.md"}


def run(cmd, cwd, env=None) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, venv, environment, working folder): the wheel installed into a new venv in tmp."""
    tmp = tmp_path_factory.mktemp("package")
    src = tmp / "src"  # built from a copy: an in-tree build leaves build/ and *.egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", CONFIG["project"]["readme"]):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", tmp / "dist", src], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("visclust-*.whl")

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env)
                .stdout.strip())
    # The dependencies (and pip) come from this environment's site-packages, searched after the
    # venv's own. A folder named in a .pth file does not have its own .pth files run, so this
    # environment's editable install of the checkout stays out of the venv.
    deps = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    (site / "visclust_test_deps.pth").write_text("\n".join(deps) + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-index", "-q", wheel], tmp, env)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, venv, env, elsewhere


def test_wheel_holds_the_packages_and_the_assets_the_product_reads(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == set(PACKAGES) | {"visclust-0.1.0.dist-info"}
    assert {n.split("/", 1)[1] for n in names if n.startswith("assets/") and not n.endswith(".py")} == ASSETS
    assert wheel.stat().st_size < 5e6


def test_installed_package_imports_from_the_venv_not_the_checkout(installed):
    _, venv, env, elsewhere = installed
    code = "import importlib; print('\\n'.join(importlib.import_module(p).__file__ for p in %r))" % PACKAGES
    files = run([venv / "bin" / "python", "-c", code], elsewhere, env).stdout.split()
    assert len(files) == len(PACKAGES)
    assert all(Path(f).is_relative_to(venv) for f in files), files


def test_installed_visclust_clusters_moons_with_clusternet(installed):
    _, venv, env, elsewhere = installed
    out = run([venv / "bin" / "visclust", "cluster", "moons", "--method", "clusternet"], elsewhere, env)
    found = re.search(r"^clusternet: (\d+) clusters", out.stdout, re.M)
    assert found and int(found.group(1)) == 2, out.stdout


def test_installed_visclust_serve_help(installed):
    _, venv, env, elsewhere = installed
    out = run([venv / "bin" / "visclust", "serve", "--help"], elsewhere, env)
    assert "usage: visclust serve" in out.stdout and "--port" in out.stdout


def test_installed_visclust_bench_says_in_one_line_that_it_needs_a_checkout(installed):
    _, venv, env, elsewhere = installed
    out = subprocess.run([venv / "bin" / "visclust", "bench"], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "source checkout" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_checkout_visclust_bench_runs_bench_in_a_subprocess():
    """The product imports nothing of bench/: `visclust bench` starts `python -m bench`, whose
    own check of --only answers here."""
    out = subprocess.run([sys.executable, "-m", "app.cli", "bench", "--only", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip() == ("visclust bench: no benchmark(s) ['nope']; there are "
                                  f"{sorted(p.stem[6:] for p in (ROOT / 'bench').glob('bench_*.py'))}")
