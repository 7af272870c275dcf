//! Progress bars for epochs and batches (indicatif), with the running loss and throughput.
//!
//! Bars are drawn on stderr and only when stderr is a terminal and `CI` is not set, so logs of
//! batch jobs and CI runs stay clean; the reference's stdout lines are printed either way, through
//! [`Progress::println`], which keeps them from tearing a bar.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw: only on a terminal, and never in CI.
fn bars_wanted(stderr_is_terminal: bool, ci: bool) -> bool {
    stderr_is_terminal && !ci
}

/// The epoch bar and the batch bar of one training run.
#[derive(Debug)]
pub struct Progress {
    multi: MultiProgress,
    epochs: ProgressBar,
    batches: ProgressBar,
    visible: bool,
}

impl Progress {
    /// Bars when stderr is an interactive terminal outside CI, hidden otherwise.
    pub fn auto(max_epochs: usize) -> Self {
        Self::new(max_epochs, Self::terminal())
    }

    /// Whether bars would be drawn here: stderr is a terminal and `CI` is not set.
    pub fn terminal() -> bool {
        bars_wanted(std::io::stderr().is_terminal(), std::env::var_os("CI").is_some())
    }

    /// Bars drawn (`visible`) or hidden.
    pub fn new(max_epochs: usize, visible: bool) -> Self {
        let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let epochs = multi.add(ProgressBar::new(max_epochs as u64));
        epochs
            .set_style(ProgressStyle::with_template("epoch {pos:>4}/{len} [{elapsed_precise}] {wide_bar} {msg}").expect("valid template"));
        let batches = multi.add(ProgressBar::new(0));
        batches.set_style(
            ProgressStyle::with_template("{prefix:>10} {pos:>6}/{len} [{per_sec}] {wide_bar} loss {msg}").expect("valid template"),
        );
        if visible {
            batches.enable_steady_tick(Duration::from_millis(250));
        }
        Self { multi, epochs, batches, visible }
    }

    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// Starts a pass (`train`, `valid`, `predict`) over `rows` rows.
    pub fn start_pass(&self, label: &str, rows: usize) {
        self.batches.set_prefix(label.to_string());
        self.batches.set_length(rows as u64);
        self.batches.set_position(0);
        self.batches.set_message("");
        self.batches.reset_elapsed();
    }

    /// One batch of `rows` rows done; `loss` is the running loss per value so far.
    pub fn batch_done(&self, rows: usize, loss: Option<f64>) {
        if let Some(l) = loss {
            self.batches.set_message(format!("{l:.6}"));
        }
        self.batches.inc(rows as u64);
    }

    /// An epoch finished with validation loss `val`.
    pub fn epoch_done(&self, epoch: usize, val: f64) {
        self.epochs.set_position(epoch as u64);
        self.epochs.set_message(format!("val {val:.6}"));
    }

    /// Prints a line to stdout without breaking the bars.
    pub fn println(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        self.multi.suspend(|| println!("{line}"));
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.batches.finish_and_clear();
        self.epochs.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bars_count_but_draw_nothing() {
        let p = Progress::new(10, false);
        assert!(!p.is_visible());
        assert!(p.multi.is_hidden());
        p.start_pass("train", 16);
        p.batch_done(8, Some(0.5));
        p.batch_done(8, None);
        assert_eq!((p.batches.position(), p.batches.length()), (16, Some(16)));
        assert_eq!(p.batches.message(), "0.500000");
        p.epoch_done(3, 0.25);
        assert_eq!(p.epochs.position(), 3);
        p.finish();
        assert!(bars_wanted(true, false));
        assert!(!bars_wanted(true, true) && !bars_wanted(false, false));
    }
}
