"""Several graders at once into one PostgreSQL gradebook (issue 6, item 6).

A real PostgreSQL server, started by this module on 127.0.0.1 at a free port (Debian's
`postgresql`: initdb and pg_ctl of /usr/lib/postgresql/<version>/bin, or on PATH), holds the
gradebook of a generated class of 6 students of rnn_forward: the solution, the untouched student
version and wrong submissions from tests/exercise_submissions/rnn_forward.py.

1. The assignment is recorded once (`release.release` into PostgreSQL).
2. Two graders, separate processes each running `grade.grade(half, db=postgresql://..., workers=1)`
   on a course folder holding one half of the class, grade at the same time into that database;
   they start recording together (a rendezvous before grade.merge), so their writes interleave.
3. The reference: the whole class in a third course folder, graded serially (one process,
   workers=1) into its own SQLite gradebook, alongside.
4. The combined PostgreSQL gradebook equals the serial one: the same students and submissions,
   the same score and comment per (student, assignment, notebook, cell), and the same number of
   rows in every table (nothing lost, nothing doubled).
5. A third grader runs half 1 again: the PostgreSQL gradebook is unchanged, down to the row ids
   (updated in place, not replaced), so the other half's rows are intact.

PostgreSQL refuses to run as root: as root (CI), the server runs as user `postgres` (else
`nobody`) through runuser/setpriv, in a temporary folder only that user can enter, reachable
only over TCP on 127.0.0.1 (its unix socket stays in that folder), with trust authentication.
Without the server binaries the test fails and says how to install them (`.ci/run` does).
"""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
import sqlalchemy
from nbgrader.api import Gradebook, SubmittedAssignment

from exercise_submissions.rnn_forward import MISTAKES

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
ASSIGNMENT = "rnn_forward"
COURSE_ID = "rnn-course"  # exercises/nbgrader_config.py
DB_USER = "grader"
DB_NAME = "gradebook"
INSTALL_HINT = ("install Debian's PostgreSQL server: `apt-get install -y postgresql` (as .ci/run does), "
                "or put a directory holding initdb, pg_ctl and postgres in $PG_BINDIR or on PATH")

# nbgrader's Gradebook.add_submission (called by rnncourse.grade.merge) warns about its session use.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

# The class: student id -> submission ("solution", "untouched", or a key of MISTAKES). The two
# halves alternate, so each grader gets full marks or zeros, and partial scores. Six students,
# not more: every notebook costs an nbgrader process and a kernel (about 8 CPU seconds), and
# this test grades 15 of them (both halves, the serial run, half 1 again).
CLASS = {
    "s01": "solution",
    "s02": "untouched",
    "s03": "no_bias",
    "s04": "state_not_carried",
    "s05": "ignores_h0",
    "s06": "float64_zeros_for_missing_h0",
}
HALVES = [sorted(CLASS)[0::2], sorted(CLASS)[1::2]]


# ---------------------------------------------------------------------------------------------
# The PostgreSQL server

def postgres_bindir():
    """The folder holding initdb, pg_ctl and postgres: $PG_BINDIR, Debian's newest
    /usr/lib/postgresql/<version>/bin, or the folder of pg_ctl on PATH (symlinks resolved)."""
    names = ("initdb", "pg_ctl", "postgres")
    candidates = [os.environ.get("PG_BINDIR")] if os.environ.get("PG_BINDIR") else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: [int(n) for n in re.findall(r"\d+", p)], reverse=True)
    if shutil.which("pg_ctl"):
        candidates.append(str(Path(shutil.which("pg_ctl")).resolve().parent))
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in names):
            return Path(folder)
    pytest.fail("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in $PG_BINDIR, "
                f"/usr/lib/postgresql/<version>/bin or on PATH (tried {candidates}): {INSTALL_HINT}", pytrace=False)


