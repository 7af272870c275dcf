//! What a declaration means where it leaves a setting out: the reference constructor's default
//! (`cnn.__init__` in its `cnn_model.py`, drg-behaviour §2.4; `docs/dsl.md`, "Defaults"), one
//! test per default, and the reference's documented example declared from its `--cnn` string
//! alone.

use crate::ast::ModelDef;
use crate::infer::infer;
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::quote;

fn model(ts: TokenStream) -> Model {
    let def: ModelDef = syn::parse2(ts).expect("parses");
    infer(&def).unwrap_or_else(|e| panic!("unexpected errors: {:?}", e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>()))
}

fn errors(ts: TokenStream) -> Vec<String> {
    let def: ModelDef = syn::parse2(ts).expect("parses");
    match infer(&def) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// The conv stacks of variant `v`'s first trunk, in order.
fn stacks(v: &Variant) -> Vec<&ConvStack> {
    v.trunks[0]
        .layers
        .iter()
        .filter_map(|l| match &l.kind {
            LayerKind::ConvStack(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn fc(v: &Variant) -> &FcStack {
    v.trunks[0]
        .layers
        .iter()
        .find_map(|l| match &l.kind {
            LayerKind::Fc(f) => Some(f),
            _ => None,
        })
        .expect("an fc stack")
}

/// The reference's `conv_batch_norm=False`: neither stack has batch norm (nor its keys); the
/// dilated stack's convs have no bias and the transformer stack's have one (the constructor
/// passes `bias = False` / `bias = True` to `Res_Conv1d`, tied to no key).
#[test]
fn stacks_have_no_batch_norm_and_the_constructors_biases() {
    let m = model(quote! {
        pub struct M {
            input seq: onehot(4, 700);
            trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(dilations = [1, 2]) >> convblocks(2) >> flatten;
            output out[5] = head(seq);
        }
    });
    let s = stacks(&m.variants[0]);
    assert_eq!(
        s.iter().map(|s| (s.role, s.batchnorm, s.bias)).collect::<Vec<_>>(),
        [(StackRole::Dilated, false, false), (StackRole::Blocks, false, true)]
    );
    assert!(s.iter().flat_map(|s| &s.layers).all(|l| l.bn_key.is_none()));
    let with_bn = model(quote! {
        pub struct M {
            input seq: onehot(4, 700);
            trunk seq: conv(16, 7) >> dilated(dilations = [1], batchnorm = true) >> flatten;
            output out[5] = head(seq);
        }
    });
    assert_eq!(stacks(&with_bn.variants[0])[0].layers[0].bn_key.as_deref(), Some("convolution_layers.convlayers.Bnorm0"));
}

/// The reference's `l_dilkernels` and `l_trkernels` default to `l_kernels`: a stack without
/// `k` takes the kernel size of the trunk's first `conv`, per size variant when that is a size
/// parameter; `k = ..` overrides it.
#[test]
fn stacks_take_the_stems_kernel_size() {
    let m = model(quote! {
        pub struct M {
            sizes {
                small: ks = 5;
                wide: ks = 9;
            }
            input seq: onehot(4, 700);
            trunk seq: conv(16, ks) >> gelu >> wpool(4) >> conv(16, 3) >> dilated(dilations = [1, 2]) >> convblocks(2, k = 3) >> flatten;
            output out[5] = head(seq);
        }
    });
    for (v, k) in m.variants.iter().zip([5, 9]) {
        let s = stacks(v);
        assert_eq!((s[0].kernel, s[1].kernel), (k, 3), "variant {}", v.name);
        // the length-preserving padding of that k at dilation 2: e = 2(k − 1) + 1 is odd, so
        // k − 1 on each side
        assert_eq!(s[0].layers[1].padding, (k - 1, k - 1), "variant {}", v.name);
    }
}

/// A stack with no `conv` before it has no stem to take `k` from: one error at its name, asking
/// for `k`. A stem with an error of its own is reported there only.
#[test]
fn a_stack_without_a_stem_before_it_needs_k() {
    let errs = errors(quote! {
        pub struct M {
            input seq: onehot(4, 700);
            trunk seq: maxpool(2) >> convblocks(2) >> conv(8, 5) >> flatten;
            output out[5] = head(seq);
        }
    });
    assert_eq!(errs, [
        "`convblocks` without `k = ..` takes the kernel size of the trunk's first `conv` (the reference's `l_kernels`), but no `conv` comes before it; write `k = ..`"
    ]);
    let errs = errors(quote! {
        pub struct M {
            input seq: onehot(4, 700);
            trunk seq: conv(8) >> dilated(dilations = [1]) >> flatten;
            output out[5] = head(seq);
        }
    });
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("`conv` needs the argument `k`"), "{errs:?}");
}

/// The reference's `fc_dropout` defaults to 0 (no dropout); `layer_widening` to 1.1.
#[test]
fn fc_has_no_dropout() {
    let m = model(quote! {
        pub struct M {
            input seq: onehot(4, 700);
            trunk seq: conv(16, 7) >> maxpool(5) >> flatten >> linear(48) >> fc(2);
            output out[5] = head(seq);
        }
    });
    let f = fc(&m.variants[0]);
    assert_eq!((f.dropout, f.widening), (0.0, 1.1));
    assert_eq!(f.widths, [(48, 52), (52, 48)]);
}

/// The reference's `dim_distattention` defaults to 2.5; its `n_distattention` defaults to 0,
/// with which its forward pass skips the attention, so `heads` has no default.
#[test]
fn attention_has_dim_2_5_and_needs_heads() {
    let m = model(quote! {
        pub struct M {
            input seq: onehot(4, 400);
            trunk seq: conv(16, 7) >> maxpool(4) >> attention(heads = 2) >> flatten;
            output out[5] = head(seq);
        }
    });
    let a = m.variants[0].trunks[0]
        .layers
        .iter()
        .find_map(|l| match &l.kind {
            LayerKind::Attention(a) => Some(a),
            _ => None,
        })
        .expect("attention");
    assert_eq!((a.heads, a.dim, a.embed), (2, 2.5, 40));
    let errs = errors(quote! {
        pub struct M {
            input seq: onehot(4, 400);
            trunk seq: conv(16, 7) >> maxpool(4) >> attention(dim = 1.8) >> flatten;
            output out[5] = head(seq);
        }
    });
    assert_eq!(errs, ["`attention` needs the argument `heads`: write `attention(heads = H, dim = 2.5, dropout = 0.0)`"]);
}

/// The reference's `loss_function` defaults to `MSE` and `validation_loss` to the loss function,
/// also a list of them: without a `validation` line every output validates with its own training
/// loss; a `validation` line or an output's `validation = ..` says otherwise.
#[test]
fn the_loss_is_mse_and_validation_follows_the_training_loss() {
    let m = |lines: TokenStream| {
        model(quote! {
            pub struct M {
                input seq: onehot(4, 400);
                trunk seq: conv(8, 7) >> maxpool(4) >> flatten;
                output a[5] = head(seq);
                output b[3] = head(seq), loss = l1;
                output c[2] = head(seq), loss = l1, validation = cosine_class;
                output d[2] = head(seq), validation = none;
                #lines
            }
        })
    };
    let validation = |m: &Model| m.outputs.iter().map(|o| (o.validated, o.validation)).collect::<Vec<_>>();
    let none = m(quote!());
    assert_eq!((none.loss, none.validation), (Loss::Mse, Loss::Mse));
    assert_eq!(validation(&none), [(true, None), (true, Some(Loss::L1)), (true, Some(Loss::CosineClass)), (false, None)]);
    let loss_only = m(quote!(loss correlation;));
    assert_eq!((loss_only.loss, loss_only.validation), (Loss::Correlation, Loss::Correlation));
    assert_eq!(validation(&loss_only), validation(&none));
    let both = m(quote!(loss correlation; validation mse;));
    assert_eq!((both.loss, both.validation), (Loss::Correlation, Loss::Mse));
    assert_eq!(validation(&both), [(true, None), (true, None), (true, Some(Loss::CosineClass)), (false, None)]);
}

/// `fixtures/breadth/example.npz`, the reference's documented example, declared from its
/// `param_string` alone (`num_kernels=16+l_kernels=7+pooling_size=5+dilated_convolutions=2+
/// dilmax_pooling=4+fclayer_size=48+nfc_layers=2`, loss and validation `MSE`): every other
/// setting is the constructor's, and the architecture is the fixture's (its state-dict keys and
/// trainable count, 16,345: the sum of the fixture's `train/grad/*` sizes).
#[test]
fn the_reference_example_from_its_string_alone() {
    let m = model(quote! {
        pub struct Example {
            input seq: onehot(4, 700);
            trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(dilations = [1, 1], maxpool = 4) >> flatten >> linear(48) >> fc(2);
            output out[5] = head(seq);
        }
    });
    let v = &m.variants[0];
    let keys: Vec<&str> = v.parameter_breakdown.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "convolutions.conv1d",
            "convolution_layers.convlayers.Conv0.conv1d",
            "convolution_layers.convlayers.Conv1.conv1d",
            "nfcs.nfcs.EmbeddtoFully",
            "nfcs.nfcs.Fullyconnected0",
            "nfcs.nfcs.Fullyconnected1",
            "classifier.classifier.Linear"
        ]
    );
    let s = stacks(v)[0];
    assert_eq!((s.kernel, s.bias, s.batchnorm), (7, false, false));
    assert_eq!(v.trunks[0].features, 48);
    assert_eq!((m.loss, m.validation), (Loss::Mse, Loss::Mse));
    assert_eq!(fc(v).dropout, 0.0);
    assert_eq!(v.parameter_count, EXAMPLE_TRAINABLE);
}

/// The trainable parameters of `fixtures/breadth/example.npz`, the sum of its `train/grad/*`
/// sizes (16,345): the stem, two dilated convs without bias, 144 = 16 channels · 9 positions
/// flattened (700 → 140 → 35 → 9), the 48 → 52 → 48 stack and the 5-track head.
const EXAMPLE_TRAINABLE: usize = (16 * 4 * 7 + 16) + 2 * (16 * 16 * 7) + (48 * 144 + 48) + (52 * 48 + 52) + (48 * 52 + 48) + (5 * 48 + 5);
