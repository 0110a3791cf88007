"""How the test suite is organised: which room each test belongs to, which tests are slow, the
order that keeps both cores busy, and nbval's runs of the chapters handed to the book build.

Rooms (markers): `rnnlib`, `grading`, `exercises`, `book`. Besides them, `slow` marks what executes
notebooks, grades a class, builds a book or drives a browser (`make test-fast` leaves these out), and
`site` marks what needs the book build's output in _build (`make test` runs these after the build).
"""
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent
# The build's cache of executed notebooks (Jupyter Book 1 keeps it in <build folder>/.jupyter_cache).
BUILD_CACHE = ROOT / "_build" / ".jupyter_cache"

ROOMS = {
    "rnnlib": ("rnnlib/", "tests/test_rnnlib_", "tests/test_charlm"),
    "grading": ("rnncourse/", "tests/test_course_", "tests/test_grading_", "tests/test_release"),
    "exercises": ("exercises/", "tests/test_nbgrader_pipeline", "tests/test_lab"),
    "book": ("book/", "tests/test_book_"),
}
# Modules whose every test is slow; elsewhere a test is slow when it uses a slow fixture.
SLOW_MODULES = {"test_grading_hostile.py", "test_grading_class.py", "test_grading_postgres.py",
                "test_grading_report.py", "test_release.py", "test_lab.py", "test_book_build.py",
                "test_book_browser.py"}
SLOW_FIXTURES = {"graded", "html_dir"}
# The longest modules start first, one per core (pytest-xdist hands out whole files in this order);
# measured on 2 cores: the hostile class about 13 minutes, the exercise pipeline about 10.
LONG_FIRST = ["test_grading_hostile.py", "test_nbgrader_pipeline.py", "test_grading_class.py",
              "test_grading_postgres.py", "test_grading_report.py"]


def room_of(relative):
    for room, prefixes in ROOMS.items():
        if relative.startswith(prefixes):
            return room
    raise pytest.UsageError(f"{relative} belongs to no room: add its path to ROOMS in conftest.py")


def is_notebook_cell(item):
    return item.path.suffix == ".ipynb"


def pytest_configure(config):
    for room in ROOMS:
        config.addinivalue_line("markers", f"{room}: the {room} room (see conftest.py)")
    config.addinivalue_line("markers", "slow: executes notebooks, grades a class, builds a book or drives a browser")
    config.addinivalue_line("markers", "site: needs the book build's output in _build (run `make book` first)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(room_of(item.path.relative_to(ROOT).as_posix()))
        fixtures = set(getattr(item, "fixturenames", ()))
        if "html_dir" in fixtures:
            item.add_marker("site")
        if is_notebook_cell(item) or item.path.name in SLOW_MODULES or fixtures & SLOW_FIXTURES:
            item.add_marker("slow")
    # a stable sort: the cells of a notebook keep their order
    items.sort(key=lambda item: LONG_FIRST.index(item.path.name) if item.path.name in LONG_FIRST
               else len(LONG_FIRST))


# nbval executes every chapter; the book build then takes these executions from its cache instead
# of running each chapter a second time. A chapter is handed over only when all its cells passed.
_chapter_runs = {}


def _is_chapter(item):
    return is_notebook_cell(item) and item.path.parent == ROOT / "book"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _is_chapter(item) and report.when == "call":
        run = _chapter_runs.setdefault(item.path, {"outputs": {}, "failed": False, "start": time.time()})
        if report.passed and item.test_outputs is not None:
            run["outputs"][item.cell_num] = item.test_outputs
        else:
            run["failed"] = True
        run["end"] = time.time()
    return report


def pytest_sessionfinish(session):
    runs = {path: run for path, run in _chapter_runs.items() if not run["failed"]}
    if not runs:
        return
    from filelock import FileLock
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    BUILD_CACHE.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(BUILD_CACHE) + ".lock"):  # the two pytest-xdist workers share the cache
        cache = get_cache(str(BUILD_CACHE))
        for path, run in runs.items():
            nb = nbformat.read(path, as_version=4)
            code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
            if sorted(run["outputs"]) != list(range(len(code_cells))):
                continue  # some cells did not run here (a -k selection, say): leave it to the build
            for number, cell in enumerate(code_cells):  # nbval numbers the code cells only
                cell.outputs = run["outputs"][number]
                counts = [out["execution_count"] for out in cell.outputs if out.get("execution_count")]
                cell.execution_count = counts[0] if counts else None
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, str(path), data={"execution_seconds": run["end"] - run["start"],
                                                   "executed_by": "nbval"}),
                check_validity=False, overwrite=True)
