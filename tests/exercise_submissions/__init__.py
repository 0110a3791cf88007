"""Known mistakes in the graded exercises, one module per assignment (exercises/source/<name>).

Each mistake is a submission: the source notebook with one solution cell replaced by a learner's
function that has exactly that mistake. tests/test_nbgrader_pipeline.py grades them all with the
real nbgrader CLI and checks the points lost and the words of the feedback.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    function: str      # the graded function: the grade_id of the solution cell that `code` replaces
    code: str          # the whole cell: the function with exactly this mistake
    feedback: str      # words the error message of every failing test cell must contain
    fails: tuple = ()  # grade_ids of the test cells that lose their points; () = the function's own
