"""The schema descriptor (docs/FORMAT.md, "Schema descriptor"): strict
decoding of untrusted bytes, as `shm_runtime::descriptor::decode` does."""

import struct

from ._errors import Corrupt, escape

MAGIC = b"SHMD"
VERSION = 1
MAX_DEPTH = 32
MAX_NAME_LEN = 255
MAX_ALIGN = 1 << 16
MAX_IDENT_LEN = 63
NAME_CAPACITY = 48
MAX_STR_CAP = 65535
MIN_FIELD_LEN = 2 + 8 + 8 + 1
MIN_VARIANT_LEN = 2 + 1 + 8
TAG_ARRAY, TAG_STRUCT, TAG_ENUM, TAG_STR = 0x20, 0x30, 0x40, 0x50
TAG_RING, TAG_QUEUE = 0x60, 0x70
RING_CAP_MAX = 1 << 24
U64_MAX = (1 << 64) - 1

# code: (name, struct format (native), size, signed)
PRIMS = {
    1: ("u8", "B", 1, False), 2: ("i8", "b", 1, True),
    3: ("u16", "H", 2, False), 4: ("i16", "h", 2, True),
    5: ("u32", "I", 4, False), 6: ("i32", "i", 4, True),
    7: ("u64", "Q", 8, False), 8: ("i64", "q", 8, True),
    9: ("f32", "f", 4, None), 10: ("f64", "d", 8, None),
    11: ("AtomicU8", "B", 1, False), 12: ("AtomicI8", "b", 1, True),
    13: ("AtomicU16", "H", 2, False), 14: ("AtomicI16", "h", 2, True),
    15: ("AtomicU32", "I", 4, False), 16: ("AtomicI32", "i", 4, True),
    17: ("AtomicU64", "Q", 8, False), 18: ("AtomicI64", "q", 8, True),
    19: ("bool", "B", 1, None), 20: ("char", "I", 4, None), 21: ("Utf16", "H", 2, None),
}
ENUM_REPRS = range(1, 9)


class Prim:
    __slots__ = ("code", "name", "fmt", "size", "signed")

    def __init__(self, code):
        self.code = code
        self.name, self.fmt, self.size, self.signed = PRIMS[code]

    align = property(lambda self: self.size)

    def __str__(self):
        return self.name


class Array:
    __slots__ = ("elem", "len")

    def __init__(self, elem, length):
        self.elem, self.len = elem, length

    align = property(lambda self: self.elem.align)
    size = property(lambda self: self.elem.size * self.len)

    def __str__(self):
        return f"[{self.elem}; {self.len}]"


class Str:
    __slots__ = ("cap",)

    def __init__(self, cap):
        self.cap = cap

    align = 1
    size = property(lambda self: self.cap + 2)

    def __str__(self):
        return f"FixedStr<{self.cap}>"


class Enum:
    __slots__ = ("name", "repr", "variants", "py")

    def __init__(self, name, repr_, variants):
        self.name, self.repr, self.variants, self.py = name, repr_, variants, None

    align = property(lambda self: self.repr.size)
    size = property(lambda self: self.repr.size)

    def __str__(self):
        return self.name


class Stream:
    """A `Ring<elem, cap>` (`queue` False) or `Queue<elem, cap>` field: an
    8-byte placeholder in the payload; the ring or queue itself is in the
    stream area (docs/FORMAT.md, "Streams: message rings")."""

    __slots__ = ("elem", "cap", "queue")

    def __init__(self, elem, cap, queue):
        self.elem, self.cap, self.queue = elem, cap, queue

    align = size = 8

    def __str__(self):
        return f"{'Queue' if self.queue else 'Ring'}<{self.elem}, {self.cap}>"


def holds_stream(t):
    """Whether `t` is or holds a ring or queue."""
    if isinstance(t, Stream):
        return True
    if isinstance(t, Array):
        return holds_stream(t.elem)
    if isinstance(t, Schema):
        return any(holds_stream(f.ty) for f in t.fields)
    return False


