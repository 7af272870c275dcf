drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 100), reverse_complement;
        trunk x: gelu >> conv(8, 3) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
