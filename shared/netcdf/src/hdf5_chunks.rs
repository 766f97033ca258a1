//! Fast path for chunked NetCDF-4 variables: read the compressed chunks
//! directly and decode them in parallel.
//!
//! netCDF-C decodes on one thread, behind a global lock (HDF5 is not
//! thread-safe), at about 160 MB/s for deflate-compressed float fields: the
//! bottleneck of an ingest. HDF5 tells where each chunk is stored and which
//! filters it went through. Those with only `shuffle` and `deflate` (what
//! netCDF-4 writers produce almost always) are read here with positional
//! reads, inflated with libdeflate and unshuffled, on every core. Anything else
//! (other filters, big-endian data, compound types) stays with netCDF-C.
//!
//! The chunk index is taken while no other HDF5 handle of the file is open
//! (see `open_files`), then the handle is closed: HDF5 is only used here to
//! learn the layout, never to read data.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use hdf5_sys::h5::{H5open, haddr_t, hsize_t};
use hdf5_sys::h5d::{
    H5D_layout_t, H5Dclose, H5Dget_chunk_info_by_coord, H5Dget_create_plist, H5Dget_space, H5Dget_type, H5Dopen2,
};
use hdf5_sys::h5e::{H5E_DEFAULT, H5Eset_auto2};
use hdf5_sys::h5f::{H5F_ACC_RDONLY, H5Fclose, H5Fopen};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{
    H5P_DEFAULT, H5Pclose, H5Pget_chunk, H5Pget_fill_value, H5Pget_filter2, H5Pget_layout, H5Pget_nfilters,
};
use hdf5_sys::h5s::{H5Sclose, H5Sget_simple_extent_dims};
use hdf5_sys::h5t::{H5T_class_t, H5T_order_t, H5Tclose, H5Tget_class, H5Tget_order, H5Tget_size};
use hdf5_sys::h5z::{H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE};
use hub_core::model::{DataType, Hyperslab, copy_subregion, paste_subregion, runs};
use hub_core::ports::DecodeError;
use rayon::prelude::*;

/// Beyond this many chunks, indexing costs more than it saves: HDF5 1.10
/// looks each chunk up on its own, and a lookup's cost grows with the count
/// (90,000 one-cell chunks: 113 s to index, where netCDF-C reads the whole
/// variable in 1.2 s).
const MAX_CHUNKS: u64 = 16_384;
/// Below this many bytes per chunk, reading and inflating each chunk here
/// gains nothing over netCDF-C's own loop.
const MIN_CHUNK_BYTES: u64 = 4 << 10;

/// Whether a variable of `chunks` chunks of `chunk_bytes` (decoded) each is
/// worth indexing for the fast path; otherwise netCDF-C reads it.
fn worth_indexing(chunks: u64, chunk_bytes: u64) -> bool {
    chunks <= MAX_CHUNKS && chunk_bytes >= MIN_CHUNK_BYTES
}
const HADDR_UNDEF: haddr_t = haddr_t::MAX;

/// One filter of a variable's pipeline, in the order they were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    Shuffle,
    Deflate,
}

/// Where a chunk is stored.
#[derive(Debug, Clone, Copy)]
struct ChunkLoc {
    offset: u64,
    size: u64,
    /// Bit i set: filter i was skipped for this chunk.
    mask: u32,
}

/// The storage layout of one chunked variable.
#[derive(Debug)]
pub(crate) struct ChunkIndex {
    shape: Vec<u64>,
    chunk: Vec<u64>,
    elem: usize,
    filters: Vec<Filter>,
    /// The fill value of unwritten chunks, one element.
    fill: Vec<u8>,
    /// Stored chunks by their index in the chunk grid.
    chunks: HashMap<Vec<u64>, ChunkLoc>,
}

/// Closes an HDF5 identifier when dropped.
struct Id(hid_t, unsafe extern "C" fn(hid_t) -> i32);

impl Drop for Id {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: the id was returned valid by HDF5 and is closed once.
            unsafe { (self.1)(self.0) };
        }
    }
}

