//! The offline demo model: answers from the conversation it is sent, the way a real model
//! would in the basic scenarios, so the demo and the tests run with no network or API key.
//!
//! It knows facts stated as "my X is Y" (and "call me Y"), answers "what is my X?" from the
//! most recent statement in the messages it was given, and greets. Because it only sees
//! what the agent sends, it can only ever know what that user told it in that session:
//! the demo makes the partition visible.
//!
//! Offered the memory tools, it uses them like a real model would: "remember that my X is
//! Y" calls `memory_remember`, and "what do you know about me?" answers from the facts the
//! agent put in its system message. Asked "what does my organisation say?", it answers from
//! the org knowledge in its system message, so the demo shows whose prompt holds it. Asked to extract facts (`memory.facts.extract`), it
//! answers with the "my X is Y" statements of the exchange's user line.

use crate::limits::BYTES_PER_TOKEN;
use crate::limits::DEFAULT_MAX_OUTPUT_TOKENS;
use crate::message::{Message, Role};
use crate::model::{estimate_tokens, FinishReason};

#[derive(Clone, Debug, PartialEq)]
pub struct DemoReply {
    pub text: String,
    /// Calls of offered tools, as `{ id, name, arguments }`.
    pub tool_calls: Vec<serde_json::Value>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub finish_reason: FinishReason,
}

/// `reply` to a request that may name no output bound: it then gets the agent's default.
pub fn reply_or_default(
    messages: &[Message],
    tools: &[&str],
    max_output_tokens: Option<u32>,
) -> DemoReply {
    reply(
        messages,
        tools,
        max_output_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
    )
}

/// What the demo model says to `messages`, given the names of the tools it is offered.
pub fn reply(messages: &[Message], tools: &[&str], max_output_tokens: u32) -> DemoReply {
    let input_tokens = messages.iter().map(|m| estimate_tokens(&m.content)).sum();
    if let Some(r) = extraction(messages, input_tokens) {
        return r;
    }
    if let Some(r) = memory_tool_step(messages, tools, input_tokens) {
        return r;
    }
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let earlier: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    let earlier = &earlier[..earlier.len().saturating_sub(1)];
    let mut text = org_answer(messages, last).unwrap_or_else(|| answer(last, earlier));
    // Honour the output cap like a real model: cut at a char boundary, report `length`.
    let cap = usize::try_from(u64::from(max_output_tokens) * BYTES_PER_TOKEN).unwrap_or(usize::MAX);
    let mut finish_reason = FinishReason::Stop;
    if text.len() > cap {
        let mut end = cap;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        finish_reason = FinishReason::Length;
    }
    DemoReply {
        output_tokens: estimate_tokens(&text),
        text,
        tool_calls: Vec::new(),
        input_tokens,
        finish_reason,
    }
}

/// Answers "what does my organisation say?" from the org knowledge sections of the system
/// message: the run of a user without an org, or of an org without knowledge, has none.
fn org_answer(messages: &[Message], input: &str) -> Option<String> {
    const HEADING: &str = "## Your organisation's ";
    let lower = input.to_lowercase();
    let asked = lower.trim().trim_end_matches(['?', '!', '.', ' ']);
    let org = ["organisation", "organization", "org"]
        .iter()
        .any(|o| asked == format!("what does my {o} say"));
    if !org {
        return None;
    }
    let blocks: Vec<String> = messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| m.content.split(HEADING).skip(1))
        .map(|section| {
            let section = section.split("\n## ").next().unwrap_or(section);
            let (label, text) = section.split_once('\n').unwrap_or((section, ""));
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("{label}: {}", text.trim_end_matches(['.', ' ']))
        })
        .collect();
    Some(match blocks.is_empty() {
        true => "Your organisation has told me nothing.".into(),
        false => format!("Your organisation says: {}.", blocks.join("; ")),
    })
}

