"""The names of the ensembles verified for one init, and which of them is a reference.

An ensemble is named f"{family}-{size}": "seeds-2" (the seed members of the physics ensemble the
emulated ones were made from), "physics-31" (the physics ensemble), "gee-32", "gpp-32" (the
emulated ensembles, one per model) and, in the perfect-model tables only, "ideal-2" (the ideal
emulation of the K seeds). The scores asset, the summary and the benchmarks pick their reference
ensembles by these rules, so a table names its ensembles the same way wherever it was made.
"""

import xarray as xr

from seeds_dag.emulation import model_ensembles
from seeds_dag.verification.spectra_table import TRUTH

# The model-name families of the reference ensembles; every other verified model is emulated.
# ideal-K, the ideal emulation of the K seeds, is scored in the perfect-model tables only.
SEEDS, PHYSICS, IDEAL = "seeds", "physics", "ideal"


def ensemble_name(family: str, size: int) -> str:
    """The name of a `size`-member ensemble of `family` ("physics", 31 -> "physics-31")."""
    return f"{family}-{size}"


def ensembles_to_verify(physics: xr.Dataset, emulated: xr.Dataset,
                        seed_members: list[int]) -> dict[str, xr.Dataset]:
    """Model name -> ensemble (init_time, lead_time, member, lat, lon): the seed members of the
    physics ensemble the emulated ones were made from ("seeds-2"), the physics ensemble
    ("physics-31") and the emulated ones, named f"{model}-{N}" per value of a ``model`` dim
    ("gee-32", "gpp-32") or "emulated-{N}" for an artifact without that dim."""
    ensembles = {
        ensemble_name(SEEDS, len(seed_members)): physics.isel(member=list(seed_members)),
        ensemble_name(PHYSICS, physics.sizes["member"]): physics,
    }
    n = emulated.sizes["member"]
    return {**ensembles, **{ensemble_name(model, n): ensemble
                            for model, ensemble in model_ensembles(emulated).items()}}


def model_family(model: str) -> str:
    """The name before the ensemble size ("physics-31" -> "physics")."""
    return model.rsplit("-", 1)[0]


def _families(models) -> dict[str, str]:
    """Model name -> its family, each name once, in order."""
    return {model: model_family(model) for model in dict.fromkeys(models)}


def reference_model(models, family: str) -> str:
    """The one model of ``family`` (SEEDS, PHYSICS or IDEAL) among the model names of
    :func:`ensembles_to_verify`, e.g. "seeds-2"."""
    found = [model for model, name in _families(models).items() if name == family]
    if len(found) != 1:
        raise ValueError(f"expected one {family}-N model among {list(dict.fromkeys(models))}, "
                         f"got {found}")
    return found[0]


def physics_and_emulated(models) -> tuple[str, list[str]]:
    """The physics ensemble's name and the emulated ensembles' names, in order, among the model
    names of :func:`ensembles_to_verify` (and the spectra table's "truth")."""
    emulated = [model for model, name in _families(models).items()
                if name not in (SEEDS, PHYSICS, IDEAL, TRUTH)]
    return reference_model(models, PHYSICS), emulated
