//! The web console at `/ui`: one page, its script and its style sheet, embedded in the binary
//! (no CDN, so it works on an isolated network). It is a client of the public REST API only;
//! the one addition it needed is `GET /whoami`, so it can hide what the caller may not do.
//! The assets are public (they hold no data); every call they make is authenticated.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/app.css");

/// Whether `path` is one of the console's assets.
pub fn is_asset(path: &str) -> bool {
    matches!(path, "/ui" | "/ui/" | "/ui/app.js" | "/ui/app.css")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The console's page.
#[utoipa::path(get, path = "/ui", tag = "console",
    responses((status = 200, description = "The web console", content_type = "text/html; charset=utf-8", body = String)))]
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// The console's script.
#[utoipa::path(get, path = "/ui/app.js", tag = "console",
    responses((status = 200, description = "The console's script", content_type = "text/javascript; charset=utf-8", body = String)))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The console's style sheet.
#[utoipa::path(get, path = "/ui/app.css", tag = "console",
    responses((status = 200, description = "The console's style sheet", content_type = "text/css; charset=utf-8", body = String)))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /whoami`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The user, token or `CN=` name; null without authentication.
    pub user: Option<String>,
    /// `viewer`, `operator` or `admin` (everyone is admin without authentication).
    pub role: String,
    /// The connector-name patterns the grant is limited to; null for every connector.
    pub connectors: Option<Vec<String>>,
    /// Whether the worker checks credentials (`rest.auth.users.file`).
    pub authentication: bool,
}

/// Who the caller is and what it may do, so a client can offer only what it may.
#[utoipa::path(get, path = "/whoami", tag = "worker",
    responses((status = 200, description = "The caller's identity and grant", body = WhoAmI)))]
pub async fn whoami(caller: Option<Extension<Caller>>) -> Response {
    let answer = match caller {
        Some(Extension(caller)) => WhoAmI {
            user: Some(caller.user),
            role: caller.grant.role.name().to_string(),
            connectors: caller.grant.connectors.map(|c| c.patterns().to_vec()),
            authentication: true,
        },
        None => WhoAmI {
            user: None,
            role: "admin".into(),
            connectors: None,
            authentication: false,
        },
    };
    Json(answer).into_response()
}
