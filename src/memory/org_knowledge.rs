//! Knowledge of an org: labelled text blocks its users share (a refund policy, product
//! facts), set by the host and injected into the prompts of that org's users only. No run
//! and no tool writes it. Held per org in a bounded table: with storage, the least recently
//! used org leaves RAM (its blocks are in storage already); without, a new org is refused.

use super::WorkingMemory;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::keyed::KeyedMap;
use std::collections::BTreeMap;
use std::rc::Rc;

/// One org's blocks, with the same bounds as a user's working-memory blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrgKnowledge {
    blocks: WorkingMemory,
}

impl OrgKnowledge {
    pub fn blocks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.blocks()
    }

    pub fn set_block(&mut self, label: &str, text: &str) -> Result<()> {
        self.blocks.set_block(label, text)
    }

    pub fn delete_block(&mut self, label: &str) -> bool {
        self.blocks.delete_block(label)
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Checks stored or imported blocks as `set_block` would and builds the knowledge.
    pub fn from_blocks<'a>(blocks: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut k = OrgKnowledge::default();
        for (label, text) in blocks {
            k.set_block(label, text)?;
        }
        Ok(k)
    }

    /// The prompt section for this org's users, or `None` when it holds nothing.
    pub fn prompt_section(&self) -> Option<Rc<str>> {
        let mut out = String::new();
        for (label, text) in self.blocks() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("## Your organisation's ");
            out.push_str(label);
            out.push('\n');
            out.push_str(text);
            out.push('\n');
        }
        (!out.is_empty()).then(|| Rc::from(out.trim_end()))
    }
}

#[derive(Debug)]
struct Entry {
    knowledge: OrgKnowledge,
    /// Built once per change, shared by every run of the org's users.
    section: Option<Rc<str>>,
    used: u64,
}

/// The resident orgs' knowledge, least recently used first out.
#[derive(Debug)]
pub struct OrgTable {
    orgs: KeyedMap<OrgId, Entry>,
    by_use: BTreeMap<u64, OrgId>,
    tick: u64,
    capacity: usize,
}

impl OrgTable {
    pub fn new(capacity: usize) -> OrgTable {
        OrgTable {
            orgs: KeyedMap::default(),
            by_use: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    fn touch(&mut self, org: &OrgId) -> Option<&Entry> {
        self.tick += 1;
        let entry = self.orgs.get_mut(org)?;
        self.by_use.remove(&entry.used);
        entry.used = self.tick;
        self.by_use.insert(self.tick, org.clone());
        Some(entry)
    }

    pub fn get(&mut self, org: &OrgId) -> Option<&OrgKnowledge> {
        self.touch(org).map(|e| &e.knowledge)
    }

    /// The org's prompt section: `None` when it is not resident, `Some(None)` when it
    /// holds nothing.
    pub fn section(&mut self, org: &OrgId) -> Option<Option<Rc<str>>> {
        self.touch(org).map(|e| e.section.clone())
    }

    #[cfg(test)]
    pub fn contains(&self, org: &OrgId) -> bool {
        self.orgs.contains_key(org)
    }

    /// Installs an org's knowledge. At capacity, the least recently used other org leaves
    /// when `evictable` (its blocks are in storage), else the install is refused.
    pub fn insert(&mut self, org: &OrgId, knowledge: OrgKnowledge, evictable: bool) -> Result<()> {
        if !self.orgs.contains_key(org) && self.orgs.len() >= self.capacity {
            if !evictable {
                return Err(Error::InvalidInput {
                    reason: format!(
                        "this agent holds knowledge of {} orgs, its bound without storage; configure memory.storage",
                        self.capacity
                    ),
                });
            }
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.orgs.remove(&oldest);
            }
        }
        self.tick += 1;
        let section = knowledge.prompt_section();
        if let Some(old) = self.orgs.insert(
            org.clone(),
            Entry {
                knowledge,
                section,
                used: self.tick,
            },
        ) {
            self.by_use.remove(&old.used);
        }
        self.by_use.insert(self.tick, org.clone());
        Ok(())
    }

    pub fn remove(&mut self, org: &OrgId) {
        if let Some(entry) = self.orgs.remove(org) {
            self.by_use.remove(&entry.used);
        }
    }

    pub fn clear(&mut self) {
        self.orgs.clear();
        self.by_use.clear();
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn org(s: &str) -> OrgId {
        OrgId::parse(Some(s)).unwrap().unwrap()
    }

    fn with(label: &str) -> OrgKnowledge {
        OrgKnowledge::from_blocks([(label, "text")]).unwrap()
    }

    #[test]
    fn the_least_recently_used_org_leaves_only_when_it_may() {
        let mut t = OrgTable::new(2);
        t.insert(&org("a"), with("a"), true).unwrap();
        t.insert(&org("b"), with("b"), true).unwrap();
        assert!(t.get(&org("a")).is_some());
        t.insert(&org("c"), with("c"), true).unwrap();
        assert!(t.contains(&org("a")) && t.contains(&org("c")) && !t.contains(&org("b")));
        let refused = t.insert(&org("d"), with("d"), false).unwrap_err();
        assert_eq!(refused.code(), "invalid_input");
        assert_eq!(t.len(), 2);
        // Replacing a resident org never needs room.
        t.insert(&org("a"), with("a2"), false).unwrap();
        assert_eq!(t.get(&org("a")).unwrap().blocks().next().unwrap().0, "a2");
    }

    #[test]
    fn the_section_names_each_block_and_is_absent_when_empty() {
        assert!(OrgKnowledge::default().prompt_section().is_none());
        let k =
            OrgKnowledge::from_blocks([("refund policy", "30 days"), ("tone", "formal")]).unwrap();
        let s = k.prompt_section().unwrap();
        assert!(s.contains("## Your organisation's refund policy\n30 days"));
        assert!(s.contains("## Your organisation's tone\nformal"));
        assert!(OrgKnowledge::from_blocks([("", "x")]).is_err());
    }
}
