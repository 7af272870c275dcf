//! Tests of [`super::suggest_sizes`] on declarations like the seed models': the suggested
//! lengths follow the reference's rule (`out = ⌈L/p⌉` per pooling, conv stacks truncated as
//! P4 says), and the suggested line, pasted into the declaration's text, expands.

use super::*;
use proc_macro2::TokenStream;
use quote::quote;

/// The seed models' `basemodel` and model D, as `ModelFamily::DECLARATION` holds them (the
/// invocation's `TokenStream::to_string()`).
fn seed_declaration() -> String {
    quote! {
        /// The reference's `basemodel` trunk.
        let basemodel = conv(nk, 15) >> gelu >> wpool(4)
            >> dilated(k = 11, dilations = [1, 2, 4])
            >> convblocks(4, k = 11, wpool = tp)
            >> flatten >> linear(fc) >> fc(3);

        pub struct ModelA {
            sizes {
                full: len = 40_000, nk = 300, fc = 1024, tp = 6, tracks = 88;
                demo: len = 2_000, nk = 64, fc = 256, tp = 3, tracks = 21;
            }
            input rna: onehot(4, len), reverse_complement;
            trunk rna: basemodel;
            output ex[tracks] = head(rna);
        }

        /// Model D.
        pub struct ModelD {
            sizes {
                full: len = 40_000, nk = 300, fc = 1024, tp = 6, tracks = 88;
                long: len = 100_000, nk = 300, fc = 1024, tp = 7, tracks = 88;
                demo: len = 2_000, nk = 64, fc = 256, tp = 3, tracks = 21;
                fixture: len = 560, nk = 16, fc = 64, tp = 3, tracks = 6;
            }
            input dna: onehot(4, len), reverse_complement;
            input rna: onehot(4, len);
            trunk dna: basemodel;
            trunk rna: same as dna;
            output ex[tracks] = difference(dna, rna);
            output kd[tracks] = direct(rna), validation = none;
            output kt[tracks] = direct(dna), validation = none;
        }
    }
    .to_string()
}

/// The basemodel's lengths by the reference's rule, written out independently of the
/// inference: the stem keeps L, `wpool(4)` gives ⌈L/4⌉, the dilated stack keeps it, and each of
/// the 4 conv blocks (k = 11) is built while the length is ≥ 11 and pools by `tp` while
/// `tp` ≤ the length (a larger pooling is not built, nor anything after it).
fn basemodel_lengths(len: usize, tp: usize) -> (usize, Vec<usize>) {
    let pooled = len.div_ceil(4);
    let mut l = pooled;
    let mut blocks = Vec::new();
    for _ in 0..4 {
        if l < 11 || tp > l {
            break;
        }
        l = l.div_ceil(tp);
        blocks.push(l);
    }
    (pooled, blocks)
}

/// `declaration` with `line` added at the end of `model`'s `sizes { .. }` block, as a user
/// pastes it.
fn pasted(declaration: &str, model: &str, line: &str) -> TokenStream {
    let at = declaration.find(&format!("struct {model}")).expect("model present");
    let sizes = at + declaration[at..].find("sizes {").expect("sizes block");
    let close = sizes + declaration[sizes..].find('}').expect("block closes");
    let text = format!("{} {line} {}", &declaration[..close], &declaration[close..]);
    text.parse().expect("tokens")
}

