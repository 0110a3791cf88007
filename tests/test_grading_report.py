"""The grades CSV and the HTML summary report (rnncourse.report, rnncourse.export).

Two gradebooks:

- a real one: a temporary copy of the course releases rnn_forward and grades, in one run of the
  real nbgrader CLI, three submissions: the solution (full marks), the untouched student version
  (zero) and a wrong rnn_forward that raises an error whose message is HTML (the step tests pass,
  the sequence tests fail). A fourth student is in the gradebook without a submission.
- a synthetic one, written through nbgrader's Gradebook API: two assignments (one with two
  notebooks), hostile student ids, manual and partial scores -- the cases a small real class
  does not reach, without the cost of grading.

Both are checked against what the gradebook says: CSV rows and values, the report's counts and
pass rates, escaping of everything a student controls, no external resource, determinism.
"""
import base64
import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import nbgrader
import nbgrader.api
import pytest
from alembic.script import ScriptDirectory
from markupsafe import escape
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from rnncourse import report

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"

# nbgrader's own Gradebook.add_submission (the synthetic gradebook) warns about its session use.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ASSIGNMENT = "rnn_forward"
# The error message of the wrong submission: a student controls it completely.
HOSTILE_ERROR = '<img src=x onerror="alert(1)"> & </table><script>alert(2)</script>'
WRONG_RNN_FORWARD = f"""\
def rnn_forward(x, h0, Wx, Wh, b):
    raise ValueError({HOSTILE_ERROR!r})
"""
NOTE_SCRIPT = "renamed file <script>alert('note')</script>.ipynb"
STEP_CELLS = {"test_rnn_step_forward_returns", "test_rnn_step_forward_terms", "test_rnn_step_forward_values"}


