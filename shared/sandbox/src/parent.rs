//! The ingest process's side: decoders that open each file in a child process
//! and read it over a pipe, watched by a timer.
//!
//! Longer than the house's ~500 lines: the read-ahead queue, the watchdog
//! and the child's lifetime are one state machine over one pipe; split, each
//! part would have to know the others' invariants.

use std::collections::VecDeque;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hub_core::model::{BlockData, DataType, DatasetSchema, Hyperslab};
use hub_core::ports::{DecodeError, DecodeHints, DecoderRegistry, SourceDataset, SourceDecoder, checked_read};

use crate::protocol::{CHILD_ARG, Reply, Request, read_frame, write_frame};
use crate::{STATS, SandboxLimits};

/// The pipe size asked for the child's answers.
const PIPE_BYTES: usize = 1 << 20;

/// How a decoder child is started and limited.
#[derive(Debug, Clone)]
pub struct Sandbox {
    program: PathBuf,
    limits: SandboxLimits,
}

impl Sandbox {
    /// Children are `program` (a binary that calls
    /// [`run_if_child`](crate::run_if_child) first in `main`) under `limits`.
    pub fn new(program: impl Into<PathBuf>, limits: SandboxLimits) -> Self {
        Self { program: program.into(), limits }
    }

    /// Children are this very binary: `/proc/self/exe`, or where there is no
    /// `/proc` (a bare chroot), the path it was started by.
    pub fn current_exe(limits: SandboxLimits) -> std::io::Result<Self> {
        let exe = std::env::current_exe().or_else(|e| {
            std::env::args_os().next().map(PathBuf::from).filter(|p| p.components().count() > 1).ok_or(e)
        })?;
        Ok(Self::new(exe, limits))
    }

    /// The limits.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// `decoders` with every open moved into a child process. Formats are
    /// still recognised here, by the same decoders' `can_decode`.
    pub fn wrap(self, decoders: &DecoderRegistry) -> DecoderRegistry {
        let sandbox = Arc::new(self);
        decoders.decoders().iter().fold(DecoderRegistry::new(), |registry, inner| {
            registry.with(Arc::new(IsolatedDecoder { inner: Arc::clone(inner), sandbox: Arc::clone(&sandbox) }))
        })
    }

    /// Opens `path` in a new child.
    fn open(&self, path: &Path, hints: &DecodeHints) -> Result<IsolatedSource, DecodeError> {
        let mut child = Command::new(&self.program)
            .arg(CHILD_ARG)
            .arg("--memory-bytes")
            .arg(self.limits.memory_bytes.to_string())
            .arg("--cpu-seconds")
            .arg(self.limits.cpu_seconds.to_string())
            // Few malloc arenas: the memory limit then measures data, not
            // per-thread reservations.
            .env("MALLOC_ARENA_MAX", "2")
            // The staged file is read by this child alone, read-only: no HDF5
            // file locks, which a sibling process may hold through a
            // descriptor it inherited from the parent.
            .env("HDF5_USE_FILE_LOCKING", "FALSE")
            // What the child says on stderr is quoted in the report (and
            // read for out-of-memory): its last words, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                DecodeError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot start the decoder process {}: {e}", self.program.display()),
                ))
            })?;
        STATS.started.fetch_add(1, Ordering::Relaxed);
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DecodeError::Io(std::io::Error::other("the decoder process has no pipes")));
        };
        // Slabs are tens of MiB: a larger pipe means fewer wake-ups per slab
        // (the kernel's default is 64 KiB; unprivileged processes may ask for
        // up to its pipe-max-size, 1 MiB by default). An error keeps the default.
        let _ = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_BYTES);
        let tail = Tail::collect(stderr);
        let watchdog = Watchdog::start(child.id());
        let mut source = IsolatedSource {
            child: Some(child),
            input: BufWriter::new(stdin),
            output: BufReader::with_capacity(1 << 20, stdout),
            tail,
            watchdog,
            limits: self.limits,
            staged: path.to_path_buf(),
            format: String::new(),
            schema: DatasetSchema::default(),
            broken: None,
            ahead: VecDeque::new(),
            in_flight: VecDeque::new(),
        };
        let request = Request::Open { path: path.to_path_buf(), hints: hints.clone() };
        match source.call(&request, "opening the file")? {
            Reply::Opened { format, schema } => {
                source.format = format;
                source.schema = schema;
                Ok(source)
            }
            other => Err(source.unexpected(&other)),
        }
    }
}

/// A decoder whose files open in a child process.
struct IsolatedDecoder {
    inner: Arc<dyn SourceDecoder>,
    sandbox: Arc<Sandbox>,
}

