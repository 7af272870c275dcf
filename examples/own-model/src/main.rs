//! A model of one's own, in a crate of its own: a DNA trunk and an RNA trunk with different
//! architectures, and one head per trunk shared by the three outputs, so that predicted expression
//! is exactly predicted transcription (DNA) − predicted degradation (RNA).
//!
//! `cargo run --release -- dna.npz,rna.npz expression.tsv,degradation.tsv,transcription.tsv
//! --delimiter '\t' ...` trains it; `--help` lists the options (the reference's vocabulary).

drg_core::drg_model! {
    /// Expression, degradation and transcription from the TSS window (DNA) and the mature
    /// transcript (RNA).
    pub struct OwnModel {
        sizes {
            // The reference's 40 kb windows.
            full: len = 40_000, nk = 256, fc = 512, tp = 6;
            // 2 kb windows, the simulator's default (`drg simulate --length 2000`).
            small: len = 2_000, nk = 32, fc = 128, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        // Promoter and enhancer motifs: a wide receptive field through dilations.
        trunk dna: conv(nk, 15) >> gelu >> wpool(4)
                 >> dilated(k = 9, dilations = [1, 2, 4, 8], batchnorm = true)
                 >> convblocks(3, k = 9, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(2, dropout = 0.1);
        // 3′UTR motifs: shorter kernels, max pooling, no dilations.
        trunk rna: conv(nk, 9) >> gelu >> maxpool(4)
                 >> convblocks(3, k = 7, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(2, dropout = 0.1);
        // `_`: the number of tracks comes from the data at run time.
        output ex[_] = difference(dna, rna, shared);
        output kd[_] = direct(rna, shared), validation = none;
        output kt[_] = direct(dna, shared), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

fn main() -> std::process::ExitCode {
    drg_core::cli::main::<OwnModel>()
}
