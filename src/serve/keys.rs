//! API keys: which client a key belongs to and what it may do.
//!
//! The keys file has one client a line, `client scope,scope sha256-hex-of-key`; blank lines and
//! lines starting with `#` are skipped. Only the SHA-256 of each key is kept; a presented key is
//! hashed and compared with every stored digest, each comparison folding every byte, so that the
//! time taken does not depend on where a wrong key differs nor on which client it matches.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Settle claims, one or a batch.
    Settle,
    /// Reverse a settled claim.
    Reverse,
    /// Read claims and members.
    Read,
    /// Reload the policies.
    Admin,
}

impl Scope {
    fn parse(word: &str) -> Option<Scope> {
        match word {
            "settle" => Some(Scope::Settle),
            "reverse" => Some(Scope::Reverse),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Settle => "settle",
            Scope::Reverse => "reverse",
            Scope::Read => "read",
            Scope::Admin => "admin",
        })
    }
}

/// One client's key.
#[derive(Debug)]
struct Client {
    name: String,
    scopes: Vec<Scope>,
    digest: [u8; 32],
}

/// Every client's key, by digest.
#[derive(Debug, Default)]
pub struct Keys {
    clients: Vec<Client>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No key, or a key of no client.
    Unknown,
    /// The key's client lacks the scope.
    Outside { client: String },
}

impl Keys {
    /// Read a keys file; a line that cannot be read is an error naming it.
    pub fn read(path: &Path) -> Result<Keys, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        Keys::parse(&text).map_err(|e| format!("`{}`: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Keys, String> {
        let mut clients = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("line {}: {why}", n + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            let [name, scopes, hex] = words.as_slice() else {
                return Err(bad("expected `client scope,scope sha256-hex-of-key`"));
            };
            let scopes = scopes
                .split(',')
                .map(|s| Scope::parse(s).ok_or_else(|| bad(&format!("unknown scope `{s}`"))))
                .collect::<Result<Vec<_>, _>>()?;
            let digest =
                digest_of_hex(hex).ok_or_else(|| bad("the key's SHA-256 is 64 hex digits"))?;
            if clients.iter().any(|c: &Client| c.name == *name) {
                return Err(bad(&format!("client `{name}` twice")));
            }
            clients.push(Client { name: (*name).to_string(), scopes, digest });
        }
        if clients.is_empty() {
            return Err("no client".to_string());
        }
        Ok(Keys { clients })
    }

    /// The client whose key `key` is, if it has `scope`.
    pub fn allow(&self, key: Option<&str>, scope: Scope) -> Result<&str, Refusal> {
        let Some(key) = key else { return Err(Refusal::Unknown) };
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for client in &self.clients {
            // Every byte of every digest is compared: no early exit.
            let diff = client.digest.iter().zip(&presented).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(client);
            }
        }
        let client = found.ok_or(Refusal::Unknown)?;
        if client.scopes.contains(&scope) {
            Ok(&client.name)
        } else {
            Err(Refusal::Outside { client: client.name.clone() })
        }
    }
}

fn digest_of_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(key: &str) -> String {
        Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keys_are_matched_by_digest_and_scope() -> Result<(), String> {
        let text = format!(
            "# counters\nwest settle,read {}\n\nbureau admin {}\n",
            hex("west-key"),
            hex("bureau-key")
        );
        let keys = Keys::parse(&text)?;
        assert_eq!(keys.allow(Some("west-key"), Scope::Settle), Ok("west"));
        assert_eq!(keys.allow(Some("west-key"), Scope::Read), Ok("west"));
        assert_eq!(
            keys.allow(Some("west-key"), Scope::Admin),
            Err(Refusal::Outside { client: "west".into() })
        );
        assert_eq!(keys.allow(Some("bureau-key"), Scope::Admin), Ok("bureau"));
        assert_eq!(keys.allow(Some("west-kez"), Scope::Settle), Err(Refusal::Unknown));
        assert_eq!(keys.allow(None, Scope::Settle), Err(Refusal::Unknown));
        Ok(())
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, want) in [
            ("a settle", "line 1"),
            ("a settle,fly 00", "unknown scope `fly`"),
            ("a settle 00", "64 hex digits"),
            ("", "no client"),
        ] {
            let got = Keys::parse(text).err().unwrap_or_default();
            assert!(got.contains(want), "{text}: {got:?}");
        }
    }
}
