//! A walk over a GRIB2 file's messages and sections before GDAL opens it.
//!
//! GDAL reads the messages it finds and says nothing about the rest, so the
//! hub checks the file itself:
//!
//! - the first message may follow a WMO bulletin header (NOAA's NDFD files
//!   start with `****0001…`): GDAL and ecCodes look for `GRIB` in the first
//!   bytes, and so does the hub (the first [`HEAD_BYTES`]);
//! - every message's declared length must lie inside the file and end in
//!   `7777`, and its sections must add up to it: a cut file is refused, not
//!   ingested short;
//! - between messages there may be padding or more bulletin headers: the walk
//!   looks for the next `GRIB` instead of stopping, so a damaged last message
//!   is found behind them and a warning about trailing bytes is only given
//!   when no message follows;
//! - grids: the declared points (and rows × columns) must be within the
//!   limits; a reduced (quasi-regular) Gaussian or lat/lon grid, spherical
//!   harmonics and unstructured grids are refused with a message, since the
//!   hub stores regular grids and does not regrid;
//! - the number of fields (product sections) is within the limits.

use hub_core::ports::{DecodeError, DecodeLimits, HEAD_BYTES};

use crate::read_at::{ReadAt, find};

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Messages.
    pub(crate) messages: u64,
    /// Fields (product definition sections).
    pub(crate) fields: u64,
    /// What was skipped, for the report.
    pub(crate) warnings: Vec<String>,
}

fn corrupt(m: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!(
        "{m}; the GRIB2 file is damaged: check it with grib_ls or gdalinfo and upload it again"
    ))
}

