"""`make release` (rnncourse.release) on a temporary copy of the course: the student
version of every assignment, one zip each holding exactly it, the same bytes on a second run,
and the assignments recorded in the gradebook that grading needs."""
import shutil
import zipfile
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from rnncourse import course, release

ROOT = Path(__file__).resolve().parents[1]

ASSIGNMENTS = ("rnn_forward", "gru")


def test_release_makes_student_versions_and_zips(tmp_path):
    root = tmp_path / "exercises"
    root.mkdir()
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", root / "nbgrader_config.py")
    for name in ASSIGNMENTS:
        shutil.copytree(ROOT / "exercises" / "source" / name, root / "source" / name)
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"

    assert release.release(root, db=db) == sorted(ASSIGNMENTS)
    first = {name: (root / "release" / f"{name}.zip").read_bytes() for name in ASSIGNMENTS}
    for name in ASSIGNMENTS:
        student = root / "release" / name / f"{name}.ipynb"
        text = student.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "rnncourse"):
            assert marker not in text, f"{name}: the student version contains {marker!r}"
        nb = nbformat.read(student, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
        with zipfile.ZipFile(root / "release" / f"{name}.zip") as archive:
            assert archive.namelist() == [f"{name}/{name}.ipynb"]
            assert archive.read(f"{name}/{name}.ipynb") == student.read_bytes()

    release.release(root, db=db)  # a second release gives the same zips
    assert {name: (root / "release" / f"{name}.zip").read_bytes() for name in ASSIGNMENTS} == first
    with Gradebook(db, course.course_id(root)) as gb:
        assert sorted(a.name for a in gb.assignments) == sorted(ASSIGNMENTS)
