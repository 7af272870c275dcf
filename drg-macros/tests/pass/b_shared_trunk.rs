//! Use case B: one shared DNA trunk, three heads.
drg_macros::drg_model! {
    pub struct ModelB {
        input dna: onehot(4, 40_000), reverse_complement;
        trunk dna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        output ex[88] = head(dna);
        output kd[88] = head(dna), validation = none;
        output kt[88] = head(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_b_default::PARAMETER_COUNT == 12_989_524 + 3 * 1025 * 88);
const _: () = assert!(model_b_default::KT_WIDTH == 88);

fn main() {}
