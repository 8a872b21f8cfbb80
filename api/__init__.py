"""The REST API: validates, authorizes and writes commands; reads state from Redis and Cassandra."""
