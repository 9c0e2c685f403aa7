"""The command line: its version, its help, and one clear line for each thing that goes wrong."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything draws: the tests never need a display

import pytest  # noqa: E402

import jacobians  # noqa: E402
import jacobians.__main__ as cli  # noqa: E402
from jacobians.__main__ import build_parser, main  # noqa: E402
from jacobians.notebooks import REQUIREMENTS, missing_requirements  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["tour", "cost", "figures", "lectures"]


def _jacobians(*args, cwd):
    """``python -m jacobians ARGS`` in a fresh interpreter; its completed process."""
    return subprocess.run([sys.executable, "-m", "jacobians", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def _failure(capsys, argv, status):
    """Run ``main(argv)``, expect exit status ``status``, and return its standard error."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == status
    return capsys.readouterr().err


def _one_line(err, prog):
    """Check that ``err`` is one line, ``PROG: error: …``, and return the message."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith(f"{prog}: error: "), err
    return err[len(f"{prog}: error: "):].rstrip()


# --- version and help ----------------------------------------------------------------

def test_version(tmp_path):
    done = _jacobians("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"jacobians {jacobians.__version__}\n"


def test_the_top_level_help_is_plain_text_and_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: jacobians")
    # No reStructuredText: no double backquotes, no roles such as :func:.
    assert "``" not in out and not re.search(r":\w+:`", out)
    for command in COMMANDS:
        assert re.search(rf"^ +{command} +\S", out, re.M), f"{command} has no help line"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_a_description_and_help_for_every_option(command, capsys):
    _, commands = build_parser()
    parser = commands[command]
    assert parser.description and "``" not in parser.description
    for action in parser._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: jacobians {command}")
    assert " ".join(parser.description.split()[:4]) in " ".join(out.split())


def test_every_command_is_in_the_parser():
    parser, commands = build_parser()
    assert list(commands) == COMMANDS
    assert all(isinstance(p, argparse.ArgumentParser) for p in commands.values())
    assert parser.prog == "jacobians"


# --- lectures -------------------------------------------------------------------------

def test_lectures_outside_the_repository(tmp_path):
    done = _jacobians("lectures", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    message = _one_line(done.stderr, "jacobians lectures")
    assert message.startswith("no lectures/ folder") and "repository" in message


def test_lectures_in_a_folder_that_is_not_there(tmp_path, capsys):
    err = _failure(capsys, ["lectures", "--dir", str(tmp_path / "gone")], 1)
    assert _one_line(err, "jacobians lectures").startswith(f"no {tmp_path / 'gone'}/ folder")


def test_lectures_in_a_folder_without_notebooks(tmp_path, capsys):
    err = _failure(capsys, ["lectures", "--dir", str(tmp_path)], 1)
    assert "no lecture notebooks (NN-topic.ipynb)" in _one_line(err, "jacobians lectures")


def test_lectures_without_the_lectures_extra(monkeypatch, capsys):
    # A module set to None in sys.modules cannot be found or imported: as if not installed.
    for name in ("nbclient", "nbformat"):
        monkeypatch.setitem(sys.modules, name, None)
    assert missing_requirements() == [n for n in REQUIREMENTS if n in ("nbclient", "nbformat")]
    err = _failure(capsys, ["lectures", "--dir", str(ROOT / "lectures")], 1)
    message = _one_line(err, "jacobians lectures")
    assert "nbformat, nbclient" in message and 'pip install ".[lectures]"' in message


# --- where figures go ----------------------------------------------------------------

@pytest.mark.parametrize("command", ["figures", "cost"])
def test_out_naming_a_file(command, tmp_path, capsys):
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"")
    err = _failure(capsys, [command, "--out", str(taken)], 2)
    assert _one_line(err, f"jacobians {command}") == f"--out {taken} is a file, not a folder"


def test_out_inside_a_file(tmp_path, capsys):
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"")
    err = _failure(capsys, ["figures", "--out", str(taken / "sub")], 2)
    assert _one_line(err, "jacobians figures") == (f"--out {taken / 'sub'}: {taken} is a file, "
                                                   f"not a folder")


def test_out_under_a_missing_folder(tmp_path, capsys):
    wanted = tmp_path / "missing" / "figures"
    err = _failure(capsys, ["figures", "--out", str(wanted)], 2)
    assert _one_line(err, "jacobians figures") == (f"--out {wanted}: its parent folder "
                                                   f"{tmp_path / 'missing'} does not exist")
    assert not (tmp_path / "missing").exists()


def test_out_not_writable(tmp_path, capsys, monkeypatch):
    # Tests may run as root, whom permission bits do not stop; ask os.access instead.
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    err = _failure(capsys, ["figures", "--out", str(tmp_path / "new")], 2)
    assert _one_line(err, "jacobians figures") == f"--out {tmp_path / 'new'}: {tmp_path} is " \
                                                  f"not writable"


def test_a_file_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    def refuse(out, names, fmt):
        raise PermissionError(13, os.strerror(13), str(Path(out) / "q0_chain.png"))
    monkeypatch.setattr(cli, "regenerate", refuse)
    err = _failure(capsys, ["figures", "--out", str(tmp_path)], 1)
    assert _one_line(err, "jacobians figures") == (f"{os.strerror(13)}: "
                                                   f"{tmp_path / 'q0_chain.png'}")


def test_measured_cost_figures_go_to_a_temporary_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    main(["cost", "--size", "2", "--sizes", "2", "4", "--repeat", "1", "--quiet"])
    out = capsys.readouterr().out
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("jacobians-cost-")
    assert f"temporary folder, {folder}" in out
    assert f"wrote {folder / 'cost_growth_Q0.png'}" in out
    assert (folder / "cost_growth_Q0.png").read_bytes().startswith(b"\x89PNG")


def test_figures_as_svg_for_slides(tmp_path, capsys):
    main(["figures", "--format", "svg", "--out", str(tmp_path), "q0_chain.svg"])
    written = tmp_path / "q0_chain.svg"
    assert written.read_text().lstrip().startswith("<?xml") and "<svg" in written.read_text()
    assert "q0_chain.svg" in capsys.readouterr().out
