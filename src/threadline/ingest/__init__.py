"""Ingest: decoding OTLP and native batches, extracting session fields, and normalising into span rows."""
