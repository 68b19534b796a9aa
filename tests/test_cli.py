"""The ``kasc`` console script (kasc.cli): subcommands, --version, --help."""

import pytest

from kasc import __version__
from kasc.cli import COMMANDS, main


def test_version_help_and_unknown_commands(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"kasc {__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS) and "``" not in out
    assert main(["trian"]) == 2 and "unknown command 'trian'" in capsys.readouterr().err
    assert main([]) == 2


def test_a_subcommand_runs_its_module(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "missing")]) == 2  # kasc.compare's own error
    assert "missing" in capsys.readouterr().err
    assert main(["clean", str(tmp_path)]) == 0 and "nothing left behind" in capsys.readouterr().out


def test_help_texts_have_no_docstring_markup(capsys, monkeypatch):
    import importlib

    for name, (module_name, _) in COMMANDS.items():
        module = importlib.import_module(module_name)
        monkeypatch.setattr("sys.argv", [f"kasc {name}", "--help"])  # serfr-table reads sys.argv
        with pytest.raises(SystemExit):
            module.main() if name == "serfr-table" else module.main(["--help"])
        out = capsys.readouterr().out
        assert out.startswith("usage:") and "``" not in out, name


@pytest.mark.slow
def test_every_python_dash_m_command_users_know_still_runs():
    """The package moved into subpackages; ``python -m kasc.NAME`` kept working for each command."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for name in ("train", "evaluate", "predict", "compare", "complexity", "export", "qat", "device_shift", "data",
                 "config", "clean", "serfr_table"):
        result = subprocess.run([sys.executable, "-m", f"kasc.{name}", "--help"], cwd=repo, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0 and result.stdout.startswith("usage:"), (name, result.stderr[-500:])
