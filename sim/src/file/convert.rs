//! Between [`ScenarioFile`] and [`Scenario`]: every field both ways, and the
//! checks a file needs that TOML's types cannot express (node indexes in
//! range, one fault source, known fault shapes). Errors carry the byte span
//! of the offending table so the caller can print line and column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{
    AllTag, ChecksEntry, ConfigOverrides, FaultEntry, FaultName, GeneratedKind, GeneratorEntry,
    KnowsEntry, LatencyEntry, ScenarioFile, StartEntry,
};
use crate::faults::{Fault, FaultKind, FaultPlan, TimedFault};
use crate::scenario::{default_checks, sim_config, Knows, Scenario, Start};

/// A semantic error: where, and what.
type Bad = (Range<usize>, String);

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

impl ScenarioFile {
    /// The file form of `scenario`: only what differs from the defaults a
    /// file starts from, so a built-in scenario exports to a short file.
    pub fn from_scenario(s: &Scenario, seed: Option<u64>) -> ScenarioFile {
        let base = Scenario::new(&s.name, "", s.nodes);
        let knows = match &s.knows {
            Knows::All => None,
            Knows::Only(pairs) => Some(spanned(KnowsEntry::Pairs(pairs.clone()))),
            Knows::Random { peers } => Some(spanned(KnowsEntry::Random { random: *peers })),
        };
        let start = match &s.start {
            Start::Together => None,
            Start::Staggered(max) => Some(spanned(StartEntry::Staggered(*max))),
            Start::At(times) => Some(spanned(StartEntry::At(
                times.iter().map(|t| (*t).into()).collect(),
            ))),
        };
        let latency = (s.latency != base.latency).then(|| {
            spanned(LatencyEntry {
                min: s.latency.0,
                max: s.latency.1,
            })
        });
        let node_models = (!s.per_node_models.is_empty()).then(|| {
            let named = s.per_node_models.iter();
            spanned(named.map(|(i, m)| (format!("n{i}"), m.clone())).collect())
        });
        let derived = default_checks(&s.config);
        let differs = |a: Duration, b: Duration| (a != b).then_some(a);
        let checks = ChecksEntry {
            converge_within: differs(s.checks.converge_within, derived.converge_within),
            agree_within: differs(s.checks.agree_within, derived.agree_within),
            check_every: differs(s.checks.check_every, derived.check_every),
        };
        let (generator, fault) = faults_to_file(&s.faults);
        ScenarioFile {
            name: s.name.clone(),
            summary: s.summary.clone(),
            seed,
            nodes: spanned(s.nodes),
            model: s.model.clone(),
            duration: s.duration,
            tick: (s.tick != base.tick).then_some(s.tick),
            knows,
            start,
            latency,
            node_models,
            config: ConfigOverrides::diff(&sim_config(), &s.config),
            checks: (checks != ChecksEntry::default()).then_some(checks),
            traffic: s.traffic,
            generator,
            fault,
        }
    }

    /// The scenario this file describes, or the first thing wrong with it.
    pub(super) fn into_scenario(self) -> Result<Scenario, Bad> {
        let nodes = *self.nodes.get_ref();
        if nodes == 0 {
            return Err((
                self.nodes.span(),
                "a scenario needs at least one node".into(),
            ));
        }
        let mut s = Scenario::new(&self.name, &self.summary, nodes);
        s.model = self.model;
        s.duration = self.duration;
        if let Some(tick) = self.tick {
            if tick.is_zero() {
                // Simulated time would never advance.
                return Err((0..0, "tick: must be above zero".into()));
            }
            s.tick = tick;
        }
        if let Some(knows) = self.knows {
            s.knows = knows_from_file(knows, nodes)?;
        }
        if let Some(start) = self.start {
            s.start = start_from_file(start, nodes)?;
        }
        if let Some(latency) = self.latency {
            let l = latency.get_ref();
            if l.min > l.max {
                return Err((latency.span(), "latency: min is above max".into()));
            }
            s.latency = (l.min, l.max);
        }
        if let Some(models) = self.node_models {
            s.per_node_models = node_models_from_file(models, nodes)?;
        }
        let mut config = sim_config();
        let no_span = 0..0;
        self.config
            .apply(&mut config)
            .map_err(|e| (no_span.clone(), format!("config: {e}")))?;
        config
            .validate()
            .map_err(|e| (no_span, format!("config: {e}")))?;
        s = s.config(|c| *c = config);
        if let Some(checks) = self.checks {
            if checks.check_every.is_some_and(|d| d.is_zero()) {
                // The runner would check again at the same instant forever.
                return Err((0..0, "checks: check_every must be above zero".into()));
            }
            apply_checks(&mut s, &checks);
        }
        if self.traffic.is_some_and(|d| d.is_zero()) {
            // Every node would send forever without letting time advance.
            return Err((0..0, "traffic: must be above zero".into()));
        }
        if let Some(every) = self.traffic {
            if every >= s.checks.agree_within {
                // sends-arrive wants one arrival per agree_within.
                return Err((
                    0..0,
                    format!(
                        "traffic: must be under checks.agree_within ({}), or sends-arrive fails every run",
                        humantime::format_duration(s.checks.agree_within)
                    ),
                ));
            }
        }
        s.traffic = self.traffic;
        s.faults = faults_from_file(self.generator, self.fault, nodes)?;
        Ok(s)
    }
}

