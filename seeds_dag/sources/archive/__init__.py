"""Real archives behind the source interface: GEFSv12 GRIB2 forecasts and ERA5 truth.

`gefs.gefs_forecast` reads reforecast or operational GEFS members from S3 (s3fs; only the GRIB2
messages needed, by byte ranges, or whole objects; retries; cfgrib/ecCodes decoding);
`era5.era5_truth` reads an analysis-ready ERA5 zarr store through fsspec. Both map the archive's
names and units to ours (`variables`), regrid conservatively to the model grid (`regrid`) and
return datasets that pass `seeds_dag.conventions.validate`, exactly like the embedded source's.
"""
