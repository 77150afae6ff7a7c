//! Attacks on the promises of README "Streams: rings and queues" (issue
//! 16, red team), with real segments and real processes:
//!
//! - a queue consumer inherited by `fork`: the child must neither consume
//!   through it nor let go of the parent's claim when it drops it;
//! - signals (SIGSTOP/SIGCONT, a handler that interrupts system calls)
//!   during `recv_timeout` and `send_timeout`: timeouts still respected,
//!   a publish made while the waiter was stopped still received;
//! - a process with write permission storing random words into a queue's
//!   and a ring's counters and claim word *while* the producer, consumer
//!   and subscriber wait on them: every call returns within its timeout
//!   (plus a bounded recheck), with a message, nothing, `QueueFull`, a
//!   loss or an error; never a hang or a panic;
//! - the handles' thread traits (`Send`/`Sync`).
//!
//! The child processes are this test binary in a role (see
//! [`child_role`]), selected by an environment variable.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shm_runtime::{Error, Options, Queue, Recv, Ring, Shared, SharedLayout};
use test_support::{ChildRole, Cleanup, unique};

#[path = "streams_attack/edges.rs"]
mod edges;

const ROLE_ENV: &str = "SHM_STREAMS_ATTACK_CHILD";

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Target {
    pub state: u64,
    pub events: Ring<u64, 4>,
    pub commands: Queue<u64, 2>,
}

/// Offsets of the regions from the stream area: `events` (64 + 4 × 16 =
/// 128 bytes), then `commands`.
const EVENTS: u64 = 0;
const COMMANDS: u64 = 128;

fn fresh(tag: &str) -> (String, Cleanup, Shared<Target>) {
    let name = unique(tag);
    let cleanup = Cleanup::posix(&name);
    let seg = Options::posix(&name).create_new().open::<Target>().unwrap();
    (name, cleanup, seg)
}

fn spawn(role: &str, name: &str) -> ChildRole {
    ChildRole::start("child_role", ROLE_ENV, format!("{role}:{name}"))
}

fn field<'l>(line: &'l str, key: &str) -> &'l str {
    let pat = format!("{key}=");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        + pat.len();
    line[at..].split_whitespace().next().unwrap_or("")
}

fn outcome<T: std::fmt::Debug>(r: &shm_runtime::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok:{v:?}").replace(' ', ""),
        Err(Error::ConsumerBusy {
            pid, this_process, ..
        }) => format!("busy:{pid}:{this_process}"),
        Err(Error::QueueFull { .. }) => "full".into(),
        Err(e) => format!("err:{e}").replace(' ', "_"),
    }
}

/// The child roles. Does nothing as a normal test.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let (role, name) = spec.split_once(':').unwrap();
    match role {
        "fork-consumer" => fork_consumer(name),
        "stopped-waiter" => stopped_waiter(name),
        "other-user" => other_user(name),
        "steal-consumer" => steal_consumer(name),
        "fork-publisher" => fork_publisher(name),
        _ => panic!("unknown role {role}"),
    }
}

fn wait_stdin_line() {
    let mut s = String::new();
    let _ = std::io::stdin().read_line(&mut s);
}

/// Claims the queue, forks; the child tries to take a message through the
/// inherited consumer and drops it; the parent waits for the child, then
/// for a line on stdin, and takes a message.
fn fork_consumer(name: &str) {
    let seg = Options::posix(name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    println!("claimed pid={}", std::process::id());
    // SAFETY: this role process is single-threaded (`--test-threads=1`,
    // the test runs on the main thread); the child only prints, uses the
    // inherited handles and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let recv = outcome(&c.try_recv());
        let peek = outcome(&c.peek());
        let ack = outcome(&c.ack());
        drop(c);
        println!(
            "child pid={} recv={recv} peek={peek} ack={ack}",
            std::process::id()
        );
        println!("child dropped");
        // SAFETY: ends the child without running the parent's atexit
        // handlers or the test harness's teardown.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("parent waited");
    wait_stdin_line();
    println!("parent recv={}", outcome(&c.try_recv()));
}

#[test]
fn a_forked_child_cannot_use_or_release_its_parents_consumer() {
    let (name, _c, seg) = fresh("attack-fork-consumer");
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&10).unwrap();
    p.try_send(&11).unwrap();
    let mut child = spawn("fork-consumer", &name);
    let parent = child.pid();
    child.expect("claimed");
    let line = child.expect("child pid=");
    let busy = format!("busy:{parent}:false");
    assert_eq!(field(&line, "recv"), busy, "{line}");
    assert_eq!(field(&line, "peek"), busy, "{line}");
    assert_eq!(field(&line, "ack"), busy, "{line}");
    child.expect("parent waited");
    // The parent still consumes: nobody else may claim the queue.
    let e = seg
        .consumer(|f| f.commands(), Duration::ZERO)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(e, Error::ConsumerBusy { pid, .. } if pid == parent),
        "{e}"
    );
    child.poke();
    let rest = child.finish();
    assert!(rest.contains("parent recv=ok:Some(10)"), "{rest}");
    // The parent exited (its drop let go): the queue goes on at message 1.
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(11));
}