#[test]
fn model_d_at_5_kb_gets_the_demo_sizes_and_the_pooling_that_keeps_its_features() {
    let decl = seed_declaration();
    let s = suggest_sizes(&decl, "ModelD", &[5_000, 5_000], &[21, 21, 21]).unwrap();
    assert_eq!(s.base, "demo");
    assert_eq!(s.variant, "len5000");
    // demo: 2000 → 500 → 167 → 56 → 19 → 7, flattened 64 · 7 = 448. At 5 kb, tp = 3 ends at
    // 16 (1024 features), tp = 4 at 5 (320), tp = 5 at 10 after 3 blocks (640): 320 is the nearest to 448.
    for (tp, end) in [(3, 16), (4, 5), (5, 10)] {
        assert_eq!(basemodel_lengths(5_000, tp).1.last(), Some(&end));
    }
    assert_eq!(basemodel_lengths(2_000, 3).1.last(), Some(&7));
    assert_eq!(s.sizes_line(), "len5000: len = 5_000, nk = 64, fc = 256, tp = 4, tracks = 21;");
    let (pooled, blocks) = basemodel_lengths(5_000, 4);
    assert_eq!((pooled, blocks.as_slice()), (1250, &[313, 79, 20, 5][..]));
    assert_eq!(s.trunks.len(), 2);
    assert_eq!(
        s.trunks[0].to_string(),
        "dna: 5000 → conv 5000 → wpool 1250 → dilated 1250 → convblocks 313 → 79 → 20 → 5 → flatten 320 → linear 256 → fc 256"
    );
    assert_eq!(s.trunks[1].to_string().replacen("rna", "dna", 1), s.trunks[0].to_string());
    assert_eq!((s.trunks[0].flat_features, s.trunks[0].base_flat_features), (320, 448));
    assert_eq!(
        s.changes,
        [
            Change { param: "len".into(), from: Some("2_000".into()), to: "5_000".into(), reason: Reason::InputLength },
            Change { param: "tp".into(), from: Some("3".into()), to: "4".into(), reason: Reason::Pooling },
        ]
    );
    assert_eq!(
        s.explanation(),
        "the values of size `demo`, except len 2_000 → 5_000 (the data's length), tp 3 → 4 (the pooling that keeps the flattened features nearest to `demo`'s: 320 vs 448)"
    );
    // Pasted into the declaration, the line expands (the macro itself) with all the others.
    crate::expand::expand(pasted(&decl, "ModelD", &s.sizes_line())).unwrap_or_else(|e| panic!("the pasted line fails: {e}"));
}

#[test]
fn at_100_kb_the_longest_variant_is_the_base_and_the_lengths_follow_the_reference() {
    let decl = seed_declaration();
    // ModelA has no `long` size: the base is `full` (40 kb, tp = 6, ends at 8, 2400 features).
    let s = suggest_sizes(&decl, "ModelA", &[100_000], &[88]).unwrap();
    assert_eq!(s.base, "full");
    assert_eq!(basemodel_lengths(40_000, 6).1.last(), Some(&8));
    // tp = 7 ends at 11 (3300 features), tp = 8 at 7 (2100): 2100 is nearer to 2400.
    assert_eq!(basemodel_lengths(100_000, 7).1.last(), Some(&11));
    assert_eq!(s.sizes_line(), "len100000: len = 100_000, nk = 300, fc = 1024, tp = 8, tracks = 88;");
    let (pooled, blocks) = basemodel_lengths(100_000, 8);
    let convblocks: Vec<String> = blocks.iter().map(usize::to_string).collect();
    assert_eq!(
        s.trunks[0].to_string(),
        format!(
            "rna: 100000 → conv 100000 → wpool {pooled} → dilated {pooled} → convblocks {} → flatten {} → linear 1024 → fc 1024",
            convblocks.join(" → "),
            300 * blocks.last().unwrap()
        )
    );
    crate::expand::expand(pasted(&decl, "ModelA", &s.sizes_line())).unwrap_or_else(|e| panic!("the pasted line fails: {e}"));

    // ModelD has `long` at exactly 100 kb: only the data's track count differs, so nothing else
    // changes.
    let s = suggest_sizes(&decl, "ModelD", &[100_000, 100_000], &[21, 21, 21]).unwrap();
    assert_eq!(s.base, "long");
    assert_eq!(s.sizes_line(), "len100000: len = 100_000, nk = 300, fc = 1024, tp = 7, tracks = 21;");
    assert_eq!(s.changes.len(), 1);
    assert_eq!(s.changes[0].reason, Reason::OutputWidth);
}

