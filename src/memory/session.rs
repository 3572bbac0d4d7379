//! One conversation of one user: whole turns, bounded by a message count.
//!
//! A stored turn is packed into a single shared allocation (`PackedTurn`): with 100k
//! resident users of a few short messages each, per-message `String`s and per-turn `Vec`s
//! cost more than the text itself. Sharing (`Rc`) makes the copy a run builds to commit a
//! copy of pointers, not of the conversation.

use crate::message::{Message, Role};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::rc::Rc;

/// Fixed cost counted per message on top of its text (its header in the packed turn plus a
/// share of the turn's), so `stats().approxBytes` tracks the heap within a small factor.
pub const MESSAGE_OVERHEAD_BYTES: usize = 24;

/// How a compaction summary's message begins (see `agent::compaction`).
pub const SUMMARY_PREFIX: &str = "Summary of the earlier conversation: ";

/// One exchange committed atomically: the user's message and everything the agent answered.
/// This is the document shape (export, import, storage); sessions hold `PackedTurn`s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// When the turn was committed (ms since the epoch).
    pub at: f64,
    pub messages: Vec<Message>,
    /// Embeddings, one slot per message (`null` where a message has none, e.g. tool
    /// plumbing), or empty: documents from before embeddings, or an agent without an
    /// embedder, load unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vectors: Vec<Option<Vec<f32>>>,
}

impl Turn {
    /// A compaction summary: one system message, marked by its prefix. The only place a
    /// system message may stand in a session, and only as its first turn.
    pub fn is_summary(&self) -> bool {
        matches!(self.messages.as_slice(), [m] if m.role == Role::System && m.content.starts_with(SUMMARY_PREFIX))
    }

    pub fn approx_bytes(&self) -> usize {
        self.messages
            .iter()
            .map(|m| {
                // Structured messages are stored as their JSON: count its keys too.
                let calls: usize = m
                    .tool_calls
                    .iter()
                    .map(|c| c.id.len() + c.name.len() + 2 * c.arguments.len() + 48)
                    .sum();
                let id = m.tool_call_id.as_ref().map_or(0, |id| id.len() + 48);
                let json = if m.has_tool_structure() {
                    2 * m.content.len() + 48
                } else {
                    0
                };
                let parts: usize = m.parts.iter().map(|p| p.len() + 48).sum();
                m.content.len() + MESSAGE_OVERHEAD_BYTES + calls + id + json + parts
            })
            .sum::<usize>()
            + self
                .vectors
                .iter()
                .flatten()
                .map(|v| VECTOR_HEADER_BYTES + 4 * v.len())
                .sum::<usize>()
    }

    fn vector(&self, message: usize) -> Option<&[f32]> {
        self.vectors.get(message)?.as_deref()
    }
}

/// A turn as one immutable allocation: `at` (f64 LE), then per message a role byte
/// (`Role::index`, plus `STRUCTURED_FLAG`), the text length (u32 LE) and the UTF-8 text;
/// a message with parts is followed by an entry tagged `PARTS_TAG` holding their JSON, and
/// a message with an embedding by one tagged `VECTOR_TAG` holding the f32 LE components,
/// so messages without either pay nothing and vectors stay f32.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedTurn(Rc<[u8]>);

/// Set in a message's role byte (the low bits are `Role::index`) when it has tool structure:
/// its text is then the message's JSON (rare, so the common plain-text message pays nothing
/// for it). A message with parts keeps its plain text, which search and recall read in
/// place, and its parts in an entry of their own.
const STRUCTURED_FLAG: u8 = 0x80;

/// The tag byte of a vector entry: not a role index with or without `STRUCTURED_FLAG`.
const VECTOR_TAG: u8 = 0x7f;
/// The tag byte of a parts entry (their JSON array), likewise no role byte.
const PARTS_TAG: u8 = 0x7e;

/// Bytes of a stored vector on top of its 4 bytes per dimension: the tag and the length.
pub const VECTOR_HEADER_BYTES: usize = 5;

