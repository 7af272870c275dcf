//! `cargo run --release --bin model_c -- --help`: trains [`drg_models::ModelC`] (on the built-in
//! simulated dataset when no files are given).

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<drg_models::ModelC>()
}
