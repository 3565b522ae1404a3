//! Running child commands from the workspace root, echoing them first.

use std::error::Error;
use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of this crate).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `command`, failing with its rendering when it exits unsuccessfully.
pub fn run(mut command: Command) -> Result<(), Box<dyn Error>> {
    let rendered = render(&command);
    println!("\n$ {rendered}");
    let status = command
        .status()
        .map_err(|e| format!("could not run `{rendered}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{rendered}` failed ({status})").into())
    }
}

/// Whether `program --version` runs.
pub fn available(program: &str, sub: &[&str]) -> bool {
    Command::new(program)
        .args(sub)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn render(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
