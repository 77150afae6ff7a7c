//! Attacks on "one writer at a time" beyond `trust.rs`: a writer whose
//! writer lock's descriptor is closed under it, a claim word overwritten by
//! a process with write access, and `fork` during an `update`.

use std::time::Duration;

use crate::trust::{assert_busy, assert_watched_clean, wait_for_a_write, watcher};
use crate::{field, fresh, num, owner, spawn};

#[test]
fn a_writer_whose_lock_descriptor_was_closed_is_not_taken_over() {
    let (name, _c, seg) = fresh("closelock");
    let watch = watcher(&name, "rw");
    let mut p = spawn("closelock", &name, "");
    let child = num(&p.expect("closed"), "pid") as u32;
    // The lock is gone, but the writer lives: another process is busy.
    assert_eq!(owner(&seg), Some(child));
    assert_busy(seg.claim_writer(Duration::ZERO), child);
    // A second handle of the writer's own process is busy too.
    p.poke();
    let line = p.expect("second claim=");
    assert_eq!(field(&line, "claim"), "busy", "{line}");
    assert_eq!(field(&line, "this_process"), "true", "{line}");
    let v = seg.version();
    wait_for_a_write(&seg, v, "the writer writes on");
    assert_busy(seg.claim_writer(Duration::ZERO), child);
    let rest = p.finish();
    let line = rest
        .lines()
        .find(|l| l.contains("wrote writes="))
        .unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(num(line, "errors"), 0, "{line}");
    assert_eq!(num(line, "second_writes"), 0, "{line}");
    assert_watched_clean(watch);
    // The writer exited: taken over.
    let t = seg.claim_writer(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(t.previous_pid, Some(child));
}
