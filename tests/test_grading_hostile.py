"""`make grade` (rnncourse.grade.grade) on a class of hostile learners of rnn_forward, graded in one run.

One temporary course (outside /tmp, like the real exercises/ folder, so that the sandbox has to
hide it rather than leave it behind in the host's /tmp) holds the rnn_forward assignment and one
submission per attack (tests/hostile_submissions plus the file-level attacks built here), an
honest learner with the full solution and an honest learner with exactly one wrong function. The
class is graded once with two workers, then again into a copy of the gradebook as it was before
grading. For every attacker: its score is not above what its honest code deserves (computed from
the points of the source notebook's test cells), the honest learners keep their scores, the
gradebook opens and holds exactly the expected students, nothing outside the course's output
folders changed, no feedback page holds a hidden test line, the reasons the notes or the feedback
must give are there, and the regrade gives the same score in every cell.
"""
import hashlib
import html
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile_submissions import ATTACKS, DEAD, ZEROS_FORWARD, ZEROS_STEP, Attack  # noqa: E402
from rnncourse import grade as grading  # noqa: E402

ASSIGNMENT = "rnn_forward"
SOURCE = ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
COURSE_ID = "rnn-course"
FUNCTIONS = ("rnn_step_forward", "rnn_forward")
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# short limits for this course: an endless loop costs CELL_TIMEOUT, an endless call CALL_TIMEOUT;
# a call that ignores its alarm is given up after CALL_TIMEOUT + 10 s, which must fit in a cell
CELL_TIMEOUT, CALL_TIMEOUT = 15, 3
WALL_LIMIT = 15 * 60  # a safety net for the whole class, not a speed target
FEEDBACK_LIMIT = 2_000_000  # bytes of one feedback page
# The outputs of grading in the course folder; everything else must be left as it was.
OUTPUTS = {"autograded", "feedback", "report", "grades.csv", "grading_notes.json", "gradebook.db",
           "gradebook-regrade.db", "gradebook.db-journal", "gradebook-regrade.db-journal", ".ipynb_checkpoints"}
HONEST = ("honest_full", "honest_partial")
PRESENT = ("absent_student", "earlier_student")  # in the gradebook before grading, nothing submitted
# reasons the file-level attacks must give
INVALID = r"not a valid notebook|invalid|not a notebook|could not be read"
LINK = r"link"


def meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source_nb():
    return nbformat.read(SOURCE, as_version=4)


def grade_cells_of(nb):
    return [c for c in nb.cells if c.cell_type == "code" and meta(c).get("grade")]


def function_of(grade_id):
    owners = [f for f in FUNCTIONS if grade_id.startswith(f"test_{f}_")]
    return max(owners, key=len) if owners else None


POINTS = {meta(c)["grade_id"]: float(meta(c)["points"]) for c in grade_cells_of(source_nb())}
TOTAL = sum(POINTS.values())
STEP_POINTS = sum(p for g, p in POINTS.items() if function_of(g) == "rnn_step_forward")
VISIBLE_ONLY_POINTS = sum(float(meta(c)["points"]) for c in grade_cells_of(source_nb()) if HIDDEN_BEGIN not in c.source)
# "partial": the honest learner whose rnn_forward is wrong keeps the points of the step's tests
DESERVED = {"all": TOTAL, "step": STEP_POINTS, "partial": STEP_POINTS, "none": 0.0, "visible": VISIBLE_ONLY_POINTS}


def split_regions(source, begin, end):
    inside, inner, outer = False, [], []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        else:
            (inner if inside else outer).append(line)
    return inner, outer


GENERIC = re.compile(r"^(try|else|finally|except|pass|break|continue|return|raise)?:?$|^[()\[\]{},]+$")


def code_lines(lines):
    stripped = (line.strip() for line in lines)
    return {line for line in stripped if not line.startswith("#") and not GENERIC.match(line)}


def hidden_lines():
    """The code lines of the hidden tests that appear nowhere else in the source notebook."""
    inner, outer = [], []
    for cell in source_nb().cells:
        if cell.cell_type == "code":
            inside, rest = split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)
            inner += inside
            outer += rest
        else:
            outer += cell.source.split("\n")
    return code_lines(inner) - code_lines(outer)


