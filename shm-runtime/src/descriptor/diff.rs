//! Naming the first difference between two schemas: this program's and a
//! segment's ([`first_difference`], [`diff_schemas`]), or an older and a
//! newer version of one schema ([`prefix_difference`]).

use super::{FieldInfo, Schema, TypeInfo};
use crate::LayoutDesc;

/// Names the first difference between the schema this program was compiled
/// with and the one a segment describes, e.g. "field `letter`: this program
/// expects u16 at offset 4, the segment has u8 at offset 4". `None` if they
/// are the same.
pub fn first_difference(expected: &LayoutDesc, found: &Schema) -> Option<String> {
    diff_schemas(&Schema::from_layout(expected), found)
}

/// [`first_difference`] between two owned schemas (`a`: this program's).
pub fn diff_schemas(a: &Schema, b: &Schema) -> Option<String> {
    if a.name != b.name {
        return Some(format!(
            "schema: this program expects `{}`, the segment holds `{}`",
            a.name, b.name
        ));
    }
    diff_struct("", a, b)
}

/// The first reason why `old` is not a layout prefix of `new` (the rule of
/// `#[shm(extends)]`, checked again at open time on the segment's
/// descriptor), or `None` if it is one: the same schema name, and every
/// field of `old` at the same index of `new` with the same name, offset
/// and type. `program_is_old` says which of the two is this program's, for
/// the wording ("this program expects ..., the segment has ...").
pub fn prefix_difference(old: &Schema, new: &Schema, program_is_old: bool) -> Option<String> {
    if old.name != new.name {
        let (a, b) = if program_is_old {
            (old, new)
        } else {
            (new, old)
        };
        return diff_schemas(a, b);
    }
    let (pv, sv) = if program_is_old {
        (old.version, new.version)
    } else {
        (new.version, old.version)
    };
    let why = format!(
        " (v{} is not an extension of v{}: a newer version keeps every field of an older one, \
         in order, and adds fields after them)",
        pv.max(sv),
        pv.min(sv)
    );
    for (i, fo) in old.fields.iter().enumerate() {
        let fnew = new.fields.get(i);
        if fnew.is_some_and(|fnew| field_extends(fo, fnew)) {
            continue;
        }
        let (p, s) = if program_is_old {
            (Some(fo), fnew)
        } else {
            (fnew, Some(fo))
        };
        let at = |f: &FieldInfo| format!("{} at offset {}", describe(&f.ty), f.offset);
        let msg = match (p, s) {
            (Some(p), Some(s)) if p.name == s.name => {
                if p.offset == s.offset
                    && let Some(d) = diff_types(&p.name, &p.ty, &s.ty)
                {
                    d
                } else {
                    format!(
                        "field `{}`: this program expects {}, the segment has {}",
                        p.name,
                        at(p),
                        at(s)
                    )
                }
            }
            (Some(p), Some(s)) if program_is_old => format!(
                "field `{}`: this program expects {}, the segment (v{sv}) has `{}`: {} there",
                p.name,
                at(p),
                s.name,
                at(s)
            ),
            (Some(p), Some(s)) => format!(
                "field `{}`: the segment (v{sv}) has {}, this program has `{}`: {} there",
                s.name,
                at(s),
                p.name,
                at(p)
            ),
            (Some(p), None) => format!(
                "field `{}`: this program expects {}, the segment (v{sv}) has no such field",
                p.name,
                at(p)
            ),
            (None, Some(s)) => format!(
                "field `{}`: the segment (v{sv}) has {}, this program (v{pv}) has no such field",
                s.name,
                at(s)
            ),
            (None, None) => unreachable!("`old` has field {i}"),
        };
        return Some(msg + &why);
    }
    if old.size > new.size || old.align > new.align {
        return Some(format!(
            "size and alignment: v{} is {} bytes aligned to {}, v{} is {} bytes aligned to {}{why}",
            old.version, old.size, old.align, new.version, new.size, new.align
        ));
    }
    None
}

