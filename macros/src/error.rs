//! Errors collected during expansion. Each refusal is one call at its site,
//! `errors.push(tokens, "…")`; all of them reach the user, combined, as
//! `compile_error!`s pointing at their tokens. The macro never panics.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

#[derive(Default)]
pub struct Errors {
    list: Vec<syn::Error>,
}

impl Errors {
    /// Records an error pointing at `at` (any syntax tree node or token).
    pub fn push(&mut self, at: impl ToTokens, msg: impl std::fmt::Display) {
        self.list.push(syn::Error::new_spanned(at, msg));
    }

    /// Records an error pointing at a span.
    pub fn push_span(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.list.push(syn::Error::new(span, msg));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All errors as one `syn::Error`, or `Ok` when there were none.
    pub fn finish(self) -> syn::Result<()> {
        let mut iter = self.list.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in iter {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}

/// The errors as `compile_error!` invocations.
pub fn to_compile_errors(err: syn::Error) -> TokenStream {
    err.to_compile_error()
}
