//! Where a [`Schema`] comes from when there is no live segment: a Rust
//! schema's compile-time layout (for `build.rs` scripts and tests) or a
//! schema descriptor file written by `shm describe`; and writing the
//! generated bindings to files.
//!
//! There is one converter from a layout to a [`Schema`]
//! ([`Schema::from_layout`], which [`header_schema`](crate::header_schema)
//! and the `shm` tool use too) and one validator of descriptor bytes
//! ([`shm_runtime::descriptor::decode`], the one that checks every
//! segment's descriptor).

use std::io::Read;
use std::path::{Path, PathBuf};

use shm_runtime::descriptor::{self, Schema};
use shm_runtime::header::MAX_DESCRIPTOR_LEN;
use shm_runtime::tools::EscapedBytes;
use shm_runtime::{LayoutDesc, SharedLayout};

use crate::{Error, Lang, file_name, generate};

/// The conventional extension of a schema descriptor file
/// (`shm describe NAME > my_share.shmschema`).
pub const DESCRIPTOR_FILE_EXTENSION: &str = "shmschema";

/// The schema of a compile-time layout (`T::LAYOUT` of a
/// `#[derive(SharedLayout)]` struct): the same [`Schema`] a segment created
/// with `T` describes, so bindings generated from it match those generated
/// from such a segment's descriptor.
pub fn from_layout(layout: &LayoutDesc) -> Schema {
    Schema::from_layout(layout)
}

/// The `source` note (see [`generate`]) for a schema taken from a Rust
/// type's compile-time layout.
pub fn layout_source(schema: &Schema) -> String {
    format!(
        "the compile-time layout of the Rust schema `{}`",
        schema.name
    )
}

/// Generates the bindings in `lang` for the Rust schema `T`, from its
/// compile-time layout alone (no segment needed): what a `build.rs` script
/// calls.
///
/// ```
/// use shm_codegen::{Lang, generate_for};
/// use shm_runtime::SharedLayout;
///
/// /// A point.
/// #[derive(SharedLayout, Clone, Copy)]
/// #[repr(C)]
/// struct Point {
///     /// Horizontal.
///     x: f64,
///     /// Vertical.
///     y: f64,
/// }
///
/// let header = generate_for::<Point>(Lang::C)?;
/// assert!(header.contains("Point"));
/// let module = generate_for::<Point>(Lang::Python)?;
/// assert!(module.contains("Point"));
/// # Ok::<(), shm_codegen::Error>(())
/// ```
pub fn generate_for<T: SharedLayout>(lang: Lang) -> Result<String, Error> {
    let schema = from_layout(&T::LAYOUT);
    generate(lang, &schema, &layout_source(&schema))
}

