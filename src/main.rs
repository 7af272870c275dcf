//! `drg`: command-line tools of drg-rs. Kept thin: every subcommand calls into `drg_core`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use drg_core::data::{self, simulate, CvSpec, DataSpec, InputSpec};
use drg_core::sweep::{self, CollectOptions, SweepOptions};

#[derive(Parser)]
#[command(name = "drg", version, about = "drg-rs: sequence-to-expression CNNs in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a simulated dataset (DNA/RNA one-hot npz, expression/degradation/transcription
    /// matrices, class file, 10-set cross-validation file) in the reference's formats, and the
    /// planted truth: `planted_motifs.meme` and `planted_sites.tsv` (site positions per gene).
    Simulate {
        #[arg(long)]
        outdir: PathBuf,
        #[arg(long, default_value_t = simulate::SimOptions::default().n_genes)]
        genes: usize,
        /// DNA length around the TSS (bp).
        #[arg(long, default_value_t = simulate::SimOptions::default().dna_length)]
        length: usize,
        /// RNA length (bp); the mRNA is left-aligned and zero-padded.
        #[arg(long, default_value_t = simulate::SimOptions::default().rna_length)]
        rna_length: usize,
        #[arg(long, default_value_t = simulate::SimOptions::default().n_cell_types)]
        cell_types: usize,
        #[arg(long, default_value_t = simulate::SimOptions::default().n_conditions)]
        conditions: usize,
        #[arg(long, default_value_t = simulate::SimOptions::default().noise)]
        noise: f32,
        /// Motif copies per binding site (1 gives sparse single sites, much harder for CNNs).
        #[arg(long = "site-copies", default_value_t = simulate::SimOptions::default().site_copies)]
        site_copies: usize,
        #[arg(long, default_value_t = simulate::SimOptions::default().seed)]
        seed: u64,
    },
    /// Generate the built-in dataset into the cache (if needed) and print its folder.
    Builtin,
    /// Read, validate and align a dataset as training would, and print a summary.
    CheckData {
        /// Input files (one-hot .npz or FASTA), comma-separated (at most two).
        #[arg(long)]
        input: String,
        /// Output matrices, comma-separated.
        #[arg(long)]
        output: String,
        #[arg(long, default_value = ",")]
        delimiter: String,
        /// Track → class file (the reference's option name; `--split-outclasses` also works).
        #[arg(long = "split_outclasses", alias = "split-outclasses")]
        split_outclasses: Option<PathBuf>,
        /// One tag per output file, e.g. `ex,kd,kt`.
        #[arg(long = "add_fileclasses", alias = "add-fileclasses")]
        add_fileclasses: Option<String>,
        /// Cross-validation file and fold (file mode), e.g. `--crossvalidation cv.txt 1`.
        #[arg(long, num_args = 2, value_names = ["FILE_OR_FOLDS", "FOLD"])]
        crossvalidation: Option<Vec<String>>,
        /// Sequence lengths the model was compiled for (comma-separated); checked when given.
        #[arg(long)]
        lengths: Option<String>,
    },
    /// Train models × cross-validation folds × seeds as one SLURM job array (or here, --local).
    Sweep(Box<SweepOptions>),
    /// Join a finished sweep's per-fold test predictions into cross-validated results and ensembles.
    Collect(CollectOptions),
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Simulate { outdir, genes, length, rna_length, cell_types, conditions, noise, site_copies, seed } => {
            let o = simulate::SimOptions {
                n_genes: genes,
                dna_length: length,
                rna_length,
                n_cell_types: cell_types,
                n_conditions: conditions,
                noise,
                site_copies,
                seed,
                ..Default::default()
            };
            let sim = simulate::simulate(&o)?;
            let p = simulate::write_dataset(&sim, &o, &outdir).map_err(|e| e.to_string())?;
            let (motifs, sites) = drg_core::explain::truth::write_truth(&sim, &outdir).map_err(|e| format!("{e:#}"))?;
            let (train, test) = (sim.cv_sets[2..].concat(), &sim.cv_sets[1]);
            let (base, truth) = simulate::learnability::expression_scores(&sim, &train, test);
            println!("wrote {} genes × {} tracks to {}", sim.genes.len(), sim.tracks.len(), p.dir.display());
            println!("planted truth: motifs {}, sites {}", motifs.display(), sites.display());
            println!("held-out per-gene correlation: average-profile baseline {base:.3}, noiseless truth {truth:.3}");
            Ok(())
        }
        Command::Sweep(opts) => sweep::sweep_command(&opts).map_err(|e| format!("{e:#}")),
        Command::Collect(opts) => sweep::collect_command(&opts).map_err(|e| format!("{e:#}")),
        Command::Builtin => {
            let p = data::builtin::ensure_default_dataset().map_err(|e| e.to_string())?;
            println!("{}", p.dir.display());
            Ok(())
        }
        Command::CheckData { input, output, delimiter, split_outclasses, add_fileclasses, crossvalidation, lengths } => {
            let inputs: Vec<InputSpec> = input.split(',').enumerate().map(|(i, p)| InputSpec::new(p, i == 0)).collect();
            let mut spec = DataSpec::new(inputs, output.split(',').map(PathBuf::from).collect());
            spec.delimiter = data::matrix::parse_delimiter(&delimiter)?;
            spec.class_file = split_outclasses;
            spec.file_tags = add_fileclasses.map(|s| s.split(',').map(str::to_string).collect());
            if let Some(cv) = crossvalidation {
                let fold: usize = cv[1].parse().map_err(|_| format!("--crossvalidation fold '{}' is not an integer", cv[1]))?;
                spec.cv = match cv[0].parse::<usize>() {
                    Ok(folds) => CvSpec::Integer { folds, fold, cutoff: None },
                    Err(_) => CvSpec::File { path: PathBuf::from(&cv[0]), fold },
                };
            }
            let ds = data::load(&spec).map_err(|e| e.to_string())?;
            if let Some(l) = lengths {
                let ls: Vec<usize> = l
                    .split(',')
                    .map(|x| x.trim().parse().map_err(|_| format!("--lengths: '{x}' is not an integer")))
                    .collect::<Result<_, _>>()?;
                for s in &ds.inputs {
                    data::check_length(s, &ls).map_err(|e| e.to_string())?;
                }
            }
            println!(
                "{} genes; inputs {:?}; tracks {:?}; train {} val {} test {}",
                ds.n_genes(),
                ds.inputs.iter().map(|s| s.length).collect::<Vec<_>>(),
                ds.n_tracks(),
                ds.split.train.len(),
                ds.split.val.len(),
                ds.split.test.len()
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
