drg_macros::drg_model! {
    pub struct Count {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(5) >> dilated(k = 5, dilations = [1, 2, 4], strides = [2, 2]) >> flatten;
        output y[6] = head(x);
    }

    pub struct AttentionDropout {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(5) >> attention(heads = 2, dim = 1.5, dropout = 1.5) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
