"""`make grade`: grade every submission of every assignment with one command.

    python exercises/tools/grade.py [--course DIR] [--lms PATH ...] [--workers N] [--db-url URL] [--timeout S]

1. Collect. Submissions in nbgrader's layout, exercises/submitted/<student>/<assignment>/, and
   files downloaded from a learning-management system (--lms, a folder or a zip, one notebook per
   student, the student named in the file or folder name, e.g. `jdoe_lstm.ipynb` or Moodle's
   `Jane Doe_123_assignsubmission_file_/lstm.ipynb`), which are copied into that layout first. A
   file already there with other contents is kept beside it, never overwritten.
2. Grade. Each (student, assignment) is graded by its own `nbgrader autograde` process in a
   scratch copy of the course that holds only that submission and a private gradebook, several
   at once (--workers, one per core by default). The notebook's kernel runs in the sandbox of
   sandbox.py where the OS allows: resource limits, no network, the course's files out of reach.
   A submission that cannot be graded as it is (not a notebook, no notebook, a renamed file)
   gets the grade nbgrader gives the untouched student version, 0, with the reason.
3. Record. The results go into the gradebook (SQLite by default; any SQLAlchemy URL through
   --db-url or $GRADEBOOK_URL) in a fixed order, so a sharded run writes exactly what a serial one
   does; grades of other students and assignments, and manual grades, are left as they are.
4. Report. Feedback HTML per student (exercises/feedback/), grades.csv, and report.html with
   score histograms, per-test pass rates and every reason (exercises/report/).
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

import course
import guard
import sandbox

REPO = course.COURSE.parent
# Strings that learning-management systems add to a submission's file or folder name.
LMS_NOISE = re.compile(r"assignsubmission_(file|onlinetext)|_?late_?", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# 1. Collect

def student_id(text):
    """A folder-safe student id: letters, digits, '.', '-' and '_' only, no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", LMS_NOISE.sub("", text)).strip("._-")
    return re.sub(r"_+", "_", cleaned)


def lms_files(path):
    """(name inside the download, bytes) of every notebook in a folder or zip, sorted by name."""
    path = Path(path)
    if path.is_dir():
        return [(str(p.relative_to(path)), p.read_bytes()) for p in sorted(path.rglob("*.ipynb"))]
    with zipfile.ZipFile(path) as archive:
        return [(name, archive.read(name)) for name in sorted(archive.namelist()) if name.endswith(".ipynb")]


def parse_lms_name(name, known):
    """(student, assignment) from a downloaded file's path, or None when no assignment matches."""
    text = name[: -len(".ipynb")]
    matches = [a for a in known if a in text]
    if not matches:
        return None
    assignment = max(matches, key=len)
    student = student_id(text.replace(assignment, " ", 1).replace("/", " "))
    return (student, assignment) if student else None


def import_lms(root, sources, known):
    """Copies LMS downloads into submitted/<student>/<assignment>/<assignment>.ipynb. Returns notes
    per (student, assignment) and the downloaded files that match no assignment."""
    notes, unmatched = {}, []
    for source in sources:
        for name, data in lms_files(source):
            parsed = parse_lms_name(name, known)
            if parsed is None:
                unmatched.append(f"{Path(source).name}: {name}")
                continue
            student, assignment = parsed
            target = root / "submitted" / student / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file() and target.read_bytes() != data:
                # never lose a submission: keep what was there under a name that says what it is
                digest = hashlib.sha256(target.read_bytes()).hexdigest()[:8]
                target.rename(target.with_name(f"{assignment}.previous-{digest}.ipynb.bak"))
                notes.setdefault(parsed, []).append("replaced an earlier submission (kept as .bak)")
            target.write_bytes(data)
            notes.setdefault(parsed, []).append(f"imported from {Path(source).name}: {name}")
    return notes, unmatched


