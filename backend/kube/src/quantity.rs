//! Kubernetes quantities, parsed as the API server parses them (`resource.ParseQuantity` in
//! k8s.io/apimachinery): at most one sign, digits with an optional fraction, then a suffix —
//! decimal SI (`n u m k M G T P E`, or none), binary SI (`Ki Mi Gi Ti Pi Ei`) or a decimal
//! exponent (`e3`, `E-2`). Anything else (`--1`, `1GB`, `5 Gi`, `0x10`) is refused.
//!
//! The value is kept exactly, in nano-units, rounded up to the nano like the server rounds.
//! Millicores and whole units round up as `MilliValue()` and `Value()` do. Every part of
//! Berth that reads a quantity — request specs, node inventory, capacity, the drift check —
//! reads it through this type, so they never disagree about what a quantity is.

use std::fmt;

/// A parsed quantity: an exact number of nano-units (1e-9 of a core, of a byte, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a quantity Berth can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    Empty,
    /// Not the Kubernetes grammar (a second sign, a space, letters in the number, …).
    Format,
    /// A suffix the grammar does not have (`GB`, `mi`, `K`).
    Suffix,
    /// Beyond what any quota means (more than 2^63 units, or more than 19 significant
    /// digits); the server would keep it, Berth refuses it.
    OutOfRange,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityError::Empty => "is required",
            QuantityError::Format => {
                "is not a Kubernetes quantity: a number with at most one sign, then a suffix (e.g. 500m, 2, 1.5Gi)"
            }
            QuantityError::Suffix => {
                "has an unknown suffix: use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent like e3"
            }
            QuantityError::OutOfRange => "is out of range",
        })
    }
}

impl std::error::Error for QuantityError {}

const NANO: i128 = 1_000_000_000;
/// The largest magnitude kept: 2^63 − 1 units, what the server's int64 values can hold.
const MAX_NANOS: i128 = i64::MAX as i128 * NANO;

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses `raw` exactly as written: no trimming (the server does none).
    pub fn parse(raw: &str) -> Result<Quantity, QuantityError> {
        let s = raw.as_bytes();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let mut pos = 0;
        let negative = match s[0] {
            b'-' => {
                pos = 1;
                true
            }
            b'+' => {
                pos = 1;
                false
            }
            _ => false,
        };
        let digits = |from: usize| s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let whole = &raw[pos..pos + digits(pos)];
        pos += whole.len();
        let mut fraction = "";
        if s.get(pos) == Some(&b'.') {
            pos += 1;
            fraction = &raw[pos..pos + digits(pos)];
            pos += fraction.len();
        }
        // The server takes "+", "." or "m" alone as zero; Berth wants a number.
        if whole.is_empty() && fraction.is_empty() {
            return Err(QuantityError::Format);
        }
        // The suffix: letters of the suffix alphabet, then an exponent's sign and digits.
        let suffix_start = pos;
        pos += s[pos..]
            .iter()
            .take_while(|b| b"eEinumkKMGTP".contains(b))
            .count();
        if matches!(s.get(pos), Some(b'-' | b'+')) {
            pos += 1;
        }
        pos += digits(pos);
        if pos != s.len() {
            return Err(QuantityError::Format);
        }
        let (exp10, exp2) = interpret(&raw[suffix_start..])?;

        // digits × 10^exp10 × 2^exp2, with the fraction folded into the exponent.
        let all = format!("{whole}{fraction}");
        let trimmed = all.trim_start_matches('0');
        let significant = trimmed.trim_end_matches('0');
        if significant.is_empty() {
            return Ok(Quantity::ZERO);
        }
        if significant.len() > 19 {
            return Err(QuantityError::OutOfRange);
        }
        let mantissa: i128 = significant.parse().map_err(|_| QuantityError::Format)?;
        let trailing_zeros = (trimmed.len() - significant.len()) as i64;
        // In nano-units: 10^9 more.
        let scale = exp10 - fraction.len() as i64 + trailing_zeros + 9;
        let value = mantissa << exp2; // < 10^19 × 2^60: fits
        let nanos = if scale >= 0 {
            u32::try_from(scale)
                .ok()
                .and_then(pow10)
                .and_then(|p| value.checked_mul(p))
                .ok_or(QuantityError::OutOfRange)?
        } else {
            // Rounded up to the nano, as the server rounds.
            match u32::try_from(-scale).ok().and_then(pow10) {
                Some(p) => (value + p - 1) / p,
                None => 1,
            }
        };
        if nanos > MAX_NANOS {
            return Err(QuantityError::OutOfRange);
        }
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    pub fn from_units(units: i64) -> Quantity {
        Quantity {
            nanos: i128::from(units) * NANO,
        }
    }

    pub fn from_millis(millis: i64) -> Quantity {
        Quantity {
            nanos: i128::from(millis) * 1_000_000,
        }
    }

    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// Whole thousandths, rounded up (the server's `MilliValue()`): millicores of CPU.
    pub fn millis(self) -> i64 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// Whole units, rounded up (the server's `Value()`): bytes, pods, GPUs.
    pub fn units(self) -> i64 {
        ceil_div(self.nanos, NANO)
    }

    /// Whether it is a whole number of units (what integer resources such as `pods` need).
    pub fn is_whole(self) -> bool {
        self.nanos % NANO == 0
    }

    /// In units, for arithmetic that may lose the last digits (ratios, charts).
    pub fn as_f64(self) -> f64 {
        self.nanos as f64 / NANO as f64
    }
}

