//! Validation and shape inference: [`crate::ast::ModelDef`] → [`crate::ir::Model`].
//!
//! Two phases, each collecting every error it finds:
//! 1. [`crate::resolve`]: names, layer signatures, argument types, cross-references (trunks ↔
//!    inputs, outputs → trunks), head-structure consistency; then every size parameter named is
//!    looked for in every variant ([`crate::size_names`]). Independent of the size variant.
//! 2. here, per size variant: evaluate size parameters, walk every trunk computing shapes,
//!    paddings and the conv-stack layers the reference actually builds, then the heads
//!    ([`crate::heads`]) and the parameter count ([`crate::params`]). Messages name the variant
//!    when the model has several.
//!
//! Phase 2 runs for every trunk whose layers resolved, even when other parts failed, so one
//! compile shows as many independent mistakes as possible without cascading ones.

use crate::args::{Param, SizeEnv};
use crate::ast::ModelDef;
use crate::error::Errors;
use crate::head_stacks::check_head_stacks;
use crate::heads::infer_heads;
use crate::ir::*;
use crate::params;
use crate::resolve::*;
use crate::size_names::check_size_names;
use proc_macro2::Span;

/// Flattened feature vectors above this size are rejected: the first linear layer alone would
/// hold more than 2^31 weights per output unit.
pub(crate) const MAX_FLAT_FEATURES: usize = 1 << 31;

/// Models above this many trainable parameters (about 4 TB of f32 weights) are rejected.
pub(crate) const MAX_PARAMETERS: usize = 1 << 40;

/// Infers the complete IR of a declaration, or returns every error found, combined.
pub fn infer(def: &ModelDef) -> syn::Result<Model> {
    infer_collecting(def).map_err(Errors::into_error)
}

/// [`infer`], with the errors as collected (each with the layer call it concerns, so that
/// [`crate::expand`] can tell a shared pipeline's mistake found in several models); the `Err`
/// holds at least one.
pub(crate) fn infer_collecting(def: &ModelDef) -> Result<Model, Errors> {
    let mut errs = Errors::new();
    let variants = resolve_sizes(def, &mut errs);
    let inputs = resolve_inputs(def, &mut errs);
    let trunks = resolve_trunks(def, &inputs, &mut errs);
    let outputs = resolve_outputs(def, &inputs, &mut errs);
    let (loss, validation_line) = resolve_losses(def, &mut errs);
    let combination = combination_kind(&outputs, &mut errs);
    check_output_activations(&inputs, &outputs, combination, &mut errs);
    if outputs.len() == def.outputs.len() {
        // Only when every output resolved: otherwise "unused" may be a consequence of a typo.
        check_inputs_used(&inputs, &outputs, &mut errs);
    }
    check_head_stacks(&inputs, &trunks, &outputs, &mut errs);
    // Every size parameter named, checked before any shape: reported with the errors above.
    let missing_sizes = check_size_names(def, &variants, &mut errs);
    let combined = inputs.len() > 1 || combination == CombinationKind::Mlp;
    let mlp = combination == CombinationKind::Mlp;
    // Heads are inferred only for a structurally valid declaration (their construction relies
    // on the consistency checks above); trunk shapes are inferred regardless.
    let structural_ok = errs.is_empty();

    let mut ir_variants = Vec::new();
    for variant in &variants {
        let env = SizeEnv { variant: (!variant.implicit).then_some(&variant.name), values: &variant.values, reported: &missing_sizes };
        // The variant's heads are inferred only when its trunks and widths are free of errors.
        let ((built_trunks, widths), clean) = errs.check(|errs| {
            let mut built_trunks = Vec::new();
            for (ti, input) in inputs.iter().enumerate() {
                let Some(Some(trunk)) = trunks.get(ti) else {
                    continue;
                };
                let prefix = if combined { format!("cnns.CNN{ti}.") } else { String::new() };
                let built = match &trunk.same_as {
                    None => infer_trunk(input, &trunk.layers, prefix, &env, mlp, errs),
                    Some(source) => {
                        // The errors point at `source`'s tokens: say which trunk they concern,
                        // unless the source trunk reported the same error of the same call.
                        let mut own = Errors::new();
                        let t = infer_trunk(input, &trunk.layers, prefix, &env, mlp, &mut own);
                        let note = format!(" (in trunk `{}`, declared `same as {source}`)", input.name);
                        errs.absorb(own, &note);
                        t
                    }
                };
                if let Some(t) = built {
                    built_trunks.push(t);
                }
            }
            let widths: Vec<Option<Width>> = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| match &o.width {
                    WidthSpec::Fixed(p) => positive(&env, p, "an output width", errs).map(Width::Fixed),
                    WidthSpec::Data(_) => Some(Width::Data { output: i }),
                })
                .collect();
            (built_trunks, widths)
        });
        if !structural_ok || !clean || built_trunks.len() != inputs.len() {
            continue;
        }
        let widths: Vec<Width> = widths.into_iter().map(|w| w.unwrap_or(Width::Fixed(0))).collect();
        let Some(heads) = infer_heads(combination, &outputs, &built_trunks, &widths, &env, &mut errs) else {
            continue;
        };
        let mut v = Variant {
            name: variant.name.clone(),
            implicit: variant.implicit,
            trunks: built_trunks,
            output_widths: widths,
            heads,
            parameter_count: 0,
            parameter_breakdown: Vec::new(),
            parameters_per_track: Vec::new(),
        };
        v.parameter_breakdown = params::breakdown(&v);
        v.parameters_per_track = params::per_track(&v);
        v.parameter_count = v.parameter_breakdown.iter().map(|(_, n)| *n).fold(0, usize::saturating_add);
        if v.parameter_count > MAX_PARAMETERS {
            errs.at(
                def.name.span(),
                format!("{}the model has {} trainable parameters, more than 2^40; use smaller layers", env.prefix(), v.parameter_count),
            );
            continue;
        }
        ir_variants.push(v);
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Model {
        attrs: def.attrs.clone(),
        vis: def.vis.clone(),
        name: def.name.clone(),
        inputs: inputs.into_iter().map(|i| Input { attrs: i.attrs, name: i.name, reverse_complement: i.reverse_complement }).collect(),
        outputs: outputs
            .into_iter()
            .map(|o| Output {
                attrs: o.attrs,
                width_span: o.width.span(),
                name: o.name,
                validated: o.validated,
                // Without a `validation` line an output validates with its own training loss.
                validation: o.validation.or(if validation_line.is_none() { o.loss } else { None }),
                loss: o.loss,
                activation: o.activation.map(|(a, _)| a),
                relation: o.relation,
            })
            .collect(),
        loss,
        validation: validation_line.unwrap_or(loss),
        combination,
        combined,
        variants: ir_variants,
    })
}

