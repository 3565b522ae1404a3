//! `policy show`, `policy set` and the policy and job lines `maintain` prints.

use marketseries_core::{
    Dataset, Error, Expiry, JobStats, Policies, PolicyReport, RetentionPreview,
};

use crate::cli::{PolicyCommand, PolicySet, PolicyShowArgs, RefreshSetting, TextFormat};
use crate::commands::{render, Target};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::parse::{format_duration, format_time};

/// Runs a `policy` subcommand.
pub async fn run(command: PolicyCommand, target: &Target) -> CliResult {
    match command {
        PolicyCommand::Show(args) => show(args, target).await,
        PolicyCommand::Set(change) => set(change, target).await,
    }
}

async fn show(args: PolicyShowArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let policies = store.policies().await?;
    let jobs = store.stats().await?.jobs;
    if args.format == TextFormat::Json {
        let doc = serde_json::json!({ "policies": policies_json(&policies), "jobs": jobs });
        return render(|out| {
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)
        });
    }
    let mut text = describe(&policies);
    text.push_str(&describe_jobs(&jobs));
    render(|out| out.write_all(text.as_bytes()))
}

async fn set(change: PolicySet, target: &Target) -> CliResult {
    let store = target.open().await?;
    let mut policies = store.policies().await?;
    let mut expiry = Expiry::Refuse;
    match change {
        PolicySet::Retention(a) => {
            for d in a.dataset.datasets() {
                *policies.retention.horizon_mut(d) = a.horizon;
            }
            if a.yes {
                expiry = Expiry::Confirmed;
            }
        }
        PolicySet::Compression(a) => {
            for d in a.dataset.datasets() {
                *policies.compression.after_mut(d) = a.after;
            }
        }
        PolicySet::Refresh(a) => {
            let r = &mut policies.refresh;
            match a.setting {
                RefreshSetting::StartOffset => r.start_offset = a.value,
                RefreshSetting::EndOffset => r.end_offset = a.value,
                RefreshSetting::Schedule => r.schedule = a.value,
            }
        }
    }
    let report = match store.apply_policies(&policies, expiry).await {
        Err(Error::Unconfirmed { preview }) => return Err(unconfirmed(&preview)),
        other => other?,
    };
    let text = applied(&report, "stored");
    render(|out| out.write_all(text.as_bytes()))
}

/// The refusal of a change that would drop stored rows: what it would drop, per table.
fn unconfirmed(preview: &RetentionPreview) -> CliError {
    let mut message = String::from("this change would make stored rows expire:\n");
    message.push_str(&describe_preview(preview));
    message.push_str("nothing was changed; pass --yes to store it anyway");
    CliError::failed(message)
}

/// What `policy set` and `maintain` print after applying policies: the policies, what the
/// change makes expire, and the jobs that now run on their own.
pub fn applied(report: &PolicyReport, how: &str) -> String {
    let mut text = format!("policies: {how}\n");
    text.push_str(&describe(&report.policies));
    if report.preview.drops_data() {
        text.push_str("expiring now (dropped by the next retention run):\n");
        text.push_str(&describe_preview(&report.preview));
    }
    text.push_str(&describe_jobs(&report.jobs));
    text
}

/// The policies as JSON, durations as `policy set` takes them (`"400d"`; `null` for
/// forever / off).
fn policies_json(p: &Policies) -> serde_json::Value {
    let d = |v: Option<chrono::TimeDelta>| v.map(format_duration);
    let per = |f: &dyn Fn(Dataset) -> Option<chrono::TimeDelta>| {
        Dataset::ALL
            .into_iter()
            .map(|ds| (ds.as_str().to_owned(), serde_json::json!(d(f(ds)))))
            .collect::<serde_json::Map<_, _>>()
    };
    serde_json::json!({
        "retention": per(&|ds| p.retention.horizon(ds)),
        "compression": per(&|ds| p.compression.after(ds)),
        "refresh": {
            "start_offset": format_duration(p.refresh.start_offset),
            "end_offset": format_duration(p.refresh.end_offset),
            "schedule": format_duration(p.refresh.schedule),
        },
    })
}

fn horizon(h: Option<chrono::TimeDelta>, none: &str) -> String {
    h.map_or_else(|| none.to_owned(), format_duration)
}

/// One line per policy.
pub fn describe(p: &Policies) -> String {
    let mut text = String::new();
    for d in Dataset::ALL {
        text.push_str(&format!(
            "  retention {d}: {}\n",
            horizon(p.retention.horizon(d), "forever")
        ));
    }
    for d in Dataset::ALL {
        text.push_str(&format!(
            "  compression {d}: {}\n",
            horizon(p.compression.after(d), "off")
        ));
    }
    let r = &p.refresh;
    text.push_str(&format!(
        "  refresh: every {}, from now-{} to now-{}\n",
        format_duration(r.schedule),
        format_duration(r.start_offset),
        format_duration(r.end_offset)
    ));
    text
}

fn describe_preview(preview: &RetentionPreview) -> String {
    let mut text = String::new();
    for e in preview.expiring.iter().filter(|e| e.rows > 0) {
        text.push_str(&format!(
            "  {}: {} older than {}",
            e.table,
            output::plural(e.rows, "row", "rows"),
            format_time(e.cutoff)
        ));
        if let (Some(lo), Some(hi)) = (e.oldest, e.newest) {
            text.push_str(&format!(
                ", from {} to {}",
                format_time(lo),
                format_time(hi)
            ));
        }
        text.push('\n');
    }
    text
}

/// The jobs, with what they do and when they run next.
pub fn describe_jobs(jobs: &[JobStats]) -> String {
    if jobs.is_empty() {
        return "jobs: none run on their own\n".to_owned();
    }
    let mut text = String::from("jobs:\n");
    for j in jobs {
        text.push_str(&format!("  {} {}", j.id, j.name));
        if let Some(every) = j.schedule {
            text.push_str(&format!(", every {}", format_duration(every)));
        }
        match j.next_start {
            Some(t) => text.push_str(&format!(", next {}", format_time(t))),
            None => text.push_str(", not scheduled"),
        }
        if j.in_process {
            text.push_str(" (in this process: it stops when the command exits)");
        }
        if let Some(e) = &j.last_error {
            text.push_str(&format!("\n    last run failed: {e}"));
        }
        text.push('\n');
    }
    text
}
