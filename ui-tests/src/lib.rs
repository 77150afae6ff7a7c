//! Compile-fail tests live in `tests/`.
//!
//! The library itself holds one public schema so that `cargo clippy` checks
//! the derive's output against the workspace lints (`missing_docs`,
//! `clippy::undocumented_unsafe_blocks`) as a downstream library sees it.

use shm_runtime::SharedLayout;

/// A public schema: the generated `LintCheckFields` and its methods must
/// not trigger `missing_docs` or any clippy lint.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 16, align = 8, version = 2, name = "lint_check")]
pub struct LintCheck {
    /// A counter.
    pub counter: core::sync::atomic::AtomicU64,
    /// A value.
    pub value: u32,
    /// Explicit padding.
    _pad: [u8; 4],
}
