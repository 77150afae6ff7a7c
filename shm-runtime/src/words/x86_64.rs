//! The x86-64 fast path of the payload copies: 16 bytes per access.
//!
//! On a processor that supports AVX, a 16-byte aligned `VMOVDQA` (VEX.128)
//! load or store of cacheable memory is one atomic access: Intel SDM vol. 3A
//! §9.1.1 ("Guaranteed Atomic Operations": processors that enumerate AVX
//! carry out the 16-byte memory operations of `MOVDQA`/`VMOVDQA` VEX.128
//! atomically), AMD APM vol. 2 §7.3.2 (AVX extends the atomicity of
//! naturally aligned single loads and stores of cacheable memory to a double
//! quadword). GCC bug 104688 gathered these statements from both vendors
//! (and Zhaoxin); portable-atomic and atomic-maybe-uninit rely on them for
//! their 128-bit atomic loads and stores, on those vendors only, as this
//! module does.
//!
//! A 16-byte atomic access at an aligned address is in particular two
//! aligned 8-byte accesses, each whole (neither is torn), made at once. So
//! in the Rust abstract machine, one aligned `VMOVDQA` load of the payload
//! is explained as two relaxed atomic `u64` loads of the two words it
//! covers, and a store as two relaxed atomic `u64` stores: exactly the
//! accesses the portable 8-byte path makes, so every racing access to the
//! payload is still a whole aligned 8-byte atomic word as far as Rust is
//! concerned (no mixed sizes), and the orderings (counters, fences) are the
//! ones of the portable path, outside these accesses. The private side is
//! ordinary memory, read or written with unaligned `VMOVDQU`.
//!
//! Shared segments are ordinary write-back (cacheable) mappings. The fast
//! path is compiled only for x86-64 outside Miri and loom (which check the
//! portable path), and taken only when the processor reports AVX (with the
//! operating system's support for its state) and is made by one of those
//! vendors ([`wide`]).

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// Whether [`load`] and [`store`] may be used on this processor: AVX, and
/// a vendor that documents the atomicity of 16-byte aligned `VMOVDQA`.
/// Detected once; afterwards one relaxed load.
#[inline]
pub(super) fn wide() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            let ok = detect();
            STATE.store(1 + u8::from(ok), Ordering::Relaxed);
            ok
        }
    }
}

#[cold]
fn detect() -> bool {
    // Leaf 0: the vendor, in EBX, EDX, ECX.
    let r = core::arch::x86_64::__cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&r.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&r.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&r.ecx.to_le_bytes());
    matches!(&vendor, b"GenuineIntel" | b"AuthenticAMD" | b"  Shanghai  ")
        && std::arch::is_x86_feature_detected!("avx")
}

/// Copies `16 * n` bytes of a payload copy at `src` into private memory at
/// `dst`, with aligned 16-byte `VMOVDQA` loads (4 per iteration) and
/// unaligned stores.
///
/// # Safety
///
/// [`wide`] returned true; `src` is 16-aligned and its `16 * n` bytes are
/// whole words valid for reads that Rust code only accesses as whole
/// aligned 8-byte atomics (other processes may write them); `dst` is valid
/// for writes of `16 * n` bytes and does not overlap them.
#[inline]
pub(super) unsafe fn load(src: *const u8, dst: *mut u8, n: usize) {
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: AVX is present (`wide`, caller). Each `vmovdqa` is an
        // aligned (`src` 16-aligned, offsets multiples of 16) 16-byte load
        // inside the caller's range (`16 * (k + 4) <= 16 * n`): one atomic
        // access on this processor (module doc), explained as two relaxed
        // atomic loads of the words it covers, the size of every other Rust
        // access to them. It races with stores of other processes only as
        // those atomics would; no `pure`/`readonly`: the memory may change
        // between two runs. The `vmovdqu` stores go to the private `dst`,
        // in bounds. No stack use, and no instruction here changes flags.
        unsafe {
            asm!(
                "vmovdqa {a}, xmmword ptr [{s}]",
                "vmovdqa {b}, xmmword ptr [{s} + 16]",
                "vmovdqa {c}, xmmword ptr [{s} + 32]",
                "vmovdqa {d}, xmmword ptr [{s} + 48]",
                "vmovdqu xmmword ptr [{t}], {a}",
                "vmovdqu xmmword ptr [{t} + 16], {b}",
                "vmovdqu xmmword ptr [{t} + 32], {c}",
                "vmovdqu xmmword ptr [{t} + 48], {d}",
                s = in(reg) src.add(16 * k),
                t = in(reg) dst.add(16 * k),
                a = out(xmm_reg) _,
                b = out(xmm_reg) _,
                c = out(xmm_reg) _,
                d = out(xmm_reg) _,
                options(nostack, preserves_flags),
            );
        }
        k += 4;
    }
    while k < n {
        // SAFETY: as above, one 16-byte block (`16 * (k + 1) <= 16 * n`).
        unsafe {
            asm!(
                "vmovdqa {a}, xmmword ptr [{s}]",
                "vmovdqu xmmword ptr [{t}], {a}",
                s = in(reg) src.add(16 * k),
                t = in(reg) dst.add(16 * k),
                a = out(xmm_reg) _,
                options(nostack, preserves_flags),
            );
        }
        k += 1;
    }
}

