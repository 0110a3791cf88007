"""The nbgrader course in exercises/, as the instructor tools (release.py, grade.py) see it."""
import os
import subprocess
import sys
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

COURSE = Path(__file__).resolve().parents[1]  # exercises/
BIN = str(Path(sys.executable).parent)
# nbgrader's Gradebook runs the `alembic` command of this environment when it creates a database
if BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


def assignments(course=COURSE):
    """The assignments: every source/<name>/<name>.ipynb, sorted by name."""
    return sorted(p.name for p in (course / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def db_url(course=COURSE, override=None):
    """The gradebook: --db-url, else $GRADEBOOK_URL (any SQLAlchemy URL, e.g. postgresql://...),
    else the SQLite file exercises/gradebook.db."""
    return override or os.environ.get("GRADEBOOK_URL") or f"sqlite:///{course / 'gradebook.db'}"


def course_id(course=COURSE):
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return CourseDirectory(config=config).course_id


def nbgrader_env(extra=None):
    """The environment for an nbgrader command: this Python's folder first on PATH, because the
    kernel spec "python3" starts `python` from PATH and grading imports rnnlib."""
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
