//! Deterministic benchmark corpora, shared by the criterion bench and the `corpus` example that
//! writes files for the whole-program comparison (`bench/dlp.sh`).

/// A small deterministic generator (xorshift64*), so every run scans the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = (self.next() % items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = (self.next() % alphabet.len() as u64) as usize;
                alphabet.get(i).map_or('x', |&b| char::from(b))
            })
            .collect()
    }
}

/// Prose and code that use the words scanners key on — token, key, secret, password, card,
/// ssn, credential, bearer, auth, `@` — without any value a scanner should report.
const CLEAN: &[&str] = &[
    "The API key is stored in the vault and never written to disk.",
    "Rotate the access token every hour; the refresh token lasts a day.",
    "let token = tokenizer.next_token();",
    "password = get_password_from_keyring(user)",
    "if key in cache: return cache[key]",
    "secret_name = config.secret_ref",
    "The card reader accepts chip and contactless payments.",
    "Enter the last four digits of your SSN when asked.",
    "@property\ndef credentials(self): return self._credentials",
    "Authorization uses a bearer token obtained from the identity provider.",
    "See https://docs.rs/regex-automata/latest for details on the key APIs.",
    "for (key, value) in map.iter() { println!(\"{key}: {value}\"); }",
    "In 2026 the team shipped 14 releases and fixed 312 issues.",
    "auth_method: oauth2 # the password grant is disabled",
    "Keys are Ed25519; the public key is published, the private key stays in the HSM.",
    "const TOKEN_TTL_SECONDS: u64 = 900;",
    "user_email = request.form.get('email')",
    "The secret to good documentation is writing for the reader.",
    "cache_key = f\"{tenant}:{resource}:{version}\"",
    "def validate_card(number): return luhn(number) and issuer_ok(number)",
];

/// Clean text of about `len` bytes.
pub fn clean(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(len + 256);
    while out.len() < len {
        out.push_str(rng.pick(CLEAN));
        out.push(if rng.next().is_multiple_of(4) {
            '\n'
        } else {
            ' '
        });
    }
    out.into_bytes()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn luhn_complete(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while digits.len() < len - 1 {
        digits.push((rng.next() % 10) as u32);
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

/// Text of about `len` bytes with a finding every couple of hundred bytes: credentials, card
/// numbers, e-mail addresses, IBANs and social security numbers among clean lines.
pub fn dense(len: usize) -> Vec<u8> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut out = String::with_capacity(len + 256);
    while out.len() < len {
        out.push_str(rng.pick(CLEAN));
        out.push('\n');
        let line = match rng.next() % 6 {
            0 => format!("aws_access_key_id = AKIA{}", rng.chars(UPPER32, 16)),
            1 => format!("api_key = \"{}9\"", rng.chars(ALNUM, 23)),
            2 => format!("card {}", luhn_complete(&mut rng, "4", 16)),
            3 => format!(
                "mail {}.{}@acme-corp.com",
                rng.chars(b"abcdefghij", 5),
                rng.chars(b"klmnopqrst", 6)
            ),
            4 => "IBAN DE89 3704 0044 0532 0130 00".to_owned(),
            _ => format!(
                "SSN 5{:02}-{:02}-{:04}",
                rng.next() % 90 + 10,
                rng.next() % 90 + 10,
                rng.next() % 9000 + 1000
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}