/// Waits in `recv_timeout` and `send_timeout` while the test stops and
/// continues this process: first a subscriber (the test publishes while it
/// is stopped), then a subscriber that gets nothing, then a producer on a
/// full queue. Prints each outcome and whether the wait lasted at least
/// its timeout.
fn stopped_waiter(name: &str) {
    let seg = Options::posix(name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let ro = Options::posix(name).open_read_only::<Target>().unwrap();
    let mut sub = ro.subscribe(|f| f.events()).unwrap();
    let t = Duration::from_secs(30);
    println!("waiting 1");
    let r = sub.recv_timeout(t);
    println!("recv1={}", outcome(&r));
    let t = Duration::from_millis(400);
    println!("waiting 2");
    let start = Instant::now();
    let r = sub.recv_timeout(t);
    println!("recv2={} long_enough={}", outcome(&r), start.elapsed() >= t);
    wait_stdin_line();
    // Write access now, for the producer (the test gave it up).
    seg.claim_writer(Duration::from_secs(10)).unwrap();
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&1).unwrap();
    p.try_send(&2).unwrap();
    println!("waiting 3");
    let start = Instant::now();
    let r = p.send_timeout(&3, t);
    println!("send={} long_enough={}", outcome(&r), start.elapsed() >= t);
}

/// The state of process `pid` in `/proc/PID/stat` (`R`, `S`, `T`, ...).
fn proc_state(pid: u32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?')
}

/// Stops `pid`, waits until it is stopped, then continues it.
fn stop_and_continue(pid: u32) {
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc_state(pid) != 'T' {
        assert!(Instant::now() < deadline, "child {pid} never stopped");
        std::thread::yield_now();
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}

/// Waits until `pid` sleeps (state `S`): in its futex wait.
fn wait_asleep(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc_state(pid) != 'S' {
        assert!(Instant::now() < deadline, "child {pid} never slept");
        std::thread::yield_now();
    }
}

#[test]
fn sigstop_and_sigcont_during_waits_keep_timeouts_and_messages() {
    let (name, _c, seg) = fresh("attack-stop");
    let pb = seg.publisher(|f| f.events()).unwrap();
    let mut child = spawn("stopped-waiter", &name);
    let pid = child.pid();
    child.expect("waiting 1");
    wait_asleep(pid);
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    while proc_state(pid) != 'T' {
        std::thread::yield_now();
    }
    pb.publish(&42).unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    let line = child.expect("recv1=");
    assert_eq!(field(&line, "recv1"), "ok:Some(Msg(42))", "{line}");
    child.expect("waiting 2");
    stop_and_continue(pid);
    let line = child.expect("recv2=");
    assert_eq!(field(&line, "recv2"), "ok:None", "{line}");
    assert_eq!(field(&line, "long_enough"), "true", "{line}");
    seg.release_writer().unwrap();
    child.poke();
    child.expect("waiting 3");
    stop_and_continue(pid);
    let line = child.expect("send=");
    assert_eq!(field(&line, "send"), "full", "{line}");
    assert_eq!(field(&line, "long_enough"), "true", "{line}");
    child.finish();
}

extern "C" fn on_usr1(_: libc::c_int) {}

/// A thread of this process keeps interrupting the waiting thread with a
/// signal whose handler is installed without `SA_RESTART` (every futex
/// wait returns `EINTR`): the waits still last their timeout, and end.
#[test]
fn a_signal_handler_interrupting_waits_does_not_shorten_or_stretch_them() {
    let (name, _c, seg) = fresh("attack-eintr");
    // SAFETY: installs a handler that does nothing, for SIGUSR1, which
    // nothing else in this test binary uses.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: `pthread_self` has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let pest = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s2.load(Ordering::Relaxed) {
            // SAFETY: the waiting thread outlives this one (joined below
            // before it returns).
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            n += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        n
    });
    let t = Duration::from_millis(300);
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    let start = Instant::now();
    assert_eq!(sub.recv_timeout(t).unwrap(), None);
    assert!(start.elapsed() >= t);
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&1).unwrap();
    p.try_send(&2).unwrap();
    let start = Instant::now();
    let e = p.send_timeout(&3, t).unwrap_err();
    assert!(matches!(e, Error::QueueFull { .. }), "{e}");
    assert!(start.elapsed() >= t);
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let mut c = seg2.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    c.try_recv().unwrap();
    c.try_recv().unwrap();
    let start = Instant::now();
    assert_eq!(c.recv_timeout(t).unwrap(), None);
    assert!(start.elapsed() >= t);
    stop.store(true, Ordering::Relaxed);
    let n = pest.join().unwrap();
    assert!(n > 0);
}

