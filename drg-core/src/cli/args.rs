//! The command line of a model binary (`model_d`), in the reference's vocabulary
//! (`run_cnn_model*.py`): positional input and output files, `--outdir`, `--crossvalidation`,
//! `--save_correlation_perclass`, ..., and hyper-parameters either as flags or as the
//! reference's `--cnn key=value+key=value` string.

use std::path::PathBuf;

use clap::Parser;

/// Trains (or, with `--predictnew`, applies) a drg-rs model. Without input files it trains on
/// the built-in simulated dataset (generated into a cache folder on first use), by default with
/// Adam at lr 1e-4 for at most 15 epochs, patience 5 and 1 warm-up epoch (with data files: the
/// reference's SGD with momentum 0.9, 1000 epochs, patience 10 and 4 warm-up epochs).
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None, after_help = AFTER_HELP)]
pub struct RunArgs {
    /// Input sequence files, comma-separated, in the order of the model's inputs: one-hot `.npz`
    /// (the reference's format) or FASTA. Default: the built-in dataset.
    pub inputs: Option<String>,

    /// Output matrices, comma-separated, in the order of the model's outputs (tsv/csv with the
    /// reference's `#` header, or npz). Required when inputs are given, except with --predictnew.
    pub outputs: Option<String>,

    /// Folder (prefix) for every output file; joined to the output name as the reference does.
    #[arg(long, default_value = "drg-output/")]
    pub outdir: String,

    /// Field delimiter of the output matrices; `\t` or `tab` mean a tab. Default `,` (the
    /// built-in dataset uses tabs).
    #[arg(long)]
    pub delimiter: Option<String>,

    /// Accepted for compatibility: reverse complement is part of the model declaration
    /// (`input dna: onehot(4, len), reverse_complement;`). With values (`True,False`), they must
    /// agree with the declaration.
    #[arg(long = "reverse_complement", alias = "reverse-complement", num_args = 0..=1, default_missing_value = "True")]
    pub reverse_complement: Option<String>,

    /// Cross-validation: `FILE FOLD CUTOFF` (file mode: validation = set FOLD, test = set
    /// FOLD+1) or `N FOLD CUTOFF` (N random folds, as the reference's integer mode).
    #[arg(long, num_args = 3, value_names = ["FILE_OR_N", "FOLD", "CUTOFF"])]
    pub crossvalidation: Option<Vec<String>>,

    /// Track → class (cell type) file; evaluation is per class.
    #[arg(long = "split_outclasses", alias = "split-outclasses")]
    pub split_outclasses: Option<PathBuf>,

    /// One tag per output file, e.g. `ex,kd,kt` (default: the model's output names).
    #[arg(long = "add_fileclasses", alias = "add-fileclasses")]
    pub add_fileclasses: Option<String>,

    /// Write `<name>_clss_corr_tcl<class>.txt` (1 − Pearson r per track across test genes).
    #[arg(long = "save_correlation_perclass", alias = "save-correlation-perclass")]
    pub save_correlation_perclass: bool,

    /// Write `<name>_pnt_corr_tcl<class>.txt` (1 − Pearson r per test gene across a class).
    #[arg(long = "save_correlation_perpoint", alias = "save-correlation-perpoint")]
    pub save_correlation_perpoint: bool,

    /// Write `<name>_pred.npz` (test predictions with gene and track names).
    #[arg(long = "save_predictions", alias = "save-predictions")]
    pub save_predictions: bool,

    /// Do not write the SVG plots (loss curves, predicted vs. measured).
    #[arg(long = "no_plots", alias = "no-plots")]
    pub no_plots: bool,

    /// Appended to the output name (`_<addname>`).
    #[arg(long)]
    pub addname: Option<String>,

    /// Replaces the generated output name.
    #[arg(long)]
    pub outname: Option<String>,

    /// Hyper-parameters in the reference's form, e.g. `lr=0.0001+batchsize=16+patience=5`, as
    /// the reference's command lines write them. Training keys (lr, batchsize, patience, seed,
    /// epochs, optimizer, optim_params, optim_weight_decay, warm_up_epochs, finetuning_patience,
    /// finetuning_rounds, finetuning_rate, device, keepmodel, init_adjust, loss_function,
    /// validation_loss, loss_weights) apply to the run; flags below override them.
    /// loss_function, validation_loss and loss_weights take one value for every output or a
    /// list with one per output (`loss_function=['MSE','Correlationdata']`). Architecture keys
    /// (num_kernels, dilations, ...) must agree with the compiled model, else an error names the
    /// declaration's text to change. A string that gives num_kernels describes the whole
    /// network: every key it leaves out means the reference constructor's default
    /// (conv_batch_norm=False, fc_dropout=0, l_dilkernels=l_kernels, ...) and must agree too.
    #[arg(long)]
    pub cnn: Option<String>,

