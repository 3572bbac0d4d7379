//! The exported `Agent` class. It holds an `Rc` to the core agent and every async method
//! clones it into the returned promise, so no wasm-bindgen borrow of `self` outlives the
//! call: JS may call `run` again (or anything else) while a model call is pending.

use super::abort::{signal_of, AbortSignal, JsAbort};
use super::config;
use super::convert::{input_error, org_id, session_id, type_name, user_key, Options};
use super::error::{to_js_error, to_plain_js};
use crate::agent::{Agent, Input, RunOptions};
use crate::error::{Error, Result};
use crate::ids::{OrgId, UserKey};
use crate::limits::MAX_INPUT_PARTS;
use crate::memory::{FactQuery, NewFact};
use crate::message::Part;
use crate::persist::user_doc::{SnapshotDoc, UserDoc};
use js_sys::Promise;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(js_name = Agent)]
pub struct JsAgent {
    inner: Rc<Agent>,
}

type JsResult<T> = std::result::Result<T, JsValue>;

fn js<T>(r: Result<T>) -> JsResult<T> {
    r.map_err(|e| to_js_error(&e))
}

/// A core future as a JS promise that resolves to plain JS or rejects with `TenantryError`.
fn promise<T: serde::Serialize>(f: impl Future<Output = Result<T>> + 'static) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        f.await
            .map(|v| to_plain_js(&v))
            .map_err(|e| to_js_error(&e))
    })
}

/// Argument checks for an async method: a bad argument rejects, never throws.
fn rejecting<A, T: serde::Serialize, F: Future<Output = Result<T>> + 'static>(
    args: Result<A>,
    f: impl FnOnce(A) -> F,
) -> Promise {
    match args {
        Ok(a) => promise(f(a)),
        Err(e) => Promise::reject(&to_js_error(&e)),
    }
}

fn new_fact(v: &JsValue) -> Result<NewFact> {
    const KEYS: &[&str] = &["subject", "predicate", "object", "validFrom", "source"];
    if v.is_undefined() || v.is_null() {
        return Err(Error::InvalidInput {
            reason: "fact must be an object { subject, predicate, object }".into(),
        });
    }
    let o = Options::new(v, "fact", KEYS, input_error)?;
    Ok(NewFact {
        subject: o.string("subject")?.unwrap_or_default(),
        predicate: o.string("predicate")?.unwrap_or_default(),
        object: o.string("object")?.unwrap_or_default(),
        valid_from: o.number("validFrom")?,
        source: o.string("source")?,
    })
}

/// A call's user: `userId` in the org its options name (`orgId`; absent: the default org).
fn scoped(user: UserKey, opts: &Options) -> Result<UserKey> {
    Ok(user.with_org(org_of(opts)?))
}

/// The `orgId` of a call's options (absent: the default org).
fn org_of(opts: &Options) -> Result<Option<OrgId>> {
    org_id(&opts.get("orgId").unwrap_or(JsValue::UNDEFINED))
}

/// The org a whole-org call names: required, since the default org holds every user who
/// was never given one (`clearAll` is the host's way to erase everyone).
fn named_org(v: &JsValue) -> Result<OrgId> {
    org_id(v)?.ok_or_else(|| Error::InvalidOrgId {
        reason: "an org id is required here, got ".to_owned() + &type_name(v),
    })
}

/// The user of a call whose only option is `orgId`.
fn scope_only(user_id: &JsValue, options: &JsValue) -> Result<UserKey> {
    let user = user_key(user_id)?;
    let opts = Options::new(options, "options", &["orgId"], input_error)?;
    scoped(user, &opts)
}

fn fact_query(o: &Options) -> Result<FactQuery> {
    Ok(FactQuery {
        valid_at: o.number("validAt")?,
        known_at: o.number("knownAt")?,
        subject: o.string("subject")?,
        predicate: o.string("predicate")?,
    })
}

fn string_arg(v: &JsValue, what: &str) -> Result<String> {
    match super::convert::exact_string(v) {
        Some(Some(s)) => Ok(s),
        Some(None) => Err(Error::InvalidInput {
            reason: format!("{what} contains a lone UTF-16 surrogate"),
        }),
        None => Err(Error::InvalidInput {
            reason: format!("{what} must be a string, got {}", type_name(v)),
        }),
    }
}

