//! What one run sends to the model: the instructions, the knowledge of the user's org, this
//! user's working memory and recalled messages in the system message, then as many of this
//! session's newest whole turns as fit, then the input. Everything read here belongs to the
//! one `UserState` passed in, or to that user's org, so no other user's or org's data can
//! reach the prompt.

use super::Prompt;
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::limits::{IMAGE_TOKENS, MAX_FACT_PROMPT_TOKENS};
use crate::memory::{PackedMessage, UserState};
use crate::message::{Message, Role};
use crate::model::{estimate_tokens, estimate_tokens_of_bytes};
use crate::parts::{decoded_len, Part, Source};

pub struct BuildOptions<'a> {
    pub instructions: &'a str,
    pub max_context_tokens: Option<u64>,
    pub recall_top_k: usize,
    /// Which facts are current: believed now and true now.
    pub now: f64,
    pub recall_mode: crate::search::SearchMode,
    /// The input's embedding, for a semantic or hybrid `recall_mode`.
    pub recall_vector: Option<&'a [f32]>,
    /// The knowledge of the user's org, read for this run from that org only.
    pub org_knowledge: Option<&'a str>,
}

/// Estimated tokens of one message as sent: the prompt bound and the budget's reservation
/// both count with this.
pub(crate) fn message_tokens(m: &Message) -> u64 {
    // A few tokens of framing per message, as chat formats add.
    let calls: u64 = m
        .tool_calls
        .iter()
        .map(|c| estimate_tokens(&c.arguments) + estimate_tokens(&c.name) + 4)
        .sum();
    let parts: u64 = m
        .parts
        .iter()
        .map(|p| match (p, p.source()) {
            // The text parts are `content`, counted above.
            (Part::Text { .. }, _) | (_, None) => 0,
            (Part::Image { .. }, _) => IMAGE_TOKENS,
            (_, Some(Source::Data { data, .. })) => {
                estimate_tokens_of_bytes(decoded_len(data) as u64)
            }
            // A linked file's size is unknown until the provider fetches it: its link is
            // what the estimate can see.
            (_, Some(Source::Url(url))) => estimate_tokens(url),
        })
        .sum();
    estimate_tokens(&m.content) + 4 + calls + parts
}

/// Estimated tokens of JSON values as sent (tool definitions): they are input too.
pub(crate) fn json_tokens(values: &[serde_json::Value]) -> u64 {
    values
        .iter()
        .map(|v| serde_json::to_string(v).map_or(0, |t| estimate_tokens(&t)))
        .sum()
}

/// The same estimate for a message of a stored turn.
pub(crate) fn stored_tokens(m: PackedMessage<'_>) -> u64 {
    match m.structured || m.parts.is_some() {
        // Rare (tool calls and results, parts): counted as the message, not its JSON.
        true => message_tokens(&m.to_message()),
        false => estimate_tokens(m.text) + 4,
    }
}

/// A prompt and its estimated input tokens (what the budget reserves).
pub struct Built {
    pub prompt: Prompt,
    pub input_tokens: u64,
}

/// `current` is the turn so far: the user's input first, then (in a tool loop) the
/// assistant's tool calls and their results.
pub fn assemble(
    user: Option<&UserState>,
    session: &SessionId,
    current: &[Message],
    opts: &BuildOptions<'_>,
) -> Result<Built> {
    let input = current.first().map_or("", |m| m.content.as_str());
    let mut system = opts.instructions.to_owned();
    if let Some(section) = opts.org_knowledge {
        push_section(&mut system, section);
    }
    if let Some(section) = user.and_then(|u| u.working().prompt_section()) {
        push_section(&mut system, &section);
    }
    if let Some(section) = user.and_then(|u| facts_section(u, opts.now)) {
        push_section(&mut system, &section);
    }
    let budget = opts.max_context_tokens.unwrap_or(u64::MAX);
    let fixed = current.iter().map(message_tokens).sum::<u64>() + estimate_tokens(&system) + 4;
    if fixed > budget {
        return Err(Error::InvalidInput {
            reason: format!(
                "the instructions, org knowledge, working memory, facts and input need about {fixed} tokens; maxContextTokens is {budget}"
            ),
        });
    }
    let mut left = budget - fixed;

    // Newest whole turns first, until one does not fit: a turn is never split, so a tool
    // call always arrives with its result.
    let no_turns = std::collections::VecDeque::new();
    let turns = user
        .and_then(|u| u.session(session))
        .map_or(&no_turns, |s| &s.turns);
    let mut first = turns.len();
    let mut history_tokens = 0;
    for (i, t) in turns.iter().enumerate().rev() {
        let cost: u64 = t.messages().map(stored_tokens).sum();
        if cost > left {
            break;
        }
        left -= cost;
        first = i;
        history_tokens += cost;
    }

    if let (Some(u), true) = (user, opts.recall_top_k > 0) {
        let hits = crate::search::ranked_hits(
            u,
            input,
            opts.recall_vector,
            opts.recall_top_k,
            opts.recall_mode,
            &|(sid, ti)| sid == session && ti >= first,
        );
        let mut section = String::new();
        for h in hits {
            let role = match h.role {
                Role::User => "user",
                _ => "assistant",
            };
            let line = format!("- ({role}, session {:?}) {}\n", h.session_id, h.content);
            let cost = estimate_tokens(&line);
            if cost > left {
                break;
            }
            left -= cost;
            section.push_str(&line);
        }
        if !section.is_empty() {
            push_section(
                &mut system,
                &format!(
                    "## Relevant earlier messages from this user\n{}",
                    section.trim_end()
                ),
            );
        }
    }

    let head = match system.is_empty() {
        true => Vec::new(),
        false => vec![Message::system(system)],
    };
    let input_tokens = head.iter().map(message_tokens).sum::<u64>()
        + history_tokens
        + current.iter().map(message_tokens).sum::<u64>();
    let history = turns.iter().skip(first).cloned().collect();
    Ok(Built {
        prompt: Prompt::new(head, history, current.to_vec()),
        input_tokens,
    })
}

/// The user's current facts, newest first, within `MAX_FACT_PROMPT_TOKENS`.
pub(crate) fn facts_section(user: &UserState, now: f64) -> Option<String> {
    let mut left = MAX_FACT_PROMPT_TOKENS;
    let mut lines = String::new();
    for f in user.facts().current(now) {
        let line = format!("- {}: {}: {}\n", f.subject, f.predicate, f.object);
        let cost = estimate_tokens(&line);
        if cost > left {
            break;
        }
        left -= cost;
        lines.push_str(&line);
    }
    (!lines.is_empty()).then(|| format!("## Facts about this user\n{}", lines.trim_end()))
}

fn push_section(system: &mut String, section: &str) {
    if !system.is_empty() {
        system.push_str("\n\n");
    }
    system.push_str(section);
}
