drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 1000);
        trunk x: conv(8, 2.5, bias = 1) >> wpool(4, 2) >> dilated(dilations = 3) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
