//! The built `shm` binary against real segments: typed ones (made by the
//! `writer` example or by this process), a foreign object and a too-short
//! one. Every failure is exit status 1 with one line on stderr.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Name, Writer, raw_object, root, shm, shm_fails, shm_ok};
use schemas::MySharedData;
use serde_json::Value;
use shm_runtime::{Options, SharedLayout};

/// The child processes of these tests: the `writer` example
/// ([`common::Writer`]). Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
}

#[test]
fn inspect_json_describes_the_writer_segment() {
    let w = Writer::start("inspect");
    let v: Value = serde_json::from_str(&shm_ok(&["inspect", &w.name.0, "--json"])).unwrap();
    assert_eq!(v["schema"]["name"], "MySharedData");
    assert_eq!(v["schema"]["version"], 1);
    assert_eq!(
        v["schema"]["fingerprint"],
        format!("0x{:016x}", MySharedData::FINGERPRINT)
    );
    assert_eq!(v["payload_size"], 208);
    assert_eq!(v["payload_offset"].as_u64().unwrap() % 64, 0);
    assert_eq!(v["writes"], 1);
    let fields: Vec<(String, u64, u64, String)> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["offset"].as_u64().unwrap(),
                f["size"].as_u64().unwrap(),
                f["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("value", 0, 4, "i32"),
        ("letter", 4, 2, "Utf16"),
        ("_pad", 6, 2, "[u8; 2]"),
        ("numbers", 8, 200, "[f32; 50]"),
    ];
    assert_eq!(fields.len(), want.len());
    for (f, w) in fields.iter().zip(want) {
        assert_eq!((f.0.as_str(), f.1, f.2, f.3.as_str()), w);
    }
    let text = shm_ok(&["inspect", &w.name.0]);
    assert!(text.contains("schema:       MySharedData v1"), "{text}");
    assert!(text.contains("[f32; 50]  numbers"), "{text}");
}

#[test]
fn dump_prints_values_by_field_name() {
    let w = Writer::start("dump");
    let v: Value = serde_json::from_str(&shm_ok(&["dump", &w.name.0, "--json"])).unwrap();
    assert_eq!(v["value"], 123);
    assert_eq!(v["letter"], "X");
    let numbers = v["numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 50);
    assert!((numbers[10].as_f64().unwrap() - 1.45).abs() < 1e-6);
    assert_eq!(numbers[9], 0.0);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    let text = shm_ok(&["dump", &w.name.0]);
    assert!(
        text.starts_with("value = 123\nletter = 'X'\n_pad = [0, 0]\nnumbers = [0, "),
        "{text}"
    );
    assert!(text.contains(", 1.45, "), "{text}");
}

#[test]
fn ls_marks_typed_segments() {
    let w = Writer::start("ls");
    let foreign = Name::new("ls-foreign");
    raw_object(&foreign, &[1; 1000]);
    let text = shm_ok(&["ls"]);
    let row = |n: &str| {
        text.lines()
            .find(|l| l.contains(&format!("/{n} ")))
            .unwrap_or_else(|| panic!("{n} not listed:\n{text}"))
            .to_owned()
    };
    let ours = row(&w.name.0);
    assert!(
        ours.contains("yes") && ours.contains("MySharedData v1"),
        "{ours}"
    );
    assert!(ours.contains("writer "), "{ours}");
    let theirs = row(&foreign.0);
    assert!(
        theirs.contains(" no ") && theirs.contains("not a typed segment"),
        "{theirs}"
    );
    let list: Value = serde_json::from_str(&shm_ok(&["ls", "--json"])).unwrap();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("/{}", w.name.0))
        .unwrap();
    assert_eq!(mine["typed"], true);
    assert_eq!(mine["schema"]["name"], "MySharedData");
    assert_eq!(mine["kind"], "posix");
}

