//! Truncation check for NetCDF-3 files (classic, 64-bit offset, CDF-5).
//!
//! netCDF-C reads past the end of a truncated classic file without error and
//! returns zeros, so a half-uploaded file would be ingested as valid data. The
//! header says where every variable's data starts and how long it is; this
//! module reads it (format specification: "NetCDF Classic and 64-bit Offset
//! Format", Unidata) and computes the least size the file must have.

use std::io::Read;
use std::path::Path;

use hub_core::ports::{DecodeError, DecodeLimits};

const NC_DIMENSION: u32 = 0x0A;
const NC_VARIABLE: u32 = 0x0B;
const NC_ATTRIBUTE: u32 = 0x0C;
const STREAMING: u64 = 0xFFFF_FFFF;
/// Headers larger than this are refused as implausible.
const MAX_HEADER: u64 = 64 << 20;

/// netCDF-C's fixed limits (`netcdf.h`, 4.9): the library keeps dimension ids
/// in stack arrays of `NC_MAX_VAR_DIMS`, so a header past them overwrites its
/// stack. They are checked before netCDF-C opens the file.
const NC_MAX_DIMS: u64 = 1024;
const NC_MAX_ATTRS: u64 = 8192;
const NC_MAX_VARS: u64 = 8192;
const NC_MAX_NAME: u64 = 256;
const NC_MAX_VAR_DIMS: u64 = 1024;

struct Header<'a> {
    buf: &'a [u8],
    pos: usize,
    version: u8,
}

fn corrupt(msg: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt(format!("{}; the file is damaged: check it with `ncdump -h` and upload it again", msg.into()))
}

fn too_large(msg: impl Into<String>) -> DecodeError {
    DecodeError::TooLarge(msg.into())
}

impl Header<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt("the NetCDF-3 header is cut short"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// NON_NEG: 4 bytes, 8 in CDF-5.
    fn non_neg(&mut self) -> Result<u64, DecodeError> {
        if self.version == 5 { self.u64() } else { self.u32().map(u64::from) }
    }

    /// OFFSET: 4 bytes in classic, 8 otherwise.
    fn offset(&mut self) -> Result<u64, DecodeError> {
        if self.version == 1 { self.u32().map(u64::from) } else { self.u64() }
    }

    /// A name: at most `NC_MAX_NAME` bytes of UTF-8 without `/` (what
    /// netCDF-C itself writes; its readers and the `netcdf` crate trust it).
    fn name(&mut self, what: &str) -> Result<String, DecodeError> {
        let n = self.non_neg()?;
        if n > NC_MAX_NAME {
            return Err(corrupt(format!(
                "the name of a {what} is {n} bytes long, over netCDF's limit of {NC_MAX_NAME}"
            )));
        }
        let n = usize::try_from(n).map_err(|_| corrupt("name too long"))?;
        let padded = self.take(n.div_ceil(4) * 4)?;
        let name = std::str::from_utf8(&padded[..n]).map_err(|_| {
            DecodeError::Unsupported(format!(
                "the name of a {what}, {:?}, is not UTF-8; rename it (e.g. with ncrename) and upload the file again",
                String::from_utf8_lossy(&padded[..n])
            ))
        })?;
        if name.is_empty() || name.contains('/') || name.contains('\0') {
            return Err(DecodeError::Unsupported(format!(
                "the {what} name {name:?} is not a valid netCDF name (empty, or holding `/` or NUL); rename it (e.g. with ncrename) and upload the file again"
            )));
        }
        Ok(name.to_string())
    }

    fn list_len(&mut self, tag: u32) -> Result<u64, DecodeError> {
        let t = self.u32()?;
        let n = self.non_neg()?;
        if t == 0 && n == 0 {
            return Ok(0);
        }
        if t != tag {
            return Err(corrupt(format!("unexpected tag {t:#x} in the NetCDF-3 header")));
        }
        Ok(n)
    }

    fn attributes(&mut self, owner: &str) -> Result<(), DecodeError> {
        let n = self.list_len(NC_ATTRIBUTE)?;
        if n > NC_MAX_ATTRS {
            return Err(corrupt(format!("{owner}: {n} attributes, over netCDF's limit of {NC_MAX_ATTRS}")));
        }
        for _ in 0..n {
            self.name("attribute")?;
            let size = type_size(self.u32()?, self.version)?;
            let n = self.non_neg()?;
            let bytes = n.checked_mul(size).ok_or_else(|| corrupt("attribute too large"))?;
            self.take(usize::try_from(bytes.div_ceil(4) * 4).map_err(|_| corrupt("attribute too large"))?)?;
        }
        Ok(())
    }
}

