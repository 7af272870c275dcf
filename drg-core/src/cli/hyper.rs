//! Hyper-parameters from the reference's `--cnn key=value+...` string and the flags that
//! override it.
//!
//! A `--cnn` string of the reference mixes training settings with the architecture. drg-rs takes
//! the training settings from it at run time (`lr`, `batchsize`, `loss_function`, `keepmodel`,
//! ...: [`TRAINING_KEYS`]) and compares every architecture key (`num_kernels=300`,
//! `dilations=[1,2,4]`, ...) with the compiled model ([`CnnString::check_architecture`]): one
//! that agrees is accepted, one that disagrees is an error naming the declaration's text to
//! change, and a key that is neither is an error too. Nothing is silently ignored. A string that
//! gives `num_kernels` describes the whole network, as the reference reads it: a key it leaves
//! out means the reference constructor's default ([`super::constructor_defaults`]), and the
//! model must agree with that too.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use crate::model::{ModelSpec, ReferenceKey};
use crate::train::loss::LossKind;

/// `key=value` pairs of a `--cnn` string (split on `+`, each on its first `=` or `:`), as the
/// reference parses them (`docs/dsl.md`, "From the reference's `--cnn` keys"); values stay text
/// until a key asks for a type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CnnString(pub BTreeMap<String, String>);

/// The training settings a model binary takes from `--cnn` (flags of the same name override
/// them). `init_adjust` is accepted as `False`, the reference's default and the use cases'
/// setting; `True` (restart with a quarter of the learning rate when the loss rises) is refused.
pub const TRAINING_KEYS: &[&str] = &[
    "lr",
    "batchsize",
    "patience",
    "seed",
    "epochs",
    "optimizer",
    "optim_params",
    "optim_weight_decay",
    "warm_up_epochs",
    "finetuning_patience",
    "finetuning_rounds",
    "finetuning_rate",
    "device",
    "keepmodel",
    "init_adjust",
    "loss_function",
    "validation_loss",
    "loss_weights",
];

