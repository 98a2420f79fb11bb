//! Method and path normalisation: refuse, never repair.
//!
//! A path is signed exactly as sent, so the vault does not decode, collapse
//! or re-case it: it refuses every form that an exchange's router might
//! read differently from the policy table.

use super::Reason;

/// Longer than any exchange path in the tables.
const MAX_PATH: usize = 256;

/// The method in upper case, if it is one the vault signs.
pub fn normalize_method(method: &str) -> Result<String, Reason> {
    let upper = method.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "POST" | "PUT" | "DELETE" => Ok(upper),
        _ => Err(Reason::Method(super::clip(method))),
    }
}

/// Refuses a path that is not in canonical form: it must be absolute,
/// ASCII, and made of non-empty segments of `A-Z a-z 0-9 - _ ~` and inner
/// `.`, with no trailing slash. Control characters, `%`, `?` and `#` get
/// their own reasons.
pub fn check_path(path: &str) -> Result<(), Reason> {
    for c in path.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            return Err(Reason::ControlCharacter(u32::from(c)));
        }
    }
    if let Some(c) = path.chars().find(|c| !c.is_ascii()) {
        return Err(Reason::NonAscii(u32::from(c)));
    }
    if path.contains('%') {
        return Err(Reason::PercentEncoding);
    }
    if path.contains('?') {
        return Err(Reason::QueryInPath);
    }
    if path.contains('#') {
        return Err(Reason::FragmentInPath);
    }
    if let Some(c) = path
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~')))
    {
        return Err(Reason::Character(c));
    }
    if path.len() > MAX_PATH {
        return Err(Reason::TooLong(MAX_PATH));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Reason::NotAbsolute);
    };
    if rest.is_empty() || rest.ends_with('/') {
        return Err(Reason::TrailingSlash);
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(Reason::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(Reason::DotSegment);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_pass() {
        for p in [
            "/api/v3/order",
            "/0/private/AddOrder",
            "/v2/accounts/2bbf394c-193b-5b2a-9155-3b4732659ede/transactions",
            "/api/v5/asset/withdrawal",
        ] {
            assert_eq!(check_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn each_form_has_its_reason() {
        let cases = [
            ("/a/b\r", Reason::ControlCharacter(0x0d)),
            ("/a/b\n", Reason::ControlCharacter(0x0a)),
            ("/a\u{1b}/b", Reason::ControlCharacter(0x1b)),
            ("/a\t/b", Reason::ControlCharacter(0x09)),
            ("/a\0/b", Reason::ControlCharacter(0)),
            ("/a\u{7f}/b", Reason::ControlCharacter(0x7f)),
            ("/a\u{2028}/b", Reason::ControlCharacter(0x2028)),
            ("/a\u{2029}/b", Reason::ControlCharacter(0x2029)),
            ("/a\u{85}/b", Reason::ControlCharacter(0x85)),
            ("/sapi/v1/capit\u{e4}l", Reason::NonAscii(0xe4)),
            ("/sapi%2Fv1", Reason::PercentEncoding),
            ("/api/v3/account?coin=BTC", Reason::QueryInPath),
            ("/api/v3/account#x", Reason::FragmentInPath),
            ("/api/v3/acc ount", Reason::Character(' ')),
            ("/api/v3/acc;ount", Reason::Character(';')),
            ("/api\\v3", Reason::Character('\\')),
            ("api/v3/account", Reason::NotAbsolute),
            ("/", Reason::TrailingSlash),
            ("/api/v3/account/", Reason::TrailingSlash),
            ("/sapi/v1/capital//withdraw/apply", Reason::EmptySegment),
            ("/api/v3/../../sapi/v1/x", Reason::DotSegment),
            ("/api/./v3", Reason::DotSegment),
        ];
        for (p, want) in cases {
            assert_eq!(check_path(p), Err(want), "{p:?}");
        }
        assert_eq!(
            check_path(&format!("/{}", "a".repeat(300))),
            Err(Reason::TooLong(MAX_PATH))
        );
    }

    #[test]
    fn methods() {
        assert_eq!(normalize_method("get").as_deref(), Ok("GET"));
        assert_eq!(normalize_method("Delete").as_deref(), Ok("DELETE"));
        assert!(normalize_method("PATCH").is_err());
        assert!(normalize_method("GET ").is_err());
    }
}
