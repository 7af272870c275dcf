//! Resumable training state, written after every epoch.
//!
//! A checkpoint is the folder `<prefix>_checkpoint/` holding one *generation* of files:
//! `weights-<g>.safetensors` (the current model, BatchNorm statistics included),
//! `best-<g'>.safetensors` (the best model; rewritten only when it changed), `optim-<g>.npz` (the
//! optimizer's buffers by parameter name) and `state.json`, which names them and holds everything
//! else: the schedule's state, the number of passes run (which seeds every shuffle and dropout
//! mask, so no RNG state needs saving), the optimizer's lr and step count, the loss lines so far
//! and the settings the run was started with. `state.json` is replaced atomically **after** the
//! files it names are complete, and files of older generations are deleted only then, so a run
//! killed at any moment leaves a consistent checkpoint: the previous one or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};

use super::optim::OptimizerState;
use super::schedule::{EpochLosses, Schedule};
use crate::eval::atomic_file::{write_atomically, write_bytes_atomically};
use crate::import::npz::read_npz;

/// Bumped when the layout changes; older checkpoints are refused with a clear message.
const FORMAT: u32 = 1;

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: u32,
    pub generation: u64,
    /// Settings that must match for a resume (model, data sizes, seed, batch size, lr, ...).
    pub fingerprint: serde_json::Value,
    /// Passes over the training set run so far (the epoch-0 pass is pass 0).
    pub passes: u64,
    pub schedule: Schedule,
    pub lr: f64,
    pub optimizer_steps: usize,
    /// Every `_loss.txt` line so far: epoch number and losses.
    pub lines: Vec<(usize, EpochLosses)>,
    pub weights_file: String,
    pub best_file: String,
    pub optim_file: String,
}

/// The checkpoint folder of a run.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
}

/// A loaded checkpoint: the state and the paths of its files.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: CheckpointState,
    pub weights: PathBuf,
    pub best: PathBuf,
    pub optimizer: OptimizerState,
}

impl Checkpoint {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn exists(&self) -> bool {
        self.state_path().exists()
    }

    /// Writes generation `state.generation`: `write_weights(path)` and, if `best_changed`,
    /// `write_best(path)` write the model files (atomically); then the optimizer buffers and
    /// `state.json`; then older files are removed. `state`'s file names are filled in here.
    pub fn save(
        &self,
        state: &mut CheckpointState,
        optimizer: &OptimizerState,
        write_weights: impl FnOnce(&Path) -> anyhow::Result<()>,
        best_changed: bool,
        write_best: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("{}: cannot create the checkpoint folder", self.dir.display()))?;
        let g = state.generation;
        state.format = FORMAT;
        state.weights_file = format!("weights-{g}.safetensors");
        write_weights(&self.dir.join(&state.weights_file))?;
        if best_changed || state.best_file.is_empty() || !self.dir.join(&state.best_file).exists() {
            state.best_file = format!("best-{g}.safetensors");
            write_best(&self.dir.join(&state.best_file))?;
        }
        state.optim_file = format!("optim-{g}.npz");
        write_optimizer(&self.dir.join(&state.optim_file), optimizer)?;
        write_bytes_atomically(self.state_path(), serde_json::to_string(state)?.as_bytes())?;
        // Only now are the older generations unreferenced; temporary files left there belong to a
        // killed earlier process (this one writes the folder only here, sequentially).
        let keep = [&state.weights_file, &state.best_file, &state.optim_file, &"state.json".to_string()].map(|s| s.to_string());
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !keep.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Reads the checkpoint; errors name the file and the problem.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let path = self.state_path();
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read the checkpoint", path.display()))?;
        let state: CheckpointState = serde_json::from_str(&text).with_context(|| format!("{}: not a drg checkpoint", path.display()))?;
        anyhow::ensure!(state.format == FORMAT, "{}: checkpoint format {} (this build reads {FORMAT})", path.display(), state.format);
        let optimizer = read_optimizer(&self.dir.join(&state.optim_file), state.optimizer_steps)?;
        Ok(Loaded { weights: self.dir.join(&state.weights_file), best: self.dir.join(&state.best_file), optimizer, state })
    }

    /// Removes the checkpoint (after a finished run).
    pub fn remove(&self) -> anyhow::Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("{}: cannot remove the checkpoint", self.dir.display()))?;
        }
        Ok(())
    }
}

