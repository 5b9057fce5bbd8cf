"""Personal access tokens: credentials for scripts, CI jobs and Prometheus."""
