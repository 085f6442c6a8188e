//! The printed result of a check: the counts, each property's verdict, and
//! a counterexample as numbered steps with the virtual time of each and
//! the tables at its end. Text only; no decision is made here.

use std::fmt::Write as _;

use super::explore::replay;
use super::props::explain;
use super::state::World;
use super::{Options, Outcome};

/// The report as text.
pub fn render(options: &Options, outcome: &Outcome) -> String {
    let mut out = String::new();
    let m = &outcome.model;
    let _ = writeln!(
        out,
        "model-check: {} nodes, policy {}, at most {} fault(s) per path, depth bound {}; \
         pairs must converge before a timer moves time past the start, and within {} s \
         of a restart or fault; timers then run {} s more",
        options.nodes,
        options.policy.name(),
        options.faults,
        options
            .depth
            .map_or_else(|| "none".to_string(), |d| d.to_string()),
        m.recovery.as_secs(),
        m.steady_window().as_secs(),
    );
    let _ = writeln!(
        out,
        "{} states, depth {}{}, {:.2} s",
        outcome.states,
        outcome.depth,
        if outcome.cut {
            " (cut by the depth bound)"
        } else {
            ""
        },
        outcome.secs
    );
    let failed = !outcome.violated().is_empty();
    for (name, path) in &outcome.results {
        let verdict = match path {
            Some(_) => "VIOLATED",
            None if failed => "no counterexample before the check stopped",
            None => "holds",
        };
        let _ = writeln!(out, "  {name}: {verdict}");
    }
    for (name, path) in &outcome.results {
        let Some(path) = path else { continue };
        let steps = replay(m, path);
        let _ = writeln!(
            out,
            "\ncounterexample to {name}, {} steps:",
            steps.len().saturating_sub(1)
        );
        let mut i = 0;
        for (state, step) in &steps {
            if let Some(step) = step {
                i += 1;
                let _ = writeln!(out, "  {i:>3}. t={:>7.3}s  {step}", state.now.as_secs_f64());
            }
        }
        if let Some((why, _)) = steps.last() {
            let _ = writeln!(out, "  then: {}", explain(m, name, why).unwrap_or_default());
            out.push_str(&tables(why));
        }
    }
    out
}

/// Every running node's table, one line per row.
fn tables(w: &World) -> String {
    let mut out = String::new();
    for (n, node) in w.nodes.iter().enumerate() {
        let Some(table) = &node.table else {
            let _ = writeln!(out, "  n{n}: {:?}", node.status);
            continue;
        };
        let snap = table.snapshot();
        let _ = writeln!(out, "  n{n} (node {}):", node.node_id);
        for row in &snap.peers {
            let conns: Vec<String> = row
                .connections
                .iter()
                .map(|c| {
                    let closing = if c.closing { " closing" } else { "" };
                    format!("{} {}{closing}", c.id, c.direction)
                })
                .collect();
            let active = row.active.map_or("-".to_string(), |a| a.to_string());
            let _ = writeln!(
                out,
                "    {} {} active={} conns=[{}] pending={}",
                row.peer,
                row.state,
                active,
                conns.join(", "),
                row.pending
            );
        }
    }
    out
}