    /// Learning rate (the use cases: 1e-5; drg-rs default 1e-3, or 1e-4 on the built-in dataset,
    /// see the README).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub batchsize: Option<usize>,
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Maximum number of epochs (reference: 1000).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// SGD, Adam or AdamW (default SGD, or Adam on the built-in dataset).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// SGD momentum, or Adam's β₁.
    #[arg(long = "optim_params", alias = "optim-params")]
    pub optim_params: Option<f64>,
    #[arg(long = "warm_up_epochs", alias = "warm-up-epochs")]
    pub warm_up_epochs: Option<usize>,

    /// `cpu` (default) or `cuda:N`, the N-th GPU (`cuda` = `cuda:0`; needs a build with
    /// `--features cuda`).
    #[arg(long)]
    pub device: Option<String>,

    /// The size variant to use (`full`, `long`, `demo`, ...); by default the one whose input
    /// lengths fit the data (track counts come from the data's files).
    #[arg(long)]
    pub size: Option<String>,

    /// Continue a killed run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,

    // After training (issue 13): prediction with saved weights, fine-tuning, track selection.
    /// No training: apply saved weights (`.safetensors` written by drg-rs, or the reference's
    /// `.pth` / `.npz` state dict) to every gene of the input files (npz or FASTA) and write
    /// `<name>_pred.npz` (names, values, columns) and `<name>_pred.tsv`. Output files are
    /// optional: with them the predictions are also evaluated (summary table, the
    /// `--save_correlation_*` files), on every gene, or on the test set with --crossvalidation.
    /// Without them the track counts come from the weights and the track names from the
    /// `_model_params.json` beside them.
    #[arg(long, value_name = "WEIGHTS")]
    pub predictnew: Option<PathBuf>,

    /// Train (or predict) only these tracks of the output files: comma-separated names or
    /// 0-based column indices (the outputs' tracks side by side), or a file listing them
    /// (whitespace-separated, `#` comments), or one name. Names are the headers' (before
    /// `--add_fileclasses` suffixes). With --load_parameters (or --predictnew), a head saved
    /// with every track keeps the selected tracks' rows: a model trained on 88 tracks is
    /// fine-tuned on 12.
    #[arg(long = "select_tracks", alias = "select-tracks", value_name = "TRACKS")]
    pub select_tracks: Option<String>,

    /// Fine-tuning: before training, fill the fresh model from a saved one (`.safetensors`,
    /// `.pth` or `.npz`), the reference's five arguments. TRANSLATE: `current:saved` name pairs,
    /// comma-separated (a name may be a prefix ending at a `.`), or None. EXCLUDE: state-dict
    /// names or prefixes not to load, comma-separated, or None. INCLUDE: `True` makes EXCLUDE the
    /// list of the only tensors to load. ALLOW_REDUCTION: `True` lets tensors whose first axis
    /// differs share their leading rows. Tensors not loaded keep their fresh initialisation;
    /// every tensor's outcome is printed. E.g. `--load_parameters run_parameter.safetensors None
    /// None False False` (everything), `... None convolutions.conv1d True False` (only the
    /// first convolution). FILE may be a comma list, loaded in order (the reference's
    /// multi-input form): TRANSLATE and EXCLUDE then give one entry per file, separated by `,`,
    /// with the pairs or names of one file separated by `-`; INCLUDE and ALLOW_REDUCTION one
    /// value per file, or one for all.
    #[arg(
        long = "load_parameters",
        alias = "load-parameters",
        num_args = 5,
        value_names = ["FILE", "TRANSLATE", "EXCLUDE", "INCLUDE", "ALLOW_REDUCTION"]
    )]
    pub load_parameters: Option<Vec<String>>,

    /// With --predictnew and no output files: the track names of each output, one file per
    /// output, comma-separated (`ex_tracks.txt,kd_tracks.txt`), each listing its names
    /// whitespace-separated (`#` comments), as many as the weights have tracks. They name the
    /// `_pred.npz` columns and are what --select_tracks picks from; without this flag the names
    /// come from the `_model_params.json` beside the weights, else `C0, C1, ..`.
    #[arg(long = "load_output_track_names", alias = "load-output-track-names", value_name = "FILES")]
    pub load_output_track_names: Option<String>,
    // End of the after-training block.
    /// No progress bars or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,

    /// A trial run: stop after N training steps (batches with an update), counted over epochs;
    /// the epoch-0 pass and each validation pass also take at most N batches (their losses are
    /// averaged over the rows seen), and no test-set evaluation follows. For a quick look at the
    /// memory and speed of a run on a large data set. No `--cnn` key (the reference has none).
    #[arg(long = "max_steps", alias = "max-steps", value_name = "N")]
    pub max_steps: Option<usize>,

    // ---- Explaining a model (issue 13; drg-core/src/explain): after training, or with
    // ---- --predictnew on the loaded weights.
    /// Per-base attributions of the test genes (with --predictnew on sequences alone, every given
    /// gene), or of `--attribution_genes`: TYPE `grad` (zero-mean
    /// gradient), `gradxinput` (that times the one-hot input) or `ism` (in-silico saturation
    /// mutagenesis, zero-mean; fast ISM recomputes only the stretch each substitution reaches,
    /// on the CPU, and falls back to one full prediction per variant, with a line saying why, for
    /// layers it cannot split, such as attention); TRACKS `all`, `a-to-b`, an index, a name, or a comma list of
    /// them. Writes `<name>_<TYPE><TRACKS>.npz` (names, values (N, T, 4, W), experiments,
    /// window) and `<name>_<TYPE><TRACKS>_seqlet_motifs.meme`: motifs of the sequence under the
    /// attribution peaks (3 per gene and input), clustered with reverse complements, clusters of
    /// at least 10 seqlets, named `<input>_seqlet<k>_n<members>`.
    #[arg(long = "sequence_attributions", alias = "sequence-attributions", num_args = 2, value_names = ["TYPE", "TRACKS"])]
    pub sequence_attributions: Option<Vec<String>>,

    /// Restrict attributions to positions START..END (bp of the sequence, END exclusive).
    #[arg(long = "attribution_window", alias = "attribution-window", value_name = "START:END")]
    pub attribution_window: Option<String>,

    /// Explain these genes instead of the test set: a comma list of names or a file of names.
    #[arg(long = "attribution_genes", alias = "attribution-genes", value_name = "NAMES|FILE")]
    pub attribution_genes: Option<String>,

    /// Also draw each explained gene's attribution map as an SVG sequence logo per output and
    /// input (`<name>_<TYPE>_logo_<gene>_<track>_<input>.svg`); best with a short window.
    #[arg(long = "attribution_logos", alias = "attribution-logos")]
    pub attribution_logos: bool,

    /// `track class` file: each explained output is the mean of the selected tracks of one class
    /// (the reference's `--average_outclasses`, as it applies to attributions).
    #[arg(long = "average_outclasses", alias = "average-outclasses", value_name = "FILE")]
    pub average_outclasses: Option<PathBuf>,

    /// Write the first convolution's kernels (raw weights, biases on the header lines) as
    /// `<name>_kernelweights.meme`.
    #[arg(long = "save_kernel_filters", alias = "save-kernel-filters")]
    pub save_kernel_filters: bool,

    /// Kernel PPMs (`<name>_kernel_ppms.meme` from the weights as the reference,
    /// `<name>_kernel_actppms.meme` from the top activations over the training genes) and each
    /// kernel's importance per track, by setting its output to its mean and predicting every gene
    /// again (`_kernattrack.dat`, `_kernmsetrack.dat`, `_kernimpact.dat`, `_kerneffct.dat`).
    /// Needs measured values (output files).
    #[arg(long = "kernel_analysis", alias = "kernel-analysis")]
    pub kernel_analysis: bool,
}

