//! Generated code is safe whatever the descriptor says: descriptors with
//! hostile names (built as bytes, bypassing the derive) are refused by
//! descriptor validation and by the code generator with a clear error, and
//! every descriptor that is accepted, however its names collide with
//! keywords, library names or the generated code's own names, gives C that
//! `gcc -std=c11 -Wall -Wextra -Werror` compiles (trigraphs enabled), C#
//! that `mcs` compiles (skipped with a note without Mono), and Python that
//! imports and reads the right values.
//!
//! The generated C header is C11 only (`_Static_assert`, `_Alignas`): it is
//! not meant to compile as C++, so g++ is not run.

use std::path::PathBuf;
use std::process::Command;

use shm_codegen::{Lang, generate};
use shm_runtime::Prim;
use shm_runtime::descriptor::{EnumInfo, FieldInfo, Schema, TypeInfo, decode};

fn field(name: &str, offset: u64, ty: TypeInfo) -> FieldInfo {
    FieldInfo {
        name: name.to_owned(),
        offset,
        size: ty.size(),
        ty,
    }
}

/// A struct of consecutive fields (each aligned), padded to its alignment.
fn st(name: &str, fields: Vec<(&str, TypeInfo)>) -> Schema {
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut align = 1u64;
    for (n, ty) in fields {
        let a = ty.align();
        at = at.next_multiple_of(a);
        align = align.max(a);
        let f = field(n, at, ty);
        at += f.size;
        out.push(f);
    }
    Schema {
        name: name.to_owned(),
        version: 1,
        size: at.next_multiple_of(align),
        align,
        fields: out,
    }
}

fn p(x: Prim) -> TypeInfo {
    TypeInfo::Prim(x)
}

fn s(x: Schema) -> TypeInfo {
    TypeInfo::Struct(Box::new(x))
}

/// Printable ASCII only: no terminal escape, line terminator or bidi
/// override can reach whoever reads the message.
fn assert_printable(msg: &str) {
    assert!(
        msg.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "raw character in {msg:?}"
    );
}

/// Hostile descriptors: each is refused by descriptor validation and by
/// every code generator, with a message that names what is wrong.
fn hostile() -> Vec<(&'static str, Schema)> {
    let inner = |n: &str| st(n, vec![("a", p(Prim::U32))]);
    vec![
        // C# line terminators in the schema name: code after them compiled.
        (
            "U+2028",
            st(
                "X\u{2028}public const int Evil = 1; //",
                vec![("a", p(Prim::U32))],
            ),
        ),
        (
            "U+0085",
            st("X\u{85}class Evil {}", vec![("a", p(Prim::U32))]),
        ),
        ("U+2029", st("X\u{2029}", vec![("a", p(Prim::U32))])),
        ("U+000A", st("X\nint evil;", vec![("a", p(Prim::U32))])),
        // Outside the BMP: broke the C header and Python's SCHEMA_NAME.
        ("U+1F600", st("Data\u{1f600}", vec![("a", p(Prim::U32))])),
        // Trigraphs remove a line under -std=c11.
        ("`?`", st("Data??/", vec![("a", p(Prim::U32))])),
        ("`?`", st("Data", vec![("x??/", p(Prim::U32))])),
        // Bidirectional overrides in comments.
        ("U+202E", st("Data\u{202e}", vec![("a", p(Prim::U32))])),
        ("U+2066", st("Data", vec![("a\u{2066}", p(Prim::U32))])),
        // Comment terminators.
        ("`*`", st("D*/int x;/*", vec![("a", p(Prim::U32))])),
        // Two nested structs differing only in punctuation used to map to
        // one identifier, and C and Python used one layout for both.
        (
            "`-`",
            st(
                "Data",
                vec![
                    ("x", s(inner("Foo-Bar"))),
                    ("y", s(st("Foo.Bar", vec![("b", p(Prim::U64))]))),
                ],
            ),
        ),
        ("`.`", st("Data", vec![("x", s(inner("Foo.Bar")))])),
        (
            "U+00F6",
            st("Data", vec![("gr\u{f6}\u{df}e", p(Prim::U32))]),
        ),
        (
            "starts with a digit",
            st("1Data", vec![("a", p(Prim::U32))]),
        ),
        ("`__`", st("Data", vec![("__init__", p(Prim::U32))])),
        ("`__`", st("Data", vec![("a__b", p(Prim::U32))])),
        ("upper-case", st("_Bool", vec![("a", p(Prim::U32))])),
        ("upper-case", st("Data", vec![("_Atomic", p(Prim::U32))])),
        (
            "at most 63",
            st("Data", vec![(&*"x".repeat(64), p(Prim::U32))]),
        ),
        ("at most 48", st(&"X".repeat(49), vec![("a", p(Prim::U32))])),
        ("`_` alone", st("Data", vec![("_", p(Prim::U32))])),
        // Deep inside an array of structs.
        (
            "U+0085",
            st(
                "Data",
                vec![(
                    "arr",
                    TypeInfo::Array {
                        elem: Box::new(s(inner("In\u{85}ner"))),
                        len: 2,
                    },
                )],
            ),
        ),
    ]
}

