//! `#[derive(SharedLayout)]`. Placeholder: being written.
use proc_macro::TokenStream;

/// Derives `shm_runtime::SharedLayout`.
#[proc_macro_derive(SharedLayout, attributes(shm))]
pub fn derive_shared_layout(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
