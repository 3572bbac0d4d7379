//! Adversarial isolation: a few thousand users with near-colliding ids, the same ids again
//! in orgs with near-colliding ids, run, forget, export, import, get evicted and reloaded,
//! and whole orgs are erased, in random concurrent interleavings. Every message a user
//! sends carries a secret unique to them, and every org's knowledge one unique to the org;
//! no user's secret may reach another user's prompt, history, recall, export or usage, and
//! no org's secret another org's users' prompts. Run natively and on wasm (smaller there).
//! `TENANTRY_SOAK=1` runs the long variant natively.

use crate::dual_support::{Rng, ScriptModel, Shared};
use crate::dual_test;
use futures_util::future::join_all;
use std::collections::HashMap;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, ManualClock, MemoryConfig, MemoryStorage, OrgId, RunOptions, SessionId,
    UserKey,
};
use tenantry::{BudgetConfig, LimitSet, Window};

/// Ids built to collide: case, whitespace, zero-width and look-alike characters, the
/// anonymous sentinel's neighbours, separators that could forge storage prefixes, 255-byte
/// ids, and the anonymous bucket itself.
fn ids(n: usize, rng: &mut Rng) -> Vec<Option<String>> {
    let bases = [
        "alice",
        "Alice",
        "alice ",
        " alice",
        "alice\u{200b}",
        "аlice",
        "alice/",
        "alice%2F",
        "alice/s/x",
        "__tenantry_anonymous__ ",
        "__tenantry_anonymous",
        "ü",
        "u\u{308}",
        "🦀",
        "a:b",
        "tenantry/v1/u/x",
    ];
    let mut out: Vec<Option<String>> = bases.iter().map(|s| Some(s.to_string())).collect();
    out.push(None);
    out.push(Some("x".repeat(255)));
    out.push(Some(format!("{}é", "x".repeat(253))));
    while out.len() < n {
        let base = bases[rng.below(bases.len())];
        let id = match rng.below(4) {
            0 => format!("{base}{}", rng.below(1000)),
            1 => format!("{}{base}", "\u{a0}".repeat(1 + rng.below(2))),
            2 => format!("user-{}", rng.next() % 100_000),
            _ => format!("{base}\u{200d}{}", rng.below(50)),
        };
        if !out.contains(&Some(id.clone())) {
            out.push(Some(id));
        }
    }
    out
}

/// Orgs built to collide with each other and with the default org's storage folders.
const ORGS: [Option<&str>; 7] = [
    None,
    Some("acme"),
    Some("Acme"),
    Some("acme "),
    Some("acme/u"),
    Some("u"),
    Some("acme%2Fu"),
];

fn secret(i: usize) -> String {
    format!("SECRET{i:05}X")
}

/// The secret in org `o`'s knowledge: numbered past every user's.
fn org_secret(o: usize) -> String {
    secret(90_000 + o)
}

/// Which users' secrets appear in `text`.
fn owners(text: &str) -> Vec<usize> {
    text.match_indices("SECRET")
        .filter_map(|(at, _)| text.get(at + 6..at + 11)?.parse().ok())
        .collect()
}

#[test]
fn org_secrets_are_numbered_apart_from_every_users() {
    assert_eq!(owners(&org_secret(3)), [90_003]);
}

struct Report {
    users: usize,
    runs: usize,
    ops: usize,
    checks: usize,
    leaks: usize,
    mismatches: usize,
}

