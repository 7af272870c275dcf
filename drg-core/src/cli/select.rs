//! Choosing the compiled size variant that fits the data, or saying exactly which line to add
//! to the declaration when none does.

use anyhow::bail;

use super::rebuild::Rebuild;
use crate::model::ModelSpec;

/// The index of the variant named `size`, or else of the first variant whose input lengths and
/// output widths equal the data's. When none fits, the error gives the `sizes` line that would
/// (computed by re-running the inference on `declaration`, the family's `drg_model!` text), the
/// lengths it gives after every stage, and the command that rebuilds and reruns
/// (`rebuild`, asked only then).
pub fn choose_variant(
    model: &str,
    declaration: &str,
    variants: &[ModelSpec],
    lengths: &[usize],
    tracks: &[usize],
    size: Option<&str>,
    rebuild: impl FnOnce() -> Rebuild,
) -> anyhow::Result<usize> {
    let describe = |v: &ModelSpec| {
        let lens: Vec<String> = v.inputs.iter().map(|i| format!("{}={}", i.name, i.length)).collect();
        let widths: Vec<String> =
            v.outputs.iter().map(|o| format!("{}[{}]", o.name, o.width.map_or("_".to_string(), |w| w.to_string()))).collect();
        format!("{} ({}; {})", v.variant, lens.join(", "), widths.join(", "))
    };
    let fits = |v: &ModelSpec| {
        // An output of data width (`ex[_]`) fits any track count.
        v.inputs.iter().map(|i| i.length).eq(lengths.iter().copied())
            && v.outputs.len() == tracks.len()
            && v.outputs.iter().zip(tracks).all(|(o, &t)| o.width.is_none_or(|w| w == t))
    };
    let all: Vec<String> = variants.iter().map(describe).collect();
    if let Some(size) = size {
        let Some(i) = variants.iter().position(|v| v.variant == size) else {
            bail!("{model} has no size '{size}'; it was compiled for: {}", all.join("; "));
        };
        if !fits(&variants[i]) {
            bail!("{model} size {} does not fit the data (input lengths {:?}, tracks {:?})", describe(&variants[i]), lengths, tracks);
        }
        return Ok(i);
    }
    if let Some(i) = variants.iter().position(fits) {
        return Ok(i);
    }
    let no_fit = format!(
        "the data (input lengths {:?}, tracks per output {:?}) fits no size of {model}; it was compiled for: {}",
        lengths,
        tracks,
        all.join("; ")
    );
    let rebuild = rebuild();
    let declared = rebuild.declaration(model);
    match drg_dsl::suggest_sizes(declaration, model, lengths, tracks) {
        Ok(s) => {
            let stages: Vec<String> = s.trunks.iter().map(|t| format!("    {t}")).collect();
            bail!(
                "{no_fit}\nInput lengths are fixed when a model is compiled. Add this line to the `sizes {{ .. }}` block of {declared}:\n    {}\nIt takes {}. The lengths after every stage:\n{}\nThen rebuild and run:\n    {}",
                s.sizes_line(),
                s.explanation(),
                stages.join("\n"),
                rebuild.command
            )
        }
        Err(reason) => bail!(
            "{no_fit}\nAdd a size variant to {declared} (no line can be suggested: {reason}), then rebuild and run:\n    {}",
            rebuild.command
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InputSpec, OutputSpec};
    use crate::train::loss::LossKind;

    const IN_FULL: [InputSpec; 1] = [InputSpec { name: "dna", channels: 4, length: 40_000, reverse_complement: true }];
    const IN_DEMO: [InputSpec; 1] = [InputSpec { name: "dna", channels: 4, length: 2_000, reverse_complement: true }];
    const OUT_88: [OutputSpec; 1] =
        [OutputSpec { name: "ex", width: Some(88), validation: LossKind::Correlationdata, loss: LossKind::Correlationmse }];
    const OUT_21: [OutputSpec; 1] =
        [OutputSpec { name: "ex", width: Some(21), validation: LossKind::Correlationdata, loss: LossKind::Correlationmse }];

    fn spec(variant: &'static str, inputs: &'static [InputSpec], outputs: &'static [OutputSpec]) -> ModelSpec {
        ModelSpec {
            name: "M",
            variant,
            inputs,
            outputs,
            loss: LossKind::Correlationmse,
            hyper: &[],
            parameters: crate::model::ParameterCount { fixed: 0, per_track: &[0] },
            equal_widths: &[],
        }
    }

    /// A tiny declaration whose `full` and `demo` sizes are described by `IN_*`/`OUT_*`.
    const DECLARATION: &str = "let stem = conv(nk, 9) >> gelu >> wpool(4); pub struct M { sizes { full: len = 40_000, nk = 16, tp = 6, n = 88; demo: len = 2_000, nk = 8, tp = 3, n = 21; } input dna: onehot(4, len), reverse_complement; trunk dna: stem >> convblocks(3, k = 5, wpool = tp) >> flatten >> linear(32); output ex[n] = head(dna); }";

    fn rebuild() -> Rebuild {
        Rebuild { file: Some("models/src/lib.rs".into()), command: "cargo run --release --bin model_m -- a.npz b.tsv".into() }
    }

    #[test]
    fn picks_the_fitting_variant_or_explains() {
        let v = [spec("full", &IN_FULL, &OUT_88), spec("demo", &IN_DEMO, &OUT_21)];
        let choose = |lengths: &[usize], tracks: &[usize], size| choose_variant("M", DECLARATION, &v, lengths, tracks, size, rebuild);
        assert_eq!(choose(&[2_000], &[21], None).unwrap(), 1);
        assert_eq!(choose(&[40_000], &[88], Some("full")).unwrap(), 0);
        let e = choose(&[2_000], &[21], Some("full")).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
        let e = choose(&[2_000], &[21], Some("huge")).unwrap_err().to_string();
        assert!(e.contains("no size 'huge'"), "{e}");
    }

    #[test]
    fn no_fit_gives_the_line_to_add_its_lengths_and_the_command() {
        let v = [spec("full", &IN_FULL, &OUT_88), spec("demo", &IN_DEMO, &OUT_21)];
        let e = choose_variant("M", DECLARATION, &v, &[5_000], &[21], None, rebuild).unwrap_err();
        // demo: 2000 → 500 → 167 → 56 → 19 (8 · 19 = 152 features); at 5 kb, tp = 4 gives
        // 1250 → 313 → 79 → 20 (160 features), nearer than tp = 3 (ending at 47: 376) or tp = 5
        // (ending at 10: 80).
        assert_eq!(
            format!("{e:#}"),
            "the data (input lengths [5000], tracks per output [21]) fits no size of M; it was compiled for: full (dna=40000; ex[88]); demo (dna=2000; ex[21])
Input lengths are fixed when a model is compiled. Add this line to the `sizes { .. }` block of the `drg_model!` declaration of M in models/src/lib.rs:
    len5000: len = 5_000, nk = 8, tp = 4, n = 21;
It takes the values of size `demo`, except len 2_000 → 5_000 (the data's length), tp 3 → 4 (the pooling that keeps the flattened features nearest to `demo`'s: 160 vs 152). The lengths after every stage:
    dna: 5000 → conv 5000 → wpool 1250 → convblocks 313 → 79 → 20 → flatten 160 → linear 32
Then rebuild and run:
    cargo run --release --bin model_m -- a.npz b.tsv"
        );
    }

    #[test]
    fn when_no_line_can_fit_the_error_says_why() {
        let v = [spec("full", &IN_FULL, &OUT_88)];
        let literal = "pub struct M { input dna: onehot(4, 40000), reverse_complement; trunk dna: conv(4, 9) >> flatten; output ex[88] = head(dna); }";
        let e = choose_variant("M", literal, &v, &[3_000], &[88], None, rebuild).unwrap_err().to_string();
        assert!(e.starts_with("the data (input lengths [3000], tracks per output [88]) fits no size of M; it was compiled for: full (dna=40000; ex[88])\nAdd a size variant to the `drg_model!` declaration of M in models/src/lib.rs (no line can be suggested: input `dna` has the length 40000, written as a number"), "{e}");
        assert!(e.ends_with("then rebuild and run:\n    cargo run --release --bin model_m -- a.npz b.tsv"), "{e}");
    }
}
