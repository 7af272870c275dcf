drg_macros::drg_model! {
    pub struct M {
        input dna: onehot(4, 100), reverse_complement;
        input rna: onehot(4, 100);
        trunk dna: conv(8, 3) >> flatten;
        trunk rna: same as dnaa;
        output y[6] = mlp(dna, rna);
    }
}

fn main() {}
