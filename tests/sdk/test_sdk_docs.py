"""The SDK README's API reference is generated from the docstrings and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "sdk" / "scripts" / "api_reference.py"


def test_readme_api_reference_matches_the_docstrings() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
