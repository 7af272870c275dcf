//! Choosing the compiled size variant that fits the data.

use anyhow::bail;

use crate::model::ModelSpec;

/// The index of the variant named `size`, or else of the first variant whose input lengths and
/// output widths equal the data's; an error listing what the model was compiled for otherwise.
pub fn choose_variant(model: &str, variants: &[ModelSpec], lengths: &[usize], tracks: &[usize], size: Option<&str>) -> anyhow::Result<usize> {
    let describe = |v: &ModelSpec| {
        let lens: Vec<String> = v.inputs.iter().map(|i| format!("{}={}", i.name, i.length)).collect();
        let widths: Vec<String> = v.outputs.iter().map(|o| format!("{}[{}]", o.name, o.width.map_or("_".to_string(), |w| w.to_string()))).collect();
        format!("{} ({}; {})", v.variant, lens.join(", "), widths.join(", "))
    };
    let fits = |v: &ModelSpec| {
        // An output of data width (`ex[_]`) fits any track count.
        v.inputs.iter().map(|i| i.length).eq(lengths.iter().copied()) && v.outputs.len() == tracks.len() && v.outputs.iter().zip(tracks).all(|(o, &t)| o.width.is_none_or(|w| w == t))
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
    match variants.iter().position(fits) {
        Some(i) => Ok(i),
        None => bail!(
            "the data (input lengths {:?}, tracks per output {:?}) fits no size of {model}; it was compiled for: {}. Add a size variant to its declaration",
            lengths,
            tracks,
            all.join("; ")
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
    const OUT_88: [OutputSpec; 1] = [OutputSpec { name: "ex", width: Some(88), validation: LossKind::Correlationdata }];
    const OUT_21: [OutputSpec; 1] = [OutputSpec { name: "ex", width: Some(21), validation: LossKind::Correlationdata }];

    fn spec(variant: &'static str, inputs: &'static [InputSpec], outputs: &'static [OutputSpec]) -> ModelSpec {
        ModelSpec { name: "M", variant, inputs, outputs, loss: LossKind::Correlationmse, hyper: &[], parameters: crate::model::ParameterCount { fixed: 0, per_track: &[0] }, equal_widths: &[] }
    }

    #[test]
    fn picks_the_fitting_variant_or_explains() {
        let v = [spec("full", &IN_FULL, &OUT_88), spec("demo", &IN_DEMO, &OUT_21)];
        assert_eq!(choose_variant("M", &v, &[2_000], &[21], None).unwrap(), 1);
        assert_eq!(choose_variant("M", &v, &[40_000], &[88], Some("full")).unwrap(), 0);
        let e = choose_variant("M", &v, &[3_000], &[21], None).unwrap_err().to_string();
        assert!(e.contains("[3000]") && e.contains("full (dna=40000; ex[88])") && e.contains("demo (dna=2000; ex[21])"), "{e}");
        let e = choose_variant("M", &v, &[2_000], &[21], Some("full")).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
        let e = choose_variant("M", &v, &[2_000], &[21], Some("huge")).unwrap_err().to_string();
        assert!(e.contains("no size 'huge'"), "{e}");
    }
}
