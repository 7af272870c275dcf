//! Evaluation: test-set correlations, the reference's report files and output names, and the
//! summary table drg-rs prints after training.
//!
//! * [`metrics`]: 1 − Pearson r per track and per gene within each class (the reference's rules);
//! * [`float_text`]: numbers written as Python/numpy write them, for byte-exact files;
//! * [`atomic_file`]: every output file is written to a temporary file and renamed;
//! * [`report_files`]: `_clss_corr_tcl*.txt`, `_pnt_corr_tcl*.txt`, `_loss.txt`, `_pred.npz`;
//! * [`prediction_files`]: `--predictnew`'s `_pred.npz` and `_pred.tsv`;
//! * [`summary`]: per class, the model's mean per-gene correlation next to a mean-profile baseline;
//! * [`plots`]: loss curves and predicted-vs-measured scatter plots (SVG);
//! * [`outname`]: the reference's output-name construction.

pub mod atomic_file;
pub mod float_text;
pub mod metrics;
pub mod outname;
pub mod plots;
pub mod prediction_files;
pub mod report_files;
pub mod summary;
