"""`make grade` on a generated class: every robustness case of the grading tool, each a submission.

One class of careless and hostile submissions of two assignments (rnn_forward, gru) is graded
once through `rnncourse.grade.grade()` in a temporary copy of the course, with a gradebook that
already holds another student's grades and a manual grade, and with LMS downloads (a folder and
a zip) among which are unsafe paths and names that differ only in accents; a second, small class
is graded through the real command line (`python -m rnncourse.grade --course ...`) twice, sharded then serially,
without any hostile member, and compared with the same students in the hostile class. Each case
checks the points, the reason in the notes
(grading_notes.json and report.html) and that nothing outside the submission was touched.
"""
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from exercise_submissions import rnn_forward as rnn_mistakes
from rnncourse import course, grade

ROOT = Path(__file__).resolve().parents[1]

ASSIGNMENTS = ("rnn_forward", "gru")
UNSAFE_MEMBERS = ("../escaped_rnn_forward.ipynb", "sub/../../escaped2_rnn_forward.ipynb",
                  "/tmp/rnn-grading-absolute_rnn_forward.ipynb")
TIMEOUT = 5  # seconds per cell, explicitly small: the infinite loop costs this much
MAX = {"rnn_forward": 10.0, "gru": 14.0}


def meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source_nb(assignment):
    return nbformat.read(ROOT / "exercises" / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def with_cell(assignment, grade_id, code, where="replace"):
    """The solution with the cell `grade_id` replaced by code (or code added after it)."""
    nb = source_nb(assignment)
    for i, cell in enumerate(nb.cells):
        if meta(cell).get("grade_id") == grade_id:
            if where == "replace":
                cell.source = code
            else:
                nb.cells.insert(i + 1, nbformat.v4.new_code_cell(code))
            return nb
    raise KeyError(grade_id)


# Files a submission tries to write: in the repository's course (its gradebook's folder, the
# instructor's source), rnnlib, the repository's root, and the system's /tmp (the kernel's own).
WRITE_TARGETS = (ROOT / "exercises" / "pwned-by-a-test.txt",
                 ROOT / "exercises" / "source" / "rnn_forward" / "pwned.txt",
                 ROOT / "rnnlib" / "pwned.txt", ROOT / "pwned-by-a-test.txt")
ZEROS_STEP = ("def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
              "    h = np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype)\n    return h, None\n")
ZEROS_SEQ = ("def rnn_forward(x, h0, Wx, Wh, b):\n    N, T, D = x.shape\n"
             "    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None\n")


def hostile(course_dir):
    """student -> (assignment, notebook bytes or a notebook) of every robustness case."""
    rf = "rnn_forward"
    cases = {}

    def put(student, assignment, nb, name=None):
        cases[student] = (assignment, nb, name)

    put("solution", rf, source_nb(rf))
    put("mistake", rf, with_cell(rf, "rnn_forward", rnn_mistakes.MISTAKES["ignores_h0"].code))  # 5 of 10
    put("infinite_loop", rf, with_cell(rf, "rnn_forward", "while True:\n    pass\n", where="after"))
    nb = source_nb(rf)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import numpy as np\nimport no_such_module_anywhere\n"))
    step = next(c for c in nb.cells if meta(c).get("grade_id") == "rnn_step_forward")
    step.source = "import no_such_module_anywhere\n" + step.source  # fails before defining the step
    put("import_error", rf, nb)
    nb = source_nb(rf)  # delete two test cells, swap two others, and put the step's tests before it
    deleted = ("test_rnn_step_forward_terms", "test_rnn_forward_h0_none")
    cells = [c for c in nb.cells if meta(c).get("grade_id") not in deleted]
    ids = [meta(c).get("grade_id") for c in cells]
    a, b = ids.index("test_rnn_forward_values"), ids.index("test_rnn_forward_float32")
    cells[a], cells[b] = cells[b], cells[a]
    nb.cells = cells
    put("deleted_reordered", rf, nb)
    nb = source_nb(rf)
    for cell in nb.cells:
        if meta(cell).get("grade_id") == "rnn_step_forward":
            cell.source = ZEROS_STEP
        if meta(cell).get("grade") and meta(cell).get("grade_id", "").startswith("test_rnn_step_forward"):
            cell.source = "pass  # no tests here\n"
    put("edited_test_cell", rf, nb)
    put("not_json", rf, b'{"cells": [ this is not json')
    put("wrong_name", rf, source_nb(rf), name="my_homework.ipynb")
    put("huge_output", rf, with_cell(rf, "rnn_forward",
                                     "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 1_000_000)\n",
                                     where="after"))
    put("sys_exit", rf, with_cell(rf, "rnn_step_forward", "import sys\nsys.exit(3)\n", where="after"))
    put("os_exit", rf, with_cell(rf, "rnn_forward", "import os\nos._exit(0)\n", where="after"))
    put("memory_bomb", rf, with_cell(rf, "rnn_step_forward",
                                     "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 2**20))\n",
                                     where="after"))
    targets = [str(p) for p in WRITE_TARGETS] + ["/tmp/rnn-grading-escape.txt"]
    writes = ("import os, pathlib\nhits = []\n"
              f"for p in {targets!r}:\n"
              "    try:\n        pathlib.Path(p).write_text('pwned')\n        hits.append(p)\n"
              "    except Exception as e:\n        pass\n"
              "print('WROTE', hits)\n")
    put("writes_outside", rf, with_cell(rf, "rnn_forward", writes, where="after"))
    # tampering: the functions are wrong (zeros); each replaces what the tests rely on
    tamper = source_nb(rf)
    for cell in tamper.cells:
        if meta(cell).get("grade_id") == "rnn_step_forward":
            cell.source = ZEROS_STEP + "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        if meta(cell).get("grade_id") == "rnn_forward":
            cell.source = (ZEROS_SEQ + "def ramp(shape, low, high):\n    return np.zeros(shape)\n"
                           "_hidden_check_sequence = lambda *a, **k: None\n_hidden_check_step = lambda *a, **k: None\n")
    put("tamper_allclose", rf, tamper)
    call_time = source_nb(rf)  # replaces np.allclose only while its function is being tested
    for cell in call_time.cells:
        if meta(cell).get("grade_id") == "rnn_step_forward":
            cell.source = ("def rnn_step_forward(x, h_prev, Wx, Wh, b):\n    import numpy, builtins\n"
                           "    numpy.allclose = lambda *a, **k: True\n    numpy.array_equal = lambda *a, **k: True\n"
                           "    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None\n")
    put("tamper_at_call_time", rf, call_time)
    gru_tamper = source_nb("gru")
    for cell in gru_tamper.cells:
        if meta(cell).get("grade_id") == "gru_step_forward":
            cell.source = ("try:\n    import rnncourse.grading as g\n"
                           "    g.check_outputs = lambda *a, **k: None\n    g.close = lambda *a, **k: True\n"
                           "    print('TAMPERED')\nexcept ImportError as e:\n    print('NO RNNCOURSE', e)\n"
                           "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n"
                           "    H = h_prev.shape[1]\n    h = np.zeros((x.shape[0], H), dtype=x.dtype)\n"
                           "    return h, (x, h_prev, Wx, Wh, h, h, h, h)\n")
    put("tamper_grading", "gru", gru_tamper)
    fake = source_nb(rf)
    for cell in fake.cells:
        if meta(cell).get("grade_id") == "rnn_step_forward":
            cell.source = "print('All tests passed! 10/10 points')\n"
        if meta(cell).get("grade_id") == "rnn_forward":
            cell.source = "print('All tests passed! 10/10 points')\n"
    put("fake_passed", rf, fake)
    sources = [str(course_dir / "source" / rf / "rnn_forward.ipynb"),
               str(ROOT / "exercises" / "source" / rf / "rnn_forward.ipynb")]
    reader = ("import pathlib\nsecret = None\n"
              f"for p in {sources!r}:\n"
              "    try:\n        secret = pathlib.Path(p).read_text()\n        break\n"
              "    except Exception:\n        pass\n"
              "print('READ SOURCE' if secret else 'NO SOURCE')\n")
    read_nb = source_nb(rf)
    for cell in read_nb.cells:
        if meta(cell).get("grade_id") == "rnn_step_forward":
            cell.source = reader + ZEROS_STEP
    put("reads_source", rf, read_nb)
    # learners named like what the grader once used internally, or like its scratch folders
    put("untouched-student-version", rf, source_nb(rf))
    put("00000", rf, with_cell(rf, "rnn_forward", rnn_mistakes.MISTAKES["ignores_h0"].code))
    return cases


SOURCE_NOTEBOOK = ("source", "rnn_forward", "rnn_forward.ipynb")  # the solution, inside the course


def symlinked(course_dir):
    """Submissions that are or hold symbolic links to the instructor's solution: student ->
    what each links (the solution scores 10 if a link is followed)."""
    solution = course_dir.joinpath(*SOURCE_NOTEBOOK)
    submitted = course_dir / "submitted"
    folder = submitted / "link_notebook" / "rnn_forward"
    folder.mkdir(parents=True)
    (folder / "rnn_forward.ipynb").symlink_to(solution)
    folder = submitted / "link_extra" / "rnn_forward"
    folder.mkdir(parents=True)
    nbformat.write(source_nb("rnn_forward"), folder / "rnn_forward.ipynb")
    (folder / "data.txt").symlink_to(solution)
    (submitted / "link_assignment").mkdir(parents=True)
    (submitted / "link_assignment" / "rnn_forward").symlink_to(solution.parent)
    (submitted / "link_student").symlink_to(course_dir / "source")  # holds rnn_forward/ and gru/


def make_course(base):
    course_dir = base / "course"
    course_dir.mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    for assignment in ASSIGNMENTS:
        shutil.copytree(ROOT / "exercises" / "source" / assignment, course_dir / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course_dir


def write_submission(course_dir, student, assignment, nb, name=None):
    folder = course_dir / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        nbformat.write(nb, path)
    return path


def scores(course_dir):
    """{(student, assignment, cell): (auto_score, manual_score)} of every grade in the gradebook."""
    out = {}
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "rnn-course") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for g in notebook.grades:
                        out[(submission.student.id, assignment.name, g.name)] = (g.auto_score, g.manual_score)
    return out


def totals(course_dir):
    out = {}
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "rnn-course") as gb:
        for student in gb.students:
            for assignment in ASSIGNMENTS:
                try:
                    out[(student.id, assignment)] = gb.find_submission(assignment, student.id).score
                except Exception:
                    pass
    return out


