//! `revision` and `merge`: new revision crates with a fresh id and the right
//! parents, checked against the graph before anything is written.

use std::path::PathBuf;

use super::Project;
use crate::error::Error;
use crate::graph::{GraphError, Revision, RevisionGraph, Target};
use crate::scaffold::{self, Lang, NewRevision, Scaffolded};

/// What `retort revision` / `retort merge` should create.
#[derive(Debug, Clone)]
pub struct RevisionRequest {
    /// The one-line message.
    pub message: String,
    /// Targets naming the parents (`heads`, ids, labels, `label@head`, `base`
    /// for a new base); empty means the single head.
    pub heads: Vec<String>,
    /// Branch labels the new revision declares.
    pub branch_labels: Vec<String>,
    /// Targets naming revisions it depends on without following them.
    pub depends_on: Vec<String>,
    /// Source language.
    pub lang: Lang,
    /// Where to write the crate instead of the configured revisions directory.
    pub path: Option<PathBuf>,
    /// The `plugin-sdk` directory to depend on, when no workspace provides it.
    pub sdk: Option<PathBuf>,
}

impl Project {
    /// Scaffolds a revision that follows `request.heads` (by default the
    /// single head; a new base when there are no revisions yet).
    pub fn new_revision(&self, request: &RevisionRequest) -> Result<Scaffolded, Error> {
        let graph = &self.authoring_graph()?;
        let parents = if request.heads.is_empty() {
            match graph.resolve_target(&Target::Head) {
                Ok(head) => vec![head.to_string()],
                Err(_) if graph.is_empty() => Vec::new(),
                Err(GraphError::MultipleHeads { heads, .. }) => {
                    return Err(Error::Usage(format!(
                        "there are {} heads ({}): choose the parent with --head ID (or --head heads to follow all of them), or join them first with `retort merge heads -m MESSAGE`",
                        heads.len(),
                        heads.join(", ")
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            resolve_many(graph, &request.heads)?
        };
        self.scaffold(graph, parents, request)
    }

    /// The graph of the migrations directory and of the revision crates not
    /// built yet (a `retort revision` right after `init` follows the first
    /// revision, not a second base).
    fn authoring_graph(&self) -> Result<RevisionGraph, Error> {
        let unbuilt: Vec<Revision> =
            crate::revision_crates::stale(&self.config.revisions, &self.config.migrations)
                .into_iter()
                .filter(|s| s.why == crate::revision_crates::Staleness::NotBuilt)
                .map(|s| {
                    crate::revision_crates::declared(&s.krate).ok_or_else(|| {
                        Error::Usage(format!(
                            "revision crate {} ({}) is not built yet and its id cannot be read from src/lib.rs: run `retort build` first, so the new revision can follow it",
                            s.krate.name,
                            s.krate.dir.display()
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
        if unbuilt.is_empty() {
            return Ok(self.graph().clone());
        }
        let mut revisions = self.graph().revisions().to_vec();
        revisions.extend(unbuilt);
        Ok(RevisionGraph::new(revisions)?)
    }

    /// Scaffolds a merge revision whose parents are `revisions` (targets;
    /// `heads` is every head). They must be two or more, none including another.
    pub fn merge(
        &self,
        revisions: &[String],
        request: &RevisionRequest,
    ) -> Result<Scaffolded, Error> {
        let graph = &self.authoring_graph()?;
        let parents = resolve_many(graph, revisions)?;
        if parents.len() < 2 {
            return Err(Error::Usage(format!(
                "a merge joins two or more revisions, but {} name(s) only {}",
                revisions.join(" "),
                if parents.is_empty() {
                    "none".to_string()
                } else {
                    parents.join(", ")
                }
            )));
        }
        for a in &parents {
            for b in &parents {
                if a != b && graph.descends_from_id(a, b) {
                    return Err(Error::Usage(format!(
                        "{b} is already part of {a}: a merge joins revisions that do not include each other; merge {a} with the others"
                    )));
                }
            }
        }
        self.scaffold(graph, parents, request)
    }

    fn scaffold(
        &self,
        graph: &RevisionGraph,
        down_revisions: Vec<String>,
        request: &RevisionRequest,
    ) -> Result<Scaffolded, Error> {
        let mut depends_on = Vec::new();
        for text in &request.depends_on {
            let target: Target = text.parse()?;
            let id = graph.resolve_target(&target)?.to_string();
            if !depends_on.contains(&id) {
                depends_on.push(id);
            }
        }
        let id = scaffold::fresh_id(&request.message, &|c| graph.get(c).is_some());
        let new = NewRevision {
            id,
            message: request.message.clone(),
            down_revisions,
            branch_labels: request.branch_labels.clone(),
            depends_on,
            lang: request.lang,
        };
        // The graph with the new revision must still be valid (labels unique
        // and usable, ...) before a file is written.
        let mut revisions = graph.revisions().to_vec();
        revisions.push(Revision {
            id: new.id.clone(),
            down_revisions: new.down_revisions.clone(),
            depends_on: new.depends_on.clone(),
            branch_labels: new.branch_labels.clone(),
            message: new.message.clone(),
        });
        RevisionGraph::new(revisions)?;
        // A script or WAT revision runs as written: it goes straight into
        // the migrations directory (no second copy to drift from).
        let dir = request.path.clone().unwrap_or_else(|| {
            if request.lang.file_extension().is_some() {
                self.config.migrations.clone()
            } else {
                self.config.revisions.clone()
            }
        });
        Ok(scaffold::write_crate(&dir, &new, request.sdk.as_deref())?)
    }
}

fn resolve_many(graph: &RevisionGraph, texts: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for text in texts {
        let target: Target = text.parse()?;
        for id in graph.resolve_all(&target)? {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    Ok(out)
}
