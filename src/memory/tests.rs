// The same unit tests run natively and under wasm-bindgen-test.
use super::session::MESSAGE_OVERHEAD_BYTES;
use super::*;
use crate::message::Message;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn user(s: &str) -> UserKey {
    UserKey::parse(Some(s)).unwrap()
}
fn sess(s: &str) -> SessionId {
    SessionId::parse(Some(s)).unwrap()
}
fn limits(max_messages: usize, max_users: usize) -> Limits {
    Limits {
        max_messages_per_session: max_messages,
        max_sessions_per_user: 100,
        max_users,
        idle_ttl_ms: 1000.0,
    }
}
fn turn(q: &str, at: f64) -> Turn {
    Turn {
        at,
        messages: vec![Message::user(q), Message::assistant(format!("re: {q}"))],
        vectors: Vec::new(),
    }
}
/// Commits one turn the way the agent does: touch, compute, install.
fn commit(m: &mut Memory, u: &UserKey, s: &SessionId, t: Turn) {
    m.touch(u, t.at);
    m.sweep(t.at);
    let inc = m.get(u).unwrap().incarnation;
    let max = m.limits().max_messages_per_session;
    let session = m.get(u).unwrap().session_with(s, t, max);
    m.put_session(u, inc, s.clone(), session).unwrap();
}

#[test]
fn same_session_id_for_two_users_shares_nothing() {
    let mut m = Memory::new(limits(100, 10));
    commit(
        &mut m,
        &user("alice"),
        &sess("s1"),
        turn("alice secret", 1.0),
    );
    commit(&mut m, &user("bob"), &sess("s1"), turn("bob secret", 1.0));
    let a = m.history(&user("alice"), &sess("s1"));
    let b = m.history(&user("bob"), &sess("s1"));
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|x| !x.content.contains("bob")));
    assert!(b.iter().all(|x| !x.content.contains("alice")));
}

#[test]
fn anonymous_is_its_own_partition() {
    let mut m = Memory::new(limits(100, 10));
    commit(&mut m, &UserKey::Anonymous, &sess("s"), turn("anon", 1.0));
    assert_eq!(m.size(&UserKey::Anonymous), 2);
    assert_eq!(m.size(&user("__tenantry_anonymous__ ")), 0);
    m.remove(&UserKey::Anonymous);
    assert_eq!(m.size(&UserKey::Anonymous), 0);
}

#[test]
fn bound_drops_oldest_whole_turns() {
    let mut m = Memory::new(limits(5, 10));
    for i in 0..4 {
        commit(
            &mut m,
            &user("a"),
            &sess("s"),
            turn(&format!("q{i}"), i as f64),
        );
    }
    let h = m.history(&user("a"), &sess("s"));
    // 5 allows two whole turns of two messages, never a dangling reply.
    assert_eq!(h.len(), 4);
    assert_eq!(h[0], Message::user("q2"));
    assert_eq!(h[3], Message::assistant("re: q3"));
}

#[test]
fn remove_touches_one_user_only() {
    let mut m = Memory::new(limits(10, 10));
    commit(&mut m, &user("a"), &sess("s"), turn("x", 1.0));
    commit(&mut m, &user("b"), &sess("s"), turn("y", 1.0));
    m.remove(&user("a"));
    assert_eq!(m.size(&user("a")), 0);
    assert_eq!(m.size(&user("b")), 2);
    assert_eq!(m.user_count(), 1);
    m.clear_all();
    assert_eq!(m.user_count(), 0);
}

#[test]
fn size_and_stats_count_all_sessions() {
    let mut m = Memory::new(limits(10, 10));
    commit(&mut m, &user("a"), &sess("s1"), turn("x", 1.0));
    commit(&mut m, &user("a"), &sess("s2"), turn("y", 2.0));
    assert_eq!(m.size(&user("a")), 4);
    assert_eq!(m.history(&user("a"), &sess("s2")).len(), 2);
    let st = m.stats();
    assert_eq!((st.users, st.sessions, st.messages), (1, 2, 4));
    assert!(st.approx_bytes > 4 * MESSAGE_OVERHEAD_BYTES);
}

#[test]
fn lru_evicts_the_least_recently_used_user_past_max_users() {
    let mut m = Memory::new(limits(10, 3));
    for (i, u) in ["a", "b", "c"].iter().enumerate() {
        commit(&mut m, &user(u), &sess("s"), turn(u, i as f64));
    }
    // Using "a" again makes "b" the least recently used.
    m.touch(&user("a"), 3.0);
    m.touch(&user("d"), 4.0);
    assert_eq!(m.sweep(4.0), vec![user("b")]);
    assert!(m.is_resident(&user("a")) && !m.is_resident(&user("b")));
    assert_eq!(m.user_count(), 3);
}

#[test]
fn idle_users_expire_after_the_ttl_but_pinned_ones_stay() {
    let mut m = Memory::new(limits(10, 100));
    commit(&mut m, &user("idle"), &sess("s"), turn("x", 0.0));
    commit(&mut m, &user("busy"), &sess("s"), turn("x", 0.0));
    let inc = m.pin(&user("busy")).unwrap();
    commit(&mut m, &user("fresh"), &sess("s"), turn("x", 900.0));
    assert!(
        m.sweep(1000.0).is_empty(),
        "nobody idle for more than 1000 ms yet"
    );
    assert_eq!(m.sweep(1500.0), vec![user("idle")]);
    assert!(
        m.is_resident(&user("busy")),
        "a user with a run in flight is kept"
    );
    m.unpin(&user("busy"), inc);
    assert_eq!(m.sweep(1500.0), vec![user("busy")]);
    assert!(m.is_resident(&user("fresh")));
}

#[test]
fn a_write_for_a_forgotten_incarnation_is_dropped() {
    let mut m = Memory::new(limits(10, 10));
    m.touch(&user("a"), 0.0);
    let old = m.get(&user("a")).unwrap().incarnation;
    let pending = m
        .get(&user("a"))
        .unwrap()
        .session_with(&sess("s"), turn("late", 1.0), 10);
    m.remove(&user("a"));
    m.touch(&user("a"), 2.0);
    assert!(m.put_session(&user("a"), old, sess("s"), pending).is_none());
    assert_eq!(m.size(&user("a")), 0);
}

#[test]
fn sessions_per_user_are_bounded_by_last_activity() {
    let mut m = Memory::new(Limits {
        max_sessions_per_user: 2,
        ..limits(10, 10)
    });
    commit(&mut m, &user("a"), &sess("old"), turn("x", 1.0));
    commit(&mut m, &user("a"), &sess("mid"), turn("x", 2.0));
    commit(&mut m, &user("a"), &sess("old"), turn("y", 3.0));
    commit(&mut m, &user("a"), &sess("new"), turn("z", 4.0));
    let ids: Vec<_> = m
        .get(&user("a"))
        .unwrap()
        .sessions()
        .map(|(k, _)| k.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["old", "new"]);
}