/// Evaluates a size that must be ≥ 1 and ≤ [`MAX_FLAT_FEATURES`] (which keeps every product of
/// two sizes within u64 and every parameter count finite).
pub(crate) fn positive(env: &SizeEnv, p: &Param<usize>, what: &str, errs: &mut Errors) -> Option<usize> {
    let n = env.usize(p, errs)?;
    if n == 0 {
        errs.at(p.span(), format!("{}{what} must be at least 1, found 0", env.prefix()));
        return None;
    }
    if n > MAX_FLAT_FEATURES {
        errs.at(p.span(), format!("{}{what} = {n} is absurdly large; it must be at most 2^31", env.prefix()));
        return None;
    }
    Some(n)
}

/// Length-preserving padding (P1/P4): e = d(k−1)+1, left = ⌊e/2⌋ − [e even], right = ⌊e/2⌋.
pub(crate) fn same_padding(kernel: usize, dilation: usize) -> (usize, usize) {
    let e = dilation * (kernel - 1) + 1;
    (e / 2 - usize::from(e.is_multiple_of(2)), e / 2)
}

/// Padded pooling (P2): q = ⌈(p − L mod p)/2⌉ if L mod p ≠ 0, output ⌈L/p⌉.
pub(crate) fn pooling(kind: PoolKind, size: usize, in_len: usize) -> Pool {
    let rem = in_len % size;
    let pad = if rem == 0 { 0 } else { (size - rem).div_ceil(2) };
    Pool { kind, size, step: size, in_len, pad, out_len: in_len.div_ceil(size) }
}