/// A shared read-write mapping of the whole POSIX object `name`, as
/// another process with write permission has it.
struct Raw {
    base: *mut u8,
    len: usize,
}

// SAFETY: a pointer into a shared mapping, used only through atomics.
unsafe impl Send for Raw {}
// SAFETY: as above.
unsafe impl Sync for Raw {}

impl Raw {
    fn map(name: &str) -> Raw {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/dev/shm/{name}"))
            .unwrap();
        let len = f.metadata().unwrap().len() as usize;
        // SAFETY: a fresh shared mapping of the whole object at an address
        // the kernel picks.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        Raw {
            base: base.cast(),
            len,
        }
    }
    fn word(&self, at: u64) -> &AtomicU64 {
        assert!(at as usize + 8 <= self.len && at.is_multiple_of(8));
        // SAFETY: an aligned word inside the mapping, which lives as long
        // as `self`; every access to it (here and in the runtime) is a
        // whole 8-byte atomic.
        unsafe { AtomicU64::from_ptr(self.base.add(at as usize).cast()) }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: unmaps what `map` mapped.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// While a producer waits in `send_timeout`, a consumer in `recv_timeout`
/// and a subscriber in `recv_timeout` (each in its own thread, in a loop),
/// an attacker thread with its own read-write mapping stores random words
/// into the queue's `tail`, `head` and claim word and the ring's `head` and
/// slots. Every call must return within its timeout plus a bounded
/// recheck, with an outcome the README lists; never a panic or a hang.
#[test]
fn counters_scribbled_while_waiting_never_hang_or_panic() {
    let (name, _c, seg) = fresh("attack-race");
    let s = seg.header().streams_offset().unwrap();
    let raw = std::sync::Arc::new(Raw::map(&name));
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let ro = Options::posix(&name).open_read_only::<Target>().unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let attacker = {
        let (raw, stop) = (raw.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut x = 0x2545_f491_4f6c_dd1d_u64;
            let words = [
                s + COMMANDS,
                s + COMMANDS + 64,
                s + COMMANDS + 72,
                s + EVENTS,
                s + EVENTS + 64,
                s + EVENTS + 80,
            ];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = words[(x % words.len() as u64) as usize];
                let v = match (x >> 8) % 6 {
                    0 => 0,
                    1 => (x >> 16) % 8,
                    2 => u64::MAX - (x >> 16) % 8,
                    3 => raw.word(at).load(Ordering::Relaxed).wrapping_add(1),
                    4 => raw.word(at).load(Ordering::Relaxed).wrapping_sub(1),
                    _ => x,
                };
                raw.word(at).store(v, Ordering::Relaxed);
                n += 1;
                if n.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            n
        })
    };
    let t = Duration::from_millis(20);
    // The bound: the timeout, plus the futex recheck and scheduling slack,
    // generous for a loaded machine; a call past it is a hang.
    let bound = Duration::from_secs(10);
    let rounds = 200;
    let check = |what: &str, start: Instant| {
        assert!(
            start.elapsed() < bound,
            "{what} did not return in {bound:?}"
        );
    };
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let p = seg.producer(|f| f.commands()).unwrap();
            let pb = seg.publisher(|f| f.events()).unwrap();
            for i in 0..rounds {
                let start = Instant::now();
                match p.send_timeout(&i, t) {
                    Ok(_) | Err(Error::QueueFull { .. } | Error::Corrupt { .. }) => {}
                    Err(e) => panic!("send: {e}"),
                }
                check("send_timeout", start);
                match pb.publish(&i) {
                    Ok(_) | Err(Error::Corrupt { .. }) => {}
                    Err(e) => panic!("publish: {e}"),
                }
            }
        });
        sc.spawn(|| {
            for _ in 0..rounds {
                let c = seg2.consumer(|f| f.commands(), Duration::ZERO);
                let mut c = match c {
                    Ok(c) => c,
                    Err(Error::ConsumerBusy { .. }) => continue,
                    Err(e) => panic!("consumer: {e}"),
                };
                for _ in 0..4 {
                    let start = Instant::now();
                    let r = c.recv_timeout(t);
                    check("consumer recv_timeout", start);
                    match r {
                        Ok(_) | Err(Error::Corrupt { .. }) => {}
                        // The claim word scribbled on: this consumer no
                        // longer holds the queue; claim again.
                        Err(Error::ConsumerBusy { .. }) => break,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            }
        });
        sc.spawn(|| {
            let mut sub = ro.subscribe(|f| f.events()).unwrap();
            for i in 0..rounds * 4 {
                if i % 16 == 0 {
                    sub.start_oldest();
                }
                let start = Instant::now();
                match sub.recv_timeout(t) {
                    Ok(None | Some(Recv::Msg(_))) => {}
                    Ok(Some(Recv::Lost(n))) => assert!(n > 0),
                    Err(Error::Corrupt { .. }) => sub.start_new(),
                    Err(e) => panic!("subscriber: {e}"),
                }
                check("subscriber recv_timeout", start);
            }
        });
    });
    stop.store(true, Ordering::Relaxed);
    assert!(attacker.join().unwrap() > 0);
}