/// Bytes per element of a NetCDF-3 type; the CDF-5 types only in CDF-5.
fn type_size(t: u32, version: u8) -> Result<u64, DecodeError> {
    Ok(match t {
        1 | 2 => 1,
        3 => 2,
        4 | 5 => 4,
        6 => 8,
        7 if version == 5 => 1,
        8 if version == 5 => 2,
        9 if version == 5 => 4,
        10 | 11 if version == 5 => 8,
        other => return Err(corrupt(format!("unknown NetCDF-3 type {other}"))),
    })
}

/// What a NetCDF-3 header declares, as far as the checks need it.
#[derive(Debug)]
struct Declared {
    /// The least size in bytes the file must have.
    least: u64,
}

/// Reads a NetCDF-3 header (`None`: not NetCDF-3) and checks what netCDF-C
/// would trust: counts and ranks within its fixed limits and the hub's,
/// names it can hand to Rust, a record count it can use.
fn declared(header: &[u8], limits: &DecodeLimits) -> Result<Option<Declared>, DecodeError> {
    let version = match header {
        [b'C', b'D', b'F', v @ (1 | 2 | 5), ..] => *v,
        _ => return Ok(None),
    };
    let mut h = Header { buf: header, pos: 4, version };
    let numrecs = h.non_neg()?;
    if numrecs == STREAMING && version != 5 {
        return Err(DecodeError::Unsupported(
            "the header's record count is 'streaming' (0xFFFFFFFF: written by a stream that never finished), which netCDF-C cannot read; rewrite the file with its record count (e.g. nccopy) and upload it again".into(),
        ));
    }
    let ndims = h.list_len(NC_DIMENSION)?;
    if ndims > NC_MAX_DIMS {
        return Err(too_large(format!(
            "the file declares {ndims} dimensions, over netCDF-C's fixed limit of {NC_MAX_DIMS} (NC_MAX_DIMS)"
        )));
    }
    let mut dims = Vec::new();
    let mut records = 0;
    for _ in 0..ndims {
        let name = h.name("dimension")?;
        let len = h.non_neg()?;
        if len == 0 {
            records += 1;
        }
        dims.push((name, len));
    }
    if records > 1 {
        return Err(corrupt("more than one record (unlimited) dimension"));
    }
    h.attributes("global attributes")?;
    struct Var {
        record: bool,
        size: u64,
        begin: u64,
    }
    let mut vars = Vec::new();
    let nvars = h.list_len(NC_VARIABLE)?;
    let max_vars = NC_MAX_VARS.min(limits.max_variables);
    if nvars > max_vars {
        return Err(too_large(format!(
            "the file declares {nvars} variables, over the limit of {max_vars} (HUB_LIMIT_VARIABLES; netCDF's own is {NC_MAX_VARS})"
        )));
    }
    let max_rank = NC_MAX_VAR_DIMS.min(limits.max_rank);
    for _ in 0..nvars {
        let name = h.name("variable")?;
        let rank = h.non_neg()?;
        if rank > max_rank {
            return Err(too_large(format!(
                "{name}: {rank} dimensions, over the limit of {max_rank} (HUB_LIMIT_RANK; netCDF-C's fixed limit is {NC_MAX_VAR_DIMS})"
            )));
        }
        let mut record = false;
        let mut count: u64 = 1;
        let mut shape = Vec::new();
        for i in 0..rank {
            let id = usize::try_from(h.non_neg()?).map_err(|_| corrupt("bad dimension id"))?;
            let (_, len) = dims.get(id).ok_or_else(|| corrupt(format!("{name} uses undefined dimension {id}")))?;
            if *len == 0 {
                if i != 0 {
                    return Err(corrupt(format!("{name}: the record dimension is not its first")));
                }
                record = true;
                shape.push(numrecs);
            } else {
                count = count.checked_mul(*len).ok_or_else(|| corrupt(format!("{name}: too large")))?;
                shape.push(*len);
            }
        }
        if let [.., ny, nx] = shape.as_slice() {
            let cells = ny.saturating_mul(*nx);
            if cells > limits.max_grid_cells {
                return Err(too_large(format!(
                    "{name}: a grid of {ny} × {nx} = {cells} cells, over the limit of {} cells (HUB_LIMIT_GRID_CELLS)",
                    limits.max_grid_cells
                )));
            }
        }
        h.attributes(&name)?;
        let size = count.checked_mul(type_size(h.u32()?, version)?).ok_or_else(|| corrupt("variable too large"))?;
        let _vsize = h.non_neg()?;
        let begin = h.offset()?;
        vars.push(Var { record, size, begin });
    }
    if numrecs == STREAMING {
        // CDF-5 has no streaming marker: the count is a real (absurd) number.
        return Err(corrupt("the header's record count is 2^32 - 1"));
    }
    let records: Vec<&Var> = vars.iter().filter(|v| v.record).collect();
    let recsize: u64 =
        if records.len() == 1 { records[0].size } else { records.iter().map(|v| v.size.div_ceil(4) * 4).sum() };
    let mut least = h.pos as u64;
    for v in &vars {
        let end = if v.record {
            if numrecs == 0 {
                continue;
            }
            v.begin.saturating_add((numrecs - 1).saturating_mul(recsize)).saturating_add(v.size)
        } else {
            v.begin.saturating_add(v.size)
        };
        least = least.max(end);
    }
    Ok(Some(Declared { least }))
}

