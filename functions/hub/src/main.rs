//! `hub`: the forecast data hub on one machine. See `hub --help`.

mod app;
mod cli;
mod config;
mod demo;
mod ensembles;
mod gc;
mod info;
mod ingest;
mod layout;
mod progress;
mod regions;
mod serve;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Started as a decoder child (see `hub_sandbox`): decode one file and exit.
    hub_sandbox::run_if_child(hub_decoders::decoders);
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    app::init_tracing(cli.verbose);
    match cli.command {
        cli::Command::Ingest(args) => ingest::run(args).await,
        cli::Command::Info(args) => info::run(args).await,
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Config(args) => config::run(args).await,
        cli::Command::Gc(args) => gc::run(args).await,
        cli::Command::Regions(args) => regions::run(args).await,
        cli::Command::Layout(args) => layout::run(args).await,
        cli::Command::Ensembles(args) => ensembles::run(args).await,
    }
}
