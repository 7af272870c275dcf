drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 12);
        trunk x: conv(8, 3) >> wpool(4) >> wpool(6) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
