//! Small readers over `serde_json::Value` that name the offending field in their errors, so a
//! refusal always says which part of the client's body was wrong.

use serde_json::{Map, Value};

use super::fidelity::ConvertError;

pub(crate) type Obj = Map<String, Value>;

pub(crate) fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Obj, ConvertError> {
    v.as_object()
        .ok_or_else(|| ConvertError::invalid(field, "expected an object"))
}

pub(crate) fn array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, ConvertError> {
    v.as_array()
        .ok_or_else(|| ConvertError::invalid(field, "expected an array"))
}

pub(crate) fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, ConvertError> {
    v.as_str()
        .ok_or_else(|| ConvertError::invalid(field, "expected a string"))
}

/// An optional string member; present-but-not-a-string is an error.
pub(crate) fn opt_str<'a>(
    o: &'a Obj,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ConvertError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, &join(path, key)).map(Some),
    }
}

pub(crate) fn req_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a str, ConvertError> {
    opt_str(o, key, path)?.ok_or_else(|| ConvertError::invalid(join(path, key), "missing"))
}

pub(crate) fn opt_u64(o: &Obj, key: &str, path: &str) -> Result<Option<u64>, ConvertError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ConvertError::invalid(join(path, key), "expected a non-negative integer")
        }),
    }
}

/// Like [`opt_u64`] but accepts signed values (Gemini's `thinkingBudget: -1`).
pub(crate) fn opt_i64(o: &Obj, key: &str, path: &str) -> Result<Option<i64>, ConvertError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ConvertError::invalid(join(path, key), "expected an integer")),
    }
}

pub(crate) fn opt_f64(o: &Obj, key: &str, path: &str) -> Result<Option<f64>, ConvertError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| ConvertError::invalid(join(path, key), "expected a number")),
    }
}

pub(crate) fn opt_bool(o: &Obj, key: &str, path: &str) -> Result<Option<bool>, ConvertError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| ConvertError::invalid(join(path, key), "expected a boolean")),
    }
}

/// `path.key`, or `key` at the top level.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(crate) fn at(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A string or an array of strings (Chat `stop`).
pub(crate) fn strings(v: &Value, field: &str) -> Result<Vec<String>, ConvertError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, s)| string(s, &at(field, i)).map(str::to_owned))
            .collect(),
        _ => Err(ConvertError::invalid(
            field,
            "expected a string or an array",
        )),
    }
}

/// Parses a tool call's argument string. An empty string is `{}` (some providers stream no
/// argument bytes for a call without parameters).
pub(crate) fn arguments(s: &str, field: &str) -> Result<Value, ConvertError> {
    if s.trim().is_empty() {
        return Ok(Value::Object(Obj::new()));
    }
    serde_json::from_str(s)
        .map_err(|e| ConvertError::invalid(field, format!("tool arguments are not JSON: {e}")))
}

/// A `data:` URL split into media type and base64 payload; `None` for any other URL.
pub(crate) fn data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type.to_owned(), data.to_owned()))
}
