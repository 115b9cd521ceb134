//! Tool and output JSON Schemas trimmed to what the target accepts.
//!
//! Anthropic and OpenAI take JSON Schema as clients write it. Gemini's `parameters` and
//! `responseSchema` take an OpenAPI 3.0 subset and refuse the request on anything else
//! (`$ref`, `additionalProperties`, `$schema`, type arrays, `const`, non-string enums), so for
//! Gemini the schema is rewritten: references are inlined, `["x","null"]` becomes
//! `nullable`, `const` becomes a one-value enum, and unknown keywords are left out. Leaving out
//! a validation keyword only makes the schema more permissive; the model sees the same shape.

use serde_json::{Map, Value, json};

/// Keywords Gemini's schema accepts.
const GEMINI_KEYS: [&str; 17] = [
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "anyOf",
    "minLength",
    "maxLength",
    "propertyOrdering",
];

/// How deep `$ref`s are followed before a recursive schema is cut to a plain object.
const MAX_DEPTH: usize = 24;

/// The schema rewritten for Gemini; see the module documentation.
pub(crate) fn for_gemini(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    trim(schema, &defs, 0)
}

fn trim(schema: &Value, defs: &Value, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        // `true` / `{}` — anything goes; Gemini needs a type, an object is the loosest.
        return json!({"type": "object"});
    };
    if depth > MAX_DEPTH {
        return json!({"type": "object"});
    }
    if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or_default();
        let mut resolved = match defs.get(name) {
            Some(def) => trim(def, defs, depth + 1),
            None => json!({"type": "object"}),
        };
        if let (Some(desc), Some(map)) = (obj.get("description"), resolved.as_object_mut()) {
            map.insert("description".into(), desc.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    for (key, value) in obj {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let mut kinds: Vec<&Value> = types
                        .iter()
                        .filter(|t| t.as_str() != Some("null"))
                        .collect();
                    if kinds.len() < types.len() {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    match kinds.len() {
                        0 => {}
                        1 => {
                            out.insert("type".into(), kinds.remove(0).clone());
                        }
                        _ => {
                            let any: Vec<Value> =
                                kinds.iter().map(|t| json!({"type": t})).collect();
                            out.insert("anyOf".into(), Value::Array(any));
                        }
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Some(props) = value.as_object() {
                    let trimmed: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), trim(v, defs, depth + 1)))
                        .collect();
                    out.insert("properties".into(), Value::Object(trimmed));
                }
            }
            "items" => {
                out.insert("items".into(), trim(value, defs, depth + 1));
            }
            "anyOf" | "oneOf" => {
                if let Some(options) = value.as_array() {
                    let trimmed = options.iter().map(|v| trim(v, defs, depth + 1)).collect();
                    out.insert("anyOf".into(), Value::Array(trimmed));
                }
            }
            "const" if value.is_string() => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            // Gemini enums are string-only.
            "enum"
                if value
                    .as_array()
                    .is_some_and(|v| v.iter().all(Value::is_string)) =>
            {
                out.insert("enum".into(), value.clone());
            }
            "format" => {
                if matches!(
                    value.as_str(),
                    Some("enum" | "date-time" | "int32" | "int64" | "float" | "double")
                ) {
                    out.insert("format".into(), value.clone());
                }
            }
            k if GEMINI_KEYS.contains(&k) && !matches!(k, "enum") => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // `required` may only name properties that exist.
    if let Some(Value::Array(required)) = out.get("required") {
        let props = out.get("properties").and_then(Value::as_object);
        let kept: Vec<Value> = required
            .iter()
            .filter(|r| {
                r.as_str()
                    .is_some_and(|n| props.is_some_and(|p| p.contains_key(n)))
            })
            .cloned()
            .collect();
        out.insert("required".into(), Value::Array(kept));
    }
    if out.contains_key("enum") && !out.contains_key("type") {
        out.insert("type".into(), json!("string"));
    }
    Value::Object(out)
}

/// A Gemini (OpenAPI) schema as JSON Schema: Gemini clients write types in upper case
/// (`OBJECT`, `STRING`), which JSON Schema does not know.
pub(crate) fn from_gemini(schema: &Value) -> Value {
    match schema {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
                        ("properties", Value::Object(props)) => Value::Object(
                            props
                                .iter()
                                .map(|(n, p)| (n.clone(), from_gemini(p)))
                                .collect(),
                        ),
                        ("items", item) => from_gemini(item),
                        ("anyOf", Value::Array(options)) => {
                            Value::Array(options.iter().map(from_gemini).collect())
                        }
                        (_, other) => other.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Anthropic's `input_schema` must be an object schema; a missing schema is an empty object.
pub(crate) fn for_anthropic(schema: &Value) -> Value {
    match schema {
        Value::Object(o) if o.contains_key("type") => schema.clone(),
        Value::Object(o) => {
            let mut o = o.clone();
            o.insert("type".into(), json!("object"));
            Value::Object(o)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_schema_loses_what_gemini_refuses_and_keeps_the_shape() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "path": {"type": "string", "description": "file"},
                "mode": {"type": ["string", "null"], "enum": ["r", "w"]},
                "kind": {"const": "file"},
                "when": {"type": "string", "format": "uri"},
                "item": {"$ref": "#/$defs/Item"},
                "n": {"type": "integer", "enum": [1, 2]},
            },
            "required": ["path", "ghost"],
            "$defs": {"Item": {"type": "object", "properties": {"x": {"type": "number"}}}},
        });
        assert_eq!(
            for_gemini(&schema),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "file"},
                    "mode": {"type": "string", "nullable": true, "enum": ["r", "w"]},
                    "kind": {"type": "string", "enum": ["file"]},
                    "when": {"type": "string"},
                    "item": {"type": "object", "properties": {"x": {"type": "number"}}},
                    "n": {"type": "integer"},
                },
                "required": ["path"],
            })
        );
    }

    #[test]
    fn recursive_references_end() {
        let schema = json!({"$ref": "#/$defs/N", "$defs": {"N": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        let out = for_gemini(&schema).to_string();
        assert!(out.len() < 10_000);
    }
}