#[test]
fn short_data_truncates_the_stack_as_the_reference_does() {
    let decl = seed_declaration();
    // 300 bp is nearest to the fixture (560 bp: 140 → 47 → 16 → 6, 16 · 6 = 96 features).
    let s = suggest_sizes(&decl, "ModelD", &[300, 300], &[6, 6, 6]).unwrap();
    assert_eq!(s.base, "fixture");
    let tp: usize = s.params.iter().find(|(n, _)| n == "tp").map(|(_, v)| v.parse().unwrap()).unwrap();
    let (pooled, blocks) = basemodel_lengths(300, tp);
    let stage = s.trunks[0].stages.iter().find(|st| st.layer == "convblocks").unwrap();
    assert_eq!(s.trunks[0].stages[1].sizes, [pooled]);
    assert_eq!(stage.sizes, blocks);
    assert_eq!(stage.truncated, (blocks.len() < 4).then_some((blocks.len(), 4)));
    assert_eq!(s.trunks[0].flat_features, 16 * blocks.last().unwrap());
    crate::expand::expand(pasted(&decl, "ModelD", &s.sizes_line())).unwrap_or_else(|e| panic!("the pasted line fails: {e}"));
}

#[test]
fn two_poolings_are_searched_together() {
    let decl = quote! {
        pub struct ModelAAttention {
            sizes {
                full: len = 40_000, nk = 300, fc = 1024, dp = 10, heads = 4, dim = 1.8, blocks = 4, tp = 4, tracks = 88;
                demo: len = 2_000, nk = 64, fc = 256, dp = 10, heads = 4, dim = 1.8, blocks = 4, tp = 2, tracks = 21;
            }
            input rna: onehot(4, len), reverse_complement;
            trunk rna: conv(nk, 15) >> gelu >> wpool(4)
                     >> dilated(k = 11, dilations = [1, 2, 4], wpool = dp, every = 3)
                     >> attention(heads = heads, dim = dim)
                     >> convblocks(blocks, k = 11, wpool = tp)
                     >> flatten >> linear(fc) >> fc(3);
            output ex[tracks] = head(rna);
        }
    }
    .to_string();
    let s = suggest_sizes(&decl, "ModelAAttention", &[5_000], &[21]).unwrap();
    assert_eq!(s.base, "demo");
    // The float is kept exactly as written.
    assert!(s.sizes_line().contains("dim = 1.8"), "{}", s.sizes_line());
    let value = |name: &str| -> usize {
        let (_, v) = s.params.iter().find(|(n, _)| n == name).unwrap();
        v.replace('_', "").parse().unwrap()
    };
    let (dp, tp) = (value("dp"), value("tp"));
    // Recompute by the rule: ⌈L/4⌉, ⌈·/dp⌉ after the third dilated layer, then the blocks.
    let mut l = 5_000usize.div_ceil(4).div_ceil(dp);
    let mut ends = vec![];
    for _ in 0..4 {
        if l < 11 || tp > l {
            break;
        }
        l = l.div_ceil(tp);
        ends.push(l);
    }
    let blocks = s.trunks[0].stages.iter().find(|st| st.layer == "convblocks").unwrap();
    assert_eq!(blocks.sizes, ends);
    // demo: 500 → 50 → 25 → 13 → 7 (the fourth block is not built: 7 < 11), so
    // 7 · E (= int(1.8 · 64) = 115) = 805 features.
    assert_eq!(s.trunks[0].base_flat_features, 805);
    assert_eq!(s.trunks[0].flat_features, 115 * l);
    // No pair of pooling sizes builds the stacks as demo does (3 dilated layers, 3 blocks)
    // with features nearer to 805 (checked by brute force).
    let key = |dp: usize, tp: usize| -> Option<f64> {
        let line = format!("x: len = 5_000, nk = 64, fc = 256, dp = {dp}, heads = 4, dim = 1.8, blocks = 4, tp = {tp}, tracks = 21;");
        let decls: crate::ast::Declarations = syn::parse2(pasted(&decl, "ModelAAttention", &line)).ok()?;
        let m = crate::infer::infer(&decls.models[0]).ok()?;
        let v = m.variants.iter().find(|v| v.name == "x")?;
        (built_stack_layers(v) == [3, 3]).then(|| (flat_features(&v.trunks[0]) as f64 / 805.0).ln().abs())
    };
    let best = (1..=40).flat_map(|dp| (1..=40).map(move |tp| (dp, tp))).filter_map(|(dp, tp)| key(dp, tp)).fold(f64::INFINITY, f64::min);
    assert_eq!(key(dp, tp), Some(best), "dp = {dp}, tp = {tp}");
    crate::expand::expand(pasted(&decl, "ModelAAttention", &s.sizes_line())).unwrap_or_else(|e| panic!("the pasted line fails: {e}"));
}

