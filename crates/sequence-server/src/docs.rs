//! The spec over HTTP: `/openapi.yaml` (the committed file, byte for byte), `/openapi.json` (the
//! same document as JSON) and Swagger UI at `/docs` (utoipa-swagger-ui with its `vendored`
//! feature, so nothing is downloaded at build time). Swagger UI's "Try it out" calls the API on
//! the same origin through the spec's relative server URL (`/api/v1`).

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

/// The committed spec, embedded at build time.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

/// The spec as JSON, converted once.
pub static OPENAPI_JSON: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_saphyr::from_str(OPENAPI_YAML)
        .expect("openapi.yaml parses (checked by the codegen tests)")
});

/// `/docs`, `/openapi.json` and `/openapi.yaml`.
pub fn router() -> Router<AppState> {
    let swagger: Router<AppState> = SwaggerUi::new("/docs")
        .external_url_unchecked("/openapi.json", OPENAPI_JSON.clone())
        .into();
    swagger.route(
        "/openapi.yaml",
        get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML) }),
    )
}
