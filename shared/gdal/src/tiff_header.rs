//! What a TIFF's first image directory declares, checked before GDAL opens
//! the file: libtiff allocates what the tags say, and a few hundred bytes can
//! declare 10⁹ pixels. The checks are the limits (cells, bands, decoded bytes),
//! layouts the hub would decode over and over (many pixel-interleaved bands,
//! one huge compressed strip), and truncation: every strip or tile must lie
//! inside the file (GDAL would read the ones before a cut and fill the rest).
//! Only the first directory is checked: it is the full-resolution image the
//! hub reads; overviews and masks are never read.

use hub_core::ports::{DecodeError, DecodeLimits};

use crate::read_at::ReadAt;

/// A compressed strip or tile is decoded whole: larger than this, one read
/// takes more memory than the whole ingest may.
const MAX_BLOCK_BYTES: u64 = 1 << 30;
/// Pixel-interleaved bands are decoded together for every band read: past
/// this many, reading them band by band multiplies the work by the count.
const MAX_INTERLEAVED_BANDS: u64 = 64;
/// More entries than there are TIFF tags means a damaged directory.
const MAX_ENTRIES: u64 = 4096;

fn corrupt(m: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("{m}; the GeoTIFF is damaged: check it with gdalinfo and upload it again"))
}

fn truncated(m: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("truncated: {m}; upload it again"))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    /// Where the values are: inside the entry, or at an offset in the file.
    at: u64,
}

struct Tiff<'a, R: ReadAt + ?Sized> {
    src: &'a R,
    little: bool,
    big: bool,
}

