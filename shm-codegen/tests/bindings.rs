//! The generated bindings under `bindings/` are up to date with the
//! schemas of the `schemas` crate. `SHM_BLESS=1 cargo test -p shm-codegen`
//! rewrites them.

use std::path::PathBuf;

use shm_codegen::{Lang, file_name, generate, rust_source};
use shm_runtime::descriptor::Schema;

fn bindings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bindings")
}

#[test]
fn checked_in_bindings_are_up_to_date() {
    let bless = std::env::var_os("SHM_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for layout in schemas::ALL {
        let schema = Schema::from_layout(layout);
        assert_eq!(
            schema.fingerprint(),
            shm_runtime::layout::fingerprint(layout)
        );
        for lang in Lang::ALL {
            let text = generate(lang, &schema, &rust_source(&schema)).unwrap();
            let path = bindings().join(lang.name()).join(file_name(lang, &schema));
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            if old != text {
                if bless {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, text).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated bindings are out of date (run `SHM_BLESS=1 cargo test -p shm-codegen`): {stale:?}"
    );
}

#[test]
fn fingerprint_constants_match_the_compile_time_fingerprint() {
    let schema = Schema::from_layout(&<schemas::MySharedData as shm_runtime::SharedLayout>::LAYOUT);
    let fp = format!(
        "{:016x}",
        <schemas::MySharedData as shm_runtime::SharedLayout>::FINGERPRINT
    );
    for lang in Lang::ALL {
        let text = generate(lang, &schema, "test").unwrap();
        assert!(text.contains(&fp), "{lang:?} lacks the fingerprint {fp}");
    }
}
