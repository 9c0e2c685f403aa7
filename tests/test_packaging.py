"""The package as installed: its version, licence, extras and light import, and the README.

What runs in a fresh interpreter here does so on purpose: which modules an
import pulls in, and whether a README example stands on its own, can only
be seen from a clean start.
"""
import configparser
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jacobians

ROOT = Path(__file__).resolve().parent.parent


def _python(code, cwd=None):
    """Run ``code`` in a fresh interpreter; its completed process, output as text."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _setup():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _listed(text):
    """The non-empty lines of a multi-line setup.cfg value."""
    return [line.strip() for line in text.splitlines() if line.strip()]


# --- version and licence ---------------------------------------------------------

def test_the_version_is_written_once_and_installed_as_written():
    assert re.fullmatch(r"\d+\.\d+\.\d+", jacobians.__version__)
    assert _setup()["metadata"]["version"] == "attr: jacobians.__version__"
    assert importlib.metadata.version("jacobians") == jacobians.__version__, (
        "the installed metadata is older than jacobians.__version__: reinstall the package")


def test_the_licence_file_and_the_metadata_agree():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the jacobians authors" in text
    metadata = _setup()["metadata"]
    assert metadata["license"] == "MIT"
    assert _listed(metadata["license_files"]) == ["LICENSE"]
    assert "License :: OSI Approved :: MIT License" in _listed(metadata["classifiers"])


def test_the_extras():
    extras = {name: [re.split(r"[<>=!~ ]", requirement)[0] for requirement in _listed(text)]
              for name, text in _setup()["options.extras_require"].items()}
    assert {"pytest", "hypothesis", "nbmake"} <= set(extras["test"])
    assert {"nbclient", "nbformat", "ipykernel"} <= set(extras["lectures"])
    # A student opening the lectures needs a notebook front end and a kernel.
    assert {"jupyterlab", "notebook"} & set(extras["jupyter"])
    assert "ipykernel" in extras["jupyter"]


# --- importing is light --------------------------------------------------------

def test_importing_jacobians_imports_neither_matplotlib_nor_tqdm():
    done = _python("import jacobians, sys; print('matplotlib' in sys.modules, "
                   "'tqdm' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_the_plot_functions_are_public_names_imported_on_first_use():
    done = _python("""
import json, sys
import jacobians as jac
names = sorted(jac._PLOTS)
listed = all(name in dir(jac) for name in names)
still_light = 'matplotlib' not in sys.modules
modules = {name: getattr(jac, name).__module__ for name in names}
print(json.dumps({"listed": listed, "light": still_light, "modules": modules,
                  "cached": all(name in vars(jac) for name in names)}))
""")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["listed"] and seen["light"] and seen["cached"]
    assert seen["modules"] == {name: f"jacobians.{module}"
                               for name, module in jacobians._PLOTS.items()}
    assert {"plot_shape", "plot_sparsity", "plot_collapse", "plot_chain", "plot_cost_growth",
            "plot_graph", "plot_sweep", "plot_cost_bars"} <= set(seen["modules"])


def test_the_table_of_plot_functions_lists_every_one_of_each_plot_module():
    # Read in a fresh interpreter: importing a plot module here would put the module in
    # place of a function of the same name on the package for the tests that follow.
    done = _python("""
import importlib, json
import jacobians as jac
found = {}
for short in sorted(set(jac._PLOTS.values())):
    module = importlib.import_module(f"jacobians.{short}")
    names = getattr(module, "__all__", None) or [
        name for name, value in vars(module).items()
        if name.startswith("plot_") and callable(value)
        and getattr(value, "__module__", None) == module.__name__]
    found.update({name: short for name in names})
print(json.dumps(found))
""")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == jacobians._PLOTS


def test_a_plot_function_keeps_its_name_after_its_module_is_imported():
    # Importing jacobians.figures imports every plot module; a module named like one of
    # its functions would then stand on the package where the function should.
    done = _python("""
import jacobians as jac
import jacobians.figures
print(all(callable(getattr(jac, name)) for name in jac._PLOTS))
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"], "a plot module shadows a function of its name"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'jacobians' has no attribute 'plot_nothing'"):
        jacobians.plot_nothing  # noqa: B018


# --- the main job leaves a checkout clean ------------------------------------------------

def test_the_committed_figures_are_what_the_figures_command_writes(tmp_path):
    from jacobians.figures import regenerate
    written = regenerate(tmp_path)
    committed = sorted(path.name for path in (ROOT / "figures").iterdir())
    assert sorted(path.name for path in written) == committed, (
        "figures/ holds a file the figures command does not write, or lacks one it writes")
    changed = [path.name for path in written
               if path.read_bytes() != (ROOT / "figures" / path.name).read_bytes()]
    assert not changed, f"run `python -m jacobians figures` and commit: {changed}"


# --- the README's examples -----------------------------------------------------------

def _examples(text):
    """Each ```python block of a page, with the plain ``` blocks after it (what it prints)."""
    examples = []
    for language, body in re.findall(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S):
        if language == "python":
            examples.append((body, []))
        elif language == "" and examples:
            examples[-1][1].append(body)
    return examples


def _shows(shown, printed):
    """Whether the lines ``shown`` are a run of the lines ``printed``, where … stands for
    text left out."""
    def matches(pattern, line):
        pieces = pattern.split("…")
        if not line.startswith(pieces[0]):
            return False
        at = len(pieces[0])
        for piece in pieces[1:]:
            at = line.find(piece, at)
            if at < 0:
                return False
            at += len(piece)
        return len(pieces) > 1 or line == pattern
    shown = [line.rstrip() for line in shown.strip("\n").splitlines()]
    printed = [line.rstrip() for line in printed.splitlines()]
    return any(all(matches(s, p) for s, p in zip(shown, printed[start:start + len(shown)]))
               for start in range(len(printed) - len(shown) + 1))


def test_the_readme_shows_what_its_examples_print():
    assert _shows("a = …: …, p\nb", "x\na = 1: 2, p\nb\n")
    assert not _shows("a = 1\nb", "a = 1\nc\nb\n")


@pytest.mark.parametrize("number", range(len(_examples(
    (ROOT / "README.md").read_text(encoding="utf-8")))))
def test_each_readme_example_runs_on_its_own_and_prints_what_the_readme_shows(number, tmp_path):
    code, outputs = _examples((ROOT / "README.md").read_text(encoding="utf-8"))[number]
    done = _python(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for shown in outputs:
        assert _shows(shown, done.stdout), f"the README shows\n{shown}\nthe code printed\n" \
                                            f"{done.stdout}"
