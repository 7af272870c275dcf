//! What a model binary's explanation flags ask for, checked against the data before anything runs
//! (unknown tracks or genes and windows outside the sequence are one error line each, and nothing
//! is written), and running it on a model whose weights are loaded.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::attribution::{gradients, ism_naive, Attributions, Method, Window};
use super::ism_fast::FastIsm;
use super::kernels::{analyse_kernels, write_kernel_analysis};
use super::logo::{heatmap_svg, logo_svg, ppm_heights, write_svg};
use super::meme::{first_layer_kernels, write_meme};
use super::npz_out::{attribution_path, write_attributions};
use super::seqlets::attribution_motifs;
use super::tracks::{group_by_class, select_tracks, TrackGroups};
use crate::data::Dataset;
use crate::device::DrgDevice;
use crate::import::load::export_state_dict;
use crate::model::DrgModel;

/// `--sequence_attributions TYPE TRACKS` with its companions, resolved against the data.
#[derive(Debug, Clone)]
pub struct AttributionRequest {
    pub method: Method,
    /// The TRACKS text as given (it names the output file).
    pub tracks_text: String,
    pub groups: TrackGroups,
    pub window: Window,
    /// The genes to explain (rows of the data): the test set, or `--attribution_genes`.
    pub rows: Vec<usize>,
    /// `--attribution_logos`: an SVG logo per gene, output and input.
    pub logos: bool,
    /// The text of the model's declaration (`ModelFamily::DECLARATION`), for fast ISM; without
    /// it ISM is naive.
    pub declaration: Option<&'static str>,
}

/// Everything the explanation flags ask for.
#[derive(Debug, Clone, Default)]
pub struct ExplainRequest {
    pub attributions: Option<AttributionRequest>,
    /// `--save_kernel_filters`: `<prefix>_kernelweights.meme`.
    pub save_kernel_filters: bool,
    /// `--kernel_analysis`: kernel PPMs and importance tables ([`super::kernels`]).
    pub kernel_analysis: bool,
}

impl ExplainRequest {
    pub fn is_empty(&self) -> bool {
        self.attributions.is_none() && !self.save_kernel_filters && !self.kernel_analysis
    }
}

/// The flags as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct ExplainFlags<'a> {
    /// `[TYPE, TRACKS]`.
    pub sequence_attributions: Option<&'a [String]>,
    pub window: Option<&'a str>,
    pub average_outclasses: Option<&'a Path>,
    pub genes: Option<&'a str>,
    pub save_kernel_filters: bool,
    pub kernel_analysis: bool,
    pub logos: bool,
    /// `ModelFamily::DECLARATION` of the model, for fast ISM.
    pub declaration: Option<&'static str>,
}

/// What the attribution flags are resolved against: the tracks `TRACKS` picks from, the
/// sequences' lengths and the genes. After training these are the data's; with `--predictnew`
/// on sequences alone, the weights' tracks (named by the model description or
/// `--load_output_track_names`, after `--select_tracks`) and every given gene.
#[derive(Debug, Clone)]
pub struct ExplainTarget<'a> {
    /// The names `TRACKS` picks from (evaluation names, as the npz's `experiments` writes them).
    pub names: &'a [String],
    /// The model output column (index into the heads' concatenated tracks) of each name.
    pub columns: &'a [usize],
    /// The header name of each name, which the `--average_outclasses` file lists.
    pub raw: &'a [String],
    pub lengths: Vec<usize>,
    pub genes: &'a [String],
}

impl AttributionRequest {
    /// Resolves the flags against `data` (rows default to `test_rows`).
    pub fn resolve(flags: &ExplainFlags, data: &Dataset, test_rows: &[usize]) -> anyhow::Result<Option<Self>> {
        let names: Vec<String> = data.eval_track_names.concat();
        let columns: Vec<usize> = (0..names.len()).collect();
        let raw: Vec<String> = data.outputs.iter().flat_map(|m| m.track_names.iter().cloned()).collect();
        let target = ExplainTarget { names: &names, columns: &columns, raw: &raw, lengths: data.lengths(), genes: &data.genes };
        Self::resolve_for(flags, &target, test_rows)
    }

