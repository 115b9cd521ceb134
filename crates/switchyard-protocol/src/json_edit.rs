//! Byte-preserving edits of a top-level JSON object.
//!
//! The relay may change a request body only where an upstream requires it (model mapping,
//! `store:false`, `stream_options`). Re-serialising the body would reorder keys, change number
//! spelling and whitespace, and cost a full parse; instead the body is scanned once to find the
//! byte spans of its top-level members, and only the targeted span is replaced. Everything else
//! stays byte-identical.

use crate::inspect::InspectError;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One top-level member: byte offsets into the body.
#[derive(Debug, Clone, Copy)]
struct Member {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// The top-level layout of an object body.
struct Layout {
    /// Offset just after the `{`.
    open_end: usize,
    members: Vec<(Member, bool)>,
}

/// Sets top-level `key` to `raw_json_value`.
///
/// An existing member has its value replaced in place (every occurrence, should the key be
/// duplicated, so no parser can see the old value); otherwise `"key":value` is added as the last
/// member, directly after the previous last value so that whitespace before `}` is kept.
pub fn set_top_level(
    body: &[u8],
    key: &str,
    raw_json_value: &str,
) -> Result<Vec<u8>, InspectError> {
    let value = validate_value(raw_json_value)?;
    let layout = scan(body, key)?;
    let mut out = Vec::with_capacity(body.len() + key.len() + value.len() + 4);
    if layout.members.iter().any(|(_, matches)| *matches) {
        let mut copied = 0;
        for (m, _) in layout.members.iter().filter(|(_, matches)| *matches) {
            out.extend_from_slice(&body[copied..m.value_start]);
            out.extend_from_slice(value.as_bytes());
            copied = m.value_end;
        }
        out.extend_from_slice(&body[copied..]);
        return Ok(out);
    }
    let (insert_at, separator): (usize, &[u8]) = match layout.members.last() {
        Some((last, _)) => (last.value_end, b","),
        None => (layout.open_end, b""),
    };
    out.extend_from_slice(&body[..insert_at]);
    out.extend_from_slice(separator);
    out.extend_from_slice(quote(key).as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&body[insert_at..]);
    Ok(out)
}

/// Removes every top-level member named `key` together with one adjacent comma. A body without
/// the key is returned unchanged.
pub fn remove_top_level(body: &[u8], key: &str) -> Result<Vec<u8>, InspectError> {
    let mut current = body.to_vec();
    // One member per pass: duplicate keys are rare, and removing them one by one keeps the comma
    // rule simple and obviously right.
    loop {
        let layout = scan(&current, key)?;
        let members = &layout.members;
        let Some(i) = members.iter().position(|(_, matches)| *matches) else {
            return Ok(current);
        };
        let m = members[i].0;
        let (start, end) = if let Some((next, _)) = members.get(i + 1) {
            // Cut from this key up to the next key, taking the following comma along.
            (m.key_start, next.key_start)
        } else if let Some((prev, _)) = i.checked_sub(1).and_then(|p| members.get(p)) {
            // Last member: cut from the end of the previous value, taking the preceding comma.
            (prev.value_end, m.value_end)
        } else {
            (m.key_start, m.value_end)
        };
        current.drain(start..end);
    }
}

fn validate_value(raw: &str) -> Result<&str, InspectError> {
    serde_json::from_str::<&RawValue>(raw)
        .map(RawValue::get)
        .map_err(|e| InspectError::InvalidValue(e.to_string()))
}

fn quote(key: &str) -> String {
    // Serialising a &str cannot fail; the fallback keeps this function total anyway.
    serde_json::to_string(key).unwrap_or_else(|_| String::from("\"\""))
}

fn invalid(at: usize, what: &str) -> InspectError {
    InspectError::InvalidJson(format!("{what} at byte {at}"))
}

fn skip_ws(body: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = body.get(at) {
        at += 1;
    }
    at
}

/// Scans the top level of `body`, marking members whose key equals `key`. Values are measured
/// with serde_json (borrowing them as [`RawValue`]), which also validates them, so strings with
/// escaped quotes and nested structures are handled exactly as a JSON parser would.
fn scan(body: &[u8], key: &str) -> Result<Layout, InspectError> {
    let mut at = skip_ws(body, 0);
    match body.get(at) {
        Some(b'{') => {}
        Some(_) => return Err(InspectError::NotAnObject),
        None => return Err(InspectError::InvalidJson("empty body".to_owned())),
    }
    at += 1;
    let open_end = at;
    let mut members = Vec::new();
    at = skip_ws(body, at);
    if body.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let key_start = at;
            if body.get(at) != Some(&b'"') {
                return Err(invalid(at, "expected a key"));
            }
            let (key_raw, key_end) = measure(body, at)?;
            let matches = key_equals(key_raw, key)?;
            at = skip_ws(body, key_end);
            if body.get(at) != Some(&b':') {
                return Err(invalid(at, "expected `:`"));
            }
            at = skip_ws(body, at + 1);
            let value_start = at;
            let (_, value_end) = measure(body, at)?;
            members.push((
                Member {
                    key_start,
                    value_start,
                    value_end,
                },
                matches,
            ));
            at = skip_ws(body, value_end);
            match body.get(at) {
                Some(b',') => at = skip_ws(body, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return Err(invalid(at, "expected `,` or `}`")),
            }
        }
    }
    if skip_ws(body, at) != body.len() {
        return Err(invalid(at, "trailing characters"));
    }
    Ok(Layout { open_end, members })
}

