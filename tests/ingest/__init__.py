"""Ingest unit tests. A package, so that module names shared with tests/clients (test_langfuse, test_agentops,
test_vercel_ai: a client's ingest module and its real-client test) do not collide in one pytest run."""
