//! Reading the arguments of a call (`conv(300, k = 15)`) against its signature, and evaluating
//! size parameters (`nk`) in a size variant.
//!
//! Argument *types* are checked once, when the declaration is resolved; values that name a size
//! parameter are kept as [`Param::Size`] and evaluated per size variant by [`SizeEnv`], because a
//! variant may lack the parameter or give it a value of the wrong type.

use crate::ast::{Call, Number, Value};
use crate::error::Errors;
use proc_macro2::Span;
use std::collections::BTreeSet;
use syn::Ident;

/// A numeric argument: a literal, or a size parameter resolved per size variant.
#[derive(Clone, Debug)]
pub(crate) enum Param<T> {
    Lit(T, Span),
    Size(Ident),
}

impl<T> Param<T> {
    pub fn span(&self) -> Span {
        match self {
            Param::Lit(_, s) => *s,
            Param::Size(i) => i.span(),
        }
    }
}

/// The arguments of one call, matched to parameter names.
pub(crate) struct Args<'a> {
    what: String,
    signature: &'static str,
    call_span: Span,
    values: Vec<(&'static str, &'a Value)>,
    /// Positional arguments beyond the named positions (only for variadic calls).
    pub rest: Vec<&'a Value>,
}

impl<'a> Args<'a> {
    /// Matches `call`'s arguments to `positional` (in order) and `named_only` parameter names.
    /// Unknown names, duplicates and surplus positional arguments are reported to `errs`.
    /// With `variadic`, surplus positional arguments are collected in [`Args::rest`] instead.
    pub fn read(
        call: &'a Call,
        positional: &[&'static str],
        named_only: &[&'static str],
        variadic: bool,
        signature: &'static str,
        errs: &mut Errors,
    ) -> Self {
        let what = call.name.to_string();
        let mut args = Args { what, signature, call_span: call.name.span(), values: Vec::new(), rest: Vec::new() };
        let mut next_positional = 0;
        for arg in &call.args {
            match &arg.name {
                None if next_positional < positional.len() => {
                    args.values.push((positional[next_positional], &arg.value));
                    next_positional += 1;
                }
                None if variadic => args.rest.push(&arg.value),
                None => errs.at(
                    arg.value.span(),
                    format!(
                        "too many arguments for `{}`: it takes {} positional argument{}; the signature is `{}`",
                        args.what,
                        positional.len(),
                        if positional.len() == 1 { "" } else { "s" },
                        signature
                    ),
                ),
                Some(name) => {
                    let key = name.to_string();
                    let Some(&param) = positional.iter().chain(named_only).find(|p| **p == key) else {
                        let known: Vec<&str> = positional.iter().chain(named_only).copied().collect();
                        let expected = if known.is_empty() {
                            "it takes no named arguments".to_string()
                        } else {
                            format!("expected one of: {}", known.join(", "))
                        };
                        errs.at(name.span(), format!("unknown argument `{key}` for `{}`; {expected}", args.what));
                        continue;
                    };
                    if args.values.iter().any(|(p, _)| *p == param) {
                        errs.at(name.span(), format!("duplicate argument `{key}` for `{}`", args.what));
                        continue;
                    }
                    args.values.push((param, &arg.value));
                }
            }
        }
        args
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.values.iter().find(|(p, _)| *p == name).map(|(_, v)| *v)
    }

    /// Whether the call gives `name` (rightly typed or not).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn missing(&self, name: &str, errs: &mut Errors) {
        errs.at(self.call_span, format!("`{}` needs the argument `{name}`: write `{}`", self.what, self.signature));
    }

    /// A required non-negative integer.
    pub fn req_usize(&self, name: &str, errs: &mut Errors) -> Option<Param<usize>> {
        match self.get(name) {
            Some(v) => usize_value(v, &self.what, name, errs),
            None => {
                self.missing(name, errs);
                None
            }
        }
    }

    /// An optional non-negative integer (`None` when absent or wrongly typed).
    pub fn opt_usize(&self, name: &str, errs: &mut Errors) -> Option<Param<usize>> {
        self.get(name).and_then(|v| usize_value(v, &self.what, name, errs))
    }

    /// A non-negative integer with a default.
    pub fn usize_or(&self, name: &str, default: usize, errs: &mut Errors) -> Param<usize> {
        self.opt_usize(name, errs).unwrap_or(Param::Lit(default, self.call_span))
    }

    pub fn req_f64(&self, name: &str, errs: &mut Errors) -> Option<Param<f64>> {
        match self.get(name) {
            Some(v) => f64_value(v, &self.what, name, errs),
            None => {
                self.missing(name, errs);
                None
            }
        }
    }

    pub fn f64_or(&self, name: &str, default: f64, errs: &mut Errors) -> Param<f64> {
        self.get(name).and_then(|v| f64_value(v, &self.what, name, errs)).unwrap_or(Param::Lit(default, self.call_span))
    }

    pub fn bool_or(&self, name: &str, default: bool, errs: &mut Errors) -> bool {
        match self.get(name) {
            None => default,
            Some(Value::Bool(b)) => b.value,
            Some(v) => {
                errs.at(v.span(), format!("`{name}` of `{}` must be `true` or `false`, found `{}`", self.what, v.describe()));
                default
            }
        }
    }

    /// An optional `true`/`false`: `Some((value, span of the value))` when given.
    pub fn opt_bool(&self, name: &str, errs: &mut Errors) -> Option<(bool, Span)> {
        match self.get(name) {
            None => None,
            Some(Value::Bool(b)) => Some((b.value, b.span)),
            Some(v) => {
                errs.at(v.span(), format!("`{name}` of `{}` must be `true` or `false`, found `{}`", self.what, v.describe()));
                None
            }
        }
    }

    /// A required list of non-negative integers, `[1, 2, 4]`.
    pub fn req_usize_list(&self, name: &str, errs: &mut Errors) -> Option<(Span, Vec<Param<usize>>)> {
        match self.get(name) {
            Some(Value::List(span, items)) => {
                // Every item is checked (and reports its error), also after one that fails.
                let params: Vec<Option<_>> = items.iter().map(|v| usize_value(v, &self.what, name, errs)).collect();
                params.into_iter().collect::<Option<Vec<_>>>().map(|params| (*span, params))
            }
            Some(v) => {
                errs.at(v.span(), format!("`{name}` of `{}` must be a list like `[1, 2, 4]`, found `{}`", self.what, v.describe()));
                None
            }
            None => {
                self.missing(name, errs);
                None
            }
        }
    }

    /// A keyword argument (`act = gelu`) out of `allowed`; returns the default when absent.
    pub fn keyword_or(&self, name: &str, allowed: &[&'static str], default: &'static str, errs: &mut Errors) -> (String, Span) {
        match self.get(name) {
            None => (default.to_string(), self.call_span),
            Some(Value::Ident(i)) if allowed.iter().any(|a| i == a) => (i.to_string(), i.span()),
            Some(v) => {
                errs.at(v.span(), format!("`{name}` of `{}` must be one of: {}; found `{}`", self.what, allowed.join(", "), v.describe()));
                (default.to_string(), v.span())
            }
        }
    }
}

fn usize_value(v: &Value, what: &str, name: &str, errs: &mut Errors) -> Option<Param<usize>> {
    match v {
        Value::Int(l) => match l.base10_parse::<usize>() {
            Ok(n) => Some(Param::Lit(n, l.span())),
            Err(_) => {
                errs.at(l.span(), format!("`{name}` of `{what}` must be an integer that fits in usize, found `{l}`"));
                None
            }
        },
        Value::Ident(i) => Some(Param::Size(i.clone())),
        other => {
            errs.at(other.span(), format!("`{name}` of `{what}` must be a whole number or a size parameter, found `{}`", other.describe()));
            None
        }
    }
}

fn f64_value(v: &Value, what: &str, name: &str, errs: &mut Errors) -> Option<Param<f64>> {
    match v {
        Value::Int(l) => l.base10_parse::<f64>().ok().map(|x| Param::Lit(x, l.span())),
        Value::Float(l) => match l.base10_parse::<f64>() {
            Ok(x) => Some(Param::Lit(x, l.span())),
            Err(e) => {
                errs.push(e);
                None
            }
        },
        Value::Ident(i) => Some(Param::Size(i.clone())),
        other => {
            errs.at(other.span(), format!("`{name}` of `{what}` must be a number or a size parameter, found `{}`", other.describe()));
            None
        }
    }
}

/// The size parameters of one size variant, for evaluating [`Param`]s.
pub(crate) struct SizeEnv<'a> {
    /// The variant's name; `None` for the implicit variant of a model without `sizes`.
    pub variant: Option<&'a Ident>,
    pub values: &'a [(Ident, Number)],
    /// The names that [`crate::size_names::check_size_names`] already reported as missing from
    /// some variant: looking them up fails without a second error.
    pub reported: &'a BTreeSet<String>,
}

impl SizeEnv<'_> {
    /// `"in size variant `demo`: "` or nothing, to prefix variant-dependent messages.
    pub fn prefix(&self) -> String {
        match self.variant {
            Some(v) => format!("in size variant `{v}`: "),
            None => String::new(),
        }
    }

