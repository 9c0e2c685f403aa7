"""Sphinx configuration for the jacobians documentation.

Build with ``sphinx-build -W --keep-going -b html docs <output folder>``
from the repository's root, after ``pip install ".[docs]"``. The lectures
are rendered from the committed notebooks, outputs and all, and never
re-executed; the API pages are read from the docstrings of this checkout.
"""
import inspect
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # document this checkout, not some installed copy

import jacobians  # from the checkout, now that the path is set

project = "jacobians"
author = "the jacobians authors"
copyright = "the jacobians authors"
release = version = jacobians.__version__

extensions = [
    "myst_nb",                  # Markdown pages and the lecture notebooks
    "sphinx.ext.autodoc",       # the API pages, from the docstrings
    "sphinx.ext.autosummary",   # one-line summaries of the public names
    "sphinx.ext.napoleon",      # the docstrings are NumPy style
    "sphinx.ext.mathjax",       # the lectures' LaTeX
    "sphinx.ext.viewcode",      # a link from each object to its source
]

root_doc = "index"
# lectures/solutions holds the exercises' reference solutions, read by the tests, not a page.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "lectures/solutions"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# The lectures are committed with their outputs; the docs show those outputs.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# NumPy-style docstrings only.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True       # attributes as one compact field list
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autosummary_generate = False    # never write stub files into the source folder

html_theme = "alabaster"
html_title = "jacobians"
html_theme_options = {
    "description": "The tensor calculus behind backpropagation, with real tensors",
    "page_width": "1180px",     # room for the lectures' printed tables
    "sidebar_width": "240px",
    "code_font_size": "0.8em",
    "fixed_sidebar": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_static_path = ["_static"]
html_css_files = ["custom.css"]


def skip_tuple_fields(app, what, name, obj, skip, options):
    """Leave out the fields a NamedTuple makes for itself.

    Their only docstring is "Alias for field number N", and the class's own
    Attributes section already describes each field.
    """
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def op_signature(app, what, name, obj, options, signature, return_annotation):
    """Show an operation as NumPy spells the call: ``clip(X, a_min=None, a_max=None)``.

    An operation is an object whose ``__call__`` takes ``*args, **params``;
    its own attributes say which arrays and constants it takes.
    """
    from jacobians.ops.base import Op

    if not isinstance(obj, Op):
        return None
    try:
        defaults = {p.name: p.default for p in inspect.signature(obj._check).parameters.values()
                    if p.default is not inspect.Parameter.empty}
    except (TypeError, ValueError):
        defaults = {}
    if obj.variadic:
        arrays = ["*operands"] if obj.leading else ["arrays"]
    else:
        arrays = list(obj.arg_names)
    constants = [p if p not in defaults else f"{p}={defaults[p]!r}"
                 for p in obj.params if p != obj.leading]
    return "(" + ", ".join(([obj.leading] if obj.leading else []) + arrays + constants) + ")", None


def setup(app):
    app.connect("autodoc-process-signature", op_signature)
    app.connect("autodoc-skip-member", skip_tuple_fields)
