//! `docs/FORMAT.md` describes the segment header in tables; the header's
//! one declaration is the struct `shm_runtime::header::Header`. This test
//! fails when the tables drift from the struct: every row (offset, size,
//! type, field) must be a field of the struct's layout (nested structs
//! flattened, `staged.fingerprint` as `staged_fingerprint`; reserved
//! fields, named `_...`, as rows called `reserved` without a type), in
//! order, and every field must have its row.

#![allow(missing_docs)]

use shm_runtime::header::{HEADER_SIZE, Header};
use shm_runtime::{FieldDesc, SharedLayout, TypeDesc};

/// One row of a header table: offset, size, type (empty for reserved
/// bytes), field name.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    offset: usize,
    size: usize,
    ty: String,
    name: String,
}

/// The Rust spelling of a type, as the tables write it.
fn spelling(t: &TypeDesc) -> String {
    match t {
        TypeDesc::Prim(p) => p.rust_name().to_owned(),
        TypeDesc::Array { elem, len } => format!("[{}; {len}]", spelling(elem)),
        TypeDesc::Struct(l) => l.name.to_owned(),
        TypeDesc::Enum(e) => e.name.to_owned(),
        TypeDesc::Str { cap } => format!("FixedStr<{cap}>"),
        TypeDesc::Ring { elem, cap } => format!("Ring<{}, {cap}>", spelling(elem)),
        TypeDesc::Queue { elem, cap } => format!("Queue<{}, {cap}>", spelling(elem)),
    }
}

/// The rows the struct calls for.
fn expected() -> Vec<Row> {
    fn walk(prefix: &str, base: usize, fields: &[FieldDesc], out: &mut Vec<Row>) {
        for f in fields {
            match f.ty {
                TypeDesc::Struct(inner) => walk(
                    &format!("{prefix}{}_", f.name),
                    base + f.offset,
                    inner.fields,
                    out,
                ),
                ty => {
                    let reserved = f.name.starts_with('_');
                    out.push(Row {
                        offset: base + f.offset,
                        size: f.size,
                        ty: if reserved {
                            String::new()
                        } else {
                            spelling(&ty)
                        },
                        name: if reserved {
                            "reserved".to_owned()
                        } else {
                            format!("{prefix}{}", f.name)
                        },
                    });
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", 0, Header::LAYOUT.fields, &mut out);
    out
}

/// The rows of the tables in the section "## Header" of FORMAT.md.
fn documented(doc: &str) -> Vec<Row> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Header"))
        .expect("FORMAT.md has a section `## Header`");
    let mut rows = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| offset | size | type | field | meaning |`: a data row starts
        // with a number.
        let (Some(offset), Some(size)) = (
            cells.get(1).and_then(|c| c.parse().ok()),
            cells.get(2).and_then(|c| c.parse().ok()),
        ) else {
            continue;
        };
        assert!(cells.len() >= 6, "row with too few cells: {line}");
        rows.push(Row {
            offset,
            size,
            ty: cells[3].trim_matches('`').to_owned(),
            name: cells[4].to_owned(),
        });
    }
    rows
}

#[test]
fn format_md_header_tables_match_the_header_struct() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");
    let doc = std::fs::read_to_string(path).expect("docs/FORMAT.md");
    let documented = documented(&doc);
    let expected = expected();
    for (i, (d, e)) in documented.iter().zip(&expected).enumerate() {
        assert_eq!(d, e, "FORMAT.md header row {i} differs from the struct");
    }
    assert_eq!(
        documented.len(),
        expected.len(),
        "FORMAT.md header tables have {} rows, the struct {} fields: {:?}",
        documented.len(),
        expected.len(),
        if documented.len() > expected.len() {
            &documented[expected.len()..]
        } else {
            &[]
        }
    );
    // The rows tile the header, as the struct's fields do.
    let mut at = 0;
    for row in &documented {
        assert_eq!(row.offset, at, "{row:?}");
        at += row.size;
    }
    assert_eq!(at, HEADER_SIZE);
}
