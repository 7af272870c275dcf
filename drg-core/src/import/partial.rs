//! Loading a model from a state dict in part: the reference's `--load_parameters FILE TRANSLATE
//! EXCLUDE INCLUDE ALLOW_REDUCTION` (drg-after-training.md §2.3), for fine-tuning a saved model
//! whole or in part, and the row selection of `--select_tracks` (§2.4: a head trained on 88
//! tracks pruned to 12).
//!
//! The walk runs over every tensor of the *current* model (BatchNorm running statistics
//! included), as the reference's loop over the current state dict does:
//! 1. the file key is the rename of TRANSLATE, else the model's own name;
//! 2. the tensor is considered if the file has that key and (its name is listed) equals INCLUDE;
//! 3. equal shapes are copied; with a row selection for the tensor, the selected rows of the
//!    file's tensor are copied; with ALLOW_REDUCTION, tensors that differ only in their first
//!    axis share their leading rows; otherwise the tensor keeps its current (fresh) values;
//! 4. file keys no model tensor asks for are ignored.
//!
//! Every tensor gets one [`LoadLine`] saying what happened, worded as the reference prints it
//! (`Loaded <k> with <n>`, `REDUCED size`, `ATTENTION: <n> not in state_dict`, ...).
//!
//! Deviations from the reference, each a fix of a behaviour drg-after-training.md marks as a bug
//! or a convenience it lacks:
//! * EXCLUDE/INCLUDE entries and TRANSLATE pairs match a key exactly **or as a prefix ending at a
//!   `.`** (`convolutions` names every tensor under `convolutions.`), so a whole layer or trunk is
//!   one entry; the reference matches exact names only and reads an EXCLUDE list only if it
//!   contains a `.`.
//! * A reduction whose shapes differ beyond the first axis is skipped with a line saying so; the
//!   reference would raise at its final `load_state_dict`.
//! * Excluded and not-included tensors are reported as such; the reference calls them "not in
//!   state_dict".
//! * Several files ([`PartialLoad::per_file`], the multi-input script's form): EXCLUDE is one
//!   `-`-separated list per file and a single INCLUDE/ALLOW_REDUCTION value applies to every file
//!   (the reference nests EXCLUDE one level too deep and raises an IndexError for a single value);
//!   a file that does not exist is an error, not silently skipped.

use std::collections::{BTreeMap, BTreeSet};

use dfdx::nn::tensor_collection::{RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName};
use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;
use dfdx::tensor_ops::Device;

use super::state_dict::StateDict;

/// What to load from a state dict, and how: the reference's `--load_parameters` arguments after
/// FILE, and the rows `--select_tracks` keeps of per-track tensors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialLoad {
    /// `(current, loaded)` renames: the model's tensor `current` (or every tensor under the
    /// prefix `current.`) is read from `loaded` (or from the same rest under `loaded.`).
    pub translate: Vec<(String, String)>,
    /// The EXCLUDE list, or with [`Self::include`] the INCLUDE list: model names or prefixes.
    pub names: Vec<String>,
    /// The list names the only tensors to load (the reference's INCLUDE = `True`).
    pub include: bool,
    /// Tensors whose first axis differs share their leading rows (ALLOW_REDUCTION = `True`).
    pub allow_reduction: bool,
    /// For a model tensor (by its own name): the rows of the file's tensor to take, in order
    /// (`--select_tracks` on a head saved with every track). Applied only when the file's first
    /// axis is longer than the selection.
    pub rows: BTreeMap<String, Vec<usize>>,
}

