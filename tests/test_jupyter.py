"""The kit's Jupyter set-up as a user meets it: the ``redal-kit`` kernelspec in this environment, a real Jupyter
server that lists and runs it, notebook 00 through it, and JupyterLab itself in headless Chromium.

The server and browser tests need the ``jupyter`` extra (``make lab`` and ``make test`` install it) and skip
with the reason without it; the screenshot also needs Debian's ``chromium``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from redal_core import lab, sweep

REPO = Path(__file__).resolve().parents[1]
MISSING = lab.missing_jupyter()
needs_jupyter = pytest.mark.skipif(MISSING is not None, reason=f"the jupyter extra is not installed: {MISSING}")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TINY_00 = dict(scans=7, points_per_room=1500, strategies=["RAND", "ENT"], x_init=20.0, rounds=1, epochs_init=1,
               epochs_finetune=1, width=0.125)


# -- the kernelspec ----------------------------------------------------------------------------------------
def test_every_notebook_names_the_kits_kernel_and_checks_it_first():
    for path in sorted(sweep.NOTEBOOKS.glob("*.ipynb")):
        book = nbformat.read(path, as_version=4)
        assert book.metadata.kernelspec == {"name": "redal-kit", "display_name": "Python (redal-kit)",
                                            "language": "python"}, path.name
        code = [c for c in book.cells if c.cell_type == "code"]
        assert "make lab" in code[0].source and "sys.prefix" in code[0].source, f"{path.name}: no kernel check first"
        assert "parameters" in code[1].metadata.get("tags", []), path.name


def test_the_kernel_check_cell_says_make_lab_in_a_python_without_the_kit(tmp_path):
    book = nbformat.read(sweep.NOTEBOOKS / "00_quickstart.ipynb", as_version=4)
    check = next(c for c in book.cells if c.cell_type == "code").source
    # -I -S: no site-packages (where redal_core is installed), no PYTHONPATH, not the cwd: "another Jupyter's kernel"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60)
    assert out.returncode != 0
    assert "RuntimeError: this kernel (" in out.stderr and "run `make lab`" in out.stderr, out.stderr
    assert "Python (redal-kit)" in out.stderr
    ok = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_kernel_is_installed_into_this_environment_and_resolved_there():
    assert sweep.ensure_kernel() == sweep.KERNEL_NAME == "redal-kit"
    folder = sweep.kernel_dir()
    assert folder == Path(sys.prefix, "share", "jupyter", "kernels", "redal-kit")
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"] == sweep.kernel_argv() and spec["argv"][0] == sys.executable
    assert spec["display_name"] == "Python (redal-kit)" and "--IPKernelApp.log_level=CRITICAL" in spec["argv"]
    # what `jupyter kernelspec list` of this environment resolves for the name
    listed = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True,
                            text=True, check=True, timeout=120)
    found = json.loads(listed.stdout)["kernelspecs"]["redal-kit"]
    assert Path(found["resource_dir"]).resolve() == folder.resolve()
    assert found["spec"]["argv"][0] == sys.executable


def _user_spec(data_dir: Path, python: str = "/usr/bin/python3") -> Path:
    folder = data_dir / "kernels" / "redal-kit"
    folder.mkdir(parents=True)
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "other", "language": "python"}))
    return folder


def test_a_same_named_spec_that_shadows_this_environment_fails_clearly(tmp_path, monkeypatch):
    user = _user_spec(tmp_path / "user")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))  # stands in for ~/.local/share/jupyter
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")  # Jupyter looks in the user's folder first
    with pytest.raises(RuntimeError, match="shadows this environment's") as error:
        sweep.ensure_kernel()
    assert str(user) in str(error.value) and f"rm -r {user}" in str(error.value)
    assert "/usr/bin/python3" in str(error.value)
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")  # the default in a venv the user owns: the venv's wins
    assert sweep.ensure_kernel() == "redal-kit"
    monkeypatch.delenv("JUPYTER_DATA_DIR")
    extra = _user_spec(tmp_path / "extra")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "extra"))  # JUPYTER_PATH comes before everything
    with pytest.raises(RuntimeError, match="shadows") as error:
        sweep.ensure_kernel()
    assert str(extra) in str(error.value)


def test_the_hashed_specs_of_earlier_versions_are_removed_from_this_environment():
    kernels = sweep.kernel_dir().parent
    mine, other = kernels / "redal-kit-0123456789", kernels / "redal-kit-abcdefabcd"
    try:
        for folder, python in ((mine, sys.executable), (other, "/elsewhere/bin/python")):
            partial = kernels / f".partial-{uuid.uuid4().hex}"  # renamed into place whole: another test's
            partial.mkdir(parents=True)                         # ensure_kernel never sees half a spec
            (partial / "kernel.json").write_text(json.dumps({"argv": [python], "display_name": "x", "language": "python"}))
            shutil.rmtree(folder, ignore_errors=True)  # left by an interrupted run
            os.rename(partial, folder)
        sweep.ensure_kernel()
        assert not mine.exists() and other.is_dir()  # another interpreter's spec is not ours to remove
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_lab_and_its_variables():
    drop = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "JUPYTER_PORT", "JUPYTER_IP"}  # a calling make's or the user's values
    env = {key: value for key, value in os.environ.items() if key not in drop}
    out = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True, text=True, check=True, env=env)
    assert "make lab" in out.stdout and "JUPYTER_PORT='8888'" in out.stdout and "JUPYTER_IP='127.0.0.1'" in out.stdout


@needs_jupyter
def test_make_lab_refuses_a_busy_port_clearly(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert lab.main(["--ip", "127.0.0.1", "--port", str(port)]) == 1
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


# -- a real server ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", body: dict | None = None, timeout: float = 30) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text else {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """JupyterLab as ``make lab`` starts it (``lab.server_argv``), on a free loopback port with a token, serving a
    copy of notebook 00 (Lab may save what it opens). Config, runtime and Lab settings in the test's folders."""
    if MISSING is not None:
        pytest.skip(f"the jupyter extra is not installed: {MISSING}")
    sweep.ensure_kernel()  # what `make lab` does before it starts the server
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(sweep.NOTEBOOKS / "00_quickstart.ipynb", root)
    # no "get notified about official Jupyter news?" toast over the notebook in the screenshot
    notification = tmp / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    token, port = uuid.uuid4().hex, _free_port()
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    command = lab.server_argv(root, ip="127.0.0.1", port=port) + ["--LabApp.news_url=None",
                                                                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = tmp / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _request(f"{base}/api/status", token, timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not come up (exit {process.poll()}):\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "root": root, "tmp": tmp, "log": log}
    finally:
        try:  # the server's own shutdown stops the kernels it started
            _request(f"{base}/api/shutdown", token, method="POST", timeout=10)
        except Exception:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _execute_over_websocket(server: dict, kernel_id: str, code: str, timeout: float = 120) -> str:
    """Run ``code`` on a server kernel through its websocket channel; returns the stdout it printed."""
    import websocket  # websocket-client, a jupyter_server dependency

    url = f"{server['base'].replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels"
    channel = websocket.create_connection(url, header=[f"Authorization: token {server['token']}"],
                                          suppress_origin=True, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        channel.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                       "username": "test", "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        printed, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(channel.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                printed.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"the kernel raised {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(printed)
        raise AssertionError(f"no reply from kernel {kernel_id} in {timeout} s")
    finally:
        channel.close()


@pytest.mark.slow
@pytest.mark.xdist_group("jupyter")
def test_server_lists_the_kit_kernel_runs_it_and_notebook_00_through_it(server, tmp_path):
    import papermill

    specs = _request(f"{server['base']}/api/kernelspecs", server["token"])
    assert "redal-kit" in specs["kernelspecs"], sorted(specs["kernelspecs"])
    assert specs["default"] == "redal-kit"  # a new notebook in Lab gets the kit's kernel
    spec = specs["kernelspecs"]["redal-kit"]["spec"]
    assert spec["display_name"] == "Python (redal-kit)" and spec["argv"] == sweep.kernel_argv()
    # the server starts it, and it is this interpreter, with the kit importable
    kernel = _request(f"{server['base']}/api/kernels", server["token"], method="POST", body={"name": "redal-kit"})
    try:
        printed = _execute_over_websocket(server, kernel["id"], "import sys, redal_core\nprint(sys.executable)")
        assert printed.strip() == sys.executable
    finally:
        _request(f"{server['base']}/api/kernels/{kernel['id']}", server["token"], method="DELETE")
    # notebook 00 with tiny parameters through the kernel of that name (papermill resolves it as the server does)
    target = tmp_path / "00_quickstart.ipynb"
    papermill.execute_notebook(str(sweep.NOTEBOOKS / "00_quickstart.ipynb"), str(target), kernel_name="redal-kit",
                               parameters={"results_dir": str(tmp_path / "results"),
                                           "data_root": str(tmp_path / "data"), **TINY_00},
                               progress_bar=False, cwd=str(tmp_path))
    book = nbformat.read(target, as_version=4)
    assert book.metadata.kernelspec.name == "redal-kit" and book.cells[1].outputs == []  # the check passed quietly
    final = pd.read_csv(tmp_path / "results" / "tables" / "quickstart_final_miou.csv")
    assert sorted(final.strategy) == ["ENT", "RAND"] and (final.rounds == 1).all()
    assert (tmp_path / "results" / "figures" / "quickstart_curves.png").is_file()


# -- JupyterLab in a browser ------------------------------------------------------------------------------
class _DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        import websocket

        self.channel = websocket.create_connection(url, suppress_origin=True, timeout=60)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.channel.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.channel.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


#: What the page shows once Lab has rendered the notebook and its kernel (by display name) is idle.
LAB_STATE = """(() => {
  const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell').length;
  const kernel = [...document.querySelectorAll('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName')]
      .map(e => e.textContent.trim()).join('|');
  const status = [...document.querySelectorAll('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelStatus, .jp-Notebook-ExecutionIndicator')]
      .map(e => (e.getAttribute('data-status') || e.getAttribute('title') || '')).join('|');
  const dialog = [...document.querySelectorAll('.jp-Dialog')].map(e => e.textContent.trim().slice(0, 200)).join('|');
  return JSON.stringify({cells, kernel, status, dialog});
})()"""


def _screenshot_stats(png: Path) -> tuple[int, float]:
    import matplotlib.image

    image = matplotlib.image.imread(png)[..., :3]
    pixels = (image.reshape(-1, 3) * 255).round().astype(np.int64)
    distinct = np.unique(pixels[:, 0] * 65536 + pixels[:, 1] * 256 + pixels[:, 2]).size
    dark = float((pixels.max(axis=1) < 100).mean())
    return distinct, dark


@pytest.mark.slow
@pytest.mark.xdist_group("jupyter")
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_jupyterlab_renders_notebook_00_with_the_kit_kernel(server, tmp_path):
    cells = len(nbformat.read(server["root"] / "00_quickstart.ipynb", as_version=4).cells)
    profile = tmp_path / "profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
        "--window-size=1400,1000", "about:blank",
    ]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state: dict = {}
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.is_file() and len(active.read_text().split()) >= 2):
            assert browser.poll() is None and time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page = next(t for t in json.loads(response.read()) if t["type"] == "page")
        tools = _DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Page.navigate", url=f"{server['base']}/lab/tree/00_quickstart.ipynb?token={server['token']}")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            state = json.loads(tools.evaluate(LAB_STATE) or "{}")
            if state.get("cells", 0) >= cells and "redal-kit" in state.get("kernel", "") \
                    and "idle" in state.get("status", "").lower():
                break
            time.sleep(1.0)
        else:
            pytest.fail(f"JupyterLab did not render notebook 00 with the redal-kit kernel idle: {state}\n"
                        f"{server['log'].read_text()[-3000:]}")
        time.sleep(1.0)  # let the last layout pass paint
        png = tmp_path / "jupyterlab_00.png"
        png.write_bytes(base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"]))
        try:
            tools.call("Browser.close")
        except Exception:
            pass
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGTERM)
        try:
            browser.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(timeout=30)
    keep = REPO / "results" / "screenshots" / "jupyterlab_00.png"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, keep)
    assert state["dialog"] == "", f"Lab shows a dialog (kernel not found?): {state['dialog']}"
    assert png.stat().st_size > 20_000, png.stat().st_size
    distinct, dark = _screenshot_stats(png)
    assert distinct > 100, f"only {distinct} distinct colours: not a rendered notebook"
    assert 0.002 < dark < 0.5, f"dark-pixel fraction {dark:.4f}: blank or black page"
