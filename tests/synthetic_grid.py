"""Coordinates of small synthetic forecasts for the verification tests: daily inits, whole-day
leads and the conventions' regular grid."""

import numpy as np
import pandas as pd

from seeds_dag.conventions import regular_latitudes, regular_longitudes


def forecast_coords(n_init: int, n_lead: int, n_member: int, n_lat: int, n_lon: int) -> dict:
    """Coordinates of a forecast with dims FORECAST_DIMS."""
    return {
        "init_time": pd.date_range("2001-01-01", periods=n_init, freq="D"),
        "lead_time": pd.to_timedelta(np.arange(1, n_lead + 1), unit="D"),
        "member": np.arange(n_member),
        "lat": regular_latitudes(n_lat),
        "lon": regular_longitudes(n_lon),
    }
