"""The command line: ``python -m jacobians [figures | cost | tour | lectures]``.

With no command it runs the main job: regenerate the figures, then print
the naive-against-VJP cost table.
"""
import argparse
from pathlib import Path

import numpy as np

from .chain import chain_rule, grad
from .cost import cost_row, cost_table, sweep
from .derive import derive
from .examples import QUESTIONS
from .figures import FIGURES, regenerate
from .graph import trace_graph
from .notebooks import lecture_paths, run_in_place
from .plot_cost import plot_cost_growth


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


def cost(size=None, sweeps=("Q0",), sizes=(8, 16, 32, 64, 128), repeat=11, out="figures",
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
    out : str or path
        Directory for the figures ``cost_growth_<key>.png``.
    figures : bool
        Whether to write the figures.
    quiet : bool
        No progress bar.
    measured : bool
        Whether to time the runs; without, only counts are shown and each
        figure is the same file on every run.
    """
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
        print(f"\n{key} as N grows ({grown.scale} = N); a cost growing as Nᵏ has slope k\n")
        print(grown)
        if figures:
            path = Path(out) / f"cost_growth_{key}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            # No "Software" entry: the file's bytes then depend only on the sweep's numbers.
            plot_cost_growth(grown).savefig(path, dpi=110, metadata={"Software": None})
            print(f"wrote {path}")


def write_figures(out="figures", names=None):
    """Regenerate the teaching figures and print each file with what it teaches.

    Parameters
    ----------
    out : str or path
        The folder to write into.
    names : sequence of str, optional
        Only these figures (file names); all of them when None or empty.
    """
    paths = regenerate(out, names or None)
    teaches = {spec.name: spec.teaches for spec in FIGURES}
    width = max(len(str(p)) for p in paths)
    for path in paths:
        print(f"wrote {str(path):{width}}  {teaches[path.name]}")


def run_lectures(folder="lectures"):
    """Re-execute every lecture notebook in place and print how long each took."""
    for path, seconds in run_in_place(lecture_paths(folder)):
        print(f"ran {path} in {seconds:.1f} s")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jacobians", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("tour", help="Q0's local Jacobians, the naive chain and the VJPs")
    costs = commands.add_parser(
        "cost", help="naive against VJP for every question: counted, measured, and swept",
        description="FLOPs and bytes of the naive chain and of the VJP sweep for the five "
                    "questions, with measured times; then sweeps over sizes, with log-log "
                    "figures of how each cost grows.")
    costs.add_argument("--size", type=_positive_int, metavar="N",
                       help="scale every question's dimensions to N (default: their own sizes)")
    costs.add_argument("--sweep", nargs="*", default=["Q0"], choices=list(QUESTIONS),
                       metavar="KEY", help="questions to sweep over --sizes (default: Q0; "
                                           "give none to skip the sweep)")
    costs.add_argument("--sizes", nargs="+", type=_positive_int, default=[8, 16, 32, 64, 128],
                       metavar="N", help="the sweep's sizes (default: 8 16 32 64 128)")
    costs.add_argument("--repeat", type=_positive_int, default=11,
                       help="timed rounds per measurement (default: 11)")
    costs.add_argument("--out", default="figures",
                       help="directory for the figures (default: figures/)")
    costs.add_argument("--no-figures", action="store_true", help="write no figures")
    costs.add_argument("--no-measure", action="store_true",
                       help="count only, time nothing (the figures are then reproducible)")
    costs.add_argument("--quiet", action="store_true", help="no progress bar")
    drawn = commands.add_parser(
        "figures", help="regenerate the teaching figures (shapes, sparsity, chains) as PNGs",
        description="Write every figure the README and the lectures teach with, from fixed "
                    "seeds: the same bytes on every run. The cost figures come from `cost`.")
    drawn.add_argument("--out", default="figures",
                       help="directory for the figures (default: figures/)")
    drawn.add_argument("names", nargs="*", metavar="NAME",
                       help="only these figures, e.g. q0_chain.png (default: all)")
    taught = commands.add_parser(
        "lectures", help="re-execute the lecture notebooks in place, saving their outputs")
    taught.add_argument("--dir", default="lectures",
                        help="the folder of NN-topic.ipynb notebooks (default: lectures/)")
    options = parser.parse_args(argv)
    if options.command == "cost" and options.sweep and len(set(options.sizes)) < 2:
        costs.error("a sweep needs at least two distinct --sizes to fit a slope")
    if options.command == "figures":
        unknown = sorted(set(options.names) - {spec.name for spec in FIGURES})
        if unknown:
            drawn.error(f"no figure named {', '.join(unknown)}; choose from "
                        f"{', '.join(spec.name for spec in FIGURES)}")
        write_figures(options.out, options.names)
    elif options.command == "cost":
        cost(options.size, options.sweep, options.sizes, options.repeat, options.out,
             not options.no_figures, options.quiet, not options.no_measure)
    elif options.command == "tour":
        tour()
    elif options.command == "lectures":
        run_lectures(options.dir)
    else:
        write_figures()
        print()
        cost()


if __name__ == "__main__":
    main()
