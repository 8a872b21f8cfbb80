"""The event model of the platform: Avro schemas, typed records, the codec and the pure folds.

Boundary: nothing in this package does I/O or imports Kafka, Cassandra, Redis or FastAPI. The
adapters in ``producers/`` and ``streams/`` call into it.
"""
