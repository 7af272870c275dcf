//! The reference's output name: the prefix of every file a run writes (its parts are listed
//! below; the tests check it against the names in the reference fixtures).
//!
//! Researchers find their runs by these names (`Models/exoniconRNA40krcomp_sd1-cv10-1_Cormse...`).
//! The reference builds them from a **data part** (input and output file names,
//! [`data_outname`]) followed by **model tokens** from the settings ([`model_outname`]).
//!
//! The model binaries use the data part followed by `_<Model>-<size>_sd<seed>`: a drg-rs model
//! is a named, typed item, so its name (with the size variant) identifies the architecture, and
//! every hyper-parameter is written next to the weights in `_model_params.json`. The reference's
//! token string is still available through [`model_outname`] (checked against the names of the
//! use cases) for scripts that must match files named by the reference.
//!
//! One deliberate difference there: the reference gives the use cases F1 and F2 the same name
//! (the `input_to_combinefunc` routing is not part of it), so their files overwrite each other.
//! [`ModelNameSettings::model_tag`] is appended as `_<tag>` at the very end; with no tag the name
//! is exactly the reference's. A full `--outname` override bypasses all of this.

use super::float_text::python_repr;

/// A setting that is one value for the whole model or one value per output head (the reference
/// accepts a string or a list for `loss_function`, `validation_loss`, `outclass`).
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrPerHead<T> {
    One(T),
    PerHead(Vec<T>),
}

/// Python `s[:n]` on characters.
fn head(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Python `s[k:]` on characters.
fn tail_from(s: &str, k: usize) -> String {
    s.chars().skip(k).collect()
}

/// The entries in first-seen order (the reference's `unique_ordered`).
fn unique_ordered(items: &[String]) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// `s[:k] + s[max(k, len-k):]`: the reference's abbreviation of option values.
fn abbreviate(s: &str, k: usize) -> String {
    let len = s.chars().count();
    head(s, k) + &tail_from(s, k.max(len.saturating_sub(k)))
}

/// Loss tags: `Cormse` for one loss, `CotaNone` (2+2 characters per unique entry) for a list.
fn loss_tag(loss: &OneOrPerHead<String>, single_k: usize) -> String {
    match loss {
        OneOrPerHead::One(s) => abbreviate(s, single_k),
        OneOrPerHead::PerHead(v) => unique_ordered(v).iter().map(|s| abbreviate(s, 2)).collect(),
    }
}

/// Python `str(list).replace(' ', '').replace(',', '-')` with brackets removed: `1-2-4`.
fn dash_list(values: &[usize]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

/// The first pooling after the stem (`weighted_pooling`, `max_pooling`, `mean_pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StemPooling {
    Weighted,
    Max,
    Mean,
    /// Both `max_pooling` and `mean_pooling`.
    MaxMean,
    None,
}

/// Pooling inside a conv stack: the reference's `*max_pooling`, `*mean_pooling`,
/// `*weighted_pooling` sizes (0 = off) and `*pooling_steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackPooling {
    pub max: usize,
    pub mean: usize,
    pub weighted: usize,
    pub steps: usize,
}

/// The dilated conv stack's settings that enter the name.
#[derive(Debug, Clone, PartialEq)]
pub struct DilatedName {
    pub layers: usize,
    pub conv_increase: f64,
    pub dilations: Vec<usize>,
    pub strides: usize,
    pub l_kernels: usize,
    pub pooling: StackPooling,
    pub residual: usize,
}

/// The attention layer's settings that enter the name.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionName {
    pub layers: usize,
    pub heads: usize,
    pub dim: f64,
}

/// The second ("transformer") conv stack's settings that enter the name.
#[derive(Debug, Clone, PartialEq)]
pub struct TrConvName {
    pub layers: usize,
    /// `trconv_dim`: `None` in the single model (written as `None`), the width in multi models.
    pub dim: Option<usize>,
    pub dilations: usize,
    pub strides: usize,
    pub residual: usize,
    pub l_kernels: usize,
    pub pooling: StackPooling,
}

