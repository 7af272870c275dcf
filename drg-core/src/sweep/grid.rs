//! The number lists of a sweep's grid on the command line: `--folds 0-9`, `--seeds 1,2,3`,
//! `--folds 0,2-4` (ranges are inclusive, as in SLURM's `--array=0-9`).

/// Parses `spec` (`what` names the option in errors): comma-separated numbers and inclusive
/// `a-b` ranges, in the given order, without duplicates.
pub fn parse_list(what: &str, spec: &str) -> Result<Vec<u64>, String> {
    let mut out: Vec<u64> = Vec::new();
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("{what} '{spec}': '{}' is not a non-negative integer", s.trim()));
    for part in spec.split(',') {
        let values = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("{what} '{spec}': the range {a}-{b} is empty"));
                }
                (a..=b).collect()
            }
            None => vec![number(part)?],
        };
        for v in values {
            if out.contains(&v) {
                return Err(format!("{what} '{spec}': {v} is listed twice"));
            }
            out.push(v);
        }
    }
    Ok(out)
}

/// `values` written back compactly (`0-2,5`), for messages and the script's header.
pub fn format_list(values: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        parts.push(if j > i + 1 {
            format!("{}-{}", values[i], values[j])
        } else {
            values[i..=j].iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_list("--folds", "0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_list("--seeds", "3,1, 2").unwrap(), [3, 1, 2]);
        assert_eq!(parse_list("--folds", "0,2-4,9").unwrap(), [0, 2, 3, 4, 9]);
        assert_eq!(parse_list("--folds", "0-2,2").unwrap_err(), "--folds '0-2,2': 2 is listed twice");
        assert_eq!(parse_list("--folds", "4-2").unwrap_err(), "--folds '4-2': the range 4-2 is empty");
        assert_eq!(parse_list("--seeds", "1,x").unwrap_err(), "--seeds '1,x': 'x' is not a non-negative integer");
        assert_eq!(parse_list("--seeds", "").unwrap_err(), "--seeds '': '' is not a non-negative integer");
        assert_eq!(format_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7,8");
        assert_eq!(format_list(&[3, 1]), "3,1");
    }
}
