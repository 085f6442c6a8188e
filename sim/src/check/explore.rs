//! The breadth-first explorer that runs the stateright [`Model`]: one
//! thread, every distinct state once (by a 64-bit fingerprint, as
//! stateright does), and the first state that breaks a property kept, so
//! each counterexample is a shortest path. stateright's own BFS checker
//! records the *last* violating state its batch met (its discoveries map
//! is overwritten), which is why this small loop exists; see
//! docs/testing.md. Owns the search only.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use stateright::{Expectation, Model};

use super::state::World;
use super::step::Step;
use super::Checked;

/// What a search found.
pub struct Explored {
    /// Distinct states reached (the depth bound's frontier included).
    pub states: usize,
    /// Longest shortest-path depth reached.
    pub depth: usize,
    /// Whether the depth bound left states unexpanded.
    pub cut: bool,
    /// The broken property with the steps of a shortest counterexample:
    /// the search stops at the first state found to break one (states are
    /// visited in depth order), so at most one is reported.
    pub violations: Vec<(&'static str, Vec<Step>)>,
}

/// A state's fingerprint.
pub fn fingerprint(w: &World) -> u64 {
    let mut h = DefaultHasher::new();
    w.hash(&mut h);
    h.finish()
}

/// Explores from the initial states, breadth first, to `max_depth` steps.
pub fn explore(model: &Checked, max_depth: Option<usize>) -> Explored {
    let properties = model.properties();
    // Fingerprint -> the parent's fingerprint and the step from it.
    let mut parents: BTreeMap<u64, Option<(u64, Step)>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for w in model.init_states() {
        let fp = fingerprint(&w);
        if parents.insert(fp, None).is_none() {
            queue.push_back((w, fp, 0usize));
        }
    }
    let mut found: Vec<(&'static str, u64)> = Vec::new();
    let (mut depth, mut cut) = (0, false);
    let mut steps = Vec::new();
    while let Some((w, fp, d)) = queue.pop_front() {
        depth = depth.max(d);
        for p in &properties {
            let holds = (p.condition)(model, &w);
            let broken = match p.expectation {
                Expectation::Always => !holds,
                Expectation::Sometimes | Expectation::Eventually => false,
            };
            if broken && !found.iter().any(|(name, _)| *name == p.name) {
                found.push((p.name, fp));
            }
        }
        if !found.is_empty() {
            // Breadth first: nothing later is shorter.
            break;
        }
        if max_depth.is_some_and(|max| d >= max) {
            cut = true;
            continue;
        }
        steps.clear();
        model.actions(&w, &mut steps);
        for step in steps.drain(..) {
            let Some(next) = model.next_state(&w, step.clone()) else {
                continue;
            };
            let next_fp = fingerprint(&next);
            if let std::collections::btree_map::Entry::Vacant(e) = parents.entry(next_fp) {
                e.insert(Some((fp, step)));
                queue.push_back((next, next_fp, d + 1));
            }
        }
    }
    let violations = found
        .into_iter()
        .map(|(name, fp)| (name, path_to(&parents, fp)))
        .collect();
    Explored {
        states: parents.len(),
        depth,
        cut,
        violations,
    }
}

fn path_to(parents: &BTreeMap<u64, Option<(u64, Step)>>, mut fp: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    while let Some(Some((parent, step))) = parents.get(&fp) {
        steps.push(step.clone());
        fp = *parent;
    }
    steps.reverse();
    steps
}

/// The states along `steps` from the initial state (each with the step
/// that left it).
pub fn replay(model: &Checked, steps: &[Step]) -> Vec<(World, Option<Step>)> {
    let Some(mut w) = model.init_states().into_iter().next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for step in steps {
        let next = model
            .next_state(&w, step.clone())
            .unwrap_or_else(|| w.clone());
        out.push((w, Some(step.clone())));
        w = next;
    }
    out.push((w, None));
    out
}
