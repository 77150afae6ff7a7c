//! A checking reader under a writer writing flat out (the starvation
//! figure of `BENCHMARKS.md`): two threads, each with its own handle (its
//! own mapping) of one 4 KiB segment. The writer writes `Bytes4K` values
//! whose first and last words are the write's number, as fast as it can;
//! the reader takes snapshots (`read_into`) for two seconds, checks each
//! (first word == last word) and counts the distinct values it saw: the
//! updates a reader sees per second. Prints the figures; no JSON.
//!
//! `cargo bench -p benches --bench starve` (`-- --test`: a short run).

#[cfg(unix)]
fn main() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use benches::{Bytes4K, unique_name};
    use shm_runtime::Options;

    let short = std::env::args().any(|a| a == "--test");
    let run = if short {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let name = unique_name("starve");
    let _cleanup = test_support::Name(name.clone());
    let writer = Options::posix(&name)
        .create_new()
        .open::<Bytes4K>()
        .expect("create the segment");
    let reader = Options::posix(&name)
        .open_read_only::<Bytes4K>()
        .expect("open it read-only");
    let stop = AtomicBool::new(false);
    let (writes, (reads, seen, elapsed)) = std::thread::scope(|s| {
        let w = s.spawn(|| {
            let mut v = Bytes4K { words: [0; 512] };
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                v.words[0] = n;
                v.words[511] = n;
                writer.write(&v).expect("write");
            }
            n
        });
        let r = s.spawn(|| {
            let mut v = Bytes4K { words: [0; 512] };
            let (mut reads, mut seen, mut last) = (0u64, 0u64, u64::MAX);
            let start = Instant::now();
            while start.elapsed() < run {
                reader.read_into(&mut v).expect("read");
                assert_eq!(v.words[0], v.words[511], "torn snapshot");
                reads += 1;
                if v.words[0] != last {
                    seen += 1;
                    last = v.words[0];
                }
            }
            stop.store(true, Ordering::Relaxed);
            (reads, seen, start.elapsed())
        });
        (w.join().unwrap(), r.join().unwrap())
    });
    let per_s = |n: u64| n as f64 / elapsed.as_secs_f64();
    println!(
        "starve 4KiB: writer {:.0} writes/s; reader {:.0} reads/s, {:.0} updates seen/s \
         ({:.1} % of the writes)",
        per_s(writes),
        per_s(reads),
        per_s(seen),
        100.0 * seen as f64 / writes.max(1) as f64
    );
}

#[cfg(not(unix))]
fn main() {}
