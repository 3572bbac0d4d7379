//! An org's settings for one of its users' runs (see `org_config`): the static map, else
//! the host's lookup, checked against this agent's tools and org plans.

use super::Agent;
use crate::error::Result;
use crate::ids::UserKey;
use crate::org_config::ResolvedOrg;
use std::rc::Rc;

impl Agent {
    /// The settings of `user`'s org (none for the default org or an org without any).
    pub(super) async fn org_settings(&self, user: &UserKey) -> Result<Option<Rc<ResolvedOrg>>> {
        match user.org_id() {
            Some(org) if !self.org_configs.is_empty() => {
                let known = |t: &str| self.knows_tool(t);
                let plans = |p: &str| self.knows_org_plan(p);
                self.org_configs
                    .resolve(org, &self.config.instructions, &known, &plans, self.now())
                    .await
            }
            _ => Ok(None),
        }
    }
}
