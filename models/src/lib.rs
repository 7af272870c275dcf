//! The seed models of drg-rs: the reference's use cases A–F and the attention variant
//! (`shared/reference/use-cases.md`), each declared once with `drg_model!` and compiled at four
//! sizes (the attention variant at three: it has no `long`), 31 model items in all:
//!
//! * `full`: 40 kb inputs, 300 kernels, 1024-wide fully connected layers (the reference's
//!   configuration);
//! * `long`: the same at 100 kb (the last pooling is 7 instead of 6);
//! * `demo`: 2 kb inputs, 64 kernels, 256-wide layers, a model that trains on 2 CPU cores in
//!   minutes;
//! * `fixture`: the reduced configuration of the reference's parity fixtures
//!   (`shared/fixtures/*.npz`: 16 kernels, 64-wide layers), so that the very items the
//!   binaries train are checked against the reference implementation (`tests/parity.rs`).
//!
//! Every output is declared `NAME[_]`: its number of tracks (conditions) comes from the data's
//! file when the model is built, so each binary trains on any number of conditions (the
//! reference's 88, the built-in dataset's 21, a user's 20) without a rebuild.
//!
//! The architecture shared by every trunk but the attention variant's is the reference's
//! `basemodel`, declared once as a pipeline (`let basemodel = ..;`, see `docs/dsl.md`):
//! `conv(300, 15) → GELU → weighted pool 4 → 3 dilated residual convs (k 11, dilations 1, 2, 4)
//! → 4 residual conv blocks (k 11) with weighted pooling → flatten → linear(1024) → 3 FC layers`.

use drg_core::drg_model;

drg_model! {
    /// The reference's `basemodel` trunk, shared by every use case but the attention variant.
    let basemodel = conv(nk, 15) >> gelu >> wpool(4)
        >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
        >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
        >> flatten >> linear(fc) >> fc(3, dropout = 0.1);

    /// Model A: expression from the mature RNA alone (reverse complement on).
    pub struct ModelA {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
            fixture: len = 997, nk = 16, fc = 64, tp = 3;
        }
        input rna: onehot(4, len), reverse_complement;
        trunk rna: basemodel;
        output ex[_] = head(rna);
        loss correlation_mse;
        validation correlation;
    }

    /// Model B: one DNA trunk shared by three heads (expression, degradation, transcription);
    /// only expression counts for validation.
    pub struct ModelB {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
            fixture: len = 1_024, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        trunk dna: basemodel;
        output ex[_] = head(dna);
        output kd[_] = head(dna), validation = none;
        output kt[_] = head(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// Model C: DNA and RNA trunks, their 512-wide embeddings concatenated into a 3-layer
    /// fully connected combiner that predicts expression.
    pub struct ModelC {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6, emb = 512;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7, emb = 512;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3, emb = 512;
            fixture: len = 600, nk = 16, fc = 64, tp = 3, emb = 32;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = mlp(dna, rna, layers = 3, embed = emb);
        loss correlation_mse;
        validation correlation;
    }

    /// Model D: expression = DNA head − RNA head (transcription − degradation in log space),
    /// degradation from the RNA trunk, transcription from the DNA trunk; every trunk has its own
    /// linear head per output.
    pub struct ModelD {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
            fixture: len = 560, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna);
        output kd[_] = direct(rna), validation = none;
        output kt[_] = direct(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// Model E: as D, but each trunk has one head shared by all outputs, so predicted expression
    /// is exactly predicted transcription − predicted degradation.
    pub struct ModelE {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
            fixture: len = 560, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna, shared);
        output kd[_] = direct(rna, shared), validation = none;
        output kt[_] = direct(dna, shared), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// Model F1: every output sees both trunk embeddings through its own 2-layer combiner.
    pub struct ModelF1 {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6, emb = 512;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7, emb = 512;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3, emb = 512;
            fixture: len = 520, nk = 16, fc = 64, tp = 3, emb = 32;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = mlp(dna, rna, layers = 2, embed = emb);
        output kd[_] = mlp(dna, rna, layers = 2, embed = emb), validation = none;
        output kt[_] = mlp(dna, rna, layers = 2, embed = emb), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// Model F2: only expression sees both embeddings; degradation reads the RNA embedding and
    /// transcription the DNA embedding, each through its own 2-layer combiner.
    pub struct ModelF2 {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6, emb = 512;
            long: len = 100_000, nk = 300, fc = 1024, tp = 7, emb = 512;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3, emb = 512;
            fixture: len = 520, nk = 16, fc = 64, tp = 3, emb = 32;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = mlp(dna, rna, layers = 2, embed = emb);
        output kd[_] = mlp(rna, layers = 2, embed = emb), validation = none;
        output kt[_] = mlp(dna, layers = 2, embed = emb), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// The attention variant of model A (the reference's `transmodel`): the dilated stack pools
    /// by 10 after its third layer, then one 4-head attention layer (E = 1.8 · channels) precedes
    /// the conv blocks.
    pub struct ModelAAttention {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, dp = 10, heads = 4, dim = 1.8, blocks = 4, tp = 4;
            demo: len = 2_000, nk = 64, fc = 256, dp = 10, heads = 4, dim = 1.8, blocks = 4, tp = 2;
            fixture: len = 800, nk = 16, fc = 64, dp = 5, heads = 2, dim = 1.5, blocks = 2, tp = 4;
        }
        input rna: onehot(4, len), reverse_complement;
        trunk rna: conv(nk, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], wpool = dp, every = 3, batchnorm = true)
                 >> attention(heads = heads, dim = dim)
                 >> convblocks(blocks, k = 11, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
        output ex[_] = head(rna);
        loss correlation_mse;
        validation correlation;
    }
}
