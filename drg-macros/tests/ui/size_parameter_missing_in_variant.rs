drg_macros::drg_model! {
    pub struct M {
        sizes {
            full: len = 40_000, nk = 300, p = 100;
            demo: len = 2_000, p = 3_000;
        }
        input x: onehot(4, len);
        input z: onehot(4, len);
        trunk x: conv(nk, 15) >> flatten;
        trunk z: conv(8, 15) >> wpool(p) >> flatten;
        output y[6] = mlp(x, z);
    }
}

fn main() {}
