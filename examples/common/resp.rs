//! RESP2 (the Redis protocol) for `kv_server`: a request parser that borrows from the
//! input, the store, and the commands PING, GET, SET, DEL, INCR, MGET and EXISTS (plus
//! the CONFIG GET, COMMAND and QUIT that clients such as `redis-benchmark` and `redis-cli`
//! send). No I/O here: `tests/kv_resp.rs` checks it directly.
#![allow(dead_code)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

/// Largest bulk string accepted (Redis allows 512 MB; a demo server needs less).
pub const MAX_BULK: usize = 64 << 20;
/// Most arguments in one command.
pub const MAX_ARGS: usize = 1 << 20;
/// Longest inline command or header line.
const MAX_LINE: usize = 64 << 10;

/// A parse that cannot continue: the server answers `-ERR Protocol error: …` and closes,
/// as Redis does.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// Parses one command at the start of `buf` into `args` (ranges of `buf`). `Ok(None)`: the
/// command is not complete yet; `Ok(Some(n))`: it took `n` bytes (`args` may be empty for a
/// blank inline line, which Redis ignores).
pub fn parse(buf: &[u8], args: &mut Vec<Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, args);
    }
    let Some((count, mut at)) = header(buf, 0, b'*')? else {
        return Ok(None);
    };
    if count > MAX_ARGS as i64 {
        return Err(ProtocolError("invalid multibulk length"));
    }
    for _ in 0..count.max(0) {
        if at >= buf.len() {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err(ProtocolError("expected '$'"));
        }
        let Some((len, start)) = header(buf, at, b'$')? else {
            return Ok(None);
        };
        if !(0..=MAX_BULK as i64).contains(&len) {
            return Err(ProtocolError("invalid bulk length"));
        }
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not followed by CRLF"));
        }
        args.push(start..end);
        at = end + 2;
    }
    Ok(Some(at))
}

/// Reads `<marker><integer>\r\n` at `at`; returns the integer and where the line ends.
fn header(buf: &[u8], at: usize, marker: u8) -> Result<Option<(i64, usize)>, ProtocolError> {
    debug_assert_eq!(buf[at], marker);
    let Some(cr) = buf[at..].iter().take(32).position(|&b| b == b'\r') else {
        return if buf.len() - at >= 32 {
            Err(ProtocolError("length line too long"))
        } else {
            Ok(None)
        };
    };
    let line_end = at + cr;
    if buf.len() < line_end + 2 {
        return Ok(None);
    }
    if buf[line_end + 1] != b'\n' {
        return Err(ProtocolError("expected CRLF"));
    }
    let number = parse_int(&buf[at + 1..line_end]).ok_or(ProtocolError("invalid length"))?;
    Ok(Some((number, line_end + 2)))
}

/// `PING`, `GET key`, …: words separated by spaces, ended by `\n` (telnet style).
fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    let Some(newline) = buf.iter().take(MAX_LINE).position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_LINE {
            Err(ProtocolError("too big inline request"))
        } else {
            Ok(None)
        };
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut start = None;
    for (i, &b) in buf[..line_end].iter().enumerate() {
        match (b == b' ' || b == b'\t', start) {
            (true, Some(s)) => {
                args.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        args.push(s..line_end);
    }
    Ok(Some(newline + 1))
}

/// A strict base-10 i64, as Redis reads lengths and INCR operands.
pub fn parse_int(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub((d - b'0') as i64)?
        } else {
            value.checked_add((d - b'0') as i64)?
        };
    }
    Some(value)
}

/// FNV-1a: keys are short, and SipHash's flood resistance costs more than it buys a demo.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type Store = HashMap<Vec<u8>, Vec<u8>, BuildHasherDefault<Fnv>>;

/// What the connection does after a command's reply.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    Close,
}