fn apply_checks(s: &mut Scenario, checks: &ChecksEntry) {
    if let Some(d) = checks.converge_within {
        s.checks.converge_within = d;
    }
    if let Some(d) = checks.agree_within {
        s.checks.agree_within = d;
    }
    if let Some(d) = checks.check_every {
        s.checks.check_every = d;
    }
}

fn out_of_range(span: Range<usize>, what: &str, node: usize, nodes: usize) -> Bad {
    let message = format!(
        "{what}: node {node} does not exist (the scenario has {nodes} nodes, n0 to n{})",
        nodes - 1
    );
    (span, message)
}

fn knows_from_file(knows: Spanned<KnowsEntry>, nodes: usize) -> Result<Knows, Bad> {
    let span = knows.span();
    match knows.into_inner() {
        KnowsEntry::All(AllTag::All) => Ok(Knows::All),
        KnowsEntry::Pairs(pairs) => {
            if let Some(&(a, b)) = pairs.iter().find(|(a, b)| *a >= nodes || *b >= nodes) {
                return Err(out_of_range(span, "knows", a.max(b), nodes));
            }
            Ok(Knows::Only(pairs))
        }
        KnowsEntry::Random { random } => {
            if random >= nodes {
                let message =
                    format!("knows: {random} random peers per node, but only {nodes} nodes");
                return Err((span, message));
            }
            Ok(Knows::Random { peers: random })
        }
    }
}

fn start_from_file(start: Spanned<StartEntry>, nodes: usize) -> Result<Start, Bad> {
    let span = start.span();
    Ok(match start.into_inner() {
        StartEntry::Together => Start::Together,
        StartEntry::Staggered(max) => Start::Staggered(max),
        StartEntry::At(times) => {
            if times.len() > nodes {
                let message = format!("start: {} times for {nodes} nodes", times.len());
                return Err((span, message));
            }
            Start::At(times.into_iter().map(|t| *t).collect())
        }
    })
}

fn node_models_from_file(
    models: Spanned<BTreeMap<String, String>>,
    nodes: usize,
) -> Result<BTreeMap<usize, String>, Bad> {
    let span = models.span();
    let mut out = BTreeMap::new();
    for (key, model) in models.into_inner() {
        let index = key.strip_prefix('n').and_then(|i| i.parse::<usize>().ok());
        let Some(index) = index else {
            let message = format!("node_models: key `{key}` is not a node name like `n3`");
            return Err((span, message));
        };
        if index >= nodes {
            return Err(out_of_range(span, "node_models", index, nodes));
        }
        out.insert(index, model);
    }
    Ok(out)
}

fn faults_from_file(
    generator: Option<Spanned<GeneratorEntry>>,
    faults: Vec<Spanned<FaultEntry>>,
    nodes: usize,
) -> Result<FaultPlan, Bad> {
    match (generator, faults.is_empty()) {
        (None, true) => Ok(FaultPlan::None),
        (Some(g), false) => Err((
            g.span(),
            "use either a [generator] or [[fault]] tables, not both".into(),
        )),
        (Some(g), true) => {
            let g = g.into_inner();
            Ok(FaultPlan::Random {
                episodes: g.episodes,
                kinds: g.kinds.into_iter().map(kind_from_file).collect(),
                from: g.from,
                until: g.until,
                max_len: g.max_len,
            })
        }
        (None, false) => {
            let faults = faults.into_iter().map(|f| fault_from_file(f, nodes));
            Ok(FaultPlan::Fixed(faults.collect::<Result<_, _>>()?))
        }
    }
}

