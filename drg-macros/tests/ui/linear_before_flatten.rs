drg_macros::drg_model! {
    pub struct M {
        input x: onehot(4, 100);
        trunk x: conv(8, 3) >> fc(3) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
