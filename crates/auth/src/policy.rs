//! The password policy: configured length and character classes, plus a
//! common-password list and a zxcvbn strength estimate. Every rule looks at
//! the NFKC-normalised password.

use std::collections::HashSet;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::password::nfkc;
use crate::{MAX_PASSWORD_CHARS, normalize_password};

/// The common-password list: SecLists' most common passwords plus our own,
/// normalised, lower-cased, one a line, zlib-compressed (`data/README.md`
/// says where it comes from and how to make it again).
const PACKED: &[u8] = include_bytes!("../data/common-passwords.txt.deflate");

/// Our hand-made entries, also inside `PACKED`; on their own only if the
/// packed list could not be read.
const HAND_MADE: &str = include_str!("../data/common-passwords.txt");

/// Bound on the inflated list (it is about 0.8 MB).
const MAX_INFLATED: usize = 4 << 20;

/// The packed list, inflated on first use.
fn inflated() -> Option<&'static str> {
    static TEXT: OnceLock<Option<String>> = OnceLock::new();
    TEXT.get_or_init(|| {
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(PACKED, MAX_INFLATED)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
    })
    .as_deref()
}

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| match inflated() {
        Some(text) => text.split('\n').filter(|l| !l.is_empty()).collect(),
        // The tests prove the packed list inflates; were it ever broken,
        // the most common passwords are still refused.
        None => HAND_MADE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect(),
    })
}

/// Whether `password` is a common one: its NFKC-normalised, lower-cased
/// form is on the list, or so is its base word (the password without
/// trailing digits and punctuation, as in `Monkey99!` → `monkey`).
///
/// The list (about 100,000 entries) is inflated on the first call.
pub fn is_common_password(password: &str) -> bool {
    let normalized = nfkc(password);
    let lower = Zeroizing::new(normalized.to_lowercase());
    let base = Zeroizing::new(base_word(&normalized));
    let set = common();
    set.contains(lower.as_str()) || set.contains(base.as_str())
}

/// The configured rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
    /// At least one upper-case letter.
    pub require_upper: bool,
    /// At least one lower-case letter.
    pub require_lower: bool,
    /// At least one digit.
    pub require_digit: bool,
    /// At least one character that is not a letter or digit.
    pub require_special: bool,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable code: `too_short`, `too_long`, `missing_upper`, `missing_lower`,
    /// `missing_digit`, `missing_special`, `contains_username`,
    /// `common_password`, `too_weak`.
    pub code: &'static str,
    /// What is required, in words; never the password.
    pub message: String,
}

/// Every broken rule of one password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolations(pub Vec<Violation>);

impl std::fmt::Display for PolicyViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(|v| v.message.as_str()).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for PolicyViolations {}

/// The password with trailing digits and punctuation removed, lower-cased.
fn base_word(p: &str) -> String {
    p.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
        .to_lowercase()
}

