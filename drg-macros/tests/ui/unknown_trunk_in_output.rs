drg_macros::drg_model! {
    pub struct M {
        input dna: onehot(4, 1000), reverse_complement;
        trunk dna: conv(16, 15) >> gelu >> wpool(4) >> dilated(dilations = [1, 2, 4])
                 >> convblocks(4, wpool = 3) >> flatten >> linear(64) >> fc(3);
        output ex[6] = head(dan);
    }
}

fn main() {}
