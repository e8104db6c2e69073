"""Demo data: seeded, realistic LLM sessions sent to a Threadline server over real OTLP/HTTP."""