/// The pooling after the stem with a step (the reference's `pooling_steps`; `cnn.__init__` in
/// `drg_tools/cnn_model.py` and `pooling_layer` in `drg_tools/modules.py` at `79b2f07`), or why
/// the reference cannot run it. The reference pads q = `int(np.ceil((p − L % s)/2))` (0 when s
/// divides L) on both sides; max and mean pooling are PyTorch's `MaxPool1d`/`AvgPool1d(p,
/// stride = s, padding = q)`, ⌊(L + 2q − p)/s⌋ + 1 windows, and raise on a negative q; the
/// weighted pool (`Padded_AvgPool1d(weighted=True)`) ignores the stride and takes ⌊(L + 2q)/p⌋
/// windows of p one after the other (no padding where q ≤ 0). The reference sizes every layer
/// after it for ⌈L/s⌉ positions (its `currlen`), so a pooling that gives another length is one
/// it cannot run. `size ≤ in_len`.
pub(crate) fn pooling_steps(kind: PoolKind, size: usize, step: usize, in_len: usize) -> Result<Pool, String> {
    let fits = || {
        let fits: Vec<String> = (1..=in_len)
            .filter(|&s| s != step && steps_geometry(kind, size, s, in_len).1 == Some(in_len.div_ceil(s)))
            .take(8)
            .map(|s| s.to_string())
            .collect();
        format!("steps that fit here: {}", fits.join(", "))
    };
    let (q, out_len) = steps_geometry(kind, size, step, in_len);
    let Some(out_len) = out_len else {
        return Err(format!(
            "the reference pads this pooling by ⌈({size} − {in_len} mod {step})/2⌉ = {q} on each side, and PyTorch's {} rejects a negative padding; {}",
            if kind == PoolKind::Max { "MaxPool1d" } else { "AvgPool1d" },
            fits()
        ));
    };
    let want = in_len.div_ceil(step);
    if out_len != want {
        return Err(format!(
            "with step {step} this pooling gives {out_len} positions from length {in_len}, but the reference sizes every layer after it for ⌈{in_len}/{step}⌉ = {want} (its `currlen`), so it cannot run this model; {}",
            fits()
        ));
    }
    Ok(Pool { kind, size, step, in_len, pad: q.max(0) as usize, out_len })
}

/// The reference's padding q of a pooling with window `size` and step `step` on `in_len`
/// positions (`int(np.ceil((size − in_len % step)/2))`, 0 when `step` divides `in_len`; it can
/// be negative), and its output length, `None` where PyTorch raises (a negative padding of max
/// or mean pooling). `size ≤ in_len`.
fn steps_geometry(kind: PoolKind, size: usize, step: usize, in_len: usize) -> (i64, Option<usize>) {
    let rem = in_len % step;
    // ⌈a/2⌉ of a signed a = size − rem, as `np.ceil`
    let q: i64 = if rem == 0 { 0 } else { -((rem as i64 - size as i64).div_euclid(2)) };
    let out_len = match kind {
        PoolKind::Weighted => Some((in_len + 2 * q.max(0) as usize) / size),
        PoolKind::Max | PoolKind::Mean if q < 0 => None,
        PoolKind::Max | PoolKind::Mean => Some((in_len + 2 * q as usize - size) / step + 1),
    };
    (q, out_len)
}

/// P6 widths of an `n`-layer FC stack starting (and ending) at width `d0`.
pub(crate) fn fc_widths(d0: usize, n: usize, widening: f64) -> Vec<(usize, usize)> {
    let mut d = d0;
    (0..n)
        .map(|i| {
            let out = if i + 1 == n {
                d0
            } else if i < n / 2 {
                (d as f64 * widening) as usize
            } else if n % 2 == 1 && i == n / 2 {
                d
            } else {
                (d as f64 / widening) as usize
            };
            let w = (d, out);
            d = out;
            w
        })
        .collect()
}

struct Roles {
    conv: bool,
    dilated: bool,
    blocks: bool,
    attention: bool,
    linear: bool,
    fc: bool,
}

