"""The HTTP API (FastAPI): ingest and sessions endpoints under ``/v1``."""
