"""Never trusting a segment, from Python: copies of the segment NAME (a
POSIX segment made by the Rust test) with bytes changed, one at a time, in
the header, the descriptor and the payload, written to files under DIR and
opened as `file:` segments. Every open and read must either succeed or
raise a typed_shm.Error (never another exception, a hang or a crash);
where the schema has rings and queues, their bytes are changed too, and
every ring is read from its oldest message and every queue drained
(through a read-write handle of the copy) within a bound of calls; and
`decode` of every changed and truncated descriptor must either succeed or
raise DescriptorError. Prints `ok N` (N cases) on success.

Usage: fuzz_typed_shm.py NAME DIR
"""

import os
import random
import sys

import typed_shm
from typed_shm._descriptor import DescriptorError, decode
from typed_shm._streams import streams_offset

VALUES = (0, 1, 2, 0x20, 0x30, 0x40, 0x50, 0x7F, 0x80, 0xFF)


def drain(seg):
    """Reads every ring from its oldest message and drains every queue,
    each within a bound of calls; only typed_shm errors may come out."""
    for p in seg.streams():
        try:
            if p.type.queue:
                with seg.consumer(p.path) as c:
                    for _ in range(p.type.cap + 2):
                        try:
                            if c.try_recv() is None:
                                break
                        except typed_shm.InvalidValue:
                            continue
            else:
                sub = seg.subscribe(p.path, start="oldest")
                for _ in range(3 * p.type.cap + 4):
                    try:
                        if sub.try_recv() is None:
                            break
                    except typed_shm.InvalidValue:
                        continue
        except typed_shm.Error as e:
            assert "\x1b" not in str(e)


def main(name, tmp):
    with open(f"/dev/shm/{name}", "rb") as f:
        image = f.read()
    with typed_shm.open(name) as seg:
        h = seg.header
        desc_at, desc_len = h.descriptor_offset, h.descriptor_len
        payload, backup, size = h.payload_offset, h.backup_offset, h.payload_size
        streams = streams_offset(backup, h.capacity)
        streams_len = sum(p.region_len for p in seg.streams())
    desc = image[desc_at:desc_at + desc_len]
    cases = 0
    # The descriptor alone: every truncation, every byte changed.
    for n in range(len(desc)):
        try:
            decode(desc[:n])
            raise AssertionError(f"a descriptor cut to {n} bytes was accepted")
        except DescriptorError:
            pass
        cases += 1
    for i in range(len(desc)):
        for v in VALUES:
            m = bytearray(desc)
            m[i] = v
            try:
                decode(bytes(m))
            except DescriptorError:
                pass
            cases += 1
    rng = random.Random(7)
    for n in range(300):
        try:
            decode(b"SHMD\x01\x00\x00\x00" + bytes(rng.randrange(256) for _ in range(n)))
        except DescriptorError:
            pass
        cases += 1
    # Whole segments: header bytes, descriptor bytes (the fingerprint then
    # fails) and payload bytes (in both copies) changed.
    path = os.path.join(tmp, f"fuzz-{os.getpid()}")
    places = [(i, [i]) for i in range(256) if not 248 <= i < 256]
    places += [(desc_at + i, [desc_at + i]) for i in range(0, desc_len, 7)]
    places += [(i, [payload + i, backup + i]) for i in range(size)]
    places += [(i, [streams + i]) for i in range(streams_len)]
    with open(path, "wb") as f:
        f.write(image)
    fd = os.open(path, os.O_WRONLY)
    try:
        for _, offsets in places:
            for v in (0, 1, 0x80, 0xFF):
                # The image with these bytes changed (and, after, restored).
                for o in offsets:
                    os.pwrite(fd, bytes([v]), o)
                try:
                    with typed_shm.open(f"file:{path}", write=streams_len > 0, claim=False,
                                        timeout=0.01) as seg:
                        seg.read(timeout=0.05)
                        drain(seg)
                except typed_shm.Error as e:
                    assert "\x1b" not in str(e)
                for o in offsets:
                    os.pwrite(fd, image[o:o + 1], o)
                if streams_len:
                    # A consumer stores its position and claim word.
                    os.pwrite(fd, image[streams:streams + streams_len], streams)
                cases += 1
        # Truncated objects.
        for n in (0, 1, 255, 256, payload, backup, len(image) - 1):
            with open(path, "wb") as f:
                f.write(image[:n])
            try:
                with typed_shm.open(f"file:{path}", timeout=0.01) as seg:
                    seg.read(timeout=0.05)
                raise AssertionError(f"a segment cut to {n} bytes was accepted")
            except typed_shm.Error:
                pass
            cases += 1
    finally:
        os.close(fd)
        if os.path.exists(path):
            os.unlink(path)
    print(f"ok {cases}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
