drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(50) >> flatten >> fc(2, residuals = 3);
        output y[6] = head(x);
    }

    pub struct N {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(50) >> flatten >> linear(32) >> fc(2, residuals = 1);
        output y[6] = head(x);
    }
}

fn main() {}
