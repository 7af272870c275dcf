//! The full-size seed models have exactly the reference's trainable parameter counts (the
//! reference's models' counts with 88 tracks per output, as counted in torch), counted on the built
//! dfdx modules (not only as the macro computed them), so a layer that is left out, doubled or
//! mis-sized fails here.

use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;
use drg_models::*;

/// The count of `M` built with `N` tracks per output; the macro's count must agree.
fn count<M: DrgModel<Cpu>>() -> usize {
    let dev = Cpu::default();
    let widths = vec![N; M::SPEC.outputs.len()];
    let model = M::new(&dev, &widths);
    let built = model.num_trainable_params();
    assert_eq!(built, M::SPEC.parameter_count(&widths), "{} {}: built modules vs. the macro's count", M::SPEC.name, M::SPEC.variant);
    assert_eq!(model.output_widths(), widths);
    built
}

const N: usize = 88;

#[test]
fn heads_take_the_data_track_count() {
    // The same compiled model built for 20 and for 88 conditions: only the heads differ, by
    // (features + 1) per track and head.
    let dev = Cpu::default();
    let small = ModelDDemo::new(&dev, &[20, 20, 20]).num_trainable_params();
    let large = ModelDDemo::new(&dev, &[88, 20, 5]).num_trainable_params();
    // D has two trunks, each with one head per output; the demo trunks end 256 wide.
    assert_eq!(large - small, 2 * 257 * (68 - 15));
    assert_eq!(<ModelDDemo as DrgModel<Cpu>>::SPEC.parameter_count(&[88, 20, 5]), large);
    assert_eq!(ModelDDemo::new(&dev, &[7, 3, 4]).output_widths(), [7, 3, 4]);
}

#[test]
fn single_input_models_match_the_reference() {
    // basemodel = 12,989,524 + 1025·n; transmodel = 29,168,404 + 1025·n.
    assert_eq!(count::<ModelAFull>(), 12_989_524 + 1025 * N);
    assert_eq!(count::<ModelAAttentionFull>(), 29_168_404 + 1025 * N);
    // B: one shared trunk, three heads.
    assert_eq!(count::<ModelBFull>(), 12_989_524 + 3 * 1025 * N);
}

#[test]
fn multi_input_models_match_the_reference() {
    assert_eq!(count::<ModelCFull>(), 30_696_048);
    assert_eq!(count::<ModelDFull>(), 26_520_248);
    assert_eq!(count::<ModelEFull>(), 26_159_448);
    assert_eq!(count::<ModelF1Full>(), 34_223_842);
    assert_eq!(count::<ModelF2Full>(), 30_672_508);
}
