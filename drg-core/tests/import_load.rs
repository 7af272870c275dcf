//! Loading reference state dicts into dfdx models by their state-dict names, and exporting them.
//!
//! The model here is a test-only `TensorCollection` whose field names are the reference's keys
//! (as drg-rs layers use them), filled from the base fixture's `param/` entries.

use std::path::{Path, PathBuf};

use drg_core::dfdx::nn::modules::Linear;
use drg_core::dfdx::nn::{BuildModule, ModuleVisitor, TensorCollection, TensorOptions};
use drg_core::dfdx::prelude::{Cpu, Device, Dtype, Rank1, Rank3, Tensor};
use drg_core::import::npz::read_npz;
use drg_core::import::{
    export_npz, export_state_dict, import_file, load_state_dict, Entry, ImportError, KeyProblem, LoadOptions, StateDict, StoredDtype,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
}

const CONV_W: &str = "convolutions.conv1d.weight";
const CONV_B: &str = "convolutions.conv1d.bias";
const BN_MEAN: &str = "convolution_layers.convlayers.Bnorm0.running_mean";
const BN_VAR: &str = "convolution_layers.convlayers.Bnorm0.running_var";
const FC_W: &str = "nfcs.nfcs.EmbeddtoFully.weight";
const FC_B: &str = "nfcs.nfcs.EmbeddtoFully.bias";

/// A slice of the base model: the first conv, one BatchNorm's running statistics (buffers) and
/// the embedding Linear (dfdx stores its weight as (out, in), like torch).
struct Slice<E: Dtype, D: Device<E>> {
    conv_weight: Tensor<Rank3<16, 4, 15>, E, D>,
    conv_bias: Tensor<Rank1<16>, E, D>,
    bn_mean: Tensor<Rank1<16>, E, D>,
    bn_var: Tensor<Rank1<16>, E, D>,
    embed: Linear<160, 64, E, D>,
}

impl<D: Device<f32>> TensorCollection<f32, D> for Slice<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Slice<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(CONV_W, |s| &s.conv_weight, |s| &mut s.conv_weight, TensorOptions::reset_to_zeros()),
                Self::tensor(CONV_B, |s| &s.conv_bias, |s| &mut s.conv_bias, TensorOptions::reset_to_zeros()),
                Self::tensor(BN_MEAN, |s| &s.bn_mean, |s| &mut s.bn_mean, TensorOptions::detached(|t| t.try_fill_with_zeros())),
                Self::tensor(BN_VAR, |s| &s.bn_var, |s| &mut s.bn_var, TensorOptions::detached(|t| t.try_fill_with_ones())),
                Self::module("nfcs.nfcs.EmbeddtoFully", |s| &s.embed, |s| &mut s.embed),
            ),
            |(conv_weight, conv_bias, bn_mean, bn_var, embed)| Slice { conv_weight, conv_bias, bn_mean, bn_var, embed },
        )
    }
}

fn build() -> Slice<f32, Cpu> {
    Slice::build(&Cpu::default())
}

/// The model's tensors by key, read straight from the model's fields.
fn model_values(m: &Slice<f32, Cpu>) -> Vec<(&'static str, Vec<f32>)> {
    vec![
        (CONV_W, m.conv_weight.as_vec()),
        (CONV_B, m.conv_bias.as_vec()),
        (BN_MEAN, m.bn_mean.as_vec()),
        (BN_VAR, m.bn_var.as_vec()),
        (FC_W, m.embed.weight.as_vec()),
        (FC_B, m.embed.bias.as_vec()),
    ]
}

fn base_state_dict() -> StateDict {
    StateDict::from_npz(fixture("base.npz"), "param/").unwrap()
}

fn mismatch(e: ImportError) -> Vec<KeyProblem> {
    match e {
        ImportError::Mismatch { problems, .. } => problems,
        other => panic!("expected a mismatch, got {other}"),
    }
}

/// Named `import` so that `cargo test -p drg-core import` runs these too.
mod import {
    use super::*;

    #[test]
    fn fills_every_tensor_from_the_fixture_by_reference_key() {
        let sd = base_state_dict();
        let mut model = build();
        let report = load_state_dict(&mut model, &sd, &LoadOptions { allow_unused: true, ..Default::default() }).unwrap();

        // Compare against the archive read independently, entry by entry.
        let npz = read_npz(fixture("base.npz")).unwrap();
        for (key, values) in model_values(&model) {
            let (shape, expected) = npz.f32(&format!("param/{key}")).unwrap();
            assert_eq!(values, expected, "{key}");
            assert_eq!(values.len(), shape.iter().product::<usize>());
        }
        assert_eq!(npz.f32(&format!("param/{FC_W}")).unwrap().0, vec![64, 160]);
        // BN running_var in the fixture was set in [0.4, 1.6]: not the ones the model was built with.
        assert!(model.bn_var.as_vec().iter().all(|&v| (0.4..=1.6).contains(&v)) && model.bn_var.as_vec().iter().any(|&v| v != 1.0));

        let mut loaded = report.loaded.clone();
        loaded.sort();
        let mut want = vec![CONV_W, CONV_B, BN_MEAN, BN_VAR, FC_W, FC_B];
        want.sort();
        assert_eq!(loaded, want);
        assert!(report.reshaped.is_empty());
        assert!(report.unused.contains(&"nfcs.nfcs.Fullyconnected0.weight".to_string()));
        assert!(report.unused.iter().all(|k| !k.ends_with("num_batches_tracked")));
        assert_eq!(report.skipped_counters.len(), 6, "{:?}", report.skipped_counters);
        assert_eq!(report.unused.len() + report.loaded.len() + report.skipped_counters.len(), sd.len());
    }

