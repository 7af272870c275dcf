//! `cargo run --release --bin model_a_attention -- --help`: trains [`drg_models::ModelAAttention`] (on the built-in
//! simulated dataset when no files are given).

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<drg_models::ModelAAttention>()
}