#[test]
fn an_invalid_kernel_is_shrunk_until_the_stack_builds() {
    let decl = quote! {
        pub struct Small {
            sizes { a: len = 400, ks = 11, n = 2; }
            input seq: onehot(4, len);
            trunk seq: conv(8, 3) >> wpool(4) >> convblocks(2, k = ks) >> flatten;
            output ex[n] = head(seq);
        }
    }
    .to_string();
    // 24 bp pool to 6, shorter than k = 11: the stack would build no layer.
    let s = suggest_sizes(&decl, "Small", &[24], &[2]).unwrap();
    assert_eq!(s.sizes_line(), "len24: len = 24, ks = 6, n = 2;");
    assert_eq!(s.changes[1].reason, Reason::Invalid);
    assert!(s.explanation().contains("ks 11 → 6 (`a`'s value is invalid at this length)"));
    crate::expand::expand(pasted(&decl, "Small", &s.sizes_line())).unwrap_or_else(|e| panic!("the pasted line fails: {e}"));
}

#[test]
fn what_no_sizes_line_can_fix_is_explained() {
    let decl = seed_declaration();
    let e = suggest_sizes(&decl, "ModelD", &[5_000, 3_000], &[21, 21, 21]).unwrap_err();
    assert_eq!(
        e,
        "input `dna` and input `rna` share the size parameter `len`, but the data's lengths differ (5000 and 3000); give input `rna` its own parameter (e.g. `len2`) and a value for it in every size variant"
    );
    let e = suggest_sizes(&decl, "ModelD", &[5_000], &[21, 21, 21]).unwrap_err();
    assert_eq!(e, "ModelD has 2 inputs (dna, rna), but the data has 1");
    let e = suggest_sizes(&decl, "ModelX", &[5_000], &[]).unwrap_err();
    assert_eq!(e, "the declaration declares no model ModelX (it declares ModelA, ModelD)");
    let literal = quote! {
        pub struct Tiny {
            input seq: onehot(4, 200);
            trunk seq: conv(8, 9) >> wpool(4) >> flatten;
            output ex[3] = head(seq);
        }
    }
    .to_string();
    let e = suggest_sizes(&literal, "Tiny", &[300], &[3]).unwrap_err();
    assert!(
        e.starts_with(
            "input `seq` has the length 200, written as a number in its declaration, and the data's is 300; no `sizes` line can change it"
        ),
        "{e}"
    );
    // A literal pooling longer than the data cannot be searched.
    let e = suggest_sizes(
        &literal.replace("200", "len").replace("pub struct Tiny {", "pub struct Tiny { sizes { a: len = 200; }"),
        "Tiny",
        &[3],
        &[3],
    )
    .unwrap_err();
    assert!(
        e.starts_with("no `sizes` line makes Tiny valid at input lengths [3]; the nearest, `len3: len = 3;`, gives: in size variant `len3`: wpool(4) needs length ≥ 4"),
        "{e}"
    );
}

#[test]
fn variant_names_are_derived_from_the_lengths_and_unique() {
    let taken = ["full".to_string(), "len5000".to_string()];
    assert_eq!(variant_name(&[2_000], &taken), "len2000");
    assert_eq!(variant_name(&[5_000, 5_000], &taken), "len5000_2");
    assert_eq!(variant_name(&[5_000, 3_000], &taken), "len5000_3000");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(5_000), "5_000");
    assert_eq!(grouped(1_000_000), "1_000_000");
    assert_eq!(candidates(3), [1, 2, 3]);
    let many = candidates(1_000);
    assert_eq!(many[..64], (1..=64).collect::<Vec<_>>()[..]);
    assert_eq!(*many.last().unwrap(), 1_000);
}
