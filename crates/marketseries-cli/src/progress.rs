//! Progress of long work (import, export, copy, refresh) on stderr: an `indicatif` bar with
//! counts, rate and ETA when stderr is a terminal; nothing otherwise, where the command's
//! summary line says what was done (logs and pipes get no redrawn lines).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing when stderr is not a terminal. Cleared when dropped.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `unit`s towards `total` (a counter without ETA when the total is unknown),
    /// labelled `message`.
    pub fn new(total: Option<u64>, unit: &str, message: impl Into<String>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let template = match total {
            Some(_) => format!(
                "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, ETA {{eta}})"
            ),
            None => format!("{{spinner}} {{msg}}: {{human_pos}} {unit} ({{per_sec}})"),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.into());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self { bar: Some(bar) }
    }

    /// `n` more done.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// `n` done in all, of `total` when that became known.
    pub fn set(&self, n: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(n);
        }
    }

    /// A new label.
    pub fn message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
