//! The runs of `stress`: each starts the role processes, kills some of
//! them, and checks what the survivors report. Each returns a one-line
//! summary, or what went wrong.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shm_runtime::{Options, RawSegment, SharedLayout};

use super::{PATIENCE, RoleArgs, Stress4k, Stress64};

/// Where the runs' segments and processes come from.
pub struct Config {
    /// The `stress` executable (started again in roles).
    pub exe: PathBuf,
    /// The prefix of the segments' names (`PREFIX-ring-64` ...).
    pub prefix: String,
    /// The seed of the kill points.
    pub seed: u64,
}

type Res<T> = Result<T, String>;

/// A segment of the run, removed when dropped.
struct Seg(String);

impl Seg {
    fn create(cfg: &Config, what: &str, size: usize) -> Res<Seg> {
        let name = format!("{}-{what}-{size}", cfg.prefix);
        // Whatever an earlier, interrupted run left under the name.
        let _ = Options::posix(&name).remove();
        let seg = Seg(name);
        fn make<S: SharedLayout>(name: &str) -> Res<()> {
            Options::posix(name)
                .create_new()
                .claim_writer(false)
                .open::<S>()
                .map(drop)
                .map_err(|e| e.to_string())
        }
        match size {
            64 => make::<Stress64>(&seg.0)?,
            4096 => make::<Stress4k>(&seg.0)?,
            s => return Err(format!("no stress schema for {s}-byte messages")),
        }
        Ok(seg)
    }
}

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = Options::posix(&self.0).remove();
    }
}

/// A role process; its stdout read line by line by a thread. Killed and
/// reaped when dropped.
struct Kid {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The numbers of its `m N` lines.
    msgs: Vec<u64>,
    /// Its `o` lines (sends that returned `Ok`).
    oks: u64,
    /// Its `bad: ...` lines.
    bad: Vec<String>,
    /// Other lines, not yet expected.
    other: std::collections::VecDeque<String>,
}

impl Kid {
    fn start(cfg: &Config, a: RoleArgs) -> Res<Kid> {
        let what = format!("{} (generation {})", a.role, a.generation);
        let mut child = Command::new(&cfg.exe)
            .arg("__role")
            .args(a.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(Kid {
            what,
            child,
            lines,
            msgs: Vec::new(),
            oks: 0,
            bad: Vec::new(),
            other: Default::default(),
        })
    }

    /// Files `line`; returns it if it is none of the counted kinds.
    fn file(&mut self, line: String) -> Option<String> {
        if line == "o" {
            self.oks += 1;
        } else if let Some(n) = line.strip_prefix("m ") {
            self.msgs.push(n.parse().unwrap_or(u64::MAX));
        } else if line.starts_with("bad") {
            self.bad.push(line);
        } else {
            return Some(line);
        }
        None
    }

    /// Reads lines until one starts with `prefix`, and returns it.
    fn expect(&mut self, prefix: &str) -> Res<String> {
        let deadline = Instant::now() + 2 * PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = match self.other.pop_front() {
                Some(l) => Ok(l),
                None => self.lines.recv_timeout(left),
            };
            match next {
                Ok(l) => {
                    if let Some(l) = self.file(l) {
                        if l.starts_with(prefix) {
                            return Ok(l);
                        }
                        return Err(format!("{}: {l:?}, expected {prefix:?}", self.what));
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait();
                    return Err(format!(
                        "{} did not print {prefix:?} ({status:?})",
                        self.what
                    ));
                }
            }
        }
    }

    /// Files the lines there are now.
    fn poll(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.keep(l);
        }
    }

    /// Files `line`, keeping it for [`Kid::expect`] if it is no counted
    /// kind.
    fn keep(&mut self, line: String) {
        if let Some(l) = self.file(line) {
            self.other.push_back(l);
        }
    }

    /// SIGKILLs it, reaps it and files the rest of its output.
    fn kill(&mut self) -> Res<()> {
        self.child.kill().map_err(|e| e.to_string())?;
        self.child.wait().map_err(|e| e.to_string())?;
        while let Ok(l) = self.lines.recv_timeout(PATIENCE) {
            self.keep(l);
        }
        Ok(())
    }

