"""`make grade`: grade every submission of every assignment with one command.

    python -m rnncourse.grade [--course DIR] [--lms PATH ...] [--workers N] [--db-url URL]
                              [--timeout S] [--memory-mb MB]

1. Collect. Submissions in nbgrader's layout, <course>/submitted/<student>/<assignment>/, and
   files downloaded from a learning-management system (--lms, a folder or a zip, one notebook per
   student, the student named in the file or folder name, e.g. `jdoe_lstm.ipynb` or Moodle's
   `Jane Doe_123_assignsubmission_file_/lstm.ipynb`), which are copied into that layout first. A
   file already there with other contents is kept beside it, never overwritten. A download whose
   path is absolute, contains `..` or is a symbolic link is refused; two different names that
   clean to the same student id both keep their work (the later in sorted order gets a suffix
   derived from its name, the same on every run).
2. Grade. Each (student, assignment) is graded by its own `nbgrader autograde` process in a
   scratch copy of the course that holds only that submission (copied as regular files) and a
   private gradebook, several at once (--workers, one per core by default). The course's
   nbgrader_config.py runs it with rnncourse.autograde.TrustedExecute: the learner's cells in
   the sandbox of rnncourse.sandbox, the tests in a trusted kernel; its limits (cell and call
   timeouts, memory...) are set there, --timeout and --memory-mb override them.
   A submission that cannot be graded (a symbolic link, a file over 20 MB, no notebook, not a
   notebook, nbgrader failing on it) is recorded for that student with every test cell at 0 and
   the reason in the notes.
3. Record. The results go into the gradebook (--db-url, else $GRADEBOOK_URL, else
   <course>/gradebook.db; SQLite or PostgreSQL) in a fixed order, so a sharded run writes exactly
   what a serial one does; grades of other students and assignments, and manual grades, stay.
4. Report. Feedback HTML per student (<course>/feedback/), grades.csv, and report/report.html
   with score histograms, per-test pass rates and every reason; grading_notes.json.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import unicodedata
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from . import autograde as trusted_execute
from . import course

# Strings that learning-management systems add to a submission's file or folder name.
LMS_NOISE = re.compile(r"assignsubmission_(file|onlinetext)|_?late_?", re.IGNORECASE)
MAX_FILE_BYTES = 20 * 2**20  # a submitted file larger than this is not graded (it stays in submitted/)


# ---------------------------------------------------------------------------------------------
# 1. Collect

def student_id(text):
    """A folder-safe student id: accents transliterated (NFKD, combining marks dropped), then
    letters, digits, '.', '-' and '_' only, no leading dot."""
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", LMS_NOISE.sub("", text)).strip("._-")
    return re.sub(r"_+", "_", cleaned)


def unsafe_name(name):
    """Why a path inside a download may not be used, or None: absolute, or with a `..` part."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "refused: an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "refused: its path contains '..'"
    return None


def lms_files(path):
    """([(name inside the download, bytes)] of every notebook in a folder or zip, sorted by name,
    [(name, why it is refused)]). Symbolic links and unsafe paths are refused, never read."""
    path = Path(path)
    files, refused = [], []
    if path.is_dir():
        for folder, dirs, names in os.walk(path, followlinks=False):
            for name in sorted(dirs + names):
                entry = Path(folder) / name
                relative = str(entry.relative_to(path))
                if entry.is_symlink():
                    refused.append((relative, "refused: a symbolic link"))
                elif name.endswith(".ipynb") and entry.is_file():
                    files.append((relative, entry.read_bytes()))
        return sorted(files), sorted(refused)
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            why = unsafe_name(info.filename)
            if why is None and stat.S_ISLNK(info.external_attr >> 16):
                why = "refused: a symbolic link"
            if why:
                refused.append((info.filename, why))
            elif info.filename.endswith(".ipynb"):
                files.append((info.filename, archive.read(info)))
    return files, refused


