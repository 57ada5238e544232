"""Our variables in the archives: GRIB2 keys and file names in GEFS, array names in ERA5, and the
factor to our units (`seeds_dag.conventions.KNOWN_VARIABLES`).

GEFS GRIB2 as decoded by ecCodes (shortName / typeOfLevel / level), NCEP encodings:
HGT → `gh` (geopotential height, gpm; × g₀ gives geopotential in m² s⁻², the WMO definition of the
geopotential metre), TMP → `t`, UGRD/VGRD → `u`/`v`, PRES at the surface → `sp`, PRMSL → `prmsl`
(`msl` in some decodings), TMP at 2 m → `2t`, PWAT (entire atmosphere) → `pwat`.
GEFSv12 reforecast file stems (one variable per file, all leads): pressure levels are split at
700 hPa, `{var}_pres` holding 1000–700 hPa and `{var}_pres_abv700mb` the levels above (so Z500 is
in `hgt_pres_abv700mb`, U850 in `ugrd_pres`); surface pressure `pres_sfc`, PRMSL `pres_msl`,
T2m `tmp_2m`, PWAT `pwat_eatm`. Seen in public GEFSv12 reforecast download scripts and Herbie's
`gefs_reforecast` template (github.com/blaylockbk/Herbie, herbie/models/gefs.py), 2026-11.
For reads of single messages (byte ranges) each field is also given in GRIB2 codes, as NCEP
encodes it (WMO code tables 0.0, 4.1, 4.2, 4.5: HGT is discipline 0 category 3 number 5, PRMSL
0/3/1, PWAT 0/1/3 on surface type 200), and by the names wgrib2 writes in `.idx` sidecars
(`HGT:500 mb`, `PRES:surface`, `PRMSL:mean sea level`, `TMP:2 m above ground`,
`PWAT:entire atmosphere (considered as a single layer)`), as in NOAA's GEFS inventories.
ERA5 names are those of the ARCO-ERA5 zarr stores (github.com/google-research/arco-era5):
pressure-level arrays have a `level` dimension in hPa; `geopotential` is already in m² s⁻².
"""

from __future__ import annotations

import dataclasses

from seeds_dag.conventions import KNOWN_VARIABLES, VARIABLES
from seeds_dag.sources.archive.grib2_messages import Grib2Parameter

# Standard gravity (WMO): 1 geopotential metre = 9.80665 m² s⁻².
G0 = 9.80665


@dataclasses.dataclass(frozen=True)
class GribField:
    """Where one of our variables is in GEFS GRIB2, and how to turn it into our units."""

    name: str
    short_names: tuple[str, ...]  # accepted ecCodes shortNames (decoders differ for PRMSL)
    type_of_level: str
    level: int
    reforecast_file: str  # file stem in the GEFSv12 reforecast layout
    grib2: Grib2Parameter  # the same field in GRIB2 codes (NCEP's)
    idx_name: tuple[str, str]  # (variable, level) as wgrib2 writes them in an .idx sidecar
    scale: float = 1.0

    def filter_by_keys(self) -> dict[str, object]:
        """cfgrib's message filter for this field."""
        return {"shortName": list(self.short_names), "typeOfLevel": self.type_of_level,
                "level": self.level}


@dataclasses.dataclass(frozen=True)
class ZarrField:
    """Where one of our variables is in an ERA5 zarr store (`level` in hPa, None for surface)."""

    name: str
    array: str
    level: int | None = None
    scale: float = 1.0


GEFS_FIELDS: dict[str, GribField] = {
    f.name: f
    for f in (
        GribField("z500", ("gh",), "isobaricInhPa", 500, "hgt_pres_abv700mb",
                  Grib2Parameter(0, 3, 5, 100, 50_000.0), ("HGT", "500 mb"), scale=G0),
        GribField("t850", ("t",), "isobaricInhPa", 850, "tmp_pres",
                  Grib2Parameter(0, 0, 0, 100, 85_000.0), ("TMP", "850 mb")),
        GribField("u850", ("u",), "isobaricInhPa", 850, "ugrd_pres",
                  Grib2Parameter(0, 2, 2, 100, 85_000.0), ("UGRD", "850 mb")),
        GribField("v850", ("v",), "isobaricInhPa", 850, "vgrd_pres",
                  Grib2Parameter(0, 2, 3, 100, 85_000.0), ("VGRD", "850 mb")),
        GribField("sp", ("sp",), "surface", 0, "pres_sfc",
                  Grib2Parameter(0, 3, 0, 1), ("PRES", "surface")),
        GribField("msl", ("prmsl", "msl"), "meanSea", 0, "pres_msl",
                  Grib2Parameter(0, 3, 1, 101), ("PRMSL", "mean sea level")),
        GribField("t2m", ("2t",), "heightAboveGround", 2, "tmp_2m",
                  Grib2Parameter(0, 0, 0, 103, 2.0), ("TMP", "2 m above ground")),
        GribField("tcwv", ("pwat", "tcwv"), "atmosphereSingleLayer", 0, "pwat_eatm",
                  Grib2Parameter(0, 1, 3, 200),
                  ("PWAT", "entire atmosphere (considered as a single layer)")),
    )
}

ERA5_FIELDS: dict[str, ZarrField] = {
    f.name: f
    for f in (
        ZarrField("z500", "geopotential", 500),
        ZarrField("t850", "temperature", 850),
        ZarrField("u850", "u_component_of_wind", 850),
        ZarrField("v850", "v_component_of_wind", 850),
        ZarrField("sp", "surface_pressure"),
        ZarrField("msl", "mean_sea_level_pressure"),
        ZarrField("t2m", "2m_temperature"),
        ZarrField("tcwv", "total_column_water_vapour"),
    )
}

CORE_VARIABLES: tuple[str, ...] = tuple(VARIABLES)


def check_variables(names: tuple[str, ...], where: str) -> tuple[str, ...]:
    """`names` if every one is a variable both archives provide and the core set is included."""
    unknown = [n for n in names if n not in KNOWN_VARIABLES or n not in GEFS_FIELDS
               or n not in ERA5_FIELDS]
    if unknown:
        raise ValueError(f"{where}: unknown variable(s) {unknown}; the archives provide "
                         f"{sorted(GEFS_FIELDS)}")
    missing = [n for n in CORE_VARIABLES if n not in names]
    if missing:
        raise ValueError(f"{where}: the core variables {missing} are missing; the graph needs "
                         f"{list(CORE_VARIABLES)} (optional extras: msl, t2m, tcwv)")
    return tuple(names)
