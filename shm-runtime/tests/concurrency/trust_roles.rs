//! Child roles that attack "one writer at a time" (see `trust.rs`): a
//! writer that forks, a writer whose main thread exits while another
//! thread writes, and writers in several threads of one process.
//!
//! The roles that need a process of a particular shape fork it from the
//! role process, which is single-threaded at that point (the role runs
//! before it starts any thread), so the forked child may use the standard
//! library.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use schemas::Alphabet;
use shm_runtime::{Error, Shared};

use crate::roles::{options, show, stdin_closed};
use crate::snapshot::write_next;

/// A write's outcome, as one word.
fn outcome(r: Result<(), Error>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(Error::NotWriter { .. }) => "notwriter".into(),
        Err(e) => format!("error:{}", e.to_string().replace(' ', "_")),
    }
}

/// A claim's outcome: `claim=ok take_over=...`, `claim=busy pid=P
/// this_process=B`, or `claim=error:...`.
fn claim_outcome(seg: &Shared<Alphabet>) -> String {
    match seg.claim_writer(Duration::ZERO) {
        Ok(t) => format!("claim=ok take_over={}", show(t)),
        Err(Error::WriterBusy {
            pid, this_process, ..
        }) => format!("claim=busy pid={pid} this_process={this_process}"),
        Err(e) => format!("claim=error:{}", e.to_string().replace(' ', "_")),
    }
}

/// Waits for one line on stdin (a poke), or its end.
fn wait_line() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

/// Waits until stdin ends.
fn wait_eof() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// `fork()`: the child's 0 or the child's pid.
fn fork() -> libc::pid_t {
    // SAFETY: called from a role process before it starts any thread (the
    // test harness thread that runs the role waits in it), so the child
    // inherits no lock held by another thread.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    pid
}

/// Runs `role` if it is one of these; `false` otherwise.
///
/// - `fork:NAME:MODE`: claims, writes, forks. The parent prints `forked
///   parent=P child=C`; the child prints `child pid=C is_writer=B
///   write=W` (a write through the inherited handle), then by `MODE`:
///   - `drop`: drops the inherited handle, prints `child dropped`; the
///     parent writes until stdin ends and prints `parent wrote writes=N
///     errors=E is_writer=B`;
///   - `claim`: claims through the inherited handle and prints the
///     outcome (`child claim=...`), again after a poke (the test has
///     killed the parent meanwhile), then writes and prints `child wrote
///     write=W`;
///   - `hold`: keeps the handle until a poke, then drops it and prints
///     `child dropped`.
///
///   The child then waits until stdin ends and exits.
/// - `leaderexit:NAME:`: forks a process that claims, writes, starts a
///   thread that writes until stdin ends, prints `ready pid=W`, and ends
///   its main thread (the `exit` system call, as `pthread_exit` does) (its process id now shows a
///   zombie in `/proc/W/stat`); the thread prints `thread wrote writes=N
///   errors=E`.
/// - `threads:NAME:N`: claims, checks that a second handle of this process
///   cannot claim (`second handle busy this_process=B`), starts `N` threads
///   writing through the one handle until stdin ends, prints `threads
///   ready`, then `threads wrote writes=N errors=E`.
pub fn run(role: &str, name: &str, arg: &str) -> bool {
    match role {
        "fork" => fork_role(name, arg),
        "closelock" => close_lock_role(name),
        "forkupdate" => fork_update_role(name),
        "leaderexit" => {
            let child = fork();
            if child == 0 {
                let seg = options(name).open::<Alphabet>().unwrap();
                write_next(&seg, 3).unwrap();
                let stop = stdin_closed();
                std::thread::spawn(move || {
                    let (mut n, mut errors) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        match write_next(&seg, n) {
                            Ok(()) => n += 1,
                            Err(_) => errors += 1,
                        }
                    }
                    println!("thread wrote writes={n} errors={errors}");
                });
                println!("ready pid={}", std::process::id());
                // SAFETY: the `exit` system call ends this thread (the
                // process's main thread: the only one `fork` copied) and
                // nothing else, at once, without unwinding (`pthread_exit`
                // would unwind into the test harness's `catch_unwind`,
                // which aborts the process); the writer thread owns
                // everything it uses, and the process lives on in it.
                unsafe { libc::syscall(libc::SYS_exit, 0) };
                unreachable!();
            }
            wait_eof();
            let mut status = 0;
            // SAFETY: reaps our own child; `status` is a valid out-pointer.
            unsafe { libc::waitpid(child, &mut status, 0) };
        }
        "threads" => {
            let n: usize = arg.parse().unwrap();
            let seg = Arc::new(options(name).open::<Alphabet>().unwrap());
            write_next(&seg, 3).unwrap();
            let other = options(name)
                .claim_writer(false)
                .open::<Alphabet>()
                .unwrap();
            match other.claim_writer(Duration::ZERO) {
                Err(Error::WriterBusy { this_process, .. }) => {
                    println!("second handle busy this_process={this_process}")
                }
                r => println!("second handle claim {:?}", r.map(|_| ())),
            }
            assert!(matches!(
                other.write(&crate::snapshot::snapshot(7)),
                Err(Error::NotWriter { .. })
            ));
            let stop = stdin_closed();
            let threads: Vec<_> = (0..n)
                .map(|_| {
                    let (seg, stop) = (seg.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let (mut n, mut errors) = (0u64, 0u64);
                        while !stop.load(Ordering::Relaxed) {
                            match write_next(&seg, n) {
                                Ok(()) => n += 1,
                                Err(_) => errors += 1,
                            }
                        }
                        (n, errors)
                    })
                })
                .collect();
            println!("threads ready");
            let (mut writes, mut errors) = (0, 0);
            for t in threads {
                let (n, e) = t.join().unwrap();
                writes += n;
                errors += e;
            }
            println!("threads wrote writes={writes} errors={errors}");
        }
        _ => return false,
    }
    true
}

