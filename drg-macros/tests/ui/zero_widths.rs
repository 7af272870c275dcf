drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 100);
        trunk x: conv(0, 3) >> flatten >> linear(0);
        output y[0] = head(x);
    }
}

fn main() {}