impl SourceDecoder for IsolatedDecoder {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        self.inner.can_decode(head)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        self.open_with(path, &DecodeHints::default())
    }

    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        Ok(Box::new(self.sandbox.open(path, hints)?))
    }
}

/// A file open in a decoder child.
struct IsolatedSource {
    child: Option<Child>,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    tail: Tail,
    watchdog: Watchdog,
    limits: SandboxLimits,
    /// The staged file: replaced by "the file" in what the child printed.
    staged: PathBuf,
    format: String,
    schema: DatasetSchema,
    /// Once the child is gone, every later call fails the same way.
    broken: Option<(String, String)>,
    /// Reads announced by [`SourceDataset::read_ahead`] and not yet asked for.
    ahead: VecDeque<(String, Hyperslab)>,
    /// Reads asked of the child whose replies are not read yet, oldest first.
    in_flight: VecDeque<(String, Hyperslab)>,
}

/// Reads asked of the child at once: the one being answered and the next, so
/// the child decodes the next slab while this one crosses the pipe and is
/// written. The child holds one slab either way; its replies wait in the pipe.
const IN_FLIGHT: usize = 2;

impl IsolatedSource {
    /// Sends a request and waits for its reply, under the time limit.
    fn call(&mut self, request: &Request, doing: &str) -> Result<Reply, DecodeError> {
        self.send(request, doing)?;
        self.receive(doing)
    }

    fn send(&mut self, request: &Request, doing: &str) -> Result<(), DecodeError> {
        if let Some((kind, detail)) = &self.broken {
            return Err(DecodeError::from_kind(kind, detail.clone()));
        }
        self.watchdog.arm(self.limits.timeout);
        let sent = write_frame(&mut self.input, request).and_then(|()| self.input.flush());
        self.watchdog.disarm();
        sent.map_err(|_| self.died(doing))
    }

    /// The next reply, under the time limit.
    fn receive(&mut self, doing: &str) -> Result<Reply, DecodeError> {
        if let Some((kind, detail)) = &self.broken {
            return Err(DecodeError::from_kind(kind, detail.clone()));
        }
        self.watchdog.arm(self.limits.timeout);
        let exchanged = read_frame::<_, Reply>(&mut self.output);
        self.watchdog.disarm();
        match exchanged {
            // Reports name the upload, never the machine's files.
            Ok(Some(Reply::Failed { kind, detail })) => {
                Err(DecodeError::from_kind(&kind, detail.replace(&*self.staged.to_string_lossy(), "the file")))
            }
            Ok(Some(reply)) => Ok(reply),
            Ok(None) | Err(_) => Err(self.died(doing)),
        }
    }

    /// The reply was not the one the request calls for: the child is not
    /// trusted any more.
    fn unexpected(&mut self, reply: &Reply) -> DecodeError {
        tracing::error!(?reply, "the decoder process answered out of turn");
        self.stop();
        self.fail(DecodeError::Crashed("the decoder process answered out of turn".into()))
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.broken = Some((e.kind().to_string(), e.detail()));
        e
    }

    /// The child stopped answering: why, in words a user can act on.
    fn died(&mut self, doing: &str) -> DecodeError {
        let status = self.stop();
        let timed_out = self.watchdog.fired();
        let said = self.tail.last_lines(&self.staged);
        let e = explain(doing, status, timed_out, &said, &self.limits);
        match &e {
            DecodeError::TimedOut(_) => STATS.timed_out.fetch_add(1, Ordering::Relaxed),
            _ => STATS.crashed.fetch_add(1, Ordering::Relaxed),
        };
        tracing::warn!(error = %e, "decoder process failed");
        self.fail(e)
    }

    /// Ends the child (politely if it still answers) and reaps it.
    fn stop(&mut self) -> Option<ExitStatus> {
        self.watchdog.stop();
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }
}

/// Why a child ended, as an error of the right kind.
fn explain(
    doing: &str,
    status: Option<ExitStatus>,
    timed_out: bool,
    said: &str,
    limits: &SandboxLimits,
) -> DecodeError {
    use std::os::unix::process::ExitStatusExt;
    let said_clause = if said.is_empty() { String::new() } else { format!(": {said}") };
    if timed_out {
        return DecodeError::TimedOut(format!(
            "{doing} took longer than {} s (HUB_DECODE_TIMEOUT_SECONDS); the decoder was stopped and the file not ingested",
            limits.timeout.as_secs()
        ));
    }
    let signal = status.and_then(|s| s.signal());
    if signal == Some(24) {
        return DecodeError::TimedOut(format!(
            "{doing} used more than {} s of CPU time (HUB_DECODE_CPU_SECONDS); the file was not ingested",
            limits.cpu_seconds
        ));
    }
    let lower = said.to_ascii_lowercase();
    if ["memory allocation of", "out of memory", "bad_alloc", "cannot allocate memory", "failed to allocate"]
        .iter()
        .any(|m| lower.contains(m))
    {
        return DecodeError::TooLarge(format!(
            "{doing} needed more memory than the decoder may use ({} MiB, HUB_DECODE_MEMORY_MIB){said_clause}",
            limits.memory_bytes >> 20
        ));
    }
    let how = match (signal, status.and_then(|s| s.code())) {
        (Some(sig), _) => format!("was killed by signal {sig} ({})", signal_name(sig)),
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => "stopped answering".to_string(),
    };
    DecodeError::Crashed(format!(
        "the decoder process {how} while {doing}{said_clause}; the file is damaged or triggers a fault in its library, and was not ingested"
    ))
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        6 => "SIGABRT: the library aborted",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV: invalid memory access",
        _ => "signal",
    }
}

