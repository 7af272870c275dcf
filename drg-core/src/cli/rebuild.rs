//! How a user rebuilds a model binary with a new size variant: which file declares the model,
//! and the one command that rebuilds and reruns it with the same arguments.
//!
//! Input lengths are compile-time (every size variant is its own type), so data of a new length
//! needs a line in the declaration and a rebuild; the no-fit error ([`super::select`]) says
//! exactly where and how, from what the running process knows about itself.

use std::path::{Path, PathBuf};

/// Where the declaration to extend lives and how to rerun, for the no-fit error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuild {
    /// The file that declares the model (`models/src/lib.rs`), when it can be found; the error
    /// then names it, else "the `drg_model!` declaration of ModelD".
    pub file: Option<String>,
    /// `cargo run --release --bin model_d -- <the arguments as given>`.
    pub command: String,
}

impl Rebuild {
    /// What this process can tell about itself: its binary's name and arguments, and, when it
    /// runs under `cargo run` (which sets `CARGO_MANIFEST_DIR` to the binary's package), the
    /// source file of that package that declares `model`.
    pub fn of_this_process(model: &str) -> Self {
        let mut args = std::env::args();
        let bin = args
            .next()
            .and_then(|a| Path::new(&a).file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "<binary>".to_string());
        let args: Vec<String> = args.collect();
        let file = std::env::var_os("CARGO_MANIFEST_DIR")
            .and_then(|dir| declaring_file(&PathBuf::from(dir).join("src"), model))
            .map(|f| display_path(&f));
        Rebuild { file, command: command(&bin, &args, cfg!(feature = "cuda")) }
    }

    /// `in models/src/lib.rs` or `of ModelD` (where no file is known).
    pub fn declaration(&self, model: &str) -> String {
        match &self.file {
            Some(f) => format!("the `drg_model!` declaration of {model} in {f}"),
            None => format!("the `drg_model!` declaration of {model}"),
        }
    }
}

/// The cargo command that rebuilds binary `bin` (with CUDA when this build has it) and runs it
/// with `args`, each quoted for a POSIX shell where needed.
pub fn command(bin: &str, args: &[String], cuda: bool) -> String {
    let features = if cuda { " --features cuda" } else { "" };
    let mut line = format!("cargo run --release{features} --bin {bin}");
    if !args.is_empty() {
        line.push_str(" --");
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
    }
    line
}

/// `a` as a POSIX shell word: unchanged when it has only safe characters, else single-quoted.
fn shell_quote(a: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !a.is_empty() && a.chars().all(safe) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// The first `.rs` file under `dir` (sorted, recursively) that invokes `drg_model!` and declares
/// `struct {model}`.
fn declaring_file(dir: &Path, model: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if let Some(found) = declaring_file(&path, model) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if text.contains("drg_model!") && declares(&text, model) {
                return Some(path);
            }
        }
    }
    None
}

/// Whether `text` has `struct {model}` followed by something that ends the name.
fn declares(text: &str, model: &str) -> bool {
    let needle = format!("struct {model}");
    text.match_indices(&needle).any(|(i, _)| text[i + needle.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
}

/// `path` relative to the current directory when it lies below it (`models/src/lib.rs` from the
/// workspace root), else as it is.
fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_repeats_the_arguments_quoted_for_a_shell() {
        let args: Vec<String> = ["a.npz,b.npz", "out file.tsv", "--cnn", "lr=1e-4+it's"].map(String::from).to_vec();
        assert_eq!(
            command("model_d", &args, false),
            r"cargo run --release --bin model_d -- a.npz,b.npz 'out file.tsv' --cnn 'lr=1e-4+it'\''s'"
        );
        assert_eq!(command("model_d", &[], true), "cargo run --release --features cuda --bin model_d");
    }

    #[test]
    fn finds_the_file_that_declares_the_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/model_d.rs"), "drg_core::cli::main::<ModelD>()").unwrap();
        std::fs::write(dir.path().join("lib.rs"), "drg_model! { pub struct ModelDX { } pub struct ModelD { } }").unwrap();
        assert_eq!(declaring_file(dir.path(), "ModelD"), Some(dir.path().join("lib.rs")));
        assert_eq!(declaring_file(dir.path(), "ModelE"), None);
        assert!(!declares("struct ModelDX {", "ModelD"));
    }
}
