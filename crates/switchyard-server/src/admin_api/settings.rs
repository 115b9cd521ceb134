//! Runtime settings (typed, with defaults and descriptions) and model prices (bundled table,
//! operator overrides, reset to default).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::{delete, get, put};
use std::sync::Arc;
use switchyard_core::pricing::ModelPrice;

use super::problem::bad_body;
use super::{Caller, Operation, ctx, done, done_empty};
use crate::ops::prices::{self, PriceView};
use crate::ops::settings::{self, SettingValue, SettingView};
use crate::state::AppState;

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

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, settings::list(&ctx(&state, &actor)).await)
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
    let actor = caller.actor();
    let r = settings::set(&ctx(&state, &actor), &key, &b.value).await;
    done(&state, 200, r)
}

async fn reset(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Response {
    let actor = caller.actor();
    done(
        &state,
        200,
        settings::reset(&ctx(&state, &actor), &key).await,
    )
}

async fn list_prices(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, prices::list(&ctx(&state, &actor)).await)
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
    let actor = caller.actor();
    let r = prices::set(&ctx(&state, &actor), &model, price).await;
    done(&state, 200, r)
}

async fn reset_price(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(model): Path<String>,
) -> Response {
    let actor = caller.actor();
    done_empty(&state, prices::reset(&ctx(&state, &actor), &model).await)
}