/// `mlp`: the model's outputs are `mlp` combiners (which have no classifier batch norm).
fn infer_trunk(input: &InputSpec, specs: &[LayerSpec], key_prefix: String, env: &SizeEnv, mlp: bool, errs: &mut Errors) -> Option<Trunk> {
    let pre = env.prefix();
    let channels = positive(env, &input.channels, "the input's channel count", errs);
    let len = positive(env, &input.len, "the input length", errs);
    let (channels, len) = (channels?, len?);
    let mut shape = Shape::Seq { channels, len };
    let mut layers = Vec::new();
    let mut roles = Roles { conv: false, dilated: false, blocks: false, attention: false, linear: false, fc: false };
    if input.reverse_complement && !matches!(specs.first(), Some(LayerSpec { kind: SpecKind::Conv { .. }, .. })) {
        let span = specs.first().map_or(input.name.span(), |s| s.span);
        errs.at(
            span,
            format!(
                "input `{}` has `reverse_complement`, so its trunk must start with `conv(..)` (the reverse-complement stem)",
                input.name
            ),
        );
        return None;
    }
    for (index, spec) in specs.iter().enumerate() {
        let fallback = |suffix: &str| format!("{key_prefix}layers.{index}{suffix}");
        // The input as (channels, length), or an error when it is flat.
        let needs_seq = |errs: &mut Errors| match shape {
            Shape::Seq { channels, len } => Some((channels, len)),
            Shape::Flat { features } => {
                errs.at(spec.span, format!("{pre}`{}` needs a sequence (channels × length), but after `flatten` the input here is {features} flat features; move it before `flatten`", spec.name));
                None
            }
        };
        // The input's feature count, or an error when it is a sequence.
        let needs_flat = |errs: &mut Errors| match shape {
            Shape::Flat { features } => Some(features),
            Shape::Seq { channels, len } => {
                errs.at(spec.span, format!("{pre}`{}` needs flat features, but the input here is a sequence of {channels} channels × length {len}; add `flatten` before it", spec.name));
                None
            }
        };
        // The layer's errors belong to its call; the trunk stops at a layer with any error (the
        // shapes after it are unknown).
        let (built, clean) = errs.for_call(spec.site, |errs| {
            errs.check(|errs| -> Option<(LayerKind, Shape)> {
                Some(match &spec.kind {
            SpecKind::Conv { filters, k, bias, dilation } => {
                let (c, l) = needs_seq(errs)?;
                let (filters, k, d) = (
                    positive(env, filters, "`conv` filters", errs),
                    positive(env, k, "`conv` kernel size k", errs),
                    positive(env, dilation, "`conv` dilation", errs),
                );
                let (Some(filters), Some(k), Some(d)) = (filters, k, d) else {
                    return None;
                };
                let stem = !roles.conv;
                roles.conv = true;
                let out = Shape::Seq { channels: filters, len: l };
                let conv = LayerKind::Conv(Conv {
                    in_channels: c,
                    out_channels: filters,
                    kernel: k,
                    dilation: d,
                    bias: *bias,
                    padding: same_padding(k, d),
                    reverse_complement: stem && input.reverse_complement,
                    key: if stem { format!("{key_prefix}convolutions.conv1d") } else { fallback(".conv1d") },
                });
                (conv, out)
            }
            SpecKind::Gelu => (LayerKind::Gelu, shape),
            SpecKind::Act(a) => (LayerKind::Act(*a), shape),
            SpecKind::Dropout { p } => {
                let p_val = env.f64(p, errs)?;
                if !(0.0..1.0).contains(&p_val) {
                    errs.at(p.span(), format!("{pre}dropout probability must be in [0, 1), found {p_val}"));
                    return None;
                }
                (LayerKind::Dropout { p: p_val }, shape)
            }
            SpecKind::Pool { kind, p, step } => {
                let (c, l) = needs_seq(errs)?;
                let size = positive(env, p, "the pooling size", errs)?;
                let step_value = match step {
                    Some(s) => Some((positive(env, s, "the pooling step", errs)?, s.span())),
                    None => None,
                };
                if size > l {
                    errs.at(
                        p.span(),
                        format!(
                            "{pre}{}({size}) needs length ≥ {size}, but the input here has length {l}; use a pooling size ≤ {l}",
                            spec.name
                        ),
                    );
                    return None;
                }
                let pool = match step_value {
                    Some((s, span)) if s != size => match pooling_steps(*kind, size, s, l) {
                        Ok(pool) => pool,
                        Err(why) => {
                            errs.at(span, format!("{pre}`{}({size}, step = {s})` on length {l}: {why}", spec.name));
                            return None;
                        }
                    },
                    _ => pooling(*kind, size, l),
                };
                (LayerKind::Pool(pool), Shape::Seq { channels: c, len: pool.out_len })
            }
            SpecKind::Stack { role, k, dilations, bias, batchnorm, act, pool, every, dropout, strides } => {
                let seq = needs_seq(errs)?;
                let stack = infer_stack(
                    spec,
                    *role,
                    k,
                    dilations,
                    *bias,
                    (*batchnorm, *act, dropout),
                    (pool.as_ref(), strides.as_ref()),
                    every,
                    seq,
                    &key_prefix,
                    index,
                    &mut roles,
                    env,
                    errs,
                )?;
                // `infer_stack` returns `None` rather than a stack without layers.
                let last = stack.layers.last()?;
                let out = Shape::Seq { channels: stack.channels, len: last.pool.map_or(last.len.div_ceil(last.stride), |p| p.out_len) };
                (LayerKind::ConvStack(stack), out)
            }
            SpecKind::Attention { heads, dim, dropout } => {
                let (c, l) = needs_seq(errs)?;
                let dropout = dropout_probability(env, dropout, errs);
                let heads = positive(env, heads, "`attention` heads", errs);
                let dim_val = env.f64(dim, errs);
                let (Some(heads), Some(dim_val), Some(dropout)) = (heads, dim_val, dropout) else {
                    return None;
                };
                let embed_f = dim_val * c as f64;
                if embed_f.is_nan() || embed_f < 1.0 {
                    errs.at(dim.span(), format!("{pre}attention dim = {dim_val:?} gives E = int({dim_val:?} × {c}) = 0 channels; dim must be at least 1/{c} = {:?}", 1.0 / c as f64));
                    return None;
                }
                if embed_f > MAX_FLAT_FEATURES as f64 {
                    errs.at(
                        dim.span(),
                        format!(
                            "{pre}attention dim = {dim_val:?} gives E = int({dim_val:?} × {c}) channels, more than 2^31; use a smaller dim"
                        ),
                    );
                    return None;
                }
                let key = if roles.attention { fallback("") } else { format!("{key_prefix}distattention.Mheadattention0") };
                roles.attention = true;
                let embed = embed_f as usize;
                let attention = LayerKind::Attention(Attention { in_channels: c, heads, embed, dim: dim_val, len: l, key, dropout });
                (attention, Shape::Seq { channels: embed, len: l })
            }
            SpecKind::Flatten => {
                let Shape::Seq { channels: c, len: l } = shape else {
                    errs.at(spec.span, format!("{pre}`flatten` needs a sequence, but the input here is already flat"));
                    return None;
                };
                match c.checked_mul(l) {
                    Some(f) if f <= MAX_FLAT_FEATURES => (LayerKind::Flatten, Shape::Flat { features: f }),
                    _ => {
                        errs.at(spec.span, format!("{pre}`flatten` gives {c} × {l} = {} features, more than 2^31; pool more (or use fewer channels) before `flatten`", (c as u128) * (l as u128)));
                        return None;
                    }
                }
            }
            SpecKind::Linear { n } => {
                let in_features = needs_flat(errs)?;
                let out = positive(env, n, "`linear` width", errs)?;
                let key = if roles.linear { fallback("") } else { format!("{key_prefix}nfcs.nfcs.EmbeddtoFully") };
                roles.linear = true;
                let linear = LayerKind::Linear(Linear { in_features, out_features: out, key });
                (linear, Shape::Flat { features: out })
            }
            SpecKind::Fc { n_layers, dropout, widening, act, batchnorm, residuals } => {
                let features = needs_flat(errs)?;
                let stem = if roles.fc { fallback(".Fullyconnected") } else { format!("{key_prefix}nfcs.nfcs.Fullyconnected") };
                roles.fc = true;
                if env.usize(n_layers, errs) == Some(0) {
                    errs.at(n_layers.span(), format!("{pre}`fc(0)` builds no layer; remove it or use at least 1 layer"));
                    return None;
                }
                if let (Some(span), true) = (batchnorm, mlp) {
                    errs.at(*span, format!("{pre}`batchnorm = true` of `fc` needs linear heads (`head`, `direct`, `difference`): the reference's `fc_batch_norm` puts a batch norm into the classifier, which `mlp` outputs do not have in drg-rs; remove it"));
                    return None;
                }
                // `linear(n) >> fc(..)`: the reference's `fclayer_size`, whose skips start before it.
                let embedded = match layers.last().map(|l: &Layer| &l.kind) {
                    Some(LayerKind::Linear(l)) => Embedded::Directly { before: l.in_features },
                    _ if roles.linear => Embedded::Earlier,
                    _ => Embedded::No,
                };
                let fc = fc_stack(env, spec.span, n_layers, dropout, widening, features, *act, batchnorm.is_some(), &stem, "fc", errs)?;
                let fc = with_residuals(env, fc, residuals.as_ref(), embedded, errs)?;
                (LayerKind::Fc(fc), shape)
            }
                })
            })
        });
        let (kind, output) = built.filter(|_| clean)?;
        layers.push(Layer { span: spec.span, input: shape, output, kind });
        shape = output;
    }
    match shape {
        Shape::Flat { features } => {
            Some(Trunk { name: input.name.clone(), key_prefix, input_channels: channels, input_len: len, layers, features })
        }
        Shape::Seq { channels, len } => {
            let span = specs.last().map_or(input.name.span(), |s| s.span);
            errs.at(span, format!("{pre}trunk `{}` ends with a sequence ({channels} channels × length {len}); end it with `flatten` (optionally followed by `linear(..)` and `fc(..)`)", input.name));
            None
        }
    }
}

