//! Logging flags: klog-style `-v` verbosity and a JSON format, on `tracing`.
//!
//! Logs go to stderr. Text lines carry ANSI colours only when stderr is a terminal (and
//! `NO_COLOR` is not set): a container's log file, a pipe or a redirect gets plain lines.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The logging flags of every component.
#[derive(Debug, Clone, clap::Args)]
pub struct LogOptions {
    /// Log verbosity: 0 info, 1-3 debug, 4+ trace (as klog's -v). `RUST_LOG` overrides it.
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub logging_format: LogFormat,
}

impl LogOptions {
    /// Installs the global subscriber (once; later calls do nothing).
    pub fn init(&self) {
        let level = match self.verbosity {
            0 => "info",
            1..=3 => "debug",
            _ => "trace",
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.logging_format {
            LogFormat::Text => builder
                .with_ansi(colours(
                    std::io::stderr().is_terminal(),
                    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
                ))
                .try_init(),
            LogFormat::Json => builder.json().with_ansi(false).try_init(),
        };
    }
}

/// Whether text logs are coloured: only on a terminal, and not when `NO_COLOR` is set.
fn colours(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, false));
        assert!(!colours(false, false));
        assert!(!colours(true, true));
        assert!(!colours(false, true));
    }
}
