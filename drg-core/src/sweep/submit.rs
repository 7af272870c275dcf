//! `drg sweep --submit`: the job script through `sbatch --parsable`, the job id recorded in
//! `<outdir>/jobs.txt` (one `job_id<TAB>time` line per submission).

use std::io::Write;
use std::process::Command;

use anyhow::Context;

use super::plan::SweepPlan;

/// Submits the plan's script (already written) and returns the job id.
pub fn submit(plan: &SweepPlan) -> anyhow::Result<String> {
    let script = plan.script_path();
    let out = match Command::new("sbatch").arg("--parsable").arg(&script).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!(
                "sbatch not found: is this a SLURM login node? (the script is written: {}; `--local -j N` runs it here)",
                script.display()
            )
        }
        Err(e) => return Err(e).context("cannot run sbatch"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        anyhow::bail!("sbatch refused {} ({}): {why}", script.display(), out.status);
    }
    let job = parse_job_id(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("sbatch printed no job id for {}", script.display()))?;
    let jobs = plan.outdir.join("jobs.txt");
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(&jobs).with_context(|| format!("{}: cannot open", jobs.display()))?;
    writeln!(f, "{job}\t{}", now_utc()).with_context(|| format!("{}: cannot write", jobs.display()))?;
    Ok(job)
}

/// The job id of `sbatch --parsable`'s output: `1234` or `1234;cluster`.
fn parse_job_id(stdout: &str) -> Option<String> {
    let first = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = first.split(';').next()?;
    id.chars().all(|c| c.is_ascii_digit()).then(|| id.to_string())
}

/// Seconds since the epoch, for jobs.txt (no date crate for one field).
fn now_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("submitted at unix time {secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_of_sbatch_parsable() {
        assert_eq!(parse_job_id("1234\n").as_deref(), Some("1234"));
        assert_eq!(parse_job_id("\n987;cluster2\n").as_deref(), Some("987"));
        assert_eq!(parse_job_id("Submitted batch job 5\n"), None);
        assert_eq!(parse_job_id(""), None);
    }
}
