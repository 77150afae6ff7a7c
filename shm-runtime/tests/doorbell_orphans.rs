//! Doorbells that outlive their segments (Linux): a writer SIGKILLed (so
//! it never closes its handle), then the segment's name removed by each
//! path there is. `Options::remove` (what `shm rm` calls) removes the
//! doorbell at once; a name removed by other means (`rm /dev/shm/N`,
//! `IPC_RMID` by another program) leaves it until this user's next
//! doorbell is made (or `tools::remove_orphaned_doorbells`), which removes
//! it; what still names a segment, or is attached, stays.
//!
//! Other tests (and other test binaries) make doorbells, and so sweep, at
//! any time: these tests assert end states only, never that an orphan is
//! still there.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use schemas::MySharedData;
use shm_runtime::tools::{doorbell_key, remove_orphaned_doorbells};
use shm_runtime::{Options, SegmentId};
use test_support::{ChildRole, Cleanup, unique};

/// Selects a child role: `KIND:NAME` (`posix`, `sysv`, `file`).
const ROLE_ENV: &str = "SHM_ORPHAN_CHILD";

/// The options of a segment of `kind` named `name`.
fn options(kind: &str, name: &str) -> Options {
    match kind {
        "posix" => Options::posix(name),
        "sysv" => Options::sysv(name.parse().unwrap()),
        "file" => Options::file(name),
        other => panic!("unknown kind {other}"),
    }
}

/// The child role: creates the segment (mode `0644`) and claims write
/// access, which makes its doorbell; prints `ready` and waits to be killed.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let (kind, name) = spec.split_once(':').unwrap();
    let seg = options(kind, name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    seg.update(|f| f.value().set(1)).unwrap();
    println!("ready");
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(seg);
}

/// A fresh segment of `kind`: (its name for `options`, its id).
fn fresh(kind: &str) -> (String, SegmentId) {
    let name = unique(&format!("orphan-{kind}"));
    match kind {
        "posix" => (name.clone(), SegmentId::Posix(format!("/{name}"))),
        "sysv" => {
            // A key no other test uses: the hash of a unique name.
            let key = doorbell_key(&SegmentId::Posix(name)).unwrap();
            (key.to_string(), SegmentId::SysV(key))
        }
        "file" => {
            let path: PathBuf = std::env::temp_dir().join(format!("{name}.seg"));
            let s = path.to_str().unwrap().to_owned();
            (s, SegmentId::File(path))
        }
        other => panic!("unknown kind {other}"),
    }
}

/// Makes the segment in a writer process, then SIGKILLs it: the doorbell
/// is left, attached by nobody.
fn killed_writer(kind: &str, name: &str, id: &SegmentId) {
    let mut w = ChildRole::start("child_role", ROLE_ENV, format!("{kind}:{name}"));
    w.expect("ready");
    assert!(doorbell(id).is_some(), "the writer made no doorbell");
    w.kill();
}

/// The doorbell's System V record: (identifier, number attached).
fn doorbell(id: &SegmentId) -> Option<(i32, libc::shmatt_t)> {
    let key = doorbell_key(id).unwrap();
    // SAFETY: shmget and shmctl get valid arguments; `ds` is zeroed, then
    // kernel-filled.
    unsafe {
        let shmid = libc::shmget(key, 0, 0);
        if shmid < 0 {
            return None;
        }
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        if libc::shmctl(shmid, libc::IPC_STAT, &mut ds) != 0 {
            return None;
        }
        assert_eq!(ds.shm_segsz, 64);
        Some((shmid, ds.shm_nattch))
    }
}

