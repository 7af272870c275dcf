//! Code generation: the resolved IR becomes Rust items over `drg_core::layers`.
//!
//! For a declaration `pub struct ModelD { sizes { full: .., demo: .. } .. }` it emits
//! - `pub struct ModelD;`, the family, implementing `drg_core::model::ModelFamily`;
//! - one struct per size variant (`ModelDFull<E = f32, D = Cpu>`, `ModelDDemo<..>`) whose fields
//!   are the typed layers, every channel count and length a `Const`, visited by dfdx under the
//!   reference's state-dict keys, and implementing `drg_core::model::DrgModel`;
//! - module-level `const` assertions of the lengths the IR computed, so a disagreement between
//!   the macro and the layers is a compile error, not a run-time surprise.
//!
//! Nothing is re-derived here: every number comes from the IR.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::ir::*;

mod hyper;
mod shapes;

/// Paths into drg-core as seen from the user's crate.
fn core() -> TokenStream {
    quote!(::drg_core)
}

fn camel(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The type name of a variant: `ModelD` + `Full`; `ModelD` + `Default` without a sizes block.
fn variant_ident(model: &Model, v: &Variant) -> Ident {
    format_ident!("{}{}", model.name, camel(&v.name.to_string()), span = model.name.span())
}

/// One field of a variant struct: its name, type and state-dict key (the module path dfdx joins
/// the layer's own tensor names to).
struct Field {
    ident: Ident,
    ty: TokenStream,
    key: String,
    /// `Some(i)` for a head whose width is output `i`'s track count from the data (`ex[_]`): it
    /// is built with that count ([`drg_core::layers::TrackHead`]) instead of by dfdx's builder.
    tracks_of: Option<usize>,
}

impl Field {
    /// A layer whose every shape is in its type.
    fn typed(ident: Ident, ty: TokenStream, key: String) -> Self {
        Field { ident, ty, key, tracks_of: None }
    }

    /// A prediction head `in_features → width`.
    fn head(ident: Ident, head: &Head) -> Self {
        let c = core();
        let i = head.in_features;
        match head.out {
            Width::Fixed(o) => Field::typed(ident, linear_ty(i, o), head.key.clone()),
            Width::Data { output } => {
                Field { ident, ty: quote!(#c::layers::TrackHead<#i, E, D>), key: head.key.clone(), tracks_of: Some(output) }
            }
        }
    }
}

/// Builds a nested tuple (at most 6 per level, dfdx's limit) of `items`.
fn nest(items: Vec<TokenStream>) -> TokenStream {
    if items.len() <= 6 {
        return quote!((#(#items,)*));
    }
    let chunks: Vec<TokenStream> = items.chunks(6).map(|c| nest(c.to_vec())).collect();
    nest(chunks)
}

fn strip_suffix<'a>(key: &'a str, suffix: &str) -> &'a str {
    key.strip_suffix(suffix).unwrap_or(key)
}

fn loss_kind(l: Loss) -> TokenStream {
    let c = core();
    let variant = format_ident!("{}", l.kind_variant());
    quote!(#c::train::loss::LossKind::#variant)
}

fn fc_spec(fc: &FcStack) -> Result<TokenStream, syn::Error> {
    let c = core();
    let permille = (fc.dropout * 1000.0).round();
    if (permille / 1000.0 - fc.dropout).abs() > 1e-9 || !(0.0..1000.0).contains(&permille) {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("dropout {} is not a multiple of 0.001 in [0, 1): drg-rs stores it in thousandths", fc.dropout),
        ));
    }
    let permille = permille as u32;
    Ok(match fc.activation {
        Activation::Gelu | Activation::Identity => {
            let gelu = fc.activation == Activation::Gelu;
            quote!(#c::layers::fc_stack::FcSettings<#permille, #gelu>)
        }
        other => {
            let act = core_activation(other);
            quote!(#c::layers::fc_stack::FcAct<#permille, { #act.code() }>)
        }
    })
}

/// `drg_core::layers::activation::Activation::<Variant>`, the core's value of `act`.
fn core_activation(act: Activation) -> TokenStream {
    let c = core();
    let v = format_ident!("{}", act.core_variant());
    quote!(#c::layers::activation::Activation::#v)
}

fn linear_ty(i: usize, o: usize) -> TokenStream {
    let c = core();
    quote!(#c::dfdx::nn::modules::Linear<#i, #o, E, D>)
}

fn fc_ty(fc: &FcStack) -> Result<TokenStream, syn::Error> {
    let c = core();
    let with_bn = !fc.bn_keys.is_empty();
    let layers: Vec<TokenStream> = fc
        .widths
        .iter()
        .enumerate()
        .map(|(k, &(i, o))| if with_bn { quote!(#c::layers::fc_stack::BnLinear<#k, #i, #o, E, D>) } else { linear_ty(i, o) })
        .collect();
    let spec = fc_spec(fc)?;
    if fc.residuals > 0 {
        let every = fc.residuals;
        let skips = fc.residual_keys.iter().map(|(_, (i, o))| quote!(#c::dfdx::nn::modules::UnbiasedLinear<#i, #o, E, D>));
        return Ok(quote!(#c::layers::fc_residual::ResFcStack<(#(#layers,)*), (#(#skips,)*), #spec, #every>));
    }
    Ok(quote!(#c::layers::fc_stack::FcStack<#c::layers::fc_stack::NoEmbedding, (#(#layers,)*), #spec>))
}

/// The key an `FcStack` field is visited under: its layers' keys without `.nfcs.Fullyconnected{k}`
/// (the stack names its layers `nfcs.Fullyconnected{k}` itself), or without `.Fullyconnected0`
/// for a second stack keyed by position.
fn fc_field_key(fc: &FcStack) -> String {
    let key0 = fc.keys.first().cloned().unwrap_or_default();
    key0.rsplit_once(".nfcs.").map(|(a, _)| a.to_string()).unwrap_or_else(|| strip_suffix(&key0, ".Fullyconnected0").to_string())
}

/// Generated code for one trunk: its fields and the statements of its forward pass, which
/// leave the trunk's features in `feat{t}`.
struct TrunkCode {
    fields: Vec<Field>,
    forward: TokenStream,
}

fn seq_dims(s: Shape) -> (usize, usize) {
    match s {
        Shape::Seq { channels, len } => (channels, len),
        Shape::Flat { features } => (features, 0),
    }
}

fn trunk_code(model: &Model, t: usize, trunk: &Trunk) -> Result<TrunkCode, syn::Error> {
    let c = core();
    let mut fields = Vec::new();
    let mut body = Vec::new();
    let multi = model.combined;
    let scope = if multi { format!("t{t}") } else { String::new() };
    let sub = |name: &str| if scope.is_empty() { name.to_string() } else { format!("{scope}/{name}") };
    let x = format_ident!("x{}", t);
    let feat = format_ident!("feat{}", t);
    let (ch, len) = (trunk.input_channels, trunk.input_len);
    body.push(quote! {
        let h = #x.reshape_like(&(batch, #c::dfdx::shapes::Const::<#ch>, #c::dfdx::shapes::Const::<#len>));
        ctx.set_scope(#scope);
    });
    let mut convs = 0usize;
    let last = trunk.layers.len().saturating_sub(1);
    for (n, layer) in trunk.layers.iter().enumerate() {
        let f = format_ident!("t{}_l{}", t, n);
        match &layer.kind {
            LayerKind::Conv(conv) => {
                let (ci, co, k, d, bias, rc) =
                    (conv.in_channels, conv.out_channels, conv.kernel, conv.dilation, conv.bias, conv.reverse_complement);
                fields.push(Field::typed(f.clone(), quote!(#c::layers::Conv1d<#ci, #co, #k, #d, #bias, E, D, #rc>), conv.key.clone()));
                let stage = if convs == 0 { "after_conv".to_string() } else { format!("after_conv{convs}") };
                convs += 1;
                body.push(quote! { let h = self.#f.forward(h); ctx.record(#stage, &h); });
            }
            LayerKind::Gelu => body.push(quote! { let h = #c::device::DrgDevice::gelu(h); ctx.record("after_act", &h); }),
            LayerKind::Act(a) => {
                let act = core_activation(*a);
                body.push(quote! { let h = #act.apply(h); ctx.record("after_act", &h); });
            }
            LayerKind::Pool(p) => {
                let (ch, li) = seq_dims(layer.input);
                let (lo, size, step) = (p.out_len, p.size, p.step);
                let pool = if step == size {
                    match p.kind {
                        PoolKind::Weighted => quote!(#c::layers::pooling::WeightedPool::<#size>),
                        PoolKind::Max => quote!(#c::layers::pooling::MaxPool::<#size>),
                        PoolKind::Mean => quote!(#c::layers::pooling::MeanPool::<#size>),
                    }
                } else {
                    match p.kind {
                        PoolKind::Weighted => quote!(#c::layers::pooling::WeightedPoolSteps::<#size, #step>),
                        PoolKind::Max => quote!(#c::layers::pooling::MaxPoolSteps::<#size, #step>),
                        PoolKind::Mean => quote!(#c::layers::pooling::MeanPoolSteps::<#size, #step>),
                    }
                };
                body.push(quote! { let h = #pool.forward::<#ch, #li, #lo, D, T>(h); ctx.record("after_pool", &h); });
            }
            LayerKind::ConvStack(stack) => {
                let (ch, li) = seq_dims(layer.input);
                let (_, lo) = seq_dims(layer.output);
                let pooled: Vec<&StackLayer> = stack.layers.iter().filter(|l| l.pool.is_some()).collect();
                let (p, s) = match pooled.first() {
                    Some(first) => (first.pool.unwrap().size, first.index + 1),
                    None => (0, 1),
                };
                for l in &stack.layers {
                    if (p > 0 && (l.index + 1) % s == 0) != l.pool.is_some() {
                        return Err(syn::Error::new(
                            layer.span,
                            format!(
                                "this conv stack's pooling after layer {} does not fit the length {}; drg-rs needs every S-th layer pooled",
                                l.index, l.len
                            ),
                        ));
                    }
                }
                let (k, bias, bn) = (stack.kernel, stack.bias, stack.batchnorm);
                let act = core_activation(stack.activation);
                let layer_tys: Vec<TokenStream> = stack
                    .layers
                    .iter()
                    .map(|l| {
                        let (i, d) = (l.index, l.dilation);
                        quote!(#c::layers::conv_stack::StackLayer<#i, #ch, #k, #d, #bias, #bn, E, D, { #act.code() }>)
                    })
                    .collect();
                let kind = match pooled.first().and_then(|l| l.pool).map_or(PoolKind::Weighted, |p| p.kind) {
                    PoolKind::Weighted => quote!(#c::layers::stack_pooling::WeightedStackPool),
                    PoolKind::Max => quote!(#c::layers::stack_pooling::MaxStackPool),
                    PoolKind::Mean => quote!(#c::layers::stack_pooling::MeanStackPool),
                };
                let drop = (stack.dropout * 1000.0).round() as u32;
                fields.push(Field::typed(
                    f.clone(),
                    quote!(#c::layers::conv_stack::ConvStack<#ch, #p, #s, (#(#layer_tys,)*), #kind, #drop>),
                    strip_suffix(&stack.key, ".convlayers").to_string(),
                ));
                let (inner, after) = match stack.role {
                    StackRole::Dilated => ("dilated", "after_dilated"),
                    StackRole::Blocks => ("trconv", "after_trconv"),
                };
                let inner = sub(inner);
                let call = if stack.layers.iter().any(|l| l.stride > 1) {
                    // with its pooling, if any: `ConvStack<C, P, S, ..>::forward_strided`
                    let strides = stack.layers.iter().map(|l| {
                        let s = l.stride;
                        quote!(#c::layers::conv_stack_strided::Stride<#s>)
                    });
                    let dils = stack.layers.iter().map(|l| l.dilation);
                    quote!(self.#f.forward_strided::<#li, #lo, (#(#strides,)*), D, T>(h, &[#(#dils),*], ctx))
                } else {
                    quote!(self.#f.forward::<#li, #lo, D, T>(h, ctx))
                };
                body.push(quote! {
                    ctx.set_scope(#inner);
                    let h = #call;
                    ctx.set_scope(#scope);
                    ctx.record(#after, &h);
                });
            }
            LayerKind::Attention(a) => {
                let (ci, e, hh, l) = (a.in_channels, a.embed, a.heads, a.len);
                let (ci2, he, e4) = (2 * ci, hh * e, 4 * e);
                fields.push(Field::typed(
                    f.clone(),
                    quote!(#c::layers::attention::Attention<#ci, #e, #hh, #l, #ci2, #he, #e4, E, D>),
                    a.key.clone(),
                ));
                if a.dropout > 0.0 {
                    let p = a.dropout as f32;
                    body.push(quote! { let h = self.#f.forward_dropout(h, #p, ctx); ctx.record("after_attention", &h); });
                } else {
                    body.push(quote! { let h = self.#f.forward(h); ctx.record("after_attention", &h); });
                }
            }
            LayerKind::Flatten => {
                let (ch, l) = seq_dims(layer.input);
                let n = ch * l;
                body.push(quote! { let h = #c::layers::flatten::<#ch, #l, #n, D, T>(h); ctx.record("flattened", &h); });
            }
            LayerKind::Linear(lin) => {
                fields.push(Field::typed(f.clone(), linear_ty(lin.in_features, lin.out_features), lin.key.clone()));
                // A following `fc(.., residuals = r)` starts its skips from the features before
                // this layer (the reference's `res = x` before `EmbeddtoFully`).
                if matches!(trunk.layers.get(n + 1).map(|l| &l.kind), Some(LayerKind::Fc(fc)) if fc.skip_before_linear) {
                    body.push(quote! { let pre_linear = h.with_empty_tape(); });
                }
                body.push(quote! { let h = self.#f.forward(h); });
                if n == last {
                    body.push(quote! { ctx.record("after_fc", &h); });
                }
            }
            LayerKind::Fc(fc) => {
                let (i, o) = (fc.widths.first().map_or(0, |w| w.0), fc.widths.last().map_or(0, |w| w.1));
                fields.push(Field::typed(f.clone(), fc_ty(fc)?, fc_field_key(fc)));
                if fc.skip_before_linear {
                    body.push(quote! { let h = self.#f.forward_from::<#i, #o, D, T>(h, pre_linear, ctx); });
                } else {
                    body.push(quote! { let h = self.#f.forward::<#i, #o, D, T>(h, ctx); });
                }
                if n == last {
                    body.push(quote! { ctx.record("after_fc", &h); });
                }
            }
            LayerKind::Dropout { p } => {
                let p = *p as f32;
                body.push(quote! { let h = #c::layers::dropout::dropout(h, #p, ctx); });
            }
        }
    }
    body.push(quote! { let #feat = h; });
    Ok(TrunkCode { fields, forward: quote!(#(#body)*) })
}

/// Fields and forward statements of the output side; the statements leave `out{i}` for every
/// output.
fn heads_code(model: &Model, v: &Variant) -> Result<(Vec<Field>, TokenStream), syn::Error> {
    let c = core();
    let mut fields = Vec::new();
    let mut body = Vec::new();
    let n_trunks = v.trunks.len();
    match &v.heads {
        Heads::Linear { per_trunk, outputs } => {
            // How often each (trunk, head) is read, and how often each trunk's features are.
            let mut uses = vec![vec![0usize; 0]; n_trunks];
            for (t, heads) in per_trunk.iter().enumerate() {
                uses[t] = vec![0; heads.len()];
            }
            for o in outputs {
                match *o {
                    LinearOutput::Direct { head: (t, k) } => uses[t][k] += 1,
                    LinearOutput::Difference { plus: (a, i), minus: (b, j) } => {
                        uses[a][i] += 1;
                        uses[b][j] += 1;
                    }
                }
            }
            for (t, heads) in per_trunk.iter().enumerate() {
                let feat = format_ident!("feat{}", t);
                let n_heads = heads.len();
                // Every head is computed, as in the reference (unused ones only for the stage
                // probes); used heads first, so that the handle with the trunk's tape (the first
                // `pop`) feeds an output.
                body.push(quote! { let mut #feat = #c::layers::combine::fanout(#feat, #n_heads); });
                let mut order: Vec<usize> = (0..n_heads).filter(|&k| uses[t][k] > 0).collect();
                order.extend((0..n_heads).filter(|&k| uses[t][k] == 0));
                for (k, th) in heads.iter().enumerate() {
                    if let Some(stack) = &th.stack {
                        let lin = &stack.linear;
                        fields.push(Field::typed(
                            format_ident!("hs{}_{}_lin", t, k),
                            linear_ty(lin.in_features, lin.out_features),
                            lin.key.clone(),
                        ));
                        if let Some(fc) = &stack.fc {
                            fields.push(Field::typed(format_ident!("hs{}_{}_fc", t, k), fc_ty(fc)?, fc_field_key(fc)));
                        }
                    }
                    if let Some(bn_key) = &th.head.batchnorm {
                        let i = th.head.in_features;
                        fields.push(Field::typed(format_ident!("hbn{}_{}", t, k), quote!(#c::layers::BatchNorm<#i, E, D>), bn_key.clone()));
                    }
                    let f = format_ident!("h{}_{}", t, k);
                    fields.push(Field::head(f.clone(), &th.head));
                }
                for k in order {
                    let f = format_ident!("h{}_{}", t, k);
                    let hv = format_ident!("head{}_{}", t, k);
                    let nu = uses[t][k];
                    let stage = if n_heads == 1 { "embedding".to_string() } else { format!("embedding/{k}") };
                    let scope = if model.combined { format!("t{t}") } else { String::new() };
                    let input = quote!(#feat.pop().expect("fanout"));
                    // The output's own layers, then the classifier's batch norm (`ClassBnorm`)
                    // before its linear layer.
                    let input = match &heads[k].stack {
                        Some(stack) => {
                            let lin = format_ident!("hs{}_{}_lin", t, k);
                            let mut steps = vec![quote! { let s = #input; }];
                            // Skips from the trunk's features (the reference's `res = x` before
                            // the output's `EmbeddtoFully`).
                            let from_features = stack.fc.as_ref().is_some_and(|fc| fc.skip_before_linear);
                            if from_features {
                                steps.push(quote! { let pre_linear = s.with_empty_tape(); });
                            }
                            steps.push(quote! { let s = self.#lin.forward(s); });
                            if let Some(fc) = &stack.fc {
                                let f = format_ident!("hs{}_{}_fc", t, k);
                                let (a, b) = (fc.widths[0].0, fc.widths.last().map_or(0, |w| w.1));
                                if from_features {
                                    steps.push(quote! { let s = self.#f.forward_from::<#a, #b, D, T>(s, pre_linear, ctx); });
                                } else {
                                    steps.push(quote! { let s = self.#f.forward::<#a, #b, D, T>(s, ctx); });
                                }
                            }
                            let stage = format!("after_fc{k}");
                            quote!({ #(#steps)* ctx.record(#stage, &s); s })
                        }
                        None => input,
                    };
                    let input = match heads[k].head.batchnorm {
                        Some(_) => {
                            let bn = format_ident!("hbn{}_{}", t, k);
                            quote!(self.#bn.forward_flat(#input, ctx))
                        }
                        None => input,
                    };
                    // In a combined model, the reference's `combine_function` (`act = ..` of a
                    // `difference`/`direct` output) is the `outclass` of each trunk's head: it
                    // applies to the head, before the relation. A shared head has the one of all
                    // outputs (checked equal).
                    let combine_act = match model.combination {
                        _ if !model.combined => None,
                        CombinationKind::SharedHead => model.outputs.first().and_then(|o| o.activation),
                        _ => model.outputs.get(k).and_then(|o| o.activation),
                    };
                    let head = quote!(self.#f.forward(#input));
                    let head = match combine_act {
                        Some(a) if a != Activation::Identity => {
                            let act = core_activation(a);
                            quote!(#act.apply(#head))
                        }
                        _ => head,
                    };
                    body.push(quote! {
                        let #hv = #head;
                        ctx.set_scope(#scope);
                        ctx.record(#stage, &#hv);
                    });
                    if nu > 0 {
                        body.push(quote! { let mut #hv = #c::layers::combine::fanout(#hv, #nu); });
                    }
                }
            }
            for (i, o) in outputs.iter().enumerate() {
                let out = format_ident!("out{}", i);
                let take = |(t, k): (usize, usize)| {
                    let hv = format_ident!("head{}_{}", t, k);
                    quote!(#hv.pop().expect("fanout"))
                };
                match *o {
                    LinearOutput::Direct { head } => {
                        let h = take(head);
                        // The reference's `outclass` activation after the head (`act = exp_max`)
                        // of a model of one input (a combined model's was applied to the head).
                        let h = match model.outputs[i].activation {
                            Some(a) if a != Activation::Identity && !model.combined => {
                                let act = core_activation(a);
                                quote!(#act.apply(#h))
                            }
                            _ => h,
                        };
                        body.push(quote! { let #out = #h; });
                    }
                    LinearOutput::Difference { plus, minus } => {
                        let (a, b) = (take(plus), take(minus));
                        body.push(quote! { let #out = #c::layers::combine::difference(#a, #b); });
                    }
                }
            }
        }
        Heads::Mlp { embeddings, activation, combiners } => {
            let mut uses = vec![0usize; n_trunks];
            for comb in combiners {
                for &t in &comb.trunks {
                    uses[t] += 1;
                }
            }
            let gelu = *activation == Activation::Gelu;
            for (t, head) in embeddings.iter().enumerate() {
                let f = format_ident!("e{}", t);
                let w = head.out.fixed().expect("embedding heads have a declared width");
                fields.push(Field::typed(f.clone(), linear_ty(head.in_features, w), head.key.clone()));
                if uses[t] == 0 {
                    continue;
                }
                let feat = format_ident!("feat{}", t);
                let ev = format_ident!("emb{}", t);
                let nu = uses[t];
                let act = if gelu { quote!(#c::device::DrgDevice::gelu(e)) } else { quote!(e) };
                let scope = format!("t{t}");
                body.push(quote! {
                    let e = self.#f.forward(#feat);
                    let e = #act;
                    ctx.set_scope(#scope);
                    ctx.record("embedding", &e);
                    let mut #ev = #c::layers::combine::fanout(e.reshape_like(&(batch, #w)), #nu);
                });
            }
            let single = combiners.len() == 1;
            for (i, comb) in combiners.iter().enumerate() {
                let out = format_ident!("out{}", i);
                let parts: Vec<TokenStream> = comb
                    .trunks
                    .iter()
                    .map(|&t| {
                        let ev = format_ident!("emb{}", t);
                        quote!(#ev.pop().expect("fanout"))
                    })
                    .collect();
                let width = comb.in_features;
                let scope = if single { "combine".to_string() } else { format!("combine/{i}") };
                body.push(quote! {
                    ctx.set_scope(#scope);
                    let h = #c::layers::combine::concat::<#width, D, T>(vec![#(#parts),*]);
                    ctx.record("in", &h);
                });
                if !comb.fc.widths.is_empty() {
                    let f = format_ident!("c{}_fc", i);
                    let key0 = comb.fc.keys[0].clone();
                    let stem = key0.rsplit_once(".nfcs.").map(|(a, _)| a.to_string()).unwrap_or(key0);
                    fields.push(Field::typed(f.clone(), fc_ty(&comb.fc)?, stem));
                    let (a, b) = (comb.fc.widths[0].0, comb.fc.widths.last().unwrap().1);
                    body.push(quote! { let h = self.#f.forward::<#a, #b, D, T>(h, ctx); ctx.record("after_fc", &h); });
                }
                let f = format_ident!("c{}_out", i);
                fields.push(Field::head(f.clone(), &comb.head));
                // The output's `outclass` after the combiner's head (`PredictionHead` in
                // `drg_tools/cnn_model_multi.py`).
                let head = match model.outputs[i].activation {
                    Some(a) if a != Activation::Identity => {
                        let act = core_activation(a);
                        quote!(#act.apply(self.#f.forward(h)))
                    }
                    _ => quote!(self.#f.forward(h)),
                };
                body.push(quote! { let #out = #head; });
            }
        }
    }
    let _ = model;
    Ok((fields, quote!(#(#body)*)))
}

fn variant_code(model: &Model, v: &Variant) -> Result<TokenStream, syn::Error> {
    let c = core();
    let ty = variant_ident(model, v);
    let mut fields = Vec::new();
    let mut forward = Vec::new();
    for (t, trunk) in v.trunks.iter().enumerate() {
        let code = trunk_code(model, t, trunk)?;
        fields.extend(code.fields);
        forward.push(code.forward);
    }
    let (head_fields, head_forward) = heads_code(model, v)?;
    fields.extend(head_fields);

    let idents: Vec<&Ident> = fields.iter().map(|f| &f.ident).collect();
    let tys: Vec<&TokenStream> = fields.iter().map(|f| &f.ty).collect();
    let keys: Vec<&String> = fields.iter().map(|f| &f.key).collect();
    let visits: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let (id, key) = (&f.ident, &f.key);
            quote!(Self::module(#key, |s| &s.#id, |s| &mut s.#id))
        })
        .collect();
    let visits = nest(visits);
    let pattern = nest(idents.iter().map(|i| quote!(#i)).collect());

    let xs: Vec<Ident> = (0..v.trunks.len()).map(|t| format_ident!("x{}", t)).collect();
    let outs: Vec<Ident> = (0..model.outputs.len()).map(|i| format_ident!("out{}", i)).collect();
    let widths = &v.output_widths;
    let n_inputs = v.trunks.len();

    let input_specs: Vec<TokenStream> = model
        .inputs
        .iter()
        .zip(&v.trunks)
        .map(|(inp, trunk)| {
            let name = inp.name.to_string();
            let (ch, len) = (trunk.input_channels, trunk.input_len);
            let rc = inp.reverse_complement;
            quote!(#c::model::InputSpec { name: #name, channels: #ch, length: #len, reverse_complement: #rc })
        })
        .collect();
    let validation = loss_kind(model.validation);
    let output_specs: Vec<TokenStream> = model
        .outputs
        .iter()
        .zip(widths)
        .map(|(o, &w)| {
            let name = o.name.to_string();
            let val = if o.validated {
                o.validation.map_or_else(|| validation.clone(), loss_kind)
            } else {
                quote!(#c::train::loss::LossKind::None)
            };
            let width = match w {
                Width::Fixed(n) => quote!(::core::option::Option::Some(#n)),
                Width::Data { .. } => quote!(::core::option::Option::None),
            };
            let loss = loss_kind(o.loss.unwrap_or(model.loss));
            quote!(#c::model::OutputSpec { name: #name, width: #width, validation: #val, loss: #loss })
        })
        .collect();
    let per_track = &v.parameters_per_track;
    let hyper: Vec<TokenStream> = hyper::reference_keys(model, v)
        .into_iter()
        .map(|(key, value, dsl)| quote!(#c::model::ReferenceKey { key: #key, value: #value, dsl: #dsl }))
        .collect();
    let equal_widths: Vec<usize> =
        if model.combination == CombinationKind::SharedHead { (0..model.outputs.len()).collect() } else { Vec::new() };
    // `new`: every layer built by dfdx in field order (the order the state is visited in, so the
    // generator draws as it would for the whole struct), heads of data width with the data's
    // track count.
    let inits: Vec<TokenStream> = fields
        .iter()
        .map(|f| match f.tracks_of {
            Some(i) => quote!(#c::layers::TrackHead::new(dev, widths[#i])),
            None => quote!(#c::dfdx::nn::BuildModule::build(dev)),
        })
        .collect();
    let width_of: Vec<TokenStream> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| match w {
            Width::Fixed(n) => quote!(#n),
            Width::Data { .. } => {
                // Its own head, or (shared heads) the head sized by the first output.
                let f = &fields
                    .iter()
                    .find(|f| f.tracks_of == Some(i))
                    .or_else(|| fields.iter().find(|f| f.tracks_of.is_some_and(|o| equal_widths.contains(&o)) && equal_widths.contains(&i)))
                    .expect("an output of data width has a head")
                    .ident;
                quote!(self.#f.tracks())
            }
        })
        .collect();
    let finals: Vec<TokenStream> = outs
        .iter()
        .zip(widths)
        .map(|(out, w)| match w {
            Width::Fixed(n) => quote!(#out.reshape_like(&(batch, #n))),
            Width::Data { .. } => quote!(#out),
        })
        .collect();
    let loss = loss_kind(model.loss);
    let model_name = model.name.to_string();
    let variant_name = if v.implicit { String::new() } else { v.name.to_string() };
    let params = v.parameter_count;
    let doc = format!(
        "`{}` at size `{}`: inputs {}; outputs {}; {} trainable parameters. Generated by `drg_model!`; the state-dict keys are the reference's.",
        model_name,
        if v.implicit { "default" } else { &variant_name },
        model.inputs.iter().zip(&v.trunks).map(|(i, t)| format!("{}: {}×{}", i.name, t.input_channels, t.input_len)).collect::<Vec<_>>().join(", "),
        model
            .outputs
            .iter()
            .zip(widths)
            .map(|(o, w)| match w {
                Width::Fixed(n) => format!("{}[{n}]", o.name),
                Width::Data { .. } => format!("{}[_] (the data's track count)", o.name),
            })
            .collect::<Vec<_>>()
            .join(", "),
        if per_track.iter().all(|&p| p == 0) { params.to_string() } else { format!("{params} + {} per track", per_track.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" / ")) }
    );
    let vis = &model.vis;
    let breakdown_sum: usize = v.parameter_breakdown.iter().map(|(_, n)| n).sum();
    let _ = keys;

    Ok(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #ty<E: #c::dfdx::shapes::Dtype = f32, D: #c::dfdx::tensor::Storage<E> = #c::dfdx::tensor::Cpu> {
            #(pub #idents: #tys,)*
        }

        const _: () = assert!(#breakdown_sum == #params, "drg_model!: parameter breakdown and total disagree");

        impl<D: #c::device::DrgDevice> #c::dfdx::nn::TensorCollection<f32, D> for #ty<f32, D> {
            type To<E2: #c::dfdx::shapes::Dtype, D2: #c::dfdx::tensor_ops::Device<E2>> = #ty<E2, D2>;

            fn iter_tensors<V: #c::dfdx::nn::ModuleVisitor<Self, f32, D>>(
                visitor: &mut V,
            ) -> ::core::result::Result<::core::option::Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(#visits, |#pattern| #ty { #(#idents,)* })
            }
        }

        impl<D: #c::device::DrgDevice> #c::model::DrgModel<D> for #ty<f32, D> {
            const SPEC: #c::model::ModelSpec = #c::model::ModelSpec {
                name: #model_name,
                variant: #variant_name,
                inputs: &[#(#input_specs),*],
                outputs: &[#(#output_specs),*],
                loss: #loss,
                hyper: &[#(#hyper),*],
                parameters: #c::model::ParameterCount { fixed: #params, per_track: &[#(#per_track),*] },
                equal_widths: &[#(#equal_widths),*],
            };

            type On<D2: #c::device::DrgDevice> = #ty<f32, D2>;

            fn new(dev: &D, widths: &[usize]) -> Self {
                if let ::core::result::Result::Err(e) = <Self as #c::model::DrgModel<D>>::SPEC.check_widths(widths) {
                    panic!("{}", e);
                }
                #ty { #(#idents: #inits,)* }
            }

            fn output_widths(&self) -> ::std::vec::Vec<usize> {
                vec![#(#width_of),*]
            }

            #[allow(unused_mut, clippy::let_and_return)]
            fn forward<T: #c::dfdx::tensor::Tape<f32, D>>(
                &mut self,
                inputs: ::std::vec::Vec<#c::dfdx::tensor::Tensor<(usize, usize, usize), f32, D, T>>,
                ctx: &mut #c::layers::Ctx,
            ) -> ::std::vec::Vec<#c::dfdx::tensor::Tensor<(usize, usize), f32, D, T>> {
                use #c::dfdx::prelude::*;
                assert_eq!(inputs.len(), #n_inputs, "{} takes {} inputs", #model_name, #n_inputs);
                let mut inputs = inputs.into_iter();
                #(let #xs = inputs.next().expect("input");)*
                let batch = x0.shape().0;
                #(#forward)*
                #head_forward
                ctx.set_scope("");
                vec![#(#finals),*]
            }
        }
    })
}

pub(crate) fn generate(model: &Model, source: &str) -> TokenStream {
    match generate_checked(model, source) {
        Ok(ts) => ts,
        Err(e) => e.into_compile_error(),
    }
}

fn generate_checked(model: &Model, source: &str) -> Result<TokenStream, syn::Error> {
    let c = core();
    let attrs = &model.attrs;
    let vis = &model.vis;
    let name = &model.name;
    let mut items = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for v in &model.variants {
        match variant_code(model, v) {
            Ok(ts) => items.push(ts),
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let variant_tys: Vec<Ident> = model.variants.iter().map(|v| variant_ident(model, v)).collect();
    let indices: Vec<usize> = (0..variant_tys.len()).collect();
    let name_str = name.to_string();
    let shape_modules = model.variants.iter().map(|v| shapes::variant_module(model, v));
    let counts = model.variants.iter().map(|v| {
        let n = v.name.to_string();
        let (fixed, per_track) = (v.parameter_count, &v.parameters_per_track);
        quote!((#n, #c::model::ParameterCount { fixed: #fixed, per_track: &[#(#per_track),*] }))
    });
    Ok(quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        impl #name {
            /// Trainable parameters per size variant (variant name, count as a function of the
            /// output widths: `.at(&[88, 88, 88])`).
            pub const PARAMETER_COUNTS: &'static [(&'static str, #c::model::ParameterCount)] = &[#(#counts),*];
        }

        impl #c::model::ModelFamily for #name {
            const NAME: &'static str = #name_str;
            const DECLARATION: &'static str = #source;
            fn variants() -> ::std::vec::Vec<#c::model::ModelSpec> {
                vec![#(<#variant_tys<f32, #c::dfdx::tensor::Cpu> as #c::model::DrgModel<#c::dfdx::tensor::Cpu>>::SPEC),*]
            }
            fn with_variant<J: #c::model::VariantJob>(index: usize, job: J) -> J::Output {
                match index {
                    #(#indices => job.run::<#variant_tys<f32, #c::dfdx::tensor::Cpu>>(),)*
                    _ => panic!("{} has no size variant {}", #name_str, index),
                }
            }
        }

        #(#items)*

        #(#shape_modules)*
    })
}
