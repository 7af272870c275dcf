drg_macros::drg_model! {
    pub struct M {
        input dna: onehot(4, 100), reverse_complement;
        input rna: onehot(4, 100);
        trunk dna: conv(8, 3) >> flatten;
        trunk rna: same as dna;
        output ex[6] = mlp(dna, rna);
        output kd[6] = direct(rna), validation = none;
    }
}

fn main() {}
