// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::audit::chain::AuditChain;
use crate::audit::hash::sha256_hex;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The key of `tests/fixtures/audit-chain.jsonl` (also in tests/node/audit-cli.test.mjs).
const KEY: &[u8] = b"test-key-0123456789abcdef";

/// The fixture's entries: every kind of value canonical JSON has rules for, three
/// named users, a lookalike and the anonymous bucket, and a restart after entry 4.
fn fixture_lines() -> String {
    let t0 = 1_700_000_000_000.0;
    let mut c = AuditChain::new(KEY).unwrap();
    let mut out = Vec::new();
    let mut add = |c: &mut AuditChain,
                   i: u32,
                   kind: &str,
                   user: Option<&str>,
                   run: Option<&str>,
                   data: Value| {
        let e = c
            .append(
                t0 + f64::from(i) * 1000.25,
                kind,
                (user, None),
                Some("s1"),
                run,
                data,
            )
            .unwrap();
        out.push(e.to_json_line().unwrap());
        e
    };
    add(
        &mut c,
        0,
        "run.start",
        Some("alice"),
        Some("r1"),
        json!({ "input": sha256_hex("hello"), "model": "gpt-x" }),
    );
    add(
        &mut c,
        1,
        "model.call",
        Some("alice"),
        Some("r1"),
        json!({
        "tokens": { "output": 34, "input": 12 }, "cost": 0.1 + 0.2, "latencyMs": 1234.5,
        "tiny": 1.5e-7, "huge": 1e21, "negZero": -0.0, "third": 1.0 / 3.0, "min": 5e-324,
        "maxSafe": 9_007_199_254_740_991u64, "neg": -42, "twoPow60": 1u64 << 60 }),
    );
    add(
        &mut c,
        2,
        "tool.call",
        Some("bob"),
        None,
        json!({
        "\u{e000}": "private use", "😀": "astral", "é": "accent", "a": 1, "B": 2, "": "empty",
        "text": "quote\" back\\ nl\n tab\t cr\r bs\u{8} ff\u{c} nul\u{0} us\u{1f} del\u{7f} ls\u{2028} /" }),
    );
    add(
        &mut c,
        3,
        "permission",
        None,
        None,
        json!({
        "granted": false, "tool": "fs.read",
        "list": [1, "two", null, true, { "z": 1, "a": [] }, []] }),
    );
    let last = add(
        &mut c,
        4,
        "budget.refused",
        Some("carol"),
        Some("r2"),
        json!({ "code": "budget_exceeded", "remaining": 0 }),
    );
    drop(c);
    let mut c = AuditChain::resume(KEY, last.seq, &last.mac).unwrap();
    add(
        &mut c,
        5,
        "forget",
        Some("alice"),
        None,
        json!({ "sessions": ["s1"] }),
    );
    add(&mut c, 6, "export", Some("bob"), None, json!({}));
    add(
        &mut c,
        7,
        "import",
        Some("alice "),
        None,
        json!({ "nested": { "b": { "c": { "d": [1] } } } }),
    );
    add(
        &mut c,
        8,
        "run.finish",
        Some("alice"),
        Some("r3"),
        json!({ "finishReason": "stop", "output": sha256_hex("bye") }),
    );
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// 1-based line, seq, message.
type Break = (usize, Option<u64>, String);

fn report(text: &str) -> (bool, usize, Option<Break>) {
    let r = verify_jsonl(text.as_bytes(), KEY);
    let b = r.first_broken.map(|b| (b.index + 1, b.seq, b.to_string()));
    (r.ok, r.checked, b)
}

fn broken_at(text: &str) -> Break {
    let (ok, _, b) = report(text);
    assert!(!ok);
    b.unwrap()
}

#[test]
fn a_written_file_verifies_and_reads_back() {
    let text = fixture_lines();
    assert_eq!(report(&text), (true, 9, None));
    assert_eq!(report(&text.replace('\n', "\r\n")), (true, 9, None));
    let entries = parse_jsonl(text.as_bytes()).unwrap();
    assert_eq!(entries.len(), 9);
    assert_eq!(entries[7].user_id.as_deref(), Some("alice "));
    assert_eq!(report(""), (true, 0, None));
    // Without the final newline it is the same file.
    assert_eq!(report(text.trim_end()), (true, 9, None));
}

#[test]
fn tampered_files_break_at_the_right_line() {
    // The JS CLI test expects these same lines and words.
    let text = fixture_lines();
    let lines: Vec<&str> = text.lines().collect();
    let join = |v: &[&str]| v.iter().map(|l| format!("{l}\n")).collect::<String>();

    let modified = text.replacen("\"tool\":\"fs.read\"", "\"tool\":\"fs.write\"", 1);
    assert_eq!(
        broken_at(&modified),
        (
            4,
            Some(3),
            "inserted or modified entry (MAC mismatch)".into()
        )
    );
    let mut v = lines.clone();
    v.remove(2);
    assert_eq!(
        broken_at(&join(&v)),
        (
            3,
            Some(3),
            "deleted entry (seq gap: expected 2, found 3)".into()
        )
    );
    let mut v = lines.clone();
    v.swap(2, 3);
    assert_eq!(
        broken_at(&join(&v)),
        (
            3,
            Some(3),
            "reordered entry (expected seq 2, found 3; seq 2 comes later)".into()
        )
    );
    let r = verify_jsonl(text.as_bytes(), b"wrong-key-0123456789abcdef");
    assert_eq!(
        r.first_broken.map(|b| (b.index, b.reason.code())),
        Some((0, "wrong_key"))
    );
    let (ok, checked, _) = report(&join(&lines[..5]));
    assert_eq!((ok, checked), (true, 5));
}

#[test]
fn malformed_lines_are_reported_after_earlier_breaks() {
    let text = fixture_lines();
    let lines: Vec<&str> = text.lines().collect();
    let mut v: Vec<String> = lines.iter().map(|l| format!("{l}\n")).collect();
    v[5] = "{not json\n".into();
    let (line, seq, msg) = broken_at(&v.concat());
    assert_eq!((line, seq), (6, None));
    assert!(msg.starts_with("malformed entry: not JSON"), "{msg}");
    v[5] = "\n".into();
    assert_eq!(broken_at(&v.concat()).0, 6);
    v[5] = lines[5].replace("\"seq\":5", "\"seq\":5,\"x\":1") + "\n";
    assert_eq!(
        broken_at(&v.concat()),
        (6, Some(5), "malformed entry: unknown field \"x\"".into())
    );
    // A modification before the malformed line is reported first.
    v[1] = lines[1].replace("\"neg\":-42", "\"neg\":-43") + "\n";
    assert_eq!(broken_at(&v.concat()).0, 2);
    let mut bytes = text.clone().into_bytes();
    bytes.insert(3, 0xff);
    let r = verify_jsonl(&bytes, KEY);
    assert_eq!(
        r.first_broken.map(|b| b.to_string()),
        Some("malformed entry: not valid UTF-8".into())
    );
    let err = parse_jsonl(b"{}\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1: malformed entry: missing field"),
        "{err}"
    );
}

