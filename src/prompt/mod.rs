//! The messages a model call sends, oldest first: the system message, the session's stored
//! turns that fit, then the turn so far. Stored turns are the session's own packed
//! allocations (`Rc`), shared rather than copied out into a `Message` each: a prompt
//! re-reads the whole history on every call, and materialising it was a sixth of a run.
//! A host model gets it built straight from the packed text (`wasm::transfer`); an HTTP
//! client asks for owned `messages()`. `build` decides what goes in it.

pub mod build;

use crate::memory::{PackedMessage, PackedTurn};
use crate::message::{Message, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, Default)]
pub struct Prompt {
    head: Vec<Message>,
    history: Vec<PackedTurn>,
    tail: Vec<Message>,
}

/// One message of a prompt, without copying it.
#[derive(Clone, Copy, Debug)]
pub enum MessageRef<'a> {
    Owned(&'a Message),
    /// From a stored turn: a plain message's text, or a structured one's JSON.
    Stored(PackedMessage<'a>),
}

impl Prompt {
    pub(crate) fn new(head: Vec<Message>, history: Vec<PackedTurn>, tail: Vec<Message>) -> Self {
        Prompt {
            head,
            history,
            tail,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = MessageRef<'_>> + '_ {
        let stored = self
            .history
            .iter()
            .flat_map(|t| t.messages().map(MessageRef::Stored));
        self.head
            .iter()
            .map(MessageRef::Owned)
            .chain(stored)
            .chain(self.tail.iter().map(MessageRef::Owned))
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.history.iter().map(PackedTurn::len).sum::<usize>() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message as an owned `Message`.
    pub fn messages(&self) -> Vec<Message> {
        self.iter().map(MessageRef::to_message).collect()
    }
}

impl From<Vec<Message>> for Prompt {
    fn from(messages: Vec<Message>) -> Self {
        Prompt {
            head: messages,
            ..Prompt::default()
        }
    }
}

impl MessageRef<'_> {
    pub fn role(&self) -> Role {
        match self {
            MessageRef::Owned(m) => m.role,
            MessageRef::Stored(p) => p.role,
        }
    }

    /// The text, for a message of role and text only; `None` for one with tool structure
    /// or parts.
    pub fn plain_text(&self) -> Option<&str> {
        match self {
            MessageRef::Owned(m) if !m.is_structured() => Some(&m.content),
            MessageRef::Stored(p) if !p.structured && p.parts.is_none() => Some(p.text),
            _ => None,
        }
    }

    /// The message as JSON text (its serde form).
    pub fn write_json(&self, out: &mut String) {
        match self {
            MessageRef::Owned(m) => m.write_json(out),
            MessageRef::Stored(p) if p.structured => out.push_str(p.text),
            MessageRef::Stored(p) => p.to_message().write_json(out),
        }
    }

    pub fn to_message(self) -> Message {
        match self {
            MessageRef::Owned(m) => m.clone(),
            MessageRef::Stored(p) => p.to_message(),
        }
    }
}

/// As the list of messages, the documented JS shape.
impl Serialize for Prompt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.messages())
    }
}

impl<'de> Deserialize<'de> for Prompt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Message>::deserialize(d).map(Prompt::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Turn;
    use crate::message::ToolCall;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_prompt_reads_as_head_then_stored_turns_then_tail() {
        let stored = PackedTurn::pack(&Turn {
            at: 1.0,
            messages: vec![
                Message::user("héllo"),
                Message::assistant_with_tools(
                    "",
                    vec![ToolCall {
                        id: "c1".into(),
                        name: "t".into(),
                        arguments: "{}".into(),
                    }],
                ),
                Message::tool_result("c1", "42"),
                Message::assistant("ok \"q\""),
            ],
            vectors: Vec::new(),
        });
        let prompt = Prompt::new(
            vec![Message::system("sys")],
            vec![stored.clone(), stored],
            vec![Message::user("now")],
        );
        let all = prompt.messages();
        assert_eq!(prompt.len(), 10);
        assert_eq!(all.len(), 10);
        assert_eq!(all[0], Message::system("sys"));
        assert_eq!(all[1], Message::user("héllo"));
        assert_eq!(all[3], Message::tool_result("c1", "42"));
        assert_eq!(all[9], Message::user("now"));
        // Every view writes the same JSON as the owned message's serde form.
        for (r, m) in prompt.iter().zip(&all) {
            let mut json = String::new();
            r.write_json(&mut json);
            assert_eq!(json, serde_json::to_string(m).unwrap());
            assert_eq!(r.plain_text().is_none(), m.is_structured());
        }
        assert_eq!(
            serde_json::to_string(&prompt).unwrap(),
            serde_json::to_string(&all).unwrap()
        );
        let back: Prompt = serde_json::from_str(&serde_json::to_string(&prompt).unwrap()).unwrap();
        assert_eq!(back.messages(), all);
    }
}
