"""Checks on the reader features of the built book in _build/html (`make test` runs `make book`
first): the bibliography and the citations that link into it, the glossary and the chapters'
links to its terms, the notation page, numbered chapter titles, and equation references.

A build with -W -n already fails on a citation key or a term that does not exist. These tests
check what the reader sees: that each key paper is in the bibliography with its year, that each
chapter's citations land on the right entries, and that the links lead to something.
"""
import os
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from book_toc import numbered_chapters, toc_files

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
BOOK = HTML / "book"


def page_name(toc_file):
    """A page of _toc.yml as page() takes it: its path inside book/, e.g. "02_bptt"."""
    return Path(toc_file).relative_to("book").as_posix()


# The numbered chapters, in the order of _toc.yml: CHAPTERS[n - 1] is chapter n.
CHAPTERS = [page_name(f) for f in numbered_chapters()]
PAGES = [page_name(f) for f in toc_files()]

# The key papers: bibtex key -> (first author's surname, words of the title, year).
KEY_PAPERS = {
    "elman1990": ("Elman", "Finding structure in time", 1990),
    "werbos1990": ("Werbos", "Backpropagation through time: what it does", 1990),
    "williams1989": ("Williams", "continually running fully recurrent neural networks", 1989),
    "bengio1994": ("Bengio", "Learning long-term dependencies with gradient descent is difficult", 1994),
    "hochreiter1997": ("Hochreiter", "Long short-term memory", 1997),
    "schuster1997": ("Schuster", "Bidirectional recurrent neural networks", 1997),
    "pascanu2013": ("Pascanu", "On the difficulty of training recurrent neural networks", 2013),
    "cho2014": ("Cho", "Learning phrase representations using RNN encoder", 2014),
    "sutskever2014": ("Sutskever", "Sequence to sequence learning with neural networks", 2014),
    "bengio2015": ("Bengio", "Scheduled sampling for sequence prediction", 2015),
    "le2015": ("Le", "A simple way to initialize recurrent networks", 2015),
    # papers the chapters named in their References before the bibliography existed
    "gers2000": ("Gers", "Learning to forget", 2000),
    "jozefowicz2015": ("Jozefowicz", "An empirical exploration of recurrent network architectures", 2015),
    "chung2014": ("Chung", "Empirical evaluation of gated recurrent neural networks", 2014),
    "graves2013": ("Graves", "Generating sequences with recurrent neural networks", 2013),
    "karpathy2015": ("Karpathy", "The unreasonable effectiveness of recurrent neural networks", 2015),
    "williams1990": ("Williams", "on-line training of recurrent network trajectories", 1990),
    "lamb2016": ("Lamb", "Professor forcing", 2016),
    "ranzato2016": ("Ranzato", "Sequence level training with recurrent neural networks", 2016),
}

# The papers each chapter must cite, with a link into the bibliography.
CHAPTER_CITES = {
    "01_recurrent_neuron": ["elman1990"],
    "02_bptt": ["werbos1990", "williams1989", "williams1990"],
    "03_char_language_model": ["elman1990", "graves2013", "karpathy2015", "pascanu2013"],
    "04_vanishing_exploding": ["bengio1994", "pascanu2013", "le2015", "hochreiter1997"],
    "05_lstm": ["hochreiter1997", "gers2000", "jozefowicz2015"],
    "06_gru": ["cho2014", "chung2014", "jozefowicz2015"],
    "07_bidirectional": ["schuster1997"],
    "08_seq2seq": ["sutskever2014", "cho2014"],
    "09_teacher_forcing": ["williams1989", "bengio2015", "ranzato2016", "lamb2016"],
}

# Terms the glossary must define (its own wording is free; these are the ones the chapters rely on).
REQUIRED_TERMS = [
    "hidden state", "backpropagation through time", "truncated BPTT", "vanishing gradient",
    "exploding gradient", "gradient clipping", "LSTM", "cell state", "gate", "forget gate", "GRU",
    "reset gate", "update gate", "bidirectional RNN", "encoder", "decoder", "sequence to sequence",
    "teacher forcing", "exposure bias", "scheduled sampling", "free running",
    "bits per character", "perplexity", "temperature", "greedy decoding", "many-to-one",
]


