//! `demoModel()` and `demoEmbedder()`: the offline demo model and embedder as JS functions,
//! so they plug into `new Agent({ model, memory: { embedder } })` exactly like a user's own
//! functions would.

use super::error::{to_js_error, to_plain_js};
use crate::demo::reply_or_default;
use crate::demo_embedder::embed_texts;
use crate::error::Error;
use crate::message::Message;
use js_sys::{Function, Promise};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoRequest {
    messages: Vec<Message>,
    max_output_tokens: Option<u32>,
    #[serde(default)]
    tools: Vec<DemoTool>,
}

#[derive(Deserialize)]
struct DemoTool {
    name: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoUsage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoResponse {
    text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<serde_json::Value>,
    usage: DemoUsage,
    finish_reason: &'static str,
}

/// Returns an async model function answering from the conversation it is sent, offline.
#[wasm_bindgen(js_name = demoModel)]
pub fn demo_model() -> Function {
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(|request: JsValue| {
        match super::error::from_js_without::<DemoRequest>(
            &request,
            super::error::REQUEST_CALLBACKS,
        ) {
            Ok(req) => {
                let tools: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
                let r = reply_or_default(&req.messages, &tools, req.max_output_tokens);
                // Streams like a real model when the run is streaming: word by word.
                let on_text = js_sys::Reflect::get(&request, &"onTextDelta".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok());
                if let Some(f) = on_text {
                    for word in r.text.split_inclusive(' ') {
                        let _ = f.call1(&JsValue::NULL, &JsValue::from_str(word));
                    }
                }
                Promise::resolve(&to_plain_js(&DemoResponse {
                    text: r.text,
                    tool_calls: r.tool_calls,
                    usage: DemoUsage {
                        input_tokens: r.input_tokens,
                        output_tokens: r.output_tokens,
                    },
                    finish_reason: r.finish_reason.as_str(),
                }))
            }
            Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                reason: format!(
                    "demoModel expects a model request {{ messages, maxOutputTokens }}: {e}"
                ),
            })),
        }
    });
    // Owned by JS from here on: the function lives as long as the agent that holds it.
    f.into_js_value().unchecked_into()
}

/// Serialized as f32, not through `serde_json::Value` (f64): JS then sees each number as
/// the agent will store it and as an export shows it (`0.05319077`, not its f64 widening).
#[derive(serde::Serialize)]
struct DemoEmbeddings {
    embeddings: Vec<Vec<f32>>,
    usage: EmbeddingUsage,
}

#[derive(serde::Serialize)]
struct EmbeddingUsage {
    tokens: u64,
}

/// Returns an embedder function for `memory.embedder`, `(texts, context) =>
/// Promise<{ embeddings, usage: { tokens } }>`, computed offline by the core's toy embedder.
/// The context (`userId`, `signal`) is not read: the answer depends on the texts alone and
/// is ready at once.
#[wasm_bindgen(js_name = demoEmbedder)]
pub fn demo_embedder() -> Function {
    let f =
        Closure::<dyn Fn(JsValue) -> Promise>::new(|texts: JsValue| {
            match super::error::from_js::<Vec<String>>(&texts) {
                Ok(texts) => {
                    let (embeddings, tokens) = embed_texts(&texts);
                    Promise::resolve(&to_plain_js(&DemoEmbeddings {
                        embeddings,
                        usage: EmbeddingUsage { tokens },
                    }))
                }
                Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                    reason: format!("demoEmbedder expects an array of strings: {e}"),
                })),
            }
        });
    f.into_js_value().unchecked_into()
}
