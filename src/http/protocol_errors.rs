//! The JSON error envelope on errors hyper answers by itself. A request hyper cannot parse (bad
//! method, URI, version or header, a bad `Content-Length`, `Transfer-Encoding` other than
//! chunked, a URI or header block over its limits) never reaches the router: hyper writes a
//! bodiless `400`, `414` or `431` head and closes the connection. Those heads are recognised on
//! their way to the socket and written with the envelope instead, so every error a client gets
//! from this server has the same shape.
//!
//! Only heads that hyper makes are matched: a bodiless (`content-length: 0`) 400, 414 or 431.
//! The router never answers those statuses without a body, so nothing of ours is rewritten.

/// The response to write instead of `head`, when `head` is one of hyper's automatic errors.
pub fn envelope(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap test first: every response head written passes here.
    if head.len() > 512 || !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (code, message) = match &head[9..12] {
        b"400" => (
            "bad_request",
            "the request is not valid HTTP/1.1 (method, target, version, headers or body framing)",
        ),
        b"414" => ("uri_too_long", "the request target is too long"),
        b"431" => (
            "headers_too_large",
            "the request has too many header fields or they are too large",
        ),
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut headers = Vec::new();
    let mut empty = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            empty = value.trim() == "0";
        } else {
            headers.push(line);
        }
    }
    if !empty {
        return None;
    }
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_errors_get_the_envelope() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(envelope(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("date: Tue"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");
    }

    #[test]
    fn responses_with_a_body_or_other_statuses_pass_untouched() {
        assert!(envelope(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(envelope(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(envelope(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(envelope(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}").is_none());
    }
}
