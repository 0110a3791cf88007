"""The built site renders with no internet: nothing a page needs to display comes from elsewhere.

Every script, style sheet, image, font and frame that a built page or style sheet refers to
must be a file of the site itself. Links a reader may follow (to nbgrader's documentation, say)
are fine. `make test` builds the book before pytest runs.
"""
import re
from urllib.parse import urldefrag, urlparse

from bs4 import BeautifulSoup

# (tag, attribute): what a browser fetches to render a page, as opposed to links it only shows.
FETCHED = [("script", "src"), ("img", "src"), ("source", "src"), ("video", "src"),
           ("video", "poster"), ("audio", "src"), ("iframe", "src"), ("embed", "src"),
           ("object", "data"), ("input", "src")]
LINK_RELS_FETCHED = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest",
                     "apple-touch-icon"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def pages(site):
    # _static/ holds the theme's template fragments (webpack-macros.html), not pages.
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def fetched_urls(html):
    soup = BeautifulSoup(html, "html.parser")
    for tag, attribute in FETCHED:
        for element in soup.find_all(tag):
            if element.get(attribute):
                yield f"<{tag} {attribute}>", element[attribute]
    for element in soup.find_all("link", href=True):
        if LINK_RELS_FETCHED & set(element.get("rel", [])):
            yield f"<link rel={' '.join(element['rel'])}>", element["href"]
    for element in soup.find_all(srcset=True):
        for candidate in element["srcset"].split(","):
            yield f"<{element.name} srcset>", candidate.split()[0]
    for css in [s.get_text() for s in soup.find_all("style")] + [
            e["style"] for e in soup.find_all(style=True)]:
        for match in CSS_URL.finditer(css):
            yield "inline CSS url()", match.group(1) or match.group(2)


def problem(source, url):
    """Why ``url``, referenced from the file ``source``, would not load offline (None if it would)."""
    url = url.strip()
    if url.startswith("data:"):
        return None
    parsed = urlparse(url)
    if parsed.scheme or url.startswith("//"):
        return f"external: {url}"
    path = urldefrag(parsed.path)[0]
    target = (source.parent / path).resolve() if path else source
    if not target.is_file():
        return f"missing file: {url}"
    return None


def test_no_page_needs_anything_from_outside_the_site(html_dir):
    problems = []
    for page in pages(html_dir):
        for what, url in fetched_urls(page.read_text(encoding="utf-8")):
            if (why := problem(page, url)):
                problems.append(f"{page.relative_to(html_dir)} {what}: {why}")
    assert problems == [], "\n".join(problems[:20])


def test_no_style_sheet_needs_anything_from_outside_the_site(html_dir):
    sheets = sorted(html_dir.rglob("*.css"))
    assert len(sheets) > 5
    problems = [f"{sheet.relative_to(html_dir)}: {why}"
                for sheet in sheets
                for match in CSS_URL.finditer(sheet.read_text(encoding="utf-8", errors="replace"))
                if (why := problem(sheet, match.group(1) or match.group(2)))]
    assert problems == [], "\n".join(problems[:20])


def test_math_pages_load_the_sites_own_mathjax_and_its_fonts(html_dir):
    chapter = (html_dir / "book" / "02_bptt.html").read_text(encoding="utf-8")
    sources = [url.split("?")[0] for what, url in fetched_urls(chapter) if "mathjax" in url.lower()]
    assert sources == ["../_static/mathjax/tex-mml-chtml.js"], sources
    mathjax = html_dir / "_static" / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").stat().st_size > 500_000  # the real bundle, not a stub
    # tex-mml-chtml.js loads its fonts and on-demand TeX extensions relative to its own URL.
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    assert (mathjax / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()


def test_the_checks_catch_what_they_are_for(tmp_path):
    page = tmp_path / "page.html"
    (tmp_path / "here.js").write_text("")
    html = """<link rel="stylesheet" href="https://cdn.example.org/a.css">
              <script src="here.js"></script><script src="gone.js"></script>
              <img srcset="//cdn.example.org/a.png 2x"><a href="https://example.org">a link</a>
              <div style="background: url('https://example.org/b.png')"></div>"""
    found = [problem(page, url) for what, url in fetched_urls(html)]
    assert sorted(filter(None, found)) == [
        "external: //cdn.example.org/a.png", "external: https://cdn.example.org/a.css",
        "external: https://example.org/b.png", "missing file: gone.js"]
