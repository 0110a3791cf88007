"""The built book in a real browser: headless Chromium opens pages served from 127.0.0.1.

For each page it checks what a reader would see: every formula typeset by the site's own MathJax
(no raw TeX left, no TeX error), every image loaded, no console error, no failed request, and
not a single request leaving 127.0.0.1. It saves a screenshot of each page to
_build/screenshots/. `make test` builds the book first; Chromium is Debian's package `chromium`
(`.ci/run` installs it when missing), driven by the playwright package from requirements.txt.
"""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
# Pages with math, figures, notebook outputs, citations, generated tables and the reference part.
PAGES = [
    "index.html",
    "book/01_recurrent_neuron.html",
    "book/02_bptt.html",
    "book/04_vanishing_exploding.html",
    "book/05_lstm.html",
    "book/exercises/lstm.html",
    "book/notation.html",
    "book/glossary.html",
    "book/references.html",
    "book/api.html",
]


def chromium_path():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed for the browser test and was not found. On Debian or Ubuntu: "
                    "`sudo apt-get install chromium` (.ci/run does this); elsewhere install Chromium "
                    "or Chrome and set CHROMIUM=/path/to/the/browser.")
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(html_dir):
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # The flags keep Chromium from phoning home (update checks, sync, field trials): on a
        # machine without internet those connections fail and fill the log.
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser
        browser.close()


def open_page(browser, url):
    """Loads ``url`` and waits for MathJax; returns the page and what went wrong on the way."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    def local_only(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # the book must not need the internet: any outside request is a failure
            problems.append(f"request leaving the machine: {route.request.url}")
            route.abort()

    page.route("**/*", local_only)
    page.goto(url, wait_until="load")
    # index.html is a meta refresh to the first page: wait until the page that stays has loaded.
    page.wait_for_function("() => document.readyState === 'complete' && document.body"
                           " && !document.querySelector('meta[http-equiv=Refresh]')")
    if page.locator("script[src*='mathjax']").count():  # Sphinx adds MathJax to pages with math
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    # The fonts the typesetting asked for. Waiting for these, not for "networkidle", is what the
    # checks need: an idle network is a timing guess that a busy machine can miss for 30 s.
    page.evaluate("() => { document.body.getBoundingClientRect();"  # layout starts the font loads
                  " return document.fonts.ready.then(() => true); }")
    return page, problems


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline_in_chromium(browser, site_url, name):
    page, problems = open_page(browser, site_url + name)
    try:
        math = page.evaluate("""() => {
            const spans = [...document.querySelectorAll('span.math, div.math')];
            return {count: spans.length,
                    raw: spans.filter(s => !s.querySelector('mjx-container')).map(s => s.textContent.slice(0, 80)),
                    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80))};
        }""")
        images = page.evaluate("""() => [...document.querySelectorAll('article img')].map(
            i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))""")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / (name.replace("/", "_").replace(".html", ".png")),
                        full_page=False)
    finally:
        page.close()

    assert not problems, f"{name}: " + "; ".join(problems)
    assert not math["raw"], f"{name}: formulas left as raw TeX: {math['raw'][:3]}"
    assert not math["errors"], f"{name}: MathJax could not typeset: {math['errors'][:3]}"
    assert [i["src"] for i in images if not i["ok"]] == [], f"{name}: images that did not load"
    if name.startswith("book/0"):  # chapters: formulas and figures
        assert math["count"] > 10 and len(images) >= 1, (name, math["count"], len(images))


def test_mathjax_comes_from_the_site_and_typesets_its_fonts(browser, site_url):
    page, problems = open_page(browser, site_url + "book/02_bptt.html")
    try:
        fonts = page.evaluate("""() => performance.getEntriesByType('resource')
            .map(r => r.name).filter(n => n.endsWith('.woff'))""")
        version = page.evaluate("() => MathJax.version")
        renderer = page.evaluate("() => document.querySelector('mjx-container').getAttribute('jax')")
    finally:
        page.close()
    assert not problems, problems
    assert version.startswith("3."), version
    assert renderer == "CHTML"
    assert fonts and all(f.startswith(site_url + "_static/mathjax/") for f in fonts), fonts
