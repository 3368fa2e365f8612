//! Layered configuration: `config/default.toml` (embedded) < `--config FILE` < `PPS__SECTION__KEY`
//! environment variables. Secrets may come from files named by `<key>_file`. Email overrides
//! may also come from `PPS__SYNC__EMAIL_OVERRIDES`, read here beside the layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::domain::matching::OVERRIDES_ENV;
use crate::domain::type_rules::{TypeRef, TypeRules};

mod overrides;

use overrides::email_overrides;

const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub personio: PersonioSettings,
    pub productive: ProductiveSettings,
    pub database: DatabaseSettings,
    pub sync: SyncSettings,
    pub log: LogSettings,
    pub http: HttpSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// `host:port` the daemon serves health, metrics and status on; empty turns it off.
    listen: String,
    /// When set, everything but the health probes needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    token_file: Option<PathBuf>,
}

impl HttpSettings {
    /// The address to listen on; `None` when the listener is off.
    pub fn listen(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            invalid(
                "http.listen",
                format!(
                    "{listen:?} is not an IP address and port (e.g. 127.0.0.1:9464), nor empty"
                ),
            )
        })
    }
}

/// Which of Personio's APIs absences are read through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PersonioApi {
    #[default]
    V1,
    V2,
}

impl<'de> Deserialize<'de> for PersonioApi {
    /// Names the key in its error itself: an enum's own error would only list the variants.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.trim().to_ascii_lowercase().as_str() {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            _ => Err(serde::de::Error::custom(format!(
                "personio.api must be \"v1\" or \"v2\", not {raw:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PersonioSettings {
    /// Absent in settings built by hand (tests): v1, as before the key existed.
    #[serde(default)]
    pub api: PersonioApi,
    pub base_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    pub app_id: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub requests_per_minute: u32,
    /// The token Personio's webhook subscription sends in `Authorization`; when set, the
    /// listener takes deliveries at `POST /webhooks/personio`.
    #[serde(default)]
    pub webhook_token: Option<SecretString>,
    #[serde(default)]
    webhook_token_file: Option<PathBuf>,
    /// The public HTTPS URL at which Personio reaches the receiver; empty when not subscribing.
    #[serde(default)]
    webhook_url: String,
    /// Create or update the webhook subscription at start (API v2).
    #[serde(default)]
    pub webhook_subscribe: bool,
}

