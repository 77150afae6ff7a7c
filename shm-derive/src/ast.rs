//! The derive input, reduced to what `#[derive(SharedLayout)]` cares about.

use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;

/// A parsed derive input. Anything that is not a struct with named fields is
/// kept as a [`Shape`] so that [`crate::check`] can say what to write instead.
pub struct Input<'a> {
    /// The item as syn parsed it.
    pub original: &'a DeriveInput,
    /// The `#[shm(...)]` attributes of the item.
    pub attrs: attr::Container,
    /// The `#[repr(...)]` attributes of the item.
    pub repr: attr::Repr,
    /// What kind of item it is.
    pub shape: Shape<'a>,
}

/// The kinds of item a derive can be placed on.
pub enum Shape<'a> {
    /// `struct S { a: A, ... }`: the only supported shape.
    Named(Vec<Field<'a>>),
    /// `struct S(A, ...);`
    Tuple(&'a syn::FieldsUnnamed),
    /// `struct S;`
    Unit,
    /// `enum E { ... }`
    Enum(&'a syn::token::Enum),
    /// `union U { ... }`
    Union(&'a syn::token::Union),
}

/// One named field.
pub struct Field<'a> {
    /// The field as syn parsed it.
    pub original: &'a syn::Field,
    /// Its name.
    pub ident: &'a Ident,
    /// Its type.
    pub ty: &'a Type,
    /// Its `#[shm(...)]` attributes.
    pub attrs: attr::Field,
}

impl<'a> Input<'a> {
    /// Reads `node`; attribute errors are recorded in `cx`.
    pub fn from_syn(cx: &Ctxt, node: &'a DeriveInput) -> Self {
        let shape = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => Shape::Named(
                    fields
                        .named
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            cx.set_field(Some(i));
                            Field::from_syn(cx, f)
                        })
                        .collect(),
                ),
                Fields::Unnamed(fields) => Shape::Tuple(fields),
                Fields::Unit => Shape::Unit,
            },
            Data::Enum(data) => Shape::Enum(&data.enum_token),
            Data::Union(data) => Shape::Union(&data.union_token),
        };
        cx.set_field(None);
        Input {
            original: node,
            attrs: attr::Container::from_attrs(cx, &node.attrs),
            repr: attr::Repr::from_attrs(&node.attrs),
            shape,
        }
    }

    /// The type's name.
    pub fn ident(&self) -> &'a Ident {
        &self.original.ident
    }

    /// The type's visibility.
    pub fn vis(&self) -> &'a Visibility {
        &self.original.vis
    }
}

impl<'a> Field<'a> {
    fn from_syn(cx: &Ctxt, field: &'a syn::Field) -> Self {
        Field {
            original: field,
            ident: field
                .ident
                .as_ref()
                .expect("fields of a braced struct are named"),
            ty: &field.ty,
            attrs: attr::Field::from_attrs(cx, &field.attrs),
        }
    }

    /// Whether this is explicit padding (`_pad: [u8; N]`): a field whose name
    /// starts with `_` is part of the layout but gets no accessor.
    pub fn is_padding(&self) -> bool {
        self.name().starts_with('_')
    }

    /// The field's name as a string, without any `r#`.
    pub fn name(&self) -> String {
        unraw(self.ident)
    }
}

/// The name of an identifier without any `r#` prefix.
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    match s.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

impl Input<'_> {
    /// The stable schema name: `#[shm(name = "...")]`, else the type name.
    pub fn schema_name(&self) -> String {
        match &self.attrs.name {
            Some(lit) => lit.value(),
            None => unraw(self.ident()),
        }
    }

    /// The schema version: `#[shm(version = N)]`, else 1.
    pub fn version(&self) -> u32 {
        self.attrs
            .version
            .as_ref()
            .map_or(1, |v| u32::try_from(v.value).unwrap_or(u32::MAX))
    }
}
