// Every error of a declaration arrives in one compile: an unknown layer, a size parameter missing
// from one variant, two size parameters missing from every variant (one after the unknown layer,
// one after a pooling that fails, where inference never gets), and that pooling in each variant.
drg_macros::drg_model! {
    pub struct M {
        sizes { full: len = 100, nk = 8; demo: len = 50; }
        input x: onehot(4, len);
        input y: onehot(4, len);
        trunk x: conv(nk, 3) >> gelux >> flatten >> linear(fc);
        trunk y: conv(4, 3) >> wpool(200) >> flatten >> linear(fc2);
        output o[2] = difference(x, y);
    }
}

fn main() {}