impl PasswordPolicy {
    /// The rules in words, for help texts.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} to {MAX_PASSWORD_CHARS} characters",
            self.min_length
        )];
        for (on, what) in [
            (self.require_upper, "an upper-case letter"),
            (self.require_lower, "a lower-case letter"),
            (self.require_digit, "a digit"),
            (self.require_special, "a symbol (not a letter or digit)"),
        ] {
            if on {
                out.push(format!("at least {what}"));
            }
        }
        out.push("not containing the username".into());
        out.push("not a common password".into());
        out.push("hard to guess (zxcvbn score 3 or more)".into());
        out
    }

    /// Checks `password` for `username`; all broken rules are reported.
    /// Lengths are counted in characters of the NFKC-normalised password.
    pub fn check(&self, password: &SecretString, username: &str) -> Result<(), PolicyViolations> {
        let normalized = normalize_password(password);
        let p = normalized.expose_secret();
        let mut v = Vec::new();
        let mut push = |code, message: String| v.push(Violation { code, message });
        let n = p.chars().count();
        if n < self.min_length {
            push(
                "too_short",
                format!("must be at least {} characters", self.min_length),
            );
        }
        if n > MAX_PASSWORD_CHARS {
            push(
                "too_long",
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            );
        }
        if self.require_upper && !p.chars().any(char::is_uppercase) {
            push("missing_upper", "must contain an upper-case letter".into());
        }
        if self.require_lower && !p.chars().any(char::is_lowercase) {
            push("missing_lower", "must contain a lower-case letter".into());
        }
        if self.require_digit && !p.chars().any(|c| c.is_ascii_digit()) {
            push("missing_digit", "must contain a digit".into());
        }
        if self.require_special && !p.chars().any(|c| !c.is_alphanumeric()) {
            push(
                "missing_special",
                "must contain a symbol (not a letter or digit)".into(),
            );
        }
        let lower = Zeroizing::new(p.to_lowercase());
        let user = nfkc(username).to_lowercase();
        if user.chars().count() >= 3 && lower.contains(&user) {
            push("contains_username", "must not contain the username".into());
        }
        if is_common_password(p) {
            push("common_password", "is a commonly used password".into());
        }
        if n <= MAX_PASSWORD_CHARS && !p.is_empty() {
            let estimate = zxcvbn::zxcvbn(p, &[username]);
            if (estimate.score() as u8) < 3 {
                let mut message = "is too easy to guess".to_string();
                if let Some(fb) = estimate.feedback() {
                    if let Some(w) = fb.warning() {
                        message.push_str(&format!(": {w}"));
                    }
                    if let Some(s) = fb.suggestions().first() {
                        message.push_str(&format!(" ({s})"));
                    }
                }
                push("too_weak", message);
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(PolicyViolations(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            require_upper: true,
            require_lower: true,
            require_digit: true,
            require_special: true,
        }
    }

    fn codes(p: &str, user: &str) -> Vec<&'static str> {
        match policy().check(&SecretString::from(p.to_string()), user) {
            Ok(()) => vec![],
            Err(v) => v.0.iter().map(|x| x.code).collect(),
        }
    }

    #[test]
    fn good_passphrase_passes() {
        assert_eq!(
            codes("Correct-Horse-Battery-42", "alice"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn each_rule() {
        assert!(codes("Ab1!", "alice").contains(&"too_short"));
        assert!(codes(&"Ab1!".repeat(40), "alice").contains(&"too_long"));
        assert!(codes("correct-horse-battery-42", "x").contains(&"missing_upper"));
        assert!(codes("CORRECT-HORSE-BATTERY-42", "x").contains(&"missing_lower"));
        assert!(codes("Correct-Horse-Battery-xx", "x").contains(&"missing_digit"));
        assert!(codes("CorrectHorseBattery42", "x").contains(&"missing_special"));
        assert!(codes("Xalice-Battery-Staple-9", "Alice").contains(&"contains_username"));
        assert!(codes("Password123!", "x").contains(&"common_password"));
        assert!(codes("Bitcoin2024!!", "x").contains(&"common_password"));
        assert!(codes("Aaaaaaaaaaa1!", "x").contains(&"too_weak"));
    }

    #[test]
    fn length_counts_characters() {
        // 12 characters, more bytes.
        assert!(!codes("Ünïcödé-Pä5s", "x").contains(&"too_short"));
        // 11 characters, 15 bytes.
        assert!(codes("Ünïcödé-Pä5", "x").contains(&"too_short"));
    }

    #[test]
    fn short_usernames_and_common_bases() {
        assert!(!codes("Correct-Horse-al-Battery-42", "al").contains(&"contains_username"));
        assert!(codes("Correct-ALICE-Battery-42", "alice").contains(&"contains_username"));
        for p in [
            "letmein",
            "LetMeIn2024!",
            "Monkey99",
            "trustno1",
            "Crypto123?",
        ] {
            assert!(codes(p, "x").contains(&"common_password"), "{p}");
        }
    }

    #[test]
    fn the_packed_list_inflates_to_100k_entries() {
        assert!(inflated().is_some(), "the packed list does not inflate");
        assert!(common().len() >= 100_000, "{}", common().len());
        // Every hand-made entry made it into the packed list.
        for entry in HAND_MADE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            assert!(is_common_password(entry), "{entry}");
        }
    }

    #[test]
    fn entries_from_deep_in_the_list() {
        // Ranks in SecLists' 10-million-password-list (1-based).
        for (rank, p) in [
            (90_000, "03062002"),
            (90_500, "vlasov12"),
            (92_000, "ranger66"),
            (95_000, "explosion"),
            (100_000, "070162"),
            (105_000, "ksk_an"),
        ] {
            assert!(is_common_password(p), "rank {rank}: {p}");
        }
        // Upper case and full-width forms of an entry are found too.
        assert!(is_common_password("VLASOV12"));
        assert!(is_common_password("ｖｌａｓｏｖ１２"));
        assert!(!is_common_password("Correct-Horse-Battery-42"));
        assert!(!is_common_password("qz7-Vnt!pWl2-Xs"));
        assert!(!is_common_password(""));
    }

    #[test]
    fn rules_see_the_normalised_password() {
        // 11 characters as typed, 12 once the ligature is two letters.
        assert_eq!("ﬁrst-Laddr7".chars().count(), 11);
        assert_eq!(
            normalize_password(&SecretString::from("ﬁrst-Laddr7")).expose_secret(),
            "first-Laddr7"
        );
        assert!(!codes("ﬁrst-Laddr7", "x").contains(&"too_short"));
        assert!(codes("ﬁrst-Ladr7", "x").contains(&"too_short"));
        // Full-width letters do not hide a common password.
        assert!(codes("Ｐａｓｓｗｏｒｄ１２３！", "x").contains(&"common_password"));
        // Spaces are allowed.
        assert_eq!(
            codes("Correct Horse Battery 42!", "alice"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn messages_never_contain_the_password() {
        let p = "Password123!";
        let err = policy()
            .check(&SecretString::from(p.to_string()), "bob")
            .unwrap_err();
        assert!(!err.to_string().contains(p));
        assert!(!policy().describe().is_empty());
    }
}
