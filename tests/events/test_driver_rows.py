"""The Cassandra row factory: the driver's named rows, with the row class built once per shape."""

from __future__ import annotations

from cassandra.query import named_tuple_factory

from streams.store.driver import cached_named_tuple_factory


def test_rows_match_the_drivers_default_factory() -> None:
    columns, rows = ["stream_id", "seq", "[applied]"], [("job-1", 3, True), ("job-2", 4, False)]
    ours, theirs = cached_named_tuple_factory(columns, rows), named_tuple_factory(columns, rows)
    assert [r._asdict() for r in ours] == [r._asdict() for r in theirs]
    assert ours[0].applied is True and ours[1].seq == 4  # "[applied]" cleaned as the driver does


def test_the_row_class_is_built_once_per_column_shape() -> None:
    first = cached_named_tuple_factory(["a", "b"], [(1, 2)])
    again = cached_named_tuple_factory(["a", "b"], [(3, 4)])
    other = cached_named_tuple_factory(["a", "c"], [(5, 6)])
    assert type(first[0]) is type(again[0]) and type(other[0]) is not type(first[0])
    assert other[0].c == 6