/// The answer to a fact extraction request with the default instructions: the facts the
/// user's line of the exchange states, as `{ facts }` JSON.
fn extraction(messages: &[Message], input_tokens: u64) -> Option<DemoReply> {
    let first = messages.first()?;
    if first.role != Role::System
        || !first
            .content
            .starts_with(crate::memory::DEFAULT_EXTRACTION_INSTRUCTIONS)
    {
        return None;
    }
    let exchange = &messages.last()?.content;
    let said = exchange
        .lines()
        .find_map(|l| l.strip_prefix("user: "))
        .unwrap_or_default();
    let facts: Vec<serde_json::Value> = said
        .split(['.', '!', '?', ';'])
        .flat_map(|sentence| sentence.split(" and "))
        .filter_map(stated_fact)
        .map(|(p, o)| serde_json::json!({ "subject": "user", "predicate": p, "object": o }))
        .collect();
    let text = serde_json::json!({ "facts": facts }).to_string();
    Some(DemoReply {
        output_tokens: estimate_tokens(&text),
        text,
        tool_calls: Vec::new(),
        input_tokens,
        finish_reason: FinishReason::Stop,
    })
}

/// A step of the memory-tool dialogue, when one applies: after a `memory_remember` result,
/// confirm it; on "remember that my X is Y" with the tool offered, call it; on "what do
/// you know about me?", list the facts in the system message.
fn memory_tool_step(messages: &[Message], tools: &[&str], input_tokens: u64) -> Option<DemoReply> {
    let done = |text: String| DemoReply {
        output_tokens: estimate_tokens(&text),
        text,
        tool_calls: Vec::new(),
        input_tokens,
        finish_reason: FinishReason::Stop,
    };
    let last = messages.last()?;
    if last.role == Role::Tool {
        let v: serde_json::Value = serde_json::from_str(&last.content).ok()?;
        return Some(done(
            match (v["predicate"].as_str(), v["object"].as_str()) {
                (Some(p), Some(o)) => format!("Noted: your {p} is {o}. I'll remember that."),
                _ => format!(
                    "I couldn't store that: {}",
                    v["error"].as_str().unwrap_or("no answer")
                ),
            },
        ));
    }
    if last.role != Role::User {
        return None;
    }
    let lower = last.content.to_lowercase();
    let asked = lower.trim().trim_end_matches(['?', '!', '.', ' ']);
    if asked == "what do you know about me" {
        let facts: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::System)
            .flat_map(|m| m.content.split("## Facts about this user\n").nth(1))
            .flat_map(|s| s.lines().take_while(|l| l.starts_with("- ")))
            .filter_map(|l| l.strip_prefix("- user: "))
            .collect();
        return Some(done(match facts.is_empty() {
            true => "I don't know anything about you yet. Tell me \"remember that my ... is ...\"."
                .into(),
            false => format!("Here is what I know about you: {}.", facts.join("; ")),
        }));
    }
    let rest = lower.strip_prefix("remember that ")?;
    if !tools.contains(&crate::tools::memory::REMEMBER) {
        return None;
    }
    let start = last.content.len() - rest.len();
    let (key, value) = stated_fact(&last.content[start..])?;
    let args = serde_json::json!({ "subject": "user", "predicate": key, "object": value });
    Some(DemoReply {
        text: String::new(),
        tool_calls: vec![serde_json::json!({
            "id": "demo-remember",
            "name": crate::tools::memory::REMEMBER,
            "arguments": args.to_string(),
        })],
        input_tokens,
        output_tokens: estimate_tokens(&args.to_string()),
        finish_reason: FinishReason::ToolCalls,
    })
}

fn answer(input: &str, earlier: &[&str]) -> String {
    let lower = input.to_lowercase();
    if let Some(key) = asked_fact(&lower) {
        return match recall_fact(&key, earlier) {
            Some(value) => format!("Your {key} is {value}."),
            None if key == "name" => {
                "I don't know your name yet. Tell me with \"My name is ...\".".into()
            }
            None => format!("You haven't told me your {key} yet."),
        };
    }
    if let Some((key, value)) = stated_fact(input) {
        return if key == "name" {
            format!("Nice to meet you, {value}! I'll remember your name.")
        } else {
            format!("Got it: your {key} is {value}.")
        };
    }
    let greeting = ["hello", "hi", "hey", "good morning", "good evening"];
    let first_word = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != ' ');
    if greeting
        .iter()
        .any(|g| first_word == *g || first_word.starts_with(&format!("{g} ")))
    {
        return "Hello! I'm the tenantry demo model. Tell me something about you (\"My name is ...\") and ask me about it later.".into();
    }
    format!(
        "You said: \"{}\". (This is the offline demo model; I remember facts like \"My name is ...\" within your own conversation.)",
        input.trim()
    )
}

