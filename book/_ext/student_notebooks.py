"""Sphinx extension: the files the Exercises pages offer, generated at the start of every build.

For each assignment in exercises/source/ it writes, into _build/exercise_files/:

- <name>.ipynb: the student version, made by the real `nbgrader generate_assignment` in a
  temporary copy of the course, so the download is exactly what an instructor releases: no
  solution, no hidden test, no output;
- <name>_points.md: the graded functions, their test cells and points, read from the source
  notebook, which the page includes (so the page never disagrees with the grading).

An assignment is generated again only when its source notebook or the nbgrader config changed.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

OUTPUT = Path("_build") / "exercise_files"


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def points_table(source_path):
    """A MyST table: each graded function, the aspects its test cells check, and its points."""
    nb = nbformat.read(source_path, as_version=4)
    functions = [_meta(c)["grade_id"] for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]
    rows, total = [], 0
    for function in functions:
        tests = [c for c in nb.cells if _meta(c).get("grade")
                 and max((f for f in functions if _meta(c)["grade_id"].startswith(f"test_{f}_")),
                         key=len, default=None) == function]
        points = sum(_meta(c)["points"] for c in tests)
        total += points
        aspects = ", ".join(_meta(c)["grade_id"][len(f"test_{function}_"):].replace("_", " ") for c in tests)
        rows.append(f"| `{function}` | {aspects} | {points:g} |")
    header = "| You write | What the test cells check | Points |\n| --- | --- | --- |"
    return f"{header}\n" + "\n".join(rows) + f"\n| **Total** | | **{total:g}** |\n"


def _student_version(course_root, name, target):
    """Runs `nbgrader generate_assignment` on a temporary copy of the course and copies the result."""
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(course_root / "source" / name, course / "source" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copy(course_root / "nbgrader_config.py", course / "nbgrader_config.py")
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(Path(tmp) / "jupyter_config"))
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", name,
                   f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"]
        result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
        released = course / "release" / name / f"{name}.ipynb"
        if result.returncode != 0 or not released.is_file():
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{result.stdout}\n{result.stderr}")
        shutil.copy(released, target)


def generate(app):
    root = Path(app.srcdir)
    course_root = root / "exercises"
    out = root / OUTPUT
    out.mkdir(parents=True, exist_ok=True)
    config_hash = hashlib.sha256((course_root / "nbgrader_config.py").read_bytes()).hexdigest()
    for folder in sorted((course_root / "source").iterdir()):
        source = folder / f"{folder.name}.ipynb"
        if not source.is_file():
            continue
        stamp = out / f"{folder.name}.sha256"
        digest = hashlib.sha256(source.read_bytes()).hexdigest() + config_hash
        student = out / f"{folder.name}.ipynb"
        if not (student.is_file() and stamp.is_file() and stamp.read_text() == digest):
            _student_version(course_root, folder.name, student)
            (out / f"{folder.name}_points.md").write_text(points_table(source), encoding="utf-8")
            stamp.write_text(digest)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
