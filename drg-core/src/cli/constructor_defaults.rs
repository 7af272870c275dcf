//! What the reference builds for an architecture key that a `--cnn` string leaves out: its
//! constructor's default (`cnn.__init__` in `cnn_model.py`, `combined_network.__init__` in
//! `cnn_model_multi.py`; drg-behaviour §2.4 and §3.2). `drg_model!`'s defaults are the same
//! (`docs/dsl.md`, "Defaults"), so a declaration that leaves a setting out agrees with a string
//! that leaves the key out.
//!
//! [`super::hyper::CnnString::check_architecture`] compares these with the compiled model when
//! the string describes the network (it gives `num_kernels`, which the reference needs to build
//! a trunk); a string of training settings alone says nothing about the architecture.

/// Keys whose default is a constant. Keys without one here are not compared when left out:
/// `num_kernels` (the trigger), `pooling_size` and `pooling_steps` (default: each other, else
/// the whole sequence), `fclayer_size`.
const CONSTANT: &[(&str, &str)] = &[
    ("l_kernels", "7"),
    ("kernel_bias", "True"),
    ("kernel_function", "GELU"),
    ("max_pooling", "True"),
    ("mean_pooling", "False"),
    ("weighted_pooling", "False"),
    ("net_function", "GELU"),
    ("dilated_convolutions", "0"),
    ("dilations", "1"),
    ("dilmax_pooling", "0"),
    ("dilmean_pooling", "0"),
    ("dilweighted_pooling", "0"),
    ("dilpooling_steps", "1"),
    ("n_attention", "0"),
    ("n_distattention", "0"),
    ("dim_distattention", "2.5"),
    ("transformer_convolutions", "0"),
    ("trdilations", "1"),
    ("trmax_pooling", "0"),
    ("trmean_pooling", "0"),
    ("trweighted_pooling", "0"),
    ("trpooling_steps", "1"),
    ("conv_batch_norm", "False"),
    ("fc_batch_norm", "False"),
    ("nfc_layers", "0"),
    ("layer_widening", "1.1"),
    ("dropout", "0"),
    ("outclass", "Linear"),
    ("cnn_embedding", "512"),
    ("n_combine_layers", "3"),
    ("combine_function", "GELU"),
    ("shared_embedding", "True"),
    ("input_to_combinefunc", "ALL"),
];

/// The value the reference gives `key` when `cnn` leaves it out, where the constructor has one:
/// a constant, or one that follows another key of the string (`l_dilkernels` and `l_trkernels`
/// follow `l_kernels`, `fc_function` follows `net_function`, `conv_dropout` and `fc_dropout`
/// follow a `dropout` above 0). `given` reads a key's text from the string (`CnnString::text`);
/// taking it as a function keeps this table below the parser that consults it.
pub(crate) fn default_of<'a>(key: &str, given: &dyn Fn(&str) -> Option<&'a str>) -> Option<String> {
    let given_or_default = |k: &str| given(k).map(str::to_string).or_else(|| default_of(k, given));
    match key {
        "l_dilkernels" | "l_trkernels" => given_or_default("l_kernels"),
        "fc_function" => given_or_default("net_function"),
        // `cnn.__init__`: a missing `pooling_steps` is `pooling_size`, a missing
        // `pooling_size` is `pooling_steps` (both missing: the whole sequence, not compared).
        "pooling_steps" => given("pooling_size").map(str::to_string),
        "pooling_size" => given("pooling_steps").map(str::to_string),
        "conv_dropout" | "fc_dropout" => match given("dropout").map(|d| d.trim().parse::<f64>()) {
            Some(Ok(d)) if d > 0.0 => given("dropout").map(str::to_string),
            _ => Some("0".to_string()),
        },
        _ => CONSTANT.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::hyper::CnnString;

    fn default_in(key: &str, cnn: &CnnString) -> Option<String> {
        default_of(key, &|k| cnn.text(k))
    }

    #[test]
    fn dependent_defaults_follow_their_key() {
        let cnn = CnnString::parse("num_kernels=16+l_kernels=9+net_function=ReLU+dropout=0.2").unwrap();
        assert_eq!(default_in("l_dilkernels", &cnn).as_deref(), Some("9"));
        assert_eq!(default_in("l_trkernels", &cnn).as_deref(), Some("9"));
        assert_eq!(default_in("fc_function", &cnn).as_deref(), Some("ReLU"));
        assert_eq!(default_in("fc_dropout", &cnn).as_deref(), Some("0.2"));
        let bare = CnnString::parse("num_kernels=16").unwrap();
        assert_eq!(default_in("l_dilkernels", &bare).as_deref(), Some("7"));
        assert_eq!(default_in("fc_function", &bare).as_deref(), Some("GELU"));
        assert_eq!(default_in("conv_dropout", &bare).as_deref(), Some("0"));
        assert_eq!(default_in("conv_batch_norm", &bare).as_deref(), Some("False"));
        assert_eq!(default_in("pooling_size", &bare), None);
        assert_eq!(default_in("pooling_steps", &bare), None);
        let sized = CnnString::parse("num_kernels=16+pooling_size=5").unwrap();
        assert_eq!(default_in("pooling_steps", &sized).as_deref(), Some("5"));
        let stepped = CnnString::parse("num_kernels=16+pooling_steps=3").unwrap();
        assert_eq!(default_in("pooling_size", &stepped).as_deref(), Some("3"));
    }
}