/// `run`'s input: a string, or an array of part objects. Only the shape is read here; the
/// rules are the core's (`check_input`).
fn input_arg(v: &JsValue) -> Result<Input> {
    if !super::convert::is_array(v) {
        return string_arg(v, "input").map(Input::Text);
    }
    let invalid = |reason: String| Error::InvalidInput { reason };
    // Read before copying, so a Proxy claiming a huge length costs nothing.
    let len = js_sys::Reflect::get(v, &"length".into())
        .ok()
        .and_then(|n| n.as_f64())
        .ok_or_else(|| invalid("input: its length could not be read".into()))?;
    if !(0.0..=MAX_INPUT_PARTS as f64).contains(&len) {
        return Err(invalid(format!(
            "input has {len} parts; the limit is {MAX_INPUT_PARTS}"
        )));
    }
    let items = super::convert::read_array(v, "input").map_err(|u| invalid(u.to_string()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| part_arg(&item, &format!("input[{i}]")))
        .collect::<Result<Vec<Part>>>()
        .map(Input::Parts)
}

fn part_arg(v: &JsValue, path: &str) -> Result<Part> {
    const KEYS: &[&str] = &["type", "text", "url", "data", "mediaType", "filename"];
    if v.is_undefined() || v.is_null() {
        return Err(Error::InvalidInput {
            reason: format!("{path}: must be a part object {{ type, ... }}"),
        });
    }
    let o = Options::new(v, path, KEYS, input_error)?;
    let only = |allowed: &[&str]| -> Result<()> {
        match KEYS
            .iter()
            .find(|k| !allowed.contains(k) && o.get(k).is_some())
        {
            Some(k) => Err(input_error(
                o.field(k),
                "is not a field of this part type".into(),
            )),
            None => Ok(()),
        }
    };
    match o.string("type")?.as_deref() {
        Some("text") => {
            only(&["type", "text"])?;
            Ok(Part::Text {
                text: o
                    .string("text")?
                    .ok_or_else(|| input_error(o.field("text"), "is required".into()))?,
            })
        }
        Some("image") => {
            only(&["type", "url", "data", "mediaType"])?;
            Ok(Part::Image {
                url: o.string("url")?,
                data: o.string("data")?,
                media_type: o.string("mediaType")?,
            })
        }
        Some("file") => {
            only(&["type", "url", "data", "mediaType", "filename"])?;
            Ok(Part::File {
                url: o.string("url")?,
                data: o.string("data")?,
                media_type: o
                    .string("mediaType")?
                    .ok_or_else(|| input_error(o.field("mediaType"), "is required".into()))?,
                filename: o.string("filename")?,
            })
        }
        other => Err(input_error(
            o.field("type"),
            format!(
                "must be \"text\", \"image\" or \"file\", got {}",
                other.map_or("nothing".into(), |t| format!("{t:?}"))
            ),
        )),
    }
}

fn document<T: DeserializeOwned>(v: JsValue, what: &str) -> Result<T> {
    super::error::from_js(&v).map_err(|e| Error::InvalidImport {
        reason: format!("not a {what} document: {e}"),
    })
}

#[wasm_bindgen(js_class = Agent)]
impl JsAgent {
    /// `new Agent({ name?, instructions?, model, memory?, maxOutputTokens? })`
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> JsResult<JsAgent> {
        js(build(&config))
    }

    /// `Agent.restore(config, snapshot)`: a new agent holding a snapshot's users.
    pub fn restore(config: JsValue, snapshot: JsValue) -> Promise {
        let args =
            build(&config).and_then(|a| Ok((a, document::<SnapshotDoc>(snapshot, "snapshot")?)));
        match args {
            Ok((agent, snap)) => wasm_bindgen_futures::future_to_promise(async move {
                agent
                    .inner
                    .restore(snap)
                    .await
                    .map_err(|e| to_js_error(&e))?;
                Ok(JsValue::from(agent))
            }),
            Err(e) => Promise::reject(&to_js_error(&e)),
        }
    }

    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.config().name.clone()
    }

    /// `run(input, userId, { sessionId?, signal? })` -> `Promise<RunResult>`; `input` is a
    /// string or an array of parts (`{ type: "text" | "image" | "file", ... }`). Never throws
    /// synchronously: every failure is a rejected promise with a `TenantryError`.
    pub fn run(&self, input: JsValue, user_id: JsValue, options: JsValue) -> Promise {
        let started = (|| -> Result<_> {
            let user = user_key(&user_id)?;
            let input = input_arg(&input)?;
            let (opts, org) = run_options(&options)?;
            Ok((input, user.with_org(org), opts))
        })();
        // Called now, not inside the promise: the session ticket is taken in call order.
        match started {
            Ok((input, user, opts)) => {
                let run = self.inner.run_input(input, user, opts);
                super::callbacks::to_promise(async move {
                    run.await
                        .map(|out| super::transfer::result_to_js(&out))
                        .map_err(|e| to_js_error(&e))
                })
            }
            Err(e) => Promise::reject(&to_js_error(&e)),
        }
    }

    /// `stream(input, userId, { sessionId?, signal? })` -> a `RunStream`: an async iterable
    /// of tagged events (`text-delta`, `usage`, `finish`, `error`), each carrying userId,
    /// sessionId and runId, with `.result`, `.text`, and conversions to streams and
    /// `Response`s. Leaving the loop early aborts the run, which then commits nothing.
    pub fn stream(&self, input: JsValue, user_id: JsValue, options: JsValue) -> JsValue {
        let mut abort = None;
        let args = (|| -> Result<_> {
            let user = user_key(&user_id)?;
            let input = input_arg(&input)?;
            let (mut opts, org) = run_options(&options)?;
            abort = own_controller(&mut opts);
            Ok((input, user.with_org(org), opts))
        })();
        super::stream::start(&self.inner, args, abort)
    }

    /// `streamChat(body, userId, { signal? })` -> a `RunStream` of the run a `useChat`
    /// request body asks for: the chat id is the session, the last message's text is the
    /// input (the core's `ChatRequest` rules). The body is read once, exactly, and bounded
    /// before the core sees it; a bad one is an `error` event and a rejected `result`.
    #[wasm_bindgen(js_name = streamChat)]
    pub fn stream_chat(&self, body: JsValue, user_id: JsValue, options: JsValue) -> JsValue {
        let mut abort = None;
        let args = (|| -> Result<_> {
            let user = user_key(&user_id)?;
            let text = super::convert::exact_json_within(
                &body,
                "body",
                crate::limits::MAX_CHAT_REQUEST_BYTES,
            )
            .map_err(|e| input_error(e.path, e.reason))?;
            let chat = crate::ui::ChatRequest::parse(&text)?;
            let opts = Options::new(&options, "options", &["signal", "orgId"], input_error)?;
            let user = scoped(user, &opts)?;
            let mut opts = RunOptions {
                session: chat.session,
                cancellation: signal_option(&opts)?,
                ..Default::default()
            };
            abort = own_controller(&mut opts);
            Ok((Input::from(chat.input), user, opts))
        })();
        super::stream::start(&self.inner, args, abort)
    }

    /// Messages of one session of one user (the default session when omitted), oldest
    /// first: `history(userId, sessionId?, { orgId? })`.
    pub fn history(
        &self,
        user_id: JsValue,
        session: JsValue,
        options: JsValue,
    ) -> JsResult<JsValue> {
        let (user, session) = js((|| {
            let user = user_key(&user_id)?;
            let session = session_id(&session)?;
            let opts = Options::new(&options, "options", &["orgId"], input_error)?;
            Ok((scoped(user, &opts)?, session))
        })())?;
        Ok(to_plain_js(&js(self.inner.history(&user, &session))?))
    }

    /// `[{ id, messageCount, createdAt, lastActivity }]`, in creation order.
    pub fn sessions(&self, user_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(scope_only(&user_id, &options))?;
        Ok(to_plain_js(&js(self.inner.sessions(&user))?))
    }

    /// Messages stored for one user across all of their sessions.
    pub fn size(&self, user_id: JsValue, options: JsValue) -> JsResult<usize> {
        js(self.inner.size(&js(scope_only(&user_id, &options))?))
    }

    /// `[{ label, text }]`: the user's working-memory blocks.
    pub fn blocks(&self, user_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(scope_only(&user_id, &options))?;
        Ok(to_plain_js(&js(self.inner.blocks(&user))?))
    }

    /// The user's profile properties as one object.
    pub fn properties(&self, user_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(scope_only(&user_id, &options))?;
        Ok(to_plain_js(&js(self.inner.properties(&user))?))
    }

    /// `recall(userId, query, { limit? })`: that user's best-matching past messages.
    pub fn recall(&self, user_id: JsValue, query: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(user_key(&user_id))?;
        let query = js(string_arg(&query, "query"))?;
        let opts = js(Options::new(
            &options,
            "options",
            &["limit", "orgId"],
            input_error,
        ))?;
        let user = js(scoped(user, &opts))?;
        let limit = js(opts.whole("limit"))?;
        Ok(to_plain_js(&js(self.inner.recall(&user, &query, limit))?))
    }

    /// `search(userId, query, { limit?, mode?, sessionId? })` -> `Promise<SearchHit[]>`.
    pub fn search(&self, user_id: JsValue, query: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            let user = user_key(&user_id)?;
            let query = string_arg(&query, "query")?;
            let opts = Options::new(
                &options,
                "options",
                &["limit", "mode", "sessionId", "orgId"],
                input_error,
            )?;
            let user = scoped(user, &opts)?;
            Ok((user, query, super::js_embedder::search_options(&opts)?))
        })();
        rejecting(args, |(user, query, opts)| async move {
            inner.search(&user, &query, opts).await
        })
    }

    /// `{ limits: [{ scope, metric, window, used, reserved, limit, remaining }], totals,
    /// reserved }` for one user.
    pub fn usage(&self, user_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(scope_only(&user_id, &options))?;
        js(self.inner.config().admit_user(&user))?;
        Ok(to_plain_js(&self.inner.usage(&user)))
    }

    /// The same report for the global budget (all users together).
    #[wasm_bindgen(js_name = globalUsage)]
    pub fn global_usage(&self) -> JsValue {
        to_plain_js(&self.inner.global_usage())
    }

    /// The same report for one org's own limits (`budget.perOrg`, all its users together).
    #[wasm_bindgen(js_name = orgUsage)]
    pub fn org_usage(&self, org: JsValue) -> JsResult<JsValue> {
        let org = js(named_org(&org))?;
        Ok(to_plain_js(&self.inner.org_usage(&org)))
    }

    /// The retained audit entries of exactly this user, in chain order.
    #[wasm_bindgen(js_name = auditLog)]
    pub fn audit_log(&self, user_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        let user = js(scope_only(&user_id, &options))?;
        js(self.inner.config().admit_user(&user))?;
        Ok(to_plain_js(&self.inner.observer().audit_log(&user)))
    }

    /// Every retained audit entry, in chain order (what `verifyAudit` checks end to end).
    #[wasm_bindgen(js_name = auditEntries)]
    pub fn audit_entries(&self) -> JsValue {
        to_plain_js(&self.inner.observer().audit_entries())
    }

    /// `{ users, sessions, messages, approxBytes }` over the resident users.
    pub fn stats(&self) -> JsValue {
        to_plain_js(&self.inner.stats())
    }

    /// Loads a user from storage (when configured) so synchronous reads see them.
    pub fn load(&self, user_id: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(scope_only(&user_id, &options), |user| async move {
            inner.load(&user).await
        })
    }

    #[wasm_bindgen(js_name = setBlock)]
    pub fn set_block(
        &self,
        user_id: JsValue,
        label: JsValue,
        text: JsValue,
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            Ok((
                scope_only(&user_id, &options)?,
                string_arg(&label, "label")?,
                string_arg(&text, "text")?,
            ))
        })();
        rejecting(args, |(user, label, text)| async move {
            inner.set_block(&user, &label, &text).await
        })
    }

    #[wasm_bindgen(js_name = deleteBlock)]
    pub fn delete_block(&self, user_id: JsValue, label: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            Ok((
                scope_only(&user_id, &options)?,
                string_arg(&label, "label")?,
            ))
        })();
        rejecting(args, |(user, label)| async move {
            inner.delete_block(&user, &label).await
        })
    }

    /// `setProperty(userId, key, value)`: any JSON value; `null` deletes the property.
    #[wasm_bindgen(js_name = setProperty)]
    pub fn set_property(
        &self,
        user_id: JsValue,
        key: JsValue,
        value: JsValue,
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            let value = if value.is_undefined() {
                serde_json::Value::Null
            } else {
                super::error::from_js(&value).map_err(|e| Error::InvalidInput {
                    reason: format!("a property value must be JSON: {e}"),
                })?
            };
            Ok((
                scope_only(&user_id, &options)?,
                string_arg(&key, "key")?,
                value,
            ))
        })();
        rejecting(args, |(user, key, value)| async move {
            inner.set_property(&user, &key, value).await
        })
    }

    /// Deletes everything of one user (RAM and storage); nobody else's.
    pub fn forget(&self, user_id: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(scope_only(&user_id, &options), |user| async move {
            inner.forget(&user).await
        })
    }

    /// Same as `forget`.
    pub fn clear(&self, user_id: JsValue, options: JsValue) -> Promise {
        self.forget(user_id, options)
    }

    /// The versioned JSON document of exactly one user's data.
    pub fn export(&self, user_id: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(scope_only(&user_id, &options), |user| async move {
            inner.export(&user).await
        })
    }

    /// `remember(userId, { subject, predicate, object, validFrom?, source? })`: resolves to
    /// the fact now current for that subject and predicate.
    pub fn remember(&self, user_id: JsValue, fact: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| Ok((scope_only(&user_id, &options)?, new_fact(&fact)?)))();
        rejecting(args, |(user, fact)| async move {
            inner.remember(&user, fact).await
        })
    }

    /// `facts(userId, { validAt?, knownAt?, subject?, predicate? })`.
    pub fn facts(&self, user_id: JsValue, query: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            let user = user_key(&user_id)?;
            const KEYS: &[&str] = &["validAt", "knownAt", "subject", "predicate", "orgId"];
            let opts = Options::new(&query, "options", KEYS, input_error)?;
            Ok((scoped(user, &opts)?, fact_query(&opts)?))
        })();
        rejecting(args, |(user, query)| async move {
            inner.facts(&user, &query).await
        })
    }

    /// `forgetFact(userId, subject, predicate)`: resolves to whether a value was current.
    #[wasm_bindgen(js_name = forgetFact)]
    pub fn forget_fact(
        &self,
        user_id: JsValue,
        subject: JsValue,
        predicate: JsValue,
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            Ok((
                scope_only(&user_id, &options)?,
                string_arg(&subject, "subject")?,
                string_arg(&predicate, "predicate")?,
            ))
        })();
        rejecting(args, |(user, subject, predicate)| async move {
            inner.forget_fact(&user, &subject, &predicate).await
        })
    }

    /// Replaces one user's data with an `export` document; resolves to that user's id.
    pub fn import(&self, doc: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(
            document::<UserDoc>(doc, "tenantry.user"),
            |doc| async move {
                inner
                    .import(doc)
                    .await
                    .map(|u| u.as_option().map(str::to_owned))
            },
        )
    }

    /// `forgetOrg(orgId)`: erases every user of one org (RAM and storage) and nothing of
    /// any other org; resolves to the number of users erased.
    #[wasm_bindgen(js_name = forgetOrg)]
    pub fn forget_org(&self, org: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(named_org(&org), |org| async move {
            inner.forget_org(&org).await.map(|n| n as f64)
        })
    }

    /// `exportOrg(orgId)`: `{ format: "tenantry.org", version, orgId, exportedAt, users }`,
    /// each user as `export` gives it.
    #[wasm_bindgen(js_name = exportOrg)]
    pub fn export_org(&self, org: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(named_org(&org), |org| async move {
            inner.export_org(&org).await
        })
    }

    /// `setOrgBlock(orgId, label, text)`: a block of the org's knowledge, in the prompts of
    /// that org's users only.
    #[wasm_bindgen(js_name = setOrgBlock)]
    pub fn set_org_block(&self, org: JsValue, label: JsValue, text: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| {
            Ok((
                named_org(&org)?,
                string_arg(&label, "label")?,
                string_arg(&text, "text")?,
            ))
        })();
        rejecting(args, |(org, label, text)| async move {
            inner.set_org_block(&org, &label, &text).await
        })
    }

    /// `deleteOrgBlock(orgId, label)`: resolves to whether the block existed.
    #[wasm_bindgen(js_name = deleteOrgBlock)]
    pub fn delete_org_block(&self, org: JsValue, label: JsValue) -> Promise {
        let inner = self.inner.clone();
        let args = (|| Ok((named_org(&org)?, string_arg(&label, "label")?)))();
        rejecting(args, |(org, label)| async move {
            inner.delete_org_block(&org, &label).await
        })
    }

    /// `orgBlocks(orgId)`: `[{ label, text }]`, the org's knowledge.
    #[wasm_bindgen(js_name = orgBlocks)]
    pub fn org_blocks(&self, org: JsValue) -> Promise {
        let inner = self.inner.clone();
        rejecting(named_org(&org), |org| async move {
            inner.org_blocks(&org).await
        })
    }

    /// Every resident user's data in one document, for `Agent.restore`.
    pub fn snapshot(&self) -> JsValue {
        to_plain_js(&self.inner.snapshot())
    }

    /// Host-only: forgets every user's data, in storage too.
    #[wasm_bindgen(js_name = clearAll)]
    pub fn clear_all(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move { inner.clear_all().await })
    }
}