    /// Waits for it to exit successfully.
    fn finish(mut self) -> Res<Kid> {
        let status = self.child.wait().map_err(|e| e.to_string())?;
        while let Ok(l) = self.lines.recv_timeout(PATIENCE) {
            self.keep(l);
        }
        if !status.success() {
            return Err(format!("{} failed: {status}", self.what));
        }
        Ok(self)
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn role(role: &str, seg: &Seg, size: usize, generation: u64, count: u64, flags: &str) -> RoleArgs {
    RoleArgs {
        role: role.into(),
        name: seg.0.clone(),
        size,
        generation,
        count,
        flags: flags.into(),
    }
}

/// The number after `key=` in `line`.
fn num(line: &str, key: &str) -> Res<u64> {
    field(line, key)?
        .parse()
        .map_err(|_| format!("no number {key} in {line:?}"))
}

fn field<'l>(line: &'l str, key: &str) -> Res<&'l str> {
    let pat = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&pat))
        .ok_or_else(|| format!("no {key} in {line:?}"))
}

/// `gens=G:C,...` as `(generation, count)` pairs.
fn gens(line: &str) -> Res<Vec<(u64, u64)>> {
    let g = field(line, "gens")?;
    g.split(',')
        .filter(|s| !s.is_empty())
        .map(|p| {
            let (a, b) = p.split_once(':').ok_or("bad gens")?;
            Ok((
                a.parse().map_err(|_| "bad gens")?,
                b.parse().map_err(|_| "bad gens")?,
            ))
        })
        .collect::<Result<_, &str>>()
        .map_err(|e| format!("{e} in {line:?}"))
}

fn no_bad(kids: &[&Kid]) -> Res<()> {
    for k in kids {
        if let Some(b) = k.bad.first() {
            return Err(format!("{}: {b} ({} bad in all)", k.what, k.bad.len()));
        }
    }
    Ok(())
}

/// The stream area of a run's segment, word by word.
struct Streams {
    raw: RawSegment,
    base: u64,
}

impl Streams {
    fn open(seg: &Seg) -> Res<Streams> {
        let raw = RawSegment::open(&Options::posix(&seg.0)).map_err(|e| e.to_string())?;
        let base = raw.header().streams_offset().ok_or("no stream area")?;
        Ok(Streams { raw, base })
    }

    /// The word at `at` in the stream area (acquire load); `u64::MAX`
    /// outside it.
    fn word(&self, at: u64) -> u64 {
        self.raw.stream_word(self.base + at).unwrap_or(u64::MAX)
    }
}

/// A xorshift generator for the kill points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// `messages` messages of `size` bytes from a producer process to a
/// consumer process reading at the same time, through the ring (`queue`
/// false) or the queue: every message whole, in order, once; for the
/// ring, received + lost = published exactly; for the queue, every
/// message received.
pub fn stream(cfg: &Config, queue: bool, size: usize, messages: u64) -> Res<String> {
    let kind = if queue { "queue" } else { "ring" };
    let seg = Seg::create(cfg, kind, size)?;
    let start = Instant::now();
    let mut cons = if queue {
        let mut c = Kid::start(cfg, role("queue-consume", &seg, size, 0, 0, "check"))?;
        c.expect("claimed at=0")?;
        c
    } else {
        let mut c = Kid::start(cfg, role("ring-consume", &seg, size, 0, 0, "check"))?;
        c.expect("ready at=0")?;
        c
    };
    let produce = if queue {
        "queue-produce"
    } else {
        "ring-produce"
    };
    let mut prod = Kid::start(cfg, role(produce, &seg, size, 0, messages, "end"))?;
    prod.expect("ready next=0")?;
    prod.expect("done")?;
    let prod = prod.finish()?;
    let line = cons.expect("checked")?;
    let cons = cons.finish()?;
    let secs = start.elapsed().as_secs_f64();
    no_bad(&[&prod, &cons])?;
    let (received, lost, bad, end) = (
        num(&line, "received")?,
        num(&line, "lost")?,
        num(&line, "bad")?,
        num(&line, "end")?,
    );
    if bad != 0 || end != messages || received + lost != messages || (queue && lost != 0) {
        return Err(format!(
            "{kind} {size} B: {messages} published, consumer: {line}"
        ));
    }
    Ok(format!(
        "{kind}, {size} B: {messages} published; received {received} whole, in order, once; \
         lost {lost} (counted); {received} + {lost} = {messages}; 0 bad; {secs:.2} s"
    ))
}

