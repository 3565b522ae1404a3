//! The whole benchmark (see the crate docs and `docs/benchmarks.md`): run it with
//! `cargo xtask bench`, which starts the servers, builds the CLI and sets the
//! `MARKETSERIES_BENCH_*` variables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use marketseries_benches::data::DataSet;
use marketseries_benches::ops::{self, Ctx, Subset};
use marketseries_benches::report::{self, Labels};
use marketseries_benches::results::Phase;
use marketseries_benches::run::Runner;
use marketseries_benches::settings::{Settings, GROWTH_FACTOR, WIDE_SYMBOLS};
use marketseries_benches::target::{Target, TargetKind};
use marketseries_benches::{cli_import, load};
use marketseries_core::{Clock, FixedClock};
use marketseries_testkit::launcher::{self, Flavor};

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("marketseries bench: {e}");
            return ExitCode::from(2);
        }
    };
    let home = std::env::var_os("CRITERION_HOME")
        .map_or_else(|| settings.out_dir.join("criterion"), PathBuf::from);
    marketseries_benches::results::started();
    let mut runner = Runner::new(settings.quick, home);
    // The stores' clock and the end of every data set: now, so that the SQL API's views
    // (which read now()) and TimescaleDB's policies see the data as current.
    let end = Utc::now();
    let main_data = DataSet::new(settings.main_symbols(), settings.days(settings.scale), end);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(main_data.end));
    let embedded = servers(&mut runner, &settings);

    let main_label = format!("{}x", settings.scale);
    data_set(
        &mut runner,
        &settings,
        &main_data,
        &main_label,
        Subset::All,
        &clock,
    );
    let csv = settings.out_dir.join("candles.csv");
    if let Err(e) = std::fs::create_dir_all(&settings.out_dir) {
        runner
            .results
            .fail(format!("{}: {e}", settings.out_dir.display()));
    }
    let candles = main_data.candles();
    match cli_import::write_csv(&csv, &candles) {
        Ok(()) => cli_import::compare(
            &mut runner,
            &main_label,
            &settings.targets,
            settings.cli.as_ref(),
            &settings.psql,
            &csv,
            &main_data,
            &candles,
            &clock,
        ),
        Err(e) => runner.results.fail(e),
    }
    drop(candles);
    let _ = std::fs::remove_file(&csv);

    let growth_label = format!("{}x", settings.scale * GROWTH_FACTOR);
    if settings.growth {
        let grown = DataSet::new(
            settings.main_symbols(),
            settings.days(settings.scale * GROWTH_FACTOR),
            end,
        );
        data_set(
            &mut runner,
            &settings,
            &grown,
            &growth_label,
            Subset::Growth,
            &clock,
        );
        let wide = DataSet::new(WIDE_SYMBOLS, settings.wide_days(), end);
        data_set(&mut runner, &settings, &wide, "wide", Subset::Wide, &clock);
    }
    runner.finish();

    let labels = Labels {
        main: &main_label,
        growth: settings.growth.then_some(growth_label.as_str()),
        wide: settings.growth.then_some("wide"),
    };
    let checked = runner.checked();
    runner
        .results
        .fact("answers checked against the Rust API", checked.to_string());
    let verdicts = report::verdicts(&runner.results, &labels, embedded, settings.quick);
    let header = format!(
        "Run at {end} ({}): {} symbols x {} days of 1m candles{}; targets {}.{}",
        if settings.quick {
            "quick: every operation once, times are no figures"
        } else {
            "criterion medians"
        },
        main_data.symbols,
        main_data.days,
        if settings.growth {
            format!(
                ", growth at {} days, wide overview {WIDE_SYMBOLS} symbols x {} days",
                settings.days(settings.scale * GROWTH_FACTOR),
                settings.wide_days()
            )
        } else {
            String::new()
        },
        settings
            .targets
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", "),
        if embedded {
            " The TimescaleDB target ran on the embedded (WebAssembly) server: its times prove the code path, they are no performance figures."
        } else {
            ""
        },
    );
    match report::write(&settings.out_dir, &header, &runner.results, &verdicts) {
        Ok(_) => println!("\nreport: {}", settings.out_dir.join("report.md").display()),
        Err(e) => runner.results.fail(e),
    }
    let missed = verdicts.iter().filter(|v| v.met == Some(false)).count();
    println!(
        "targets: {} met, {missed} not met, {} not figures (see the report)",
        verdicts.iter().filter(|v| v.met == Some(true)).count(),
        verdicts.iter().filter(|v| v.met.is_none()).count()
    );
    if runner.results.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "\n{} operation(s) failed or answered differently from the Rust API:",
            runner.results.failures.len()
        );
        for f in &runner.results.failures {
            eprintln!("  {f}");
        }
        ExitCode::FAILURE
    }
}

