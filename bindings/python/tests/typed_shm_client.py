"""The `typed_shm` package as a real client process of the interop tests
(shm-cli/tests/python_pkg.rs). Usage (with bindings/python on PYTHONPATH,
or the package installed):

  typed_shm_client.py read NAME            print the value as its repr, then
                                           `version=N`
  typed_shm_client.py field NAME PATH      print one field (`joints[1].mode`)
  typed_shm_client.py write NAME [--hold] FIELD=JSON...
                                           claim write access, write the
                                           fields (the rest unchanged), print
                                           `written N` and, with --hold, wait
                                           for a line on stdin before closing
  typed_shm_client.py wait NAME SINCE SECS [--rw]
                                           print the version after a change,
                                           or `timeout`, after `waiting
                                           futex=True|False` (--rw: a read-write
                                           handle without write access)
  typed_shm_client.py fork NAME            claim write access, fork: the child's
                                           write must be NotWriter and its close
                                           must release nothing; then the parent
                                           writes, prints `parent wrote N` and
                                           waits for a line on stdin
  typed_shm_client.py race-read NAME N     read N times while a writer writes
                                           `value = k`, every number k: print
                                           `consistent distinct=D`, or fail
  typed_shm_client.py race-write NAME N    write N such values, print `done`
  typed_shm_client.py numpy NAME           print the numpy view's itemsize and
                                           its `repr` (numpy must be installed)
  typed_shm_client.py torn NAME            claim write access, start a write
                                           (the target copy's counter odd, its
                                           first word changed), print
                                           `mid-write` and never finish

On error: one line `NAME: message` on stderr, exit 1 (WriterBusy: exit 3).
"""

import json
import re
import sys

import typed_shm


def field(value, path):
    for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def main(argv):
    cmd, name, rest = argv[1], argv[2], argv[3:]
    try:
        if cmd == "read":
            with typed_shm.open(name) as seg:
                value, version = seg.read_with_version()
            print(repr(value))
            print(f"version={version}")
        elif cmd == "field":
            with typed_shm.open(name) as seg:
                print(repr(field(seg.read(), rest[0])))
        elif cmd == "write":
            hold = rest[:1] == ["--hold"]
            changes = dict(a.split("=", 1) for a in rest[hold:])
            with typed_shm.open(name, write=True) as seg:
                if seg.take_over:
                    print(f"took over {seg.take_over}", flush=True)
                version = seg.update(**{k: json.loads(v) for k, v in changes.items()})
                print(f"written {version}", flush=True)
                if hold:
                    sys.stdin.readline()
        elif cmd == "fork":
            import os
            seg = typed_shm.open(name, write=True)
            pid = os.fork()
            if pid == 0:
                try:
                    seg.update(value=666)
                    os._exit(10)
                except typed_shm.NotWriter:
                    pass
                seg.close()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                print(f"child failed: {status}", file=sys.stderr)
                return 1
            print(f"parent wrote {seg.update(value=21)}", flush=True)
            sys.stdin.readline()
            seg.close()
        elif cmd == "race-read":
            seen = set()
            with typed_shm.open(name) as seg:
                for _ in range(int(rest[0])):
                    v = seg.read()
                    if any(x != v.value for x in v.numbers):
                        print(f"torn: value {v.value}, numbers {v.numbers}", file=sys.stderr)
                        return 1
                    seen.add(v.value)
            print(f"consistent distinct={len(seen)}")
        elif cmd == "race-write":
            with typed_shm.open(name, write=True, writer_wait=10.0) as seg:
                for k in range(int(rest[0])):
                    seg.update(value=k, numbers=[k] * len(seg.read().numbers))
            print("done")
        elif cmd == "numpy":
            with typed_shm.open(name) as seg:
                v = seg.read_numpy()
                print(f"itemsize={seg.dtype().itemsize}")
                print(repr(v))
        elif cmd == "torn":
            seg = typed_shm.open(name, write=True)
            seg._begin_torn_write()
            print("mid-write", flush=True)
            sys.stdin.readline()
            return 0
        elif cmd == "wait":
            with typed_shm.open(name, write=rest[2:] == ["--rw"], claim=False) as seg:
                # Whether it will sleep on the futex: a read-write handle,
                # or a read-only one that found the doorbell.
                futex = seg.writable or seg._doorbell() is not None
                print(f"waiting futex={futex}", flush=True)
                got = seg.wait_for_change(int(rest[0]), float(rest[1]))
            print("timeout" if got is None else f"version={got}")
        else:
            print(f"unknown command {cmd!r}", file=sys.stderr)
            return 2
    except typed_shm.WriterBusy as e:
        print(e, file=sys.stderr)
        return 3
    except typed_shm.Error as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