/// Turns HDF5's automatic error printing off for the calling thread.
///
/// netCDF-C probes optional attributes (`_QuantizeBitRoundNumberOfSignificantBits`
/// and the like) and HDF5 prints a stack of `HDF5-DIAG` lines for every probe
/// that finds nothing — 165 lines for one demo file. The hub reports real
/// errors itself, once, in its own words. In a thread-safe HDF5 (Debian's is)
/// the setting belongs to each thread's error stack, so every thread that
/// opens files calls this first.
pub(crate) fn silence_hdf5_diagnostics() {
    thread_local! {
        static SILENCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if SILENCED.get() {
        return;
    }
    let _lock = hdf5_sys::LOCK.lock();
    // SAFETY: library initialisation and turning the automatic error printer
    // off are valid at any time; the lock serialises HDF5 calls.
    unsafe {
        H5open();
        H5Eset_auto2(H5E_DEFAULT, None, std::ptr::null_mut());
    }
    SILENCED.set(true);
}

/// Indexes the chunks of the variables at `paths` (HDF5 dataset paths such as
/// `/pr`), for those the fast path can read. Errors mean "no fast path", never
/// a failed ingest: netCDF-C then reads the variable.
pub(crate) fn index_file(path: &Path, variables: &[(String, DataType)]) -> HashMap<String, ChunkIndex> {
    silence_hdf5_diagnostics();
    let mut out = HashMap::new();
    let Ok(cpath) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return out;
    };
    let _lock = hdf5_sys::LOCK.lock();
    // SAFETY: a valid NUL-terminated path; read-only access; the id is closed by `Id`.
    let file = Id(unsafe { H5Fopen(cpath.as_ptr(), H5F_ACC_RDONLY, H5P_DEFAULT) }, H5Fclose);
    if file.0 < 0 {
        return out;
    }
    for (name, dtype) in variables {
        if let Some(index) = index_variable(file.0, name, *dtype) {
            out.insert(name.clone(), index);
        }
    }
    out
}

