//! A node project's own `NodeModel`, given to a scenario as a value, works
//! for runs, snapshots and shrinking: this runs the `own_model` example,
//! whose `main` asserts each of them, and checks the name lookup order.

use std::sync::Arc;

#[path = "../examples/own_model.rs"]
mod own_model;

use own_model::{greeters, GreeterNode};
use peerlink_sim::runner::{run, RunError, RunOptions};
use peerlink_sim::scenario::Scenario;

/// The example runs to its end (its asserts are the checks).
#[test]
fn example_runs() {
    own_model::main();
}

/// A carried model is found by name, before a built-in one; a name nobody
/// carries is still an error; `RunOptions::model` can pick a carried model.
#[test]
fn carried_models_resolve_by_name() {
    let s = greeters(false);
    assert_eq!(s.model, "greeter-v2");
    assert_eq!(s.resolve_model("greeter-v2").unwrap().name(), "greeter-v2");
    assert_eq!(s.resolve_model("node-id").unwrap().name(), "node-id");
    assert!(s.resolve_model("greeter-v1").is_none());
    let plain = Scenario::new("plain", "", 2);
    let err = run(&plain.model("greeter-v2"), 0, &RunOptions::default()).unwrap_err();
    assert_eq!(err, RunError::UnknownModel("greeter-v2".into()));
    let carried = Scenario::new("carried", "", 2)
        .add_model(Arc::new(GreeterNode { buggy: false }))
        .duration(std::time::Duration::from_secs(5));
    let options = RunOptions {
        model: Some("greeter-v2".into()),
        ..RunOptions::default()
    };
    let report = run(&carried, 0, &options).unwrap();
    assert_eq!(
        (report.model.as_str(), report.violation),
        ("greeter-v2", None)
    );
}

/// Shrinking a run of the project's own node is deterministic: twice the
/// same reduction and the same file, which still names the node.
#[test]
fn shrinking_own_model_is_deterministic() {
    use peerlink_sim::shrink::{shrink, ShrinkOptions};
    let options = ShrinkOptions {
        max_runs: 40,
        ..ShrinkOptions::default()
    };
    let once = || {
        let shrunk = shrink(&greeters(true), 0, &options).unwrap();
        let text = peerlink_sim::file::to_toml(&shrunk.scenario, Some(0)).unwrap();
        (shrunk.to_string(), text)
    };
    let (first, second) = (once(), once());
    assert_eq!(first, second);
    assert_eq!(
        first.0,
        "3 fault episodes → 1, 4 nodes → 2, 30 s → 1 s (simulated until the violation: 26.550 s → 16.100 s), 29 runs"
    );
    assert!(first.1.contains("model = \"greeter-v1\""), "{}", first.1);
}
