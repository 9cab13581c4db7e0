//! Beta sign-up rules: the UK postcode shape and the bill ranges the statistics group by.

/// The postcode upper-cased with one space before the inward code, when it has the UK shape:
/// 1–2 letters, 1–2 digits, an optional letter, an optional space, a digit and 2 letters.
pub fn uk_postcode(given: &str) -> Option<String> {
    let upper = given.trim().to_ascii_uppercase();
    let compact: String = upper.chars().filter(|c| *c != ' ').collect();
    // Only one space, and only before the inward code.
    let spaces = upper.matches(' ').count();
    if spaces > 1 || (spaces == 1 && upper.rfind(' ') != Some(upper.len() - 4)) {
        return None;
    }
    let bytes = compact.as_bytes();
    if !(5..=7).contains(&bytes.len()) {
        return None;
    }
    let (outward, inward) = bytes.split_at(bytes.len() - 3);
    let inward_ok = inward[0].is_ascii_digit() && inward[1..].iter().all(u8::is_ascii_uppercase);
    let letters = outward
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    let digits = outward[letters..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let rest = &outward[letters + digits..];
    let outward_ok = (1..=2).contains(&letters)
        && (1..=2).contains(&digits)
        && (rest.is_empty() || (rest.len() == 1 && rest[0].is_ascii_uppercase()));
    (inward_ok && outward_ok).then(|| {
        format!(
            "{} {}",
            &compact[..outward.len()],
            &compact[outward.len()..]
        )
    })
}

/// The range a stated monthly bill falls in (`"85"`, `"£85"`, `"50-100"` …), for statistics.
pub fn bill_range(monthly_bill: &str) -> &'static str {
    let digits: String = monthly_bill
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    match digits.parse::<f64>() {
        Ok(v) if v < 50.0 => "under_50",
        Ok(v) if v < 100.0 => "50_to_100",
        Ok(v) if v < 200.0 => "100_to_200",
        Ok(_) => "200_plus",
        Err(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_postcodes_of_every_outward_shape_are_accepted_and_normalised() {
        for (given, normal) in [
            ("sw1a 1aa", "SW1A 1AA"),
            ("M1 1AE", "M1 1AE"),
            ("B338TH", "B33 8TH"),
            ("CR2 6XH", "CR2 6XH"),
            ("dn55 1pt", "DN55 1PT"),
            (" EC1A 1BB ", "EC1A 1BB"),
            ("W1A0AX", "W1A 0AX"),
        ] {
            assert_eq!(uk_postcode(given).as_deref(), Some(normal), "{given}");
        }
        for bad in [
            "12345",
            "SW1A  1AA",
            "SW1A-1AA",
            "S W1A1AA",
            "ABC1 1AA",
            "SW123 1AA",
            "SW1A 1A",
            "SW1A 11A",
            "",
            "1W1A 1AA",
        ] {
            assert_eq!(uk_postcode(bad), None, "{bad}");
        }
    }

    #[test]
    fn bills_fall_in_ranges() {
        assert_eq!(bill_range("£45"), "under_50");
        assert_eq!(bill_range("85"), "50_to_100");
        assert_eq!(bill_range("150.50"), "100_to_200");
        assert_eq!(bill_range("about 300"), "200_plus");
        assert_eq!(bill_range("not sure"), "unknown");
    }
}
