//! Signed checkpoints (SPEC A-2): what anchors the hash chain against someone who can rewrite
//! the whole file.
//!
//! A checkpoint is a record of the chain whose event is `{"checkpoint":{…}}`: it names the
//! record before it (`seq`, `hash`), the time it was made, the signing key's id (`key`) and an
//! Ed25519 signature (`sig`) over [`message`]. Whoever rewrites records before a checkpoint
//! must sign again, which needs a key in the trust store's `audit-signer` role. The writer also
//! keeps the latest checkpoint beside the segments (`checkpoint.json`): a log that ends before
//! that checkpoint's record was truncated, and one whose record differs was rewritten.
//!
//! This module signs through a [`Signer`] and checks signatures through a closure: the keys and
//! the trust store are the caller's.

use serde_json::{Value, json};

use crate::verify::{Problem, Report, Tampering};

/// What every checkpoint signature covers first, so that it can mean nothing else.
pub const DOMAIN: &str = "cordon-audit-checkpoint/v1";

/// The file beside the segments that holds the latest checkpoint.
pub const LATEST: &str = "checkpoint.json";

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number of the record it covers (the one before the checkpoint's own).
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
    /// When it was made (RFC 3339).
    pub time: String,
    /// The signing key's id.
    pub key: String,
    /// The signature over [`message`], base64.
    pub sig: String,
}

/// The bytes a checkpoint's signature covers.
pub fn message(seq: u64, hash: &str, time: &str) -> Vec<u8> {
    format!("{DOMAIN}\n{seq}\n{hash}\n{time}\n").into_bytes()
}

/// Signs checkpoints.
pub trait Signer: Send {
    /// The key's id, as the trust store lists it.
    fn key_id(&self) -> &str;
    /// The signature over `message`, base64.
    fn sign(&self, message: &[u8]) -> String;
}

impl Checkpoint {
    /// A checkpoint of the record `seq` with `hash`, signed now.
    pub fn sign(seq: u64, hash: &str, time: &str, signer: &dyn Signer) -> Self {
        Self {
            seq,
            hash: hash.to_owned(),
            time: time.to_owned(),
            key: signer.key_id().to_owned(),
            sig: signer.sign(&message(seq, hash, time)),
        }
    }

    /// The bytes its signature covers.
    pub fn message(&self) -> Vec<u8> {
        message(self.seq, &self.hash, &self.time)
    }

    /// The checkpoint's fields, as the record's event holds them and `checkpoint.json` does.
    pub fn to_value(&self) -> Value {
        json!({"seq": self.seq, "hash": self.hash, "time": self.time, "key": self.key, "sig": self.sig})
    }

    /// The record event: `{"checkpoint": {…}}`.
    pub fn to_event(&self) -> Value {
        json!({ "checkpoint": self.to_value() })
    }

    /// The checkpoint a record event holds: `None` when the event is not one (it has other
    /// members than `checkpoint`), an error when it is one but malformed.
    pub fn from_event(event: &Value) -> Option<Result<Self, String>> {
        let obj = event.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        obj.get("checkpoint").map(Self::from_value)
    }

    /// A checkpoint from its fields.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("a checkpoint's `{k}` is missing or not a string"))
        };
        Ok(Self {
            seq: v
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or("a checkpoint's `seq` is missing or not a number")?,
            hash: text("hash")?,
            time: text("time")?,
            key: text("key")?,
            sig: text("sig")?,
        })
    }
}

/// What the checkpoints of a verified chain anchor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchors {
    /// Checkpoint records whose signature verified.
    pub checkpoints: u64,
    /// The last record a verified checkpoint covers (records up to it cannot be rewritten
    /// without the signing key).
    pub through: Option<u64>,
    /// The key and time of the last verified checkpoint.
    pub last: Option<Checkpoint>,
    /// The first problem.
    pub problem: Option<Problem>,
}

