"""Read queries: the one place the API (and later the dashboard) gets session and trace data from."""