    fn lookup(&self, name: &Ident, errs: &mut Errors) -> Option<&Number> {
        if let Some((_, n)) = self.values.iter().find(|(p, _)| p == name) {
            return Some(n);
        }
        if !self.reported.contains(&name.to_string()) {
            // Only a name the declaration-wide check did not see gets here.
            errs.at(name.span(), format!("{}size parameter `{name}` is not defined", self.prefix()));
        }
        None
    }

    pub fn usize(&self, p: &Param<usize>, errs: &mut Errors) -> Option<usize> {
        match p {
            Param::Lit(n, _) => Some(*n),
            Param::Size(name) => match self.lookup(name, errs)? {
                Number::Int(l) => match l.base10_parse::<usize>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        errs.at(name.span(), format!("{}size parameter `{name}` = {l} does not fit in usize", self.prefix()));
                        None
                    }
                },
                Number::Float(l) => {
                    errs.at(name.span(), format!("{}size parameter `{name}` is {l}, but a whole number is needed here", self.prefix()));
                    None
                }
            },
        }
    }

    pub fn f64(&self, p: &Param<f64>, errs: &mut Errors) -> Option<f64> {
        match p {
            Param::Lit(x, _) => Some(*x),
            Param::Size(name) => match self.lookup(name, errs)? {
                Number::Int(l) => l.base10_parse::<f64>().ok(),
                Number::Float(l) => l.base10_parse::<f64>().ok(),
            },
        }
    }
}
