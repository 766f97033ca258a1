//! Where a hub lives, as a URL: `file://` (a local folder, the default on one
//! machine), `memory://<name>` (tests, demos) or `s3://bucket/prefix`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::StoreError;

/// A parsed storage location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoreUrl {
    /// A local folder (absolute path).
    File(PathBuf),
    /// An in-process store, shared by name within the process.
    Memory(String),
    /// An S3 bucket and key prefix (without leading or trailing slash).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, possibly empty.
        prefix: String,
    },
}

impl StoreUrl {
    /// A location below this one.
    #[must_use]
    pub fn join(&self, segment: &str) -> Self {
        let segment = segment.trim_matches('/');
        match self {
            Self::File(p) => Self::File(p.join(segment)),
            Self::Memory(name) => Self::Memory(format!("{}/{segment}", name.trim_end_matches('/'))),
            Self::S3 { bucket, prefix } => Self::S3 {
                bucket: bucket.clone(),
                prefix: if prefix.is_empty() { segment.to_string() } else { format!("{prefix}/{segment}") },
            },
        }
    }

    /// A local folder.
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", path.display())))?.join(path)
        };
        Ok(Self::File(abs))
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    /// Accepts `file:///abs/path`, `memory://name`, `s3://bucket[/prefix]`, and a
    /// plain path (relative to the current directory).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| StoreError::InvalidUrl(format!("{s:?}: {why}"));
        match s.split_once("://") {
            None => Self::from_path(Path::new(s)),
            Some(("file", rest)) => {
                if rest.is_empty() {
                    return Err(bad("empty path"));
                }
                Self::from_path(Path::new(rest))
            }
            Some(("memory", rest)) => Ok(Self::Memory(rest.trim_end_matches('/').to_string())),
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket name"));
                }
                Ok(Self::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() })
            }
            Some((scheme, _)) => Err(bad(&format!("unsupported scheme {scheme:?} (use file://, memory:// or s3://)"))),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file://{}", p.display()),
            Self::Memory(name) => write!(f, "memory://{name}"),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl StoreUrl {
    /// The hub root `HUB_REPO` names, required.
    pub fn repo_from_env() -> Result<Self, hub_core::settings::EnvError> {
        use hub_core::settings::{EnvError, required};
        let repo = required("HUB_REPO", "the hub's root (s3://bucket/prefix, or a folder)")?;
        repo.parse().map_err(|_| EnvError::Invalid {
            name: "HUB_REPO",
            value: repo,
            expected: "a hub root (s3://bucket/prefix, memory://name, file:///path or a folder)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_schemes() {
        assert_eq!("file:///tmp/hub".parse::<StoreUrl>().ok(), Some(StoreUrl::File("/tmp/hub".into())));
        assert_eq!("memory://t1".parse::<StoreUrl>().ok(), Some(StoreUrl::Memory("t1".into())));
        assert_eq!(
            "s3://bucket/a/b/".parse::<StoreUrl>().ok(),
            Some(StoreUrl::S3 { bucket: "bucket".into(), prefix: "a/b".into() })
        );
        assert_eq!(
            "s3://bucket".parse::<StoreUrl>().ok(),
            Some(StoreUrl::S3 { bucket: "bucket".into(), prefix: String::new() })
        );
    }

    #[test]
    fn plain_paths_are_local_folders() {
        match "hub-data".parse::<StoreUrl>() {
            Ok(StoreUrl::File(p)) => assert!(p.is_absolute() && p.ends_with("hub-data")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_unknown_schemes() {
        assert!("gs://b".parse::<StoreUrl>().is_err());
        assert!("s3://".parse::<StoreUrl>().is_err());
        assert!("file://".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn joins_segments() {
        let s3: StoreUrl = "s3://b".parse().unwrap_or(StoreUrl::Memory(String::new()));
        assert_eq!(s3.join("era5").to_string(), "s3://b/era5");
        assert_eq!(StoreUrl::Memory("m".into()).join("/x/").to_string(), "memory://m/x");
    }
}
