//! Positional reads over a file or a byte slice, so each header check is one
//! piece of code for the ingest (a file, read piece by piece: memory stays
//! small whatever the file declares) and for fuzzing (bytes).

use std::io;

/// Something that can be read at an offset.
pub(crate) trait ReadAt {
    /// Total length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; an error when the source ends first.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start.checked_add(buf.len()).ok_or(io::ErrorKind::UnexpectedEof)?;
        let src = self.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file and its length, taken once.
pub(crate) struct FileAt {
    file: std::fs::File,
    len: u64,
}

impl FileAt {
    pub(crate) fn open(path: &std::path::Path) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl ReadAt for FileAt {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// Where `needle` first occurs in `src` at or after `from`, reading 64 KiB at
/// a time.
pub(crate) fn find(src: &(impl ReadAt + ?Sized), from: u64, needle: &[u8]) -> io::Result<Option<u64>> {
    const STEP: u64 = 64 * 1024;
    let size = src.size();
    let overlap = needle.len().saturating_sub(1) as u64;
    let mut at = from;
    let mut buf = Vec::new();
    while at < size {
        let n = (size - at).min(STEP + overlap);
        buf.resize(n as usize, 0);
        src.read_exact_at(at, &mut buf)?;
        if let Some(i) = buf.windows(needle.len()).position(|w| w == needle) {
            return Ok(Some(at + i as u64));
        }
        if n <= overlap {
            break;
        }
        at += n - overlap;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_across_steps() {
        let mut bytes = vec![0u8; 200_000];
        bytes[65_535..65_539].copy_from_slice(b"GRIB");
        assert_eq!(find(bytes.as_slice(), 0, b"GRIB").ok().flatten(), Some(65_535));
        assert_eq!(find(bytes.as_slice(), 65_536, b"GRIB").ok().flatten(), None);
        assert_eq!(find(b"xxGRI".as_slice(), 0, b"GRIB").ok().flatten(), None);
    }
}
