"""OTLP/gRPC receiver: ``TraceService/Export`` and ``LogsService/Export`` (OTLP specification, "OTLP/gRPC") on
grpc's asyncio server, beside the HTTP API on the same event loop and the same ingest path."""