fn ceil_div(n: i128, d: i128) -> i64 {
    let q = n.div_euclid(d) + i128::from(n.rem_euclid(d) != 0);
    q.clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// (power of ten, power of two) of a suffix, as the server's suffixer reads it.
fn interpret(suffix: &str) -> Result<(i64, u32), QuantityError> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Ok((e, 0));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = binary {
        return Ok((0, e));
    }
    match suffix.as_bytes() {
        [b'e' | b'E', rest @ ..] if !rest.is_empty() => {
            let exp: i64 = suffix[1..].parse().map_err(|_| QuantityError::Suffix)?;
            // Beyond this every value is out of range or rounds to one nano.
            Ok((exp.clamp(-100, 100), 0))
        }
        _ => Err(QuantityError::Suffix),
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

/// Two quantities written differently mean the same (`0.5` and `500m`; `1Gi` and
/// `1073741824`): how the drift check compares what it applied with what the server returns.
pub fn same(a: &str, b: &str) -> bool {
    matches!((Quantity::parse(a), Quantity::parse(b)), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn the_kubernetes_grammar_and_nothing_else() {
        assert_eq!(q("500m").millis(), 500);
        assert_eq!(q("0.5").millis(), 500);
        assert_eq!(q(".5").millis(), 500);
        assert_eq!(q("5.").units(), 5);
        assert_eq!(q("+1").units(), 1);
        assert_eq!(q("2").millis(), 2000);
        assert_eq!(q("1e3").units(), 1000);
        assert_eq!(q("1E3").units(), 1000);
        assert_eq!(q("1e-3").millis(), 1);
        assert_eq!(q("1k").units(), 1000);
        assert_eq!(q("1M").units(), 1_000_000);
        assert_eq!(q("1E").units(), 1_000_000_000_000_000_000);
        assert_eq!(q("1Ki").units(), 1024);
        assert_eq!(q("1.5Ki").units(), 1536);
        assert_eq!(q("1Gi").units(), 1 << 30);
        assert_eq!(q("100n").millis(), 1, "rounds up");
        assert_eq!(q("10u").millis(), 1);
        assert_eq!(q("0.0001").millis(), 1, "sub-millicore CPU rounds up");
        assert_eq!(q("1e-20"), q("1n"), "below a nano rounds up to one");
        assert_eq!(q("000250m"), q("0.25"));
        assert_eq!(
            q("1000000000000000000000m").units(),
            1_000_000_000_000_000_000
        );
        assert!(q("-1").is_negative());
        assert_eq!(q("0"), Quantity::ZERO);
        assert!(!q("1.5").is_whole() && q("3").is_whole());
        for bad in [
            "", "--1", "-+1", "+-1", "1.2.3", "5 Gi", " 1", "1 ", "1GB", "1gi", "1K", "1mi",
            "0x10", "abc", "1e", "1e1.5", "Gi", "+", ".", "1Gi1", "e3", "1..0",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Quantity::parse("1e30"), Err(QuantityError::OutOfRange));
        assert_eq!(Quantity::parse("9Ei"), Err(QuantityError::OutOfRange));
        assert_eq!(
            Quantity::parse("1.00000000000000000001"),
            Err(QuantityError::OutOfRange)
        );
    }

    #[test]
    fn quantities_written_differently_are_the_same() {
        assert!(same("0.5", "500m"));
        assert!(same("1Gi", "1073741824"));
        assert!(same("1k", "1e3"));
        assert!(!same("1k", "1Ki"));
        assert!(!same("--1", "--1"), "not a quantity is never the same");
    }
}