/// A dropout probability: in [0, 1) and a whole number of thousandths (drg-rs's layers take it
/// as a `const` in thousandths).
pub(crate) fn dropout_probability(env: &SizeEnv, p: &Param<f64>, errs: &mut Errors) -> Option<f64> {
    let v = env.f64(p, errs)?;
    let permille = (v * 1000.0).round();
    if !(0.0..1.0).contains(&v) {
        errs.at(p.span(), format!("{}dropout probability must be in [0, 1), found {v}", env.prefix()));
        return None;
    }
    if (permille / 1000.0 - v).abs() > 1e-9 {
        errs.at(
            p.span(),
            format!(
                "{}dropout {v} is not a whole number of thousandths: drg-rs stores it in thousandths; use e.g. {}",
                env.prefix(),
                permille / 1000.0
            ),
        );
        return None;
    }
    Some(v)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn fc_stack(
    env: &SizeEnv,
    span: Span,
    n_layers: &Param<usize>,
    dropout: &Param<f64>,
    widening: &Param<f64>,
    width: usize,
    activation: Activation,
    batchnorm: bool,
    key_stem: &str,
    what: &str,
    errs: &mut Errors,
) -> Option<FcStack> {
    let pre = env.prefix();
    let n = env.usize(n_layers, errs);
    let p = env.f64(dropout, errs);
    let w = env.f64(widening, errs);
    let (Some(n), Some(p), Some(w)) = (n, p, w) else {
        return None;
    };
    if !(0.0..1.0).contains(&p) {
        errs.at(dropout.span(), format!("{pre}dropout probability must be in [0, 1), found {p}"));
        return None;
    }
    if !(w.is_finite() && w > 0.0) {
        errs.at(widening.span(), format!("{pre}`widening` must be a positive number, found {w}"));
        return None;
    }
    let widths = fc_widths(width, n, w);
    if let Some((i, _)) = widths.iter().enumerate().find(|(_, (_, o))| *o == 0) {
        errs.at(span, format!("{pre}`{what}` layer {i} would have width 0 (starting from {width} with widening {w:?}); use a larger width or a widening closer to 1"));
        return None;
    }
    if let Some((i, (_, o))) = widths.iter().enumerate().find(|(_, (_, o))| *o > MAX_FLAT_FEATURES) {
        errs.at(span, format!("{pre}`{what}` layer {i} would have width {o} (widening {w:?}), more than 2^31; use a widening closer to 1"));
        return None;
    }
    let keys = (0..widths.len()).map(|k| format!("{key_stem}{k}")).collect();
    let bn_stem =
        key_stem.strip_suffix("Fullyconnected").map_or_else(|| format!("{key_stem}Bnorm"), |s| format!("{s}Bnorm_fullyconnected"));
    let bn_keys = if batchnorm { (0..widths.len()).map(|k| format!("{bn_stem}{k}")).collect() } else { Vec::new() };
    Some(FcStack {
        widths,
        widening: w,
        dropout: p,
        activation,
        keys,
        bn_keys,
        residuals: 0,
        residual_keys: Vec::new(),
        skip_before_linear: false,
    })
}

/// Where a `linear(..)` stands before an `fc` stack (the reference's `fclayer_size` layer,
/// `EmbeddtoFully`, which its `Res_FullyConnect` builds inside the stack).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Embedded {
    /// No `linear(..)` before the stack.
    No,
    /// The stack directly follows a `linear(..)` that reads `before` features.
    Directly { before: usize },
    /// A `linear(..)` came earlier, with other layers between.
    Earlier,
}

