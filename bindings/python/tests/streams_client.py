"""The `typed_shm` package's rings and queues as a real client process of
the interop tests (shm-cli/tests/python_streams.rs), on a segment of the
`schemas` crate's `Plant` schema (schemas/src/plant.rs: `events:
Ring<Event, 1024>`, `commands: Queue<Command, 64>`). As
`Event::numbered` and `Command::numbered` make them, event number i has
id i, value 3 i, kind i % 3 (Started, Reading, Stopped), ok for odd i and
tag "ev"; command number i has id i, setpoint i / 2, action i % 3 (Hold,
Set, Shutdown) and urgent when i % 3 == 0. A message is well formed when
it is the one its id says. Usage:

  streams_client.py drain NAME START   subscribe (START: new|oldest), print
                                       `subscribed P`, wait for a line on
                                       stdin, then print what is there now
                                       (`lost N`, `msg ID`) and `end P`
  streams_client.py follow NAME COUNT  subscribe (new), print `subscribed P`,
                                       receive (recv) until COUNT messages are
                                       received or lost; print `received R
                                       lost L bad B`
  streams_client.py batch NAME SIZE    subscribe (new), print `subscribed P`,
                                       wait for a line, then receive batches
                                       (recv_batch(SIZE)) until one is empty
                                       without a loss, printing `batch C lost
                                       L` for each, then `bad B` (messages
                                       out of order or not well formed)
  streams_client.py batches NAME SIZE  subscribe (oldest), then three times
                                       recv_batch(SIZE): print `batch [IDS]
                                       lost L position P`, or `invalid`
  streams_client.py lapped NAME        claim write access; publish_all no
                                       events, then 3, printing `publish_all
                                       N1 N2` (their results); then receive
                                       batches of 5 (from the first) while
                                       the publisher laps the subscriber
                                       after its second message; print
                                       `batch [IDS] lost L position P` twice
  streams_client.py publish NAME COUNT claim write access, publish COUNT
                                       events (ids from 0), print `published N`
  streams_client.py consume NAME COUNT [WAIT]
                                       claim the queue (waiting up to WAIT s,
                                       10 by default),
                                       print `consuming took_over=PID|None`,
                                       receive COUNT commands; print `consumed N
                                       bad B`
  streams_client.py produce NAME COUNT claim write access, send COUNT commands
                                       (waiting for room); print `sent N`
  streams_client.py hold NAME          claim the queue, peek the next command
                                       without acknowledging it, print
                                       `peeked ID pid P` and wait on stdin
  streams_client.py outcomes NAME K    for each line on stdin: subscribe from
                                       the oldest message, print `start P`,
                                       then K outcomes of try_recv (`msg ID
                                       KIND OK`, `lost N`, `none`, `invalid`,
                                       `corrupt: WHAT`) and `done`
  streams_client.py queue-outcomes NAME K
                                       for each line on stdin: claim the
                                       queue, print K outcomes of try_recv
                                       (`msg ID`, `none`, `invalid`, `corrupt:
                                       WHAT`), `done P`, and let go
  streams_client.py corrupt NAME       subscribe (new), print `subscribed P`,
                                       wait for a line, then try_recv until an
                                       error: print `invalid: ...` for an
                                       InvalidValue (and go on), `corrupt: ...`
                                       for Corrupt (and stop), within a bound

On error: one line `NAME: message` on stderr, exit 1.
"""

import sys

import typed_shm


KINDS = ("Started", "Reading", "Stopped")
ACTIONS = ("Hold", "Set", "Shutdown")


def event(i):
    return {"id": i, "value": float(3 * i), "kind": KINDS[i % 3], "ok": i % 2 == 1, "tag": "ev"}


def command(i):
    return {"id": i, "setpoint": i / 2, "action": ACTIONS[i % 3], "urgent": i % 3 == 0,
            "_pad": [0] * 6}


def well_formed(m):
    """Whether event `m` is the one its id says."""
    i = m.id
    return (m.value == 3 * i and m.kind.name == KINDS[i % 3] and m.ok == (i % 2 == 1)
            and m.tag == "ev")


def well_formed_command(m):
    """Whether command `m` is the one its id says."""
    i = m.id
    return m.setpoint == i / 2 and m.action.name == ACTIONS[i % 3] and m.urgent == (i % 3 == 0)


def _what(e, path):
    """The Rust runtime's description in a Corrupt error about `path`."""
    text = str(e).split(": ", 1)[1]
    suffix = f" (field `{path}`)"
    assert text.endswith(suffix), text
    return text[:-len(suffix)]


def say(*args):
    print(*args, flush=True)