def parse_lms_name(name, known):
    """(the student part of the name, assignment) of a downloaded file's path, or None when no
    assignment matches or nothing names the student."""
    text = name[: -len(".ipynb")]
    matches = [a for a in known if a in text]
    if not matches:
        return None
    assignment = max(matches, key=len)
    raw = unicodedata.normalize("NFC", LMS_NOISE.sub("", text.replace(assignment, " ", 1).replace("/", " ")))
    raw = re.sub(r"[\s_]+", " ", raw).strip(" ._-")
    return (raw, assignment) if student_id(raw) else None


def assign_ids(raw_names):
    """{raw student name: student id}, collision-free and the same for the same names on every
    run: names are taken in sorted order, the first keeps its cleaned id, a later one with the
    same id gets a suffix from a hash of its raw name. Returns (mapping, collision notes)."""
    ids, taken, collisions = {}, {}, {}
    plain = {raw: student_id(raw) for raw in raw_names}
    for raw in sorted(raw_names):
        sid = plain[raw]
        if sid in taken:
            digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
            length = 8
            while f"{sid}_{digest[:length]}" in taken or f"{sid}_{digest[:length]}" in plain.values():
                length += 4
            collisions[raw] = (taken[sid], sid)
            sid = f"{sid}_{digest[:length]}"
        taken[sid] = raw
        ids[raw] = sid
    notes = {raw: f"student id collision: {raw!r} and {first!r} both clean to {sid!r}; {raw!r} is {ids[raw]!r}"
             for raw, (first, sid) in collisions.items()}
    return ids, notes


def _inside_submitted(root, target):
    """True when no folder from submitted/ down to target is a symbolic link."""
    submitted = root / "submitted"
    path = submitted
    for part in target.relative_to(submitted).parts:
        path = path / part
        if path.is_symlink():
            return False
    return not submitted.is_symlink()