impl PersonioSettings {
    /// The URL to subscribe with, when the daemon manages the subscription.
    pub fn webhook_url(&self) -> Result<Option<Url>, ConfigError> {
        let raw = self.webhook_url.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let url = Url::parse(raw).map_err(|e| invalid("personio.webhook_url", e.to_string()))?;
        // Personio delivers over HTTPS only; plain http is for a receiver on this host (tests).
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(invalid(
                "personio.webhook_url",
                "must be an https:// URL (Personio delivers webhooks over HTTPS only)",
            ));
        }
        Ok(Some(url))
    }

    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let url = self.webhook_url()?;
        if !self.webhook_subscribe {
            return Ok(());
        }
        if self.api != PersonioApi::V2 {
            return Err(invalid(
                "personio.webhook_subscribe",
                "webhooks need personio.api = \"v2\"",
            ));
        }
        if url.is_none() {
            return Err(invalid(
                "personio.webhook_subscribe",
                "needs personio.webhook_url, the public URL of POST /webhooks/personio",
            ));
        }
        if self.webhook_token.is_none() {
            return Err(invalid(
                "personio.webhook_subscribe",
                "needs personio.webhook_token, which Personio then sends with every delivery",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductiveSettings {
    pub base_url: Url,
    pub api_token: SecretString,
    #[serde(default)]
    api_token_file: Option<PathBuf>,
    pub organization_id: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub requests_per_10s: u32,
    pub requests_per_30min: u32,
    pub write_concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    #[serde(default)]
    url_file: Option<PathBuf>,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SyncSettings {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub lookback_months: u32,
    pub timezone: String,
    #[serde(with = "humantime_serde")]
    pub full_reconcile_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_deadline: Duration,
    /// The mass-deletion guard: more than this share of the owned bookings...
    pub mass_delete_share: f64,
    /// ...and more than this many.
    pub mass_delete_min: usize,
    /// Books hour-unit absences (off: they are reported as skipped).
    pub hourly_absences: bool,
    /// Personio email → Productive email, for people whose addresses differ: the file's table
    /// and `PPS__SYNC__EMAIL_OVERRIDES` merged, trimmed and lowercased once loaded.
    #[serde(default)]
    pub email_overrides: BTreeMap<String, String>,
    /// `[sync.types]`: types not synced, and types booked on an event of another name.
    #[serde(default)]
    pub types: TypeSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TypeSettings {
    /// Types not synced: names (any case) or ids.
    #[serde(default)]
    pub exclude: Vec<TypeRef>,
    /// Type (name or id) → the name of the Productive event its absences are booked on.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

impl TypeSettings {
    /// The rules, or the first entry that names nothing.
    pub fn rules(&self) -> Result<TypeRules, ConfigError> {
        let blank = |r: &TypeRef| matches!(r, TypeRef::Text(s) if s.trim().is_empty());
        if self.exclude.iter().any(blank) {
            return Err(invalid("sync.types.exclude", "holds an empty type name"));
        }
        let mut map = Vec::new();
        for (from, to) in &self.map {
            if from.trim().is_empty() || to.trim().is_empty() {
                return Err(invalid(
                    "sync.types.map",
                    format!("entry {from:?} = {to:?}: both the type and the event need a name"),
                ));
            }
            map.push((TypeRef::Text(from.clone()), to.clone()));
        }
        Ok(TypeRules {
            exclude: self.exclude.clone(),
            map,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
    Auto,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Settings {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, env)
    }

    /// Like [`Settings::load`] with an explicit environment (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let mut overrides_env = None;
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PPS__"))
            .filter_map(|(k, v)| match k == OVERRIDES_ENV {
                // Not for the layers: they would split its emails at the dots.
                true => {
                    overrides_env = Some(v);
                    None
                }
                false => Some((k, v)),
            })
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("PPS")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        );
        let raw = builder
            .build()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let mut settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.read_secret_files()?;
        settings.sync.email_overrides =
            email_overrides(&settings.sync.email_overrides, overrides_env.as_deref())?;
        settings.validate()?;
        Ok(settings)
    }

    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        let read = |key: &str, path: &Path| -> Result<SecretString, ConfigError> {
            std::fs::read_to_string(path)
                .map(|s| SecretString::from(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
        };
        if let Some(path) = self.personio.client_secret_file.take() {
            self.personio.client_secret = read("personio.client_secret_file", &path)?;
        }
        if let Some(path) = self.productive.api_token_file.take() {
            self.productive.api_token = read("productive.api_token_file", &path)?;
        }
        if let Some(path) = self.database.url_file.take() {
            self.database.url = read("database.url_file", &path)?;
        }
        if let Some(path) = self.http.token_file.take() {
            self.http.token = Some(read("http.token_file", &path)?);
        }
        if let Some(path) = self.personio.webhook_token_file.take() {
            self.personio.webhook_token = Some(read("personio.webhook_token_file", &path)?);
        }
        // An empty token (the default) means none.
        let set = |t: Option<SecretString>| t.filter(|t| !t.expose_secret().is_empty());
        self.http.token = set(self.http.token.take());
        self.personio.webhook_token = set(self.personio.webhook_token.take());
        Ok(())
    }

    /// Checks what every command needs (not the API credentials: see
    /// [`Settings::require_api_credentials`]).
    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose_secret();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or sqlite: (value not shown)",
            ));
        }
        self.timezone()?;
        self.http.listen()?;
        self.personio.validate_webhooks()?;
        if self.sync.interval < Duration::from_secs(1) {
            return Err(invalid("sync.interval", "must be at least 1s"));
        }
        if self.sync.lookback_months > 120 {
            return Err(invalid("sync.lookback_months", "must be at most 120"));
        }
        if self.productive.requests_per_10s == 0 || self.productive.requests_per_30min == 0 {
            return Err(invalid(
                "productive.requests_per_10s",
                "request budgets must be positive",
            ));
        }
        if self.personio.requests_per_minute == 0 {
            return Err(invalid("personio.requests_per_minute", "must be positive"));
        }
        if !(0.0..=1.0).contains(&self.sync.mass_delete_share) {
            return Err(invalid("sync.mass_delete_share", "must be between 0 and 1"));
        }
        if self.database.acquire_timeout.is_zero() {
            return Err(invalid("database.acquire_timeout", "must be positive"));
        }
        if self.productive.write_concurrency == 0 {
            return Err(invalid("productive.write_concurrency", "must be positive"));
        }
        self.sync.types.rules()?;
        Ok(())
    }

    /// The credentials every command that talks to the APIs needs.
    pub fn require_api_credentials(&self) -> Result<(), ConfigError> {
        let missing = |key: &str| {
            invalid(
                key,
                format!(
                    "is required; set it in the config file or as PPS__{}",
                    key.replace('.', "__").to_uppercase()
                ),
            )
        };
        if self.personio.client_id.trim().is_empty() {
            return Err(missing("personio.client_id"));
        }
        if self.personio.client_secret.expose_secret().is_empty() {
            return Err(missing("personio.client_secret"));
        }
        if self.productive.api_token.expose_secret().is_empty() {
            return Err(missing("productive.api_token"));
        }
        if self.productive.organization_id.trim().is_empty() {
            return Err(missing("productive.organization_id"));
        }
        Ok(())
    }

    pub fn timezone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.sync.timezone.parse().map_err(|_| {
            invalid(
                "sync.timezone",
                format!("unknown IANA time zone {:?}", self.sync.timezone),
            )
        })
    }
}

#[cfg(test)]
mod tests;