/// The ring with `kills` producer processes in turn, each SIGKILLed at a
/// random instant while publishing, the next taking write access over;
/// one consumer process throughout.
pub fn ring_kill(cfg: &Config, size: usize, kills: u64) -> Res<String> {
    let seg = Seg::create(cfg, "ring-kill", size)?;
    let start = Instant::now();
    let mut rng = Rng(cfg.seed | 1);
    let mut cons = Kid::start(cfg, role("ring-consume", &seg, size, 0, 0, "check"))?;
    cons.expect("ready at=0")?;
    // The ring's words (docs/FORMAT.md, "Streams: message rings"): the
    // ring is the first region of the stream area, its `head` word (the
    // published count) first, then slots of a `seq` word and the message
    // after a 64-byte header. The slot of message `head` holds seq
    // `2 head + 1` while message `head` is being written, `2 head + 2` once
    // complete but not yet counted: where a kill landed.
    let streams = Streams::open(&seg)?;
    let published = || streams.word(0);
    let seq = |h: u64| streams.word(64 + (h % super::CAP as u64) * (8 + size as u64));
    let (mut odd, mut uncounted, mut in_start) = (0, 0, 0);
    let mut next = 0;
    for k in 0..kills {
        let a = role("ring-produce", &seg, size, k, u64::MAX, "-");
        let (_, early) = produce_and_kill(cfg, a, next, &mut rng, || published() > next)?;
        in_start += u64::from(early);
        next = published();
        match seq(next) {
            s if s == 2 * next + 1 => odd += 1,
            s if s == 2 * next + 2 => uncounted += 1,
            _ => {}
        }
        cons.poll();
        no_bad(&[&cons])?;
    }
    let mut last = Kid::start(
        cfg,
        role("ring-produce", &seg, size, kills, next + 1000, "end"),
    )?;
    let line = last.expect("ready next=")?;
    if num(&line, "next")? != next {
        return Err(format!("after the last kill: {line}, expected next={next}"));
    }
    last.expect("done")?;
    last.finish()?;
    let total = published();
    let line = cons.expect("checked")?;
    let cons = cons.finish()?;
    no_bad(&[&cons])?;
    let (received, lost, end) = (
        num(&line, "received")?,
        num(&line, "lost")?,
        num(&line, "end")?,
    );
    let g = gens(&line)?;
    if num(&line, "bad")? != 0 || end + 1 != total || received + lost != end {
        return Err(format!(
            "ring kill matrix: {total} published, consumer: {line}"
        ));
    }
    Ok(format!(
        "ring, {size} B, {kills} producers SIGKILLed ({in_start} in start-up, {odd} in the middle \
         of a message, {uncounted} after it but before counting it): each next one continued the numbering; {end} \
         published; received {received} whole from {} generations, lost {lost} (counted); \
         {received} + {lost} = {end}; 0 bad; {:.2} s",
        g.len(),
        start.elapsed().as_secs_f64()
    ))
}