class Field:
    __slots__ = ("name", "offset", "size", "ty")

    def __init__(self, name, offset, size, ty):
        self.name, self.offset, self.size, self.ty = name, offset, size, ty


class Schema:
    """A struct: name, version, size, alignment and fields (in offset order)."""

    __slots__ = ("name", "version", "size", "align", "fields", "py")

    def __init__(self, name, version, size, align, fields):
        self.name, self.version, self.size, self.align = name, version, size, align
        self.fields, self.py = fields, None

    def __str__(self):
        return self.name


def ident_problem(name, max_len):
    """Why `name` is not an identifier in every target language, or None
    (`shm_runtime::ident::check`)."""
    if not name:
        return "is empty"
    for c in name:
        if not (c == "_" or (c.isascii() and c.isalnum())):
            shown = f"`{c}`" if c.isascii() and c.isprintable() and c != " " else f"U+{ord(c):04X}"
            return f"contains {shown}, but only ASCII letters, digits and `_` are allowed"
    if name[0].isdigit():
        return "starts with a digit"
    if len(name) > max_len:
        return f"is {len(name)} bytes long, at most {max_len} are allowed"
    if name == "_":
        return "is `_` alone"
    if "__" in name:
        return "contains `__`, which C and C++ reserve"
    if name[0] == "_" and len(name) > 1 and "A" <= name[1] <= "Z":
        return "starts with `_` and an upper-case letter, which C reserves"
    return None


def type_size(t):
    """The size of a type, None if it does not fit in 64 bits."""
    if isinstance(t, Array):
        e = type_size(t.elem)
        if e is None or e * t.len > U64_MAX:
            return None
        return e * t.len
    if isinstance(t, Str):
        return t.cap + 2
    return t.size


class DescriptorError(Exception):
    def __init__(self, at, what):
        super().__init__(f"schema descriptor, byte {at}: {what}")
        self.at, self.what = at, what


