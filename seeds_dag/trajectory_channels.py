"""A member's trajectory as the networks' channels: leads stacked lead-major, the one layout that
training and sampling share (a model file is tied to it)."""

from torch import Tensor


def flatten_leads(x: Tensor) -> Tensor:
    """(..., L, V, H, W) -> (..., L·V, H, W): a trajectory as the networks' channels, lead-major."""
    return x.flatten(-4, -3)