/// Another user with read permission only: subscribes and reads every
/// message; cannot open read-write (so no publisher, producer or
/// consumer); its waits end.
fn other_user(name: &str) {
    let e = Options::posix(name)
        .claim_writer(false)
        .open::<Target>()
        .map(|_| ())
        .unwrap_err();
    println!("rw={}", matches!(e, Error::PermissionDenied { .. }));
    let ro = Options::posix(name).open_read_only::<Target>().unwrap();
    let mut sub = ro.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    let mut got = Vec::new();
    while let Some(r) = sub.try_recv().unwrap() {
        got.push(format!("{r:?}").replace(' ', ""));
    }
    println!("got={}", got.join(","));
    let start = Instant::now();
    let t = Duration::from_millis(100);
    let r = sub.recv_timeout(t).unwrap();
    println!("wait={r:?} long_enough={}", start.elapsed() >= t);
}

#[test]
fn another_user_with_read_permission_subscribes_and_nothing_more() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not running as root, cannot switch users");
        return;
    }
    let name = unique("attack-user");
    let _c = Cleanup::posix(&name);
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<Target>()
        .unwrap();
    let p = seg.publisher(|f| f.events()).unwrap();
    for i in 0..6 {
        p.publish(&i).unwrap();
    }
    let q = seg.producer(|f| f.commands()).unwrap();
    q.try_send(&9).unwrap();
    let child = test_support::child_command("child_role", ROLE_ENV, format!("other-user:{name}"));
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(child.get_program())
        .args(child.get_args())
        .envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => panic!(
            "the other user's process failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!("skipped: setpriv is not available: {e}");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |k: &str| {
        text.lines()
            .find_map(|l| l.find(&format!("{k}=")).map(|at| l[at..].to_owned()))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    assert_eq!(field(&line("rw"), "rw"), "true", "{text}");
    assert_eq!(
        field(&line("got"), "got"),
        "Msg(2),Msg(3),Msg(4),Msg(5)",
        "{text}"
    );
    let w = line("wait");
    assert_eq!(field(&w, "wait"), "None", "{text}");
    assert_eq!(field(&w, "long_enough"), "true", "{text}");
    // Nothing changed for the owner: its queue, claim word and ring.
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(9));
    assert_eq!(p.publish(&6).unwrap(), 6);
}

