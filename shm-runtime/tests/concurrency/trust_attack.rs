//! Attacks on "one writer at a time" beyond `trust.rs`: a writer whose
//! writer lock's descriptor is closed under it, a claim word overwritten by
//! a process with write access, and `fork` during an `update`.

use std::time::Duration;

use crate::trust::{assert_busy, assert_watched_clean, wait_for_a_write, watcher};
use schemas::Alphabet;
use shm_runtime::{Error, Options};

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

/// Writes `word` into the claim word (header offset 144) of the POSIX
/// object `name`, as a process with write access may.
fn write_claim_word(name: &str, word: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.trim_start_matches('/')))
        .unwrap();
    f.write_all_at(&word.to_ne_bytes(), 144).unwrap();
}

/// The claim word (header offset 144) of the POSIX object `name`.
fn read_claim_word(name: &str) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/dev/shm/{}", name.trim_start_matches('/'))).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, 144).unwrap();
    u64::from_ne_bytes(b)
}

#[test]
fn a_claim_word_overwritten_while_another_process_writes_gives_nobody_write_access() {
    let (name, _c, seg) = fresh("forgedword");
    // This process's own claim word, as a claim records it.
    let (mine, _c2, other) = fresh("forgedword-mine");
    other.claim_writer(Duration::ZERO).unwrap();
    let me = read_claim_word(&mine);
    drop(other);
    assert_eq!(me as u32, std::process::id());
    let watch = watcher(&name, "ro");
    let mut w = spawn("writer", &name, "");
    w.expect("ready");
    let writer = w.pid();
    for forged in [me, u64::MAX, 1, 0] {
        write_claim_word(&name, forged);
        // The writer's lock is held: nobody else gets write access, and
        // no handle of this process believes it has it.
        match seg.claim_writer(Duration::ZERO) {
            Err(Error::WriterBusy { .. }) => {}
            other => panic!("forged {forged:#x}: expected WriterBusy, got {other:?}"),
        }
        assert!(!seg.is_writer());
        assert!(matches!(
            seg.write(&crate::snapshot::snapshot(7)),
            Err(Error::NotWriter { .. })
        ));
        seg.release_writer().unwrap();
        drop(
            Options::posix(&name)
                .claim_writer(false)
                .open::<Alphabet>()
                .unwrap(),
        );
        // Nothing here touched the word.
        assert_eq!(read_claim_word(&name), forged);
        let v = seg.version();
        wait_for_a_write(&seg, v, "the writer writes on");
    }
    write_claim_word(&name, u64::from(writer));
    let rest = w.finish();
    assert!(rest.contains("wrote writes="), "{rest}");
    assert_watched_clean(watch);
}

#[test]
fn a_child_forked_during_an_update_neither_hangs_nor_writes() {
    let (name, _c, seg) = fresh("forkupdate");
    let mut p = spawn("forkupdate", &name, "");
    let parent = p.pid();
    let line = p.expect("child write=");
    assert_eq!(field(&line, "write"), "notwriter", "{line}");
    assert_eq!(field(&line, "release"), "ok", "{line}");
    assert_eq!(field(&line, "claim"), "busy", "{line}");
    assert_eq!(num(&line, "pid"), u64::from(parent), "{line}");
    p.expect("child dropped");
    assert_eq!(field(&p.expect("parent done"), "is_writer"), "true");
    p.finish();
    // The parent released write access on exit: free.
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
}

#[test]
fn a_killed_writer_of_a_file_segment_is_taken_over_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let path = std::env::temp_dir().join(test_support::unique("cc-file-kill"));
    let _c = test_support::Cleanup(Options::file(&path));
    let seg = Options::file(&path)
        .create_new()
        .claim_writer(false)
        .open_with(&crate::snapshot::snapshot(0))
        .unwrap();
    let name = format!("file={}", path.to_str().unwrap());
    let watch = watcher(&name, "ro");
    let mut w = spawn("writer", &name, "");
    w.expect("ready");
    let writer = w.pid();
    assert_busy(seg.claim_writer(Duration::ZERO), writer);
    let v = seg.version();
    wait_for_a_write(&seg, v, "the writer writes");
    w.child().kill().unwrap();
    let status = w.child().wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status}");
    // The kernel released its lock: taken over without waiting.
    let t = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(t.previous_pid, Some(writer));
    let v = seg.version();
    seg.write(&crate::snapshot::snapshot(v + 1)).unwrap();
    assert_watched_clean(watch);
}
