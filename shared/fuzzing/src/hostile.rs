//! Hostile and damaged inputs, written by the project's own code: the shapes
//! a probe of the hub found, rebuilt byte by byte, and the mutations the
//! corruption suite applies to the project's fixtures (cuts, bit flips, huge
//! declared sizes). Deterministic: a seed gives the same variants everywhere.

/// A NetCDF-3 classic (CDF-1) variable: name, dimension ids, type (6 = double).
#[derive(Debug, Clone)]
pub struct ClassicVar {
    /// Raw name bytes (they may be anything: that is the point).
    pub name: Vec<u8>,
    /// Dimension ids.
    pub dims: Vec<u32>,
    /// NetCDF type code.
    pub nc_type: u32,
}

fn name(out: &mut Vec<u8>, n: &[u8]) {
    out.extend((n.len() as u32).to_be_bytes());
    out.extend(n);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// A CDF-1 file with the given dimensions (`len` 0: the record dimension),
/// variables and record count; data are zeros, laid out as the header says.
pub fn classic(dims: &[(&[u8], u32)], vars: &[ClassicVar], numrecs: u32) -> Vec<u8> {
    let type_size = |t: u32| match t {
        1 | 2 => 1u32,
        3 => 2,
        4 | 5 => 4,
        _ => 8,
    };
    let vsize = |v: &ClassicVar| -> u32 {
        let n: u32 = v.dims.iter().filter_map(|&d| dims.get(d as usize)).map(|(_, l)| (*l).max(1)).product();
        (n * type_size(v.nc_type)).next_multiple_of(4)
    };
    let header = |begins: &[u32]| -> Vec<u8> {
        let mut h = b"CDF\x01".to_vec();
        h.extend(numrecs.to_be_bytes());
        if dims.is_empty() {
            h.extend([0u8; 8]);
        } else {
            h.extend(0x0Au32.to_be_bytes());
            h.extend((dims.len() as u32).to_be_bytes());
            for (n, len) in dims {
                name(&mut h, n);
                h.extend(len.to_be_bytes());
            }
        }
        h.extend([0u8; 8]); // no global attributes
        h.extend(0x0Bu32.to_be_bytes());
        h.extend((vars.len() as u32).to_be_bytes());
        for (v, begin) in vars.iter().zip(begins) {
            name(&mut h, &v.name);
            h.extend((v.dims.len() as u32).to_be_bytes());
            for d in &v.dims {
                h.extend(d.to_be_bytes());
            }
            h.extend([0u8; 8]); // no attributes
            h.extend(v.nc_type.to_be_bytes());
            h.extend(vsize(v).to_be_bytes());
            h.extend(begin.to_be_bytes());
        }
        h
    };
    // The header's length does not depend on the begins: lay out after it.
    let len = header(&vec![0; vars.len()]).len() as u32;
    let mut begins = Vec::new();
    let mut at = len;
    for v in vars {
        begins.push(at);
        at += vsize(v);
    }
    let mut file = header(&begins);
    let records = if numrecs == u32::MAX { 1 } else { numrecs.max(1) };
    let data: u32 = vars
        .iter()
        .map(|v| {
            vsize(v)
                * if v.dims.first().is_some_and(|&d| dims.get(d as usize).is_some_and(|(_, l)| *l == 0)) {
                    records
                } else {
                    1
                }
        })
        .sum();
    file.resize(file.len() + data as usize, 0);
    file
}

fn var(n: &[u8], dims: Vec<u32>) -> ClassicVar {
    ClassicVar { name: n.to_vec(), dims, nc_type: 6 }
}

/// A variable with `rank` dimensions of length 1 (netCDF-C keeps dimension
/// ids in arrays of 1024: 2000 overran its stack). About 36 KB at 2000.
pub fn classic_deep_rank(rank: u32) -> Vec<u8> {
    let names: Vec<Vec<u8>> = (0..rank).map(|i| format!("d{i}").into_bytes()).collect();
    let dims: Vec<(&[u8], u32)> = names.iter().map(|n| (n.as_slice(), 1)).collect();
    classic(&dims, &[var(b"v", (0..rank).collect())], 0)
}

/// A record coordinate with the streaming record count 0xFFFFFFFF (made
/// the hub allocate 32 GiB for it).
pub fn classic_streaming_record() -> Vec<u8> {
    classic(&[(b"time", 0)], &[var(b"time", vec![0])], u32::MAX)
}

/// One 1-D variable `name` over `x` (length 4), with a coordinate `x`.
pub fn classic_named(variable: &[u8]) -> Vec<u8> {
    classic(&[(b"x", 4)], &[var(b"x", vec![0]), var(variable, vec![0])], 0)
}

/// A classic little-endian TIFF of one directory declaring `width` ×
/// `height` pixels of `bits` bits and `bands` samples (band-interleaved when
/// `planar`), with no image data at all.
pub fn tiff_declaring(width: u32, height: u32, bits: u16, bands: u16, planar: bool) -> Vec<u8> {
    let entries: [(u16, u16, u32, u32); 7] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, u32::from(bits)),
        (259, 3, 1, 1),
        (277, 3, 1, u32::from(bands)),
        (284, 3, 1, if planar { 2 } else { 1 }),
        (339, 3, 1, if bits >= 32 { 3 } else { 1 }),
    ];
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
    b
}

