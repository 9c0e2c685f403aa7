"""The command line: ``python -m jacobians [figures | cost | tour | lectures]``.

With no command it runs the main job: regenerate the committed figures,
then print the naive-against-VJP cost table. Every committed figure is the
same file on every run, so the main job leaves a checkout as it found it;
the cost figures drawn from measured times go to a folder named with
``--out``, or to a new temporary one.
"""
import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from . import __version__
from .chain import chain_rule, grad
from .cost import FIT_LARGEST, cost_row, cost_table, sweep
from .derive import derive
from .examples import QUESTIONS
from .figures import FIGURES, regenerate
from .graph import trace_graph
from .notebooks import lecture_paths, missing_requirements, run_in_place
from .plot_cost import plot_cost_growth

# The top-level help, in plain words: argparse prints it as it stands.
DESCRIPTION = ("The tensor calculus of backpropagation, with real tensors. With no command: "
               "regenerate the committed figures in figures/, then print what the naive "
               "chain and the VJP sweep cost for the five learner questions, measured "
               "(the measured sweep's figure goes to a temporary folder).")


def tour():
    """Q0 with real tensors: the local Jacobians, the naive chain, the VJPs."""
    q = QUESTIONS["Q0"]
    args = q.args()
    print(f"{q.key}. {q.title}\n    H = X W,  ŷ = H v,  l = ½‖ŷ − y‖²   "
          f"(n, m, p = {q.sizes['n']}, {q.sizes['m']}, {q.sizes['p']})\n")
    print(f"{trace_graph(q.function, *args)}\n")
    naive = chain_rule(q.function, wrt=q.wrt)(*args)
    print("The naive chain contracts the materialised Jacobians:")
    print(f"{naive}\n")
    print("The derived backprop program eliminates the deltas first:")
    print(f"{derive(q.function, wrt=q.wrt)(*args)}\n")
    efficient = grad(q.function, wrt=q.wrt)(*args)
    print(f"naive chain == VJP sweep: {np.allclose(naive.jacobian, efficient)};  "
          f"== Xᵀ(ŷ − y)vᵀ: {np.allclose(efficient, q.closed_form(*args))}")


def cost(size=None, sweeps=("Q0",), sizes=(8, 16, 32, 64, 128), repeat=11, out=None,
         figures=True, quiet=False, measured=True):
    """The naive chain against the VJP sweep for every question, then sweeps and figures.

    Parameters
    ----------
    size : int, optional
        Scale every question's dimensions to this; their own sizes when None.
    sweeps : sequence of str
        Questions to sweep over ``sizes``; each gets a table and a figure.
    sizes : sequence of int
        The sweep's sizes N.
    repeat : int
        Timed rounds per measurement.
    out : str or path, optional
        Folder for the figures ``cost_growth_<key>.png``; a new temporary
        folder, its name printed, when None. The committed
        ``figures/cost_growth_Q0.png`` holds counts alone and comes from
        :func:`write_figures`.
    figures : bool
        Whether to write the figures.
    quiet : bool
        No progress bar.
    measured : bool
        Whether to time the runs; without, only counts are shown and each
        figure is the same file on every run.
    """
    folder = None if out is None else Path(out)
    rows = [cost_row(key, size, measured, repeat) for key in QUESTIONS]
    print("What the gradient costs: the naive chain (every local Jacobian materialised, then "
          "contracted: jac.jacobian)\nagainst the VJP sweep (each op's hand rule: jac.grad)\n")
    print(cost_table(rows))
    print("\nbytes and FLOPs: counted by running each on shapes alone; bytes: the most held at "
          "once, float64;\nFLOP ratio: naive reverse / VJP")
    if measured:
        print(f"times: median of {repeat} interleaved runs, tracing included; peak: "
              f"tracemalloc, one separate run each")
    for key in sweeps:
        grown = sweep(key, sizes, measured, repeat, progress=False if quiet else None)
        fitted = min(FIT_LARGEST, len(set(sizes)))
        print(f"\n{key} as N grows ({grown.scale} = N); a cost growing as Nᵏ has slope k, "
              f"fitted on the {fitted} largest sizes\n")
        print(grown)
        if figures:
            if folder is None:
                folder = Path(tempfile.mkdtemp(prefix="jacobians-cost-"))
                print(f"(figures go to a new temporary folder, {folder}; name one with --out)")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"cost_growth_{key}.png"
            # No "Software" entry: the file's bytes then depend only on the sweep's numbers.
            plot_cost_growth(grown).savefig(path, dpi=110, metadata={"Software": None})
            print(f"wrote {path}")


