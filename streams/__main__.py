"""``python -m streams worker [--strict-store] [--pipelined]`` runs the stream processor
(``--strict-store``: lightweight-transaction appends instead of the fast single-writer path, see
``store/cassandra``; ``--pipelined``: the batching loop of ``flow``, 2,000-event batches, batch
n+1's Cassandra append overlapping batch n's Redis step);
``python -m streams rebuild`` rebuilds the Redis projection from Cassandra. Both read
``Settings`` from the ``QLLM_*`` environment."""

from __future__ import annotations

import asyncio
import sys

from compose.settings import Settings


def main(argv: list[str]) -> None:
    settings = Settings()
    flags = set(argv[1:])
    if argv[:1] == ["worker"] and flags <= {"--strict-store", "--pipelined"}:
        from streams.app import StreamsOptions, create_app
        from streams.transport import Worker

        pipelined = {"pipelined": True, "batch_size": 2_000}
        options = StreamsOptions.from_settings(
            settings,
            strict_store="--strict-store" in flags,
            **(pipelined if "--pipelined" in flags else {}),
        )
        Worker(create_app(settings, options), loglevel="WARNING").execute_from_commandline()
    elif argv == ["rebuild"]:
        from streams.rebuild import rebuild_from_settings

        print(f"rebuilt {asyncio.run(rebuild_from_settings(settings))} streams")
    else:
        sys.exit("usage: python -m streams worker [--strict-store] [--pipelined] | rebuild")


if __name__ == "__main__":
    main(sys.argv[1:])