/// Copies `16 * n` bytes from private memory at `src` into a payload copy
/// at `dst`, with unaligned loads and aligned 16-byte `VMOVDQA` stores (4
/// per iteration).
///
/// # Safety
///
/// As for [`load`] with the roles swapped; `dst`'s words are writable and
/// nobody else stores to them meanwhile (the caller holds write access).
#[inline]
pub(super) unsafe fn store(dst: *mut u8, src: *const u8, n: usize) {
    let mut k = 0;
    while k + 4 <= n {
        // SAFETY: AVX is present (`wide`, caller). The `vmovdqu` loads read
        // the private `src`, in bounds. Each `vmovdqa` is an aligned 16-byte
        // store inside the caller's range of `dst`: one atomic access
        // (module doc), explained as two relaxed atomic stores of the words
        // it covers, the size of every other Rust access to them. No stack
        // use, and no instruction here changes flags.
        unsafe {
            asm!(
                "vmovdqu {a}, xmmword ptr [{s}]",
                "vmovdqu {b}, xmmword ptr [{s} + 16]",
                "vmovdqu {c}, xmmword ptr [{s} + 32]",
                "vmovdqu {d}, xmmword ptr [{s} + 48]",
                "vmovdqa xmmword ptr [{t}], {a}",
                "vmovdqa xmmword ptr [{t} + 16], {b}",
                "vmovdqa xmmword ptr [{t} + 32], {c}",
                "vmovdqa xmmword ptr [{t} + 48], {d}",
                s = in(reg) src.add(16 * k),
                t = in(reg) dst.add(16 * k),
                a = out(xmm_reg) _,
                b = out(xmm_reg) _,
                c = out(xmm_reg) _,
                d = out(xmm_reg) _,
                options(nostack, preserves_flags),
            );
        }
        k += 4;
    }
    while k < n {
        // SAFETY: as above, one 16-byte block.
        unsafe {
            asm!(
                "vmovdqu {a}, xmmword ptr [{s}]",
                "vmovdqa xmmword ptr [{t}], {a}",
                s = in(reg) src.add(16 * k),
                t = in(reg) dst.add(16 * k),
                a = out(xmm_reg) _,
                options(nostack, preserves_flags),
            );
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load_words_narrow, store_words_narrow};

    /// The wide path against the 8-byte one, at every length up to 700 and
    /// every alignment of the private side (the shared side 8-aligned, both
    /// 0 and 8 mod 16).
    #[test]
    fn wide_copies_match_the_word_copies() {
        let pattern: Vec<u8> = (0..800u32).map(|i| (i * 7 + 3) as u8).collect();
        for shared_at in [0usize, 8] {
            for private_at in 0..16 {
                for len in 0..700 {
                    let mut shared = vec![0u128; 48];
                    let base = shared.as_mut_ptr().cast::<u8>();
                    let mut narrow = vec![0u128; 48];
                    let nbase = narrow.as_mut_ptr().cast::<u8>();
                    let src = &pattern[private_at..private_at + len];
                    // SAFETY: `shared_at + len <= 708 < 768` bytes of each
                    // private buffer, 8-aligned; `src` has `len` bytes.
                    unsafe {
                        super::super::store_words(base.add(shared_at), src.as_ptr(), len);
                        store_words_narrow(nbase.add(shared_at), src.as_ptr(), len);
                    }
                    assert_eq!(
                        shared, narrow,
                        "store, at {shared_at}/{private_at}, {len} B"
                    );
                    let mut out = vec![0u8; len + 16];
                    let mut want = vec![0u8; len + 16];
                    // SAFETY: as above; `out`/`want` have `private_at + len`
                    // bytes at most (`private_at < 16`).
                    unsafe {
                        super::super::load_words(
                            base.add(shared_at),
                            out.as_mut_ptr().add(private_at),
                            len,
                        );
                        load_words_narrow(
                            base.add(shared_at),
                            want.as_mut_ptr().add(private_at),
                            len,
                        );
                    }
                    assert_eq!(out, want, "load, at {shared_at}/{private_at}, {len} B");
                    assert_eq!(&out[private_at..private_at + len], src);
                }
            }
        }
    }
}
