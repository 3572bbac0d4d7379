//! The Vercel AI SDK's UI protocol, what its `useChat` hook speaks: the request body its
//! `DefaultChatTransport` posts ([`ChatRequest`]), and the UI message stream a server
//! answers with ([`UiMessageEncoder`], from a run's events). Written against the schema of
//! `ai` 6 (`uiMessageChunkSchema`, `UI_MESSAGE_STREAM_HEADERS`, `JsonToSseTransformStream`).
//!
//! Plain Rust with no I/O, so a host in any language (the JS bindings, a Rust server) gets
//! the same rules: which part of a posted chat the agent reads, and what each run event
//! becomes on the wire.

mod request;
mod stream;

pub use request::ChatRequest;
pub use stream::{
    event_sse, part_sse, sse, text_of, Metadata, UiChunk, UiMessageEncoder, UiUsage,
    EVENT_STREAM_HEADERS, SSE_DONE, TEXT_STREAM_HEADERS, UI_MESSAGE_STREAM_HEADERS,
};
