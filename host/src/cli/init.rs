//! `retort init [DIR] [--lang rust]`: a new project, and what to do next.

use serde_json::json;

use super::args::{Format, InitArgs, LangArg};
use super::commands::{Outcome, out};
use super::obj::Obj;
use super::output::{Ui, json_line};
use crate::{InitOptions, Lang, init_project};

type Done = Result<(), Outcome>;

/// Creates the project and prints the next steps (or one JSON object).
pub fn run(args: &InitArgs, ui: Ui) -> Done {
    let made = init_project(&InitOptions {
        dir: args.dir.clone(),
        lang: match args.lang {
            LangArg::Rust => Lang::Rust,
            other => {
                let lang = match other {
                    LangArg::Wat => "wat",
                    LangArg::Python => "python",
                    _ => "js",
                };
                return Err(crate::Error::Usage(format!(
                    "init sets up a Rust revision workspace; in the new project, `retort revision --lang {lang} -m …` writes a {lang} revision"
                ))
                .into());
            }
        },
        sdk: args.sdk.clone(),
    })?;
    let rel = |p: &std::path::Path| {
        p.strip_prefix(&made.dir)
            .map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
    };
    let cd = made.dir.display().to_string();
    let copy = format!("cp {} migrations/", rel(&made.component));
    let steps = [
        format!("cd {cd}"),
        "cargo build --release".to_string(),
        copy,
        "retort upgrade".to_string(),
    ];
    if ui.format == Format::Json {
        json_line(
            &Obj::default()
                .with("created", json!(cd))
                .with("config", json!(made.config.display().to_string()))
                .with("migrations", json!(made.migrations.display().to_string()))
                .with(
                    "revision",
                    Obj::default()
                        .with("id", json!(made.revision.id))
                        .with("dir", json!(made.revision.dir.display().to_string()))
                        .with("crate", json!(made.revision.crate_name)),
                )
                .with("component", json!(made.component.display().to_string()))
                .with("next", json!(steps)),
        );
        return Ok(());
    }
    out(&format!(
        "Created a Retort project in {cd}:\n  \
         retort.toml                      database_url = \"sqlite:app.db\", migrations = \"migrations\"\n  \
         Cargo.toml, .cargo/config.toml   a workspace that builds revisions/* for wasm32-wasip2\n  \
         {}  the first revision, {} (fill in src/lib.rs)\n  \
         migrations/                      where built components go (commit them)\n\
         Next (needs `rustup target add wasm32-wasip2` once):",
        rel(&made.revision.dir),
        made.revision.id
    ));
    for step in &steps {
        out(&format!("  {step}"));
    }
    Ok(())
}
