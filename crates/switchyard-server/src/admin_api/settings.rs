//! Runtime settings (typed, with defaults and descriptions) and model prices (bundled table,
//! operator overrides, reset to default): a front over [`crate::ops::settings`] and
//! [`crate::ops::prices`].

use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, put};
use switchyard_core::pricing::ModelPrice;

use super::{Body, Front, Operation};
use crate::ops::prices::{self, PriceView};
use crate::ops::settings::{self, SettingValue, SettingView};

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

async fn list(f: Front) -> Response {
    f.done(200, settings::list(&f.ctx()).await)
}

async fn set(f: Front, Path(key): Path<String>, Body(b): Body<SettingValue>) -> Response {
    f.done(200, settings::set(&f.ctx(), &key, &b.value).await)
}

async fn reset(f: Front, Path(key): Path<String>) -> Response {
    f.done(200, settings::reset(&f.ctx(), &key).await)
}

async fn list_prices(f: Front) -> Response {
    f.done(200, prices::list(&f.ctx()).await)
}

async fn set_price(f: Front, Path(model): Path<String>, Body(price): Body<ModelPrice>) -> Response {
    f.done(200, prices::set(&f.ctx(), &model, price).await)
}

async fn reset_price(f: Front, Path(model): Path<String>) -> Response {
    f.done_empty(prices::reset(&f.ctx(), &model).await)
}
