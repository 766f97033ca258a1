//! The decoder child of the end-to-end tests' ingest service: the hub's own
//! decoders, as the `hub` and `ingest` binaries run them, and one more for the
//! sandbox's own tests. No real library can be made to abort, hang or
//! allocate without end on purpose once the hub refuses the files that did, so
//! a file starting with `HUBFAULT <what>` makes this decoder do what such a
//! library does: `abort`, `panic`, `hang`, `spin`, `allocate`, or `stdout`
//! (print to stdout, then open normally).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hub_core::model::{Attributes, BlockData, DataType, DatasetSchema, GroupSchema, Region, VariableSchema};
use hub_core::ports::{DecodeError, DecoderRegistry, SourceDataset, SourceDecoder};

struct Fault;

impl SourceDecoder for Fault {
    fn name(&self) -> &'static str {
        "fault (tests)"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        head.starts_with(b"HUBFAULT ")
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let text = std::fs::read_to_string(path)?;
        match text.trim_start_matches("HUBFAULT ").trim() {
            "abort" => std::process::abort(),
            "panic" => panic!("called `Option::unwrap()` on a `None` value"),
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "spin" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                }
            }
            "allocate" => {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(vec![1u8; 64 << 20]);
                }
            }
            "stdout" => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"Warning 1: a library printing to stdout\n").and_then(|()| out.flush());
                Ok(Box::new(Tiny::new()))
            }
            other => Err(DecodeError::Unsupported(format!("unknown fault {other:?}"))),
        }
    }
}

/// One small variable: `x(x)` = 0, 1, 2, 3.
struct Tiny(DatasetSchema);

impl Tiny {
    fn new() -> Self {
        let mut attrs = Attributes::new();
        attrs.insert("units".into(), hub_core::model::AttrValue::text("1"));
        Self(DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
            variables: vec![VariableSchema {
                path: "x".into(),
                dims: vec!["x".into()],
                shape: vec![4],
                dtype: DataType::Int32,
                attrs,
                source_chunks: None,
            }],
            ..DatasetSchema::default()
        })
    }
}

impl SourceDataset for Tiny {
    fn format(&self) -> &str {
        "fault (tests)"
    }

    fn schema(&self) -> &DatasetSchema {
        &self.0
    }

    fn read(&mut self, _path: &str, region: &Region) -> Result<BlockData, DecodeError> {
        let start = region.start.first().copied().unwrap_or(0);
        let n = region.shape.first().copied().unwrap_or(0);
        Ok(BlockData::Numeric((start..start + n).flat_map(|i| (i as i32).to_le_bytes()).collect()))
    }
}

fn decoders() -> DecoderRegistry {
    hub_e2e::decoders().with(Arc::new(Fault))
}

fn main() {
    hub_sandbox::run_if_child(decoders);
    eprintln!("this program is the tests' decoder child: the ingest service starts it");
    std::process::exit(2);
}
