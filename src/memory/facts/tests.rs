// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn new(subject: &str, predicate: &str, object: &str, valid_from: Option<f64>) -> NewFact {
    NewFact {
        subject: subject.into(),
        predicate: predicate.into(),
        object: object.into(),
        valid_from,
        source: None,
    }
}

fn objects<'a>(it: impl IntoIterator<Item = &'a Fact>) -> Vec<&'a str> {
    it.into_iter().map(|f| f.object.as_str()).collect()
}

fn q(valid_at: Option<f64>, known_at: Option<f64>) -> FactQuery {
    FactQuery {
        valid_at,
        known_at,
        ..FactQuery::default()
    }
}

#[test]
fn a_new_value_closes_the_old_one_in_both_times() {
    let f = Facts::default();
    // Lived in Paris from t=100 (told at t=1000); moved to Berlin at t=500 (told at t=2000).
    let (f, _) = f
        .with(new("alice", "lives in", "Paris", Some(100.0)), 1000.0)
        .unwrap()
        .unwrap();
    let (f, cur) = f
        .with(new("alice", "lives in", "Berlin", Some(500.0)), 2000.0)
        .unwrap()
        .unwrap();
    assert_eq!((cur.object.as_str(), cur.valid_until), ("Berlin", None));
    // What was true when, as known now.
    assert_eq!(objects(f.query(&q(Some(200.0), None), 3000.0)), ["Paris"]);
    assert_eq!(objects(f.query(&q(Some(600.0), None), 3000.0)), ["Berlin"]);
    assert_eq!(
        objects(f.query(&q(Some(50.0), None), 3000.0)),
        Vec::<&str>::new()
    );
    // What we knew at t=1500: Paris, open-ended, so Paris even for t=600.
    assert_eq!(
        objects(f.query(&q(Some(600.0), Some(1500.0)), 3000.0)),
        ["Paris"]
    );
    // Before anything was recorded: nothing.
    assert_eq!(
        objects(f.query(&q(None, Some(999.0)), 3000.0)),
        Vec::<&str>::new()
    );
    // Known now, any valid time: the closed Paris stretch and Berlin.
    let now: Vec<(&str, Option<f64>)> = f
        .query(&FactQuery::default(), 3000.0)
        .into_iter()
        .map(|x| (x.object.as_str(), x.valid_until))
        .collect();
    assert_eq!(now, [("Paris", Some(500.0)), ("Berlin", None)]);
    // Nothing is rewritten in place: the first record is kept, superseded.
    let first = &f.records()[0];
    assert_eq!(
        (
            first.object.as_str(),
            first.superseded_at,
            first.valid_until
        ),
        ("Paris", Some(2000.0), None)
    );
    assert_eq!(objects(f.current(3000.0)), ["Berlin"]);
}

#[test]
fn the_same_value_again_changes_nothing_and_keys_are_separate() {
    let (f, _) = Facts::default()
        .with(new("alice", "likes", "tea", None), 10.0)
        .unwrap()
        .unwrap();
    assert!(f
        .with(new("alice", "likes", "tea", None), 20.0)
        .unwrap()
        .is_none());
    let (f, _) = f
        .with(new("alice", "dislikes", "tea", None), 30.0)
        .unwrap()
        .unwrap();
    let (f, _) = f
        .with(new("bob's cat", "likes", "tea", None), 40.0)
        .unwrap()
        .unwrap();
    assert_eq!(f.current(50.0).count(), 3);
    let only = FactQuery {
        subject: Some("alice".into()),
        predicate: Some("likes".into()),
        ..FactQuery::default()
    };
    assert_eq!(objects(f.query(&only, 50.0)), ["tea"]);
}

#[test]
fn a_correction_dated_before_the_old_value_leaves_no_stretch_of_it() {
    let (f, _) = Facts::default()
        .with(new("a", "b", "x", Some(500.0)), 1000.0)
        .unwrap()
        .unwrap();
    let (f, _) = f
        .with(new("a", "b", "y", Some(100.0)), 2000.0)
        .unwrap()
        .unwrap();
    assert_eq!(objects(f.query(&q(Some(600.0), None), 3000.0)), ["y"]);
    assert_eq!(objects(f.query(&FactQuery::default(), 3000.0)), ["y"]);
    assert_eq!(
        objects(f.query(&q(Some(600.0), Some(1500.0)), 3000.0)),
        ["x"]
    );
}

#[test]
fn withdrawing_supersedes_without_deleting() {
    let (f, _) = Facts::default()
        .with(new("a", "b", "x", Some(0.0)), 10.0)
        .unwrap()
        .unwrap();
    let f = f.without("a", "b", 20.0).unwrap();
    assert!(f.current(30.0).next().is_none());
    assert_eq!(objects(f.query(&q(None, Some(15.0)), 30.0)), ["x"]);
    assert!(f.without("a", "b", 40.0).is_none());
}

#[test]
fn future_values_are_not_current_yet() {
    let (f, _) = Facts::default()
        .with(new("a", "plan", "pro", Some(5000.0)), 10.0)
        .unwrap()
        .unwrap();
    assert!(f.current(100.0).next().is_none());
    assert_eq!(objects(f.current(6000.0)), ["pro"]);
}

#[test]
fn bad_facts_are_refused() {
    let f = Facts::default();
    for bad in [
        new("", "b", "c", None),
        new("a", " ", "c", None),
        new("a", "b", "", None),
        new("a\u{0}", "b", "c", None),
        new("a", "b", "c", Some(f64::NAN)),
        new("a", "b", "c", Some(f64::INFINITY)),
        new(&"s".repeat(MAX_FACT_TERM_BYTES + 1), "b", "c", None),
        new("a", "b", &"o".repeat(MAX_FACT_OBJECT_BYTES + 1), None),
    ] {
        assert_eq!(f.with(bad, 1.0).unwrap_err().code(), "invalid_input");
    }
    let closed_before_open = Fact {
        subject: "a".into(),
        predicate: "b".into(),
        object: "c".into(),
        valid_from: 10.0,
        valid_until: Some(5.0),
        recorded_at: 1.0,
        superseded_at: None,
        source: None,
    };
    assert!(Facts::from_records(vec![closed_before_open]).is_err());
}

#[test]
fn the_bound_drops_the_oldest_superseded_records_first() {
    let mut f = Facts::default();
    // One key changed over and over: each change adds the new value and a closed copy.
    for i in 0..MAX_FACT_RECORDS {
        let t = i as f64 * 10.0 + 10.0;
        if let Some((next, _)) = f.with(new("a", "b", &format!("v{i}"), Some(t)), t).unwrap() {
            f = next;
        }
    }
    assert!(f.records().len() <= MAX_FACT_RECORDS);
    assert_eq!(
        objects(f.current(1e9)),
        [format!("v{}", MAX_FACT_RECORDS - 1).as_str()]
    );
    // Many keys believed at once: past the bound, refused rather than forgotten.
    let mut g = Facts::default();
    for i in 0..MAX_FACT_RECORDS {
        g = g
            .with(new(&format!("k{i}"), "b", "c", None), 1.0)
            .unwrap()
            .unwrap()
            .0;
    }
    assert_eq!(
        g.with(new("one more", "b", "c", None), 2.0)
            .unwrap_err()
            .code(),
        "invalid_input"
    );
}
