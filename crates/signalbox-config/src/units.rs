//! Human-friendly quantities in config: byte sizes ("1MiB") and durations ("30s").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A number of bytes. In YAML: an integer (bytes) or a string such as `"512KiB"`, `"1MiB"`,
/// `"2MB"` or `"10kb"`.
///
/// Units are case-insensitive: `b`, `kb`/`mb`/`gb`/`tb` are powers of 1000 and
/// `kib`/`mib`/`gib`/`tib` powers of 1024, so `"10kb"` is 10 000 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// One kibibyte (1024 bytes).
    pub const KIB: u64 = 1024;
    /// One mebibyte.
    pub const MIB: u64 = 1024 * 1024;

    /// The size in bytes.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Why a byte size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid byte size \"{input}\": {reason}; use e.g. 1048576, \"512KiB\", \"1MiB\" or \"2MB\""
)]
pub struct ByteSizeError {
    input: String,
    reason: &'static str,
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason| ByteSizeError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        if digits.is_empty() {
            return Err(error("expected a number first"));
        }
        let number: u64 = digits.parse().map_err(|_| error("number is too large"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "mb" => 1000_u64.pow(2),
            "gb" => 1000_u64.pow(3),
            "tb" => 1000_u64.pow(4),
            "kib" => 1024,
            "mib" => 1024_u64.pow(2),
            "gib" => 1024_u64.pow(3),
            "tib" => 1024_u64.pow(4),
            _ => {
                return Err(error(
                    "unknown unit (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
                ));
            }
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| error("size is too large"))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, so it parses back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, size) in UNITS {
            if self.0 != 0 && self.0.is_multiple_of(size) {
                return write!(f, "{}{name}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByteSizeVisitor;

        impl Visitor<'_> for ByteSizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size such as 1048576, \"512KiB\" or \"1MiB\"")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ByteSize, E> {
                u64::try_from(value)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ByteSize, E> {
                value.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(ByteSizeVisitor)
    }
}

/// `#[serde(with = "duration")]` for `std::time::Duration` written as humantime strings.
pub(crate) mod duration {
    use super::*;

    /// Parses "24h", "90s", "500ms", "1h 30m"; a bare number is refused because its unit would be
    /// a guess.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"500ms\" or \"24h\"")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
                humantime::parse_duration(value.trim()).map_err(|error| {
                    E::custom(format_args!(
                        "invalid duration \"{value}\": {error}; use e.g. \"30s\", \"500ms\" or \"24h\""
                    ))
                })
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_with_decimal_and_binary_units() {
        let cases = [
            ("0", 0),
            ("1024", 1024),
            ("512KiB", 512 * 1024),
            ("1MiB", 1024 * 1024),
            ("2MB", 2_000_000),
            ("10kb", 10_000),
            ("10 KB", 10_000),
            ("3gib", 3 << 30),
            ("7B", 7),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn byte_sizes_reject_garbage() {
        for text in ["", "MiB", "1.5MiB", "12 parsecs", "-1", "99999999999TiB"] {
            assert!(text.parse::<ByteSize>().is_err(), "{text}");
        }
        let message = "1 furlong".parse::<ByteSize>().unwrap_err().to_string();
        assert!(message.contains("unknown unit"), "{message}");
    }

    #[test]
    fn byte_size_display_round_trips() {
        for bytes in [0, 1, 1000, 1024, 1536, 1 << 20, 5 << 30, 1 << 40] {
            let shown = ByteSize(bytes).to_string();
            assert_eq!(shown.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{shown}");
        }
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }
}