/// The `closelock` role: claims, writes, closes every descriptor from 3
/// up (the writer lock's among them: `close_range`), prints `closed`;
/// after a poke, opens a second handle, claims through it (`second
/// claim=...`), then writes through both handles (the second only if it
/// claimed) in two threads until stdin ends and prints `wrote writes=N
/// errors=E second_writes=M`.
fn close_lock_role(name: &str) {
    let seg = options(name).open::<Alphabet>().unwrap();
    write_next(&seg, 3).unwrap();
    // SAFETY: closes descriptors this process holds; the test harness uses
    // none above 2 in a role process, and the mappings stay valid without
    // their descriptors.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    assert_eq!(r, 0, "close_range");
    println!("closed pid={}", std::process::id());
    wait_line();
    let other = options(name)
        .claim_writer(false)
        .open::<Alphabet>()
        .unwrap();
    println!("second {}", claim_outcome(&other));
    let stop = stdin_closed();
    let second = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while other.is_writer() && !stop.load(Ordering::Relaxed) {
                if write_next(&other, n).is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let (mut n, mut errors) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        match write_next(&seg, n) {
            Ok(()) => n += 1,
            Err(_) => errors += 1,
        }
    }
    let second = second.join().unwrap();
    std::mem::forget(seg);
    println!("wrote writes={n} errors={errors} second_writes={second}");
    // Exits holding write access, without dropping the handle: its
    // descriptors are closed already (closing them again aborts).
    std::process::exit(0);
}

/// The `forkupdate` role: claims; a thread enters `update` and stays
/// there while the main thread forks. The child (its copy of the handle's
/// lock locked for ever) prints `child write=W release=R claim=C`, drops
/// the handle and prints `child dropped`; the parent then lets the update
/// finish and prints `parent done`.
fn fork_update_role(name: &str) {
    use std::sync::mpsc::channel;
    let seg = Arc::new(options(name).open::<Alphabet>().unwrap());
    let (inside_tx, inside) = channel();
    let (go_tx, go) = channel::<()>();
    let s = seg.clone();
    let t = std::thread::spawn(move || {
        s.update(|_| {
            inside_tx.send(()).unwrap();
            go.recv().unwrap();
        })
        .unwrap();
    });
    inside.recv().unwrap();
    // SAFETY: the child only uses the handle (whose lock the other thread
    // holds: the point of the test), prints, and exits with `_exit`; it
    // takes no lock the other thread may hold but the handle's, which the
    // runtime must not wait for.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        let write = outcome(write_next(&seg, 9));
        let release = outcome(seg.release_writer());
        let claim = claim_outcome(&seg);
        println!("child write={write} release={release} {claim}");
        drop(seg);
        println!("child dropped");
        // SAFETY: ends the child without running the harness's exit path.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: reaps our own child; `status` is a valid out-pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    go_tx.send(()).unwrap();
    t.join().unwrap();
    println!("parent done is_writer={}", seg.is_writer());
}

/// The `fork` role.
fn fork_role(name: &str, mode: &str) {
    let seg = options(name).open::<Alphabet>().unwrap();
    write_next(&seg, 3).unwrap();
    let parent = std::process::id();
    let child = fork();
    if child != 0 {
        println!("forked parent={parent} child={child}");
        if mode == "drop" {
            let stop = stdin_closed();
            let (mut n, mut errors) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match write_next(&seg, n) {
                    Ok(()) => n += 1,
                    Err(_) => errors += 1,
                }
            }
            println!(
                "parent wrote writes={n} errors={errors} is_writer={}",
                seg.is_writer()
            );
        } else {
            wait_eof();
        }
        return;
    }
    let wrote = outcome(write_next(&seg, 3));
    println!(
        "child pid={} is_writer={} write={wrote}",
        std::process::id(),
        seg.is_writer()
    );
    match mode {
        "drop" => {
            drop(seg);
            println!("child dropped");
        }
        "claim" => {
            println!("child {}", claim_outcome(&seg));
            wait_line();
            println!("child {}", claim_outcome(&seg));
            println!("child wrote write={}", outcome(write_next(&seg, 3)));
            wait_eof();
            // Exits holding write access (no drop): the next claimer takes
            // over from a dead owner.
            std::process::exit(0);
        }
        "hold" => {
            wait_line();
            drop(seg);
            println!("child dropped");
        }
        other => panic!("unknown fork mode {other}"),
    }
    wait_eof();
    std::process::exit(0);
}
