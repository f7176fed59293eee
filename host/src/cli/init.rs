//! `retort init [DIR] [--lang rust|python|js|wat]`: a new project, and what to do next.

use serde_json::json;

use super::args::{Format, InitArgs};
use super::commands::{Outcome, out};
use super::obj::Obj;
use super::output::{Ui, json_line};
use crate::{InitOptions, Lang, SdkDependency, init_project};

type Done = Result<(), Outcome>;

/// Creates the project and prints the next steps (or one JSON object).
pub fn run(args: &InitArgs, ui: Ui) -> Done {
    let lang: Lang = args.lang.into();
    let made = init_project(&InitOptions {
        dir: args.dir.clone(),
        lang,
        sdk: args.sdk.clone(),
    })?;
    let rel = |p: &std::path::Path| {
        p.strip_prefix(&made.dir)
            .map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
    };
    let cd = made.dir.display().to_string();
    let mut steps = vec![format!("cd {cd}")];
    if lang == Lang::Rust {
        steps.push("retort build".to_string());
    }
    steps.push("retort upgrade".to_string());
    if ui.format == Format::Json {
        let mut value = Obj::default()
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
            .with("next", json!(steps));
        if let Some(sdk) = &made.sdk {
            value.set("sdk", json!(sdk_text(sdk)));
        }
        json_line(&value);
        return Ok(());
    }
    let mut text = format!(
        "Created a Retort project in {cd}:\n  retort.toml  database_url = \"sqlite:app.db\", migrations = \"migrations\"\n"
    );
    match &made.sdk {
        Some(sdk) => {
            text.push_str(&format!(
                "  Cargo.toml   a workspace that builds revisions/* for wasm32-wasip2 (retort-sdk = {})\n  {}  the first revision, {} (fill in src/lib.rs)\n  migrations/  where `retort build` places the components (commit them)\n",
                sdk_text(sdk),
                rel(&made.revision.dir),
                made.revision.id
            ));
            if matches!(sdk, SdkDependency::Version(_)) {
                text.push_str("  (to build against a Retort checkout instead: `retort init --sdk PATH/plugin-sdk`)\n");
            }
            text.push_str(
                "Next (needs a Rust toolchain and `rustup target add wasm32-wasip2` once):",
            );
        }
        None => {
            text.push_str(&format!(
                "  {}  the first revision, {}: it runs as it is, no build step\n",
                rel(&made.revision.dir),
                made.revision.id
            ));
            let stub = match lang {
                Lang::Python => Some("migrations/retort.pyi  type stubs for your editor"),
                Lang::JavaScript => {
                    Some("migrations/retort.d.ts, jsconfig.json  types for your editor")
                }
                _ => None,
            };
            if let Some(stub) = stub {
                text.push_str(&format!("  {stub}\n"));
            }
            text.push_str("Next:");
        }
    }
    out(&text);
    for step in &steps {
        out(&format!("  {step}"));
    }
    Ok(())
}

fn sdk_text(sdk: &SdkDependency) -> String {
    match sdk {
        SdkDependency::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        SdkDependency::Version(version) => format!("{version:?}"),
    }
}