#[test]
fn foreign_short_and_missing_objects_fail_with_one_line() {
    let foreign = Name::new("foreign");
    raw_object(&foreign, &[0x42; 4096]);
    let short = Name::new("short");
    raw_object(&short, &[0; 100]);
    for cmd in ["inspect", "dump", "watch"] {
        let e = shm_fails(&[cmd, &foreign.0]);
        assert!(e.contains("not a typed shared-memory segment"), "{e}");
        let e = shm_fails(&[cmd, &short.0]);
        assert!(
            e.contains("100 bytes") && e.contains("256 bytes are needed"),
            "{e}"
        );
    }
    let e = shm_fails(&["codegen", "--lang", "c", "--segment", &foreign.0]);
    assert!(e.contains("not a typed"), "{e}");
    let e = shm_fails(&["layout", "--segment", &short.0]);
    assert!(e.contains("256 bytes are needed"), "{e}");
    let missing = Name::new("missing");
    let e = shm_fails(&["dump", &missing.0]);
    assert!(e.contains("no such shared-memory segment"), "{e}");
    let e = shm_fails(&["inspect", "a/b"]);
    assert!(e.contains("invalid segment name"), "{e}");
    // rm refuses what is not ours, unless forced.
    let e = shm_fails(&["rm", &foreign.0]);
    assert!(e.contains("--force"), "{e}");
    shm_ok(&["rm", "--force", &foreign.0]);
    assert!(!std::path::Path::new(&format!("/dev/shm/{}", foreign.0)).exists());
}

