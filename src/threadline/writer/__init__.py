"""The writer: commits span batches and recomputes the rollups they touch."""
