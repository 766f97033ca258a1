//! The output formats of data queries, in one table: each [`Encoder`] says
//! its name (as `f=` and the collection documents write it), the names and
//! media types a request may use for it, how much an encoded value takes
//! (the answer is budgeted before anything is read), how Lambda carries it,
//! and the function that writes it. Handlers pick from the table by `f=` or
//! `Accept` and never `match` on a format themselves; a new format (PNG maps)
//! is one more row.

use hub_core::query::Extraction;

use crate::series::RegionAnswer;

/// An output format of data queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CoverageJSON (the default).
    CoverageJson,
    /// Comma-separated values.
    Csv,
    /// GeoJSON features.
    GeoJson,
    /// CF NetCDF-3 (64-bit offset), for gridded answers.
    NetCdf,
}

/// Why an answer could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The format cannot hold this kind of answer (a request error).
    #[error("{format} answers are for {what}")]
    NotOffered {
        /// The format.
        format: &'static str,
        /// What it holds.
        what: &'static str,
    },
    /// Writing failed: a fault of the hub, answered 500.
    #[error("writing the {format} answer failed")]
    Failed {
        /// The format.
        format: &'static str,
        /// The writer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl EncodeError {
    /// A writer's failure.
    pub fn failed(format: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Failed { format, source: source.into() }
    }
}

/// Writes a region's statistics in a format.
pub type SeriesWriter = fn(&RegionAnswer<'_>) -> Result<Vec<u8>, EncodeError>;

/// One output format: how it is named, priced, carried and written.
pub struct Encoder {
    /// The format.
    pub format: Format,
    /// Its name in `f=` and in the collection documents.
    pub name: &'static str,
    /// Other names `f=` accepts (lower case), media types included.
    pub aliases: &'static [&'static str],
    /// The media type of answers.
    pub media_type: &'static str,
    /// The file extension of stored answers.
    pub extension: &'static str,
    /// Bytes an encoded value takes at most, about (numbers with their
    /// separators; per-value rows and features for CSV and GeoJSON).
    pub bytes_per_value: u64,
    /// Binary bodies are base64-encoded by Lambda and sent as attachments.
    pub binary: bool,
    /// Writes the answer.
    pub encode: fn(&Extraction) -> Result<Vec<u8>, EncodeError>,
    /// Writes a region's statistics, for the formats that hold them.
    pub series: Option<SeriesWriter>,
}

fn csv(x: &Extraction) -> Result<Vec<u8>, EncodeError> {
    Ok(crate::tabular::csv(x).into_bytes())
}

fn geojson(x: &Extraction) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(&crate::tabular::geojson(x)).map_err(|e| EncodeError::failed("GeoJSON", e))
}

/// Every output format.
pub const ENCODERS: &[Encoder] = &[
    Encoder {
        format: Format::CoverageJson,
        name: "CoverageJSON",
        aliases: &["coveragejson", "covjson", "json", "application/prs.coverage+json"],
        media_type: "application/prs.coverage+json",
        extension: "covjson",
        bytes_per_value: 20,
        binary: false,
        encode: crate::covjson::coverage_json,
        series: Some(crate::series::coverage_json),
    },
    Encoder {
        format: Format::Csv,
        name: "CSV",
        aliases: &["csv", "text/csv"],
        media_type: "text/csv",
        extension: "csv",
        bytes_per_value: 64,
        binary: false,
        encode: csv,
        series: Some(crate::series::csv),
    },
    Encoder {
        format: Format::GeoJson,
        name: "GeoJSON",
        aliases: &["geojson", "application/geo+json"],
        media_type: "application/geo+json",
        extension: "geojson",
        bytes_per_value: 160,
        binary: false,
        encode: geojson,
        series: Some(crate::series::geojson),
    },
    Encoder {
        format: Format::NetCdf,
        name: "NetCDF",
        aliases: &["netcdf", "nc", "application/x-netcdf", "application/netcdf"],
        media_type: crate::netcdf::MEDIA_TYPE,
        extension: "nc",
        bytes_per_value: 8,
        binary: true,
        encode: crate::netcdf::netcdf,
        series: None,
    },
];

impl Format {
    /// The format's row in [`ENCODERS`].
    pub fn encoder(self) -> &'static Encoder {
        // Every format has its row (a unit test checks it).
        ENCODERS.iter().find(|e| e.format == self).unwrap_or(&ENCODERS[0])
    }

    /// Its name in `f=`.
    pub fn name(self) -> &'static str {
        self.encoder().name
    }

    /// The media type of answers in the format.
    pub fn media_type(self) -> &'static str {
        self.encoder().media_type
    }

    /// The format `f=` or an `Accept` media type names, if any.
    pub fn named(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        ENCODERS.iter().find(|e| e.aliases.contains(&text.as_str())).map(|e| e.format)
    }

    /// The first of `offered` an `Accept` header lists (quality values are
    /// not weighed: clients that name a data format name one).
    pub fn accepted(accept: &str, offered: &[Format]) -> Option<Self> {
        accept
            .split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(Self::named)
            .find(|f| offered.contains(f))
    }
}

/// The query types and the formats each answers in (CoverageJSON first: the default).
pub const QUERIES: &[(&str, &[Format])] = &[
    ("position", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
    ("radius", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
    ("area", &[Format::CoverageJson, Format::NetCdf]),
    ("cube", &[Format::CoverageJson, Format::NetCdf]),
    ("trajectory", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
    // Region statistics (`locations`, and `area` with `statistic`).
    ("locations", &[Format::CoverageJson, Format::Csv, Format::GeoJson]),
];

/// The formats a query type answers in.
pub fn formats_of(query: &str) -> &'static [Format] {
    QUERIES.iter().find(|(q, _)| *q == query).map_or(&[][..], |(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_one_row_and_names_resolve_to_it() {
        for f in [Format::CoverageJson, Format::Csv, Format::GeoJson, Format::NetCdf] {
            assert_eq!(ENCODERS.iter().filter(|e| e.format == f).count(), 1);
            assert_eq!(Format::named(f.name()), Some(f));
            assert_eq!(Format::named(f.media_type()), Some(f));
        }
        assert_eq!(Format::named("XML"), None);
    }

    #[test]
    fn accept_picks_the_first_offered_type() {
        let offered = formats_of("position");
        assert_eq!(Format::accepted("text/csv;q=0.9, application/json", offered), Some(Format::Csv));
        assert_eq!(Format::accepted("application/x-netcdf", offered), None);
        assert_eq!(Format::accepted("text/html,*/*", offered), None);
    }
}
