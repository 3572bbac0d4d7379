//! `orgs: { [orgId]: settings }` and `orgConfig(orgId) => settings | Promise<settings>`:
//! JS values read once into the core's `OrgSettings`; the rules (which tools exist, how
//! settings apply, caching) are the core's (`org_config`).

use super::callbacks::settle;
use super::config::{host_model, permissions_at};
use super::convert::{
    config_error, describe_thrown, exact_string, read_array, read_map, type_name, Options,
};
use crate::budget::OrgBudget;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::org_config::{OrgLookup, OrgSettings};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Object, Reflect};
use std::collections::{BTreeMap, BTreeSet};
use wasm_bindgen::JsValue;

const SETTINGS_KEYS: &[&str] = &[
    "instructions",
    "tools",
    "permissions",
    "model",
    "modelName",
    "plan",
    "budget",
];

/// One org's settings object; `path` names it in errors (`orgs["acme"]`).
pub fn settings(v: &JsValue, path: &str) -> Result<OrgSettings> {
    let opts = Options::new(v, path, SETTINGS_KEYS, config_error)?;
    let tools = match opts.get("tools") {
        None => None,
        Some(list) => Some(tool_names(&list, &opts.field("tools"))?),
    };
    let permissions = match opts.get("permissions") {
        None => None,
        Some(p) => Some(permissions_at(p, &opts.field("permissions"))?),
    };
    let model = match opts.get("model") {
        None => None,
        Some(m) => {
            let (model, declared) = host_model(Some(m)).map_err(|e| at(e, path))?;
            let name = opts.string("modelName")?.or(declared).unwrap_or_default();
            Some((model, name))
        }
    };
    if model.is_none() && opts.get("modelName").is_some() {
        return Err(Error::config(&opts.field("modelName"), "needs `model`"));
    }
    let budget = match opts.get("budget") {
        None => None,
        Some(b) => Some(org_budget(b, &opts.field("budget"))?),
    };
    Ok(OrgSettings {
        budget,
        instructions: opts.string("instructions")?,
        tools,
        permissions,
        model,
        plan: opts.string("plan")?,
    })
}

/// `{ perOrg?, perUser? }`, each limits entry as in `budget.perOrg`.
fn org_budget(v: JsValue, path: &str) -> Result<OrgBudget> {
    let value: serde_json::Value = super::error::config_from_js(&v, path, &[])?;
    super::config::from_value(value, path)
}

/// A refusal of the agent-level `model` field, moved under this org's path.
fn at(e: Error, path: &str) -> Error {
    match e {
        Error::InvalidConfig { field, reason } => Error::InvalidConfig {
            field: format!("{path}.{field}"),
            reason,
        },
        other => other,
    }
}

fn tool_names(v: &JsValue, path: &str) -> Result<BTreeSet<String>> {
    if !super::convert::is_array(v) {
        return Err(Error::config(
            path,
            format!("must be an array of tool names, got {}", type_name(v)),
        ));
    }
    let items = read_array(v, path).map_err(|u| Error::config(&u.path, u.reason))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match exact_string(&item) {
            Some(Some(s)) => Ok(s),
            _ => Err(Error::config(
                &format!("{path}[{i}]"),
                format!("must be a tool name, got {}", type_name(&item)),
            )),
        })
        .collect()
}

/// The static `orgs` map: every key an org id, every value its settings.
pub fn fixed(v: &JsValue) -> Result<BTreeMap<OrgId, OrgSettings>> {
    if !v.is_object() || super::convert::is_array(v) || v.is_function() {
        return Err(Error::config(
            "orgs",
            format!(
                "must be an object {{ [orgId]: settings }}, got {}",
                type_name(v)
            ),
        ));
    }
    let copy = read_map(v, "orgs").map_err(|u| Error::config(&u.path, u.reason))?;
    let mut out = BTreeMap::new();
    for key in Object::keys(&copy).iter() {
        let value = Reflect::get(&copy, &key).unwrap_or(JsValue::UNDEFINED);
        let org = match super::convert::org_id(&key) {
            Ok(Some(org)) => org,
            Ok(None) => return Err(Error::config("orgs", "a key is not an org id")),
            Err(e) => {
                return Err(Error::config(
                    "orgs",
                    format!("a key is not an org id: {e}"),
                ))
            }
        };
        let path = format!("orgs[{:?}]", org.as_str());
        let settings = settings(&value, &path)?;
        out.insert(org, settings);
    }
    Ok(out)
}

/// `orgConfig`: called with an org id; `undefined` or `null` means no settings. A throw,
/// a rejection or a malformed answer fails the run that asked (never a run without the
/// org's rules).
pub struct JsOrgLookup {
    pub func: Function,
}

impl OrgLookup for JsOrgLookup {
    fn lookup(&self, org: &OrgId) -> LocalBoxFuture<'static, Result<Option<OrgSettings>>> {
        let path = format!("orgConfig({:?})", org.as_str());
        let returned = self
            .func
            .call1(&JsValue::NULL, &JsValue::from_str(org.as_str()));
        Box::pin(async move {
            let value = match returned {
                Ok(v) => settle(&v).await,
                Err(e) => Err(e),
            }
            .map_err(|e| Error::config(&path, format!("threw: {}", describe_thrown(&e))))?;
            if value.is_undefined() || value.is_null() {
                return Ok(None);
            }
            settings(&value, &path).map(Some)
        })
    }
}
