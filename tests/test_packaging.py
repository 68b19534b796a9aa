"""``pip install .`` (not editable): the wheel ships kasc's configs, and an installed kasc
finds them from any directory."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_the_configs_and_an_installed_kasc_loads_them_anywhere(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "somewhere"
    elsewhere.mkdir()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), "-q"], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("kasc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).stem for n in names if n.startswith("kasc/configs/") and n.endswith(".yaml")}
    from kasc.config import CONFIG_DIR, known_configs
    from kasc.config.syntax import STUDY_CONFIG_DIR

    assert shipped == {p.stem for p in CONFIG_DIR.rglob("*.yaml")}  # every config of configs/, in its folder
    studies = {p.stem for p in STUDY_CONFIG_DIR.rglob("*.yaml")}
    assert studies and not shipped & studies and studies <= set(known_configs())  # studies: the clone's only
    # every package of the clone is in the wheel (setup.cfg lists them)
    packages = {str(p.parent.relative_to(REPO)) for p in (REPO / "kasc").rglob("__init__.py")}
    assert packages <= {str(Path(n).parent) for n in names if n.endswith("/__init__.py")}
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel),
                              "-q"], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    code = ("import kasc, kasc.config as c; cfg = c.load_config('submission3'); "
            "print(kasc.__file__); print(c.project_root()); print(c.resolve_path(cfg.data.root))")
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env={"PYTHONPATH": str(target),
                            "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    module, root, data_root = result.stdout.split("\n")[:3]
    assert module.startswith(str(target))  # the installed copy, not the clone
    assert Path(root) == elsewhere  # no clone around: kasc's relative paths are taken from where the user stands
    assert Path(data_root) == (elsewhere / "../shared/data/tau22-mini").resolve()
