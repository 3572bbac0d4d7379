//! An incremental Server-Sent Events decoder following the WHATWG EventSource
//! "interpreting an event stream" rules, minus reconnection (`id:` and `retry:` only
//! matter to a reconnecting EventSource, and provider streams cannot be resumed).

use super::WireError;
use std::borrow::Cow;

/// Default cap on one line and on one event's accumulated data. Provider events are a few
/// KiB; the cap only stops a broken or hostile peer from growing memory without bound.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, or `None` for the default ("message") type.
    pub event: Option<String>,
    /// All `data:` lines of the event, joined with `\n`.
    pub data: String,
}

#[derive(Debug)]
pub struct SseDecoder {
    max_bytes: usize,
    /// Bytes of the current line, without its terminator. Kept as bytes and decoded per
    /// line: terminators are ASCII, so a multi-byte character never straddles a line end,
    /// and a character split across pushes is decoded only once it is whole.
    line: Vec<u8>,
    /// The previous push ended with `\r`, so a leading `\n` finishes that same CRLF.
    after_cr: bool,
    /// How many bytes of a leading BOM have been matched; `None` once past the start.
    bom_matched: Option<usize>,
    event_type: String,
    data: String,
    /// Set once a limit is exceeded: the stream position is lost, so refuse the rest.
    failed: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_BYTES)
    }

    /// `max_bytes` bounds both a single line and the data of a single event.
    pub fn with_limit(max_bytes: usize) -> Self {
        SseDecoder {
            max_bytes,
            line: Vec::new(),
            after_cr: false,
            bom_matched: Some(0),
            event_type: String::new(),
            data: String::new(),
            failed: false,
        }
    }

    /// Feeds the next bytes of the stream, cut anywhere, and returns the events they
    /// complete. After an error the decoder stays failed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, WireError> {
        if self.failed {
            return Err(WireError::malformed("SSE stream already failed"));
        }
        let mut events = Vec::new();
        let result = self.push_inner(bytes, &mut events);
        if result.is_err() {
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
        }
        result.map(|()| events)
    }

    /// Ends the stream. Per WHATWG an event not closed by a blank line is discarded, so
    /// this dispatches nothing; it returns whether anything was discarded, which means
    /// the stream was cut off mid-event.
    pub fn finish(&mut self) -> bool {
        let discarded = !self.line.is_empty()
            || !self.data.is_empty()
            || !self.event_type.is_empty()
            || matches!(self.bom_matched, Some(n) if n > 0);
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.after_cr = false;
        self.bom_matched = None;
        discarded
    }

    fn push_inner(
        &mut self,
        mut bytes: &[u8],
        events: &mut Vec<SseEvent>,
    ) -> Result<(), WireError> {
        if let Some(matched) = self.bom_matched {
            let mut matched = matched;
            while let (Some(&b), Some(&want)) = (bytes.first(), BOM.get(matched)) {
                if b != want {
                    break;
                }
                matched += 1;
                bytes = bytes.get(1..).unwrap_or_default();
            }
            if matched == BOM.len() {
                self.bom_matched = None;
            } else if bytes.is_empty() {
                // Still ambiguous: wait for the next push to tell BOM from content.
                self.bom_matched = Some(matched);
                return Ok(());
            } else {
                // Not a BOM after all: the bytes held back are ordinary content.
                self.bom_matched = None;
                let held = BOM.get(..matched).unwrap_or_default();
                self.feed(held, events)?;
            }
        }
        self.feed(bytes, events)
    }

    fn feed(&mut self, mut bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), WireError> {
        if self.after_cr {
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
                self.after_cr = false;
            } else if !bytes.is_empty() {
                self.after_cr = false;
            }
        }
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.extend_line(bytes)?;
                    break;
                }
                Some(end) => {
                    let (content, rest) = bytes.split_at(end);
                    self.extend_line(content)?;
                    let is_cr = rest.first() == Some(&b'\r');
                    bytes = rest.get(1..).unwrap_or_default();
                    if is_cr {
                        match bytes.strip_prefix(b"\n") {
                            Some(after_lf) => bytes = after_lf,
                            None => self.after_cr = bytes.is_empty(),
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, events)?;
                    // Reuse the allocation for the next line.
                    self.line = line;
                    self.line.clear();
                }
            }
        }
        Ok(())
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        if self.line.len().saturating_add(bytes.len()) > self.max_bytes {
            return Err(WireError::malformed(format!(
                "SSE line longer than {} bytes",
                self.max_bytes
            )));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), WireError> {
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let text: Cow<'_, str> = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                if self
                    .data
                    .len()
                    .saturating_add(value.len())
                    .saturating_add(1)
                    > self.max_bytes
                {
                    return Err(WireError::malformed(format!(
                        "SSE event data longer than {} bytes",
                        self.max_bytes
                    )));
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // `id`, `retry` and unknown fields: ignored, as WHATWG says for unknown ones.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            // WHATWG: an event with no data lines is dropped, its type forgotten.
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        events.push(SseEvent {
            event: (!event_type.is_empty()).then_some(event_type),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    fn decode_all(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(d.push(p).unwrap());
        }
        d.finish();
        out
    }

    #[test]
    fn parses_fields_names_comments_and_multiline_data() {
        let stream = b": keep-alive comment\n\
            event: greeting\n\
            data: hello\n\
            data:world\n\
            data:  two spaces\n\
            id: 7\n\
            retry: 1000\n\
            unknown: field\n\
            \n\
            data\n\
            \n\
            data:\n\
            data:\n\
            \n";
        assert_eq!(
            decode_all(&[stream]),
            vec![
                ev(Some("greeting"), "hello\nworld\n two spaces"),
                // A field name with no colon is the whole line with an empty value.
                ev(None, ""),
                ev(None, "\n"),
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_dropped_and_its_name_forgotten() {
        let stream = b"event: ping\n\ndata: x\n\n";
        assert_eq!(decode_all(&[stream]), vec![ev(None, "x")]);
    }

    #[test]
    fn lf_crlf_and_lone_cr_line_endings_are_equivalent() {
        let lf = decode_all(&[b"event: a\ndata: 1\ndata: 2\n\ndata: 3\n\n"]);
        let crlf = decode_all(&[b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"]);
        let cr = decode_all(&[b"event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r"]);
        let mixed = decode_all(&[b"event: a\r\ndata: 1\rdata: 2\n\r\ndata: 3\r\n\n"]);
        let want = vec![ev(Some("a"), "1\n2"), ev(None, "3")];
        assert_eq!(lf, want);
        assert_eq!(crlf, want);
        assert_eq!(cr, want);
        assert_eq!(mixed, want);
    }

    #[test]
    fn any_split_point_gives_the_same_events() {
        // Multi-byte characters, CRLF, lone CR and a BOM, so some cut lands inside each.
        let stream =
            "\u{feff}: c\r\nevent: é\r\ndata: 日本語 🎉\r\ndata: x\r\rdata: ü\n\n".as_bytes();
        let want = vec![ev(Some("é"), "日本語 🎉\nx"), ev(None, "ü")];
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(decode_all(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytes), want);
    }

    #[test]
    fn a_cr_at_the_end_of_a_push_pairs_with_a_following_lf() {
        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: a\r").unwrap(), vec![]);
        // If the LF were a second line ending, this would dispatch an event now.
        assert_eq!(d.push(b"\n").unwrap(), vec![]);
        assert_eq!(d.push(b"\r").unwrap(), vec![ev(None, "a")]);
        assert_eq!(d.push(b"\n").unwrap(), vec![]);
        assert!(!d.finish());
    }

    #[test]
    fn only_a_leading_bom_is_stripped() {
        assert_eq!(
            decode_all(&[b"\xEF\xBB\xBFdata: a\n\n"]),
            vec![ev(None, "a")]
        );
        // Split inside the BOM.
        assert_eq!(
            decode_all(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]),
            vec![ev(None, "a")]
        );
        // A second BOM is content: it makes the field name "\u{feff}data", which is unknown.
        assert_eq!(
            decode_all(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"]),
            vec![]
        );
        // A BOM later in the stream is content too.
        assert_eq!(
            decode_all(&[b"data: a\xEF\xBB\xBF\n\n"]),
            vec![ev(None, "a\u{feff}")]
        );
        // A partial BOM prefix is replayed as content (invalid UTF-8 -> U+FFFD).
        assert_eq!(decode_all(&[b"\xEF", b"\xBBdata: a\n\n"]), vec![]);
        assert_eq!(
            decode_all(&[b"\xEF\n", b"data: a\n\n"]),
            vec![ev(None, "a")]
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(
            decode_all(&[b"data: a\xFFb\xE6\x97\n\n"]),
            vec![ev(None, "a\u{fffd}b\u{fffd}")]
        );
    }

    #[test]
    fn an_unterminated_event_is_discarded_at_the_end() {
        let mut d = SseDecoder::new();
        assert_eq!(
            d.push(b"data: done\n\ndata: partial\n").unwrap(),
            vec![ev(None, "done")]
        );
        assert!(d.finish(), "the cut-off event is reported as discarded");

        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: complete\n\n").unwrap().len(), 1);
        assert!(!d.finish());

        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: no newline").unwrap(), vec![]);
        assert!(d.finish());
    }

    #[test]
    fn an_overlong_line_is_an_error_and_the_decoder_stays_failed() {
        let mut d = SseDecoder::with_limit(16);
        assert_eq!(d.push(b"data: 0123456789\n").unwrap(), vec![]); // 16 bytes: allowed
        let err = d.push(b"data: 0123456789A").unwrap_err();
        assert!(matches!(err, WireError::Malformed { .. }), "{err:?}");
        assert!(d.push(b"\n\n").is_err());

        // The limit counts across pushes, so slow drip-feeding cannot bypass it.
        let mut d = SseDecoder::with_limit(16);
        for _ in 0..16 {
            d.push(b"x").unwrap();
        }
        assert!(d.push(b"x").is_err());
    }

    #[test]
    fn an_event_whose_data_lines_add_up_past_the_limit_is_an_error() {
        let mut d = SseDecoder::with_limit(16);
        d.push(b"data: 12345\ndata: 12345\n").unwrap(); // 12 bytes of data so far
        assert!(matches!(
            d.push(b"data: 12345\n"),
            Err(WireError::Malformed { .. })
        ));
    }
}
