//! Working memory of one user: labelled text blocks and profile properties, injected into
//! the system prompt of that user's runs only. Bounded so one tenant cannot grow the prompt
//! (or the heap) without limit.

use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde_json::{Map, Value};

pub const MAX_LABEL_BYTES: usize = 64;
pub const MAX_BLOCK_BYTES: usize = 16 * 1024;
pub const MAX_BLOCKS: usize = 32;
pub const MAX_PROPERTY_KEY_BYTES: usize = 64;
/// Serialized size of all of one user's properties together.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkingMemory {
    blocks: IndexMap<String, String>,
    properties: Map<String, Value>,
}

fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

fn check_key(kind: &str, key: &str, max: usize) -> Result<()> {
    if key.is_empty() || key.len() > max {
        return Err(invalid(format!(
            "{kind} must be 1 to {max} bytes, got {}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{kind} must not contain control characters"
        )));
    }
    Ok(())
}

impl WorkingMemory {
    pub fn blocks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn properties(&self) -> &Map<String, Value> {
        &self.properties
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.properties.is_empty()
    }

    /// Checks a block write without applying it, so a storage write can go first.
    pub fn check_block(&self, label: &str, text: &str) -> Result<()> {
        check_key("a block label", label, MAX_LABEL_BYTES)?;
        if text.len() > MAX_BLOCK_BYTES {
            return Err(invalid(format!(
                "block `{label}` is {} bytes; the limit is {MAX_BLOCK_BYTES}",
                text.len()
            )));
        }
        if !self.blocks.contains_key(label) && self.blocks.len() >= MAX_BLOCKS {
            return Err(invalid(format!(
                "a user has at most {MAX_BLOCKS} blocks; delete one first"
            )));
        }
        Ok(())
    }

    pub fn set_block(&mut self, label: &str, text: &str) -> Result<()> {
        self.check_block(label, text)?;
        self.blocks.insert(label.to_owned(), text.to_owned());
        Ok(())
    }

    pub fn delete_block(&mut self, label: &str) -> bool {
        self.blocks.shift_remove(label).is_some()
    }

    /// Sets (or, for `null`, removes) one property; refused whole if the result is too big.
    pub fn set_property(&mut self, key: &str, value: Value) -> Result<()> {
        check_key("a property name", key, MAX_PROPERTY_KEY_BYTES)?;
        let mut next = self.properties.clone();
        if value.is_null() {
            next.remove(key);
        } else {
            next.insert(key.to_owned(), value);
        }
        let size = serde_json::to_string(&next)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PROPERTIES_BYTES {
            return Err(invalid(format!(
                "a user's properties are at most {MAX_PROPERTIES_BYTES} bytes of JSON; this would make {size}"
            )));
        }
        self.properties = next;
        Ok(())
    }

    /// Rebuilds from stored or imported data, with every bound checked.
    pub fn from_parts(
        blocks: Vec<(String, String)>,
        properties: Map<String, Value>,
    ) -> Result<Self> {
        let mut w = WorkingMemory::default();
        for (label, text) in blocks {
            w.set_block(&label, &text)?;
        }
        for (k, v) in properties {
            w.set_property(&k, v)?;
        }
        Ok(w)
    }

    pub fn approx_bytes(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum();
        let props = if self.properties.is_empty() {
            0
        } else {
            serde_json::to_string(&self.properties)
                .map(|s| s.len() * 2)
                .unwrap_or(0)
        };
        blocks + props
    }

    /// The prompt section for this user's runs, or `None` when there is nothing to say.
    pub fn prompt_section(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut out = String::new();
        if !self.properties.is_empty() {
            out.push_str("## About this user\n");
            out.push_str(&serde_json::to_string(&self.properties).unwrap_or_default());
            out.push('\n');
        }
        for (label, text) in &self.blocks {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("## ");
            out.push_str(label);
            out.push('\n');
            out.push_str(text);
            out.push('\n');
        }
        Some(out.trim_end().to_owned())
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn blocks_keep_order_and_bounds() {
        let mut w = WorkingMemory::default();
        w.set_block("persona", "likes tea").unwrap();
        w.set_block("goals", "ship v1").unwrap();
        w.set_block("persona", "likes coffee").unwrap();
        let b: Vec<_> = w.blocks().collect();
        assert_eq!(b, [("persona", "likes coffee"), ("goals", "ship v1")]);
        assert_eq!(w.set_block("", "x").unwrap_err().code(), "invalid_input");
        assert!(w.set_block("x", &"y".repeat(MAX_BLOCK_BYTES + 1)).is_err());
        assert!(w.set_block("a\nb", "y").is_err());
        for i in 0..MAX_BLOCKS - 2 {
            w.set_block(&format!("b{i}"), "t").unwrap();
        }
        assert!(w.set_block("one-too-many", "t").is_err());
        assert!(w
            .set_block("persona", "overwrite is fine at the cap")
            .is_ok());
        assert!(w.delete_block("goals"));
        assert!(!w.delete_block("goals"));
    }

    #[test]
    fn properties_are_json_bounded_and_null_deletes() {
        let mut w = WorkingMemory::default();
        w.set_property("name", json!("Alice")).unwrap();
        w.set_property("plan", json!({"tier": "pro", "seats": 3}))
            .unwrap();
        assert_eq!(w.properties()["plan"]["seats"], 3);
        w.set_property("name", Value::Null).unwrap();
        assert!(!w.properties().contains_key("name"));
        let before = w.clone();
        let huge = json!("x".repeat(MAX_PROPERTIES_BYTES));
        assert!(w.set_property("bio", huge).is_err());
        assert_eq!(w, before, "a refused write changes nothing");
    }

    #[test]
    fn the_prompt_section_names_blocks_and_properties() {
        let mut w = WorkingMemory::default();
        assert_eq!(w.prompt_section(), None);
        w.set_property("name", json!("Alice")).unwrap();
        w.set_block("preferences", "Answers in French.").unwrap();
        let s = w.prompt_section().unwrap();
        assert!(s.contains("{\"name\":\"Alice\"}"), "{s}");
        assert!(s.contains("## preferences\nAnswers in French."), "{s}");
    }
}
