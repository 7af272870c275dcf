//! `drg sweep --local -j N`: the job script's tasks on this machine, N at a time, without SLURM.
//! Each task is `bash sweep.sh` with `SLURM_ARRAY_TASK_ID` set, so it does exactly what the array
//! task does (skip when done, `--resume`, `exit_code`/`done`), with its output appended to
//! `<outdir>/logs/local_<task>.out`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::plan::{SweepPlan, Task};

/// How one task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOutcome {
    pub task: Task,
    /// The script's exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    pub seconds: f64,
    pub log: PathBuf,
}

impl LocalOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs every task of `plan` (its script must be written), `jobs` at a time, each training on
/// `threads` threads; `report` gets one line per finished task. Returns the outcomes in task order.
pub fn run_local(
    plan: &SweepPlan,
    jobs: usize,
    threads: usize,
    mut report: impl FnMut(&LocalOutcome),
) -> anyhow::Result<Vec<LocalOutcome>> {
    anyhow::ensure!(jobs >= 1, "-j must be at least 1");
    let script = plan.script_path();
    let mut queue = plan.tasks().into_iter();
    let mut running: Vec<(Task, Child, Instant, PathBuf)> = Vec::new();
    let mut done: Vec<LocalOutcome> = Vec::new();
    loop {
        while running.len() < jobs {
            let Some(task) = queue.next() else { break };
            let log = plan.logs_dir().join(format!("local_{}.out", task.index));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("{}: cannot open the log", log.display()))?;
            let child = Command::new("bash")
                .arg(&script)
                .env("SLURM_ARRAY_TASK_ID", task.index.to_string())
                .env("RAYON_NUM_THREADS", threads.to_string())
                .env_remove("SLURM_CPUS_PER_TASK")
                .stdin(Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file)
                .spawn()
                .with_context(|| format!("cannot run bash {}", script.display()))?;
            running.push((task, child, Instant::now(), log));
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        let mut finished_any = false;
        while i < running.len() {
            if let Some(status) = running[i].1.try_wait()? {
                let (task, _, start, log) = running.swap_remove(i);
                let outcome = LocalOutcome { task, status: status.code(), seconds: start.elapsed().as_secs_f64(), log };
                report(&outcome);
                done.push(outcome);
                finished_any = true;
            } else {
                i += 1;
            }
        }
        if !finished_any {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    done.sort_by_key(|o| o.task.index);
    Ok(done)
}

/// The thread count of a local task: `--cpus` when given, else this machine's CPUs shared by the
/// `jobs` tasks running at once (at least 1).
pub fn local_threads(cpus: Option<usize>, jobs: usize) -> usize {
    cpus.unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        (n / jobs.max(1)).max(1)
    })
}