/// The combiner of a two-input model.
#[derive(Debug, Clone, PartialEq)]
pub struct CombineName {
    /// `cnn_embedding` (one value, or one per output: written once if all equal).
    pub cnn_embedding: Vec<usize>,
    pub shared_embedding: bool,
    pub n_combine_layers: usize,
    pub combine_function: String,
    pub combine_widening: f64,
    pub combine_residual: usize,
}

/// The model settings the reference puts into the output name, in its token order.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelNameSettings {
    pub loss_function: OneOrPerHead<String>,
    /// `None` means "same as the loss function" (no `vl` token).
    pub validation_loss: Option<OneOrPerHead<String>>,
    pub num_kernels: usize,
    pub l_kernels: usize,
    pub kernel_bias: bool,
    pub kernel_function: String,
    pub net_function: String,
    pub pooling: StemPooling,
    pub pooling_size: usize,
    pub pooling_steps: usize,
    pub reverse_complement: bool,
    pub dilated: Option<DilatedName>,
    pub attention: Option<AttentionName>,
    pub trconv: Option<TrConvName>,
    /// `nfc_layers`: one stack, or one per output (the reference's list, `nfc_layers=[2,2]`).
    pub nfc_layers: OneOrPerHead<usize>,
    pub fclayer_size: Option<usize>,
    /// `nfc_residuals` (skips in the fully connected stack): `r{n}` after `nfc..`, when > 0.
    pub nfc_residuals: usize,
    pub outclass: OneOrPerHead<String>,
    pub conv_batch_norm: bool,
    /// `attention_dropout`: `ado{p}` after `cbnoT`, when > 0.
    pub attention_dropout: f64,
    pub fc_dropout: f64,
    /// `fc_batch_norm` (batch norm in the fully connected stack and the classifier): `fbnoT`.
    pub fc_batch_norm: bool,
    pub lr: f64,
    pub optimizer: String,
    /// `optim_params` (SGD momentum, or Adam's betas).
    pub optim_params: Option<Vec<f64>>,
    pub batchsize: usize,
    /// `adjust_lr` (`F` by default; the string `None` writes nothing).
    pub adjust_lr: String,
    pub combine: Option<CombineName>,
    /// drg-rs only: appended as `_<tag>` to tell apart models the reference names alike (F1/F2).
    pub model_tag: Option<String>,
}