impl PartialLoad {
    /// Everything, by the model's own names, no reduction: a complete load.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The reference's positional arguments TRANSLATE EXCLUDE INCLUDE ALLOW_REDUCTION:
    /// * TRANSLATE: comma-separated `current:loaded` pairs, or anything without `:` (`None`) for
    ///   no renaming;
    /// * EXCLUDE: comma-separated model names or prefixes, or `None` (any case) / empty for none;
    /// * INCLUDE, ALLOW_REDUCTION: exactly `True` switches them on, anything else off.
    pub fn from_reference_args(translate: &str, exclude: &str, include: &str, allow_reduction: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        if translate.contains(':') {
            for pair in translate.split(',').filter(|p| !p.trim().is_empty()) {
                let Some((current, loaded)) = pair.split_once(':') else {
                    return Err(format!("TRANSLATE entry '{pair}' is not current_name:loaded_name"));
                };
                let (current, loaded) = (current.trim(), loaded.trim());
                if current.is_empty() || loaded.is_empty() {
                    return Err(format!("TRANSLATE entry '{pair}' has an empty name"));
                }
                pairs.push((current.to_string(), loaded.to_string()));
            }
        }
        let names = if exclude.trim().eq_ignore_ascii_case("none") {
            Vec::new()
        } else {
            exclude.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
        };
        Ok(PartialLoad {
            translate: pairs,
            names,
            include: include == "True",
            allow_reduction: allow_reduction == "True",
            rows: BTreeMap::new(),
        })
    }

    /// The reference's multi-file form (its multi-input script) for `files` weights files:
    /// TRANSLATE and EXCLUDE hold one entry per file, separated by `,`, whose pairs or names are
    /// separated by `-` (`cnns.CNN0.convolutions:convolutions-cnns.CNN0.nfcs:nfcs,None`); INCLUDE
    /// and ALLOW_REDUCTION one `True`/`False` per file. A single entry of any of the four applies
    /// to every file (the reference raises an IndexError there). With one file this is
    /// [`Self::from_reference_args`], where `,` separates the pairs and names.
    pub fn per_file(files: usize, translate: &str, exclude: &str, include: &str, allow_reduction: &str) -> Result<Vec<Self>, String> {
        if files == 1 {
            return Ok(vec![Self::from_reference_args(translate, exclude, include, allow_reduction)?]);
        }
        let split = |what: &str, arg: &str| -> Result<Vec<String>, String> {
            let items: Vec<String> = arg.split(',').map(|i| i.trim().replace('-', ",")).collect();
            match items.len() {
                1 => Ok(vec![items[0].clone(); files]),
                n if n == files => Ok(items),
                n => Err(format!("{what} '{arg}' has {n} comma-separated entries for {files} files (one per file, or one for all)")),
            }
        };
        let (t, e, i, r) = (
            split("TRANSLATE", translate)?,
            split("EXCLUDE", exclude)?,
            split("INCLUDE", include)?,
            split("ALLOW_REDUCTION", allow_reduction)?,
        );
        (0..files).map(|k| Self::from_reference_args(&t[k], &e[k], &i[k], &r[k]).map_err(|err| format!("file {}: {err}", k + 1))).collect()
    }

    /// The file key the model tensor `key` is read from.
    pub fn source_key(&self, key: &str) -> String {
        if let Some((_, loaded)) = self.translate.iter().find(|(current, _)| current == key) {
            return loaded.clone();
        }
        let prefix = self.translate.iter().filter(|(current, _)| names_prefix(current, key)).max_by_key(|(current, _)| current.len());
        match prefix {
            Some((current, loaded)) => format!("{}{}", loaded.trim_end_matches('.'), &key[current.trim_end_matches('.').len()..]),
            None => key.to_string(),
        }
    }

    /// Whether the lists let the model tensor `key` be loaded.
    pub fn considers(&self, key: &str) -> bool {
        self.names.iter().any(|n| n == key || names_prefix(n, key)) == self.include
    }
}

/// Whether `prefix` names `key` as a prefix that ends at a `.` of the key.
fn names_prefix(prefix: &str, key: &str) -> bool {
    let p = prefix.trim_end_matches('.');
    !p.is_empty() && key.len() > p.len() && key.starts_with(p) && key[p.len()..].starts_with('.')
}

