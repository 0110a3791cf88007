"""The grading guard: the tests run with the functions they were written against.

A submission's code runs in the same kernel as the test cells that judge it, so it could
replace what they rely on (np.allclose, rnnlib.grading.check_outputs, builtins, the notebook's
own helpers such as ramp or the hidden _hidden_check_* functions) and pass every test. Two
nbgrader preprocessors around Execute (configured in each scratch course) stop that:
GuardCells adds code cells that record, before any submitted code runs, every function,
class and module of numpy, rnnlib and builtins, and after every locked cell the functions,
classes and modules it defines; before every test cell they put back whatever was replaced
(the test runs as written, and the notes say what was replaced), and after it they check
again: a test during which they were replaced (by the learner's code it called) scores 0 with
that reason. GuardReport removes these cells after execution and writes what they saw to a
JSON file. A cell of the guard that does not report (the kernel's output was tampered with)
costs the test next to it its points. The guard lives in the kernel it checks: code written
against it (it is public, in this file) can still defeat it; see THREAT_MODEL in sandbox.py.

grade.py appends guard_config() to every scratch course's nbgrader_config.py.
"""
import ast
import json
import re
from pathlib import Path

import nbformat

GUARD_SETUP = r'''
def _rnn_grading_guard(nonce):
    import builtins, json, sys
    import numpy, rnnlib, rnnlib.grading
    missing = object()
    volatile = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__",
                "copyright", "credits", "license", "help",
                "input", "raw_input"}  # ipykernel sets input() for every execution
    def kept(value):
        return callable(value) or isinstance(value, type(sys))
    modules = {n: m for n, m in list(sys.modules.items())
               if m is not None and n.split(".")[0] in ("numpy", "rnnlib")}
    modules["builtins"] = builtins
    pristine = {n: {k: v for k, v in vars(m).items() if kept(v) and k not in volatile}
                for n, m in modules.items()}
    ip = get_ipython()
    raw = sys.stdout

    class Limited:
        """The notebook's stdout and stderr, cut after __LIMIT__ characters in all."""
        def __init__(self, stream, left):
            self._stream, self._left = stream, left
        def write(self, text):
            left = self._left[0]
            if left > 0:
                self._left[0] -= len(text)
                self._stream.write(text if len(text) <= left else text[:left] + "\n__CUT__\n")
            return len(text)
        def __getattr__(self, name):
            return getattr(self._stream, name)
    left = [__LIMIT__]
    sys.stdout, sys.stderr = Limited(sys.stdout, left), Limited(sys.stderr, left)
    streams = (sys.stdout, sys.stderr, sys.displayhook, sys.excepthook)
    hooks = {k: list(v) for k, v in ip.events.callbacks.items()}
    transformers = [(name, list(getattr(ip, name))) for name in
                    ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
                    if hasattr(ip, name)]
    locked = {}
    trusted = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline")
    def untrusted(callbacks):
        return [f for f in callbacks if not str(getattr(f, "__module__", "")).startswith(trusted)]
    def changed(exclude=()):
        out = []
        for n, m in modules.items():
            if sys.modules.get(n, m) is not m:
                out.append(f"sys.modules[{n!r}]")
            d = vars(m)
            out += [f"{n}.{k}" for k, v in pristine[n].items() if d.get(k, missing) is not v]
        ns = ip.user_ns
        out += [k for k, v in locked.items() if k not in exclude and ns.get(k, missing) is not v]
        if (sys.stdout, sys.stderr, sys.displayhook, sys.excepthook) != streams:
            out.append("sys.stdout/stderr/hooks")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            out.append("sys.settrace/setprofile")
        if any(untrusted(v) != untrusted(hooks.get(k, [])) for k, v in ip.events.callbacks.items()):
            out.append("IPython events")
        if any(list(getattr(ip, name)) != value for name, value in transformers):
            out.append("IPython input/AST transformers")
        return out
    def restore():
        sys.settrace(None)
        sys.setprofile(None)
        sys.stdout, sys.stderr, sys.displayhook, sys.excepthook = streams
        for n, m in modules.items():
            if n != "builtins":
                sys.modules[n] = m
            d = vars(m)
            for k, v in pristine[n].items():
                if d.get(k, missing) is not v:
                    d[k] = v
        ip.user_ns.update(locked)
        for k, v in ip.events.callbacks.items():
            v[:] = [f for f in v if not untrusted([f])] + [f for f in hooks.get(k, []) if untrusted([f])]
        for name, value in transformers:
            getattr(ip, name)[:] = value
    def report(step, cell, found):
        raw.write(f"\nRNN-GRADING-GUARD {nonce} " + json.dumps({"step": step, "cell": cell, "changed": sorted(set(found))}) + "\n")
        raw.flush()
    def before(cell):
        found = changed()
        restore()
        report("before", cell, found)
    def after(cell, names):
        found = changed(exclude=set(names))
        restore()
        keep(cell, names, quiet=True)
        report("after", cell, found)
    def keep(cell, names, quiet=False):
        ns = ip.user_ns
        locked.update({k: ns[k] for k in names if k in ns and kept(ns[k])})
        if not quiet:
            report("keep", cell, [])
    return before, after, keep


(_rnn_grading_guard_before, _rnn_grading_guard_after, _rnn_grading_guard_keep) = _rnn_grading_guard("__NONCE__")
del _rnn_grading_guard
print("RNN-GRADING-GUARD __NONCE__ " + '{"step": "setup", "cell": null, "changed": []}', flush=True)
'''
GUARD_MARK = "RNN-GRADING-GUARD"
# Characters a notebook may print (stdout and stderr of all its cells together): the kernel drops
# the rest. Output written to the file descriptors directly is cut after execution (limit_outputs).
OUTPUT_LIMIT = 2_000_000
CUT = "... [output truncated by the grader]"


