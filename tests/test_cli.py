"""The ``threadline`` command itself: ``--version``, and the gRPC option of the commands that serve."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from typer.testing import CliRunner

from threadline.cli import app


def test_version_prints_the_installed_version_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "threadline", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"threadline {version('threadline')}\n", "")


def test_serve_and_demo_take_a_grpc_port() -> None:
    for command in ("serve", "demo"):
        shown = CliRunner().invoke(app, [command, "--help"])
        assert shown.exit_code == 0 and "--grpc-port" in shown.output and "THREADLINE_GRPC_PORT" in shown.output


def test_an_invalid_grpc_port_names_its_variable() -> None:
    refused = CliRunner().invoke(app, ["serve", "--grpc-port", "70000"])
    assert refused.exit_code == 1 and "THREADLINE_GRPC_PORT" in refused.output