/// Appends the reference's model tokens (`add_params_to_outname`) to `prefix`.
pub fn model_outname(prefix: &str, s: &ModelNameSettings) -> String {
    let mut o = String::from(prefix);
    o += &format!(
        "_{}k{}l{}{}f{}",
        loss_tag(&s.loss_function, 3),
        s.num_kernels,
        s.l_kernels,
        if s.kernel_bias { 'T' } else { 'F' },
        s.kernel_function
    );
    if s.net_function != s.kernel_function {
        o += &s.net_function;
    }
    let stem = match s.pooling {
        StemPooling::MaxMean => Some("mmpol"),
        StemPooling::Max => Some("max"),
        StemPooling::Mean => Some("mean"),
        StemPooling::Weighted => Some("wei"),
        StemPooling::None => None,
    };
    if let Some(tag) = stem {
        o += &format!("{tag}{}", head(&s.pooling_size.to_string(), 3));
        if s.pooling_steps != s.pooling_size {
            o += &format!("st{}", head(&s.pooling_steps.to_string(), 3));
        }
    }
    if s.reverse_complement {
        o += "rcT";
    }
    if let Some(vl) = &s.validation_loss {
        if *vl != s.loss_function {
            o += &format!("vl{}", loss_tag(vl, 2));
        }
    }
    if let Some(d) = &s.dilated {
        o += &format!("_dc{}i{}d{}s{}l{}", d.layers, strip_float(d.conv_increase), dash_list(&d.dilations), d.strides, d.l_kernels);
        for (size, tag) in [(d.pooling.max, "da"), (d.pooling.mean, "de"), (d.pooling.weighted, "dw")] {
            if size > 0 {
                o += &format!("{tag}{size}");
                if d.pooling.steps != 1 {
                    o += &format!("st{}", d.pooling.steps);
                }
            }
        }
        if d.residual > 0 {
            o += &format!("r{}", d.residual);
        }
    }
    if let Some(a) = &s.attention {
        o += &format!("at{}h{}-{}", a.layers, a.heads, python_repr(a.dim));
    }
    if let Some(t) = &s.trconv {
        let dim = t.dim.map_or("None".to_string(), |d| d.to_string());
        o += &format!("_tc{}d{}d{}s{}", t.layers, dim, t.dilations, t.strides);
        if t.residual > 0 {
            o += &format!("r{}", t.residual);
        }
        o += &format!("l{}", t.l_kernels);
        for (size, tag) in [(t.pooling.max, "ma"), (t.pooling.mean, "me"), (t.pooling.weighted, "mw")] {
            if size > 0 {
                o += &format!("{tag}{size}");
                if t.pooling.steps != 1 {
                    o += &format!("st{}", t.pooling.steps);
                }
            }
        }
    }
    // A list writes its one value when all are equal (`nfc2` for [2,2]), else every entry in
    // order (`nfc23`), and counts as a stack even with zeros; one number only when > 0.
    let nfc = match &s.nfc_layers {
        OneOrPerHead::One(n) => (*n > 0).then(|| n.to_string()),
        OneOrPerHead::PerHead(v) if v.iter().all(|n| Some(n) == v.first()) => Some(v.first().map_or(String::new(), |n| n.to_string())),
        OneOrPerHead::PerHead(v) => Some(v.iter().map(|n| n.to_string()).collect()),
    };
    if let Some(nfc) = nfc {
        o += &format!("nfc{nfc}");
        if let Some(size) = s.fclayer_size {
            o += &format!("s{size}");
        }
        if s.nfc_residuals > 0 {
            o += &format!("r{}", s.nfc_residuals);
        }
    }
    match &s.outclass {
        OneOrPerHead::PerHead(v) if unique_ordered(v).len() == 1 => o += &abbreviate(&v[0], 2),
        OneOrPerHead::PerHead(v) => v.iter().for_each(|c| o += &abbreviate(c, 2)),
        // Python `c[:2] + c[-max(2, len-2):]`: the first two and the last max(2, len−2) characters.
        OneOrPerHead::One(c) if c != "Linear" => {
            let len = c.chars().count();
            o += &(head(c, 2) + &tail_from(c, len.saturating_sub(2.max(len.saturating_sub(2)))));
        }
        OneOrPerHead::One(_) => {}
    }
    if s.conv_batch_norm {
        o += "cbnoT";
    }
    if s.attention_dropout > 0.0 {
        o += &format!("ado{}", python_repr(s.attention_dropout));
    }
    if s.fc_dropout > 0.0 {
        o += &format!("fdo{}", python_repr(s.fc_dropout));
    }
    if s.fc_batch_norm {
        o += "fbnoT";
    }
    o += &format!("tr{}{}", python_repr(s.lr), s.optimizer);
    if let Some(p) = &s.optim_params {
        // str(0.9) -> "0.9"; str((0.9, 0.999)) -> "(0.9, 0.999)" -> "-0.9-0.999".
        if p.len() == 1 {
            o += &python_repr(p[0]);
        } else {
            o += &p.iter().map(|v| format!("-{}", python_repr(*v))).collect::<String>();
        }
    }
    o += &format!("bs{}", s.batchsize);
    if s.adjust_lr != "None" {
        o += &format!("-{}", head(&s.adjust_lr, 3));
    }
    if let Some(c) = &s.combine {
        let mut emb = String::from(if c.shared_embedding { "se" } else { "" });
        let unique: Vec<String> = c.cnn_embedding.iter().map(|v| v.to_string()).collect();
        emb += &unique_ordered(&unique).iter().map(|s| s.as_str()).collect::<Vec<_>>().join("-");
        o += &format!("_comb{emb}nl{}{}{}r{}", c.n_combine_layers, c.combine_function, python_repr(c.combine_widening), c.combine_residual);
    }
    if let Some(tag) = &s.model_tag {
        o += &format!("_{tag}");
    }
    o
}

/// Python `str(x).strip('0').strip('.')` (the reference's `conv_increase` token: 1.0 → `1`).
fn strip_float(x: f64) -> String {
    python_repr(x).trim_matches('0').trim_matches('.').to_string()
}