    /// Resolves the flags against `target` (rows default to `default_rows`).
    pub fn resolve_for(flags: &ExplainFlags, target: &ExplainTarget, default_rows: &[usize]) -> anyhow::Result<Option<Self>> {
        let Some(sa) = flags.sequence_attributions else {
            if flags.window.is_some() || flags.genes.is_some() || flags.logos {
                bail!("--attribution_window, --attribution_genes and --attribution_logos need --sequence_attributions TYPE TRACKS");
            }
            return Ok(None);
        };
        let [kind, tracks_text] = sa else { bail!("--sequence_attributions takes TYPE TRACKS") };
        let method = Method::parse(kind)?;
        let selected = select_tracks(tracks_text, target.names)?;
        let mut groups = match flags.average_outclasses {
            Some(file) => group_by_class(&selected, target.raw, file)?,
            None => TrackGroups::single(&selected, target.names),
        };
        // Groups index the names; the model's outputs are indexed by column.
        for m in groups.members.iter_mut().flatten() {
            *m = target.columns[*m];
        }
        let window = match flags.window {
            Some(w) => Window::parse(w, &target.lengths)?,
            None => Window::whole(&target.lengths),
        };
        let rows = match flags.genes {
            Some(list) => gene_rows(list, target.genes)?,
            None => default_rows.to_vec(),
        };
        if rows.is_empty() {
            bail!("--sequence_attributions: no genes to explain (the test set is empty)");
        }
        Ok(Some(AttributionRequest {
            method,
            tracks_text: tracks_text.clone(),
            groups,
            window,
            rows,
            logos: flags.logos,
            declaration: flags.declaration,
        }))
    }
}

/// `--attribution_genes`: a comma list of gene names, or a file of names (whitespace-separated,
/// `#` comments); an unknown name is an error naming it.
fn gene_rows(list: &str, genes: &[String]) -> anyhow::Result<Vec<usize>> {
    let text = if !list.contains(',') && Path::new(list).is_file() {
        std::fs::read_to_string(list).with_context(|| format!("{list}: cannot read the gene list"))?
    } else {
        list.replace(',', " ")
    };
    let names: Vec<&str> = text.lines().flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace()).collect();
    names.iter().map(|n| genes.iter().position(|g| g == n).with_context(|| format!("--attribution_genes: unknown gene '{n}'"))).collect()
}

impl ExplainRequest {
    /// Builds and checks the request from the flags.
    pub fn resolve(flags: &ExplainFlags, data: &Dataset, test_rows: &[usize]) -> anyhow::Result<Self> {
        Ok(ExplainRequest {
            attributions: AttributionRequest::resolve(flags, data, test_rows)?,
            save_kernel_filters: flags.save_kernel_filters,
            kernel_analysis: flags.kernel_analysis,
        })
    }

    /// Builds and checks the request for `--predictnew` on sequences alone (every gene by
    /// default). `--kernel_analysis` rates kernels against measured values, so it is refused
    /// here, as the reference requires Y for it.
    pub fn resolve_for_sequences(flags: &ExplainFlags, target: &ExplainTarget) -> anyhow::Result<Self> {
        if flags.kernel_analysis {
            bail!(
                "--kernel_analysis rates each kernel by the loss of fit to measured values: give the output files (with --predictnew or after training)"
            );
        }
        let every: Vec<usize> = (0..target.genes.len()).collect();
        Ok(ExplainRequest {
            attributions: AttributionRequest::resolve_for(flags, target, &every)?,
            save_kernel_filters: flags.save_kernel_filters,
            kernel_analysis: false,
        })
    }
}

/// The attributions of `req` for `model`.
pub fn attributions<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    req: &AttributionRequest,
    batch_size: usize,
) -> anyhow::Result<Attributions> {
    let per_input = match req.method {
        Method::Grad | Method::GradTimesInput => {
            gradients(model, dev, data, &req.rows, &req.groups, req.window, batch_size, req.method == Method::GradTimesInput)?
        }
        Method::Ism => ism(model, dev, data, req, batch_size)?,
    };
    Ok(Attributions {
        method: req.method,
        genes: req.rows.iter().map(|&r| data.genes[r].clone()).collect(),
        experiments: req.groups.names.clone(),
        window: req.window,
        per_input,
    })
}

/// ISM maps for `req`: fast ISM when the model's layers allow it, else naive ISM after one line
/// saying why.
fn ism<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    req: &AttributionRequest,
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<f64>>> {
    if let Some(declaration) = req.declaration {
        match FastIsm::new(model, declaration) {
            Ok(fast) => return fast.run(data, &req.rows, &req.groups, req.window),
            Err(why) => eprintln!(
                "--sequence_attributions ism: no fast ISM for {} ({}); naive ISM, one full forward pass per variant",
                M::SPEC.name,
                why.0
            ),
        }
    }
    ism_naive(model, dev, data, &req.rows, &req.groups, req.window, batch_size)
}

