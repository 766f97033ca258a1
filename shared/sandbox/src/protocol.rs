//! What the ingest process and its decoder child say to each other: framed
//! CBOR messages over the child's stdin and a private duplicate of its stdout
//! (C libraries that print to stdout cannot interleave with it). CBOR rather
//! than JSON because attribute values may be NaN. Numeric blocks follow their
//! reply as raw little-endian bytes: no encoding cost on the hot path.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use hub_core::model::{DatasetSchema, Hyperslab};
use hub_core::ports::{DecodeError, DecodeHints};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The first argument that turns a hub binary into a decoder child.
pub const CHILD_ARG: &str = "__hub-decoder";

/// The largest control frame a side accepts (a schema with its attributes, a
/// block of text values): a damaged peer cannot make the other allocate more.
pub(crate) const MAX_FRAME: u32 = 256 << 20;

/// From the ingest process to the child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Detect the format and open the file.
    Open {
        /// The staged file.
        path: PathBuf,
        /// What the configuration tells the decoder.
        hints: DecodeHints,
    },
    /// Read a region of a variable.
    Read {
        /// The variable.
        path: String,
        /// The region.
        region: Hyperslab,
    },
    /// Close the file and exit.
    Close,
}

/// From the child to the ingest process.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The file is open.
    Opened {
        /// The format's name.
        format: String,
        /// What the file holds.
        schema: DatasetSchema,
    },
    /// `len` raw bytes follow.
    Numeric {
        /// Bytes that follow the frame.
        len: u64,
    },
    /// Text values.
    Strings {
        /// The values, C order.
        values: Vec<String>,
    },
    /// The decoder refused or failed.
    Failed {
        /// [`DecodeError::kind`].
        kind: String,
        /// [`DecodeError::detail`].
        detail: String,
    },
    /// The child is done.
    Closed {
        /// Its peak resident memory.
        peak_rss_bytes: u64,
    },
}

impl Reply {
    pub(crate) fn failed(e: &DecodeError) -> Self {
        Self::Failed { kind: e.kind().to_string(), detail: e.detail() }
    }
}

/// Writes one frame: its length (u32, little-endian), then the CBOR message.
pub(crate) fn write_frame<W: Write, T: Serialize>(w: &mut W, message: &T) -> io::Result<()> {
    let mut body = Vec::new();
    ciborium::into_writer(message, &mut body).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&body)
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub(crate) fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    ciborium::from_reader(body.as_slice()).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::model::{AttrValue, Attributes, DataType, GroupSchema, VariableSchema};

    #[test]
    fn schemas_with_nan_attributes_cross_intact() {
        let mut attrs = Attributes::new();
        attrs.insert("_FillValue".into(), AttrValue::Floats(DataType::Float32, vec![f64::NAN]));
        attrs.insert("units".into(), AttrValue::text("K"));
        let schema = DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
            variables: vec![VariableSchema {
                path: "tas".into(),
                dims: vec!["time".into()],
                shape: vec![3],
                dtype: DataType::Float32,
                attrs,
                source_chunks: Some(vec![3]),
            }],
            ..DatasetSchema::default()
        };
        let mut wire = Vec::new();
        write_frame(&mut wire, &Reply::Opened { format: "NetCDF-4/HDF5".into(), schema: schema.clone() })
            .unwrap_or_else(|e| panic!("{e}"));
        let back: Option<Reply> = read_frame(&mut wire.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let Some(Reply::Opened { schema: got, .. }) = back else { panic!("{back:?}") };
        let fill = got.variables[0].attrs.get("_FillValue").and_then(AttrValue::as_f64s);
        assert!(fill.is_some_and(|v| v[0].is_nan()));
        assert_eq!(got.variables[0].attrs.get("units"), schema.variables[0].attrs.get("units"));
    }

    #[test]
    fn oversized_and_cut_frames_are_errors() {
        let mut huge = (MAX_FRAME + 1).to_le_bytes().to_vec();
        huge.extend([0u8; 16]);
        assert!(read_frame::<_, Reply>(&mut huge.as_slice()).is_err());
        let cut = [10u8, 0, 0, 0, 1, 2];
        assert!(read_frame::<_, Reply>(&mut cut.as_slice()).is_err());
        assert!(read_frame::<_, Reply>(&mut [].as_slice()).is_ok_and(|r| r.is_none()));
    }
}
