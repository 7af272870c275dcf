//! Hyper-parameters from the reference's `--cnn key=value+...` string and the flags that
//! override it.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

/// `key=value` pairs of a `--cnn` string (split on `+`, each on its first `=` or `:`), as the
/// reference parses them (drg-behaviour.md §1.7); values stay text until a key asks for a type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CnnString(pub BTreeMap<String, String>);

/// Keys the model binaries understand; anything else is an error rather than silently ignored
/// (architecture keys belong in the model declaration).
const KNOWN: &[&str] = &[
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
];

impl CnnString {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        for item in s.split('+').filter(|i| !i.is_empty()) {
            let (k, v) = item.split_once('=').or_else(|| item.split_once(':')).with_context(|| format!("--cnn: '{item}' is not key=value"))?;
            let k = k.trim();
            if !KNOWN.contains(&k) {
                bail!("--cnn: unknown or architecture key '{k}' (architecture is part of the model declaration; known keys: {})", KNOWN.join(", "));
            }
            map.insert(k.to_string(), v.trim().to_string());
        }
        Ok(Self(map))
    }

    /// The value of `key` parsed as `T`, if present.
    pub fn get<T: std::str::FromStr>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<T>().map(Some).map_err(|_| anyhow::anyhow!("--cnn: {key}={v} is not a valid {}", std::any::type_name::<T>())),
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_form_and_rejects_unknown_keys() {
        let c = CnnString::parse("lr=0.00001+optimizer=SGD+optim_params=0.9+device=cuda:0+batchsize=8").unwrap();
        assert_eq!(c.get::<f64>("lr").unwrap(), Some(1e-5));
        assert_eq!(c.text("device"), Some("cuda:0"));
        assert_eq!(c.get::<usize>("batchsize").unwrap(), Some(8));
        assert_eq!(c.get::<usize>("patience").unwrap(), None);
        let e = CnnString::parse("num_kernels=300").unwrap_err().to_string();
        assert!(e.contains("num_kernels") && e.contains("model declaration"), "{e}");
        let e = CnnString::parse("lr=fast").unwrap().get::<f64>("lr").unwrap_err().to_string();
        assert!(e.contains("lr=fast"), "{e}");
    }
}
