//! Loading and checking the layered configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_hold_every_key() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.personio.base_url.as_str(), "https://api.personio.de/");
    assert_eq!(
        s.productive.base_url.as_str(),
        "https://api.productive.io/api/v2"
    );
    assert_eq!(s.sync.interval, Duration::from_secs(3600));
    assert_eq!(s.sync.lookback_months, 3);
    assert_eq!(s.sync.timezone, "UTC");
    assert_eq!(s.log.format, LogFormat::Auto);
    assert!(s.database.url.expose_secret().starts_with("sqlite:"));
    assert_eq!(
        s.http.listen().unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert!(s.http.token.is_none());
    assert!(s.personio.webhook_token.is_none());
}

#[test]
fn the_webhook_token_comes_from_the_environment_or_a_file() {
    let s =
        Settings::load_from(None, env(&[("PPS__PERSONIO__WEBHOOK_TOKEN", "hook-env")])).unwrap();
    assert_eq!(
        s.personio.webhook_token.unwrap().expose_secret(),
        "hook-env"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hook");
    std::fs::write(&file, "hook-from-file\n").unwrap();
    let s = Settings::load_from(
        None,
        env(&[("PPS__PERSONIO__WEBHOOK_TOKEN_FILE", file.to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(
        s.personio.webhook_token.unwrap().expose_secret(),
        "hook-from-file"
    );
}

#[test]
fn the_listener_can_be_turned_off_and_its_token_read_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "bearer-from-file\n").unwrap();
    let s = Settings::load_from(
        None,
        env(&[
            ("PPS__HTTP__LISTEN", ""),
            ("PPS__HTTP__TOKEN_FILE", token.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(s.http.listen().unwrap(), None);
    assert_eq!(s.http.token.unwrap().expose_secret(), "bearer-from-file");
    let err = Settings::load_from(None, env(&[("PPS__HTTP__LISTEN", "localhost")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.listen"), "{err}");
}

#[test]
fn file_overrides_defaults_and_env_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[sync]\ninterval = \"15m\"\nlookback_months = 2\n[personio]\nclient_id = \"from-file\"\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&path),
        env(&[
            ("PPS__SYNC__LOOKBACK_MONTHS", "6"),
            ("PPS__SYNC__TIMEZONE", "Europe/Berlin"),
            ("OTHER__SYNC__TIMEZONE", "nonsense"),
        ]),
    )
    .unwrap();
    assert_eq!(s.sync.interval, Duration::from_secs(900));
    assert_eq!(s.sync.lookback_months, 6);
    assert_eq!(s.personio.client_id, "from-file");
    assert_eq!(s.timezone().unwrap(), chrono_tz::Europe::Berlin);
}

#[test]
fn secrets_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t-from-file\n").unwrap();
    let s = Settings::load_from(
        None,
        env(&[
            (
                "PPS__PERSONIO__CLIENT_SECRET_FILE",
                secret.to_str().unwrap(),
            ),
            ("PPS__PRODUCTIVE__API_TOKEN_FILE", secret.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(s.personio.client_secret.expose_secret(), "s3cr3t-from-file");
    assert_eq!(s.productive.api_token.expose_secret(), "s3cr3t-from-file");
}

#[test]
fn missing_credential_names_the_key_and_hides_secrets() {
    let s = Settings::load_from(
        None,
        env(&[
            ("PPS__PERSONIO__CLIENT_ID", "id"),
            ("PPS__PERSONIO__CLIENT_SECRET", "top-secret-value"),
            ("PPS__PRODUCTIVE__ORGANIZATION_ID", "42"),
        ]),
    )
    .unwrap();
    let err = s.require_api_credentials().unwrap_err().to_string();
    assert!(err.contains("productive.api_token"), "{err}");
    assert!(err.contains("PPS__PRODUCTIVE__API_TOKEN"), "{err}");
    assert!(!err.contains("top-secret-value"));
    assert!(!format!("{s:?}").contains("top-secret-value"));
}

#[test]
fn type_rules_come_from_the_file_with_names_that_hold_dots_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[sync.types]\n\
         exclude = [\"Sick leave\", 1234]\n\
         [sync.types.map]\n\
         \"Dr. appointment\" = \"Absence\"\n\
         \"5678\" = \"Absence\"\n",
    )
    .unwrap();
    let s = Settings::load_from(Some(&path), env(&[])).unwrap();
    let rules = s.sync.types.rules().unwrap();
    assert_eq!(
        rules.exclude,
        vec![TypeRef::Text("Sick leave".into()), TypeRef::Id(1234)]
    );
    let mut map: Vec<(String, String)> = rules
        .map
        .iter()
        .map(|(r, e)| (r.to_string().to_lowercase(), e.clone()))
        .collect();
    map.sort();
    assert_eq!(
        map,
        vec![
            ("\"5678\"".into(), "Absence".into()),
            ("\"dr. appointment\"".into(), "Absence".into()),
        ]
    );
    let defaults = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(defaults.sync.types.rules().unwrap(), TypeRules::default());

    let refused = |toml: &str| {
        std::fs::write(&path, toml).unwrap();
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        err.to_string()
    };
    let err = refused("[sync.types.map]\n\"Sick leave\" = \" \"\n");
    assert!(
        err.contains("`sync.types.map`") && err.contains("Sick leave"),
        "{err}"
    );
    let err = refused("[sync.types]\nexclude = [\"\"]\n");
    assert!(err.contains("`sync.types.exclude`"), "{err}");
}

#[test]
fn email_overrides_come_from_the_file_and_the_environment_which_wins_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[sync.email_overrides]\n\
         \" Ann@Corp.example \" = \"ann@corp-uk.example\"\n\
         \"bo@corp.example\" = \"Bo.Jones@corp.example\"\n",
    )
    .unwrap();
    let from_file = Settings::load_from(Some(&path), env(&[])).unwrap();
    assert_eq!(
        from_file.sync.email_overrides,
        BTreeMap::from([
            ("ann@corp.example".into(), "ann@corp-uk.example".into()),
            ("bo@corp.example".into(), "bo.jones@corp.example".into()),
        ]),
        "keys and values trimmed and lowercased, dots kept"
    );
    let s = Settings::load_from(
        Some(&path),
        env(&[(
            "PPS__SYNC__EMAIL_OVERRIDES",
            " ANN@corp.example = ann.smith@corp.example , cy+x@corp.example=cy@corp.example,",
        )]),
    )
    .unwrap();
    assert_eq!(
        s.sync.email_overrides,
        BTreeMap::from([
            ("ann@corp.example".into(), "ann.smith@corp.example".into()),
            ("bo@corp.example".into(), "bo.jones@corp.example".into()),
            ("cy+x@corp.example".into(), "cy@corp.example".into()),
        ])
    );
    let only_env =
        Settings::load_from(None, env(&[("PPS__SYNC__EMAIL_OVERRIDES", "a@x=b@y")])).unwrap();
    assert_eq!(
        only_env.sync.email_overrides,
        BTreeMap::from([("a@x".into(), "b@y".into())])
    );
    let empty = Settings::load_from(None, env(&[("PPS__SYNC__EMAIL_OVERRIDES", "")])).unwrap();
    assert!(empty.sync.email_overrides.is_empty());
}

#[test]
fn a_malformed_override_fails_the_start_naming_the_key_and_the_entry() {
    let cases = [
        ("ann@x.example", "ann@x.example", "no `=`"),
        ("=b@y.example", "=b@y.example", "Personio email is empty"),
        ("a@x.example= ", "a@x.example=", "Productive email is empty"),
        (
            "ann=b@y.example",
            "ann=b@y.example",
            "\"ann\" is not an email",
        ),
        ("a@x.example=b y@z", "a@x.example=b y@z", "not an email"),
        ("a@x.example=b@y=c@z", "a@x.example=b@y=c@z", "not an email"),
        (
            "a@x.example=b@y.example, A@X.example =c@y.example",
            "A@X.example =c@y.example",
            "a@x.example is given twice",
        ),
    ];
    for (value, entry, problem) in cases {
        let err =
            Settings::load_from(None, env(&[("PPS__SYNC__EMAIL_OVERRIDES", value)])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
        let err = err.to_string();
        for part in [
            "sync.email_overrides",
            "PPS__SYNC__EMAIL_OVERRIDES",
            entry,
            problem,
        ] {
            assert!(err.contains(part), "{value:?}: {part:?} not in {err}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for (table, problem) in [
        (
            "\"nobody\" = \"b@y.example\"",
            "\"nobody\" = \"b@y.example\"",
        ),
        (
            "\"a@x.example\" = \"b@y.example\"\n\"A@x.example\" = \"c@y.example\"",
            "a@x.example is given twice",
        ),
    ] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("[sync.email_overrides]\n{table}\n")).unwrap();
        let err = Settings::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sync.email_overrides") && err.contains(problem),
            "{err}"
        );
    }
}

#[test]
fn invalid_values_name_their_key() {
    let err = Settings::load_from(None, env(&[("PPS__SYNC__TIMEZONE", "Mars/Base")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sync.timezone"), "{err}");
    let err = Settings::load_from(None, env(&[("PPS__SYNC__INTERVAL", "soon")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("interval"), "{err}");
    let err = Settings::load_from(
        None,
        env(&[("PPS__DATABASE__URL", "mysql://user:hunter2@db/x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("database.url") && !err.contains("hunter2"),
        "{err}"
    );
    let missing = Settings::load_from(Some(Path::new("/nonexistent/pps.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/pps.toml"), "{missing}");
}

#[test]
fn the_personio_api_is_v1_unless_told_otherwise() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.personio.api, PersonioApi::V1);
    let s = Settings::load_from(None, env(&[("PPS__PERSONIO__API", "V2")])).unwrap();
    assert_eq!(s.personio.api, PersonioApi::V2);
    let err = Settings::load_from(None, env(&[("PPS__PERSONIO__API", "v3")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("personio.api") && err.contains("v3"), "{err}");
}
