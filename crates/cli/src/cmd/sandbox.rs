//! `cordon sandbox`: what the kernel offers, and what `cordon run` would enforce with it.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use cordon_policy::manifest::Manifest;
use cordon_policy::path::{self, Expansion};
use cordon_sandbox::exec::{ProgramNeeds, needs_each};
use cordon_sandbox::probe::{Features, LANDLOCK_ABI_TARGET, probe};
use serde_json::json;

use super::manifest::ManifestSource;
use crate::fail::{CHECK_FAILED, Fail, Outcome};
use crate::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Say which kernel isolation features exist here (Landlock ABI, seccomp, no_new_privs,
    /// namespaces) and which sandbox layers they make possible. With a manifest, also show the
    /// rights the sandbox would grant: paths, and the programs with the loader and libraries
    /// they need to start.
    ///
    /// Exits 1 when a layer the sandbox requires is missing, so it can serve as a preflight
    /// check on managed machines.
    ///
    /// Example: `cordon sandbox check --manifest alice.signed.json --trust trust.json`
    Check {
        /// The manifest to plan for.
        #[command(flatten)]
        source: ManifestSource,
        /// The user `~` and `${USER}` stand for (default: the current user).
        #[arg(long)]
        user: Option<String>,
        /// That user's home (default: `$HOME`, or `/home/<user>` with `--user`).
        #[arg(long)]
        home: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

/// The filesystem rights a manifest resolves to.
struct Plan {
    read: Vec<String>,
    write: Vec<String>,
    deny: Vec<String>,
    /// Per granted command: what it needs, or why that is unknown (then it could not run).
    programs: Vec<(PathBuf, Result<ProgramNeeds, String>)>,
}

fn plan(m: &Manifest, ctx: &Expansion) -> Result<Plan, Fail> {
    let expand = |field: &str, list: &[String]| -> Result<Vec<String>, Fail> {
        list.iter()
            .map(|p| path::expand(p, ctx).map_err(|e| Fail::input_msg(format!("`{field}`: {e}"))))
            .collect()
    };
    let programs: Vec<PathBuf> = m
        .commands_allowed
        .iter()
        .map(|c| PathBuf::from(c.path()))
        .collect();
    let needs = needs_each(&programs)
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()));
    Ok(Plan {
        read: expand("readPaths", &m.read_paths)?,
        write: expand("writePaths", &m.write_paths)?,
        deny: expand("denyPaths", &m.deny_paths)?,
        programs: programs.iter().cloned().zip(needs).collect(),
    })
}

pub fn run(cmd: Command) -> Outcome {
    let Command::Check {
        source,
        user,
        home,
        format,
    } = cmd;
    let features = probe();
    let loaded: Option<Manifest> = source.load()?;
    let (env_user, env_home) = io::current_user();
    let user = user.clone().unwrap_or(env_user);
    let ctx = Expansion {
        home: home.unwrap_or_else(|| {
            if source.given() {
                env_home.clone()
            } else {
                format!("/home/{user}")
            }
        }),
        user,
    };
    let planned = match &loaded {
        Some(m) => Some(plan(m, &ctx)?),
        None => None,
    };
    let missing = features.missing_required();
    match format {
        Format::Json => print_json(&features, planned.as_ref()),
        Format::Human => print_human(&features, planned.as_ref()),
    }
    Ok(if missing.is_empty() { 0 } else { CHECK_FAILED })
}

fn print_json(f: &Features, plan: Option<&Plan>) {
    let missing: Vec<&str> = f.missing_required().iter().map(|l| l.name).collect();
    let plan = plan.map(|p| {
        json!({
            "readPaths": p.read, "writePaths": p.write, "denyPaths": p.deny,
            "programs": p.programs.iter().map(|(path, r)| match r {
                Ok(needs) => json!({"path": path, "needs": needs}),
                Err(e) => json!({"path": path, "error": e}),
            }).collect::<Vec<_>>(),
        })
    });
    println!(
        "{}",
        json!({"features": f, "layers": f.layers(), "ready": missing.is_empty(), "missingRequired": missing, "plan": plan})
    );
}

fn print_human(f: &Features, plan: Option<&Plan>) {
    println!("kernel {}", f.kernel);
    match f.landlock_abi {
        Some(abi) if abi >= LANDLOCK_ABI_TARGET => println!("landlock ABI {abi}"),
        Some(abi) => println!(
            "landlock ABI {abi} (cordon uses up to {LANDLOCK_ABI_TARGET}; newer rights are not enforced here)"
        ),
        None => println!(
            "landlock unavailable: {}",
            f.landlock_unavailable.as_deref().unwrap_or("unknown")
        ),
    }
    println!(
        "running as {}",
        if f.root { "root" } else { "an ordinary user" }
    );
    println!("\nsandbox layers:");
    for l in f.layers() {
        let mark = if l.available {
            "yes "
        } else if l.required {
            "MISSING"
        } else {
            "no  "
        };
        println!(
            "  {mark:<7} {:<18} {}{}",
            l.name,
            l.enforces,
            if l.required { "" } else { " (optional)" }
        );
        if let Some(why) = &l.missing {
            println!("          {why}");
        }
    }
    let missing = f.missing_required();
    if missing.is_empty() {
        println!("\nevery required layer is available.");
    } else {
        let names: Vec<&str> = missing.iter().map(|l| l.name).collect();
        println!(
            "\nmissing required layers: {}; a sandboxed run would refuse to start here unless told to run degraded.",
            names.join(", ")
        );
    }
    let Some(p) = plan else { return };
    println!("\nfile rights the sandbox would grant:");
    let list = |title: &str, items: &[String]| {
        println!("  {title}:");
        if items.is_empty() {
            println!("    (none)");
        }
        for i in items {
            println!("    {i}");
        }
    };
    list("read", &p.read);
    list("write", &p.write);
    list("denied inside those", &p.deny);
    println!("  execute: the granted commands and their loaders; read: their libraries");
    for (path, needs) in &p.programs {
        match needs {
            Ok(n) => {
                println!(
                    "    {} → {} ({:?}{}, {} librar{})",
                    path.display(),
                    n.resolved.display(),
                    n.kind,
                    n.interpreter
                        .as_ref()
                        .map(|i| format!(" via {}", i.display()))
                        .unwrap_or_default(),
                    n.libraries.len(),
                    if n.libraries.len() == 1 { "y" } else { "ies" }
                );
                if let Some(w) = &n.widens {
                    println!("      note: {w}");
                }
            }
            Err(e) => println!("    {} → cannot start: {e}", path.display()),
        }
    }
}
