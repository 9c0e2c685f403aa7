"""Every lecture exercise accepts its reference solution, and rejects a wrong answer.

Each lecture notebook ``lectures/NN-topic.ipynb`` marks its exercises the same way: an
answer cell whose last line is exactly ``answer = None  # your expression here``, then a
check cell that computes ``expected`` and prints ``jac.check_answer(answer, expected)``.
The reference solutions live in ``lectures/solutions/NN-topic.md``, one section per
exercise in order (``## Exercise k`` and a ```` ```python ```` block that replaces the
answer line and sets ``answer``).

For every notebook the test fills each answer cell with its solution, puts after each
check cell one more cell that checks a deliberately wrong answer made from the solution
(a number or array plus ``1 + |answer|``, a shape with one axis more, a word with a letter
more) by running the check cell's own code again, runs the copy once from a fresh kernel
with ``lectures/`` as working directory, and expects ``correct`` from every real check and
``not yet`` from every wrong one. A notebook that announces exercises without marking
them so, or marks them out of order, fails. Nothing is written into the checkout. Select
one lecture with ``-k 05``.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "lectures"
SOLUTIONS = LECTURES / "solutions"
NOTEBOOKS = sorted(LECTURES.glob("[0-9][0-9]-*.ipynb"))

ANSWER_LINE = "answer = None  # your expression here"
CHECK_CALL = "jac.check_answer(answer, expected)"
TIMEOUT = 60  # seconds per cell

# Run after each real check: the check cell itself once more, on an answer that must not
# pass, made from the solution's; so a check that accepts anything is caught.
WRONG_CHECK = '''\
def _wrong(value):
    """Another answer of the same kind that cannot be right."""
    import numpy
    if isinstance(value, str):
        return value + "x"                                  # a different word
    if isinstance(value, tuple) and all(isinstance(n, (int, numpy.integer)) for n in value):
        return tuple(value) + (1,)                          # a different shape
    value = numpy.asarray(value, dtype=float)
    return value + 1 + numpy.abs(value)                     # off by more than any tolerance

_kept, answer = answer, _wrong(answer)
{check}
answer = _kept
del _wrong, _kept'''

# How a lecture announces an exercise in its markdown: **Exercise 3.**
EXERCISE_HEADING = re.compile(r"\*\*Exercise \d+")


def _is_answer_cell(cell):
    return cell.cell_type == "code" and cell.source.rstrip().split("\n")[-1] == ANSWER_LINE


def _is_check_cell(cell):
    return cell.cell_type == "code" and CHECK_CALL in cell.source


def read_solutions(path):
    """The python blocks of a solutions file, one per exercise, in order."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^## Exercise (\d+)[ \t]*$", text, flags=re.M)
    numbers = [int(n) for n in parts[1::2]]
    assert numbers == list(range(1, len(numbers) + 1)), (
        f"{path.name}: the sections are numbered {numbers}; expected Exercise 1, 2, … in order")
    blocks = []
    for number, body in zip(numbers, parts[2::2]):
        found = re.search(r"^```python[ \t]*\n(.*?)^```", body, flags=re.M | re.S)
        assert found, f"{path.name}, Exercise {number}: no ```python block"
        code = found.group(1).rstrip("\n")
        assert re.search(r"^answer\s*=(?!=)", code, flags=re.M), (
            f"{path.name}, Exercise {number}: the block never sets `answer`")
        blocks.append(code)
    return blocks


def _printed(cell):
    """The last line a code cell printed on standard output."""
    text = "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_solutions_are_marked_correct(notebook):
    nbformat = pytest.importorskip("nbformat", reason='needs the lectures extra: pip install ".[lectures]"')
    nbclient = pytest.importorskip("nbclient", reason='needs the lectures extra: pip install ".[lectures]"')

    nb = nbformat.read(notebook, as_version=4)
    answers = [i for i, cell in enumerate(nb.cells) if _is_answer_cell(cell)]
    checks = [i for i, cell in enumerate(nb.cells) if _is_check_cell(cell)]
    assert len(checks) == len(answers), (
        f"{notebook.name}: {len(answers)} answer cell(s) but {len(checks)} check cell(s)")
    # Each check follows its own answer cell, before the next exercise's.
    for k, (answer, check) in enumerate(zip(answers, checks), start=1):
        following = answers[k] if k < len(answers) else len(nb.cells)
        assert answer < check < following, (
            f"{notebook.name}, Exercise {k}: its check cell is not between its answer cell "
            f"and the next exercise's")
    solutions_file = SOLUTIONS / f"{notebook.stem}.md"
    if not answers:
        announced = [cell for cell in nb.cells if cell.cell_type == "markdown"
                     and EXERCISE_HEADING.search(cell.source)]
        assert not announced and not solutions_file.exists(), (
            f"{notebook.name} announces exercises or has solutions, but no answer cell ends "
            f"with exactly {ANSWER_LINE!r}")
        return
    assert solutions_file.exists(), (
        f"{notebook.name} has {len(answers)} exercise(s) but no solutions file "
        f"lectures/solutions/{solutions_file.name}")
    solutions = read_solutions(solutions_file)
    assert len(solutions) == len(answers), (
        f"lectures/solutions/{solutions_file.name} has {len(solutions)} solution(s) for the "
        f"{len(answers)} exercise(s) of {notebook.name}")

    # Fill the answers in, and put a wrong-answer check after every check cell.
    for index, solution in zip(answers, solutions):
        lines = nb.cells[index].source.rstrip().split("\n")
        nb.cells[index].source = "\n".join(lines[:-1] + [solution])
    real, wrong = [], []
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if _is_check_cell(cell):
            real.append(cell)
            injected = nbformat.v4.new_code_cell(WRONG_CHECK.format(check=cell.source))
            wrong.append(injected)
            cells.append(injected)
    nb.cells = cells

    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(LECTURES)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{notebook.name} with its solutions filled in failed to run:\n{error}")

    for number, (check, injected) in enumerate(zip(real, wrong), start=1):
        assert _printed(check) == "correct", (
            f"{notebook.name}, Exercise {number}: the reference solution is marked "
            f"{_printed(check)!r}")
        assert _printed(injected).startswith("not yet"), (
            f"{notebook.name}, Exercise {number}: a wrong answer is marked {_printed(injected)!r}")


def test_every_solutions_file_belongs_to_a_lecture():
    stems = {path.stem for path in NOTEBOOKS}
    orphans = sorted(path.name for path in SOLUTIONS.glob("*.md") if path.stem not in stems)
    assert not orphans, f"solutions without a lecture notebook: {orphans}"
