"""Grading a notebook with two kernels: the learner's code in a sandbox, the tests apart from it.

`TrustedExecute` takes the place of nbgrader's Execute preprocessor in `nbgrader autograde`
(exercises/nbgrader_config.py configures it), so nbgrader still restores the locked cells, puts
back deleted tests, records the points per test cell and writes the feedback. What changes is
where each cell runs:

- the learner's kernel (rnncourse.sandbox) runs every code cell but the test cells: the learner's
  cells and the instructor's locked cells, in order; then it runs `harness.serve`, which answers
  calls of the graded functions;
- the trusted kernel, a plain kernel of the course's environment that never executes learner
  code, runs the locked cells and the test cells, in order, with each graded function replaced
  by a proxy that calls the learner's function and gets its result back as data.

Which cell is the instructor's is decided from the gradebook (nbgrader's record of the source
notebook), never from the submitted metadata: a cell runs in the trusted kernel only when its
grade_id is a locked cell of the source notebook and its source is that cell's source.
The outputs of a test cell therefore come from the trusted kernel only, and nbgrader scores them.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from . import sandbox

TIMEOUT_ERROR = "CellTimeoutError"
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MAX_OUTPUT_CHARS = 100_000  # of a learner cell's outputs, kept in the graded notebook and the feedback
CUT = "\n... [output truncated by the grader]\n"


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source_cells(db_url, notebook, assignment):
    """(every grade_id, locked code cells: grade_id -> source, the test cells' grade_ids, the
    graded functions) of the source notebook, as the gradebook records it."""
    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        solutions = {c.name for c in nb.solution_cells}
        known = {c.name for c in nb.source_cells}
        locked = {c.name: c.source for c in nb.source_cells
                  if c.cell_type == "code" and c.locked and c.name not in solutions}
        tests = {c.name for c in nb.grade_cells if c.cell_type == "code" and c.name not in solutions}
        functions = sorted(c.name for c in nb.source_cells if c.cell_type == "code" and c.name in solutions)
    return known, locked, tests, functions


def _limited(outputs, notes=None):
    """A learner cell's outputs, cut to MAX_OUTPUT_CHARS in all (with a note in `notes`)."""
    left, kept = MAX_OUTPUT_CHARS, []
    for output in outputs:
        if left <= 0:
            break
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            output["text"] = text if len(text) <= left else text[:left] + CUT
            left -= len(text)
        elif output.get("output_type") == "error":
            output["evalue"] = str(output.get("evalue", ""))[:2000]
            output["traceback"] = [line[:2000] for line in output.get("traceback", [])[-20:]]
            left -= sum(map(len, output["traceback"]))
        else:
            size = len(json.dumps(output.get("data", {})))
            if size > left:
                continue
            left -= size
        kept.append(output)
    if left < 0 and notes is not None:
        notes.append(f"a cell printed more than {MAX_OUTPUT_CHARS:,} characters: cut in the graded notebook")
    return kept


