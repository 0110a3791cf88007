"""The nbgrader pipeline end to end, with the real nbgrader CLI, on the rnn_forward exercise.

A temporary copy of the course (exercises/nbgrader_config.py and exercises/source/) is released,
three submissions are graded in one autograde run, and feedback is generated:

- "solution": the source notebook itself, which must get every point;
- "untouched": the student version as released, which must get 0 points without a crash;
- "wrong": a correct rnn_step_forward but an rnn_forward that starts every step from h0, which must
  get exactly the points of the rnn_step_forward tests and feedback that names the mistake.

Nothing is written into the repository's exercises/ folder: the config puts the course root and
the gradebook next to itself, and the commands also get the temporary gradebook explicitly.
"""
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets.config.loader import PyFileConfigLoader

EXERCISES = Path(__file__).resolve().parents[1] / "exercises"
ASSIGNMENT = "rnn_forward"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
STUDENTS = ("solution", "untouched", "wrong")
# The points of the exercise as designed: 4 for the step, 6 for the sequence.
TOTAL_POINTS = 10
STEP_POINTS = 4
STEP_TESTS_PREFIX = "test_rnn_step_forward"

# A learner's correct step and a sequence loop that never carries the state (every step starts
# from h0): the rnn_step_forward tests pass, and every rnn_forward test must fail.
WRONG_ANSWERS = {
    "rnn_step_forward": '''\
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    a = x @ Wx.T + h_prev @ Wh.T + b
    h = np.tanh(a)
    return h, (x, h_prev, Wx, Wh, h)
''',
    "rnn_forward": '''\
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    if h0 is None:
        h0 = np.zeros((N, Wh.shape[0]), dtype=x.dtype)
    hs = np.stack([rnn_step_forward(x[:, t], h0, Wx, Wh, b)[0] for t in range(T)], axis=1)
    return hs, (x, h0, Wx, Wh, hs)
''',
}

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def split_regions(source, begin, end):
    """(lines strictly inside every begin/end region, the source with those regions removed as
    nbgrader's ClearHiddenTests and ClearSolutions remove them)."""
    inside, inner, outer = False, [], []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        else:
            (inner if inside else outer).append(line)
    return inner, "\n".join(outer)


# Lines that say nothing about a particular test or solution: bare keywords and brackets.
GENERIC_LINE = re.compile(r"^(try|else|finally|except|pass|break|continue|return|raise)?:?$|^[()\[\]{},]+$")


def code_lines(lines):
    """The stripped lines that carry code, without blank lines, comments and bare keywords."""
    stripped = (line.strip() for line in lines)
    return {line for line in stripped if not line.startswith("#") and not GENERIC_LINE.match(line)}