def import_lms(root, sources, known):
    """Copies LMS downloads into submitted/<student>/<assignment>/<assignment>.ipynb. Returns notes
    per (student, assignment) and the downloaded files not imported, each with the reason."""
    notes, not_imported, found = {}, [], []
    for source in sources:
        files, refused = lms_files(source)
        not_imported += [f"{Path(source).name}: {name}: {why}" for name, why in refused]
        for name, data in files:
            parsed = parse_lms_name(name, known)
            if parsed is None:
                not_imported.append(f"{Path(source).name}: {name}: no assignment or no student in its name")
                continue
            found.append((source, name, data, *parsed))
    ids, collisions = assign_ids({raw for *_, raw, _ in found})
    for source, name, data, raw, assignment in found:
        student = ids[raw]
        key = (student, assignment)
        if raw in collisions:
            notes.setdefault(key, []).append(collisions[raw])
            print(collisions[raw], file=sys.stderr)
        target = root / "submitted" / student / assignment / f"{assignment}.ipynb"
        if not _inside_submitted(root, target):
            not_imported.append(f"{Path(source).name}: {name}: refused: a folder of submitted/{student} "
                                "is a symbolic link")
            notes.setdefault(key, []).append(f"not imported from {Path(source).name}: {name} "
                                             "(a folder of its target is a symbolic link)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and target.read_bytes() != data:
            # never lose a submission: keep what was there under a name that says what it is
            digest = hashlib.sha256(target.read_bytes()).hexdigest()[:8]
            target.rename(target.with_name(f"{assignment}.previous-{digest}.ipynb.bak"))
            notes.setdefault(key, []).append("replaced an earlier submission (kept as .bak)")
        target.write_bytes(data)
        notes.setdefault(key, []).append(f"imported from {Path(source).name}: {name}")
    return notes, not_imported


def submissions(root, known):
    """Every (student, assignment) under submitted/, sorted, with the reason it cannot be graded
    (or None): a student folder that is a symbolic link is not followed and stands for every
    assignment; an assignment folder that is one is refused."""
    found = []
    submitted = root / "submitted"
    if submitted.is_dir() and not submitted.is_symlink():
        for student in sorted(submitted.iterdir()):
            if student.is_symlink():
                why = f"submitted/{student.name} is a symbolic link: refused, not followed"
                found += [(student.name, a, why) for a in known]
                continue
            if not student.is_dir():
                continue
            for assignment in sorted(student.iterdir()):
                if assignment.name not in known:
                    continue
                if assignment.is_symlink():
                    why = f"submitted/{student.name}/{assignment.name} is a symbolic link: refused, not followed"
                    found.append((student.name, assignment.name, why))
                elif assignment.is_dir():
                    found.append((student.name, assignment.name, None))
    return found


# ---------------------------------------------------------------------------------------------
# 2. Grade

def template_gradebook(root, assignment, scratch):
    """A private SQLite gradebook that knows the assignment, and the student version; made once
    per assignment."""
    course_dir = scratch / "templates" / assignment
    shutil.copytree(root / "source" / assignment, course_dir / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy(root / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    db = course_dir / "gradebook.db"
    course.check(course.api(course_dir, f"sqlite:///{db}").generate_assignment(assignment, force=True),
                 f"generate_assignment {assignment}")
    return {"db": db, "release": course_dir / "release" / assignment / f"{assignment}.ipynb"}


def checked_files(folder, assignment):
    """(notebook to grade or None, extra files, notes): the expected notebook, else the only one.
    Any symbolic link or a file over MAX_FILE_BYTES refuses the whole submission."""
    entries = sorted(folder.iterdir())
    links = [p.name for p in entries if p.is_symlink()]
    if links:
        return None, [], [f"refused, not followed: {', '.join(links)} "
                          f"{'is a symbolic link' if len(links) == 1 else 'are symbolic links'}"]
    files = [p for p in entries if p.is_file() and not p.name.endswith(".bak")]
    big = [p.name for p in files if p.stat().st_size > MAX_FILE_BYTES]
    if big:
        return None, [], [f"not graded: {', '.join(big)} larger than {MAX_FILE_BYTES // 2**20} MB "
                          "(kept in submitted/)"]
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    extras = [p for p in files if p.suffix != ".ipynb"]
    expected = folder / f"{assignment}.ipynb"
    notes = []
    if expected not in notebooks:
        if len(notebooks) != 1:
            found = ", ".join(p.name for p in notebooks) or "no notebook"
            return None, [], [f"wrong or missing file: expected {assignment}.ipynb, found {found}"]
        notes.append(f"renamed {notebooks[0].name} to {assignment}.ipynb")
        expected = notebooks[0]
    try:
        nb = nbformat.read(expected, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # not JSON, or not a notebook
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return None, [], notes + [f"not a valid notebook ({type(error).__name__}: {first})"]
    return expected, extras, notes


def copy_regular(source, target):
    """Copies a regular file, refusing (OSError) a symbolic link, even one made since it was checked:
    it is opened with O_NOFOLLOW, so what is copied is the file that was checked or nothing."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            raise OSError(f"{Path(source).name} is no longer a regular file of at most {MAX_FILE_BYTES // 2**20} MB")
        with open(target, "xb") as dst:
            shutil.copyfileobj(src, dst)


def overrides(timeout=None, memory_mb=None):
    """nbgrader flags replacing the course config's limits, for the ones given."""
    flags = []
    if timeout is not None:
        flags.append(f"--TrustedExecute.timeout={int(timeout)}")
    if memory_mb is not None:
        flags.append(f"--Sandbox.memory_mb={int(memory_mb)}")
    return flags


def autograde(work, root, student, assignment, notebook, extras, template, flags):
    """One `nbgrader autograde` of one submission in a fresh scratch course under `work`;
    returns (scratch gradebook URL, autograded notebook or None, notes or nbgrader's error)."""
    course_dir = work / "course"
    target = course_dir / "submitted" / student / assignment
    target.mkdir(parents=True)
    notes_file = work / "notes.json"
    shutil.copy(root / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    with open(course_dir / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(trusted_execute.config_lines(notes_file))
    # regular files only: checked_files refused links, and a link made since is refused here
    try:
        for path in extras:
            copy_regular(path, target / path.name)
        copy_regular(notebook, target / f"{assignment}.ipynb")
    except OSError as error:
        return None, None, f"refused while copying: {error}"
    db_dir = work / "db"
    db_dir.mkdir()
    shutil.copy(template["db"], db_dir / "gradebook.db")
    db = f"sqlite:///{db_dir / 'gradebook.db'}"
    env = course.nbgrader_env({"JUPYTER_CONFIG_DIR": str(work / "jupyter_config"),
                               "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
                               "IPYTHONDIR": str(work / "ipython")})
    result = course.run_nbgrader(course_dir, db, "autograde", assignment, "--create", *flags, env=env, check=False)
    graded = course_dir / "autograded" / student / assignment / f"{assignment}.ipynb"
    log = result.stdout + "\n" + result.stderr
    if result.returncode == 0 and graded.is_file():
        restored = sorted(set(re.findall(r"Missing grade cell (\S+) encountered", log)))
        notes = [f"deleted test cells put back by nbgrader: {', '.join(restored)}"] if restored else []
        if notes_file.is_file():
            notes += json.loads(notes_file.read_text(encoding="utf-8"))
        else:
            notes.append("the grader wrote no notes for this notebook")
        return db, graded, notes
    # the exception that stopped nbgrader says the most
    lines = log.splitlines()
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


def grade_one(root, student, assignment, refused, template, work, flags):
    """Grades one submission in its scratch folder `work`; returns its result (nothing shared is
    written). When it cannot be graded, the result says so and the reason is in its notes."""
    started = time.monotonic()
    result = {"student": student, "assignment": assignment, "work": work, "graded": False, "db": None}
    if refused:
        return {**result, "notes": [refused, "not graded: 0 points for every test"],
                "seconds": time.monotonic() - started}
    notebook, extras, notes = checked_files(root / "submitted" / student / assignment, assignment)
    if notebook is not None:
        edited = edited_locked_cells(notebook, [root / "source" / assignment / f"{assignment}.ipynb",
                                                template["release"]])
        if edited:
            notes.append(f"edited locked cells, restored by nbgrader: {', '.join(edited)}")
        db, graded, found = autograde(work, root, student, assignment, notebook, extras, template, flags)
        if graded is None:
            notes.append(found if found.startswith("refused") else f"nbgrader could not grade it: {found}")
        else:
            notes += found
            result.update(graded=True, db=db)
    if not result["graded"]:
        notes.append("not graded: 0 points for every test")
    return {**result, "notes": notes, "seconds": time.monotonic() - started}


# ---------------------------------------------------------------------------------------------
# 3. Record

def _replace_folder(source, target):
    """target becomes a copy of source (or disappears when source is None)."""
    if target.exists():
        for path in target.rglob("*"):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(target)
    if source is not None:
        shutil.copytree(source, target, symlinks=True)


def merge(result, main_db, course_id, root):
    """Records one submission in the main gradebook: a graded one's automatic scores and comments
    (and its autograded notebook into <course>/autograded/), an ungradable one as 0 for every
    autograded test cell, with the reason as comment. Manual grades already there stay."""
    student, assignment = result["student"], result["assignment"]
    grades, comments, timestamp = [], [], None
    if result["graded"]:
        with Gradebook(result["db"], course_id) as scratch_gb:
            try:
                scratch = scratch_gb.find_submission(assignment, student)
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
        if result["graded"]:
            submission.timestamp = timestamp
            for notebook, cell, score, needs_manual in grades:
                grade = gb.find_grade(cell, notebook, assignment, student)
                grade.auto_score = score
                grade.needs_manual_grade = needs_manual if grade.manual_score is None else False
            for notebook, cell, text in comments:
                gb.find_comment(cell, notebook, assignment, student).auto_comment = text
        else:
            reason = "Not graded: " + "; ".join(result["notes"])
            for nb in submission.notebooks:
                # an autograded test cell is a grade cell that is not also a solution cell
                solutions = {c.name for c in nb.notebook.solution_cells}
                for grade in nb.grades:
                    if grade.cell.cell_type == "code" and grade.cell.name not in solutions:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = False
                for comment in nb.comments:
                    comment.auto_comment = reason[:2000]
        gb.db.commit()
    source = result["work"] / "course" / "autograded" / student / assignment if result["graded"] else None
    # an ungradable submission leaves no autograded notebook or feedback of an earlier run behind
    _replace_folder(source, root / "autograded" / student / assignment)
    if not result["graded"]:
        _replace_folder(None, root / "feedback" / student / assignment)
    return True


def ensure_released(root, db, assignment):
    """The gradebook must know the assignment (`make release` records it); record it if not."""
    with Gradebook(db, course.course_id(root)) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    course.check(course.api(root, db).generate_assignment(assignment, force=True), f"generate_assignment {assignment}")


# ---------------------------------------------------------------------------------------------

def grade(root=course.COURSE, *, db=None, lms=(), workers=None, timeout=None, memory_mb=None,
          feedback=True, report=True, progress=True):
    """Collects, grades, records and reports (see the module doc). timeout and memory_mb, when
    given, replace c.TrustedExecute.timeout and c.Sandbox.memory_mb of the course's config.
    Returns (results, notes per (student, assignment), downloads not imported, output paths)."""
    root = Path(root)
    db = course.db_url(root, db)
    cid = course.course_id(root)
    known = course.assignments(root)
    notes, not_imported = import_lms(root, lms, known)
    jobs = submissions(root, known)
    flags = overrides(timeout, memory_mb)
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        scratch = Path(tmp)
        templates = {}
        for assignment in sorted({a for _, a, why in jobs if why is None}):
            ensure_released(root, db, assignment)
            templates[assignment] = template_gradebook(root, assignment, scratch)
        for assignment in sorted({a for _, a, why in jobs if why is not None}):
            ensure_released(root, db, assignment)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # a job's folder is named by its number, never by the learner's id
            futures = [pool.submit(grade_one, root, s, a, why, templates.get(a), scratch / "jobs" / f"{i:05d}", flags)
                       for i, (s, a, why) in enumerate(jobs)]
            bar = tqdm(as_completed(futures), total=len(futures), desc="grading", unit="notebook", disable=not progress)
            results = [future.result() for future in bar]
        # record in a fixed order: the gradebook does not depend on which worker finished first
        results.sort(key=lambda r: (r["student"], r["assignment"]))
        for result in results:
            if not merge(result, db, cid, root):
                result["notes"].append("no grade was recorded")
            notes.setdefault((result["student"], result["assignment"]), []).extend(result["notes"])
    if feedback:
        nbgrader = course.api(root, db)
        for assignment in sorted({r["assignment"] for r in results if r["graded"]}):
            if nbgrader.generate_feedback(assignment, force=True).get("success"):
                continue
            # one notebook nbgrader cannot render must not cost the others their feedback
            for result in results:
                if result["assignment"] == assignment and result["graded"] and not nbgrader.generate_feedback(
                        assignment, student_id=result["student"], force=True).get("success"):
                    notes.setdefault((result["student"], assignment), []).append("nbgrader could not make its feedback")
    outputs = {}
    if report:
        from . import report as report_module
        report_module.export_csv(db, cid, root / "grades.csv")
        outputs["report"] = report_module.write_report(db, cid, root / "report", notes, course_root=root)
        outputs["csv"] = root / "grades.csv"
    summary = {"graded": len(results), "workers": workers, "not_imported": not_imported,
               "seconds": [round(r["seconds"], 2) for r in results],
               "notes": {f"{s}/{a}": n for (s, a), n in sorted(notes.items()) if n}}
    (root / "grading_notes.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return results, notes, not_imported, outputs


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course", default=str(course.COURSE),
                        help="the course folder (default: the repository's exercises/)")
    parser.add_argument("--lms", action="append", default=[], help="a folder or zip of LMS downloads (repeatable)")
    parser.add_argument("--workers", type=int, default=None, help="notebooks graded at once (default: one per core)")
    parser.add_argument("--db-url", help="gradebook URL (default: $GRADEBOOK_URL or <course>/gradebook.db)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per cell (default: c.TrustedExecute.timeout of the course's nbgrader_config.py)")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="memory of a learner's kernel (default: c.Sandbox.memory_mb of the course's config)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    results, notes, not_imported, outputs = grade(Path(args.course), db=args.db_url, lms=args.lms,
                                                  workers=args.workers, timeout=args.timeout,
                                                  memory_mb=args.memory_mb)
    for line in not_imported:
        print(f"not imported: {line}", file=sys.stderr)
    print(f"graded {len(results)} submissions ({sum(not r['graded'] for r in results)} could not be graded)")
    for key, path in outputs.items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
