//! Helpers shared by the process tests of this crate.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use shm_runtime::Options;

/// A segment name no other test (or test run) uses: `shmtest-TAG-PID-N`.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "shmtest-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the POSIX segment when dropped, so a failing test leaves
/// nothing behind.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Options::posix(&self.0).remove();
    }
}
