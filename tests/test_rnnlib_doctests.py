"""The examples in rnnlib's docstrings run and print what they claim."""
import doctest
import importlib

import pytest

# By module path: ``rnnlib.gradcheck`` as an attribute is the function, not its module.
MODULES = ["rnnlib.checks", "rnnlib.gradcheck"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