impl SourceDataset for IsolatedSource {
    fn format(&self) -> &str {
        &self.format
    }

    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        self.read_into(path, region, Vec::new())
    }

    fn read_into(&mut self, path: &str, region: &Hyperslab, buffer: Vec<u8>) -> Result<BlockData, DecodeError> {
        let dtype = checked_read(&self.schema, path, region)?.dtype;
        let doing = format!("reading {path}");
        let wanted = (path.to_string(), region.clone());
        if self.in_flight.front() != Some(&wanted) {
            // Not the read announced: the plan no longer holds.
            self.discard_in_flight(&doing)?;
            self.ahead.clear();
            self.ask(wanted, &doing)?;
        }
        while self.in_flight.len() < IN_FLIGHT
            && let Some(next) = self.ahead.pop_front()
        {
            self.ask(next, &doing)?;
        }
        self.in_flight.pop_front();
        let reply = self.receive(&doing)?;
        self.take_reply(reply, dtype, region, buffer, &doing)
    }

    fn read_ahead(&mut self, reads: Vec<(String, Hyperslab)>) {
        self.ahead = reads.into_iter().filter(|(p, r)| checked_read(&self.schema, p, r).is_ok()).collect();
        if self.in_flight.is_empty()
            && let Some(first) = self.ahead.pop_front()
        {
            let _ = self.ask(first, "reading the file"); // a failure shows on the read
        }
    }
}

impl IsolatedSource {
    /// Asks the child for a read whose reply is taken later.
    fn ask(&mut self, (path, region): (String, Hyperslab), doing: &str) -> Result<(), DecodeError> {
        self.send(&Request::Read { path: path.clone(), region: region.clone() }, doing)?;
        self.in_flight.push_back((path, region));
        Ok(())
    }

    /// Reads and drops the replies to reads asked ahead and no longer wanted.
    /// Such a read that failed is not this read's failure; a child that died is.
    fn discard_in_flight(&mut self, doing: &str) -> Result<(), DecodeError> {
        while self.in_flight.pop_front().is_some() {
            let reply = match self.receive(doing) {
                Ok(reply) => reply,
                Err(e) if self.broken.is_some() => return Err(e),
                Err(_) => continue,
            };
            if let Reply::Numeric { len } = reply {
                self.watchdog.arm(self.limits.timeout);
                let skipped = std::io::copy(&mut (&mut self.output).take(len), &mut std::io::sink());
                self.watchdog.disarm();
                if !matches!(skipped, Ok(n) if n == len) {
                    return Err(self.died(doing));
                }
            }
        }
        Ok(())
    }

    /// A read's reply and its bytes, checked against what was asked.
    fn take_reply(
        &mut self,
        reply: Reply,
        dtype: DataType,
        region: &Hyperslab,
        mut buffer: Vec<u8>,
        doing: &str,
    ) -> Result<BlockData, DecodeError> {
        match reply {
            Reply::Numeric { len } if dtype != DataType::String => {
                let expected = region.len().saturating_mul(dtype.size().unwrap_or(1) as u64);
                if len != expected {
                    let e = DecodeError::Crashed(format!(
                        "{doing}: the decoder sent {len} bytes for a region of {expected}"
                    ));
                    self.stop();
                    return Err(self.fail(e));
                }
                let n = usize::try_from(len).map_err(|_| DecodeError::InvalidRequest("region too large".into()))?;
                buffer.resize(n, 0);
                self.watchdog.arm(self.limits.timeout);
                let got = self.output.read_exact(&mut buffer);
                self.watchdog.disarm();
                got.map_err(|_| self.died(doing))?;
                Ok(BlockData::Numeric(buffer))
            }
            Reply::Strings { values } if dtype == DataType::String => Ok(BlockData::Strings(values)),
            other => Err(self.unexpected(&other)),
        }
    }
}