/// What happened to one tensor of the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Copied (the shapes were equal, or differed only by axes of size 1).
    Loaded,
    /// The rows [`PartialLoad::rows`] names were copied out of a file tensor of `file_rows` rows.
    RowsSelected { file_rows: usize },
    /// ALLOW_REDUCTION: the first `rows` rows were copied (the model's other rows keep their
    /// values; or the file's other rows were left out).
    Reduced { file: Vec<usize>, rows: usize },
    /// The shapes differ and no reduction was allowed: the tensor keeps its values.
    DifferentSize { file: Vec<usize> },
    /// The shapes differ beyond the first axis, so no reduction is possible: kept.
    Incompatible { file: Vec<usize> },
    /// The file stores integers under the key (a counter): kept.
    NotFloat { dtype: &'static str },
    /// The file has no such key: kept.
    NotInFile,
    /// Named in the EXCLUDE list: kept.
    Excluded,
    /// Not named in the INCLUDE list: kept.
    NotIncluded,
}

/// One tensor of the model, the file key it was looked up under, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadLine {
    pub key: String,
    pub source: String,
    pub shape: Vec<usize>,
    pub outcome: Outcome,
}

fn torch_size(shape: &[usize]) -> String {
    format!("torch.Size({shape:?})")
}

impl LoadLine {
    /// Whether the tensor now holds values from the file (all or some of its rows).
    pub fn loaded(&self) -> bool {
        matches!(self.outcome, Outcome::Loaded | Outcome::RowsSelected { .. } | Outcome::Reduced { .. })
    }

    /// The line the reference prints for this tensor (with the detail it leaves out).
    pub fn text(&self) -> String {
        let (k, n) = (&self.key, &self.source);
        match &self.outcome {
            Outcome::Loaded => format!("Loaded {k} with {n}"),
            Outcome::RowsSelected { file_rows } => {
                format!("Loaded {k} with {n}: {} of its {file_rows} rows (the selected tracks)", self.shape.first().copied().unwrap_or(0))
            }
            Outcome::Reduced { file, rows } => format!(
                "REDUCED size {k} with {n}: current model {} saved model {}, first {rows} rows loaded",
                torch_size(&self.shape),
                torch_size(file)
            ),
            Outcome::DifferentSize { file } => {
                format!("ATTENTION: {n} different size. Current model {} Saved model {}", torch_size(&self.shape), torch_size(file))
            }
            Outcome::Incompatible { file } => format!(
                "ATTENTION: {n} cannot be reduced (shapes differ beyond the first axis). Current model {} Saved model {}; {k} keeps its initial values",
                torch_size(&self.shape),
                torch_size(file)
            ),
            Outcome::NotFloat { dtype } => format!("ATTENTION: {n} holds {dtype} values, not weights; {k} keeps its initial values"),
            Outcome::NotInFile => format!("ATTENTION: {n} not in state_dict"),
            Outcome::Excluded => format!("ATTENTION: {k} excluded; it keeps its initial values"),
            Outcome::NotIncluded => format!("ATTENTION: {k} not included; it keeps its initial values"),
        }
    }
}

/// What [`load_partial`] did to every tensor, in the model's order, and the file keys it did not
/// read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialReport {
    pub lines: Vec<LoadLine>,
    /// File keys no model tensor was looked up under (BatchNorm `num_batches_tracked` counters,
    /// which drg-rs does not keep, left out).
    pub unused: Vec<String>,
}

impl PartialReport {
    /// Tensors that now hold values of the file.
    pub fn loaded(&self) -> impl Iterator<Item = &LoadLine> {
        self.lines.iter().filter(|l| l.loaded())
    }

    /// Tensors that kept their values.
    pub fn kept(&self) -> impl Iterator<Item = &LoadLine> {
        self.lines.iter().filter(|l| !l.loaded())
    }