class _Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def remaining(self):
        return len(self.buf) - self.pos

    def take(self, n, what):
        if n > self.remaining():
            raise DescriptorError(self.pos, f"{what} needs {n} bytes, only {self.remaining()} are left")
        s = self.buf[self.pos:self.pos + n]
        self.pos += n
        return s

    def int(self, fmt, n, what):
        return struct.unpack("<" + fmt, self.take(n, what))[0]

    def str(self, what):
        at = self.pos
        n = self.int("H", 2, what)
        if n == 0:
            raise DescriptorError(at, f"{what} is empty")
        if n > MAX_NAME_LEN:
            raise DescriptorError(at, f"{what} is {n} bytes, at most {MAX_NAME_LEN} are allowed")
        b = self.take(n, what)
        try:
            return at, b.decode("utf-8")
        except UnicodeDecodeError:
            raise DescriptorError(at + 2, f"{what} is not UTF-8") from None

    def schema(self, depth, path):
        if depth > MAX_DEPTH:
            raise DescriptorError(self.pos, f"types nest deeper than {MAX_DEPTH} levels")
        at, name = self.str("schema name")
        why = ident_problem(name, NAME_CAPACITY)
        if why:
            place = "the schema name" if not path else f"the struct name of field `{path}`"
            raise DescriptorError(at, f'{place} "{escape(name)}" {why}: names must be identifiers '
                                      "in every target language")
        version = self.int("I", 4, "schema version")
        size_at = self.pos
        size = self.int("Q", 8, "struct size")
        align_at = self.pos
        align = self.int("I", 4, "struct alignment")
        if align == 0 or align & (align - 1) or align > MAX_ALIGN:
            raise DescriptorError(align_at, f"struct `{name}`: alignment {align} is not a power of two "
                                            f"up to {MAX_ALIGN}")
        if size % align:
            raise DescriptorError(size_at, f"struct `{name}`: size {size} is not a multiple of its "
                                           f"alignment {align}")
        count_at = self.pos
        count = self.int("I", 4, "field count")
        if count > self.remaining() // MIN_FIELD_LEN:
            raise DescriptorError(count_at, f"struct `{name}`: {count} fields cannot fit in the "
                                            f"{self.remaining()} bytes left")
        fields, names, end, max_align = [], set(), 0, 1
        for _ in range(count):
            name_at, fname = self.str("field name")
            why = ident_problem(fname, MAX_IDENT_LEN)
            if why:
                at_path = f" (in field `{path}`)" if path else ""
                raise DescriptorError(name_at, f'struct `{name}`{at_path}: field name "{escape(fname)}" '
                                               f"{why}: names must be identifiers in every target language")
            if fname in names:
                raise DescriptorError(name_at, f"struct `{name}`: field `{fname}` appears twice")
            names.add(fname)
            off_at = self.pos
            offset = self.int("Q", 8, "field offset")
            fsize_at = self.pos
            fsize = self.int("Q", 8, "field size")
            fpath = f"{path}.{fname}" if path else fname
            ty = self.ty(depth + 1, fpath)
            pre = f"struct `{name}`, field `{fname}`: "
            tsize = type_size(ty)
            if tsize is None:
                raise DescriptorError(fsize_at, pre + f"the size of {ty} overflows")
            if tsize != fsize:
                raise DescriptorError(fsize_at, pre + f"size {fsize} is not the size of {ty} ({tsize})")
            if offset + fsize > size:
                raise DescriptorError(off_at, pre + f"offset {offset} + size {fsize} lies outside the "
                                                    f"struct ({size} bytes)")
            if offset < end:
                raise DescriptorError(off_at, pre + f"offset {offset} overlaps the previous field or is "
                                                    f"out of order (it ends at {end})")
            if offset % ty.align:
                raise DescriptorError(off_at, pre + f"offset {offset} is not aligned to {ty.align}")
            max_align = max(max_align, ty.align)
            end = offset + fsize
            fields.append(Field(fname, offset, fsize, ty))
        if max_align > align:
            raise DescriptorError(align_at, f"struct `{name}`: alignment {align} is less than its "
                                            f"fields' ({max_align})")
        return Schema(name, version, size, align, fields)

    def ty(self, depth, path):
        if depth > MAX_DEPTH:
            raise DescriptorError(self.pos, f"types nest deeper than {MAX_DEPTH} levels")
        at = self.pos
        code = self.int("B", 1, "type code")
        if code in PRIMS:
            return Prim(code)
        if code == TAG_ARRAY:
            n = self.int("Q", 8, "array length")
            elem = self.ty(depth + 1, path)
            if n > 0 and type_size(elem) == 0:
                raise DescriptorError(at, f"array of {n} zero-sized elements")
            return Array(elem, n)
        if code == TAG_STRUCT:
            return self.schema(depth + 1, path)
        if code == TAG_ENUM:
            return self.enumeration(path)
        if code == TAG_STR:
            cap_at = self.pos
            cap = self.int("I", 4, "string capacity")
            if cap == 0 or cap > MAX_STR_CAP:
                raise DescriptorError(cap_at, f"string capacity {cap} is not 1 to {MAX_STR_CAP}")
            return Str(cap)
        if code in (TAG_RING, TAG_QUEUE):
            cap_at = self.pos
            cap = self.int("I", 4, "ring capacity")
            if cap == 0 or cap & (cap - 1) or cap > RING_CAP_MAX:
                raise DescriptorError(cap_at, f"ring capacity {cap} is not a power of two up to "
                                              f"{RING_CAP_MAX}")
            elem_at = self.pos
            elem = self.ty(depth + 1, path)
            if type_size(elem) == 0 or holds_stream(elem):
                raise DescriptorError(elem_at, "a ring's message type is zero-sized or holds a ring")
            return Stream(elem, cap, code == TAG_QUEUE)
        raise DescriptorError(at, f"unknown type code {code:#04x}")

    def enumeration(self, path):
        at, name = self.str("enum name")
        place = f" (field `{path}`)" if path else ""
        why = ident_problem(name, MAX_IDENT_LEN)
        if why:
            raise DescriptorError(at, f'enum name "{escape(name)}"{place} {why}: names must be '
                                      "identifiers in every target language")
        repr_at = self.pos
        code = self.int("B", 1, "enum repr")
        if code not in ENUM_REPRS:
            raise DescriptorError(repr_at, f"enum `{name}`{place}: repr code {code:#04x} is not an "
                                           "integer type (u8..u64, i8..i64)")
        rep = Prim(code)
        count_at = self.pos
        count = self.int("I", 4, "variant count")
        if count == 0:
            raise DescriptorError(count_at, f"enum `{name}`{place} has no variants")
        if count > self.remaining() // MIN_VARIANT_LEN:
            raise DescriptorError(count_at, f"enum `{name}`{place}: {count} variants cannot fit in the "
                                            f"{self.remaining()} bytes left")
        variants, names, values = [], set(), set()
        bits = 8 * rep.size
        for _ in range(count):
            vat, vname = self.str("variant name")
            why = ident_problem(vname, MAX_IDENT_LEN)
            if why:
                raise DescriptorError(vat, f'enum `{name}`{place}: variant name "{escape(vname)}" {why}: '
                                           "names must be identifiers in every target language")
            if vname in names:
                raise DescriptorError(vat, f"enum `{name}`: variant `{vname}` appears twice")
            names.add(vname)
            value_at = self.pos
            value = self.int("Q", 8, "variant value")
            if bits == 64:
                fits = True
            elif rep.signed:
                v = value - (1 << 64) if value >> 63 else value
                fits = -(1 << (bits - 1)) <= v < (1 << (bits - 1))
            else:
                fits = value < (1 << bits)
            if not fits:
                raise DescriptorError(value_at, f"enum `{name}`, variant `{vname}`: value {value:#x} does "
                                                f"not fit its repr {rep}")
            if value in values:
                raise DescriptorError(value_at, f"enum `{name}`, variant `{vname}`: value "
                                                f"{to_signed(value, rep)} is another variant's too")
            values.add(value)
            variants.append((vname, to_signed(value, rep)))
        return Enum(name, rep, variants)


