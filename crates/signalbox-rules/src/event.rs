//! Walking an event along a field path.

use serde_json::Value;

/// Whether two leaves' array slots (see `crate::flatten::Slots`: `(array, element)` pairs,
/// outermost first, for every enclosing array whose element holds the leaf inside an object) are
/// consistent, i.e. no array holds the two leaves inside objects in different elements. Enclosing
/// arrays form one chain from the root, so the arrays two leaves share are a common prefix of
/// their chains: walk it until the arrays differ (different subtrees, nothing more in common) or
/// an index differs (different elements).
pub(crate) fn consistent(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    for ((array_a, index_a), (array_b, index_b)) in a.iter().zip(b) {
        if array_a != array_b {
            return true;
        }
        if index_a != index_b {
            return false;
        }
    }
    true
}

/// Calls `visit` on every leaf value that `path` reaches in `value`, stopping at the first call
/// that returns true; returns whether one did.
///
/// Arrays are flattened wherever they appear (EventBridge treats `a: [{b: 1}, {b: 2}]` as
/// `a.b` having the values 1 and 2). Objects are not leaves, so a path that ends on an object
/// reaches nothing; that is why `exists` only sees leaf nodes.
pub(crate) fn any_leaf<F>(value: &Value, path: &[String], visit: &mut F) -> bool
where
    F: FnMut(&Value) -> bool,
{
    match value {
        Value::Array(items) => items.iter().any(|item| any_leaf(item, path, visit)),
        Value::Object(map) => match path.split_first() {
            Some((head, rest)) => map
                .get(head.as_str())
                .is_some_and(|child| any_leaf(child, rest, visit)),
            None => false,
        },
        scalar => path.is_empty() && visit(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaves(event: &Value, path: &[&str]) -> Vec<Value> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        any_leaf(event, &path, &mut |v| {
            out.push(v.clone());
            false
        });
        out
    }

    #[test]
    fn flattens_arrays_of_objects_and_nested_arrays() {
        let event = json!({"a": [{"b": 1}, {"b": [2, [3]]}, {"c": 4}, 5]});
        assert_eq!(
            leaves(&event, &["a", "b"]),
            vec![json!(1), json!(2), json!(3)]
        );
    }

    #[test]
    fn objects_and_empty_arrays_are_not_leaves() {
        let event = json!({"o": {"x": 1}, "e": [], "n": null});
        assert!(leaves(&event, &["o"]).is_empty());
        assert!(leaves(&event, &["e"]).is_empty());
        assert_eq!(leaves(&event, &["n"]), vec![Value::Null]);
        assert!(leaves(&event, &["n", "deeper"]).is_empty());
    }
}
