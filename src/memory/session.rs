//! One conversation of one user: whole turns, bounded by a message count.

use crate::message::Message;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Fixed cost charged per message on top of its text, so `stats().approxBytes` tracks what
/// the heap really holds (String headers, role, turn bookkeeping) within a small factor.
pub const MESSAGE_OVERHEAD_BYTES: usize = 40;

/// One exchange committed atomically: the user's message and everything the agent answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// When the turn was committed (ms since the epoch).
    pub at: f64,
    pub messages: Vec<Message>,
}

impl Turn {
    pub fn approx_bytes(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.len() + MESSAGE_OVERHEAD_BYTES)
            .sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    pub(crate) turns: VecDeque<Turn>,
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

    pub fn turns(&self) -> impl DoubleEndedIterator<Item = &Turn> + ExactSizeIterator {
        self.turns.iter()
    }

    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.turns.iter().flat_map(|t| t.messages.iter())
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
        self.last_activity = self.last_activity.max(turn.at);
        self.message_count += turn.messages.len();
        self.bytes += turn.approx_bytes();
        self.turns.push_back(turn);
        while self.message_count > max && self.turns.len() > 1 {
            if let Some(old) = self.turns.pop_front() {
                self.message_count -= old.messages.len();
                self.bytes -= old.approx_bytes();
            }
        }
    }

    /// Rebuilds a session from stored turns (oldest first), applying the same bound.
    pub fn from_turns(turns: Vec<Turn>, created_at: f64, max: usize) -> Session {
        let mut s = Session::new(created_at);
        for t in turns {
            s.push(t, max);
        }
        s.last_activity = s.last_activity.max(created_at);
        s
    }
}
