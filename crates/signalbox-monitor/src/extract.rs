//! A check's `extract:` map: name → JSONPath into the parsed body. The first match of each
//! travels with the result (and in alert events as `detail.extracts`); no match is `null`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// Compiled `extract:` paths of one check.
#[derive(Debug, Clone, Default)]
pub struct Extracts {
    paths: Vec<(String, JsonPath)>,
}

impl Extracts {
    /// Parses every path; the error names the first bad one.
    pub fn compile(paths: &BTreeMap<String, String>) -> Result<Extracts, String> {
        let paths = paths
            .iter()
            .map(|(name, path)| {
                JsonPath::parse(path)
                    .map(|p| (name.clone(), p))
                    .map_err(|e| format!("extract \"{name}\": invalid JSONPath \"{path}\": {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Extracts { paths })
    }

    /// Whether there is nothing to extract.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The first match of each path in `json` (`null` when there is no match or no JSON).
    pub fn apply(&self, json: Option<&Value>) -> Map<String, Value> {
        self.paths
            .iter()
            .map(|(name, path)| {
                let found = json
                    .and_then(|json| path.query(json).first().cloned())
                    .unwrap_or(Value::Null);
                (name.clone(), found)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn first_match_or_null() {
        let paths = BTreeMap::from([
            ("version".to_owned(), "$.version".to_owned()),
            ("first".to_owned(), "$.items[*].id".to_owned()),
            ("missing".to_owned(), "$.nope".to_owned()),
        ]);
        let e = Extracts::compile(&paths).unwrap();
        let out = e.apply(Some(
            &json!({"version": "1.2", "items": [{"id": 7}, {"id": 8}]}),
        ));
        assert_eq!(
            Value::Object(out),
            json!({"version": "1.2", "first": 7, "missing": null})
        );
        let out = e.apply(None);
        assert!(out.values().all(Value::is_null));
    }

    #[test]
    fn bad_paths_are_refused() {
        let paths = BTreeMap::from([("v".to_owned(), "$..[".to_owned())]);
        assert!(
            Extracts::compile(&paths)
                .unwrap_err()
                .contains("extract \"v\"")
        );
    }
}
