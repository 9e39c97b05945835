//! Database URLs in messages, without their passwords.

/// `url` with any password replaced by `***`: in the URL form
/// (`postgresql://user:secret@host/db`) and in the key-value form
/// (`host=h password=secret`).
pub(crate) fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_in_both_forms() {
        assert_eq!(
            redact_url("postgresql://app:s3cret@db.example:5432/jobs?sslmode=disable"),
            "postgresql://app:***@db.example:5432/jobs?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app@db/jobs"),
            "postgres://app@db/jobs"
        );
        assert_eq!(
            redact_url("host=db user=app password=s3cret dbname=jobs"),
            "host=db user=app password=*** dbname=jobs"
        );
    }
}
