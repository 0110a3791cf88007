"""How the book's build behaves in the cases the main build does not show: a chapter that fails
to execute, and launch buttons once a repository URL is set.

Each test builds a two-page book in a temporary folder with the course's own _config.yml and
extensions (book/_ext) and the flags of `make book`, so it runs in seconds.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def build_small_book(folder, code, repository_url=""):
    """A book with an intro page and one notebook chapter holding ``code``; returns the build."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = repository_url
    # The exercise files come from exercises/source, which this small book does not have.
    del config["sphinx"]["local_extensions"]["student_notebooks"]
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    (folder / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    numbered: true\n"
        "    chapters:\n      - file: book/probe\n")
    shutil.copytree(ROOT / "book" / "_ext", folder / "book" / "_ext")
    shutil.copy(ROOT / "book" / "references.bib", folder / "book")
    (folder / "book" / "intro.md").write_text("# A small book\n\nSee {doc}`probe`.\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Probe\n\nText."),
                                               nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, folder / "book" / "probe.ipynb")
    return subprocess.run([str(JUPYTER_BOOK), "build", ".", "-W", "-n", "--keep-going"],
                          cwd=folder, capture_output=True, text=True, timeout=600)


def test_a_failing_chapter_fails_the_build_and_leaves_its_report_where_the_readme_says(tmp_path):
    result = build_small_book(tmp_path, "raise ValueError('the answer was 41')")
    assert result.returncode != 0
    report = tmp_path / "_build" / "html" / "reports" / "book" / "probe.err.log"
    assert report.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", report.read_text())  # without terminal colours
    assert "ValueError: the answer was 41" in traceback
    assert "_build/html/reports/" in (ROOT / "README.md").read_text()


def test_launch_buttons_appear_once_a_repository_is_set(tmp_path):
    with_url, without_url = tmp_path / "with", tmp_path / "without"
    with_url.mkdir(), without_url.mkdir()
    for folder, url in [(with_url, "https://github.com/example-org/rnn-course"), (without_url, "")]:
        result = build_small_book(folder, "print(6 * 7)", repository_url=url)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    page = (with_url / "_build" / "html" / "book" / "probe.html").read_text()
    assert ("https://mybinder.org/v2/gh/example-org/rnn-course/main?urlpath=lab/tree/book/probe.ipynb"
            in page)
    # Without a repository there is nothing to launch: no button, and no link to Jupyter Book's
    # own repository (its default when a book names none).
    page = (without_url / "_build" / "html" / "book" / "probe.html").read_text()
    assert "mybinder.org" not in page and "executablebooks" not in page
    # Both offer the chapter notebook for download.
    assert 'href="../_sources/book/probe.ipynb"' in page


def test_binder_installs_the_course_environment():
    assert (ROOT / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