/// Starts the producer `a`, checks that it goes on at `next`, and
/// SIGKILLs it at a random instant: one time in 8 0–1 ms after starting it
/// (in start-up: opening the segment, taking write access over, maybe its
/// first messages), one in 8 0–0.5 ms after it said `ready`, otherwise 0–2
/// ms after `going` says it is at work. Returns it, reaped, and whether it
/// died before it said `ready`.
fn produce_and_kill(
    cfg: &Config,
    a: RoleArgs,
    next: u64,
    rng: &mut Rng,
    mut going: impl FnMut() -> bool,
) -> Res<(Kid, bool)> {
    let mut p = Kid::start(cfg, a)?;
    let check = |line: &str| -> Res<()> {
        match num(line, "next")? {
            n if n == next => Ok(()),
            _ => Err(format!("a producer said {line:?}, expected next={next}")),
        }
    };
    let delay = match rng.below(8) {
        0 => {
            std::thread::sleep(Duration::from_micros(rng.below(1000)));
            p.kill()?;
            let ready = p.other.iter().find(|l| l.starts_with("ready")).cloned();
            if let Some(l) = &ready {
                check(l)?;
            }
            return Ok((p, ready.is_none()));
        }
        1 => {
            check(&p.expect("ready next=")?)?;
            rng.below(500)
        }
        _ => {
            check(&p.expect("ready next=")?)?;
            let deadline = Instant::now() + PATIENCE;
            while !going() {
                if Instant::now() > deadline {
                    return Err(format!("{} made no progress", p.what));
                }
                std::thread::yield_now();
            }
            rng.below(2000)
        }
    };
    std::thread::sleep(Duration::from_micros(delay));
    p.kill()?;
    Ok((p, false))
}

/// The queue with `kills` producer processes in turn, each SIGKILLed at a
/// random instant while sending (and printing `o` after each send that
/// returned `Ok`); one consumer process throughout.
pub fn queue_kill(cfg: &Config, size: usize, kills: u64) -> Res<String> {
    let seg = Seg::create(cfg, "queue-kill", size)?;
    let start = Instant::now();
    let mut rng = Rng(cfg.seed | 1);
    let mut cons = Kid::start(cfg, role("queue-consume", &seg, size, 0, 0, "check"))?;
    cons.expect("claimed at=0")?;
    // The queue's `tail` (the sent count) is the first word of its region,
    // which follows the ring's (a 64-byte header and the slots, on whole
    // cache lines).
    let streams = Streams::open(&seg)?;
    let ring_len = (64 + super::CAP as u64 * (8 + size as u64)).next_multiple_of(64);
    let sent = || streams.word(ring_len);
    let mut oks = Vec::new();
    let (mut next, mut in_start) = (0, 0);
    for k in 0..=kills {
        let last = k == kills;
        let (count, flags) = if last {
            (next + 1000, "log,end")
        } else {
            (u64::MAX, "log")
        };
        let a = role("queue-produce", &seg, size, k, count, flags);
        let p = if last {
            let mut p = Kid::start(cfg, a)?;
            let line = p.expect("ready next=")?;
            if num(&line, "next")? != next {
                return Err(format!("producer {k}: {line}, expected next={next}"));
            }
            p.expect("done")?;
            p.finish()?
        } else {
            let (p, early) = produce_and_kill(cfg, a, next, &mut rng, || sent() > next)?;
            in_start += u64::from(early);
            p
        };
        next = sent();
        oks.push(p.oks);
        cons.poll();
        no_bad(&[&cons])?;
    }
    let line = cons.expect("checked")?;
    let cons = cons.finish()?;
    no_bad(&[&cons])?;
    let (received, end) = (num(&line, "received")?, num(&line, "end")?);
    if num(&line, "bad")? != 0 || end + 1 != next || received != end {
        return Err(format!("queue kill matrix: {next} sent, consumer: {line}"));
    }
    // Every send that returned Ok was received; at most one more per
    // producer (sent, then killed before it could print `o`).
    let got = gens(&line)?;
    let mut unacked = 0;
    for (g, &ok) in oks.iter().enumerate() {
        let c = got
            .iter()
            .find(|(gg, _)| *gg == g as u64)
            .map_or(0, |&(_, c)| c);
        if c != ok && c != ok + 1 {
            return Err(format!(
                "producer {g}: {ok} sends returned Ok, the consumer received {c} of its messages"
            ));
        }
        unacked += c - ok;
    }
    Ok(format!(
        "queue, {size} B, {kills} producers SIGKILLed ({in_start} in start-up): each next one continued the numbering; {end} sent; \
         received {received}, in order, once; every send that returned Ok received ({unacked} \
         more were sent by a producer killed before it saw Ok); 0 bad; {:.2} s",
        start.elapsed().as_secs_f64()
    ))
}

