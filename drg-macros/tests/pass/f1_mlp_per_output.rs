//! Use case F1: every output combines both embeddings (the reference's 34,223,842 parameters).
drg_macros::drg_model! {
    pub struct ModelF1 {
        input dna: onehot(4, 40_000), reverse_complement;
        input rna: onehot(4, 40_000);
        trunk dna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        trunk rna: same as dna;
        output ex[88] = mlp(dna, rna, layers = 2);
        output kd[88] = mlp(dna, rna, layers = 2), validation = none;
        output kt[88] = mlp(dna, rna, layers = 2), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_f1_default::PARAMETER_COUNT == 34_223_842);

fn main() {}
