//! The `status` example, run as a real process: it prints every item, and
//! for a System V segment what it prints agrees with `ipcs -m`.

#![cfg(unix)]
#![allow(missing_docs)]

use std::collections::HashMap;
use std::process::{Command, Output};

const STATUS: &str = env!("CARGO_BIN_EXE_status");

/// The items `status` prints, in order.
const ITEMS: [&str; 13] = [
    "size",
    "number_attached",
    "creator_process",
    "last_op_process",
    "last_attach_time",
    "last_detach_time",
    "last_change_time",
    "creator_user",
    "creator_group",
    "owner_user",
    "owner_group",
    "mode",
    "key",
];

/// `name: value` lines as a map, checking that every item is there once.
fn items(text: &str) -> HashMap<String, String> {
    let map: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for item in ITEMS {
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("{item}: ")))
                .count(),
            1,
            "{item} once in\n{text}"
        );
    }
    map
}

/// What `id ARGS` prints.
fn id(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(STATUS).args(args).output().unwrap()
}

#[test]
fn posix_prints_every_item_and_removes() {
    let name = format!("status-test-{}", std::process::id());
    let out = run(&["--backend", "posix", "--name", &name, "--mode", "640"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = items(&text);
    assert_eq!(m["mode"], "640");
    assert!(m["key"].starts_with("unknown ("), "{text}");
    assert!(m["number_attached"].starts_with("unknown ("), "{text}");
    assert!(m["size"].parse::<u64>().unwrap() >= 1024);
    assert_eq!(m["owner_user"], id(&["-u"]));
    if cfg!(target_os = "linux") {
        assert!(
            !std::path::Path::new(&format!("/dev/shm/{name}")).exists(),
            "removed"
        );
    }
}

#[test]
fn file_prints_every_item_and_removes() {
    let path = std::env::temp_dir().join(format!("status-test-{}.shm", std::process::id()));
    let out = run(&["--backend", "file", "--name", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = items(&text);
    assert_eq!(m["mode"], "600");
    assert!(m["size"].parse::<u64>().unwrap() >= 1024);
    assert!(m["last_change_time"].ends_with("(Unix time)"), "{text}");
    assert!(!path.exists(), "the example removes its file");
}

#[test]
fn wrong_arguments_are_one_clear_line() {
    for args in [
        &["--backend", "sysv", "--name", "x"][..],
        &["--backend", "posix", "--key", "10"],
        &["--backend", "sysv", "--key", "0"],
        &["--backend", "posix", "--name", "a/b"],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("status: "), "{args:?}: {err}");
    }
}

/// A time as `status` prints it (`SECS.NANOS (Unix time)` or `never`), in
/// the format `ipcs -i` prints (`ctime(3)` in UTC, or `Not set`).
fn as_ctime(status_time: &str) -> String {
    if status_time == "never" {
        return "Not set".into();
    }
    let secs: i64 = status_time.split('.').next().unwrap().parse().unwrap();
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {day:2} {:02}:{:02}:{:02} {year}",
        WD[days.rem_euclid(7) as usize],
        MON[(month - 1) as usize],
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

#[test]
fn ctime_format() {
    assert_eq!(
        as_ctime("0.000000000 (Unix time)"),
        "Thu Jan  1 00:00:00 1970"
    );
    assert_eq!(
        as_ctime("1709210096.5 (Unix time)"),
        "Thu Feb 29 12:34:56 2024"
    );
    assert_eq!(as_ctime("never"), "Not set");
}

/// `status --backend sysv --hold` against `ipcs -m` (util-linux).
#[cfg(target_os = "linux")]
mod ipcs {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdout, Command, Stdio};

    use super::{STATUS, as_ctime, id, items};

    /// Kills the held `status` process and removes its segment if the test
    /// fails half-way.
    struct Held {
        child: Child,
        key: i32,
    }

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = shm_runtime::Options::sysv(self.key).remove();
        }
    }

    /// Reads lines until the `holding:` line, returning what came before.
    fn read_until_holding(out: &mut BufReader<ChildStdout>) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "status ended early:\n{text}"
            );
            if line.starts_with("holding:") {
                return text;
            }
            text.push_str(&line);
        }
    }

    /// `ipcs` with its output in the C locale and UTC.
    fn ipcs(args: &[&str]) -> String {
        let out = Command::new("ipcs")
            .args(args)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .output()
            .expect("ipcs (util-linux) must be installed to compare with it");
        assert!(
            out.status.success(),
            "ipcs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn sysv_agrees_with_ipcs() {
        let key = 0x5000_0000 | (std::process::id() as i32 & 0x0fff_ffff);
        let _ = shm_runtime::Options::sysv(key).remove();
        let child = Command::new(STATUS)
            .args([
                "--backend",
                "sysv",
                "--key",
                &key.to_string(),
                "--mode",
                "640",
                "--hold",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut held = Held { child, key };
        let mut out = BufReader::new(held.child.stdout.take().unwrap());
        let text = read_until_holding(&mut out);
        let m = items(&text);
        let pid = held.child.id().to_string();
        assert_eq!(m["key"], key.to_string());
        assert_eq!(
            m["number_attached"], "2",
            "created and attached again:\n{text}"
        );
        assert_eq!(m["creator_process"], pid);
        assert_eq!(m["last_op_process"], pid);
        assert_eq!(m["mode"], "640");

        // The one-line view: key, shmid, owner, perms, bytes, nattch.
        let list = ipcs(&["-m"]);
        let hex = format!("0x{key:08x}");
        let row: Vec<&str> = list
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&hex.as_str()))
            .unwrap_or_else(|| panic!("{hex} not in ipcs -m:\n{list}"));
        let (shmid, owner, perms, bytes, nattch) = (row[1], row[2], row[3], row[4], row[5]);
        assert_eq!(bytes, m["size"], "bytes\n{list}\n{text}");
        assert_eq!(nattch, m["number_attached"], "nattch\n{list}\n{text}");
        assert_eq!(perms, m["mode"], "perms\n{list}\n{text}");
        assert_eq!(
            owner,
            id(&["-nu", &m["owner_user"]]),
            "owner\n{list}\n{text}"
        );

        // The detailed view of the same segment: every other item.
        let detail = ipcs(&["-m", "-i", shmid]);
        let mut fields: HashMap<&str, String> = HashMap::new();
        for line in detail.lines() {
            if let Some((k, v)) = line.split_once("_time=") {
                fields.insert(k, v.trim().to_owned());
                continue;
            }
            for tok in line.split_whitespace() {
                if let Some((k, v)) = tok.split_once('=') {
                    fields.insert(k, v.to_owned());
                }
            }
        }
        let check = |ipcs_key: &str, ours: String| {
            assert_eq!(
                fields.get(ipcs_key),
                Some(&ours),
                "{ipcs_key}\n{detail}\n{text}"
            );
        };
        check("uid", m["owner_user"].clone());
        check("gid", m["owner_group"].clone());
        check("cuid", m["creator_user"].clone());
        check("cgid", m["creator_group"].clone());
        check("mode", format!("0{}", m["mode"]));
        check("bytes", m["size"].clone());
        check("lpid", m["last_op_process"].clone());
        check("cpid", m["creator_process"].clone());
        check("nattch", m["number_attached"].clone());
        check("att", as_ctime(&m["last_attach_time"]));
        check("det", as_ctime(&m["last_detach_time"]));
        check("change", as_ctime(&m["last_change_time"]));

        // Let it go: it removes the segment and exits.
        held.child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let status = held.child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(!ipcs(&["-m"]).contains(&hex), "the segment is removed");
    }
}
