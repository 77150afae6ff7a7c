//! What to emit when the input has mistakes.
//!
//! Every collected error becomes a `compile_error!`, all of them in one
//! expansion. Next to them goes a stub of the impls the derive would have
//! written (a `ShmSafe`/`SharedLayout` impl with an empty layout and the
//! `{Name}Fields` struct), so that code using the struct as a schema
//! elsewhere in the crate does not add a cascade of "trait not implemented"
//! errors to the real ones. The stub is never run: the crate does not
//! compile.
//!
//! Structs with generic parameters get no stub (the impls would need bounds
//! that are themselves errors); the generics error is the one to fix first.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitStr};

use crate::ast::unraw;
use crate::expand::{access_param, fields_ident, private};

/// `compile_error!`s for `errors`, plus the stub impls.
pub fn expand(node: &DeriveInput, errors: &[syn::Error]) -> TokenStream {
    let compile_errors = errors.iter().map(syn::Error::to_compile_error);
    let stub = if node.generics.params.is_empty() {
        stub(node)
    } else {
        TokenStream::new()
    };
    quote! {
        #(#compile_errors)*
        #stub
    }
}

fn stub(node: &DeriveInput) -> TokenStream {
    let p = private();
    let ident = &node.ident;
    let vis = &node.vis;
    let fields_ident = fields_ident(ident);
    // The struct's own fields do not appear in the stub.
    let access = access_param(ident, []);
    let name = LitStr::new(&unraw(ident), ident.span());
    quote! {
        #[doc(hidden)]
        #[allow(dead_code)]
        #[repr(transparent)]
        #vis struct #fields_ident<'a, #access: #p::Access = #p::ReadOnly>(#p::Field<'a, #ident, #access>);

        #[allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
        const _: () = {
            unsafe impl #p::ShmSafe for #ident {
                const TYPE: #p::TypeDesc = #p::TypeDesc::Struct(&<#ident as #p::SharedLayout>::LAYOUT);
            }
            unsafe impl #p::SharedLayout for #ident {
                const LAYOUT: #p::LayoutDesc = #p::LayoutDesc {
                    name: #name,
                    version: 1,
                    size: 0,
                    align: 1,
                    fields: &[],
                };
                type Fields<'a, A: #p::Access> = #fields_ident<'a, A>;
            }
            impl<'a, #access: #p::Access> #p::From<#p::Field<'a, #ident, #access>> for #fields_ident<'a, #access> {
                fn from(field: #p::Field<'a, #ident, #access>) -> Self {
                    #fields_ident(field)
                }
            }
        };
    }
}
