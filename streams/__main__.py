"""``python -m streams worker`` runs the stream processor; ``python -m streams rebuild`` rebuilds
the Redis projection from Cassandra. Both read ``Settings`` from the ``QLLM_*`` environment."""

from __future__ import annotations

import asyncio
import sys

from compose.settings import Settings


def main(argv: list[str]) -> None:
    settings = Settings()
    if argv == ["worker"]:
        from faust import Worker

        from streams.app import create_app

        Worker(create_app(settings), loglevel="WARNING").execute_from_commandline()
    elif argv == ["rebuild"]:
        from streams.rebuild import rebuild_from_settings

        print(f"rebuilt {asyncio.run(rebuild_from_settings(settings))} streams")
    else:
        sys.exit("usage: python -m streams worker | rebuild")


if __name__ == "__main__":
    main(sys.argv[1:])
