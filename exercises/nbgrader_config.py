"""nbgrader configuration of the course's graded exercises (nbgrader 0.9).

Run every nbgrader command from this folder, with the course's .venv first on PATH (the trusted
kernel is the kernel spec "python3", which imports rnnlib as the reference and rnncourse):

    nbgrader generate_assignment rnn_forward      # source/ -> release/ (the student version)
    nbgrader autograde rnn_forward --create       # submitted/<student>/ -> autograded/ + gradebook
    nbgrader generate_feedback rnn_forward        # autograded/ -> feedback/ (HTML)

Layout, relative to this file: source/<assignment>/<assignment>.ipynb, release/, submitted/,
autograded/, feedback/ and the sqlite gradebook gradebook.db (all but source/ are git-ignored).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from rnncourse.autograde import SanitizeCells, TrustedExecute

c = get_config()  # noqa: F821 -- traitlets defines get_config() when it loads this file

# The course root is the folder of this file, not whatever the current directory is, so a copy
# of this file with a source/ folder next to it (as in tests/test_nbgrader_pipeline.py) is a
# complete course of its own and never writes into the repository's exercises/.
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = HERE
# nbgrader's default is the same file; written out so that the gradebook's place is explicit
# (override on the command line with --CourseDirectory.db_url=sqlite:////some/where.db).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# What replaces a solution region in the student version. The stub raises, so an untouched
# function fails its tests with NotImplementedError (0 points) instead of returning None.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE (then delete the next line)\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading runs the learner's cells in a sandboxed kernel and the test cells in a trusted kernel
# that never executes learner code (rnncourse.autograde.TrustedExecute in place of nbgrader's
# Execute; the threat model is on the instructors' page). Every limit of grading is set here.
# A cell may run 60 s: each cell of the solution runs in well under a second, so this never fails
# slow but correct code on a busy machine, yet stops an endless loop (the cell is interrupted and
# the rest of the notebook is graded); each call of a learner's function from a test gets 20 s.
c.Autograde.sanitize_preprocessors = [ClearOutput, SanitizeCells, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.TrustedExecute.timeout = 60
c.TrustedExecute.call_timeout = 20
c.Sandbox.memory_mb = 2048       # the learner's kernel and all its processes together
c.Sandbox.max_processes = 64     # processes and threads of the learner's kernel
c.Sandbox.cpu_seconds = 600
c.Sandbox.max_file_mb = 64
c.Sandbox.tmp_mb = 128
# SanitizeCells puts deleted cells back (so deleting a failing test does not remove its points)
c.OverwriteCells.add_missing_cells = False


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Feedback only: in a test cell with hidden tests, keep just `Error: message` of a failure.

    A traceback quotes the lines around the failing line, which would show the hidden tests; the
    assertion messages are written to name the mistake, so they are the feedback that matters.
    (An nbgrader preprocessor, because nbconvert's base class is disabled unless configured.)
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


# nbgrader 0.9 puts the hidden tests back into the autograded notebook and, by default, into the
# feedback HTML (jupyter/nbgrader#917). Learners get the feedback, so it must hold no hidden
# test: shorten their tracebacks first, then remove the hidden regions with the same
# preprocessor that makes the student version.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTestTracebacks,
    ClearHiddenTests,
    CSSHTMLHeaderPreprocessor,
]