def page(name):
    path = BOOK / f"{name}.html"
    assert path.is_file(), f"{path.relative_to(ROOT)} was not built"
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(soup):
    """The page's own content, without the sidebar, the navigation and the prev/next links."""
    body = soup.find("article")
    assert body is not None, "no <article> in the page"
    return body


def links_into(soup, target_page):
    """(fragment, text) of every link in the page's content that points into target_page."""
    out = []
    for a in article(soup).find_all("a", href=True):
        base, _, fragment = a["href"].partition("#")
        if base == target_page and fragment:
            out.append((fragment, a.get_text(" ", strip=True)))
    return out


@pytest.fixture(scope="module")
def entries(html_dir):
    """The bibliography's entries: {html id: text of the entry}."""
    soup = page("references")
    found = {tag["id"]: tag.get_text(" ", strip=True)
             for tag in article(soup).select("li[id], div.citation[id]")}
    assert found, "references.html lists no bibliography entry"
    return found


def entry_id(entries, key):
    author, title, year = KEY_PAPERS[key]
    matches = [i for i, text in entries.items()
               if title.lower() in text.lower() and author in text]
    assert len(matches) == 1, f"{key}: expected one bibliography entry by {author} titled " \
                              f"{title!r}, found {len(matches)}"
    return matches[0]


@pytest.mark.parametrize("key", sorted(KEY_PAPERS))
def test_bibliography_has_the_paper_with_its_year(entries, key):
    text = entries[entry_id(entries, key)]
    year = KEY_PAPERS[key][2]
    assert re.search(rf"\b{year}\b", text), f"{key}: the entry has no year {year}: {text[:200]}"


def test_every_bibliography_entry_is_cited_somewhere(html_dir, entries):
    # The bibliography lists cited works only, so each entry is the target of a citation link.
    cited = set()
    for chapter in CHAPTERS:
        cited |= {fragment for fragment, _ in links_into(page(chapter), "references.html")}
    assert set(entries) <= cited, f"entries nobody links to: {sorted(set(entries) - cited)}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_cites_its_papers_with_links_into_the_bibliography(entries, chapter):
    links = links_into(page(chapter), "references.html")
    assert links, f"{chapter}: no citation links into references.html"
    targets = {fragment for fragment, _ in links}
    assert targets <= set(entries), f"{chapter}: citation links to no entry: {targets - set(entries)}"
    for key in CHAPTER_CITES.get(chapter, []):
        assert entry_id(entries, key) in targets, f"{chapter} does not cite {key}"
    # a textual citation reads as author and year, e.g. "Elman [1990]"
    assert all(re.search(r"\b(1[89]|20)\d\d\b", text) for _, text in links), \
        f"{chapter}: a citation link without a year: {links}"


def test_chapter_cites_names_chapters_of_the_toc():
    # a chapter renamed or removed in _toc.yml must not silently lose its citation checks
    assert set(CHAPTER_CITES) <= set(CHAPTERS), f"not chapters of _toc.yml: {set(CHAPTER_CITES) - set(CHAPTERS)}"


@pytest.fixture(scope="module")
def glossary(html_dir):
    soup = page("glossary")
    dl = article(soup).find("dl", class_="glossary")
    assert dl is not None, "glossary.html has no glossary list"
    terms = {dt["id"]: dt.get_text(" ", strip=True).rstrip("#").strip() for dt in dl.find_all("dt", id=True)}
    return dl, terms


def definition_of(dt):
    """The text of a glossary term's definition: the next <dd>, which synonyms listed together
    (as "LSTM" under "long short-term memory") share; "" when there is none."""
    dd = dt.find_next_sibling("dd")
    return dd.get_text(" ", strip=True) if dd is not None else ""