def run_nbgrader(course, db_url, *args):
    """The nbgrader CLI of this Python in the temporary course (as in test_nbgrader_pipeline.py)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name, folder in [("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython")]:
        env[name] = str(course.parent / folder)
    env["MPLBACKEND"] = "Agg"
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.db_url={db_url}"]
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"`nbgrader {' '.join(args)}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")


def create_gradebook(db_url, course_id):
    """A new, empty gradebook as nbgrader makes it, but with its schema version (the alembic head)
    read in this process: nbgrader asks a separate `alembic` process, a Python start-up that
    costs seconds on a busy machine. The CLI then finds the gradebook and does not ask again."""
    head = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nbgrader.api, "get_alembic_version", lambda: head)
        return Gradebook(db_url, course_id)


def config_course_id(folder):
    config = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    return CourseDirectory(config=config).course_id


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A released and autograded copy of the course: (course root, db_url, course_id)."""
    course = tmp_path_factory.mktemp("report") / "course"
    course.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(EXERCISES / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    notebook = f"{ASSIGNMENT}.ipynb"
    course_id = config_course_id(course)
    create_gradebook(db_url, course_id).close()
    run_nbgrader(course, db_url, "generate_assignment", ASSIGNMENT)

    def submit(student, nb):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / notebook)

    submit("solution", nbformat.read(course / "source" / ASSIGNMENT / notebook, as_version=4))
    submit("untouched", nbformat.read(course / "release" / ASSIGNMENT / notebook, as_version=4))
    wrong = nbformat.read(course / "source" / ASSIGNMENT / notebook, as_version=4)
    [cell] = [c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_forward"]
    cell.source = WRONG_RNN_FORWARD
    submit("wrong", wrong)
    run_nbgrader(course, db_url, "autograde", ASSIGNMENT, "--create")

    with Gradebook(db_url, course_id) as gb:
        gb.add_student("absent")  # in the class list, submitted nothing
    return course, db_url, course_id


def str_escape(text):
    """The text as the report's template writes it (Jinja2 autoescaping)."""
    return str(escape(text))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def overview_stats(page, assignment):
    """{stat: text} of the assignment's row in the overview table."""
    row = re.search(rf'<tr data-assignment="{re.escape(str_escape(assignment))}">(.*?)</tr>', page, re.S)
    assert row, f"no overview row for {assignment}"
    return dict(re.findall(r'data-stat="(\w+)">([^<]*)</td>', row.group(1)))


def section(page, assignment):
    match = re.search(rf'<section class="assignment" [^>]*data-assignment="{re.escape(str_escape(assignment))}">'
                      r"(.*?)</section>", page, re.S)
    assert match, f"no section for {assignment}"
    return match.group(1)


def passed_per_cell(part):
    return {cell: int(p) for cell, p in re.findall(r'<tr data-cell="([^"]+)">.*?data-passed="(\d+)"', part)}


def notes_of(part, student):
    row = re.search(rf'<tr data-student="{re.escape(str_escape(student))}">(.*?)</tr>', part, re.S)
    return row.group(1) if row else None


def gradebook_truth(db_url, course_id):
    """{(student, assignment): (score or None, max score, {cell: (score, max)})} straight from nbgrader."""
    truth = {}
    with Gradebook(db_url, course_id) as gb:
        for student in gb.students:
            for assignment in gb.assignments:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except Exception:
                    truth[(student.id, assignment.name)] = (None, assignment.max_score, {})
                    continue
                cells = {(nb.name, g.name): (g.score, g.max_score) for nb in sub.notebooks for g in nb.grades}
                truth[(student.id, assignment.name)] = (sub.score, sub.max_score, cells)
    return truth


def assert_self_contained(page):
    assert not re.search(r"https?://|ftp://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I), "an external reference"
    for attr, value in re.findall(r'\b(src|href|action|poster|srcset)\s*=\s*"([^"]*)"', page, re.I):
        assert value.startswith("data:image/png;base64,") or value.startswith("#"), f"{attr}={value[:80]}"
    for tag in ("<script", "<link", "<iframe", "<object", "<embed", "@import", "url("):
        assert tag not in page.lower(), f"{tag} in the report"
    for uri in re.findall(r'"data:image/png;base64,([^"]+)"', page):
        assert base64.b64decode(uri).startswith(b"\x89PNG\r\n\x1a\n")


# ---------------------------------------------------------------------------------------------
# The real class

def test_csv_equals_the_gradebook(course, tmp_path):
    root, db_url, course_id = course
    path = tmp_path / "grades.csv"
    report.export_csv(db_url, course_id, path)
    with open(path, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["student", "assignment", "score", "max_score", "percent"]
    rows = read_csv(path)
    truth = gradebook_truth(db_url, course_id)
    assert [(r["student"], r["assignment"]) for r in rows] == sorted(truth)
    for r in rows:
        score, max_score, _ = truth[(r["student"], r["assignment"])]
        assert float(r["max_score"]) == max_score == 10
        if score is None:
            assert r["score"] == r["percent"] == "", f"{r['student']} has no submission: the score stays empty"
        else:
            assert float(r["score"]) == pytest.approx(score)
            assert float(r["percent"]) == pytest.approx(100 * score / max_score, abs=0.01)
    scores = {r["student"]: r["score"] for r in rows}
    assert scores == {"absent": "", "solution": "10", "untouched": "0", "wrong": "4"}


def test_nbgrader_export_with_the_plugin_writes_the_same_csv(course, tmp_path):
    root, db_url, course_id = course
    report.export_csv(db_url, course_id, tmp_path / "direct.csv")
    run_nbgrader(root, db_url, "export", "--exporter=rnncourse.export.GradesCsvExporter",
                 f"--to={tmp_path / 'exported.csv'}")
    assert (tmp_path / "exported.csv").read_bytes() == (tmp_path / "direct.csv").read_bytes()
    assert [r["student"] for r in read_csv(tmp_path / "exported.csv")] == ["absent", "solution", "untouched", "wrong"]


def test_report_of_the_class(course, tmp_path):
    root, db_url, course_id = course
    notes = {("solution", ASSIGNMENT): [NOTE_SCRIPT], ("absent", ASSIGNMENT): ["missing notebook"]}
    path = report.write_report(db_url, course_id, tmp_path / "out", notes, course_root=root)
    assert path == tmp_path / "out" / "report.html" and path.is_file()
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert page.count('<img class="histogram"') == 1 and page.count('<img class="pass-rates"') == 1
    assert len(re.findall(r"Generated at \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)) == 1

    assert overview_stats(page, ASSIGNMENT) == {
        "max_score": "10", "submissions": "3", "missing": "1", "mean": "4.67 (46.7%)",
        "median": "4 (40%)", "full_marks": "1", "zero": "1"}

    part = section(page, ASSIGNMENT)
    truth = gradebook_truth(db_url, course_id)
    expected = {}
    for _, _, cells in truth.values():
        for (_, cell), (got, most) in cells.items():
            expected[cell] = expected.get(cell, 0) + (got >= most)
    passed = passed_per_cell(part)
    assert passed == expected
    assert passed == {c: (2 if c in STEP_CELLS else 1) for c in passed}
    source = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    order = [c.metadata["nbgrader"]["grade_id"] for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")]
    assert list(passed) == order, "test cells in notebook order"

    # The lead's notes, escaped; a student with full marks has only them.
    solution = notes_of(part, "solution")
    assert str_escape(NOTE_SCRIPT) in solution and NOTE_SCRIPT not in page
    assert "test_" not in solution
    assert "missing notebook" in notes_of(part, "absent")
    # Failed cells with the first line of their error, read from the autograded notebooks.
    untouched = notes_of(part, "untouched")
    assert untouched.count("NotImplementedError") == len(order)
    wrong = notes_of(part, "wrong")
    assert "test_rnn_forward_values (0/3): ValueError: " + str_escape(HOSTILE_ERROR) in wrong
    assert not any(cell in wrong for cell in STEP_CELLS)
    assert HOSTILE_ERROR not in page and "<img src=x" not in page
    assert re.search(r'class="missing">.*<code>absent</code>', part)


def test_report_without_course_root_uses_only_the_gradebook(course, tmp_path):
    _, db_url, course_id = course
    page = report.write_report(db_url, course_id, tmp_path, generated_at=False).read_text(encoding="utf-8")
    assert "Generated at" not in page
    wrong = notes_of(section(page, ASSIGNMENT), "wrong")
    assert "test_rnn_forward_values (0/3)" in wrong and "ValueError" not in wrong
    assert overview_stats(page, ASSIGNMENT)["submissions"] == "3"


# ---------------------------------------------------------------------------------------------
# A synthetic gradebook: several assignments and notebooks, hostile ids, partial scores

EVIL = "<script>alert('id')</script>"
FORMULA = '=HYPERLINK("x","y")'


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Gradebook: hw1 (one notebook, cells a 2 pts, b 3 pts), hw2 (notebooks p and q, one cell
    of 4 pts each); five students, of whom two submitted nothing of hw2 and one nothing at all."""
    tmp_path = tmp_path_factory.mktemp("synthetic")
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with create_gradebook(db_url, "synthetic") as gb:
        gb.add_assignment("hw1")
        gb.add_notebook("hw1", "hw1")
        gb.add_grade_cell("b", "hw1", "hw1", max_score=3, cell_type="code")
        gb.add_grade_cell("a", "hw1", "hw1", max_score=2, cell_type="code")
        gb.add_assignment("hw2")
        for nb in ("q", "p"):
            gb.add_notebook(nb, "hw2")
            gb.add_grade_cell(f"test_{nb}", nb, "hw2", max_score=4, cell_type="code")
        for student in ("ann", "bob", EVIL, FORMULA, "zed"):
            gb.add_student(student)
        scores = {("ann", "hw1"): {"a": 2, "b": 3}, ("bob", "hw1"): {"a": 1.5, "b": 0},
                  (EVIL, "hw1"): {"a": 0, "b": 0}, (FORMULA, "hw1"): {"a": 2, "b": 1},
                  ("ann", "hw2"): {"p": 4, "q": 4}, (EVIL, "hw2"): {"p": 4, "q": 1}}
        for (student, assignment), cells in scores.items():
            gb.add_submission(assignment, student)
            for cell, score in cells.items():
                notebook = assignment if assignment == "hw1" else cell
                name = cell if assignment == "hw1" else f"test_{cell}"
                gb.find_grade(name, notebook, assignment, student).auto_score = score
            gb.db.commit()
    # the notebook order of hw1 is b, a (not alphabetical); the course root holds its source
    source = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": g, "points": p}})
        for g, p in (("b", 3), ("a", 2))])
    (tmp_path / "source" / "hw1").mkdir(parents=True)
    nbformat.write(source, tmp_path / "source" / "hw1" / "hw1.ipynb")
    # autograded notebooks: bob's is broken JSON; EVIL's has a coloured two-line error in cell b
    (tmp_path / "autograded" / "bob" / "hw1").mkdir(parents=True)
    (tmp_path / "autograded" / "bob" / "hw1" / "hw1.ipynb").write_text("{not json", encoding="utf-8")
    error = nbformat.v4.new_output("error", ename="AssertionError", traceback=[],
                                   evalue="\x1b[31mfirst <line>\x1b[0m\nsecond line")
    evil = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade_id": "b"}}, outputs=[error]),
        nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade_id": "a"}})])
    folder = tmp_path / "autograded" / EVIL / "hw1"
    folder.mkdir(parents=True)
    nbformat.write(evil, folder / "hw1.ipynb")
    return tmp_path, db_url


def test_synthetic_csv(synthetic):
    root, db_url = synthetic
    report.export_csv(db_url, "synthetic", root / "grades.csv")
    rows = [tuple(r.values()) for r in read_csv(root / "grades.csv")]
    formula = "'" + FORMULA  # neutralised: a spreadsheet must not run a student id as a formula
    expected = sorted([
        ("ann", "hw1", "5", "5", "100"), ("ann", "hw2", "8", "8", "100"),
        ("bob", "hw1", "1.5", "5", "30"), ("bob", "hw2", "", "8", ""),
        (EVIL, "hw1", "0", "5", "0"), (EVIL, "hw2", "5", "8", "62.5"),
        (formula, "hw1", "3", "5", "60"), (formula, "hw2", "", "8", ""),
        ("zed", "hw1", "", "5", ""), ("zed", "hw2", "", "8", "")],
        key=lambda r: (r[0].lstrip("'"), r[1]))
    assert rows == expected


def test_synthetic_report(synthetic):
    root, db_url = synthetic
    notes = {(EVIL, "hw1"): ["not valid JSON"], ("zed", "hw3"): ["wrong file name: <b>hw3.ipynb</b>"],
             ("bob", "hw1"): ["x" * 5000]}
    path = report.write_report(db_url, "synthetic", root / "out", notes, course_root=root, generated_at=False)
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert page.count('<img class="histogram"') == 2 and page.count('<img class="pass-rates"') == 2
    assert EVIL not in page and str_escape(EVIL) in page
    assert "<b>hw3" not in page and "wrong file name: &lt;b&gt;hw3.ipynb&lt;/b&gt;" in page  # unknown assignment
    assert "x" * 400 not in page, "a long note is shortened"

    assert overview_stats(page, "hw1") == {"max_score": "5", "submissions": "4", "missing": "1",
                                           "mean": "2.38 (47.5%)", "median": "2.25 (45%)",
                                           "full_marks": "1", "zero": "1"}
    assert overview_stats(page, "hw2") == {"max_score": "8", "submissions": "2", "missing": "3",
                                           "mean": "6.5 (81.2%)", "median": "6.5 (81.2%)",
                                           "full_marks": "1", "zero": "0"}
    hw1, hw2 = section(page, "hw1"), section(page, "hw2")
    assert list(passed_per_cell(hw1).items()) == [("b", 1), ("a", 2)], "notebook order from the source"
    assert list(passed_per_cell(hw2).items()) == [("p/test_p", 2), ("q/test_q", 1)]
    bob = notes_of(hw1, "bob")
    assert "b (0/3)" in bob and "a (1.5/2)" in bob
    assert "hw1.ipynb: autograded notebook unreadable (JSONDecodeError)" in bob
    evil = notes_of(hw1, EVIL)
    assert "<li>not valid JSON</li><li>b (0/3): AssertionError: first &lt;line&gt;</li><li>a (0/2)</li>" in evil
    assert "\x1b" not in page and "second line" not in page
    assert "autograded notebook missing" in notes_of(section(page, "hw2"), EVIL)  # hw2 has none
    assert notes_of(hw1, "ann") is None, "full marks and no note: not listed"
    assert re.search(r'class="missing"><code>zed</code></p>', hw1)

    again = report.write_report(db_url, "synthetic", root / "again", notes, course_root=root, generated_at=False)
    assert again.read_bytes() == path.read_bytes(), "the same gradebook gives the same report"
    stamped = report.write_report(db_url, "synthetic", root / "stamped", notes, course_root=root)
    diff = set(stamped.read_text(encoding="utf-8").splitlines()) ^ set(page.splitlines())
    assert len(diff) == 1 and "Generated at" in diff.pop()


def test_wrong_course_id_is_an_error(synthetic, tmp_path):
    _, db_url = synthetic
    with pytest.raises(ValueError, match="no assignment of course 'other'.*'synthetic'"):
        report.export_csv(db_url, "other", tmp_path / "grades.csv")


def test_missing_gradebook_is_an_error_and_not_created(tmp_path):
    db = tmp_path / "nothing.db"
    with pytest.raises(FileNotFoundError):
        report.export_csv(f"sqlite:///{db}", "c", tmp_path / "grades.csv")
    with pytest.raises(FileNotFoundError):
        report.write_report(f"sqlite:///{db}", "c", tmp_path / "out")
    assert not db.exists() and not (tmp_path / "grades.csv").exists()


def test_autograded_notebook_outside_the_course_is_not_read(tmp_path):
    outside = tmp_path / "x" / "hw" / "hw.ipynb"
    outside.parent.mkdir(parents=True)
    error = nbformat.v4.new_output("error", ename="Secret", evalue="do not show", traceback=[])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "", metadata={"nbgrader": {"grade_id": "t"}}, outputs=[error])]), outside)
    a = report.AssignmentInfo("hw", 1.0, ["hw"], [report.CellInfo("hw", "t", 1.0)], {})
    sub = report.SubmissionInfo("../../x", 0.0, {("hw", "t"): 0.0})
    notes = report._cell_notes(a, sub, tmp_path / "course")
    assert notes == ["hw.ipynb: autograded notebook outside the course, not read", "t (0/1)"]


def test_chart_text_is_not_read_as_mathematics():
    for uri in (report.histogram_png("cost $5", [1.0, 2.0], 2.0), report.histogram_png("big", [30.0], 90.0),
                report.pass_rate_png("$x", ["test_$", "b"], [1, 0], 2), report.pass_rate_png("none", [], [], 0)):
        assert base64.b64decode(uri.split(",", 1)[1]).startswith(b"\x89PNG")


def test_command_line_reads_the_course_config(course, tmp_path, capsys):
    root, db_url, course_id = course
    assert report.main(["--root", str(root), "--out", str(tmp_path), "--no-timestamp"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")
    assert [r["student"] for r in read_csv(tmp_path / "grades.csv")] == ["absent", "solution", "untouched", "wrong"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Generated at" not in page and "ValueError" in page  # the course root's autograded notebooks
    assert page == report.render_report(db_url, course_id, course_root=root, generated_at=False)