/// The schema in a descriptor's bytes (the format of `docs/FORMAT.md`,
/// "Schema descriptor", which is also the format of a `.shmschema` file),
/// validated exactly as a segment's descriptor is: the bytes are untrusted,
/// and anything wrong is an error naming the byte and the problem, with
/// nothing from the bytes shown unescaped.
pub fn from_descriptor(bytes: &[u8]) -> Result<Schema, Error> {
    if bytes.len() > MAX_DESCRIPTOR_LEN as usize {
        return Err(Error(format!(
            "a schema descriptor is at most {MAX_DESCRIPTOR_LEN} bytes; this one is {}",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(Error("the schema descriptor is empty".into()));
    }
    // `DescriptorError`'s Display escapes what it quotes.
    let schema = descriptor::decode(bytes).map_err(|e| Error(format!("not a valid {e}")))?;
    // A segment holds two copies of the payload, and is mapped whole: a
    // schema no segment could hold on this machine is refused, as opening
    // such a segment would be.
    if schema
        .size
        .checked_mul(2)
        .is_none_or(|n| n > isize::MAX as u64)
    {
        return Err(Error(format!(
            "schema `{}` is {} bytes: no segment can hold two copies of it on this machine",
            schema.name, schema.size
        )));
    }
    Ok(schema)
}

/// Reads a descriptor from `input` (at most [`MAX_DESCRIPTOR_LEN`] bytes
/// are read, whatever the input holds) and validates it with
/// [`from_descriptor`]. `what` names the input in errors (shown escaped).
pub fn read_descriptor(input: impl Read, what: &str) -> Result<Schema, Error> {
    let what = EscapedBytes(what.as_bytes());
    let mut bytes = Vec::new();
    input
        .take(u64::from(MAX_DESCRIPTOR_LEN) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error(format!("cannot read {what}: {e}")))?;
    if bytes.len() > MAX_DESCRIPTOR_LEN as usize {
        return Err(Error(format!(
            "{what} is larger than {MAX_DESCRIPTOR_LEN} bytes, the most a schema descriptor may be"
        )));
    }
    from_descriptor(&bytes).map_err(|e| Error(format!("{what}: {}", e.0)))
}

/// Reads and validates the descriptor file at `path` (as written by
/// `shm describe`); see [`read_descriptor`].
pub fn read_descriptor_file(path: &Path) -> Result<Schema, Error> {
    let shown = path.to_string_lossy();
    let file = std::fs::File::open(path).map_err(|e| {
        Error(format!(
            "cannot open {}: {e}",
            EscapedBytes(path.as_os_str().as_encoded_bytes())
        ))
    })?;
    read_descriptor(file, &shown)
}

/// The `source` note (see [`generate`]) for a schema read from the
/// descriptor file `path`: its file name only (not the directory), so the
/// output does not depend on where the file is; escaped by [`generate`].
pub fn descriptor_source(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string_lossy().into_owned());
    format!("the schema descriptor file `{name}`")
}

/// Generates the bindings for `schema` in `lang` and writes them to
/// `dir`/[`file_name`]`(lang, schema)` (creating `dir` if needed),
/// returning that path. The file is left untouched when it already holds
/// exactly this text (so a `build.rs` does not make dependents rebuild for
/// nothing).
pub fn write_bindings(
    dir: &Path,
    lang: Lang,
    schema: &Schema,
    source: &str,
) -> Result<PathBuf, Error> {
    let text = generate(lang, schema, source)?;
    let path = dir.join(file_name(lang, schema));
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| {
            Error(format!(
                "cannot write {}: {e}",
                EscapedBytes(path.as_os_str().as_encoded_bytes())
            ))
        })?;
    Ok(path)
}

/// [`write_bindings`] for the Rust schema `T` in each of `langs`, from its
/// compile-time layout: the one call a `build.rs` needs, e.g.
/// `write_bindings_for::<MyShare>(&out_dir, &Lang::ALL)`.
pub fn write_bindings_for<T: SharedLayout>(
    dir: &Path,
    langs: &[Lang],
) -> Result<Vec<PathBuf>, Error> {
    let schema = from_layout(&T::LAYOUT);
    let source = layout_source(&schema);
    langs
        .iter()
        .map(|&lang| write_bindings(dir, lang, &schema, &source))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_runtime::header::Header;

    #[test]
    fn descriptor_round_trip_and_refusals() {
        let schema = from_layout(&<Header as SharedLayout>::LAYOUT);
        let bytes = schema.encode();
        assert_eq!(from_descriptor(&bytes).unwrap(), schema);
        assert_eq!(read_descriptor(&bytes[..], "x.shmschema").unwrap(), schema);
        let e = from_descriptor(&[]).unwrap_err();
        assert!(e.0.contains("empty"), "{e}");
        let e = read_descriptor(&bytes[..bytes.len() - 1], "x\u{1b}.shmschema").unwrap_err();
        assert!(
            e.0.starts_with("x\\u{1b}.shmschema: not a valid schema descriptor, byte "),
            "{e}"
        );
        let big = vec![0u8; MAX_DESCRIPTOR_LEN as usize + 10];
        let e = read_descriptor(&big[..], "big").unwrap_err();
        assert!(e.0.contains("larger than"), "{e}");
    }

    #[test]
    fn write_bindings_creates_the_directory_and_writes_each_language() {
        let dir =
            std::env::temp_dir().join(format!("shm-codegen-api-{}/nested", std::process::id()));
        let schema = crate::header_schema();
        for _ in 0..2 {
            for lang in Lang::ALL {
                let path = write_bindings(&dir, lang, &schema, "a test").unwrap();
                assert_eq!(path, dir.join(file_name(lang, &schema)));
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap(),
                    generate(lang, &schema, "a test").unwrap()
                );
            }
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
