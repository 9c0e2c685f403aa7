"""The documentation site in docs/: what it covers, and that it builds cleanly.

The first tests read the sources only. The build test needs the docs extra
(``pip install ".[docs]"``) and is skipped without it; it runs Sphinx with
warnings as errors into a temporary folder, never into the checkout.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jacobians
from jacobians.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _public_names():
    """The names ``import jacobians as jac`` offers, its submodules left out."""
    package = ROOT / "jacobians"
    return sorted(name for name in dir(jacobians)
                  if not name.startswith("_")
                  and not (package / f"{name}.py").exists()
                  and not (package / name).is_dir())


def test_every_public_name_has_an_api_entry():
    api = "\n".join(page.read_text(encoding="utf-8") for page in (DOCS / "api").glob("*.rst"))
    ops = (DOCS / "api" / "ops.rst").read_text(encoding="utf-8")
    for name in REGISTRY:
        assert f".. autofunction:: jacobians.{name}\n" in ops, f"jac.{name} is not on the ops page"
    missing = [name for name in _public_names()
               if name not in REGISTRY and not re.search(rf"(?:[.~]|``){name}\b", api)]
    assert not missing, f"public names without an entry in docs/api: {missing}"


def test_every_figure_is_on_the_figures_page():
    page = (DOCS / "figures.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\{figure\} \.\./figures/([\w.-]+\.png)", page))
    assert shown, "the figures page shows no figure"
    on_disk = {path.name for path in (ROOT / "figures").glob("*.png")}
    assert shown <= on_disk, f"the figures page names missing files: {sorted(shown - on_disk)}"
    assert on_disk <= shown, f"figures not on the figures page: {sorted(on_disk - shown)}"


def test_the_lectures_are_the_repository_folder():
    # docs/lectures is a link to lectures/, so the site shows the committed notebooks themselves
    assert (DOCS / "lectures").resolve() == (ROOT / "lectures").resolve()


def test_site_builds_without_warnings(tmp_path):
    reason = 'building the docs needs the docs extra: pip install ".[docs]"'
    pytest.importorskip("sphinx", reason=reason)
    pytest.importorskip("myst_nb", reason=reason)
    html = tmp_path / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stderr}"

    index = (html / "index.html").read_text(encoding="utf-8")
    assert "Five questions" in index and 'href="api/index.html"' in index

    # a lecture: rendered from the committed notebook, outputs and pictures included
    lecture = (html / "lectures" / "01-vector-by-matrix.html").read_text(encoding="utf-8")
    assert "Lecture 1" in lecture
    assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', lecture)

    # an API page: functions with their docstrings, a doctest under its own Examples header
    chain = (html / "api" / "chain.html").read_text(encoding="utf-8")
    assert 'id="jacobians.chain.grad"' in chain and ">Examples<" in chain
    ops = (html / "api" / "ops.html").read_text(encoding="utf-8")
    assert 'id="jacobians.matmul"' in ops

    figures = (html / "figures.html").read_text(encoding="utf-8")
    assert figures.count("<figure") == len(list((ROOT / "figures").glob("*.png")))
