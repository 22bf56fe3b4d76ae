//! Wildcard patterns (`*` any run of characters, `?` exactly one) and policy variables
//! (`${aws:username}`, `${*}` …). A pattern is expanded against a request into tokens first,
//! so that text substituted for a variable is matched literally: a user called `a*` does not
//! become a wildcard.
//!
//! Variables are only recognised in policies whose `Version` is `2012-10-17`; in older
//! policies `${…}` is ordinary text, as in AWS.

use crate::context::RequestContext;

/// One element of an expanded pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Literal(char),
    /// `*`: zero or more characters.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
}

/// Expands `pattern` into tokens. With `variables` set, `${…}` is replaced by its value from
/// `ctx`; `None` means a variable could not be resolved, so the pattern matches nothing.
pub(crate) fn expand(pattern: &str, variables: bool, ctx: &RequestContext) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if variables && rest.starts_with("${") {
            if let Some(end) = rest.find('}') {
                let name = &rest[2..end];
                match name {
                    "*" => out.push(Token::Literal('*')),
                    "?" => out.push(Token::Literal('?')),
                    "$" => out.push(Token::Literal('$')),
                    _ => out.extend(ctx.variable(name)?.chars().map(Token::Literal)),
                }
                rest = &rest[end + 1..];
                continue;
            }
        }
        out.push(match c {
            '*' => Token::AnyRun,
            '?' => Token::AnyOne,
            c => Token::Literal(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The expanded pattern read as plain text (wildcards are not special): what the `…Equals`
/// operators compare against.
pub(crate) fn literal(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Token::Literal(c) => *c,
            Token::AnyRun => '*',
            Token::AnyOne => '?',
        })
        .collect()
}

/// Whether `text` matches the expanded pattern. Greedy with one backtrack point, so linear
/// in practice and never exponential; walks `text` by byte offsets, without allocating.
pub(crate) fn matches(tokens: &[Token], text: &str, ignore_case: bool) -> bool {
    let eq = |p: char, t: char| {
        if ignore_case {
            p == t || p.to_lowercase().eq(t.to_lowercase())
        } else {
            p == t
        }
    };
    let next = |t: usize| text[t..].chars().next();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(c) = next(t) {
        match tokens.get(p) {
            Some(Token::AnyRun) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Token::AnyOne) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            Some(Token::Literal(l)) if eq(*l, c) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((bp, bt)) => {
                // The run at `bp` swallows one more character.
                let skipped = next(bt).map_or(1, char::len_utf8);
                p = bp + 1;
                t = bt + skipped;
                backtrack = Some((bp, bt + skipped));
            }
            None => return false,
        }
    }
    tokens[p..].iter().all(|t| *t == Token::AnyRun)
}

/// The tokens of a pattern without variables.
pub(crate) fn tokens(pattern: &str) -> Vec<Token> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Token::AnyRun,
            '?' => Token::AnyOne,
            c => Token::Literal(c),
        })
        .collect()
}

/// Matches a pattern without variables (actions, ARN components). The shapes policies
/// mostly use (`*`, a plain name, `prefix*`) are decided without building tokens.
pub(crate) fn matches_plain(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let same = |a: &str, b: &str| {
        if !ignore_case {
            a == b
        } else if a.is_ascii() && b.is_ascii() {
            a.eq_ignore_ascii_case(b)
        } else {
            a.to_lowercase() == b.to_lowercase()
        }
    };
    let wild = |c: char| c == '*' || c == '?';
    match pattern.find(wild) {
        None => same(pattern, text),
        Some(at) if at + 1 == pattern.len() && pattern.ends_with('*') => {
            let prefix = &pattern[..at];
            text.get(..prefix.len())
                .is_some_and(|head| same(prefix, head))
        }
        Some(_) => matches(&tokens(pattern), text, ignore_case),
    }
}

/// ARN matching as `ArnLike` does it: the six colon-separated components are compared one
/// by one, each with wildcards (the last component keeps any further colons).
pub(crate) fn arn_matches(tokens: &[Token], arn: &str) -> bool {
    let pattern_parts: Vec<&[Token]> = tokens.splitn(6, |t| *t == Token::Literal(':')).collect();
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    if pattern_parts.len() != 6 || arn_parts.len() != 6 {
        return false;
    }
    pattern_parts
        .into_iter()
        .zip(arn_parts)
        .all(|(p, a)| matches(p, a, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{PrincipalInfo, RequestContext};

    fn ctx() -> RequestContext {
        RequestContext::builder(
            PrincipalInfo::new("arn:aws:iam::111122223333:user/a*b", "111122223333")
                .user_name("a*b"),
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
        )
        .build()
    }

    #[test]
    fn wildcards() {
        assert!(matches_plain("kms:*", "kms:Decrypt", false));
        assert!(matches_plain(
            "kms:GenerateDataKey*",
            "kms:generatedatakeypair",
            true
        ));
        assert!(!matches_plain(
            "kms:GenerateDataKey*",
            "kms:generatedatakeypair",
            false
        ));
        assert!(matches_plain("a?c", "abc", false));
        assert!(!matches_plain("a?c", "ac", false));
        assert!(matches_plain("*a*b*", "xxaxxbxx", false));
        assert!(matches_plain("", "", false));
        assert!(!matches_plain("", "x", false));
        assert!(matches_plain("**", "", false));
    }

    #[test]
    fn substituted_text_is_literal() {
        let tokens = expand("user/${aws:username}", true, &ctx()).unwrap();
        assert!(matches(&tokens, "user/a*b", false));
        assert!(!matches(&tokens, "user/axxb", false));
        let escaped = expand("${*}${?}${$}", true, &ctx()).unwrap();
        assert_eq!(literal(&escaped), "*?$");
        assert!(!matches(&escaped, "x?$", false));
        assert!(expand("${aws:nothing}", true, &ctx()).is_none());
        assert_eq!(
            literal(&expand("${aws:username}", false, &ctx()).unwrap()),
            "${aws:username}"
        );
    }

    #[test]
    fn arn_components() {
        let p = expand("arn:aws:kms:*:111122223333:key/*", false, &ctx()).unwrap();
        assert!(arn_matches(&p, "arn:aws:kms:eu-west-1:111122223333:key/x"));
        assert!(!arn_matches(&p, "arn:aws:kms:eu-west-1:444455556666:key/x"));
        assert!(!arn_matches(&p, "not-an-arn"));
    }
}
