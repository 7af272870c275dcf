drg_macros::drg_model! {
    /// Fits the long model, not the short one.
    let stem = conv(8, 3) >> wpool(4) >> wpool(6);

    pub struct Long {
        input x: onehot(4, 100);
        trunk x: stem >> flatten;
        output y[6] = head(x);
    }

    pub struct Short {
        input x: onehot(4, 12);
        trunk x: stem >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
