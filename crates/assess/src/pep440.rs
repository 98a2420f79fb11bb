//! Python package versions (PEP 440) and names (PEP 503), enough to match
//! pinned requirements against advisories: parsing with the spec's
//! normalisations and the spec's total order.

use std::cmp::Ordering;
use std::fmt;

/// PEP 503 normalised name: lower case, runs of `-`, `_`, `.` become `-`.
/// Whitespace (which no package name holds) counts as a separator, and
/// separators at either end are dropped, so normalising twice changes
/// nothing.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') || c.is_whitespace() {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Local {
    Num(u64),
    Str(String),
}

/// A parsed version. Equality and order are PEP 440's (`1.0 == 1.0.0`).
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    epoch: u64,
    release: Vec<u64>,
    /// `(0 = a, 1 = b, 2 = rc, number)`
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<Local>,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn num(s: &[u8], i: &mut usize) -> Option<u64> {
    let start = *i;
    while *i < s.len() && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start {
        return None;
    }
    std::str::from_utf8(&s[start..*i]).ok()?.parse().ok()
}

fn sep(s: &[u8], i: &mut usize) -> bool {
    if *i < s.len() && matches!(s[*i], b'.' | b'-' | b'_') {
        *i += 1;
        true
    } else {
        false
    }
}

/// Consumes one of `words` at `i` (longest first), returning its index.
fn word(s: &[u8], i: &mut usize, words: &[&str]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (k, w) in words.iter().enumerate() {
        if s[*i..].starts_with(w.as_bytes()) && best.is_none_or(|(_, l)| w.len() > l) {
            best = Some((k, w.len()));
        }
    }
    let (k, l) = best?;
    *i += l;
    Some(k)
}

impl Version {
    /// Parses a version; `None` when it is not PEP 440.
    pub fn parse(text: &str) -> Option<Version> {
        let t = text.trim().to_ascii_lowercase();
        let s = t.as_bytes();
        let mut i = 0;
        if s.first() == Some(&b'v') {
            i = 1;
        }
        let mut epoch = 0;
        let mut release = Vec::new();
        let first = num(s, &mut i)?;
        if s.get(i) == Some(&b'!') {
            i += 1;
            epoch = first;
            release.push(num(s, &mut i)?);
        } else {
            release.push(first);
        }
        while s.get(i) == Some(&b'.') && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            release.push(num(s, &mut i)?);
        }
        let mut pre = None;
        let save = i;
        sep(s, &mut i);
        let pre_words = ["a", "b", "c", "rc", "alpha", "beta", "pre", "preview"];
        if let Some(k) = word(s, &mut i, &pre_words) {
            let kind = match k {
                0 | 4 => 0,
                1 | 5 => 1,
                _ => 2,
            };
            let save2 = i;
            sep(s, &mut i);
            let n = match num(s, &mut i) {
                Some(n) => n,
                None => {
                    i = save2;
                    0
                }
            };
            pre = Some((kind, n));
        } else {
            i = save;
        }
        let mut post = None;
        let save = i;
        if s.get(i) == Some(&b'-') && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            post = num(s, &mut i);
        } else {
            sep(s, &mut i);
            if word(s, &mut i, &["post", "rev", "r"]).is_some() {
                let save2 = i;
                sep(s, &mut i);
                post = Some(num(s, &mut i).unwrap_or_else(|| {
                    i = save2;
                    0
                }));
            } else {
                i = save;
            }
        }
        let mut dev = None;
        let save = i;
        sep(s, &mut i);
        if word(s, &mut i, &["dev"]).is_some() {
            let save2 = i;
            sep(s, &mut i);
            dev = Some(num(s, &mut i).unwrap_or_else(|| {
                i = save2;
                0
            }));
        } else {
            i = save;
        }
        let mut local = Vec::new();
        if s.get(i) == Some(&b'+') {
            let rest = std::str::from_utf8(&s[i + 1..]).ok()?;
            for part in rest.split(['.', '-', '_']) {
                if part.is_empty() || !part.bytes().all(|c| c.is_ascii_alphanumeric()) {
                    return None;
                }
                local.push(match part.parse::<u64>() {
                    Ok(n) => Local::Num(n),
                    Err(_) => Local::Str(part.to_owned()),
                });
            }
            i = s.len();
        }
        if i != s.len() {
            return None;
        }
        Some(Version {
            text: text.trim().to_owned(),
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn release_cmp(&self, other: &Version) -> Ordering {
        let n = self.release.len().max(other.release.len());
        for k in 0..n {
            let a = self.release.get(k).copied().unwrap_or(0);
            let b = other.release.get(k).copied().unwrap_or(0);
            if a != b {
                return a.cmp(&b);
            }
        }
        Ordering::Equal
    }
}

/// `-inf < Some(x) < +inf` helpers for the sort key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Min,
    Val(T),
    Max,
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        let pre = |v: &Version| match (v.pre, v.post, v.dev) {
            (None, None, Some(_)) => Bound::Min,
            (None, _, _) => Bound::Max,
            (Some(p), _, _) => Bound::Val(p),
        };
        let post = |v: &Version| v.post.map_or(Bound::Min, Bound::Val);
        let dev = |v: &Version| v.dev.map_or(Bound::Max, Bound::Val);
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release_cmp(other))
            .then_with(|| pre(self).cmp(&pre(other)))
            .then_with(|| post(self).cmp(&post(other)))
            .then_with(|| dev(self).cmp(&dev(other)))
            .then_with(|| {
                for (a, b) in self.local.iter().zip(&other.local) {
                    let o = match (a, b) {
                        (Local::Num(x), Local::Num(y)) => x.cmp(y),
                        (Local::Num(_), Local::Str(_)) => Ordering::Greater,
                        (Local::Str(_), Local::Num(_)) => Ordering::Less,
                        (Local::Str(x), Local::Str(y)) => x.cmp(y),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                self.local.len().cmp(&other.local.len())
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        match Version::parse(s) {
            Some(v) => v,
            None => panic!("{s} does not parse"),
        }
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("Django"), "django");
        assert_eq!(normalize_name("typing_extensions"), "typing-extensions");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("A__b-.-C"), "a-b-c");
    }

    #[test]
    fn order_from_pep_440() {
        // The example ordering of PEP 440 ("Summary of permitted suffixes
        // and relative ordering"), strictly increasing.
        let ordered = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
            assert!(v(w[1]) > v(w[0]), "{} > {}", w[1], w[0]);
        }
        assert!(v("1!0.1") > v("2.0"), "epoch");
    }

    #[test]
    fn normalisation() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "v1.0"),
            ("1.0a1", "1.0-alpha.1"),
            ("1.0b2", "1.0beta2"),
            ("1.0rc1", "1.0c1"),
            ("1.0rc1", "1.0pre1"),
            ("1.0rc0", "1.0rc"),
            ("1.0.post1", "1.0-1"),
            ("1.0.post1", "1.0r1"),
            ("1.0.post0", "1.0.post"),
            ("1.0.dev0", "1.0dev"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            ("2.31.0", "2.31"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
        for bad in ["", "abc", "1.0+", "1.0 beta", "1..0", "1.0+a b"] {
            assert!(Version::parse(bad).is_none(), "{bad:?} parsed");
        }
        assert!(v("2.9.10") > v("2.9.9"));
        assert!(v("10.0") > v("9.99"));
    }
}