/// How the cross-validation entered the run (`docs/data.md`, "Cross-validation"), for the `-cv` suffix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CvName {
    /// A sets file: `-cv<int(cutoff)>-<fold>`.
    File { cutoff: f64, fold: usize },
    /// Integer folds: `-cv<folds>-<fold>`.
    Folds { folds: usize, fold: usize },
}

/// The data part of the name: input and output file names, flags and suffixes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataNameSettings {
    /// Input files (one-hot npz or fasta), in command-line order.
    pub inputs: Vec<String>,
    /// Output matrices, in command-line order.
    pub outputs: Vec<String>,
    /// `--reverse_complement` given: `rcomp`.
    pub reverse_complement: bool,
    /// `--outdir`, prefixed literally (include the trailing `/`).
    pub outdir: String,
    /// `--addname`: `_<addname>`.
    pub addname: Option<String>,
    pub crossvalidation: Option<CvName>,
}

/// File extensions the reference deletes from names (as substrings, in this order).
const EXTENSIONS: [&str; 11] = [".dat", ".hmot", ".txt", ".npz", ".list", ".tab", ".tsv", ".csv", ".fasta", ".fa", ".bed"];

fn strip_extensions(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    EXTENSIONS.iter().fold(base.to_string(), |s, ext| s.replace(ext, ""))
}

/// The reference's `create_outname(name1, name2, lword)`: `name2`, then `lword`, then the tokens
/// of `name1` (split on `. _ - ,`) that are not a substring of a token of `name2` (split on `_`
/// only, as the reference does), joined by `_`.
pub fn combine_names(name1: &str, name2: &str, lword: &str) -> String {
    let n1 = strip_extensions(name1);
    let n2 = strip_extensions(name2);
    let tokens2: Vec<&str> = n2.split('_').collect();
    let diff: Vec<&str> = n1.split(['.', '_', '-', ',']).filter(|t| !tokens2.iter().any(|t2| t2.contains(t))).collect();
    if diff.is_empty() {
        n2
    } else {
        format!("{n2}{lword}{}", diff.join("_"))
    }
}

/// Folds several file names into one (`TSS40k.npz,RNA40k.npz` → `TSS40kRNA40k`).
fn fold_names(files: &[String]) -> String {
    let mut it = files.iter();
    let first = it.next().map(|f| strip_extensions(f)).unwrap_or_default();
    it.fold(first, |acc, f| combine_names(f, &acc, ""))
}