def server_account():
    """(prefix that runs a command as the server's user, uid, gid): nothing when not root;
    as root, user postgres (else nobody) through runuser or setpriv."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        ids = account.pw_uid, account.pw_gid
        if shutil.which("setpriv"):
            return [shutil.which("setpriv"), f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups"], *ids
        if shutil.which("runuser"):
            return [shutil.which("runuser"), "-u", name, "--"], *ids
    pytest.fail("running as root, and PostgreSQL refuses root: need user postgres or nobody and "
                f"setpriv or runuser (util-linux) to start the server; {INSTALL_HINT}", pytrace=False)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One throw-away PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only."""

    def __init__(self):
        self.bindir = postgres_bindir()
        self.prefix, uid, gid = server_account()
        self.base = Path(tempfile.mkdtemp(prefix="rnn-course-pg-"))  # mode 0700
        os.chown(self.base, uid, gid)
        self.data, self.sockets, self.log = self.base / "data", self.base / "sockets", self.base / "server.log"
        self.port = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self.env.update(LC_ALL="C", LANG="C", TZ="UTC")

    def run(self, *args, check=True, timeout=120):
        result = subprocess.run([*self.prefix, *map(str, args)], cwd=self.base, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""
            pytest.fail(f"`{' '.join(map(str, args))}` exited with {result.returncode}\n{result.stdout}\n"
                        f"{result.stderr}\n--- server log ---\n{log}", pytrace=False)
        return result

    def start(self):
        self.run(self.bindir / "initdb", "-D", self.data, "-U", DB_USER, "--auth=trust", "--encoding=UTF8",
                 "--no-locale", "--no-sync")
        self.run("mkdir", "-m", "700", self.sockets)
        for attempt in range(3):  # the free port may be taken between free_port() and the bind
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.sockets} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
            result = self.run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                              "-o", options, "start", check=attempt == 2)
            if result.returncode == 0:
                break
        self.url = f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"
        admin = sqlalchemy.create_engine(f"postgresql://{DB_USER}@127.0.0.1:{self.port}/postgres",
                                         isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {DB_NAME}"))
            self.version = conn.execute(sqlalchemy.text("SHOW server_version")).scalar()
        admin.dispose()

    def stop(self):
        try:
            if (self.data / "postmaster.pid").is_file():
                result = self.run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop",
                                  check=False)
                pid_file = self.data / "postmaster.pid"
                if result.returncode != 0 and pid_file.is_file():  # still up: end our server only
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                    time.sleep(1)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    try:
        import psycopg2  # noqa: F401  -- the driver of postgresql:// URLs (requirements.txt)
    except ImportError:
        pytest.fail("psycopg2 is not installed: `pip install -r requirements.txt` (psycopg2-binary)", pytrace=False)
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# The class and the graders

