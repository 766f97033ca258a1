//! `hub gc`: storage upkeep on one machine, as the scheduled maintenance
//! function does it on AWS: unreferenced objects past the grace period are
//! deleted, and with a retention, older history expires.

use hub_core::model::DatasetId;
use hub_core::upkeep::{GcPolicy, GcReport, collect_garbage};

use crate::app;
use crate::cli::GcArgs;

/// Runs `hub gc`.
pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let only = args.dataset.as_deref().map(DatasetId::new).transpose()?;
    let policy = GcPolicy::from_now(args.grace_hours, args.keep_history_days, args.dry_run);
    let run = collect_garbage(hub.as_ref(), only.as_ref(), &policy).await?;
    if args.json {
        println!("{}", serde_json::to_string(&run)?);
    } else {
        for r in &run.reports {
            println!("{}", summary(r));
        }
        for u in &run.unfinished {
            let verb = match (u.removed, args.dry_run) {
                (true, true) => "would be removed",
                (true, false) => "removed",
                (false, _) => "kept (written within the grace period)",
            };
            println!(
                "{}: an unfinished dataset (no commit: a rejected or dead first upload), {} objects, {:.1} MB: {verb}",
                u.dataset,
                u.objects,
                u.bytes as f64 / 1e6
            );
        }
        for f in &run.failures {
            println!("{}: failed: {}", f.dataset, f.error);
        }
        let (chunks, bytes) = run.totals();
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        println!("{} dataset(s): {verb} {chunks} chunks, {:.1} MB", run.reports.len(), bytes as f64 / 1e6);
    }
    if !run.failures.is_empty() {
        anyhow::bail!("{} dataset(s) could not be collected", run.failures.len());
    }
    Ok(())
}

fn summary(r: &GcReport) -> String {
    format!(
        "{}{}: {} chunks, {} manifests, {} snapshots, {} transaction logs ({:.1} MB){}{}",
        r.dataset,
        if r.dry_run { " (dry run)" } else { "" },
        r.chunks_deleted,
        r.manifests_deleted,
        r.snapshots_deleted,
        r.transaction_logs_deleted,
        r.bytes_deleted as f64 / 1e6,
        if r.expired_commits > 0 { format!("; {} commits left the history", r.expired_commits) } else { String::new() },
        if r.failed_deletes > 0 { format!("; {} deletes failed", r.failed_deletes) } else { String::new() },
    )
}
