//! Phase 2 of inference, output side: the heads, embeddings and combiners of one size variant.

use crate::args::{Param, SizeEnv};
use crate::error::Errors;
use crate::head_stacks::infer_head_stack;
use crate::infer::{fc_stack, positive};
use crate::ir::*;
use crate::resolve::OutputSpec;

/// A width as written: `88` or `_`.
fn describe_width(w: Width) -> String {
    match w {
        Width::Fixed(n) => n.to_string(),
        Width::Data { .. } => "_".to_string(),
    }
}

/// An output of a linear-head model reading head `head` of the trunks it names; `None` for an
/// `mlp` relation (excluded by `resolve::combination_kind` before heads are inferred).
fn linear_output(relation: &Relation, head: usize) -> Option<LinearOutput> {
    match *relation {
        Relation::Direct { trunk } => Some(LinearOutput::Direct { head: (trunk, head) }),
        Relation::Difference { plus, minus } => Some(LinearOutput::Difference { plus: (plus, head), minus: (minus, head) }),
        Relation::Mlp { .. } => None,
    }
}

/// Builds the heads of one size variant from the resolved outputs and the inferred trunks.
/// Reports shared heads of unequal widths and `mlp` outputs disagreeing on `embed`.
pub(crate) fn infer_heads(
    kind: CombinationKind,
    outputs: &[OutputSpec],
    trunks: &[Trunk],
    widths: &[Width],
    env: &SizeEnv,
    errs: &mut Errors,
) -> Option<Heads> {
    let single = outputs.len() == 1;
    let classifier = |i: usize| {
        if single {
            "classifier.classifier.Linear".to_string()
        } else {
            format!("classifier.{i}.classifier.Linear")
        }
    };
    // The classifier's batch norm (`ClassBnorm`) of a trunk whose `fc` has batch norm, as the
    // reference's `fc_batch_norm` builds it, keyed next to the head's `Linear`.
    let class_bn = |trunk: &Trunk, key: &str| {
        let fc_bn = trunk.layers.iter().any(|l| matches!(&l.kind, LayerKind::Fc(fc) if !fc.bn_keys.is_empty()));
        fc_bn.then(|| format!("{}ClassBnorm", key.strip_suffix("Linear").unwrap_or(key)))
    };
    let uses = |o: &OutputSpec, t: usize| match &o.relation {
        Relation::Direct { trunk } => *trunk == t,
        Relation::Difference { plus, minus } => *plus == t || *minus == t,
        Relation::Mlp { trunks } => trunks.contains(&t),
    };
    match kind {
        CombinationKind::HeadPerOutput => {
            let mut per_trunk = Vec::new();
            for (t, trunk) in trunks.iter().enumerate() {
                let mut heads = Vec::new();
                // The outputs' own layers (`head(seq >> linear(..) >> fc(..))`), all checked
                // before any error ends the heads; their batch norm decides the classifier's.
                let stacks: Vec<Option<Option<HeadStack>>> = outputs
                    .iter()
                    .enumerate()
                    .map(|(i, o)| match o.stack.is_empty() {
                        true => Some(None),
                        false => infer_head_stack(&o.stack, i, trunk.features, &trunk.key_prefix, env, errs).map(Some),
                    })
                    .collect();
                for ((i, o), stack) in outputs.iter().enumerate().zip(stacks) {
                    let key = format!("{}{}", trunk.key_prefix, classifier(i));
                    let stack = stack?;
                    let (in_features, batchnorm) = match &stack {
                        Some(s) => {
                            let fc_bn = s.fc.as_ref().is_some_and(|fc| !fc.bn_keys.is_empty());
                            (s.features, fc_bn.then(|| format!("{}ClassBnorm", key.strip_suffix("Linear").unwrap_or(&key))))
                        }
                        None => (trunk.features, class_bn(trunk, &key)),
                    };
                    heads.push(TrunkHead { head: Head { in_features, out: widths[i], key, batchnorm }, used: uses(o, t), stack });
                }
                per_trunk.push(heads);
            }
            let outs = outputs.iter().enumerate().map(|(i, o)| linear_output(&o.relation, i)).collect::<Option<_>>()?;
            Some(Heads::Linear { per_trunk, outputs: outs })
        }
        CombinationKind::SharedHead => {
            let w0 = widths[0];
            let mut ok = true;
            for (i, o) in outputs.iter().enumerate().skip(1) {
                match (w0, widths[i]) {
                    (Width::Fixed(a), Width::Fixed(b)) if a != b => {
                        errs.at(o.width.span(), format!("{}`shared` heads need equal widths: output `{}` has {b} but `{}` has {a} (one head per trunk serves every output); drop `shared` or use width {a}", env.prefix(), o.name, outputs[0].name));
                        ok = false;
                    }
                    (Width::Fixed(_), Width::Data { .. }) | (Width::Data { .. }, Width::Fixed(_)) => {
                        errs.at(o.width.span(), format!("{}`shared` heads need one width for every output: write `_` (the data's track count, checked equal when the data is read) for all of them or the same number for all, not `{}` here and `{}` for `{}`", env.prefix(), describe_width(widths[i]), describe_width(w0), outputs[0].name));
                        ok = false;
                    }
                    _ => {}
                }
            }
            if !ok {
                return None;
            }
            let per_trunk = trunks
                .iter()
                .enumerate()
                .map(|(t, trunk)| {
                    let key = format!("{}classifier.classifier.Linear", trunk.key_prefix);
                    let batchnorm = class_bn(trunk, &key);
                    vec![TrunkHead {
                        head: Head { in_features: trunk.features, out: w0, key, batchnorm },
                        used: outputs.iter().any(|o| uses(o, t)),
                        stack: None,
                    }]
                })
                .collect();
            let outs = outputs.iter().map(|o| linear_output(&o.relation, 0)).collect::<Option<_>>()?;
            Some(Heads::Linear { per_trunk, outputs: outs })
        }
        CombinationKind::Mlp => {
            let first = outputs[0].mlp.as_ref()?;
            let embed = positive(env, &first.embed, "`embed`", errs)?;
            for o in &outputs[1..] {
                let m = o.mlp.as_ref()?;
                let e = env.usize(&m.embed, errs)?;
                if e != embed {
                    errs.at(m.embed.span(), format!("{}`embed = {e}` differs from output `{}` (embed = {embed}): each trunk has one embedding head shared by all outputs", env.prefix(), outputs[0].name));
                    return None;
                }
            }
            let activation = if first.act.0 == "gelu" { Activation::Gelu } else { Activation::Identity };
            let embeddings = trunks
                .iter()
                .map(|t| Head {
                    in_features: t.features,
                    out: Width::Fixed(embed),
                    key: format!("{}classifier.classifier.Linear", t.key_prefix),
                    batchnorm: None,
                })
                .collect();
            let mut combiners = Vec::new();
            for (i, o) in outputs.iter().enumerate() {
                let m = o.mlp.as_ref()?;
                let Relation::Mlp { trunks: used } = &o.relation else {
                    return None;
                };
                let in_features = embed * used.len();
                let stem = if single { "nclayers.nfcs.Fullyconnected".to_string() } else { format!("nclayers.{i}.nfcs.Fullyconnected") };
                let no_dropout = Param::Lit(0.0, m.layers.span());
                let fc = fc_stack(
                    env,
                    o.combinator.span(),
                    &m.layers,
                    &no_dropout,
                    &m.widening,
                    in_features,
                    activation,
                    false,
                    &stem,
                    "mlp",
                    errs,
                )?;
                let head_in = fc.widths.last().map_or(in_features, |w| w.1);
                combiners.push(Combiner {
                    trunks: used.clone(),
                    in_features,
                    fc,
                    head: Head { in_features: head_in, out: widths[i], key: classifier(i), batchnorm: None },
                });
            }
            Some(Heads::Mlp { embeddings, activation, combiners })
        }
    }
}
