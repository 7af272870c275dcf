//! Floats written the way the reference's Python writes them.
//!
//! The reference's report files are compared byte for byte, so numbers must come out exactly as
//! Python/numpy print them:
//!
//! * [`python_repr`]: `repr(float)` / `str(float)` in Python 3, which is also what numpy prints for a
//!   `float64` converted to text (`np.savetxt(..., fmt='%s')` on a string array, Dragon4 shortest).
//!   Shortest round-trip digits; positional notation when the decimal exponent is in `-4..16`,
//!   otherwise scientific with a signed, at least two-digit exponent (`1e-05`, `1.5e+300`);
//!   integral values keep `.0`; `nan`, `inf`, `-inf`; negative zero is `-0.0`.
//!   Rust's `{}` differs (`2` vs `2.0`, `0.00001` vs `1e-05`), hence this module.
//! * [`python_round`]: Python's `round(x, n)`: correctly rounded (ties to even on the exact binary
//!   value), which is what Rust's exact `{:.n}` formatting does too.
//! * [`numpy_round`]: `np.around(x, n)`, which is *not* correctly rounded: it computes
//!   `rint(x * 10^n) / 10^n` in float64.

/// Python's `repr(x)` for a float64 (identical to numpy's text form of a `float64`).
pub fn python_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".to_string() } else { "-inf".to_string() };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-5", "2e0", "-0e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    if (-4..16).contains(&exp) {
        // Positional: the decimal point sits after digit `exp + 1`.
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point >= n {
            format!("{}{}.0", digits, "0".repeat((point - n) as usize))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let mant = if n == 1 { digits } else { format!("{}.{}", &digits[..1], &digits[1..]) };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

/// Python's `round(x, ndigits)` for `ndigits >= 0`: the float nearest to the correctly rounded
/// decimal (ties to even on the exact binary value).
pub fn python_round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Rust's fixed-precision formatting is exact (ties to even), the same as CPython's dtoa mode 3.
    format!("{x:.ndigits$}").parse().expect("a formatted finite float parses back")
}

/// numpy's `np.around(x, decimals)` for float64 and `decimals >= 0`: `rint(x·10^d) / 10^d`.
pub fn numpy_round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round_ties_even() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, Python `repr(value)`, Python `repr(round(value, 6))`), produced with CPython 3 by
    /// `print(repr(v), repr(round(v, 6)))`.
    const PYTHON_TABLE: &[(f64, &str, &str)] = &[
        (0.8, "0.8", "0.8"),
        (1e-05, "1e-05", "1e-05"),
        (0.0001, "0.0001", "0.0001"),
        (0.00012345, "0.00012345", "0.000123"),
        (9.900000000000001e-05, "9.900000000000001e-05", "9.9e-05"),
        (123456.0, "123456.0", "123456.0"),
        (1e16, "1e+16", "1e+16"),
        (1e15, "1000000000000000.0", "1000000000000000.0"),
        (1.0, "1.0", "1.0"),
        (2.0, "2.0", "2.0"),
        (-0.0, "-0.0", "-0.0"),
        (0.0, "0.0", "0.0"),
        (0.1424, "0.1424", "0.1424"),
        (1.0 / 3.0, "0.3333333333333333", "0.333333"),
        (6.666666666666665e-08, "6.666666666666665e-08", "0.0"),
        (123456789.123, "123456789.123", "123456789.123"),
        (1.5e300, "1.5e+300", "1.5e+300"),
        (-2.5e-10, "-2.5e-10", "-0.0"),
        (5e-324, "5e-324", "0.0"),
        (0.05, "0.05", "0.05"),
        (1.9998, "1.9998", "1.9998"),
        (9999999999999998.0, "9999999999999998.0", "9999999999999998.0"),
        (0.30000000000000004, "0.30000000000000004", "0.3"),
    ];

    #[test]
    fn repr_and_round_match_python() {
        for &(v, repr, rounded) in PYTHON_TABLE {
            assert_eq!(python_repr(v), repr, "repr of {v:e}");
            assert_eq!(python_repr(python_round(v, 6)), rounded, "repr(round({v:e}, 6))");
        }
        assert_eq!(python_repr(f64::NAN), "nan");
        assert_eq!(python_repr(f64::INFINITY), "inf");
        assert_eq!(python_repr(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn python_round_ties_to_even_on_the_exact_value() {
        // Python: round(0.25, 1) == 0.2, round(2.5) == 2, round(0.375, 2) == 0.38,
        // round(2.675, 2) == 2.67 (2.675 is stored below the tie), round(1.5e-06, 6) == 2e-06.
        assert_eq!(python_round(0.25, 1), 0.2);
        assert_eq!(python_round(2.5, 0), 2.0);
        assert_eq!(python_round(0.375, 2), 0.38);
        assert_eq!(python_round(2.675, 2), 2.67);
        assert_eq!(python_repr(python_round(1.5e-06, 6)), "2e-06");
        assert!(python_round(f64::NAN, 6).is_nan());
    }

    #[test]
    fn numpy_round_multiplies_then_rounds_half_to_even() {
        // Python float arithmetic: 0.00005*1e4 == 0.5 -> rint 0; 1.00005*1e4 == 10000.500000000002
        // -> 10001; 0.5 -> rint 0 (ties to even); -0.00001*1e4 == -0.1 -> rint -0.0.
        assert_eq!(numpy_round(0.00005, 4), 0.0);
        assert_eq!(numpy_round(0.5, 0), 0.0);
        assert_eq!(numpy_round(1.00005, 4), 1.0001);
        assert_eq!(python_repr(numpy_round(-0.00001, 4)), "-0.0");
        assert!(numpy_round(f64::NAN, 4).is_nan());
    }
}
