"""A server-sent events parser (WHATWG rules, the parts the API uses): pure, fed line by line.

Comment lines (``: ping``) are heartbeats and yield nothing; a blank line ends a frame; several
``data:`` lines join with newlines; a frame without ``data`` is dropped, as the spec says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

from sdk.models import ServerEvent


class FrameParser:
    def __init__(self) -> None:
        self._id: str | None = None
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        """The completed event when ``line`` ends a frame, else None."""
        line = line.rstrip("\r\n")
        if not line:
            return self._flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            self._id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _flush(self) -> ServerEvent | None:
        if not self._data:
            self._event = "message"
            return None
        event = ServerEvent(self._id, self._event, "\n".join(self._data))
        self._event, self._data = "message", []
        return event


def parse(lines: Iterable[str]) -> Iterator[ServerEvent]:
    parser = FrameParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event


async def aparse(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    parser = FrameParser()
    async for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event