    #[test]
    fn unused_keys_are_an_error_by_default_but_counters_are_not() {
        let e = load_state_dict(&mut build(), &base_state_dict(), &LoadOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}: the state dict does not fit the model: unused keys: ", fixture("base.npz").display())),
            "{msg}"
        );
        assert!(
            msg.contains("classifier.classifier.Linear.weight") && msg.contains("trconvolution_layers.convlayers.Conv2.conv1d.bias"),
            "{msg}"
        );
        assert!(!msg.contains("num_batches_tracked") && !msg.contains(CONV_W), "{msg}");
        assert!(!msg.contains('\n'));
        let problems = mismatch(e);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn missing_keys_wrong_shapes_and_integer_entries_are_all_reported_at_once() {
        let mut sd = base_state_dict();
        sd.entries.remove(CONV_B);
        let w = sd.entries.get_mut(FC_W).unwrap();
        w.shape = vec![160, 64];
        sd.entries.get_mut(BN_VAR).unwrap().dtype = StoredDtype::I64;
        sd.entries.insert("nfcs.nfcs.EmbeddtoFully.extra".into(), Entry::f32(vec![1], vec![0.0]));
        let opts = LoadOptions { prefix: String::new(), allow_unused: false, squeeze_unit_dims: true };
        // Keep only the keys of this slice plus the extra one, so the unused list is short.
        sd.entries.retain(|k, _| {
            k.starts_with("convolutions.")
                || k.starts_with("nfcs.nfcs.EmbeddtoFully")
                || k.starts_with("convolution_layers.convlayers.Bnorm0")
        });

        let e = load_state_dict(&mut build(), &sd, &opts).unwrap_err();
        let msg = e.to_string();
        let problems = mismatch(e);
        assert_eq!(
            problems,
            vec![
                KeyProblem::Missing { key: CONV_B.into(), expected: vec![16] },
                KeyProblem::NotFloat { key: BN_VAR.into(), dtype: "int64" },
                KeyProblem::Shape { key: FC_W.into(), file: vec![160, 64], model: vec![64, 160] },
                KeyProblem::Unused {
                    keys: vec![
                        "convolution_layers.convlayers.Bnorm0.bias".into(),
                        "convolution_layers.convlayers.Bnorm0.weight".into(),
                        "nfcs.nfcs.EmbeddtoFully.extra".into(),
                    ]
                },
            ]
        );
        assert!(msg.contains("missing key 'convolutions.conv1d.bias' (expected shape [16])"), "{msg}");
        assert!(msg.contains("key 'nfcs.nfcs.EmbeddtoFully.weight': file has shape [160, 64], model expects [64, 160]"), "{msg}");
        assert!(msg.contains("key 'convolution_layers.convlayers.Bnorm0.running_var': file stores int64 values"), "{msg}");
        assert!(msg.contains("unused keys: convolution_layers.convlayers.Bnorm0.bias, "), "{msg}");
    }

    #[test]
    fn a_prefix_selects_one_trunk_of_a_larger_file() {
        let base = base_state_dict();
        let mut sd = StateDict { source: base.source.clone(), ..Default::default() };
        for (k, e) in &base.entries {
            sd.entries.insert(format!("cnns.CNN1.{k}"), e.clone());
            if [CONV_W, CONV_B, BN_MEAN, BN_VAR, FC_W, FC_B].contains(&k.as_str()) || k.ends_with("num_batches_tracked") {
                let mut e = e.clone();
                e.values.iter_mut().for_each(|v| *v += 1.0);
                sd.entries.insert(format!("cnns.CNN0.{k}"), e);
            }
        }
        let mut model = build();
        let report = load_state_dict(&mut model, &sd, &LoadOptions::with_prefix("cnns.CNN0.")).unwrap();
        assert_eq!(report.loaded.len(), 6);
        assert!(report.loaded.iter().all(|k| k.starts_with("cnns.CNN0.")));
        for (key, values) in model_values(&model) {
            let expected: Vec<f32> = base.get(key).unwrap().values.iter().map(|v| v + 1.0).collect();
            assert_eq!(values, expected, "{key}");
        }
        let e = load_state_dict(&mut build(), &sd, &LoadOptions::with_prefix("cnns.CNN2.")).unwrap_err();
        assert!(e.to_string().contains("missing key 'cnns.CNN2.convolutions.conv1d.weight' (expected shape [16, 4, 15])"), "{e}");
    }

