drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 40);
        trunk x: conv(8, 3) >> wpool(4) >> convblocks(2, k = 11) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