def write_figures(out="figures", names=None, fmt="png"):
    """Regenerate the teaching figures and print each file with what it teaches.

    Parameters
    ----------
    out : str or path
        The folder to write into.
    names : sequence of str, optional
        Only these figures (their PNG file names); all of them when None or empty.
    fmt : {"png", "svg"}
        The files' format: SVG scales on slides.
    """
    paths = regenerate(out, names or None, fmt)
    teaches = {spec.name: spec.teaches for spec in FIGURES}
    width = max(len(str(p)) for p in paths)
    for path in paths:
        print(f"wrote {str(path):{width}}  {teaches[path.with_suffix('.png').name]}")


def run_lectures(folder="lectures"):
    """Re-execute every lecture notebook in place and print how long each took."""
    for path, seconds in run_in_place(lecture_paths(folder)):
        print(f"ran {path} in {seconds:.1f} s")


def _out_problem(folder):
    """What stops ``--out folder`` from taking files, in words, or None if nothing does.

    The folder itself may be missing (it is made), its parent may not: a
    mistyped path is reported rather than created.
    """
    path = Path(folder)
    if path.exists():
        if not path.is_dir():
            return f"--out {folder} is a file, not a folder"
        target = path
    else:
        target = path.parent
        if not target.exists():
            return f"--out {folder}: its parent folder {target} does not exist"
        if not target.is_dir():
            return f"--out {folder}: {target} is a file, not a folder"
    if not os.access(target, os.W_OK | os.X_OK):
        return f"--out {folder}: {target} is not writable"
    return None


