//! Arbitrary JSON for the property tests of both APIs' wire decoders: any value, and any
//! mutation of a well-formed record (each member kept, replaced by any value, or left out).

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, biased towards what servers send: dates, numeric strings, extreme numbers.
pub fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<String>().prop_map(Value::from),
        "-?[0-9]{1,30}(\\.[0-9]{0,5})?(e[0-9]{1,3})?,?".prop_map(Value::from),
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9:]{0,8}([+-][0-9:]{0,5})?Z?)?"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map("[a-z_]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// `template` with, at every level, each member kept (itself mutated), replaced by any value
/// or left out, and each leaf sometimes replaced.
pub fn mutated(template: &Value) -> BoxedStrategy<Value> {
    match template {
        Value::Object(members) => {
            let parts: Vec<BoxedStrategy<(String, Option<Value>)>> = members
                .iter()
                .map(|(key, child)| {
                    let key = key.clone();
                    prop_oneof![
                        6 => mutated(child).prop_map(Some),
                        2 => json().prop_map(Some),
                        1 => Just(None),
                    ]
                    .prop_map(move |v| (key.clone(), v))
                    .boxed()
                })
                .collect();
            parts
                .prop_map(|parts| {
                    Value::Object(
                        parts
                            .into_iter()
                            .filter_map(|(k, v)| Some((k, v?)))
                            .collect(),
                    )
                })
                .boxed()
        }
        Value::Array(items) => items
            .iter()
            .map(mutated)
            .collect::<Vec<_>>()
            .prop_map(Value::Array)
            .boxed(),
        leaf => prop_oneof![3 => Just(leaf.clone()), 1 => json()].boxed(),
    }
}
