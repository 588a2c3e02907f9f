//! `cordon trust`: the trust store that `manifest verify` and every enforcement point use.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use cordon_policy::crypto;
use cordon_policy::trust::{KeyRevocation, Role, TrustStore, TrustStoreFile, format_time};

use crate::fail::{Fail, Outcome};
use crate::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(clippy::enum_variant_names, reason = "the names are the roles' names")]
pub enum RoleArg {
    /// Signs capability manifests and manifest revocation lists.
    ManifestSigner,
    /// Signs just-in-time approval tokens.
    ApprovalSigner,
    /// Signs audit log checkpoints.
    AuditSigner,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::ManifestSigner => Role::ManifestSigner,
            RoleArg::ApprovalSigner => Role::ApprovalSigner,
            RoleArg::AuditSigner => Role::AuditSigner,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty trust store.
    ///
    /// Example: `cordon trust init --out /etc/cordon/trust.json`
    Init {
        /// Where to write it.
        #[arg(long)]
        out: String,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Trust a public key for one or more roles.
    ///
    /// Example: `cordon trust add --trust trust.json --key keys/sec.pub --role manifest-signer
    /// --name security-team --not-after 2027-12-31T00:00:00Z`
    Add {
        /// The trust store to change.
        #[arg(long)]
        trust: String,
        /// The public key file (from `cordon keys generate`).
        #[arg(long)]
        key: String,
        /// What the key may sign (repeat for several).
        #[arg(long, value_enum, required = true)]
        role: Vec<RoleArg>,
        /// A name for people.
        #[arg(long)]
        name: Option<String>,
        /// Not valid before this time (RFC 3339).
        #[arg(long)]
        not_before: Option<String>,
        /// Not valid after this time (RFC 3339).
        #[arg(long)]
        not_after: Option<String>,
    },
    /// Revoke a key: nothing it signed verifies any more.
    ///
    /// Example: `cordon trust revoke-key --trust trust.json --keyid 3f2a… --reason "laptop lost"`
    RevokeKey {
        /// The trust store to change.
        #[arg(long)]
        trust: String,
        /// The key id (full, or a unique prefix of at least 8 hex digits).
        #[arg(long)]
        keyid: String,
        /// Why, for people.
        #[arg(long)]
        reason: Option<String>,
        /// When (RFC 3339); now by default.
        #[arg(long)]
        at: Option<String>,
    },
    /// Set how many distinct valid signatures a role needs (t of n).
    ///
    /// Example: `cordon trust threshold --trust trust.json --role manifest-signer --count 2`
    Threshold {
        /// The trust store to change.
        #[arg(long)]
        trust: String,
        /// The role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Signatures needed (at least 1).
        #[arg(long)]
        count: u32,
    },
    /// Check a trust store and list its keys.
    ///
    /// Example: `cordon trust show --trust trust.json`
    Show {
        /// The trust store.
        #[arg(long)]
        trust: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn load(path: &str) -> Result<TrustStoreFile, Fail> {
    let bytes = io::read(path)?;
    // Check the whole store first, so edits never start from an invalid file.
    TrustStore::parse(&bytes, path).map_err(Fail::input)?;
    serde_json::from_slice(&bytes).map_err(|e| Fail::input_msg(format!("`{path}`: {e}")))
}

fn save(path: &str, file: &TrustStoreFile) -> Result<(), Fail> {
    let json = file.to_json();
    TrustStore::parse(json.as_bytes(), path).map_err(Fail::input)?;
    io::write(path, &json)?;
    Ok(())
}

pub fn run(cmd: Command) -> Outcome {
    match cmd {
        Command::Init { out, force } => {
            io::write_file(&out, &TrustStoreFile::new().to_json(), 0o644, force)?;
            println!("created empty trust store {out}");
            println!("next: cordon trust add --trust {out} --key KEY.pub --role manifest-signer");
            Ok(0)
        }
        Command::Add {
            trust,
            key,
            role,
            name,
            not_before,
            not_after,
        } => {
            let mut file = load(&trust)?;
            let public = crypto::parse_public_key(&io::read(&key)?)
                .map_err(|e| Fail::input_msg(format!("`{key}`: {e}")))?;
            let id = crypto::key_id(&public);
            if file.keys.iter().any(|k| k.keyid == id) {
                return Err(Fail::input_msg(format!(
                    "key `{id}` is already in `{trust}`"
                )));
            }
            for t in [&not_before, &not_after].into_iter().flatten() {
                io::now_or(Some(t))?;
            }
            let mut roles: Vec<Role> = role.into_iter().map(Role::from).collect();
            roles.sort();
            roles.dedup();
            file.add_key(&public, name, roles);
            if let Some(k) = file.keys.last_mut() {
                k.not_before = not_before;
                k.not_after = not_after;
            }
            save(&trust, &file)?;
            println!("trusted key {id} in {trust}");
            Ok(0)
        }
        Command::RevokeKey {
            trust,
            keyid,
            reason,
            at,
        } => {
            let mut file = load(&trust)?;
            let at = format_time(io::now_or(at.as_deref())?);
            let matches: Vec<usize> = file
                .keys
                .iter()
                .enumerate()
                .filter(|(_, k)| keyid.len() >= 8 && k.keyid.starts_with(&keyid))
                .map(|(i, _)| i)
                .collect();
            let [index] = matches.as_slice() else {
                return Err(Fail::input_msg(if matches.is_empty() {
                    format!("no key in `{trust}` has id `{keyid}` (give at least 8 hex digits)")
                } else {
                    format!("`{keyid}` matches several keys in `{trust}`; give more digits")
                }));
            };
            let Some(k) = file.keys.get_mut(*index) else {
                return Err(Fail::input_msg("key vanished"));
            };
            if k.revoked.is_some() {
                return Err(Fail::input_msg(format!(
                    "key `{}` is already revoked",
                    k.keyid
                )));
            }
            k.revoked = Some(KeyRevocation { at, reason });
            let id = k.keyid.clone();
            save(&trust, &file)?;
            println!("revoked key {id} in {trust}");
            Ok(0)
        }
        Command::Threshold { trust, role, count } => {
            if count == 0 {
                return Err(Fail::input_msg(
                    "a threshold of 0 would accept unsigned envelopes; use 1 or more",
                ));
            }
            let mut file = load(&trust)?;
            let role = Role::from(role);
            let eligible = file
                .keys
                .iter()
                .filter(|k| k.roles.contains(&role) && k.revoked.is_none())
                .count();
            if usize::try_from(count).unwrap_or(usize::MAX) > eligible {
                eprintln!(
                    "warning: {count} signatures required but only {eligible} unrevoked `{role}` key(s) are trusted"
                );
            }
            file.thresholds.insert(role, count);
            save(&trust, &file)?;
            println!("`{role}` now needs {count} signature(s) in {trust}");
            Ok(0)
        }
        Command::Show { trust, json } => {
            let file = load(&trust)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&file).context("cannot print")?
                );
                return Ok(0);
            }
            println!("trust store {trust}: {} key(s)", file.keys.len());
            for role in [
                Role::ManifestSigner,
                Role::ApprovalSigner,
                Role::AuditSigner,
            ] {
                println!(
                    "  {role}: {} signature(s) needed",
                    file.thresholds.get(&role).copied().unwrap_or(1)
                );
            }
            for k in &file.keys {
                let roles: Vec<String> = k.roles.iter().map(ToString::to_string).collect();
                println!(
                    "  {} {} [{}] {}{}",
                    k.keyid,
                    k.name.as_deref().unwrap_or("-"),
                    roles.join(","),
                    match (&k.not_before, &k.not_after) {
                        (None, None) => String::new(),
                        (b, a) => format!(
                            "valid {} to {} ",
                            b.as_deref().unwrap_or("-"),
                            a.as_deref().unwrap_or("-")
                        ),
                    },
                    k.revoked
                        .as_ref()
                        .map(|r| format!("REVOKED at {}", r.at))
                        .unwrap_or_default()
                );
            }
            if file.keys.is_empty() {
                eprintln!("note: the store trusts no key yet, so nothing verifies");
            }
            Ok(0)
        }
    }
}
