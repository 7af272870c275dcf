//! Where a task stands, read from its run folder (the job script's `exit_code` and `done`, and
//! the model binary's `_pred.npz`). Nothing here asks SLURM: the folder is the record, so the
//! same answer comes for SLURM and `--local` runs, and after the scheduler has forgotten the job.

use std::path::{Path, PathBuf};

/// The state of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Finished with exit status 0; its test predictions.
    Done { predictions: PathBuf },
    /// The binary exited with this status (see the task's log).
    Failed { exit_code: String },
    /// No exit status: not started, pending, running, or killed (cancelled, timed out, node lost).
    NotFinished { started: bool },
    /// Marked done, but the run folder does not hold exactly one `_pred.npz`.
    NoPredictions { found: usize },
}

impl TaskState {
    pub fn is_done(&self) -> bool {
        matches!(self, TaskState::Done { .. })
    }

    /// One phrase for lists of missing tasks.
    pub fn describe(&self) -> String {
        match self {
            TaskState::Done { .. } => "done".into(),
            TaskState::Failed { exit_code } => format!("failed (exit status {exit_code}; see its log)"),
            TaskState::NotFinished { started: false } => "not started".into(),
            TaskState::NotFinished { started: true } => "not finished (running, pending again, or killed)".into(),
            TaskState::NoPredictions { found } => format!("finished, but {found} _pred.npz files in its folder (expected 1)"),
        }
    }
}

/// The state of the task whose run folder is `dir`.
pub fn task_state(dir: &Path) -> TaskState {
    if dir.join("done").exists() {
        let preds = predictions_in(dir);
        return match preds.len() {
            1 => TaskState::Done { predictions: preds.into_iter().next().unwrap() },
            found => TaskState::NoPredictions { found },
        };
    }
    match std::fs::read_to_string(dir.join("exit_code")) {
        Ok(code) => TaskState::Failed { exit_code: code.trim().to_string() },
        Err(_) => TaskState::NotFinished { started: dir.join("attempts").exists() },
    }
}

/// The `*_pred.npz` files of a run folder, sorted.
fn predictions_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.to_string_lossy().ends_with("_pred.npz")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_marker_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(task_state(&d.join("absent")), TaskState::NotFinished { started: false });
        std::fs::write(d.join("attempts"), "x\n").unwrap();
        assert_eq!(task_state(d), TaskState::NotFinished { started: true });
        std::fs::write(d.join("exit_code"), "1\n").unwrap();
        assert_eq!(task_state(d), TaskState::Failed { exit_code: "1".into() });
        assert!(task_state(d).describe().contains("exit status 1"));
        std::fs::write(d.join("done"), "").unwrap();
        assert_eq!(task_state(d), TaskState::NoPredictions { found: 0 });
        std::fs::write(d.join("run_sd1_pred.npz"), "").unwrap();
        assert_eq!(task_state(d), TaskState::Done { predictions: d.join("run_sd1_pred.npz") });
        std::fs::write(d.join("other_pred.npz"), "").unwrap();
        assert_eq!(task_state(d), TaskState::NoPredictions { found: 2 });
    }
}
