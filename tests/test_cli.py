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


def test_a_stop_or_a_full_disk_ends_a_command_in_one_line(capsys):
    """Ctrl-C, SIGTERM and a full disk anywhere in a command's main: one line, 128 + signal or 2."""
    import errno
    import os
    import signal

    from kasc.files.atomic import DiskFullError
    from kasc.files.interrupts import one_line_stops

    def stopped_by(raiser):
        @one_line_stops("nothing was written")
        def main(argv=None):
            raiser()
            return 0
        return main()

    def ctrl_c():
        raise KeyboardInterrupt

    def sigterm():
        os.kill(os.getpid(), signal.SIGTERM)  # the real signal, handled while main runs

    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device", "out/model_int8.tflite")

    def disk_full_checked(tmp=__import__("pathlib").Path("out/x.json")):
        raise DiskFullError(tmp, 2048, 10)

    assert stopped_by(ctrl_c) == 130
    assert capsys.readouterr().err == "interrupted by Ctrl-C (SIGINT): nothing was written\n"
    assert stopped_by(sigterm) == 143
    assert capsys.readouterr().err == "interrupted by SIGTERM: nothing was written\n"
    assert stopped_by(disk_full) == 2
    assert capsys.readouterr().err == ("error: no space left on device writing out/model_int8.tflite; "
                                       "nothing was written\n")
    assert stopped_by(disk_full_checked) == 2
    assert capsys.readouterr().err.startswith("error: no space left to write out/x.json: it needs about 2.0 KB")
    with pytest.raises(ValueError):  # anything else is the command's own business
        stopped_by(lambda: (_ for _ in ()).throw(ValueError("x")))


@pytest.mark.parametrize("command", ["export", "qat", "device_shift", "compare", "evaluate"])
def test_every_command_that_writes_stops_in_one_line(command, monkeypatch, capsys):
    import importlib
    import inspect

    module = importlib.import_module(f"kasc.{command}")
    assert inspect.signature(module.main).parameters  # the cli still passes argv
    monkeypatch.setattr("argparse.ArgumentParser.parse_args", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert module.main([]) == 130
    assert capsys.readouterr().err.startswith("interrupted by Ctrl-C (SIGINT): ")


def test_progress_in_a_log_is_one_line_per_stage_and_a_bar_only_on_a_terminal(capsys, monkeypatch):
    from kasc.cli import progress_bar

    assert list(progress_bar(range(3), desc="caching train", unit="clip")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith("caching train: 3 clips in ") and err.count("\n") == 1
    bar = progress_bar(total=10, initial=4, desc="views t", unit="view")
    bar.update(6)
    bar.close()
    bar.close()
    assert capsys.readouterr().err.startswith("views t: 10 views in ")
    list(progress_bar(range(2), desc="Keras model", unit="batch"))
    assert capsys.readouterr().err.startswith("Keras model: 2 batches in ")
    assert list(progress_bar(range(2), desc="quiet", unit="clip", enabled=False)) == [0, 1]
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert type(progress_bar(range(2), desc="bar", unit="clip")).__name__ == "tqdm"


def test_usage_names_the_command_as_typed(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["kasc"])
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert capsys.readouterr().out.startswith("usage: kasc evaluate ")
    from kasc.evaluate import main as evaluate_main

    monkeypatch.setattr("sys.argv", ["/x/kasc/evaluate.py"])
    with pytest.raises(SystemExit):
        evaluate_main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m kasc.evaluate ")