async fn soak(users: usize, rounds: usize, seed: u64) -> Report {
    let mut rng = Rng(seed);
    // The same ids again in every org: user u is id u / ORGS.len() in org u % ORGS.len().
    let ids = ids(users.div_ceil(ORGS.len()), &mut rng);
    let org_of = |u: usize| u % ORGS.len();
    let keys: Vec<UserKey> = (0..users)
        .map(|u| UserKey::parse_in(ORGS[org_of(u)], ids[u / ORGS.len()].as_deref()).unwrap())
        .collect();
    let index: HashMap<UserKey, usize> = keys.iter().cloned().zip(0..).collect();
    assert_eq!(index.len(), users, "every id is a distinct user");
    let model = ScriptModel::with_yields(1);
    let storage = Rc::new(MemoryStorage::default());
    let clock = Rc::new(ManualClock::new(1e12));
    let config = AgentConfig {
        instructions: "Never reveal one user's data to another.".into(),
        memory: MemoryConfig {
            max_users: users / 4, // constant eviction and reload through storage
            recall_top_k: 3,
            max_messages_per_session: 8,
            ..Default::default()
        },
        budget: BudgetConfig {
            per_user: vec![LimitSet {
                max_total_tokens: Some(1e12),
                window: Window::Lifetime,
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let agent = Rc::new(
        Agent::new(config, Rc::new(Shared(model.clone())))
            .unwrap()
            .with_clock(clock.clone())
            .with_storage(storage.clone()),
    );
    let orgs: Vec<Option<OrgId>> = ORGS.iter().map(|o| OrgId::parse(*o).unwrap()).collect();
    for (o, org) in orgs.iter().enumerate() {
        if let Some(org) = org {
            let text = format!("knowledge of {}", org_secret(o));
            agent.set_org_block(org, "policy", &text).await.unwrap();
        }
    }
    let mut charged = vec![0u64; users];
    let mut report = Report {
        users,
        runs: 0,
        ops: 0,
        checks: 0,
        leaks: 0,
        mismatches: 0,
    };
    for round in 0..rounds {
        clock.advance(1000.0);
        // A batch of concurrent runs: random users, a few sessions each, some colliding ids.
        let batch: Vec<usize> = (0..16).map(|_| rng.below(users)).collect();
        let runs = batch.iter().map(|&u| {
            let session = SessionId::parse(Some(&format!("s{}", rng.below(3)))).unwrap();
            let text = format!("round {round} from {} carrying {}", u, secret(u));
            agent.run(
                text,
                keys[u].clone(),
                RunOptions {
                    session,
                    ..Default::default()
                },
            )
        });
        let results = join_all(runs.collect::<Vec<_>>()).await;
        for (&u, r) in batch.iter().zip(&results) {
            match r {
                Ok(out) => {
                    report.runs += 1;
                    charged[u] += out.usage.total_tokens;
                }
                // A run that raced a forget or import of its user keeps nothing: allowed.
                Err(e) if e.code() == "conflict" => {}
                Err(e) => panic!("run failed: {e}"),
            }
        }
        // Random whole-user operations, each on one user.
        let u = rng.below(users);
        report.ops += 1;
        match rng.below(6) {
            0 => {
                // Erasure keeps the spend counting (under a pseudonym): `charged` stays.
                agent.forget(&keys[u]).await.unwrap();
            }
            5 if rng.below(10) == 0 => {
                // A whole org, knowledge and all, now and then; it is set again after.
                if let Some(org) = &orgs[org_of(u)] {
                    agent.forget_org(org).await.unwrap();
                    let text = format!("knowledge of {}", org_secret(org_of(u)));
                    agent.set_org_block(org, "policy", &text).await.unwrap();
                }
            }
            1 => {
                let doc = agent.export(&keys[u]).await.unwrap();
                agent.import(doc).await.unwrap();
            }
            2 => agent
                .set_block(&keys[u], "notes", &format!("notes of {}", secret(u)))
                .await
                .unwrap(),
            _ => {}
        }
    }
    // Every prompt the model ever saw holds only its own user's secrets.
    for req in model.requests.borrow().iter() {
        let me = index[&UserKey::parse_in(req.org_id.as_deref(), req.user_id.as_deref()).unwrap()];
        let my_org = 90_000 + org_of(me);
        for m in &req.messages() {
            report.checks += 1;
            report.leaks += owners(&m.content)
                .iter()
                .filter(|&&o| o != me && o != my_org)
                .count();
        }
    }
    // Every user's history, recall, export and usage: theirs alone, and charged exactly.
    for (u, key) in keys.iter().enumerate() {
        agent.load(key).await.unwrap();
        let mut texts: Vec<String> = Vec::new();
        for s in agent.sessions(key).unwrap() {
            let sid = SessionId::parse(Some(&s.id)).unwrap();
            texts.extend(
                agent
                    .history(key, &sid)
                    .unwrap()
                    .into_iter()
                    .map(|m| m.content),
            );
        }
        texts.extend(
            agent
                .recall(key, "SECRET carrying round", Some(20))
                .unwrap()
                .into_iter()
                .map(|h| h.content),
        );
        texts.push(serde_json::to_string(&agent.export(key).await.unwrap()).unwrap());
        for t in &texts {
            report.checks += 1;
            report.leaks += owners(t).iter().filter(|&&o| o != u).count();
        }
        report.checks += 1;
        if agent.usage(key).totals.total_tokens != charged[u] {
            report.mismatches += 1;
        }
    }
    report
}

dual_test!(no_secret_ever_reaches_another_user, async {
    let long = std::env::var("TENANTRY_SOAK").is_ok() && !cfg!(target_arch = "wasm32");
    let (users, rounds) = if long {
        (4000, 3000)
    } else if cfg!(target_arch = "wasm32") {
        (300, 120)
    } else {
        (1200, 400)
    };
    let r = soak(users, rounds, 0x7E11A27).await;
    println!(
        "isolation: {} users, {} runs, {} whole-user operations, {} checks, {} leaks, {} budget mismatches",
        r.users, r.runs, r.ops, r.checks, r.leaks, r.mismatches
    );
    assert!(r.runs > rounds * 10);
    assert_eq!(r.leaks, 0);
    assert_eq!(r.mismatches, 0);
});

#[test]
fn the_secret_scanner_finds_owners() {
    assert_eq!(
        owners(&format!("a {} b {}", secret(7), secret(12))),
        [7, 12]
    );
    assert!(owners("no secrets").is_empty());
}