/// Records each server's version and settings; returns whether TimescaleDB is the
/// embedded server.
fn servers(runner: &mut Runner, settings: &Settings) -> bool {
    let mut embedded = false;
    let mut seen = Vec::new();
    for kind in &settings.targets {
        let server = kind.server();
        if seen.contains(&server) {
            continue;
        }
        seen.push(server);
        let info = runner.rt.block_on(async {
            let s = launcher::ensure_server(server).await.map_err(|e| e.to_string())?;
            let client = marketseries_benches::target::connect(s.url(), marketseries_sql::SESSION_SETUP).await?;
            let row = client
                .query_one(
                    "SELECT version(), \
                     (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'), \
                     (SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN \
                      ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'fsync', 'synchronous_commit', 'jit', \
                       'max_worker_processes', 'timescaledb.max_background_workers', 'effective_cache_size'))",
                    &[],
                )
                .await
                .map_err(|e| marketseries_benches::target::pg_error(&e))?;
            Ok::<_, String>((s.flavor, row.get::<_, String>(0), row.get::<_, Option<String>>(1), row.get::<_, Option<String>>(2)))
        });
        match info {
            Ok((flavor, version, ts, conf)) => {
                let label = server.label();
                if server == TargetKind::Timescale.server() && flavor == Flavor::Embedded {
                    embedded = true;
                }
                runner
                    .results
                    .fact(format!("server.{label}.flavor"), flavor.to_string());
                runner
                    .results
                    .fact(format!("server.{label}.version"), version);
                if let Some(ts) = ts {
                    runner
                        .results
                        .fact(format!("server.{label}.timescaledb"), ts);
                }
                runner
                    .results
                    .fact(format!("server.{label}.settings"), conf.unwrap_or_default());
            }
            Err(e) => runner
                .results
                .fail(format!("server {}: {e}", server.label())),
        }
    }
    embedded
}

/// Everything measured on one data set: loads, reads after the load, maintenance, reads
/// after it, the day of late corrections; then its databases are dropped.
fn data_set(
    runner: &mut Runner,
    settings: &Settings,
    data: &DataSet,
    label: &str,
    subset: Subset,
    clock: &Arc<dyn Clock>,
) {
    let started = std::time::Instant::now();
    println!(
        "\n== data set {label}: {} symbols x {} days ({} candles) ==",
        data.symbols,
        data.days,
        data.candle_count()
    );
    let candles = data.candles();
    let mut targets = Vec::new();
    for &kind in &settings.targets {
        match runner.rt.block_on(Target::create(kind, clock.clone())) {
            Ok(t) => targets.push(t),
            Err(e) => runner.results.fail(e),
        }
    }
    let kinds: Vec<TargetKind> = targets.iter().map(|t| t.kind).collect();
    for t in &mut targets {
        load::load(runner, label, t, data, &candles, subset == Subset::All);
        load::footprint(runner, label, t);
    }
    if subset == Subset::All {
        for &kind in kinds.iter().filter(|k| **k != TargetKind::Plain) {
            load::copy_reference(runner, label, kind, data, &candles, clock.clone());
        }
    }
    if subset != Subset::Wide {
        let ctx = Ctx {
            data,
            label,
            phase: Phase::Loaded,
            subset,
        };
        reads(runner, &ctx, &mut targets, true);
        ops::compare(runner, &ctx, &kinds);
    }
    for t in &mut targets {
        load::maintain(runner, label, t, data);
        if t.kind == TargetKind::Timescale {
            load::footprint(runner, &format!("{label}.compressed"), t);
        }
    }
    let ctx = Ctx {
        data,
        label,
        phase: Phase::Maintained,
        subset,
    };
    // The plain table has no maintenance: its reads were measured once, after its load.
    reads(runner, &ctx, &mut targets, subset == Subset::Wide);
    ops::compare(runner, &ctx, &kinds);
    if subset == Subset::All {
        analyzed_reads(runner, data, label, &mut targets, &kinds);
    }
    if subset == Subset::All {
        for t in &mut targets {
            load::late_day(runner, label, t, data, &candles);
        }
    }
    runner.forget_answers(label);
    for t in targets {
        runner.rt.block_on(t.drop_database());
    }
    println!(
        "== data set {label} done in {:.1} s ==",
        started.elapsed().as_secs_f64()
    );
}

/// The control of "reads right after an import or maintenance need no `ANALYZE`": a
/// database-wide `ANALYZE` of each store target, then a few reads again.
fn analyzed_reads(
    runner: &mut Runner,
    data: &DataSet,
    label: &str,
    targets: &mut [Target],
    kinds: &[TargetKind],
) {
    let ctx = Ctx {
        data,
        label,
        phase: Phase::Analyzed,
        subset: Subset::Analyzed,
    };
    for t in targets.iter_mut().filter(|t| t.kind != TargetKind::Plain) {
        let analyzed = runner.rt.block_on(async {
            t.client()
                .await?
                .batch_execute("ANALYZE")
                .await
                .map_err(|e| format!("ANALYZE: {}", marketseries_benches::target::pg_error(&e)))
        });
        if let Err(e) = analyzed {
            runner.results.fail(format!("{}: {e}", t.kind));
        }
    }
    reads(runner, &ctx, targets, false);
    ops::compare(runner, &ctx, kinds);
    // ANALYZE changes plans, never answers.
    let keys: Vec<_> = runner
        .results
        .measurements
        .iter()
        .filter(|m| m.key.data == label && m.key.phase == Phase::Analyzed)
        .map(|m| m.key.clone())
        .collect();
    for key in keys {
        let maintained = marketseries_benches::results::Key {
            phase: Phase::Maintained,
            ..key.clone()
        };
        runner.expect_same(&key, &maintained);
    }
}

fn reads(runner: &mut Runner, ctx: &Ctx<'_>, targets: &mut [Target], with_plain: bool) {
    for t in targets {
        if t.kind == TargetKind::Plain {
            if with_plain {
                ops::sql_reads(runner, ctx, t);
                ops::fresh_reads(runner, ctx, t);
            }
            continue;
        }
        ops::api_reads(runner, ctx, t);
        ops::sql_reads(runner, ctx, t);
        ops::fresh_reads(runner, ctx, t);
    }
}