/// The byte ranges of a GRIB2 file's messages.
pub fn grib_messages(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = bytes.get(at..).and_then(|b| b.windows(4).position(|w| w == b"GRIB")) {
        let start = at + i;
        let Some(len) = bytes.get(start + 8..start + 16).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_be_bytes(a) as usize
        }) else {
            break;
        };
        if len < 16 || start + len > bytes.len() {
            break;
        }
        out.push(start..start + len);
        at = start + len;
    }
    out
}

/// A GRIB2 file as an NDFD-style bulletin: a WMO header before every
/// message and padding after each.
pub fn grib_as_bulletins(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in grib_messages(bytes).into_iter().enumerate() {
        out.extend(format!("****{:04}****\r\r\nYEUZ98 KWBN 101200\r\r\n", i + 1).as_bytes());
        out.extend(&bytes[m]);
        out.extend([0u8; 7]);
    }
    out
}

/// The grid section (3) of every message turned into a reduced Gaussian grid
/// (template 3.40, rows of different lengths: a list of points per row).
pub fn grib_reduced_gaussian(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in grib_messages(bytes) {
        let mut at = m.start + 16;
        while at + 5 <= m.end - 4 {
            let len = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]) as usize;
            if len < 5 {
                break;
            }
            if out[at + 4] == 3 && len >= 38 {
                out[at + 10] = 2; // octets per row count
                out[at + 12..at + 14].copy_from_slice(&40u16.to_be_bytes());
                out[at + 30..at + 34].copy_from_slice(&u32::MAX.to_be_bytes());
            }
            at += len;
        }
    }
    out
}

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// How a variant was made, for messages.
#[derive(Debug, Clone)]
pub struct Variant {
    /// What was done (`cut at 1234`, `bit 3 of byte 77`...).
    pub what: String,
    /// The damaged bytes.
    pub bytes: Vec<u8>,
}

/// Damaged copies of `bytes`: cuts at `cuts` places (the first bytes, the
/// header's end, the middle, one byte short), `flips` single-bit flips and
/// `words` 4-byte overwrites with huge values, at positions in `header` (the
/// byte range where the format keeps what it declares).
pub fn mutations(
    bytes: &[u8],
    header: std::ops::Range<usize>,
    cuts: usize,
    flips: usize,
    words: usize,
    seed: u64,
) -> Vec<Variant> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let n = bytes.len();
    let lo = header.start.min(n.saturating_sub(1));
    let span = header.end.min(n).saturating_sub(lo).max(1);
    let at_header = |rng: &mut Rng| lo + rng.below(span);
    let mut places: Vec<usize> = vec![n.saturating_sub(1), n / 2, lo + span, lo + span / 2, 8, 1];
    while places.len() < cuts {
        places.push(rng.below(n));
    }
    places.truncate(cuts);
    for at in places.into_iter().map(|p| p.min(n)) {
        out.push(Variant { what: format!("cut at byte {at} of {n}"), bytes: bytes[..at].to_vec() });
    }
    for _ in 0..flips {
        let (at, bit) = (at_header(&mut rng), rng.below(8));
        let mut b = bytes.to_vec();
        b[at] ^= 1 << bit;
        out.push(Variant { what: format!("bit {bit} of byte {at} flipped"), bytes: b });
    }
    for _ in 0..words {
        let at = at_header(&mut rng).min(n.saturating_sub(4));
        let value: u32 = [u32::MAX, 0x7FFF_FFFF, 0x0100_0000, 0xFFFF_0000][rng.below(4)];
        let mut b = bytes.to_vec();
        if at + 4 <= b.len() {
            b[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        out.push(Variant { what: format!("bytes {at}..{} set to {value:#x}", at + 4), bytes: b });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_writer_lays_out_what_it_declares() {
        let f = classic_named(b"tas");
        assert!(f.starts_with(b"CDF\x01"));
        // Two 4-value doubles after the header.
        assert_eq!(f.len() % 4, 0);
        assert!(classic_deep_rank(2000).len() > 30_000);
        assert_eq!(&classic_streaming_record()[4..8], &[0xFF; 4]);
    }

    #[test]
    fn mutations_are_deterministic_and_counted() {
        let bytes: Vec<u8> = (0..=255).collect();
        let a = mutations(&bytes, 0..64, 8, 10, 5, 7);
        let b = mutations(&bytes, 0..64, 8, 10, 5, 7);
        assert_eq!(a.len(), 23);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes));
    }
}
