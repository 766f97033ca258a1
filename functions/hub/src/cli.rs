//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The hub's default repository on one machine: a folder under the current directory.
pub const DEFAULT_REPO: &str = "hub-data";

/// The forecast data hub on one machine.
#[derive(Debug, Parser)]
#[command(name = "hub", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest NetCDF files (or every file in folders) into datasets.
    Ingest(IngestArgs),
    /// Show datasets, their variables, chunking, size, time span and history.
    Info(InfoArgs),
    /// Write a sample CF NetCDF file, ingest it, and show what landed.
    Demo(DemoArgs),
    /// Serve the HTTP API (OGC API - EDR) over the hub.
    Serve(ServeArgs),
    /// Show or replace the datasets' configuration (`_config/datasets.json` in the hub).
    Config(ConfigArgs),
    /// Delete unreferenced objects (and, with a retention, expire old history).
    Gc(GcArgs),
    /// Region sets (river basins, countries): list, add, show, remove, attach to datasets.
    Regions(RegionsArgs),
    /// The time-major copy (long series read from a few chunks): show it, or build it for data already stored.
    Layout(LayoutArgs),
    /// Multi-model ensembles: list them with their members and facets, or add a member by hand.
    Ensembles(EnsemblesArgs),
}

/// `hub ensembles`.
#[derive(Debug, Args)]
pub struct EnsemblesArgs {
    /// What to do (default: list the ensembles and their members).
    #[command(subcommand)]
    pub action: Option<EnsemblesAction>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub ensembles ...`.
#[derive(Debug, clap::Subcommand)]
pub enum EnsemblesAction {
    /// Add a stored dataset to an ensemble declared in the configuration, with its facet values
    /// (facets not given are read from its global attributes where the ensemble maps them).
    Add {
        /// The ensemble.
        ensemble: String,
        /// The dataset.
        dataset: String,
        /// A facet value, `NAME=VALUE` (repeat for each facet).
        #[arg(long = "facet", value_name = "NAME=VALUE")]
        facets: Vec<String>,
    },
    /// Recompute the period statistics the members keep (after `periods` changed), one commit per member.
    Refresh {
        /// One ensemble (default: all).
        ensemble: Option<String>,
    },
}

/// `hub layout`.
#[derive(Debug, Args)]
pub struct LayoutArgs {
    /// What to do (default: show every dataset's copy).
    #[command(subcommand)]
    pub action: Option<LayoutAction>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub layout ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LayoutAction {
    /// Build (or extend) a dataset's time-major copy, with the configuration's block and tile;
    /// in commits of a few blocks, so an interrupted build goes on where it stopped.
    Build {
        /// The dataset.
        dataset: String,
        /// Blocks per variable in one commit (bounds memory and the work lost to an interruption).
        #[arg(long, default_value_t = 8)]
        blocks_per_commit: u64,
    },
}

/// `hub regions`.
#[derive(Debug, Args)]
pub struct RegionsArgs {
    /// What to do (default: list the sets).
    #[command(subcommand)]
    pub action: Option<RegionsAction>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub regions ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RegionsAction {
    /// Register (or replace) a set from GeoJSON or an ESRI Shapefile (`.shp`, or a `.zip` of one).
    Add {
        /// The file.
        file: PathBuf,
        /// The set's id (`basins`, `countries`).
        #[arg(long)]
        set: String,
        /// The property holding each region's id (default: `id`, else features are numbered).
        #[arg(long)]
        id_field: Option<String>,
        /// The property holding each region's name (default: `name`).
        #[arg(long)]
        name_field: Option<String>,
        /// The CRS of the coordinates when the file has none or a wrong one (`EPSG:31468`, WKT, PROJ).
        #[arg(long)]
        crs: Option<String>,
    },
    /// Show a set's regions.
    Show {
        /// The set.
        set: String,
    },
    /// Remove a set.
    Remove {
        /// The set.
        set: String,
    },
    /// Recompute the region series kept in the datasets a set is attached to (all sets by default).
    Refresh {
        /// The set.
        set: Option<String>,
    },
    /// Attach a set to datasets (their EDR locations, their kept series), in the datasets' configuration.
    Attach {
        /// The set.
        set: String,
        /// The datasets.
        #[arg(required = true)]
        datasets: Vec<String>,
    },
}

/// `hub gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// One dataset (default: all).
    pub dataset: Option<String>,
    /// Only objects unreferenced and older than this are deleted: longer than
    /// any ingest runs (an ingest still running wrote its objects later).
    #[arg(long, env = "HUB_GC_GRACE_HOURS", default_value_t = 24)]
    pub grace_hours: u32,
    /// Commits older than this many days leave the history (default or 0: history kept).
    #[arg(long, env = "HUB_KEEP_HISTORY_DAYS")]
    pub keep_history_days: Option<u32>,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the run as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A JSON document to check and store (default: print the stored one).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Where the hub lives.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Hub root: a folder, file://, memory:// or s3://bucket/prefix.
    #[arg(long, env = "HUB_REPO", default_value = DEFAULT_REPO, global = true)]
    pub repo: String,
}

/// `hub ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders (folders are walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Put everything into this dataset (default: the hub's dataset configuration, then each file's key; see README).
    #[arg(long, env = "HUB_DATASET")]
    pub dataset: Option<String>,
    /// Regex with a `dataset` group, applied to each file's path relative to its argument.
    #[arg(long, env = "HUB_DATASET_PATTERN")]
    pub pattern: Option<String>,
    /// Compression: `zstd[:level]`, `blosc-zstd[:level]` or `none`.
    #[arg(long, default_value = "zstd:3")]
    pub compression: String,
    /// Target uncompressed chunk size in MiB.
    #[arg(long, default_value_t = 2.0)]
    pub chunk_mib: f64,
    /// Group chunks into shards of about this many MiB (off by default).
    #[arg(long)]
    pub shard_mib: Option<f64>,
    /// Print the reports as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Files ingested at once (a local backfill; commits to one dataset stay serialized).
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// One dataset (default: all).
    pub dataset: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Commits of history to show.
    #[arg(long, default_value_t = 10)]
    pub history: usize,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Days of data in the sample file.
    #[arg(long, default_value_t = 365)]
    pub days: usize,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// `hub serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the first line printed says which).
    #[arg(long, env = "HUB_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Seconds a client has to send a request's headers (slow or idle
    /// connections are closed after it).
    #[arg(long, env = "HUB_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Connections served at once (default: half the process's file
    /// descriptor limit, at most 1024); more wait to be accepted.
    #[arg(long, env = "HUB_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    #[command(flatten)]
    pub repo: RepoArgs,
}
