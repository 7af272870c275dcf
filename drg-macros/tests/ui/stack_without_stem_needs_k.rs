drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 40);
        trunk x: maxpool(2) >> dilated(dilations = [1, 2]) >> conv(8, 3) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
