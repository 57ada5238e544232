"""The compute resource refuses settings it cannot honour with a message naming the setting,
before any work (not a stack trace from deep in torch): counts when it is built, what needs the
machine's device when an asset sets it up."""

import pytest
import torch
from pydantic import ValidationError

from resources import ComputeResource


def test_bf16_on_the_cpu_is_refused():
    with pytest.raises(ValueError, match="compute.precision 'bf16' is for CUDA only"):
        ComputeResource(device="cpu", precision="bf16").setup()


@pytest.mark.parametrize("field", ["training_processes", "train_batch_size", "sample_batch_size"])
@pytest.mark.parametrize("count", [0, -1])
def test_fewer_than_one_process_or_sample_a_batch_is_refused_when_built(field, count):
    with pytest.raises(ValidationError, match=rf"\n{field}\n\s+Input should be greater than or equal to 1 "):
        ComputeResource(device="cpu", **{field: count})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_refused_by_name():
    with pytest.raises(RuntimeError, match="compute.device is 'cuda' but torch sees no CUDA device"):
        ComputeResource(device="cuda").setup()


def test_auto_takes_the_cpu_without_a_gpu_and_the_gpu_with_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert ComputeResource(device="auto").setup().type == expected
