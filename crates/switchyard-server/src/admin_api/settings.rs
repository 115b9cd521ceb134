//! Runtime settings (typed, with defaults and descriptions) and model prices (bundled table,
//! operator overrides, reset to default).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchyard_core::pricing::{ModelPrice, PriceTable};
use switchyard_core::settings::{self, DEFS, SettingError};

use super::problem::{Problem, bad_body};
use super::{Caller, Operation, audit};
use crate::state::AppState;

#[derive(Serialize, JsonSchema)]
pub struct SettingView {
    pub key: String,
    /// `bool`, `int` or `text`.
    #[serde(rename = "type")]
    pub ty: String,
    pub value: String,
    pub default: String,
    pub description: String,
    /// Whether the value differs from the default because an operator set it.
    pub overridden: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingValue {
    /// The new value, as text (`true`, `15`, `https://…`).
    pub value: String,
}

#[derive(Serialize, JsonSchema)]
pub struct PriceView {
    pub model: String,
    pub price: ModelPrice,
    /// `override` when an operator set it, else `bundled`.
    pub source: String,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/settings",
            "settings",
            "List settings with types, defaults and descriptions",
            get(list),
        )
        .ok::<Vec<SettingView>>(200),
        Operation::put(
            "/settings/{key}",
            "settings",
            "Set a setting (validated)",
            put(set),
        )
        .body::<SettingValue>()
        .ok::<SettingView>(200),
        Operation::delete(
            "/settings/{key}",
            "settings",
            "Reset a setting to its default",
            delete(reset),
        )
        .ok::<SettingView>(200),
        Operation::get(
            "/prices",
            "prices",
            "List model prices (bundled and overridden)",
            get(list_prices),
        )
        .ok::<Vec<PriceView>>(200),
        Operation::put(
            "/prices/{model}",
            "prices",
            "Override a model's price",
            put(set_price),
        )
        .body::<ModelPrice>()
        .ok::<PriceView>(200),
        Operation::delete(
            "/prices/{model}",
            "prices",
            "Drop an override (the bundled price applies again)",
            delete(reset_price),
        )
        .no_content(),
    ]
}

async fn views(state: &AppState) -> Result<Vec<SettingView>, Response> {
    let stored = state.store.settings().await.map_err(Problem::from_store)?;
    Ok(DEFS
        .iter()
        .map(|d| SettingView {
            key: d.key.into(),
            ty: d.ty.as_str().into(),
            value: settings::effective_text(&stored, d),
            default: d.default.into(),
            description: d.help.into(),
            overridden: stored.contains_key(d.key),
        })
        .collect())
}

async fn one(state: &AppState, key: &str) -> Result<SettingView, Response> {
    views(state)
        .await?
        .into_iter()
        .find(|v| v.key == key)
        .ok_or_else(|| Problem::not_found(&format!("unknown setting `{key}`")))
}

/// What the audit log keeps of a value: URLs without their credentials.
fn shown(key: &str, value: &str) -> String {
    if key.ends_with("_url") {
        switchyard_core::secret::redact_url(value)
    } else {
        value.to_string()
    }
}

async fn list(State(state): State<Arc<AppState>>) -> Response {
    match views(&state).await {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

async fn set(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    body: Result<Json<SettingValue>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let before = match one(&state, &key).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let value = match settings::validate(&key, &b.value) {
        Ok(v) => v,
        Err(e @ SettingError::Unknown(_)) => return Problem::not_found(&e.to_string()),
        Err(e) => return Problem::invalid("value", &e.to_string()),
    };
    if key == "default_proxy"
        && let Err(e) = crate::ops::proxies::check_default_proxy(state.store.as_ref(), &value).await
    {
        return super::proxies::op_error(e);
    }
    if let Err(e) = state.store.set_setting(&key, &value).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "settings.set",
        &key,
        Some(shown(&key, &before.value).into()),
        Some(shown(&key, &value).into()),
    )
    .await;
    let _ = state.refresh_if_changed().await;
    match one(&state, &key).await {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

async fn reset(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Response {
    let before = match one(&state, &key).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Err(e) = state.store.reset_setting(&key).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "settings.reset",
        &key,
        Some(shown(&key, &before.value).into()),
        Some(shown(&key, &before.default).into()),
    )
    .await;
    let _ = state.refresh_if_changed().await;
    match one(&state, &key).await {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

async fn list_prices(State(state): State<Arc<AppState>>) -> Response {
    let overrides = match state.store.price_overrides().await {
        Ok(o) => o,
        Err(e) => return Problem::from_store(e),
    };
    let bundled = PriceTable::bundled();
    let mut out: Vec<PriceView> = bundled
        .iter()
        .filter(|(m, _)| !overrides.contains_key(*m))
        .map(|(m, p)| PriceView {
            model: m.to_string(),
            price: *p,
            source: "bundled".into(),
        })
        .collect();
    out.extend(overrides.iter().map(|(m, p)| PriceView {
        model: m.clone(),
        price: *p,
        source: "override".into(),
    }));
    out.sort_by(|a, b| a.model.cmp(&b.model));
    Json(out).into_response()
}

async fn set_price(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(model): Path<String>,
    body: Result<Json<ModelPrice>, JsonRejection>,
) -> Response {
    let Json(price) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let all = [
        ("input_cost_per_token", Some(price.input_cost_per_token)),
        ("output_cost_per_token", Some(price.output_cost_per_token)),
        (
            "cache_creation_input_token_cost",
            price.cache_creation_input_token_cost,
        ),
        (
            "cache_creation_input_token_cost_above_1hr",
            price.cache_creation_input_token_cost_above_1hr,
        ),
        (
            "cache_read_input_token_cost",
            price.cache_read_input_token_cost,
        ),
        (
            "output_cost_per_reasoning_token",
            price.output_cost_per_reasoning_token,
        ),
    ];
    for (field, v) in all {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Problem::invalid(
                field,
                "a price must be a non-negative number of USD per token",
            );
        }
    }
    let before = state.snapshot.load().prices.price(&model).copied();
    if let Err(e) = state.store.set_price(&model, &price).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "price.set",
        &model,
        before.and_then(|p| serde_json::to_value(p).ok()),
        serde_json::to_value(price).ok(),
    )
    .await;
    Json(PriceView {
        model,
        price,
        source: "override".into(),
    })
    .into_response()
}

async fn reset_price(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(model): Path<String>,
) -> Response {
    match state.store.delete_price(&model).await {
        Ok(true) => {
            audit(&state, &caller, "price.reset", &model, None, None).await;
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => Problem::not_found(&format!("no override for model `{model}`")),
        Err(e) => Problem::from_store(e),
    }
}
