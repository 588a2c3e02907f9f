//! `cordon keys`: Ed25519 key pairs.

use anyhow::Context;
use clap::Subcommand;
use cordon_policy::crypto;

use crate::fail::Outcome;
use crate::io;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key pair: `<OUT>.key` (private, mode 0600) and `<OUT>.pub`.
    ///
    /// The key id printed is the hex SHA-256 of the public key; trust stores and signatures
    /// name keys by it.
    ///
    /// Example: `cordon keys generate --out keys/security-team`
    Generate {
        /// Path prefix of the two files to write.
        #[arg(long, value_name = "PREFIX")]
        out: String,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the key id of a public (or private) key file.
    ///
    /// Example: `cordon keys id keys/security-team.pub`
    Id {
        /// The key file.
        file: String,
    },
}

/// A new key from the operating system's random source.
pub fn generate_key() -> anyhow::Result<crypto::SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("cannot get random bytes: {e}"))?;
    let key = crypto::signing_key_from_seed(&seed);
    seed.fill(0);
    Ok(key)
}

/// Write a new key pair `<out>.key` and `<out>.pub`; returns the key and both paths.
pub fn write_pair(out: &str, force: bool) -> anyhow::Result<(crypto::SigningKey, String, String)> {
    let key = generate_key()?;
    let private = format!("{out}.key");
    let public = format!("{out}.pub");
    if let Some(dir) = std::path::Path::new(out)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    io::write_private(&private, &crypto::private_key_file(&key), force)?;
    io::write_file(
        &public,
        &crypto::public_key_file(&key.verifying_key()),
        0o644,
        force,
    )?;
    Ok((key, private, public))
}

pub fn run(cmd: Command) -> Outcome {
    match cmd {
        Command::Generate { out, force, json } => {
            let (key, private, public) = write_pair(&out, force)?;
            let id = crypto::key_id(&key.verifying_key());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"keyid": id, "private": private, "public": public})
                );
            } else {
                println!("generated key {id}");
                println!("  private: {private} (keep it secret; mode 0600)");
                println!("  public:  {public}");
                println!(
                    "next: cordon trust add --trust trust.json --key {public} --role manifest-signer"
                );
            }
            Ok(0)
        }
        Command::Id { file } => {
            let key = crypto::parse_public_key(&io::read(&file)?)
                .map_err(|e| anyhow::anyhow!("`{file}`: {e}"))?;
            println!("{}", crypto::key_id(&key));
            Ok(0)
        }
    }
}