/// The buffers as an npz: `<k>/<parameter name>` for buffer k.
fn write_optimizer(path: &Path, state: &OptimizerState) -> anyhow::Result<()> {
    write_atomically(path, |w| {
        let mut npz = npyz::npz::NpzWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = || zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bufs) in &state.buffers {
            for (k, buf) in bufs.iter().enumerate() {
                let mut arr = npz.array::<f32>(&format!("{k}/{name}"), opts())?.default_dtype().shape(&[buf.len() as u64]).begin_nd()?;
                arr.extend(buf.iter().copied())?;
                arr.finish()?;
            }
        }
        let bytes = npz.zip_writer().finish()?.into_inner();
        std::io::Write::write_all(w, &bytes)?;
        Ok(())
    })
}

fn read_optimizer(path: &Path, steps: usize) -> anyhow::Result<OptimizerState> {
    let npz = read_npz(path).with_context(|| format!("{}: cannot read optimizer buffers", path.display()))?;
    let mut buffers: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    for key in npz.arrays.keys() {
        let (k, name) = key.split_once('/').with_context(|| format!("{}: unexpected entry '{key}'", path.display()))?;
        let k: usize = k.parse().with_context(|| format!("{}: unexpected entry '{key}'", path.display()))?;
        let bufs = buffers.entry(name.to_string()).or_default();
        if bufs.len() <= k {
            bufs.resize(k + 1, Vec::new());
        }
        bufs[k] = npz.f32(key)?.1;
    }
    Ok(OptimizerState { steps, buffers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::schedule::ScheduleConfig;

    fn state(g: u64) -> CheckpointState {
        CheckpointState {
            format: 0,
            generation: g,
            fingerprint: serde_json::json!({"seed": 1}),
            passes: g,
            schedule: Schedule::new(ScheduleConfig::default(), 1e-3),
            lr: 1e-3,
            optimizer_steps: 7,
            lines: vec![(0, EpochLosses { orig_val: 0.5, val: f64::NAN, train: 1.0, train_val: 0.25 })],
            weights_file: String::new(),
            best_file: String::new(),
            optim_file: String::new(),
        }
    }

    #[test]
    fn generations_replace_each_other_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let ck = Checkpoint::new(dir.path().join("run_checkpoint"));
        assert!(!ck.exists());
        let mut opt = OptimizerState { steps: 7, buffers: BTreeMap::new() };
        opt.buffers.insert("a.weight".into(), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        opt.buffers.insert("b".into(), vec![vec![5.0], vec![6.0]]);
        let mut s1 = state(1);
        ck.save(&mut s1, &opt, |p| Ok(std::fs::write(p, b"w1")?), true, |p| Ok(std::fs::write(p, b"b1")?)).unwrap();
        let mut s2 = s1.clone();
        s2.generation = 2;
        ck.save(&mut s2, &opt, |p| Ok(std::fs::write(p, b"w2")?), false, |_| panic!("best unchanged")).unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(ck.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names, ["best-1.safetensors", "optim-2.npz", "state.json", "weights-2.safetensors"]);
        let loaded = ck.load().unwrap();
        // (NaN != NaN, so compare the serialised forms.)
        let json = |s: &CheckpointState| serde_json::to_string(s).unwrap();
        assert_eq!(json(&loaded.state), json(&s2));
        assert!(loaded.state.lines[0].1.val.is_nan());
        assert_eq!(loaded.optimizer, opt);
        assert_eq!(std::fs::read(loaded.weights).unwrap(), b"w2");
        assert_eq!(std::fs::read(loaded.best).unwrap(), b"b1");
        // A failing weight write keeps the previous generation intact.
        let mut s3 = s2.clone();
        s3.generation = 3;
        assert!(ck.save(&mut s3, &opt, |_| anyhow::bail!("disk full"), false, |_| Ok(())).is_err());
        assert_eq!(json(&ck.load().unwrap().state), json(&s2));
        // A corrupt state file is a clear error.
        // A temporary file of a killed writer is cleaned up by the next save.
        std::fs::write(ck.dir().join(".drg-tmp-stale"), b"x").unwrap();
        let mut s4 = s2.clone();
        s4.generation = 4;
        ck.save(&mut s4, &opt, |p| Ok(std::fs::write(p, b"w4")?), false, |_| Ok(())).unwrap();
        assert!(!ck.dir().join(".drg-tmp-stale").exists());
        std::fs::write(ck.dir().join("state.json"), b"{").unwrap();
        let err = ck.load().unwrap_err();
        assert!(format!("{err:#}").contains("state.json: not a drg checkpoint"), "{err:#}");
        ck.remove().unwrap();
        assert!(!ck.dir().exists());
    }
}