def _fail(parser, message, status=1):
    """Exit with ``message`` as one line on standard error: no traceback."""
    parser.exit(status, f"{parser.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser():
    """The command line's parser and each command's own.

    Returns
    -------
    parser : argparse.ArgumentParser
    commands : dict of str to argparse.ArgumentParser
        ``"tour"``, ``"cost"``, ``"figures"`` and ``"lectures"``.
    """
    parser = argparse.ArgumentParser(prog="jacobians", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    toured = commands.add_parser(
        "tour", help="Q0's local Jacobians, the naive chain and the VJPs, printed",
        description="Walk through Q0 (H = X W, ŷ = H v, l = ½‖ŷ − y‖²) with real tensors: "
                    "its traced graph, the naive chain over the materialised local "
                    "Jacobians, the derived backprop program, and the check that the naive "
                    "chain, the VJP sweep and the closed form agree.")
    costs = commands.add_parser(
        "cost", help="naive against VJP for every question: counted, measured, and swept",
        description="FLOPs and bytes of the naive chain and of the VJP sweep for the five "
                    "questions, counted on shapes, with measured times; then sweeps over "
                    "sizes, with log-log figures of how each cost grows. Figures with "
                    "measured times differ from run to run: they go to --out, or to a new "
                    "temporary folder whose name is printed.")
    costs.add_argument("--size", type=_positive_int, metavar="N",
                       help="scale every question's dimensions to N (default: their own sizes)")
    costs.add_argument("--sweep", nargs="*", default=["Q0"], choices=list(QUESTIONS),
                       metavar="KEY", help="questions to sweep over --sizes (default: Q0; "
                                           "give none to skip the sweep)")
    costs.add_argument("--sizes", nargs="+", type=_positive_int, default=[8, 16, 32, 64, 128],
                       metavar="N", help="the sweep's sizes (default: 8 16 32 64 128)")
    costs.add_argument("--repeat", type=_positive_int, default=11, metavar="K",
                       help="timed rounds per measurement (default: 11)")
    costs.add_argument("--out", metavar="DIR",
                       help="folder for the figures (default: a new temporary folder)")
    costs.add_argument("--no-figures", action="store_true", help="write no figures")
    costs.add_argument("--no-measure", action="store_true",
                       help="count only, time nothing (the figures are then reproducible)")
    costs.add_argument("--quiet", action="store_true", help="no progress bar")
    drawn = commands.add_parser(
        "figures", help="regenerate the committed figures (shapes, sparsity, chains, cost "
                        "growth), as PNGs or SVGs",
        description="Write every figure the README and the lectures teach with, from fixed "
                    "seeds and from FLOPs and bytes counted on shapes: the same bytes on every "
                    "run, so regenerating them leaves a checkout clean. Figures with measured "
                    "times come from the cost command.")
    drawn.add_argument("--out", default="figures", metavar="DIR",
                       help="folder for the figures, made if missing (default: figures/)")
    drawn.add_argument("--format", choices=("png", "svg"), default="png",
                       help="PNG (committed) or SVG, which scales on slides (default: png)")
    drawn.add_argument("names", nargs="*", metavar="NAME",
                       help="only these figures, e.g. q0_chain.png (default: all)")
    taught = commands.add_parser(
        "lectures", help="re-execute the lecture notebooks in place, saving their outputs",
        description="Run every lecture notebook (NN-topic.ipynb) top to bottom in a fresh "
                    "kernel and write its outputs back into it. The notebooks come with the "
                    "repository, not with the installed package: run this from the "
                    "repository's root, with the lectures extra installed.")
    taught.add_argument("--dir", default="lectures", metavar="DIR",
                        help="the folder of NN-topic.ipynb notebooks (default: lectures/)")
    return parser, {"tour": toured, "cost": costs, "figures": drawn, "lectures": taught}


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; those the program was called with when None.
    """
    parser, commands = build_parser()
    options = parser.parse_args(argv)
    chosen = commands.get(options.command, parser)
    if options.command == "cost" and options.sweep and len(set(options.sizes)) < 2:
        chosen.error("a sweep needs at least two distinct --sizes to fit a slope")
    if options.command in ("cost", "figures") and options.out is not None:
        problem = _out_problem(options.out)
        if problem:
            _fail(chosen, problem, status=2)
    try:
        _run(options, chosen)
    except OSError as error:
        # A file that could not be written or read: say which, and why, in one line.
        _fail(chosen, f"{error.strerror}: {error.filename}" if error.strerror and error.filename
              else str(error))


def _run(options, parser):
    """Carry out the command that ``options`` name; ``parser`` is its own."""
    if options.command == "figures":
        # A figure is named by its file, in either format: q0_chain.png or q0_chain.svg.
        options.names = [name[:-4] + ".png" if name.endswith(".svg") else name
                         for name in options.names]
        unknown = sorted(set(options.names) - {spec.name for spec in FIGURES})
        if unknown:
            parser.error(f"no figure named {', '.join(unknown)}; choose from "
                         f"{', '.join(spec.name for spec in FIGURES)}")
        write_figures(options.out, options.names, options.format)
    elif options.command == "cost":
        cost(options.size, options.sweep, options.sizes, options.repeat, options.out,
             not options.no_figures, options.quiet, not options.no_measure)
    elif options.command == "tour":
        tour()
    elif options.command == "lectures":
        if not Path(options.dir).is_dir():
            _fail(parser, f"no {Path(options.dir)}/ folder to run the lectures from: they come "
                          f"with the repository, so run this from its root (or name their "
                          f"folder with --dir)")
        missing = missing_requirements()
        if missing:
            _fail(parser, f"re-running the lectures needs {', '.join(missing)}: install the "
                          f"lectures extra, pip install \".[lectures]\" in the repository")
        run_lectures(options.dir)
    else:
        write_figures()
        print()
        cost()


if __name__ == "__main__":
    main()
