//! Checksummed snapshots: every [`Alphabet`] a writer of these tests
//! writes is derived from a counter, with a checksum, so that a snapshot
//! mixing two writes fails [`verify`].

use schemas::Alphabet;
use shm_runtime::{Error, Shared};

pub const WORDS: usize = 1024 / 8;

/// A constant per word, so that no two words of a snapshot are equal.
pub const SALT: [u64; WORDS] = {
    let mut s = [0u64; WORDS];
    let mut i = 0;
    while i < WORDS {
        s[i] = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        i += 1;
    }
    s
};

/// One step of the checksum (order-dependent). `while` loops and few
/// calls here: the tests run unoptimised, where iterator calls would cost
/// more than the read being checked.
fn step(h: u64, w: u64) -> u64 {
    h.rotate_left(7) ^ w
}

const CHECKSUM_START: u64 = 0xCBF2_9CE4_8422_2325;

/// The snapshot with counter `c`: word 0 is `c`, word `i` is `c ^ SALT[i]`
/// (so a word of any other write differs), the last word the checksum of
/// the others; native byte order.
pub fn snapshot(c: u64) -> Alphabet {
    let mut words = [0u64; WORDS];
    let mut h = CHECKSUM_START;
    let mut i = 0;
    while i < WORDS - 1 {
        words[i] = if i == 0 { c } else { c ^ SALT[i] };
        h = step(h, words[i]);
        i += 1;
    }
    words[WORDS - 1] = h;
    // SAFETY: 128 `u64`s are 1024 bytes, and every bit pattern is a `u8`.
    let bytes = unsafe { std::mem::transmute::<[u64; WORDS], [u8; 1024]>(words) };
    Alphabet { bytes }
}

/// The counter of a complete snapshot, or what is wrong with it.
pub fn verify(a: &Alphabet) -> Result<u64, String> {
    // SAFETY: 1024 bytes are 128 `u64`s; `read_unaligned` needs no
    // alignment.
    let words = unsafe { a.bytes.as_ptr().cast::<[u64; WORDS]>().read_unaligned() };
    let c = words[0];
    let mut h = step(CHECKSUM_START, c);
    let mut bad = 0;
    let mut i = 1;
    while i < WORDS - 1 {
        if words[i] ^ SALT[i] != c && bad == 0 {
            bad = i;
        }
        h = step(h, words[i]);
        i += 1;
    }
    if h != words[WORDS - 1] {
        return Err(format!(
            "counter {c}: checksum mismatch (word {bad} differs)"
        ));
    }
    if bad != 0 {
        return Err(format!("counter {c}: word {bad} is from another write"));
    }
    Ok(c)
}

/// One write of the next snapshot (counter = the version it will have),
/// by one of the three write paths: `write`, `modify` (read, change,
/// write back) and `update` (in place, byte by byte).
pub fn write_next(seg: &Shared<Alphabet>, n: u64) -> Result<(), Error> {
    let next = snapshot(seg.version() + 1);
    match n % 8 {
        0 => seg.update(|f| f.bytes().set_all(&next.bytes)),
        1 | 2 => seg.modify(|v| *v = next),
        _ => seg.write(&next),
    }
}
