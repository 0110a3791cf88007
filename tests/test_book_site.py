"""Checks on the built book in _build/html (`make test` runs `make book` first).

They catch what a green build can still hide: a chapter whose cells did not run, figures that
were not rendered, math that was not turned into math, and error tracebacks printed into a page.
"""
import html
import json
import re
from pathlib import Path

import pytest

from book_toc import notebook_chapters, numbered_chapters

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHAPTER_1 = HTML / "book" / "01_recurrent_neuron.html"

# How myst-nb marks a cell's error output, and how a Python traceback starts.
ERROR_MARKERS = ["output traceback", "Traceback (most recent call last)"]


def read(path):
    return path.read_text(encoding="utf-8")


def test_index_exists_and_links_the_first_chapter(html_dir):
    # index.html is a redirect to the root page of the book, book/intro.html.
    intro = read(html_dir / "book" / "intro.html")
    first = Path(numbered_chapters()[0]).name
    assert f"{first}.html" in intro, f"book/intro.html does not link the first chapter, {first}"


def test_chapter_1_has_executed_outputs(html_dir):
    assert CHAPTER_1.is_file(), f"{CHAPTER_1} was not built"
    page = read(CHAPTER_1)
    # Printed output of the "hello" experiment and of the echo task.
    assert "predicted: &#39;ello&#39;" in page or "predicted: 'ello'" in page
    assert "3-unit RNN: accuracy 1.000" in page
    # Figures from cell outputs: myst-nb writes each PNG to _images and links it from an
    # output cell. Every one must exist.
    images = re.findall(r'<img [^>]*src="(\.\./_images/[^"]+\.png)"', page)
    assert len(images) >= 4, f"expected the chapter's 4 figures, found {images}"
    for src in images:
        assert (CHAPTER_1.parent / src).resolve().is_file(), f"missing image file {src}"


def test_math_is_rendered_as_math(html_dir):
    page = read(CHAPTER_1)
    assert 'class="math' in page
    assert r"W_{hh}" in page
    assert 'class="math' in read(html_dir / "book" / "intro.html")  # the notation table


def test_no_page_shows_an_error(html_dir):
    pages = sorted(html_dir.rglob("*.html"))
    assert pages
    for page in pages:
        text = read(page)
        for marker in ERROR_MARKERS:
            assert marker not in text, f"{page.relative_to(html_dir)} contains {marker!r}"


def test_every_chapter_is_a_notebook_the_tests_below_see():
    # the tests parametrised by notebook_chapters() would silently run for none of a chapter
    # that is stored another way
    assert notebook_chapters() == numbered_chapters()


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_every_chapter_was_executed_and_shows_its_figures(html_dir, chapter):
    page_path = html_dir / f"{chapter}.html"
    assert page_path.is_file(), f"{chapter} is in _toc.yml but {page_path} was not built"
    page = read(page_path)
    assert "cell_output" in page, f"{chapter}: no cell output in the page; was it executed?"
    images = re.findall(r'<img [^>]*src="(\.\./_images/[^"]+\.png)"', page)
    assert images, f"{chapter}: no figure in the built page"
    for src in images:
        assert (page_path.parent / src).resolve().is_file(), f"{chapter}: missing image {src}"
    for section in ("Summary", "References"):
        assert f">{section}<" in page, f"{chapter}: no {section} section"


# ---------------------------------------------------------------------------------------------
# The Exercises part: a page per assignment offering the student notebook, never a solution.

SOURCES = ROOT / "exercises" / "source"
ASSIGNMENTS = sorted(p.name for p in SOURCES.iterdir() if (p / f"{p.name}.ipynb").is_file())
SECRET_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "rnncourse.grading")


def nbgrader_cells(nb, key):
    return [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get(key)]


