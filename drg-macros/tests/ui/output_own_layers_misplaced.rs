drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 700);
        trunk x: conv(8, 7) >> gelu >> maxpool(5) >> flatten >> linear(16);
        output y[5] = head(x >> fc(2));
        output z[3] = head(x), validation = none;
    }
}

fn main() {}