#[test]
fn hostile_names_are_refused_by_descriptor_validation_and_by_codegen() {
    for (needle, schema) in hostile() {
        let err = decode(&schema.encode()).unwrap_err().to_string();
        assert!(
            err.contains("identifier") && err.contains(needle),
            "{err:?} should mention {needle:?}"
        );
        assert_printable(&err);
        for lang in Lang::ALL {
            let err = generate(lang, &schema, "test").unwrap_err().to_string();
            assert!(
                err.contains("identifier") && err.contains(needle),
                "{lang:?}: {err:?} should mention {needle:?}"
            );
            assert_printable(&err);
        }
    }
}

/// Nested struct errors name the field path.
#[test]
fn descriptor_errors_name_the_field_path() {
    let schema = st(
        "Data",
        vec![(
            "outer",
            s(st(
                "Outer",
                vec![("inner", s(st("Inner", vec![("b-c", p(Prim::U8))])))],
            )),
        )],
    );
    let err = decode(&schema.encode()).unwrap_err().to_string();
    assert!(err.contains("outer.inner"), "{err}");
}

/// Descriptors whose names are valid identifiers but collide with
/// keywords, library names, `ctypes` attributes or the generated code's
/// own names, and structs whose names differ only in case or `_`.
fn accepted() -> Vec<Schema> {
    let one = |n: &str, f: &str, x: Prim| st(n, vec![(f, p(x))]);
    vec![
        // Fields named like ctypes methods and attributes broke read().
        st(
            "Ctypes",
            vec![
                ("from_buffer_copy", p(Prim::U32)),
                ("from_buffer", p(Prim::U32)),
                ("from_address", p(Prim::U32)),
                ("_objects", p(Prim::U32)),
                ("_fields_", p(Prim::U32)),
                ("_pack_", p(Prim::U32)),
                ("mro", p(Prim::U32)),
                ("in_dll", p(Prim::U32)),
            ],
        ),
        // Names that differ only in case and `_` (one snake_case form).
        st(
            "Collide",
            vec![
                ("a", s(one("FooBar", "x", Prim::U8))),
                ("b", s(one("Foo_Bar", "x", Prim::U16))),
                ("c", s(one("FOOBAR", "x", Prim::U32))),
                ("d", s(one("foo_bar", "x", Prim::U64))),
                ("e", s(one("FooBar_", "x", Prim::U32))),
                ("f", s(one("Foobar", "y", Prim::U16))),
            ],
        ),
        // Keywords and names the languages or the generated code use.
        st(
            "h",
            vec![
                ("int", p(Prim::U32)),
                ("int_", p(Prim::U32)),
                ("class", p(Prim::U32)),
                ("None", p(Prim::U32)),
                ("def", p(Prim::U32)),
                ("linux", p(Prim::U32)),
                ("unix", p(Prim::U32)),
                ("NULL", p(Prim::U32)),
                ("SIZE_MAX", p(Prim::U32)),
                ("UINT64_C", p(Prim::U32)),
                ("uint8_t", p(Prim::U32)),
                ("SHM_MAGIC", p(Prim::U32)),
                ("SHM_HEADER_SIZE", p(Prim::U32)),
                ("H_SIZE", p(Prim::U32)),
                ("H_SIZE_", p(Prim::U32)),
                ("_shm_gap_0", p(Prim::U32)),
                ("Size", p(Prim::U32)),
                ("SchemaName", p(Prim::U32)),
                ("LayoutKind", p(Prim::U32)),
                ("StructLayout", p(Prim::U32)),
                ("Magic", p(Prim::U32)),
                ("FieldOffset", p(Prim::U32)),
                ("h", p(Prim::U32)),
                ("len", s(one("len", "len", Prim::U32))),
                ("bs", s(one("base", "x", Prim::U32))),
                ("size_t", s(one("size_t", "x", Prim::U32))),
                ("memcpy", s(one("memcpy", "x", Prim::U32))),
                ("seg", s(one("SegmentHeader", "x", Prim::U32))),
                ("sl", s(one("LayoutKind_", "x", Prim::U32))),
                ("rd", s(one("read", "x", Prim::U32))),
                ("ck", s(one("h_check", "x", Prim::U32))),
                ("shm", s(one("shm_segment_header", "x", Prim::U32))),
                ("obj", s(one("object", "x", Prim::U32))),
            ],
        ),
        // The schema types beyond numbers: `bool`, an enum, `char`,
        // `Utf16`, `FixedStr`, in arrays and nested (as their storage).
        st(
            "Kinds",
            vec![
                ("flag", p(Prim::Bool)),
                (
                    "mode",
                    TypeInfo::Enum(Box::new(EnumInfo {
                        name: "Mode".to_owned(),
                        repr: Prim::U8,
                        variants: vec![("Idle".to_owned(), 0), ("Run".to_owned(), 1)],
                    })),
                ),
                ("u", p(Prim::Utf16)),
                ("c", p(Prim::Char)),
                ("label", TypeInfo::Str { cap: 6 }),
                (
                    "flags",
                    TypeInfo::Array {
                        elem: Box::new(p(Prim::Bool)),
                        len: 2,
                    },
                ),
                (
                    "inner",
                    s(st(
                        "Part",
                        vec![("on", p(Prim::Bool)), ("name", TypeInfo::Str { cap: 3 })],
                    )),
                ),
            ],
        ),
        // An enum and variants named like Python keywords, builtins and
        // `IntEnum` attributes; arrays of arrays of checked types.
        st(
            "Keys",
            vec![
                (
                    "kind",
                    TypeInfo::Enum(Box::new(EnumInfo {
                        name: "None".to_owned(),
                        repr: Prim::I16,
                        variants: vec![
                            ("None".to_owned(), u64::MAX),
                            ("True".to_owned(), 0),
                            ("name".to_owned(), 1),
                            ("value".to_owned(), 2),
                        ],
                    })),
                ),
                (
                    "grid",
                    TypeInfo::Array {
                        elem: Box::new(TypeInfo::Array {
                            elem: Box::new(TypeInfo::Str { cap: 2 }),
                            len: 2,
                        }),
                        len: 2,
                    },
                ),
                (
                    "cc",
                    TypeInfo::Array {
                        elem: Box::new(TypeInfo::Array {
                            elem: Box::new(p(Prim::Char)),
                            len: 2,
                        }),
                        len: 3,
                    },
                ),
            ],
        ),
        // The root named like the helpers other names derive.
        st(
            "Data",
            vec![
                ("DATA_SIZE", p(Prim::U32)),
                ("DATA_FINGERPRINT", p(Prim::U32)),
                ("DATA_SCHEMA_NAME", p(Prim::U32)),
                ("x", s(one("data_check", "data_read", Prim::U32))),
                ("y", s(one("data_read_with_version", "a", Prim::U32))),
            ],
        ),
    ]
}