/// Adds `residuals = r` (the reference's `nfc_residuals`, `Res_FullyConnect` in
/// `drg_tools/modules.py`) to a stack: a skip after every layer n with (n+1) mod r = 0, from
/// the previous skip's sum (at first the stack's input) through a bias-free linear layer
/// `Residuallayer{n}`. After a `linear(n)` (`embedded`) the first skip reads the features before
/// it, as the reference's (its `res = x` precedes `EmbeddtoFully`); its projection is sized for
/// n, so the reference runs only where those features are n wide too, the one case built here.
pub(crate) fn with_residuals(
    env: &SizeEnv,
    mut fc: FcStack,
    residuals: Option<&Param<usize>>,
    embedded: Embedded,
    errs: &mut Errors,
) -> Option<FcStack> {
    let Some(param) = residuals else {
        return Some(fc);
    };
    let pre = env.prefix();
    let r = env.usize(param, errs)?;
    if r == 0 {
        return Some(fc);
    }
    let n = fc.widths.len();
    if r > n {
        errs.at(param.span(), format!("{pre}`residuals = {r}` on `fc({n})` adds no skip (a skip follows each full group of {r} layers); use residuals ≤ {n}, or leave it out"));
        return None;
    }
    let width = fc.widths[0].0;
    match embedded {
        Embedded::No => {}
        Embedded::Directly { before } if before == width => fc.skip_before_linear = true,
        Embedded::Directly { before } => {
            errs.at(
                param.span(),
                format!("{pre}`residuals` of an `fc` after `linear({width})` needs as many features before `linear(..)` as after it, found {before}: the reference's first skip applies a projection sized for `linear(..)`'s output (its `fclayer_size`) to the features before `linear(..)`, which runs only where both widths are equal; use `linear({before})`, write `flatten >> fc(..)` without `linear(..)`, or leave out `residuals`"),
            );
            return None;
        }
        Embedded::Earlier => {
            errs.at(
                param.span(),
                format!("{pre}`residuals` of an `fc` needs the `linear(..)` before it to come directly before it (the reference's `fclayer_size` layer is the stack's first, its skips start before it)"),
            );
            return None;
        }
    }
    let skip_stem =
        fc.keys[0].strip_suffix("Fullyconnected0").map_or_else(|| format!("{}.Residuallayer", fc.keys[0]), |s| format!("{s}Residuallayer"));
    let mut from = fc.widths[0].0;
    let mut keys = Vec::new();
    for (i, &(_, o)) in fc.widths.iter().enumerate() {
        if (i + 1) % r == 0 {
            keys.push((format!("{skip_stem}{i}"), (from, o)));
            from = o;
        }
    }
    fc.residuals = r;
    fc.residual_keys = keys;
    Some(fc)
}

