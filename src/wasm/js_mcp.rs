//! `mcp: [{ name, url, headers?, timeoutMs?, cacheTtlMs? }]` read into the core's server
//! configs, and a server's `headers(userId, { server, orgId })` as the core's `McpHeaders`. What
//! the function returns is read once, on the JS side (`headerEntries`): a throw, a
//! rejection, a non-object or a value that is not a string fails that user's listing or
//! call, in the core, and nothing else.

use super::convert::{config_error, header_entries, type_name, Options};
use super::js_fetch::{global_fetch, FetchHost};
use super::js_model::thrown_message;
use crate::error::{Error, Result};
use crate::mcp::{Mcp, McpHeaders, McpServerConfig};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Object, Reflect};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

struct JsMcpHeaders {
    func: Function,
}

impl McpHeaders for JsMcpHeaders {
    fn headers(
        &self,
        user: Option<&str>,
        org: Option<&str>,
        server: &str,
    ) -> LocalBoxFuture<'static, std::result::Result<Vec<(String, String)>, String>> {
        let ctx = Object::new();
        let _ = Reflect::set(&ctx, &"server".into(), &JsValue::from_str(server));
        let org = org.map_or(JsValue::NULL, JsValue::from_str);
        let _ = Reflect::set(&ctx, &"orgId".into(), &org);
        let user = user.map_or(JsValue::NULL, JsValue::from_str);
        let returned = self.func.call2(&JsValue::NULL, &user, &ctx);
        Box::pin(async move {
            let settled = match returned {
                Ok(v) => super::callbacks::settle(&v).await,
                Err(e) => Err(e),
            };
            let value = settled.map_err(|e| thrown_message(&e, "it threw a non-Error value"))?;
            let flat = header_entries(&value).map_err(|u| u.reason)?;
            let mut headers = Vec::new();
            let mut it = flat.iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                match (k.as_string(), v.as_string()) {
                    (Some(k), Some(v)) => headers.push((k, v)),
                    _ => return Err("every header must be a string".into()),
                }
            }
            Ok(headers)
        })
    }
}

const SERVER_KEYS: &[&str] = &["name", "url", "headers", "timeoutMs", "cacheTtlMs"];

/// The `mcp` array as the core's `Mcp`, reaching servers through the runtime's `fetch`.
pub fn parse(v: &JsValue, clock: super::js_clock::JsClock) -> Result<Mcp> {
    if !super::convert::is_array(v) {
        return Err(Error::config(
            "mcp",
            format!(
                "must be an array of {{ name, url, headers? }}, got {}",
                type_name(v)
            ),
        ));
    }
    let items =
        super::convert::read_array(v, "mcp").map_err(|u| Error::config(&u.path, u.reason))?;
    let mut servers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("mcp[{i}]");
        if item.is_undefined() || item.is_null() {
            return Err(Error::config(&path, "must be an object { name, url }"));
        }
        let o = Options::new(&item, &path, SERVER_KEYS, config_error)?;
        let required = |key: &str| Error::config(&o.field(key), "is required");
        let mut server = McpServerConfig::new(
            o.string("name")?.ok_or_else(|| required("name"))?,
            o.string("url")?.ok_or_else(|| required("url"))?,
        );
        match o.get("headers") {
            None => {}
            Some(f) if f.is_function() => {
                server.headers = Some(Rc::new(JsMcpHeaders {
                    func: f.unchecked_into(),
                }))
            }
            Some(f) => {
                return Err(Error::config(
                    &o.field("headers"),
                    format!(
                        "must be a function (userId, {{ server }}) => headers, got {}",
                        type_name(&f)
                    ),
                ))
            }
        }
        if let Some(ms) = o.whole("timeoutMs")? {
            server.timeout_ms = ms;
        }
        if let Some(ms) = o.number("cacheTtlMs")? {
            server.cache_ttl_ms = ms;
        }
        servers.push(server);
    }
    let fetch = global_fetch()
        .dyn_into::<Function>()
        .map_err(|_| Error::config("mcp", "this runtime has no global fetch"))?;
    Ok(Mcp::new(servers, Rc::new(FetchHost { fetch }))?.with_clock(Rc::new(clock)))
}