    #[test]
    fn a_trunk_of_a_real_two_input_file_reports_exactly_its_wrong_shape() {
        // In the C fixture each trunk's embedding Linear takes 96 inputs, not base's 160.
        let sd = StateDict::from_npz(fixture("C.npz"), "param/").unwrap();
        let opts = LoadOptions { allow_unused: true, ..LoadOptions::with_prefix("cnns.CNN0.") };
        let mut model = build();
        let before = model_values(&model);
        let problems = mismatch(load_state_dict(&mut model, &sd, &opts).unwrap_err());
        assert_eq!(problems, vec![KeyProblem::Shape { key: format!("cnns.CNN0.{FC_W}"), file: vec![64, 96], model: vec![64, 160] }]);
        // A failed load leaves the model as it was.
        assert_eq!(model_values(&model), before);
        assert!(before.iter().any(|(_, v)| v.iter().any(|&x| x != 0.0)), "the Linear was randomly initialised");
    }

    #[test]
    fn unit_axes_may_differ_only_when_squeezing_is_allowed() {
        let mut sd = base_state_dict();
        sd.entries.retain(|k, _| [CONV_W, CONV_B, BN_MEAN, BN_VAR, FC_W, FC_B].contains(&k.as_str()));
        sd.entries.get_mut(FC_W).unwrap().shape = vec![64, 160, 1];
        let mut model = build();
        let report = load_state_dict(&mut model, &sd, &LoadOptions::default()).unwrap();
        assert_eq!(report.reshaped, vec![FC_W.to_string()]);
        assert_eq!(model.embed.weight.as_vec(), sd.get(FC_W).unwrap().values);

        let strict = LoadOptions { squeeze_unit_dims: false, ..Default::default() };
        let problems = mismatch(load_state_dict(&mut build(), &sd, &strict).unwrap_err());
        assert_eq!(problems, vec![KeyProblem::Shape { key: FC_W.into(), file: vec![64, 160, 1], model: vec![64, 160] }]);
    }

    #[test]
    fn export_writes_reference_keys_and_round_trips() {
        let mut model = build();
        import_file(&mut model, fixture("base.npz"), &LoadOptions { allow_unused: true, ..Default::default() }).unwrap();

        let sd = export_state_dict(&model);
        let counter = "convolution_layers.convlayers.Bnorm0.num_batches_tracked";
        let mut keys: Vec<&str> = sd.entries.keys().map(String::as_str).collect();
        keys.sort();
        let mut want = vec![CONV_W, CONV_B, BN_MEAN, BN_VAR, FC_W, FC_B, counter];
        want.sort();
        assert_eq!(keys, want);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exported.npz");
        export_npz(&model, &path).unwrap();
        // Independent reader: the archive holds float32 tensors of the model's shapes and an int64 0-d counter.
        let npz = read_npz(&path).unwrap();
        assert_eq!(npz.arrays.len(), 7);
        let (shape, w) = npz.f32(FC_W).unwrap();
        assert_eq!(shape, vec![64, 160]);
        assert_eq!(npz.get(FC_W).unwrap().dtype, "'<f4'");
        assert_eq!(w, model.embed.weight.as_vec());
        let c = npz.get(counter).unwrap();
        assert_eq!((c.dtype.as_str(), c.shape.len(), c.to_f32().unwrap()), ("'<i8'", 0, vec![0.0]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");

        // Strict reload into a fresh model gives the same tensors.
        let mut again = build();
        let report = import_file(&mut again, &path, &LoadOptions::default()).unwrap();
        assert_eq!(report.skipped_counters, vec![counter.to_string()]);
        assert_eq!(model_values(&again), model_values(&model));
    }

    #[test]
    fn bad_paths_and_formats_are_one_line_errors_naming_the_file() {
        let e = import_file(&mut build(), "/nonexistent/model.npz", &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/model.npz") && e.contains("cannot open"), "{e}");
        let e = import_file(&mut build(), "weights.safetensors", &LoadOptions::default()).unwrap_err().to_string();
        assert_eq!(e, "weights.safetensors: unknown state-dict format: expected a .npz, .pth or .pt file");
        let e = StateDict::from_npz(fixture("base.npz"), "params/").unwrap_err().to_string();
        assert!(e.ends_with("base.npz: no array name starts with 'params/'"), "{e}");
        let e = StateDict::from_npz(fixture("metrics.npz"), "").unwrap_err().to_string();
        assert!(e.contains("metrics.npz: entry 'classes' holds strings"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing_dir").join("out.npz");
        let e = export_npz(&build(), &target).unwrap_err().to_string();
        assert!(e.contains("out.npz: cannot write"), "{e}");
        assert!(!target.exists());
    }
}
