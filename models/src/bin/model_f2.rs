//! `cargo run --release --bin model_f2 -- --help`: trains [`drg_models::ModelF2`] (on the built-in
//! simulated dataset when no files are given).

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<drg_models::ModelF2>()
}
