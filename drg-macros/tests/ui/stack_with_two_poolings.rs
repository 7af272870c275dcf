drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(5)
               >> dilated(k = 5, dilations = [1, 1], wpool = 4, maxpool = 4)
               >> convblocks(2, k = 5, act = softplus)
               >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
