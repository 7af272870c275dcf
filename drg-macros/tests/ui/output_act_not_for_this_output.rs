drg_macros::drg_model! {
    pub struct Shared {
        input dna: onehot(4, 200);
        input rna: onehot(4, 200);
        trunk dna: conv(8, 7) >> gelu >> maxpool(4) >> flatten;
        trunk rna: same as dna;
        output ex[4] = difference(dna, rna, shared), act = squared;
        output kd[4] = direct(rna, shared), validation = none, act = softmax;
    }

    pub struct One {
        input dna: onehot(4, 200);
        input rna: onehot(4, 200);
        trunk dna: conv(8, 7) >> gelu >> maxpool(4) >> flatten;
        trunk rna: same as dna;
        output ex[4] = difference(dna, rna), act = third;
    }

    pub struct Unknown {
        input dna: onehot(4, 200);
        trunk dna: conv(8, 7) >> gelu >> maxpool(4) >> flatten;
        output ex[4] = head(dna), act = cube;
    }
}

fn main() {}
