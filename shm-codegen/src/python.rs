//! The Python `ctypes` module.

use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::{Schema, TypeInfo};
use shm_runtime::header::{self, HEADER_SIZE};

use super::{Error, Member, Scope, field_names, header_schema, members, py_string, target_name};

mod streams;
mod values;

use values::{
    CHECKING_DOC, INVALID, NATURAL_DOC, STR_HELPERS, emit_check, emit_enum, enums, has_natural,
    has_str, leaf, natural, natural_doc, natural_expr, needs_check,
};

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Attributes of `ctypes.Structure` classes and instances (and of their
/// metaclass) that a field of the same name would hide: `from_buffer_copy`
/// is what `read()` calls.
const CTYPES_ATTRS: &[&str] = &[
    "from_buffer",
    "from_buffer_copy",
    "from_address",
    "from_param",
    "in_dll",
    "mro",
    "_objects",
    "_fields_",
    "_pack_",
    "_align_",
    "_anonymous_",
    "_layout_",
    "_swappedbytes_",
    "_b_base_",
    "_b_needsfree_",
    "_type_",
    "_length_",
    "_as_parameter_",
];

/// Names a class may not take at module level: the module's own globals,
/// the local names of its functions (where the root class is named), and
/// Python's builtins (which a module-level class would hide from the
/// generated functions).
const MODULE_NAMES: &[&str] = &[
    "ctypes",
    "time",
    "MAGIC",
    "HEADER_VERSION",
    "HEADER_SIZE",
    "STATE_READY",
    "SEQ_OFFSET",
    "BACKUP_SEQ_OFFSET",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "FINGERPRINT",
    "SIZE",
    "SegmentError",
    "SegmentHeader",
    "check",
    "read",
    "read_with_version",
    "_check_layout",
    "_u64",
    "_try_copy",
    "os",
    "mmap",
    "attach",
    "Segment",
    "open_segment",
    "_LAYOUT_CHECKS",
    "_posixshmem",
    "open_typed",
    "typed_shm",
    "enum",
    "InvalidValue",
    "_shm_escape",
    "_shm_str_error",
    "_shm_str_value",
    "RINGS",
    "QUEUES",
    // Locals and parameters.
    "write",
    "options",
    "self",
    "name",
    "fd",
    "m",
    "seg",
    "exc",
    "buf",
    "h",
    "deadline",
    "got",
    "timeout",
    "cls",
    "size",
    "offsets",
    "field",
    "offset",
    "found",
    "seq_offset",
    "start",
    "s1",
    "data",
    "seq_p",
    "seq_b",
    "start_p",
    "start_b",
    "p",
    "q",
    "value",
    "bad",
    // Builtins.
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// A field name in Python: keywords and `ctypes` attributes mapped.
fn field_name(n: &str) -> String {
    target_name(n, |n| {
        KEYWORDS.contains(&n) || CTYPES_ATTRS.contains(&n) || n.starts_with("_shm_")
    })
}

fn prim(p: Prim) -> &'static str {
    use Prim::*;
    match p {
        U8 | AtomicU8 => "ctypes.c_uint8",
        I8 | AtomicI8 => "ctypes.c_int8",
        U16 | AtomicU16 => "ctypes.c_uint16",
        I16 | AtomicI16 => "ctypes.c_int16",
        U32 | AtomicU32 => "ctypes.c_uint32",
        I32 | AtomicI32 => "ctypes.c_int32",
        U64 | AtomicU64 => "ctypes.c_uint64",
        I64 | AtomicI64 => "ctypes.c_int64",
        F32 => "ctypes.c_float",
        F64 => "ctypes.c_double",
        // Validated in Rust; here the storage.
        Bool => "ctypes.c_uint8",
        Char => "ctypes.c_uint32",
        Utf16 => "ctypes.c_uint16",
    }
}

fn ty(t: &TypeInfo) -> String {
    match t {
        TypeInfo::Prim(p) => prim(*p).to_owned(),
        TypeInfo::Array { elem, len } => format!("({} * {len})", ty(elem)),
        TypeInfo::Struct(s) => class_name(&s.name),
        TypeInfo::Enum(e) => prim(e.repr).to_owned(),
        TypeInfo::Str { cap } => format!("(ctypes.c_uint8 * {})", cap + 2),
        // A ring's placeholder word (the ring is in the stream area).
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => "ctypes.c_uint64".to_owned(),
    }
}

/// A schema name as a class name (keywords, module-level names and
/// builtins mapped).
fn class_name(name: &str) -> String {
    target_name(name, |n| KEYWORDS.contains(&n) || MODULE_NAMES.contains(&n))
}

fn emit_class(out: &mut String, s: &Schema, class: &str) -> Result<(), Error> {
    let mut scope = Scope::new("Python", format!("struct `{}`", s.name));
    let names = field_names(s, field_name, &mut scope)?;
    for (at, _) in s.gaps() {
        scope.declare(
            &format!("_shm_gap_{at}"),
            format!("the padding at offset {at}"),
        )?;
    }
    let _ = writeln!(out, "class {class}(ctypes.Structure):");
    let _ = writeln!(
        out,
        "    \"\"\"`{}` v{}: {} bytes, alignment {} (native byte order).\"\"\"\n",
        py_string(&s.name),
        s.version,
        s.size,
        s.align
    );
    let _ = writeln!(out, "    _fields_ = [");
    for m in members(s, &names) {
        match m {
            Member::Field(f, n) => {
                let _ = writeln!(
                    out,
                    "        (\"{n}\", {}),  # offset {}",
                    ty(&f.ty),
                    f.offset
                );
            }
            Member::Gap(at, len) => {
                let _ = writeln!(
                    out,
                    "        (\"_shm_gap_{at}\", (ctypes.c_uint8 * {len})),  # padding, not in the Rust struct"
                );
            }
        }
    }
    let _ = writeln!(out, "    ]");
    for (f, n) in s.fields.iter().zip(&names) {
        let (elem, depth) = leaf(&f.ty);
        if !natural(elem) {
            continue;
        }
        let prop = format!("{n}_value");
        scope.declare(&prop, format!("the natural value of field `{}`", f.name))?;
        let mut expr = natural_expr(elem, &format!("x{depth}"));
        for d in (1..=depth).rev() {
            let over = if d == 1 {
                format!("self.{n}")
            } else {
                format!("x{}", d - 1)
            };
            expr = format!("[{expr} for x{d} in {over}]");
        }
        if depth == 0 {
            expr = natural_expr(elem, &format!("self.{n}"));
        }
        let _ = writeln!(
            out,
            "\n    @property\n    def {prop}(self):\n        \"\"\"`{n}` as {}.\"\"\"\n        return {expr}",
            natural_doc(elem, depth)
        );
    }
    if s.fields.iter().any(|f| needs_check(&f.ty)) {
        emit_check(out, s, &names);
    }
    let _ = writeln!(out, "\n");
    let _ = writeln!(out, "_LAYOUT_CHECKS.append(({class}, {}, [", s.size);
    for (f, n) in s.fields.iter().zip(&names) {
        let _ = writeln!(out, "    (\"{n}\", {}),", f.offset);
    }
    let _ = writeln!(out, "]))\n\n");
    Ok(())
}

pub(crate) fn generate(schema: &Schema, nested: &[&Schema], source: &str) -> Result<String, Error> {
    let class = class_name(&schema.name);
    let mut module = Scope::new("Python", "the module");
    for n in MODULE_NAMES {
        module.declare(n, format!("`{n}`"))?;
    }
    for s in nested {
        module.declare(&class_name(&s.name), format!("struct `{}`", s.name))?;
    }
    module.declare(&class, format!("struct `{}`", schema.name))?;
    let enums = enums(schema);
    for e in &enums {
        module.declare(&class_name(&e.name), format!("enum `{}`", e.name))?;
    }
    let checked = schema.fields.iter().any(|f| needs_check(&f.ty));
    let fp = schema.fingerprint();
    let mut out = String::new();
    let _ = write!(
        out,
        r#""""Python bindings for the shared-memory schema `{name}` v{version}.

Generated by `shm codegen --lang python` from {source}.
Do not edit: regenerate instead. The segment format is documented in
docs/FORMAT.md; the layout below is checked when the module is imported.

Reading a segment (standard library only):

    import {module} as m
    with m.open_segment("MyShare") as seg:  # checked once, mapped read-only
        value = seg.read()                  # a consistent copy, as often as needed

Do not attach with multiprocessing.shared_memory.SharedMemory(name=...):
below Python 3.13 it registers the segment with the resource tracker,
which removes the live segment when this process exits. open_segment (and
attach) map it without registering it. A Segment checks the header once,
on a private copy, and reads only at the offsets it checked. Reading never
waits for a writer and never stores to the segment.
{checking}{natural}{streams_doc}"""

import ctypes
{import_enum}import mmap
import os
import time

MAGIC = b"SHMTYPE\x00"
HEADER_VERSION = {header_version}
HEADER_SIZE = {header_size}
STATE_READY = {state_ready}
SEQ_OFFSET = {seq}
BACKUP_SEQ_OFFSET = {backup_seq}

SCHEMA_NAME = "{escaped}"
SCHEMA_VERSION = {version}
FINGERPRINT = 0x{fp:016x}
"""FNV-1a 64 of the schema descriptor; equals the segment header's fingerprint."""
SIZE = {size}

{streams}_LAYOUT_CHECKS = []


class SegmentError(Exception):
    """The buffer does not hold a ready segment of this schema."""


{invalid}"#,
        name = py_string(&schema.name),
        module = super::file_name(super::Lang::Python, schema).trim_end_matches(".py"),
        version = schema.version,
        source = py_string(source),
        header_version = header::HEADER_VERSION,
        header_size = HEADER_SIZE,
        state_ready = header::STATE_READY,
        seq = header::off::SEQ,
        backup_seq = header::off::BACKUP_SEQ,
        escaped = py_string(&schema.name),
        size = schema.size,
        checking = if checked { CHECKING_DOC } else { "" },
        natural = if has_natural(schema) { NATURAL_DOC } else { "" },
        streams_doc = streams::doc(schema),
        streams = streams::constants(schema),
        import_enum = if enums.is_empty() {
            ""
        } else {
            "import enum\n"
        },
        invalid = if checked { INVALID } else { "" },
    );
    if has_str(schema) {
        out.push_str(STR_HELPERS);
    }
    for e in &enums {
        emit_enum(&mut out, e);
    }
    emit_class(&mut out, &header_schema(), "SegmentHeader")?;
    for s in nested {
        emit_class(&mut out, s, &class_name(&s.name))?;
    }
    emit_class(&mut out, schema, &class)?;
    let _ = write!(
        out,
        r#"def _check_layout():
    for cls, size, offsets in _LAYOUT_CHECKS:
        if ctypes.sizeof(cls) != size:
            raise ImportError(f"{{cls.__name__}}: ctypes size {{ctypes.sizeof(cls)}} != {{size}}")
        for field, offset in offsets:
            if getattr(cls, field).offset != offset:
                raise ImportError(f"{{cls.__name__}}.{{field}}: ctypes offset != {{offset}}")


_check_layout()


def _u64(buf, offset):
    """The 8-byte counter at `offset`, loaded as one aligned native word."""
    return buf[offset:offset + 8].cast("Q")[0]


def check(buf):
    """Checks that `buf` (a buffer over a whole segment) holds a ready
    segment of this schema; returns a private copy of its header, which is
    all that was checked (use its offsets, never the live header's)."""
    if len(buf) < HEADER_SIZE:
        raise SegmentError(f"the object is {{len(buf)}} bytes, smaller than the {{HEADER_SIZE}}-byte header")
    h = SegmentHeader.from_buffer_copy(bytes(buf[:HEADER_SIZE]))
    if bytes(h.magic) != MAGIC:
        raise SegmentError(f"not a typed shared-memory segment (magic {{bytes(h.magic)!r}})")
    if h.header_version != HEADER_VERSION or h.header_size != HEADER_SIZE:
        raise SegmentError(f"unsupported segment header version {{h.header_version}}")
    if h.state != STATE_READY:
        raise SegmentError("the segment is not initialised")
    if h.fingerprint != FINGERPRINT:
        found = bytes(h.schema_name).split(b"\0", 1)[0].decode("utf-8", "replace")
        raise SegmentError(
            f"the segment holds schema {{found!r}} v{{h.schema_version}} (fingerprint "
            f"{{h.fingerprint:#018x}}), not {{SCHEMA_NAME!r}} v{{SCHEMA_VERSION}} ({{FINGERPRINT:#018x}})"
        )
    room = (SIZE + 7) // 8 * 8
    if (h.payload_size != SIZE or h.payload_offset % 8 != 0 or h.payload_offset < HEADER_SIZE
            or h.payload_offset + room > len(buf)):
        raise SegmentError("the segment's payload lies outside the object")
    if (h.backup_offset % 8 != 0 or h.backup_offset < h.payload_offset + room
            or h.backup_offset + room > len(buf)):
        raise SegmentError("the backup copy of the segment's payload is misplaced or lies outside the object")
    return h


def attach(name):
    """Maps the existing POSIX segment `name` (with or without its leading
    slash) read-only and returns the mmap. Unlike
    multiprocessing.shared_memory.SharedMemory it does not register the
    segment with the resource tracker, which (below Python 3.13) removes
    the live segment when this process exits."""
    name = name.lstrip("/")
    if not name or "/" in name:
        raise SegmentError(f"invalid POSIX segment name {{name!r}}")
    try:
        import _posixshmem  # what multiprocessing.shared_memory uses
        fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, 0)
    except ImportError:
        fd = os.open("/dev/shm/" + name, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if size < HEADER_SIZE:
            raise SegmentError(f"the object is {{size}} bytes, smaller than the {{HEADER_SIZE}}-byte header")
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        os.close(fd)


class Segment:
    """A checked segment: the header is checked once, on a private copy
    (`header`), and every read uses the offsets checked then, whatever the
    segment holds later. Over any buffer of a whole segment (`buf`), or a
    mapping it owns (see open_segment); a context manager. `name` names
    the segment in errors."""

    def __init__(self, buf, _owned=None, name="<buffer>"):
        self._owned = _owned
        self.name = name
        self._buf = memoryview(buf).cast("B")
        try:
            self.header = check(self._buf)
        except BaseException:
            self.close()
            raise
        self._copies = ((SEQ_OFFSET, self.header.payload_offset),
                        (BACKUP_SEQ_OFFSET, self.header.backup_offset))

    def _try_copy(self):
        """One attempt at a consistent copy of the payload. Writes alternate
        between the two copies: the latest is the one whose counter (odd
        while it is written) is even and larger (equal: the primary; the
        larger odd: the other). Its counter must be unchanged around the
        copy. (counter, bytes) or None."""
        buf = self._buf
        (seq_p, start_p), (seq_b, start_b) = self._copies
        p = _u64(buf, seq_p)
        q = _u64(buf, seq_b)
        # "Larger" in serial-number order (q - p, wrapping, positive as a
        # signed 64-bit number), as the writer's.
        if q % 2 == 0 and (p % 2 == 1 or 0 < (q - p) % (1 << 64) < (1 << 63)):
            seq_offset, start, s1 = seq_b, start_b, q
        else:
            seq_offset, start, s1 = seq_p, start_p, p
        if s1 % 2 == 1:
            return None
        data = bytes(buf[start:start + SIZE])
        if _u64(buf, seq_offset) != s1:
            return None
        return s1, data

    def read_with_version(self, timeout=1.0):
        """A consistent copy of the payload and its version (the number of
        the write that produced it), by the protocol of docs/FORMAT.md
        ("Concurrency protocol"): the latest of the two copies, which writes
        take in turn. It never waits for a writer (a writer killed in the
        middle of a write leaves the latest complete value behind, in the
        other copy); it tries again only when the copy read was rewritten
        during an attempt, for at most `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._try_copy()
            if got is not None:
                value = {class}.from_buffer_copy(got[1]){check}
                return value, got[0] // 2
            if time.monotonic() > deadline:
                raise SegmentError(
                    f"no complete copy of the payload in {{timeout}} s (the copy kept "
                    "changing, or both are marked as being written: a damaged segment)"
                )

    def read(self, timeout=1.0):
        """A consistent copy of the payload (see read_with_version)."""
        return self.read_with_version(timeout)[0]

    def close(self):
        """Releases the buffer (and unmaps the segment if this owns it)."""
        self._buf.release()
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_segment(name):
    """The existing POSIX segment `name`, mapped read-only without the
    resource tracker (see attach) and checked: a Segment."""
    m = attach(name)
    return Segment(m, _owned=m, name="posix:/" + name.lstrip("/"))


def read_with_version(buf, timeout=1.0):
    """A consistent copy of the payload of the segment in `buf` and its
    version: Segment(buf).read_with_version (checks the header each call)."""
    seg = Segment(buf)
    try:
        return seg.read_with_version(timeout)
    finally:
        seg.close()


def read(buf, timeout=1.0):
    """A consistent copy of the payload (see read_with_version)."""
    return read_with_version(buf, timeout)[0]


def open_typed(name, write=False, **options):
    """The segment `name` opened with the `typed_shm` package
    (`pip install ./bindings/python`, or bindings/python on the path),
    checked to hold this schema: values with natural types (bool, IntEnum,
    str) validated as in Rust, `wait_for_change`, and with write=True a
    writer (`write`, `update`). `options` go to typed_shm.open."""
    import typed_shm

    seg = typed_shm.open(name, write=write, **options)
    if seg.header.fingerprint != FINGERPRINT:
        found = f"{{seg.schema.name}} v{{seg.schema.version}} ({{seg.header.fingerprint:#018x}})"
        seg.close()
        raise SegmentError(
            f"the segment holds schema {{found}}, not {{SCHEMA_NAME}} v{{SCHEMA_VERSION}} ({{FINGERPRINT:#018x}})"
        )
    return seg
"#,
        check = if checked {
            "\n                bad = value._shm_check(\"\")\n                if bad is not None:\n                    raise InvalidValue(self.name, *bad)"
        } else {
            ""
        },
    );
    Ok(out)
}