/// Runs `req` on `model` (weights loaded) and writes its files under `prefix`; returns them.
pub fn run_explain<M: DrgModel<D>, D: DrgDevice>(
    model: &mut M,
    dev: &D,
    data: &Dataset,
    req: &ExplainRequest,
    prefix: &str,
    batch_size: usize,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if req.save_kernel_filters {
        let kernels = first_layer_kernels(&export_state_dict(model));
        if kernels.is_empty() {
            bail!("--save_kernel_filters: model {} has no first convolution (`convolutions.conv1d`) on a one-hot input", M::SPEC.name);
        }
        let path = PathBuf::from(format!("{prefix}_kernelweights.meme"));
        write_meme(&path, &kernels)?;
        files.push(path);
    }
    if req.kernel_analysis {
        let start = std::time::Instant::now();
        let analysis = analyse_kernels(model, dev, data, batch_size)?;
        eprintln!(
            "kernel analysis of {} kernels over {} genes in {:.1} s",
            analysis.kernels.len(),
            data.n_genes(),
            start.elapsed().as_secs_f64()
        );
        files.extend(write_kernel_analysis(prefix, &analysis)?);
        for m in &analysis.weight_ppms {
            let path = PathBuf::from(format!("{prefix}_kernel_ppm_{}.svg", m.name));
            write_svg(&path, &logo_svg(&ppm_heights(&m.values, m.width), m.width, &format!("{} (weight PPM)", m.name), 0))?;
            files.push(path);
        }
        let path = PathBuf::from(format!("{prefix}_kernattrack.svg"));
        let names: Vec<String> = analysis.kernels.iter().map(|k| k.name.clone()).collect();
        write_svg(&path, &heatmap_svg(&analysis.tables.importance, &names, &analysis.tracks, "kernel importance (correlation) per track"))?;
        files.push(path);
    }
    if let Some(a) = &req.attributions {
        let start = std::time::Instant::now();
        let maps = attributions(model, dev, data, a, batch_size)?;
        let path = attribution_path(prefix, a.method, &a.tracks_text);
        write_attributions(&path, &maps)?;
        let motifs_path = seqlet_motifs_path(&path);
        let inputs: Vec<&str> = M::SPEC.inputs.iter().map(|i| i.name).collect();
        let motifs = attribution_motifs(data, &maps, &a.rows, &inputs);
        write_meme(&motifs_path, &motifs)?;
        eprintln!("{} seqlet motifs of the attributions in {}", motifs.len(), motifs_path.display());
        files.push(motifs_path);
        if a.logos {
            files.extend(write_logos(prefix, &maps, M::SPEC.inputs.iter().map(|i| i.name).collect())?);
        }
        eprintln!(
            "{} attributions of {} genes x {} outputs over {} bp in {:.1} s",
            a.method.name(),
            a.rows.len(),
            a.groups.len(),
            a.window.len(),
            start.elapsed().as_secs_f64()
        );
        files.push(path);
    }
    Ok(files)
}

/// `<prefix>_<type><tracks>_seqlet_motifs.meme`, beside the attribution file `npz`.
fn seqlet_motifs_path(npz: &Path) -> PathBuf {
    npz.with_file_name(format!("{}_seqlet_motifs.meme", npz.file_stem().unwrap_or_default().to_string_lossy()))
}

/// One logo per gene, output group and input: `<prefix>_<type>_logo_<gene>_<group>_<input>.svg`.
fn write_logos(prefix: &str, a: &Attributions, inputs: Vec<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let w = a.window.len();
    for (k, input) in inputs.iter().enumerate().take(a.per_input.len()) {
        for (i, gene) in a.genes.iter().enumerate() {
            for (t, group) in a.experiments.iter().enumerate() {
                let values: Vec<f64> = (0..4).flat_map(|c| (0..w).map(move |p| (c, p))).map(|(c, p)| a.at(k, i, t, c, p)).collect();
                let title = format!("{} {gene} {group} ({input}, {}..{})", a.method.name(), a.window.start, a.window.end);
                let path = PathBuf::from(format!("{prefix}_{}_logo_{gene}_{group}_{input}.svg", a.method.name()));
                write_svg(&path, &logo_svg(&values, w, &title, a.window.start))?;
                files.push(path);
            }
        }
    }
    Ok(files)
}
