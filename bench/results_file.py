"""Where every benchmark writes its figures: ``bench/results/<name>-<UTC timestamp>.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console


def write_results(name: str, results: Any, console: Console) -> Path:
    """Write ``results`` (JSON-serialisable) as ``bench/results/<name>-YYYYmmddTHHMMSS.json``, say where, and return
    the path."""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {path}")
    return path
