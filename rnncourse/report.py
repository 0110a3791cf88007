"""Grades out of nbgrader's gradebook: an LMS-friendly CSV and a one-file HTML summary report.

    export_csv(db_url, course_id, path)
        A "long" CSV, one row per (student, assignment) for every student and every assignment in
        the gradebook: student,assignment,score,max_score,percent, sorted by student, then
        assignment. A student with no submission for an assignment gets an empty score and
        percent (not 0), so missing work stays visible after an import into a learning-management
        system.

    write_report(db_url, course_id, out_dir, notes=None, course_root=None, generated_at=True)
        out_dir/report.html, a single self-contained page (charts embedded as PNG data URIs, no
        script, no external resource: it works offline and can be mailed). Per assignment: the
        summary numbers (submissions, missing, mean, median, full marks, zero), a histogram of
        total scores, a chart and a table of per-test-cell pass rates (the share of submissions
        with full points for the cell, cells in notebook order), the students without a
        submission, and a table of notes per submission: the reasons passed in `notes` (what the
        grading driver found: "not valid JSON", "cell timed out", ...) and, for every test cell
        that did not get full points, the first line of its error message, read from the
        autograded notebook <course_root>/autograded/<student>/<assignment>/<notebook>.ipynb
        when course_root is given.

Both read the gradebook through nbgrader.api.Gradebook, so any SQLAlchemy URL works (sqlite by
default, PostgreSQL for several graders). Neither writes anything but its output file(s).

Everything a student controls (ids, error messages, notebook contents) is treated as hostile:
it is HTML-escaped in the report, shortened, stripped of control characters, and CSV cells that
a spreadsheet would run as a formula are neutralised. For the same gradebook the output is byte
for byte the same, except the one "Generated at" line of the report (generated_at=False drops it).

Command line (defaults from exercises/nbgrader_config.py):

    python -m rnncourse.report [--db-url URL] [--course-id ID] [--root COURSE] \
        [--out DIR] [--csv PATH] [--no-timestamp]
"""
from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

# No pyplot: a Figure with the Agg canvas needs no backend selection and no global state.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from nbgrader.api import Assignment, Gradebook

# Autograded notebooks larger than this are not parsed for error messages (an enormous output
# must not make the report run out of memory); the note says so instead.
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_NOTE_CHARS = 300
MAX_NOTES_PER_SUBMISSION = 50
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------------------------------------
# Reading the gradebook

@dataclass
class CellInfo:
    notebook: str
    name: str  # the grade_id
    max_score: float


@dataclass
class SubmissionInfo:
    student: str
    score: float
    cells: dict = field(default_factory=dict)  # (notebook, grade_id) -> score


@dataclass
class AssignmentInfo:
    name: str
    max_score: float
    notebooks: list  # notebook names, sorted
    cells: list  # CellInfo in notebook order
    submissions: dict  # student id -> SubmissionInfo


def _check_db(db_url: str) -> None:
    """A sqlite URL must name an existing file: Gradebook() would silently create an empty one."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix):
        file = db_url[len(prefix):].split("?", 1)[0]
        if file not in ("", ":memory:") and not Path(file).is_file():
            raise FileNotFoundError(f"no gradebook at {db_url}")


def _grade_ids_in_order(course_root, assignment: str, notebook: str, students) -> list:
    """The grade_ids of a notebook in cell order, from the source notebook, else the release,
    else the first autograded notebook that can be read; [] when none is available."""
    if course_root is None:
        return []
    root = Path(course_root)
    candidates = [root / "source" / assignment / f"{notebook}.ipynb",
                  root / "release" / assignment / f"{notebook}.ipynb"]
    candidates += [_autograded_path(root, s, assignment, notebook) for s in sorted(students)]
    candidates = [path for path in candidates if _inside(path, root)]
    for path in candidates:
        nb, _ = _read_notebook(path)
        if nb is not None:
            ids = [_grade_id(cell) for cell in _cells(nb)]
            ids = [i for i in ids if i]
            if ids:
                return ids
    return []


def _load(db_url: str, course_id: str, course_root=None):
    """(sorted student ids, [AssignmentInfo sorted by name]) of the course's gradebook."""
    _check_db(db_url)
    with Gradebook(db_url, course_id) as gb:
        return load_gradebook(gb, course_id, course_root)


