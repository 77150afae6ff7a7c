"""A Python client of a segment made by the Rust `writer` example: the
generated ctypes module (standard library only), no Rust anywhere.

Usage: python3 read_my_shared_data.py NAME [--pause]
(with bindings/python on PYTHONPATH). Prints what it finds; exit 1 with one
line on stderr on error. With --pause it prints `checked` after the check
and waits for a line on stdin before reading (tests change the segment
there).
"""

import sys

import my_shared_data as m


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--pause"]):
        print(f"usage: {sys.argv[0]} NAME [--pause]", file=sys.stderr)
        return 2
    name = sys.argv[1].lstrip("/")
    try:
        # Mapped without the resource tracker (which would remove the live
        # segment at exit below Python 3.13), checked once.
        with m.open_segment(name) as seg:
            if len(sys.argv) == 3:
                print("checked", flush=True)
                sys.stdin.readline()
            h = seg.header  # what was checked, never the live header
            v = seg.read()
    except (OSError, m.SegmentError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    schema = bytes(h.schema_name).split(b"\0", 1)[0].decode()
    print(f"magic={bytes(h.magic[:7]).decode()}")
    print(f"fingerprint={h.fingerprint:#018x}")
    print(f"schema={schema} v{h.schema_version}")
    print(f"value={v.value}")
    print(f"letter={chr(v.letter)}")
    print(f"numbers[10]={v.numbers[10]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
