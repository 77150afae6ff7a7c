//! The `stress` example: checksummed stress runs and kill matrices of the
//! message rings and queues, with real processes (`stress --help`).
//!
//! Every message carries the number of the producer process that sent it
//! (its *generation*), its message number, words that follow from both,
//! and a checksum over all of them: a torn message (words of two
//! messages), a duplicated, reordered or renumbered one is seen at once.
//! The processes are the `stress` executable itself, started again in a
//! role (a hidden first argument, as `demo` does); this module holds the
//! roles, [`runs`] the runs that start them and check what they report.

use std::io::Write;
use std::time::{Duration, Instant};

use shm_runtime::{
    Error, Field, Options, Queue, ReadOnly, ReadWrite, Recv, Ring, Shared, SharedLayout, ShmSafe,
};

pub mod runs;

/// Slots of every ring and queue of the stress segments.
pub const CAP: usize = 256;

/// The generation of the last message of a run (the end marker).
pub const END: u64 = u64::MAX;

/// A message whose words follow from its generation and number.
pub trait Checked: ShmSafe + Copy {
    /// Its size in bytes.
    const SIZE: usize = size_of::<Self>();
    /// Message `n` of producer generation `generation`.
    fn make(generation: u64, n: u64) -> Self;
    /// `(generation, n)` if every word and the checksum are right.
    fn verify(&self) -> Option<(u64, u64)>;
}