/// The data part of the output name: the input and output file names joined by `on`, `rcomp`,
/// the output folder, `--addname`, then the cross-validation suffix.
pub fn data_outname(d: &DataNameSettings) -> String {
    let mut o = combine_names(&fold_names(&d.inputs), &fold_names(&d.outputs), "on");
    if d.reverse_complement {
        o += "rcomp";
    }
    o = format!("{}{o}", d.outdir);
    if let Some(a) = &d.addname {
        o += &format!("_{a}");
    }
    match d.crossvalidation {
        Some(CvName::File { cutoff, fold }) => o += &format!("-cv{}-{fold}", cutoff.trunc() as i64),
        Some(CvName::Folds { folds, fold }) => o += &format!("-cv{folds}-{fold}"),
        None => {}
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_string()
    }

    fn per_head(v: &[&str]) -> OneOrPerHead<String> {
        OneOrPerHead::PerHead(v.iter().map(|x| x.to_string()).collect())
    }

    /// The use cases' basemodel settings (`shared/reference/use-cases.md`) at size `kernels` / `fc`, single output.
    fn basemodel(kernels: usize, fc: usize, trpool: usize, lr: f64) -> ModelNameSettings {
        ModelNameSettings {
            loss_function: OneOrPerHead::One(s("Correlationmse")),
            validation_loss: Some(OneOrPerHead::One(s("Correlationdata"))),
            num_kernels: kernels,
            l_kernels: 15,
            kernel_bias: true,
            kernel_function: s("GELU"),
            net_function: s("GELU"),
            pooling: StemPooling::Weighted,
            pooling_size: 4,
            pooling_steps: 4,
            reverse_complement: true,
            dilated: Some(DilatedName {
                layers: 3,
                conv_increase: 1.0,
                dilations: vec![1, 2, 4],
                strides: 1,
                l_kernels: 11,
                pooling: StackPooling { steps: 1, ..Default::default() },
                residual: 1,
            }),
            attention: None,
            trconv: Some(TrConvName {
                layers: 4,
                dim: None,
                dilations: 1,
                strides: 1,
                residual: 1,
                l_kernels: 11,
                pooling: StackPooling { weighted: trpool, steps: 1, ..Default::default() },
            }),
            nfc_layers: OneOrPerHead::One(3),
            fclayer_size: Some(fc),
            nfc_residuals: 0,
            attention_dropout: 0.0,
            outclass: OneOrPerHead::One(s("Linear")),
            conv_batch_norm: true,
            fc_dropout: 0.1,
            fc_batch_norm: false,
            lr,
            optimizer: s("SGD"),
            optim_params: Some(vec![0.9]),
            batchsize: 8,
            adjust_lr: s("F"),
            combine: None,
            model_tag: None,
        }
    }

    fn transmodel(m: &mut ModelNameSettings, dilpool: usize, heads: usize, dim: f64, trlayers: usize, trpool: usize) {
        let d = m.dilated.as_mut().unwrap();
        d.pooling = StackPooling { weighted: dilpool, steps: 3, ..Default::default() };
        m.attention = Some(AttentionName { layers: 1, heads, dim });
        let t = m.trconv.as_mut().unwrap();
        t.layers = trlayers;
        t.pooling.weighted = trpool;
    }

    fn three_heads(m: &mut ModelNameSettings) {
        m.validation_loss = Some(per_head(&["Correlationdata", "None", "None"]));
    }

    /// The two-input models: trunks of width `kernels`, combiner settings of C/D/E/F.
    fn multi(m: &mut ModelNameSettings, kernels: usize, outclass: OneOrPerHead<String>, combine: CombineName) {
        m.trconv.as_mut().unwrap().dim = Some(kernels);
        m.outclass = outclass;
        m.combine = Some(combine);
    }

    fn combine(emb: usize, shared: bool, layers: usize, function: &str) -> CombineName {
        CombineName {
            cnn_embedding: vec![emb],
            shared_embedding: shared,
            n_combine_layers: layers,
            combine_function: s(function),
            combine_widening: 1.1,
            combine_residual: 0,
        }
    }

    fn use_case_prefix(inputs: &[&str], outputs: &[&str]) -> String {
        data_outname(&DataNameSettings {
            inputs: inputs.iter().map(|x| s(x)).collect(),
            outputs: outputs.iter().map(|x| s(x)).collect(),
            reverse_complement: true,
            outdir: s("Models/"),
            addname: Some(s("sd1")),
            crossvalidation: Some(CvName::File { cutoff: 10.0, fold: 1 }),
        })
    }

    #[test]
    fn reproduces_the_use_case_names_of_the_behaviour_document() {
        let a_prefix = use_case_prefix(&["RNA40k.npz"], &["exonic.tsv"]);
        assert_eq!(a_prefix, "Models/exoniconRNA40krcomp_sd1-cv10-1");
        let a = model_outname(&a_prefix, &basemodel(300, 1024, 6, 1e-5));
        assert_eq!(a, "Models/exoniconRNA40krcomp_sd1-cv10-1_Cormsek300l15TfGELUwei4rcTvlCota_dc3i1d1-2-4s1l11r1_tc4dNoned1s1r1l11mw6nfc3s1024cbnoTfdo0.1tr1e-05SGD0.9bs8-F");

        let mut at = basemodel(300, 1024, 6, 1e-5);
        transmodel(&mut at, 10, 4, 1.8, 4, 4);
        assert!(model_outname(&a_prefix, &at).contains("_dc3i1d1-2-4s1l11dw10st3r1at1h4-1.8_tc4dNoned1s1r1l11mw4nfc3s1024cbnoT"));

        let mut b = basemodel(300, 1024, 6, 1e-5);
        three_heads(&mut b);
        let b_prefix = use_case_prefix(&["TSS40k.npz"], &["exonic.tsv", "degrad.tsv", "intronic.tsv"]);
        assert_eq!(
            model_outname(&b_prefix, &b),
            "Models/exonicdegradintroniconTSS40krcomp_sd1-cv10-1_Cormsek300l15TfGELUwei4rcTvlCotaNone_dc3i1d1-2-4s1l11r1_tc4dNoned1s1r1l11mw6nfc3s1024cbnoTfdo0.1tr1e-05SGD0.9bs8-F"
        );

        let mut c = basemodel(300, 1024, 6, 1e-5);
        multi(&mut c, 300, OneOrPerHead::One(s("Linear")), combine(512, true, 3, "GELU"));
        let c_prefix = use_case_prefix(&["TSS40k.npz", "RNA40k.npz"], &["exonic.tsv"]);
        assert_eq!(
            model_outname(&c_prefix, &c),
            "Models/exoniconTSS40kRNA40krcomp_sd1-cv10-1_Cormsek300l15TfGELUwei4rcTvlCota_dc3i1d1-2-4s1l11r1_tc4d300d1s1r1l11mw6nfc3s1024cbnoTfdo0.1tr1e-05SGD0.9bs8-F_combse512nl3GELU1.1r0"
        );

        // D, E, F1/F2: the document elides the middle ("..."), so check its head and tail.
        let de_prefix = use_case_prefix(&["TSS40k.npz", "RNA40k.npz"], &["exonic.tsv", "degrad.tsv", "intronic.tsv"]);
        let relations = per_head(&["difference", "direct", "direct"]);
        let mut d = basemodel(300, 1024, 6, 1e-5);
        three_heads(&mut d);
        multi(&mut d, 300, relations.clone(), combine(88, false, 0, "Linear"));
        let d_name = model_outname(&de_prefix, &d);
        assert!(d_name.starts_with("Models/exonicdegradintroniconTSS40kRNA40krcomp_sd1-cv10-1_"), "{d_name}");
        assert!(d_name.contains("_tc4d300"), "{d_name}");
        assert!(d_name.ends_with("nfc3s1024dicedictdictcbnoTfdo0.1tr1e-05SGD0.9bs8-F_comb88nl0Linear1.1r0"), "{d_name}");
        let mut e = d.clone();
        e.combine = Some(combine(88, true, 0, "Linear"));
        assert!(model_outname(&de_prefix, &e).ends_with("_combse88nl0Linear1.1r0"));
        let mut f = basemodel(300, 1024, 6, 1e-5);
        three_heads(&mut f);
        multi(&mut f, 300, per_head(&["Linear", "Linear", "Linear"]), combine(512, true, 2, "GELU"));
        let f1 = model_outname(&de_prefix, &f);
        assert!(f1.ends_with("nfc3s1024LiarcbnoTfdo0.1tr1e-05SGD0.9bs8-F_combse512nl2GELU1.1r0"), "{f1}");
        // drg-rs's model tag keeps F1 and F2 apart; without it the names are the reference's.
        let mut f2 = f.clone();
        f2.model_tag = Some(s("F2"));
        assert_eq!(model_outname(&de_prefix, &f2), format!("{f1}_F2"));
    }

    /// `meta/json` → `drg_outname` of the fixture files (prefix `fixture_<config>`).
    fn fixture_outname(config: &str) -> String {
        let npz = crate::import::npz::read_npz(crate::eval::metrics::tests::fixture(&format!("{config}.npz"))).unwrap();
        let bytes: Vec<u8> = match &npz.get("meta/json").unwrap().values {
            crate::import::npz::Values::Int(v) => v.iter().map(|&b| b as u8).collect(),
            other => panic!("meta/json: {other:?}"),
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["drg_outname"].as_str().unwrap().to_string()
    }

    #[test]
    fn reproduces_the_fixture_names() {
        let small = || basemodel(16, 64, 3, 0.001);
        let mut cases: Vec<(&str, ModelNameSettings)> = vec![("base", small())];
        let mut trans = small();
        transmodel(&mut trans, 5, 2, 1.5, 2, 4);
        cases.push(("trans", trans));
        let mut b = small();
        three_heads(&mut b);
        cases.push(("B", b.clone()));
        let mut c = small();
        multi(&mut c, 16, OneOrPerHead::One(s("Linear")), combine(32, true, 3, "GELU"));
        cases.push(("C", c));
        let relations = per_head(&["difference", "direct", "direct"]);
        let mut d = b.clone();
        multi(&mut d, 16, relations.clone(), combine(6, false, 0, "Linear"));
        cases.push(("D", d));
        let mut e = b.clone();
        multi(&mut e, 16, relations, combine(6, true, 0, "Linear"));
        cases.push(("E", e));
        let mut f = b.clone();
        multi(&mut f, 16, per_head(&["Linear", "Linear", "Linear"]), combine(32, true, 2, "GELU"));
        cases.push(("F1", f.clone()));
        cases.push(("F2", f));
        for (config, settings) in cases {
            assert_eq!(model_outname(&format!("fixture_{config}"), &settings), fixture_outname(config), "{config}");
        }
    }

    /// The breadth fixtures' names (`fixtures/breadth/`): the constructor's defaults, other
    /// poolings and activations, no bias, and `fbnoT` for `fc_batch_norm=True`.
    #[test]
    fn reproduces_the_breadth_fixture_names() {
        let mut example = basemodel(16, 48, 0, 0.001);
        example.loss_function = OneOrPerHead::One(s("MSE"));
        example.validation_loss = Some(OneOrPerHead::One(s("MSE")));
        example.l_kernels = 7;
        example.pooling = StemPooling::Max;
        (example.pooling_size, example.pooling_steps) = (5, 5);
        example.reverse_complement = false;
        let d = example.dilated.as_mut().unwrap();
        (d.layers, d.dilations, d.l_kernels) = (2, vec![1], 7);
        d.pooling = StackPooling { max: 4, steps: 1, ..Default::default() };
        example.trconv = None;
        example.nfc_layers = OneOrPerHead::One(2);
        (example.conv_batch_norm, example.fc_dropout) = (false, 0.0);
        assert_eq!(model_outname("fixture_example", &example), fixture_outname("breadth/example"));

        // One stack per output (`nfc_layers=[2,2]`): `nfc2`, the list's one value.
        let mut multiout = example.clone();
        multiout.loss_function = OneOrPerHead::One(s("Correlationmse"));
        multiout.validation_loss = Some(per_head(&["Correlationdata", "None"]));
        multiout.reverse_complement = true;
        multiout.nfc_layers = OneOrPerHead::PerHead(vec![2, 2]);
        assert_eq!(model_outname("fixture_multiout", &multiout), fixture_outname("breadth/multiout"));
        // Unequal stacks write every entry (`''.join` in the reference's `add_params_to_outname`).
        multiout.nfc_layers = OneOrPerHead::PerHead(vec![2, 3]);
        assert!(model_outname("fixture_multiout", &multiout).contains("_dc2i1d1s1l7da4r1nfc23s48tr"));

        let mut relu = basemodel(16, 32, 0, 0.001);
        relu.loss_function = OneOrPerHead::One(s("PoissonNNL"));
        relu.l_kernels = 9;
        relu.kernel_bias = false;
        (relu.kernel_function, relu.net_function) = (s("ReLU"), s("ReLU"));
        relu.pooling = StemPooling::Mean;
        let d = relu.dilated.as_mut().unwrap();
        (d.layers, d.dilations, d.l_kernels) = (2, vec![1, 2], 5);
        d.pooling = StackPooling { mean: 2, steps: 1, ..Default::default() };
        let t = relu.trconv.as_mut().unwrap();
        (t.layers, t.l_kernels) = (2, 5);
        t.pooling = StackPooling { max: 3, steps: 1, ..Default::default() };
        relu.nfc_layers = OneOrPerHead::One(2);
        relu.fc_batch_norm = true;
        assert_eq!(model_outname("fixture_relu_mean", &relu), fixture_outname("breadth/relu_mean"));
        relu.fc_batch_norm = false;
        assert!(!model_outname("fixture_relu_mean", &relu).contains("fbno"));
    }

    /// `nfc_residuals`: `'r'+str(nfc_residuals)` right after the stack's `nfc{n}s{size}`, only when
    /// > 0 and there is a stack (`add_params_to_outname` in the reference's `model_output.py`).
    #[test]
    fn nfc_residuals_follow_the_stack_tokens() {
        let mut m = basemodel(16, 64, 3, 0.001);
        assert!(model_outname("p", &m).contains("nfc3s64cbnoT"));
        m.nfc_residuals = 2;
        assert!(model_outname("p", &m).contains("nfc3s64r2cbnoT"), "{}", model_outname("p", &m));
        m.nfc_layers = OneOrPerHead::One(0);
        assert!(!model_outname("p", &m).contains("r2"), "no stack, no token: {}", model_outname("p", &m));
    }

    /// `pooling_steps` (`maxpool(p, step = s)` and the others): `'st'+str(pooling_steps)[:3]`
    /// right after the stem pooling's `{max|mean|wei|mmpol}{size}`, only where it differs from
    /// `pooling_size` (`add_params_to_outname` in the reference's `model_output.py`).
    #[test]
    fn pooling_steps_follow_the_stem_pooling_token() {
        let mut m = basemodel(16, 64, 3, 0.001);
        assert!(model_outname("p", &m).contains("fGELUwei4rcT"), "{}", model_outname("p", &m));
        m.pooling_steps = 3;
        assert!(model_outname("p", &m).contains("fGELUwei4st3rcT"), "{}", model_outname("p", &m));
        (m.pooling, m.pooling_size, m.pooling_steps) = (StemPooling::Max, 4, 3);
        assert!(model_outname("p", &m).contains("fGELUmax4st3rcT"), "{}", model_outname("p", &m));
        (m.pooling, m.pooling_size, m.pooling_steps) = (StemPooling::Mean, 5, 2);
        assert!(model_outname("p", &m).contains("fGELUmean5st2rcT"), "{}", model_outname("p", &m));
        // the first three characters of each number
        (m.pooling_size, m.pooling_steps) = (10000, 2500);
        assert!(model_outname("p", &m).contains("fGELUmean100st250rcT"), "{}", model_outname("p", &m));
    }

    /// `attention_dropout`: `'ado'+str(attention_dropout)` between `cbnoT` and `fdo..`, when > 0.
    #[test]
    fn attention_dropout_follows_the_conv_batch_norm_token() {
        let mut m = basemodel(16, 64, 3, 0.001);
        assert!(!model_outname("p", &m).contains("ado"));
        m.attention_dropout = 0.1;
        assert!(model_outname("p", &m).contains("cbnoTado0.1fdo0.1tr"), "{}", model_outname("p", &m));
    }

    #[test]
    fn name_helpers_follow_python_semantics() {
        assert_eq!(strip_float(1.0), "1");
        assert_eq!(strip_float(0.5), "5");
        assert_eq!(strip_float(10.0), "10");
        assert_eq!(strip_float(1.5), "1.5");
        assert_eq!(abbreviate("Correlationmse", 3), "Cormse");
        assert_eq!(abbreviate("MSE", 3), "MSE");
        assert_eq!(abbreviate("None", 2), "None");
        assert_eq!(combine_names("data/RNA40k.npz", "TSS40k", ""), "TSS40kRNA40k");
        // Tokens of the first name found inside the second are dropped.
        assert_eq!(combine_names("Sim_exp-nsy.csv", "Sim_deg", ""), "Sim_degexp_nsy");
        assert_eq!(combine_names("x.tsv", "x.tsv", "on"), "x");
        let mut m = basemodel(16, 64, 3, 0.001);
        m.optim_params = Some(vec![0.9, 0.999]);
        m.optimizer = s("Adam");
        m.outclass = OneOrPerHead::One(s("Sigmoid"));
        let name = model_outname("p", &m);
        assert!(name.contains("nfc3s64SigmoidcbnoT"), "{name}");
        assert!(name.contains("tr0.001Adam-0.9-0.999bs8-F"), "{name}");
        let cv = DataNameSettings {
            inputs: vec![s("a.npz")],
            outputs: vec![s("b.csv")],
            crossvalidation: Some(CvName::Folds { folds: 10, fold: 0 }),
            ..Default::default()
        };
        assert_eq!(data_outname(&cv), "bona-cv10-0");
    }
}
