//! `cordon ca`: the enterprise CA the egress proxy inspects TLS with.

use std::path::Path;

use crate::fail::{Fail, Outcome};
use crate::io;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a CA for TLS inspection: `<DIR>/ca.pem` (the certificate, to install in the
    /// agents' trust stores) and `<DIR>/ca.key` (mode 0600, for the proxy only).
    ///
    /// The CA may only sign server certificates (path length 0); the proxy mints one per host it
    /// inspects, valid for a day. Start the proxy with `--ca <DIR>`.
    ///
    /// Example: `cordon ca init --out /etc/cordon/ca --name "Example Corp egress inspection"`
    Init {
        /// Directory to write `ca.pem` and `ca.key` into (created if missing).
        #[arg(long)]
        out: String,
        /// The CA's common name, as users will see it in certificate details.
        #[arg(long, default_value = "cordon egress inspection CA")]
        name: String,
        /// Days the CA is valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace an existing CA in `<DIR>`.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: Command) -> Outcome {
    match cmd {
        Command::Init {
            out,
            name,
            days,
            force,
        } => {
            if days == 0 {
                return Err(Fail::input_msg("`--days` must be at least 1"));
            }
            std::fs::create_dir_all(&out)
                .map_err(|e| Fail::input_msg(format!("cannot create `{out}`: {e}")))?;
            let (cert, key) = cordon_proxy::ca::generate(&name, days)
                .map_err(|e| Fail::check_msg(format!("cannot create the CA: {e}")))?;
            let dir = Path::new(&out);
            let key_path = dir.join("ca.key").to_string_lossy().into_owned();
            let cert_path = dir.join("ca.pem").to_string_lossy().into_owned();
            io::write_private(&key_path, &key, force)
                .map_err(|e| Fail::input_msg(format!("{e:#}")))?;
            io::write_file(&cert_path, &cert, 0o644, true)
                .map_err(|e| Fail::input_msg(format!("{e:#}")))?;
            println!("wrote {cert_path} (certificate) and {key_path} (private key, mode 0600)");
            println!("trust it where agents run, e.g. on Debian:");
            println!(
                "  cp {cert_path} /usr/local/share/ca-certificates/cordon-egress.crt && update-ca-certificates"
            );
            println!("  (Python requests: REQUESTS_CA_BUNDLE; Node.js: NODE_EXTRA_CA_CERTS)");
            println!("then start the proxy with `--ca {out}`");
            Ok(0)
        }
    }
}
