//! What the `hub` binary's tests share: running it, reading what it printed,
//! and a `hub serve` on a free port that is killed however the test ends.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `hub <args>` in `cwd`, waited for.
pub fn hub(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hub")).args(args).current_dir(cwd).output().unwrap_or_else(|e| panic!("hub: {e}"))
}

/// Everything the command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A running `hub serve`; `addr` is `host:port`.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hub serve` on a free port of 127.0.0.1, with `args` and `env`; returns
/// once it has said where it listens.
pub fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    serve_binary(Path::new(env!("CARGO_BIN_EXE_hub")), dir, args, env)
}

/// `hub serve` of another `hub` binary (see [`serve`]).
pub fn serve_binary(program: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(program);
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(args).current_dir(dir).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("hub serve: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut first = String::new();
    std::io::BufReader::new(stdout).read_line(&mut first).unwrap_or_else(|e| panic!("{e}"));
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .map(|a| a.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    Server { child, addr }
}

/// A plain HTTP/1.1 GET: status and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, body) = http_get_bytes(addr, path);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A plain HTTP/1.1 GET: status and the body's bytes.
pub fn http_get_bytes(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap_or_else(|e| panic!("{e}"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap_or_else(|e| panic!("{e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| panic!("read: {e}"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |k| k + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    (head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), raw[split.min(raw.len())..].to_vec())
}