#[allow(clippy::too_many_arguments)]
fn infer_stack(
    spec: &LayerSpec,
    role: StackRole,
    k: &Param<usize>,
    dilations: &StackDilations,
    bias: bool,
    (batchnorm, activation, dropout): (bool, Activation, &Param<f64>),
    (pool, strides): (Option<&(PoolKind, Param<usize>)>, Option<&StackStrides>),
    every: &Param<usize>,
    (channels, len_in): (usize, usize),
    key_prefix: &str,
    index: usize,
    roles: &mut Roles,
    env: &SizeEnv,
    errs: &mut Errors,
) -> Option<ConvStack> {
    let pre = env.prefix();
    let kernel = positive(env, k, "the kernel size k", errs);
    let every = positive(env, every, "`every`", errs);
    let dropout = dropout_probability(env, dropout, errs);
    let pool_kind = pool.map_or(PoolKind::Weighted, |(kind, _)| *kind);
    let pool_size = pool.map(|(kind, p)| {
        let what = match kind {
            PoolKind::Weighted => "the pooling size `wpool`",
            PoolKind::Max => "the pooling size `maxpool`",
            PoolKind::Mean => "the pooling size `meanpool`",
        };
        positive(env, p, what, errs)
    });
    let dils: Vec<Option<usize>> = match dilations {
        StackDilations::List(span, list) => {
            if list.is_empty() {
                errs.at(*span, format!("`{}` needs at least one dilation, e.g. `dilations = [1, 2, 4]`", spec.name));
                return None;
            }
            list.iter().map(|d| positive(env, d, "a dilation", errs)).collect()
        }
        StackDilations::Repeat { n, dilation } => {
            let n = positive(env, n, "the number of layers n", errs);
            let d = positive(env, dilation, "the dilation", errs);
            vec![d; n.unwrap_or(0)]
        }
    };
    let (Some(kernel), Some(every), Some(dropout)) = (kernel, every, dropout) else {
        return None;
    };
    let pool_size = match pool_size {
        Some(None) => return None,
        Some(Some(p)) => Some(p),
        None => None,
    };
    let dils = dils.into_iter().collect::<Option<Vec<usize>>>()?;
    if dils.is_empty() {
        return None; // n = 0, reported by `positive`.
    }
    let strides = stack_strides(spec, strides, dils.len(), env, errs)?;
    let first_of_role = match role {
        StackRole::Dilated => !std::mem::replace(&mut roles.dilated, true),
        StackRole::Blocks => !std::mem::replace(&mut roles.blocks, true),
    };
    let key = match (role, first_of_role) {
        (StackRole::Dilated, true) => format!("{key_prefix}convolution_layers.convlayers"),
        (StackRole::Blocks, true) => format!("{key_prefix}trconvolution_layers.convlayers"),
        _ => format!("{key_prefix}layers.{index}.convlayers"),
    };
    // P4's construction rule: a layer is not built if the current length < k; a pooling (and
    // everything after it) is not built if it is larger than the current length.
    let mut layers = Vec::new();
    let mut len = len_in;
    for (n, &d) in dils.iter().enumerate() {
        if len < kernel {
            break;
        }
        // the reference's strided length, floor((L + pad − d(k−1) − 1)/s + 1) = ⌈L/s⌉, which
        // the layer's pooling (if any) pools
        let strided = len.div_ceil(strides[n]);
        let mut pool = None;
        let mut stop = false;
        if let Some(p) = pool_size {
            if (n + 1) % every == 0 {
                if p > strided {
                    stop = true;
                } else {
                    pool = Some(pooling(pool_kind, p, strided));
                }
            }
        }
        layers.push(StackLayer {
            index: n,
            dilation: d,
            padding: same_padding(kernel, d),
            len,
            stride: strides[n],
            pool,
            bn_key: batchnorm.then(|| format!("{key}.Bnorm{n}")),
            conv_key: format!("{key}.Conv{n}.conv1d"),
        });
        len = pool.map_or(strided, |p| p.out_len);
        if stop {
            break;
        }
    }
    if layers.is_empty() {
        errs.at(spec.span, format!("{pre}`{}` builds no layer: its kernel size k = {kernel} is longer than the input length {len_in} here; use k ≤ {len_in} or pool less before it", spec.name));
        return None;
    }
    Some(ConvStack { role, channels, kernel, bias, batchnorm, activation, dropout, requested_layers: dils.len(), layers, key })
}

/// The stride of every requested layer of a stack (`strides = [..]` of `dilated`, one per
/// dilation; `stride = s` of `convblocks`, every layer's; 1 without), each ≥ 1.
fn stack_strides(spec: &LayerSpec, strides: Option<&StackStrides>, n: usize, env: &SizeEnv, errs: &mut Errors) -> Option<Vec<usize>> {
    let pre = env.prefix();
    match strides {
        None => Some(vec![1; n]),
        Some(StackStrides::One(p)) => Some(vec![positive(env, p, "the stride", errs)?; n]),
        Some(StackStrides::List(span, list)) => {
            if list.len() != n {
                errs.at(
                    *span,
                    format!("{pre}`strides` of `{}` has {} entries for {n} layers; give one stride per dilation", spec.name, list.len()),
                );
                return None;
            }
            let list: Vec<Option<usize>> = list.iter().map(|p| positive(env, p, "a stride", errs)).collect();
            list.into_iter().collect::<Option<Vec<usize>>>()
        }
    }
}