def defined_names(source):
    """Top-level functions, classes and imports of a cell (what the guard keeps after it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    return names


def _nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _guard_cell(source, kind, cell):
    return nbformat.v4.new_code_cell(source, metadata={"rnn_grading_guard": {"kind": kind, "cell": cell}})


def add_guard(nb, nonce):
    """Returns nb with the guard's cells around the locked and test cells (see above)."""
    setup = GUARD_SETUP.replace("__NONCE__", nonce).replace("__LIMIT__", str(OUTPUT_LIMIT)).replace("__CUT__", CUT)
    cells = [_guard_cell(setup, "setup", None)]
    for cell in nb.cells:
        meta = _nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            cells.append(cell)
            continue
        names = defined_names(cell.source)
        if meta.get("grade"):
            cells.append(_guard_cell(f"_rnn_grading_guard_before({grade_id!r})", "before", grade_id))
            cells.append(cell)
            cells.append(_guard_cell(f"_rnn_grading_guard_after({grade_id!r}, {names!r})", "after", grade_id))
        else:
            cells.append(cell)
            cells.append(_guard_cell(f"_rnn_grading_guard_keep({grade_id!r}, {names!r})", "keep", grade_id))
    nb.cells = cells
    return nb


def guard_findings(nb, nonce):
    """Removes the guard's cells from an executed notebook; returns (notebook, findings), findings
    being (kind, grade_id, what was replaced or None when the cell did not report)."""
    findings, cells = [], []
    pattern = re.compile(re.escape(GUARD_MARK) + " " + re.escape(nonce) + r" (\{.*\})")
    for cell in nb.cells:
        guard = cell.get("metadata", {}).get("rnn_grading_guard")
        if guard is None:
            cells.append(cell)
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        reports = [json.loads(m.group(1)) for m in pattern.finditer(text)]
        ok = [r for r in reports if r.get("step") == guard["kind"] and r.get("cell") == guard["cell"]]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        findings.append((guard["kind"], guard["cell"], ok[-1]["changed"] if ok and not errors else None))
    nb.cells = cells
    return nb, findings