/// Whether `new` is `old` or a newer version of it: the same name, offset
/// and size, and a type that [`type_extends`] `old`'s.
fn field_extends(old: &FieldInfo, new: &FieldInfo) -> bool {
    old.name == new.name
        && old.offset == new.offset
        && old.size == new.size
        && type_extends(&old.ty, &new.ty)
}

/// Whether `new` is `old`, or `old` with variants added at the end of an
/// enum (anywhere inside: in arrays and nested structs too). A program
/// built with `old` reads a variant it does not know as an invalid value.
pub(crate) fn type_extends(old: &TypeInfo, new: &TypeInfo) -> bool {
    match (old, new) {
        (TypeInfo::Enum(a), TypeInfo::Enum(b)) => {
            a.name == b.name
                && a.repr == b.repr
                && a.variants.len() <= b.variants.len()
                && a.variants.iter().zip(&b.variants).all(|(x, y)| x == y)
        }
        (TypeInfo::Array { elem: a, len: m }, TypeInfo::Array { elem: b, len: n }) => {
            m == n && type_extends(a, b)
        }
        (TypeInfo::Struct(a), TypeInfo::Struct(b)) => {
            a.name == b.name
                && a.version == b.version
                && a.size == b.size
                && a.align == b.align
                && a.fields.len() == b.fields.len()
                && a.fields
                    .iter()
                    .zip(&b.fields)
                    .all(|(x, y)| field_extends(x, y))
        }
        (a, b) => a == b,
    }
}

fn describe(t: &TypeInfo) -> String {
    match t {
        TypeInfo::Struct(s) => format!("struct `{}`", s.name),
        TypeInfo::Enum(e) => format!("enum `{}`", e.name),
        t => t.to_string(),
    }
}

fn diff_struct(path: &str, a: &Schema, b: &Schema) -> Option<String> {
    let what = |item: &str| {
        if path.is_empty() {
            item.to_owned()
        } else {
            format!("field `{path}` (struct `{}`): {item}", a.name)
        }
    };
    if a.name != b.name {
        return Some(format!(
            "field `{path}`: this program expects struct `{}`, the segment has struct `{}`",
            a.name, b.name
        ));
    }
    for fa in &a.fields {
        let p = if path.is_empty() {
            fa.name.clone()
        } else {
            format!("{path}.{}", fa.name)
        };
        let Some(fb) = b.fields.iter().find(|f| f.name == fa.name) else {
            let there = b
                .fields
                .iter()
                .find(|f| f.offset == fa.offset)
                .map(|f| {
                    format!(
                        " (it has `{}`: {} at offset {})",
                        f.name,
                        describe(&f.ty),
                        f.offset
                    )
                })
                .unwrap_or_default();
            return Some(format!(
                "field `{p}`: this program expects {} at offset {}, the segment has no such field{there}",
                describe(&fa.ty),
                fa.offset
            ));
        };
        if fa == fb {
            continue;
        }
        if fa.offset == fb.offset
            && let Some(d) = diff_types(&p, &fa.ty, &fb.ty)
        {
            return Some(d);
        }
        return Some(format!(
            "field `{p}`: this program expects {} at offset {}, the segment has {} at offset {}",
            describe(&fa.ty),
            fa.offset,
            describe(&fb.ty),
            fb.offset
        ));
    }
    if let Some(fb) = b
        .fields
        .iter()
        .find(|fb| !a.fields.iter().any(|fa| fa.name == fb.name))
    {
        let p = if path.is_empty() {
            fb.name.clone()
        } else {
            format!("{path}.{}", fb.name)
        };
        return Some(format!(
            "field `{p}`: the segment has {} at offset {}, this program has no such field",
            describe(&fb.ty),
            fb.offset
        ));
    }
    if a.size != b.size {
        return Some(what(&format!(
            "size: this program expects {} bytes, the segment has {} bytes",
            a.size, b.size
        )));
    }
    if a.align != b.align {
        return Some(what(&format!(
            "alignment: this program expects {}, the segment has {}",
            a.align, b.align
        )));
    }
    if a.version != b.version {
        return Some(what(&format!(
            "schema version: this program expects v{}, the segment has v{}",
            a.version, b.version
        )));
    }
    None
}

