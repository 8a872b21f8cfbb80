"""Faust's Kafka transport with a bounded fetch wait: the cause of the projection's lag floor.

Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` hard-coded. aiokafka sends
one fetch per broker at a time and leaves out of it every partition whose records are still
buffered (not yet taken by the stream). So while the agent works through the events of the busy
partitions, the next fetch asks only for the *quiet* ones (the other partitions of the job topic,
the model and state topics), and the broker holds a fetch with no data for ``fetch_max_wait_ms``:
for up to 1.5 s no new event of the busy partitions can be fetched. Measured with timestamps at
produce, at the agent, after Cassandra and after Redis: the broker acknowledged within ~150 ms
(p99), the stream took its batch 1.2–2 s later after idle gaps of 1.2–1.3 s, and Cassandra and
Redis took < 0.4 s — the "1.4 s floor" was this wait (``tests/benchmarks/events.md``).

The fix keeps everything else of Faust's consumer and sets the wait that the consumer's fetcher
is built with (aiokafka reads ``_fetch_max_wait_ms`` in ``start()``): an empty fetch then returns
after ``fetch_max_wait_ms`` (default 25 ms), at the price of that many idle fetches per second.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

DEFAULT_FETCH_MAX_WAIT_MS = 25


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(
            self.app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS
        )
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = _Consumer


class Worker(faust.Worker):
    """``faust.Worker`` without the terminal spinner. Faust installs the spinner's handler on the
    root logger and sets the root level to DEBUG for it, whatever ``loglevel`` says: every debug
    call of aiokafka, the Cassandra driver and Faust then builds a log record (about a tenth of
    the processor's CPU at 500 events/s, ``tests/benchmarks/events.md``)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


class App(faust.App):
    """``faust.App`` whose Kafka consumer waits at most ``fetch_max_wait_ms`` on an empty fetch."""

    fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)
