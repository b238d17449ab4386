"""A GPU request is never quietly served by the CPU."""

from __future__ import annotations

import pytest
import torch

from trainables.runners.devices import cuda_or_fail, cuda_report


def test_a_worker_given_no_gpu_computes_on_the_cpu():
    assert cuda_or_fail([]) == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a usable GPU")
def test_a_worker_given_a_gpu_that_torch_cannot_use_fails_naming_the_node():
    with pytest.raises(RuntimeError, match=r"node [\d.]+: Ray gave this worker GPU\(s\) \[0\] but torch cannot use "
                                           r"CUDA \(torch .+\); it is not run on the CPU"):
        cuda_or_fail([0])
    usable, said = cuda_report()
    assert usable is False and "torch.cuda.is_available() = False" in said