/// A difference inside two same-offset types that are both structs of one
/// name, or arrays of one length (then the difference is inside them).
fn diff_types(path: &str, a: &TypeInfo, b: &TypeInfo) -> Option<String> {
    match (a, b) {
        (TypeInfo::Struct(sa), TypeInfo::Struct(sb)) if sa.name == sb.name => {
            diff_struct(path, sa, sb)
        }
        (TypeInfo::Array { elem: ea, len: la }, TypeInfo::Array { elem: eb, len: lb })
            if la == lb =>
        {
            diff_types(&format!("{path}[]"), ea, eb)
        }
        (TypeInfo::Enum(ea), TypeInfo::Enum(eb)) if ea.name == eb.name => {
            let show = |v: Option<&(String, u64)>, e: &super::EnumInfo| match v {
                Some((n, x)) => format!(
                    "variant `{n}` = {}",
                    crate::layout::repr_display(e.repr, *x)
                ),
                None => "no variant".to_owned(),
            };
            if ea.repr != eb.repr {
                return Some(format!(
                    "field `{path}`: enum `{}`: this program expects repr {}, the segment has {}",
                    ea.name,
                    ea.repr.rust_name(),
                    eb.repr.rust_name()
                ));
            }
            let i = (0..ea.variants.len().max(eb.variants.len()))
                .find(|&i| ea.variants.get(i) != eb.variants.get(i))?;
            Some(format!(
                "field `{path}`: enum `{}`, variant {i}: this program has {}, the segment has {}",
                ea.name,
                show(ea.variants.get(i), ea),
                show(eb.variants.get(i), eb)
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Prim;
    use crate::descriptor::tests::DATA;

    #[test]
    fn differences_are_named() {
        let found = |f: &dyn Fn(&mut Schema)| {
            let mut s = Schema::from_layout(&DATA);
            f(&mut s);
            diff_schemas(&Schema::from_layout(&DATA), &s).unwrap()
        };
        assert_eq!(
            found(&|s| {
                s.fields[1].ty = TypeInfo::Prim(Prim::U8);
                s.fields[1].size = 1;
            }),
            "field `letter`: this program expects u16 at offset 4, the segment has u8 at offset 4"
        );
        assert_eq!(
            found(&|s| s.fields[1].name = "character".into()),
            "field `letter`: this program expects u16 at offset 4, the segment has no such field \
             (it has `character`: u16 at offset 4)"
        );
        assert_eq!(
            found(&|s| s.fields[3].ty = TypeInfo::Array {
                elem: Box::new(TypeInfo::Prim(Prim::F32)),
                len: 49
            }),
            "field `numbers`: this program expects [f32; 50] at offset 8, the segment has [f32; 49] at offset 8"
        );
        let nested = found(&|s| {
            let TypeInfo::Struct(i) = &mut s.fields[4].ty else {
                unreachable!()
            };
            i.fields[1].ty = TypeInfo::Prim(Prim::I32);
        });
        assert_eq!(
            nested,
            "field `inner.b`: this program expects f32 at offset 4, the segment has i32 at offset 4"
        );
        let in_array = found(&|s| {
            let TypeInfo::Array { elem, .. } = &mut s.fields[5].ty else {
                unreachable!()
            };
            let TypeInfo::Struct(i) = &mut **elem else {
                unreachable!()
            };
            i.fields[0].name = "z".into();
        });
        assert!(in_array.starts_with("field `pair[].a`: "), "{in_array}");
        assert_eq!(
            found(&|s| s.name = "Alphabet".into()),
            "schema: this program expects `MySharedData`, the segment holds `Alphabet`"
        );
        assert_eq!(
            found(&|s| s.version = 2),
            "schema version: this program expects v1, the segment has v2"
        );
        assert_eq!(
            found(&|s| {
                s.fields.pop();
            }),
            "field `pair`: this program expects [Inner; 2] at offset 216, the segment has no such field"
        );
    }
}
