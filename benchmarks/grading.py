"""Seconds per graded notebook, serial against sharded, on a generated class.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/grading.py --students 40 --workers 2

Builds a class of --students learners for one assignment (default rnn_forward) in a temporary
copy of the course: a third hand in the solution, a third the untouched student version, the rest
one of the assignment's known mistakes (tests/exercise_submissions). It grades the class twice
with rnncourse.grade, once with one worker and once with --workers, each into a fresh
gradebook, checks that both gradebooks hold the same score for every test cell of every learner,
and prints the wall time and seconds per notebook of each run.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # exercise_submissions: the known mistakes

from rnncourse import course, grade  # noqa: E402


def make_class(root, assignment, students):
    """A course at `root` with `students` submissions of `assignment`; returns nothing."""
    root.mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "exercises" / "source" / assignment, root / "source" / assignment)
    release_course = root.parent / "release_course"
    release_course.mkdir()
    shutil.copy(root / "nbgrader_config.py", release_course)
    shutil.copytree(root / "source", release_course / "source")
    course.run_nbgrader(release_course, f"sqlite:///{release_course / 'gb.db'}", "generate_assignment", assignment)
    source = root / "source" / assignment / f"{assignment}.ipynb"
    untouched = release_course / "release" / assignment / f"{assignment}.ipynb"
    mistakes = list(__import__(f"exercise_submissions.{assignment}", fromlist=["MISTAKES"]).MISTAKES.values())
    for k in range(students):
        folder = root / "submitted" / f"student{k:03d}" / assignment
        folder.mkdir(parents=True)
        if k % 3 == 0:
            shutil.copy(source, folder / f"{assignment}.ipynb")
        elif k % 3 == 1:
            shutil.copy(untouched, folder / f"{assignment}.ipynb")
        else:
            nb = nbformat.read(source, as_version=4)
            mistake = mistakes[k % len(mistakes)]
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == mistake.function:
                    cell.source = mistake.code
            nbformat.write(nb, folder / f"{assignment}.ipynb")


def scores(db, course_id):
    from nbgrader.api import Gradebook
    with Gradebook(db, course_id) as gb:
        return {(s.student.id, s.assignment.name, nb.name, g.name): g.score
                for a in gb.assignments for s in a.submissions for nb in s.notebooks for g in nb.grades}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--assignment", default="rnn_forward")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, args.workers):
            root = Path(tmp) / f"workers{workers}" / "course"
            make_class(root, args.assignment, args.students)
            started = time.perf_counter()
            graded, _, _, _ = grade.grade(root, workers=workers, progress=False)
            seconds = time.perf_counter() - started
            results[workers] = (seconds, scores(f"sqlite:///{root / 'gradebook.db'}", course.course_id(root)))
            print(f"workers={workers}: {len(graded)} notebooks in {seconds:.1f} s wall, "
                  f"{seconds / len(graded):.2f} s per notebook (feedback, CSV and report included)")
    serial, sharded = results[1], results[args.workers]
    assert serial[1] == sharded[1], "the sharded gradebook differs from the serial one"
    print(f"same {len(serial[1])} cell scores in both gradebooks; speed-up {serial[0] / sharded[0]:.2f}x")


if __name__ == "__main__":
    main()
