//! Trust, "one writer at a time, really" (issue 13, class 2): write access
//! across `fork`, a writer whose main thread has exited while another
//! thread writes, and writers in threads. Every test runs a checking
//! reader throughout: no snapshot it gets may be torn.

use std::time::Duration;

use schemas::Alphabet;
use shm_runtime::{Error, Options, Shared, TakeOver};
use test_support::{ChildRole, Cleanup, unique};

use crate::snapshot::snapshot;
use crate::{assert_clean, field, fresh, num, owner, spawn};

/// A reader process checking every snapshot until stdin closes.
pub(crate) fn watcher(name: &str, mode: &str) -> ChildRole {
    let mut w = spawn("watch", name, mode);
    w.expect("watching");
    w
}

/// Ends a watcher and asserts it never read a torn or mismatched value.
pub(crate) fn assert_watched_clean(w: ChildRole) {
    let rest = w.finish();
    let line = rest
        .lines()
        .find(|l| l.contains("checked"))
        .expect("checked line");
    let line = &line[line.find("checked").unwrap()..];
    println!("watcher: {line}");
    assert_clean(line);
}

/// SIGKILLs the role process `p` and reaps it, keeping its stdin open
/// (`ChildRole::kill` closes it): the child it forked shares that stdin.
fn kill_parent(p: &mut ChildRole) {
    use std::os::unix::process::ExitStatusExt;
    p.child().kill().expect("kill the role process");
    loop {
        if let Some(status) = p.child().try_wait().expect("reap the role process") {
            assert_eq!(status.signal(), Some(9), "{status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `WriterBusy` naming `pid`, from another process.
pub(crate) fn assert_busy(r: Result<Option<TakeOver>, Error>, pid: u32) {
    match r {
        Err(Error::WriterBusy {
            pid: p,
            this_process,
            ..
        }) => {
            assert_eq!(p, pid);
            assert!(!this_process);
        }
        other => panic!("expected WriterBusy naming {pid}, got {other:?}"),
    }
}

#[test]
fn a_forked_child_cannot_write_through_the_inherited_handle_and_claims_for_itself() {
    let (name, _c, seg) = fresh("fork-claim");
    let watch = watcher(&name, "rw");
    let mut p = spawn("fork", &name, "claim");
    let parent = p.pid();
    // Not `expect("forked")` first: the child may print before the parent.
    let line = p.expect("child pid=");
    let child = num(&line, "pid") as u32;
    // The inherited handle does not hold write access in the child.
    assert_eq!(field(&line, "is_writer"), "false", "{line}");
    assert_eq!(field(&line, "write"), "notwriter", "{line}");
    // The child may claim for itself: busy while the parent lives.
    let line = p.expect("child claim=");
    assert_eq!(field(&line, "claim"), "busy", "{line}");
    assert_eq!(num(&line, "pid"), u64::from(parent), "{line}");
    assert_eq!(field(&line, "this_process"), "false", "{line}");
    assert_eq!(owner(&seg), Some(parent));
    // The parent dies: the child takes over from it, and is the writer.
    kill_parent(&mut p);
    p.poke();
    let line = p.expect("child claim=");
    assert_eq!(field(&line, "claim"), "ok", "{line}");
    assert!(
        field(&line, "take_over").starts_with(&format!("prev:{parent},complete:true")),
        "{line}"
    );
    assert_eq!(field(&p.expect("child wrote"), "write"), "ok");
    assert_eq!(owner(&seg), Some(child));
    assert_busy(seg.claim_writer(Duration::ZERO), child);
    // The child exits holding write access: taken over from it.
    drop(p);
    let t = seg.claim_writer(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(t.previous_pid, Some(child));
    let v = seg.version();
    seg.write(&snapshot(v + 1)).unwrap();
    assert_watched_clean(watch);
}

#[test]
fn a_forked_child_dropping_the_inherited_handle_leaves_the_parent_the_writer() {
    let (name, _c, seg) = fresh("fork-drop");
    let watch = watcher(&name, "ro");
    let mut p = spawn("fork", &name, "drop");
    let parent = p.pid();
    // Not `expect("forked")` first: the child may print before the parent.
    let line = p.expect("child pid=");
    assert_eq!(field(&line, "write"), "notwriter", "{line}");
    p.expect("child dropped");
    // The parent still holds write access, and writes.
    assert_eq!(owner(&seg), Some(parent));
    assert_busy(seg.claim_writer(Duration::ZERO), parent);
    let v = seg.version();
    wait_for_a_write(&seg, v, "the parent writes on");
    let rest = p.finish();
    let line = rest
        .lines()
        .find(|l| l.contains("parent wrote"))
        .unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(num(line, "errors"), 0, "{line}");
    assert_eq!(field(line, "is_writer"), "true", "{line}");
    assert_watched_clean(watch);
}

/// A forked child that keeps the inherited handle keeps the descriptor,
/// and with it the writer's lock: a dead parent counts as alive until the
/// child drops the handle (or exits). Nobody writes meanwhile.
#[test]
fn a_forked_child_keeping_the_inherited_handle_keeps_the_dead_parent_alive() {
    let (name, _c, seg) = fresh("fork-hold");
    let mut p = spawn("fork", &name, "hold");
    let parent = p.pid();
    // Not `expect("forked")` first: the child may print before the parent.
    let line = p.expect("child pid=");
    assert_eq!(field(&line, "write"), "notwriter", "{line}");
    kill_parent(&mut p);
    assert!(seg.status().unwrap().header.unwrap().writer_alive);
    assert_busy(seg.claim_writer(Duration::ZERO), parent);
    p.poke();
    p.expect("child dropped");
    let t = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(t.previous_pid, Some(parent));
    assert!(t.last_write_complete);
}

/// The state of process `pid` in `/proc/<pid>/stat`.
fn proc_state(pid: u32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().next().unwrap_or("").to_owned()
}

/// A System V key no other test uses.
/// Waits (bounded by a count of looks, however loaded the machine) until
/// another process has written past version `v`.
pub(crate) fn wait_for_a_write(seg: &Shared<Alphabet>, v: u64, what: &str) {
    let mut looks = 0;
    while seg.version() == v {
        looks += 1;
        assert!(looks < 20_000, "{what}: no write seen");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn unique_key(tag: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in unique(tag).bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    ((h & 0x7fff_ffff) | 0x4000_0000) as i32
}

/// The writer's main thread exits (`pthread_exit`): `/proc/<pid>/stat`
/// says `Z`, but its writer thread still writes. It is alive: nobody
/// takes over, and no reader sees a torn value.
fn main_thread_exited(name: &str, seg: &Shared<Alphabet>) {
    let watch = watcher(name, "ro");
    let mut p = spawn("leaderexit", name, "");
    let writer = num(&p.expect("ready"), "pid") as u32;
    let mut looks = 0;
    while proc_state(writer) != "Z" {
        looks += 1;
        assert!(looks < 10_000, "the main thread of {writer} did not exit");
        std::thread::sleep(Duration::from_millis(1));
    }
    let v = seg.version();
    let hs = seg.status().unwrap().header.unwrap();
    assert_eq!(hs.writer_pid, Some(writer));
    assert!(
        hs.writer_alive,
        "a writer with a live thread counts as dead"
    );
    assert_busy(seg.claim_writer(Duration::ZERO), writer);
    wait_for_a_write(seg, v, "its thread writes on");
    let rest = p.finish();
    let line = rest
        .lines()
        .find(|l| l.contains("thread wrote"))
        .unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(num(line, "errors"), 0, "{line}");
    assert_watched_clean(watch);
    // Its thread dropped the handle: write access is free.
    assert_eq!(seg.claim_writer(Duration::from_secs(10)).unwrap(), None);
}

#[test]
fn a_writer_whose_main_thread_exited_is_alive_while_a_thread_writes() {
    let (name, _c, seg) = fresh("leader");
    main_thread_exited(&name, &seg);
}

/// The same over System V, which has no descriptor to lock: the `/proc`
/// fallback must see the live thread.
#[test]
fn a_sysv_writer_whose_main_thread_exited_is_alive_while_a_thread_writes() {
    let key = unique_key("leader-sysv");
    let _c = Cleanup(Options::sysv(key));
    let seg = Options::sysv(key)
        .create_new()
        .claim_writer(false)
        .open_with(&snapshot(0))
        .unwrap();
    main_thread_exited(&format!("sysv={key}"), &seg);
}

#[test]
fn writers_in_threads_of_one_process_are_one_writer() {
    let (name, _c, seg) = fresh("threads");
    let watchers = [watcher(&name, "ro"), watcher(&name, "rw")];
    let mut p = spawn("threads", &name, "4");
    let line = p.expect("second handle");
    assert_eq!(field(&line, "this_process"), "true", "{line}");
    p.expect("threads ready");
    assert_busy(seg.claim_writer(Duration::ZERO), p.pid());
    let v = seg.version();
    wait_for_a_write(&seg, v, "the threads write");
    std::thread::sleep(Duration::from_millis(100));
    let rest = p.finish();
    let line = rest
        .lines()
        .find(|l| l.contains("threads wrote"))
        .unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(num(line, "errors"), 0, "{line}");
    assert!(num(line, "writes") > 0, "{line}");
    for w in watchers {
        assert_watched_clean(w);
    }
}