impl<R: ReadAt + ?Sized> Tiff<'_, R> {
    fn bytes<const N: usize>(&self, at: u64) -> Result<[u8; N], DecodeError> {
        let mut b = [0u8; N];
        self.src
            .read_exact_at(at, &mut b)
            .map_err(|_| truncated(format!("the TIFF header at byte {at} is cut off")))?;
        Ok(b)
    }

    fn u16(&self, at: u64) -> Result<u16, DecodeError> {
        let b = self.bytes::<2>(at)?;
        Ok(if self.little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    fn u32(&self, at: u64) -> Result<u32, DecodeError> {
        let b = self.bytes::<4>(at)?;
        Ok(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn u64(&self, at: u64) -> Result<u64, DecodeError> {
        let b = self.bytes::<8>(at)?;
        Ok(if self.little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }

    /// Bytes per value of a field type (unsigned integer types are what the
    /// checked tags hold).
    fn type_size(kind: u16) -> Option<u64> {
        Some(match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 | 16 | 17 | 18 => 8,
            _ => return None,
        })
    }

    fn entries(&self, ifd: u64) -> Result<Vec<Entry>, DecodeError> {
        let (count, first, size) =
            if self.big { (self.u64(ifd)?, ifd + 8, 20) } else { (u64::from(self.u16(ifd)?), ifd + 2, 12) };
        if count == 0 || count > MAX_ENTRIES {
            return Err(corrupt(format!("its image directory declares {count} entries")));
        }
        let mut out = Vec::new();
        for i in 0..count {
            let e = first + i * size;
            let tag = self.u16(e)?;
            let kind = self.u16(e + 2)?;
            let (count, value_at) =
                if self.big { (self.u64(e + 4)?, e + 12) } else { (u64::from(self.u32(e + 4)?), e + 8) };
            let Some(ts) = Self::type_size(kind) else { continue };
            let inline = if self.big { 8 } else { 4 };
            let at = if count.saturating_mul(ts) <= inline {
                value_at
            } else if self.big {
                self.u64(value_at)?
            } else {
                u64::from(self.u32(value_at)?)
            };
            out.push(Entry { tag, kind, count, at });
        }
        Ok(out)
    }

    /// Value `i` of an unsigned integer field.
    fn value(&self, e: &Entry, i: u64) -> Result<u64, DecodeError> {
        let ts = Self::type_size(e.kind).unwrap_or(1);
        let at = e.at + i * ts;
        Ok(match e.kind {
            1 | 7 => u64::from(self.bytes::<1>(at)?[0]),
            3 => u64::from(self.u16(at)?),
            4 | 13 => u64::from(self.u32(at)?),
            16 | 18 => self.u64(at)?,
            _ => return Err(corrupt(format!("tag {} has type {}, not an unsigned integer", e.tag, e.kind))),
        })
    }
}

/// What the checks learnt, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declared {
    pub(crate) width: u64,
    pub(crate) height: u64,
    pub(crate) bands: u64,
    pub(crate) blocks: u64,
}

/// Checks a TIFF (`None`: not a TIFF). See the module documentation.
pub(crate) fn check(src: &(impl ReadAt + ?Sized), limits: &DecodeLimits) -> Result<Option<Declared>, DecodeError> {
    let mut magic = [0u8; 4];
    if src.read_exact_at(0, &mut magic).is_err() {
        return Ok(None);
    }
    let (little, big) = match magic {
        [b'I', b'I', 42, 0] => (true, false),
        [b'M', b'M', 0, 42] => (false, false),
        [b'I', b'I', 43, 0] => (true, true),
        [b'M', b'M', 0, 43] => (false, true),
        _ => return Ok(None),
    };
    let t = Tiff { src, little, big };
    let ifd = if big {
        if t.u16(4)? != 8 {
            return Err(corrupt("a BigTIFF header with an offset size other than 8"));
        }
        t.u64(8)?
    } else {
        u64::from(t.u32(4)?)
    };
    if ifd < 8 || ifd >= src.size() {
        return Err(truncated(format!("the first image directory is at byte {ifd} of a {}-byte file", src.size())));
    }
    let entries = t.entries(ifd)?;
    let find = |tag: u16| entries.iter().find(|e| e.tag == tag && e.count > 0);
    let scalar = |tag: u16, default: Option<u64>| -> Result<u64, DecodeError> {
        match find(tag) {
            Some(e) => t.value(e, 0),
            None => default.ok_or_else(|| corrupt(format!("its image directory has no tag {tag}"))),
        }
    };
    let width = scalar(256, None)?;
    let height = scalar(257, None)?;
    let bands = scalar(277, Some(1))?;
    let bits = scalar(258, Some(1))?.max(1);
    let planar = scalar(284, Some(1))?;
    let compression = scalar(259, Some(1))?;
    if width == 0 || height == 0 || bands == 0 {
        return Err(corrupt(format!("an image of {width} × {height} pixels and {bands} bands")));
    }
    let cells = width.saturating_mul(height);
    if cells > limits.max_grid_cells {
        return Err(DecodeError::TooLarge(format!(
            "a raster of {width} × {height} = {cells} cells, over the limit of {} cells (HUB_LIMIT_GRID_CELLS)",
            limits.max_grid_cells
        )));
    }
    if bands > limits.max_bands {
        return Err(DecodeError::TooLarge(format!(
            "a raster of {bands} bands, over the limit of {} (HUB_LIMIT_BANDS)",
            limits.max_bands
        )));
    }
    let decoded = cells.saturating_mul(bands).saturating_mul(bits) / 8;
    if decoded > limits.max_decoded_bytes {
        return Err(DecodeError::TooLarge(format!(
            "the raster decodes to {decoded} bytes, over the limit of {} per file (HUB_LIMIT_DECODED_GIB)",
            limits.max_decoded_bytes
        )));
    }
    let chunky = planar != 2;
    if chunky && bands > MAX_INTERLEAVED_BANDS {
        return Err(DecodeError::Unsupported(format!(
            "{bands} pixel-interleaved bands: every band read would decode all of them; rewrite the file band-interleaved (gdal_translate -co INTERLEAVE=BAND) and upload it again"
        )));
    }
    let (block_w, block_h, offsets_tag, counts_tag) = match (find(322), find(323)) {
        (Some(w), Some(h)) => (t.value(w, 0)?, t.value(h, 0)?, 324, 325),
        _ => (width, scalar(278, Some(height))?.clamp(1, height), 273, 279),
    };
    if block_w == 0 || block_h == 0 {
        return Err(corrupt(format!("tiles of {block_w} × {block_h} pixels")));
    }
    let per_block =
        block_w.saturating_mul(block_h).saturating_mul(if chunky { bands } else { 1 }).saturating_mul(bits) / 8;
    if compression != 1 && per_block > MAX_BLOCK_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "compressed strips or tiles of {per_block} bytes each, decoded whole at every read (more than {MAX_BLOCK_BYTES}); rewrite the file tiled (gdal_translate -co TILED=YES) and upload it again"
        )));
    }
    let blocks =
        width.div_ceil(block_w).saturating_mul(height.div_ceil(block_h)).saturating_mul(if chunky { 1 } else { bands });
    check_blocks(&t, find(offsets_tag), find(counts_tag))?;
    Ok(Some(Declared { width, height, bands, blocks }))
}