def _record_reply_error(cell, execute_reply, **_):
    """nbclient returns a timeout only as the reply: record it, like any error the kernel did not
    show, as the cell's error output."""
    content = execute_reply.get("content", {})
    if content.get("status") == "error" and not any(
            o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        cell.outputs.append(nbformat.v4.new_output("error", ename=str(content.get("ename")),
                                                   evalue=str(content.get("evalue", "")),
                                                   traceback=list(content.get("traceback") or [])))


def _first_line(cell):
    lines = cell.source.strip().splitlines()
    return lines[0][:60] if lines else ""


class SanitizeCells(NbGraderPreprocessor):
    """In place of nbgrader's DeduplicateIds and OverwriteCells' add_missing_cells, whose
    versions stop on some edited notebooks (a deleted cell after a markdown cell, a duplicate):

    - grading metadata on a cell that the source notebook does not have (a made-up grade_id,
      points on the learner's own cell, no grade_id) or on a second copy of a cell is the
      learner's, and is removed: the first copy keeps its place;
    - every cell of the source notebook that the submission lacks (a deleted test, a deleted
      locked cell) is put back after the cell that precedes it in the source notebook.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            points = {c.name: c.max_score for c in source.grade_cells}
            solutions = {c.name for c in source.solution_cells}
            tasks = {c.name for c in source.task_cells}
            order = [(c.name, c.cell_type, c.locked, c.source) for c in source.source_cells]
        known = {name for name, *_ in order}
        # nbgrader writes the sanitized notebook and reads it again to grade it: the notes travel in it
        notes = nb.metadata.setdefault("rnncourse_notes", [])
        seen = set()
        for cell in nb.cells:
            if "nbgrader" not in cell.get("metadata", {}):
                continue
            grade_id = _meta(cell).get("grade_id")
            if grade_id in known and grade_id not in seen:
                seen.add(grade_id)
                continue
            what = "a second copy of" if grade_id in seen else "a cell the assignment does not have,"
            notes.append(f"nbgrader metadata of {what} {str(grade_id)[:40]!r} ignored")
            del cell.metadata["nbgrader"]
        for cell in nb.cells:  # the markers of hidden tests belong in the instructor's cells only
            if not _meta(cell).get("grade") and any(marker in cell.source for marker in HIDDEN_MARKERS):
                for marker in HIDDEN_MARKERS:
                    cell.source = cell.source.replace(marker, marker.lower())
                notes.append("hidden-test markers in a cell of the learner's, made lower case")
        restored = []
        for position, (name, cell_type, locked, text) in enumerate(order):
            if name in seen:
                continue
            previous = {n for n, *_ in order[:position]}
            at = max((i + 1 for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") in previous), default=0)
            meta = {"grade_id": name, "locked": bool(locked), "solution": name in solutions, "grade": name in points,
                    "task": name in tasks, "schema_version": 3}
            if name in points:
                meta["points"] = points[name]
            make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
            nb.cells.insert(at, make(text, metadata={"nbgrader": meta}))
            seen.add(name)
            restored.append(name)
        if restored:
            notes.append(f"deleted cells put back: {', '.join(restored)}")
        return nb, resources


class TrustedExecute(NbGraderPreprocessor):
    """Runs the learner's cells in the sandbox and the tests in a trusted kernel (see above)."""

    timeout = Integer(60, help="seconds per cell").tag(config=True)
    call_timeout = Integer(20, help="seconds per call of a learner's function from a test").tag(config=True)
    startup_timeout = Integer(60, help="seconds for a kernel to start").tag(config=True)
    notes_file = Unicode("", help="a JSON file that receives the grading notes of the notebook").tag(config=True)

    def preprocess(self, nb, resources):
        missing = sandbox.available()
        if missing:
            raise RuntimeError(missing)
        info = resources["nbgrader"]
        _, locked, tests, functions = source_cells(info["db_url"], info["notebook"], info["assignment"])
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        notes = list(nb.metadata.pop("rnncourse_notes", []))
        trusted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and _meta(c).get("grade_id") in locked and c.source == locked[_meta(c)["grade_id"]]]
        is_test = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _meta(c).get("grade_id") in tests}
        changed_tests = is_test - set(trusted)  # never the case after nbgrader's OverwriteCells: fail closed
        learner = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in is_test]
        scratch = Path(tempfile.mkdtemp(prefix="rnn-"))  # short: unix socket paths have ~100 bytes
        try:
            limits = {k: getattr(sandbox.Sandbox(parent=self), k)
                      for k in ("memory_mb", "max_processes", "cpu_seconds", "max_file_mb", "tmp_mb")}
            extras = [p for p in sorted(folder.iterdir()) if p.suffix != ".ipynb"] if folder.is_dir() else []
            notes += [f"{p.name} is a link, not a file: not given to the kernel" for p in extras if p.is_symlink()]
            extras = [p for p in extras if p.is_file() and not p.is_symlink() and p.stat().st_size < 2**24]
            job = sandbox.prepare_job(scratch / "job", cwd_files=extras, limits=limits,
                                      unavailable=sandbox.unavailable_functions(functions, locked.values()))
            try:
                outputs, dead = self._run(nb, learner, trusted, functions, job, notes)
            finally:
                sandbox.destroy_cgroup([Path(d) for d in job["cgroup"]])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for index, (cell_outputs, count) in outputs.items():
            nb.cells[index].outputs = cell_outputs
            nb.cells[index].execution_count = count
        for index in changed_tests:
            nb.cells[index].outputs = [nbformat.v4.new_output(
                "error", ename="AssertionError", evalue="this test cell differs from the instructor's: 0 points",
                traceback=["AssertionError: this test cell differs from the instructor's: 0 points"])]
            notes.append(f"test cell {_meta(nb.cells[index])['grade_id']} differs from the instructor's: 0 points")
        notes += self._cell_notes(nb, learner, is_test)
        if dead:
            notes.append(dead)
        if self.notes_file:
            Path(self.notes_file).write_text(json.dumps(notes), encoding="utf-8")
        return nb, resources

    def _client(self, cells, **kwargs):
        nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}})
        return NotebookClient(nb, timeout=self.timeout, startup_timeout=self.startup_timeout, allow_errors=True,
                              interrupt_on_timeout=True, kernel_name="python3", log=self.log,
                              on_cell_executed=_record_reply_error,
                              error_on_timeout={"ename": TIMEOUT_ERROR, "evalue": f"the cell ran longer than "
                                                f"{self.timeout} s and was stopped", "traceback": []}, **kwargs)

    def _run(self, nb, learner, trusted, functions, job, notes):
        """Executes both kernels; returns ({cell index: (outputs, execution_count)}, reason the
        learner's kernel could not answer or None)."""
        results = {}
        serve = ("import rnncourse_harness\n"
                 f"rnncourse_harness.serve({job['socket']!r}, globals(), {self.call_timeout})")
        learner_cells = [nbformat.v4.new_code_cell(nb.cells[i].source) for i in learner]
        client = self._client(learner_cells + [nbformat.v4.new_code_cell(serve)],
                              km=sandbox.SandboxedKernelManager(job, parent=self),
                              resources={"metadata": {"path": job["cwd"]}})
        dead = None
        with client.setup_kernel():
            for position, index in enumerate(learner):
                cell = client.nb.cells[position]
                try:
                    client.execute_cell(cell, position)
                except DeadKernelError:
                    dead = (f"the notebook's kernel died while running cell {index + 1} "
                            f"({_first_line(nb.cells[index])!r}), e.g. by os._exit, a crash or its memory limit; "
                            "the tests after it could not call its functions")
                    break
                if any(o.get("ename") == TIMEOUT_ERROR for o in cell.outputs) and not self._responsive(client):
                    dead = f"cell {index + 1} ran past the time limit and the kernel did not stop"
                    break
                results[index] = (_limited(cell.outputs, notes), cell.get("execution_count"))
            if dead is None:
                client.kc.execute(serve, store_history=False, allow_stdin=False)
            results.update(self._run_trusted(nb, trusted, functions, job, dead))
        return results, dead

    def _responsive(self, client):
        probe = nbformat.v4.new_code_cell("pass")
        client.nb.cells.append(probe)
        client.timeout, timeout = 10, client.timeout
        try:
            client.execute_cell(probe, len(client.nb.cells) - 1)
        except DeadKernelError:
            return False
        finally:
            client.timeout = timeout
        return not any(o.get("ename") == TIMEOUT_ERROR for o in probe.outputs)

    def _run_trusted(self, nb, trusted, functions, job, dead):
        setup = ("from rnncourse.harness import install as _rnncourse_install\n"
                 f"_rnncourse_learner = _rnncourse_install(globals(), {job['socket']!r}, {functions!r}, "
                 f"{self.call_timeout}, dead={dead!r})")
        cells = [nbformat.v4.new_code_cell(setup)] + [nbformat.v4.new_code_cell(nb.cells[i].source) for i in trusted]
        folder = Path(job["dir"]) / "trusted"
        folder.mkdir()
        client = self._client(cells, resources={"metadata": {"path": str(folder)}})
        results = {}
        with client.setup_kernel():
            client.execute_cell(client.nb.cells[0], 0)
            if any(o.output_type == "error" for o in client.nb.cells[0].outputs):
                raise RuntimeError(f"the grading harness did not start: {client.nb.cells[0].outputs}")
            for position, index in enumerate(trusted, start=1):
                cell = client.nb.cells[position]
                client.execute_cell(cell, position)
                results[index] = (cell.outputs, cell.get("execution_count"))
        return results

    @staticmethod
    def _cell_notes(nb, learner, is_test):
        """The errors of the learner's own cells (a timeout, SystemExit, a failing import...)."""
        notes = []
        for index in learner:
            cell = nb.cells[index]
            if _meta(cell).get("locked"):
                continue
            names = [o.get("ename", "") for o in cell.outputs if o.get("output_type") == "error"]
            if TIMEOUT_ERROR in names:
                notes.append(f"cell {index + 1} ({_first_line(cell)!r}) ran past the time limit and was stopped")
            elif names:
                where = _meta(cell).get("grade_id") or "a cell it added"
                notes.append(f"{' then '.join(dict.fromkeys(names))} in {where} ({_first_line(cell)!r})")
        return notes


def config_lines(notes_file):
    """Lines a grading run appends to a scratch course's nbgrader_config.py."""
    return f"\nc.TrustedExecute.notes_file = {os.fspath(notes_file)!r}\n"
