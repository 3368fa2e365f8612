//! Structured logging: JSON or pretty, filtered by `RUST_LOG` (default per command).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber. Logs go to stderr so that command output on stdout
/// (`status --json`, the demo report) stays clean. `default_filter` applies when `RUST_LOG` is
/// unset.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    // A second init (tests, the demo after `run`) keeps the first subscriber.
    drop(result);
}

/// Renders an error with its whole cause chain, for log fields. Our errors leave their cause out
/// of their own message; a cause whose text its parent already ends with (sqlx errors embed
/// their source) is not repeated.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut parent = text.clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !parent.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        parent = cause_text;
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct E {
        text: &'static str,
        #[source]
        source: Option<Box<E>>,
    }

    fn e(text: &'static str, source: Option<E>) -> E {
        E {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn each_cause_reads_once() {
        let io = e("connection reset", None);
        assert_eq!(
            error_chain(&e(
                "state store failed",
                Some(e("database error", Some(io)))
            )),
            "state store failed: database error: connection reset"
        );
        // A cause its parent already ends with (as sqlx words its own errors) is not repeated.
        let inner = e("relation missing", None);
        let sqlx_like = e(
            "error returned from database: relation missing",
            Some(inner),
        );
        assert_eq!(
            error_chain(&e("state store failed", Some(sqlx_like))),
            "state store failed: error returned from database: relation missing"
        );
    }
}