/// One stored message: its role and text; for a structured one the text is its JSON.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackedMessage<'a> {
    pub role: Role,
    pub text: &'a str,
    pub structured: bool,
    /// The JSON array of a message's parts, if it has any.
    pub parts: Option<&'a str>,
    pub vector: Option<PackedVector<'a>>,
}

/// A stored embedding: f32 LE components, read in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackedVector<'a>(&'a [u8]);

impl<'a> PackedVector<'a> {
    pub fn dimensions(self) -> usize {
        self.0.len() / 4
    }

    pub fn components(self) -> impl Iterator<Item = f32> + 'a {
        self.0
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    pub fn to_vec(self) -> Vec<f32> {
        self.components().collect()
    }
}

impl PackedMessage<'_> {
    pub fn to_message(self) -> Message {
        if self.structured {
            if let Ok(m) = serde_json::from_str::<Message>(self.text) {
                return m;
            }
        }
        Message {
            role: self.role,
            content: self.text.to_owned(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            // Packed from checked parts; a failure would mean corruption, shown as text.
            parts: self
                .parts
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default(),
        }
    }
}

impl PackedTurn {
    /// Packs a turn. Texts over 4 GiB cannot occur: inputs are capped far below that.
    pub fn pack(turn: &Turn) -> PackedTurn {
        let size = 8
            + turn
                .messages
                .iter()
                .map(|m| 5 + m.content.len())
                .sum::<usize>()
            + turn
                .messages
                .iter()
                .filter(|m| !m.parts.is_empty())
                .map(|m| 5 + m.parts.iter().map(|p| p.len() + 48).sum::<usize>())
                .sum::<usize>()
            + turn
                .vectors
                .iter()
                .flatten()
                .map(|v| VECTOR_HEADER_BYTES + 4 * v.len())
                .sum::<usize>();
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(&turn.at.to_le_bytes());
        for (i, m) in turn.messages.iter().enumerate() {
            let structured;
            let (flag, text) = if m.has_tool_structure() {
                structured = serde_json::to_string(m).unwrap_or_default();
                (STRUCTURED_FLAG, structured.as_str())
            } else {
                (0, m.content.as_str())
            };
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            bytes.push(m.role.index() | flag);
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&text.as_bytes()[..len as usize]);
            if !m.parts.is_empty() && flag == 0 {
                let mut json = String::from("[");
                for (i, p) in m.parts.iter().enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    p.write_json(&mut json);
                }
                json.push(']');
                let len = u32::try_from(json.len()).unwrap_or(u32::MAX);
                bytes.push(PARTS_TAG);
                bytes.extend_from_slice(&len.to_le_bytes());
                bytes.extend_from_slice(&json.as_bytes()[..len as usize]);
            }
            if let Some(v) = turn.vector(i) {
                // Dimensions are bounded by MAX_EMBEDDING_DIMENSIONS, far below u32.
                let len = u32::try_from(4 * v.len()).unwrap_or(0);
                bytes.push(VECTOR_TAG);
                bytes.extend_from_slice(&len.to_le_bytes());
                for x in &v[..len as usize / 4] {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        PackedTurn(Rc::from(bytes))
    }

    pub fn at(&self) -> f64 {
        self.0
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0.0, f64::from_le_bytes)
    }

    /// Each message's role and text, in order.
    pub fn messages(&self) -> PackedMessages<'_> {
        PackedMessages {
            rest: self.0.get(8..).unwrap_or(&[]),
        }
    }

    pub fn len(&self) -> usize {
        self.messages().count()
    }

    pub fn is_empty(&self) -> bool {
        self.messages().next().is_none()
    }

    pub fn unpack(&self) -> Turn {
        let mut vectors: Vec<Option<Vec<f32>>> = self
            .messages()
            .map(|m| m.vector.map(|v| v.to_vec()))
            .collect();
        if vectors.iter().all(Option::is_none) {
            vectors = Vec::new();
        }
        Turn {
            at: self.at(),
            messages: self.to_messages().collect(),
            vectors,
        }
    }

    pub fn to_messages(&self) -> impl Iterator<Item = Message> + '_ {
        self.messages().map(|m| m.to_message())
    }

    /// Heap bytes of the allocation, counting the Rc header.
    pub fn heap_bytes(&self) -> usize {
        16 + self.0.len()
    }
}

