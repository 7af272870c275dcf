//! The full-size seed models have exactly the reference's trainable parameter counts
//! (drg-behaviour.md §2.5, with 88 tracks per output), counted on the built dfdx modules (not
//! only as the macro computed them), so a layer that is left out, doubled or mis-sized fails here.

use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;
use drg_models::*;

fn count<M: DrgModel<Cpu>>() -> usize {
    let dev = Cpu::default();
    let model = M::new(&dev);
    let built = model.num_trainable_params();
    assert_eq!(built, M::SPEC.parameter_count, "{} {}: built modules vs. the macro's count", M::SPEC.name, M::SPEC.variant);
    built
}

const N: usize = 88;

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