/// The same checks on a whole file's bytes (the fuzzing entry point).
pub fn check_classic_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    match declared(bytes, limits)? {
        Some(d) if d.least > bytes.len() as u64 => Err(DecodeError::Corrupt(format!(
            "truncated: the NetCDF-3 header describes {} bytes of data but the file has {}",
            d.least,
            bytes.len()
        ))),
        _ => Ok(()),
    }
}

/// The least size in bytes a NetCDF-3 file with this header must have.
#[cfg(test)]
fn minimum_size(header: &[u8]) -> Result<Option<u64>, DecodeError> {
    Ok(declared(header, &DecodeLimits::default())?.map(|d| d.least))
}

/// Checks a NetCDF-3 file's header before netCDF-C opens it: refuses what
/// netCDF-C would mishandle (counts past its fixed limits, names that are not
/// UTF-8, a streaming record count), what exceeds the hub's limits, and a file
/// shorter than its header says (netCDF-C reads zeros past the end).
/// Other formats pass untouched.
pub(crate) fn check_header(path: &Path, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let mut file = std::fs::File::open(path)?;
    let actual = file.metadata()?.len();
    let mut header = Vec::new();
    // Read as much header as needed: start small, grow while it is cut short.
    let mut want = 64 * 1024;
    loop {
        header.clear();
        (&mut file).take(want).read_to_end(&mut header)?;
        std::io::Seek::rewind(&mut file)?;
        match declared(&header, limits) {
            Ok(Some(d)) if d.least > actual => {
                return Err(DecodeError::Corrupt(format!(
                    "truncated: the NetCDF-3 header describes {} bytes of data but the file has {actual}; upload it again",
                    d.least
                )));
            }
            Ok(_) => return Ok(()),
            Err(_) if (header.len() as u64) == want && want < MAX_HEADER => want *= 4,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixture;

    #[test]
    fn whole_fixtures_pass_and_truncated_copies_fail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for f in [Fixture::ClassicPacked360Day, Fixture::Offset64RotatedPole] {
            let path = dir.path().join(f.file_name());
            f.write(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(check_header(&path, &DecodeLimits::default()).is_ok(), "{}", f.file_name());
            let bytes = std::fs::read(&path).unwrap_or_default();
            let least = minimum_size(&bytes).ok().flatten().unwrap_or(0);
            assert!(
                least <= bytes.len() as u64 && least + 8 >= bytes.len() as u64 - 8,
                "{}: {least} vs {}",
                f.file_name(),
                bytes.len()
            );
            for cut in [bytes.len() - 1, bytes.len() / 2, 300] {
                let short = dir.path().join("short.nc");
                std::fs::write(&short, &bytes[..cut]).unwrap_or_else(|e| panic!("{e}"));
                let r = check_header(&short, &DecodeLimits::default());
                assert!(matches!(r, Err(DecodeError::Corrupt(_))), "{} cut at {cut}: {r:?}", f.file_name());
            }
        }
    }

    #[test]
    fn garbage_headers_are_errors_not_panics() {
        for bytes in [
            &b"CDF\x01"[..],
            b"CDF\x01\x00\x00\x00\x01\x00\x00\x00\x0a\xff\xff\xff\xff",
            b"CDF\x02\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x01",
        ] {
            let _ = minimum_size(bytes);
        }
        assert!(minimum_size(b"\x89HDF").is_ok_and(|r| r.is_none()));
    }
}