    /// One summary line: counts of loaded and kept tensors and of their values.
    pub fn summary(&self, file: &str) -> String {
        let values = |it: &mut dyn Iterator<Item = &LoadLine>| it.map(|l| l.shape.iter().product::<usize>()).sum::<usize>();
        let (loaded, kept) = (self.loaded().count(), self.kept().count());
        format!(
            "{file}: loaded {loaded} tensors ({} values), {kept} tensors ({} values) keep their initial values, {} tensors of the file unused",
            values(&mut self.loaded()),
            values(&mut self.kept()),
            self.unused.len()
        )
    }
}

/// Fills `model` from `sd` as `how` says; never fails: a tensor that cannot be loaded keeps its
/// values, and its [`LoadLine`] says why.
pub fn load_partial<M, D>(model: &mut M, sd: &StateDict, how: &PartialLoad) -> PartialReport
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    let mut visitor = Partial { sd, how, used: BTreeSet::new(), lines: Vec::new() };
    match M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut visitor }) {
        Ok(_) => {}
        Err(never) => match never {},
    }
    let Partial { used, lines, .. } = visitor;
    let unused = sd.entries.keys().filter(|k| !used.contains(*k) && !is_counter(k)).cloned().collect();
    PartialReport { lines, unused }
}

fn is_counter(key: &str) -> bool {
    key == "num_batches_tracked" || key.ends_with(".num_batches_tracked")
}

fn without_unit_dims(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

struct Partial<'a> {
    sd: &'a StateDict,
    how: &'a PartialLoad,
    used: BTreeSet<String>,
    lines: Vec<LoadLine>,
}