def test_glossary_defines_every_term_and_those_the_chapters_rely_on(glossary):
    dl, terms = glossary
    # a definition is a sentence or more, not a stub
    undefined = [terms[dt["id"]] for dt in dl.find_all("dt", id=True) if len(definition_of(dt)) <= 40]
    assert not undefined, f"glossary terms without a definition, or with a stub: {undefined}"
    names = {name.lower() for name in terms.values()}
    missing = [t for t in REQUIRED_TERMS if t.lower() not in names]
    assert not missing, f"terms missing from the glossary: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_links_glossary_terms(html_dir, chapter):
    assert links_into(page(chapter), "glossary.html"), f"{chapter} links no glossary term"


def test_every_link_into_the_glossary_lands_on_a_term(glossary):
    """From every page of _toc.yml (the chapters, the notation page, the exercises, ...)."""
    _, terms = glossary
    wrong = []
    for name in PAGES:
        if name == "glossary":
            continue
        # the href as the page writes it, relative to the page's folder (exercises/ pages: ../)
        href = os.path.relpath(BOOK / "glossary.html", (BOOK / name).parent).replace(os.sep, "/")
        wrong += [(name, fragment) for fragment, _ in links_into(page(name), href) if fragment not in terms]
    assert not wrong, f"links to glossary.html#<fragment> where no term has that id: {wrong}"


def test_notation_page_has_the_symbol_tables(html_dir):
    soup = page("notation")
    content = article(soup)
    tables = content.find_all("table")
    assert tables, "notation.html has no table"
    rows = [tr for table in tables for tr in table.find_all("tr")]
    assert len(rows) >= 40, f"notation.html has only {len(rows)} table rows"
    text = content.get_text(" ", strip=True)
    for code in ("Wx", "Wh", "Wy", "x @ Wx.T", "(N, T, D)", "global_norm"):
        assert code in text, f"notation.html does not mention {code!r}"
    # linked from chapter 1, where the notation is set up
    assert links_into(page("01_recurrent_neuron"), "notation.html"), "chapter 1 does not link the notation page"


@pytest.mark.parametrize("number, chapter", list(enumerate(CHAPTERS, start=1)))
def test_chapter_titles_are_numbered(html_dir, number, chapter):
    soup = page(chapter)
    title = soup.title.get_text(strip=True)
    assert title.startswith(f"{number}. "), f"{chapter}: the page title {title!r} has no number {number}"
    # and its sections are numbered under it, e.g. "1.12. References"
    heading = article(soup).find(id="references").find(re.compile("^h[1-6]$"))
    assert heading.get_text(strip=True).startswith(f"{number}."), heading.get_text(strip=True)


def test_chapters_cross_reference_each_other_by_label(html_dir):
    # "the next chapter" links to the next chapter's title, not to a notebook file
    links = [a["href"] for a in article(page("01_recurrent_neuron")).find_all("a", href=True)]
    assert "02_bptt.html#ch-bptt" in links
    for chapter in CHAPTERS:
        hrefs = [a["href"] for a in article(page(chapter)).find_all("a", href=True)]
        assert not [h for h in hrefs if ".ipynb" in h and "_downloads" not in h], \
            f"{chapter} links a notebook file instead of a chapter"


def test_equation_references_resolve(html_dir):
    soup = page("01_recurrent_neuron")
    refs = [a for a in article(soup).find_all("a", href=True, class_="reference")
            if a["href"].startswith("#equation-")]
    assert refs, "chapter 1 refers to no equation"
    for a in refs:
        target = a["href"][1:]
        assert soup.find(id=target) is not None, f"no equation with id {target}"
        assert re.fullmatch(r"\(\d+(\.\d+)*\)", a.get_text(strip=True)), a.get_text(strip=True)


def test_equation_references_across_chapters_resolve(html_dir):
    # chapter 5 refers back to the Jacobian product of chapter 4
    refs = [a["href"] for a in article(page("05_lstm")).find_all("a", href=True)
            if "#equation-" in a["href"] and a["href"].startswith("04_vanishing_exploding.html")]
    assert refs, "chapter 5 does not refer to an equation of chapter 4"
    target = refs[0].split("#", 1)[1]
    assert page("04_vanishing_exploding").find(id=target) is not None, f"no equation {target} in chapter 4"
