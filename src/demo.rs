//! The one-command demo (built on the simulators).

use std::process::ExitCode;

use crate::config::Settings;

pub async fn run(_settings: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "the demo is not available yet: it arrives with the simulated organisation generator"
    )
}
