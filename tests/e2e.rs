//! The end-to-end tests, one module per subject, in one binary: every test
//! binary links GDAL, netCDF-C, HDF5 and Icechunk, and linking that once
//! instead of once per subject keeps a cold build's time and disk down.
//! Run one subject with `cargo test -p hub-e2e --test e2e -- serve_regions::`.
//! `corruption` and `hostile_input` are binaries of their own: they bound
//! their own process's (and its decoder children's) peak memory, which tests
//! running beside them would add to.

mod bad_input;
mod ingest_appends;
mod ingest_fixtures;
mod ingest_grib;
mod ingest_rasters;
mod interop_streams;
mod interop_xarray;
mod region_series;
mod serve_api;
mod serve_ensembles;
mod serve_hostile;
mod serve_instances;
mod serve_interop;
mod serve_regions;
mod shared_netcdf;
mod time_major;
mod upkeep;
