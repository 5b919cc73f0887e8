//! The HTTP API's routes, read from `infra/template.yaml` so the local gateway serves
//! exactly what the deployed API serves: every `HttpApi` event of every
//! `AWS::Serverless::Function`, with the function's cargo binary (its
//! `Metadata.BuildProperties.Binary`) and whether the JWT authorizer guards it.

use std::path::Path;

use yaml_serde::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// `/api/v1/orders/{id}/cancel`: literal segments and `{name}` parameters.
    pub path: String,
    /// The cargo binary that serves it (the name `cargo lambda watch` invokes).
    pub function: String,
    /// False for routes with `Auth: {Authorizer: NONE}`.
    pub authorized: bool,
    /// The route's own `Auth.AuthorizationScopes` (replacing the authorizer's), if any.
    pub scopes: Option<Vec<String>>,
}

impl Route {
    /// API Gateway's route key, as handlers see it in `requestContext.routeKey`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A request matched to its route, with the path parameters (percent-decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not YAML: {source}")]
    Yaml { path: String, source: yaml_serde::Error },
    #[error("{0}")]
    Shape(String),
}

#[derive(Clone, Debug, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            TemplateError::Yaml { source, .. } => TemplateError::Yaml {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = yaml_serde::from_str(text).map_err(|source| TemplateError::Yaml {
            path: String::new(),
            source,
        })?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| TemplateError::Shape("the template has no Resources".into()))?;
        let mut routes = Vec::new();
        for (name, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = name.as_str().unwrap_or("?");
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            let Some(events) = events else { continue };
            let http: Vec<&Value> = events
                .values()
                .filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi"))
                .collect();
            if http.is_empty() {
                continue;
            }
            let function = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| TemplateError::Shape(format!("{name} has no Metadata.BuildProperties.Binary")))?;
            for event in http {
                let props = event.get("Properties");
                let field = |f: &str| props.and_then(|p| p.get(f)).and_then(Value::as_str);
                let (Some(method), Some(path)) = (field("Method"), field("Path")) else {
                    return Err(TemplateError::Shape(format!(
                        "an HttpApi event of {name} lacks Method or Path"
                    )));
                };
                let auth = props.and_then(|p| p.get("Auth"));
                let authorizer = auth.and_then(|a| a.get("Authorizer")).and_then(Value::as_str);
                let scopes = auth
                    .and_then(|a| a.get("AuthorizationScopes"))
                    .and_then(Value::as_sequence)
                    .map(|list| {
                        list.iter()
                            .map(|s| crate::auth::scope_text(&doc, s))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()
                    .map_err(TemplateError::Shape)?;
                routes.push(Route {
                    method: method.to_ascii_uppercase(),
                    path: path.to_owned(),
                    function: function.to_owned(),
                    authorized: authorizer != Some("NONE"),
                    scopes,
                });
            }
        }
        if routes.is_empty() {
            return Err(TemplateError::Shape("the template declares no HttpApi routes".into()));
        }
        Ok(Self(routes))
    }

    pub fn all(&self) -> &[Route] {
        &self.0
    }

    /// The route for `method` and `path`. Like API Gateway, a literal segment wins
    /// over a parameter where two routes could match.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.0
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .filter_map(|route| {
                let pattern: Vec<&str> = route.path.split('/').collect();
                if pattern.len() != segments.len() {
                    return None;
                }
                let mut params = Vec::new();
                let mut literals = 0;
                for (p, s) in pattern.iter().zip(&segments) {
                    if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        if s.is_empty() {
                            return None;
                        }
                        let value = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
                        params.push((name.to_owned(), value.into_owned()));
                    } else if p == s {
                        literals += 1;
                    } else {
                        return None;
                    }
                }
                Some((literals, Matched { route, params }))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

    #[test]
    fn reads_every_route_of_the_template() {
        let routes = Routes::parse(TEMPLATE).unwrap();
        let keys: Vec<String> = routes.all().iter().map(Route::key).collect();
        for key in [
            "POST /api/v1/orders",
            "POST /api/v1/orders/{id}/cancel",
            "GET /api/v1/orders",
            "GET /api/v1/orders/{id}",
            "GET /api/v1/orders/{id}/fills",
            "GET /api/v1/orders/{id}/audit",
            "GET /api/v1/account",
            "GET /api/v1/health",
        ] {
            assert!(keys.contains(&key.to_owned()), "{key} missing from {keys:?}");
        }
        let health = routes.find("GET", "/api/v1/health").unwrap();
        assert!(!health.route.authorized);
        assert_eq!(health.route.function, "query");
        assert!(routes.find("GET", "/api/v1/account").unwrap().route.authorized);
        // Operator routes carry their own scope, resolved from the parameter's default.
        for (method, path) in [
            ("PUT", "/api/v1/operator/trading-state"),
            ("PUT", "/api/v1/operator/traders/alice/trading-state"),
            ("DELETE", "/api/v1/operator/traders/alice/orders"),
        ] {
            let m = routes.find(method, path).unwrap();
            assert_eq!(m.route.function, "cancel");
            assert_eq!(m.route.scopes, Some(vec!["orders/operate".to_owned()]), "{path}");
        }
        let all = routes.find("DELETE", "/api/v1/orders").unwrap();
        assert_eq!(
            (all.route.function.as_str(), all.route.scopes.as_ref()),
            ("cancel", None)
        );
    }

    #[test]
    fn matches_parameters_and_prefers_literals() {
        let routes = Routes::parse(TEMPLATE).unwrap();
        let m = routes.find("POST", "/api/v1/orders/01ABC/cancel").unwrap();
        assert_eq!(m.route.function, "cancel");
        assert_eq!(m.params, vec![("id".to_owned(), "01ABC".to_owned())]);
        let m = routes.find("GET", "/api/v1/orders/a%20b").unwrap();
        assert_eq!(m.route.key(), "GET /api/v1/orders/{id}");
        assert_eq!(m.params[0].1, "a b");
        assert_eq!(
            routes.find("GET", "/api/v1/orders").unwrap().route.key(),
            "GET /api/v1/orders"
        );
        assert!(routes.find("DELETE", "/api/v1/orders/1").is_none());
        assert!(routes.find("PATCH", "/api/v1/orders").is_none());
        assert!(routes.find("GET", "/api/v1/orders//fills").is_none());
        assert!(routes.find("GET", "/api/v2/account").is_none());
    }

    /// The real template's short-form intrinsic functions come through as tagged values
    /// (the parser must not refuse or drop them).
    #[test]
    fn keeps_the_templates_short_form_tags() {
        fn tags(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Tagged(t) => {
                    out.push(t.tag.to_string());
                    tags(&t.value, out);
                }
                Value::Mapping(m) => m.values().for_each(|x| tags(x, out)),
                Value::Sequence(s) => s.iter().for_each(|x| tags(x, out)),
                _ => {}
            }
        }
        let doc: Value = yaml_serde::from_str(TEMPLATE).unwrap();
        let mut found = Vec::new();
        tags(&doc, &mut found);
        for tag in ["!Ref", "!GetAtt", "!Sub"] {
            assert!(found.iter().any(|t| t == tag), "{tag} not kept: {found:?}");
        }
    }

    #[test]
    fn refuses_a_template_without_routes() {
        let err = Routes::parse("Resources: {Q: {Type: AWS::SQS::Queue}}").unwrap_err();
        assert!(err.to_string().contains("no HttpApi routes"), "{err}");
    }
}