fn fault_from_file(entry: Spanned<FaultEntry>, nodes: usize) -> Result<TimedFault, Bad> {
    let span = entry.span();
    let f = entry.into_inner();
    let bad = |message: String| (span.clone(), message);
    if let Some(&node) = f.nodes.iter().find(|&&n| n >= nodes) {
        return Err(out_of_range(span.clone(), "fault", node, nodes));
    }
    let single = matches!(
        f.kind,
        FaultName::Crash | FaultName::Kill | FaultName::Restart
    );
    let wanted = if single { 1 } else { 2 };
    if f.nodes.len() != wanted {
        let kind = toml::Value::try_from(f.kind).map_or(String::new(), |v| v.to_string());
        return Err(bad(format!(
            "fault {kind}: needs {wanted} node(s) in `nodes`, got {}",
            f.nodes.len()
        )));
    }
    if f.latency.is_some() != (f.kind == FaultName::Latency) {
        return Err(bad(
            "fault: `latency` is required for kind = \"latency\" and allowed for no other kind"
                .into(),
        ));
    }
    let (a, b) = (f.nodes[0], f.nodes.get(1).copied().unwrap_or_default());
    let fault = match f.kind {
        FaultName::Partition => Fault::Partition(a, b),
        FaultName::PartitionOneway => Fault::PartitionOneWay(a, b),
        FaultName::Repair => Fault::Repair(a, b),
        FaultName::RepairOneway => Fault::RepairOneWay(a, b),
        FaultName::Hold => Fault::Hold(a, b),
        FaultName::Release => Fault::Release(a, b),
        FaultName::Latency => Fault::Latency(a, b, f.latency.unwrap_or_default()),
        FaultName::Crash => Fault::Crash(a),
        FaultName::Kill => Fault::Kill(a),
        FaultName::Restart => Fault::Restart(a),
    };
    Ok(TimedFault { at: f.at, fault })
}

fn kind_from_file(kind: GeneratedKind) -> FaultKind {
    match kind {
        GeneratedKind::Partition => FaultKind::Partition,
        GeneratedKind::HalfOpen => FaultKind::HalfOpen,
        GeneratedKind::Hold => FaultKind::Hold,
        GeneratedKind::Latency => FaultKind::Latency,
        GeneratedKind::CrashRestart => FaultKind::CrashRestart,
        GeneratedKind::KillRestart => FaultKind::KillRestart,
    }
}

fn kind_to_file(kind: FaultKind) -> GeneratedKind {
    match kind {
        FaultKind::Partition => GeneratedKind::Partition,
        FaultKind::HalfOpen => GeneratedKind::HalfOpen,
        FaultKind::Hold => GeneratedKind::Hold,
        FaultKind::Latency => GeneratedKind::Latency,
        FaultKind::CrashRestart => GeneratedKind::CrashRestart,
        FaultKind::KillRestart => GeneratedKind::KillRestart,
    }
}

/// A fault as a file entry.
pub(crate) fn fault_to_file(tf: &TimedFault) -> FaultEntry {
    let (kind, nodes, latency) = match tf.fault {
        Fault::Partition(a, b) => (FaultName::Partition, vec![a, b], None),
        Fault::PartitionOneWay(a, b) => (FaultName::PartitionOneway, vec![a, b], None),
        Fault::Repair(a, b) => (FaultName::Repair, vec![a, b], None),
        Fault::RepairOneWay(a, b) => (FaultName::RepairOneway, vec![a, b], None),
        Fault::Hold(a, b) => (FaultName::Hold, vec![a, b], None),
        Fault::Release(a, b) => (FaultName::Release, vec![a, b], None),
        Fault::Latency(a, b, d) => (FaultName::Latency, vec![a, b], Some(d)),
        Fault::Crash(a) => (FaultName::Crash, vec![a], None),
        Fault::Kill(a) => (FaultName::Kill, vec![a], None),
        Fault::Restart(a) => (FaultName::Restart, vec![a], None),
    };
    FaultEntry {
        at: tf.at,
        kind,
        nodes,
        latency,
    }
}

type FileFaults = (Option<Spanned<GeneratorEntry>>, Vec<Spanned<FaultEntry>>);

fn faults_to_file(plan: &FaultPlan) -> FileFaults {
    match plan {
        FaultPlan::None => (None, Vec::new()),
        FaultPlan::Fixed(faults) => (
            None,
            faults.iter().map(|f| spanned(fault_to_file(f))).collect(),
        ),
        FaultPlan::Random {
            episodes,
            kinds,
            from,
            until,
            max_len,
        } => (
            Some(spanned(GeneratorEntry {
                episodes: *episodes,
                kinds: kinds.iter().map(|k| kind_to_file(*k)).collect(),
                from: *from,
                until: *until,
                max_len: *max_len,
            })),
            Vec::new(),
        ),
    }
}
