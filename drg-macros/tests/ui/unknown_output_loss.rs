drg_macros::drg_model! {
    pub struct M {
        input dna: onehot(4, 1000), reverse_complement;
        trunk dna: conv(16, 15) >> gelu >> wpool(4) >> flatten >> linear(64) >> fc(3);
        output ex[6] = head(dna), loss = mse;
        output kd[6] = head(dna), loss = pearson;
    }
}

fn main() {}
