//! Error collection: every problem found is kept and reported together, as one `syn::Error`
//! built with [`syn::Error::combine`], so the user sees all mistakes of a declaration at once
//! (the approach of serde_derive's `Ctxt`).

use proc_macro2::Span;
use std::fmt::Display;

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    count: usize,
}

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.combined {
            Some(all) => all.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Number of errors recorded so far; callers compare counts to see whether a step failed.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
