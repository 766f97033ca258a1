//! The NetCDF decoder: NetCDF-3 (classic, 64-bit offset, CDF-5) and
//! NetCDF-4/HDF5 files, through netCDF-C (the `netcdf` crate). Every group,
//! dimension, variable and attribute is kept as the file declares it, except
//! attributes that only describe the file's own storage (`_ChunkSizes`...).
//! `char` arrays become text (their last dimension folded, trailing NULs
//! dropped); compound, enum, opaque and variable-length variables are skipped
//! with a warning.
//!
//! netCDF-C is not thread-safe: the `netcdf` crate serializes every call on a
//! global lock. A source is `Send`, read from one blocking thread at a time.
//!
//! ```no_run
//! use hub_core::ports::SourceDecoder;
//! let decoder = hub_netcdf::NetcdfDecoder;
//! let source = decoder.open(std::path::Path::new("tas.nc"))?;
//! println!("{} variables", source.schema().variables.len());
//! # Ok::<(), hub_core::ports::DecodeError>(())
//! ```

mod attrs;
mod classic;
pub mod fixtures;
mod hdf5_chunks;
mod open_files;
mod source;

use std::path::Path;

use hub_core::ports::{DecodeError, DecodeHints, SourceDataset, SourceDecoder};

pub use classic::check_classic_bytes;
pub use source::NetcdfSource;

/// The NetCDF decoder, picked for files starting with `CDF\x01`, `CDF\x02`,
/// `CDF\x05` or the HDF5 signature.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetcdfDecoder;

/// The HDF5 file signature.
pub const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

impl SourceDecoder for NetcdfDecoder {
    fn name(&self) -> &'static str {
        "netcdf"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        matches!(head, [b'C', b'D', b'F', 1 | 2 | 5, ..]) || head.starts_with(HDF5_MAGIC)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        Ok(Box::new(NetcdfSource::open(path)?))
    }

    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        Ok(Box::new(NetcdfSource::open_with_hints(path, hints)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_netcdf_and_hdf5_signatures() {
        let d = NetcdfDecoder;
        assert!(d.can_decode(b"CDF\x01\x00\x00"));
        assert!(d.can_decode(b"CDF\x02"));
        assert!(d.can_decode(b"\x89HDF\r\n\x1a\nxxxx"));
        assert!(!d.can_decode(b"GRIB\x00\x00"));
        assert!(!d.can_decode(b"II*\x00"));
        assert!(!d.can_decode(b"CDF"));
    }
}