def html_text(path):
    """The visible text of an HTML file: tags removed (syntax highlighting splits code into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def run_nbgrader(course, db_url, *args):
    """Runs the nbgrader CLI of this Python in the temporary course; fails with its output."""
    env = dict(os.environ)
    # The kernel spec "python3" runs `python` from PATH: it must be this environment's python,
    # which has numpy and rnnlib (the hidden tests' reference).
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # No personal Jupyter/IPython configuration, kernel specs or startup files take part.
    for name, folder in [("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython")]:
        env[name] = str(course.parent / folder)
    env["MPLBACKEND"] = "Agg"
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.db_url={db_url}"]
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"`nbgrader {' '.join(args)}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Release, submit, autograde (one run for all students) and generate feedback, once."""
    base = tmp_path_factory.mktemp("nbgrader")
    course = base / "course"
    course.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(EXERCISES / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    db_url = f"sqlite:///{course / 'gradebook.db'}"

    run_nbgrader(course, db_url, "generate_assignment", ASSIGNMENT)
    source_path = course / "source" / ASSIGNMENT / NOTEBOOK
    release_path = course / "release" / ASSIGNMENT / NOTEBOOK
    assert release_path.is_file(), "generate_assignment wrote no student version"

    submissions = {}
    for student in STUDENTS:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        submissions[student] = folder / NOTEBOOK
    shutil.copy(source_path, submissions["solution"])
    shutil.copy(release_path, submissions["untouched"])
    wrong = nbformat.read(release_path, as_version=4)
    filled = set()
    for cell in wrong.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in WRONG_ANSWERS:
            cell.source = WRONG_ANSWERS[grade_id]
            filled.add(grade_id)
    assert filled == set(WRONG_ANSWERS), f"solution cells not found in the student version: {set(WRONG_ANSWERS) - filled}"
    nbformat.write(wrong, submissions["wrong"])

    autograde = run_nbgrader(course, db_url, "autograde", ASSIGNMENT, "--create")
    feedback = run_nbgrader(course, db_url, "generate_feedback", ASSIGNMENT)
    return {
        "course": course,
        "db_url": db_url,
        "source": nbformat.read(source_path, as_version=4),
        "release": nbformat.read(release_path, as_version=4),
        "release_text": release_path.read_text(encoding="utf-8"),
        "autograde_log": autograde.stdout + autograde.stderr,
        "feedback_log": feedback.stdout + feedback.stderr,
    }


def grade_cells(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade")}


def autograded(pipeline, student):
    path = pipeline["course"] / "autograded" / student / ASSIGNMENT / NOTEBOOK
    assert path.is_file(), f"no autograded notebook for {student}"
    return nbformat.read(path, as_version=4)


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def load_config(folder):
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


def course_id(folder):
    return CourseDirectory(config=load_config(folder)).course_id


def test_config_options_reach_nbgrader():
    """The config's option names are real: a misspelt traitlets option is silently ignored."""
    config = load_config(EXERCISES)
    timeout = config.Execute.timeout
    assert isinstance(timeout, int) and timeout != Execute().timeout, "set an explicit Execute.timeout"
    assert Execute(config=config).timeout == timeout
    coursedir = CourseDirectory(config=config)
    assert Path(coursedir.root) == EXERCISES
    assert coursedir.db_url == f"sqlite:///{EXERCISES / 'gradebook.db'}"
    assert coursedir.course_id


def test_points_are_as_designed(pipeline):
    points = {grade_id: nbgrader_meta(c)["points"] for grade_id, c in grade_cells(pipeline["source"]).items()}
    assert len(points) >= 4, "the exercise needs several test cells"
    assert sum(points.values()) == TOTAL_POINTS
    assert sum(p for g, p in points.items() if g.startswith(STEP_TESTS_PREFIX)) == STEP_POINTS
    for cell in grade_cells(pipeline["source"]).values():
        assert HIDDEN_BEGIN in cell.source, f"{nbgrader_meta(cell)['grade_id']} has no hidden tests"


def test_student_version_has_no_solution(pipeline):
    text, release = pipeline["release_text"], pipeline["release"]
    for marker in (SOLUTION_BEGIN, SOLUTION_END, "np.tanh("):
        assert marker not in text, f"the student version contains {marker!r}"
    solution_lines = code_lines(line for cell in pipeline["source"].cells
                                for line in split_regions(cell.source, SOLUTION_BEGIN, SOLUTION_END)[0])
    assert solution_lines, "the source notebook has no solution regions"
    release_code = code_lines(line for cell in release.cells if cell.cell_type == "code"
                              for line in cell.source.splitlines())
    assert not solution_lines & release_code, f"solution code in the student version: {solution_lines & release_code}"
    stubs = [c for c in release.cells if nbgrader_meta(c).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code"), "outputs in the student version"


def test_student_version_has_no_hidden_tests_but_all_visible_ones(pipeline):
    text, release = pipeline["release_text"], pipeline["release"]
    for marker in (HIDDEN_BEGIN, HIDDEN_END, "_reference_rnn", "default_rng", "_hidden_"):
        assert marker not in text, f"the student version contains {marker!r}"
    all_release_lines = code_lines(line for cell in release.cells for line in cell.source.splitlines())
    hidden_lines = code_lines(line for cell in pipeline["source"].cells
                              for line in split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)[0])
    assert not hidden_lines & all_release_lines, f"hidden tests in the student version: {hidden_lines & all_release_lines}"
    released_tests = grade_cells(release)
    for grade_id, cell in grade_cells(pipeline["source"]).items():
        assert grade_id in released_tests, f"test cell {grade_id} is missing from the student version"
        visible = split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)[1]
        assert released_tests[grade_id].source == visible, f"the visible tests of {grade_id} changed"
        assert "assert" in visible, f"{grade_id} has no visible test"
        assert nbgrader_meta(released_tests[grade_id])["points"] == nbgrader_meta(cell)["points"]
        assert nbgrader_meta(released_tests[grade_id])["locked"]


def test_scores(pipeline):
    source_points = {g: float(nbgrader_meta(c)["points"]) for g, c in grade_cells(pipeline["source"]).items()}
    with Gradebook(pipeline["db_url"], course_id(pipeline["course"])) as gb:
        scores = {}
        for student in STUDENTS:
            submission = gb.find_submission(ASSIGNMENT, student)
            notebook = gb.find_submission_notebook(NOTEBOOK[:-len(".ipynb")], ASSIGNMENT, student)
            per_cell = {grade.cell.name: grade.score for grade in notebook.grades}
            assert set(per_cell) == set(source_points), (
                f"{student}: not every test cell was graded\n{pipeline['autograde_log']}")
            assert submission.max_score == TOTAL_POINTS
            scores[student] = (submission.score, per_cell)

    score, per_cell = scores["solution"]
    assert score == TOTAL_POINTS, f"the solution lost points: {per_cell}"

    score, per_cell = scores["untouched"]
    assert score == 0, f"the untouched student version got points: {per_cell}"

    score, per_cell = scores["wrong"]
    assert 0 < score < TOTAL_POINTS
    assert score == STEP_POINTS, f"the wrong submission should get the step's points only: {per_cell}"
    for grade_id, points in source_points.items():
        expected = points if grade_id.startswith(STEP_TESTS_PREFIX) else 0
        assert per_cell[grade_id] == expected, f"wrong submission, {grade_id}: {per_cell[grade_id]} != {expected}"


def test_untouched_submission_fails_cleanly(pipeline):
    """Every test cell of the untouched notebook ran and failed on the stub, nothing else."""
    for grade_id, cell in grade_cells(autograded(pipeline, "untouched")).items():
        names = [e.ename for e in errors(cell)]
        assert names == ["NotImplementedError"], f"{grade_id}: {names}"


def test_wrong_submission_is_told_its_mistake(pipeline):
    cells = grade_cells(autograded(pipeline, "wrong"))
    messages = {g: " ".join(e.evalue for e in errors(c)) for g, c in cells.items()}
    assert "not carried from step to step" in messages["test_rnn_forward_values"], messages
    assert "not carried from step to step" in messages["test_rnn_forward_returns"], messages

    page = pipeline["course"] / "feedback" / "wrong" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert page.is_file(), f"no feedback for the wrong submission\n{pipeline['feedback_log']}"
    text = html_text(page)
    assert "not carried from step to step" in text
    for marker in (HIDDEN_BEGIN, "_reference_rnn", "default_rng", "_hidden_"):
        assert marker not in text, f"the feedback shows the hidden tests ({marker!r})"
    for student in ("solution", "untouched"):
        assert (pipeline["course"] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
