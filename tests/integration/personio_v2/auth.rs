//! Tokens and errors: the form-encoded token request, one re-mint on a 401, error bodies in the
//! message, and the scope a 403 asks for.

use personio_productive_sync::personio::AbsenceSource;
use serde_json::json;

use super::*;

#[tokio::test]
async fn the_token_request_is_form_encoded_and_its_scopes_are_granted() {
    let server = Scripted::start(|_| None).await;
    let client = server.client();
    let scopes = client.granted_scopes().await.unwrap();
    assert_eq!(scopes, ["personio:absences:read", "personio:persons:read"]);
    // The token is reused.
    client.granted_scopes().await.unwrap();
    let mints = server.to("/v2/auth/token");
    assert_eq!(mints.len(), 1);
    let mint = &mints[0];
    assert_eq!(mint.method, "POST");
    assert_eq!(
        mint.headers["content-type"].to_str().unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert!(mint.headers.get("authorization").is_none());
    assert!(mint.query.is_empty());
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(mint.body.as_bytes())
        .into_owned()
        .collect();
    form.sort();
    let expected = [
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(form, expected);
}

#[tokio::test]
async fn bad_credentials_say_what_the_token_endpoint_said() {
    let server = Scripted::start(|seen| {
        (seen.path == "/v2/auth/token").then(|| {
            json_reply(
                401,
                json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
            )
        })
    })
    .await;
    let err = server.client().absence_types().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let message = err.to_string();
    assert!(
        message.contains("invalid_client: Client authentication failed."),
        "{message}"
    );
    assert!(!message.contains(SECRET));
    assert!(!err.is_transient());
}

/// A stale token is minted again once; the request then goes through with the new one.
#[tokio::test]
async fn a_rejected_token_is_minted_again_once() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(
            if seen.headers["authorization"].to_str().unwrap() == "Bearer papi-2" {
                types_page()
            } else {
                json_reply(401, json!({"errors": [{"title": "Unauthorized Request"}]}))
            },
        ),
        _ => None,
    })
    .await;
    let got = server.client().absence_types().await.unwrap();
    assert_eq!(got.items.len(), 2);
    let paths: Vec<String> = server.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            "/v2/auth/token",
            "/v2/absence-types",
            "/v2/auth/token",
            "/v2/absence-types"
        ]
    );
}

/// `/v2/persons` answers 401 (not 403) when the credential lacks its scope: after one re-mint
/// the error is final and names the scope.
#[tokio::test]
async fn a_fresh_token_rejected_again_is_final() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/v2/absence-types" => Some(types_page()),
        "/v2/absence-periods" => Some(page(
            vec![vacation(
                "a",
                "1",
                "2026-06-10T00:00:00",
                Some("2026-06-10T00:00:00"),
            )],
            None,
        )),
        "/v2/persons" => Some(json_reply(
            401,
            json!({"errors": [{"title": "Unauthorized Request"}]}),
        )),
        _ => None,
    })
    .await;
    let query = personio_productive_sync::personio::TimeOffQuery::window(
        "2026-06-01".parse().unwrap(),
        "2026-06-30".parse().unwrap(),
    );
    let err = server.client().time_offs(&query).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Personio rejected a freshly minted access token"),
        "{message}"
    );
    assert!(message.contains("personio:persons:read"), "{message}");
    assert!(!err.is_transient());
    assert_eq!(server.to("/v2/auth/token").len(), 2);
    assert_eq!(server.to("/v2/persons").len(), 2);
}

#[tokio::test]
async fn a_missing_scope_is_named() {
    let server = Scripted::start(|seen| {
        (seen.path == "/v2/absence-types").then(|| {
            json_reply(
                403,
                json!({"personio_trace_id": "f9ed", "timestamp": "2024-09-18T09:37:58Z",
                    "errors": [{"title": "Insufficient access scope",
                        "detail": "Client scope insufficient to access resource",
                        "type": "https://developer.personio.de/v2.0/page/public-api-error-codes#commonforbidden",
                        "_meta": {}}]}),
            )
        })
    })
    .await;
    let err = server.client().absence_types().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Insufficient access scope: Client scope insufficient to access resource"),
        "{message}"
    );
    assert!(message.contains("personio:absences:read"), "{message}");
    assert_eq!(err.status(), Some(403));
}
