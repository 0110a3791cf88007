"""Sphinx extension: MathJax 3 served from the built site, so the book renders with no internet.

Sphinx loads MathJax from a CDN by default. The PyPI package django-static-mathjax (pinned in
requirements.txt) ships MathJax 3.2.2; this extension copies the part of it the pages use into
_build/html/_static/mathjax/ and points ``mathjax_path`` there:

- es5/tex-mml-chtml.js, the combined component (TeX input, CommonHTML output, the menu);
- the fonts, the TeX extensions it loads on demand, and the accessibility and speech files
  the menu can switch on (everything else in the package is a different combined component).
"""
import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

# Relative to the html output's _static/ folder, which is where Sphinx resolves a relative path.
MATHJAX_PATH = "mathjax/tex-mml-chtml.js"
NEEDED = ["tex-mml-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors"]


def mathjax_es5_folder():
    spec = importlib.util.find_spec("mathjax")
    folder = spec and Path(spec.origin).parent / "static" / "mathjax" / "es5"
    if not folder or not (folder / "tex-mml-chtml.js").is_file():
        raise ExtensionError("MathJax 3 is missing: install django-static-mathjax "
                             "(it is in requirements.txt; `make venv` installs it)")
    return folder


def use_local_mathjax(app, config):
    mathjax_es5_folder()  # fail at the start of the build, not after executing every notebook
    config.mathjax_path = MATHJAX_PATH


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_es5_folder()
    target = Path(app.outdir) / "_static" / Path(MATHJAX_PATH).parent
    for name in NEEDED:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