def secret_lines(assignment):
    """The code lines inside the solution and hidden-test regions of an assignment's source notebook
    that appear nowhere outside them (a line of a signature, of a visible test or of the text,
    such as the cache a function must return, is not a secret)."""
    nb = json.loads((SOURCES / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    inner, outer = set(), set()
    for cell in nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).split("\n"):
            if "### BEGIN" in line:
                inside = True
            elif "### END" in line:
                inside = False
            elif line.strip() and not line.strip().startswith("#"):
                (inner if inside else outer).add(line.strip())
    return {line for line in inner - outer if len(line) > 12}


def visible_lines(path, text):
    """The stripped lines a reader sees: of every cell of a notebook, or of a page without its tags."""
    if path.suffix == ".ipynb":
        plain = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
    else:
        plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    return {line.strip() for line in plain.split("\n")}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_page_offers_the_student_notebook(html_dir, assignment):
    page_path = html_dir / "book" / "exercises" / f"{assignment}.html"
    assert page_path.is_file(), (f"exercises/source/{assignment} has no page: "
                                 f"add book/exercises/{assignment}.md to _toc.yml")
    page = read(page_path)
    links = re.findall(rf'href="(\.\./\.\./_downloads/[0-9a-f]+/{assignment}\.ipynb)"', page)
    assert links, f"{assignment}: the page has no download link to the student notebook"
    download = (page_path.parent / links[0]).resolve()
    student = json.loads(download.read_text(encoding="utf-8"))
    source = json.loads((SOURCES / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    # the student version: every test cell, a stub for every function, no output
    assert {c["metadata"]["nbgrader"]["grade_id"] for c in nbgrader_cells(student, "grade")} == \
        {c["metadata"]["nbgrader"]["grade_id"] for c in nbgrader_cells(source, "grade")}
    stubs = nbgrader_cells(student, "solution")
    assert stubs and all("raise NotImplementedError()" in "".join(c["source"]) for c in stubs)
    assert not any(c.get("outputs") for c in student["cells"])
    # the points table, read from the source by the build
    total = sum(c["metadata"]["nbgrader"]["points"] for c in nbgrader_cells(source, "grade"))
    assert re.search(rf"Total.*?<strong>{total:g}</strong>", page, re.S), f"{assignment}: no total of {total} points"


def test_no_solution_or_hidden_test_anywhere_in_the_site(html_dir):
    files = [p for p in html_dir.rglob("*") if p.is_file() and p.suffix in {".html", ".ipynb", ".md", ".txt", ".js"}]
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{path.relative_to(html_dir)} contains {marker!r}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_page_and_download_hold_no_solution_code(html_dir, assignment):
    """No line of the assignment's solution or hidden tests in its page or its download. (The
    chapters show rnnlib's own code, which solves the exercises by design, and a later exercise
    may hand out an earlier one's functions.)"""
    secret = secret_lines(assignment)
    assert secret, f"{assignment} has no solution or hidden-test code"
    paths = [html_dir / "book" / "exercises" / f"{assignment}.html",
             *html_dir.glob(f"_downloads/*/{assignment}.ipynb"),
             *html_dir.glob(f"_sources/book/exercises/{assignment}.*")]
    assert len(paths) >= 2, f"{assignment}: page or download missing: {paths}"
    for path in paths:
        shown = secret & visible_lines(path, path.read_text(encoding="utf-8"))
        assert not shown, f"{path.relative_to(html_dir)} shows code of the solution or hidden tests: {shown}"


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_every_chapter_offers_its_notebook_for_download(html_dir, chapter):
    page = read(html_dir / f"{chapter}.html")
    name = Path(chapter).name
    assert f'href="../_sources/{chapter}.ipynb"' in page, f"{chapter}: no download button"
    download = html_dir / "_sources" / f"{chapter}.ipynb"
    assert download.read_bytes() == (ROOT / f"{chapter}.ipynb").read_bytes(), name


def test_api_reference_documents_every_public_name_of_rnnlib(html_dir):
    import rnnlib

    page = read(html_dir / "book" / "api.html")
    # autodoc gives each documented object an anchor with its full name, e.g. rnnlib.lstm.LSTM.
    anchors = set(re.findall(r'id="(rnnlib\.[\w.]+)"', page))
    documented = {anchor.rsplit(".", 1)[-1] for anchor in anchors}
    assert set(rnnlib.__all__) <= documented, sorted(set(rnnlib.__all__) - documented)
    # The text is the docstring itself, not a copy that could drift.
    assert html.escape(rnnlib.lstm_forward.__doc__.split("\n")[0], quote=False) in page
