"""Reduced-precision regions: the one helper that turns a precision setting into an autocast
context. Training (`seeds_dag.training`) and the compute resource both use it; it lives on its own
so that the resource does not import the training loop."""

import contextlib

import torch


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast to `dtype` on `device`'s type, or a no-op context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