/// Every stored strip or tile lies inside the file (offset and byte count
/// both 0 is a block never written, which GDAL reads as nodata).
fn check_blocks<R: ReadAt + ?Sized>(
    t: &Tiff<'_, R>,
    offsets: Option<&Entry>,
    counts: Option<&Entry>,
) -> Result<(), DecodeError> {
    let (Some(offsets), Some(counts)) = (offsets, counts) else {
        return Ok(()); // uncompressed files may omit the counts
    };
    let size = t.src.size();
    for e in [offsets, counts] {
        let ts = Tiff::<R>::type_size(e.kind).unwrap_or(1);
        let end = e.count.checked_mul(ts).and_then(|n| e.at.checked_add(n));
        if end.is_none_or(|end| end > size) {
            return Err(truncated(format!(
                "the table of {} strip or tile positions runs past the end of the file",
                e.count
            )));
        }
    }
    for i in 0..offsets.count.min(counts.count) {
        let (at, n) = (t.value(offsets, i)?, t.value(counts, i)?);
        if n == 0 {
            continue;
        }
        if at.checked_add(n).is_none_or(|end| end > size) {
            return Err(truncated(format!(
                "strip or tile {i} ({n} bytes at byte {at}) runs past the end of the file ({size} bytes)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian classic TIFF: one directory of (tag, type, count, value) entries.
    fn tiff(entries: &[(u16, u16, u32, u32)], tail: &[u8]) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        b.extend((entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(count.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.extend(tail);
        b
    }

    #[test]
    fn a_small_striped_image_passes_and_a_cut_one_does_not() {
        let data = vec![7u8; 100];
        let at = 8 + 2 + 12 * 7 + 4; // the data right after the directory
        let entries = [
            (256, 3, 1, 10),
            (257, 3, 1, 10),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (273, 4, 1, at),
            (278, 3, 1, 10),
            (279, 4, 1, 100),
        ];
        let whole = tiff(&entries, &data);
        let d = check(whole.as_slice(), &DecodeLimits::default()).ok().flatten();
        assert_eq!(d.map(|d| (d.width, d.height, d.bands, d.blocks)), Some((10, 10, 1, 1)));
        let cut = &whole[..whole.len() - 1];
        let e = check(cut, &DecodeLimits::default()).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("truncated") && e.contains("strip or tile 0"), "{e}");
    }

    #[test]
    fn declared_sizes_over_the_limits_are_refused_before_gdal() {
        // 10⁹ float64 pixels in a 100-byte file.
        let huge = tiff(&[(256, 4, 1, 40_000), (257, 4, 1, 25_000), (258, 3, 1, 64), (339, 3, 1, 3)], &[]);
        let limits = DecodeLimits { max_grid_cells: 1 << 26, ..DecodeLimits::default() };
        let e = check(huge.as_slice(), &limits).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("HUB_LIMIT_GRID_CELLS"), "{e}");
        let bands = tiff(&[(256, 3, 1, 4096), (257, 3, 1, 4096), (277, 3, 1, 2000), (284, 3, 1, 2)], &[]);
        let e =
            check(bands.as_slice(), &DecodeLimits::default()).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("HUB_LIMIT_BANDS"), "{e}");
        let interleaved = tiff(&[(256, 3, 1, 64), (257, 3, 1, 64), (277, 3, 1, 200)], &[]);
        let e = check(interleaved.as_slice(), &DecodeLimits::default())
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(e.contains("INTERLEAVE=BAND"), "{e}");
        let strip = tiff(&[(256, 4, 1, 30_000), (257, 4, 1, 30_000), (258, 3, 1, 16), (259, 3, 1, 8)], &[]);
        let e =
            check(strip.as_slice(), &DecodeLimits::default()).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("TILED=YES"), "{e}");
    }

    #[test]
    fn not_a_tiff_is_none_and_garbage_is_an_error() {
        assert!(check(b"GRIB".as_slice(), &DecodeLimits::default()).is_ok_and(|d| d.is_none()));
        for bytes in
            [&b"II*\0"[..], b"II*\0\xff\xff\xff\xff", b"II+\0\x08\0\0\0\0\0\0\0\0\0\0\0", b"MM\0*\0\0\0\x08\xff\xff"]
        {
            assert!(check(bytes, &DecodeLimits::default()).is_err(), "{bytes:?}");
        }
    }
}
