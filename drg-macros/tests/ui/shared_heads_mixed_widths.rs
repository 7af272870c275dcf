drg_macros::drg_model! {
    pub struct M {
        input dna: onehot(4, 1000), reverse_complement;
        input rna: onehot(4, 1000);
        trunk dna: conv(16, 15) >> gelu >> wpool(4) >> convblocks(4, wpool = 3) >> flatten >> linear(64);
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna, shared);
        output kd[8] = direct(rna, shared), validation = none;
    }
}

fn main() {}