/// The word `i` of message `(generation, n)` (splitmix64 of the three).
fn word(generation: u64, n: u64, i: u64) -> u64 {
    let mut z =
        n ^ generation.rotate_left(32) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The checksum over the generation, the number and the words.
fn checksum(generation: u64, n: u64, words: &[u64]) -> u64 {
    let start = (generation ^ n.rotate_left(29)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    words.iter().fold(start, |a, &w| {
        (a ^ w).wrapping_mul(0xc4ce_b9fe_1a85_ec53).rotate_left(23)
    })
}

macro_rules! checked_message {
    ($(#[$doc:meta])* $name:ident, $words:literal) => {
        $(#[$doc])*
        #[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
        #[repr(C)]
        pub struct $name {
            /// The producer process's generation ([`END`] for the last).
            pub generation: u64,
            /// The message number (the ring's or queue's numbering).
            pub n: u64,
            /// Words that follow from both.
            pub words: [u64; $words],
            /// The checksum over all the other words.
            pub check: u64,
        }

        impl Checked for $name {
            fn make(generation: u64, n: u64) -> Self {
                let mut words = [0; $words];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = word(generation, n, i as u64);
                }
                let check = checksum(generation, n, &words);
                $name { generation, n, words, check }
            }

            fn verify(&self) -> Option<(u64, u64)> {
                let (g, n) = (self.generation, self.n);
                let ok = self.check == checksum(g, n, &self.words)
                    && self
                        .words
                        .iter()
                        .enumerate()
                        .all(|(i, &w)| w == word(g, n, i as u64));
                ok.then_some((g, n))
            }
        }
    };
}

checked_message!(
    /// A 64-byte message.
    Msg64,
    5
);
checked_message!(
    /// A 4 KiB message.
    Msg4k,
    509
);

/// The schema of the 64-byte runs.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Stress64 {
    /// The broadcast stream.
    pub ring: Ring<Msg64, 256>,
    /// The lossless stream.
    pub queue: Queue<Msg64, 256>,
}

/// The schema of the 4 KiB runs.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Stress4k {
    /// The broadcast stream.
    pub ring: Ring<Msg4k, 256>,
    /// The lossless stream.
    pub queue: Queue<Msg4k, 256>,
}

/// A stress schema: its message type and how to pick its streams.
pub trait Schema: SharedLayout {
    /// The message.
    type M: Checked;
    /// Picks the ring.
    fn ring(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Ring<Self::M, 256>, ReadOnly>;
    /// Picks the queue.
    fn queue(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Queue<Self::M, 256>, ReadOnly>;
}

impl Schema for Stress64 {
    type M = Msg64;
    fn ring(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Ring<Msg64, 256>, ReadOnly> {
        f.ring()
    }
    fn queue(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Queue<Msg64, 256>, ReadOnly> {
        f.queue()
    }
}

impl Schema for Stress4k {
    type M = Msg4k;
    fn ring(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Ring<Msg4k, 256>, ReadOnly> {
        f.ring()
    }
    fn queue(f: Self::Fields<'_, ReadOnly>) -> Field<'_, Queue<Msg4k, 256>, ReadOnly> {
        f.queue()
    }
}

/// How long a role waits for anything (a segment, write access, the
/// queue's claim, the next message) before it gives up with an error.
pub const PATIENCE: Duration = Duration::from_secs(60);

fn out(line: std::fmt::Arguments<'_>) {
    // One `write` per line (stdout is line-buffered): a line printed
    // before a SIGKILL reaches the parent.
    let mut o = std::io::stdout().lock();
    let _ = o.write_fmt(line);
    let _ = o.write_all(b"\n");
}

/// What a role was asked to do: `ROLE NAME SIZE GEN COUNT FLAGS` after the
/// hidden role argument (see [`run_role`]).
#[derive(Clone, Debug)]
pub struct RoleArgs {
    /// `ring-produce`, `ring-consume`, `queue-produce` or `queue-consume`.
    pub role: String,
    /// The segment.
    pub name: String,
    /// The message size: 64 or 4096.
    pub size: usize,
    /// The producer's generation.
    pub generation: u64,
    /// Producers: publish until this many are published or sent
    /// (`u64::MAX`: until killed).
    pub count: u64,
    /// Producers: `end` (send the end marker after `count`), `log` (print
    /// `o` after each send that returned `Ok`). Consumers: `check` (check
    /// and count), `ack` (print `m N` for each message after `peek`,
    /// before `ack`), `recv` (print `m N` after `try_recv`).
    pub flags: String,
}

impl RoleArgs {
    /// As arguments, after the hidden role argument.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.role.clone(),
            self.name.clone(),
            self.size.to_string(),
            self.generation.to_string(),
            self.count.to_string(),
            self.flags.clone(),
        ]
    }

    /// Parsed from arguments.
    pub fn parse(args: &[String]) -> Option<RoleArgs> {
        let [role, name, size, generation, count, flags] = args else {
            return None;
        };
        Some(RoleArgs {
            role: role.clone(),
            name: name.clone(),
            size: size.parse().ok()?,
            generation: generation.parse().ok()?,
            count: count.parse().ok()?,
            flags: flags.clone(),
        })
    }
}

/// Runs the role `a`: at 64 bytes or 4 KiB.
pub fn run_role(a: &RoleArgs) -> Result<(), String> {
    match a.size {
        64 => role::<Stress64>(a),
        4096 => role::<Stress4k>(a),
        s => Err(format!("no stress schema for {s}-byte messages")),
    }
}

/// The existing segment `name`, opened read-write by a producer (waiting
/// up to [`PATIENCE`] for it and for write access).
fn open_writer<S: Schema>(name: &str) -> Result<Shared<S, ReadWrite>, Error> {
    Options::posix(name)
        .open_existing()
        .open_timeout(PATIENCE)
        .writer_wait(PATIENCE)
        .open::<S>()
}

fn role<S: Schema>(a: &RoleArgs) -> Result<(), String> {
    let e = |e: Error| e.to_string();
    match a.role.as_str() {
        "ring-produce" => {
            let seg = open_writer::<S>(&a.name).map_err(e)?;
            let p = seg.publisher(S::ring).map_err(e)?;
            out(format_args!("ready next={}", p.published()));
            while p.published() < a.count {
                let n = p.published();
                let got = p.publish(&S::M::make(a.generation, n)).map_err(e)?;
                if got != n {
                    return Err(format!("published as {got}, expected {n}"));
                }
            }
            if a.flags.contains("end") {
                p.publish(&S::M::make(END, p.published())).map_err(e)?;
            }
            out(format_args!("done published={}", p.published()));
            Ok(())
        }
        "queue-produce" => {
            let seg = open_writer::<S>(&a.name).map_err(e)?;
            let p = seg.producer(S::queue).map_err(e)?;
            let log = a.flags.contains("log");
            out(format_args!("ready next={}", p.sent()));
            while p.sent() < a.count {
                let n = p.sent();
                let got = p
                    .send_timeout(&S::M::make(a.generation, n), PATIENCE)
                    .map_err(e)?;
                if got != n {
                    return Err(format!("sent as {got}, expected {n}"));
                }
                if log {
                    out(format_args!("o"));
                }
            }
            if a.flags.contains("end") {
                p.send_timeout(&S::M::make(END, p.sent()), PATIENCE)
                    .map_err(e)?;
            }
            out(format_args!("done sent={}", p.sent()));
            Ok(())
        }
        "ring-consume" => ring_consume::<S>(a),
        "queue-consume" => queue_consume::<S>(a),
        r => Err(format!("unknown role {r}")),
    }
}

/// What a checking consumer counts.
#[derive(Default)]
struct Tally {
    received: u64,
    bad: u64,
    /// Messages received per generation, in order of generation.
    per_gen: Vec<(u64, u64)>,
    last_gen: u64,
}

impl Tally {
    /// Checks message `m`, expected to be number `n`; `true` for the end
    /// marker.
    fn check<M: Checked>(&mut self, m: &M, n: u64) -> bool {
        let Some((g, got)) = m.verify() else {
            self.bad += 1;
            out(format_args!("bad: torn or damaged message at number {n}"));
            return false;
        };
        if got != n || g < self.last_gen {
            self.bad += 1;
            out(format_args!(
                "bad: message number {n} holds message {got} of generation {g} (after {})",
                self.last_gen
            ));
        }
        if g == END {
            return true;
        }
        self.last_gen = g;
        self.received += 1;
        match self.per_gen.last_mut() {
            Some((lg, c)) if *lg == g => *c += 1,
            _ => self.per_gen.push((g, 1)),
        }
        false
    }

    fn gens(&self) -> String {
        let v: Vec<String> = self
            .per_gen
            .iter()
            .map(|(g, c)| format!("{g}:{c}"))
            .collect();
        v.join(",")
    }
}

fn ring_consume<S: Schema>(a: &RoleArgs) -> Result<(), String> {
    let e = |e: Error| e.to_string();
    let seg = Options::posix(&a.name)
        .open_timeout(PATIENCE)
        .open_read_only::<S>()
        .map_err(e)?;
    let mut sub = seg.subscribe(S::ring).map_err(e)?;
    sub.start_oldest();
    out(format_args!("ready at={}", sub.position()));
    let mut t = Tally::default();
    let mut lost = 0u64;
    let mut batch = vec![S::M::make(0, 0); 64];
    let mut last = Instant::now();
    'outer: loop {
        let (n, l) = sub.recv_batch(&mut batch).map_err(e)?;
        lost += l;
        for (i, m) in batch[..n].iter().enumerate() {
            // The messages of a batch are the last `n` numbers it moved
            // past, in order.
            if t.check(m, sub.position() - (n - i) as u64) {
                break 'outer;
            }
        }
        if n > 0 || l > 0 {
            last = Instant::now();
            continue;
        }
        if last.elapsed() > PATIENCE {
            return Err(format!("no message for {PATIENCE:?}"));
        }
        match sub.recv_timeout(Duration::from_millis(100)).map_err(e)? {
            Some(Recv::Msg(m)) => {
                last = Instant::now();
                if t.check(&m, sub.position() - 1) {
                    break;
                }
            }
            Some(Recv::Lost(k)) => {
                last = Instant::now();
                lost += k;
            }
            None => {}
        }
    }
    out(format_args!(
        "checked received={} lost={} bad={} end={} gens={}",
        t.received,
        lost,
        t.bad,
        sub.position() - 1,
        t.gens()
    ));
    Ok(())
}

fn queue_consume<S: Schema>(a: &RoleArgs) -> Result<(), String> {
    let e = |e: Error| e.to_string();
    let seg = Options::posix(&a.name)
        .open_existing()
        .open_timeout(PATIENCE)
        .claim_writer(false)
        .open::<S>()
        .map_err(e)?;
    let mut c = seg.consumer(S::queue, PATIENCE).map_err(e)?;
    out(format_args!(
        "claimed at={} from={}",
        c.position(),
        c.took_over_from().map_or("none".into(), |p| p.to_string())
    ));
    let mut t = Tally::default();
    let mut last = Instant::now();
    let mode = a.flags.as_str();
    loop {
        let n = c.position();
        let m = if mode == "ack" {
            c.peek().map_err(e)?
        } else {
            c.recv_timeout(Duration::from_millis(100)).map_err(e)?
        };
        let Some(m) = m else {
            if last.elapsed() > PATIENCE {
                return Err(format!("no message for {PATIENCE:?}"));
            }
            if mode == "ack" {
                std::thread::yield_now();
            }
            continue;
        };
        last = Instant::now();
        let end = t.check(&m, n);
        if mode != "check" && !end {
            out(format_args!(
                "m {}",
                m.verify().map_or(u64::MAX, |(_, got)| got)
            ));
        }
        if mode == "ack" {
            c.ack().map_err(e)?;
        }
        if end {
            break;
        }
    }
    out(format_args!(
        "checked received={} lost=0 bad={} end={} gens={}",
        t.received,
        t.bad,
        c.position() - 1,
        t.gens()
    ));
    Ok(())
}
