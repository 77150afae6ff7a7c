//! Error collection, modelled on `serde_derive`'s `Ctxt`.
//!
//! Every check pushes its errors here instead of returning early, so that all
//! the mistakes of one struct are reported by a single compile.
//!
//! Errors are reported in source order as far as it matters: everything
//! about the item itself (attributes, `repr`, generics) first, then each
//! field in declaration order, whatever order the checks ran in.

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// Collects the errors found while parsing and checking one derive input.
///
/// [`Ctxt::check`] must be called before the context is dropped, so that no
/// error can be forgotten.
pub struct Ctxt {
    /// (section, error); see [`Ctxt::set_field`].
    errors: RefCell<Option<Vec<(usize, syn::Error)>>>,
    section: Cell<usize>,
}

impl Ctxt {
    /// An empty context.
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
            section: Cell::new(0),
        }
    }

    /// Errors recorded from now on are about field `index` (`None`: about
    /// the item itself), and are reported after those of earlier fields.
    pub fn set_field(&self, index: Option<usize>) {
        self.section.set(index.map_or(0, |i| i + 1));
    }

    /// Records an error spanning the tokens of `obj`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, obj: T, msg: M) {
        self.syn_error(syn::Error::new_spanned(obj.into_token_stream(), msg));
    }

    /// Records an error at `span`.
    pub fn error_at<M: Display>(&self, span: Span, msg: M) {
        self.syn_error(syn::Error::new(span, msg));
    }

    /// Records an error produced by syn.
    pub fn syn_error(&self, err: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check()")
            .push((self.section.get(), err));
    }

    /// Consumes the context: `Ok` if no error was recorded, otherwise every
    /// recorded error, item errors first, then field by field.
    pub fn check(self) -> Result<(), Vec<syn::Error>> {
        let mut errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        // Stable: errors within a section keep the order they were found in.
        errors.sort_by_key(|(section, _)| *section);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.into_iter().map(|(_, e)| e).collect())
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("forgot to check for errors");
        }
    }
}
