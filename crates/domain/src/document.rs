//! Documents: Markdown per section, hashed for integrity.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Who made a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Ai,
    User,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ai => "ai",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ai" => Self::Ai,
            "user" => Self::User,
            _ => return None,
        })
    }
}

/// A document's revision number: revision 0 is the empty document and every change (an
/// edit, a reply's updates, a restore) makes the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub i64);

impl Revision {
    /// The empty document every document starts as.
    pub const EMPTY: Self = Self(0);

    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The content of one document revision: section id → Markdown. Sections without an entry
/// (or with blank Markdown) are empty. The canonical serialisation (sorted keys, compact JSON)
/// is what gets stored and hashed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentContent(pub BTreeMap<String, String>);

impl DocumentContent {
    pub fn section(&self, id: &str) -> &str {
        self.0.get(id).map(String::as_str).unwrap_or("")
    }

    pub fn set(&mut self, id: &str, markdown: &str) {
        if markdown.trim().is_empty() {
            self.0.remove(id);
        } else {
            self.0.insert(id.to_owned(), markdown.to_owned());
        }
    }

    /// Number of sections that have content.
    pub fn filled(&self) -> usize {
        self.0.values().filter(|v| !v.trim().is_empty()).count()
    }

    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a map of strings always serialises")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json).map(Self)
    }

    pub fn hash(&self) -> String {
        content_hash(&self.to_canonical_json())
    }
}

/// Lower-case hex SHA-256 of the given text.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_sections_are_empty_and_hash_is_canonical() {
        let mut a = DocumentContent::default();
        a.set("b", "two");
        a.set("a", "one");
        a.set("c", "   ");
        assert_eq!(a.filled(), 2);
        assert_eq!(a.to_canonical_json(), r#"{"a":"one","b":"two"}"#);
        let b = DocumentContent::from_json(&a.to_canonical_json()).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(content_hash("").len(), 64);
    }
}
