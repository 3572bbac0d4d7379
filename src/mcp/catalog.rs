//! What the agent keeps per (user, server): the user's tool list, until its lifetime ends,
//! and the MCP session opened with the user's credentials. Bounded (least recently used
//! entries go first); `forget` drops a user's entries and `clear_all` everyone's. A list or
//! session is looked up under the user it was made for, and only that user.

use crate::ids::UserKey;
use crate::keyed::KeyedMap;
use crate::tools::ToolSpec;
use std::rc::Rc;

/// One tool of a server, as offered to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct McpTool {
    /// The index of its server in the agent's `mcp` list.
    pub server: usize,
    /// Its name at the server.
    pub name: String,
    /// As the model sees it: `${server}_${name}`. Shared: every run of the user offers
    /// the cached list, and a schema is not copied for each.
    pub spec: Rc<ToolSpec>,
}

/// A server's answer to one user's listing: the tools taken and those left out, and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerTools {
    pub tools: Vec<McpTool>,
    pub skipped: Vec<(String, String)>,
    /// The server had more pages or tools than this client takes.
    pub truncated: bool,
}

/// An MCP session: the id the server gave (none for a stateless server) and the protocol
/// version it agreed to.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: Option<String>,
    pub protocol: String,
}

struct Entry {
    tools: Option<(Rc<ServerTools>, f64)>,
    session: Option<Session>,
    used: u64,
}

pub struct Catalog {
    entries: KeyedMap<(UserKey, usize), Entry>,
    max_entries: usize,
    tick: u64,
    /// Bumped by `forget` and `clear_all`: an answer that arrives after either was asked
    /// before it, and is not kept.
    generation: u64,
}

impl Catalog {
    pub fn new(max_entries: usize) -> Catalog {
        Catalog {
            entries: KeyedMap::default(),
            max_entries: max_entries.max(1),
            tick: 0,
            generation: 0,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&mut self, user: &UserKey, server: usize) -> &mut Entry {
        self.tick += 1;
        let key = (user.clone(), server);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_entries {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        let tick = self.tick;
        let e = self.entries.entry(key).or_insert(Entry {
            tools: None,
            session: None,
            used: tick,
        });
        e.used = tick;
        e
    }

    /// The user's list from this server, while it is fresh.
    pub fn tools(&mut self, user: &UserKey, server: usize, now: f64) -> Option<Rc<ServerTools>> {
        let key = (user.clone(), server);
        let fresh = match self.entries.get(&key).and_then(|e| e.tools.as_ref()) {
            Some((_, expires)) => now < *expires,
            None => return None,
        };
        if !fresh {
            if let Some(e) = self.entries.get_mut(&key) {
                e.tools = None;
            }
            return None;
        }
        self.entry(user, server)
            .tools
            .as_ref()
            .map(|(t, _)| t.clone())
    }

    /// Keeps a list made at `generation` (unless a forget came since) until `expires`.
    pub fn put_tools(
        &mut self,
        user: &UserKey,
        server: usize,
        tools: Rc<ServerTools>,
        expires: f64,
        generation: u64,
    ) {
        if generation == self.generation {
            self.entry(user, server).tools = Some((tools, expires));
        }
    }

    pub fn session(&mut self, user: &UserKey, server: usize) -> Option<Session> {
        let key = (user.clone(), server);
        self.entries.get(&key)?.session.as_ref()?;
        self.entry(user, server).session.clone()
    }

    pub fn put_session(&mut self, user: &UserKey, server: usize, s: Session, generation: u64) {
        if generation == self.generation {
            self.entry(user, server).session = Some(s);
        }
    }

    /// Drops the session `id` the server said has ended, not one opened since.
    pub fn end_session(&mut self, user: &UserKey, server: usize, id: Option<&str>) {
        if let Some(e) = self.entries.get_mut(&(user.clone(), server)) {
            if e.session.as_ref().is_some_and(|s| s.id.as_deref() == id) {
                e.session = None;
            }
        }
    }

    pub fn forget(&mut self, user: &UserKey) {
        self.generation += 1;
        self.entries.retain(|(u, _), _| u != user);
    }

    pub fn clear_all(&mut self) {
        self.generation += 1;
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(id: &str) -> UserKey {
        UserKey::parse(Some(id)).unwrap()
    }

    fn list(n: usize) -> Rc<ServerTools> {
        Rc::new(ServerTools {
            tools: Vec::new(),
            skipped: vec![(n.to_string(), String::new())],
            truncated: false,
        })
    }

    #[test]
    fn lists_expire_are_per_user_and_bounded() {
        let mut c = Catalog::new(2);
        let (a, b, z) = (user("alice"), user("bob"), user("zoe"));
        c.put_tools(&a, 0, list(1), 100.0, 0);
        assert_eq!(c.tools(&a, 0, 99.0), Some(list(1)));
        assert_eq!(c.tools(&a, 0, 100.0), None, "expired at its time");
        assert_eq!(c.tools(&b, 0, 0.0), None, "never another user's list");
        assert_eq!(c.tools(&a, 1, 0.0), None, "nor another server's");
        c.put_tools(&a, 0, list(1), 100.0, 0);
        c.put_tools(&b, 0, list(2), 100.0, 0);
        c.tools(&a, 0, 0.0);
        c.put_tools(&z, 0, list(3), 100.0, 0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.tools(&b, 0, 0.0), None, "bob's was least recently used");
        assert_eq!(c.tools(&a, 0, 0.0), Some(list(1)));
        assert_eq!(c.tools(&z, 0, 0.0), Some(list(3)));
    }

    #[test]
    fn forget_drops_the_user_and_answers_asked_before_it() {
        let mut c = Catalog::new(10);
        let (a, b) = (user("alice"), user("bob"));
        let s = Session {
            id: Some("s1".into()),
            protocol: "2025-06-18".into(),
        };
        c.put_tools(&a, 0, list(1), f64::INFINITY, 0);
        c.put_session(&a, 0, s.clone(), 0);
        c.put_tools(&b, 0, list(2), f64::INFINITY, 0);
        let before = c.generation();
        c.forget(&a);
        assert_eq!(c.tools(&a, 0, 0.0), None);
        assert_eq!(c.session(&a, 0), None);
        assert_eq!(c.tools(&b, 0, 0.0), Some(list(2)), "bob keeps his");
        c.put_tools(&a, 0, list(1), f64::INFINITY, before);
        c.put_session(&a, 0, s.clone(), before);
        assert_eq!(
            c.tools(&a, 0, 0.0),
            None,
            "a listing begun before the forget"
        );
        assert_eq!(c.session(&a, 0), None);
        c.put_session(&a, 0, s.clone(), c.generation());
        c.end_session(&a, 0, Some("other"));
        assert_eq!(c.session(&a, 0), Some(s), "only the ended session goes");
        c.end_session(&a, 0, Some("s1"));
        assert_eq!(c.session(&a, 0), None);
        c.clear_all();
        assert_eq!(c.len(), 0);
    }
}
