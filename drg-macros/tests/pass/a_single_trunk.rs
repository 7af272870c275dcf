//! Use case A: one RNA input with reverse complement, the reference's basemodel trunk.
drg_macros::drg_model! {
    /// Model A.
    pub struct ModelA {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
        }
        input rna: onehot(4, len), reverse_complement;
        trunk rna: conv(nk, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
        output ex[88] = head(rna);
        loss correlation_mse;
        validation correlation;
    }
}

// Lengths after conv, gelu, wpool, dilated, convblocks; then flat widths.
const _: () = assert!(model_a_full::RNA_LENGTHS[2] == 10_000);
const _: () = assert!(model_a_full::RNA_LENGTHS[4] == 8);
const _: () = assert!(model_a_full::RNA_CHANNELS[5] == 2400);
const _: () = assert!(model_a_full::RNA_FEATURES == 1024);
const _: () = assert!(model_a_full::PARAMETER_COUNT == 12_989_524 + 1025 * 88);
const _: () = assert!(model_a_demo::RNA_LENGTHS[4] == 7);
const _: () = assert!(model_a_demo::RNA_CHANNELS[5] == 64 * 7);
const _: () = assert!(model_a_demo::EX_WIDTH == 88);

fn main() {
    assert_eq!(ModelA::PARAMETER_COUNTS[0].0, "full");
    assert_eq!(ModelA::PARAMETER_COUNTS[0].1.at(&[88]), 12_989_524 + 1025 * 88);
    assert_eq!(ModelA::PARAMETER_COUNTS[1].0, "demo");
}
