//! Conversation messages in the provider-neutral shape the model function receives.

use crate::json_text::{push_key, push_str};
pub use crate::parts::Part;
use serde::{Deserialize, Serialize};

/// The discriminant is the role's index (`Role::index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Role {
    System = 2,
    User = 0,
    Assistant = 1,
    /// A tool's result, answering one of the previous assistant message's tool calls.
    Tool = 3,
}

impl Role {
    /// Every role at its index: the one role encoding, for the role byte of a packed session
    /// message and for a message's kind at the JS boundary (`ROLES` in `js/host.js`).
    pub const BY_INDEX: [Role; 4] = [Role::User, Role::Assistant, Role::System, Role::Tool];

    /// This role's place in `BY_INDEX`, below 4.
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The role at `index`, if any.
    pub fn from_index(index: u8) -> Option<Role> {
        Role::BY_INDEX.get(usize::from(index)).copied()
    }

    /// The serde (and JS) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call the model made: `arguments` is the JSON text exactly as the model wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// On assistant messages: the tools the model asked to call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On tool messages: which call this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// On user messages given as parts (text, images, files); `content` is then the text
    /// of the text parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            parts: Vec::new(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Message::plain(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message::plain(Role::User, content)
    }
    /// A user message of parts, its content the text of its text parts.
    pub fn user_parts(parts: Vec<Part>) -> Self {
        Message {
            content: crate::parts::text_of(&parts),
            parts,
            ..Message::plain(Role::User, "")
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::plain(Role::Assistant, content)
    }
    pub fn assistant_with_tools(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls,
            ..Message::plain(Role::Assistant, content)
        }
    }
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Message::plain(Role::Tool, content)
        }
    }

    /// Carries structure beyond role and text (tool calls, a call id, parts): crosses to a
    /// host as JSON.
    pub fn is_structured(&self) -> bool {
        self.has_tool_structure() || !self.parts.is_empty()
    }

    /// Tool plumbing (calls or a call id): its text is not something a person said.
    pub fn has_tool_structure(&self) -> bool {
        !self.tool_calls.is_empty() || self.tool_call_id.is_some()
    }

    /// Appends this message as JSON text, exactly its serde form (see `json_text`).
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"role\":\"");
        out.push_str(self.role.as_str());
        out.push_str("\",");
        push_key(out, "content");
        push_str(out, &self.content);
        if !self.tool_calls.is_empty() {
            out.push(',');
            push_key(out, "toolCalls");
            out.push('[');
            for (i, c) in self.tool_calls.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                push_key(out, "id");
                push_str(out, &c.id);
                out.push(',');
                push_key(out, "name");
                push_str(out, &c.name);
                out.push(',');
                push_key(out, "arguments");
                push_str(out, &c.arguments);
                out.push('}');
            }
            out.push(']');
        }
        if let Some(id) = &self.tool_call_id {
            out.push(',');
            push_key(out, "toolCallId");
            push_str(out, id);
        }
        if !self.parts.is_empty() {
            out.push(',');
            push_key(out, "parts");
            out.push('[');
            for (i, p) in self.parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                p.write_json(out);
            }
            out.push(']');
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn each_role_is_at_its_index() {
        for (i, r) in Role::BY_INDEX.into_iter().enumerate() {
            assert_eq!(usize::from(r.index()), i);
            assert_eq!(Role::from_index(r.index()), Some(r));
        }
        assert_eq!(Role::from_index(4), None);
    }

    #[test]
    fn write_json_is_exactly_the_serde_form() {
        let messages = [
            Message::system("be \"brief\"\n"),
            Message::user("héllo \u{1} 🎉"),
            Message::assistant_with_tools(
                "",
                vec![ToolCall {
                    id: "c\\1".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into(),
                }],
            ),
            Message::tool_result("c\\1", "{\"temp\":21}"),
            Message::assistant("ok"),
            Message::user_parts(vec![
                Part::text("what is \"this\"?"),
                Part::Image {
                    url: None,
                    data: Some("aGk=".into()),
                    media_type: Some("image/png".into()),
                },
                Part::text("and this"),
            ]),
        ];
        for m in messages {
            let mut ours = String::new();
            m.write_json(&mut ours);
            assert_eq!(ours, serde_json::to_string(&m).unwrap());
        }
    }
}
