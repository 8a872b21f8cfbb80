"""``python -m producers provision``: create the design's topics (idempotent)."""

from __future__ import annotations

import asyncio
import sys

from compose.settings import Settings
from producers.topics import provision

if __name__ == "__main__":
    if sys.argv[1:] != ["provision"]:
        sys.exit("usage: python -m producers provision")
    created = asyncio.run(provision(Settings()))
    print("created: " + (", ".join(created) or "nothing (all topics exist)"))
