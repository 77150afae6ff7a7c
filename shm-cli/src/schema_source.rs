//! Where `shm layout` and `shm codegen` take a schema from: a live segment's
//! descriptor, a descriptor file written by `shm describe`, or (with the
//! `demo-schemas` feature, on by default) a schema of the demo crate
//! `schemas` by name. Only the by-name path uses that crate.

use std::io::Write;

use shm_runtime::descriptor::Schema;
use shm_runtime::tools::Escaped;

use crate::{Failure, Res, open};

/// A schema and the `source` note for generated code.
pub(crate) struct Found {
    pub schema: Schema,
    pub source: String,
}

/// The schema from `--segment NAME`.
pub(crate) fn from_segment(seg: &str) -> Res<Found> {
    let raw = open(seg)?;
    Ok(Found {
        source: format!("the descriptor of segment {}", Escaped(raw.name())),
        schema: raw.schema().clone(),
    })
}

/// The schema from `--descriptor FILE` (`-`: standard input), validated
/// like a segment's descriptor.
pub(crate) fn from_descriptor(file: &std::path::Path) -> Res<Found> {
    let schema = if file.as_os_str() == "-" {
        shm_codegen::read_descriptor(std::io::stdin().lock(), "standard input")?
    } else {
        shm_codegen::read_descriptor_file(file)?
    };
    Ok(Found {
        source: if file.as_os_str() == "-" {
            "a schema descriptor read from standard input".to_owned()
        } else {
            shm_codegen::descriptor_source(file)
        },
        schema,
    })
}

/// A schema of the demo crate `schemas`, by name.
#[cfg(feature = "demo-schemas")]
pub(crate) fn by_name(name: &str) -> Res<Found> {
    let schema = schemas::by_name(name)
        .map(shm_codegen::from_layout)
        .ok_or_else(|| {
            let known: Vec<&str> = schemas::ALL.iter().map(|l| l.name).collect();
            Failure(format!(
                "no schema `{}` in the schemas crate (it has: {}); for your own schema use \
                 --segment NAME or --descriptor FILE",
                Escaped(name),
                known.join(", ")
            ))
        })?;
    Ok(Found {
        source: shm_codegen::rust_source(&schema),
        schema,
    })
}

/// Without the demo crate, no schema is known by name.
#[cfg(not(feature = "demo-schemas"))]
pub(crate) fn by_name(name: &str) -> Res<Found> {
    Err(Failure(format!(
        "no schema `{}`: this shm was built without the demo schemas (feature \
         `demo-schemas`); use --segment NAME or --descriptor FILE",
        Escaped(name)
    )))
}

/// Every schema of the demo crate (`shm layout` without arguments).
#[cfg(feature = "demo-schemas")]
pub(crate) fn all() -> Res<Vec<Schema>> {
    Ok(schemas::ALL
        .iter()
        .map(|l| shm_codegen::from_layout(l))
        .collect())
}

/// Without the demo crate, `shm layout` needs a segment or a file.
#[cfg(not(feature = "demo-schemas"))]
pub(crate) fn all() -> Res<Vec<Schema>> {
    Err(Failure(
        "this shm was built without the demo schemas (feature `demo-schemas`): give \
         --segment NAME or --descriptor FILE"
            .into(),
    ))
}

/// `shm describe`: the exact descriptor bytes of a segment (a private,
/// validated copy: decoded, hashed against the header's fingerprint and
/// checked against the header), to `output` or standard output. Refuses to
/// write the binary descriptor to a terminal.
pub(crate) fn describe(out: &mut impl Write, seg: &str, output: Option<std::path::PathBuf>) -> Res {
    let raw = open(seg)?;
    let bytes = raw.descriptor_bytes();
    match output {
        Some(p) => std::fs::write(&p, bytes).map_err(|e| {
            Failure(format!(
                "cannot write {}: {e}",
                shm_runtime::tools::EscapedBytes(p.as_os_str().as_encoded_bytes())
            ))
        })?,
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                return Err(Failure(
                    "the descriptor is binary: redirect it to a file (`shm describe NAME > \
                     x.shmschema`) or give -o FILE"
                        .into(),
                ));
            }
            out.write_all(bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}
