drg_macros::drg_model! {
    // 1000 → (1000 − 4)/2 + 1 = 499 windows, but the reference sizes the next layer for 500
    pub struct Overlap {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> maxpool(4, step = 2) >> flatten;
        output y[6] = head(x);
    }

    // q = ⌈(2 − 1000 mod 7)/2⌉ = −2: PyTorch rejects the padding
    pub struct NegativePad {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> meanpool(2, step = 7) >> flatten;
        output y[6] = head(x);
    }

    // the weighted pool ignores its step: 1004/4 = 251 windows, not ⌈1000/3⌉ = 334
    pub struct WeightedStep {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> wpool(4, step = 3) >> flatten;
        output y[6] = head(x);
    }

    pub struct ZeroStep {
        input x: onehot(4, 1000);
        trunk x: conv(8, 3) >> gelu >> wpool(4, step = 0) >> flatten;
        output y[6] = head(x);
    }
}

fn main() {}
