//! Logs go to stderr: human-readable on a terminal, JSON (one object per line, with span fields:
//! run id, stream, job) for machines. Progress bars share stderr and hide when it is not a terminal.

use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn init(format: Format, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("--log {filter:?}: {e}"))?;
    let res = match format {
        Format::Human => fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init(),
        Format::Json => fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    res.map_err(|e| anyhow::anyhow!("logging: {e}"))
}
