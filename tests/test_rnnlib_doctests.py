"""The examples in rnnlib's docstrings run and print what they claim."""
import doctest

import pytest

import rnnlib.checks
import rnnlib.gradcheck


@pytest.mark.parametrize("module", [rnnlib.checks, rnnlib.gradcheck], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