impl Partial<'_> {
    /// What to do with the model tensor `key` of `shape` given the file's `values`: the new
    /// values (or `None` to keep the current ones, read through `current` only when needed).
    fn decide(
        &self,
        key: &str,
        shape: &[usize],
        file: &[usize],
        values: &[f32],
        current: impl FnOnce() -> Vec<f32>,
    ) -> (Outcome, Option<Vec<f32>>) {
        if file == shape || without_unit_dims(file) == without_unit_dims(shape) {
            return (Outcome::Loaded, Some(values.to_vec()));
        }
        let same_rest = file.len() == shape.len() && !shape.is_empty() && file[1..] == shape[1..];
        let per_row: usize = shape.iter().skip(1).product();
        if let Some(rows) = self.how.rows.get(key).filter(|r| same_rest && r.len() == shape[0] && file[0] > r.len()) {
            if rows.iter().all(|&r| r < file[0]) {
                let picked = rows.iter().flat_map(|&r| values[r * per_row..(r + 1) * per_row].iter().copied()).collect();
                return (Outcome::RowsSelected { file_rows: file[0] }, Some(picked));
            }
        }
        if !self.how.allow_reduction {
            return (Outcome::DifferentSize { file: file.to_vec() }, None);
        }
        if !same_rest {
            return (Outcome::Incompatible { file: file.to_vec() }, None);
        }
        let rows = shape[0].min(file[0]);
        let mut new = if shape[0] > file[0] { current() } else { Vec::new() };
        if shape[0] > file[0] {
            new[..rows * per_row].copy_from_slice(&values[..rows * per_row]);
        } else {
            new.extend_from_slice(&values[..rows * per_row]);
        }
        (Outcome::Reduced { file: file.to_vec(), rows }, Some(new))
    }
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Partial<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (tensor, key): (&mut Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        let concrete = tensor.shape().concrete();
        let shape: Vec<usize> = (0..S::NUM_DIMS).map(|i| concrete[i]).collect();
        let source = self.how.source_key(&key);
        let entry = self.sd.get(&source);
        if entry.is_some() {
            self.used.insert(source.clone());
        }
        let outcome = match entry {
            None => Outcome::NotInFile,
            Some(_) if !self.how.considers(&key) => {
                if self.how.include {
                    Outcome::NotIncluded
                } else {
                    Outcome::Excluded
                }
            }
            Some(e) if !e.dtype.is_float() => Outcome::NotFloat { dtype: e.dtype.name() },
            Some(e) => {
                let (outcome, values) = self.decide(&key, &shape, &e.shape, &e.values, || tensor.as_vec());
                if let Some(v) = values {
                    tensor.copy_from(&v);
                }
                outcome
            }
        };
        self.lines.push(LoadLine { key, source, shape, outcome });
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::state_dict::Entry;
    use dfdx::prelude::*;

    /// conv-like (2, 3) weight + bias, then a (4, 2) head + bias: `0.weight`, `0.bias`,
    /// `1.weight`, `1.bias`.
    type Net = (dfdx::nn::modules::Linear<3, 2, f32, Cpu>, dfdx::nn::modules::Linear<2, 4, f32, Cpu>);

    fn file(entries: &[(&str, Vec<usize>, f32)]) -> StateDict {
        let mut sd = StateDict::default();
        for (k, shape, base) in entries {
            let n: usize = shape.iter().product();
            sd.entries.insert(k.to_string(), Entry::f32(shape.clone(), (0..n).map(|i| base + i as f32).collect()));
        }
        sd
    }

    fn full() -> StateDict {
        file(&[("0.weight", vec![2, 3], 100.0), ("0.bias", vec![2], 200.0), ("1.weight", vec![4, 2], 300.0), ("1.bias", vec![4], 400.0)])
    }

    fn net() -> Net {
        Cpu::seed_from_u64(3).build_module::<(Linear<3, 2>, Linear<2, 4>), f32>()
    }

    fn outcome(r: &PartialReport, key: &str) -> Outcome {
        r.lines.iter().find(|l| l.key == key).unwrap().outcome.clone()
    }

    #[test]
    fn include_of_the_first_layer_copies_exactly_its_tensors() {
        let (mut m, fresh) = (net(), net());
        let how = PartialLoad::from_reference_args("None", "0", "True", "False").unwrap();
        let r = load_partial(&mut m, &full(), &how);
        assert_eq!(m.0.weight.as_vec(), (0..6).map(|i| 100.0 + i as f32).collect::<Vec<_>>());
        assert_eq!(m.0.bias.as_vec(), vec![200.0, 201.0]);
        assert_eq!((m.1.weight.as_vec(), m.1.bias.as_vec()), (fresh.1.weight.as_vec(), fresh.1.bias.as_vec()));
        assert_eq!(r.loaded().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["0.weight", "0.bias"]);
        assert_eq!(outcome(&r, "1.bias"), Outcome::NotIncluded);
        assert_eq!(r.lines[0].text(), "Loaded 0.weight with 0.weight");
        // By exact name: only that tensor. INCLUDE with no list loads nothing.
        let mut m = net();
        let r = load_partial(&mut m, &full(), &PartialLoad::from_reference_args("None", "0.bias", "True", "False").unwrap());
        assert_eq!(r.loaded().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["0.bias"]);
        assert_eq!(m.0.weight.as_vec(), fresh.0.weight.as_vec());
        let r = load_partial(&mut net(), &full(), &PartialLoad::from_reference_args("None", "None", "True", "False").unwrap());
        assert_eq!(r.loaded().count(), 0);
    }

    #[test]
    fn several_files_load_in_order_each_with_its_own_lists() {
        // File 1 holds layer 0 under other names (renamed by `-`-separated pairs); file 2 holds
        // everything, but only its head is included. Layer 0 from file 1, layer 1 from file 2.
        let renamed = file(&[("conv.w", vec![2, 3], 10.0), ("conv.b", vec![2], 20.0), ("1.weight", vec![4, 2], 30.0)]);
        let hows = PartialLoad::per_file(2, "0.weight:conv.w-0.bias:conv.b,None", "1.weight,1", "False,True", "False").unwrap();
        assert_eq!(hows.len(), 2);
        assert_eq!(hows[0].translate, [("0.weight".to_string(), "conv.w".to_string()), ("0.bias".to_string(), "conv.b".to_string())]);
        assert_eq!((hows[0].names.clone(), hows[0].include), (vec!["1.weight".to_string()], false));
        assert_eq!((hows[1].names.clone(), hows[1].include, hows[1].allow_reduction), (vec!["1".to_string()], true, false));
        let mut m = net();
        let r1 = load_partial(&mut m, &renamed, &hows[0]);
        let r2 = load_partial(&mut m, &full(), &hows[1]);
        assert_eq!(r1.loaded().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["0.weight", "0.bias"]);
        assert_eq!(outcome(&r1, "1.weight"), Outcome::Excluded);
        assert_eq!(r2.loaded().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["1.weight", "1.bias"]);
        assert_eq!(m.0.weight.as_vec(), (0..6).map(|i| 10.0 + i as f32).collect::<Vec<_>>());
        assert_eq!(m.0.bias.as_vec(), vec![20.0, 21.0]);
        assert_eq!(m.1.weight.as_vec(), (0..8).map(|i| 300.0 + i as f32).collect::<Vec<_>>());
        // One value applies to every file; another count is an error naming the argument.
        let all = PartialLoad::per_file(3, "None", "None", "False", "True").unwrap();
        assert!(all.iter().all(|h| h.translate.is_empty() && h.names.is_empty() && !h.include && h.allow_reduction));
        assert_eq!(
            PartialLoad::per_file(2, "None", "None", "True,False,True", "False").unwrap_err(),
            "INCLUDE 'True,False,True' has 3 comma-separated entries for 2 files (one per file, or one for all)"
        );
        assert_eq!(
            PartialLoad::per_file(2, "a:b-c,None", "None", "False", "False").unwrap_err(),
            "file 1: TRANSLATE entry 'c' is not current_name:loaded_name"
        );
        // One file: the single script's form, `,` between pairs.
        let one = PartialLoad::per_file(1, "0.weight:conv.w,0.bias:conv.b", "None", "False", "False").unwrap();
        assert_eq!(one[0].translate.len(), 2);
    }

    #[test]
    fn exclude_keeps_the_listed_tensors_and_loads_the_rest() {
        let (mut m, fresh) = (net(), net());
        let r = load_partial(&mut m, &full(), &PartialLoad::from_reference_args("None", "1.weight,0", "False", "False").unwrap());
        assert_eq!(r.loaded().map(|l| l.key.as_str()).collect::<Vec<_>>(), ["1.bias"]);
        assert_eq!(m.1.weight.as_vec(), fresh.1.weight.as_vec());
        assert_eq!(m.1.bias.as_vec(), vec![400.0, 401.0, 402.0, 403.0]);
        assert_eq!(outcome(&r, "0.weight"), Outcome::Excluded);
        // A prefix must end at a dot: `1.b` names nothing.
        let how = PartialLoad::from_reference_args("None", "1.b", "False", "False").unwrap();
        assert_eq!(load_partial(&mut net(), &full(), &how).loaded().count(), 4);
    }

    #[test]
    fn translate_renames_names_and_prefixes_and_unknown_keys_are_reported() {
        let sd = file(&[("trunk.0.weight", vec![2, 3], 1.0), ("trunk.0.bias", vec![2], 7.0), ("extra", vec![1], 0.0)]);
        let mut m = net();
        let how = PartialLoad::from_reference_args("0:trunk.0,1.bias:extra", "None", "False", "False").unwrap();
        assert_eq!(how.source_key("0.weight"), "trunk.0.weight");
        assert_eq!(how.source_key("1.weight"), "1.weight");
        let r = load_partial(&mut m, &sd, &how);
        assert_eq!(m.0.bias.as_vec(), vec![7.0, 8.0]);
        assert_eq!(outcome(&r, "1.weight"), Outcome::NotInFile);
        assert_eq!(r.lines.iter().find(|l| l.key == "1.weight").unwrap().text(), "ATTENTION: 1.weight not in state_dict");
        // `extra` (shape [1]) does not fit 1.bias [4]: kept, said so in the reference's words.
        assert_eq!(outcome(&r, "1.bias"), Outcome::DifferentSize { file: vec![1] });
        assert_eq!(
            r.lines.iter().find(|l| l.key == "1.bias").unwrap().text(),
            "ATTENTION: extra different size. Current model torch.Size([4]) Saved model torch.Size([1])"
        );
        assert!(r.unused.is_empty());
        assert!(PartialLoad::from_reference_args("a:b,c", "None", "False", "False").is_err());
    }

    #[test]
    fn reduction_shares_leading_rows_in_both_directions() {
        // The file's head has 6 rows: the model's 4 take the first 4.
        let sd =
            file(&[("1.weight", vec![6, 2], 0.0), ("1.bias", vec![6], 50.0), ("0.weight", vec![1, 3], 10.0), ("0.bias", vec![2, 2], 0.0)]);
        let (mut m, fresh) = (net(), net());
        let r = load_partial(&mut m, &sd, &PartialLoad::from_reference_args("None", "None", "False", "True").unwrap());
        assert_eq!(m.1.weight.as_vec(), (0..8).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(m.1.bias.as_vec(), vec![50.0, 51.0, 52.0, 53.0]);
        // The file's first layer has 1 row: the model's row 0 is overwritten, row 1 kept.
        let mut want = fresh.0.weight.as_vec();
        want[..3].copy_from_slice(&[10.0, 11.0, 12.0]);
        assert_eq!(m.0.weight.as_vec(), want);
        assert_eq!(outcome(&r, "0.weight"), Outcome::Reduced { file: vec![1, 3], rows: 1 });
        assert!(r.lines[0]
            .text()
            .starts_with("REDUCED size 0.weight with 0.weight: current model torch.Size([2, 3]) saved model torch.Size([1, 3])"));
        // A bias of shape [2, 2] for [2] differs beyond the first axis: kept, not an error.
        assert_eq!(outcome(&r, "0.bias"), Outcome::Incompatible { file: vec![2, 2] });
        assert_eq!(m.0.bias.as_vec(), fresh.0.bias.as_vec());
        // Without reduction the same file changes nothing.
        let mut m = net();
        let r = load_partial(&mut m, &sd, &PartialLoad::everything());
        assert_eq!(r.loaded().count(), 0);
        assert_eq!(m.1.weight.as_vec(), fresh.1.weight.as_vec());
    }

    #[test]
    fn selected_rows_prune_a_head_saved_with_more_tracks() {
        // A head of 7 tracks in the file; the model keeps tracks 1, 2, 4, 6 (4 rows).
        let sd = file(&[("1.weight", vec![7, 2], 0.0), ("1.bias", vec![7], 70.0)]);
        let mut how = PartialLoad::everything();
        for key in ["1.weight", "1.bias"] {
            how.rows.insert(key.to_string(), vec![1, 2, 4, 6]);
        }
        let mut m = net();
        let r = load_partial(&mut m, &sd, &how);
        assert_eq!(m.1.weight.as_vec(), vec![2.0, 3.0, 4.0, 5.0, 8.0, 9.0, 12.0, 13.0]);
        assert_eq!(m.1.bias.as_vec(), vec![71.0, 72.0, 74.0, 76.0]);
        assert_eq!(outcome(&r, "1.bias"), Outcome::RowsSelected { file_rows: 7 });
        assert_eq!(
            r.lines.iter().find(|l| l.key == "1.bias").unwrap().text(),
            "Loaded 1.bias with 1.bias: 4 of its 7 rows (the selected tracks)"
        );
        // A file head that already has the selected width is copied as it is.
        let sd = file(&[("1.bias", vec![4], 0.0)]);
        let mut m = net();
        assert_eq!(outcome(&load_partial(&mut m, &sd, &how), "1.bias"), Outcome::Loaded);
        assert_eq!(m.1.bias.as_vec(), vec![0.0, 1.0, 2.0, 3.0]);
    }
}