fn be32(b: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Where the first message starts: `GRIB` followed by a known edition,
/// within the first [`HEAD_BYTES`] bytes of `head`.
pub(crate) fn first_message(head: &[u8]) -> Option<usize> {
    let limit = head.len().min(HEAD_BYTES);
    (0..limit.saturating_sub(7)).find(|&i| &head[i..i + 4] == b"GRIB" && matches!(head[i + 7], 1 | 2))
}

/// Walks every message of a GRIB2 file (see the module documentation).
pub(crate) fn scan(src: &(impl ReadAt + ?Sized), limits: &DecodeLimits) -> Result<Scan, DecodeError> {
    let size = src.size();
    let mut head = vec![0u8; usize::try_from(size.min(HEAD_BYTES as u64)).unwrap_or(HEAD_BYTES)];
    src.read_exact_at(0, &mut head)?;
    let Some(first) = first_message(&head) else {
        return Err(corrupt(format!("no GRIB message in the first {HEAD_BYTES} bytes")));
    };
    let mut out = Scan::default();
    if first > 0 {
        out.warnings.push(format!("a bulletin header of {first} bytes before the first GRIB message was skipped"));
    }
    let mut offset = first as u64;
    let mut skipped = 0u64;
    loop {
        let mut s0 = [0u8; 16];
        src.read_exact_at(offset, &mut s0).map_err(|_| {
            DecodeError::Corrupt(format!(
                "truncated: GRIB message {} at byte {offset} is cut off inside its first section; upload it again",
                out.messages + 1
            ))
        })?;
        let n = out.messages + 1;
        match s0[7] {
            2 => {}
            1 => {
                return Err(DecodeError::Unsupported(format!(
                    "message {n} is GRIB edition 1; the hub takes GRIB2 (convert with grib_set -s edition=2)"
                )));
            }
            e => return Err(corrupt(format!("message {n} at byte {offset} declares GRIB edition {e}"))),
        }
        let len = u64::from_be_bytes([s0[8], s0[9], s0[10], s0[11], s0[12], s0[13], s0[14], s0[15]]);
        let end = offset.checked_add(len).filter(|&e| len >= 20 && e <= size).ok_or_else(|| {
            DecodeError::Corrupt(format!(
                "truncated: GRIB message {n} at byte {offset} declares {len} bytes but the file has {size}; upload it again"
            ))
        })?;
        let mut tail = [0u8; 4];
        src.read_exact_at(end - 4, &mut tail)?;
        if &tail != b"7777" {
            return Err(corrupt(format!("GRIB message {n} does not end in 7777")));
        }
        out.fields += sections(src, offset + 16, end - 4, n, limits)?;
        if out.fields > limits.max_variables {
            return Err(DecodeError::TooLarge(format!(
                "more than {} GRIB fields in one file (HUB_LIMIT_VARIABLES); split it",
                limits.max_variables
            )));
        }
        out.messages = n;
        if end >= size {
            break;
        }
        // Padding or a bulletin header may come before the next message.
        match next_message(src, end)? {
            Some(next) => {
                skipped += next - end;
                offset = next;
            }
            None => {
                out.warnings.push(format!("{} bytes after the last GRIB message ignored", size - end));
                break;
            }
        }
    }
    if skipped > 0 {
        out.warnings.push(format!("{skipped} bytes between GRIB messages (bulletin headers or padding) skipped"));
    }
    Ok(out)
}

/// Where the next message starts at or after `from`: `GRIB` followed by a
/// known edition byte (text that merely says "GRIB" is not a message), or
/// `GRIB` too close to the end to tell (a message cut short, refused by the
/// caller).
fn next_message(src: &(impl ReadAt + ?Sized), from: u64) -> Result<Option<u64>, DecodeError> {
    let mut at = from;
    while let Some(found) = find(src, at, b"GRIB")? {
        let mut head = [0u8; 8];
        if src.read_exact_at(found, &mut head).is_err() || matches!(head[7], 1 | 2) {
            return Ok(Some(found));
        }
        at = found + 1;
    }
    Ok(None)
}

/// Walks the sections of message `n` between `from` and its `7777` at
/// `end`; returns how many fields (section 4) it holds.
fn sections(
    src: &(impl ReadAt + ?Sized),
    from: u64,
    end: u64,
    n: u64,
    limits: &DecodeLimits,
) -> Result<u64, DecodeError> {
    let mut at = from;
    let mut fields = 0;
    while at < end {
        let mut h = [0u8; 5];
        src.read_exact_at(at, &mut h)?;
        let (len, number) = (be32(&h), h[4]);
        if len < 5 || !(1..=7).contains(&number) || at + len > end {
            return Err(corrupt(format!(
                "message {n}: a section at byte {at} declares {len} bytes (section {number})"
            )));
        }
        match number {
            3 => check_grid(src, at, len, n, limits)?,
            4 => fields += 1,
            _ => {}
        }
        at += len;
    }
    Ok(fields)
}

/// Section 3: the grid definition.
fn check_grid(
    src: &(impl ReadAt + ?Sized),
    at: u64,
    len: u64,
    n: u64,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    let mut s = [0u8; 38];
    let have = usize::try_from(len.min(38)).unwrap_or(38);
    src.read_exact_at(at, &mut s[..have])?;
    if have < 14 {
        return Err(corrupt(format!("message {n}: a grid section of {len} bytes")));
    }
    let points = be32(&s[6..10]);
    let optional_list = s[10];
    let template = u16::from_be_bytes([s[12], s[13]]);
    let refuse = |what: &str| {
        Err(DecodeError::Unsupported(format!(
            "message {n} is on {what} (grid template 3.{template}); the hub stores regular grids and does not regrid: interpolate it to a regular grid first (e.g. cdo remapbil or ecCodes' grib_filter) and upload that"
        )))
    };
    match template {
        50..=53 => return refuse("spherical harmonics"),
        100 | 101 | 120 | 1000 | 1100 | 1200 => return refuse("an unstructured or non-raster grid"),
        _ => {}
    }
    // Templates with Ni/Nj (or Nx/Ny) at octets 31-38.
    let regular = matches!(template, 0..=3 | 10 | 20 | 30 | 31 | 40..=43 | 90 | 140 | 204);
    if regular && have >= 38 {
        let (ni, nj) = (be32(&s[30..34]), be32(&s[34..38]));
        if optional_list != 0 || ni == 0xFFFF_FFFF || nj == 0xFFFF_FFFF {
            return refuse("a reduced (quasi-regular) grid, whose rows have different numbers of points,");
        }
        let cells = ni.saturating_mul(nj);
        if cells > limits.max_grid_cells {
            return Err(DecodeError::TooLarge(format!(
                "message {n}: a grid of {ni} × {nj} = {cells} points, over the limit of {} (HUB_LIMIT_GRID_CELLS)",
                limits.max_grid_cells
            )));
        }
        if cells != points && points != 0 {
            return Err(corrupt(format!("message {n}: a grid of {ni} × {nj} points that declares {points}")));
        }
    } else if optional_list != 0 {
        return refuse("a reduced (quasi-regular) grid, whose rows have different numbers of points,");
    }
    if points > limits.max_grid_cells {
        return Err(DecodeError::TooLarge(format!(
            "message {n}: {points} grid points, over the limit of {} (HUB_LIMIT_GRID_CELLS)",
            limits.max_grid_cells
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with one lat/lon grid of ni × nj points (template 3.0) and
    /// one product section; sections 5-7 are stubs of the right lengths.
    pub(crate) fn message(ni: u32, nj: u32, reduced: bool) -> Vec<u8> {
        let mut s3 = vec![0u8; 72];
        s3[0..4].copy_from_slice(&72u32.to_be_bytes());
        s3[4] = 3;
        s3[6..10].copy_from_slice(&ni.wrapping_mul(nj).to_be_bytes());
        s3[10] = u8::from(reduced);
        s3[30..34].copy_from_slice(&(if reduced { u32::MAX } else { ni }).to_be_bytes());
        s3[34..38].copy_from_slice(&nj.to_be_bytes());
        let section = |number: u8, len: u32| {
            let mut s = vec![0u8; len as usize];
            s[0..4].copy_from_slice(&len.to_be_bytes());
            s[4] = number;
            s
        };
        let mut body = section(1, 21);
        body.extend(s3);
        for (number, len) in [(4, 34), (5, 21), (6, 6), (7, 5)] {
            body.extend(section(number, len));
        }
        let total = 16 + body.len() as u64 + 4;
        let mut m = b"GRIB\0\0\0\x02".to_vec();
        m.extend(total.to_be_bytes());
        m.extend(body);
        m.extend(b"7777");
        m
    }

    #[test]
    fn messages_behind_headers_and_padding_are_all_checked() {
        let mut file = b"****0001****\r\r\nFOUS11 KWBC 101200\r\r\n".to_vec();
        file.extend(message(144, 73, false));
        file.extend([0u8; 7]);
        file.extend(b"\r\r\nFOUS12 KWBC 101200\r\r\n");
        file.extend(message(144, 73, false));
        let s = scan(file.as_slice(), &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.messages, s.fields), (2, 2));
        assert!(s.warnings.iter().any(|w| w.contains("bulletin header")), "{:?}", s.warnings);
        // The last message cut by one byte is found behind the padding.
        let cut = &file[..file.len() - 1];
        let e = scan(cut, &DecodeLimits::default()).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("truncated") && e.contains("message 2"), "{e}");
        // Trailing bytes with no message after them are ignored, truthfully,
        // even when they say "GRIB".
        let mut trailing = message(2, 2, false);
        trailing.extend(b"end of GRIB data");
        let s = scan(trailing.as_slice(), &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.warnings, vec!["16 bytes after the last GRIB message ignored".to_string()]);
    }

    #[test]
    fn grids_are_checked_before_gdal() {
        let e = scan(message(100_000, 100_000, false).as_slice(), &DecodeLimits::default())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(e.contains("HUB_LIMIT_GRID_CELLS"), "{e}");
        let e = scan(message(320, 160, true).as_slice(), &DecodeLimits::default())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(e.contains("reduced") && e.contains("regrid"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b"GRIB"[..],
            b"GRIB\0\0\0\x02\xff\xff\xff\xff\xff\xff\xff\xff",
            b"hello",
            b"GRIB\0\0\0\x02\0\0\0\0\0\0\0\x14GRIB",
        ] {
            assert!(scan(bytes, &DecodeLimits::default()).is_err(), "{bytes:?}");
        }
        assert_eq!(first_message(b"xxGRIB\0\0\0\x05"), None, "needs a known edition byte");
        assert_eq!(first_message(b"xxGRIB\0\0\0\x02"), Some(2));
    }
}
