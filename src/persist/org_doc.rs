//! An org's documents: what `export_org` returns (every user of the org, and its
//! knowledge), and the record of its knowledge in storage.

use super::adapter::Storage;
use super::keys::org_knowledge_key;
use super::user_doc::{BlockDoc, UserDoc};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::memory::OrgKnowledge;
use serde::{Deserialize, Serialize};

pub const ORG_FORMAT: &str = "tenantry.org";

/// Every user of one org who holds anything, each as `export` gives it (so each imports
/// on its own), and the org's knowledge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgDoc {
    pub format: String,
    pub version: u32,
    pub org_id: String,
    pub exported_at: f64,
    pub users: Vec<UserDoc>,
    #[serde(default)]
    pub blocks: Vec<BlockDoc>,
}

/// An org's knowledge as stored: one record, so a write is one put.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KnowledgeDoc {
    org_id: String,
    blocks: Vec<BlockDoc>,
}

pub fn knowledge_blocks(k: &OrgKnowledge) -> Vec<BlockDoc> {
    k.blocks()
        .map(|(label, text)| BlockDoc {
            label: label.to_owned(),
            text: text.to_owned(),
        })
        .collect()
}

/// The org's stored knowledge (empty when it has none), checked like a fresh write.
pub async fn load_knowledge(storage: &dyn Storage, org: &OrgId) -> Result<OrgKnowledge> {
    let key = org_knowledge_key(org);
    let Some(text) = storage.get(&key).await? else {
        return Ok(OrgKnowledge::default());
    };
    let unreadable = |e: String| Error::storage("load", format!("record {key:?}: {e}"));
    let doc: KnowledgeDoc = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    if doc.org_id != org.as_str() {
        return Err(unreadable("it belongs to another org".into()));
    }
    OrgKnowledge::from_blocks(
        doc.blocks
            .iter()
            .map(|b| (b.label.as_str(), b.text.as_str())),
    )
    .map_err(|e| unreadable(e.to_string()))
}

pub async fn save_knowledge(storage: &dyn Storage, org: &OrgId, k: &OrgKnowledge) -> Result<()> {
    let key = org_knowledge_key(org);
    let doc = KnowledgeDoc {
        org_id: org.as_str().to_owned(),
        blocks: knowledge_blocks(k),
    };
    if doc.blocks.is_empty() {
        return storage.delete(&key).await;
    }
    let text = serde_json::to_string(&doc).map_err(|e| Error::Internal {
        message: format!("cannot encode an org's knowledge: {e}"),
    })?;
    storage.put(&key, text).await
}