def submissions(root, known):
    """Every (student, assignment) folder under submitted/, sorted."""
    found = []
    submitted = root / "submitted"
    if submitted.is_dir():
        for student in sorted(p for p in submitted.iterdir() if p.is_dir()):
            for assignment in sorted(p for p in student.iterdir() if p.is_dir()):
                if assignment.name in known:
                    found.append((student.name, assignment.name))
    return found


# ---------------------------------------------------------------------------------------------
# 2. Grade

def template_gradebook(root, assignment, scratch):
    """A private SQLite gradebook that knows the assignment, made once per assignment."""
    course_dir = scratch / "templates" / assignment
    shutil.copytree(root / "source" / assignment, course_dir / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy(root / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    db = course_dir / "gradebook.db"
    course.run_nbgrader(course_dir, f"sqlite:///{db}", "generate_assignment", assignment)
    return db, course_dir / "release" / assignment / f"{assignment}.ipynb"


def checked_notebook(folder, assignment):
    """(path of the notebook to grade or None, notes): the expected file, else the only notebook."""
    expected = folder / f"{assignment}.ipynb"
    notebooks = sorted(p for p in folder.glob("*.ipynb"))
    notes = []
    if not expected.is_file():
        if len(notebooks) != 1:
            found = ", ".join(p.name for p in notebooks) or "no notebook"
            return None, [f"wrong or missing file: expected {assignment}.ipynb, found {found}"]
        notes.append(f"renamed {notebooks[0].name} to {assignment}.ipynb")
        expected = notebooks[0]
    try:
        nb = nbformat.read(expected, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # not JSON, or not a notebook
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return None, notes + [f"not a valid notebook ({type(error).__name__}: {first})"]
    return expected, notes


def autograde(work, root, student, assignment, notebook_bytes, extras, template, timeout, memory_mb):
    """One `nbgrader autograde` of one submission in a fresh scratch course under `work`;
    returns (scratch gradebook URL, autograded notebook, the guard's notes) or, when nbgrader
    could not grade it, (URL, None, nbgrader's last error line)."""
    if work.exists():
        shutil.rmtree(work)
    course_dir = work / "course"
    target = course_dir / "submitted" / student / assignment
    target.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    guard_report = work / "guard.json"
    with open(course_dir / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(guard.guard_config(Path(__file__).resolve().parent, secrets.token_hex(16), guard_report))
    for extra in extras:
        shutil.copy(extra, target / extra.name)
    (target / f"{assignment}.ipynb").write_bytes(notebook_bytes)
    db_dir = work / "db"
    db_dir.mkdir()
    shutil.copy(template["db"], db_dir / "gradebook.db")
    db = f"sqlite:///{db_dir / 'gradebook.db'}"

    env = course.nbgrader_env({"JUPYTER_CONFIG_DIR": str(work / "jupyter_config"),
                               "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
                               "IPYTHONDIR": str(work / "ipython")})
    extra_env, flags = sandbox.prepare(work, own_root=course_dir / "autograded",
                                       hidden=[root, course.COURSE, db_dir, REPO / ".git", REPO / "tests",
                                               REPO / "_build"],
                                       memory_mb=memory_mb)
    env.update(extra_env)
    try:
        result = course.run_nbgrader(course_dir, db, "autograde", assignment, "--create",
                                     f"--Execute.timeout={timeout}", *flags, env=env, check=False)
    finally:
        sandbox.cleanup(work)
    graded = course_dir / "autograded" / student / assignment / f"{assignment}.ipynb"
    guard_notes = json.loads(guard_report.read_text(encoding="utf-8")) if guard_report.is_file() else []
    if result.returncode == 0 and graded.is_file():
        if not guard_report.is_file():
            return db, None, "the grading guard did not report"
        log = result.stdout + "\n" + result.stderr
        restored = sorted(set(re.findall(r"Missing grade cell (\S+) encountered", log)))
        sanitized = [f"deleted test cells put back by nbgrader: {', '.join(restored)}"] if restored else []
        return db, graded, sanitized + guard_notes
    # the exception that stopped nbgrader (e.g. "DeadKernelError: Kernel died") says the most
    lines = (result.stdout + "\n" + result.stderr).splitlines()
    reasons = [line.strip() for line in lines if re.match(r"\s*[\w.]+(Error|Exception|Exit)\b.*:", line)]
    return db, None, (reasons or [line for line in lines if line.strip()] or ["no output"])[-1][:300]


def edited_locked_cells(notebook, versions):
    """grade_ids of the locked cells whose source is in none of the versions (source, release)."""
    def meta(cell):
        return cell.get("metadata", {}).get("nbgrader", {})
    known = {}
    for path in versions:
        for cell in nbformat.read(path, as_version=4).cells:
            if (meta(cell).get("locked") or meta(cell).get("grade")) and not meta(cell).get("solution"):
                known.setdefault(meta(cell).get("grade_id"), set()).add(cell.source.strip())
    cells = nbformat.read(notebook, as_version=4).cells
    return sorted({meta(c)["grade_id"] for c in cells
                   if meta(c).get("grade_id") in known and c.source.strip() not in known[meta(c)["grade_id"]]})


UNTOUCHED = "untouched-student-version"  # the student id under which the fallback is graded


def grade_one(root, student, assignment, template, scratch, timeout, memory_mb):
    """Grades one submission in scratch courses; returns its result (nothing shared is written).

    A submission that cannot be graded as it stands (no notebook, not a notebook, or one that
    makes nbgrader fail, e.g. by killing its kernel with os._exit) is graded as the untouched
    student version instead: 0 points, with the reason in the notes."""
    started = time.monotonic()
    work = scratch / "jobs" / f"{student}--{assignment}"
    source_folder = root / "submitted" / student / assignment
    notebook, notes = checked_notebook(source_folder, assignment)
    extras = [p for p in sorted(source_folder.iterdir()) if p.is_file() and p.suffix != ".ipynb"
              and not p.name.endswith(".bak")]
    graded, error = None, None
    if notebook is not None:
        edited = edited_locked_cells(notebook, [root / "source" / assignment / f"{assignment}.ipynb",
                                                template["release"]])
        if edited:
            notes.append(f"edited locked cells, restored by nbgrader: {', '.join(edited)}")
        db, graded, error = autograde(work, root, student, assignment, notebook.read_bytes(), extras,
                                      template, timeout, memory_mb)
        if graded is None:
            notes.append(f"nbgrader could not grade it: {error}")
        else:
            notes += error
    graded_as = student
    if graded is None:
        # the untouched version is graded once per assignment and run, and shared by all of these
        with template["lock"]:
            if "untouched" not in template:
                untouched_work = scratch / "jobs" / f"{UNTOUCHED}--{assignment}"
                found = autograde(untouched_work, root, UNTOUCHED, assignment, template["release"].read_bytes(),
                                  [], template, timeout, memory_mb)
                template["untouched"] = (found[0], found[1], untouched_work)
        db, graded, work = template["untouched"]
        graded_as = UNTOUCHED
        notes.append("graded as the untouched student version: 0 points")
    return {"student": student, "assignment": assignment, "notes": notes, "work": work, "graded_as": graded_as,
            "graded": graded is not None, "db": db, "seconds": time.monotonic() - started}


# ---------------------------------------------------------------------------------------------
# 3. Record

def merge(result, main_db, course_id, root):
    """Copies one graded submission's automatic scores and comments into the main gradebook and
    its autograded notebook into exercises/autograded/. Manual grades already there stay."""
    student, assignment = result["student"], result["assignment"]
    with Gradebook(result["db"], course_id) as scratch_gb:
        try:
            scratch = scratch_gb.find_submission(assignment, result.get("graded_as", student))
        except MissingEntry:
            return False
        timestamp = scratch.timestamp
        grades = [(nb.name, g.name, g.auto_score, g.needs_manual_grade)
                  for nb in scratch.notebooks for g in nb.grades]
        comments = [(nb.name, c.name, c.auto_comment) for nb in scratch.notebooks for c in nb.comments]
    with Gradebook(main_db, course_id) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips an SQLAlchemy autoflush warning; the rows are right
        warnings.simplefilter("ignore", category=Warning)
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student)
        submission.timestamp = timestamp
        for notebook, cell, score, needs_manual in grades:
            grade = gb.find_grade(cell, notebook, assignment, student)
            grade.auto_score = score
            grade.needs_manual_grade = needs_manual if grade.manual_score is None else False
        for notebook, cell, text in comments:
            gb.find_comment(cell, notebook, assignment, student).auto_comment = text
        gb.db.commit()
    source = result["work"] / "course" / "autograded" / result.get("graded_as", student) / assignment
    target = root / "autograded" / student / assignment
    if target.exists():
        for path in target.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return True


def ensure_released(root, db, assignment, course_id):
    """The gradebook must know the assignment (`make release` records it); record it if not."""
    with Gradebook(db, course_id) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    course.run_nbgrader(root, db, "generate_assignment", assignment, "--force")


# ---------------------------------------------------------------------------------------------

def grade(root=course.COURSE, *, db=None, lms=(), workers=None, timeout=120, memory_mb=4096,
          feedback=True, report=True, progress=True):
    root = Path(root)
    db = course.db_url(root, db)
    cid = course.course_id(root)
    known = course.assignments(root)
    notes, unmatched = import_lms(root, lms, known)
    jobs = submissions(root, known)
    workers = workers or os.cpu_count() or 1
    results = []
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        scratch = Path(tmp)
        templates = {}
        for assignment in sorted({a for _, a in jobs}):
            ensure_released(root, db, assignment, cid)
            release_db, release_nb = template_gradebook(root, assignment, scratch)
            templates[assignment] = {"db": release_db, "release": release_nb, "lock": threading.Lock()}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(grade_one, root, s, a, templates[a], scratch, timeout, memory_mb) for s, a in jobs]
            bar = tqdm(as_completed(futures), total=len(futures), desc="grading", unit="notebook", disable=not progress)
            results = [future.result() for future in bar]
        # record in a fixed order: the gradebook does not depend on which worker finished first
        results.sort(key=lambda r: (r["student"], r["assignment"]))
        for result in results:
            if not merge(result, db, cid, root):
                result["notes"].append("no grade was recorded")
            notes.setdefault((result["student"], result["assignment"]), []).extend(result["notes"])
    for assignment in sorted({r["assignment"] for r in results}):
        if feedback:
            course.run_nbgrader(root, db, "generate_feedback", assignment, "--force")
    outputs = {}
    if report:
        import report as report_module
        report_module.export_csv(db, cid, root / "grades.csv")
        outputs["report"] = report_module.write_report(db, cid, root / "report", notes, course_root=root)
        outputs["csv"] = root / "grades.csv"
    summary = {"graded": len(results), "workers": workers, "unmatched": unmatched,
               "seconds": [round(r["seconds"], 2) for r in results],
               "notes": {f"{s}/{a}": n for (s, a), n in sorted(notes.items()) if n}}
    (root / "grading_notes.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return results, notes, unmatched, outputs


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course", default=str(course.COURSE),
                        help="the course folder (default: exercises/, the one next to this tool)")
    parser.add_argument("--lms", action="append", default=[], help="a folder or zip of LMS downloads (repeatable)")
    parser.add_argument("--workers", type=int, default=None, help="notebooks graded at once (default: one per core)")
    parser.add_argument("--db-url", help="gradebook URL (default: $GRADEBOOK_URL or exercises/gradebook.db)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell before it is stopped")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory limit of a notebook's kernel")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    results, notes, unmatched, outputs = grade(args.course, db=args.db_url, lms=args.lms, workers=args.workers,
                                               timeout=args.timeout, memory_mb=args.memory_mb)
    for name in unmatched:
        print(f"not graded, no assignment in its name: {name}", file=sys.stderr)
    print(f"graded {len(results)} submissions")
    for key, path in outputs.items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
