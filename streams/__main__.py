"""``python -m streams worker [--strict-store]`` runs the stream processor (``--strict-store``:
lightweight-transaction appends instead of the fast single-writer path, see ``store/cassandra``);
``python -m streams rebuild`` rebuilds the Redis projection from Cassandra. Both read
``Settings`` from the ``QLLM_*`` environment."""

from __future__ import annotations

import asyncio
import sys

from compose.settings import Settings


def main(argv: list[str]) -> None:
    settings = Settings()
    if argv in (["worker"], ["worker", "--strict-store"]):
        from faust import Worker

        from streams.app import StreamsOptions, create_app

        options = StreamsOptions.from_settings(settings, strict_store="--strict-store" in argv)
        Worker(create_app(settings, options), loglevel="WARNING").execute_from_commandline()
    elif argv == ["rebuild"]:
        from streams.rebuild import rebuild_from_settings

        print(f"rebuilt {asyncio.run(rebuild_from_settings(settings))} streams")
    else:
        sys.exit("usage: python -m streams worker [--strict-store] | rebuild")


if __name__ == "__main__":
    main(sys.argv[1:])