def load_gradebook(gb: Gradebook, course_id: str, course_root=None):
    """_load of an open Gradebook."""
    students = sorted(str(s.id) for s in gb.students)
    query = gb.db.query(Assignment).filter(Assignment.course_id == course_id).order_by(Assignment.name)
    assignments = []
    for a in query.all():
        submissions = {}
        for sub in a.submissions:
            info = SubmissionInfo(str(sub.student_id), float(sub.score or 0.0))
            for snb in sub.notebooks:
                for grade in snb.grades:
                    info.cells[(snb.name, grade.cell.name)] = float(grade.score or 0.0)
            submissions[info.student] = info
        cells = []
        notebooks = sorted(nb.name for nb in a.notebooks)
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            graded = {c.name: float(c.max_score or 0.0) for c in [*nb.grade_cells, *nb.task_cells]}
            order = _grade_ids_in_order(course_root, a.name, nb.name, submissions)
            position = {name: i for i, name in enumerate(order)}
            for name in sorted(graded, key=lambda n: (position.get(n, len(order)), n)):
                cells.append(CellInfo(nb.name, name, graded[name]))
        assignments.append(AssignmentInfo(a.name, float(a.max_score or 0.0), notebooks, cells, submissions))
    if not assignments:
        others = sorted({str(c) for (c,) in gb.db.query(Assignment.course_id).distinct()})
        if others:
            raise ValueError(f"the gradebook has no assignment of course {course_id!r}, "
                             f"only of {', '.join(map(repr, others))}")
    return students, assignments


# ---------------------------------------------------------------------------------------------
# CSV

def _number(x) -> str:
    """A score as the CSV and the report show it: 6, 2.5, 33.33; '' for None."""
    if x is None:
        return ""
    x = round(float(x), 2)
    if x == int(x):
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _percent(score, max_score):
    if score is None or not max_score:
        return None
    return 100.0 * score / max_score


def export_csv(db_url: str, course_id: str, path: Path) -> None:
    """Writes the long CSV student,assignment,score,max_score,percent (see the module doc) with
    rnncourse.export.GradesCsvExporter, the plugin `nbgrader export` uses too."""
    from .export import GradesCsvExporter  # export imports this module
    _check_db(db_url)
    with Gradebook(db_url, course_id) as gb:
        GradesCsvExporter(to=str(path)).export(gb)


# ---------------------------------------------------------------------------------------------
# Autograded notebooks: the error message of each failed test cell

def _autograded_path(root: Path, student: str, assignment: str, notebook: str) -> Path:
    return root / "autograded" / student / assignment / f"{notebook}.ipynb"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _read_notebook(path: Path):
    """(notebook dict or None, why not) -- never raises on a missing, huge or broken file."""
    try:
        if not path.is_file():
            return None, "missing"
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None, f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB, not read"
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError) as e:
        return None, f"unreadable ({type(e).__name__})"
    return (nb, "") if isinstance(nb, dict) else (None, "not a notebook")


def _cells(nb: dict) -> list:
    cells = nb.get("cells")
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _grade_id(cell: dict):
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def _clean(text, limit: int = MAX_NOTE_CHARS) -> str:
    """One line of untrusted text: no terminal colours or control characters, at most `limit`."""
    text = ANSI_ESCAPE.sub("", str(text))
    text = CONTROL.sub(" ", text.replace("\n", " ").replace("\r", " ")).strip()
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _first_error(cell: dict):
    """'ename: first line of evalue' of the cell's first error output, or None."""
    for output in cell.get("outputs") or []:
        if isinstance(output, dict) and output.get("output_type") == "error":
            ename = str(output.get("ename") or "Error")
            evalue = ANSI_ESCAPE.sub("", str(output.get("evalue") or ""))
            lines = [line for line in evalue.splitlines() if line.strip()]
            return f"{ename}: {lines[0]}" if lines else ename
    return None


def _cell_notes(a: AssignmentInfo, sub: SubmissionInfo, root) -> list:
    """One note per test cell without full points, with its error message when there is one."""
    failed = [c for c in a.cells if sub.cells.get((c.notebook, c.name), 0.0) < c.max_score]
    if not failed:
        return []
    notes, errors = [], {}
    if root is not None:
        root = Path(root)
        for notebook in a.notebooks:
            path = _autograded_path(root, sub.student, a.name, notebook)
            if not _inside(path, root / "autograded"):
                notes.append(f"{notebook}.ipynb: autograded notebook outside the course, not read")
                continue
            nb, why = _read_notebook(path)
            if nb is None:
                notes.append(f"{notebook}.ipynb: autograded notebook {why}")
                continue
            for cell in _cells(nb):
                gid = _grade_id(cell)
                if gid and (notebook, gid) not in errors:
                    errors[(notebook, gid)] = _first_error(cell)
    prefix = len(a.notebooks) > 1
    for c in failed:
        got = sub.cells.get((c.notebook, c.name))
        points = "not graded" if got is None else f"{_number(got)}/{_number(c.max_score)}"
        label = f"{c.notebook}/{c.name}" if prefix else c.name
        error = errors.get((c.notebook, c.name))
        notes.append(f"{label} ({points}): {error}" if error else f"{label} ({points})")
    return notes


