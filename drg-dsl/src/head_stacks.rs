//! An output's own fully connected layers, `head(seq >> linear(48) >> fc(2))`: the reference's
//! `nfc_layers` as a list (`nfc_layers=[2,2]`), where every output of a one-input `cnn` gets its
//! own `Res_FullyConnect` (`nfcs.{i}.nfcs.EmbeddtoFully`, `nfcs.{i}.nfcs.Fullyconnected{k}`) fed
//! by the shared flattened features, then its own classifier (`classifier.{i}`).
//!
//! [`check_head_stacks`] checks the declaration's structure once (every output has its own
//! layers or none does, one input, a trunk that ends in `flatten`, `linear` then `fc`);
//! [`infer_head_stack`] computes one output's widths in one size variant.

use crate::args::SizeEnv;
use crate::error::Errors;
use crate::infer::{fc_stack, positive, with_residuals, Embedded};
use crate::ir::*;
use crate::resolve::{InputSpec, LayerSpec, OutputSpec, ResolvedTrunk, SpecKind};

/// What an output's own layers may be.
const STACK_FORM: &str = "`linear(n)`, optionally followed by `fc(..)`";

/// Reports the structural mistakes of the outputs' own layers.
pub(crate) fn check_head_stacks(inputs: &[InputSpec], trunks: &[Option<ResolvedTrunk>], outputs: &[OutputSpec], errs: &mut Errors) {
    let Some(with) = outputs.iter().find(|o| !o.stack.is_empty()) else {
        return;
    };
    for o in outputs.iter().filter(|o| o.stack.is_empty()) {
        errs.at(
            o.combinator.span(),
            format!(
                "output `{}` has no layers of its own but output `{}` has: with the reference's `nfc_layers` list every output gets its own fully connected stack; write `{}(trunk >> linear(n) >> fc(..))` here too",
                o.name, with.name, o.combinator
            ),
        );
    }
    if inputs.len() != 1 {
        errs.at(
            with.stack[0].span,
            "an output's own layers need a model with one input (the reference's `cnn` with an `nfc_layers` list); combine several inputs with `mlp(..)`",
        );
    }
    for o in outputs {
        for (k, layer) in o.stack.iter().enumerate() {
            match (&layer.kind, k) {
                (SpecKind::Linear { .. }, 0) | (SpecKind::Fc { .. }, 1) => {}
                _ => errs.at(
                    layer.span,
                    format!("`{}` cannot be layer {} of output `{}`'s own layers: they are {STACK_FORM}", layer.name, k + 1, o.name),
                ),
            }
        }
    }
    // The trunk of a one-input model must end where the outputs' stacks begin.
    if let (1, Some(Some(trunk))) = (inputs.len(), trunks.first()) {
        if let Some(last) = trunk.layers.last().filter(|l| !matches!(l.kind, SpecKind::Flatten)) {
            errs.at(
                last.span,
                format!(
                    "trunk `{}` must end with `flatten` when its outputs have their own layers (as output `{}` has); move `{}` into every output's `head({} >> ..)`",
                    inputs[0].name, with.name, last.name, inputs[0].name
                ),
            );
        }
    }
}

/// The widths of output `index`'s own layers on `features` flat inputs, keyed under `nfcs.{index}`
/// (after `key_prefix`); `None` after an error. Only called for a stack [`check_head_stacks`]
/// accepted.
pub(crate) fn infer_head_stack(
    specs: &[LayerSpec],
    index: usize,
    features: usize,
    key_prefix: &str,
    env: &SizeEnv,
    errs: &mut Errors,
) -> Option<HeadStack> {
    let stem = format!("{key_prefix}nfcs.{index}.nfcs.");
    let [first, rest @ ..] = specs else {
        return None;
    };
    let SpecKind::Linear { n } = &first.kind else {
        return None;
    };
    let width = positive(env, n, "`linear` width", errs)?;
    let linear = Linear { in_features: features, out_features: width, key: format!("{stem}EmbeddtoFully") };
    let fc = match rest.first().map(|s| (s, &s.kind)) {
        Some((spec, SpecKind::Fc { n_layers, dropout, widening, act, batchnorm, residuals })) => {
            if env.usize(n_layers, errs) == Some(0) {
                errs.at(n_layers.span(), format!("{}`fc(0)` builds no layer; remove it or use at least 1 layer", env.prefix()));
                return None;
            }
            let stem = format!("{stem}Fullyconnected");
            let fc = fc_stack(env, spec.span, n_layers, dropout, widening, width, *act, batchnorm.is_some(), &stem, "fc", errs)?;
            // an output's own stack always follows its `linear(..)`, which reads the trunk's features
            Some(with_residuals(env, fc, residuals.as_ref(), Embedded::Directly { before: features }, errs)?)
        }
        _ => None,
    };
    let features = fc.as_ref().and_then(|f| f.widths.last()).map_or(width, |w| w.1);
    Some(HeadStack { linear, fc, features })
}