def to_signed(value, rep):
    """A descriptor's u64 variant value as the repr's Python int."""
    if rep.signed and value >> 63:
        return value - (1 << 64)
    return value


def decode(data):
    """Decodes and validates descriptor bytes; DescriptorError if invalid."""
    r = _Reader(bytes(data))
    magic = r.take(4, "magic")
    if magic != MAGIC:
        raise DescriptorError(0, f"magic is {magic.hex(' ')}, expected 53 48 4d 44 (\"SHMD\")")
    version = r.int("H", 2, "descriptor version")
    if version != VERSION:
        raise DescriptorError(4, f"descriptor version {version} is not supported (this program reads "
                                 f"{VERSION})")
    reserved = r.int("H", 2, "reserved")
    if reserved:
        raise DescriptorError(6, f"reserved field is {reserved}, expected 0")
    s = r.schema(0, "")
    if r.remaining():
        raise DescriptorError(r.pos, f"{r.remaining()} bytes follow the end of the descriptor")
    return s


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & U64_MAX
    return h


def from_segment(segment, header, data):
    """Decodes the descriptor `data` of `segment` and checks it against its
    validated (effective) header; Corrupt otherwise."""
    try:
        h = fnv1a(data)
        if h != header.fingerprint:
            raise DescriptorError(0, f"its hash {h:016x} is not the fingerprint in the header "
                                     f"({header.fingerprint:016x})")
        s = decode(data)
        if s.name != header.schema_name:
            raise DescriptorError(8, f"root schema `{s.name}` is not the header's schema "
                                     f"`{header.schema_name}`")
        if s.version != header.schema_version:
            raise DescriptorError(8, f"schema version {s.version} is not the header's "
                                     f"{header.schema_version}")
        if s.size != header.payload_size:
            raise DescriptorError(8, f"struct size {s.size} is not the header's payload size "
                                     f"{header.payload_size}")
        if s.align > header.payload_align:
            raise DescriptorError(8, f"struct alignment {s.align} exceeds the header's payload "
                                     f"alignment {header.payload_align}")
    except DescriptorError as e:
        raise Corrupt(segment, str(e)) from None
    return s
