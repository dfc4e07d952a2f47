//! `GET /v1/models` and `GET /v1/models/{id}`: a fixed catalogue; any id is described on request,
//! since the mock accepts every model name elsewhere too.

use serde::Serialize;

use crate::reply::Reply;

/// Models listed by `GET /v1/models`.
const CATALOGUE: [&str; 8] = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5-nano",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
];

/// A fixed creation time, so listings are stable.
const CREATED: u64 = 1_700_000_000;

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

fn model(id: &str) -> Model<'_> {
    Model { id, object: "model", created: CREATED, owned_by: "system" }
}

/// `{object: "list", data: [...]}` of the catalogue.
pub(crate) fn list() -> Reply {
    Reply::ok(&List { object: "list", data: CATALOGUE.iter().map(|id| model(id)).collect() })
}

/// One model object for `id`.
pub(crate) fn get(id: &str) -> Reply {
    Reply::ok(&model(id))
}
