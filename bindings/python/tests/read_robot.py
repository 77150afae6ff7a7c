"""A client of the `Robot` schema (every checked type) through its
generated ctypes module (standard library only): the natural values, or
the InvalidValue the module raises for a value Rust's reader refuses.

Usage: python3 read_robot.py NAME (with the generated robot.py on
PYTHONPATH; the tests generate it, since bindings/ does not hold it).
Prints one line per field; exit 1 with the error's message on stderr.
"""

import sys

import robot as m


def main():
    try:
        with m.open_segment(sys.argv[1]) as seg:
            v = seg.read()
    except m.SegmentError as e:
        print(e, file=sys.stderr)
        return 1
    assert isinstance(v.armed_value, bool) and isinstance(v.mode_value, m.Mode)
    print(f"seq={v.seq}")
    print(f"initial={v.initial_value!r} letter={v.letter_value!r} armed={v.armed_value}")
    print(f"mode={v.mode_value!r} label={v.label_value!r} flags={v.flags_value}")
    for j in v.joints:
        print(f"joint {j.position} {j.mode_value.name} {j.enabled_value} {j.axis_value.name} {j.name_value!r}")
    print(f"names={v.names_value}")
    # The raw ctypes fields stay the storage.
    print(f"raw armed={v.armed} mode={v.mode} initial={v.initial:#x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