# ---------------------------------------------------------------------------------------------
# The class: one grading run of every case, plus an LMS folder and zip

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    course_dir = make_course(base)
    course.run_nbgrader(course_dir, f"sqlite:///{course_dir / 'gradebook.db'}", "generate_assignment", "rnn_forward")
    cases = hostile(course_dir)
    for student, (assignment, nb, name) in cases.items():
        write_submission(course_dir, student, assignment, nb, name)
    symlinked(course_dir)
    # LMS: a folder and a zip, one file per student named in the file name
    lms_dir = base / "lms_folder"
    lms_dir.mkdir()
    nbformat.write(with_cell("rnn_forward", "rnn_forward", rnn_mistakes.MISTAKES["ignores_h0"].code),
                   lms_dir / "Jane Doe_123_assignsubmission_file_rnn_forward.ipynb")  # 5 of 10
    nbformat.write(source_nb("rnn_forward"), lms_dir / "essay_without_assignment.ipynb")
    # two learners whose names differ only in accents: the solution and a 5 of 10
    nbformat.write(source_nb("rnn_forward"), lms_dir / "Jos\u00e9 N\u00fa\u00f1ez_rnn_forward.ipynb")
    nbformat.write(with_cell("rnn_forward", "rnn_forward", rnn_mistakes.MISTAKES["ignores_h0"].code),
                   lms_dir / "Jose Nunez_rnn_forward.ipynb")
    (lms_dir / "linked_rnn_forward.ipynb").symlink_to(course_dir.joinpath(*SOURCE_NOTEBOOK))
    zip_path = base / "lms.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        # a learner already in submitted/ whose LMS file differs: the earlier file is kept
        buffer = io.StringIO()
        nbformat.write(with_cell("rnn_forward", "rnn_forward",
                                 rnn_mistakes.MISTAKES["float64_zeros_for_missing_h0"].code), buffer)  # 9 of 10
        archive.writestr("mistake_rnn_forward.ipynb", buffer.getvalue())
        # members that would land outside submitted/ if their paths were followed
        solution = nbformat.writes(source_nb("rnn_forward"))
        for name in UNSAFE_MEMBERS:
            archive.writestr(name, solution)
    before_mistake = (course_dir / "submitted" / "mistake" / "rnn_forward" / "rnn_forward.ipynb").read_bytes()
    # what the gradebook holds already: a student graded earlier, and a manual grade
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "rnn-course") as gb:
        gb.update_or_create_student("earlier_student")
        gb.add_submission("rnn_forward", "earlier_student")
        g = gb.find_grade("test_rnn_step_forward_values", "rnn_forward", "rnn_forward", "earlier_student")
        g.auto_score = 2.0
        gb.db.commit()
    earlier = {k: v for k, v in scores(course_dir).items() if k[0] == "earlier_student"}
    before = sorted(str(p) for p in base.rglob("*"))
    results, notes, not_imported, outputs = grade.grade(course_dir, lms=[lms_dir, zip_path], workers=2,
                                                        timeout=TIMEOUT, memory_mb=1536, progress=False)
    return {"course": course_dir, "base": base, "lms": (lms_dir, zip_path), "before": before,
            "results": results, "notes": notes, "not_imported": not_imported,
            "outputs": outputs, "scores": scores(course_dir), "totals": totals(course_dir),
            "earlier": earlier, "before_mistake": before_mistake,
            "json": json.loads((course_dir / "grading_notes.json").read_text()),
            "html": (course_dir / "report" / "report.html").read_text(encoding="utf-8")
            if (course_dir / "report" / "report.html").is_file() else ""}


