//! The C functions of rings and queues anywhere in a schema: in arrays of
//! nested structs, with messages of every kind (a struct used only as a
//! message, an enum, a bool, a string, an array), named by their field
//! path; a header that compiles as C11 and C++17; and two streams whose
//! function names would collide refused with an error naming both.

use std::process::Command;

use shm_codegen::{Lang, generate};
use shm_runtime::Prim;
use shm_runtime::descriptor::{EnumInfo, FieldInfo, Schema, TypeInfo};

/// A struct of consecutive fields (each aligned), padded to its alignment.
fn st(name: &str, fields: Vec<(&str, TypeInfo)>) -> Schema {
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut align = 1u64;
    for (n, ty) in fields {
        let a = ty.align();
        at = at.next_multiple_of(a);
        align = align.max(a);
        out.push(FieldInfo {
            name: n.to_owned(),
            offset: at,
            size: ty.size(),
            ty,
        });
        at += out.last().unwrap().size;
    }
    Schema {
        name: name.to_owned(),
        version: 1,
        size: at.next_multiple_of(align),
        align,
        fields: out,
    }
}

fn ring(elem: TypeInfo, cap: u64) -> TypeInfo {
    TypeInfo::Ring {
        elem: Box::new(elem),
        cap,
    }
}

fn queue(elem: TypeInfo, cap: u64) -> TypeInfo {
    TypeInfo::Queue {
        elem: Box::new(elem),
        cap,
    }
}

fn cell() -> Schema {
    let mode = TypeInfo::Enum(Box::new(EnumInfo {
        name: "Mode".into(),
        repr: Prim::U8,
        variants: vec![("Idle".into(), 0), ("Run".into(), 1)],
    }));
    let sample = st(
        "Sample",
        vec![
            ("at", TypeInfo::Prim(Prim::U64)),
            ("ok", TypeInfo::Prim(Prim::Bool)),
        ],
    );
    let arm = st(
        "Arm",
        vec![
            ("id", TypeInfo::Prim(Prim::U64)),
            ("log", ring(TypeInfo::Struct(Box::new(sample)), 4)),
        ],
    );
    st(
        "Cell",
        vec![
            ("state", TypeInfo::Prim(Prim::U64)),
            (
                "arms",
                TypeInfo::Array {
                    elem: Box::new(TypeInfo::Struct(Box::new(arm))),
                    len: 2,
                },
            ),
            ("modes", queue(mode, 2)),
            ("flags", ring(TypeInfo::Prim(Prim::Bool), 2)),
            ("names", ring(TypeInfo::Str { cap: 3 }, 8)),
            (
                "raw",
                queue(
                    TypeInfo::Array {
                        elem: Box::new(TypeInfo::Prim(Prim::U16)),
                        len: 3,
                    },
                    1,
                ),
            ),
        ],
    )
}

#[test]
fn streams_in_arrays_of_structs_get_functions_named_by_their_path() {
    let schema = cell();
    let h = generate(Lang::C, &schema, "a test").unwrap();
    for f in [
        "cell_arms_0_log_subscribe",
        "cell_arms_1_log_publish",
        "cell_modes_consumer_claim",
        "cell_modes_try_send",
        "cell_flags_try_recv",
        "cell_flags_recv_batch",
        "cell_names_recv_timeout",
        "cell_raw_peek",
    ] {
        assert!(h.contains(&format!(" {f}(")), "{f}");
    }
    for t in [
        "typedef Sample cell_arms_0_log_msg;",
        "typedef Mode cell_modes_msg;",
        "typedef uint8_t cell_flags_msg;",
        "typedef shm_str3 cell_names_msg;",
        "typedef uint16_t cell_raw_msg[3];",
        "#define CELL_ARMS_1_LOG_CAPACITY UINT64_C(4)",
        // The struct used only as a message is declared, with its check.
        "static inline int shm_validate_Sample(",
    ] {
        assert!(h.contains(t), "{t}");
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("codegen-c-streams");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cell.h"), &h).unwrap();
    let unit = dir.join("unit.c");
    std::fs::write(&unit, "#include \"cell.h\"\nint main(void) { return 0; }\n").unwrap();
    for (cc, lang) in [
        ("gcc", &["-std=c11"][..]),
        ("g++", &["-std=c++17", "-x", "c++"][..]),
    ] {
        if !Command::new(cc)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("{cc} is not installed: skipped");
            continue;
        }
        let out = Command::new(cc)
            .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"])
            .args(lang)
            .arg(&unit)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cc}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn streams_whose_function_names_collide_are_refused() {
    let inner = st("Inner", vec![("b", ring(TypeInfo::Prim(Prim::U8), 1))]);
    let schema = st(
        "Two",
        vec![
            ("a_b", ring(TypeInfo::Prim(Prim::U8), 1)),
            ("a", TypeInfo::Struct(Box::new(inner))),
        ],
    );
    let e = generate(Lang::C, &schema, "a test")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`a_b`") && e.contains("`a.b`"), "{e}");
    assert!(e.contains("two_a_b_msg"), "{e}");
}