fn tmp(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn accepted_descriptors_give_c_that_gcc_compiles() {
    let dir = tmp("c");
    for schema in accepted() {
        assert!(decode(&schema.encode()).is_ok(), "{}", schema.name);
        let h = dir.join(format!("{}.h", schema.name));
        std::fs::write(
            &h,
            generate(Lang::C, &schema, "a source with */ ??/ and \u{202e}").unwrap(),
        )
        .unwrap();
        let c = dir.join(format!("{}.c", schema.name));
        std::fs::write(
            &c,
            format!(
                "#include \"{}\"\nint main(void) {{ return 0; }}\n",
                h.display()
            ),
        )
        .unwrap();
        for std in ["-std=c11", "-std=gnu11"] {
            run(Command::new("gcc")
                .args([std, "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-c", "-o"])
                .arg(dir.join("x.o"))
                .arg(&c));
        }
        // And as C++ (the header's `extern "C"` part, C++ keywords).
        run(Command::new("g++")
            .args([
                "-std=c++17",
                "-x",
                "c++",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wpedantic",
            ])
            .args(["-c", "-o"])
            .arg(dir.join("x.o"))
            .arg(&c));
    }
    // Every accepted header together in one translation unit.
    let all: String = accepted()
        .iter()
        .map(|s| {
            format!(
                "#include \"{}\"\n",
                dir.join(format!("{}.h", s.name)).display()
            )
        })
        .collect();
    let c = dir.join("all.c");
    std::fs::write(&c, all + "int main(void) { return 0; }\n").unwrap();
    run(Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-c", "-o"])
        .arg(dir.join("all.o"))
        .arg(&c));
    run(Command::new("g++")
        .args([
            "-std=c++17",
            "-x",
            "c++",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-c",
            "-o",
        ])
        .arg(dir.join("all.o"))
        .arg(&c));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two headers with different structs of one name: a compile error, not
/// one layout silently used for both.
#[test]
fn different_structs_of_one_name_in_two_headers_do_not_compile_together() {
    let dir = tmp("c2");
    let a = st("A", vec![("x", s(st("Inner", vec![("v", p(Prim::U32))])))]);
    let b = st("B", vec![("x", s(st("Inner", vec![("v", p(Prim::U64))])))]);
    let mut src = String::new();
    for schema in [&a, &b] {
        let h = dir.join(format!("{}.h", schema.name));
        std::fs::write(&h, generate(Lang::C, schema, "t").unwrap()).unwrap();
        src += &format!("#include \"{}\"\n", h.display());
    }
    let c = dir.join("ab.c");
    std::fs::write(&c, src + "int main(void) { return 0; }\n").unwrap();
    let out = Command::new("gcc")
        .args(["-std=c11", "-c", "-o"])
        .arg(dir.join("ab.o"))
        .arg(&c)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Inner"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The leaf values of `schema` in `payload`, in field order
/// (little-endian unsigned integers only).
fn leaves(schema: &Schema, payload: &[u8], base: u64, out: &mut Vec<u64>) {
    fn ty(t: &TypeInfo, payload: &[u8], at: u64, out: &mut Vec<u64>) {
        match t {
            TypeInfo::Prim(x) => {
                let n = x.size();
                let mut b = [0u8; 8];
                b[..n].copy_from_slice(&payload[at as usize..at as usize + n]);
                out.push(u64::from_le_bytes(b));
            }
            TypeInfo::Struct(s) => leaves(s, payload, at, out),
            TypeInfo::Enum(e) => ty(&TypeInfo::Prim(e.repr), payload, at, out),
            TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => {
                ty(&TypeInfo::Prim(Prim::U64), payload, at, out)
            }
            TypeInfo::Str { cap } => {
                for i in 0..cap + 2 {
                    out.push(u64::from(payload[(at + i) as usize]));
                }
            }
            TypeInfo::Array { elem, len } => {
                for i in 0..*len {
                    ty(elem, payload, at + i * elem.size(), out);
                }
            }
        }
    }
    for f in &schema.fields {
        ty(&f.ty, payload, base + f.offset, out);
    }
}

const PY_READ: &str = r#"
import ctypes, importlib.util, re, sys
spec = importlib.util.spec_from_file_location("m", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
payload = bytes.fromhex(sys.argv[2])
h = m.SegmentHeader()
h.magic = (ctypes.c_uint8 * 8)(*m.MAGIC)
h.header_version = m.HEADER_VERSION
h.header_size = m.HEADER_SIZE
h.state = m.STATE_READY
h.fingerprint = m.FINGERPRINT
h.payload_size = m.SIZE
h.payload_offset = 256
h.backup_offset = 256 + (m.SIZE + 63) // 64 * 64
buf = bytearray(bytes(h)) + payload + bytes(h.backup_offset - 256 - m.SIZE) + payload
buf += bytes(-m.SIZE % 8)  # each copy is read in whole 8-byte words
# The bytes are arbitrary, not valid values: this reads the layout only
# (the checks are tested against the Rust reader in shm-cli's tests).
for c in vars(m).values():
    if isinstance(c, type) and hasattr(c, "_shm_check"):
        c._shm_check = lambda self, path: None
v = m.read(memoryview(buf))
def leaves(x):
    if isinstance(x, int):
        yield x
    elif isinstance(x, ctypes.Array):
        for e in x:
            yield from leaves(e)
    else:
        for name, _ in type(x)._fields_:
            if not re.fullmatch(r"_shm_gap_[0-9]+", name):
                yield from leaves(getattr(x, name))
print(" ".join(str(n) for n in leaves(v)))
"#;

#[test]
fn accepted_descriptors_give_python_that_reads_the_right_values() {
    let dir = tmp("py");
    for schema in accepted() {
        let py = dir.join(format!("m_{}.py", schema.name));
        std::fs::write(
            &py,
            generate(
                Lang::Python,
                &schema,
                "a source with \"\"\" \\N{x} \u{1f600}",
            )
            .unwrap(),
        )
        .unwrap();
        let payload: Vec<u8> = (0..schema.size).map(|i| (i * 7 + 3) as u8).collect();
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("python3")
            .args(["-c", PY_READ])
            .arg(&py)
            .arg(&hex)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            schema.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut want = Vec::new();
        leaves(&schema, &payload, 0, &mut want);
        let want: Vec<String> = want.iter().map(u64::to_string).collect();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want.join(" "),
            "{}: {}",
            schema.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want.join(" "),
            "{}",
            schema.name
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn have_mcs() -> bool {
    if Command::new("mcs")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    assert!(
        std::env::var_os("SHM_REQUIRE_CSHARP").is_none_or(|v| v != "1"),
        "SHM_REQUIRE_CSHARP=1 but mcs is not installed"
    );
    eprintln!("skipped: Mono's mcs is not installed; .ci/csharp.sh installs it");
    false
}

#[test]
fn accepted_descriptors_give_csharp_that_mcs_compiles() {
    if !have_mcs() {
        return;
    }
    let dir = tmp("cs");
    for schema in accepted() {
        let cs = dir.join(format!("{}.cs", schema.name));
        std::fs::write(
            &cs,
            generate(
                Lang::CSharp,
                &schema,
                "a source with \u{2028} \u{85} \u{2029}",
            )
            .unwrap(),
        )
        .unwrap();
        run(Command::new("mcs")
            .args(["-unsafe", "-warnaserror", "-nologo", "-target:library"])
            .arg(format!("-out:{}", dir.join("x.dll").display()))
            .arg(&cs));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// In C#, nested structs are members of the root struct: a field and a
/// nested struct that both take a reserved name would both get the `_`
/// suffix, and that collision is reported.
#[test]
fn csharp_field_and_nested_struct_with_one_reserved_name_are_an_error() {
    let schema = st(
        "Data",
        vec![
            ("StructLayout", p(Prim::U32)),
            ("x", s(st("StructLayout", vec![("v", p(Prim::U32))]))),
        ],
    );
    let err = generate(Lang::CSharp, &schema, "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`StructLayout_`"), "{err}");
    generate(Lang::C, &schema, "t").unwrap();
    generate(Lang::Python, &schema, "t").unwrap();
}

/// C# unrolls an array of structs into `field_0`, `field_1`...: a field
/// already called `field_0` is a collision, reported.
#[test]
fn csharp_unrolled_names_that_collide_are_an_error() {
    let inner = st("Inner", vec![("v", p(Prim::U32))]);
    let schema = st(
        "Data",
        vec![
            (
                "pair",
                TypeInfo::Array {
                    elem: Box::new(s(inner)),
                    len: 2,
                },
            ),
            ("pair_1", p(Prim::U32)),
        ],
    );
    let err = generate(Lang::CSharp, &schema, "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`pair_1`"), "{err}");
    // C and Python have arrays: no collision there.
    generate(Lang::C, &schema, "t").unwrap();
    generate(Lang::Python, &schema, "t").unwrap();
}

/// A hostile `source` (the segment name of `shm codegen --segment`, a file
/// path) is escaped in every language: only printable ASCII reaches the
/// output, and no comment is closed early.
#[test]
fn hostile_source_text_is_escaped() {
    let schema = st("Data", vec![("a", p(Prim::U32))]);
    let source = "x */ int evil; /* ??/\n\u{2028}\u{85}\u{202e}\u{1f600}\"\"\" \\";
    for lang in Lang::ALL {
        let text = generate(lang, &schema, source).unwrap();
        assert!(
            text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
            "{lang:?}: {:?}",
            text.chars()
                .find(|c| !(*c == '\n' || (' '..='~').contains(c)))
        );
        if lang == Lang::C {
            assert!(!text.contains("int evil; /*"), "{text}");
        }
        if lang == Lang::C {
            assert!(!text.contains("??/"), "{text}");
        }
    }
}

/// Every class the Python module generates for a struct keeps its name:
/// no other statement of the module binds that name (an import, a function,
/// the reader class), and no function or method has a parameter or local
/// of that name. Checked on the generated source with Python's `symtable`,
/// so a name the module starts using later is caught too.
const PY_NAMES: &str = r#"
import ast, symtable, sys
src = open(sys.argv[1]).read()
tree = ast.parse(src)
def struct(n):
    return isinstance(n, ast.ClassDef) and n.name != "SegmentHeader" and any(
        getattr(b, "attr", None) == "Structure" for b in n.bases)
classes = {n.name for n in tree.body if struct(n)}
bad = []
for n in tree.body:
    bound = set()
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        bound = {(a.asname or a.name).split(".")[0] for a in n.names}
    elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
        if not struct(n):
            bound = {n.name}
    elif isinstance(n, ast.Assign):
        bound = {t.id for t in n.targets if isinstance(t, ast.Name)}
    bad += [f"module-level {b}" for b in bound & classes]
def walk(t):
    for c in t.get_children():
        if c.get_type() == "function":
            for s in c.get_symbols():
                if s.get_name() in classes and (s.is_local() or s.is_parameter()):
                    bad.append(f"{c.get_name()}: local {s.get_name()}")
        walk(c)
walk(symtable.symtable(src, sys.argv[1], "exec"))
if bad:
    sys.exit("collisions: " + ", ".join(sorted(set(bad))))
"#;

/// Structs named like what the generated modules and headers add around the
/// types: Python's reader (`attach`, `Segment`, `open_segment`, the
/// modules `os` and `mmap`, `self` and the other locals of its methods);
/// C's `<root>_check` locals and parameters (`view`, `err`).
fn named_like_the_readers() -> Vec<Schema> {
    let one = |n: &str| st(n, vec![("x", p(Prim::U32))]);
    let names = [
        "os",
        "mmap",
        "attach",
        "Segment",
        "open_segment",
        "_posixshmem",
        "name",
        "fd",
        "m",
        "seg",
        "exc",
        "view",
        "err",
    ];
    let fields: Vec<(String, TypeInfo)> =
        names.iter().map(|n| (format!("f{n}"), s(one(n)))).collect();
    let nested = st(
        "Nested",
        fields
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect(),
    );
    let mut out = vec![nested];
    for root in ["self", "Segment", "view", "err", "attach"] {
        let mut r = st(root, vec![("a", p(Prim::U64)), ("b", p(Prim::U8))]);
        r.name = root.to_owned();
        out.push(r);
    }
    out
}

#[test]
fn structs_named_like_the_readers_own_names_keep_their_names() {
    let dir = tmp("readers");
    for schema in named_like_the_readers() {
        if let Err(e) = decode(&schema.encode()) {
            panic!("{}: {e}", schema.name);
        }
        let py = dir.join(format!("m_{}.py", schema.name));
        std::fs::write(&py, generate(Lang::Python, &schema, "src").unwrap()).unwrap();
        let out = Command::new("python3")
            .args(["-c", PY_NAMES])
            .arg(&py)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            schema.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let payload: Vec<u8> = (0..schema.size).map(|i| (i * 7 + 3) as u8).collect();
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("python3")
            .args(["-c", PY_READ])
            .arg(&py)
            .arg(&hex)
            .output()
            .unwrap();
        let mut want = Vec::new();
        leaves(&schema, &payload, 0, &mut want);
        let want: Vec<String> = want.iter().map(u64::to_string).collect();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want.join(" "),
            "{}: {}",
            schema.name,
            String::from_utf8_lossy(&out.stderr)
        );
        // C: the header compiles pedantically, and `<root>_check` on a
        // segment image accepts it (sizeof and _Alignof name the type).
        let h = dir.join(format!("{}.h", schema.name));
        std::fs::write(&h, generate(Lang::C, &schema, "src").unwrap()).unwrap();
        let c = dir.join(format!("{}.c", schema.name));
        std::fs::write(
            &c,
            format!(
                "#include \"{}\"\nint main(void) {{ return 0; }}\n",
                h.display()
            ),
        )
        .unwrap();
        run(Command::new("gcc")
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wpedantic",
                "-c",
                "-o",
            ])
            .arg(dir.join("x.o"))
            .arg(&c));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// C#: nested structs (members of the root struct, so in scope inside its
/// `Reader`) named like what the reader uses: `Volatile` (its loads), the
/// `Threading` namespace, the reader's members.
#[test]
fn csharp_structs_named_like_the_readers_own_names_compile() {
    if !have_mcs() {
        return;
    }
    let dir = tmp("cs-readers");
    let names = [
        "Volatile",
        "Threading",
        "Load",
        "Check",
        "TryCopy",
        "TryRead",
        "Header",
        // The Segment class and its helpers.
        "Thread",
        "Interlocked",
        "Segment",
        "ShmException",
        "TakeOver",
        "Native",
        "Win32",
        "Validate",
        "Bad",
        "StrError",
        "Utf8Invalid",
        "DecodeStr",
        "EncodeStr",
        "Reader",
    ];
    let fields: Vec<(String, TypeInfo)> = names
        .iter()
        .map(|n| (format!("f{n}"), s(st(n, vec![("x", p(Prim::U32))]))))
        .collect();
    let schema = st(
        "Data",
        fields
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect(),
    );
    let cs = dir.join("Data.cs");
    std::fs::write(&cs, generate(Lang::CSharp, &schema, "src").unwrap()).unwrap();
    run(Command::new("mcs")
        .args(["-unsafe", "-warnaserror", "-nologo", "-target:library"])
        .arg(format!("-out:{}", dir.join("x.dll").display()))
        .arg(&cs));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Names that C++ reserves (`new`, `this`, `template`, `char16_t`) and
/// that the POSIX and Linux headers of the C header's waiter and writer
/// declare (`errno`, `stdin`, `EAGAIN`, `SEEK_SET` as fields, which those
/// headers define as macros; `read`, `FILE`, `pid_t`, `timespec`, `kill`
/// as structs), with an enum and a string: the C header compiles as C11
/// and C++17, each in a strict POSIX mode too, warnings as errors.
#[test]
fn cpp_keywords_and_posix_names_give_c_that_compiles_as_c_and_cpp() {
    let dir = tmp("cpp");
    let one = |n: &str| st(n, vec![("x", p(Prim::U32))]);
    let schema = st(
        "Posix",
        vec![
            ("new", p(Prim::U32)),
            ("this", p(Prim::U32)),
            ("template", p(Prim::U32)),
            ("char16_t", p(Prim::U16)),
            ("errno", p(Prim::U32)),
            ("stdin", p(Prim::U32)),
            ("EAGAIN", p(Prim::U32)),
            ("SEEK_SET", p(Prim::U32)),
            ("flag", p(Prim::Bool)),
            ("r", s(one("read"))),
            ("f", s(one("FILE"))),
            ("pid", s(one("pid_t"))),
            ("ts", s(one("timespec"))),
            ("k", s(one("kill"))),
            (
                "mode",
                TypeInfo::Enum(Box::new(EnumInfo {
                    name: "class".to_owned(),
                    repr: Prim::U8,
                    variants: vec![("Idle".to_owned(), 0), ("Run".to_owned(), 1)],
                })),
            ),
            ("label", TypeInfo::Str { cap: 5 }),
        ],
    );
    let h = dir.join("posix.h");
    std::fs::write(&h, generate(Lang::C, &schema, "t").unwrap()).unwrap();
    let c = dir.join("posix.c");
    std::fs::write(
        &c,
        format!(
            "#include \"{}\"\nint main(void) {{ return 0; }}\n",
            h.display()
        ),
    )
    .unwrap();
    for (cc, lang) in [
        ("gcc", &["-std=c11"][..]),
        ("g++", &["-std=c++17", "-x", "c++"][..]),
    ] {
        for posix in [&[][..], &["-D_POSIX_C_SOURCE=200809L"][..]] {
            run(Command::new(cc)
                .args(lang)
                .args(posix)
                .args(["-Wall", "-Wextra", "-Werror", "-Wpedantic", "-c", "-o"])
                .arg(dir.join("posix.o"))
                .arg(&c));
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
