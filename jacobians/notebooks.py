"""Re-executing the lecture notebooks in place, outputs and all.

The lectures are committed with their outputs so they read well on a
repository page; after a change to the library, one command runs each of
them from a fresh kernel and writes the new outputs back.
"""
import time
from importlib.util import find_spec
from pathlib import Path

# What re-running the lectures needs besides the library: the ``lectures`` extra.
REQUIREMENTS = ("nbformat", "nbclient", "ipykernel")


def missing_requirements():
    """The modules of the ``lectures`` extra that this Python cannot import.

    Returns
    -------
    list of str
        Empty when the lectures can be re-run.
    """
    return [name for name in REQUIREMENTS if find_spec(name) is None]


def run_in_place(paths, timeout=60):
    """Execute each notebook top to bottom in a fresh kernel and save it.

    Parameters
    ----------
    paths : iterable of path
        ``.ipynb`` files; each runs with its own folder as working directory.
    timeout : float
        Seconds allowed per cell.

    Returns
    -------
    list of (Path, float)
        Each notebook and the seconds it took.
    """
    # Imported here: only this command needs the notebook machinery.
    import nbformat
    from nbclient import NotebookClient

    timings = []
    for path in map(Path, paths):
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        # No per-cell timestamps, and printed text merged into one output per
        # stream however it arrived: a re-run changes only what the code printed.
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                       coalesce_streams=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        timings.append((path, time.perf_counter() - start))
        nbformat.write(notebook, path)
    return timings


def lecture_paths(folder="lectures"):
    """The lecture notebooks in ``folder``, in their numbered order."""
    paths = sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no lecture notebooks (NN-topic.ipynb) in {folder}/")
    return paths
