"""The names of the verified ensembles and the choice of the reference ones."""

import numpy as np
import pytest
import xarray as xr

from seeds_dag.verification.ensemble_names import (
    IDEAL,
    PHYSICS,
    SEEDS,
    ensembles_to_verify,
    model_family,
    physics_and_emulated,
    reference_model,
)


def _ensemble(members: int) -> xr.Dataset:
    return xr.Dataset({"z500": (("member",), np.zeros(members, np.float32))})


def test_ensembles_are_named_by_family_and_size():
    emulated = xr.concat([_ensemble(4), _ensemble(4)], dim="model").assign_coords(model=["gee", "gpp"])
    names = list(ensembles_to_verify(_ensemble(6), emulated, [0, 1]))
    assert names == ["seeds-2", "physics-6", "gee-4", "gpp-4"]
    assert [model_family(name) for name in names] == [SEEDS, PHYSICS, "gee", "gpp"]


def test_the_references_are_picked_by_family_and_the_rest_are_emulated():
    models = ["seeds-2", "physics-31", "gee-32", "gpp-32", "ideal-2", "truth", "gee-32"]
    assert reference_model(models, SEEDS) == "seeds-2"
    assert reference_model(models, IDEAL) == "ideal-2"
    assert physics_and_emulated(models) == ("physics-31", ["gee-32", "gpp-32"])
    with pytest.raises(ValueError, match="expected one physics-N model"):
        reference_model(["physics-31", "physics-5"], PHYSICS)