def main(argv):
    cmd, name, rest = argv[1], argv[2], argv[3:]
    try:
        if cmd == "drain":
            with typed_shm.open(name) as seg:
                sub = seg.subscribe("events", start=rest[0])
                say(f"subscribed {sub.position}")
                sys.stdin.readline()
                for got in sub:
                    if isinstance(got, typed_shm.Lost):
                        say(f"lost {got.count}")
                    else:
                        say(f"msg {got.id}" + ("" if well_formed(got) else " bad"))
                say(f"end {sub.position}")
        elif cmd == "follow":
            count = int(rest[0])
            with typed_shm.open(name, timeout=10) as seg:
                sub = seg.subscribe("events")
                say(f"subscribed {sub.position}")
                received = lost = bad = 0
                expect = sub.position
                while received + lost < count:
                    got = sub.recv(timeout=20)
                    if got is None:
                        break
                    if isinstance(got, typed_shm.Lost):
                        lost += got.count
                        expect += got.count
                        continue
                    if got.id != expect or not well_formed(got):
                        bad += 1
                    received += 1
                    expect = got.id + 1
                say(f"received {received} lost {lost} bad {bad}")
        elif cmd == "batch":
            size = int(rest[0])
            with typed_shm.open(name) as seg:
                sub = seg.subscribe("events")
                say(f"subscribed {sub.position}")
                sys.stdin.readline()
                bad = 0
                while True:
                    first = sub.position
                    msgs, lost = sub.recv_batch(size)
                    say(f"batch {len(msgs)} lost {lost}")
                    # Consecutive: the numbers right after the loss (event
                    # number i has id i here).
                    bad += sum(1 for k, m in enumerate(msgs)
                               if m.id != first + lost + k or not well_formed(m))
                    if not msgs and not lost:
                        break
                say(f"bad {bad}")
        elif cmd == "batches":
            with typed_shm.open(name) as seg:
                sub = seg.subscribe("events", start="oldest")
                for _ in range(3):
                    try:
                        msgs, lost = sub.recv_batch(int(rest[0]))
                        say(f"batch {[m.id for m in msgs]} lost {lost} position {sub.position}")
                    except typed_shm.InvalidValue:
                        say("invalid")
        elif cmd == "lapped":
            with typed_shm.open(name, write=True, writer_wait=10) as seg:
                pub = seg.publisher("events")
                sub = seg.subscribe("events")
                none = pub.publish_all([])
                say(f"publish_all {none} {pub.publish_all(event(i) for i in range(3))}")
                step, calls = sub._step, [0]

                def lapping():
                    calls[0] += 1
                    if calls[0] == 3:  # after two messages
                        pub.publish_all([event(i) for i in range(3, 3 + pub.capacity)])
                    return step()

                sub._step = lapping
                for _ in range(2):
                    msgs, lost = sub.recv_batch(5)
                    say(f"batch {[m.id for m in msgs]} lost {lost} position {sub.position}")
        elif cmd == "publish":
            with typed_shm.open(name, write=True, writer_wait=10) as seg:
                pub = seg.publisher("events")
                for i in range(int(rest[0])):
                    pub.publish(event(i))
                say(f"published {pub.published}")
        elif cmd == "consume":
            count = int(rest[0])
            with typed_shm.open(name, write=True, claim=False) as seg:
                wait = float(rest[1]) if len(rest) > 1 else 10.0
                with seg.consumer("commands", wait=wait) as c:
                    say(f"consuming took_over={c.took_over_from}")
                    n = bad = 0
                    while n < count:
                        m = c.recv(timeout=20)
                        if m is None:
                            break
                        if m.id != n or not well_formed_command(m):
                            bad += 1
                        n += 1
                    say(f"consumed {n} bad {bad}")
        elif cmd == "produce":
            with typed_shm.open(name, write=True, writer_wait=10) as seg:
                p = seg.producer("commands")
                for i in range(int(rest[0])):
                    p.send(command(i), timeout=20)
                say(f"sent {p.sent}")
        elif cmd == "hold":
            import os
            import time

            seg = typed_shm.open(name, write=True, claim=False)
            c = seg.consumer("commands", wait=10)
            deadline = time.monotonic() + 20
            m = c.peek()
            while m is None and time.monotonic() < deadline:
                time.sleep(0.002)
                m = c.peek()
            say(f"peeked {None if m is None else m.id} pid {os.getpid()}")
            sys.stdin.readline()
        elif cmd == "outcomes":
            k = int(rest[0])
            with typed_shm.open(name) as seg:
                for _ in sys.stdin:
                    sub = seg.subscribe("events", start="oldest")
                    say(f"start {sub.position}")
                    for _ in range(k):
                        try:
                            got = sub.try_recv()
                        except typed_shm.InvalidValue:
                            say("invalid")
                            continue
                        except typed_shm.Corrupt as e:
                            say("corrupt: " + _what(e, "events"))
                            continue
                        if got is None:
                            say("none")
                        elif isinstance(got, typed_shm.Lost):
                            say(f"lost {got.count}")
                        else:
                            say(f"msg {got.id} {int(got.kind)} {int(got.ok)}")
                    say(f"done {sub.position}")
        elif cmd == "queue-outcomes":
            k = int(rest[0])
            with typed_shm.open(name, write=True, claim=False) as seg:
                for _ in sys.stdin:
                    with seg.consumer("commands") as c:
                        for _ in range(k):
                            try:
                                got = c.try_recv()
                                say("none" if got is None else f"msg {got.id}")
                            except typed_shm.InvalidValue:
                                say("invalid")
                            except typed_shm.Corrupt as e:
                                say("corrupt: " + _what(e, "commands"))
                        pos = c.position
                    say(f"done {pos}")  # once the queue is let go
        elif cmd == "corrupt":
            with typed_shm.open(name) as seg:
                sub = seg.subscribe("events")
                say(f"subscribed {sub.position}")
                sys.stdin.readline()
                for _ in range(100):
                    try:
                        got = sub.try_recv()
                    except typed_shm.InvalidValue as e:
                        say(f"invalid: {e}")
                        continue
                    except typed_shm.Corrupt as e:
                        say(f"corrupt: {e}")
                        break
                    say(f"got {got!r}")
                    if got is None:
                        break
        else:
            raise SystemExit(f"unknown command {cmd}")
    except typed_shm.ConsumerBusy as e:
        print(f"{e} (pid {e.pid}, this process {e.this_process})", file=sys.stderr)
        return 1
    except typed_shm.Error as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
