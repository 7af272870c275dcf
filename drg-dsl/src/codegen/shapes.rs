//! Per-variant shape constants: `pub mod model_d_full { pub const DNA_LENGTHS: &[usize] = ..; }`,
//! the lengths, channels, widths and parameter count that `drg_model!` computed, for users and
//! tests to read (and assert on) without building a model.

use crate::ir::{self, Shape};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// `snake_case` of a CamelCase identifier.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

pub(super) fn variant_module(model: &ir::Model, v: &ir::Variant) -> TokenStream {
    let vis = &model.vis;
    let module = format_ident!("{}_{}", snake(&model.name.to_string()), v.name, span = v.name.span());
    let doc = format!("Shapes of `{}` in size variant `{}`, computed by `drg_model!`.", model.name, v.name);
    let count = v.parameter_count;
    let trunks = v.trunks.iter().map(|t| {
        let upper = t.name.to_string().to_uppercase();
        let (channels, lens): (Vec<usize>, Vec<usize>) = t
            .layers
            .iter()
            .map(|l| match l.output {
                Shape::Seq { channels, len } => (channels, len),
                Shape::Flat { features } => (features, 1),
            })
            .unzip();
        let (in_c, in_l) = (t.input_channels, t.input_len);
        let in_len = format_ident!("{}_INPUT_LEN", upper);
        let in_ch = format_ident!("{}_INPUT_CHANNELS", upper);
        let feats = format_ident!("{}_FEATURES", upper);
        let ch = format_ident!("{}_CHANNELS", upper);
        let ln = format_ident!("{}_LENGTHS", upper);
        let features = t.features;
        quote! {
            pub const #in_ch: usize = #in_c;
            pub const #in_len: usize = #in_l;
            /// Width of the trunk's final flat feature vector.
            pub const #feats: usize = #features;
            /// Channels (or flat features) after each trunk layer.
            pub const #ch: &[usize] = &[#(#channels),*];
            /// Sequence length after each trunk layer (1 once flat).
            pub const #ln: &[usize] = &[#(#lens),*];
        }
    });
    // A fixed width is a constant; an output of data width (`ex[_]`) has none, and its
    // parameters per track are listed instead.
    let widths = model.outputs.iter().zip(&v.output_widths).zip(&v.parameters_per_track).map(|((o, w), per)| {
        let upper = o.name.to_string().to_uppercase();
        match w {
            ir::Width::Fixed(n) => {
                let id = format_ident!("{}_WIDTH", upper);
                quote!(pub const #id: usize = #n;)
            }
            ir::Width::Data { .. } => {
                let id = format_ident!("{}_PARAMETERS_PER_TRACK", upper);
                quote! {
                    /// Trainable parameters per track of this output (its width comes from the data).
                    pub const #id: usize = #per;
                }
            }
        }
    });
    let all_fixed = v.output_widths.iter().all(|w| w.fixed().is_some());
    let count_doc = if all_fixed {
        "Trainable parameters."
    } else {
        "Trainable parameters besides the heads whose width comes from the data (see `*_PARAMETERS_PER_TRACK`)."
    };
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis mod #module {
            #[doc = #count_doc]
            pub const PARAMETER_COUNT: usize = #count;
            #(#trunks)*
            #(#widths)*
        }
    }
}
