//! The `hub` binary's tests, one module per subject, in one test binary
//! (each test binary links GDAL and netCDF-C; one link instead of four).

mod cli;
mod common;
mod concurrent;
mod golden;
mod hostile;
mod regions;