/// The queue with one producer process sending `messages` and `kills`
/// consumer processes in turn, each SIGKILLed at a random instant, the
/// next taking over the claim. `ack`: each consumer prints a message's
/// number between `peek` and `ack` (at least once: at most one repeat per
/// kill, nothing lost); otherwise after `try_recv` (at most once: at most
/// one lost per kill, nothing repeated).
pub fn consumer_kill(cfg: &Config, ack: bool, kills: u64, messages: u64) -> Res<String> {
    let mode = if ack { "ack" } else { "recv" };
    let seg = Seg::create(cfg, &format!("consumer-kill-{mode}"), 64)?;
    let start = Instant::now();
    let mut rng = Rng(cfg.seed | 1);
    let mut prod = Kid::start(cfg, role("queue-produce", &seg, 64, 0, messages, "end"))?;
    prod.expect("ready next=0")?;
    let share = messages / (kills + 1);
    let (mut expect, mut crashes, mut repeats, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let (mut killed, mut took_over) = (0, 0);
    for k in 0.. {
        let last = killed == kills;
        let mut c = Kid::start(cfg, role("queue-consume", &seg, 64, 0, 0, mode))?;
        let line = c.expect("claimed")?;
        if k > 0 && field(&line, "from")? != "none" {
            took_over += 1;
        }
        if last {
            c.expect("checked")?;
            c = c.finish()?;
        } else {
            let target = share * (k + 1) - rng.below(share / 2);
            let deadline = Instant::now() + PATIENCE;
            while c.msgs.last().is_none_or(|&n| n < target) {
                if Instant::now() > deadline {
                    return Err(format!("consumer {k} stopped before message {target}"));
                }
                match c.lines.recv_timeout(Duration::from_millis(100)) {
                    Ok(l) => c.keep(l),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(e) => return Err(format!("consumer {k}: {e}")),
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(300)));
            c.kill()?;
            killed += 1;
        }
        no_bad(&[&c])?;
        for (i, &n) in c.msgs.iter().enumerate() {
            if i == 0 && crashes > 0 {
                if ack && n + 1 == expect {
                    repeats += 1;
                } else if !ack && n > expect && n - expect <= crashes {
                    lost += n - expect;
                } else if n != expect {
                    return Err(format!(
                        "consumer {k} began with message {n}, expected {expect} ({mode})"
                    ));
                }
            } else if n != expect {
                return Err(format!("consumer {k}: message {n}, expected {expect}"));
            }
            expect = n + 1;
            crashes = 0;
        }
        if !last {
            crashes += 1;
        }
        // (A killed consumer that had recorded every message, its reader
        // far behind it on a busy machine, ends the matrix early.)
        if last || expect == messages {
            if took_over != k {
                return Err(format!("{took_over} of {k} consumers took over"));
            }
            break;
        }
    }
    let prod = prod.finish()?;
    no_bad(&[&prod])?;
    // After the last kill, at most once may have lost the last messages
    // (one per kill since a message was recorded).
    let tail = messages.saturating_sub(expect);
    if expect > messages || (ack && tail != 0) || tail > crashes {
        return Err(format!(
            "consumer kill matrix ({mode}): last message {expect} of {messages}"
        ));
    }
    lost += tail;
    let what = if ack {
        format!("{repeats} received twice (at least once), none lost")
    } else {
        format!("{lost} lost (at most once), none received twice")
    };
    Ok(format!(
        "queue, {killed} consumers SIGKILLed ({}): each next one took over; {messages} sent; \
         {what}; 0 bad; {:.2} s",
        if ack {
            "peek, record, ack"
        } else {
            "try_recv, record"
        },
        start.elapsed().as_secs_f64()
    ))
}
