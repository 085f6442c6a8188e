//! The printed result of a check: the counts, each property's verdict, and
//! a counterexample as numbered steps with the virtual time of each and
//! the tables at its end. Text only; no decision is made here.

use std::fmt::Write as _;

use bytes::BytesMut;
use peerlink_core::wire::{decode_frame, Message};

use super::explore::replay;
use super::props::explain;
use super::state::{End, Phase, Seg, World};
use super::step::{Step, Timer};
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
                let _ = writeln!(
                    out,
                    "  {i:>3}. t={:>7.3}s  {}",
                    state.now.as_secs_f64(),
                    describe(state, step)
                );
            }
        }
        if let Some((why, _)) = steps.last() {
            let _ = writeln!(out, "  then: {}", explain(m, name, why).unwrap_or_default());
            out.push_str(&tables(why));
        }
    }
    out
}

/// A step with what it carries, read from the state it leaves.
pub fn describe(w: &World, step: &Step) -> String {
    match step {
        Step::Deliver(key, end) => {
            let Some(link) = w.links.get(key) else {
                return step.to_string();
            };
            let to = match end {
                End::Dialer => format!("n{}", key.dialer),
                End::Acceptor => format!("n{}", link.acceptor),
            };
            let what = match link.queues[end.index()].front() {
                Some(Seg::Frame(frame)) => frame_text(frame),
                Some(Seg::Eof) => "end of stream".to_string(),
                None => "nothing".to_string(),
            };
            format!("{to} reads {what} on {key}")
        }
        Step::Accept(key) => match w.links.get(key) {
            Some(link) => format!("n{} accepts the connection {key}", link.acceptor),
            None => step.to_string(),
        },
        Step::Report(n, id) => {
            let phase = w.nodes[*n].conns.get(id).map(|ep| match &ep.phase {
                Phase::Established(_) => "established".to_string(),
                Phase::Ended { cause, .. } => format!("ended: {cause}"),
                _ => "?".to_string(),
            });
            format!("n{n}'s manager takes {id} ({})", phase.unwrap_or_default())
        }
        Step::Fire(n, timer) => {
            let what = match timer {
                Timer::Table => "the table's dial schedule (poll)".to_string(),
                Timer::Session(id) => format!("the session timer of {id}"),
                Timer::Connect(id) => format!("the connect timeout of {id}"),
            };
            format!("timer at n{n}: {what}")
        }
        _ => step.to_string(),
    }
}

/// A frame as its message, with its reason where it has one.
fn frame_text(frame: &[u8]) -> String {
    let mut buf = BytesMut::from(frame);
    match decode_frame(&mut buf, u32::MAX).map(|b| b.map(Message::decode)) {
        Ok(Some(Ok(message))) => match message {
            Message::Hello(h) => format!("Hello(node {})", h.node_id),
            Message::HelloAccept(h) => format!("HelloAccept(node {})", h.node_id),
            Message::HelloReject(r) => format!("HelloReject({r})"),
            Message::Goodbye(r) => format!("Goodbye({r})"),
            Message::Ping { .. } => "Ping".to_string(),
            Message::Pong { .. } => "Pong".to_string(),
            Message::App(_) => "App".to_string(),
        },
        _ => "a frame".to_string(),
    }
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
