//! Use case F2: only expression sees both embeddings (the reference's 30,672,508 parameters).
drg_macros::drg_model! {
    pub struct ModelF2 {
        input dna: onehot(4, 40_000), reverse_complement;
        input rna: onehot(4, 40_000);
        trunk dna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        trunk rna: same as dna;
        output ex[88] = mlp(dna, rna, layers = 2);
        output kd[88] = mlp(rna, layers = 2), validation = none;
        output kt[88] = mlp(dna, layers = 2), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_f2_default::PARAMETER_COUNT == 30_672_508);

fn main() {}
