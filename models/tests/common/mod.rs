//! What several integration tests of the models share.

use drg_core::data::{Dataset, Matrix, SeqSet, Split};
use drg_core::device::DrgDevice;
use drg_core::model::DrgModel;
use rand::{Rng, SeedableRng};

/// Random one-hot inputs and random targets of the shapes `M` declares, with the declared width
/// of every output that fixes one and `TRACKS` tracks for the others.
pub fn random_data<M: DrgModel<D>, D: DrgDevice>(n: usize) -> Dataset {
    const TRACKS: usize = 5;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let genes: Vec<String> = (0..n).map(|i| format!("g{i:03}")).collect();
    let inputs = M::SPEC
        .inputs
        .iter()
        .map(|s| {
            let mut data = vec![0f32; n * 4 * s.length];
            for i in 0..n {
                for p in 0..s.length {
                    data[(i * 4 + rng.gen_range(0..4)) * s.length + p] = 1.0;
                }
            }
            SeqSet::from_channel_first(format!("{}.npz", s.name).into(), genes.clone(), s.length, &data, s.reverse_complement).unwrap()
        })
        .collect();
    let outputs: Vec<Matrix> = M::SPEC
        .outputs
        .iter()
        .map(|o| {
            let width = o.width.unwrap_or(TRACKS);
            Matrix {
                file: format!("{}.csv", o.name).into(),
                genes: genes.clone(),
                track_names: (0..width).map(|t| format!("C{t}")).collect(),
                values: (0..n * width).map(|_| rng.gen_range(0.0f32..3.0)).collect(),
            }
        })
        .collect();
    Dataset {
        track_classes: outputs.iter().map(|m| vec!["0".to_string(); m.n_tracks()]).collect(),
        eval_track_names: M::SPEC
            .outputs
            .iter()
            .zip(&outputs)
            .map(|(o, m)| m.track_names.iter().map(|t| format!("{t}_{}", o.name)).collect())
            .collect(),
        split: Split { train: (0..16).collect(), val: (16..24).collect(), test: (24..n).collect() },
        genes,
        inputs,
        outputs,
    }
}
