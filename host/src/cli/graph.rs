//! `history --graph` (the DAG drawn in the terminal, newest first, one
//! revision per line with its branches and merges as lines) and
//! `history --dot` (Graphviz).

use std::collections::{HashMap, HashSet};

use super::commands::{Outcome, out};
use crate::{Entry, Project, RevisionGraph};

type Done = Result<(), Outcome>;

/// One revision to draw: its id, its parents within the drawing, its text.
#[derive(Debug, Clone)]
pub struct Node {
    /// The revision id.
    pub id: String,
    /// Parents that are drawn too (first parent first).
    pub parents: Vec<String>,
    /// What follows the graph on its line.
    pub text: String,
}

/// `retort history --graph [-r RANGE]`.
pub fn draw(project: &Project, range: Option<&str>) -> Done {
    let entries = project.history(range)?;
    for line in lanes(&nodes(project.graph(), &entries)) {
        out(&line);
    }
    Ok(())
}

/// `retort history --dot [-r RANGE]`.
pub fn dot(project: &Project, range: Option<&str>) -> Done {
    let entries = project.history(range)?;
    out(&to_dot(project.graph(), &entries));
    Ok(())
}

/// The nodes of `entries` (newest first), parents limited to the entries.
fn nodes(graph: &RevisionGraph, entries: &[&Entry]) -> Vec<Node> {
    let ids: HashSet<&str> = entries.iter().map(|e| e.info.id.as_str()).collect();
    let heads = graph.heads();
    entries
        .iter()
        .map(|e| {
            let info = &e.info;
            let mut text = info.id.clone();
            if !info.branch_labels.is_empty() {
                text.push_str(&format!(" ({})", info.branch_labels.join(", ")));
            }
            if heads.contains(&info.id.as_str()) {
                text.push_str(" (head)");
            }
            if !info.depends_on.is_empty() {
                text.push_str(&format!(" [depends on {}]", info.depends_on.join(", ")));
            }
            text.push_str(&format!(
                " {}",
                info.message.lines().next().unwrap_or_default()
            ));
            Node {
                id: info.id.clone(),
                parents: info
                    .down_revisions
                    .iter()
                    .filter(|p| ids.contains(p.as_str()))
                    .cloned()
                    .collect(),
                text,
            }
        })
        .collect()
}

/// Children before parents, keeping a line of descent together: after a
/// revision comes its first parent whenever nothing else still needs to be
/// drawn above that parent; otherwise a revision whose lane is already open
/// (a child of it was drawn) before a new head. Ties follow the input order
/// (newest first).
fn drawing_order(nodes: &[Node]) -> Vec<usize> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut waiting = vec![0usize; nodes.len()]; // children not yet drawn
    for n in nodes {
        for p in &n.parents {
            if let Some(&i) = index.get(p.as_str()) {
                waiting[i] += 1;
            }
        }
    }
    let is_parent: Vec<bool> = waiting.iter().map(|&w| w > 0).collect();
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    let mut last: Option<usize> = None;
    while !ready.is_empty() {
        let next = last
            .and_then(|l| {
                nodes[l]
                    .parents
                    .iter()
                    .filter_map(|p| index.get(p.as_str()).copied())
                    .find(|p| ready.contains(p))
            })
            .or_else(|| ready.iter().copied().find(|&r| is_parent[r]))
            .unwrap_or(ready[0]);
        ready.retain(|&r| r != next);
        order.push(next);
        for p in &nodes[next].parents {
            if let Some(&i) = index.get(p.as_str()) {
                waiting[i] -= 1;
                if waiting[i] == 0 {
                    ready.push(i);
                    ready.sort_unstable();
                }
            }
        }
        last = Some(next);
    }
    order
}

/// Which way a connector row joins lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Lanes from above end in `col` (a branch point below its children).
    Converge,
    /// Lanes start below `col` (a merge above its parents).
    Split,
}

/// A row of lines joining column `col` with the columns `others` (all to its right).
fn connector(lanes: &[Option<String>], col: usize, others: &[usize], join: Join) -> String {
    let hi = others.iter().copied().max().unwrap_or(col);
    let width = lanes.len().max(hi + 1);
    let mut row = String::new();
    for i in 0..width {
        let active = lanes.get(i).is_some_and(Option::is_some);
        let cell = if i == col {
            '├'
        } else if i == hi {
            if join == Join::Converge { '┘' } else { '┐' }
        } else if others.contains(&i) {
            if join == Join::Converge { '┴' } else { '┬' }
        } else if i > col && i < hi {
            if active { '┼' } else { '─' }
        } else if active {
            '│'
        } else {
            ' '
        };
        row.push(cell);
        if i + 1 < width {
            row.push(if i >= col && i < hi { '─' } else { ' ' });
        }
    }
    row.trim_end().to_string()
}

