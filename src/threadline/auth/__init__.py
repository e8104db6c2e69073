"""Projects, API keys and authentication: every request acts on exactly one project."""