/// The JSON value starting at `at` (no leading whitespace) and the offset just past it.
fn measure(body: &[u8], at: usize) -> Result<(&[u8], usize), InspectError> {
    let rest = &body[at..];
    let mut de = serde_json::Deserializer::from_slice(rest);
    let raw = <&RawValue>::deserialize(&mut de)
        .map_err(|e| InspectError::InvalidJson(format!("{e} (value at byte {at})")))?;
    let raw = raw.get().as_bytes();
    // RawValue borrows from `rest`; its offset is recovered from the addresses, which is exact
    // and does not depend on how serde_json treats surrounding whitespace.
    let offset = (raw.as_ptr() as usize).wrapping_sub(rest.as_ptr() as usize);
    if offset > rest.len() || offset + raw.len() > rest.len() {
        return Err(invalid(at, "unexpected value position"));
    }
    let end = at + offset + raw.len();
    Ok((&body[at + offset..end], end))
}

fn key_equals(quoted: &[u8], key: &str) -> Result<bool, InspectError> {
    let inner = &quoted[1..quoted.len().saturating_sub(1)];
    if memchr::memchr(b'\\', inner).is_none() {
        return Ok(inner == key.as_bytes());
    }
    let decoded: String = serde_json::from_slice(quoted)
        .map_err(|e| InspectError::InvalidJson(format!("bad key: {e}")))?;
    Ok(decoded == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn set(body: &str, key: &str, value: &str) -> String {
        String::from_utf8(set_top_level(body.as_bytes(), key, value).unwrap()).unwrap()
    }

    fn remove(body: &str, key: &str) -> String {
        String::from_utf8(remove_top_level(body.as_bytes(), key).unwrap()).unwrap()
    }

    #[test]
    fn replaces_in_place_keeping_everything_else() {
        let body = "{ \"model\" : \"claude-x\",\n  \"messages\":[{\"content\":\"\\\"model\\\": 1\"}],\"n\":1.0e3 }";
        assert_eq!(
            set(body, "model", "\"claude-sonnet-4\""),
            "{ \"model\" : \"claude-sonnet-4\",\n  \"messages\":[{\"content\":\"\\\"model\\\": 1\"}],\"n\":1.0e3 }"
        );
    }

    #[test]
    fn appends_when_absent() {
        assert_eq!(
            set("{\"a\":1 }", "store", "false"),
            "{\"a\":1,\"store\":false }"
        );
        assert_eq!(set("{}", "store", "false"), "{\"store\":false}");
        assert_eq!(
            set(" { \n } ", "k\"q", "{\"x\":[1]}"),
            " {\"k\\\"q\":{\"x\":[1]} \n } "
        );
    }

    #[test]
    fn nested_keys_are_not_top_level() {
        let body = r#"{"stream_options":{"model":"x"},"model":"a"}"#;
        assert_eq!(
            set(body, "model", "\"b\""),
            r#"{"stream_options":{"model":"x"},"model":"b"}"#
        );
        assert_eq!(
            set(r#"{"x":{"store":true}}"#, "store", "false"),
            r#"{"x":{"store":true},"store":false}"#
        );
    }

    #[test]
    fn escaped_key_matches() {
        assert_eq!(
            set(r#"{"mod\u0065l":"a"}"#, "model", "\"b\""),
            r#"{"mod\u0065l":"b"}"#
        );
    }

    #[test]
    fn duplicates_are_all_replaced_or_removed() {
        assert_eq!(set(r#"{"a":1,"a":2}"#, "a", "3"), r#"{"a":3,"a":3}"#);
        assert_eq!(remove(r#"{"a":1,"b":2,"a":3}"#, "a"), r#"{"b":2}"#);
        assert_eq!(remove(r#"{"b":0,"a":1,"a":2}"#, "a"), r#"{"b":0}"#);
    }

    #[test]
    fn remove_positions() {
        assert_eq!(remove(r#"{"a":1, "b":2, "c":3}"#, "a"), r#"{"b":2, "c":3}"#);
        assert_eq!(remove(r#"{"a":1, "b":2, "c":3}"#, "b"), r#"{"a":1, "c":3}"#);
        assert_eq!(remove(r#"{"a":1, "b":2, "c":3}"#, "c"), r#"{"a":1, "b":2}"#);
        assert_eq!(remove(r#"{ "a":1 }"#, "a"), r#"{  }"#);
        assert_eq!(remove(r#"{"a":1}"#, "z"), r#"{"a":1}"#);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            set_top_level(b"[1]", "a", "1"),
            Err(InspectError::NotAnObject)
        );
        assert!(matches!(
            set_top_level(b"{\"a\":}", "a", "1"),
            Err(InspectError::InvalidJson(_))
        ));
        assert!(matches!(
            set_top_level(b"{\"a\":1} x", "a", "1"),
            Err(InspectError::InvalidJson(_))
        ));
        assert!(matches!(
            set_top_level(b"{\"a\":1,}", "a", "1"),
            Err(InspectError::InvalidJson(_))
        ));
        assert!(matches!(
            set_top_level(b"{}", "a", "nope"),
            Err(InspectError::InvalidValue(_))
        ));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Binary fractions: their decimal text parses back to the same f64.
            any::<i32>().prop_map(|i| Value::from(f64::from(i) / 4.0)),
            ".*".prop_map(Value::String),
            "[\"\\\\{}\\[\\],: a-z]{0,10}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\\\]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
        proptest::collection::btree_map("[a-z\"\\\\ ]{0,4}", json_value(), 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn set_equals_value_edit(
            obj in object(),
            key in "[a-z\"\\\\ ]{0,4}",
            new_value in json_value(),
            pretty in any::<bool>(),
            pick_existing in any::<proptest::sample::Index>(),
            use_existing in any::<bool>(),
        ) {
            let key = if use_existing && !obj.is_empty() {
                obj.keys().nth(pick_existing.index(obj.len())).cloned().unwrap_or(key)
            } else {
                key
            };
            let body = if pretty {
                serde_json::to_vec_pretty(&obj).unwrap()
            } else {
                serde_json::to_vec(&obj).unwrap()
            };
            // Compare against the body as parsed (float text round trips are not exact).
            let Value::Object(obj) = serde_json::from_slice::<Value>(&body).unwrap() else {
                panic!("not an object");
            };
            let new_value: Value = serde_json::from_str(&serde_json::to_string(&new_value).unwrap()).unwrap();
            let raw = serde_json::to_string(&new_value).unwrap();

            let edited = set_top_level(&body, &key, &raw).unwrap();
            let mut expected = obj.clone();
            expected.insert(key.clone(), new_value.clone());
            let parsed: Value = serde_json::from_slice(&edited).unwrap();
            prop_assert_eq!(parsed, Value::Object(expected));

            let removed = remove_top_level(&body, &key).unwrap();
            let mut expected = obj.clone();
            let existed = expected.remove(&key).is_some();
            let parsed: Value = serde_json::from_slice(&removed).unwrap();
            prop_assert_eq!(parsed, Value::Object(expected));
            if !existed {
                prop_assert_eq!(removed, body);
            }
        }
    }
}
