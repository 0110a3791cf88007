"""Every graded exercise end to end, with the real nbgrader CLI.

For each assignment in exercises/source/, temporary copies of the course are released, autograde
grades these submissions (half in each copy, both at once), then feedback is generated:

- "solution": the source notebook itself, which must get every point;
- "untouched": the student version as released, which must get 0 points without a crash;
- one submission per known mistake listed in tests/exercise_submissions/<assignment>.py: the
  solution with one function replaced by a learner's version that has exactly that mistake. It
  must lose exactly the points of the listed test cells, and its feedback must name the mistake;
- one submission per graded function that hands the work to rnnlib: zero for that function's
  test cells and those of the functions built on it, full points for the rest.

Nothing is written into the repository's exercises/ folder: the config puts the course root and
the gradebook next to itself, and the commands also get the temporary gradebook explicitly.
"""
import functools
import html
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets.config.loader import PyFileConfigLoader

import rnnlib
from rnncourse.autograde import TrustedExecute
from rnncourse.sandbox import Sandbox

EXERCISES = Path(__file__).resolve().parents[1] / "exercises"
ASSIGNMENTS = sorted(p.name for p in (EXERCISES / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
DELEGATION_FEEDBACK = "must compute its result with its own NumPy code"


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


def secret_lines(source_nb, begin, end):
    """Code lines inside the begin/end regions that appear nowhere else in the source notebook."""
    inner, outer = [], []
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            inside, rest = split_regions(cell.source, begin, end)
            inner += inside
            outer += rest.split("\n")
    return code_lines(inner) - code_lines(outer)


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
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (
        f"`nbgrader {' '.join(args)}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    return result


def spec(assignment):
    """The assignment's list of known mistakes (tests/exercise_submissions/<assignment>.py)."""
    return importlib.import_module(f"exercise_submissions.{assignment}")


@functools.cache
def student_notebooks():
    """book/_ext/student_notebooks.py, the book's extension that writes the Exercises pages' points tables."""
    path = EXERCISES.parent / "book" / "_ext" / "student_notebooks.py"
    module_spec = importlib.util.spec_from_file_location("student_notebooks", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def graded_functions(nb):
    """grade_id -> cell of every solution cell: each defines the graded function of that name."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and nbgrader_meta(c).get("solution")}


def grade_cells(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade")}


def function_of(grade_id, functions):
    """The graded function a test cell belongs to: test_<function>_<aspect>, longest name first."""
    owners = [f for f in functions if grade_id.startswith(f"test_{f}_")]
    return max(owners, key=len) if owners else None


def delegating_code(assignment, function):
    """A version of `function` that hands all of its work to rnnlib."""
    custom = getattr(spec(assignment), "DELEGATIONS", {})
    if function in custom:
        return custom[function]
    assert hasattr(rnnlib, function), f"{assignment}: give DELEGATIONS[{function!r}], rnnlib has no {function}"
    return (f"def {function}(*args, **kwargs):\n    import rnnlib\n"
            f"    return rnnlib.{function}(*args, **kwargs)\n")


def submissions(assignment, source):
    """student id -> (function replaced or None, its code) for every submission but the untouched one."""
    students = {"solution": (None, None)}
    for name, mistake in spec(assignment).MISTAKES.items():
        students[f"mistake_{name}"] = (mistake.function, mistake.code)
    for function in graded_functions(source):
        students[f"delegates_{function}"] = (function, delegating_code(assignment, function))
    return students


# The submissions of an assignment are graded in this many course copies at once (nbgrader's
# autograde runs one notebook at a time; two copies keep both cores busy).
SHARDS = 2


def make_course(folder, assignment):
    folder.mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", folder / "nbgrader_config.py")
    shutil.copytree(EXERCISES / "source" / assignment, folder / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return folder, f"sqlite:///{folder / 'gradebook.db'}"


def grade_shard(course, db_url, assignment, students):
    """Release, submit `students` (id -> notebook), autograde them in one run, make feedback."""
    notebook = f"{assignment}.ipynb"
    run_nbgrader(course, db_url, "generate_assignment", assignment)
    for student, nb in students.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / notebook)
    autograde = run_nbgrader(course, db_url, "autograde", assignment, "--create")
    feedback = run_nbgrader(course, db_url, "generate_feedback", assignment)
    scores = {}
    with Gradebook(db_url, course_id(course)) as gb:
        for student in students:
            submission = gb.find_submission(assignment, student)
            graded = gb.find_submission_notebook(assignment, assignment, student)
            scores[student] = (submission.score, submission.max_score,
                               {grade.cell.name: grade.score for grade in graded.grades})
    return scores, autograde.stdout + autograde.stderr + feedback.stdout + feedback.stderr


@functools.cache
def pipeline(assignment, base):
    """Release, submit, autograde and generate feedback, once per assignment, in SHARDS course
    copies that each grade every SHARDS-th submission in one autograde run."""
    notebook = f"{assignment}.ipynb"
    # the student version, made the way every shard makes it
    course, db_url = make_course(base / assignment / "release_course", assignment)
    run_nbgrader(course, db_url, "generate_assignment", assignment)
    source_path = course / "source" / assignment / notebook
    release_path = course / "release" / assignment / notebook
    assert release_path.is_file(), "generate_assignment wrote no student version"
    source = nbformat.read(source_path, as_version=4)

    students = {"untouched": nbformat.read(release_path, as_version=4)}
    for student, (function, code) in submissions(assignment, source).items():
        nb = nbformat.read(source_path, as_version=4)
        if function is not None:
            cell = graded_functions(nb).get(function)
            assert cell is not None, f"{student}: no solution cell with grade_id {function!r}"
            cell.source = code
        students[student] = nb
    names = list(students)
    shards = [(*make_course(base / assignment / f"course_{k}", assignment),
               {name: students[name] for name in names[k::SHARDS]}) for k in range(SHARDS)]
    with ThreadPoolExecutor(SHARDS) as pool:
        results = list(pool.map(lambda shard: grade_shard(shard[0], shard[1], assignment, shard[2]), shards))
    return {
        "assignment": assignment,
        "course_of": {name: shard[0] for shard in shards for name in shard[2]},
        "source": source,
        "release": nbformat.read(release_path, as_version=4),
        "release_text": release_path.read_text(encoding="utf-8"),
        "scores": {name: score for scores, _ in results for name, score in scores.items()},
        "log": "".join(log for _, log in results),
    }


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbgrader")
    return lambda assignment: pipeline(assignment, base)


def autograded(result, student):
    assignment = result["assignment"]
    path = result["course_of"][student] / "autograded" / student / assignment / f"{assignment}.ipynb"
    assert path.is_file(), f"no autograded notebook for {student}\n{result['log']}"
    return nbformat.read(path, as_version=4)


def feedback_page(result, student):
    path = result["course_of"][student] / "feedback" / student / result["assignment"] / f"{result['assignment']}.html"
    assert path.is_file(), f"no feedback for {student}\n{result['log']}"
    return html_text(path)


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def load_config(folder):
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


def course_id(folder):
    return CourseDirectory(config=load_config(folder)).course_id


def points_of(nb):
    return {grade_id: float(nbgrader_meta(c)["points"]) for grade_id, c in grade_cells(nb).items()}


def expected_points(source, failing):
    """Per test cell: 0 for the failing cells, full points for the rest."""
    return {g: 0.0 if g in failing else p for g, p in points_of(source).items()}


# How the notebooks tell the learner the points: "**15 points** in total" (or "in all") in the
# introduction, maybe a table "| 1 | `lstm_step_forward` | 4 |" of the functions, "## Part 1 · ...
# (6 points)" over each part, and "... (2 points)" in the comment of each test cell.
STATED_TOTAL = re.compile(r"\*\*(\d+) points\*\* in (?:total|all)")
FUNCTION_ROW = re.compile(r"^\| \d+ \| `(\w+)` \| (\d+) \|$", re.MULTILINE)
PART_HEADING = re.compile(r"^## Part .*\((\d+) points?\)$", re.MULTILINE)
STATED_POINTS = re.compile(r"\((\d+) points?\)")


def stated_points(nb):
    """What the notebook's text says about points: the totals it states, {function: points} of its
    table, [heading, points stated, points of the test cells up to the next part] of each part,
    and {grade_id: the points stated in that test cell's comments}."""
    totals, functions, parts, cells = [], {}, [], {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            totals += [int(n) for n in STATED_TOTAL.findall(cell.source)]
            functions.update((name, int(n)) for name, n in FUNCTION_ROW.findall(cell.source))
            parts += [[m.group(0), int(m.group(1)), 0.0] for m in PART_HEADING.finditer(cell.source)]
        elif nbgrader_meta(cell).get("grade"):
            if parts:
                parts[-1][2] += float(nbgrader_meta(cell)["points"])
            comments = [line for line in cell.source.splitlines() if line.lstrip().startswith("#")]
            cells[nbgrader_meta(cell)["grade_id"]] = [int(n) for line in comments
                                                      for n in STATED_POINTS.findall(line)]
    return totals, functions, parts, cells


def cells_of(source, function):
    functions = graded_functions(source)
    return {g for g in grade_cells(source) if function_of(g, functions) == function}


# ---------------------------------------------------------------------------------------------
# Parameters: every assignment, every listed mistake, every graded function.

def mistake_cases():
    cases = []
    for a in ASSIGNMENTS:
        try:
            mistakes = spec(a).MISTAKES
        except ModuleNotFoundError:  # test_structure reports the missing list
            continue
        cases += [pytest.param(a, name, id=f"{a}-{name}") for name in mistakes]
    return cases


def function_cases():
    cases = []
    for a in ASSIGNMENTS:
        source = nbformat.read(EXERCISES / "source" / a / f"{a}.ipynb", as_version=4)
        cases += [pytest.param(a, f, id=f"{a}-{f}") for f in graded_functions(source)]
    return cases


def test_the_course_has_its_six_assignments():
    assert set(ASSIGNMENTS) >= {"rnn_forward", "bptt", "gradients", "lstm", "gru", "birnn_seq2seq"}


def test_config_options_reach_nbgrader():
    """The config's option names are real: a misspelt traitlets option is silently ignored."""
    config = load_config(EXERCISES)
    assert TrustedExecute in config.Autograde.autograde_preprocessors
    assert Execute not in config.Autograde.autograde_preprocessors, "learner code would run next to the tests"
    for section, name, configurable in [("TrustedExecute", "timeout", TrustedExecute),
                                        ("TrustedExecute", "call_timeout", TrustedExecute),
                                        ("Sandbox", "memory_mb", Sandbox), ("Sandbox", "max_processes", Sandbox)]:
        assert name in config[section], f"set {section}.{name} in nbgrader_config.py"
        value = config[section][name]
        assert isinstance(value, int) and getattr(configurable(config=config), name) == value
    coursedir = CourseDirectory(config=config)
    assert Path(coursedir.root) == EXERCISES
    assert coursedir.db_url == f"sqlite:///{EXERCISES / 'gradebook.db'}"
    assert coursedir.course_id


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_structure(assignment):
    """Every graded function has test cells with points and hidden tests; every mistake is real."""
    source = nbformat.read(EXERCISES / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    functions = graded_functions(source)
    assert functions, "no solution cells"
    for function, cell in functions.items():
        assert f"def {function}(" in cell.source, f"the solution cell {function} must define {function}()"
        assert SOLUTION_BEGIN in cell.source and cell_count(source, function) >= 1, function
    points = points_of(source)
    for grade_id, cell in grade_cells(source).items():
        assert function_of(grade_id, functions), f"test cell {grade_id} is not named test_<function>_<aspect>"
        assert points[grade_id] > 0
        assert HIDDEN_BEGIN in cell.source, f"{grade_id} has no hidden tests"
        assert "assert" in split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)[1], f"{grade_id} has no visible test"
    mistakes = spec(assignment).MISTAKES
    assert len(mistakes) >= 4 * len(functions) or len(mistakes) >= 12, "list the common mistakes of every function"
    for name, mistake in mistakes.items():
        assert mistake.function in functions, f"mistake {name}: no graded function {mistake.function}"
        assert f"def {mistake.function}(" in mistake.code, f"mistake {name} does not define {mistake.function}"
        unknown = set(mistake.fails) - set(points)
        assert not unknown, f"mistake {name}: unknown test cells {unknown}"
        assert mistake.feedback.strip(), f"mistake {name}: say which words the feedback must show"
    for function in functions:
        assert sum(m.function == function for m in mistakes.values()) >= 3, f"{function}: list its common mistakes"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_points_the_notebook_states_are_the_points_it_gives(assignment):
    """The learner reads the points in the notebook's text and on the Exercises page; nbgrader
    gives those of the test cells' metadata. They must agree: in total, per part and per cell."""
    path = EXERCISES / "source" / assignment / f"{assignment}.ipynb"
    source = nbformat.read(path, as_version=4)
    points = points_of(source)
    total = sum(points.values())
    totals, functions, parts, cells = stated_points(source)
    assert totals == [total], f"{assignment}: the text states {totals} points in total, the test cells give {total:g}"
    for function, stated in functions.items():
        given = sum(points[g] for g in cells_of(source, function))
        assert stated == given, f"{assignment}: the table gives {function} {stated} points, its test cells {given:g}"
    assert parts, f"{assignment}: no part heading states its points (or PART_HEADING no longer matches them)"
    for heading, stated, given in parts:
        assert stated == given, f"{assignment}: {heading!r}, but its test cells give {given:g} points"
    for grade_id, stated in cells.items():
        given = points[grade_id]
        assert stated == [given], f"{grade_id}: its comment states {stated} points, the cell gives {given:g}"
    # the Exercises page includes the table that book/_ext/student_notebooks.py makes of the source
    table = student_notebooks().points_table(path)
    assert f"| **Total** | | **{total:g}** |" in table, (
        f"{assignment}: the page's table does not total {total:g}:\n{table}")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_functions_are_rnnlib_contracts(assignment):
    """Every graded function is in rnnlib.EXERCISE_CONTRACTS, with rnnlib's arguments: the
    reference the tests compare with, and the function the sandbox replaces by a stub."""
    source = nbformat.read(EXERCISES / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    for function, cell in graded_functions(source).items():
        assert function in rnnlib.EXERCISE_CONTRACTS, f"{function} is graded: list it in rnnlib.EXERCISE_CONTRACTS"
        namespace = {}
        exec(compile(split_regions(cell.source, SOLUTION_BEGIN, SOLUTION_END)[1], function, "exec"), namespace)
        assert inspect.signature(namespace[function]) == inspect.signature(getattr(rnnlib, function)), function


def cell_count(source, function):
    return len(cells_of(source, function))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_has_no_solution(graded, assignment):
    result = graded(assignment)
    text, release = result["release_text"], result["release"]
    for marker in (SOLUTION_BEGIN, SOLUTION_END):
        assert marker not in text, f"the student version contains {marker!r}"
    solution = secret_lines(result["source"], SOLUTION_BEGIN, SOLUTION_END)
    assert solution, "the source notebook has no solution regions"
    release_code = code_lines(line for cell in release.cells if cell.cell_type == "code"
                              for line in cell.source.splitlines())
    assert not solution & release_code, f"solution code in the student version: {solution & release_code}"
    stubs = [c for c in release.cells if nbgrader_meta(c).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code"), "outputs in the student version"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_has_no_hidden_tests_but_all_visible_ones(graded, assignment):
    result = graded(assignment)
    text, release = result["release_text"], result["release"]
    for marker in (HIDDEN_BEGIN, HIDDEN_END, "rnncourse.grading", "_reference_"):
        assert marker not in text, f"the student version contains {marker!r}"
    release_lines = code_lines(line for cell in release.cells for line in cell.source.splitlines())
    hidden = secret_lines(result["source"], HIDDEN_BEGIN, HIDDEN_END)
    assert not hidden & release_lines, f"hidden tests in the student version: {hidden & release_lines}"
    released_tests = grade_cells(release)
    for grade_id, cell in grade_cells(result["source"]).items():
        assert grade_id in released_tests, f"test cell {grade_id} is missing from the student version"
        visible = split_regions(cell.source, HIDDEN_BEGIN, HIDDEN_END)[1]
        assert released_tests[grade_id].source == visible, f"the visible tests of {grade_id} changed"
        assert nbgrader_meta(released_tests[grade_id])["points"] == nbgrader_meta(cell)["points"]
        assert nbgrader_meta(released_tests[grade_id])["locked"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded, assignment):
    result = graded(assignment)
    score, max_score, per_cell = result["scores"]["solution"]
    assert per_cell == points_of(result["source"]), f"not every test cell was graded\n{result['log']}"
    assert score == max_score == sum(points_of(result["source"]).values())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_student_version_gets_zero_cleanly(graded, assignment):
    result = graded(assignment)
    score, _, per_cell = result["scores"]["untouched"]
    assert score == 0, f"the untouched student version got points: {per_cell}"
    for grade_id, cell in grade_cells(autograded(result, "untouched")).items():
        names = [e.ename for e in errors(cell)]
        assert names == ["NotImplementedError"], f"{grade_id}: {names}"


@pytest.mark.parametrize("assignment, name", mistake_cases())
def test_mistake_loses_its_points_and_is_named(graded, assignment, name):
    result = graded(assignment)
    mistake = spec(assignment).MISTAKES[name]
    student = f"mistake_{name}"
    failing = set(mistake.fails) or cells_of(result["source"], mistake.function)
    _, _, per_cell = result["scores"][student]
    assert per_cell == expected_points(result["source"], failing), (
        f"the submission with mistake {name!r} should lose exactly the points of {sorted(failing)}")
    messages = {g: " ".join(e.evalue for e in errors(c)) for g, c in grade_cells(autograded(result, student)).items()}
    assert any(mistake.feedback in messages[g] for g in failing), (
        f"no failing test cell names the mistake with {mistake.feedback!r}: {messages}")
    assert mistake.feedback in feedback_page(result, student), "the feedback page does not name the mistake"


def callers(source, function):
    """The graded functions whose solution calls `function`: built on the learner's own version,
    they fail when it fails, delegation included."""
    calls = re.compile(rf"\b{re.escape(function)}\(")
    solutions = {name: "\n".join(split_regions(cell.source, SOLUTION_BEGIN, SOLUTION_END)[0])
                 for name, cell in graded_functions(source).items()}
    return {name for name, solution in solutions.items() if name != function and calls.search(solution)}


@pytest.mark.parametrize("assignment, function", function_cases())
def test_delegating_function_scores_zero(graded, assignment, function):
    """In the sandbox, rnnlib's version of a graded function raises: the function's tests score 0,
    and so do the tests of the learner's functions built on it; every other test keeps its points."""
    result = graded(assignment)
    student = f"delegates_{function}"
    own_cells = cells_of(result["source"], function)
    failing = own_cells.union(*(cells_of(result["source"], f) for f in callers(result["source"], function)))
    _, _, per_cell = result["scores"][student]
    assert per_cell == expected_points(result["source"], failing), (
        f"{function} calls rnnlib: exactly the test cells {sorted(failing)} should score 0")
    cells = grade_cells(autograded(result, student))
    for grade_id in own_cells:
        assert any(DELEGATION_FEEDBACK in e.evalue for e in errors(cells[grade_id])), (
            f"{grade_id}: the feedback does not say that {function} delegates")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_no_hidden_test(graded, assignment):
    result = graded(assignment)
    hidden = secret_lines(result["source"], HIDDEN_BEGIN, HIDDEN_END)
    for student in result["scores"]:
        text = feedback_page(result, student)
        for marker in (HIDDEN_BEGIN, "rnncourse.grading", "_reference_"):
            assert marker not in text, f"{student}: the feedback shows the hidden tests ({marker!r})"
        # a line of the learner's own code may happen to equal one of the hidden tests' lines
        submitted_path = result["course_of"][student] / "submitted" / student / assignment / f"{assignment}.ipynb"
        submitted = nbformat.read(submitted_path, as_version=4)
        own = code_lines(line for cell in submitted.cells for line in cell.source.splitlines())
        shown = (hidden - own) & code_lines(text.splitlines())
        assert not shown, f"{student}: hidden test code in the feedback: {shown}"
