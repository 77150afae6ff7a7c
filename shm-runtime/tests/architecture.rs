//! The runtime's structure, checked: every import inside `shm-runtime/src`
//! points down (no module imports one that imports it back, directly or
//! through others), and no source file is over 800 lines, tests included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/x.rs` and `src/x/...` are
/// `x`; `private.rs` is mounted as `__private`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    match first.trim_end_matches(".rs") {
        "private" => "__private".to_owned(),
        m => m.to_owned(),
    }
}

/// The crate-root names `lib.rs` re-exports, and the module each comes from.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}');
        for name in names.split(',') {
            out.insert(name.trim().to_owned(), module.to_owned());
        }
    }
    out
}

/// The modules of this crate that `code` names through `crate::`.
fn imports(code: &str, exports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(m) = exports.get(&name) {
                out.insert(m.clone());
            } else if name
                .chars()
                .next()
                .is_some_and(|c| c.is_lowercase() || c == '_')
            {
                out.insert(name);
            } else if after.starts_with('{') {
                // `use crate::{a, b::C}`: each path's first segment.
                let group = &after[1..after.find('}').unwrap_or(after.len())];
                for path in group.split(',') {
                    let first = path.trim().split("::").next().unwrap_or("");
                    match exports.get(first) {
                        Some(m) => out.insert(m.clone()),
                        None if !first.is_empty() => out.insert(first.to_owned()),
                        None => false,
                    };
                }
            }
            rest = after;
        }
    }
    out
}

#[test]
fn imports_inside_the_runtime_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let exports = root_exports(&lib);
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        if file.ends_with("lib.rs") {
            continue;
        }
        let module = module_of(&src, file);
        let code = std::fs::read_to_string(file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(
            imports(&code, &exports)
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}\n(graph: {graph:#?})", cycle.join(" -> "));
        }
    }
    // The check sees the imports it should.
    assert!(graph["shared"].contains("mapping"), "{graph:#?}");
    assert!(graph["options"].contains("shared"), "{graph:#?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}
