"""Sphinx extension: author-year citations in round brackets, as papers in the field write them.

sphinxcontrib-bibtex's author_year style puts square brackets around years ("Elman [1990]").
This registers the style `author_year_round` (selected by `bibtex_reference_style` in
_config.yml): "Elman (1990)" for {cite:t} and "(Elman, 1990; Jordan, 1986)" for {cite:p}.
"""
import dataclasses

from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle


def round_brackets():
    return BracketStyle(left="(", right=")", sep="; ")


@dataclasses.dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    bracket_textual: BracketStyle = dataclasses.field(default_factory=round_brackets)
    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=round_brackets)
    bracket_author: BracketStyle = dataclasses.field(default_factory=round_brackets)
    bracket_label: BracketStyle = dataclasses.field(default_factory=round_brackets)
    bracket_year: BracketStyle = dataclasses.field(default_factory=round_brackets)


def setup(app):
    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_round",
                    RoundAuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
