//! A random data set of the shapes a model declares, for tests and benchmarks that need data of
//! the right form but no particular content.

use drg_core::data::{Dataset, Matrix, SeqSet, Split};
use drg_core::device::DrgDevice;
use drg_core::model::DrgModel;
use rand::{Rng, SeedableRng};

/// How [`random_data`] draws a data set.
#[derive(Debug, Clone)]
pub struct RandomData {
    /// Seed of the one generator that draws the bases, then the targets.
    pub seed: u64,
    /// Tracks of every output whose declaration leaves the width to the data (`ex[_]`).
    pub tracks: usize,
    /// A position left all zero in every sequence (the reference's padding `N`), if any.
    pub zero_position: Option<usize>,
}

impl Default for RandomData {
    fn default() -> Self {
        Self { seed: 3, tracks: 5, zero_position: None }
    }
}

/// `n` genes (`g000`, `g001`, ...) with a random base at every position of every input `M`
/// declares (but `zero_position`), and targets uniform in [0, 3) for every output (its declared
/// width, else `tracks` columns `C0`, `C1`, ...), split into the first half for training and the
/// second for testing, no validation genes (callers set their own split).
pub fn random_data<M: DrgModel<D>, D: DrgDevice>(n: usize, how: &RandomData) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(how.seed);
    let genes: Vec<String> = (0..n).map(|i| format!("g{i:03}")).collect();
    let inputs = M::SPEC
        .inputs
        .iter()
        .map(|s| {
            let mut data = vec![0f32; n * 4 * s.length];
            for i in 0..n {
                for p in (0..s.length).filter(|&p| Some(p) != how.zero_position) {
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
            let width = o.width.unwrap_or(how.tracks);
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
        split: Split { train: (0..n / 2).collect(), val: vec![], test: (n / 2..n).collect() },
        genes,
        inputs,
        outputs,
    }
}
