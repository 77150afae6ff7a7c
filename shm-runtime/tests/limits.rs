//! Resource limits: a segment larger than the system allows fails with a
//! clear `NoSpace` when it is created, not with SIGBUS at the first touch of
//! a page later; `Options::preallocate(true)` allocates the memory up front.
//!
//! The SIGBUS that `reserve` prevents is shown for real: on a small tmpfs
//! (mounted by the test, as root), two sparse segments that each fit alone
//! overcommit it, and a child process that touches the second one dies of
//! SIGBUS. Without root (or without permission to mount) that part prints
//! why it skips.

// 64-bit targets only: the 1 TiB schema below is larger than any 32-bit type.
#![cfg(all(target_os = "linux", target_pointer_width = "64"))]
#![allow(missing_docs)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use shm_runtime::{Error, Options, SharedLayout};

/// One tebibyte: more than any `/dev/shm` here, and than memory.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Huge {
    pub bytes: [u8; 1 << 40],
}

/// 384 KiB, so a segment (two copies of the payload) is a little over
/// 768 KiB: one fits on a 1 MiB tmpfs, two do not.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Big {
    pub bytes: [u8; 384 << 10],
}

/// A name for this process and call: [`test_support::unique`].
fn unique(tag: &str) -> String {
    test_support::unique(&format!("limits-{tag}"))
}

fn assert_no_space(r: Result<impl std::fmt::Debug, Error>, what: &str) -> String {
    match r {
        Err(e @ Error::NoSpace { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("cannot allocate"), "{msg}");
            println!("{what}: {msg}");
            msg
        }
        other => panic!("{what}: expected NoSpace, got {other:?}"),
    }
}

#[test]
fn larger_than_dev_shm_is_no_space_at_create_and_leaves_nothing() {
    let st = rustix::fs::statvfs("/dev/shm").unwrap();
    if st.f_blocks.saturating_mul(st.f_frsize) >= 1 << 40 {
        println!("skipped: /dev/shm holds 1 TiB or more here");
        return;
    }
    let name = unique("huge");
    let _ = Options::posix(&name).remove();
    for opts in [
        Options::posix(&name).create_new(),
        Options::posix(&name).create_or_open(),
        Options::posix(&name).create_new().preallocate(true),
    ] {
        let msg = assert_no_space(opts.open::<Huge>(), "posix 1 TiB");
        assert!(msg.contains("fstatvfs"), "{msg}");
        // The half-made object was removed.
        let gone = Options::posix(&name).open_read_only::<Huge>();
        assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    }
    // A file segment on /dev/shm's file system: the same check.
    let path = Path::new("/dev/shm").join(unique("huge-file"));
    assert_no_space(
        Options::file(&path).create_new().open::<Huge>(),
        "file 1 TiB",
    );
    assert!(!path.exists());
}

#[test]
fn larger_than_system_v_allows_is_no_space_at_create() {
    let key = 0x3000_0000 | ((std::process::id() as i32 & 0x00ff_ffff) << 4) | 1;
    let _ = Options::sysv(key).remove();
    // SHMMAX, SHMALL or the memory commit limit, whichever the kernel hits.
    let msg = assert_no_space(Options::sysv(key).create_new().open::<Huge>(), "sysv 1 TiB");
    assert!(msg.contains("shmget"), "{msg}");
    let gone = Options::sysv(key).open_read_only::<Huge>();
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

#[test]
fn reserve_allocates_every_page_at_create() {
    let name = unique("reserve");
    let _ = Options::posix(&name).remove();
    let seg = Options::posix(&name)
        .create_new()
        .preallocate(true)
        .open::<Big>()
        .unwrap();
    let blocks = std::fs::metadata(format!("/dev/shm/{name}"))
        .unwrap()
        .blocks()
        * 512;
    assert!(
        blocks >= size_of::<Big>() as u64,
        "{blocks} bytes allocated"
    );
    // Without reserve, only what was written is allocated (sparse).
    let sparse = unique("sparse");
    let _ = Options::posix(&sparse).remove();
    let seg2 = Options::posix(&sparse).create_new().open::<Big>().unwrap();
    let blocks = std::fs::metadata(format!("/dev/shm/{sparse}"))
        .unwrap()
        .blocks()
        * 512;
    assert!(
        blocks < size_of::<Big>() as u64 / 2,
        "{blocks} bytes allocated"
    );
    seg.remove().unwrap();
    seg2.remove().unwrap();
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    fn mount() -> Result<SmallTmpfs, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not running as root, cannot mount a small tmpfs".into());
        }
        let dir = std::env::temp_dir().join(unique("tmpfs"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallTmpfs(dir))
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Environment variable that makes [`touch_child`] act: a file segment path.
const TOUCH_ENV: &str = "SHM_TEST_TOUCH_CHILD";

/// Opens the file segment `$SHM_TEST_TOUCH_CHILD` and writes every byte.
#[test]
fn touch_child() {
    let Ok(path) = std::env::var(TOUCH_ENV) else {
        return;
    };
    // No core file for the expected crash.
    let no_core = rustix::process::Rlimit {
        current: Some(0),
        maximum: None,
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Core, no_core);
    let seg = Options::file(&path).open::<Big>().unwrap();
    seg.update(|f| {
        for i in 0..f.bytes().len() {
            f.bytes().set(i, 0xAB).expect("index in range");
        }
    })
    .unwrap();
    println!("child: touched every page");
}

fn touch_in_child(path: &Path) -> std::process::ExitStatus {
    test_support::child_command("touch_child", TOUCH_ENV, path)
        .output()
        .unwrap()
        .status
}

#[test]
fn overcommitted_tmpfs_gives_sigbus_on_touch_unless_reserved() {
    use std::os::unix::process::ExitStatusExt;
    let fs = match SmallTmpfs::mount() {
        Ok(fs) => fs,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let (a, b, c) = (fs.0.join("a"), fs.0.join("b"), fs.0.join("c"));
    // Each fits alone, and creating touches only the first page, so both
    // pass the free-space check...
    // (Without write access: the children write.)
    let seg_a = Options::file(&a)
        .create_new()
        .claim_writer(false)
        .open::<Big>()
        .unwrap();
    let seg_b = Options::file(&b)
        .create_new()
        .claim_writer(false)
        .open::<Big>()
        .unwrap();
    // ...but both cannot be touched: the kernel raises SIGBUS on the page
    // that tmpfs cannot allocate. This is what `reserve` is for.
    assert!(touch_in_child(&a).success());
    let status = touch_in_child(&b);
    assert_eq!(status.signal(), Some(libc_sigbus()), "{status:?}");
    drop((seg_a, seg_b));
    Options::file(&b).remove().unwrap();
    // With `a` allocated, another segment is refused at create time.
    assert_no_space(
        Options::file(&c).create_new().open::<Big>(),
        "second 768 KiB segment",
    );
    assert_no_space(
        Options::file(&c)
            .create_new()
            .preallocate(true)
            .open::<Big>(),
        "second 768 KiB segment, reserved",
    );
    assert!(!c.exists());
    // Reserved segments are allocated at create: then the next one is
    // refused at create too, however little of either was touched.
    Options::file(&a).remove().unwrap();
    let _seg = Options::file(&a)
        .create_new()
        .preallocate(true)
        .open::<Big>()
        .unwrap();
    assert_no_space(
        Options::file(&b).create_new().open::<Big>(),
        "after a reserved one",
    );
    // Before the file system goes: the doorbell goes with the segment.
    Options::file(&a).remove().unwrap();
}

fn libc_sigbus() -> i32 {
    rustix::process::Signal::BUS.as_raw()
}
