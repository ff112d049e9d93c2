//! The request parser and responses shared by `http_hello` and its benchmark peers, so
//! both servers do the same work per request.
#![allow(dead_code)]

pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ringloop\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
pub const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: ringloop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Longest request head accepted; longer is malformed.
const MAX_HEAD: usize = 16 * 1024;

pub enum Parsed {
    /// A complete request of this many bytes (head + body); `true` if the client asked to close.
    Request(usize, bool),
    Incomplete,
    Malformed,
}

pub fn parse(buf: &[u8]) -> Parsed {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Parsed::Malformed
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
        return Parsed::Malformed;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Malformed;
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return Parsed::Malformed;
    }
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Parsed::Malformed,
    };
    let mut body = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Malformed;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(n) => body = n,
                Err(_) => return Parsed::Malformed,
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close")
                || (close && !value.eq_ignore_ascii_case("keep-alive"));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are out of this demo's scope.
            return Parsed::Malformed;
        }
    }
    let total = head_end + 4 + body;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    Parsed::Request(total, close)
}

/// Answers every complete request in `pending` followed by `data`, passing each response to
/// `respond` in order; what is left of an unfinished request stays in `pending`. Returns
/// true when the connection must close (the client asked, or sent garbage). Parses `data`
/// in place when nothing is pending, so the common case copies nothing.
pub fn answer(pending: &mut Vec<u8>, data: &[u8], mut respond: impl FnMut(&[u8])) -> bool {
    let owned;
    let input: &[u8] = if pending.is_empty() {
        data
    } else {
        pending.extend_from_slice(data);
        owned = std::mem::take(pending);
        &owned
    };
    let mut consumed = 0;
    loop {
        match parse(&input[consumed..]) {
            Parsed::Request(len, close) => {
                consumed += len;
                respond(OK);
                if close {
                    return true;
                }
            }
            Parsed::Incomplete => break,
            Parsed::Malformed => {
                respond(BAD);
                return true;
            }
        }
    }
    pending.extend_from_slice(&input[consumed..]);
    false
}
