//! `cargo run --release --bin model_d -- --help`: trains [`drg_models::ModelD`] (on the built-in
//! simulated dataset when no files are given).

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<drg_models::ModelD>()
}
