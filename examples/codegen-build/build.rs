//! Generates the C header and the Python module of [`schema::Telemetry`]
//! into `OUT_DIR` at build time, from its compile-time layout: no segment,
//! no `shm` binary, and the bindings can never be stale.

use std::path::PathBuf;

use shm_codegen::Lang;

// The schema module the crate compiles too (its items are unused here
// except through the layout).
#[allow(dead_code)]
#[path = "src/schema.rs"]
mod schema;

fn main() {
    println!("cargo::rerun-if-changed=src/schema.rs");
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Writes OUT_DIR/telemetry.h and OUT_DIR/telemetry.py.
    if let Err(e) =
        shm_codegen::write_bindings_for::<schema::Telemetry>(&out, &[Lang::C, Lang::Python])
    {
        eprintln!("cannot generate the bindings of Telemetry: {e}");
        std::process::exit(1);
    }
}
