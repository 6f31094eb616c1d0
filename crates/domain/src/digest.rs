//! The SHA-256 digest behind content hashes and match keys.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `parts`, each prefixed with its length in bytes (a 64-bit
/// big-endian integer), so no two different part lists share an input.
pub(crate) fn length_prefixed_sha256<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_length_prefixed_parts_in_hex() {
        // SHA-256 of no input at all.
        assert_eq!(
            length_prefixed_sha256([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The length prefix keeps part boundaries apart.
        assert_ne!(
            length_prefixed_sha256(["ab", "c"]),
            length_prefixed_sha256(["a", "bc"])
        );
    }
}