def note(graded, student, assignment="rnn_forward"):
    text = " | ".join(graded["json"]["notes"].get(f"{student}/{assignment}", []))
    assert text == " | ".join(graded["notes"].get((student, assignment), []))
    return text


def total(graded, student, assignment="rnn_forward"):
    return graded["totals"][(student, assignment)]


def cell_scores(graded, student, assignment="rnn_forward"):
    return {c: auto for (s, a, c), (auto, _) in graded["scores"].items() if s == student and a == assignment}


def error_names(graded, student, assignment="rnn_forward"):
    nb = nbformat.read(graded["course"] / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
    return [o.ename for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_solution_and_mistake_are_graded_as_usual(graded):
    assert total(graded, "solution") == MAX["rnn_forward"]
    assert total(graded, "Jane_Doe_123") == 5
    assert not note(graded, "solution"), "the solution gets no note"


def test_infinite_loop_is_stopped_by_the_cell_timeout(graded):
    # the loop cell is interrupted after TIMEOUT seconds; every test still runs and passes
    assert total(graded, "infinite_loop") == MAX["rnn_forward"]
    autograded = graded["course"] / "autograded" / "infinite_loop" / "rnn_forward" / "rnn_forward.ipynb"
    nb = nbformat.read(autograded, as_version=4)
    loop = next(c for c in nb.cells if c.source.startswith("while True"))
    # nbclient interrupts the cell: the kernel reports KeyboardInterrupt (or the timeout error)
    assert {"CellTimeoutError", "KeyboardInterrupt"} & {o.ename for o in loop.outputs if o.output_type == "error"}, \
        loop.outputs
    assert "('while True:') ran past the time limit" in note(graded, "infinite_loop")
    seconds = next(r["seconds"] for r in graded["results"] if r["student"] == "infinite_loop")
    assert seconds >= TIMEOUT


def test_exception_at_import_time_costs_only_what_it_breaks(graded):
    # the failing import stops the first solution cell: rnn_step_forward is undefined, its tests
    # and the sequence tests (which need the step) fail; nothing crashes
    assert total(graded, "import_error") == 0
    assert "nbgrader could not grade" not in note(graded, "import_error")
    assert "ModuleNotFoundError in rnn_step_forward" in note(graded, "import_error")


def test_deleted_and_reordered_cells(graded):
    # nbgrader puts the deleted test cells back; the order does not change the points
    cells = cell_scores(graded, "deleted_reordered")
    assert set(cells) == set(cell_scores(graded, "solution"))
    assert cells["test_rnn_step_forward_terms"] == 1 and cells["test_rnn_forward_h0_none"] == 1
    assert total(graded, "deleted_reordered") == MAX["rnn_forward"]
    text = note(graded, "deleted_reordered")
    assert "put back" in text and "test_rnn_forward_h0_none" in text and "test_rnn_step_forward_terms" in text


def test_edited_locked_test_cell_is_restored(graded):
    # the tests were replaced by `pass` and the step returns zeros: nbgrader restores the tests
    cells = cell_scores(graded, "edited_test_cell")
    assert all(cells[c] == 0 for c in cells if c.startswith("test_rnn_step_forward"))
    nb = nbformat.read(graded["course"] / "autograded" / "edited_test_cell" / "rnn_forward" / "rnn_forward.ipynb", 4)
    assert not any(c.source.startswith("pass  # no tests here") for c in nb.cells)
    assert ("edited locked cells, restored by nbgrader: test_rnn_step_forward_returns, "
            "test_rnn_step_forward_terms, test_rnn_step_forward_values") in note(graded, "edited_test_cell")


def test_notebook_that_is_not_json(graded):
    assert total(graded, "not_json") == 0
    assert "not a valid notebook" in note(graded, "not_json")
    assert "not graded: 0 points for every test" in note(graded, "not_json")
    cells = cell_scores(graded, "not_json")
    assert cells and set(cells.values()) == {0.0}, "an ungradable submission is recorded, each test at 0"
    assert not (graded["course"] / "autograded" / "not_json").exists()


def test_wrong_file_name_is_graded_and_said(graded):
    assert "renamed my_homework.ipynb to rnn_forward.ipynb" in note(graded, "wrong_name")
    assert total(graded, "wrong_name") == MAX["rnn_forward"]


def test_enormous_output_is_truncated(graded):
    assert total(graded, "huge_output") == MAX["rnn_forward"]
    autograded = graded["course"] / "autograded" / "huge_output" / "rnn_forward" / "rnn_forward.ipynb"
    assert autograded.stat().st_size < 5_000_000
    assert "output truncated by the grader" in autograded.read_text(encoding="utf-8")
    feedback = graded["course"] / "feedback" / "huge_output" / "rnn_forward" / "rnn_forward.html"
    assert feedback.is_file() and feedback.stat().st_size < 10_000_000
    assert len(graded["html"]) < 10_000_000


def test_sys_exit_is_an_error_in_its_cell(graded):
    # IPython turns SystemExit into an error in that cell; the kernel lives, the tests run
    assert total(graded, "sys_exit") == MAX["rnn_forward"]
    assert "SystemExit" in error_names(graded, "sys_exit")
    assert "SystemExit in a cell it added" in note(graded, "sys_exit")


def test_os_exit_kills_only_its_own_kernel(graded):
    # the kernel dies after both functions are defined: the tests cannot call them, 0 points,
    # and the reason says which cell killed it
    assert total(graded, "os_exit") == 0
    assert "kernel died while running cell" in note(graded, "os_exit")
    assert total(graded, "solution") == MAX["rnn_forward"]


def test_memory_bomb_hits_the_memory_limit(graded):
    # MemoryError in the bomb's cell (or a dead kernel): either way graded, with a reason when 0
    # with a 1.5 GB limit the bomb gets MemoryError in its own cell; the tests run after it
    assert total(graded, "memory_bomb") == MAX["rnn_forward"]
    assert "MemoryError" in error_names(graded, "memory_bomb")
    assert "MemoryError in a cell it added" in note(graded, "memory_bomb")


def test_writes_outside_its_folder_reach_nothing(graded):
    course_dir = graded["course"]
    escaped = [p for p in WRITE_TARGETS if p.exists()]
    for p in escaped:
        p.unlink()
    assert not escaped
    assert not Path("/tmp/rnn-grading-escape.txt").exists(), "its /tmp is its own"
    assert total(graded, "writes_outside") == MAX["rnn_forward"]
    nb = nbformat.read(course_dir / "autograded" / "writes_outside" / "rnn_forward" / "rnn_forward.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "WROTE ['/tmp/rnn-grading-escape.txt']" in printed  # only its private /tmp


def test_replacing_numpy_and_the_test_helpers_gets_no_points(graded):
    # np.allclose, np.array_equal, ramp and the hidden checks were replaced in the learner's
    # kernel; the tests run in the trusted kernel, so the zeros score what zeros deserve
    assert total(graded, "tamper_allclose") == 0


def test_replacing_numpy_while_being_tested_gets_no_points(graded):
    assert total(graded, "tamper_at_call_time") == 0


def test_replacing_rnnlib_grading_gets_no_points(graded):
    cells = cell_scores(graded, "tamper_grading", "gru")
    assert all(cells[c] == 0 for c in cells if c.startswith("test_gru_step_forward")), cells
    nb = nbformat.read(graded["course"] / "autograded" / "tamper_grading" / "gru" / "gru.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "NO RNNCOURSE" in printed and "TAMPERED" not in printed, "the learner's kernel cannot import rnncourse"


def test_printing_all_tests_passed_gives_nothing(graded):
    assert total(graded, "fake_passed") == 0


def test_reading_the_instructors_source_fails(graded):
    nb = nbformat.read(graded["course"] / "autograded" / "reads_source" / "rnn_forward" / "rnn_forward.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "NO SOURCE" in printed and "READ SOURCE" not in printed
    assert total(graded, "reads_source") == 0


def test_every_case_has_a_grade_and_a_reason_in_the_report(graded):
    html = graded["html"]
    unescaped = html.replace("&#39;", "'").replace("&#34;", '"')
    for student in ("not_json", "os_exit", "wrong_name", "huge_output", "tamper_allclose", "tamper_at_call_time"):
        assert student in html
        for reason in graded["notes"][(student, "rnn_forward")]:
            assert reason.split(":")[0][:30].replace("&", "&amp;") in html or reason[:20] in unescaped
    assert set(graded["json"]["notes"]) >= {"not_json/rnn_forward", "os_exit/rnn_forward", "link_student/gru"}


def test_lms_folder_and_zip_are_imported_and_unmatched_reported(graded):
    course_dir = graded["course"]
    assert total(graded, "Jane_Doe_123") == 5
    assert any("essay_without_assignment.ipynb" in u for u in graded["not_imported"])
    assert any("essay_without_assignment" in u for u in graded["json"]["not_imported"])
    assert not (course_dir / "submitted" / "essay_without").exists()


def test_a_submission_already_there_is_never_lost(graded):
    folder = graded["course"] / "submitted" / "mistake" / "rnn_forward"
    kept = list(folder.glob("rnn_forward.previous-*.ipynb.bak"))
    assert len(kept) == 1 and kept[0].read_bytes() == graded["before_mistake"]
    assert total(graded, "mistake") == 9, "the zip's version (9 of 10) is graded, not the earlier one (5)"
    assert "replaced an earlier submission" in note(graded, "mistake")


def test_nothing_already_in_the_gradebook_is_lost(graded):
    now = {k: v for k, v in graded["scores"].items() if k[0] == "earlier_student"}
    assert now == graded["earlier"]
    assert now[("earlier_student", "rnn_forward", "test_rnn_step_forward_values")][0] == 2.0


# ---------------------------------------------------------------------------------------------
# The command line: twice, serially and sharded, with and without the hostile submission

def cli(course_dir, *args):
    result = subprocess.run([sys.executable, "-m", "rnncourse.grade", "--course", str(course_dir),
                             "--timeout", str(TIMEOUT), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The plain students of the class, without any hostile one, graded through the command line:
    sharded, then (after a manual grade) again serially, into the same gradebook."""
    course_dir = make_course(tmp_path_factory.mktemp("cli"))
    cases = hostile(course_dir)
    for student, name in (("solution", "solution"), ("plain_mistake", "mistake")):
        assignment, nb, _ = cases[name]
        write_submission(course_dir, student, assignment, nb)
    first = cli(course_dir, "--workers", "2")
    after_first = scores(course_dir)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "rnn-course") as gb:
        gb.find_grade("test_rnn_forward_values", "rnn_forward", "rnn_forward", "plain_mistake").manual_score = 2.5
        gb.db.commit()
    second = cli(course_dir, "--workers", "1")
    return {"course": course_dir, "first": first, "after_first": after_first, "after_second": scores(course_dir),
            "second": second}


def test_make_grade_still_grades_exercises_by_default():
    assert Path(grade.build_parser().parse_args([]).course) == course.COURSE
    assert Path(grade.build_parser().parse_args(["--course", "/x"]).course) == Path("/x")


def test_cli_grades_the_course_it_is_given(cli_runs):
    assert "graded 2 submissions" in cli_runs["first"].stdout
    assert (cli_runs["course"] / "grades.csv").is_file()
    assert "plain_mistake" in (cli_runs["course"] / "grades.csv").read_text()
    assert (cli_runs["course"] / "report" / "report.html").is_file()
    assert not (ROOT / "exercises" / "submitted" / "plain_mistake").exists()


def test_grading_twice_sharded_then_serial_gives_the_same_gradebook(cli_runs):
    first, second = cli_runs["after_first"], cli_runs["after_second"]
    assert set(first) == set(second) and len(first) == 14  # 2 students x 7 test cells
    for key in first:
        assert first[key][0] == second[key][0], key  # the same automatic score, 2 workers vs 1
    assert first[("plain_mistake", "rnn_forward", "test_rnn_forward_values")] == (0.0, None)
    assert second[("plain_mistake", "rnn_forward", "test_rnn_forward_values")] == (0.0, 2.5), \
        "the manual grade survives grading again"


def test_hostile_submissions_change_no_other_grade(graded, cli_runs):
    """The same two submissions score the same, cell by cell, in the class full of hostile ones
    (graded by grade.grade with 2 workers) and alone (graded by the command line)."""
    alone = cli_runs["after_first"]
    in_class = graded["scores"]
    for student, there in (("solution", "solution"), ("plain_mistake", "Jane_Doe_123")):
        mine = {k[2]: v[0] for k, v in alone.items() if k[0] == student}
        theirs = {k[2]: v[0] for k, v in in_class.items() if k[0] == there and k[1] == "rnn_forward"}
        assert mine == theirs and mine, student
    assert sum(mine.values()) == 5


# ---------------------------------------------------------------------------------------------
# Ids, links and paths a learner controls

def test_a_learner_named_like_an_internal_id_gets_only_their_own_score(graded):
    """Ungradable submissions were once graded under the id `untouched-student-version`: a learner
    with that id would have given their score to every one of them. Now each ungradable
    submission is recorded for its own learner, at 0, and nothing is graded under another id."""
    assert total(graded, "untouched-student-version") == MAX["rnn_forward"]
    assert total(graded, "00000") == 5, "a learner named like a scratch folder of the grader"
    ungradable = [r["student"] for r in graded["results"] if not r["graded"]]
    assert {"not_json", "link_notebook", "link_extra", "link_assignment", "link_student"} <= set(ungradable)
    for student in ungradable:
        for assignment in ASSIGNMENTS:
            if (student, assignment) in graded["totals"]:
                assert total(graded, student, assignment) == 0, (student, assignment)
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}", "rnn-course") as gb:
        ids = {s.id for s in gb.students}
    submitted = {p.name for p in (graded["course"] / "submitted").iterdir()}
    assert ids == submitted | {"earlier_student"}, "no student the grader made up"


@pytest.mark.parametrize("student, reason", [
    ("link_notebook", "refused, not followed: rnn_forward.ipynb is a symbolic link"),
    ("link_extra", "refused, not followed: data.txt is a symbolic link"),
    ("link_assignment", "submitted/link_assignment/rnn_forward is a symbolic link: refused, not followed"),
    ("link_student", "submitted/link_student is a symbolic link: refused, not followed"),
])
def test_a_symbolic_link_to_the_solution_is_refused_and_nothing_copied(graded, student, reason):
    assert total(graded, student) == 0
    assert reason in note(graded, student)
    assert student in graded["html"]
    for folder in ("autograded", "feedback"):
        assert not (graded["course"] / folder / student).exists(), f"{folder}/{student}: something was copied"
    if student == "link_student":  # it links to source/, which holds both assignments
        assert total(graded, student, "gru") == 0 and reason in note(graded, student, "gru")
    solution = graded["course"].joinpath(*SOURCE_NOTEBOOK)
    assert solution.read_bytes() == ROOT.joinpath("exercises", *SOURCE_NOTEBOOK).read_bytes(), "the target is untouched"


def test_a_symbolic_link_in_an_lms_folder_is_refused(graded):
    assert any("linked_rnn_forward.ipynb: refused: a symbolic link" in u for u in graded["not_imported"])
    assert not (graded["course"] / "submitted" / "linked").exists()


def test_lms_zip_members_with_unsafe_paths_are_refused(graded):
    refused = [u for u in graded["not_imported"] if u.startswith("lms.zip:")]
    for name in UNSAFE_MEMBERS:
        assert any(name in u and "refused" in u for u in refused), (name, refused)
    assert any("'..'" in u for u in refused) and any("absolute path" in u for u in refused)
    assert set(graded["json"]["not_imported"]) == set(graded["not_imported"])
    escaped = [p for p in graded["base"].parent.rglob("*escaped*")] + list(Path("/tmp").glob("rnn-grading-absolute*"))
    assert not escaped, escaped
    assert not [p for p in (graded["course"] / "submitted").iterdir() if "escaped" in p.name]


def test_names_that_differ_only_in_accents_are_two_learners(graded):
    ids = sorted(p.name for p in (graded["course"] / "submitted").iterdir() if p.name.startswith("Jose_Nunez"))
    assert len(ids) == 2 and ids[0] == "Jose_Nunez" and re.fullmatch(r"Jose_Nunez_[0-9a-f]{8}", ids[1]), ids
    # "Jose Nunez" sorts first and keeps the plain id; "José Núñez" (the solution) gets the suffix
    assert total(graded, "Jose_Nunez") == 5 and total(graded, ids[1]) == MAX["rnn_forward"]
    assert "student id collision" in note(graded, ids[1]) and ids[1] in note(graded, ids[1])
    # importing the same downloads again maps every name to the same id, and writes nothing new
    before = sorted(str(p) for p in (graded["course"] / "submitted").rglob("*"))
    notes, not_imported = grade.import_lms(graded["course"], graded["lms"], course.assignments(graded["course"]))
    assert sorted(str(p) for p in (graded["course"] / "submitted").rglob("*")) == before
    assert {s for s, _ in notes} >= {"Jose_Nunez", ids[1], "Jane_Doe_123", "mistake"}
    accented = "Jos\u00e9 N\u00fa\u00f1ez"
    assert grade.assign_ids([accented, "Jose Nunez"]) == grade.assign_ids(["Jose Nunez", accented])


def test_a_file_over_the_size_limit_is_not_graded_and_kept(tmp_path):
    folder = tmp_path / "submitted" / "big" / "rnn_forward"
    folder.mkdir(parents=True)
    nbformat.write(source_nb("rnn_forward"), folder / "rnn_forward.ipynb")
    with open(folder / "weights.npy", "wb") as f:
        f.truncate(grade.MAX_FILE_BYTES + 1)
    notebook, extras, notes = grade.checked_files(folder, "rnn_forward")
    assert notebook is None and extras == [] and "weights.npy larger than 20 MB" in notes[0]
    assert (folder / "weights.npy").stat().st_size == grade.MAX_FILE_BYTES + 1


def test_a_file_replaced_by_a_link_after_the_check_is_not_copied(tmp_path):
    secret = tmp_path / "solution.ipynb"
    secret.write_text("the instructor's solution")
    link = tmp_path / "submitted.ipynb"
    link.symlink_to(secret)
    with pytest.raises(OSError):
        grade.copy_regular(link, tmp_path / "copy.ipynb")
    assert not (tmp_path / "copy.ipynb").exists()
    plain = tmp_path / "plain.ipynb"
    plain.write_text("{}")
    grade.copy_regular(plain, tmp_path / "copy.ipynb")
    assert (tmp_path / "copy.ipynb").read_text() == "{}" and not (tmp_path / "copy.ipynb").is_symlink()
