//! The decoder child: a hub binary started with [`CHILD_ARG`] opens one file
//! with the decoders it was built with and answers reads until told to close.
//!
//! Before touching the file it limits itself (address space for data, CPU
//! time, no core files) and moves stdout out of the C libraries' way: the
//! protocol goes to a private duplicate, and whatever a library prints lands
//! on stderr, which the parent keeps the tail of for its message.

use std::ffi::OsString;
use std::io::{BufReader, BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use hub_core::model::BlockData;
use hub_core::ports::{DecodeError, DecoderRegistry, HEAD_BYTES, SourceDataset};
use rustix::process::{Resource, Rlimit, setrlimit};

use crate::protocol::{CHILD_ARG, Reply, Request, read_frame, write_frame};

/// Exit status after a panic: the decoder's state is not trusted any more.
const PANICKED: i32 = 70;

/// If this process was started as a decoder child, serves the parent and
/// exits; otherwise returns at once. Call it first in `main`, before any
/// runtime starts, with the decoders the binary links.
pub fn run_if_child(decoders: impl FnOnce() -> DecoderRegistry) {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(CHILD_ARG.as_ref()) {
        return;
    }
    let limits = ChildLimits::parse(args);
    std::process::exit(serve(&decoders(), &limits));
}

/// The limits the parent passed on the command line.
#[derive(Debug, Default)]
struct ChildLimits {
    memory_bytes: Option<u64>,
    cpu_seconds: Option<u64>,
}

impl ChildLimits {
    fn parse(args: impl Iterator<Item = OsString>) -> Self {
        let mut out = Self::default();
        let mut args = args.map(|a| a.to_string_lossy().into_owned());
        while let Some(flag) = args.next() {
            let value = args.next().and_then(|v| v.parse::<u64>().ok());
            match flag.as_str() {
                "--memory-bytes" => out.memory_bytes = value,
                "--cpu-seconds" => out.cpu_seconds = value,
                _ => {}
            }
        }
        out
    }

    fn apply(&self) -> std::io::Result<()> {
        setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
        if let Some(bytes) = self.memory_bytes {
            // The data segment and private mappings: what decoding allocates,
            // not the libraries mapped from disk.
            setrlimit(Resource::Data, Rlimit { current: Some(bytes), maximum: Some(bytes) })?;
        }
        if let Some(s) = self.cpu_seconds {
            // SIGXCPU at the soft limit, SIGKILL a little later.
            setrlimit(Resource::Cpu, Rlimit { current: Some(s), maximum: Some(s + 5) })?;
        }
        Ok(())
    }
}

fn serve(decoders: &DecoderRegistry, limits: &ChildLimits) -> i32 {
    if let Err(e) = limits.apply() {
        eprintln!("hub decoder: cannot set limits: {e}");
        return 2;
    }
    let protocol = match rustix::io::dup(std::io::stdout()) {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => {
            eprintln!("hub decoder: {e}");
            return 2;
        }
    };
    if let Err(e) = rustix::stdio::dup2_stdout(std::io::stderr()) {
        eprintln!("hub decoder: {e}");
        return 2;
    }
    let mut out = BufWriter::with_capacity(1 << 20, protocol);
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut source: Option<Box<dyn SourceDataset>> = None;
    // The last slab's buffer, reused for the next: no fresh pages per slab.
    let mut spare = Vec::new();
    loop {
        let request: Request = match read_frame(&mut input) {
            Ok(Some(r)) => r,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("hub decoder: bad request: {e}");
                return 2;
            }
        };
        let (reply, payload, panicked) = match request {
            Request::Open { path, hints } => {
                let opened = guarded(|| {
                    let decoder = decoders.detect(&head(&path)?)?;
                    decoder.open_with(&path, &hints)
                });
                match opened {
                    Ok(Ok(s)) => {
                        let reply = Reply::Opened { format: s.format().to_string(), schema: s.schema().clone() };
                        source = Some(s);
                        (reply, None, false)
                    }
                    Ok(Err(e)) => (Reply::failed(&e), None, false),
                    Err(e) => (Reply::failed(&e), None, true),
                }
            }
            Request::Read { path, region } => {
                let Some(s) = source.as_mut() else {
                    eprintln!("hub decoder: read before open");
                    return 2;
                };
                let buffer = std::mem::take(&mut spare);
                match guarded(|| s.read_into(&path, &region, buffer)) {
                    Ok(Ok(BlockData::Numeric(bytes))) => {
                        (Reply::Numeric { len: bytes.len() as u64 }, Some(bytes), false)
                    }
                    Ok(Ok(BlockData::Strings(values))) => (Reply::Strings { values }, None, false),
                    Ok(Err(e)) => (Reply::failed(&e), None, false),
                    Err(e) => (Reply::failed(&e), None, true),
                }
            }
            Request::Close => {
                drop(source.take());
                let reply = Reply::Closed { peak_rss_bytes: crate::peak_rss_of_self().unwrap_or(0) };
                // The parent may have stopped listening; the child exits either way.
                let _ = write_frame(&mut out, &reply).and_then(|()| out.flush());
                return 0;
            }
        };
        let sent = write_frame(&mut out, &reply)
            .and_then(|()| payload.as_deref().map_or(Ok(()), |p| out.write_all(p)))
            .and_then(|()| out.flush());
        if let Some(bytes) = payload {
            spare = bytes;
        }
        if sent.is_err() {
            return 2; // the parent is gone
        }
        if panicked {
            return PANICKED;
        }
    }
}

/// The file's first bytes, as the registry detects formats by them.
fn head(path: &std::path::Path) -> Result<Vec<u8>, DecodeError> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    std::fs::File::open(path)?.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Runs a decoder call; a panic becomes [`DecodeError::Crashed`] (`Err`).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, DecodeError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        DecodeError::Crashed(format!(
            "the decoder panicked ({why}); the file is damaged or uses something its library cannot read"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_arguments() {
        let args = ["--memory-bytes", "1024", "--cpu-seconds", "7", "--unknown", "x"].map(OsString::from);
        let l = ChildLimits::parse(args.into_iter());
        assert_eq!((l.memory_bytes, l.cpu_seconds), (Some(1024), Some(7)));
    }

    #[test]
    fn a_panic_is_an_error_naming_it() {
        let r: Result<(), DecodeError> = guarded(|| panic!("called `Option::unwrap()` on a `None` value"));
        let e = r.map(|()| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("panicked") && e.contains("unwrap"), "{e}");
    }
}
