//! Use case D: per-output heads in each trunk, unused ones included (the reference's 26,520,248 parameters).
drg_macros::drg_model! {
    /// Model D: ex = DNA head − RNA head, kd from RNA, kt from DNA.
    pub struct ModelD {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: conv(nk, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
        trunk rna: same as dna;
        output ex[88] = difference(dna, rna);
        output kd[88] = direct(rna), validation = none;
        output kt[88] = direct(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_d_full::PARAMETER_COUNT == 26_520_248);
// 100 kb: 25,000 after wpool(4); WP(7): 3572 → 511 → 73 → 11.
const _: () = assert!(model_d_long::DNA_LENGTHS[4] == 11);
const _: () = assert!(model_d_long::DNA_CHANNELS[5] == 300 * 11);

fn main() {
    assert_eq!(ModelD::PARAMETER_COUNTS.len(), 3);
}
