//! SSE bytes split at a fuzzer-chosen point decode to the same events as unsplit, and
//! neither provider's stream decoder panics on any event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::testing::{anthropic, openai, SseDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else { return };
    let cut = (cut as usize * body.len()) / 256;
    let mut whole = SseDecoder::new();
    let all = whole.push(body);
    let mut split = SseDecoder::new();
    let mut parts = split.push(&body[..cut]);
    if let (Ok(a), Ok(b)) = (&mut parts, split.push(&body[cut..])) {
        a.extend(b);
    }
    if let (Ok(a), Ok(b)) = (&all, &parts) {
        assert_eq!(a, b, "a chunk boundary changed the events");
    }
    let mut o = openai::StreamDecoder::new();
    let mut c = anthropic::StreamDecoder::new();
    for ev in all.unwrap_or_default() {
        let _ = o.event(&ev.data);
        let _ = c.event(ev.event.as_deref(), &ev.data);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = openai::parse_response(text);
        let _ = anthropic::parse_response(text);
    }
});
