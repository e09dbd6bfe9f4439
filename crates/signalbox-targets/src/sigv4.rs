//! AWS Signature Version 4 for the requests of the `cloudwatch` target
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>).
//!
//! Pure: the time is an argument, so the signer is tested against AWS's published example and
//! a fake server can recompute the signature of what it received.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Credentials and the scope they sign for.
#[derive(Clone)]
pub struct Signer {
    /// Access key id (`Credential=<id>/…`).
    pub access_key_id: String,
    /// Secret access key; never logged.
    pub secret_access_key: String,
    /// Session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    pub session_token: Option<String>,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service signing name: `monitoring` (CloudWatch), `events` (EventBridge).
    pub service: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// One request to sign. `headers` are those that will be sent, besides `host` (derived from
/// the URL's authority by the caller) and the `x-amz-*` headers the signer adds.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// The `Host` header value: host, plus `:port` when not the scheme's default.
    pub host: &'a str,
    /// Absolute path, `/` at least, as sent.
    pub path: &'a str,
    /// Query string without `?` (decoded pairs are re-encoded canonically); empty for none.
    pub query: &'a str,
    /// Other headers to sign, e.g. `content-type`, `x-amz-target`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes.
    pub body: &'a [u8],
}

impl Signer {
    /// The headers to add to `request` sent at `amz_date` (`YYYYMMDDTHHMMSSZ`):
    /// `x-amz-date`, `x-amz-security-token` when there is a session token, and
    /// `authorization`.
    pub fn sign(&self, request: &Request<'_>, amz_date: &str) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
            .collect();
        headers.push(("host".to_owned(), request.host.to_owned()));
        headers.push(("x-amz-date".to_owned(), amz_date.to_owned()));
        if let Some(token) = &self.session_token {
            headers.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let signature = signature(
            &self.secret_access_key,
            &self.region,
            &self.service,
            amz_date,
            &canonical_request(request, &headers_ref(&headers), &signed),
        );
        let mut signed_names: Vec<&str> = signed.clone();
        signed_names.sort_unstable();
        let authorization = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
            self.access_key_id,
            scope(amz_date, &self.region, &self.service),
            signed_names.join(";"),
        );
        let mut out = vec![("x-amz-date", amz_date.to_owned())];
        if let Some(token) = &self.session_token {
            out.push(("x-amz-security-token", token.clone()));
        }
        out.push(("authorization", authorization));
        out
    }
}

fn headers_ref(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// `YYYYMMDD/region/service/aws4_request`.
pub fn scope(amz_date: &str, region: &str, service: &str) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    format!("{date}/{region}/{service}/aws4_request")
}

/// The canonical request: method, path, canonical query, the `signed` headers of `headers`
/// (names lowercase, sorted, values trimmed with inner spaces collapsed), the signed header
/// list, and the hex SHA-256 of the body. `headers` must hold every name in `signed`.
pub fn canonical_request(
    request: &Request<'_>,
    headers: &[(&str, &str)],
    signed: &[&str],
) -> String {
    let mut names: Vec<String> = signed.iter().map(|n| n.to_ascii_lowercase()).collect();
    names.sort_unstable();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| collapse_spaces(v))
            .collect();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query),
        canonical_headers,
        names.join(";"),
        hex::encode(Sha256::digest(request.body)),
    )
}

/// The hex signature of `canonical_request` for the scope of `amz_date`, `region`, `service`.
pub fn signature(
    secret_access_key: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope(amz_date, region, service),
        hex::encode(Sha256::digest(canonical_request.as_bytes())),
    );
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each path segment URI-encoded (already-encoded `%XX` kept), as non-S3 services expect.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(|segment| uri_encode(&percent_decode(segment)))
        .collect::<Vec<_>>()
        .join("/")
}

