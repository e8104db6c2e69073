"""Packaging: ``pip install ./sdk`` in a fresh virtualenv brings the SDK and its light dependencies, nothing of the
server (no database, no web framework)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SDK = Path(__file__).resolve().parents[2] / "sdk"
SERVER_ONLY = {"threadline", "chdb", "clickhouse-connect", "fastapi", "starlette", "uvicorn", "pyarrow", "typer",
               "rich", "pydantic-settings", "prometheus-client"}
SMOKE = textwrap.dedent("""
    import threadline_sdk as tl
    from importlib.resources import files
    assert files("threadline_sdk").joinpath("py.typed").is_file()
    # nothing listens on port 9
    tl.init("http://127.0.0.1:9", export_timeout_s=0.5, retry_initial_s=0.1, exit_flush_timeout_s=1)

    @tl.observe(as_type="generation", model="m")
    def llm(q: str) -> str:
        return q

    with tl.session("packaged", user_id="u"):
        assert llm("hi") == "hi"
    assert tl.flush(2) is False  # the server is down: reported, not raised
    print("ok", tl.__version__)
""")


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def test_pip_install_sdk_pulls_no_server_dependency(tmp_path: Path) -> None:
    source = tmp_path / "sdk"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                str(source)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                             capture_output=True, text=True, check=True, timeout=60)
    names = {normalise(p["name"]) for p in json.loads(listing.stdout)}
    assert "threadline-sdk" in names
    assert {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "httpx", "pydantic"} <= names
    assert not names & SERVER_ONLY, sorted(names & SERVER_ONLY)
    smoke = subprocess.run([str(python), "-c", SMOKE], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    assert smoke.stdout.startswith("ok 0.1.0")
