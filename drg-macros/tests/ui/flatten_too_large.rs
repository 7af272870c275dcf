drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 100_000_000);
        trunk x: conv(300, 15) >> flatten >> linear(10);
        output y[6] = head(x);
    }
}

fn main() {}
