"""Request ids, structured JSON logs, Prometheus metrics and locally served API docs."""
