//! Lambda's event filtering (`FilterCriteria`) for the stream mappings, the part of its
//! pattern syntax the template uses: a pattern is a JSON object whose leaves are arrays
//! of alternatives, each a literal (string, number, boolean, null) or `{"prefix": "..."}`
//! or `{"exists": bool}`; a record passes when every key of the pattern matches, and a
//! mapping with several filters passes a record that any of them passes. Records that no
//! filter passes are not sent to the function and count as handled, as Lambda does.
//! A pattern with anything else is refused when the template is read, so the local
//! mapping never filters less (or more) than the deployed one without saying so.

use serde_json::Value;

/// Checks that `pattern` (a filter's `Pattern`, parsed) uses only what [`matches`] knows.
pub fn check(pattern: &Value) -> Result<(), String> {
    let Value::Object(fields) = pattern else {
        return Err(format!("a filter pattern must be a JSON object, not {pattern}"));
    };
    for (key, p) in fields {
        match p {
            Value::Object(_) => check(p)?,
            Value::Array(alternatives) => {
                for a in alternatives {
                    match a {
                        Value::Object(op) if op.len() == 1 => match op.iter().next() {
                            Some((name, Value::String(_))) if name == "prefix" => {}
                            Some((name, Value::Bool(_))) if name == "exists" => {}
                            _ => return Err(format!("{key}: filter operator {a} is not supported locally")),
                        },
                        Value::Object(_) | Value::Array(_) => {
                            return Err(format!("{key}: filter alternative {a} is not supported locally"));
                        }
                        _ => {}
                    }
                }
            }
            other => return Err(format!("{key}: a pattern's leaf must be an array, not {other}")),
        }
    }
    Ok(())
}

/// Whether `record` (Lambda's JSON shape of the stream record) passes `pattern`.
pub fn matches(pattern: &Value, record: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(key, p)| {
        let field = record.get(key);
        match p {
            Value::Object(_) => field.is_some_and(|f| matches(p, f)),
            Value::Array(alternatives) => alternatives.iter().any(|a| match a {
                Value::Object(op) => match (op.get("prefix"), op.get("exists")) {
                    (Some(Value::String(prefix)), _) => field
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with(prefix.as_str())),
                    (_, Some(Value::Bool(exists))) => field.is_some() == *exists,
                    _ => false,
                },
                literal => field == Some(literal),
            }),
            _ => false,
        }
    })
}

/// Whether any of `filters` passes `record`; no filters pass everything.
pub fn admits(filters: &[Value], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|f| matches(f, record))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(sk: &str, event: &str) -> Value {
        json!({"eventName": event, "dynamodb": {"Keys": {"PK": {"S": "TRADER#a"}, "SK": {"S": sk}}}})
    }

    #[test]
    fn a_prefix_on_the_sort_key_passes_order_items_only() {
        let p = json!({"dynamodb": {"Keys": {"SK": {"S": [{"prefix": "ORDER#"}]}}}});
        check(&p).unwrap();
        assert!(matches(&p, &record("ORDER#01M8", "MODIFY")));
        assert!(!matches(&p, &record("ACCOUNT", "MODIFY")));
        assert!(!matches(&p, &json!({"dynamodb": {}})), "a record without the key");
        assert!(admits(&[], &record("ACCOUNT", "MODIFY")), "no filters: everything");
        assert!(admits(
            &[json!({"eventName": ["REMOVE"]}), p],
            &record("ORDER#1", "INSERT")
        ));
    }

    #[test]
    fn literals_and_exists_work_and_anything_else_is_refused() {
        let p = json!({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": [{"exists": true}]}});
        check(&p).unwrap();
        let mut r = record("ORDER#1", "MODIFY");
        assert!(!matches(&p, &r), "no NewImage");
        r["dynamodb"]["NewImage"] = json!({});
        assert!(matches(&p, &r));
        r["eventName"] = json!("REMOVE");
        assert!(!matches(&p, &r));
        assert!(check(&json!({"a": [{"numeric": [">", 1]}]})).is_err());
        assert!(check(&json!({"a": "x"})).is_err());
        assert!(check(&json!(["x"])).is_err());
    }
}
