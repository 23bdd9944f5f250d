"""Contract suites: one abstract suite per port, run against the in-memory twin and the real server."""
