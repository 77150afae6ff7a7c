//! The workspace README's tour is the crate's front page (`README.md`,
//! included by `lib.rs`, where its example runs as a doctest): the two
//! copies must stay identical.

use std::path::Path;

/// The `## A tour` section of a markdown file, up to the next `## `.
fn tour(path: &Path) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let start = text
        .find("\n## A tour\n")
        .unwrap_or_else(|| panic!("{} has no `## A tour` section", path.display()))
        + 1;
    let end = text[start + 1..]
        .find("\n## ")
        .map_or(text.len(), |i| start + 1 + i + 1);
    text[start..end].trim_end().to_owned()
}

#[test]
fn workspace_readme_tour_is_the_crate_front_page() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = tour(&crate_dir.join("../README.md"));
    let front_page = tour(&crate_dir.join("README.md"));
    assert!(
        workspace == front_page,
        "the `## A tour` sections of README.md and shm-runtime/README.md differ; \
         edit one and copy it to the other\n--- README.md\n{workspace}\n--- shm-runtime/README.md\n{front_page}"
    );
}
