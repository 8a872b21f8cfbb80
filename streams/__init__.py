"""Stream processing: the Cassandra event store, the Faust sink and projection, the feed."""
