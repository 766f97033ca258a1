//! Truncation check for NetCDF-3 files (classic, 64-bit offset, CDF-5).
//!
//! netCDF-C reads past the end of a truncated classic file without error and
//! returns zeros, so a half-uploaded file would be ingested as valid data. The
//! header says where every variable's data starts and how long it is; this
//! module reads it (format specification: "NetCDF Classic and 64-bit Offset
//! Format", Unidata) and computes the least size the file must have.

use std::io::Read;
use std::path::Path;

use hub_core::ports::DecodeError;

const NC_DIMENSION: u32 = 0x0A;
const NC_VARIABLE: u32 = 0x0B;
const NC_ATTRIBUTE: u32 = 0x0C;
const STREAMING: u64 = 0xFFFF_FFFF;
/// Headers larger than this are refused as implausible.
const MAX_HEADER: u64 = 64 << 20;

struct Header<'a> {
    buf: &'a [u8],
    pos: usize,
    version: u8,
}

fn corrupt(msg: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt(msg.into())
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

    fn name(&mut self) -> Result<(), DecodeError> {
        let n = usize::try_from(self.non_neg()?).map_err(|_| corrupt("name too long"))?;
        self.take(n.div_ceil(4) * 4)?;
        Ok(())
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

    fn attributes(&mut self) -> Result<(), DecodeError> {
        for _ in 0..self.list_len(NC_ATTRIBUTE)? {
            self.name()?;
            let size = type_size(self.u32()?)?;
            let n = self.non_neg()?;
            let bytes = n.checked_mul(size).ok_or_else(|| corrupt("attribute too large"))?;
            self.take(usize::try_from(bytes.div_ceil(4) * 4).map_err(|_| corrupt("attribute too large"))?)?;
        }
        Ok(())
    }
}

fn type_size(t: u32) -> Result<u64, DecodeError> {
    Ok(match t {
        1 | 2 | 7 => 1,
        3 | 8 => 2,
        4 | 5 | 9 => 4,
        6 | 10 | 11 => 8,
        other => return Err(corrupt(format!("unknown NetCDF-3 type {other}"))),
    })
}

/// The least size in bytes a NetCDF-3 file with this header must have.
pub(crate) fn minimum_size(header: &[u8]) -> Result<Option<u64>, DecodeError> {
    let version = match header {
        [b'C', b'D', b'F', v @ (1 | 2 | 5), ..] => *v,
        _ => return Ok(None),
    };
    let mut h = Header { buf: header, pos: 4, version };
    let numrecs = h.non_neg()?;
    let ndims = h.list_len(NC_DIMENSION)?;
    let mut dims = Vec::new();
    for _ in 0..ndims {
        h.name()?;
        dims.push(h.non_neg()?);
    }
    h.attributes()?;
    struct Var {
        record: bool,
        size: u64,
        begin: u64,
    }
    let mut vars = Vec::new();
    for _ in 0..h.list_len(NC_VARIABLE)? {
        h.name()?;
        let rank = h.non_neg()?;
        let mut record = false;
        let mut count: u64 = 1;
        for i in 0..rank {
            let id = usize::try_from(h.non_neg()?).map_err(|_| corrupt("bad dimension id"))?;
            let len = *dims.get(id).ok_or_else(|| corrupt(format!("variable uses undefined dimension {id}")))?;
            if i == 0 && len == 0 {
                record = true;
            } else {
                count = count.checked_mul(len).ok_or_else(|| corrupt("variable too large"))?;
            }
        }
        h.attributes()?;
        let size = count.checked_mul(type_size(h.u32()?)?).ok_or_else(|| corrupt("variable too large"))?;
        let _vsize = h.non_neg()?;
        let begin = h.offset()?;
        vars.push(Var { record, size, begin });
    }
    if numrecs == STREAMING {
        return Ok(None);
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
    Ok(Some(least))
}

/// Refuses a NetCDF-3 file shorter than its header says.
pub(crate) fn check_not_truncated(path: &Path) -> Result<(), DecodeError> {
    let mut file = std::fs::File::open(path)?;
    let actual = file.metadata()?.len();
    let mut header = Vec::new();
    // Read as much header as needed: start small, grow while it is cut short.
    let mut want = 64 * 1024;
    loop {
        header.clear();
        (&mut file).take(want).read_to_end(&mut header)?;
        std::io::Seek::rewind(&mut file)?;
        match minimum_size(&header) {
            Ok(Some(least)) if least > actual => {
                return Err(corrupt(format!(
                    "truncated: the NetCDF-3 header describes {least} bytes of data but the file has {actual}; upload it again"
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
            assert!(check_not_truncated(&path).is_ok(), "{}", f.file_name());
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
                let r = check_not_truncated(&short);
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
