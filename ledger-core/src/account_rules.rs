//! Rules for what people type when they open or edit an account, shared by self-registration,
//! staff-created accounts and profile edits.

/// Username: 3–20 of `[A-Za-z0-9_]`.
pub fn valid_username(username: &str) -> bool {
    (3..=20).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Shortest and longest password (characters).
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// Password: 8–128 characters with at least one upper-case letter, one lower-case letter and
/// one digit.
pub fn valid_password(password: &str) -> bool {
    let len = password.chars().count();
    (PASSWORD_MIN..=PASSWORD_MAX).contains(&len)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
}

/// Phone: an optional `+`, then 5–20 digits or hyphens (mobile, landline or international).
pub fn valid_phone(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (5..=20).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && digits.bytes().filter(u8::is_ascii_digit).count() >= 5
}

/// Email: `local@domain.tld`, at most 254 characters, no spaces.
pub fn valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        }
        None => false,
    }
}

/// Taxpayer id on an invoice: the 18-character unified social credit code, or an older
/// 15–20 character registration number; upper-case letters and digits.
pub fn valid_tax_number(tax_number: &str) -> bool {
    (15..=20).contains(&tax_number.len())
        && tax_number
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(valid_username("arcade_01"));
        assert!(valid_username("abc"));
        assert!(!valid_username("ab"));
        assert!(!valid_username("a".repeat(21).as_str()));
        assert!(!valid_username("名字abc"));
        assert!(!valid_username("has space"));
    }

    #[test]
    fn passwords_need_upper_lower_and_digit() {
        assert!(valid_password("Secret123"));
        assert!(!valid_password("Secr3t"));
        assert!(!valid_password("secret123"));
        assert!(!valid_password("SECRET123"));
        assert!(!valid_password("SecretXyz"));
    }

    #[test]
    fn phones_and_emails() {
        assert!(valid_phone("13800138000"));
        assert!(valid_phone("+86-10-12345678"));
        assert!(!valid_phone("12a45"));
        assert!(!valid_phone("----5"));
        assert!(valid_email("ops@arcade.cn"));
        assert!(!valid_email("ops@arcade"));
        assert!(!valid_email("ops arcade@x.cn"));
        assert!(!valid_email("a@b@c.cn"));
        assert!(!valid_email("a@x..cn"));
    }

    #[test]
    fn tax_numbers() {
        assert!(valid_tax_number("91310000MA1FL0XXXX"));
        assert!(!valid_tax_number("91310000ma1fl0xxxx"));
        assert!(!valid_tax_number("1234"));
    }
}