impl JsAgent {
    /// The core agent, for Rust-side tests of the bindings.
    pub fn core(&self) -> &Rc<Agent> {
        &self.inner
    }
}

fn build(config: &JsValue) -> Result<JsAgent> {
    let parsed = config::parse(config)?;
    let mut agent = Agent::new(parsed.config, parsed.model)?.with_clock(Rc::new(parsed.clock));
    if let Some(f) = parsed.plan_of {
        // A throwing or non-string planOf means the default plan, never a crash mid-run.
        agent = agent.with_plan_of(Rc::new(move |user: Option<&str>, org: Option<&str>| {
            let arg = user.map_or(JsValue::NULL, JsValue::from_str);
            f.call2(&JsValue::NULL, &arg, &super::convert::org_context(org))
                .ok()
                .and_then(|v| v.as_string())
        }));
    }
    if let Some(f) = parsed.org_plan_of {
        // As for planOf: a throwing or non-string answer means the default org plan.
        agent = agent.with_org_plan_of(Rc::new(move |org: &str| {
            f.call1(&JsValue::NULL, &JsValue::from_str(org))
                .ok()
                .and_then(|v| v.as_string())
        }));
    }
    if let Some(func) = parsed.embedder {
        let model = config::declared_name(&func).unwrap_or_default();
        agent = agent.with_embedder(Rc::new(super::js_embedder::JsEmbedder { func, model }));
    }
    if let Some(storage) = parsed.storage {
        agent = agent.with_storage(Rc::new(storage));
    }
    agent = agent.with_observer(parsed.observer);
    if let Some(tools) = parsed.tools {
        agent = agent.with_tools(tools)?;
    }
    if let Some(mcp) = parsed.mcp {
        agent = agent.with_mcp(mcp)?;
    }
    // After the tools and servers: an org's tool list names them.
    if let Some((fixed, lookup)) = parsed.orgs {
        let lookup = lookup.map(|func| {
            Rc::new(super::org_config::JsOrgLookup { func }) as Rc<dyn crate::org_config::OrgLookup>
        });
        agent = agent.with_orgs(fixed, lookup)?;
    }
    Ok(JsAgent {
        inner: Rc::new(agent),
    })
}