/// Claims the queue (its claim word zeroed by the attacker), takes one
/// message, and holds the queue until stdin closes.
fn steal_consumer(name: &str) {
    let seg = Options::posix(name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    println!("stole got={}", outcome(&c.try_recv()));
    wait_stdin_line();
}

/// A process with write permission zeroes the claim word of a live
/// consumer; a second consumer process then claims the queue. The first
/// must notice at its next call (`ConsumerBusy` naming the second), not
/// consume beside it (which would deliver messages twice and race the
/// `head` stores).
#[test]
fn a_consumer_whose_claim_was_taken_stops_consuming() {
    let (name, _c, seg) = fresh("attack-steal");
    let s = seg.header().streams_offset().unwrap();
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<Target>()
        .unwrap();
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&10).unwrap();
    p.try_send(&11).unwrap();
    let mut c = seg2.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(10));
    let raw = Raw::map(&name);
    raw.word(s + COMMANDS + 72).store(0, Ordering::Release);
    let mut thief = spawn("steal-consumer", &name);
    let line = thief.expect("stole");
    assert_eq!(field(&line, "got"), "ok:Some(11)", "{line}");
    p.try_send(&12).unwrap();
    for r in [
        c.try_recv().map(|_| ()),
        c.peek().map(|_| ()),
        c.ack(),
        c.recv_timeout(Duration::from_millis(10)).map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert!(
            matches!(e, Error::ConsumerBusy { pid, this_process: false, .. } if pid == thief.pid()),
            "{e}"
        );
    }
    drop(c);
    // The thief still holds the queue (the old consumer's drop left its
    // word alone), and message 12 is still there for it.
    assert_eq!(raw.word(s + COMMANDS + 64).load(Ordering::Acquire), 2);
    let e = seg2
        .consumer(|f| f.commands(), Duration::ZERO)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::ConsumerBusy { .. }), "{e}");
    thief.finish();
    // A zeroed word under a live consumer of this process: refused too.
    let mut c = seg2.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    raw.word(s + COMMANDS + 72).store(0, Ordering::Release);
    let e = c.try_recv().unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
}

/// Holds write access with a publisher, a producer and a subscriber, and
/// forks: the child publishes, sends and receives through the inherited
/// handles, then exits; the parent publishes and sends after it.
fn fork_publisher(name: &str) {
    let seg = Options::posix(name)
        .writer_wait(Duration::from_secs(10))
        .open::<Target>()
        .unwrap();
    let pb = seg.publisher(|f| f.events()).unwrap();
    let q = seg.producer(|f| f.commands()).unwrap();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    pb.publish(&1).unwrap();
    // SAFETY: as in `fork_consumer`: a single-threaded role process.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let publish = outcome(&pb.publish(&2));
        let send = outcome(&q.try_send(&2));
        let recv = outcome(&sub.try_recv());
        println!("child publish={publish} send={send} recv={recv}");
        // SAFETY: as in `fork_consumer`.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!(
        "parent publish={} send={} recv={}",
        outcome(&pb.publish(&3)),
        outcome(&q.try_send(&3)),
        outcome(&sub.try_recv())
    );
}

#[test]
fn a_forked_child_cannot_publish_or_send_through_inherited_handles() {
    let (name, _c, seg) = fresh("attack-fork-publisher");
    seg.release_writer().unwrap();
    let child = spawn("fork-publisher", &name);
    let rest = child.finish();
    let line = |who: &str| {
        rest.lines()
            .find_map(|l| l.find(who).map(|at| l[at..].to_owned()))
            .unwrap_or_else(|| panic!("no {who} in {rest}"))
    };
    let c = line("child publish=");
    assert!(field(&c, "publish").starts_with("err:"), "{c}");
    assert!(c.contains("does_not_hold_write_access"), "{c}");
    assert!(field(&c, "send").starts_with("err:"), "{c}");
    assert_eq!(field(&c, "recv"), "ok:Some(Msg(1))", "{c}");
    let p = line("parent publish=");
    assert_eq!(field(&p, "publish"), "ok:1", "{p}");
    assert_eq!(field(&p, "send"), "ok:0", "{p}");
    assert_eq!(field(&p, "recv"), "ok:Some(Msg(1))", "{p}");
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    let got: Vec<_> = sub.iter().map(|r| r.unwrap()).collect();
    assert_eq!(got, [Recv::Msg(1), Recv::Msg(3)]);
}