impl CnnString {
    /// Splits the string; keys are checked later, against the chosen model
    /// ([`Self::check_architecture`]).
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        for item in s.split('+').filter(|i| !i.trim().is_empty()) {
            let (k, v) =
                item.split_once('=').or_else(|| item.split_once(':')).with_context(|| format!("--cnn: '{item}' is not key=value"))?;
            let k = k.trim();
            if map.insert(k.to_string(), v.trim().to_string()).is_some() {
                bail!("--cnn: key '{k}' is given twice");
            }
        }
        Ok(Self(map))
    }

    /// The value of `key` parsed as `T`, if present.
    pub fn get<T: std::str::FromStr>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => {
                v.parse::<T>().map(Some).map_err(|_| anyhow::anyhow!("--cnn: {key}={v} is not a valid {}", std::any::type_name::<T>()))
            }
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A Python-style boolean (`True`, `False`, any case, or 1/0), if present.
    pub fn flag(&self, key: &str) -> anyhow::Result<Option<bool>> {
        self.text(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => bail!("--cnn: {key}={v} is not True or False"),
            })
            .transpose()
    }

    /// Checks every key that is not a training setting against the model `spec` was compiled
    /// as: equal values pass, anything else is one error naming the key, both values and the
    /// `drg_model!` text that sets it. When the string gives `num_kernels` (it describes the
    /// network), every key of the model that it leaves out must agree with the reference
    /// constructor's default, which is what the reference would build.
    pub fn check_architecture(&self, spec: &ModelSpec) -> anyhow::Result<()> {
        let size = if spec.variant.is_empty() { String::new() } else { format!(" size {}", spec.variant) };
        for (key, given) in &self.0 {
            if TRAINING_KEYS.contains(&key.as_str()) {
                continue;
            }
            let Some(declared) = spec.hyper.iter().find(|k| k.key == key) else {
                let arch: Vec<&str> = spec.hyper.iter().map(|k| k.key).collect();
                bail!(
                    "--cnn: '{key}' is neither a training setting ({}) nor one of the reference's keys that {}{size} is declared with ({}); drg_model! does not have it yet (docs/dsl.md lists the keys it maps)",
                    TRAINING_KEYS.join(", "),
                    spec.name,
                    arch.join(", ")
                );
            };
            if !agrees(key, given, declared, spec) {
                bail!(
                    "--cnn: {key}={given} disagrees with {}{size}, which has {key}={}: that is {} in its drg_model! declaration; change it there (or the `sizes` line that sets it) and rebuild, or pick a size whose value agrees (--size)",
                    spec.name,
                    declared.value,
                    declared.dsl
                );
            }
        }
        if self.0.contains_key("num_kernels") {
            for declared in spec.hyper.iter().filter(|k| !self.0.contains_key(k.key)) {
                let Some(default) = super::constructor_defaults::default_of(declared.key, &|k| self.text(k)) else { continue };
                if !agrees(declared.key, &default, declared, spec) {
                    let key = declared.key;
                    bail!(
                        "--cnn: {key} is not given, so the reference builds its default {key}={default}, but {}{size} has {key}={}: that is {} in its drg_model! declaration; add {key}={} to --cnn (the string gives num_kernels, so it describes the whole network) or change the declaration and rebuild",
                        spec.name,
                        declared.value,
                        declared.dsl,
                        declared.value
                    );
                }
            }
        }
        if self.flag("init_adjust")? == Some(true) {
            bail!("--cnn: init_adjust=True (restart from the initial weights with a quarter of the learning rate when the training loss rises) is not implemented in drg-rs; the reference's default and the use cases' setting is init_adjust=False");
        }
        Ok(())
    }

    /// `loss_function=` as one training loss per output of `spec`: a single name applies to
    /// every output, a list (`['MSE','Correlationdata']`, the reference's form for several
    /// outputs) gives each output's own.
    pub fn losses(&self, spec: &ModelSpec) -> anyhow::Result<Option<Vec<LossKind>>> {
        let Some(v) = self.text("loss_function") else { return Ok(None) };
        let parse = |s: &str| unquote(s).parse::<LossKind>().map_err(|e| anyhow::anyhow!("--cnn: loss_function: {e}"));
        let losses = match per_output_items("loss_function", v, spec)? {
            None => vec![parse(v)?; spec.outputs.len()],
            Some(items) => items.iter().map(|s| parse(s)).collect::<anyhow::Result<Vec<_>>>()?,
        };
        if let Some(i) = losses.iter().position(|l| !l.counts()) {
            bail!(
                "--cnn: loss_function={v}: output {} would have no training loss ('None' is only a validation loss)",
                spec.outputs[i].name
            );
        }
        Ok(Some(losses))
    }

    /// `validation_loss=` as one loss per output of `spec`: a single name applies to every
    /// output the declaration validates (the others stay `None`); a list (`['Correlationdata',
    /// 'None','None']`, the reference's form for several outputs) gives each output's.
    pub fn validation_losses(&self, spec: &ModelSpec) -> anyhow::Result<Option<Vec<LossKind>>> {
        let Some(v) = self.text("validation_loss") else { return Ok(None) };
        let parse = |s: &str| unquote(s).parse::<LossKind>().map_err(|e| anyhow::anyhow!("--cnn: validation_loss: {e}"));
        let losses = match per_output_items("validation_loss", v, spec)? {
            None => {
                let l = parse(v)?;
                spec.outputs.iter().map(|o| if o.validation.counts() { l } else { LossKind::None }).collect()
            }
            Some(items) => items.iter().map(|s| parse(s)).collect::<anyhow::Result<Vec<_>>>()?,
        };
        Ok(Some(losses))
    }

    /// `loss_weights=` (the reference's weight of each output's training loss, default 1): one
    /// number for every output or a list with one per output; each must be finite and ≥ 0.
    pub fn loss_weights(&self, spec: &ModelSpec) -> anyhow::Result<Option<Vec<f32>>> {
        let Some(v) = self.text("loss_weights") else { return Ok(None) };
        let parse = |s: &str| -> anyhow::Result<f32> {
            match unquote(s).parse::<f32>() {
                Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
                _ => bail!("--cnn: loss_weights={v}: '{s}' is not a number ≥ 0"),
            }
        };
        let weights = match per_output_items("loss_weights", v, spec)? {
            None => vec![parse(v)?; spec.outputs.len()],
            Some(items) => items.iter().map(|s| parse(s)).collect::<anyhow::Result<Vec<_>>>()?,
        };
        Ok(Some(weights))
    }
}

