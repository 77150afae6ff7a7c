"""A Python client of a segment made by the Rust `writer` example: the
standard library's multiprocessing.shared_memory and the generated ctypes
module, no Rust anywhere.

Usage: python3 read_my_shared_data.py NAME   (with bindings/python on PYTHONPATH)
Prints what it finds; exit 1 with one line on stderr on error.
"""

import sys
from multiprocessing import resource_tracker, shared_memory

import my_shared_data as m


def attach(name):
    """Opens an existing segment without letting Python remove it at exit."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    shm = shared_memory.SharedMemory(name=name)
    # Before 3.13 every SharedMemory is registered with the resource tracker,
    # which unlinks it when this process exits: we only borrowed it.
    resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
    return shm


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} NAME", file=sys.stderr)
        return 2
    name = sys.argv[1].lstrip("/")  # SharedMemory names have no leading slash
    try:
        shm = attach(name)
    except OSError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    try:
        h = m.check(shm.buf)
        v = m.read(shm.buf)
    except m.SegmentError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    finally:
        shm.close()
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
