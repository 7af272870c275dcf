drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gleu >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