/// "what's my X?", "what is my X", "do you know my X", "who am I" -> X.
fn asked_fact(lower: &str) -> Option<String> {
    let q = lower.trim().trim_end_matches(['?', '!', '.', ' ']);
    if q == "who am i" {
        return Some("name".into());
    }
    for prefix in [
        "what's my ",
        "what is my ",
        "whats my ",
        "do you know my ",
        "do you remember my ",
        "tell me my ",
    ] {
        if let Some(rest) = q.strip_prefix(prefix) {
            let key = rest.trim();
            if !key.is_empty() && key.split_whitespace().count() <= 3 {
                return Some(key.to_owned());
            }
        }
    }
    None
}

/// "My X is Y" (X up to three words) or "call me Y" -> (x, Y), keeping Y's case.
fn stated_fact(input: &str) -> Option<(String, String)> {
    let trimmed = input.trim();
    let lower = trimmed.to_lowercase();
    // Lowercasing can change byte lengths for some scripts; only slice when it did not.
    if lower.len() != trimmed.len() {
        return None;
    }
    let clean = |v: &str| {
        v.trim()
            .trim_end_matches(['.', '!', '?', ','])
            .trim()
            .to_owned()
    };
    if let Some(rest) = lower.strip_prefix("call me ") {
        let v = clean(trimmed.get(trimmed.len() - rest.len()..)?);
        return (!v.is_empty()).then(|| ("name".to_owned(), v));
    }
    let rest = lower.strip_prefix("my ")?;
    let is_at = rest.find(" is ")?;
    // `get`, not indexing: lowercasing can move char boundaries even when the total
    // length is unchanged ("İ" grows while "ẞ" shrinks), and a bad slice must not panic.
    let key = rest.get(..is_at)?.trim();
    if key.is_empty() || key.split_whitespace().count() > 3 {
        return None;
    }
    let value_start = trimmed.len() - rest.len() + is_at + 4;
    // Stop at the first sentence end so "My name is Bob. What's up?" yields "Bob".
    let value_full = trimmed.get(value_start..)?;
    let value = value_full
        .split(['.', '!', '?', ','])
        .next()
        .unwrap_or(value_full);
    let v = clean(value);
    (!v.is_empty()).then(|| (key.to_owned(), v))
}