/// The items of a list value of `key` (`None` for a scalar), which must have one item per
/// output of `spec`.
fn per_output_items(key: &str, v: &str, spec: &ModelSpec) -> anyhow::Result<Option<Vec<String>>> {
    let Some(items) = list_items(v) else { return Ok(None) };
    if items.len() != spec.outputs.len() {
        bail!(
            "--cnn: {key}={v} lists {} values, model {} has {} outputs ({})",
            items.len(),
            spec.name,
            spec.outputs.len(),
            spec.outputs.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Some(items))
}

/// `'x'` or `"x"` without its quotes.
fn unquote(s: &str) -> &str {
    s.trim().trim_matches(|c| c == '\'' || c == '"')
}

/// The items of a flat list `[a, b, c]`, or `None` for a scalar.
fn list_items(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect())
}

/// A value in canonical form for comparison: no spaces or quotes, lower case, numbers as `f64`
/// (`1.80` = `1.8`, `300` = `300.0`), Python's booleans as `true`/`false`.
fn canonical(v: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            let t = token.to_ascii_lowercase();
            match t.parse::<f64>() {
                Ok(x) => out.push_str(&format!("{x:?}")),
                Err(_) => out.push_str(&t),
            }
            token.clear();
        }
    };
    for ch in v.chars() {
        match ch {
            '[' | ']' | '(' | ')' | ',' => {
                flush(&mut token, &mut out);
                out.push(if ch == '(' {
                    '['
                } else if ch == ')' {
                    ']'
                } else {
                    ch
                });
            }
            c if c.is_whitespace() || c == '\'' || c == '"' => {}
            c => token.push(c),
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether the value a user gave for `key` means what the declaration has. Besides spelling,
/// `dropout=0` (the reference's default: each dropout is its own key's) and three of the
/// reference's shorthands are understood: `input_to_combinefunc=ALL` (every output
/// reads every input), one `outclass` for every output, and one number for every entry of
/// `dilations` (`dilations=1`, its default).
fn agrees(key: &str, given: &str, declared: &ReferenceKey, spec: &ModelSpec) -> bool {
    let (g, d) = (canonical(given), canonical(declared.value));
    if g == d {
        return true;
    }
    match key {
        // The reference's global `dropout=0` defers to the individual dropout keys.
        "dropout" if g == canonical("0") => true,
        "dilations" if list_items(given).is_none() => {
            list_items(declared.value).is_some_and(|items| items.iter().all(|i| canonical(i) == g))
        }
        "input_to_combinefunc" if g == "all" => {
            let every = format!("[{}]", (0..spec.inputs.len()).map(|i| format!("{:?}", i as f64)).collect::<Vec<_>>().join(","));
            d == format!("[{}]", vec![every; spec.outputs.len()].join(","))
        }
        "outclass" => {
            let expand = |v: &str| match list_items(v) {
                Some(items) => items.iter().map(|i| canonical(i)).collect::<Vec<_>>(),
                None => vec![canonical(v); spec.outputs.len()],
            };
            expand(given) == expand(declared.value)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InputSpec, OutputSpec, ParameterCount};

    const KEYS: &[ReferenceKey] = &[
        ReferenceKey { key: "num_kernels", value: "64", dsl: "the filters of the trunk's first `conv(64, 15)`" },
        ReferenceKey { key: "dilations", value: "[1,2,4]", dsl: "`dilations = [..]` of `dilated(..)`" },
        ReferenceKey { key: "conv_batch_norm", value: "True", dsl: "`batchnorm = true` of `dilated(..)`" },
        ReferenceKey { key: "dim_distattention", value: "1.8", dsl: "`dim = 1.8` of `attention(..)`" },
        ReferenceKey { key: "input_to_combinefunc", value: "[[0,1],[0,1]]", dsl: "the trunks each output names" },
        ReferenceKey { key: "outclass", value: "['difference','direct']", dsl: "each output's combinator" },
        ReferenceKey { key: "dropout", value: "0.2", dsl: "`dropout = 0.2` on every conv stack and `fc`" },
    ];
    const INPUTS: &[InputSpec] = &[
        InputSpec { name: "dna", channels: 4, length: 2000, reverse_complement: true },
        InputSpec { name: "rna", channels: 4, length: 2000, reverse_complement: false },
    ];
    const OUTPUTS: &[OutputSpec] = &[
        OutputSpec { name: "ex", width: None, validation: LossKind::Correlationdata, loss: LossKind::Correlationmse },
        OutputSpec { name: "kd", width: None, validation: LossKind::None, loss: LossKind::Correlationmse },
    ];
    const SPEC: ModelSpec = ModelSpec {
        name: "ModelD",
        variant: "demo",
        inputs: INPUTS,
        outputs: OUTPUTS,
        loss: LossKind::Correlationmse,
        hyper: KEYS,
        parameters: ParameterCount { fixed: 0, per_track: &[0, 0] },
        equal_widths: &[],
    };

    #[test]
    fn parses_the_reference_form() {
        let c = CnnString::parse("lr=0.00001+optimizer=SGD+optim_params=0.9+device=cuda:0+batchsize=8+keepmodel=True").unwrap();
        assert_eq!(c.get::<f64>("lr").unwrap(), Some(1e-5));
        assert_eq!(c.text("device"), Some("cuda:0"));
        assert_eq!(c.get::<usize>("batchsize").unwrap(), Some(8));
        assert_eq!(c.get::<usize>("patience").unwrap(), None);
        assert_eq!(c.flag("keepmodel").unwrap(), Some(true));
        let e = CnnString::parse("lr=fast").unwrap().get::<f64>("lr").unwrap_err().to_string();
        assert!(e.contains("lr=fast"), "{e}");
        assert!(CnnString::parse("lr=1+lr=2").unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn architecture_keys_agree_in_any_spelling() {
        let c = CnnString::parse("num_kernels=64+dilations=[1, 2, 4]+conv_batch_norm=true+dim_distattention=1.80+input_to_combinefunc=ALL+outclass=['difference', 'direct']+init_adjust=False").unwrap();
        c.check_architecture(&SPEC).unwrap();
        // a scalar outclass means every output
        let c = CnnString::parse("outclass=Linear").unwrap();
        assert!(c.check_architecture(&SPEC).is_err());
        // the global dropout: its value, or 0 (each dropout is then its own key's)
        for ok in ["dropout=0.2", "dropout=0", "dropout=0.0"] {
            CnnString::parse(ok).unwrap().check_architecture(&SPEC).unwrap();
        }
        assert!(CnnString::parse("dropout=0.1").unwrap().check_architecture(&SPEC).is_err());
    }

    /// A string with `num_kernels` describes the network: a key it leaves out is the reference
    /// constructor's default, which the model must have (`conv_batch_norm=False`,
    /// `dim_distattention=2.5`, `dilations=1`); without `num_kernels` it says nothing about them.
    #[test]
    fn an_omitted_key_is_the_constructors_default_when_the_string_describes_the_network() {
        let given = "dilations=[1,2,4]+dim_distattention=1.8+input_to_combinefunc=ALL+outclass=['difference','direct']";
        CnnString::parse(given).unwrap().check_architecture(&SPEC).unwrap();
        CnnString::parse(&format!("num_kernels=64+conv_batch_norm=True+{given}")).unwrap().check_architecture(&SPEC).unwrap();
        let e = CnnString::parse(&format!("num_kernels=64+{given}")).unwrap().check_architecture(&SPEC).unwrap_err().to_string();
        assert_eq!(
            e,
            "--cnn: conv_batch_norm is not given, so the reference builds its default conv_batch_norm=False, but ModelD size demo has conv_batch_norm=True: that is `batchnorm = true` of `dilated(..)` in its drg_model! declaration; add conv_batch_norm=True to --cnn (the string gives num_kernels, so it describes the whole network) or change the declaration and rebuild"
        );
        let e = CnnString::parse(
            "num_kernels=64+conv_batch_norm=True+dilations=[1,2,4]+input_to_combinefunc=ALL+outclass=['difference','direct']",
        )
        .unwrap()
        .check_architecture(&SPEC)
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("--cnn: dim_distattention is not given, so the reference builds its default dim_distattention=2.5,"), "{e}");
        // `dilations=1` (the default) is every layer's dilation 1
        let ones = ReferenceKey { key: "dilations", value: "[1,1]", dsl: "`dilations = [..]` of `dilated(..)`" };
        assert!(agrees("dilations", "1", &ones, &SPEC) && !agrees("dilations", "2", &ones, &SPEC));
        assert!(!agrees("dilations", "1", &KEYS[1], &SPEC));
    }

    /// `pooling_steps` (`maxpool(4, step = 3)`): compared as given; left out of a string that
    /// describes the network, it is the string's `pooling_size` (and `pooling_size` the string's
    /// `pooling_steps`), as in the reference's `cnn.__init__`.
    #[test]
    fn pooling_steps_default_to_the_pooling_size() {
        const POOL_KEYS: &[ReferenceKey] = &[
            ReferenceKey { key: "num_kernels", value: "64", dsl: "the filters of the trunk's first `conv(64, 15)`" },
            ReferenceKey { key: "pooling_size", value: "4", dsl: "the size of `maxpool(4, step = 3)` after the first conv" },
            ReferenceKey { key: "pooling_steps", value: "3", dsl: "the step of `maxpool(4, step = 3)` after the first conv" },
        ];
        let spec = ModelSpec { hyper: POOL_KEYS, ..SPEC };
        let check = |s: &str| CnnString::parse(s).unwrap().check_architecture(&spec);
        check("num_kernels=64+pooling_size=4+pooling_steps=3").unwrap();
        check("pooling_steps=3").unwrap();
        check("pooling_size=4").unwrap();
        let e = check("pooling_steps=2").unwrap_err().to_string();
        assert!(e.starts_with("--cnn: pooling_steps=2 disagrees with ModelD size demo, which has pooling_steps=3: that is the step of `maxpool(4, step = 3)`"), "{e}");
        let e = check("num_kernels=64+pooling_size=4").unwrap_err().to_string();
        assert!(e.starts_with("--cnn: pooling_steps is not given, so the reference builds its default pooling_steps=4, but ModelD size demo has pooling_steps=3"), "{e}");
        let e = check("num_kernels=64+pooling_steps=3").unwrap_err().to_string();
        assert!(e.starts_with("--cnn: pooling_size is not given, so the reference builds its default pooling_size=3, but ModelD size demo has pooling_size=4"), "{e}");
        // neither given: the whole sequence, which drg-rs does not compare
        check("num_kernels=64").unwrap();
    }

    #[test]
    fn a_disagreeing_key_names_the_declaration() {
        let e = CnnString::parse("num_kernels=300").unwrap().check_architecture(&SPEC).unwrap_err().to_string();
        assert_eq!(
            e,
            "--cnn: num_kernels=300 disagrees with ModelD size demo, which has num_kernels=64: that is the filters of the trunk's first `conv(64, 15)` in its drg_model! declaration; change it there (or the `sizes` line that sets it) and rebuild, or pick a size whose value agrees (--size)"
        );
        let e = CnnString::parse("dilations=[1,2]").unwrap().check_architecture(&SPEC).unwrap_err().to_string();
        assert!(e.contains("dilations=[1,2] disagrees") && e.contains("`dilations = [..]` of `dilated(..)`"), "{e}");
        let e = CnnString::parse("kernel_thresholding=0.5").unwrap().check_architecture(&SPEC).unwrap_err().to_string();
        assert!(e.starts_with("--cnn: 'kernel_thresholding' is neither a training setting"), "{e}");
        let e = CnnString::parse("init_adjust=True").unwrap().check_architecture(&SPEC).unwrap_err().to_string();
        assert!(e.contains("init_adjust=True") && e.contains("not implemented"), "{e}");
    }

    #[test]
    fn losses_switch_at_run_time() {
        let c = CnnString::parse("loss_function=MSE+validation_loss=Correlationmse").unwrap();
        assert_eq!(c.losses(&SPEC).unwrap(), Some(vec![LossKind::Mse; 2]));
        // a single validation loss applies to the outputs the declaration validates
        assert_eq!(c.validation_losses(&SPEC).unwrap(), Some(vec![LossKind::Correlationmse, LossKind::None]));
        let c = CnnString::parse("validation_loss=['Correlationdata','Correlationdata']").unwrap();
        assert_eq!(c.validation_losses(&SPEC).unwrap(), Some(vec![LossKind::Correlationdata; 2]));
        let c = CnnString::parse("validation_loss=['Correlationdata','None','None']").unwrap();
        assert!(c.validation_losses(&SPEC).unwrap_err().to_string().contains("lists 3 values, model ModelD has 2 outputs (ex, kd)"));
        let e = CnnString::parse("loss_function=Poisson").unwrap().losses(&SPEC).unwrap_err().to_string();
        assert!(e.starts_with("--cnn: loss_function: unknown loss 'Poisson': expected one of MSE, L1Loss, PoissonNNL,"), "{e}");
        // every loss of the reference's list, by its own name
        let c = CnnString::parse("loss_function=PoissonNNL+validation_loss=['Cosineclass','MSECorrelation']").unwrap();
        assert_eq!(c.losses(&SPEC).unwrap(), Some(vec![LossKind::PoissonNnl; 2]));
        assert_eq!(c.validation_losses(&SPEC).unwrap(), Some(vec![LossKind::Cosineclass, LossKind::MseCorrelation]));
    }

    #[test]
    fn a_training_loss_and_weight_per_output() {
        let c = CnnString::parse("loss_function=['MSE', 'Correlationdata']+loss_weights=[1, 0.5]").unwrap();
        assert_eq!(c.losses(&SPEC).unwrap(), Some(vec![LossKind::Mse, LossKind::Correlationdata]));
        assert_eq!(c.loss_weights(&SPEC).unwrap(), Some(vec![1.0, 0.5]));
        c.check_architecture(&SPEC).unwrap();
        assert_eq!(CnnString::parse("loss_weights=2").unwrap().loss_weights(&SPEC).unwrap(), Some(vec![2.0; 2]));
        assert_eq!(CnnString::parse("lr=1").unwrap().loss_weights(&SPEC).unwrap(), None);
        let e = CnnString::parse("loss_function=['MSE','Correlationdata','MSE']").unwrap().losses(&SPEC).unwrap_err().to_string();
        assert_eq!(e, "--cnn: loss_function=['MSE','Correlationdata','MSE'] lists 3 values, model ModelD has 2 outputs (ex, kd)");
        let e = CnnString::parse("loss_function=['MSE','Pearson']").unwrap().losses(&SPEC).unwrap_err().to_string();
        assert!(e.starts_with("--cnn: loss_function: unknown loss 'Pearson': expected one of MSE,"), "{e}");
        let e = CnnString::parse("loss_function=['MSE','None']").unwrap().losses(&SPEC).unwrap_err().to_string();
        assert!(e.contains("output kd would have no training loss"), "{e}");
        let e = CnnString::parse("loss_weights=[1,-2]").unwrap().loss_weights(&SPEC).unwrap_err().to_string();
        assert_eq!(e, "--cnn: loss_weights=[1,-2]: '-2' is not a number ≥ 0");
        let e = CnnString::parse("loss_weights=[1]").unwrap().loss_weights(&SPEC).unwrap_err().to_string();
        assert!(e.contains("lists 1 values, model ModelD has 2 outputs"), "{e}");
    }
}