HIDDEN = hidden_lines()


def html_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8", errors="replace")))


# ---------------------------------------------------------------------------------------------
# What the attackers try to reach on the host

class Listener:
    """A server that records every connection it accepts (TCP on 127.0.0.1, or a unix socket)."""

    def __init__(self, family, address):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.address = self.sock.getsockname()
        self.received = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100) or b"(connected)")
                except OSError:
                    self.received.append(b"(connected)")

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# The class

def with_functions(attack):
    """The source notebook with the solution cells replaced as `attack` says (metadata kept)."""
    nb = learner_copy(source_nb())
    for cell in nb.cells:
        grade_id = meta(cell).get("grade_id")
        if grade_id == "rnn_step_forward":
            cell.source = (attack.step if attack.step is not None else cell.source + "\n") + attack.after_step
        elif grade_id == "rnn_forward":
            cell.source = (attack.forward if attack.forward is not None else cell.source + "\n") + attack.after_forward
    return nb


def learner_copy(nb):
    """What a learner starts from: the notebook without its hidden tests, as the release gives it."""
    for cell in grade_cells_of(nb):
        cell.source = "\n".join(split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)[1])
    return nb


def honest_nb():
    return learner_copy(source_nb())


def file_level(course, values):
    """student -> (what to put in its folder, deserved, reason) for the attacks on files and metadata."""
    cases = {}
    zeros = Attack(step=ZEROS_STEP)

    nb = honest_nb()  # every test cell claims 100 points
    for cell in grade_cells_of(nb):
        meta(cell)["points"] = 100
    cases["meta_raised_points"] = ({"rnn_forward.ipynb": nb}, "all", None)

    nb = with_functions(zeros)  # the tests get other grade_ids
    for cell in grade_cells_of(nb):
        meta(cell)["grade_id"] += "_renamed"
    cases["meta_renamed_tests"] = ({"rnn_forward.ipynb": nb}, "none", None)

    nb = with_functions(zeros)  # the learner's cell becomes a locked test cell worth 50 that outputs 50
    cell = next(c for c in nb.cells if meta(c).get("grade_id") == "rnn_step_forward")
    cell.source += "\n50\n"
    meta(cell).update({"grade": True, "locked": True, "solution": False, "points": 50, "grade_id": "bonus_points"})
    cases["meta_locked_bonus"] = ({"rnn_forward.ipynb": nb}, "none", None)

    nb = with_functions(zeros)  # the learner's cell takes a test cell's grade_id
    cell = next(c for c in nb.cells if meta(c).get("grade_id") == "rnn_step_forward")
    cell.source += "\n2\n"
    meta(cell).update({"grade": True, "points": 2, "grade_id": "test_rnn_step_forward_values"})
    cases["meta_copied_test_id"] = ({"rnn_forward.ipynb": nb}, "none", None)

    nb = with_functions(zeros)
    nb.cells = [c for c in nb.cells if not meta(c).get("grade")]
    cases["deleted_tests"] = ({"rnn_forward.ipynb": nb}, "none", None)

    nb = honest_nb()
    cells = []
    for cell in nb.cells:
        cells += [cell] * (3 if meta(cell).get("grade") else 1)
    nb.cells = [nbformat.from_dict(dict(c)) for c in cells]
    cases["duplicated_tests"] = ({"rnn_forward.ipynb": nb}, "all", None)

    cases["invalid_json"] = ({"rnn_forward.ipynb": b'{"cells": [ this is not json'}, "none", INVALID)
    cases["empty_file"] = ({"rnn_forward.ipynb": b""}, "none", INVALID)
    cases["json_not_a_notebook"] = ({"rnn_forward.ipynb": b'{"hello": "world", "cells": 3}'}, "none", INVALID)
    cases["renamed_notebook"] = ({"my_homework.ipynb": honest_nb()}, "all", r"my_homework")
    cases["no_notebook"] = ({"README.txt": b"I could not do it"}, "none", r"missing|no notebook|not found")
    cases[grading_untouched_name()] = ({"rnn_forward.ipynb": honest_nb()}, "all", None)
    cases["symlink_notebook"] = ({"rnn_forward.ipynb": ("link", str(course / "source" / ASSIGNMENT / SOURCE.name))},
                                 "none", LINK)
    reader = ATTACKS["reads_source"].step.replace(
        '["$source_nb"', '["notes.txt", "$course/submitted/symlink_extra/rnn_forward/notes.txt", "$source_nb"')
    nb = with_functions(Attack(step=reader).fill(**values))
    cases["symlink_extra"] = ({"rnn_forward.ipynb": nb,
                               "notes.txt": ("link", str(course / "source" / ASSIGNMENT / SOURCE.name))}, "none", LINK)
    # the learner's assignment folder is a link to another learner's (honest) folder
    cases["symlink_folder"] = ("folder-link", "none", LINK)
    return cases


