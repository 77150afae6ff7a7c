//! The rings and queues of a schema in the Python module: their field
//! paths, message types and capacities, for the `typed_shm` segment that
//! `open_typed` returns (its `subscribe`, `publisher`, `consumer` and
//! `producer`). Nothing is emitted for a schema without them.

use std::fmt::Write as _;

use shm_runtime::descriptor::Schema;

use crate::py_string;

/// The module docstring's paragraph on the schema's rings and queues ("" if
/// it has none).
pub(super) fn doc(schema: &Schema) -> String {
    let streams = schema.streams().unwrap_or_default();
    let Some(first) = streams.first() else {
        return String::new();
    };
    let mut out = String::from(
        "\nRings and queues (docs/FORMAT.md, \"Streams: message rings\") are read and\n\
         written through the typed_shm package: open_typed(name) returns its\n\
         Segment, whose subscribe(path) / publisher(path) serve a ring and\n\
         consumer(path) / producer(path) a queue; RINGS and QUEUES below list\n\
         this schema's, e.g.\n\n",
    );
    let path = py_string(&first.path);
    let _ = if first.queue {
        writeln!(
            out,
            "    with open_typed(\"MyShare\", write=True, claim=False) as seg, \\\n        \
             seg.consumer(\"{path}\") as c:\n        msg = c.recv(timeout=1.0)      \
             # the next message, or None"
        )
    } else {
        writeln!(
            out,
            "    with open_typed(\"MyShare\") as seg:\n        \
             sub = seg.subscribe(\"{path}\", start=\"oldest\")\n        \
             msg = sub.recv(timeout=1.0)  # a message, a typed_shm.Lost(n), or None"
        )
    };
    out
}

/// The `RINGS` and `QUEUES` constants ("" without rings and queues).
pub(super) fn constants(schema: &Schema) -> String {
    let streams = schema.streams().unwrap_or_default();
    if streams.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (name, queue, what) in [
        ("RINGS", false, "rings (subscribe, publisher)"),
        ("QUEUES", true, "queues (consumer, producer)"),
    ] {
        let _ = writeln!(out, "{name} = {{");
        for s in streams.iter().filter(|s| s.queue == queue) {
            let _ = writeln!(
                out,
                "    \"{}\": (\"{}\", {}),",
                py_string(&s.path),
                py_string(&s.elem.to_string()),
                s.cap
            );
        }
        let _ = writeln!(
            out,
            "}}\n\"\"\"The schema's {what}: field path -> (message type, capacity).\"\"\"\n"
        );
    }
    out
}
