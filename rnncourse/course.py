"""The nbgrader course (by default the repository's exercises/), as release and grade see it."""
import os
import subprocess
import sys
from pathlib import Path

from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

COURSE = Path(__file__).resolve().parents[1] / "exercises"
BIN = str(Path(sys.executable).parent)
# nbgrader's Gradebook runs the `alembic` command of this environment when it creates a database,
# and the trusted kernel (kernel spec "python3") starts the `python` found first on PATH
if BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


def assignments(course=COURSE):
    """The assignments: every source/<name>/<name>.ipynb, sorted by name."""
    return sorted(p.name for p in (Path(course) / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def db_url(course=COURSE, override=None):
    """The gradebook: --db-url, else $GRADEBOOK_URL (any SQLAlchemy URL, e.g. postgresql://...),
    else the SQLite file exercises/gradebook.db."""
    return override or os.environ.get("GRADEBOOK_URL") or f"sqlite:///{Path(course) / 'gradebook.db'}"


def config(course=COURSE, db=None):
    """The course's nbgrader_config.py as a traitlets Config, the gradebook set to `db` if given."""
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    if db is not None:
        loaded.CourseDirectory.db_url = db
    return loaded


def course_id(course=COURSE):
    return CourseDirectory(config=config(course)).course_id


def api(course, db):
    """nbgrader's Python API on the course `course` and the gradebook `db`."""
    loaded = config(course, db)
    return NbGraderAPI(coursedir=CourseDirectory(config=loaded), config=loaded)


def check(result, what):
    """An NbGraderAPI result: raises with nbgrader's log and traceback when it failed."""
    if not result["success"]:
        raise RuntimeError(f"nbgrader {what} failed\n{result.get('log', '')}\n{result.get('error', '')}")
    return result


def nbgrader_env(extra=None):
    """The environment for an nbgrader command: this Python's folder first on PATH (see above)."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra or {})
    return env


def run_nbgrader(course, db, *args, env=None, check=True, timeout=None):
    """Runs `nbgrader <args>` in `course` against the gradebook `db`; raises with its output on failure."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.db_url={db}"]
    result = subprocess.run(command, cwd=course, env=env or nbgrader_env(), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` exited with {result.returncode}\n"
                           f"{result.stdout}\n{result.stderr}")
    return result
