//! Tidy checks that keep the layout of `docs/architecture.md` true: no backend crate depends
//! on its sibling, each backend's public items are the allowlist the architecture document
//! keeps, every crate opts into the workspace lints, every path the docs name exists, and
//! every conformance check is in the one declared list.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dependency names of a manifest's `[dependencies]`, `[dev-dependencies]` and
/// `[build-dependencies]` tables.
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = matches!(
                line,
                "[dependencies]" | "[dev-dependencies]" | "[build-dependencies]"
            );
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn no_backend_depends_on_its_sibling_and_both_run_on_the_sql_core() {
    let backends = ["marketseries-postgres", "marketseries-timescale"];
    for backend in backends {
        let deps = dependencies(&read(format!("crates/{backend}/Cargo.toml")));
        for sibling in backends.iter().filter(|b| **b != backend) {
            assert!(
                !deps.contains(*sibling),
                "{backend} depends on {sibling}: {deps:?}"
            );
        }
        assert!(deps.contains("marketseries-sql"), "{backend}: {deps:?}");
    }
    let sql = dependencies(&read("crates/marketseries-sql/Cargo.toml"));
    for backend in backends {
        assert!(
            !sql.contains(backend),
            "marketseries-sql depends on {backend}"
        );
    }
}

/// Names a crate root makes public: `pub use a::{b, c}`, `pub use a::b`, `pub mod m`,
/// `pub fn f`, `pub struct S`, ... (top-level items only).
fn public_items(lib: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let text: String = lib
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in text.split(';') {
        let s = statement.trim();
        let Some(rest) = s.lines().find_map(|l| l.trim().strip_prefix("pub ")) else {
            continue;
        };
        if let Some(path) = s.split_once("pub use ").map(|(_, p)| p) {
            let path: String = path.split_whitespace().collect();
            if let Some((_, list)) = path.split_once("::{") {
                for name in list.trim_end_matches('}').split(',') {
                    let name = name.rsplit("::").next().unwrap_or(name).trim();
                    if !name.is_empty() {
                        out.insert(name.to_owned());
                    }
                }
            } else {
                let last = path.rsplit("::").next().unwrap_or(&path);
                let last = last.rsplit(" as ").next().unwrap_or(last);
                out.insert(last.to_owned());
            }
            continue;
        }
        let mut words = rest.split_whitespace();
        if let (Some(kind), Some(name)) = (words.next(), words.next()) {
            if matches!(
                kind,
                "mod" | "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static"
            ) {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

/// The allowlist between `<!-- public-api: CRATE -->` and `<!-- /public-api -->` in
/// `docs/architecture.md`: backticked names.
fn allowlist(doc: &str, krate: &str) -> BTreeSet<String> {
    let start = format!("<!-- public-api: {krate} -->");
    let block = doc
        .split_once(&start)
        .unwrap_or_else(|| panic!("docs/architecture.md has no {start}"))
        .1
        .split_once("<!-- /public-api -->")
        .expect("the allowlist block is closed")
        .0;
    block
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_backend_exports_exactly_its_allowlist() {
    let doc = read("docs/architecture.md");
    for krate in ["marketseries-postgres", "marketseries-timescale"] {
        let found = public_items(&read(format!("crates/{krate}/src/lib.rs")));
        let allowed = allowlist(&doc, krate);
        assert_eq!(
            found, allowed,
            "{krate}: public items (left) differ from the allowlist in docs/architecture.md"
        );
    }
}

#[test]
fn the_public_item_parser_sees_every_form() {
    let items = public_items(
        "//! docs\npub use a::{B, c::D};\npub use e::F;\npub mod g;\npub type H = X;\n\
         mod private;\npub(crate) fn hidden() {}\npub const I: u8 = 1;",
    );
    let want: BTreeSet<String> = ["B", "D", "F", "g", "H", "I"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(items, want);
}

#[test]
fn every_crate_opts_into_the_workspace_lints() {
    let manifest = read("Cargo.toml");
    let members: Vec<&str> = manifest
        .split_once("members = [")
        .expect("members")
        .1
        .split_once(']')
        .expect("end of members")
        .0
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    for member in members {
        let text = read(format!("{member}/Cargo.toml"));
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{member}/Cargo.toml does not opt into [workspace.lints]"
        );
    }
}

#[test]
fn paths_named_in_the_docs_exist() {
    let prefixes = [
        "crates/",
        "migrations/",
        "xtask/",
        "benches/",
        "docs/",
        ".ci/",
    ];
    let mut docs = vec![PathBuf::from("README.md")];
    for entry in fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path.strip_prefix(root()).expect("inside").to_path_buf());
        }
    }
    let mut missing = Vec::new();
    for doc in &docs {
        let text = read(doc);
        for token in text.split('`').skip(1).step_by(2) {
            let path = token.trim_end_matches(['/', ':', '.', ',']);
            let looks_like_path = prefixes.iter().any(|p| path.starts_with(p))
                && !path.contains(['*', '<', '{', ' ']);
            if looks_like_path && !root().join(path).exists() {
                missing.push(format!("{}: {path}", doc.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named in docs do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_conformance_check_is_in_the_one_list() {
    let dir = root().join("crates/marketseries-testkit/src/conformance");
    let mut defined = BTreeSet::new();
    for entry in fs::read_dir(&dir).expect("conformance/") {
        let path = entry.expect("entry").path();
        let text = fs::read_to_string(&path).expect("read");
        for line in text.lines() {
            // A check is a top-level `pub async fn NAME(factory: &dyn StoreFactory)`.
            if let Some(rest) = line.strip_prefix("pub async fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if rest.contains("&dyn StoreFactory") && name != "run_all" {
                    defined.insert(name);
                }
            }
        }
    }
    let listed: BTreeSet<String> = marketseries_testkit::conformance::CHECKS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        listed.len(),
        marketseries_testkit::conformance::CHECKS.len(),
        "a check is listed twice"
    );
    assert_eq!(defined, listed, "checks defined (left) vs listed (right)");
}

/// The text between `-- shared: begin` and `-- shared: end` of a migration.
fn shared_block(path: &str) -> String {
    let text = read(path);
    let (_, rest) = text
        .split_once("-- shared: begin")
        .unwrap_or_else(|| panic!("{path} has no `-- shared: begin`"));
    let (block, _) = rest
        .split_once("-- shared: end")
        .unwrap_or_else(|| panic!("{path} has no `-- shared: end`"));
    block.to_owned()
}

#[test]
fn the_ddl_both_backends_share_is_identical() {
    let postgres = shared_block("migrations/postgres/00000000000001_tables/up.sql");
    let timescale = shared_block("migrations/timescaledb/00000000000001_tables/up.sql");
    // Plain PostgreSQL partitions its raw tables; that clause is the one allowed difference.
    let unpartitioned = postgres.replace(" PARTITION BY RANGE (time);", ";");
    assert_ne!(unpartitioned, postgres, "the plain tables are partitioned");
    assert_eq!(
        unpartitioned, timescale,
        "the shared blocks of the two 00000000000001_tables migrations differ"
    );
    for table in [
        "candles",
        "sentiment",
        "flows",
        "indicators",
        "candle_series",
    ] {
        assert!(
            timescale.contains(&format!("CREATE TABLE {table} (")),
            "{table} is not in the shared block"
        );
    }
    assert!(timescale.contains("CREATE FUNCTION marketseries_interval_seconds"));
    // Each helper is defined once per schema.
    for dir in ["migrations/postgres", "migrations/timescaledb"] {
        let mut definitions = 0;
        for entry in fs::read_dir(root().join(dir)).expect("migrations") {
            let up = entry.expect("entry").path().join("up.sql");
            let text = fs::read_to_string(&up).expect("up.sql");
            definitions += text
                .matches("CREATE FUNCTION marketseries_interval_seconds")
                .count();
        }
        assert_eq!(
            definitions, 1,
            "{dir}: marketseries_interval_seconds defined {definitions} times"
        );
    }
}
