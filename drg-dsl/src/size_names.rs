//! Every size parameter a declaration names must be defined in every size variant.
//!
//! This is checked on the declaration as written, once, before any shape is inferred: a missing
//! parameter (`linear(fc)` with no `fc` in `sizes`) is then reported in the same compile as every
//! other mistake, even in a layer that inference never reaches (after a failing layer, or in a
//! trunk with another error). [`crate::args::SizeEnv`] is told which names were reported, and
//! says nothing more about them.

use crate::ast::{Call, ModelDef, TrunkBody, Value};
use crate::error::Errors;
use crate::resolve::{VariantSpec, LAYER_NAMES};
use std::collections::BTreeSet;
use syn::Ident;

/// Named layer arguments that take a keyword or a boolean, never a size parameter.
const NOT_SIZES: [&str; 3] = ["bias", "batchnorm", "act"];

/// Reports every size parameter named in `def` that some variant lacks; returns those names.
pub(crate) fn check_size_names(def: &ModelDef, variants: &[VariantSpec], errs: &mut Errors) -> BTreeSet<String> {
    let defined: BTreeSet<String> = variants.iter().flat_map(|v| v.values.iter().map(|(n, _)| n.to_string())).collect();
    let mut reported = BTreeSet::new();
    let mut check = |name: &Ident, errs: &mut Errors| {
        let text = name.to_string();
        if !defined.contains(&text) {
            let known = if defined.is_empty() {
                "no `sizes { .. }` block defines any".to_string()
            } else {
                format!("defined: {}", defined.iter().cloned().collect::<Vec<_>>().join(", "))
            };
            errs.at(name.span(), format!("unknown size parameter `{name}` ({known})"));
            reported.insert(text);
            return;
        }
        for v in variants.iter().filter(|v| !v.implicit && !v.values.iter().any(|(n, _)| *n == *name)) {
            errs.at(
                name.span(),
                format!("size parameter `{name}` is not defined in size variant `{}`; add `{name} = ..` to that variant", v.name),
            );
            reported.insert(text.clone());
        }
    };
    for input in def.inputs.iter().filter(|i| i.kind.name == "onehot") {
        for arg in &input.kind.args {
            for name in size_refs(&arg.value) {
                check(name, errs);
            }
        }
    }
    let trunk_calls = def.trunks.iter().filter_map(|t| match &t.body {
        TrunkBody::Layers(calls) => Some(calls),
        TrunkBody::SameAs { .. } => None,
    });
    // An output's own layers (`head(seq >> linear(fc) >> fc(2))`) name sizes like a trunk's.
    for calls in trunk_calls.chain(def.outputs.iter().map(|o| &o.stack)) {
        for call in calls.iter().filter(|c| is_layer(c)) {
            errs.for_call(call.site, |errs| {
                for arg in call.args.iter().filter(|a| a.name.as_ref().is_none_or(|n| !NOT_SIZES.iter().any(|s| n == s))) {
                    for name in size_refs(&arg.value) {
                        check(name, errs);
                    }
                }
            });
        }
    }
    for output in &def.outputs {
        for name in size_refs(&output.width) {
            check(name, errs);
        }
        if output.combinator.name == "mlp" {
            // Its positional arguments name trunks, and `act` an activation.
            for arg in
                output.combinator.args.iter().filter(|a| a.name.as_ref().is_some_and(|n| n == "layers" || n == "embed" || n == "widening"))
            {
                for name in size_refs(&arg.value) {
                    check(name, errs);
                }
            }
        }
    }
    reported
}

fn is_layer(call: &Call) -> bool {
    LAYER_NAMES.split(", ").any(|l| call.name == l)
}

/// The identifiers of a numeric argument's value: size parameters (a list's items included).
fn size_refs(value: &Value) -> Vec<&Ident> {
    match value {
        Value::Ident(i) => vec![i],
        Value::List(_, items) => items.iter().flat_map(size_refs).collect(),
        _ => Vec::new(),
    }
}