const AFTER_HELP: &str = "\
Examples:
  model_d                                        train on the built-in simulated dataset
  model_d TSS40k.npz,RNA40k.npz exonic.tsv,degrad.tsv,intronic.tsv --delimiter '\\t' \\
      --crossvalidation Exintron_testsetcv10.txt 1 10 --split_outclasses condition.class.txt \\
      --add_fileclasses ex,kd,kt --save_correlation_perclass --save_correlation_perpoint
  model_d ... --predictnew drg-output/<name>_parameter.safetensors
  model_d new_dna.npz,new_rna.fa --predictnew drg-output/<name>_parameter.safetensors   (no measured values)
  model_d ... --select_tracks Bcell_IL2,Bcell_IL4 --load_parameters drg-output/<name>_parameter.safetensors None None False False
  model_d ... --predictnew W.safetensors --sequence_attributions ism all --attribution_window 900:1100";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_reference_command_line() {
        let a = RunArgs::try_parse_from([
            "model_d",
            "TSS40k.npz,RNA40k.npz",
            "exonic.tsv,degrad.tsv,intronic.tsv",
            "--outdir",
            "Models/",
            "--delimiter",
            "\\t",
            "--reverse_complement",
            "True,False",
            "--crossvalidation",
            "Exintron_testsetcv10.txt",
            "1",
            "10",
            "--split_outclasses",
            "condition.class.txt",
            "--add_fileclasses",
            "ex,kd,kt",
            "--save_correlation_perclass",
            "--save_correlation_perpoint",
            "--addname",
            "sd1",
            "--cnn",
            "lr=0.00001+batchsize=8",
            "--warm_up_epochs",
            "4",
        ])
        .unwrap();
        assert_eq!(a.inputs.as_deref(), Some("TSS40k.npz,RNA40k.npz"));
        assert_eq!(a.crossvalidation.as_deref(), Some(&["Exintron_testsetcv10.txt".to_string(), "1".into(), "10".into()][..]));
        assert_eq!(a.reverse_complement.as_deref(), Some("True,False"));
        assert!(a.save_correlation_perclass && a.save_correlation_perpoint && !a.save_predictions);
        assert_eq!(a.warm_up_epochs, Some(4));
        // Hyphenated spellings work too; unknown flags are errors.
        assert!(RunArgs::try_parse_from(["model_d", "--warm-up-epochs", "1"]).is_ok());
        assert!(RunArgs::try_parse_from(["model_d", "--cross_validation", "x", "1", "10"]).is_err());
    }
}
