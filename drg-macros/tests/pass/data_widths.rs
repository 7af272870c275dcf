//! Output widths from the data (`ex[_]`): one compiled model, any number of tracks; the
//! parameter count is the trunk part plus (features + 1) per track and head.
use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;

drg_macros::drg_model! {
    pub struct ModelD {
        input dna: onehot(4, 200), reverse_complement;
        input rna: onehot(4, 200);
        trunk dna: conv(8, 9) >> gelu >> wpool(4) >> convblocks(2, k = 5, wpool = 5, batchnorm = true)
                 >> flatten >> linear(16) >> fc(1, dropout = 0.1);
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna);
        output kd[_] = direct(rna), validation = none;
        output kt[3] = direct(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

// Each trunk has one 16 → tracks head per output: 2 · 17 parameters per track of ex and kd;
// kt's fixed heads are in PARAMETER_COUNT.
const _: () = assert!(model_d_default::EX_PARAMETERS_PER_TRACK == 2 * 17);
const _: () = assert!(model_d_default::KD_PARAMETERS_PER_TRACK == 2 * 17);
const _: () = assert!(model_d_default::KT_WIDTH == 3);

fn main() {
    let dev = Cpu::default();
    for widths in [[20, 20, 3], [88, 5, 3]] {
        let mut model = ModelDDefault::new(&dev, &widths);
        assert_eq!(model.output_widths(), widths);
        assert_eq!(model.num_trainable_params(), model_d_default::PARAMETER_COUNT + 2 * 17 * (widths[0] + widths[1]));
        let x = || dev.zeros_like(&(2usize, 4usize, 200usize));
        let out = model.forward(vec![x(), x()], &mut drg_core::layers::Ctx::eval());
        let shapes: Vec<(usize, usize)> = out.iter().map(|o| *o.shape()).collect();
        assert_eq!(shapes, [(2, widths[0]), (2, widths[1]), (2, 3)]);
    }
    let spec = <ModelDDefault as DrgModel<Cpu>>::SPEC;
    assert_eq!(spec.check_widths(&[20, 20, 4]).unwrap_err(), "output 'kt' has 4 tracks, model ModelD declares kt[3]");
}
