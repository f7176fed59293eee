//! Read-only reports on the revision graph: `history`, `heads`, `branches`
//! and `show`. They need no database and compile nothing.

use std::collections::BTreeSet;

use super::commands::{Outcome, note, out};
use crate::{Entry, Project, RevisionGraph, Target};

type Done = Result<(), Outcome>;

/// ` (auth, billing)` for a revision's own labels, then ` (head)`,
/// ` (branchpoint)`, ` (mergepoint)` where they apply (Alembic's markers).
fn markers(graph: &RevisionGraph, heads: &[&str], entry: &Entry) -> String {
    let info = &entry.info;
    let mut out = String::new();
    if !info.branch_labels.is_empty() {
        out.push_str(&format!(" ({})", info.branch_labels.join(", ")));
    }
    if heads.contains(&info.id.as_str()) {
        out.push_str(" (head)");
    }
    if graph.children(&info.id).len() > 1 {
        out.push_str(" (branchpoint)");
    }
    if info.down_revisions.len() > 1 {
        out.push_str(" (mergepoint)");
    }
    out
}

fn parents(entry: &Entry) -> String {
    if entry.info.down_revisions.is_empty() {
        "<base>".to_string()
    } else {
        entry.info.down_revisions.join(", ")
    }
}

/// One line: `PARENTS -> ID MARKERS, MESSAGE`.
fn line(graph: &RevisionGraph, heads: &[&str], entry: &Entry) -> String {
    format!(
        "{} -> {}{}, {}",
        parents(entry),
        entry.info.id,
        markers(graph, heads, entry),
        entry.info.message
    )
}

/// Every detail, one per line.
fn details(graph: &RevisionGraph, heads: &[&str], entry: &Entry) -> Vec<String> {
    let info = &entry.info;
    let list = |items: Vec<&str>| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    vec![
        format!("Revision: {}{}", info.id, markers(graph, heads, entry)),
        format!("Parents: {}", parents(entry)),
        format!("Children: {}", list(graph.children(&info.id))),
        format!(
            "Depends on: {}",
            list(info.depends_on.iter().map(String::as_str).collect())
        ),
        format!("Needed by: {}", list(graph.dependents(&info.id))),
        format!(
            "Branch labels: {}",
            list(info.branch_labels.iter().map(String::as_str).collect())
        ),
        format!("On branches: {}", list(graph.branches_of(&info.id))),
        format!(
            "Transactional: {}",
            if info.transactional { "yes" } else { "no" }
        ),
        format!("Path: {}", entry.path.display()),
        format!("sha256: {}", entry.sha256),
        format!("Message: {}", info.message),
    ]
}

fn print_details(graph: &RevisionGraph, heads: &[&str], entries: &[&Entry]) {
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out("");
        }
        for l in details(graph, heads, entry) {
            out(&l);
        }
    }
}

/// `retort history [-r RANGE] [--verbose]`.
///
/// With `applied` (`--indicate-current`), each applied revision is marked.
pub fn history(
    project: &Project,
    range: Option<&str>,
    verbose: bool,
    applied: Option<&BTreeSet<String>>,
) -> Done {
    let entries = project.history(range)?;
    let graph = project.graph();
    let heads = graph.heads();
    let mark = |entry: &Entry| match applied {
        Some(ids) if ids.contains(&entry.info.id) => " (applied)",
        _ => "",
    };
    if verbose {
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                out("");
            }
            for l in details(graph, heads.as_slice(), entry) {
                out(&l);
            }
            if let Some(ids) = applied {
                let yes = if ids.contains(&entry.info.id) {
                    "yes"
                } else {
                    "no"
                };
                out(&format!("Applied: {yes}"));
            }
        }
    } else {
        for entry in entries {
            out(&format!(
                "{} -> {}{}{}, {}",
                parents(entry),
                entry.info.id,
                markers(graph, &heads, entry),
                mark(entry),
                entry.info.message
            ));
        }
    }
    Ok(())
}

/// `retort heads [--verbose]`.
pub fn heads(project: &Project, verbose: bool) -> Done {
    let graph = project.graph();
    let heads = graph.heads();
    let entries: Vec<&Entry> = heads
        .iter()
        .filter_map(|id| project.catalog().get(id))
        .collect();
    if verbose {
        print_details(graph, &heads, &entries);
    } else {
        for entry in entries {
            let labels = &entry.info.branch_labels;
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!(" ({})", labels.join(", "))
            };
            out(&format!("{}{labels} (head)", entry.info.id));
        }
    }
    Ok(())
}

/// `retort branches`: branch points with their children, then labels.
pub fn branches(project: &Project, quiet: bool) -> Done {
    let graph = project.graph();
    let heads = graph.heads();
    let catalog = project.catalog();
    let points = graph.branch_points();
    for id in &points {
        let Some(entry) = catalog.get(id) else {
            continue;
        };
        out(&line(graph, &heads, entry));
        for child in graph.children(id) {
            if let Some(c) = catalog.get(child) {
                out(&format!(
                    "    -> {}{}, {}",
                    child,
                    markers(graph, &heads, c),
                    c.info.message
                ));
            }
        }
    }
    let labels = graph.labels();
    if !labels.is_empty() {
        out("Branch labels:");
        for (label, root) in labels {
            let tips: Vec<&str> = graph
                .branch(label)
                .unwrap_or_default()
                .into_iter()
                .filter(|id| heads.contains(id))
                .collect();
            out(&format!(
                "    {label}: starts at {root}, head {}",
                tips.join(", ")
            ));
        }
    }
    if points.is_empty() && graph.labels().is_empty() {
        note(quiet, "No branches: every revision has at most one child.");
    }
    Ok(())
}

/// `retort show REV`.
pub fn show(project: &Project, target: &Target) -> Done {
    let entry = project.show(target)?;
    let graph = project.graph();
    print_details(graph, &graph.heads(), &[entry]);
    Ok(())
}
