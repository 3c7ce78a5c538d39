"""``make lab``: JupyterLab on the kit's notebooks with the kit's kernel, ``redal-kit``.

``python -m redal_core.lab [--ip IP] [--port PORT] [--root DIR]`` registers the kernel for this environment
(``sweep.ensure_kernel``: into ``sys.prefix``, checked to be the spec Jupyter resolves for the name), prints
where it lives and the URL to open, then replaces itself with ``jupyter lab`` (no browser). Needs the
``jupyter`` extra (JupyterLab, ipywidgets).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from redal_core.sweep import KERNEL_DISPLAY_NAME, KERNEL_NAME, NOTEBOOKS, ensure_kernel, kernel_dir


def missing_jupyter() -> str | None:
    """None when JupyterLab and ipywidgets import in this environment, else what is missing and how to get it."""
    import importlib.util

    absent = [name for name in ("jupyterlab", "jupyter_server", "ipywidgets") if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (f"{', '.join(absent)} not installed in {sys.prefix}: `make lab` installs the jupyter extra "
            "(or: pip install -c .venv/torch-constraints.txt -e '.[jupyter]')")


def server_argv(root_dir: str | os.PathLike[str], *, ip: str = "127.0.0.1", port: int = 8888) -> list[str]:
    """The JupyterLab command of ``make lab``: this interpreter, no browser, one port (no silent move to
    another one, so the printed URL is the server's), notebooks served from ``root_dir``, new notebooks on
    the kit's kernel (``redal-kit`` is the server's default kernel). The token is
    taken from ``JUPYTER_TOKEN`` (kept off the command line). As root (a container), ``--allow-root``."""
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={ip}", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={Path(root_dir).resolve()}",
               f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _port_free(ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ip, port))
        except OSError:
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redal_core.lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8888, help="port (default 8888)")
    parser.add_argument("--root", default=str(NOTEBOOKS), help="folder JupyterLab serves (default the kit's notebooks/)")
    args = parser.parse_args(argv)
    problem = missing_jupyter()
    if problem:
        print(f"make lab: {problem}", file=sys.stderr)
        return 1
    try:
        name = ensure_kernel()
    except RuntimeError as error:
        print(f"make lab: {error}", file=sys.stderr)
        return 1
    if not _port_free(args.ip, args.port):
        print(f"make lab: port {args.port} on {args.ip} is in use; choose another: make lab JUPYTER_PORT=8890",
              file=sys.stderr)
        return 1
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    os.environ["JUPYTER_TOKEN"] = token
    host = args.ip if args.ip not in ("0.0.0.0", "::", "") else socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    print(f"make lab: kernel {name!r} ({KERNEL_DISPLAY_NAME}) in {kernel_dir()}, runs {sys.executable}")
    print(f"make lab: JupyterLab on {Path(args.root).resolve()}; open\n\n    http://{host}:{args.port}/lab?token={token}\n",
          flush=True)
    command = server_argv(args.root, ip=args.ip, port=args.port)
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
