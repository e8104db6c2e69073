"""Static assets of the dashboard: URLs that carry a hash of the file's content, and a static files app that lets
browsers keep such a URL for a year without asking again.

``asset_url("app.css")`` is ``/static/app.css?v=<first 12 hex of the SHA-256 of the file>``. When a request's ``v``
is the current hash of the file it names, the response is ``Cache-Control: public, max-age=31536000, immutable``
(a changed file has a new URL); any other request (no ``v``, an old one) is answered as usual, revalidated by
ETag. Hashes are cached per (path, size, mtime), so an edited file gets a new URL without a restart.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from threadline.dashboard.templating import STATIC_DIR

STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def content_hash(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of ``path``'s content. Raises OSError when it cannot be read."""
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def asset_url(name: str) -> str:
    """The URL of static file ``name`` (relative to the package's static directory) with its content hash.
    Raises OSError for a missing file (a template naming an asset that does not exist fails loudly)."""
    return f"{STATIC_PREFIX}/{name}?v={content_hash(STATIC_DIR / name)}"


class AssetFiles(StaticFiles):
    """``StaticFiles`` whose responses to content-hashed URLs are cacheable for a year (see the module docstring)."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        wanted = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
        if wanted and wanted[-1] == content_hash(Path(full_path)):
            response.headers["Cache-Control"] = IMMUTABLE
        return response
