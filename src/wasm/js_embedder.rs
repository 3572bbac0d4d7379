//! A host JS function as the core `Embedder`: `(texts, { userId, signal }) =>
//! number[][] | { embeddings, usage? }`, sync or async. Its answer is read through exact
//! JSON (`strictJson`): a throwing getter, a Proxy trap, NaN or a BigInt is refused with
//! its path, never read as something else, and nothing it throws crosses into Rust.

use super::abort::signal_of;
use super::convert::{session_id, Options};
use crate::embed::{EmbedContext, Embedder, RawEmbeddings};
use crate::error::{Error, Result};
use crate::search::{SearchMode, SearchOptions};
use futures_util::future::LocalBoxFuture;
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::JsValue;

pub struct JsEmbedder {
    pub func: Function,
    /// What the price table knows it by (`config::declared_name`).
    pub model: String,
}

impl Embedder for JsEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }

    fn embed(
        &self,
        texts: Vec<String>,
        ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, Result<RawEmbeddings>> {
        let func = self.func.clone();
        let signal = signal_of(ctx.cancellation.as_deref());
        Box::pin(async move {
            let list: Array = texts.iter().map(|t| JsValue::from_str(t)).collect();
            let opts = Object::new();
            let user = ctx
                .user_id
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str);
            // Setting data properties on a fresh plain object cannot fail.
            let _ = Reflect::set(&opts, &"userId".into(), &user);
            if let Some(org) = &ctx.org_id {
                let _ = Reflect::set(&opts, &"orgId".into(), &JsValue::from_str(org));
            }
            let _ = Reflect::set(&opts, &"signal".into(), &signal);
            let returned = func
                .call2(&JsValue::NULL, &list, &opts)
                .map_err(|e| thrown(&e))?;
            let value = super::callbacks::settle(&returned)
                .await
                .map_err(|e| thrown(&e))?;
            let json: serde_json::Value =
                super::error::from_js(&value).map_err(|reason| Error::Embedding { reason })?;
            RawEmbeddings::from_json(json)
        })
    }
}

fn thrown(e: &JsValue) -> Error {
    Error::Embedding {
        reason: format!(
            "the embedder threw: {}",
            super::js_model::thrown_message(e, "a non-Error value")
        ),
    }
}

/// `{ limit?, mode?, sessionId? }` of `agent.search`.
/// `search`'s options, from the call's options object (read once by the caller).
pub fn search_options(opts: &Options) -> Result<SearchOptions> {
    let mode = match opts.get("mode") {
        None => SearchMode::Lexical,
        Some(v) => match v.as_string() {
            Some(s) => SearchMode::parse(&s)?,
            None => {
                return Err(Error::InvalidInput {
                    reason: format!(
                        "options.mode must be a string, got {}",
                        super::convert::type_name(&v)
                    ),
                })
            }
        },
    };
    let session = match opts.get("sessionId") {
        None => None,
        Some(v) => Some(session_id(&v)?),
    };
    Ok(SearchOptions {
        limit: opts.whole("limit")?,
        mode,
        session,
    })
}
