//! The most common passwords, refused besides the length rule: the 99,838 passwords of the
//! `passwords` crate's table (MIT; see `scripts/common-passwords`), shipped in the binary
//! zlib-compressed (272 KB) and inflated on first use (about 1 MB, kept for the process).

use std::sync::LazyLock;

static COMPRESSED: &[u8] = include_bytes!("../data/common-passwords.zlib");

/// Sorted, one entry per password.
static LIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let text = match miniz_oxide::inflate::decompress_to_vec_zlib(COMPRESSED) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            // Shipped in the binary and inflated by a test: only a broken build gets here.
            tracing::error!(error = ?e, "the list of common passwords cannot be read; none is refused");
            String::new()
        }
    };
    // Kept for the life of the process (the list is read on every registration).
    let text: &'static str = Box::leak(text.into_boxed_str());
    let mut list: Vec<&'static str> = text.lines().filter(|p| !p.is_empty()).collect();
    list.sort_unstable();
    list
});

/// Whether `password`, or its lower-case form, is on the list.
pub fn is_common(password: &str) -> bool {
    let found = |p: &str| LIST.binary_search(&p).is_ok();
    found(password) || found(&password.to_lowercase())
}

/// How many passwords the list holds.
pub fn len() -> usize {
    LIST.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_holds_the_common_passwords() {
        assert_eq!(len(), 99_838);
        for common in [
            "password",
            "12345678",
            "iloveyou",
            "qwertyuiop",
            "Password1",
            "LETMEIN",
            "trustno1",
        ] {
            assert!(is_common(common), "{common}");
        }
        for fine in ["correct horse battery", "plansmith-unusual-9x!", "right password"] {
            assert!(!is_common(fine), "{fine}");
        }
    }
}
