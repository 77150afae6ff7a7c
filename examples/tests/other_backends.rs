//! The writer/reader pair and the alphabet example over System V and
//! file-backed segments, as real processes.

#![cfg(unix)]
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use schemas::{Alphabet, MySharedData};
use shm_runtime::{Error, Options};
use test_support::Cleanup;

/// A System V key for this process and `n`.
fn unique_key(n: i32) -> i32 {
    0x6000_0000 | ((std::process::id() as i32 & 0x00ff_ffff) << 4) | n
}

/// The `--backend ... --key/--name ...` arguments and the options for them.
fn backends(tag: i32) -> Vec<(Vec<String>, Options)> {
    let key = unique_key(tag);
    let path = std::env::temp_dir().join(format!("shmtest-{}-{tag}", std::process::id()));
    let mut v = vec![(
        vec![
            "--backend".into(),
            "file".into(),
            "--name".into(),
            path.display().to_string(),
        ],
        Options::file(&path),
    )];
    if cfg!(any(
        target_os = "linux",
        target_vendor = "apple",
        target_os = "freebsd"
    )) {
        v.push((
            vec![
                "--backend".into(),
                "sysv".into(),
                "--key".into(),
                key.to_string(),
            ],
            Options::sysv(key),
        ));
    }
    v
}

#[test]
fn writer_and_reader_over_sysv_and_file() {
    for (args, opts) in backends(1) {
        let _c = Cleanup(opts.clone());
        let mut writer = Command::new(env!("CARGO_BIN_EXE_writer"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(writer.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "Written to shared memory", "{args:?}");

        let read = Command::new(env!("CARGO_BIN_EXE_reader"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&read.stdout);
        assert!(
            read.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&read.stderr)
        );
        assert_eq!(
            stdout, "Value is 123\nLetter is X\n11th Number is 1.45\n",
            "{args:?}"
        );
        let st = opts
            .open_read_only::<MySharedData>()
            .unwrap()
            .status()
            .unwrap();
        assert_eq!(st.header.unwrap().schema_name, "MySharedData");

        writeln!(writer.stdin.take().unwrap()).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(writer.wait().unwrap().success(), "{args:?}");
        assert_eq!(rest, "Value is 123\nLetter is X\n11th Number is 1.45\n");
        let gone = opts.open_read_only::<MySharedData>().unwrap_err();
        assert!(matches!(gone, Error::NotFound { .. }), "{args:?}: {gone}");
    }
}

#[test]
fn alphabet_over_sysv_and_file() {
    for (args, opts) in backends(2) {
        let _c = Cleanup(opts.clone());
        let out = Command::new(env!("CARGO_BIN_EXE_alphabet"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, "Read: abcdefghijklmnopqrstuvwxyz\n", "{args:?}");
        let gone = opts.open_read_only::<Alphabet>().unwrap_err();
        assert!(matches!(gone, Error::NotFound { .. }), "{args:?}: {gone}");
    }
}
