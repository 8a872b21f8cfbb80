"""Specialised Avro encoders and decoders for the newest version of each record.

Deliberate divergence from "use the library": fastavro's ``schemaless_writer``/``reader`` walk
the parsed schema for every datum (a dispatch per field, a dict per record) and alone cost about
6 µs per event here, above the issue's 5 µs per encode and per decode. So for each record's
newest schema, ``compile_record`` generates (once, at codec construction) a straight-line encoder
and decoder of exactly that schema's fields, the technique of code-generating Avro libraries. The
schemas use a small set of types (string, long, double, boolean, timestamp-micros, unions with
null, arrays and maps of those); a schema with anything else gets no fast path (``None``) and the
codec keeps fastavro for it. fastavro stays the reference: the tests check, for every record of
the registry, that these functions write fastavro's bytes and read what fastavro reads; it also
still reads every older schema version (writer/reader resolution) and writes ``encode_as``.

Decoders read from ``data`` at an offset and return the new offset; a truncated or corrupt body
raises (``IndexError``, ``struct.error``, ``UnicodeDecodeError``, ``EOFError``, ``TypeMismatch``,
``OverflowError`` …), which the codec turns into ``DecodeError``. Like fastavro's reader they
ignore bytes after the record. A naive ``datetime`` (no tzinfo) is refused by the encoder with
``NaiveTimestamp`` and the codec then writes that record with fastavro (which has its own rule).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_DOUBLE = struct.Struct("<d")
_SMALL = [bytes([n]) for n in range(128)]  # a varint below 128 is its own byte
# below 2**32 s from the epoch a double holds seconds to better than 0.5 µs, so fromtimestamp's
# rounding gives back the exact microsecond (the tests compare it with the timedelta sum)
_EXACT_FLOAT_MICROS = 2**32 * 1_000_000


class TypeMismatch(ValueError):
    """The record's ``type`` field names another record than the schema's."""

    def __init__(self, found: str) -> None:
        super().__init__(found)
        self.found = found


class NaiveTimestamp(ValueError):
    """A timestamp without tzinfo: written by fastavro instead."""


Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes, int], Any]


# -- writing -----------------------------------------------------------------------------------


def w_long(out: bytearray, value: int) -> None:
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise OverflowError(f"{value} is out of range for an Avro long")
    n = (value << 1) ^ (value >> 63)
    if n < 128:
        out += _SMALL[n]
        return
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def w_str(out: bytearray, value: str) -> None:
    raw = value.encode()
    w_long(out, len(raw))
    out += raw


def w_double(out: bytearray, value: float) -> None:
    out += _DOUBLE.pack(value)


def w_bool(out: bytearray, value: bool) -> None:
    out.append(1 if value else 0)


def w_time(out: bytearray, value: datetime) -> None:
    if value.tzinfo is None:
        raise NaiveTimestamp(value)
    w_long(out, (value - EPOCH) // ONE_MICROSECOND)


# -- reading -----------------------------------------------------------------------------------


def r_long(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]
    pos += 1
    if b < 128:
        return (b >> 1) ^ -(b & 1), pos
    n, shift = b & 0x7F, 7
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 128:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


def r_str(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = r_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise EOFError(f"string of {size} bytes past the end of the body")
    return data[pos:end].decode(), end


def r_double(data: bytes, pos: int) -> tuple[float, int]:
    return _DOUBLE.unpack_from(data, pos)[0], pos + 8


def r_bool(data: bytes, pos: int) -> tuple[bool, int]:
    return data[pos] != 0, pos + 1


def r_time(data: bytes, pos: int) -> tuple[datetime, int]:
    micros, pos = r_long(data, pos)
    if -_EXACT_FLOAT_MICROS < micros < _EXACT_FLOAT_MICROS:  # twice as fast, same value
        return datetime.fromtimestamp(micros / 1e6, UTC), pos
    return EPOCH + timedelta(microseconds=micros), pos


def r_count(data: bytes, pos: int) -> tuple[int, int]:
    """An array or map block's item count (a negative count is followed by the block's size)."""
    count, pos = r_long(data, pos)
    if count < 0:
        count = -count
        _, pos = r_long(data, pos)
    return count, pos


# -- generation --------------------------------------------------------------------------------

_PRIMITIVES = {
    "string": ("w_str", "r_str"),
    "long": ("w_long", "r_long"),
    "double": ("w_double", "r_double"),
    "boolean": ("w_bool", "r_bool"),
}


class Unsupported(Exception):
    """A schema type this module does not generate code for (the codec keeps fastavro)."""


class _Gen:
    """Emits the lines of one encoder and one decoder; ``n`` numbers the temporaries."""

    def __init__(self) -> None:
        self.enc: list[str] = []
        self.dec: list[str] = []
        self.n = 0

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def write(self, schema: Any, value: str, pad: str) -> None:
        kind = _kind(schema)
        if kind == "string":  # a size below 64 is one byte, written inline
            raw = self.var()
            self.enc.append(f"{pad}{raw} = {value}.encode()")
            self.enc.append(f"{pad}if len({raw}) < 64:")
            self.enc.append(f"{pad}    out += SMALL[len({raw}) << 1]")
            self.enc.append(f"{pad}else:")
            self.enc.append(f"{pad}    w_long(out, len({raw}))")
            self.enc.append(f"{pad}out += {raw}")
        elif kind in _PRIMITIVES:
            self.enc.append(f"{pad}{_PRIMITIVES[kind][0]}(out, {value})")
        elif kind == "timestamp":
            self.enc.append(f"{pad}w_time(out, {value})")
        elif kind == "optional":
            self.enc.append(f"{pad}if {value} is None:")
            self.enc.append(f"{pad}    out.append({2 * schema.index('null')})")
            self.enc.append(f"{pad}else:")
            self.enc.append(f"{pad}    out.append({2 * (1 - schema.index('null'))})")
            self.write(_other(schema), value, pad + "    ")
        elif kind in ("array", "map"):
            item = self.var()
            self.enc.append(f"{pad}if {value}:")
            self.enc.append(f"{pad}    w_long(out, len({value}))")
            if kind == "array":
                self.enc.append(f"{pad}    for {item} in {value}:")
                self.write(schema["items"], item, pad + "        ")
            else:
                key = self.var()
                self.enc.append(f"{pad}    for {key}, {item} in {value}.items():")
                self.enc.append(f"{pad}        w_str(out, {key})")
                self.write(schema["values"], item, pad + "        ")
            self.enc.append(f"{pad}out.append(0)")

    def read(self, schema: Any, target: str, pad: str) -> None:
        kind = _kind(schema)
        if kind in ("long", "string"):  # the one-byte varint inline, the rest in the helper
            byte = self.var()
            self.dec.append(f"{pad}{byte} = data[pos]")
            if kind == "long":
                self.dec.append(f"{pad}if {byte} < 128:")
                self.dec.append(f"{pad}    {target} = ({byte} >> 1) ^ -({byte} & 1)")
                self.dec.append(f"{pad}    pos += 1")
            else:  # a size below 64 (an even byte below 128); a truncated one is found at the end
                end = self.var()
                self.dec.append(f"{pad}if {byte} < 128 and not {byte} & 1:")
                self.dec.append(f"{pad}    {end} = pos + 1 + ({byte} >> 1)")
                self.dec.append(f"{pad}    {target} = data[pos + 1 : {end}].decode()")
                self.dec.append(f"{pad}    pos = {end}")
            self.dec.append(f"{pad}else:")
            self.dec.append(f"{pad}    {target}, pos = {_PRIMITIVES[kind][1]}(data, pos)")
        elif kind in _PRIMITIVES:
            self.dec.append(f"{pad}{target}, pos = {_PRIMITIVES[kind][1]}(data, pos)")
        elif kind == "timestamp":
            self.dec.append(f"{pad}{target}, pos = r_time(data, pos)")
        elif kind == "optional":
            branch = self.var()
            self.dec.append(f"{pad}{branch}, pos = r_long(data, pos)")
            self.dec.append(f"{pad}if {branch} == {schema.index('null')}:")
            self.dec.append(f"{pad}    {target} = None")
            self.dec.append(f"{pad}elif {branch} == {1 - schema.index('null')}:")
            self.read(_other(schema), target, pad + "    ")
            self.dec.append(f"{pad}else:")
            self.dec.append(f"{pad}    raise IndexError(f'union branch {{{branch}}}')")
        elif kind in ("array", "map"):
            count, item = self.var(), self.var()
            self.dec.append(f"{pad}{target} = {'[]' if kind == 'array' else '{}'}")
            self.dec.append(f"{pad}{count}, pos = r_count(data, pos)")
            self.dec.append(f"{pad}while {count}:")
            self.dec.append(f"{pad}    for _ in range({count}):")
            if kind == "array":
                self.read(schema["items"], item, pad + "        ")
                self.dec.append(f"{pad}        {target}.append({item})")
            else:
                key = self.var()
                self.dec.append(f"{pad}        {key}, pos = r_str(data, pos)")
                self.read(schema["values"], item, pad + "        ")
                self.dec.append(f"{pad}        {target}[{key}] = {item}")
            self.dec.append(f"{pad}    {count}, pos = r_count(data, pos)")


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
    elif isinstance(schema, list):
        if len(schema) == 2 and "null" in schema and _kind(_other(schema)) != "optional":
            return "optional"
    elif isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-micros" and schema.get("type") == "long":
            return "timestamp"
        if schema.get("type") in ("array", "map") and "logicalType" not in schema:
            return str(schema["type"])
        if set(schema) == {"type"}:
            return _kind(schema["type"])
    raise Unsupported(repr(schema))


def _slot_setters(cls: type, names: tuple[str, ...]) -> dict[str, Any] | None:
    """``SET_<field>``: the slot descriptors' setters of a slots dataclass with a plain
    generated ``__init__`` (no ``__post_init__``), or ``None`` (then the decoder calls it)."""
    if hasattr(cls, "__post_init__") or not hasattr(cls, "__slots__"):
        return None
    setters = {}
    for name in names:
        slot = getattr(cls, name, None)
        if slot is None or type(slot).__name__ != "member_descriptor":
            return None
        setters[f"SET_{name}"] = slot.__set__
    return setters


def _other(union: list[Any]) -> Any:
    return union[1 - union.index("null")]


def compile_record(
    schema: dict[str, Any], cls: type, header: bytes, field_names: tuple[str, ...]
) -> tuple[Encoder, Decoder] | None:
    """The encoder (record → header + body) and decoder (data, offset → record) of ``schema``,
    whose fields must be ``field_names`` plus ``type``; ``None`` if a type is unsupported."""
    names = [f["name"] for f in schema["fields"]]
    if sorted(names) != sorted((*field_names, "type")):
        return None
    gen = _Gen()
    gen.enc += ["def encode(record):", "    out = bytearray(HEADER)"]
    gen.dec += ["def decode(data, pos):"]
    try:
        for field in schema["fields"]:
            name = field["name"]
            value = "NAME" if name == "type" else f"record.{name}"
            gen.write(field["type"], value, "    ")
            gen.read(field["type"], f"f_{name}", "    ")
    except Unsupported:
        return None
    gen.enc.append("    return bytes(out)")
    gen.dec.append("    if pos > len(data):")  # an inlined string that ran past the end
    gen.dec.append("        raise EOFError('body ends inside a string')")
    gen.dec.append("    if f_type != NAME:")
    gen.dec.append("        raise TypeMismatch(f_type)")
    slots = _slot_setters(cls, field_names)
    if slots is None:
        arguments = ", ".join(f"{n}=f_{n}" for n in field_names)
        gen.dec.append(f"    return CLS({arguments})")
    else:  # what the frozen dataclass's __init__ does, without its keyword parsing
        gen.dec.append("    record = NEW(CLS)")
        gen.dec += [f"    SET_{n}(record, f_{n})" for n in field_names]
        gen.dec.append("    return record")
    namespace: dict[str, Any] = {
        **{k: v for k, v in globals().items() if k.startswith(("w_", "r_"))},
        "HEADER": header, "NAME": cls.__name__, "CLS": cls, "TypeMismatch": TypeMismatch,
        "NEW": object.__new__, "SMALL": _SMALL, **(slots or {}),
    }  # fmt: skip
    source = "\n".join(gen.enc) + "\n\n" + "\n".join(gen.dec) + "\n"
    exec(compile(source, f"<avro {schema['name']}>", "exec"), namespace)
    return namespace["encode"], namespace["decode"]
