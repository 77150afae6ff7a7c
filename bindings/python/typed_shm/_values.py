"""Values: payload bytes to natural Python values and back, with the
checks of the Rust reader (docs/FORMAT.md, the table of valid values)."""

import enum
import math
import struct

from ._descriptor import Array, Enum, Prim, Schema, Str, Stream
from ._errors import InvalidValue


class Record:
    """The value of a schema struct: read-only, fields as attributes
    (`v.joints[0].name`) or items (`v["joints"]`, which also reaches a field
    whose name is one of the methods below). `_asdict()` gives nested
    dicts; `_replace(**fields)` a copy with some fields changed."""

    __slots__ = ("_type", "_values")

    def __init__(self, type_name, values):
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"`{self._type}` has no field `{name}`") from None

    def __setattr__(self, name, value):
        raise AttributeError("a Record is read-only: use _replace(field=...)")

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def keys(self):
        return self._values.keys()

    def __eq__(self, other):
        if isinstance(other, Record):
            return self._type == other._type and self._values == other._values
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{self._type}({inner})"

    def _replace(self, **fields):
        unknown = set(fields) - set(self._values)
        if unknown:
            raise AttributeError(f"`{self._type}` has no field `{sorted(unknown)[0]}`")
        return Record(self._type, {**self._values, **fields})

    def _asdict(self):
        def plain(v):
            if isinstance(v, Record):
                return v._asdict()
            if isinstance(v, list):
                return [plain(x) for x in v]
            return v
        return {k: plain(v) for k, v in self._values.items()}


def python_enum(e):
    """The IntEnum of a descriptor enum (made once per decoded enum)."""
    if e.py is None:
        e.py = enum.IntEnum(e.name, e.variants)
    return e.py


def _short_f32(x):
    """The shortest decimal that is the same f32 as `x` (1.45, not
    1.4500000476837158), as Rust and numpy print an f32."""
    if x != x or x in (_INF, -_INF) or (x.is_integer() and abs(x) < 1 << 24):
        return x
    # An f32 has 24 bits (more than 7 decimal digits): a decimal of 6
    # digits or fewer that is this f32 is what `.6g` gives (trailing zeros
    # stripped), so start there.
    for digits in (6, 7, 8, 9):
        y = float(f"{x:.{digits}g}")
        if _F32.unpack(_F32.pack(y))[0] == x:
            return y
    return x


_INF = float("inf")
_F32_MAX = 3.4028234663852886e38
_F32 = struct.Struct("=f")
_STRUCTS = {}


def _st(fmt):
    """A cached struct.Struct for `fmt`."""
    got = _STRUCTS.get(fmt)
    if got is None:
        got = _STRUCTS[fmt] = struct.Struct(fmt)
    return got