def new_course(folder):
    folder.mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", folder / "nbgrader_config.py")
    shutil.copytree(EXERCISES / "source" / ASSIGNMENT, folder / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return folder


def tool_env():
    env = {k: v for k, v in os.environ.items() if k != "GRADEBOOK_URL"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


class Tools:
    """Runs the instructor tools (rnncourse.grade, rnncourse.release), each in a new Python
    process of its own (a session of its own,
    so that a run left over by a failure is ended with everything it started), output to files."""

    def __init__(self, folder):
        self.folder, self.processes = folder, []

    def start(self, name, code, *args):
        script = f"import sys\n{code}"
        out, err = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            process = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=tool_env(),
                                       stdout=stdout, stderr=stderr, start_new_session=True)
        process.name, process.out, process.err = name, out, err
        self.processes.append(process)
        return process

    def finish(self, *processes, timeout=600):
        """Waits for all of them; the first that fails ends the others. Returns their JSON results."""
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                self.end()
                break
            time.sleep(0.2)
        results = []
        for p in processes:
            stdout, stderr = p.out.read_text(errors="replace"), p.err.read_text(errors="replace")
            assert p.returncode == 0, f"{p.name} exited with {p.returncode}\n{stdout[-3000:]}\n{stderr[-5000:]}"
            results.append(json.loads(stdout.strip().splitlines()[-1]))
        return results

    def end(self):
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def tools(tmp_path):
    runner = Tools(tmp_path)
    yield runner
    runner.end()


# A grader: grade.grade() of one course folder into one gradebook, one notebook at a time. With a
# rendezvous (folder, name, count), it records nothing until `count` graders are ready to record:
# then they all write the gradebook at the same moment, and their writes interleave.
GRADER = """\
import json
import time
from pathlib import Path

from rnncourse import grade

course, db_url, rendezvous = sys.argv[1], sys.argv[2], sys.argv[3:]
if not callable(getattr(grade, "merge", None)):
    raise SystemExit("grade.merge (records one graded submission) is gone: update tests/test_grading_postgres.py")
merge, writes = grade.merge, []


def merge_together(*args, **kwargs):
    if rendezvous and not writes:
        folder, name, count = Path(rendezvous[0]), rendezvous[1], int(rendezvous[2])
        (folder / name).touch()
        deadline = time.monotonic() + 600
        while len(list(folder.iterdir())) < count:
            if time.monotonic() > deadline:
                raise SystemExit("the other graders never came to the rendezvous")
            time.sleep(0.02)
    started = time.time()
    try:
        return merge(*args, **kwargs)
    finally:
        writes.append((started, time.time()))


grade.merge = merge_together
results, notes, unmatched, outputs = grade.grade(course, db=db_url, workers=1,
                                                 feedback=False, report=False, progress=False)
print(json.dumps({"graded": len(results), "seconds": [round(r["seconds"], 1) for r in results],
                  "writes": writes, "notes": {f"{s}/{a}": n for (s, a), n in notes.items()}}))
"""

RELEASE = """\
import json
from pathlib import Path

from rnncourse import release

print(json.dumps(release.release(Path(sys.argv[1]), db=sys.argv[2])))
"""


def submission(kind, reference):
    """The notebook a student of this kind hands in."""
    if kind == "untouched":
        return nbformat.read(reference / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    nb = nbformat.read(reference / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    if kind != "solution":
        mistake = MISTAKES[kind]
        [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mistake.function]
        cell.source = mistake.code
    return nb


def submit(course, student, nb):
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


def snapshot(db_url, ids=False):
    """What a gradebook holds: rows per table, and every submission, grade and comment keyed by
    (student, assignment[, notebook, cell]) -- as lists, so a doubled row shows. With ids=True,
    the row ids too (the same database before and after a re-run)."""
    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as conn:
        tables = sorted(t for t in sqlalchemy.inspect(engine).get_table_names() if t != "alembic_version")
        counts = {t: conn.execute(sqlalchemy.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    engine.dispose()
    submissions, grades, comments = [], [], []
    with Gradebook(db_url, COURSE_ID) as gb:
        for sub in gb.db.query(SubmittedAssignment).all():
            key = (sub.student.id, sub.assignment.name)
            submissions.append((*key, sub.timestamp, *([sub.id] if ids else [])))
            for nb in sub.notebooks:
                for g in nb.grades:
                    grades.append((*key, nb.name, g.name, g.auto_score, g.manual_score, g.extra_credit,
                                   g.needs_manual_grade, g.max_score, *([g.id] if ids else [])))
                for c in nb.comments:
                    comments.append((*key, nb.name, c.name, c.auto_comment, c.manual_comment,
                                     *([c.id] if ids else [])))
        students = sorted(s.id for s in gb.students)
    return {"counts": counts, "students": students, "submissions": sorted(submissions, key=repr),
            "grades": sorted(grades, key=repr), "comments": sorted(comments, key=repr)}


def totals(snap):
    """{student: (score, max score)} of the rnn_forward submissions."""
    result = {}
    for student, _assignment, _, _, auto, manual, extra, _, max_score, *_ in snap["grades"]:
        score, top = result.get(student, (0.0, 0.0))
        result[student] = (score + (manual if manual is not None else auto or 0) + (extra or 0), top + max_score)
    return result


# ---------------------------------------------------------------------------------------------

def test_two_graders_at_once_into_postgres_equal_one_serial_run(postgres, tools, tmp_path):
    started = time.monotonic()
    reference = new_course(tmp_path / "all")
    halves = [new_course(tmp_path / f"half{i}") for i in (1, 2)]
    sqlite_url = f"sqlite:///{tmp_path / 'serial.db'}"
    # The assignment is recorded once in PostgreSQL, as `make release` does (from half 1), and in
    # the reference's SQLite gradebook by its own release, which also writes the student version
    # (the untouched submission).
    assert tools.finish(tools.start("release-postgres", RELEASE, halves[0], postgres.url),
                        tools.start("release-sqlite", RELEASE, reference, sqlite_url)) == [[ASSIGNMENT]] * 2
    for student, kind in CLASS.items():
        nb = submission(kind, reference)
        submit(reference, student, nb)
        submit(halves[0] if student in HALVES[0] else halves[1], student, nb)
    released = time.monotonic()

    # Two graders at once, one half each, into the same PostgreSQL gradebook, writing it at the
    # same moment. The serial reference (the whole class, one process, one notebook at a time,
    # into SQLite) runs alongside on its own gradebook, so that the machine's cores stay busy.
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    serial = tools.start("serial", GRADER, reference, sqlite_url)
    outcomes = tools.finish(*[tools.start(f"half{i}", GRADER, half, postgres.url, rendezvous, f"half{i}", 2)
                              for i, half in enumerate(halves, 1)])
    assert [o["graded"] for o in outcomes] == [len(h) for h in HALVES]
    windows = [(min(w[0] for w in o["writes"]), max(w[1] for w in o["writes"])) for o in outcomes]
    assert max(w[0] for w in windows) < min(w[1] for w in windows), f"the graders did not write at once: {windows}"
    combined = snapshot(postgres.url, ids=True)
    concurrent = time.monotonic()

    # A third grader runs half 1 again (while the serial run may still go on).
    [rerun, serial_outcome] = tools.finish(tools.start("half1-again", GRADER, halves[0], postgres.url), serial)
    assert rerun["graded"] == len(HALVES[0])
    assert serial_outcome["graded"] == len(CLASS)
    after_rerun = snapshot(postgres.url, ids=True)
    serial_snap = snapshot(sqlite_url)

    # The reference is a real grading: full marks, zeros and partial scores where expected.
    scores = totals(serial_snap)
    assert sorted(scores) == sorted(CLASS)
    for student, kind in CLASS.items():
        score, top = scores[student]
        why = (student, kind, scores[student], serial_outcome["notes"].get(f"{student}/{ASSIGNMENT}"))
        assert top > 0, why
        if kind == "solution":
            assert score == top, why
        elif kind == "untouched":
            assert score == 0, why
        else:
            assert 0 <= score < top, why
            lost = {g[3] for g in serial_snap["grades"] if g[0] == student and (g[4] or 0) < g[8]}
            assert set(MISTAKES[kind].fails) <= lost, (*why, lost)

    # The combined PostgreSQL gradebook equals the serial one (row ids aside, they are random).
    without_ids = {key: sorted((row[:-1] for row in rows), key=repr) if key in ("submissions", "grades", "comments")
                   else rows for key, rows in combined.items()}
    assert without_ids["students"] == sorted(CLASS)
    assert without_ids["counts"] == serial_snap["counts"]
    grade_cells = serial_snap["counts"]["grade_cells"]
    assert combined["counts"]["submitted_assignment"] == len(CLASS)
    assert combined["counts"]["grade"] == len(CLASS) * grade_cells
    notes = {**outcomes[0]["notes"], **outcomes[1]["notes"]}
    for part in ("submissions", "grades", "comments"):
        keys = [row[:4] if part != "submissions" else row[:2] for row in without_ids[part]]
        assert len(keys) == len(set(keys)), f"doubled {part}"
        only_postgres = [r for r in without_ids[part] if r not in serial_snap[part]]
        only_serial = [r for r in serial_snap[part] if r not in without_ids[part]]
        assert without_ids[part] == serial_snap[part], (
            f"{part} differ from the serial run\nonly in PostgreSQL: {only_postgres}\nonly in the serial run: "
            f"{only_serial}\nnotes of the two graders: {notes}")

    # Grading half 1 again changed nothing, and the rows of half 2 are the same rows.
    assert after_rerun == combined
    # Each grader wrote its own autograded notebooks, and only those.
    for half, students in zip(halves, HALVES):
        assert sorted(p.name for p in (half / "autograded").iterdir()) == students
    print(f"PostgreSQL {postgres.version} at {postgres.url}: releases {released - started:.0f} s, two graders "
          f"at once {concurrent - released:.0f} s (writing {windows}), then until the re-run and the serial "
          f"run ended {time.monotonic() - concurrent:.0f} s; grading seconds per notebook: halves "
          f"{[o['seconds'] for o in outcomes]}, serial {serial_outcome['seconds']}")
