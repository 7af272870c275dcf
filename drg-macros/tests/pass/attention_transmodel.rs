//! The attention variant (transmodel: the reference's 29,168,404 + 1025·n parameters).
drg_macros::drg_model! {
    pub struct ModelAttn {
        sizes {
            full: len = 40_000, n = 88;
            fixture: len = 800, n = 6;
        }
        input rna: onehot(4, len), reverse_complement;
        trunk rna: conv(300, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], wpool = 10, every = 3, batchnorm = true)
                 >> attention(heads = 4, dim = 1.8)
                 >> convblocks(4, k = 11, wpool = 4, batchnorm = true)
                 >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
        output ex[n] = head(rna);
        loss correlation_mse;
        validation correlation;
    }
}

// conv, gelu, wpool, dilated, attention, convblocks, flatten
const _: () = assert!(model_attn_full::RNA_LENGTHS[3] == 1000);
const _: () = assert!(model_attn_full::RNA_CHANNELS[4] == 540);
const _: () = assert!(model_attn_full::RNA_LENGTHS[5] == 4);
const _: () = assert!(model_attn_full::RNA_CHANNELS[6] == 2160);
const _: () = assert!(model_attn_full::PARAMETER_COUNT == 29_168_404 + 1025 * 88);
// 800 → 200 → 20 (WP(10) after layer 3) → attention → one convblocks layer: 20 → 5.
const _: () = assert!(model_attn_fixture::RNA_LENGTHS[5] == 5);

fn main() {}
