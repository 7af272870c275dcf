//! Error collection: every problem found is kept and reported together, as one `syn::Error`
//! built with [`syn::Error::combine`], so the user sees all mistakes of a declaration at once
//! (the approach of serde_derive's `Ctxt`).

use proc_macro2::Span;
use std::collections::HashSet;
use std::fmt::Display;

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
    count: usize,
    /// (message, span) of every error kept: a trunk declared `same as` another repeats the
    /// other's layers (and spans), and its shape errors must not be reported twice.
    seen: HashSet<(String, String)>,
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
        // Counted even when deduplicated: callers use the count to see that a step failed.
        self.count += 1;
        if !self.seen.insert((error.to_string(), format!("{:?}", error.span()))) {
            return;
        }
        match &mut self.combined {
            Some(all) => all.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Number of errors recorded so far; callers compare counts to see whether a step failed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Moves `other`'s errors into `self`, appending `note` to each message, except errors
    /// identical (message and span) to one already recorded, which are only counted.
    pub fn absorb(&mut self, other: Errors, note: &str) {
        for error in other.combined.into_iter().flatten() {
            let key = (error.to_string(), format!("{:?}", error.span()));
            if self.seen.contains(&key) {
                self.count += 1;
            } else {
                self.at(error.span(), format!("{}{note}", key.0));
            }
        }
    }

    pub fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