/// Check the checkpoints of `lines`, whose hash chain `chain` already verified (only the
/// records it verified are looked at), and the `latest` checkpoint the writer kept beside the
/// log. `check_sig` says whether a checkpoint's signature is valid (and why not).
pub fn anchors(
    lines: &[&str],
    chain: &Report,
    start: u64,
    latest: Option<&Checkpoint>,
    check_sig: &dyn Fn(&Checkpoint) -> Result<(), String>,
) -> Anchors {
    let mut check = AnchorCheck::new(latest, check_sig);
    let verified = usize::try_from(chain.records).unwrap_or(usize::MAX);
    for (i, line) in lines.iter().take(verified).enumerate() {
        check.see(i + 1, line);
    }
    check.finish(chain, start)
}

/// The checks of [`anchors`] made a verified record at a time, as a log is read in parts.
pub struct AnchorCheck<'a> {
    latest: Option<&'a Checkpoint>,
    check_sig: &'a dyn Fn(&Checkpoint) -> Result<(), String>,
    out: Anchors,
    found_latest: bool,
    /// Records seen.
    seen: u64,
}

impl std::fmt::Debug for AnchorCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorCheck")
            .field("out", &self.out)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<'a> AnchorCheck<'a> {
    /// Checks against the `latest` checkpoint kept beside the log, with `check_sig` saying
    /// whether a checkpoint's signature is valid (and why not).
    pub fn new(
        latest: Option<&'a Checkpoint>,
        check_sig: &'a dyn Fn(&Checkpoint) -> Result<(), String>,
    ) -> Self {
        Self {
            latest,
            check_sig,
            out: Anchors::default(),
            found_latest: false,
            seen: 0,
        }
    }

    /// The next verified record: its line number (from 1) and text.
    pub fn see(&mut self, line: usize, text: &str) {
        self.seen += 1;
        // Only the writer's layout is looked into: `{"event":{"checkpoint":…`.
        if self.out.problem.is_some() || !text.starts_with("{\"event\":{\"checkpoint\":") {
            return;
        }
        let record: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.fail(line, None, Tampering::Malformed(e.to_string())),
        };
        let seq = record.get("seq").and_then(Value::as_u64);
        let cp = match record.get("event").and_then(Checkpoint::from_event) {
            Some(Ok(cp)) => cp,
            Some(Err(why)) => return self.fail(line, seq, Tampering::Malformed(why)),
            None => return,
        };
        let prev = record.get("prev").and_then(Value::as_str);
        if seq.is_none_or(|s| s == 0 || cp.seq != s - 1) || prev != Some(cp.hash.as_str()) {
            let why = "it does not name the record before it".into();
            return self.fail(line, seq, Tampering::ForgedCheckpoint(why));
        }
        if let Err(why) = (self.check_sig)(&cp) {
            return self.fail(line, seq, Tampering::ForgedCheckpoint(why));
        }
        if let Some(l) = self.latest
            && l.seq == cp.seq
        {
            if *l != cp {
                let why = format!("it differs from the latest checkpoint kept in `{LATEST}`");
                return self.fail(line, seq, Tampering::ForgedCheckpoint(why));
            }
            self.found_latest = true;
        }
        self.out.checkpoints += 1;
        self.out.through = Some(cp.seq);
        self.out.last = Some(cp);
    }

    fn fail(&mut self, line: usize, seq: Option<u64>, kind: Tampering) {
        self.out.problem = Some(Problem { line, seq, kind });
    }

    /// What the checkpoints anchor, once the chain's report `chain` is known and the log
    /// starts at record `start`.
    pub fn finish(mut self, chain: &Report, start: u64) -> Anchors {
        if chain.records < self.seen {
            // Records seen as verified turned out not to be (nothing accounted for where the
            // log starts): none were.
            self.out = Anchors::default();
            self.found_latest = false;
        }
        let out = &mut self.out;
        if out.problem.is_some() {
            return self.out;
        }
        if let Some(l) = self.latest
            && !self.found_latest
        {
            // Counted from record 0, including any that retention removed.
            let records = start.saturating_add(chain.records);
            let kind = match (self.check_sig)(l) {
                Err(why) => Tampering::ForgedCheckpoint(format!("`{LATEST}`: {why}")),
                // The checkpoint's own record is `l.seq + 1`: a log without it lost its end.
                Ok(()) if records <= l.seq.saturating_add(1) && chain.problem.is_none() => {
                    Tampering::Truncated {
                        records,
                        signed: l.seq.saturating_add(2),
                    }
                }
                Ok(()) => Tampering::ForgedCheckpoint(format!(
                    "the log's record {} is not the checkpoint `{LATEST}` holds (rewritten)",
                    l.seq.saturating_add(1)
                )),
            };
            out.problem = Some(Problem {
                line: usize::try_from(
                    chain
                        .records
                        .min(l.seq.saturating_add(1).saturating_sub(start)),
                )
                .unwrap_or(usize::MAX)
                .saturating_add(1),
                seq: Some(l.seq.saturating_add(1)),
                kind,
            });
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::verify::verify;

    struct Fake;
    impl Signer for Fake {
        fn key_id(&self) -> &str {
            "k1"
        }
        fn sign(&self, message: &[u8]) -> String {
            format!("sig:{}", message.len())
        }
    }

    fn good(cp: &Checkpoint) -> Result<(), String> {
        if cp.key == "k1" && cp.sig == format!("sig:{}", cp.message().len()) {
            Ok(())
        } else {
            Err("bad signature".into())
        }
    }

    /// 10 records with a checkpoint after record 4 (at 5) and after record 9 (at 10).
    fn log() -> (Vec<String>, Checkpoint) {
        let mut c = Chain::new();
        let mut lines = Vec::new();
        let mut latest = None;
        for i in 0..10 {
            lines.push(c.seal("t", json!({"n": i})).line);
            if i == 4 || i == 9 {
                let cp = Checkpoint::sign(c.next_seq() - 1, c.prev(), "t", &Fake);
                lines.push(c.seal("t", cp.to_event()).line);
                latest = Some(cp);
            }
        }
        (lines, latest.unwrap())
    }

    fn run(lines: &[String], latest: Option<&Checkpoint>) -> Anchors {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let chain = verify(refs.iter().copied());
        anchors(&refs, &chain, 0, latest, &good)
    }

    #[test]
    fn checkpoints_anchor_the_chain() {
        let (lines, latest) = log();
        let a = run(&lines, Some(&latest));
        assert_eq!((a.checkpoints, a.through, a.problem), (2, Some(10), None));
    }

    #[test]
    fn truncation_after_a_checkpoint_is_named() {
        let (mut lines, latest) = log();
        // Cut the last checkpoint and what follows the first one.
        lines.truncate(8);
        let p = run(&lines, Some(&latest)).problem.unwrap();
        assert_eq!(
            p.kind,
            Tampering::Truncated {
                records: 8,
                signed: 12
            }
        );
    }

    #[test]
    fn a_rewritten_chain_fails_its_checkpoints() {
        let (lines, latest) = log();
        // Rewrite everything from record 2 on and re-seal: the chain verifies, the checkpoint
        // signatures do not cover it.
        let mut c = Chain::new();
        let mut forged = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if i == 2 {
                v["event"]["n"] = json!(99);
            }
            let event = v["event"].clone();
            let event = match Checkpoint::from_event(&event) {
                // The forger re-points the checkpoint but cannot sign it.
                Some(Ok(mut cp)) => {
                    cp.hash = c.prev().to_owned();
                    cp.to_event()
                }
                _ => event,
            };
            forged.push(c.seal("t", event).line);
        }
        let a = run(&forged, Some(&latest));
        assert!(
            matches!(a.problem.unwrap().kind, Tampering::ForgedCheckpoint(_)),
            "forged checkpoint went unnoticed"
        );
        // Without checkpoint records at all, the kept latest one still tells.
        let plain: Vec<String> = {
            let mut c = Chain::new();
            (0..12).map(|i| c.seal("t", json!({"n": i})).line).collect()
        };
        let a = run(&plain, Some(&latest));
        assert!(matches!(
            a.problem.unwrap().kind,
            Tampering::ForgedCheckpoint(_)
        ));
    }
}
