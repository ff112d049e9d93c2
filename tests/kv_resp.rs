//! `kv_server`'s RESP2 core (pure, no I/O): parsing, commands, and a model test that any
//! split of a pipelined stream gives the same replies as a plain map would.

#[path = "../examples/common/resp.rs"]
mod resp;

use proptest::prelude::*;
use resp::{parse, parse_int, serve, After, ProtocolError, Store};
use std::collections::HashMap;

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Feeds `input` in the given chunk sizes; returns (replies, whether the server closed).
fn run(store: &mut Store, input: &[u8], chunks: &[usize]) -> (Vec<u8>, bool) {
    let (mut pending, mut args, mut out) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = 0;
    let mut sizes = chunks.iter().cycle();
    while at < input.len() {
        let n = (*sizes.next().unwrap_or(&usize::MAX)).clamp(1, input.len() - at);
        if serve(store, &mut pending, &input[at..at + n], &mut args, &mut out) == After::Close {
            return (out, true);
        }
        at += n;
    }
    (out, false)
}

fn reply(store: &mut Store, args: &[&[u8]]) -> String {
    String::from_utf8(run(store, &encode(args), &[usize::MAX]).0).unwrap()
}

#[test]
fn commands_reply_like_redis() {
    let mut s = Store::default();
    assert_eq!(reply(&mut s, &[b"PING"]), "+PONG\r\n");
    assert_eq!(reply(&mut s, &[b"ping", b"hi"]), "$2\r\nhi\r\n");
    assert_eq!(reply(&mut s, &[b"GET", b"k"]), "$-1\r\n");
    assert_eq!(reply(&mut s, &[b"SET", b"k", b""]), "+OK\r\n");
    assert_eq!(reply(&mut s, &[b"GET", b"k"]), "$0\r\n\r\n");
    assert_eq!(reply(&mut s, &[b"INCR", b"c"]), ":1\r\n");
    assert_eq!(reply(&mut s, &[b"INCR", b"c"]), ":2\r\n");
    assert_eq!(
        reply(&mut s, &[b"MGET", b"c", b"x"]),
        "*2\r\n$1\r\n2\r\n$-1\r\n"
    );
    assert_eq!(reply(&mut s, &[b"EXISTS", b"c", b"c", b"x"]), ":2\r\n");
    assert_eq!(reply(&mut s, &[b"DEL", b"c", b"k", b"x"]), ":2\r\n");
    assert_eq!(
        reply(&mut s, &[b"SET", b"big", b"9223372036854775807"]),
        "+OK\r\n"
    );
    assert_eq!(
        reply(&mut s, &[b"INCR", b"big"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        reply(&mut s, &[b"SET", b"k"]),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    assert_eq!(reply(&mut s, &[b"NOPE"]), "-ERR unknown command 'NOPE'\r\n");
    assert_eq!(
        reply(&mut s, &[b"CONFIG", b"GET", b"save"]),
        "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    );
    assert_eq!(
        run(&mut s, &encode(&[b"QUIT"]), &[9]),
        (b"+OK\r\n".to_vec(), true)
    );
}

#[test]
fn inline_commands_work_as_in_telnet() {
    let mut s = Store::default();
    let (out, closed) = run(&mut s, b"SET a  1\r\nGET a\n\r\nPING\r\n", &[3]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "+OK\r\n$1\r\n1\r\n+PONG\r\n"
    );
    assert!(!closed);
}

#[test]
fn protocol_errors_reply_and_close() {
    for (input, why) in [
        (&b"*1\r\n$-5\r\n"[..], "invalid bulk length"),
        (b"*1\r\n$99999999999\r\n", "invalid bulk length"),
        (b"*1\r\n$3\r\nGETxx", "bulk string not followed by CRLF"),
        (b"*1\r\n+PING\r\n", "expected '$'"),
        (b"*x\r\n", "invalid length"),
        (b"*1\rz", "expected CRLF"),
        (b"*99999999\r\n", "invalid multibulk length"),
    ] {
        let mut s = Store::default();
        let (out, closed) = run(&mut s, input, &[usize::MAX]);
        assert!(closed, "{input:?}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("-ERR Protocol error: {why}\r\n")
        );
    }
    let mut args = Vec::new();
    assert_eq!(
        parse(&vec![b'a'; 70_000], &mut args),
        Err(ProtocolError("too big inline request"))
    );
    assert_eq!(parse(b"*2\r\n$3\r\nGET\r\n", &mut args), Ok(None));
}

#[test]
fn integers_are_strict() {
    assert_eq!(parse_int(b"0"), Some(0));
    assert_eq!(parse_int(b"-12"), Some(-12));
    assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"01",
        b"1 ",
        b"+1",
        b"9223372036854775808",
        b"1e3",
    ] {
        assert_eq!(parse_int(bad), None, "{bad:?}");
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Get(u8),
    Set(u8, Vec<u8>),
    Del(Vec<u8>),
    Incr(u8),
    Exists(Vec<u8>),
    Mget(Vec<u8>),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let key = 0u8..6;
    let keys = prop::collection::vec(0u8..6, 1..4);
    prop_oneof![
        key.clone().prop_map(Cmd::Get),
        (key.clone(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(k, v)| Cmd::Set(k, v)),
        (key.clone(), 0i64..100).prop_map(|(k, v)| Cmd::Set(k, v.to_string().into_bytes())),
        keys.clone().prop_map(Cmd::Del),
        key.prop_map(Cmd::Incr),
        keys.clone().prop_map(Cmd::Exists),
        keys.prop_map(Cmd::Mget),
    ]
}

fn bulk(v: Option<&Vec<u8>>) -> Vec<u8> {
    match v {
        None => b"$-1\r\n".to_vec(),
        Some(v) => [format!("${}\r\n", v.len()).as_bytes(), v, b"\r\n"].concat(),
    }
}

/// What Redis would answer, from a plain HashMap.
fn model(cmds: &[Cmd]) -> Vec<u8> {
    let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut out = Vec::new();
    let k = |k: &u8| vec![b'k', *k];
    for c in cmds {
        match c {
            Cmd::Get(key) => out.extend(bulk(m.get(&k(key)))),
            Cmd::Set(key, v) => {
                m.insert(k(key), v.clone());
                out.extend_from_slice(b"+OK\r\n");
            }
            Cmd::Del(keys) => {
                let n = keys
                    .iter()
                    .filter(|key| m.remove(&k(key)).is_some())
                    .count();
                out.extend(format!(":{n}\r\n").into_bytes());
            }
            Cmd::Exists(keys) => {
                let n = keys.iter().filter(|key| m.contains_key(&k(key))).count();
                out.extend(format!(":{n}\r\n").into_bytes());
            }
            Cmd::Mget(keys) => {
                out.extend(format!("*{}\r\n", keys.len()).into_bytes());
                for key in keys {
                    out.extend(bulk(m.get(&k(key))));
                }
            }
            Cmd::Incr(key) => {
                let next = match m.get(&k(key)) {
                    None => Some(1),
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .filter(|s| !(s.starts_with('+') || s.len() > 1 && s.starts_with('0')))
                        .and_then(|s| s.parse::<i64>().ok())
                        .and_then(|n| n.checked_add(1)),
                };
                match next {
                    Some(n) => {
                        m.insert(k(key), n.to_string().into_bytes());
                        out.extend(format!(":{n}\r\n").into_bytes());
                    }
                    None => {
                        out.extend_from_slice(b"-ERR value is not an integer or out of range\r\n")
                    }
                }
            }
        }
    }
    out
}

fn wire(cmds: &[Cmd]) -> Vec<u8> {
    let k = |k: &u8| vec![b'k', *k];
    let mut out = Vec::new();
    for c in cmds {
        let (name, mut args): (&[u8], Vec<Vec<u8>>) = match c {
            Cmd::Get(key) => (b"GET", vec![k(key)]),
            Cmd::Set(key, v) => (b"SET", vec![k(key), v.clone()]),
            Cmd::Del(keys) => (b"DEL", keys.iter().map(k).collect()),
            Cmd::Incr(key) => (b"INCR", vec![k(key)]),
            Cmd::Exists(keys) => (b"EXISTS", keys.iter().map(k).collect()),
            Cmd::Mget(keys) => (b"MGET", keys.iter().map(k).collect()),
        };
        args.insert(0, name.to_vec());
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        out.extend(encode(&refs));
    }
    out
}

proptest! {
    #[test]
    fn any_split_of_a_pipeline_answers_like_the_model(
        cmds in prop::collection::vec(cmd(), 1..60),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut store = Store::default();
        let (out, closed) = run(&mut store, &wire(&cmds), &chunks);
        prop_assert!(!closed);
        prop_assert_eq!(out, model(&cmds));
    }
}
