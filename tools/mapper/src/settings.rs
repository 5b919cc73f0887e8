//! The event source mappings' settings, read from `infra/template.yaml`, so that the
//! local mappings behave as the deployed ones are configured:
//! - the DynamoDB stream event of the publish function: `BatchSize`,
//!   `MaximumRetryAttempts`, `MaximumRecordAgeInSeconds`, `BisectBatchOnFunctionError`
//!   and whether it has an on-failure destination (`DestinationConfig.OnFailure`);
//! - the SQS event of the execute function: `ScalingConfig.MaximumConcurrency`.
//!
//! Without `--template` the mappings keep Lambda's defaults for a mapping that sets
//! none of these (unbounded retries and record age, no destination, no concurrency cap).

use std::path::Path;
use std::time::Duration;

use yaml_serde::Value;

/// How the stream mapping retries and when it gives a batch up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSettings {
    /// Records per invocation (Lambda: 1 to 10,000; GetRecords returns at most 1,000).
    pub batch_size: i32,
    /// `MaximumRetryAttempts`: retries of a failing batch before it is discarded (to
    /// the on-failure destination). `None`: -1, retry until the record expires.
    pub max_retries: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: records older than this are discarded unprocessed.
    /// `None`: -1, never.
    pub max_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`: a function error splits the batch in two.
    pub bisect: bool,
    /// The template names an on-failure destination: the mapper then needs its URL.
    pub has_destination: bool,
    /// `StartingPosition: LATEST`: the shards that exist when the mapping starts are
    /// read from their end (else from their horizon, `TRIM_HORIZON`).
    pub latest: bool,
    /// `FilterCriteria.Filters[].Pattern`, parsed (`filter`): records no filter passes
    /// never reach the function.
    pub filters: Vec<serde_json::Value>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_retries: None,
            max_record_age: None,
            bisect: false,
            has_destination: false,
            latest: false,
            filters: Vec::new(),
        }
    }
}

/// The mappings of the template's functions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateSettings {
    /// The first function's stream mapping (publish's, on the orders table).
    pub stream: StreamSettings,
    /// Every function's stream mapping, by the function's logical id (the archive
    /// function's is on the audit table).
    pub streams: std::collections::BTreeMap<String, StreamSettings>,
    /// `ScalingConfig.MaximumConcurrency` of the SQS mapping: at most this many
    /// invocations of execute at once.
    pub sqs_max_concurrency: Option<usize>,
}

/// Reads the first `DynamoDB` and the first `SQS` event of the template's functions.
pub fn from_template(path: &Path) -> anyhow::Result<TemplateSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A template property that must be a whole number (CloudFormation also accepts "5"),
/// or `!Ref` of a parameter, which then stands for its default (what a deploy without
/// overrides gets).
fn int(doc: &Value, props: &Value, name: &str) -> anyhow::Result<Option<i64>> {
    let value = match props.get(name) {
        Some(Value::Tagged(t)) if t.tag == "!Ref" => {
            let param = t.value.as_str().unwrap_or_default();
            let default = doc
                .get("Parameters")
                .and_then(|p| p.get(param))
                .and_then(|p| p.get("Default"))
                .ok_or_else(|| anyhow::anyhow!("{name} is !Ref {param}, a parameter without a Default"))?;
            Some(default)
        }
        other => other,
    };
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{name} must be a whole number, not {n}")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} must be a whole number, not {s:?}")),
        Some(other) => anyhow::bail!("{name} must be a literal whole number in the template, not {other:?}"),
    }
}

pub fn parse(text: &str) -> anyhow::Result<TemplateSettings> {
    let doc: Value = yaml_serde::from_str(text)?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| anyhow::anyhow!("the template has no Resources"))?;
    let mut out = TemplateSettings::default();
    let events = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .filter_map(|(name, r)| {
            let events = r
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping)?;
            Some((name.as_str().unwrap_or_default().to_owned(), events))
        })
        .flat_map(|(name, events)| events.values().map(move |e| (name.clone(), e)));
    let mut seen_sqs = false;
    for (function, event) in events {
        let kind = event.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = event.get("Properties").cloned().unwrap_or(Value::Null);
        if kind == "DynamoDB" && !out.streams.contains_key(&function) {
            let mut settings = StreamSettings::default();
            let s = &mut settings;
            if let Some(b) = int(&doc, &props, "BatchSize")? {
                s.batch_size = i32::try_from(b)
                    .ok()
                    .filter(|b| (1..=10_000).contains(b))
                    .ok_or_else(|| anyhow::anyhow!("BatchSize must be 1 to 10000, not {b}"))?;
            }
            s.max_retries = match int(&doc, &props, "MaximumRetryAttempts")? {
                None | Some(-1) => None,
                Some(n @ 0..=10_000) => Some(n as u32),
                Some(n) => anyhow::bail!("MaximumRetryAttempts must be -1 or 0 to 10000, not {n}"),
            };
            s.max_record_age = match int(&doc, &props, "MaximumRecordAgeInSeconds")? {
                None | Some(-1) => None,
                Some(n @ 60..=604_800) => Some(Duration::from_secs(n as u64)),
                Some(n) => anyhow::bail!("MaximumRecordAgeInSeconds must be -1 or 60 to 604800, not {n}"),
            };
            s.bisect = props
                .get("BisectBatchOnFunctionError")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            s.has_destination = props
                .get("DestinationConfig")
                .and_then(|d| d.get("OnFailure"))
                .and_then(|d| d.get("Destination"))
                .is_some();
            s.latest = props.get("StartingPosition").and_then(Value::as_str) == Some("LATEST");
            let filters = props
                .get("FilterCriteria")
                .and_then(|f| f.get("Filters"))
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            for f in filters {
                let text = f
                    .get("Pattern")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow::anyhow!("{function}: a FilterCriteria filter without a Pattern string"))?;
                let pattern: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| anyhow::anyhow!("{function}: filter pattern {text:?} is not JSON: {e}"))?;
                crate::filter::check(&pattern).map_err(|e| anyhow::anyhow!("{function}: {e}"))?;
                s.filters.push(pattern);
            }
            if out.streams.is_empty() {
                out.stream = settings.clone();
            }
            out.streams.insert(function, settings);
        } else if kind == "SQS" && !seen_sqs {
            seen_sqs = true;
            let scaling = props.get("ScalingConfig").cloned().unwrap_or(Value::Null);
            out.sqs_max_concurrency = match int(&doc, &scaling, "MaximumConcurrency")? {
                None => None,
                Some(n @ 2..=1000) => Some(n as usize),
                Some(n) => anyhow::bail!("ScalingConfig.MaximumConcurrency must be 2 to 1000, not {n}"),
            };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_template_bounds_the_stream_and_the_queue() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let s = from_template(&path).unwrap();
        assert!(s.stream.max_retries.is_some(), "{s:?}");
        assert!(s.stream.max_record_age.is_some(), "{s:?}");
        assert!(s.stream.has_destination && s.stream.bisect, "{s:?}");
        assert!(s.sqs_max_concurrency.is_some(), "{s:?}");
        assert_eq!(s.streams.get("PublishFunction"), Some(&s.stream));
        // The archive function's mapping never gives a record up: retried until it is copied.
        let archive = &s.streams["ArchiveFunction"];
        assert_eq!(
            (archive.max_retries, archive.max_record_age),
            (None, None),
            "{archive:?}"
        );
        assert!(!archive.has_destination && archive.bisect, "{archive:?}");
        assert!(
            !archive.latest && !s.stream.latest,
            "the outbox and the copy miss nothing"
        );
        // The live fan-out starts at the stream's end, gives a batch up after its
        // bounds, to its own destination.
        let fanout = &s.streams["FanoutFunction"];
        assert!(fanout.latest && fanout.has_destination && fanout.bisect, "{fanout:?}");
        assert!(
            fanout.max_retries.is_some() && fanout.max_record_age.is_some(),
            "{fanout:?}"
        );
        // Only order items reach it; publish and the archive take every record.
        let order = serde_json::json!({"dynamodb": {"Keys": {"SK": {"S": "ORDER#01M8"}}}});
        let account = serde_json::json!({"dynamodb": {"Keys": {"SK": {"S": "ACCOUNT"}}}});
        assert!(crate::filter::admits(&fanout.filters, &order));
        assert!(!crate::filter::admits(&fanout.filters, &account));
        assert!(s.stream.filters.is_empty() && archive.filters.is_empty());
    }

    #[test]
    fn settings_out_of_lambda_bounds_are_refused() {
        let t = |props: &str| {
            format!(
                "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E:\n          {props}\n"
            )
        };
        let stream = |extra: &str| t(&format!("Type: DynamoDB\n          Properties: {{{extra}}}"));
        assert!(parse(&stream("MaximumRetryAttempts: 10001")).is_err());
        assert!(parse(&stream("MaximumRecordAgeInSeconds: 59")).is_err());
        assert!(parse(&stream("BatchSize: 0")).is_err());
        let ok = parse(&stream("MaximumRetryAttempts: 3, MaximumRecordAgeInSeconds: 60")).unwrap();
        assert_eq!(ok.stream.max_retries, Some(3));
        assert_eq!(ok.stream.max_record_age, Some(Duration::from_secs(60)));
        let unbounded = parse(&stream("MaximumRetryAttempts: -1")).unwrap();
        assert_eq!(unbounded.stream, StreamSettings::default());
        let sqs = |n: &str| {
            t(&format!(
                "Type: SQS\n          Properties: {{ScalingConfig: {{MaximumConcurrency: {n}}}}}"
            ))
        };
        assert!(parse(&sqs("1")).is_err(), "Lambda's minimum is 2");
        assert_eq!(parse(&sqs("5")).unwrap().sqs_max_concurrency, Some(5));
    }
}
