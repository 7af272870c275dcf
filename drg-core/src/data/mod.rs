//! Data in the reference's formats, validated (`docs/data.md`), and the built-in simulator.
//!
//! * [`onehot`], [`fasta`]: sequence inputs into a [`SeqSet`] (`(N, 4, L)` f32);
//! * [`matrix`]: output matrices (tsv/csv/npz) into [`Matrix`];
//! * [`align`]: rows of every input and output aligned by gene name;
//! * [`classes`]: the track class file and `--add_fileclasses` renaming;
//! * [`crossval`]: train/validation/test [`Split`] (file and integer mode);
//! * [`batch`]: [`Batcher`] and gathering batches into host tensors;
//! * [`tracks`]: `--select_tracks`, a subset of the output tracks;
//! * [`simulate`], [`builtin`]: the simulator and the cached built-in dataset.
//!
//! [`load`] ties them together from a [`DataSpec`]. Every failure is a [`DataError`] whose
//! message is one line naming the file (and line or gene).

pub mod align;
pub mod atomic;
pub mod batch;
pub mod builtin;
pub mod classes;
pub mod crossval;
pub mod error;
pub mod fasta;
pub mod matrix;
pub mod numpy_rng;
pub mod onehot;
pub mod packed;
pub mod seqset;
pub mod simulate;
pub mod tracks;

use std::path::{Path, PathBuf};

pub use batch::{reference_drop_last, Batcher};
pub use crossval::Split;
pub use error::{DataError, DataResult};
pub use matrix::Matrix;
pub use seqset::{check_length, SeqSet};

/// One sequence input: a one-hot `.npz` or a FASTA file.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub path: PathBuf,
    /// Whether the model's stem scans the reverse complement too (metadata carried to the model).
    pub reverse_complement: bool,
    /// FASTA only: pad/cut every sequence to this length (default: the longest sequence).
    pub fasta_length: Option<usize>,
}

impl InputSpec {
    pub fn new(path: impl Into<PathBuf>, reverse_complement: bool) -> Self {
        InputSpec { path: path.into(), reverse_complement, fasta_length: None }
    }
}

/// How rows are split into train / validation / test (`docs/data.md`, "Cross-validation").
#[derive(Debug, Clone, PartialEq)]
pub enum CvSpec {
    /// A cross-validation file; `fold` i = validation set i, test set i+1.
    File { path: PathBuf, fold: usize },
    /// `folds` random folds (numpy `RandomState(1010)`), test = `fold`, validation = `fold − 1`;
    /// stratified by "any |y| ≥ cutoff" when `cutoff` is given. The reference's default when no
    /// cross-validation is requested is `Integer { folds: 10, fold: 0, cutoff: None }`.
    Integer { folds: usize, fold: usize, cutoff: Option<f32> },
}

impl Default for CvSpec {
    fn default() -> Self {
        CvSpec::Integer { folds: 10, fold: 0, cutoff: None }
    }
}

/// Everything a training run reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// One or two sequence inputs.
    pub inputs: Vec<InputSpec>,
    /// One or more output matrices, kept as separate matrices.
    pub outputs: Vec<PathBuf>,
    /// Field delimiter of tsv/csv outputs (default `,`; see [`matrix::parse_delimiter`]).
    pub delimiter: char,
    /// `--split_outclasses`: track → class file.
    pub class_file: Option<PathBuf>,
    /// `--add_fileclasses`: one tag per output file (default `0,1,2,...`).
    pub file_tags: Option<Vec<String>>,
    pub cv: CvSpec,
}

impl DataSpec {
    pub fn new(inputs: Vec<InputSpec>, outputs: Vec<PathBuf>) -> Self {
        DataSpec { inputs, outputs, delimiter: ',', class_file: None, file_tags: None, cv: CvSpec::default() }
    }
}

/// Aligned data of one run: every input and output has one row per gene of `genes`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The sorted intersection of every file's gene names.
    pub genes: Vec<String>,
    pub inputs: Vec<SeqSet>,
    pub outputs: Vec<Matrix>,
    /// Evaluation class of every track, per output file (after `--add_fileclasses`).
    pub track_classes: Vec<Vec<String>>,
    /// Track names for evaluation files, per output file (after `--add_fileclasses`).
    pub eval_track_names: Vec<Vec<String>>,
    pub split: Split,
}

impl Dataset {
    pub fn n_genes(&self) -> usize {
        self.genes.len()
    }

    /// Sequence length of every input.
    pub fn lengths(&self) -> Vec<usize> {
        self.inputs.iter().map(|s| s.length).collect()
    }

