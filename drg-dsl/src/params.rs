//! Trainable-parameter counting, to the reference's counts (`models/tests/parameter_counts.rs`).
//!
//! Counts what PyTorch's `sum(p.numel() for p in model.parameters())` reports: weights, biases,
//! BatchNorm and LayerNorm affine parameters. BatchNorm running statistics and the attention's
//! positional embedding are buffers and excluded. Unused heads (model D) are counted, as the
//! reference builds them.

//!
//! Every size is at most 2^31 (checked by inference), but products of three of them can exceed
//! u64, so counts saturate instead of overflowing; inference rejects a saturated total.

use crate::ir::*;

/// `a · b · c` saturating.
fn mul3(a: usize, b: usize, c: usize) -> usize {
    a.saturating_mul(b).saturating_mul(c)
}

/// Trainable parameters of a conv layer.
pub(crate) fn conv(in_c: usize, out_c: usize, kernel: usize, bias: bool) -> usize {
    mul3(out_c, in_c, kernel).saturating_add(if bias { out_c } else { 0 })
}

/// Trainable parameters of a linear layer with bias.
pub(crate) fn linear(in_f: usize, out_f: usize) -> usize {
    in_f.saturating_mul(out_f).saturating_add(out_f)
}

/// Trainable parameters of one attention layer (P5: no biases, two affine LayerNorms).
pub(crate) fn attention(a: &Attention) -> usize {
    let (d, e, h) = (a.in_channels, a.embed, a.heads);
    [
        mul3(3, 2 * d, h.saturating_mul(e)), // queries, keys, values
        mul3(h, e, e),                       // combine_layer
        d * e,                               // reslayer
        2 * e,                               // layer_norm
        mul3(8, e, e),                       // feedforward.0 and .2 (E·4E each)
        2 * e,                               // feedforward_layer_norm
    ]
    .into_iter()
    .fold(0usize, usize::saturating_add)
}

fn fc(stack: &FcStack, out: &mut Vec<(String, usize)>) {
    for (k, (key, (i, o))) in stack.keys.iter().zip(&stack.widths).enumerate() {
        if let Some(bn) = stack.bn_keys.get(k) {
            out.push((bn.clone(), 2 * i));
        }
        out.push((key.clone(), linear(*i, *o)));
    }
    for (key, (i, o)) in &stack.residual_keys {
        out.push((key.clone(), i.saturating_mul(*o))); // no bias
    }
}

fn layer(l: &Layer, out: &mut Vec<(String, usize)>) {
    match &l.kind {
        LayerKind::Conv(c) => out.push((c.key.clone(), conv(c.in_channels, c.out_channels, c.kernel, c.bias))),
        LayerKind::ConvStack(s) => {
            for sl in &s.layers {
                if let Some(bn) = &sl.bn_key {
                    out.push((bn.clone(), 2 * s.channels));
                }
                out.push((sl.conv_key.clone(), conv(s.channels, s.channels, s.kernel, s.bias)));
            }
        }
        LayerKind::Attention(a) => out.push((a.key.clone(), attention(a))),
        LayerKind::Linear(li) => out.push((li.key.clone(), linear(li.in_features, li.out_features))),
        LayerKind::Fc(stack) => fc(stack, out),
        LayerKind::Gelu | LayerKind::Act(_) | LayerKind::Pool(_) | LayerKind::Flatten | LayerKind::Dropout { .. } => {}
    }
}

/// A head of fixed width; heads whose width comes from the data are counted per track
/// ([`per_track`]).
fn head(h: &Head, out: &mut Vec<(String, usize)>) {
    if let Some(bn) = &h.batchnorm {
        out.push((bn.clone(), 2 * h.in_features));
    }
    if let Width::Fixed(n) = h.out {
        out.push((h.key.clone(), linear(h.in_features, n)));
    }
}

/// Per output, the trainable parameters per track of every head whose width is that output's
/// track count from the data (`ex[_]`): weights and bias, `in_features + 1` per track.
pub(crate) fn per_track(v: &Variant) -> Vec<usize> {
    let mut per = vec![0usize; v.output_widths.len()];
    let mut add = |h: &Head| {
        if let Width::Data { output } = h.out {
            per[output] = per[output].saturating_add(h.in_features.saturating_add(1));
        }
    };
    match &v.heads {
        Heads::Linear { per_trunk, .. } => per_trunk.iter().flatten().for_each(|h| add(&h.head)),
        Heads::Mlp { combiners, .. } => combiners.iter().for_each(|c| add(&c.head)),
    }
    per
}

/// Trainable parameters per state-dict key prefix, in the reference's module order (trunks,
/// then combiner layers, then output heads).
pub(crate) fn breakdown(v: &Variant) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (t, trunk) in v.trunks.iter().enumerate() {
        for l in &trunk.layers {
            layer(l, &mut out);
        }
        match &v.heads {
            Heads::Linear { per_trunk, .. } => {
                // The outputs' own stacks (`nfcs.{i}`) come before the classifiers, as in the reference.
                for s in per_trunk[t].iter().filter_map(|h| h.stack.as_ref()) {
                    out.push((s.linear.key.clone(), linear(s.linear.in_features, s.linear.out_features)));
                    if let Some(f) = &s.fc {
                        fc(f, &mut out);
                    }
                }
                per_trunk[t].iter().for_each(|h| head(&h.head, &mut out))
            }
            Heads::Mlp { embeddings, .. } => head(&embeddings[t], &mut out),
        }
    }
    if let Heads::Mlp { combiners, .. } = &v.heads {
        combiners.iter().for_each(|c| fc(&c.fc, &mut out));
        combiners.iter().for_each(|c| head(&c.head, &mut out));
    }
    out
}
