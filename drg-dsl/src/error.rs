//! Error collection, after serde_derive's `Ctxt`: every check records its problems here and goes
//! on, and the declaration fails once, at the end, with all of them combined
//! ([`syn::Error::combine`]), so the user sees every mistake of a declaration in one compile.
//!
//! Whether a step failed is never read off a running count: a step that must know whether *it*
//! reported something runs in [`Errors::check`], which gives it a collector of its own.
//!
//! An error raised while checking one layer call carries that call's [`Site`]. The same call can
//! be checked more than once: a trunk declared `same as` another re-infers the other's layers on
//! its own input, and a shared pipeline's calls sit in every model that uses it. An error with the
//! same site and the same message is the same mistake, and it is kept once ([`Errors::push`]
//! here, and across models by [`crate::expand`]). Errors without a site are all kept. The call
//! is the unit: two tokens of one call with the same message (`conv(nk, nk)`, `nk` missing) are
//! reported once, at the first.

use crate::ast::Site;
use proc_macro2::Span;
use std::fmt::Display;

/// One recorded error and the call it was raised for, if any.
pub(crate) struct Reported {
    pub error: syn::Error,
    pub site: Option<Site>,
}

#[derive(Default)]
pub(crate) struct Errors {
    reported: Vec<Reported>,
    /// The call being checked: errors recorded now carry it.
    site: Option<Site>,
}

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records `error` for the call being checked; an error already recorded for the same call
    /// with the same message is the same mistake, found again, and is not repeated.
    pub fn push(&mut self, error: syn::Error) {
        if !self.is_repeat(self.site, &error.to_string()) {
            self.reported.push(Reported { error, site: self.site });
        }
    }

    /// Whether an error with `message` is already recorded for the call `site`.
    fn is_repeat(&self, site: Option<Site>, message: &str) -> bool {
        site.is_some() && self.reported.iter().any(|r| r.site == site && r.error.to_string() == message)
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.reported.is_empty()
    }

    /// Runs one check with a collector of its own (for the same call), keeps what it reported,
    /// and returns its value with whether it reported nothing.
    pub fn check<T>(&mut self, check: impl FnOnce(&mut Errors) -> T) -> (T, bool) {
        let mut own = Errors { reported: Vec::new(), site: self.site };
        let value = check(&mut own);
        let clean = own.is_empty();
        for r in own.reported {
            if !self.is_repeat(r.site, &r.error.to_string()) {
                self.reported.push(r);
            }
        }
        (value, clean)
    }

    /// Runs `check` with the errors it records attributed to the layer call `site`.
    pub fn for_call<T>(&mut self, site: Site, check: impl FnOnce(&mut Errors) -> T) -> T {
        let outer = self.site.replace(site);
        let value = check(self);
        self.site = outer;
        value
    }

    /// Keeps `other`'s errors that are not already here (same call, same message); `note` is
    /// appended to the message of each one kept.
    pub fn absorb(&mut self, other: Errors, note: &str) {
        for r in other.reported {
            let message = r.error.to_string();
            if self.is_repeat(r.site, &message) {
                continue;
            }
            self.reported.push(Reported { error: syn::Error::new(r.error.span(), format!("{message}{note}")), site: r.site });
        }
    }

    /// Every error recorded, with its call.
    pub fn into_reported(self) -> Vec<Reported> {
        self.reported
    }

    /// All errors combined into one, or `Ok` when there are none.
    pub fn finish(self) -> syn::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        Err(self.into_error())
    }

    /// All errors combined into one (with none, a note that there is none: callers ask only
    /// after something failed).
    pub fn into_error(self) -> syn::Error {
        let mut errors = self.reported.into_iter().map(|r| r.error);
        let Some(mut all) = errors.next() else {
            return syn::Error::new(Span::call_site(), "drg_model!: the declaration failed without an error message");
        };
        all.extend(errors);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Errors) -> Vec<String> {
        errs.into_reported().into_iter().map(|r| r.error.to_string()).collect()
    }

    #[test]
    fn a_check_fails_on_its_own_errors_even_when_they_repeat_earlier_ones() {
        let (site, other) = (Site::fresh(), Site::fresh());
        let mut errs = Errors::new();
        errs.for_call(site, |e| e.at(Span::call_site(), "bad"));
        // Nothing reported inside: clean, whatever was reported before.
        assert_eq!(errs.check(|_| 1), (1, true));
        // The same mistake of the same call, found again: the check failed, the error is kept once.
        let ((), clean) = errs.for_call(site, |e| e.check(|e| e.at(Span::call_site(), "bad")));
        assert!(!clean);
        // The same message for another call, or for no call, is another mistake.
        errs.for_call(other, |e| e.at(Span::call_site(), "bad"));
        errs.at(Span::call_site(), "bad");
        errs.at(Span::call_site(), "bad");
        assert_eq!(messages(errs), ["bad"; 4]);
    }

    #[test]
    fn absorbed_errors_carry_the_note_unless_already_recorded() {
        let site = Site::fresh();
        let mut errs = Errors::new();
        errs.for_call(site, |e| e.at(Span::call_site(), "too short"));
        let mut copy = Errors::new();
        copy.for_call(site, |e| {
            e.at(Span::call_site(), "too short");
            e.at(Span::call_site(), "too long");
        });
        errs.absorb(copy, " (in the copy)");
        assert_eq!(messages(errs), ["too short", "too long (in the copy)"]);
    }
}