/// Runs one parsed command (`args` are ranges of `buf`) against `store`, appending its RESP
/// reply to `out`.
pub fn execute(store: &mut Store, buf: &[u8], args: &[Range<usize>], out: &mut Vec<u8>) -> After {
    let Some(name) = args.first() else {
        return After::Continue;
    };
    let arg = |i: usize| &buf[args[i].clone()];
    let name = &buf[name.clone()];
    let arity_ok = |min: usize, max: usize| (min..=max).contains(&args.len());
    let command = name.to_ascii_uppercase();
    let expected = match command.as_slice() {
        b"PING" => arity_ok(1, 2),
        b"GET" | b"INCR" => arity_ok(2, 2),
        b"SET" => arity_ok(3, 3),
        b"DEL" | b"MGET" | b"EXISTS" => arity_ok(2, usize::MAX),
        b"CONFIG" => arity_ok(2, usize::MAX),
        b"COMMAND" => true,
        b"QUIT" => true,
        _ => {
            out.extend_from_slice(b"-ERR unknown command '");
            out.extend(
                name.iter()
                    .take(64)
                    .map(|&b| if b.is_ascii_graphic() { b } else { b'?' }),
            );
            out.extend_from_slice(b"'\r\n");
            return After::Continue;
        }
    };
    if !expected {
        out.extend_from_slice(b"-ERR wrong number of arguments for '");
        out.extend(command.iter().map(u8::to_ascii_lowercase));
        out.extend_from_slice(b"' command\r\n");
        return After::Continue;
    }
    match command.as_slice() {
        b"PING" if args.len() == 2 => bulk(out, Some(arg(1))),
        b"PING" => out.extend_from_slice(b"+PONG\r\n"),
        b"GET" => bulk(out, store.get(arg(1)).map(Vec::as_slice)),
        b"SET" => {
            match store.get_mut(arg(1)) {
                Some(value) => {
                    value.clear();
                    value.extend_from_slice(arg(2));
                }
                None => {
                    store.insert(arg(1).to_vec(), arg(2).to_vec());
                }
            }
            out.extend_from_slice(b"+OK\r\n");
        }
        b"DEL" => {
            let removed = (1..args.len()).filter(|&i| store.remove(arg(i)).is_some());
            integer(out, removed.count() as i64);
        }
        b"EXISTS" => {
            let found = (1..args.len()).filter(|&i| store.contains_key(arg(i)));
            integer(out, found.count() as i64);
        }
        b"MGET" => {
            header_line(out, b'*', args.len() as i64 - 1);
            for i in 1..args.len() {
                bulk(out, store.get(arg(i)).map(Vec::as_slice));
            }
        }
        b"INCR" => {
            let current = match store.get(arg(1)) {
                None => Some(0),
                Some(value) => parse_int(value),
            };
            match current.and_then(|v| v.checked_add(1)) {
                Some(next) => {
                    store.insert(arg(1).to_vec(), next.to_string().into_bytes());
                    integer(out, next);
                }
                None => out.extend_from_slice(b"-ERR value is not an integer or out of range\r\n"),
            }
        }
        b"CONFIG" => config(out, buf, args),
        // redis-cli asks for the command table; an empty one satisfies it.
        b"COMMAND" => out.extend_from_slice(b"*0\r\n"),
        b"QUIT" => {
            out.extend_from_slice(b"+OK\r\n");
            return After::Close;
        }
        _ => unreachable!("every command matched above was checked for arity"),
    }
    After::Continue
}

/// `CONFIG GET save` and `CONFIG GET appendonly` (what `redis-benchmark` asks): this
/// server never persists. Anything else reads as an unknown setting.
fn config(out: &mut Vec<u8>, buf: &[u8], args: &[Range<usize>]) {
    let sub = buf[args[1].clone()].to_ascii_uppercase();
    if sub != b"GET" || args.len() != 3 {
        out.extend_from_slice(b"-ERR only CONFIG GET <parameter> is supported\r\n");
        return;
    }
    let name = &buf[args[2].clone()];
    let value: &[u8] = match name.to_ascii_lowercase().as_slice() {
        b"save" => b"",
        b"appendonly" => b"no",
        _ => return out.extend_from_slice(b"*0\r\n"),
    };
    header_line(out, b'*', 2);
    bulk(out, Some(name));
    bulk(out, Some(value));
}

fn header_line(out: &mut Vec<u8>, marker: u8, n: i64) {
    out.push(marker);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn integer(out: &mut Vec<u8>, n: i64) {
    header_line(out, b':', n);
}

fn bulk(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"$-1\r\n"),
        Some(v) => {
            header_line(out, b'$', v.len() as i64);
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Answers every complete command in `pending` followed by `data` into `out`, keeping an
/// unfinished command in `pending`. Parses `data` in place when nothing is pending.
pub fn serve(
    store: &mut Store,
    pending: &mut Vec<u8>,
    data: &[u8],
    args: &mut Vec<Range<usize>>,
    out: &mut Vec<u8>,
) -> After {
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
        match parse(&input[consumed..], args) {
            Ok(Some(len)) => {
                let base = consumed;
                consumed += len;
                for range in args.iter_mut() {
                    *range = range.start + base..range.end + base;
                }
                if execute(store, input, args, out) == After::Close {
                    return After::Close;
                }
            }
            Ok(None) => break,
            Err(ProtocolError(why)) => {
                out.extend_from_slice(b"-ERR Protocol error: ");
                out.extend_from_slice(why.as_bytes());
                out.extend_from_slice(b"\r\n");
                return After::Close;
            }
        }
    }
    pending.extend_from_slice(&input[consumed..]);
    After::Continue
}