# ---------------------------------------------------------------------------------------------
# Charts

def _plain(text) -> str:
    """Text for a chart: matplotlib would read $...$ as mathematics (and fail on a lone $)."""
    return str(text).replace("$", r"\$")


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No "Software" text chunk: the PNG bytes depend only on the data.
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_png(assignment: str, scores: list, max_score: float) -> str:
    """A data URI: number of students per total score, the max score marked."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    top = max([max_score, *scores]) if scores else max_score
    if top <= 40:  # one bar per point, centred on the score
        edges = [i - 0.5 for i in range(int(math.ceil(top)) + 2)]
    else:
        edges = [top * i / 20 for i in range(21)]
    if scores:
        counts, _, _ = ax.hist(scores, bins=edges, color="#4878a8", edgecolor="white", label="submissions")
        ax.set_ylim(0, max(counts) * 1.3 + 0.5)  # room for the legend above the bars
        mean = statistics.fmean(scores)
        ax.axvline(mean, color="#333333", linestyle=":", linewidth=1.5, label=f"mean {_number(mean)}")
    else:
        ax.text(0.5, 0.5, "no submissions", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.axvline(max_score, color="#c0392b", linestyle="--", linewidth=1.5, label=f"max score {_number(max_score)}")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("total score (points)")
    ax.set_ylabel("number of students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if top <= 40:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(_plain(f"{assignment}: total scores ({len(scores)} submissions)"))
    ax.legend(loc="upper center", ncols=3, fontsize="small", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def pass_rate_png(assignment: str, labels: list, passed: list, total: int) -> str:
    """A data URI: per test cell, the % of submissions with full points, cells top to bottom."""
    height = 1.3 + 0.32 * max(len(labels), 1)
    fig = Figure(figsize=(6.4, height))
    ax = fig.add_subplot()
    rates = [100.0 * p / total if total else 0.0 for p in passed]
    positions = list(range(len(labels)))
    colors = ["#4878a8" if r >= 50 else "#d9822b" for r in rates]
    ax.barh(positions, rates, color=colors, height=0.7)
    for y, rate, p in zip(positions, rates, passed):
        ax.text(min(rate, 100) + 1, y, f"{p}/{total}", va="center", fontsize="small")
    ax.set_yticks(positions, [_plain(label) for label in labels], fontsize="small")
    ax.set_ylim(max(len(labels), 1) - 0.5, -0.5)  # notebook order from the top
    ax.set_xlim(0, 112)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of submissions with full points")
    if not total:
        ax.text(0.5, 0.5, "no submissions", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.set_title(_plain(f"{assignment}: pass rate per test cell"))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# The HTML page: templates/report.html.j2, autoescaped, fed with plain values

TEMPLATES = Path(__file__).resolve().parent / "templates"
_jinja = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                            undefined=jinja2.StrictUndefined)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _anchor(name: str) -> str:
    return "a-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _stats(a: AssignmentInfo, students: list) -> dict:
    scores = [s.score for s in a.submissions.values()]
    eps = 1e-9
    return {
        "max_score": a.max_score,
        "submissions": len(scores),
        "missing": sum(1 for s in students if s not in a.submissions),
        "mean": statistics.fmean(scores) if scores else None,
        "median": statistics.median(scores) if scores else None,
        "full_marks": sum(1 for x in scores if x >= a.max_score - eps) if a.max_score else 0,
        "zero": sum(1 for x in scores if x <= eps),
    }


def _with_percent(value, max_score) -> str:
    if value is None:
        return "\u2013"
    pct = _percent(value, max_score)
    return _number(value) if pct is None else f"{_number(value)} ({_number(round(pct, 1))}%)"


STAT_COLUMNS = [("max_score", "max score"), ("submissions", "submissions"), ("missing", "no submission"),
                ("mean", "mean"), ("median", "median"), ("full_marks", "full marks"), ("zero", "zero points")]


def _stat_texts(stats: dict) -> list:
    """[(stat key, text shown)] in STAT_COLUMNS order."""
    return [(key, _with_percent(stats[key], stats["max_score"]) if key in ("mean", "median") else _number(stats[key]))
            for key, _ in STAT_COLUMNS]


def _notes_row(student, assignment, score, notes) -> dict:
    shown = [_clean(n) for n in notes[:MAX_NOTES_PER_SUBMISSION]]
    if len(notes) > len(shown):
        shown.append(f"... and {len(notes) - len(shown)} more")
    return {"student": student, "assignment": assignment, "score": score, "notes": shown}


def _assignment_context(a: AssignmentInfo, students: list, notes: dict, course_root) -> dict:
    scores = [a.submissions[s].score for s in sorted(a.submissions)]
    prefix = len(a.notebooks) > 1
    labels = [f"{c.notebook}/{c.name}" if prefix else c.name for c in a.cells]
    passed = [sum(1 for s in a.submissions.values() if s.cells.get((c.notebook, c.name), 0.0) >= c.max_score)
              for c in a.cells]
    total = len(a.submissions)
    cells = [{"label": label, "points": _number(c.max_score), "passed": p,
              "rate": f"{_number(round(100.0 * p / total, 1))}%" if total else "\u2013"}
             for label, c, p in zip(labels, a.cells, passed)]
    rows = []
    for student in sorted(set(a.submissions) | {s for (s, x) in notes if x == a.name}):
        sub = a.submissions.get(student)
        given = [str(n) for n in notes.get((student, a.name), [])]
        found = _cell_notes(a, sub, course_root) if sub else []
        if given or found:
            score = f"{_number(sub.score)}/{_number(a.max_score)}" if sub else "no submission"
            rows.append(_notes_row(student, a.name, score, given + found))
    missing = [s for s in students if s not in a.submissions]
    return {"name": a.name, "anchor": _anchor(a.name), "stats": _stat_texts(_stats(a, students)),
            "histogram": histogram_png(a.name, scores, a.max_score),
            "pass_rates": pass_rate_png(a.name, labels, passed, total),
            "submissions_count": _count(total, "submission"), "max_score": _number(a.max_score), "total": total,
            "cells": cells, "notes": rows, "notes_count": _count(len(rows), "student"),
            "missing": missing, "missing_count": _count(len(missing), "student")}


def render_report(db_url: str, course_id: str, notes: dict | None = None, course_root=None,
                  generated_at: bool = True) -> str:
    """The report page as a string (write_report writes it)."""
    notes = {(str(s), str(a)): [v] if isinstance(v, str) else list(v) for (s, a), v in (notes or {}).items()}
    students, assignments = _load(db_url, course_id, course_root)
    known = {a.name for a in assignments}
    other = [_notes_row(s, x, "\u2013", v) for (s, x), v in sorted(notes.items()) if x not in known and v]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") if generated_at else None
    return _jinja.get_template("report.html.j2").render(
        course_id=course_id, generated_at=now, students_count=_count(len(students), "student"),
        assignments_count=_count(len(assignments), "assignment"), stat_titles=[t for _, t in STAT_COLUMNS],
        assignments=[_assignment_context(a, students, notes, course_root) for a in assignments],
        other_notes=other)


def write_report(db_url: str, course_id: str, out_dir: Path, notes: dict | None = None,
                 course_root: Path | None = None, generated_at: bool = True) -> Path:
    """Writes out_dir/report.html (see the module doc) and returns its path."""
    page = render_report(db_url, course_id, notes, course_root, generated_at)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    tmp = out_dir / "report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    exercises = Path(__file__).resolve().parents[1] / "exercises"
    parser = argparse.ArgumentParser(description="Grades CSV and summary report from nbgrader's gradebook.")
    parser.add_argument("--root", type=Path, default=exercises, help="course root (default: %(default)s)")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the gradebook (default: the course config's)")
    parser.add_argument("--course-id", help="course id (default: the course config's)")
    parser.add_argument("--out", type=Path, help="report folder (default: <root>/reports)")
    parser.add_argument("--csv", type=Path, help="CSV path (default: <out>/grades.csv)")
    parser.add_argument("--no-timestamp", action="store_true", help="leave out the generated-at line")
    args = parser.parse_args(argv)
    db_url, course_id = args.db_url, args.course_id
    if db_url is None or course_id is None:
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader
        config = PyFileConfigLoader("nbgrader_config.py", path=str(args.root)).load_config()
        coursedir = CourseDirectory(config=config)
        db_url, course_id = db_url or coursedir.db_url, course_id or coursedir.course_id
    out = args.out or args.root / "reports"
    export_csv(db_url, course_id, args.csv or out / "grades.csv")
    path = write_report(db_url, course_id, out, course_root=args.root, generated_at=not args.no_timestamp)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