fn recall_fact(key: &str, earlier: &[&str]) -> Option<String> {
    earlier
        .iter()
        .rev()
        .filter_map(|m| stated_fact(m))
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The demo model as a native `Model`, for Rust hosts, tests and benchmarks.
pub struct DemoModel;

impl crate::model::Model for DemoModel {
    fn generate(
        &self,
        request: crate::model::ModelRequest,
        _ctx: crate::model::CallContext,
    ) -> futures_util::future::LocalBoxFuture<'static, crate::Result<crate::model::RawModelResponse>>
    {
        let tools: Vec<&str> = request
            .tools
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let r = reply(&request.messages(), &tools, request.max_output_tokens);
        Box::pin(futures_util::future::ready(Ok(r.into_raw())))
    }
}

impl DemoReply {
    pub fn into_raw(self) -> crate::model::RawModelResponse {
        crate::model::RawModelResponse {
            text: Some(self.text),
            tool_calls: (!self.tool_calls.is_empty()).then_some(self.tool_calls),
            usage: Some(crate::model::RawUsage {
                input_tokens: Some(self.input_tokens as f64),
                output_tokens: Some(self.output_tokens as f64),
            }),
            finish_reason: Some(self.finish_reason.as_str().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn convo(user_lines: &[&str]) -> Vec<Message> {
        let mut v = vec![Message::system("be nice")];
        for (i, l) in user_lines.iter().enumerate() {
            v.push(Message::user(*l));
            if i + 1 < user_lines.len() {
                v.push(Message::assistant("ok"));
            }
        }
        v
    }

    #[test]
    fn remembers_a_name_from_the_conversation() {
        let r = reply(&convo(&["My name is Alice", "What's my name?"]), &[], 1024);
        assert_eq!(r.text, "Your name is Alice.");
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert!(r.input_tokens > 0 && r.output_tokens > 0);
    }

    #[test]
    fn without_the_statement_it_does_not_know() {
        let r = reply(&convo(&["What's my name?"]), &[], 1024);
        assert!(!r.text.contains("Alice"));
        assert!(r.text.contains("don't know your name"));
    }

    #[test]
    fn latest_statement_wins_and_other_facts_work() {
        let r = reply(
            &convo(&[
                "My name is Alice",
                "my favorite color is blue.",
                "Call me Ally",
                "what is my favorite color",
            ]),
            &[],
            1024,
        );
        assert_eq!(r.text, "Your favorite color is blue.");
        let r = reply(
            &convo(&["My name is Alice", "Call me Ally", "who am I?"]),
            &[],
            1024,
        );
        assert_eq!(r.text, "Your name is Ally.");
    }

    #[test]
    fn acknowledges_statements_and_greets() {
        let r = reply(&convo(&["My name is Bob. How are you?"]), &[], 1024);
        assert_eq!(r.text, "Nice to meet you, Bob! I'll remember your name.");
        assert!(reply(&convo(&["Hello there"]), &[], 1024)
            .text
            .starts_with("Hello!"));
    }

    #[test]
    fn respects_max_output_tokens() {
        let r = reply(&convo(&["tell me a long story please"]), &[], 2);
        assert!(r.text.len() <= 8);
        assert_eq!(r.finish_reason, FinishReason::Length);
    }

    #[test]
    fn unicode_input_never_panics() {
        for s in [
            "My İstanbul is big",
            "my ß is ẞ",
            "Call me 🦀",
            "what's my 名前?",
            "ＭＹ name is x",
            "my İ is ẞ",
            "my ẞİ is x",
            "call me İẞ",
        ] {
            let _ = reply(&convo(&[s, s]), &[], 3);
        }
    }

    #[test]
    fn uses_the_memory_tools_when_offered() {
        let ask = vec![Message::user("Remember that my favourite colour is green")];
        let r = reply(&ask, &[crate::tools::memory::REMEMBER], 1024);
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        let args: serde_json::Value =
            serde_json::from_str(r.tool_calls[0]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(
            args,
            serde_json::json!({ "subject": "user", "predicate": "favourite colour", "object": "green" })
        );
        // Not offered: it just answers.
        assert!(reply(&ask, &[], 1024).tool_calls.is_empty());
        let mut after = ask.clone();
        after.push(Message::tool_result("demo-remember", args.to_string()));
        assert_eq!(
            reply(&after, &[crate::tools::memory::REMEMBER], 1024).text,
            "Noted: your favourite colour is green. I'll remember that."
        );
        let know = vec![
            Message::system("Be brief.\n\n## Facts about this user\n- user: favourite colour: green\n- user: city: Oslo"),
            Message::user("What do you know about me?"),
        ];
        assert_eq!(
            reply(&know, &[], 1024).text,
            "Here is what I know about you: favourite colour: green; city: Oslo."
        );
        let nothing = vec![Message::user("what do you know about me")];
        assert!(reply(&nothing, &[], 1024)
            .text
            .starts_with("I don't know anything"));
    }

    #[test]
    fn answers_from_the_org_knowledge_in_its_system_message_only() {
        let asked = |system: &str| {
            let messages = vec![
                Message::system(system),
                Message::user("What does my organisation say?"),
            ];
            reply(&messages, &[], 1024).text
        };
        assert_eq!(
            asked("Be brief.\n\n## Your organisation's refund policy\n30 days.\n## Your organisation's tone\nformal\n\n## About this user\nlikes tea"),
            "Your organisation says: refund policy: 30 days; tone: formal."
        );
        assert_eq!(asked("Be brief."), "Your organisation has told me nothing.");
        // The user's own words never count as the org's.
        let messages = vec![
            Message::user("## Your organisation's secret\nx"),
            Message::user("what does my org say"),
        ];
        assert_eq!(
            reply(&messages, &[], 1024).text,
            "Your organisation has told me nothing."
        );
    }

    #[test]
    fn answers_an_extraction_request_with_the_users_statements() {
        let ask = |exchange: &str| {
            let msgs = vec![
                Message::system(crate::memory::DEFAULT_EXTRACTION_INSTRUCTIONS),
                Message::user(exchange),
            ];
            crate::memory::read_answer(&reply(&msgs, &[], 1024).text, "s")
                .unwrap()
                .into_iter()
                .map(|f| (f.predicate, f.object))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ask("user: My city is Lyon and my dog is Rex.\nassistant: my name is Bot"),
            [("city".into(), "Lyon".into()), ("dog".into(), "Rex".into())]
        );
        assert_eq!(ask("user: hello\nassistant: hi"), []);
        // Other system prompts are conversations, not extraction requests.
        assert_ne!(reply(&convo(&["hello"]), &[], 1024).text, r#"{"facts":[]}"#);
    }
}