def grading_untouched_name():
    """A student id that equals the grader's internal name for the untouched student version."""
    return "untouched-student-version"


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, tuple) and content[0] == "link":
            path.symlink_to(content[1])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content, path)


def snapshot(course, extra=()):
    """sha256 of every file (target of every link) of the course outside its output folders."""
    out = {}
    for folder, dirs, files in os.walk(course):
        rel = Path(folder).relative_to(course)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in OUTPUTS]
            files = [f for f in files if f not in OUTPUTS]
        for name in sorted(dirs + files):
            path = Path(folder) / name
            key = str(path.relative_to(course))
            if path.is_symlink():
                out[key] = "link:" + os.readlink(path)
            elif path.is_file():
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in extra:
        out[str(path)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def run_nbgrader(course, *args):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name, folder in [("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython")]:
        env[name] = str(course.parent / folder)
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args,
                             f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def gradebook_state(db_file):
    """{student: {cell: (auto, manual)}} of every submission of the assignment, and the students."""
    cells, students = {}, set()
    with Gradebook(f"sqlite:///{db_file}", COURSE_ID) as gb:
        students = {s.id for s in gb.students}
        for submission in gb.find_assignment(ASSIGNMENT).submissions:
            for notebook in submission.notebooks:
                cells[submission.student.id] = {g.name: (g.auto_score, g.manual_score) for g in notebook.grades}
    return cells, students


def leftover_processes(marker):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def graded():
    # outside /tmp: the kernel's private /tmp must not be what hides the course
    parent = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    base = Path(tempfile.mkdtemp(prefix="rnn-hostile-", dir=parent))
    marker = f"rnn-hostile-{uuid.uuid4().hex[:12]}"
    tcp = Listener(socket.AF_INET, ("127.0.0.1", 0))
    unix_path = f"/tmp/{marker}.sock"
    unix = Listener(socket.AF_UNIX, unix_path)
    abstract = Listener(socket.AF_UNIX, f"\0{marker}-abstract")
    try:
        course = base / "course"
        (course / "source").mkdir(parents=True)
        shutil.copytree(SOURCE.parent, course / "source" / ASSIGNMENT,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course / "nbgrader_config.py")
        with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
            config.write(f"\nc.TrustedExecute.timeout = {CELL_TIMEOUT}\n"
                         f"c.TrustedExecute.call_timeout = {CALL_TIMEOUT}\n")
        run_nbgrader(course, "generate_assignment", ASSIGNMENT)
        gradebook = course / "gradebook.db"
        with Gradebook(f"sqlite:///{gradebook}", COURSE_ID) as gb:
            for student in HONEST + PRESENT:
                gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, "earlier_student")
            grade = gb.find_grade("test_rnn_forward_values", ASSIGNMENT, ASSIGNMENT, "earlier_student")
            grade.manual_score = 2.5
            gb.db.commit()

        values = {"course": str(course), "source_nb": str(course / "source" / ASSIGNMENT / SOURCE.name),
                  "gradebook": str(gradebook), "repo": str(ROOT), "port": str(tcp.address[1]),
                  "victim_nb": str(course / "submitted" / "honest_full" / ASSIGNMENT / SOURCE.name),
                  "unix_socket": unix_path, "abstract": f"{marker}-abstract", "marker": marker}
        cases = {"honest_full": ({"rnn_forward.ipynb": honest_nb()}, "all", None),
                 "honest_partial": ({"rnn_forward.ipynb": with_functions(Attack(forward=ZEROS_FORWARD))},
                                    "partial", None)}
        for name, attack in ATTACKS.items():
            attack = attack.fill(**values)
            cases[name] = ({"rnn_forward.ipynb": with_functions(attack)}, attack.deserved, attack.reason)
        cases.update(file_level(course, values))
        for student, (files, _, _) in cases.items():
            folder = course / "submitted" / student / ASSIGNMENT
            if files == "folder-link":
                folder.parent.mkdir(parents=True)
                folder.symlink_to(course / "submitted" / "honest_full" / ASSIGNMENT, target_is_directory=True)
            else:
                write(folder, files)
        shutil.copy(gradebook, course / "gradebook-regrade.db")
        before_cells, _ = gradebook_state(gradebook)
        protected = [SOURCE]
        before = snapshot(course, protected)

        started = time.monotonic()
        results, notes, unmatched, outputs = grading.grade(course, db=f"sqlite:///{gradebook}", workers=2,
                                                           progress=False)
        seconds = time.monotonic() - started
        after_first = snapshot(course, protected)
        first_cells, first_students = gradebook_state(gradebook)
        integrity = sqlite3.connect(gradebook).execute("PRAGMA integrity_check").fetchone()[0]
        feedback = {}
        for student in cases:
            path = course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
            feedback[student] = (path.stat().st_size, html_text(path)) if path.is_file() else None
        autograded_sizes = {s: p.stat().st_size for s in cases
                            for p in [course / "autograded" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"] if p.is_file()}
        notes_json = (course / "grading_notes.json").read_text(encoding="utf-8")

        started = time.monotonic()
        regrade = grading.grade(course, db=f"sqlite:///{course / 'gradebook-regrade.db'}", workers=2, progress=False)
        regrade_seconds = time.monotonic() - started
        after_second = snapshot(course, protected)
        second_cells, second_students = gradebook_state(course / "gradebook-regrade.db")
        regrade_feedback = {s: html_text(p) for s in cases
                            for p in [course / "feedback" / s / ASSIGNMENT / f"{ASSIGNMENT}.html"] if p.is_file()}
        time.sleep(1)
        yield {"course": course, "cases": cases, "results": results, "notes": notes, "notes_json": notes_json,
               "seconds": seconds, "regrade_seconds": regrade_seconds, "before": before, "after_first": after_first,
               "after_second": after_second, "before_cells": before_cells, "cells": first_cells,
               "students": first_students, "regrade_cells": second_cells, "regrade_students": second_students,
               "regrade_notes": regrade[1], "integrity": integrity, "feedback": feedback,
               "regrade_feedback": regrade_feedback, "autograded_sizes": autograded_sizes,
               "servers": {"tcp": tcp.received, "unix": unix.received, "abstract": abstract.received},
               "marker": marker, "leftover": leftover_processes(marker), "unix_path": unix_path}
    finally:
        for listener in (tcp, unix, abstract):
            listener.close()
        for path in (Path(f"/tmp/{marker}.sock"),):
            path.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def students_of():
    """Every learner of the class, for parametrize (the file-level cases need no course to be named)."""
    names = list(HONEST) + list(ATTACKS)
    names += ["meta_raised_points", "meta_renamed_tests", "meta_locked_bonus", "meta_copied_test_id",
              "deleted_tests", "duplicated_tests", "invalid_json", "empty_file", "json_not_a_notebook",
              "renamed_notebook", "no_notebook", grading_untouched_name(), "symlink_notebook", "symlink_extra",
              "symlink_folder"]
    return names


LEARNERS = students_of()
ATTACKERS = [s for s in LEARNERS if s not in HONEST]
# Attacks beside honest code that stays gradable: the honest part must keep all its points.
EXACT = {"loop_cell", "big_output", "loud_function", "leftover_process", "meta_raised_points", "duplicated_tests",
         grading_untouched_name()} | {name for name, a in ATTACKS.items() if a.deserved == "step"}
# file-level refusals: a feedback page is not required
REFUSED = {"invalid_json", "empty_file", "json_not_a_notebook", "no_notebook", "symlink_notebook", "symlink_extra",
           "symlink_folder"}


def total(graded, student):
    cells = graded["cells"].get(student)
    assert cells is not None, f"{student} has no submission in the gradebook"
    return sum(auto or 0.0 for auto, _ in cells.values())


def deserved(graded, student):
    return DESERVED[graded["cases"][student][1]]


def said(graded, student):
    """The learner's notes and its feedback page, as one text."""
    notes = " | ".join(graded["notes"].get((student, ASSIGNMENT), []))
    page = graded["feedback"].get(student)
    return notes + "\n" + (page[1] if page else "")


# ---------------------------------------------------------------------------------------------

def test_the_source_notebook_gives_the_points_this_test_relies_on():
    assert TOTAL == 10 and 0 < STEP_POINTS < TOTAL
    assert HIDDEN, "no hidden test lines found in the source notebook"
    assert set(FUNCTIONS) == {meta(c)["grade_id"] for c in source_nb().cells if meta(c).get("solution")}


def test_honest_learners_get_their_scores(graded):
    assert total(graded, "honest_full") == TOTAL
    partial = TOTAL - sum(p for g, p in POINTS.items() if function_of(g) == "rnn_forward")
    assert total(graded, "honest_partial") == partial
    assert graded["cells"]["honest_full"] == {g: (p, None) for g, p in POINTS.items()}


@pytest.mark.parametrize("student", ATTACKERS)
def test_score_is_not_above_what_the_honest_code_deserves(graded, student):
    cells = graded["cells"].get(student)
    assert cells is not None, f"{student} was not recorded in the gradebook"
    assert set(cells) == set(POINTS), f"{student}: the grades are not the source notebook's test cells: {sorted(cells)}"
    for cell, (auto, _) in cells.items():
        assert (auto or 0.0) <= POINTS[cell], f"{student}: {cell} got {auto} of {POINTS[cell]}"
    assert total(graded, student) <= deserved(graded, student), (
        f"{student} got {total(graded, student)}, its honest code deserves {deserved(graded, student)}: "
        f"{cells}\nnotes: {graded['notes'].get((student, ASSIGNMENT))}")


@pytest.mark.parametrize("student", sorted(EXACT))
def test_honest_code_beside_an_attack_keeps_its_points(graded, student):
    assert total(graded, student) == deserved(graded, student), (
        f"{student}: {graded['cells'].get(student)}\nnotes: {graded['notes'].get((student, ASSIGNMENT))}")


def test_max_score_is_the_source_notebooks(graded):
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}", COURSE_ID) as gb:
        for student in ("meta_raised_points", "duplicated_tests", "meta_locked_bonus", "meta_copied_test_id"):
            submission = gb.find_submission(ASSIGNMENT, student)
            assert submission.max_score == TOTAL, student
            assert submission.score <= deserved(graded, student), student


WITH_REASON = {s: r for s, (_, _, r) in
               [(n, (None, a.deserved, a.reason)) for n, a in ATTACKS.items()]
               + [(n, (None, None, r)) for n, r in [("invalid_json", INVALID), ("empty_file", INVALID),
                                                     ("json_not_a_notebook", INVALID),
                                                     ("renamed_notebook", r"my_homework"),
                                                     ("no_notebook", r"missing|no notebook|not found"),
                                                     ("symlink_notebook", LINK), ("symlink_extra", LINK),
                                                     ("symlink_folder", LINK)]] if r}


@pytest.mark.parametrize("student", sorted(WITH_REASON))
def test_the_reason_is_given(graded, student):
    text = said(graded, student)
    assert re.search(WITH_REASON[student], text, re.IGNORECASE), (
        f"{student}: no {WITH_REASON[student]!r} in its notes or feedback:\n"
        f"notes: {graded['notes'].get((student, ASSIGNMENT))}\nfeedback: {text[-3000:]}")


def test_a_cell_that_ran_too_long_is_reported_as_a_timeout(graded):
    for student in ("loop_cell", "loop_ignores_sigint"):
        notes = " | ".join(graded["notes"].get((student, ASSIGNMENT), []))
        assert re.search(r"time limit", notes), (student, notes)
    assert re.search(r"did not stop|died|not answer", " | ".join(graded["notes"][("loop_ignores_sigint", ASSIGNMENT)]))


def test_a_dead_kernel_is_reported(graded):
    notes = " | ".join(graded["notes"].get(("os_exit_cell", ASSIGNMENT), []))
    assert "died" in notes, notes
    assert re.search(DEAD, said(graded, "os_exit_function")), said(graded, "os_exit_function")[-2000:]


def own_lines(graded, student):
    """The code lines of the learner's submitted notebook: its feedback may show them."""
    files = graded["cases"][student][0]
    nb = files.get("rnn_forward.ipynb") if isinstance(files, dict) else None
    if not isinstance(nb, dict):
        return set()
    return code_lines(line for c in nb["cells"] if c["cell_type"] == "code" for line in c["source"].split("\n"))


@pytest.mark.parametrize("student", LEARNERS)
def test_feedback_has_no_hidden_test(graded, student):
    page = graded["feedback"].get(student)
    if page is None:
        # a submission that could not be graded gets no feedback page; its notes say why
        assert student in REFUSED or "not graded" in " ".join(graded["notes"].get((student, ASSIGNMENT), [])), \
            f"{student} was graded but got no feedback page"
        return
    size, text = page
    secret = HIDDEN - own_lines(graded, student)
    leaked = sorted(line for line in secret if line in text)
    assert not leaked, f"{student}'s feedback shows hidden test lines: {leaked[:10]}"
    assert HIDDEN_BEGIN not in text and "_hidden_check_step(" not in text
    assert size < FEEDBACK_LIMIT, f"{student}'s feedback is {size} bytes"
    again = graded["regrade_feedback"].get(student, "")
    assert not sorted(line for line in secret if line in again), f"{student}'s feedback after the regrade"


def test_big_output_is_cut_and_the_grade_stays_right(graded):
    assert total(graded, "big_output") == TOTAL and total(graded, "loud_function") == TOTAL
    assert graded["feedback"]["big_output"][0] < FEEDBACK_LIMIT
    assert graded["autograded_sizes"]["big_output"] < 5 * FEEDBACK_LIMIT


def test_gradebook_opens_and_holds_exactly_the_expected_students(graded):
    assert graded["integrity"] == "ok"
    expected = set(LEARNERS) | set(PRESENT)
    assert graded["students"] == expected, (sorted(graded["students"] - expected),
                                            sorted(expected - graded["students"]))
    assert set(graded["cells"]) == set(LEARNERS) | {"earlier_student"}
    assert graded["regrade_students"] == expected


def test_grades_already_in_the_gradebook_are_kept(graded):
    assert graded["cells"]["earlier_student"] == graded["before_cells"]["earlier_student"]
    assert graded["cells"]["earlier_student"]["test_rnn_forward_values"][1] == 2.5


def test_nothing_outside_the_output_folders_changed(graded):
    for when in ("after_first", "after_second"):
        changed = {k for k in set(graded["before"]) | set(graded[when])
                   if graded["before"].get(k) != graded[when].get(k)}
        assert not changed, f"{when}: changed or new files outside the outputs: {sorted(changed)}"


def test_nothing_was_written_on_the_host(graded):
    marker = graded["marker"]
    written = [p for p in (Path("/tmp") / marker, Path("/var/tmp") / marker, Path("/dev/shm") / marker) if p.exists()]
    for path in written:
        path.unlink()
    assert not written, f"the sandbox let a learner write {written}"
    assert not (graded["course"] / "pwned.txt").exists()


def test_no_connection_reached_the_host(graded):
    assert graded["servers"] == {"tcp": [], "unix": [], "abstract": []}


def test_no_process_outlives_the_grading(graded):
    leftover = graded["leftover"]
    for pid in leftover:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not leftover, f"processes of a learner still run after grading: {leftover}"


def test_the_class_finishes_in_bounded_time(graded):
    assert graded["seconds"] < WALL_LIMIT, graded["seconds"]
    assert graded["regrade_seconds"] < WALL_LIMIT, graded["regrade_seconds"]


def test_regrade_gives_identical_cell_scores(graded):
    first = {s: {c: a for c, (a, _) in cells.items()} for s, cells in graded["cells"].items()}
    second = {s: {c: a for c, (a, _) in cells.items()} for s, cells in graded["regrade_cells"].items()}
    differ = {s: (first.get(s), second.get(s)) for s in set(first) | set(second) if first.get(s) != second.get(s)}
    assert not differ, f"the regrade differs: {differ}"
