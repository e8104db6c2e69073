"""The scaled ingest path: span batches on Redis Streams (producer in the API, :class:`StreamWorker` consumers)."""