#[test]
fn a_line_naming_a_key_twice_is_a_malformed_link_at_its_line() {
    // The JS CLI test expects these same lines and words.
    let text = fixture_lines();
    // The signed value comes last, so a last-wins reader would verify the line while
    // a first-wins reader acts on the forged value before it.
    let cases = [
        (
            text.replacen(
                r#""userId":"carol""#,
                r#""userId":"mallory","userId":"carol""#,
                1,
            ),
            5,
            r#"malformed entry: duplicate key "userId""#,
        ),
        (
            text.replacen(
                r#""tool":"fs.read""#,
                r#""tool":"fs.write","tool":"fs.read""#,
                1,
            ),
            4,
            r#"malformed entry: duplicate key "tool""#,
        ),
        (
            text.replacen(r#""z":1}"#, r#""z":0,"\u007a":1}"#, 1),
            4,
            r#"malformed entry: duplicate key "z""#,
        ),
    ];
    for (forged, line, want) in cases {
        assert_ne!(forged, text);
        let r = verify_jsonl(forged.as_bytes(), KEY);
        let b = r.first_broken.clone().expect("a break");
        assert_eq!(
            (b.index + 1, b.seq, b.reason.code()),
            (line, None, "malformed")
        );
        assert_eq!(b.to_string(), want);
        assert_eq!(r.checked, line - 1);
        let err = parse_jsonl(forged.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
}

/// The committed fixture is exactly what this code writes, and it verifies: the JS CLI
/// test runs on the same file, so both implementations agree on one artifact. After an
/// intended format change, regenerate it with
/// `TENANTRY_WRITE_AUDIT_FIXTURE=1 cargo test --lib audit::jsonl`.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_committed_fixture_is_current_and_verifies() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audit-chain.jsonl"
    );
    let want = fixture_lines();
    if std::env::var_os("TENANTRY_WRITE_AUDIT_FIXTURE").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let committed = std::fs::read(path).unwrap();
    assert_eq!(String::from_utf8_lossy(&committed), want, "{path} is stale");
    let r = verify_jsonl(&committed, KEY);
    assert_eq!((r.ok, r.checked), (true, 9), "{:?}", r.first_broken);
}