    /// Track counts per output file (the heads' widths).
    pub fn n_tracks(&self) -> Vec<usize> {
        self.outputs.iter().map(Matrix::n_tracks).collect()
    }
}

/// Reads sequences from a one-hot `.npz` or, for any other extension, a FASTA file.
pub fn read_sequences(path: &Path, fasta_length: Option<usize>) -> DataResult<SeqSet> {
    if !path.exists() {
        return Err(DataError::file(path, "no such file"));
    }
    if path.extension().is_some_and(|e| e == "npz") {
        onehot::read_onehot_npz(path)
    } else {
        fasta::read_fasta(path, fasta_length)
    }
}

/// Reads the sequences of `inputs` alone (for predicting genes without measured values):
/// every input file, restricted and ordered to the sorted names they all share.
pub fn load_sequences(inputs: &[InputSpec]) -> DataResult<(Vec<String>, Vec<SeqSet>)> {
    if inputs.is_empty() {
        return Err(DataError::Other("need at least one input file".into()));
    }
    let mut sets = inputs
        .iter()
        .map(|i| {
            let mut s = read_sequences(&i.path, i.fasta_length)?;
            s.reverse_complement = i.reverse_complement;
            Ok(s)
        })
        .collect::<DataResult<Vec<_>>>()?;
    let genes = align::align_by_name(&mut sets, &mut [])?;
    Ok((genes, sets))
}

/// Reads, validates and aligns everything in `spec` and computes the split.
pub fn load(spec: &DataSpec) -> DataResult<Dataset> {
    if spec.inputs.is_empty() || spec.outputs.is_empty() {
        return Err(DataError::Other("need at least one input and one output file".into()));
    }
    let mut inputs = spec
        .inputs
        .iter()
        .map(|i| {
            let mut s = read_sequences(&i.path, i.fasta_length)?;
            s.reverse_complement = i.reverse_complement;
            Ok(s)
        })
        .collect::<DataResult<Vec<_>>>()?;
    let mut outputs = spec
        .outputs
        .iter()
        .map(|p| {
            if !p.exists() {
                return Err(DataError::file(p, "no such file"));
            }
            matrix::read_matrix(p, spec.delimiter)
        })
        .collect::<DataResult<Vec<_>>>()?;
    let genes = align::align_by_name(&mut inputs, &mut outputs)?;
    let tracks: Vec<Vec<String>> = outputs.iter().map(|m| m.track_names.clone()).collect();
    let (track_classes, eval_track_names) = track_labels(spec, &tracks)?;
    let split = split(&spec.cv, &genes, &outputs)?;
    Ok(Dataset { genes, inputs, outputs, track_classes, eval_track_names, split })
}

/// One label per track, one list per output file.
pub type PerFileLabels = Vec<Vec<String>>;

/// The evaluation class and the evaluation name of every track of the output files whose raw
/// track names are `tracks` (one list per file): classes from `spec.class_file` (else `"0"`),
/// then the `--add_fileclasses` renaming when there are several files or tags are given.
pub fn track_labels(spec: &DataSpec, tracks: &[Vec<String>]) -> DataResult<(PerFileLabels, PerFileLabels)> {
    let mut track_classes = match &spec.class_file {
        Some(path) => classes::assign_classes(path, &classes::read_class_file(path)?, tracks)?,
        None => tracks.iter().map(|t| vec!["0".to_string(); t.len()]).collect(),
    };
    let mut eval_track_names = tracks.to_vec();
    if tracks.len() > 1 || spec.file_tags.is_some() {
        let tags = spec.file_tags.clone().unwrap_or_else(|| (0..tracks.len()).map(|i| i.to_string()).collect());
        (track_classes, eval_track_names) = classes::apply_file_classes(&tags, &track_classes, tracks).map_err(DataError::Other)?;
    }
    Ok((track_classes, eval_track_names))
}

/// The split of `cv` over the aligned `genes` (`outputs`' rows, which integer mode's
/// stratification reads). `drg collect` computes every fold's split of one loaded dataset with it.
pub fn split(cv: &CvSpec, genes: &[String], outputs: &[Matrix]) -> DataResult<Split> {
    let n = genes.len();
    Ok(match cv {
        CvSpec::File { path, fold } => {
            let sets = crossval::read_cv_sets(path, genes)?;
            crossval::split_from_sets(path, &sets, n, *fold)?
        }
        CvSpec::Integer { folds, fold, cutoff } => {
            let cls =
                cutoff.map(|c| crossval::cutoff_classes((0..n).map(|i| outputs.iter().flat_map(move |m| m.row(i).iter().copied())), c));
            crossval::split_integer(n, *folds, *fold, cls.as_deref()).map_err(DataError::Other)?
        }
    })
}

#[cfg(test)]
mod tests;
