"""The optional numpy view: a structured `dtype` made from the descriptor
(numpy is imported only when asked for)."""

from ._descriptor import Array, Enum, Prim, Str, Stream

# Native byte order ("=") for the payload's numbers, as the format says.
_PRIM = {
    1: "=u1", 2: "=i1", 3: "=u2", 4: "=i2", 5: "=u4", 6: "=i4", 7: "=u8", 8: "=i8",
    9: "=f4", 10: "=f8", 11: "=u1", 12: "=i1", 13: "=u2", 14: "=i2", 15: "=u4", 16: "=i4",
    17: "=u8", 18: "=i8", 19: "?", 20: "=u4", 21: "=u2",
}


def dtype(schema):
    """The numpy structured dtype of `schema`: the same offsets and item
    size; bool as numpy bool, char as its u32 code point, Utf16 as u16, an
    enum as its repr integer, FixedStr<N> as a struct (`len`: little-endian
    u16, `bytes`: N raw bytes), a ring's or queue's placeholder as u64, arrays as subarrays, structs nested."""
    import numpy as np

    def ty(t):
        if isinstance(t, Prim):
            return np.dtype(_PRIM[t.code])
        if isinstance(t, Enum):
            return np.dtype(_PRIM[t.repr.code])
        if isinstance(t, Stream):
            return np.dtype("=u8")  # a ring's or queue's placeholder word
        if isinstance(t, Str):
            return np.dtype({"names": ["len", "bytes"], "formats": ["<u2", f"V{t.cap}"],
                             "offsets": [0, 2], "itemsize": t.cap + 2})
        if isinstance(t, Array):
            dims, e = [t.len], t.elem
            while isinstance(e, Array):
                dims.append(e.len)
                e = e.elem
            return np.dtype((ty(e), tuple(dims)))
        return np.dtype({"names": [f.name for f in t.fields],
                         "formats": [ty(f.ty) for f in t.fields],
                         "offsets": [f.offset for f in t.fields], "itemsize": t.size})

    return ty(schema)
