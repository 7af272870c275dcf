//! What one array task asks SLURM for, written into the job script as `#SBATCH` lines. The
//! values are checked here, so that a typo is one error line from `drg sweep`, not a rejected
//! submission (or a job killed at a time limit read in another unit) later.

use serde::{Deserialize, Serialize};

/// Resources and scheduling of every task of a sweep's job array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub job_name: String,
    /// `--cpus-per-task`; also the task's thread count (`RAYON_NUM_THREADS`).
    pub cpus: usize,
    /// `--mem`: memory per node (the task), e.g. `16G`.
    pub mem: String,
    /// `--time`: SLURM's formats (`minutes`, `h:m:s`, `d-h`, `d-h:m:s`, ...).
    pub time: String,
    /// `--gres`, e.g. `gpu:1`.
    pub gres: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// The array's `%N`: at most N tasks at once.
    pub max_parallel: Option<usize>,
    /// Further `#SBATCH` options, written as given (`--qos=long`).
    pub extra: Vec<String>,
}

impl Resources {
    /// Checks every value; errors name the option.
    pub fn check(&self) -> Result<(), String> {
        check_word("--job-name", &self.job_name)?;
        if self.cpus == 0 {
            return Err("--cpus must be at least 1".into());
        }
        check_mem(&self.mem)?;
        check_time(&self.time)?;
        for (what, v) in [("--gres", &self.gres), ("--partition", &self.partition), ("--account", &self.account)] {
            if let Some(v) = v {
                check_word(what, v)?;
            }
        }
        if self.max_parallel == Some(0) {
            return Err("--max-parallel must be at least 1".into());
        }
        for e in &self.extra {
            if !e.starts_with('-') || e.contains('\n') {
                return Err(format!("--sbatch-option '{e}': give one sbatch option, e.g. --sbatch-option=--qos=long"));
            }
        }
        Ok(())
    }

    /// Whether the tasks get a GPU (`--gres gpu...`).
    pub fn wants_gpu(&self) -> bool {
        self.gres.as_deref().is_some_and(|g| g.split(',').any(|r| r.starts_with("gpu")))
    }

    /// The `#SBATCH` lines for an array of `tasks` tasks whose logs go to `log_pattern`.
    pub fn sbatch_lines(&self, tasks: usize, log_pattern: &str, workdir: &str) -> Vec<String> {
        let throttle = self.max_parallel.map(|n| format!("%{n}")).unwrap_or_default();
        let mut lines = vec![
            format!("--job-name={}", self.job_name),
            format!("--array=0-{}{throttle}", tasks - 1),
            "--ntasks=1".to_string(),
            format!("--cpus-per-task={}", self.cpus),
            format!("--mem={}", self.mem),
            format!("--time={}", self.time),
        ];
        for (flag, v) in [("--gres", &self.gres), ("--partition", &self.partition), ("--account", &self.account)] {
            if let Some(v) = v {
                lines.push(format!("{flag}={v}"));
            }
        }
        lines.extend([
            format!("--output={log_pattern}"),
            format!("--chdir={workdir}"),
            // A preempted or failed node puts the task back in the queue; it resumes from its
            // checkpoint. Appending keeps every attempt's log in one file.
            "--requeue".to_string(),
            "--open-mode=append".to_string(),
        ]);
        lines.extend(self.extra.iter().cloned());
        lines.into_iter().map(|l| format!("#SBATCH {l}")).collect()
    }
}

/// A value that goes into an `#SBATCH` line as one word.
fn check_word(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '#' || c == '\'' || c == '"') {
        return Err(format!("{what} '{v}': must be one word without spaces, quotes or '#'"));
    }
    Ok(())
}

/// `--mem`: an integer with an optional unit K, M, G or T (SLURM's default unit is MB).
fn check_mem(v: &str) -> Result<(), String> {
    let digits = v.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(v);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("--mem '{v}': expected an integer with an optional unit K, M, G or T (e.g. 16G)"));
    }
    Ok(())
}

/// `--time` in one of SLURM's formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, or
/// `INFINITE`/`UNLIMITED`.
fn check_time(v: &str) -> Result<(), String> {
    if matches!(v, "INFINITE" | "UNLIMITED" | "infinite" | "unlimited") {
        return Ok(());
    }
    let numbers = |s: &str| !s.is_empty() && s.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let fields = |s: &str| s.split(':').count();
    let ok = match v.split_once('-') {
        Some((days, rest)) => numbers(days) && fields(days) == 1 && numbers(rest) && fields(rest) <= 3,
        None => numbers(v) && fields(v) <= 3,
    };
    if !ok {
        return Err(format!("--time '{v}': not a SLURM time (minutes, h:m:s, d-h, d-h:m:s, e.g. 1-00:00:00 for a day)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Resources {
        Resources {
            job_name: "drg-sweep".into(),
            cpus: 4,
            mem: "16G".into(),
            time: "1-00:00:00".into(),
            gres: None,
            partition: None,
            account: None,
            max_parallel: None,
            extra: vec![],
        }
    }

    #[test]
    fn values_are_checked_with_the_option_named() {
        assert!(defaults().check().is_ok());
        for t in ["90", "90:30", "12:00:00", "2-0", "2-12:30", "2-12:30:00", "UNLIMITED"] {
            assert!(check_time(t).is_ok(), "{t}");
        }
        for t in ["1h", "1-", "-3", "1:2:3:4", "1-1:2:3:4", "1-2-3", "::"] {
            assert!(check_time(t).unwrap_err().starts_with(&format!("--time '{t}': not a SLURM time")), "{t}");
        }
        for m in ["16G", "16000", "512M"] {
            assert!(check_mem(m).is_ok(), "{m}");
        }
        for m in ["16GB", "G", "1.5G", ""] {
            assert!(check_mem(m).is_err(), "{m}");
        }
        let r = Resources { partition: Some("gpu long".into()), ..defaults() };
        assert_eq!(r.check().unwrap_err(), "--partition 'gpu long': must be one word without spaces, quotes or '#'");
        assert_eq!(Resources { cpus: 0, ..defaults() }.check().unwrap_err(), "--cpus must be at least 1");
        assert_eq!(Resources { max_parallel: Some(0), ..defaults() }.check().unwrap_err(), "--max-parallel must be at least 1");
        assert!(Resources { extra: vec!["qos=long".into()], ..defaults() }.check().unwrap_err().starts_with("--sbatch-option 'qos=long'"));
    }

    #[test]
    fn sbatch_lines_carry_every_option() {
        let r = Resources {
            gres: Some("gpu:1".into()),
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            max_parallel: Some(4),
            extra: vec!["--qos=long".into()],
            ..defaults()
        };
        assert!(r.wants_gpu() && !defaults().wants_gpu());
        let lines = r.sbatch_lines(12, "/s/logs/%x_%A_%a.out", "/home/u");
        assert_eq!(
            lines,
            [
                "#SBATCH --job-name=drg-sweep",
                "#SBATCH --array=0-11%4",
                "#SBATCH --ntasks=1",
                "#SBATCH --cpus-per-task=4",
                "#SBATCH --mem=16G",
                "#SBATCH --time=1-00:00:00",
                "#SBATCH --gres=gpu:1",
                "#SBATCH --partition=gpu",
                "#SBATCH --account=lab",
                "#SBATCH --output=/s/logs/%x_%A_%a.out",
                "#SBATCH --chdir=/home/u",
                "#SBATCH --requeue",
                "#SBATCH --open-mode=append",
                "#SBATCH --qos=long",
            ]
        );
        assert_eq!(defaults().sbatch_lines(3, "l", "w")[1], "#SBATCH --array=0-2");
    }
}
