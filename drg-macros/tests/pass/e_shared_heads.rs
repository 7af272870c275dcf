//! Use case E: one shared head per trunk (the reference's 26,159,448 parameters).
drg_macros::drg_model! {
    pub struct ModelE {
        input dna: onehot(4, 40_000), reverse_complement;
        input rna: onehot(4, 40_000);
        trunk dna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        trunk rna: same as dna;
        output ex[88] = difference(dna, rna, shared);
        output kd[88] = direct(rna, shared), validation = none;
        output kt[88] = direct(dna, shared), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_e_default::PARAMETER_COUNT == 26_159_448);

fn main() {}