pub struct PackedMessages<'a> {
    rest: &'a [u8],
}

impl<'a> PackedMessages<'a> {
    /// The next entry's tag byte and payload.
    fn entry(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let payload = rest.get(4..4 + len)?;
        self.rest = &rest[4 + len..];
        Some((tag, payload))
    }
}

impl<'a> Iterator for PackedMessages<'a> {
    type Item = PackedMessage<'a>;

    fn next(&mut self) -> Option<PackedMessage<'a>> {
        let (role, text) = self.entry()?;
        let parts = match self.rest.first() {
            Some(&PARTS_TAG) => self
                .entry()
                .map(|(_, p)| std::str::from_utf8(p).unwrap_or("")),
            _ => None,
        };
        let vector = match self.rest.first() {
            Some(&VECTOR_TAG) => self.entry().map(|(_, v)| PackedVector(v)),
            _ => None,
        };
        let structured = role & STRUCTURED_FLAG != 0;
        let role = Role::from_index(role & !STRUCTURED_FLAG).unwrap_or(Role::System);
        Some(PackedMessage {
            role,
            // Packed from a &str, so always valid; a failure would mean corruption, shown empty.
            text: std::str::from_utf8(text).unwrap_or(""),
            structured,
            parts,
            vector,
        })
    }
}

/// Turns are shared (`Rc`) between a session and the copy a run builds to commit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    pub(crate) turns: VecDeque<PackedTurn>,
    pub(crate) message_count: usize,
    pub(crate) created_at: f64,
    pub(crate) last_activity: f64,
    pub(crate) bytes: usize,
}

impl Session {
    pub fn new(now: f64) -> Self {
        Session {
            created_at: now,
            last_activity: now,
            ..Default::default()
        }
    }

    pub fn turns(&self) -> impl DoubleEndedIterator<Item = &PackedTurn> + ExactSizeIterator {
        self.turns.iter()
    }