/// The drawing: one line per revision (`●` in its lane, `│` for the lanes
/// that pass by), with connector lines where lanes meet or part.
pub fn lanes(nodes: &[Node]) -> Vec<String> {
    let mut lanes: Vec<Option<String>> = Vec::new();
    let mut rows = Vec::new();
    for i in drawing_order(nodes) {
        let node = &nodes[i];
        let hits: Vec<usize> = lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.as_deref() == Some(node.id.as_str()))
            .map(|(i, _)| i)
            .collect();
        let col = match hits.first() {
            Some(&c) => c,
            None => match lanes.iter().position(Option::is_none) {
                Some(free) => free,
                None => {
                    lanes.push(None);
                    lanes.len() - 1
                }
            },
        };
        if hits.len() > 1 {
            rows.push(connector(&lanes, col, &hits[1..], Join::Converge));
            for &h in &hits[1..] {
                lanes[h] = None;
            }
        }
        lanes[col] = Some(node.id.clone());
        let mut row = String::new();
        for (j, lane) in lanes.iter().enumerate() {
            row.push(match (j == col, lane.is_some()) {
                (true, _) => '●',
                (false, true) => '│',
                (false, false) => ' ',
            });
            row.push(' ');
        }
        rows.push(format!("{} {}", row.trim_end(), node.text));
        lanes[col] = node.parents.first().cloned();
        let mut parted = Vec::new();
        for parent in node.parents.iter().skip(1) {
            let slot = match (col + 1..lanes.len()).find(|&k| lanes[k].is_none()) {
                Some(free) => free,
                None => {
                    lanes.push(None);
                    lanes.len() - 1
                }
            };
            lanes[slot] = Some(parent.clone());
            parted.push(slot);
        }
        if !parted.is_empty() {
            rows.push(connector(&lanes, col, &parted, Join::Split));
        }
        while lanes.last().is_some_and(Option::is_none) {
            lanes.pop();
        }
    }
    rows
}

/// A Graphviz digraph: parent → child edges, newest at the top, dashed
/// edges for `depends-on`, heads drawn with a double border.
fn to_dot(graph: &RevisionGraph, entries: &[&Entry]) -> String {
    let ids: HashSet<&str> = entries.iter().map(|e| e.info.id.as_str()).collect();
    let heads = graph.heads();
    let mut dot = String::from(
        "digraph retort {\n  rankdir=BT;\n  node [shape=box, style=rounded, fontname=\"monospace\"];\n",
    );
    for e in entries.iter().rev() {
        let info = &e.info;
        let mut label = info.id.clone();
        if !info.branch_labels.is_empty() {
            label.push_str(&format!(" ({})", info.branch_labels.join(", ")));
        }
        label.push('\n');
        label.push_str(info.message.lines().next().unwrap_or_default());
        let head = if heads.contains(&info.id.as_str()) {
            ", peripheries=2"
        } else {
            ""
        };
        dot.push_str(&format!(
            "  \"{}\" [label=\"{}\"{head}];\n",
            escape(&info.id),
            escape(&label)
        ));
    }
    for e in entries.iter().rev() {
        let info = &e.info;
        for parent in info
            .down_revisions
            .iter()
            .filter(|p| ids.contains(p.as_str()))
        {
            dot.push_str(&format!(
                "  \"{}\" -> \"{}\";\n",
                escape(parent),
                escape(&info.id)
            ));
        }
        for dep in info.depends_on.iter().filter(|d| ids.contains(d.as_str())) {
            dot.push_str(&format!(
                "  \"{}\" -> \"{}\" [style=dashed, label=\"depends on\"];\n",
                escape(dep),
                escape(&info.id)
            ));
        }
    }
    dot.push('}');
    dot
}

/// A dot string's content: backslashes, quotes and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parents: &[&str]) -> Node {
        Node {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            text: id.into(),
        }
    }

    #[test]
    fn a_line_is_one_lane() {
        let rows = lanes(&[node("c", &["b"]), node("b", &["a"]), node("a", &[])]);
        assert_eq!(rows, ["● c", "● b", "● a"]);
    }

    #[test]
    fn branches_part_below_a_merge_and_meet_at_the_branch_point() {
        // m merges x and y, which both follow a.
        let rows = lanes(&[
            node("m", &["x", "y"]),
            node("y", &["a"]),
            node("x", &["a"]),
            node("a", &[]),
        ]);
        assert_eq!(rows, ["● m", "├─┐", "● │ x", "│ ● y", "├─┘", "● a"]);
    }

    #[test]
    fn two_heads_and_two_bases() {
        let rows = lanes(&[
            node("h2", &["b"]),
            node("h1", &["b"]),
            node("b", &[]),
            node("z", &[]),
        ]);
        assert_eq!(rows, ["● h2", "│ ● h1", "├─┘", "● b", "● z"]);
    }

    #[test]
    fn open_lanes_end_before_new_heads_start() {
        let rows = lanes(&[
            node("m", &["x", "y"]),
            node("h", &[]),
            node("y", &["a"]),
            node("x", &["a"]),
            node("a", &[]),
        ]);
        assert_eq!(rows, ["● m", "├─┐", "● │ x", "│ ● y", "├─┘", "● a", "● h"]);
    }

    #[test]
    fn lanes_cross_other_lanes() {
        // m merges p and r; q is an unrelated head between them.
        let rows = lanes(&[
            node("q", &["base"]),
            node("m", &["p", "r"]),
            node("p", &["base"]),
            node("r", &["base"]),
            node("base", &[]),
        ]);
        assert_eq!(rows[0], "● q");
        assert_eq!(rows[1], "│ ● m");
        assert_eq!(rows[2], "│ ├─┐");
        assert!(rows.last().unwrap().ends_with("base"), "{rows:#?}");
        // Every node is drawn exactly once.
        assert_eq!(rows.iter().filter(|r| r.contains('●')).count(), 5);
    }

    #[test]
    fn dot_strings_are_escaped() {
        assert_eq!(escape("a \"b\"\\\nc"), "a \\\"b\\\"\\\\\\nc");
    }
}
