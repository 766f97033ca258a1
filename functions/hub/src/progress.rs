//! A progress bar for long ingests (only on a terminal).

use std::io::IsTerminal;

use hub_core::ingest::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Bytes written, as a bar on stderr.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar when stderr is a terminal, a hidden one otherwise.
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
        if let Ok(style) =
            ProgressStyle::with_template("{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, label: &str, total_bytes: u64) {
        self.0.reset();
        self.0.set_length(total_bytes);
        self.0.set_message(label.to_string());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
