"""`make lab`: JupyterLab in the course's environment, where nbgrader's Validate button works.

The test starts the server exactly as `make lab` does (in a temporary workspace, without a
browser, on a free loopback port), then asks its Validate endpoint, the one the button calls, to
check two notebooks: the student version of an exercise, whose tests must fail on the stubs, and
the solution, whose tests must pass, which needs a kernel that imports numpy and rnnlib.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "rnn_forward"
# the student notebook comes from the book build (_build/exercise_files), so this runs after it
pytestmark = pytest.mark.site


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, token, data=None):
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=300) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("work")
    port, token = free_port(), "course-test-token"
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(workspace.parent / "jupyter_config"),
               JUPYTER_RUNTIME_DIR=str(workspace.parent / "jupyter_runtime"))
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_DIR={workspace}", f"LAB_ARGS={args}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                request(f"{base}/api/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None:
                    pytest.fail(f"`make lab` exited with {server.returncode}:\n{server.stdout.read()}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 2 minutes")
        yield base, token, workspace
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def validate(lab, notebook):
    base, token, workspace = lab
    shutil.copy(notebook, workspace / notebook.name)
    body = urllib.parse.urlencode({"path": notebook.name}).encode()
    return json.loads(request(f"{base}/assignments/validate", token, data=body))


def test_lab_serves_jupyterlab_with_the_nbgrader_extension(lab):
    base, token, _ = lab
    assert "JupyterLab" in request(f"{base}/lab", token)
    assert json.loads(request(f"{base}/nbgrader_version?version=0", token))["success"] is False  # it answers


def test_validate_button_fails_the_untouched_student_version(lab):
    student = ROOT / "_build" / "exercise_files" / f"{ASSIGNMENT}.ipynb"
    assert student.is_file(), "the book build makes the student notebooks: run `make book`"
    result = validate(lab, student)
    assert result["success"], result
    assert result["value"]["failed"], result["value"]
    assert "NotImplementedError" in json.dumps(result["value"]["failed"])


def test_validate_button_passes_the_solution_with_rnnlib_importable(lab, tmp_path):
    solution = tmp_path / f"{ASSIGNMENT}_solution.ipynb"
    shutil.copy(ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", solution)
    result = validate(lab, solution)
    assert result["success"], result
    assert isinstance(result["value"], dict) and not result["value"].get("failed"), result["value"]
