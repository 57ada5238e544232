"""The compute resource refuses settings it cannot honour with a message naming the setting,
before any work (not a stack trace from deep in torch)."""

import pytest
import torch

from resources import ComputeResource


def test_bf16_on_the_cpu_is_refused():
    with pytest.raises(ValueError, match="compute.precision 'bf16' is for CUDA only"):
        ComputeResource(device="cpu", precision="bf16").setup()


@pytest.mark.parametrize("processes", [0, -1])
def test_fewer_than_one_training_process_is_refused(processes):
    with pytest.raises(ValueError, match=f"training_processes must be at least 1, got {processes}"):
        ComputeResource(device="cpu", training_processes=processes).setup()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_refused_by_name():
    with pytest.raises(RuntimeError, match="compute.device is 'cuda' but torch sees no CUDA device"):
        ComputeResource(device="cuda").setup()


def test_auto_takes_the_cpu_without_a_gpu_and_the_gpu_with_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert ComputeResource(device="auto").setup().type == expected
