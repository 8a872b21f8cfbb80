"""The inference batcher: a model registry, dynamic and continuous batching, results on Kafka."""
