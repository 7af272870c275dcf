//! Use case C: two trunks, one output through a 3-layer combiner (the reference's 30,696,048 parameters).
drg_macros::drg_model! {
    pub struct ModelC {
        input dna: onehot(4, 40_000), reverse_complement;
        input rna: onehot(4, 40_000);
        trunk dna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                 >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        trunk rna: same as dna;
        output ex[88] = mlp(dna, rna, layers = 3, embed = 512, act = gelu);
        loss correlation_mse;
        validation correlation;
    }
}

const _: () = assert!(model_c_default::PARAMETER_COUNT == 30_696_048);
const _: () = assert!(model_c_default::DNA_FEATURES == 1024 && model_c_default::RNA_FEATURES == 1024);

fn main() {}