/// A run's options, and the org they name.
fn run_options(options: &JsValue) -> Result<(RunOptions, Option<OrgId>)> {
    let opts = Options::new(
        options,
        "options",
        &["sessionId", "signal", "output", "orgId"],
        input_error,
    )?;
    let org = org_of(&opts)?;
    let session = session_id(&opts.get("sessionId").unwrap_or(JsValue::UNDEFINED))?;
    let output = match opts.get("output") {
        None => None,
        Some(v) => Some(
            super::error::from_js::<crate::output::OutputSpec>(&v).map_err(|e| {
                Error::InvalidInput {
                    reason: format!("options.output must be {{ schema, name? }}: {e}"),
                }
            })?,
        ),
    };
    let run = RunOptions {
        session,
        cancellation: signal_option(&opts)?,
        stream: None,
        output,
    };
    Ok((run, org))
}

/// The reserved id of the anonymous bucket, for the package's `ANONYMOUS_USER`.
#[wasm_bindgen(js_name = __anonymousUser)]
pub fn anonymous_user() -> String {
    crate::ids::ANONYMOUS_SENTINEL.to_owned()
}

fn signal_option(opts: &Options) -> Result<Option<Rc<dyn crate::cancel::Cancellation>>> {
    match opts.get("signal") {
        None => Ok(None),
        Some(v) if super::convert::is_abort_signal(&v) => Ok(Some(Rc::new(JsAbort {
            signal: v.unchecked_into::<AbortSignal>(),
        }))),
        Some(v) => Err(Error::InvalidInput {
            reason: format!(
                "options.signal must be an AbortSignal, got {}",
                type_name(&v)
            ),
        }),
    }
}

/// Gives a streamed run its own controller, linked to the caller's signal if any, so that
/// abandoning the stream cancels the fetch as well as the run; returns its `abort`.
fn own_controller(opts: &mut RunOptions) -> Option<js_sys::Function> {
    let caller = signal_of(opts.cancellation.as_deref());
    let controller = super::js_fetch::linked_controller(&caller);
    let signal: AbortSignal = js_sys::Reflect::get(&controller, &"signal".into())
        .unwrap_or(JsValue::UNDEFINED)
        .unchecked_into();
    opts.cancellation = Some(Rc::new(JsAbort { signal }));
    js_sys::Reflect::get(&controller, &"abort".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .map(|f| f.bind0(&controller))
}