/// Pairs encoded with [`uri_encode`] and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX` (uppercase hex).
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks a received request's `authorization` header against its content, as AWS does:
/// recomputes the signature over the headers it names with `secret_access_key`. `headers` are
/// the received headers (any case). Returns the credential scope
/// (`<key id>/<date>/<region>/<service>/aws4_request`) when the signature holds.
pub fn verify(
    secret_access_key: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<String, String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let authorization = header("authorization").ok_or("no authorization header")?;
    let rest = authorization
        .strip_prefix(ALGORITHM)
        .ok_or("authorization is not AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed = None;
    let mut given = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => given = Some(v),
            _ => return Err(format!("unexpected authorization part {part:?}")),
        }
    }
    let (credential, signed, given) = match (credential, signed, given) {
        (Some(c), Some(s), Some(g)) => (c, s, g),
        _ => return Err("authorization lacks Credential, SignedHeaders or Signature".into()),
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [_, date, region, service, "aws4_request"] = scope[..] else {
        return Err(format!(
            "credential {credential:?} is not key/date/region/service/aws4_request"
        ));
    };
    let amz_date = header("x-amz-date").ok_or("no x-amz-date header")?;
    if !amz_date.starts_with(date) {
        return Err(format!(
            "credential date {date} is not the day of x-amz-date {amz_date}"
        ));
    }
    let signed: Vec<&str> = signed.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !signed.contains(&required) {
            return Err(format!("{required} is not signed"));
        }
    }
    let mut pairs = Vec::new();
    for name in &signed {
        let value = header(name).ok_or_else(|| format!("signed header {name} was not sent"))?;
        pairs.push((*name, value));
    }
    let request = Request {
        method,
        host: header("host").unwrap_or_default(),
        path,
        query,
        headers: &[],
        body,
    };
    let expected = signature(
        secret_access_key,
        region,
        service,
        amz_date,
        &canonical_request(&request, &pairs, &signed),
    );
    if expected == given {
        Ok(credential.to_owned())
    } else {
        Err(format!("signature {given} does not match {expected}"))
    }
}

/// The `x-amz-date` form of a time: `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example: IAM `ListUsers` by GET
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>, and the
    /// SigV4 test suite's `get-vanilla-query`-style request).
    #[test]
    fn matches_the_published_iam_list_users_example() {
        let request = Request {
            method: "GET",
            host: "iam.amazonaws.com",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body: b"",
        };
        let headers = [
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let canonical =
            canonical_request(&request, &headers, &["content-type", "host", "x-amz-date"]);
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            region: "us-east-1".into(),
            service: "iam".into(),
        };
        let added = signer.sign(&request, "20150830T123600Z");
        assert_eq!(added[0], ("x-amz-date", "20150830T123600Z".to_owned()));
        assert_eq!(
            added[1],
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token/with+chars".into()),
            region: "eu-west-1".into(),
            service: "monitoring".into(),
        };
        let request = Request {
            method: "POST",
            host: "monitoring.eu-west-1.amazonaws.com",
            path: "/",
            query: "",
            headers: &[("content-type", "application/x-www-form-urlencoded")],
            body: b"Action=PutMetricData",
        };
        let added = signer.sign(&request, "20261129T040000Z");
        assert_eq!(
            added[1],
            ("x-amz-security-token", "token/with+chars".into())
        );
        assert!(
            added[2].1.contains(
                "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{added:?}"
        );
        // A different body is a different signature.
        let other = signer.sign(
            &Request {
                body: b"Action=PutMetricData&x=1",
                ..request
            },
            "20261129T040000Z",
        );
        assert_ne!(added[2], other[2]);
    }

    #[test]
    fn verify_accepts_what_sign_produced_and_nothing_else() {
        let signer = Signer {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            region: "us-east-1".into(),
            service: "events".into(),
        };
        let extra = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AWSEvents.PutEvents"),
        ];
        let request = Request {
            method: "POST",
            host: "127.0.0.1:4566",
            path: "/",
            query: "",
            headers: &extra,
            body: b"{}",
        };
        let mut sent: Vec<(String, String)> = extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        sent.push(("Host".into(), "127.0.0.1:4566".into()));
        for (n, v) in signer.sign(&request, "20261129T040000Z") {
            sent.push((n.to_owned(), v));
        }
        assert_eq!(
            verify("secret", "POST", "/", "", &sent, b"{}").unwrap(),
            "AKID/20261129/us-east-1/events/aws4_request"
        );
        assert!(verify("other", "POST", "/", "", &sent, b"{}").is_err());
        assert!(verify("secret", "POST", "/", "", &sent, b"{ }").is_err());
        sent[1].1 = "AWSEvents.PutRule".into();
        assert!(verify("secret", "POST", "/", "", &sent, b"{}").is_err());
    }

    #[test]
    fn encoding_follows_rfc_3986() {
        assert_eq!(uri_encode("a b/c~d*e"), "a%20b%2Fc~d%2Ae");
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_path("/a b/c"), "/a%20b/c");
        assert_eq!(canonical_path(""), "/");
    }
}