impl Drop for IsolatedSource {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if !self.in_flight.is_empty() {
            // Left before its reads were answered (a failure elsewhere): the
            // child's work is not wanted.
            let _ = child.kill();
            self.stop();
            return;
        }
        self.watchdog.arm(Duration::from_secs(5));
        let closed = write_frame(&mut self.input, &Request::Close)
            .and_then(|()| self.input.flush())
            .and_then(|()| read_frame::<_, Reply>(&mut self.output));
        self.watchdog.disarm();
        if let Ok(Some(Reply::Closed { peak_rss_bytes })) = closed {
            STATS.peak_rss_bytes.fetch_max(peak_rss_bytes, Ordering::Relaxed);
        }
        self.stop();
    }
}

/// The last few KiB a child wrote to stderr, collected on a thread of its own
/// (a full pipe would block the child).
#[derive(Clone)]
struct Tail(Arc<Mutex<VecDeque<u8>>>);

impl Tail {
    const KEEP: usize = 4096;

    fn collect(mut stderr: impl Read + Send + 'static) -> Self {
        let tail = Self(Arc::new(Mutex::new(VecDeque::with_capacity(Self::KEEP))));
        let keep = tail.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                tracing::debug!(target: "hub_sandbox::child", "{}", String::from_utf8_lossy(&buf[..n]).trim_end());
                let mut t = keep.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                t.extend(&buf[..n]);
                let excess = t.len().saturating_sub(Self::KEEP);
                t.drain(..excess);
            }
        });
        tail
    }

    /// The last lines that say something, on one line, the staged path
    /// replaced (reports name the upload, not the machine's files).
    fn last_lines(&self, staged: &Path) -> String {
        // Let the collector catch up with what the child wrote before it ended.
        std::thread::sleep(Duration::from_millis(20));
        let bytes: Vec<u8> = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes).replace(&*staged.to_string_lossy(), "the file");
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with") && !l.starts_with("HDF5-DIAG"))
            .collect();
        let last: Vec<&str> = lines.iter().rev().take(2).rev().copied().collect();
        let mut joined = last.join(" / ");
        if joined.len() > 400 {
            let mut cut = 400;
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            joined.truncate(cut);
            joined.push('…');
        }
        joined
    }
}

/// Kills a child whose request runs past its deadline.
struct Watchdog {
    state: Arc<(Mutex<WatchState>, Condvar)>,
}

#[derive(Default)]
struct WatchState {
    deadline: Option<Instant>,
    fired: bool,
    stopped: bool,
}

impl Watchdog {
    fn start(pid: u32) -> Self {
        let state = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let (lock, wake) = &*shared;
            let mut s = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while !s.stopped {
                match s.deadline {
                    None => s = wake.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner),
                    Some(d) if Instant::now() >= d => {
                        // The child is not reaped before `stop`, so its pid
                        // cannot have been reused.
                        if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
                            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                        }
                        s.fired = true;
                        s.deadline = None;
                    }
                    Some(d) => {
                        let wait = d.saturating_duration_since(Instant::now());
                        s = wake.wait_timeout(s, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0;
                    }
                }
            }
        });
        Self { state }
    }

    fn with(&self, f: impl FnOnce(&mut WatchState)) {
        let (lock, wake) = &*self.state;
        f(&mut lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        wake.notify_all();
    }

    fn arm(&self, after: Duration) {
        self.with(|s| s.deadline = Some(Instant::now() + after));
    }

    fn disarm(&self) {
        self.with(|s| s.deadline = None);
    }

    fn stop(&self) {
        self.with(|s| s.stopped = true);
    }

    fn fired(&self) -> bool {
        self.state.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fired
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn endings_are_explained_by_kind() {
        let limits = SandboxLimits::default();
        let abort = ExitStatus::from_raw(6);
        let e = explain("opening the file", Some(abort), false, "*** stack smashing detected ***: terminated", &limits);
        assert!(matches!(&e, DecodeError::Crashed(m) if m.contains("SIGABRT") && m.contains("stack smashing")), "{e}");
        let e = explain("reading tas", Some(abort), false, "memory allocation of 34359738360 bytes failed", &limits);
        assert!(matches!(&e, DecodeError::TooLarge(m) if m.contains("HUB_DECODE_MEMORY_MIB")), "{e}");
        let e = explain("reading tas", Some(ExitStatus::from_raw(9)), true, "", &limits);
        assert!(matches!(&e, DecodeError::TimedOut(m) if m.contains("HUB_DECODE_TIMEOUT_SECONDS")), "{e}");
        let e = explain("reading tas", Some(ExitStatus::from_raw(24)), false, "", &limits);
        assert!(matches!(&e, DecodeError::TimedOut(m) if m.contains("CPU")), "{e}");
    }
}
