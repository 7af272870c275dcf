//! Code generation: [`crate::ir::Model`] → Rust items.
//!
//! Stub until the integrator's generator over drg-core layers lands: it emits the model struct,
//! its per-variant parameter counts and, per size variant, a module of the computed shapes, which
//! is enough for compile-pass tests to check the inference from the outside.

use crate::ir::{self, Shape};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub(crate) fn generate(model: &ir::Model) -> TokenStream {
    let ir::Model {
        attrs,
        vis,
        name,
        variants,
        ..
    } = model;
    let counts = variants.iter().map(|v| {
        let n = v.name.to_string();
        let c = v.parameter_count;
        quote!((#n, #c))
    });
    let modules = variants.iter().map(|v| variant_module(model, v));
    quote! {
        #(#attrs)*
        ///
        /// Declared with `drg_model!`; see the per-size-variant shape modules next to it.
        #vis struct #name;

        impl #name {
            /// Trainable parameters per size variant (variant name, count).
            pub const PARAMETER_COUNTS: &'static [(&'static str, usize)] = &[#(#counts),*];
        }

        #(#modules)*
    }
}

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

fn variant_module(model: &ir::Model, v: &ir::Variant) -> TokenStream {
    let vis = &model.vis;
    let module = format_ident!(
        "{}_{}",
        snake(&model.name.to_string()),
        v.name,
        span = v.name.span()
    );
    let doc = format!(
        "Shapes of `{}` in size variant `{}`, computed by `drg_model!`.",
        model.name, v.name
    );
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
    let widths = model.outputs.iter().zip(&v.output_widths).map(|(o, w)| {
        let id = format_ident!("{}_WIDTH", o.name.to_string().to_uppercase());
        quote!(pub const #id: usize = #w;)
    });
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis mod #module {
            pub const PARAMETER_COUNT: usize = #count;
            #(#trunks)*
            #(#widths)*
        }
    }
}