def penalise(nb, findings):
    """Makes a test cell fail (0 points) when the guard saw its functions replaced while it ran, or
    could not check around it. Returns the notes."""
    notes, failed, replaced = [], {}, []
    for kind, cell, changed in findings:
        if changed is None and kind in ("before", "after"):
            failed[cell] = "the grading checks around this test did not run (the kernel's output was tampered with)"
        elif changed is None and kind == "setup":
            notes.append("the grading guard could not start")
        elif changed and kind == "after":
            failed[cell] = (f"the submission replaced {', '.join(changed[:5])} while this test ran; "
                            "the test cannot be trusted")
        elif changed and kind == "before":
            replaced += [name for name in changed if name not in replaced]
    for cell in nb.cells:
        grade_id = _nbgrader_meta(cell).get("grade_id")
        if grade_id in failed and _nbgrader_meta(cell).get("grade"):
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(nbformat.v4.new_output("error", ename="GradingGuardError",
                                                       evalue=failed[grade_id] + ": 0 points",
                                                       traceback=[f"GradingGuardError: {failed[grade_id]}"]))
            notes.append(f"{grade_id}: 0 points, {failed[grade_id]}")
    if replaced:
        more = f" and {len(replaced) - 8} more" if len(replaced) > 8 else ""
        notes.insert(0, f"replaced {', '.join(replaced[:8])}{more}: put back before each test, "
                        "which ran with the originals")
    return notes




def own_errors(nb):
    """Notes of the errors raised by the submission's own cells (not test cells): an endless loop
    stopped by the timeout, sys.exit, MemoryError, a failing import..."""
    notes = []
    for cell in nb.cells:
        if cell.cell_type != "code" or _nbgrader_meta(cell).get("grade"):
            continue
        names = [o.get("ename", "") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if names:
            where = _nbgrader_meta(cell).get("grade_id") or "a cell it added"
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            notes.append(f"{' then '.join(dict.fromkeys(names))} in {where} ({first!r})")
    return notes


def limit_outputs(nb):
    """Truncates huge outputs before they are recorded; returns a note or None."""
    total, cut = 0, False
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for key in ("text",):
                if isinstance(output.get(key), str):
                    total += len(output[key])
                    cut = cut or CUT in output[key]
                    if len(output[key]) > OUTPUT_LIMIT // 10:
                        output[key] = output[key][: OUTPUT_LIMIT // 10] + f"\n{CUT}\n"
            data = output.get("data", {})
            for mime, value in list(data.items()):
                size = len(value) if isinstance(value, str) else len(json.dumps(value))
                total += size
                if size > OUTPUT_LIMIT // 10:
                    data[mime] = "[output truncated by the grader]" if mime.startswith("text/") else ""
                    if not mime.startswith("text/"):
                        del data[mime]
    if cut:
        return (f"printed more than {OUTPUT_LIMIT / 1e6:.0f} MB of output, truncated in the graded "
                "notebook and feedback")
    if total > OUTPUT_LIMIT // 10:
        return f"printed {total / 1e6:.1f} MB of output, truncated in the graded notebook and feedback"
    return None


try:
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Unicode

    class GuardCells(NbGraderPreprocessor):
        """Before Execute: adds the guard's cells."""
        nonce = Unicode("").tag(config=True)

        def preprocess(self, nb, resources):
            return add_guard(nb, self.nonce), resources

    class GuardReport(NbGraderPreprocessor):
        """After Execute: removes the guard's cells, fails the tests it could not vouch for,
        truncates huge outputs and writes the notes to `report` (JSON)."""
        nonce = Unicode("").tag(config=True)
        report = Unicode("").tag(config=True)

        def preprocess(self, nb, resources):
            nb, findings = guard_findings(nb, self.nonce)
            notes = penalise(nb, findings) + own_errors(nb)
            big = limit_outputs(nb)
            if big:
                notes.append(big)
            if self.report:
                Path(self.report).write_text(json.dumps(notes), encoding="utf-8")
            return nb, resources
except ImportError:  # pragma: no cover
    pass


def guard_config(tools, nonce, report):
    """Lines appended to a scratch course's nbgrader_config.py: the guard around Execute."""
    return f'''

# --- added by grade.py for this grading run: the guard around Execute
import sys as _sys
_sys.path.insert(0, {str(tools)!r})
from guard import GuardCells, GuardReport
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern,
                                    LimitOutput, SaveAutoGrades)
c.Autograde.autograde_preprocessors = [GuardCells, Execute, GuardReport, IgnorePattern,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
c.GuardCells.nonce = c.GuardReport.nonce = {nonce!r}
c.GuardReport.report = {str(report)!r}
# a deleted test cell is put back (and run), so deleting a failing test does not remove its points
c.OverwriteCells.add_missing_cells = True
'''
