"""The GPU consumer groups: training worker, inference batcher and kernel worker (plain aiokafka).

Entry point: ``python -m consumers training|inference|kernels|models|all``. Every worker is one
aiokafka consumer group member with ``enable_auto_commit=False``: a message's offset (+1) is
committed only after its effect is durable (events appended to the event store and acknowledged
by Kafka), torch and NumPy/CuPy work runs in a thread, never on the event loop.

Modules: ``config`` (worker options), ``offsets`` (what may be committed), ``journal`` (the
writer of event streams: store first, then Kafka), ``loop`` (the consumer loop: rebalance
logging, dead letters, SIGTERM), ``kernel_worker`` + ``qraf`` (QRAF state operations),
``training`` (jobs), ``inference`` (the batcher), ``model_handler`` (the model commands).
"""
