//! The `producer` and `consumer` examples as real processes: the consumer
//! gets the events in order, whole, and received + lost is exactly the
//! number published.

#![cfg(unix)]
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use test_support::Name;

const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const CONSUMER: &str = env!("CARGO_BIN_EXE_consumer");

#[test]
fn consumer_sees_events_in_order_with_exact_losses() {
    let name = Name::new("events");
    let count = 20_000u64;
    let mut producer = Command::new(PRODUCER)
        .args([
            "--name",
            name.as_str(),
            "--count",
            &count.to_string(),
            "--wait",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(producer.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    let mut consumer = Command::new(CONSUMER)
        .args(["--name", name.as_str(), "--count", &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cout = BufReader::new(consumer.stdout.take().unwrap());
    let mut first = String::new();
    cout.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "subscribed at 0");

    producer.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("published {count}"));
    assert!(producer.wait().unwrap().success());

    let mut last = String::new();
    cout.read_line(&mut last).unwrap();
    assert!(consumer.wait().unwrap().success(), "{last}");
    eprintln!("consumer: {}", last.trim());
    let words: Vec<&str> = last.split_whitespace().collect();
    let [_, received, _, lost, _, bad] = words[..] else {
        panic!("{last}");
    };
    let (received, lost): (u64, u64) = (received.parse().unwrap(), lost.parse().unwrap());
    assert_eq!(bad, "0", "{last}");
    assert_eq!(received + lost, count, "{last}");
    assert!(received >= 256.min(count), "{last}");
}