    /// Every message, oldest first, as owned `Message`s.
    pub fn messages(&self) -> impl Iterator<Item = Message> + '_ {
        self.turns.iter().flat_map(PackedTurn::to_messages)
    }

    /// A copy with capacity for `extra` more turns, so the push that follows does not
    /// double the allocation (a clone is exact-size).
    pub fn clone_with_room(&self, extra: usize) -> Session {
        let mut turns = VecDeque::with_capacity(self.turns.len() + extra);
        turns.extend(self.turns.iter().cloned());
        Session { turns, ..*self }
    }

    pub fn message_count(&self) -> usize {
        self.message_count
    }
    pub fn created_at(&self) -> f64 {
        self.created_at
    }
    pub fn last_activity(&self) -> f64 {
        self.last_activity
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a turn whole, then drops the oldest whole turns until at most `max` messages
    /// remain. The newest turn is always kept: config validation guarantees one fits.
    pub fn push(&mut self, turn: Turn, max: usize) {
        let packed = PackedTurn::pack(&turn);
        self.last_activity = self.last_activity.max(turn.at);
        self.message_count += turn.messages.len();
        self.bytes += packed.heap_bytes() + 16;
        self.turns.push_back(packed);
        while self.message_count > max && self.turns.len() > 1 {
            if let Some(old) = self.turns.pop_front() {
                self.message_count -= old.len();
                self.bytes -= old.heap_bytes() + 16;
            }
        }
    }

    /// Rebuilds a session from stored turns (oldest first), applying the same bound.
    pub fn from_turns(turns: Vec<Turn>, created_at: f64, max: usize) -> Session {
        let mut s = Session::new(created_at);
        s.turns.reserve_exact(turns.len());
        for t in turns {
            s.push(t, max);
        }
        s.last_activity = s.last_activity.max(created_at);
        s
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_packed_turn_unpacks_to_what_was_packed() {
        let turn = Turn {
            at: 1_700_000_000_123.5,
            messages: vec![
                Message::user("héllo 🦀"),
                Message::assistant_with_tools(
                    "",
                    vec![crate::message::ToolCall {
                        id: "c1".into(),
                        name: "lookup".into(),
                        arguments: "{\"q\":1}".into(),
                    }],
                ),
                Message::tool_result("c1", "{\"found\":true}"),
                Message::assistant(""),
                Message::user("x".repeat(70_000)),
            ],
            vectors: Vec::new(),
        };
        let p = PackedTurn::pack(&turn);
        assert_eq!(p.unpack(), turn);
        assert_eq!(p.len(), 5);
        assert_eq!(p.at(), turn.at);
        assert!(p.heap_bytes() < turn.approx_bytes() + 64);
    }

    #[test]
    fn role_bytes_keep_their_values() {
        let turn = Turn {
            at: 0.0,
            messages: vec![
                Message::user("u"),
                Message::assistant("a"),
                Message::system("s"),
                Message::tool_result("c", "t"),
            ],
            vectors: Vec::new(),
        };
        let p = PackedTurn::pack(&turn);
        let mut roles = Vec::new();
        let mut rest = &p.0[8..];
        while let Some((&b, tail)) = rest.split_first() {
            let len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as usize;
            roles.push(b);
            rest = &tail[4 + len..];
        }
        assert_eq!(roles, [0, 1, 2, 3 | STRUCTURED_FLAG]);
    }

    #[test]
    fn vectors_pack_as_f32_beside_their_message() {
        let turn = Turn {
            at: 3.0,
            messages: vec![
                Message::user("u"),
                Message::tool_result("c", "t"),
                Message::assistant("a"),
            ],
            vectors: vec![
                Some(vec![0.25, -1.5, 3.0]),
                None,
                Some(vec![1e-7, 0.0, 2.0]),
            ],
        };
        let p = PackedTurn::pack(&turn);
        assert_eq!(p.unpack(), turn);
        assert_eq!(p.len(), 3);
        let v: Vec<_> = p
            .messages()
            .map(|m| m.vector.map(|v| v.dimensions()))
            .collect();
        assert_eq!(v, [Some(3), None, Some(3)]);
        let plain = Turn {
            vectors: Vec::new(),
            ..turn.clone()
        };
        let extra = p.heap_bytes() - PackedTurn::pack(&plain).heap_bytes();
        assert_eq!(extra, 2 * (VECTOR_HEADER_BYTES + 3 * 4));
        assert_eq!(PackedTurn::pack(&plain).unpack().vectors, Vec::new());
    }

    #[test]
    fn parts_pack_beside_their_plain_text_and_before_the_vector() {
        use crate::message::Part;
        let image = Part::Image {
            url: None,
            data: Some("aGk=".into()),
            media_type: Some("image/png".into()),
        };
        let turn = Turn {
            at: 2.0,
            messages: vec![
                Message::user_parts(vec![Part::text("what is it?"), image]),
                Message::assistant("a cat"),
            ],
            vectors: vec![Some(vec![1.0, 2.0]), None],
        };
        let p = PackedTurn::pack(&turn);
        assert_eq!(p.unpack(), turn);
        assert_eq!(p.len(), 2);
        let first = p.messages().next().unwrap();
        // Search and recall read the text in place: it is the text, not JSON.
        assert_eq!((first.text, first.structured), ("what is it?", false));
        assert!(first.parts.unwrap().contains("\"image/png\""));
        assert_eq!(first.vector.map(|v| v.to_vec()), Some(vec![1.0, 2.0]));
        assert!(p.heap_bytes() < turn.approx_bytes() + 64);
    }
}