#[test]
fn corrupt_descriptor_and_truncated_segment_are_reported() {
    let n = Name::new("corrupt");
    drop(
        Options::posix(&n.0)
            .create_new()
            .open::<MySharedData>()
            .unwrap(),
    );
    let path = format!("/dev/shm/{}", n.0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[256 + 9] ^= 0xff; // inside the descriptor
    std::fs::write(&path, &bytes).unwrap();
    let e = shm_fails(&["inspect", &n.0]);
    assert!(
        e.contains("corrupt segment") && e.contains("descriptor"),
        "{e}"
    );
    bytes[256 + 9] ^= 0xff;
    std::fs::write(&path, &bytes[..400]).unwrap();
    let e = shm_fails(&["dump", &n.0]);
    assert!(e.contains("400 bytes"), "{e}");
    // rm removes a damaged segment of ours without --force.
    shm_ok(&["rm", &n.0]);
    assert!(!std::path::Path::new(&path).exists());
}

#[test]
fn layout_tables_for_schemas_and_segments() {
    let all = shm_ok(&["layout"]);
    assert!(
        all.contains("MySharedData v1: 208 bytes, alignment 4"),
        "{all}"
    );
    assert!(all.contains("Alphabet v1: 1024 bytes"), "{all}");
    let one = shm_ok(&["layout", "MySharedData"]);
    assert!(
        one.contains("       8       200  [f32; 50]  numbers"),
        "{one}"
    );
    assert!(one.contains("padding: 0 bytes (none)"), "{one}");
    let w = Writer::start("layout");
    assert_eq!(shm_ok(&["layout", "--segment", &w.name.0]), one);
    let e = shm_fails(&["layout", "NoSuchSchema"]);
    assert!(e.contains("MySharedData") && e.contains("Alphabet"), "{e}");
}

#[test]
fn codegen_from_schema_and_from_segment() {
    for (lang, file) in [
        ("c", "bindings/c/my_shared_data.h"),
        ("csharp", "bindings/csharp/MySharedData.cs"),
        ("python", "bindings/python/my_shared_data.py"),
    ] {
        let text = shm_ok(&["codegen", "--lang", lang, "MySharedData"]);
        assert_eq!(
            text,
            std::fs::read_to_string(root().join(file)).unwrap(),
            "{lang}"
        );
    }
    // From a live segment: the same declarations, another source line.
    let w = Writer::start("codegen");
    let live = shm_ok(&["codegen", "--lang", "c", "--segment", &w.name.0]);
    let checked_in = std::fs::read_to_string(root().join("bindings/c/my_shared_data.h")).unwrap();
    let body = |s: &str| s.split_once("#ifndef").unwrap().1.to_owned();
    assert_eq!(body(&live), body(&checked_in));
    assert!(
        live.contains(&format!("descriptor of segment posix:/{}", w.name.0)),
        "{live}"
    );
    let out = root().join(env!("CARGO_TARGET_TMPDIR")).join("gen.py");
    shm_ok(&[
        "codegen",
        "--lang",
        "python",
        "MySharedData",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(out)
            .unwrap()
            .contains("class MySharedData(ctypes.Structure)")
    );
    let e = shm_fails(&["codegen", "--lang", "cobol", "MySharedData"]);
    assert!(e.contains("cobol"), "{e}");
}

#[test]
fn watch_prints_each_change() {
    let n = Name::new("watch");
    let seg = Options::posix(&n.0)
        .create_new()
        .open::<MySharedData>()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(["watch", &n.0, "--json", "--count", "2", "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let first = next();
    assert_eq!(first["seq"], 0);
    assert_eq!(first["values"]["value"], 0);
    seg.update(|f| f.value().set(7)).unwrap();
    let change = next();
    assert_eq!(change["seq"], 2);
    assert_eq!(change["changed"], serde_json::json!({"value": 7}));
    seg.update(|f| {
        f.numbers().set(3, 2.5).expect("index in range");
        f.letter().set(shm_runtime::Utf16(u16::from(b'Q')));
    })
    .unwrap();
    let change = next();
    assert_eq!(
        change["changed"],
        serde_json::json!({"letter": "Q", "numbers[3]": 2.5})
    );
    assert!(child.wait().unwrap().success());

    // Text form, bounded by time with nothing happening: exit 0.
    let text = shm_ok(&["watch", &n.0, "--timeout", "0.2"]);
    assert!(
        text.contains("at write 2:") && text.contains("value = 7"),
        "{text}"
    );
    // Expecting changes that never come: exit 1.
    let e = shm_fails(&["watch", &n.0, "--count", "1", "--timeout", "0.2"]);
    assert!(e.contains("0 of 1 changes"), "{e}");
    drop(seg);
    std::thread::sleep(Duration::from_millis(1));
}

/// The doorbell key of the POSIX segment `name`.
fn doorbell_key(name: &str) -> i32 {
    shm_runtime::tools::doorbell_key(&shm_runtime::SegmentId::Posix(name.into())).unwrap()
}

/// Whether the POSIX segment `name` has a doorbell (Linux: a System V
/// segment under its key).
fn has_doorbell(name: &str) -> bool {
    // SAFETY: shmget takes no pointers.
    unsafe { libc::shmget(doorbell_key(name), 0, 0) >= 0 }
}

/// The `shm ls` row of the System V segment under `key`, if any.
fn ls_row(key: i32) -> Option<String> {
    let ls = shm_ok(&["ls"]);
    let at = format!("(0x{:08x})", key as u32);
    ls.lines().find(|l| l.contains(&at)).map(str::to_owned)
}

#[test]
fn rm_takes_a_killed_writers_doorbell_and_orphans_go_with_orphaned_doorbells() {
    // `shm rm` of a segment whose writer was killed: the doorbell goes too.
    let mut w = Writer::start("rm-killed");
    assert!(has_doorbell(&w.name.0));
    let row = ls_row(doorbell_key(&w.name.0)).unwrap();
    assert!(row.contains("doorbell of a POSIX segment"), "{row}");
    w.kill();
    shm_ok(&["rm", &w.name.0]);
    assert!(!has_doorbell(&w.name.0));
    // The name removed by other means after the writer was killed:
    // `--orphaned-doorbells` removes the doorbell left (unless a sweep by
    // another writer did first).
    let mut w = Writer::start("rm-orphan");
    w.kill();
    std::fs::remove_file(format!("/dev/shm/{}", w.name.0)).unwrap();
    // (Unless another test's writer swept it already.)
    if let Some(row) = ls_row(doorbell_key(&w.name.0)) {
        assert!(row.contains("orphaned doorbell"), "{row}");
    }
    let out = shm_ok(&["rm", "--orphaned-doorbells"]);
    assert!(out.starts_with("removed "), "{out}");
    assert!(!has_doorbell(&w.name.0));
    let e = shm_fails(&["rm", "--orphaned-doorbells", &w.name.0]);
    assert!(e.contains("cannot be used with"), "{e}");
    // `shm rm` of the name after it was removed otherwise: it says the
    // name is gone, and removes the doorbell all the same.
    let mut w = Writer::start("rm-gone");
    w.kill();
    std::fs::remove_file(format!("/dev/shm/{}", w.name.0)).unwrap();
    let e = shm_fails(&["rm", &w.name.0]);
    assert!(e.contains("no such"), "{e}");
    assert!(!has_doorbell(&w.name.0));
}

#[test]
fn rm_removes_a_typed_segment() {
    let n = Name::new("rm");
    drop(
        Options::posix(&n.0)
            .create_new()
            .open::<MySharedData>()
            .unwrap(),
    );
    let out = shm_ok(&["rm", &n.0]);
    assert!(out.contains("removed posix:/"), "{out}");
    let e = shm_fails(&["rm", &n.0]);
    assert!(e.contains("no such"), "{e}");
}

#[test]
fn help_everywhere_and_usage_errors_in_one_line() {
    for sub in [
        &[][..],
        &["ls"],
        &["inspect"],
        &["dump"],
        &["watch"],
        &["layout"],
        &["rm"],
        &["codegen"],
        &["describe"],
    ] {
        let mut args: Vec<&str> = sub.to_vec();
        args.push("--help");
        let o = shm(&args);
        assert!(o.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage: shm"),
            "{args:?}"
        );
    }
    let e = shm_fails(&["frobnicate"]);
    assert!(e.contains("frobnicate"), "{e}");
    shm_fails(&["inspect"]);
    shm_fails(&["codegen", "--lang", "c"]);
}

#[test]
fn system_v_segments_are_listed_and_readable() {
    /// Removes the System V segment on drop.
    struct Key(i32);
    impl Drop for Key {
        fn drop(&mut self) {
            let _ = Options::sysv(self.0).remove();
        }
    }
    let key = Key(0x5348_0000 | (std::process::id() as i32 & 0xffff));
    let seg = Options::sysv(key.0)
        .create_new()
        .open::<MySharedData>()
        .unwrap();
    seg.update(|f| f.value().set(-42)).unwrap();
    let text = shm_ok(&["ls"]);
    let row = text
        .lines()
        .find(|l| l.starts_with("sysv") && l.contains(&format!("key={} ", key.0)))
        .unwrap_or_else(|| panic!("key {} not listed:\n{text}", key.0));
    assert!(row.contains("MySharedData v1, 1 writes"), "{row}");
    let target = format!("sysv:{}", key.0);
    let v: Value = serde_json::from_str(&shm_ok(&["dump", &target, "--json"])).unwrap();
    assert_eq!(v["value"], -42);
    let v: Value = serde_json::from_str(&shm_ok(&["inspect", &target, "--json"])).unwrap();
    assert_eq!(v["backend"], "sysv");
    assert_eq!(v["key"], key.0);
}

/// A segment of the schema with every checked type (`schemas::Robot`),
/// written by this process, read by `shm dump` (another process): values as
/// people think of them; an invalid value shown as invalid with its bits.
#[test]
fn dump_shows_bools_enums_chars_and_strings() {
    let name = Name::new("robot");
    let seg = Options::posix(&name.0)
        .create_new()
        .open::<schemas::Robot>()
        .unwrap();
    seg.write(&schemas::Robot::sample()).unwrap();
    let v: Value = serde_json::from_str(&shm_ok(&["dump", &name.0, "--json"])).unwrap();
    assert_eq!(v["armed"], true);
    assert_eq!(v["mode"], "Running");
    assert_eq!(v["initial"], "é");
    assert_eq!(v["letter"], "X");
    assert_eq!(v["label"], "left-arm");
    assert_eq!(v["flags"], serde_json::json!([true, false, true, true]));
    assert_eq!(v["joints"][2]["mode"], "Fault");
    assert_eq!(v["joints"][0]["axis"], "Minus");
    assert_eq!(v["joints"][1]["name"], "elbow");
    assert_eq!(v["names"], serde_json::json!(["ünï", ""]));
    let text = shm_ok(&["dump", &name.0]);
    for shown in [
        "armed = true",
        "mode = Running",
        "initial = 'é'",
        "letter = 'X'",
        "label = \"left-arm\"",
    ] {
        assert!(text.contains(shown), "{shown:?} not in {text}");
    }
    drop(seg);

    // The same segment with a bool of 2 and an enum value of 9.
    let mut image = shm_runtime::tools::segment_image(&schemas::Robot::sample());
    let mut h = [0u8; shm_runtime::header::HEADER_SIZE];
    h.copy_from_slice(&image[..shm_runtime::header::HEADER_SIZE]);
    let h = shm_runtime::header::Header::decode(&h);
    let field = |n: &str| {
        schemas::Robot::LAYOUT
            .fields
            .iter()
            .find(|f| f.name == n)
            .unwrap()
            .offset
    };
    for at in [h.payload_offset as usize, h.backup_offset as usize] {
        image[at + field("armed")] = 2;
        image[at + field("mode")] = 9;
    }
    raw_object(&name, &image);
    let v: Value = serde_json::from_str(&shm_ok(&["dump", &name.0, "--json"])).unwrap();
    assert_eq!(
        v["armed"],
        serde_json::json!({"invalid": "bool", "raw": "0x02"})
    );
    assert_eq!(
        v["mode"],
        serde_json::json!({"invalid": "enum Mode", "raw": "9"})
    );
    assert_eq!(v["label"], "left-arm");
    let text = shm_ok(&["dump", &name.0]);
    assert!(text.contains("armed = <invalid bool: 0x02>"), "{text}");
    assert!(text.contains("mode = <invalid enum Mode: 9>"), "{text}");
}
