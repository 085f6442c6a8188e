//! The timeline as one self-contained HTML page: inline CSS, an inline SVG
//! drawn from a [`Timeline`], a small inline script for the time axis,
//! zoom (range inputs, drag, or `#from=S&to=S` in the URL) and bar labels,
//! and the [`Timeline`] itself as JSON in `<script id="summary">`. Nothing
//! is fetched. Every inserted text is escaped.

use std::fmt::Write as _;

use html_escape::encode_text as text;

use super::{Bar, FaultWindow, Micros, Timeline};

/// Left edge of the chart (lane labels sit left of it).
const X0: f64 = 96.0;
/// Chart width in SVG units.
const CHART_W: f64 = 1080.0;
/// Height of the time axis.
const AXIS_H: f64 = 30.0;
/// Height of one lane (two tracks).
const LANE_H: f64 = 26.0;
/// Height of one track.
const TRACK_H: f64 = 10.0;
/// Narrowest bar drawn, so a connection closed within a millisecond shows.
const MIN_W: f64 = 1.5;

const STYLE: &str = r#"
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #1f2937; }
h1 { font-size: 17px; margin: 0 0 4px; }
.meta, .note { color: #4b5563; margin: 2px 0; }
.violation-text { color: #b91c1c; font-weight: 600; margin: 4px 0; }
.controls { margin: 8px 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.controls input { width: 7em; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; margin: 4px 0 8px; }
.legend span { display: inline-flex; align-items: center; gap: 4px; }
.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
svg { display: block; user-select: none; }
.lane-bg { fill: #f9fafb; }
.lane-bg.alt { fill: #f3f4f6; }
.lane-label { font-size: 11px; fill: #374151; dominant-baseline: middle; }
.lane.violated .lane-label { fill: #b91c1c; font-weight: 700; }
.tick line { stroke: #d1d5db; }
.tick text { font-size: 10px; fill: #6b7280; text-anchor: middle; }
.bar rect { stroke: #111827; stroke-opacity: .25; }
.bar.by-a rect { fill: #2563eb; }
.bar.by-b rect { fill: #f59e0b; }
.bar.ended-open rect { fill-opacity: .55; }
.bar text { font-size: 9px; fill: #fff; dominant-baseline: middle; pointer-events: none; }
.bar.by-b text { fill: #111827; }
.fault rect { fill-opacity: .3; pointer-events: none; }
.fault rect.band { fill-opacity: 1; pointer-events: all; }
.fault-partition rect, .sw.fault-partition { fill: #dc2626; background: #dc262648; }
.fault-one-way rect, .sw.fault-one-way { fill: #9333ea; background: #9333ea48; }
.fault-hold rect, .sw.fault-hold { fill: #0d9488; background: #0d948848; }
.fault-crash rect, .sw.fault-crash { fill: #111827; background: #11182748; }
.fault-latency line { stroke: #6b7280; stroke-dasharray: 3 2; stroke-width: 1.5; }
.violation line { stroke: #b91c1c; stroke-width: 2; }
.violation text { fill: #b91c1c; font-size: 11px; font-weight: 700; }
#selection { fill: #2563eb; fill-opacity: .12; stroke: #2563eb; }
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var svg = document.getElementById("timeline");
  var endUs = Number(svg.dataset.endUs), x0 = Number(svg.dataset.x0), w = Number(svg.dataset.w);
  var minW = Number(svg.dataset.minW), height = Number(svg.dataset.h);
  var from = document.getElementById("from"), to = document.getElementById("to");
  var view = [0, endUs];
  function x(t) { return x0 + (t - view[0]) / (view[1] - view[0]) * w; }
  function clampX(v) { return Math.max(x0 - 2, Math.min(x0 + w + 2, v)); }
  function fmt(us) { return (us / 1e6).toFixed(3).replace(/\.?0+$/, "") + "s"; }
  function ticks() {
    var axis = document.getElementById("axis");
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var span = view[1] - view[0], raw = span / 10, step = Math.pow(10, Math.floor(Math.log10(raw)));
    if (raw / step >= 5) step *= 5; else if (raw / step >= 2) step *= 2;
    for (var t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
      var g = document.createElementNS(svg.namespaceURI, "g");
      g.setAttribute("class", "tick");
      var l = document.createElementNS(svg.namespaceURI, "line");
      l.setAttribute("x1", x(t)); l.setAttribute("x2", x(t));
      l.setAttribute("y1", 20); l.setAttribute("y2", height);
      var s = document.createElementNS(svg.namespaceURI, "text");
      s.setAttribute("x", x(t)); s.setAttribute("y", 12);
      s.textContent = fmt(t);
      g.appendChild(l); g.appendChild(s); axis.appendChild(g);
    }
  }
  function draw() {
    svg.querySelectorAll("[data-t0]").forEach(function (el) {
      var a = x(Number(el.dataset.t0)), b = x(Number(el.dataset.t1 || el.dataset.t0));
      if (el.tagName === "line") {
        el.setAttribute("x1", a); el.setAttribute("x2", a);
      } else if (el.tagName === "text") {
        var room = clampX(b) - clampX(a);
        el.setAttribute("x", clampX(a) + 3);
        el.style.display = room > el.textContent.length * 5.5 + 6 ? "" : "none";
      } else {
        var l = clampX(a), r = clampX(b);
        el.setAttribute("x", l); el.setAttribute("width", Math.max(minW, r - l));
      }
    });
    ticks();
    from.value = (view[0] / 1e6).toFixed(3); to.value = (view[1] / 1e6).toFixed(3);
    svg.dataset.view = view[0] + "-" + view[1];
  }
  function zoom(a, b) {
    a = Math.max(0, Math.min(a, endUs)); b = Math.max(0, Math.min(b, endUs));
    if (!(b > a)) { a = 0; b = endUs; }
    view = [a, b]; draw();
  }
  document.getElementById("apply").addEventListener("click", function () {
    zoom(Number(from.value) * 1e6, Number(to.value) * 1e6);
  });
  document.getElementById("reset").addEventListener("click", function () { zoom(0, endUs); });
  var sel = document.getElementById("selection"), dragFrom = null;
  function tAt(ev) {
    var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
    var sx = p.matrixTransform(svg.getScreenCTM().inverse()).x;
    return view[0] + (Math.max(x0, Math.min(x0 + w, sx)) - x0) / w * (view[1] - view[0]);
  }
  svg.addEventListener("mousedown", function (ev) { dragFrom = tAt(ev); });
  svg.addEventListener("mousemove", function (ev) {
    if (dragFrom === null) return;
    var a = x(Math.min(dragFrom, tAt(ev))), b = x(Math.max(dragFrom, tAt(ev)));
    sel.setAttribute("x", a); sel.setAttribute("width", b - a); sel.style.display = "";
  });
  window.addEventListener("mouseup", function (ev) {
    if (dragFrom === null) return;
    var a = Math.min(dragFrom, tAt(ev)), b = Math.max(dragFrom, tAt(ev));
    dragFrom = null; sel.style.display = "none";
    if ((b - a) / (view[1] - view[0]) > 0.002) zoom(a, b);
  });
  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has("from") && hash.has("to")) zoom(Number(hash.get("from")) * 1e6, Number(hash.get("to")) * 1e6);
  else draw();
  svg.dataset.ready = "1";
})();
"#;

/// `t` in seconds with milliseconds (`12.345s`).
fn secs(t: Micros) -> String {
    format!("{}.{:03}s", t / 1_000_000, t / 1_000 % 1_000)
}

/// `1 fault`, `7 faults`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Initial x of `t` (the whole run in view), as the script computes it.
fn x_of(t: Micros, end: Micros) -> f64 {
    X0 + t as f64 / end.max(1) as f64 * CHART_W
}

fn lane_y(lane: usize) -> f64 {
    AXIS_H + lane as f64 * LANE_H
}

/// The page for `timeline`.
pub fn render(timeline: &Timeline) -> String {
    let t = timeline;
    let height = AXIS_H + t.lanes.len() as f64 * LANE_H + 6.0;
    let width = X0 + CHART_W + 12.0;
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("{} seed {} ({})", t.scenario, t.seed, t.policy);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>peerlink-sim timeline: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{}</h1>\n",
        text(&title),
        text(&title)
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">ended at {} · {} · {} · {} · trace_sha256 {}</p>",
        secs(t.end_us),
        count(t.lanes.len(), "lane"),
        count(t.bars.len(), "connection end"),
        count(t.faults.len(), "fault"),
        text(&t.trace_sha256)
    );
    match &t.violation {
        Some(v) => {
            let _ = writeln!(h, "<p class=\"violation-text\">FAIL {}</p>", text(&v.text));
        }
        None => h.push_str("<p class=\"meta\">PASS: no invariant broken</p>\n"),
    }
    if t.lanes_left_out > 0 {
        let _ = writeln!(
            h,
            "<p class=\"note\" id=\"left-out\">{} more node pairs had connections but are not drawn \
             (at most {} lanes: pairs with a fault or the violation first, then the busiest).</p>",
            t.lanes_left_out,
            super::MAX_LANES
        );
    }
    h.push_str(
        "<div class=\"legend\">\
         <span><i class=\"sw\" style=\"background:#2563eb\"></i>dialled by the lane's first node</span>\
         <span><i class=\"sw\" style=\"background:#f59e0b\"></i>dialled by its second node</span>\
         <span><i class=\"sw fault-partition\"></i>partition</span>\
         <span><i class=\"sw fault-one-way\"></i>one-way cut</span>\
         <span><i class=\"sw fault-hold\"></i>hold</span>\
         <span><i class=\"sw fault-crash\"></i>crash</span>\
         <span>┆ latency change</span>\
         <span style=\"color:#b91c1c\">│ first violation</span></div>\n\
         <p class=\"note\">Each lane is a node pair: the upper track is the first node's end of \
         each connection, the lower the second's, from handshake to close, labelled with the \
         close reason (pale: still open at the end). Hover for details; drag across the chart \
         or set a range to zoom.</p>\n\
         <div class=\"controls\"><label>from <input id=\"from\" type=\"number\" step=\"0.001\" \
         min=\"0\"> s</label><label>to <input id=\"to\" type=\"number\" step=\"0.001\" \
         min=\"0\"> s</label><button id=\"apply\">zoom</button>\
         <button id=\"reset\">whole run</button></div>\n",
    );
    let _ = writeln!(
        h,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" data-end-us=\"{}\" data-x0=\"{X0}\" \
         data-w=\"{CHART_W}\" data-min-w=\"{MIN_W}\" data-h=\"{height}\">\n\
         <defs><clipPath id=\"chart\"><rect x=\"{X0}\" y=\"0\" width=\"{CHART_W}\" \
         height=\"{height}\"/></clipPath></defs>\n<g id=\"axis\"></g>",
        t.end_us.max(1)
    );
    lanes(&mut h, t);
    // Faults over the bars, translucent; only their band at the lane's top
    // edge takes the hover, so the bars under them keep theirs.
    h.push_str("<g id=\"bars\" clip-path=\"url(#chart)\">\n");
    for b in &t.bars {
        bar(&mut h, t, b);
    }
    h.push_str("</g>\n<g id=\"faults\" clip-path=\"url(#chart)\">\n");
    for (i, f) in t.faults.iter().enumerate() {
        fault(&mut h, i, f, t.end_us);
    }
    h.push_str("</g>\n");
    if let Some(v) = &t.violation {
        let x = x_of(v.at_us, t.end_us);
        let _ = writeln!(
            h,
            "<g class=\"violation\" id=\"violation\"><title>{}</title>\
             <line data-t0=\"{}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"18\" y2=\"{height}\"/>\
             <text x=\"{:.1}\" y=\"26\" text-anchor=\"end\">{} ▶</text></g>",
            text(&v.text),
            v.at_us,
            (x - 3.0).max(X0 + 60.0),
            text(&v.invariant)
        );
    }
    h.push_str(
        "<rect id=\"selection\" y=\"20\" height=\"100%\" style=\"display:none\"/>\n</svg>\n",
    );
    // JSON in a script element: `<` escaped so no text can close the element.
    let json = serde_json::to_string(t)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c");
    let _ = write!(
        h,
        "<script type=\"application/json\" id=\"summary\">{json}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    h
}

fn lanes(h: &mut String, t: &Timeline) {
    let violated: &[usize] = t.violation.as_ref().map_or(&[], |v| &v.lanes);
    h.push_str("<g id=\"lanes\">\n");
    for lane in &t.lanes {
        let y = lane_y(lane.id);
        let class = if violated.contains(&lane.id) {
            "lane violated"
        } else {
            "lane"
        };
        let alt = if lane.id % 2 == 1 { " alt" } else { "" };
        let _ = writeln!(
            h,
            "<g class=\"{class}\" data-lane=\"{}\"><title>n{} (upper) and n{} (lower)</title>\
             <rect class=\"lane-bg{alt}\" x=\"0\" y=\"{y}\" width=\"{:.0}\" height=\"{LANE_H}\"/>\
             <text class=\"lane-label\" x=\"6\" y=\"{:.1}\">n{} – n{}</text></g>",
            lane.id,
            lane.a,
            lane.b,
            X0 + CHART_W,
            y + LANE_H / 2.0,
            lane.a,
            lane.b
        );
    }
    h.push_str("</g>\n");
}

fn fault(h: &mut String, i: usize, f: &FaultWindow, end: Micros) {
    let healed = if f.end_us == end && f.kind != "latency" {
        "not healed before the run ended".to_string()
    } else {
        format!("until {}", secs(f.end_us))
    };
    let tip = format!("{} at {}, {healed}", f.label, secs(f.start_us));
    let _ = write!(
        h,
        "<g class=\"fault fault-{}\" data-fault=\"{i}\"><title>{}</title>",
        f.kind,
        text(&tip)
    );
    let (x0, x1) = (x_of(f.start_us, end), x_of(f.end_us, end));
    for &lane in &f.lanes {
        let y = lane_y(lane);
        if f.kind == "latency" {
            let _ = write!(
                h,
                "<line data-t0=\"{}\" x1=\"{x0:.1}\" x2=\"{x0:.1}\" y1=\"{y}\" y2=\"{}\"/>",
                f.start_us,
                y + LANE_H
            );
        } else {
            for (class, height) in [("", LANE_H), (" class=\"band\"", 3.0)] {
                let _ = write!(
                    h,
                    "<rect{class} data-t0=\"{}\" data-t1=\"{}\" x=\"{x0:.1}\" y=\"{y}\" \
                     width=\"{:.1}\" height=\"{height}\"/>",
                    f.start_us,
                    f.end_us,
                    (x1 - x0).max(MIN_W)
                );
            }
        }
    }
    h.push_str("</g>\n");
}

fn bar(h: &mut String, t: &Timeline, b: &Bar) {
    let lane = &t.lanes[b.lane];
    let peer = if b.node == lane.a { lane.b } else { lane.a };
    let y = lane_y(b.lane) + if b.node == lane.a { 3.0 } else { 13.0 };
    let by = if b.dialler == lane.a { "by-a" } else { "by-b" };
    let ended = match b.ended.as_str() {
        "open" => "still open when the run ended".to_string(),
        "crash" => format!("ended by n{}'s crash at {}", b.node, secs(b.end_us)),
        reason => format!("closed at {}: {reason}", secs(b.end_us)),
    };
    let tip = format!(
        "n{}'s end of connection {} to n{peer}, dialled by n{}\nestablished at {}, {ended}",
        b.node,
        b.conn,
        b.dialler,
        secs(b.start_us)
    );
    let (x0, x1) = (x_of(b.start_us, t.end_us), x_of(b.end_us, t.end_us));
    let label = if b.ended == "open" { "" } else { &b.ended };
    let _ = writeln!(
        h,
        "<g class=\"bar {by} ended-{}\" data-lane=\"{}\" data-node=\"{}\"><title>{}</title>\
         <rect data-t0=\"{}\" data-t1=\"{}\" x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{TRACK_H}\" rx=\"2\"/>\
         <text data-t0=\"{}\" data-t1=\"{}\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
        if b.ended == "open" { "open" } else { "closed" },
        b.lane,
        b.node,
        text(&tip),
        b.start_us,
        b.end_us,
        (x1 - x0).max(MIN_W),
        b.start_us,
        b.end_us,
        x0 + 3.0,
        y + TRACK_H / 2.0 + 0.5,
        text(label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Lane, ViolationMark};

    /// Text from the run (names, reasons, the violation) is escaped in the
    /// markup, and the JSON summary cannot close its script element.
    #[test]
    fn inserted_text_is_escaped() {
        let timeline = Timeline {
            scenario: "<b>&x".into(),
            policy: "p\"q".into(),
            seed: 1,
            end_us: 2_000_000,
            trace_sha256: "00".into(),
            lanes: vec![Lane { id: 0, a: 0, b: 1 }],
            lanes_left_out: 0,
            bars: vec![Bar {
                lane: 0,
                node: 1,
                conn: "c<1>".into(),
                dialler: 0,
                start_us: 0,
                end_us: 1_000_000,
                ended: "</script><i>".into(),
            }],
            faults: vec![],
            violation: Some(ViolationMark {
                at_us: 1_500_000,
                invariant: "x<y".into(),
                text: "broken & <gone>".into(),
                lanes: vec![0],
            }),
        };
        let page = render(&timeline);
        assert!(page.contains("<h1>&lt;b&gt;&amp;x seed 1 (p\"q)</h1>"));
        assert!(page.contains("closed at 1.000s: &lt;/script&gt;&lt;i&gt;"));
        assert!(page.contains("FAIL broken &amp; &lt;gone&gt;"));
        for raw in ["<b>", "<i>", "<gone>", "c<1>"] {
            assert!(!page.contains(raw), "{raw} unescaped");
        }
        // One closing tag per script element: the summary's `<` are escaped.
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(page.contains(r#""ended":"\u003c/script>\u003ci>""#));
    }
}
