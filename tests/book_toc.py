"""The book's table of contents, read from _toc.yml, so that no test keeps its own copy of it.

A page is named as in _toc.yml: its path from the repository's root without extension, e.g.
"book/02_bptt".
"""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def read_toc():
    return yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def part_files(part):
    return [entry["file"] for entry in part["chapters"] if "file" in entry]


def toc_files():
    """Every page of the book in the order of _toc.yml: the root page first, then each part's."""
    toc = read_toc()
    return [toc["root"]] + [f for part in toc["parts"] for f in part_files(part)]


def numbered_chapters():
    """The chapters of the numbered parts, in order: the n-th is the book's chapter n."""
    return [f for part in read_toc()["parts"] if part.get("numbered") for f in part_files(part)]


def notebook_chapters():
    """Every page in _toc.yml that is a notebook."""
    return [f for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]
