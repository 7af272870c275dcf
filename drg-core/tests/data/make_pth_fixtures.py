"""Writes the small PyTorch files that test drg-core's `.pth` reader (provenance of tests/data).

Run with any PyTorch >= 1.6 (these were written by torch 2.15.0, CPU):

    python make_pth_fixtures.py

Outputs, all next to this script:

* `ref_state.pth`: `torch.save(module.state_dict())` of a small module whose submodules carry
  the reference's names (`convolutions.conv1d`, `convolution_layers.convlayers.Bnorm0`,
  `nfcs.nfcs.EmbeddtoFully`), i.e. exactly what the reference writes to `_parameter.pth`
  (OrderedDict with `_metadata`, BatchNorm `num_batches_tracked` as int64), in the default
  zip format (`_use_new_zipfile_serialization=True`).
* `views.pth`: an OrderedDict of tensors that exercise the storage layer: a transposed
  (non-contiguous) tensor, a slice with a storage offset sharing its storage with another entry,
  float64, float16, bfloat16, int64, bool and 0-d tensors.
* `legacy.pth`: `views.pth`'s first entry (a transposed view) in the pre-1.6 format
  (`_use_new_zipfile_serialization=False`).
* `pth_expected.npz`: every entry of `ref_state.pth` and `views.pth` (keys prefixed `ref/` and
  `views/`) as contiguous numpy arrays in their own dtype (float16 and bfloat16 as float32): the values the
  reader must produce.
"""
import collections
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


class Convolution(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1d = torch.nn.Conv1d(4, 3, 5)


class ConvLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convlayers = torch.nn.ModuleDict({"Bnorm0": torch.nn.BatchNorm1d(3)})


class Nfcs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.nfcs = torch.nn.ModuleDict({"EmbeddtoFully": torch.nn.Linear(6, 2)})


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convolutions = Convolution()
        self.convolution_layers = ConvLayers()
        self.nfcs = Nfcs()


def main():
    torch.manual_seed(7)
    model = Small()
    bn = model.convolution_layers.convlayers["Bnorm0"]
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.4, 1.6)
        bn.num_batches_tracked.fill_(7)
    ref = model.state_dict()
    torch.save(ref, os.path.join(HERE, "ref_state.pth"))

    base = torch.arange(20, dtype=torch.float32).reshape(4, 5) / 8.0 - 1.0
    views = collections.OrderedDict()
    views["transposed"] = base.t()  # shape (5, 4), strides (1, 5)
    views["offset_slice"] = base[1:3, 2:]  # storage offset 7, strides (5, 1), shares `base`'s storage
    views["double"] = torch.linspace(-2.0, 2.0, 6, dtype=torch.float64).reshape(2, 3) / 3.0
    views["half"] = torch.tensor([0.5, -1.25, 65504.0, 6.1e-5, 0.0, -0.0], dtype=torch.float16)
    views["bfloat16"] = torch.tensor([1.0, -3.5, 1e30, 2.0**-130], dtype=torch.bfloat16)
    views["long"] = torch.tensor([3, -4, 5], dtype=torch.int64)
    views["flags"] = torch.tensor([True, False, True])
    views["scalar"] = torch.tensor(2.5)
    torch.save(views, os.path.join(HERE, "views.pth"))
    torch.save(
        collections.OrderedDict(transposed=views["transposed"]),
        os.path.join(HERE, "legacy.pth"),
        _use_new_zipfile_serialization=False,
    )

    expected = {}
    for prefix, sd in (("ref/", ref), ("views/", views)):
        for key, t in sd.items():
            # drg-rs's .npz reader does not read float16 (and numpy has no bfloat16); their
            # values are exact in float32, so the expected values are stored as float32.
            if t.dtype in (torch.float16, torch.bfloat16):
                t = t.float()
            expected[prefix + key] = t.contiguous().numpy()
    np.savez(os.path.join(HERE, "pth_expected.npz"), **expected)


if __name__ == "__main__":
    main()