fn index_variable(file: hid_t, name: &str, dtype: DataType) -> Option<ChunkIndex> {
    let elem = dtype.size()?;
    let cname = CString::new(format!("/{}", name.trim_start_matches('/'))).ok()?;
    // SAFETY (this whole function): every id comes from HDF5 and is checked and
    // closed by `Id`; buffers passed to HDF5 are sized for what it writes; the
    // caller holds the HDF5 lock.
    let dset = Id(unsafe { H5Dopen2(file, cname.as_ptr(), H5P_DEFAULT) }, H5Dclose);
    if dset.0 < 0 {
        return None;
    }
    let dcpl = Id(unsafe { H5Dget_create_plist(dset.0) }, H5Pclose);
    if dcpl.0 < 0 || unsafe { H5Pget_layout(dcpl.0) } != H5D_layout_t::H5D_CHUNKED {
        return None;
    }
    let dtype_id = Id(unsafe { H5Dget_type(dset.0) }, H5Tclose);
    let class = unsafe { H5Tget_class(dtype_id.0) };
    if !matches!(class, H5T_class_t::H5T_INTEGER | H5T_class_t::H5T_FLOAT)
        || unsafe { H5Tget_order(dtype_id.0) } != H5T_order_t::H5T_ORDER_LE
        || unsafe { H5Tget_size(dtype_id.0) } != elem
    {
        return None;
    }
    let space = Id(unsafe { H5Dget_space(dset.0) }, H5Sclose);
    let mut dims = [0 as hsize_t; 32];
    let rank = unsafe { H5Sget_simple_extent_dims(space.0, dims.as_mut_ptr(), std::ptr::null_mut()) };
    let rank = usize::try_from(rank).ok().filter(|&r| r > 0 && r <= 32)?;
    let shape = dims[..rank].to_vec();
    let mut cdims = [0 as hsize_t; 32];
    if unsafe { H5Pget_chunk(dcpl.0, rank as i32, cdims.as_mut_ptr()) } != rank as i32 {
        return None;
    }
    let chunk = cdims[..rank].to_vec();
    if chunk.contains(&0) {
        return None;
    }
    let nfilters = unsafe { H5Pget_nfilters(dcpl.0) };
    let mut filters = Vec::new();
    for i in 0..u32::try_from(nfilters).ok()? {
        let mut flags = 0u32;
        let mut nelmts: usize = 8;
        let mut values = [0u32; 8];
        let mut config = 0u32;
        let id = unsafe {
            H5Pget_filter2(
                dcpl.0,
                i,
                &mut flags,
                &mut nelmts,
                values.as_mut_ptr(),
                0,
                std::ptr::null_mut(),
                &mut config,
            )
        };
        filters.push(match id {
            H5Z_FILTER_SHUFFLE => Filter::Shuffle,
            H5Z_FILTER_DEFLATE => Filter::Deflate,
            _ => return None,
        });
    }
    let mut fill = vec![0u8; elem];
    if unsafe { H5Pget_fill_value(dcpl.0, dtype_id.0, fill.as_mut_ptr().cast()) } < 0 {
        return None;
    }
    let grid: Vec<u64> = shape.iter().zip(&chunk).map(|(n, c)| n.div_ceil(*c)).collect();
    let total: u64 = grid.iter().fold(1u64, |n, &g| n.saturating_mul(g));
    let chunk_bytes = chunk.iter().fold(elem as u64, |n, &c| n.saturating_mul(c));
    if !worth_indexing(total, chunk_bytes) {
        return None;
    }
    let mut chunks = HashMap::with_capacity(usize::try_from(total).ok()?);
    let mut idx = vec![0u64; rank];
    for _ in 0..total {
        let offset: Vec<hsize_t> = idx.iter().zip(&chunk).map(|(i, c)| i * c).collect();
        let mut mask = 0u32;
        let mut addr: haddr_t = HADDR_UNDEF;
        let mut size: hsize_t = 0;
        let status = unsafe { H5Dget_chunk_info_by_coord(dset.0, offset.as_ptr(), &mut mask, &mut addr, &mut size) };
        if status >= 0 && addr != HADDR_UNDEF && size > 0 {
            chunks.insert(idx.clone(), ChunkLoc { offset: addr, size, mask });
        }
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < grid[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(ChunkIndex { shape, chunk, elem, filters, fill, chunks })
}

/// `buf` as a slice of `n` bytes, growing it if needed but never clearing it:
/// every byte handed out is overwritten by the caller (pread, inflate,
/// unshuffle), so zeroing it chunk after chunk would be wasted work.
fn grown(buf: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    &mut buf[..n]
}

thread_local! {
    /// The decoded chunk, for reads that take part of a chunk.
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static INFLATER: std::cell::RefCell<libdeflater::Decompressor> = std::cell::RefCell::new(libdeflater::Decompressor::new());
    /// Scratch space reused across chunks on each decoding thread.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Undoes HDF5's byte shuffle into `out`: byte b of element i was stored at
/// b * n + i. Writes are sequential (one element at a time, its bytes gathered
/// from the byte planes), which keeps it near memory speed.
#[cfg(test)]
fn unshuffle_into(src: &[u8], elem: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(src.len(), 0);
    unshuffle_slice(src, elem, out);
}

/// [`unshuffle_into`] writing into a slice of the same length as `src`.
fn unshuffle_slice(src: &[u8], elem: usize, out: &mut [u8]) {
    let n = src.len() / elem;
    match elem {
        4 => {
            let (p0, rest) = src.split_at(n);
            let (p1, rest) = rest.split_at(n);
            let (p2, p3) = rest.split_at(n);
            for (i, o) in out[..n * 4].chunks_exact_mut(4).enumerate() {
                o.copy_from_slice(&[p0[i], p1[i], p2[i], p3[i]]);
            }
        }
        8 => {
            let planes: Vec<&[u8]> = (0..8).map(|b| &src[b * n..(b + 1) * n]).collect();
            for (i, o) in out[..n * 8].chunks_exact_mut(8).enumerate() {
                for (b, v) in o.iter_mut().enumerate() {
                    *v = planes[b][i];
                }
            }
        }
        _ => {
            for b in 0..elem {
                for (i, &v) in src[b * n..(b + 1) * n].iter().enumerate() {
                    out[i * elem + b] = v;
                }
            }
        }
    }
    // Trailing bytes that do not fill an element are stored as they are.
    out[n * elem..].copy_from_slice(&src[n * elem..]);
}

#[cfg(test)]
fn unshuffle(src: &[u8], elem: usize) -> Vec<u8> {
    let mut out = Vec::new();
    unshuffle_into(src, elem, &mut out);
    out
}

impl ChunkIndex {
    /// Decodes one stored chunk and hands its raw bytes to `f`.
    fn decode<T>(
        &self,
        file: &std::fs::File,
        loc: &ChunkLoc,
        raw_len: usize,
        f: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        CHUNK.with(|chunk| {
            let mut chunk = chunk.borrow_mut();
            let dest = grown(&mut chunk, raw_len);
            self.decode_to(file, loc, dest)?;
            f(dest)
        })
    }

    /// Decodes one stored chunk straight into `dest` (exactly one chunk long):
    /// the last decoding step writes there, with no copy after it.
    fn decode_to(&self, file: &std::fs::File, loc: &ChunkLoc, dest: &mut [u8]) -> Result<(), DecodeError> {
        let stages: Vec<Filter> =
            self.filters.iter().enumerate().rev().filter(|(i, _)| loc.mask & (1 << i) == 0).map(|(_, f)| *f).collect();
        let size = usize::try_from(loc.size).map_err(|_| DecodeError::Corrupt("chunk too large".into()))?;
        let read_err = |e: std::io::Error| {
            DecodeError::Corrupt(format!("chunk at byte {} beyond the end of the file: {e}", loc.offset))
        };
        let Some((last, first)) = stages.split_last() else {
            if size != dest.len() {
                return Err(DecodeError::Corrupt(format!(
                    "an unfiltered chunk holds {size} bytes instead of {}",
                    dest.len()
                )));
            }
            return file.read_exact_at(dest, loc.offset).map_err(read_err);
        };
        let inflate = |src: &[u8], out: &mut [u8]| -> Result<usize, DecodeError> {
            INFLATER
                .with(|d| d.borrow_mut().zlib_decompress(src, out))
                .map_err(|e| DecodeError::Corrupt(format!("deflate stream of a chunk is damaged: {e:?}")))
        };
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (a, b) = &mut *scratch;
            file.read_exact_at(grown(a, size), loc.offset).map_err(read_err)?;
            // `len`: how many bytes of `a` hold the current stage's input.
            let mut len = size;
            for f in first {
                len = match f {
                    Filter::Deflate => inflate(&a[..len], grown(b, dest.len()))?,
                    Filter::Shuffle => {
                        unshuffle_slice(&a[..len], self.elem, grown(b, len));
                        len
                    }
                };
                std::mem::swap(a, b);
            }
            let n = match last {
                Filter::Deflate => inflate(&a[..len], dest)?,
                Filter::Shuffle if len == dest.len() => {
                    unshuffle_slice(&a[..len], self.elem, dest);
                    len
                }
                Filter::Shuffle => len,
            };
            if n != dest.len() {
                return Err(DecodeError::Corrupt(format!("a chunk decodes to {n} bytes instead of {}", dest.len())));
            }
            Ok(())
        })
    }

    /// Reads `region` into `out` (C order, little-endian), decoding the chunks it
    /// touches in parallel.
    pub(crate) fn read(&self, file: &std::fs::File, region: &Hyperslab, out: &mut [u8]) -> Result<(), DecodeError> {
        let rank = self.shape.len();
        let lo: Vec<u64> = (0..rank).map(|d| region.start[d] / self.chunk[d]).collect();
        let hi: Vec<u64> = (0..rank).map(|d| (region.start[d] + region.shape[d]).div_ceil(self.chunk[d])).collect();
        let mut coords = Vec::new();
        let mut idx = lo.clone();
        if region.is_empty() {
            return Ok(());
        }
        loop {
            coords.push(idx.clone());
            let mut d = rank;
            loop {
                if d == 0 {
                    break;
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < hi[d] {
                    break;
                }
                idx[d] = lo[d];
                if d == 0 {
                    d = usize::MAX;
                    break;
                }
            }
            if d == usize::MAX {
                break;
            }
        }
        let raw_len = usize::try_from(self.chunk.iter().product::<u64>())
            .map_err(|_| DecodeError::Corrupt("chunk too large".into()))?
            * self.elem;
        // The usual case for slabs planned along the source's chunks: every chunk
        // lies whole and contiguous in the region. Each is then decoded straight
        // into its own disjoint slice of `out`.
        let whole: Option<Vec<(usize, &Vec<u64>)>> = coords
            .iter()
            .map(|c| {
                let chunk_region = Hyperslab {
                    start: c.iter().zip(&self.chunk).map(|(i, n)| i * n).collect(),
                    shape: self.chunk.clone(),
                };
                match runs(region, &chunk_region) {
                    Some(r) if r.len() == 1 && r[0].1 * self.elem == raw_len => Some((r[0].0 * self.elem, c)),
                    _ => None,
                }
            })
            .collect();
        if let Some(mut whole) = whole {
            whole.sort_by_key(|(offset, _)| *offset);
            let mut slices = Vec::with_capacity(whole.len());
            let mut rest: &mut [u8] = out;
            let mut at = 0;
            for (offset, c) in whole {
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(offset - at);
                let (mine, tail) = tail.split_at_mut(raw_len);
                slices.push((c, mine));
                rest = tail;
                at = offset + raw_len;
            }
            return slices.into_par_iter().try_for_each(|(c, dest)| match self.chunks.get(c) {
                Some(loc) => self.decode_to(file, loc, dest),
                None => {
                    for (d, v) in dest.iter_mut().zip(self.fill.iter().cycle()) {
                        *d = *v;
                    }
                    Ok(())
                }
            });
        }
        let out = Mutex::new(out);
        coords.par_iter().try_for_each(|c| -> Result<(), DecodeError> {
            let chunk_region =
                Hyperslab { start: c.iter().zip(&self.chunk).map(|(i, n)| i * n).collect(), shape: self.chunk.clone() };
            let start: Vec<u64> = (0..rank).map(|d| chunk_region.start[d].max(region.start[d])).collect();
            let end: Vec<u64> = (0..rank)
                .map(|d| (chunk_region.start[d] + chunk_region.shape[d]).min(region.start[d] + region.shape[d]))
                .collect();
            let sub = Hyperslab { shape: end.iter().zip(&start).map(|(e, s)| e - s).collect(), start };
            let fill = || -> Vec<u8> {
                self.fill.iter().copied().cycle().take(usize::try_from(sub.len()).unwrap_or(0) * self.elem).collect()
            };
            let paste = |piece: &[u8]| -> Result<(), DecodeError> {
                let mut out = out.lock().map_err(|_| DecodeError::InvalidRequest("output lock poisoned".into()))?;
                paste_subregion(&mut out, region, piece, &sub, self.elem)
                    .ok_or_else(|| DecodeError::InvalidRequest("output buffer does not fit the region".into()))
            };
            match self.chunks.get(c) {
                Some(loc) => self.decode(file, loc, raw_len, |raw| {
                    if sub == chunk_region {
                        // The whole chunk is wanted: no intermediate copy.
                        paste(raw)
                    } else {
                        let piece = copy_subregion(raw, &chunk_region, &sub, self.elem)
                            .ok_or_else(|| DecodeError::Corrupt("chunk smaller than its shape".into()))?;
                        paste(&piece)
                    }
                }),
                None => paste(&fill()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_or_countless_chunks_stay_with_netcdf_c() {
        assert!(worth_indexing(3650, 360 * 720 * 4), "daily maps");
        assert!(!worth_indexing(90_000, 4), "one-cell chunks");
        assert!(!worth_indexing(100, 1024), "1 KiB chunks");
        assert!(!worth_indexing(200_000, 1 << 20), "too many to look up one by one");
    }

    #[test]
    fn unshuffle_inverts_hdf5_shuffle() {
        let values: Vec<u8> = (0u32..5).flat_map(|v| (v * 0x01020304).to_le_bytes()).chain([0xAA, 0xBB]).collect();
        let n = 5;
        let mut shuffled = vec![0u8; values.len()];
        for i in 0..n {
            for b in 0..4 {
                shuffled[b * n + i] = values[i * 4 + b];
            }
        }
        shuffled[20..].copy_from_slice(&values[20..]);
        assert_eq!(unshuffle(&shuffled, 4), values);
    }
}
