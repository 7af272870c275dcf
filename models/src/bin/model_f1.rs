//! `cargo run --release --bin model_f1 -- --help`: trains [`drg_models::ModelF1`] (on the built-in
//! simulated dataset when no files are given).

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<drg_models::ModelF1>()
}