/// Removes the name as another program would: `unlink` (POSIX: the file
/// in `/dev/shm`; file) or `IPC_RMID` (System V, as `ipcrm`).
fn remove_behind_the_runtimes_back(id: &SegmentId) {
    match id {
        SegmentId::Posix(n) => std::fs::remove_file(format!("/dev/shm{n}")).unwrap(),
        SegmentId::File(p) => std::fs::remove_file(p).unwrap(),
        SegmentId::SysV(k) => {
            // SAFETY: shmget and shmctl(IPC_RMID) take no pointers to read.
            unsafe {
                let shmid = libc::shmget(*k, 0, 0);
                assert!(shmid >= 0);
                assert_eq!(libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()), 0);
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn options_remove_takes_a_killed_writers_doorbell_with_the_segment() {
    for kind in ["posix", "sysv", "file"] {
        let (name, id) = fresh(kind);
        let _c = Cleanup(options(kind, &name));
        killed_writer(kind, &name, &id);
        options(kind, &name).remove().unwrap();
        assert!(doorbell(&id).is_none(), "{kind}: the doorbell was left");
    }
}

#[test]
fn options_remove_of_a_name_already_gone_still_takes_the_doorbell() {
    for kind in ["posix", "sysv", "file"] {
        let (name, id) = fresh(kind);
        let _c = Cleanup(options(kind, &name));
        killed_writer(kind, &name, &id);
        remove_behind_the_runtimes_back(&id);
        // What `shm rm --force` does for a name already gone.
        assert!(matches!(
            options(kind, &name).remove(),
            Err(shm_runtime::Error::NotFound { .. })
        ));
        assert!(doorbell(&id).is_none(), "{kind}: the doorbell was left");
    }
}

#[test]
fn a_doorbell_whose_name_was_removed_otherwise_is_swept() {
    for kind in ["posix", "sysv"] {
        let (name, id) = fresh(kind);
        let _c = Cleanup(options(kind, &name));
        killed_writer(kind, &name, &id);
        remove_behind_the_runtimes_back(&id);
        remove_orphaned_doorbells();
        assert!(doorbell(&id).is_none(), "{kind}: the orphan was left");
    }
}

#[test]
fn the_next_doorbell_a_writer_makes_sweeps_the_orphans_first() {
    let (name, id) = fresh("posix");
    let _c = Cleanup::posix(&name);
    killed_writer("posix", &name, &id);
    remove_behind_the_runtimes_back(&id);
    // Another segment's writer, in another process, makes its doorbell.
    let (other, other_id) = fresh("posix");
    let _o = Cleanup::posix(&other);
    killed_writer("posix", &other, &other_id);
    assert!(doorbell(&id).is_none(), "the orphan was left");
    assert!(doorbell(&other_id).is_some());
}

#[test]
fn the_sweep_keeps_doorbells_of_live_names_attached_ones_and_files() {
    // The writers were killed; the names still name segments.
    let mut kept = Vec::new();
    for kind in ["posix", "sysv", "file"] {
        let (name, id) = fresh(kind);
        killed_writer(kind, &name, &id);
        kept.push((Cleanup(options(kind, &name)), id));
    }
    // A name removed while a read-only handle has the doorbell attached
    // (it waited on it).
    let (name, id) = fresh("posix");
    let _c = Cleanup::posix(&name);
    killed_writer("posix", &name, &id);
    let reader = Options::posix(&name)
        .open_read_only::<MySharedData>()
        .unwrap();
    let v = reader.version();
    let waited = reader.wait_for_change(v, std::time::Duration::from_millis(1));
    assert_eq!(waited, None);
    assert!(doorbell(&id).is_some_and(|(_, n)| n == 1));
    remove_behind_the_runtimes_back(&id);
    // A file segment's doorbell cannot be told orphaned: its name is a
    // path that is not stored. It stays until `Options::remove`.
    let (file, file_id) = fresh("file");
    let _f = Cleanup(options("file", &file));
    killed_writer("file", &file, &file_id);
    remove_behind_the_runtimes_back(&file_id);

    remove_orphaned_doorbells();
    for (c, id) in &kept {
        assert!(
            doorbell(id).is_some(),
            "{id:?}: a live name's doorbell went"
        );
        c.0.remove().unwrap();
        assert!(doorbell(id).is_none());
    }
    assert!(doorbell(&id).is_some(), "an attached doorbell went");
    drop(reader);
    assert!(doorbell(&file_id).is_some(), "a file's doorbell went");
    let _ = options("file", &file).remove();
    assert!(doorbell(&file_id).is_none());
}