class Codec:
    """Decodes and encodes the payload of `schema` for segment `segment`."""

    def __init__(self, segment, schema):
        self.segment, self.schema = segment, schema
        self.enums = {}
        self._collect(schema)

    def _collect(self, t):
        if isinstance(t, Schema):
            for f in t.fields:
                self._collect(f.ty)
        elif isinstance(t, (Array, Stream)):
            self._collect(t.elem)
        elif isinstance(t, Enum):
            self.enums.setdefault(t.name, python_enum(t))

    # Reading.
    def decode(self, data):
        return self._value(self.schema, data, 0, "")

    def decode_type(self, t, data, path):
        """A value of type `t` (a ring's message) from the private `data`."""
        return self._value(t, data, 0, path)

    def encode_type(self, t, value, path):
        """The bytes of `value` as a `t` (a ring's message), padding zero."""
        buf = bytearray(-(-t.size // 8) * 8)
        self._store(t, buf, 0, value, path)
        return bytes(buf)

    def _value(self, t, data, off, path):
        if isinstance(t, Stream):
            # The placeholder word: its value means nothing.
            return _st("=Q").unpack_from(data, off)[0]
        if isinstance(t, Prim):
            raw = _st("=" + t.fmt).unpack_from(data, off)[0]
            if t.code == 19:
                if raw > 1:
                    raise InvalidValue(self.segment, path, "bool (not 0 or 1)", raw)
                return raw == 1
            if t.code == 20:
                if raw > 0x10FFFF or 0xD800 <= raw <= 0xDFFF:
                    raise InvalidValue(self.segment, path, "char (not a Unicode scalar value)", hex(raw))
                return chr(raw)
            if t.code == 21:
                return chr(raw)
            if t.code == 9:
                return _short_f32(raw)
            return raw
        if isinstance(t, Enum):
            raw = struct.unpack_from("=" + t.repr.fmt, data, off)[0]
            cls = python_enum(t)
            try:
                return cls(raw)
            except ValueError:
                raise InvalidValue(self.segment, path, f"{t.name} (no variant has this value)",
                                   raw) from None
        if isinstance(t, Str):
            n = data[off] | data[off + 1] << 8
            if n > t.cap:
                raise InvalidValue(self.segment, path, f"FixedStr<{t.cap}> (length above capacity)", n)
            b = bytes(data[off + 2:off + 2 + n])
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidValue(self.segment, path, f"FixedStr<{t.cap}> (not UTF-8)", b) from None
        if isinstance(t, Array):
            es = t.elem.size
            e = t.elem
            if isinstance(e, Prim) and e.code <= 18:
                # Numbers: every value valid; one unpack for the array.
                got = _st(f"={t.len}{e.fmt}").unpack_from(data, off)
                return [_short_f32(x) for x in got] if e.code == 9 else list(got)
            return [self._value(t.elem, data, off + i * es, f"{path}[{i}]") for i in range(t.len)]
        fields = {}
        for f in t.fields:
            fields[f.name] = self._value(f.ty, data, off + f.offset, f"{path}.{f.name}" if path else f.name)
        return Record(t.name, fields)

    # Writing: `buf` holds the latest value's bytes; fields are stored
    # over it (bytes no field covers keep what they hold).
    def encode_into(self, buf, value):
        self._store(self.schema, buf, 0, value, "")

    def _bad(self, path, what, value):
        return InvalidValue(self.segment, path, what, repr(value)[:80])

    def _store(self, t, buf, off, v, path):
        if isinstance(t, Stream):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 64:
                raise self._bad(path, f"{t} placeholder (write the int read)", v)
            _st("=Q").pack_into(buf, off, v)
            return
        if isinstance(t, Prim):
            if t.code == 19:
                if v not in (True, False) or not isinstance(v, (bool, int)):
                    raise self._bad(path, "bool (write True or False)", v)
                raw = int(v)
            elif t.code in (20, 21):
                raw = ord(v) if isinstance(v, str) and len(v) == 1 else v
                if not isinstance(raw, int) or isinstance(raw, bool):
                    raise self._bad(path, f"{t} (write a one-character str)", v)
                if t.code == 20 and (raw < 0 or raw > 0x10FFFF or 0xD800 <= raw <= 0xDFFF):
                    raise self._bad(path, "char (not a Unicode scalar value)", v)
                if t.code == 21 and not 0 <= raw <= 0xFFFF:
                    raise self._bad(path, "Utf16 (not one UTF-16 code unit)", v)
            elif t.signed is None:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise self._bad(path, f"{t} (write a number)", v)
                raw = float(v)
                if t.code == 9 and math.isfinite(raw) and abs(raw) > _F32_MAX:
                    raise self._bad(path, "f32 (out of range)", v)
            else:
                if not isinstance(v, int) or isinstance(v, bool):
                    raise self._bad(path, f"{t} (write an int)", v)
                raw = v
            try:
                struct.pack_into("=" + t.fmt, buf, off, raw)
            except (struct.error, OverflowError):
                raise self._bad(path, f"{t} (out of range)", v) from None
            return
        if isinstance(t, Enum):
            cls = python_enum(t)
            try:
                member = cls[v] if isinstance(v, str) else cls(v)
            except (KeyError, ValueError):
                raise self._bad(path, f"{t.name} (no variant has this value)", v) from None
            if isinstance(v, enum.Enum) and type(v).__name__ != t.name:
                raise self._bad(path, f"{t.name} (a member of another enum)", v)
            struct.pack_into("=" + t.repr.fmt, buf, off, int(member))
            return
        if isinstance(t, Str):
            if not isinstance(v, str):
                raise self._bad(path, f"FixedStr<{t.cap}> (write a str)", v)
            try:
                b = v.encode("utf-8")
            except UnicodeEncodeError:
                raise self._bad(path, f"FixedStr<{t.cap}> (not encodable as UTF-8)", v) from None
            if len(b) > t.cap:
                raise self._bad(path, f"FixedStr<{t.cap}> ({len(b)} bytes, longer than the capacity)", v)
            buf[off:off + 2 + t.cap] = len(b).to_bytes(2, "little") + b + bytes(t.cap - len(b))
            return
        if isinstance(t, Array):
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != t.len:
                raise self._bad(path, f"{t} (write a sequence of {t.len})", v)
            e = t.elem
            if isinstance(e, Prim) and e.code <= 18:
                kind = int if e.signed is not None else (int, float)
                try:
                    if (not any(isinstance(x, bool) or not isinstance(x, kind) for x in v)
                            and (e.code != 9 or not any(abs(x) > _F32_MAX and math.isfinite(x)
                                                        for x in v))):
                        _st(f"={t.len}{e.fmt}").pack_into(buf, off, *v)
                        return
                except (struct.error, OverflowError):
                    pass  # element by element, to name the bad one
            for i, x in enumerate(v):
                self._store(e, buf, off + i * e.size, x, f"{path}[{i}]")
            return
        if not (isinstance(v, Record) or hasattr(v, "keys")):
            raise self._bad(path or t.name, f"{t.name} (write a Record or a dict)", v)
        names = {f.name for f in t.fields}
        extra = [k for k in v.keys() if k not in names]
        if extra:
            raise self._bad(path or t.name, f"{t.name} (no field `{extra[0]}`)", v)
        for f in t.fields:
            fp = f"{path}.{f.name}" if path else f.name
            try:
                x = v[f.name]
            except KeyError:
                raise self._bad(fp, f"{t.name} (field `{f.name}` is missing)", v) from None
            self._store(f.ty, buf, off + f.offset, x, fp)
